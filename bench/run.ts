#!/usr/bin/env bun
/** `bun run bench`: starts every target on 127.0.0.1, drives it from another process, prints one table of medians and the issue's targets. */
import { Database } from 'bun:sqlite'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { chooseLoadGenerator, type LoadGenerator } from './load'
import { accepts, exitedWithin, freePort, killAll, memoryOf, sleep, spawnTracked, startServer, type Server } from './processes'
import { goalsTable, limitGoal, megabytes, ms, ratioGoal, resultsTable, type Cell, type Goal, type Sample } from './report'
import { jsonBody } from './rows'
import { envInt } from './env'
import { READ_WORKLOADS, readBench } from './reads'
import { BENCH_METADATA, BENCH_TOKEN } from './metadata'

const ALL_WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5', ...READ_WORKLOADS]
const config = {
  /** Seconds of each wrk run. */
  seconds: envInt('BENCH_SECONDS', 6),
  /** Repetitions of every measurement; the table shows medians. */
  runs: envInt('BENCH_RUNS', 3),
  connections: envInt('BENCH_CONNECTIONS', 32),
  /** wrk threads: on 2 cores, 1 leaves the other core to the server. */
  threads: envInt('BENCH_WRK_THREADS', 1),
  /** Size of each W4 upload. */
  w4Bytes: envInt('BENCH_W4_BYTES', 1_000_000_000),
  /** Longest a W4 upload may take before it is abandoned. */
  w4TimeoutSeconds: envInt('BENCH_W4_TIMEOUT', 600),
  /** Rows already in the table for W5. */
  w5Rows: envInt('BENCH_W5_ROWS', 10_000_000),
  /** Rows in the table the read workloads (R1–R4) read. */
  readRows: envInt('BENCH_R_ROWS', 1_000_000),
  /** Rows ceiling (c) inserts, in transactions of 1000. */
  ceilingRows: envInt('BENCH_C_ROWS', 1_000_000),
  /** Starts measured for start-to-listen and idle RSS (at least 5). */
  startRuns: Math.max(5, envInt('BENCH_START_RUNS', 7)),
  /** How long after listening the idle RSS is read. */
  idleMs: envInt('BENCH_IDLE_MS', 1000),
  workloads: (process.env.BENCH_WORKLOADS ?? ALL_WORKLOADS.join(',')).split(',').map((name) => name.trim().toUpperCase()),
}
for (const name of config.workloads) if (!ALL_WORKLOADS.includes(name)) throw new Error(`BENCH_WORKLOADS: unknown workload ${name}`)
const wants = (workload: string) => config.workloads.includes(workload)

const ROOT = join(import.meta.dir, '..')
const ROWPOST = join(ROOT, 'index.ts')
const CEILING_A = join(import.meta.dir, 'ceilings', 'json-server.ts')
const CEILING_B = join(import.meta.dir, 'ceilings', 'sqlite-server.ts')
const CEILING_C = join(import.meta.dir, 'ceilings', 'sqlite-inprocess.ts')
const UPLOADER = join(import.meta.dir, 'upload.ts')
/** Ids of probe rows, far from wrk's (from 1e13) and W5's (1..w5Rows), and still exact as doubles. */
const PROBE_ID_BASE = 8e15
const WRK_ID_BASE = 1e13

const log = (line: string) => console.error(line)
const tmpRoot = mkdtempSync(join(tmpdir(), 'rowpost-bench-'))
let dirCount = 0
function freshDir(name: string): string {
  const dir = join(tmpRoot, `${++dirCount}-${name.replaceAll(/[^a-z0-9]+/gi, '-')}`)
  mkdirSync(dir)
  return dir
}

interface HttpTarget {
  label: string
  command(dir: string): string[]
  /** Bearer token to send. */
  token?: string
  /** Whether it stores rows in dir/data.db (and so can be checked afterwards). */
  stores: boolean
}

function rowpost(label: string, auth: 'unsafe' | 'token', durability: 'full' | 'normal', groupCommit: 'on' | 'off'): HttpTarget {
  const authArgs = auth === 'unsafe' ? ['--unsafe'] : ['-m', join(tmpRoot, 'metadata.json')]
  return {
    label,
    token: auth === 'token' ? BENCH_TOKEN : undefined,
    stores: true,
    command: (dir) => [
      'bun',
      ROWPOST,
      join(dir, 'data.db'),
      '--create',
      ...authArgs,
      '-p',
      '0',
      '--setting',
      'durability',
      durability,
      '--setting',
      'group_commit',
      groupCommit,
    ],
  }
}

const CEILING_JSON: HttpTarget = { label: 'ceiling a: Bun.serve + JSON parse', stores: false, command: () => ['bun', CEILING_A, '0'] }
const CEILING_SQLITE: HttpTarget = { label: 'ceiling b: Bun.serve + bun:sqlite', stores: true, command: (dir) => ['bun', CEILING_B, join(dir, 'data.db'), '0'] }
const UNSAFE_FULL = rowpost('rowpost --unsafe, full', 'unsafe', 'full', 'on')
const UNSAFE_NORMAL = rowpost('rowpost --unsafe, normal', 'unsafe', 'normal', 'on')
const TOKEN_FULL = rowpost('rowpost token, full', 'token', 'full', 'on')
const TOKEN_NORMAL = rowpost('rowpost token, normal', 'token', 'normal', 'on')
const UNSAFE_FULL_NO_GROUP = rowpost('rowpost --unsafe, full, group_commit off', 'unsafe', 'full', 'off')
const ROWPOSTS = [UNSAFE_FULL, UNSAFE_NORMAL, TOKEN_FULL, TOKEN_NORMAL, UNSAFE_FULL_NO_GROUP]
const CEILING_INPROCESS = 'ceiling c: bun:sqlite in-process'

interface HttpWorkload {
  name: string
  rowsPerRequest: number
  /** Into a table already holding config.w5Rows rows. */
  big: boolean
}

const W1: HttpWorkload = { name: 'W1', rowsPerRequest: 1, big: false }
const W2: HttpWorkload = { name: 'W2', rowsPerRequest: 100, big: false }
const W3: HttpWorkload = { name: 'W3', rowsPerRequest: 1000, big: false }
const W5_W1: HttpWorkload = { name: `W5: W1 on ${shortCount(config.w5Rows)}`, rowsPerRequest: 1, big: true }
const W5_W2: HttpWorkload = { name: `W5: W2 on ${shortCount(config.w5Rows)}`, rowsPerRequest: 100, big: true }

function shortCount(value: number): string {
  if (value >= 1e6 && value % 1e5 === 0) return `${value / 1e6}M`
  if (value >= 1e3 && value % 100 === 0) return `${value / 1e3}k`
  return `${value}`
}

/** Every cell of the table, in the order printed; each is filled by config.runs runs. */
const cells: Cell[] = []
const cellOf = new Map<string, Cell>()
function addCell(target: string, workload: string, planned = config.runs): Cell {
  const cell: Cell = { target, workload, planned, samples: [], failures: [] }
  cells.push(cell)
  cellOf.set(`${target}\n${workload}`, cell)
  return cell
}
const find = (target: string, workload: string) => cellOf.get(`${target}\n${workload}`)

const httpPlan: Array<{ target: HttpTarget; workload: HttpWorkload; cell: Cell }> = []
for (const workload of [W1, W2, W3]) {
  if (!wants(workload.name)) continue
  for (const target of [CEILING_JSON, CEILING_SQLITE, ...ROWPOSTS]) httpPlan.push({ target, workload, cell: addCell(target.label, workload.name) })
}
const W4_TARGET = UNSAFE_FULL
const w4Plan = wants('W4')
  ? (['ndjson', 'csv'] as const).map((format) => ({ format, cell: addCell(W4_TARGET.label, `W4: ${shortCount(config.w4Bytes)}B ${format.toUpperCase()}`) }))
  : []
if (wants('W5')) {
  for (const workload of [W5_W1, W5_W2]) {
    for (const target of [UNSAFE_FULL, UNSAFE_NORMAL]) httpPlan.push({ target, workload, cell: addCell(target.label, workload.name) })
  }
}
const reads = readBench({
  workloads: config.workloads,
  runs: config.runs,
  seconds: config.seconds,
  connections: config.connections,
  threads: config.threads,
  rows: config.readRows,
  tmpRoot,
  freshDir,
  addCell,
  log,
})
const ceilingCell = addCell(CEILING_INPROCESS, `${shortCount(config.ceilingRows)} rows, tx of 1000`)
const startCells = {
  rowpost: addCell('rowpost --unsafe', 'startup', config.startRuns),
  bare: addCell(CEILING_JSON.label, 'startup', config.startRuns),
}

/** Rows in dir/data.db's items table, read after the server has stopped. */
function rowsStored(dir: string): number | undefined {
  try {
    const db = new Database(join(dir, 'data.db'), { readonly: true })
    try {
      return (db.query('SELECT count(*) AS n FROM items').get() as { n: number }).n
    } finally {
      db.close()
    }
  } catch {
    return undefined
  }
}

/** One request like the workload's, sent before the load: a refusal here marks the run failed with the server's own answer. */
async function probe(url: string, workload: HttpWorkload, target: HttpTarget, uniqueIds: boolean): Promise<string | undefined> {
  let body = jsonBody(PROBE_ID_BASE, workload.rowsPerRequest)
  if (!uniqueIds) body = body.replaceAll(/"id":\d+,/g, '')
  const headers: Record<string, string> = { 'content-type': 'application/json' }
  if (target.token) headers.authorization = `Bearer ${target.token}`
  try {
    const response = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(30_000) })
    return response.ok ? undefined : `${response.status} ${errorText(await response.text())}`
  } catch (error) {
    return (error as Error).message
  }
}

/** The `error` of a JSON error body (both rowpost's shapes have one), else the start of the text. */
function errorText(answer: string): string {
  try {
    const error = (JSON.parse(answer) as { error?: unknown }).error
    if (typeof error === 'string') return error
  } catch {}
  return answer.trim().slice(0, 160)
}

function insertUrl(server: Server, uniqueIds: boolean): string {
  return `${server.url}/-/insert/data/items${uniqueIds ? '?pk=id' : ''}`
}

async function runHttpCell(generator: LoadGenerator, target: HttpTarget, workload: HttpWorkload, cell: Cell, bigFile: string | undefined): Promise<void> {
  const dir = freshDir(`${target.label}-${workload.name}`)
  let server: Server | undefined
  try {
    const baseRows = workload.big ? config.w5Rows : 0
    if (workload.big) copyFileSync(bigFile!, join(dir, 'data.db'))
    server = await startServer(target.label, target.command(dir), dir)
    const url = insertUrl(server, generator.uniqueIds)
    const refused = await probe(url, workload, target, generator.uniqueIds)
    if (refused) {
      cell.failures.push(refused)
      log(`  ${workload.name} | ${target.label}: failed: ${refused}`)
      return
    }
    const result = await generator.run({
      url,
      rowsPerRequest: workload.rowsPerRequest,
      seconds: config.seconds,
      connections: config.connections,
      threads: config.threads,
      token: target.token,
      idBase: WRK_ID_BASE,
    })
    const peakRss = memoryOf(server.pid)?.peak
    await server.stop()
    server = undefined
    if (result.okRequests === 0) {
      cell.failures.push(`no request succeeded (${result.failedRequests} errors)`)
      return
    }
    const notes: string[] = []
    if (result.failedRequests) notes.push(`${result.failedRequests} failed requests`)
    const stored = target.stores ? rowsStored(dir) : undefined
    const acknowledged = baseRows + workload.rowsPerRequest * (1 + result.okRequests)
    if (target.stores && (stored === undefined || stored < acknowledged)) notes.push(`table holds ${stored ?? 'no'} rows, ${acknowledged} acknowledged`)
    const rps = result.okRequests / result.seconds
    const sample: Sample = { rps, rowsPerSecond: rps * workload.rowsPerRequest, p50Ms: result.p50Ms, p99Ms: result.p99Ms, peakRss, notes }
    cell.samples.push(sample)
    log(
      `  ${workload.name} | ${target.label}: ${Math.round(rps)} req/s, ${Math.round(sample.rowsPerSecond!)} rows/s, p50 ${ms(result.p50Ms)} ms, p99 ${ms(result.p99Ms)} ms, peak ${megabytes(peakRss)} MB${notes.length ? ` (${notes.join('; ')})` : ''}`,
    )
  } catch (error) {
    cell.failures.push((error as Error).message)
    log(`  ${workload.name} | ${target.label}: failed: ${(error as Error).message}`)
  } finally {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

interface UploadOutcome {
  ok: boolean
  status?: number
  answer?: string
  error?: string
  rows: number
  bytes: number
  seconds: number
}

/** W4: one streamed upload from bench/upload.ts, with the server's resident memory sampled throughout. */
async function runUploadCell(format: 'ndjson' | 'csv', cell: Cell): Promise<void> {
  const dir = freshDir(`w4-${format}`)
  let server: Server | undefined
  try {
    // The default max_stream_bytes (256 MiB) would refuse the 1 GB upload with a 413.
    server = await startServer(W4_TARGET.label, [...W4_TARGET.command(dir), '--setting', 'max_stream_bytes', '0'], dir)
    const pid = server.pid
    let sampledPeak = 0
    const sampler = setInterval(() => (sampledPeak = Math.max(sampledPeak, memoryOf(pid)?.rss ?? 0)), 100)
    const uploader = spawnTracked(['bun', UPLOADER, insertUrl(server, true), format, `${config.w4Bytes}`, `${config.w4TimeoutSeconds}`], {
      stdout: 'pipe',
      stderr: 'pipe',
    })
    const stdout = new Response(uploader.stdout as ReadableStream).text()
    const stderr = new Response(uploader.stderr as ReadableStream).text()
    const code = await exitedWithin(uploader, (config.w4TimeoutSeconds + 30) * 1000)
    clearInterval(sampler)
    const memory = memoryOf(pid)
    const peakRss = Math.max(sampledPeak, memory?.peak ?? 0)
    const serverExit = server.child.exitCode
    await server.stop()
    server = undefined
    const line = (await stdout).trim().split('\n').at(-1) ?? ''
    if (code !== 0 || !line.startsWith('{'))
      throw new Error(`uploader ${code === null ? 'overran and was killed' : `exited ${code}`}: ${(await stderr).trim().slice(-200)}`)
    const outcome = JSON.parse(line) as UploadOutcome
    const peakNote = `server peak RSS ${megabytes(peakRss)} MB`
    if (!outcome.ok) {
      const why = outcome.status ? `${outcome.status} ${errorText(outcome.answer ?? '')}` : (outcome.error ?? 'unknown error')
      const died = serverExit !== null ? `; server exited with ${serverExit}` : ''
      throw new Error(`${why.trim()} after ${megabytes(outcome.bytes)} MB of the body (${peakNote}${died})`)
    }
    const notes = [`${(outcome.bytes / 1e6 / outcome.seconds).toFixed(0)} MB/s`]
    const stored = rowsStored(dir)
    if (stored !== outcome.rows) notes.push(`table holds ${stored ?? 'no'} rows, ${outcome.rows} sent`)
    const sample: Sample = { rowsPerSecond: outcome.rows / outcome.seconds, peakRss, notes }
    cell.samples.push(sample)
    log(`  W4 ${format}: ${Math.round(sample.rowsPerSecond!)} rows/s, ${notes.join('; ')}, ${peakNote}`)
  } catch (error) {
    cell.failures.push((error as Error).message)
    log(`  W4 ${format}: failed: ${(error as Error).message}`)
  } finally {
    await server?.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function runCeilingC(): Promise<void> {
  const dir = freshDir('ceiling-c')
  try {
    const child = spawnTracked(['bun', CEILING_C, join(dir, 'c.db'), `${config.ceilingRows}`, '1000'], { stdout: 'pipe', stderr: 'pipe' })
    const stdout = new Response(child.stdout as ReadableStream).text()
    const stderr = new Response(child.stderr as ReadableStream).text()
    const code = await exitedWithin(child, 300_000)
    if (code !== 0) throw new Error(`exited ${code}: ${(await stderr).trim().slice(-200)}`)
    const result = JSON.parse(await stdout) as { rows: number; seconds: number; peakRssBytes: number }
    const notes = result.rows === config.ceilingRows ? ['WAL, synchronous=NORMAL'] : [`wrote ${result.rows} rows`]
    ceilingCell.samples.push({ rowsPerSecond: result.rows / result.seconds, peakRss: result.peakRssBytes, notes })
    log(`  ceiling c: ${Math.round(result.rows / result.seconds)} rows/s`)
  } catch (error) {
    ceilingCell.failures.push((error as Error).message)
    log(`  ceiling c: failed: ${(error as Error).message}`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * Start → first accepted TCP connection, then VmRSS after config.idleMs of idling. Connects are polled 1 ms apart: on 2
 * cores a loop without the pause takes a core from the starting server and doubles the time it measures.
 */
async function measureStartup(cell: Cell, command: (dir: string, port: number) => string[]): Promise<void> {
  const dir = freshDir(`start-${cell.target}`)
  try {
    const port = freePort()
    const started = performance.now()
    const child = spawnTracked(command(dir, port), { stdout: 'ignore', stderr: 'pipe' })
    const stderr = new Response(child.stderr as ReadableStream).text()
    try {
      while (!(await accepts(port))) {
        await sleep(1)
        if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}: ${(await stderr).trim().slice(-200)}`)
        if (performance.now() - started > 15_000) throw new Error('did not accept connections within 15 s')
      }
      const startMs = performance.now() - started
      await sleep(config.idleMs)
      cell.samples.push({ p50Ms: startMs, peakRss: memoryOf(child.pid)?.rss, notes: [] })
    } finally {
      child.kill('SIGTERM')
      await exitedWithin(child, 10_000)
    }
  } catch (error) {
    cell.failures.push((error as Error).message)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** The W5 starting point, built once with bun:sqlite in one statement: config.w5Rows rows of the same shape as the workloads'. */
function prepareBigFile(): string {
  const path = join(tmpRoot, 'big.db')
  const started = performance.now()
  const db = new Database(path, { create: true })
  db.run('PRAGMA journal_mode = OFF')
  db.run('PRAGMA synchronous = OFF')
  db.run('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL, active INTEGER)')
  db.run(`WITH RECURSIVE n(id) AS (SELECT 1 UNION ALL SELECT id + 1 FROM n WHERE id < ${config.w5Rows}) INSERT INTO items SELECT id, 'n' || id, 1.5, 1 FROM n`)
  db.close()
  log(`W5 file: ${config.w5Rows} rows in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  return path
}

function goals(): Goal[] {
  const list: Goal[] = []
  const w1 = (target: HttpTarget) => find(target.label, 'W1')
  list.push(ratioGoal('W1 req/s: rowpost normal ÷ ceiling b', w1(UNSAFE_NORMAL), w1(CEILING_SQLITE), 'rps', 0.7))
  list.push(ratioGoal('W1 req/s: rowpost full ÷ rowpost normal', w1(UNSAFE_FULL), w1(UNSAFE_NORMAL), 'rps', 0.8))
  list.push(ratioGoal('W1 req/s: rowpost full ÷ full with group_commit off', w1(UNSAFE_FULL), w1(UNSAFE_FULL_NO_GROUP), 'rps', 5))
  // Issue 14: a bearer token costs at most 5 %.
  list.push(ratioGoal('W1 req/s: rowpost token ÷ --unsafe, full', w1(TOKEN_FULL), w1(UNSAFE_FULL), 'rps', 0.95))
  list.push(ratioGoal('W1 req/s: rowpost token ÷ --unsafe, normal', w1(TOKEN_NORMAL), w1(UNSAFE_NORMAL), 'rps', 0.95))
  for (const target of [UNSAFE_FULL, UNSAFE_NORMAL]) {
    const durability = target === UNSAFE_FULL ? 'full' : 'normal'
    list.push(ratioGoal(`W3 rows/s: rowpost ${durability} ÷ ceiling c`, find(target.label, 'W3'), ceilingCell, 'rowsPerSecond', 0.5))
    // Issue 14's bar for batches.
    list.push(ratioGoal(`W3 rows/s: rowpost ${durability} ÷ ceiling b`, find(target.label, 'W3'), find(CEILING_SQLITE.label, 'W3'), 'rowsPerSecond', 0.65))
  }
  for (const { format, cell } of w4Plan) {
    // Issue 14 raised issue 1's 0.4.
    list.push(ratioGoal(`W4 ${format.toUpperCase()} rows/s ÷ ceiling c`, cell, ceilingCell, 'rowsPerSecond', 0.5))
    list.push(limitGoal(`W4 ${format.toUpperCase()} server peak RSS`, cell, 'peakRss', 150, 'MB'))
  }
  for (const target of [UNSAFE_FULL, UNSAFE_NORMAL]) {
    const durability = target === UNSAFE_FULL ? 'full' : 'normal'
    list.push(
      ratioGoal(
        `W5 req/s: W1 on ${shortCount(config.w5Rows)} ÷ W1 on empty, ${durability}`,
        find(target.label, W5_W1.name),
        find(target.label, 'W1'),
        'rps',
        0.8,
      ),
    )
    list.push(
      ratioGoal(
        `W5 rows/s: W2 on ${shortCount(config.w5Rows)} ÷ W2 on empty, ${durability}`,
        find(target.label, W5_W2.name),
        find(target.label, 'W2'),
        'rowsPerSecond',
        0.8,
      ),
    )
  }
  list.push(...reads.goals(ceilingCell))
  list.push(limitGoal('rowpost idle RSS', startCells.rowpost, 'peakRss', 60, 'MB'))
  list.push(limitGoal('rowpost start → listening (median)', startCells.rowpost, 'p50Ms', 150, 'ms'))
  return list.filter((goal) => !(goal.actual === undefined && goal.missing?.split(', ').every((why) => why.endsWith('not run'))))
}

function machine(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU'
  const memory = (Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024).toFixed(1)
  return `${cpus().length} × ${cpu}, ${memory} GiB RAM, Linux, Bun ${Bun.version}`
}

/** The commit measured, and whether the working tree differs from it. */
function revision(): string {
  const git = (...args: string[]) =>
    Bun.spawnSync(['git', '-C', ROOT, ...args], { stderr: 'ignore' })
      .stdout.toString()
      .trim()
  const head = git('rev-parse', '--short', 'HEAD')
  if (!head) return 'unknown revision'
  return git('status', '--porcelain', '--', 'index.ts', 'lib') ? `${head} + uncommitted changes in lib/ or index.ts` : head
}

const loadAverage = () =>
  loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')

async function main(): Promise<void> {
  writeFileSync(join(tmpRoot, 'metadata.json'), JSON.stringify(BENCH_METADATA))
  const readsWanted = READ_WORKLOADS.some(wants)
  const generator = httpPlan.length || readsWanted ? await chooseLoadGenerator(process.env.BENCH_LOADGEN, log) : undefined
  const bigFile = wants('W5') ? prepareBigFile() : undefined
  reads.prepare()
  const started = performance.now()
  const loadBefore = loadAverage()
  for (let run = 1; run <= config.runs; run++) {
    log(`run ${run}/${config.runs}`)
    for (const { target, workload, cell } of httpPlan) await runHttpCell(generator!, target, workload, cell, bigFile)
    for (const { format, cell } of w4Plan) {
      // A failed upload fails the same way again: don't spend minutes repeating it.
      if (cell.failures.length && !cell.samples.length) continue
      await runUploadCell(format, cell)
    }
    await reads.runOnce(generator)
    await runCeilingC()
  }
  reads.finish()
  log(`startup: ${config.startRuns} starts each`)
  for (let start = 0; start < config.startRuns; start++) {
    await measureStartup(startCells.rowpost, (dir, port) => ['bun', ROWPOST, join(dir, 'data.db'), '--create', '--unsafe', '-p', `${port}`])
    await measureStartup(startCells.bare, (_dir, port) => ['bun', CEILING_A, `${port}`])
  }
  for (const cell of Object.values(startCells)) {
    const times = cell.samples.map((sample) => sample.p50Ms!)
    if (times.length)
      cell.samples[0]!.notes.push(
        `p50 = start → listening (${Math.round(Math.min(...times))}–${Math.round(Math.max(...times))} ms); RSS = idle, ${config.idleMs} ms after listening`,
      )
  }
  const minutes = ((performance.now() - started) / 60_000).toFixed(1)

  const smoke = config.runs < 3 ? ' — SMOKE RUN (fewer than 3 runs: not a result)' : ''
  const load = generator ? `${generator.name}, ${config.threads} thread(s), ${config.connections} connections, ${config.seconds} s per run` : 'no HTTP load'
  console.log(`## rowpost bench, ${new Date().toISOString().slice(0, 16)}Z${smoke}`)
  console.log()
  console.log(`rowpost ${revision()}; ${machine()}; load average ${loadBefore} before, ${loadAverage()} after.`)
  console.log(`Load: ${load}. Medians of ${config.runs} run(s) (startup: ${config.startRuns}); took ${minutes} min.`)
  console.log(
    `W4: ${config.w4Bytes} bytes per upload to ${W4_TARGET.label}. W5: ${config.w5Rows} rows already in the table. Ceiling c: ${config.ceilingRows} rows.`,
  )
  console.log()
  console.log(resultsTable(cells))
  console.log()
  console.log(goalsTable(goals()))
}

let cleaned = false
function cleanUp(): void {
  if (cleaned) return
  cleaned = true
  killAll()
  rmSync(tmpRoot, { recursive: true, force: true })
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    log(`bench: ${signal}: stopping every server it started`)
    cleanUp()
    process.exit(130)
  })
}
try {
  await main()
} finally {
  cleanUp()
}
