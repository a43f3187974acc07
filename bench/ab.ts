/**
 * W1 on two checkouts of rowpost in the same run, runs interleaved (A, B, A, B...), so a change's cost is measured
 * against the code before it under the same machine load:
 *   git worktree add /tmp/rowpost-before <commit> && ln -s "$PWD/node_modules" /tmp/rowpost-before/node_modules
 *   BENCH_A=/tmp/rowpost-before BENCH_B=. bun bench/ab.ts
 * Each run: a fresh data.db, `--unsafe`, durability full (BENCH_DURABILITY=normal for normal), group commit on, wrk
 * with 32 connections for BENCH_SECONDS.
 * BENCH_A_AUTH / BENCH_B_AUTH=token serve that side with bench/run.ts's metadata.json instead of `--unsafe`, every
 * request sending its bearer token: `BENCH_A=. BENCH_B=. BENCH_B_AUTH=token bun bench/ab.ts` is a token's cost.
 * Besides req/s it reports the server's CPU time per request (user + system, from /proc), which a busy shared machine
 * disturbs far less than throughput.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { envInt } from './env'
import { wrk } from './load'
import { cpuSeconds, killAll, startServer } from './processes'
import { median } from './report'
import { BENCH_METADATA, BENCH_TOKEN } from './metadata'

const checkouts = { A: process.env.BENCH_A, B: process.env.BENCH_B }
if (!checkouts.A || !checkouts.B) throw new Error('Set BENCH_A and BENCH_B to the two checkouts to compare')
const auth: Record<string, string> = { A: process.env.BENCH_A_AUTH ?? 'unsafe', B: process.env.BENCH_B_AUTH ?? 'unsafe' }
for (const mode of Object.values(auth)) if (mode !== 'unsafe' && mode !== 'token') throw new Error(`BENCH_A_AUTH/BENCH_B_AUTH: unsafe or token, not ${mode}`)
const runs = envInt('BENCH_RUNS', 5)
const seconds = envInt('BENCH_SECONDS', 6)
const rowsPerRequest = envInt('BENCH_BATCH', 1)
const durability = process.env.BENCH_DURABILITY ?? 'full'
if (durability !== 'full' && durability !== 'normal') throw new Error(`BENCH_DURABILITY: full or normal, not ${durability}`)

const rps: Record<string, number[]> = { A: [], B: [] }
const cpuPerRequest: Record<string, number[]> = { A: [], B: [] }
const p50: Record<string, number[]> = { A: [], B: [] }
let idBase = 1e13
try {
  for (let run = 0; run < runs; run++) {
    for (const [label, checkout] of Object.entries(checkouts)) {
      const dir = mkdtempSync(join(tmpdir(), 'rowpost-ab-'))
      const token = auth[label] === 'token'
      if (token) writeFileSync(join(dir, 'metadata.json'), JSON.stringify(BENCH_METADATA))
      const authArgs = token ? ['-m', join(dir, 'metadata.json')] : ['--unsafe']
      const server = await startServer(
        label,
        ['bun', join(resolve(checkout!), 'index.ts'), join(dir, 'data.db'), '--create', ...authArgs, '--setting', 'durability', durability, '-p', '0'],
        dir,
      )
      try {
        const cpuBefore = cpuSeconds(server.pid)
        const result = await wrk.run({
          url: `${server.url}/-/insert/data/items?pk=id`,
          rowsPerRequest,
          seconds,
          connections: 32,
          threads: 1,
          idBase,
          token: token ? BENCH_TOKEN : undefined,
        })
        const cpuUs = ((cpuSeconds(server.pid) - cpuBefore) / result.okRequests) * 1e6
        cpuPerRequest[label]!.push(cpuUs)
        idBase += 1e9
        if (result.failedRequests > 0) throw new Error(`${label}: ${result.failedRequests} failed requests`)
        rps[label]!.push(result.okRequests / result.seconds)
        p50[label]!.push(result.p50Ms)
        console.error(
          `run ${run + 1} ${label}: ${Math.round(result.okRequests / result.seconds)} req/s, p50 ${result.p50Ms.toFixed(2)} ms, ${cpuUs.toFixed(1)} µs CPU/request (load ${loadavg()[0]!.toFixed(2)})`,
        )
      } finally {
        await server.stop()
        rmSync(dir, { recursive: true, force: true })
      }
    }
  }
} finally {
  killAll()
}
const a = median(rps.A!)!
const b = median(rps.B!)!
console.log(`W${rowsPerRequest === 1 ? 1 : `(${rowsPerRequest} rows)`}, durability ${durability}, medians of ${runs} interleaved runs of ${seconds} s:`)
for (const label of ['A', 'B']) {
  const cpu = median(cpuPerRequest[label]!)!.toFixed(1)
  console.log(
    `${label} ${checkouts[label as 'A']} (${auth[label]}): ${Math.round(median(rps[label]!)!)} req/s (p50 ${median(p50[label]!)!.toFixed(2)} ms), ${cpu} µs CPU/request; runs ${rps[label]!.map(Math.round).join(', ')}`,
  )
}
const cpuRatio = median(cpuPerRequest.B!)! / median(cpuPerRequest.A!)!
console.log(`B ÷ A: req/s ${(b / a).toFixed(3)}, CPU per request ${cpuRatio.toFixed(3)}`)
