#!/usr/bin/env bun
/**
 * `bun bench/feed.ts`: what the change feed costs single-row writes (W1, the legacy route, a SQLite file with the
 * default `durability full`): rowpost before the feed existed, rowpost now with no subscriber, and rowpost now with 10
 * subscribers reading the table's feed, in one interleaved run. The subscribers' events are counted against the rows
 * written after they joined. BENCH_BEFORE names the commit to compare with (default: the one before the feed's log was added).
 */
import { Database } from 'bun:sqlite'
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { envInt } from './env'
import { wrk } from './load'
import { cpuSeconds, killAll, startServer } from './processes'
import { count, median } from './report'

const ROOT = join(import.meta.dir, '..')
const BEFORE = process.env.BENCH_BEFORE ?? '117c10b^'
const config = {
  seconds: envInt('BENCH_SECONDS', 5),
  runs: envInt('BENCH_RUNS', 5),
  connections: envInt('BENCH_CONNECTIONS', 32),
  subscribers: envInt('BENCH_SUBSCRIBERS', 10),
}
const log = (line: string) => console.error(line)

/** A worktree of the `before` commit, sharing this checkout's node_modules. */
function worktreeOf(revision: string): string {
  const dir = join(tmpdir(), `rowpost-feed-before-${Bun.hash(revision).toString(16)}`)
  if (!existsSync(dir)) {
    const added = Bun.spawnSync(['git', 'worktree', 'add', '--detach', dir, revision], { cwd: ROOT, stderr: 'pipe' })
    if (added.exitCode !== 0) throw new Error(`git worktree add ${revision}: ${added.stderr.toString()}`)
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'))
  }
  return dir
}

interface Side {
  label: string
  root: string
  subscribers: number
}

/** Opens `n` subscribers of the feed and counts the changes they receive. */
function subscribe(url: string, n: number): { counts: number[]; ready(): boolean; close(): void } {
  const counts = Array<number>(n).fill(0)
  let answered = 0
  const controllers = Array.from({ length: n }, () => new AbortController())
  controllers.forEach((controller, i) => {
    void (async () => {
      const response = await fetch(`${url}/data/items/-/changes?_format=ndjson`, { signal: controller.signal })
      answered++
      const reader = response.body!.getReader()
      // A change is a line starting with `{`; the opening line and the keep-alives are empty.
      let previous = 0x0a
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        for (const byte of value) {
          if (byte === 0x7b && previous === 0x0a) counts[i]!++
          previous = byte
        }
      }
    })().catch(() => {})
  })
  return { counts, ready: () => answered === n, close: () => controllers.forEach((controller) => controller.abort()) }
}

async function runOnce(side: Side): Promise<{ rps: number; cpuUs: number; delivered?: number[]; rows: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-feed-bench-'))
  const server = await startServer(side.label, ['bun', join(side.root, 'index.ts'), join(dir, 'data.db'), '--create', '--unsafe', '-p', '0'], dir)
  try {
    const created = await fetch(`${server.url}/-/insert/data/items?pk=id`, {
      method: 'POST',
      body: JSON.stringify({ id: 1, name: 'n', score: 1.5, active: true }),
    })
    if (!created.ok) throw new Error(`setup insert: ${created.status}`)
    const feeds = side.subscribers ? subscribe(server.url, side.subscribers) : undefined
    // The subscribers are on once each has its answer (rowpost subscribes before it answers).
    if (feeds) while (!feeds.ready()) await Bun.sleep(10)
    const cpuBefore = cpuSeconds(server.pid)
    const result = await wrk.run({
      url: `${server.url}/-/insert/data/items?pk=id`,
      rowsPerRequest: 1,
      seconds: config.seconds,
      connections: config.connections,
      threads: 1,
      idBase: 1e13,
    })
    const cpuUs = ((cpuSeconds(server.pid) - cpuBefore) / result.okRequests) * 1e6
    await Bun.sleep(500)
    feeds?.close()
    // Every row written after the subscribers joined: wrk's counted requests, and those still in flight when it stopped.
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    const rows = (file.query('SELECT count(*) AS n FROM items').get() as { n: number }).n - 1
    file.close()
    return { rps: result.okRequests / result.seconds, cpuUs, delivered: feeds?.counts, rows }
  } finally {
    await server.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

async function main(): Promise<void> {
  const load = loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')
  const sides: Side[] = [
    { label: `before (${BEFORE})`, root: worktreeOf(BEFORE), subscribers: 0 },
    { label: 'now, no subscriber', root: ROOT, subscribers: 0 },
    { label: `now, ${config.subscribers} subscribers`, root: ROOT, subscribers: config.subscribers },
  ]
  const samples = new Map<Side, number[]>(sides.map((side) => [side, []]))
  const cpu = new Map<Side, number[]>(sides.map((side) => [side, []]))
  for (let run = 1; run <= config.runs; run++) {
    for (const side of sides) {
      const result = await runOnce(side)
      samples.get(side)!.push(result.rps)
      cpu.get(side)!.push(result.cpuUs)
      const delivered = result.delivered ? `; each subscriber got ${[...new Set(result.delivered)].join('/')} of ${result.rows} changes` : ''
      log(`run ${run} | ${side.label}: ${count(result.rps)} req/s, ${result.cpuUs.toFixed(1)} µs CPU/request${delivered}`)
    }
  }
  const before = median(samples.get(sides[0]!)!)!
  const cpuBefore = median(cpu.get(sides[0]!)!)!
  console.log(`#### Change feed cost on W1, ${new Date().toISOString().slice(0, 16)}Z\n`)
  console.log(
    `${cpus().length} × ${cpus()[0]?.model}; Bun ${Bun.version}; load average ${load} before. wrk -t1 -c${config.connections}, ${config.seconds} s per run, ${config.runs} runs interleaved; medians.\n`,
  )
  // The server's CPU time per request is disturbed far less by a busy shared machine than its throughput.
  console.log('| rowpost | W1 req/s (median) | runs | vs before | server CPU µs/request | vs before |\n| --- | ---: | --- | ---: | ---: | ---: |')
  for (const side of sides) {
    const values = samples.get(side)!
    const cpuUs = median(cpu.get(side)!)!
    console.log(
      `| ${side.label} | ${count(median(values))} | ${values.map((value) => count(value)).join(', ')} | ${(median(values)! / before).toFixed(3)}× | ${cpuUs.toFixed(1)} | ${(cpuUs / cpuBefore).toFixed(3)}× |`,
    )
  }
}

try {
  await main()
} finally {
  killAll()
}
