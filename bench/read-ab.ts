/**
 * One read workload on two checkouts of rowpost in the same run, runs interleaved (A, B, A, B...), as bench/ab.ts does
 * for W1, so a change to the read path is measured against the code before it under the same machine load:
 *   git worktree add --detach /var/tmp/rowpost-before <commit> && ln -s "$PWD/node_modules" /var/tmp/rowpost-before/node_modules
 *   BENCH_A=/var/tmp/rowpost-before BENCH_B=. BENCH_READ=R1 bun bench/read-ab.ts
 * BENCH_READ is R1, R2, R3 (wrk, 32 connections, BENCH_SECONDS each) or NDJSON, CSV (R4: one download of every row).
 * Each run starts the checkout on a fresh copy of the read table (bench/reads.ts, BENCH_R_ROWS rows). Besides the rate
 * it reports the server's CPU time per request (per row for R4), which a busy shared machine disturbs far less.
 * (A worktree under /tmp runs slower there: Bun reads the directories above a script, and a /tmp of many entries
 * cost every start ~150 ms and ~40 MB of RSS on the bench machine.)
 */
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { envInt } from './env'
import { wrk } from './load'
import { cpuSeconds, killAll, memoryOf, startServer } from './processes'
import { buildReadTable, READ_PATHS, timedDownload } from './reads'
import { median } from './report'

const checkouts = { A: process.env.BENCH_A, B: process.env.BENCH_B }
if (!checkouts.A || !checkouts.B) throw new Error('Set BENCH_A and BENCH_B to the two checkouts to compare')
const workload = process.env.BENCH_READ ?? 'R1'
if (!['R1', 'R2', 'R3', 'NDJSON', 'CSV'].includes(workload)) throw new Error(`BENCH_READ: unknown workload ${workload}`)
const runs = envInt('BENCH_RUNS', 5)
const seconds = envInt('BENCH_SECONDS', 6)
const rows = envInt('BENCH_R_ROWS', 1_000_000)
const download = workload === 'NDJSON' || workload === 'CSV'

const root = mkdtempSync(join(tmpdir(), 'rowpost-read-ab-'))
const file = join(root, 'reads.db')
const r2 = buildReadTable(file, rows)
const path = workload === 'R2' ? r2 : READ_PATHS[workload as 'R1' | 'R3' | 'NDJSON' | 'CSV']

const rate: Record<string, number[]> = { A: [], B: [] }
const cpuPerUnit: Record<string, number[]> = { A: [], B: [] }
const peak: Record<string, number[]> = { A: [], B: [] }
try {
  for (let run = 0; run < runs; run++) {
    for (const [label, checkout] of Object.entries(checkouts)) {
      const dir = mkdtempSync(join(root, 'run-'))
      copyFileSync(file, join(dir, 'data.db'))
      const server = await startServer(label, ['bun', join(resolve(checkout!), 'index.ts'), join(dir, 'data.db'), '--unsafe', '-p', '0'], dir)
      try {
        const url = `${server.url}${path}`
        if (!(await fetch(url)).ok) throw new Error(`${label}: the probe GET failed`)
        const cpuBefore = cpuSeconds(server.pid)
        let units: number
        let perSecond: number
        if (download) {
          let highest = 0
          const sampler = setInterval(() => (highest = Math.max(highest, memoryOf(server.pid)?.rss ?? 0)), 100)
          const result = await timedDownload(url, () => 0)
          clearInterval(sampler)
          units = result.lines - (workload === 'CSV' ? 1 : 0)
          if (units !== rows) throw new Error(`${label}: ${units} rows of ${rows}`)
          perSecond = units / result.seconds
          peak[label]!.push(highest)
        } else {
          const result = await wrk.run({ url, rowsPerRequest: 0, seconds, connections: 32, threads: 1, idBase: 0 })
          if (result.failedRequests > 0) throw new Error(`${label}: ${result.failedRequests} failed requests`)
          units = result.okRequests
          perSecond = units / result.seconds
        }
        const cpuUs = ((cpuSeconds(server.pid) - cpuBefore) / units) * 1e6
        rate[label]!.push(perSecond)
        cpuPerUnit[label]!.push(cpuUs)
        console.error(`run ${run + 1} ${label}: ${Math.round(perSecond)}/s, ${cpuUs.toFixed(2)} µs CPU each (load ${loadavg()[0]!.toFixed(2)})`)
      } finally {
        await server.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
} finally {
  killAll()
  rmSync(root, { recursive: true, force: true })
}
const unit = download ? 'rows' : 'req'
console.log(`${workload} (${path}), medians of ${runs} interleaved runs${download ? '' : ` of ${seconds} s, wrk -t1 -c32`}:`)
for (const label of ['A', 'B']) {
  const memory = download ? `, peak RSS ${(median(peak[label]!)! / 1e6).toFixed(1)} MB` : ''
  console.log(
    `${label} ${checkouts[label as 'A']}: ${Math.round(median(rate[label]!)!)} ${unit}/s, ${median(cpuPerUnit[label]!)!.toFixed(2)} µs CPU/${unit === 'req' ? 'request' : 'row'}${memory}; runs ${rate[label]!.map(Math.round).join(', ')}`,
  )
}
console.log(
  `B ÷ A: ${unit}/s ${(median(rate.B!)! / median(rate.A!)!).toFixed(3)}, CPU per ${unit === 'req' ? 'request' : 'row'} ${(median(cpuPerUnit.B!)! / median(cpuPerUnit.A!)!).toFixed(3)}`,
)
