/**
 * The compiled binary beside `bun index.ts`: file size, start → first accepted connection, and idle RSS (VmRSS after
 * BENCH_IDLE_MS), medians of BENCH_START_RUNS starts each, measured as bench/run.ts measures its startup row.
 * Run `bun run build` first: `bun bench/binary.ts`.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { envInt } from './env'
import { accepts, exitedWithin, freePort, memoryOf, sleep, spawnTracked } from './processes'
import { median } from './report'

const ROOT = join(import.meta.dir, '..')
const BINARY = join(ROOT, 'dist', 'rowpost')
const runs = Math.max(5, envInt('BENCH_START_RUNS', 7))
const idleMs = envInt('BENCH_IDLE_MS', 1000)

async function startOnce(command: string[]): Promise<{ startMs: number; rss: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-bench-binary-'))
  const port = freePort()
  const started = performance.now()
  const child = spawnTracked([...command, join(dir, 'data.db'), '--create', '--unsafe', '-p', String(port)], { stdout: 'ignore', stderr: 'inherit' })
  try {
    // 1 ms apart: on 2 cores a busy poll would take a core from the starting server.
    while (!(await accepts(port))) {
      await sleep(1)
      if (child.exitCode !== null) throw new Error(`${command.join(' ')} exited ${child.exitCode}`)
    }
    const startMs = performance.now() - started
    await sleep(idleMs)
    return { startMs, rss: memoryOf(child.pid)?.rss ?? NaN }
  } finally {
    child.kill('SIGTERM')
    await exitedWithin(child, 10_000)
    rmSync(dir, { recursive: true, force: true })
  }
}

const targets = { 'bun index.ts': ['bun', join(ROOT, 'index.ts')], 'dist/rowpost': [BINARY] }
const samples = Object.fromEntries(Object.keys(targets).map((name) => [name, { startMs: [] as number[], rss: [] as number[] }]))
// Interleaved, so a change in the machine's load falls on both alike.
for (let run = 0; run < runs; run++) {
  for (const [name, command] of Object.entries(targets)) {
    const { startMs, rss } = await startOnce(command)
    samples[name]!.startMs.push(startMs)
    samples[name]!.rss.push(rss)
  }
}
console.log(`Medians of ${runs} starts each, idle RSS read ${idleMs} ms after the first accepted connection.\n`)
console.log('| command | file size | start → listening (ms) | idle RSS (MB) |')
console.log('|---|---:|---:|---:|')
for (const name of Object.keys(targets)) {
  const size = name === 'dist/rowpost' ? `${(statSync(BINARY).size / 1e6).toFixed(1)} MB` : '(bun + sources)'
  const { startMs, rss } = samples[name]!
  console.log(`| \`${name}\` | ${size} | ${median(startMs)!.toFixed(1)} | ${(median(rss)! / 1e6).toFixed(1)} |`)
}
