/**
 * The read workloads of `bun run bench` (issue 14): R1 a 100-row page, R2 a filtered, sorted page deep into the table,
 * R3 the same page as a SQL query, R4 a streamed download of every row, all on one table of BENCH_R_ROWS rows built
 * once with bun:sqlite and copied for every cell.
 */
import { Database } from 'bun:sqlite'
import { copyFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { encodeKeyValue } from '../lib/reader'
import type { LoadGenerator } from './load'
import { cpuSeconds, memoryOf, startServer, type Server } from './processes'
import { limitGoal, median, megabytes, ms, ratioGoal, type Cell, type Goal, type Sample } from './report'

export const READ_WORKLOADS = ['R1', 'R2', 'R3', 'R4']

export interface ReadBenchOptions {
  workloads: string[]
  runs: number
  seconds: number
  connections: number
  threads: number
  /** Rows in the table every read workload reads. */
  rows: number
  tmpRoot: string
  freshDir(name: string): string
  addCell(target: string, workload: string): Cell
  log(line: string): void
}

const ROOT = join(import.meta.dir, '..')
const READ_CEILING = join(import.meta.dir, 'ceilings', 'read-server.ts')
const ROWPOST_LABEL = 'rowpost --unsafe'
const CEILING_LABEL = 'ceiling r: Bun.serve + bun:sqlite page'
const PAGE = 100
/** R2 reads page 5,000 of its filter and sort: the token is that of the last row of page 4,999. */
const DEEP_PAGE = 5000
const R3_SQL = `select id, name, score, active from items limit ${PAGE}`
export const READ_PATHS = {
  R1: `/data/items.json?_size=${PAGE}`,
  R3: `/data/-/query.json?sql=${encodeURIComponent(R3_SQL)}`,
  NDJSON: '/data/items.json?_shape=array&_nl=on&_stream=on',
  CSV: '/data/items.csv?_stream=on',
}

/** A read target: the command that serves dir/data.db. */
interface ReadTarget {
  label: string
  command(dir: string): string[]
}

const ROWPOST: ReadTarget = { label: ROWPOST_LABEL, command: (dir) => ['bun', join(ROOT, 'index.ts'), join(dir, 'data.db'), '--unsafe', '-p', '0'] }
const CEILING: ReadTarget = { label: CEILING_LABEL, command: (dir) => ['bun', READ_CEILING, join(dir, 'data.db'), '0'] }

interface PageWorkload {
  name: string
  /** Path and query, from the server's root. */
  path: string
  /** Rows a good answer holds (checked on the probe). */
  expectRows: number
}

interface DownloadWorkload {
  format: 'NDJSON' | 'CSV'
  path: string
  /** Lines before the rows (CSV's header). */
  headerLines: number
}

export function readBench(options: ReadBenchOptions) {
  const wants = (name: string) => options.workloads.includes(name)
  const file = join(options.tmpRoot, 'reads.db')
  const pages: Array<{ target: ReadTarget; workload: PageWorkload; cell: Cell }> = []
  const downloads: Array<{ workload: DownloadWorkload; cell: Cell }> = []
  const r1: PageWorkload = { name: 'R1', path: READ_PATHS.R1, expectRows: PAGE }
  // Its path holds a token from the file, set by prepare().
  const r2: PageWorkload = { name: `R2: page ${DEEP_PAGE.toLocaleString('en-US')}, filter + sort`, path: '', expectRows: PAGE }
  const r3: PageWorkload = { name: 'R3: /-/query', path: READ_PATHS.R3, expectRows: PAGE }
  if (wants('R1')) for (const target of [CEILING, ROWPOST]) pages.push({ target, workload: r1, cell: options.addCell(target.label, r1.name) })
  if (wants('R2')) for (const target of [CEILING, ROWPOST]) pages.push({ target, workload: r2, cell: options.addCell(target.label, r2.name) })
  if (wants('R3')) pages.push({ target: ROWPOST, workload: r3, cell: options.addCell(ROWPOST.label, r3.name) })
  const rows = options.rows
  if (wants('R4')) {
    for (const workload of [
      { format: 'NDJSON', path: READ_PATHS.NDJSON, headerLines: 0 },
      { format: 'CSV', path: READ_PATHS.CSV, headerLines: 1 },
    ] as const) {
      downloads.push({ workload, cell: options.addCell(ROWPOST.label, `R4: ${shortRows(rows)} rows ${workload.format}`) })
    }
  }
  const cpuPerUnit = new Map<Cell, number[]>()
  /** R4's megabytes per second and resident memory at the first byte, per run: noted as medians. */
  const downloadFacts = new Map<Cell, { mbPerSecond: number[]; rssAtFirst: number[] }>()

  function prepare(): void {
    if (!pages.length && !downloads.length) return
    const started = performance.now()
    r2.path = buildReadTable(file, rows)
    options.log(`read file: ${rows} rows in ${((performance.now() - started) / 1000).toFixed(1)} s; R2 is ${r2.path}`)
  }

  async function withServer(target: ReadTarget, cell: Cell, name: string, work: (server: Server) => Promise<Sample | undefined>): Promise<void> {
    const dir = options.freshDir(`${target.label}-${name}`)
    let server: Server | undefined
    try {
      copyFileSync(file, join(dir, 'data.db'))
      server = await startServer(target.label, target.command(dir), dir)
      const sample = await work(server)
      if (sample) cell.samples.push(sample)
    } catch (error) {
      cell.failures.push((error as Error).message)
      options.log(`  ${name} | ${target.label}: failed: ${(error as Error).message}`)
    } finally {
      await server?.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  }

  /** One GET before the load: a wrong answer fails the run with what the server said. */
  async function probe(url: string, expectRows: number): Promise<void> {
    const response = await fetch(url, { signal: AbortSignal.timeout(30_000) })
    const text = await response.text()
    if (!response.ok) throw new Error(`probe: ${response.status} ${text.slice(0, 200)}`)
    const got = (JSON.parse(text) as { rows?: unknown[] }).rows?.length
    if (got !== expectRows) throw new Error(`probe: ${got} rows, expected ${expectRows}: ${text.slice(0, 200)}`)
  }

  async function runPage(generator: LoadGenerator, target: ReadTarget, workload: PageWorkload, cell: Cell): Promise<void> {
    await withServer(target, cell, workload.name, async (server) => {
      if (generator.name !== 'wrk') throw new Error('the read workloads need wrk (plain GETs)')
      const url = `${server.url}${workload.path}`
      await probe(url, workload.expectRows)
      const cpuBefore = cpuSeconds(server.pid)
      const result = await generator.run({
        url,
        rowsPerRequest: 0,
        seconds: options.seconds,
        connections: options.connections,
        threads: options.threads,
        idBase: 0,
      })
      const cpu = cpuSeconds(server.pid) - cpuBefore
      const peakRss = memoryOf(server.pid)?.peak
      if (result.okRequests === 0) throw new Error(`no request succeeded (${result.failedRequests} errors)`)
      const rps = result.okRequests / result.seconds
      const cpuUs = (cpu / result.okRequests) * 1e6
      cpuPerUnit.set(cell, [...(cpuPerUnit.get(cell) ?? []), cpuUs])
      const notes = result.failedRequests ? [`${result.failedRequests} failed requests`] : []
      options.log(
        `  ${workload.name} | ${target.label}: ${Math.round(rps)} req/s, p50 ${ms(result.p50Ms)} ms, p99 ${ms(result.p99Ms)} ms, ${cpuUs.toFixed(0)} µs CPU/request, peak ${megabytes(peakRss)} MB`,
      )
      return { rps, rowsPerSecond: rps * PAGE, p50Ms: result.p50Ms, p99Ms: result.p99Ms, peakRss, notes }
    })
  }

  /** R4: every row through one GET, timed from the first byte to the last, the server's resident memory sampled throughout. */
  async function runDownload(workload: DownloadWorkload, cell: Cell): Promise<void> {
    await withServer(ROWPOST, cell, `R4 ${workload.format}`, async (server) => {
      const pid = server.pid
      let peak = 0
      const sampler = setInterval(() => (peak = Math.max(peak, memoryOf(pid)?.rss ?? 0)), 100)
      try {
        const cpuBefore = cpuSeconds(pid)
        const { lines, bytes, seconds, rssAtFirst } = await timedDownload(`${server.url}${workload.path}`, () => memoryOf(pid)?.rss ?? 0)
        const cpu = cpuSeconds(pid) - cpuBefore
        const sent = lines - workload.headerLines
        if (sent !== rows) throw new Error(`received ${sent} rows of ${rows}`)
        const peakRss = Math.max(peak, memoryOf(pid)?.rss ?? 0)
        const cpuUs = (cpu / rows) * 1e6
        cpuPerUnit.set(cell, [...(cpuPerUnit.get(cell) ?? []), cpuUs])
        const facts = downloadFacts.get(cell) ?? { mbPerSecond: [], rssAtFirst: [] }
        facts.mbPerSecond.push(bytes / 1e6 / seconds)
        facts.rssAtFirst.push(rssAtFirst)
        downloadFacts.set(cell, facts)
        const notes: string[] = []
        options.log(
          `  R4 ${workload.format}: ${Math.round(rows / seconds)} rows/s, ${(bytes / 1e6 / seconds).toFixed(0)} MB/s, RSS at first byte ${megabytes(rssAtFirst)} MB, peak ${megabytes(peakRss)} MB, ${cpuUs.toFixed(2)} µs CPU/row`,
        )
        return { rowsPerSecond: rows / seconds, peakRss, notes }
      } finally {
        clearInterval(sampler)
      }
    })
  }

  /** One run of every read cell, in table order. */
  async function runOnce(generator: LoadGenerator | undefined): Promise<void> {
    for (const { target, workload, cell } of pages) {
      if (!generator) cell.failures.push('no load generator')
      else await runPage(generator, target, workload, cell)
    }
    for (const { workload, cell } of downloads) await runDownload(workload, cell)
  }

  /**
   * Notes of medians over the runs: R4's MB/s and resident memory at the first byte (the peak beside it shows what the
   * stream added), and the server's CPU per request (per row for R4), far steadier than req/s on a shared machine.
   */
  function finish(): void {
    for (const [cell, facts] of downloadFacts) {
      cell.samples[0]?.notes.push(`${median(facts.mbPerSecond)!.toFixed(0)} MB/s`, `RSS at first byte ${megabytes(median(facts.rssAtFirst))} MB`)
    }
    for (const [cell, values] of cpuPerUnit) {
      const unit = cell.workload.startsWith('R4') ? 'row' : 'request'
      const value = median(values)!
      cell.samples[0]?.notes.push(`server CPU ${value < 10 ? value.toFixed(2) : value.toFixed(0)} µs/${unit}`)
    }
  }

  function goals(ceilingC: Cell): Goal[] {
    const cellOf = (target: ReadTarget, workload: PageWorkload) => pages.find((page) => page.target === target && page.workload === workload)?.cell
    const list: Goal[] = []
    if (wants('R1')) list.push(ratioGoal('R1 req/s: rowpost ÷ read ceiling', cellOf(ROWPOST, r1), cellOf(CEILING, r1), 'rps', 0.7))
    if (wants('R2')) list.push(ratioGoal(`R2 req/s: page ${DEEP_PAGE}, filter + sort ÷ R1`, cellOf(ROWPOST, r2), cellOf(ROWPOST, r1), 'rps', 0.8))
    if (wants('R3')) list.push(ratioGoal('R3 p50: /-/query ÷ R1', cellOf(ROWPOST, r3), cellOf(ROWPOST, r1), 'p50Ms', 1.5, '≤'))
    for (const { workload, cell } of downloads) {
      list.push(ratioGoal(`R4 ${workload.format} rows/s ÷ ceiling c`, cell, ceilingC, 'rowsPerSecond', 0.5))
      list.push(limitGoal(`R4 ${workload.format} server peak RSS`, cell, 'peakRss', 150, 'MB'))
    }
    return list
  }

  return { prepare, runOnce, finish, goals }
}

/** Reads one streamed answer to its end, counting its lines; `seconds` runs from the first byte to the last. */
export async function timedDownload(url: string, rssNow: () => number): Promise<{ lines: number; bytes: number; seconds: number; rssAtFirst: number }> {
  const response = await fetch(url)
  if (!response.ok || !response.body) throw new Error(`${response.status} ${(await response.text()).slice(0, 200)}`)
  let lines = 0
  let bytes = 0
  let first: number | undefined
  let rssAtFirst = 0
  for await (const chunk of response.body) {
    if (first === undefined) {
      first = performance.now()
      rssAtFirst = rssNow()
    }
    bytes += chunk.length
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++
  }
  return { lines, bytes, seconds: (performance.now() - (first ?? performance.now())) / 1000, rssAtFirst }
}

/**
 * Builds the read table in `file`: items (id, name, score, active) like the write workloads', with scores in a
 * scrambled order (indexed, for R2's sort) and one row in ten inactive (R2's filter keeps 90 %, so page 5,000 is
 * mid-table). Returns R2's path: its `_next` is the token of the last row of page 4,999, as rowpost would write it.
 */
export function buildReadTable(file: string, rows: number): string {
  const db = new Database(file, { create: true })
  try {
    db.run('PRAGMA journal_mode = OFF')
    db.run('PRAGMA synchronous = OFF')
    db.run('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, active INTEGER)')
    db.run(
      `WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < ${rows}) ` +
        `INSERT INTO items SELECT id, 'n' || id, (id * 7919 % 1000) + 0.5, id % 10 != 0 FROM n`,
    )
    db.run('CREATE INDEX items_score ON items (score)')
    const last = db.query('SELECT score, id FROM items WHERE active = 1 ORDER BY score, id LIMIT 1 OFFSET ?').get(PAGE * (DEEP_PAGE - 1) - 1) as {
      score: number
      id: number
    } | null
    if (!last) throw new Error(`BENCH_R_ROWS=${rows} is too few rows for page ${DEEP_PAGE} of R2`)
    const token = `${encodeKeyValue(last.score, 'REAL')},${encodeKeyValue(BigInt(last.id), 'INTEGER')}`
    return `/data/items.json?_size=${PAGE}&active=1&_sort=score&_next=${encodeURIComponent(token)}`
  } finally {
    db.close()
  }
}

function shortRows(value: number): string {
  return value >= 1e6 && value % 1e5 === 0 ? `${value / 1e6}M` : `${value}`
}
