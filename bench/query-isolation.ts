/**
 * Slow-query isolation (issue 9): single-row inserts (W1) alone and while a 10 s SQL query runs on the same database,
 * and a 100-row page read as a SQL query against the same page read through the table API. Run: `bun bench/query-isolation.ts`.
 */
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { envInt } from './env'
import { wrk, type LoadResult } from './load'
import { killAll, sleep, startServer } from './processes'
import { median } from './report'

const RUNS = envInt('BENCH_RUNS', 3)
const SECONDS = envInt('BENCH_SECONDS', 6)
const ROWS = 100_000
/** Counts forever; the server's sql_time_limit_ms (10 s here) is what ends it. */
const ENDLESS = 'with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c'

const dir = mkdtempSync(join(tmpdir(), 'rowpost-query-bench-'))
const path = join(dir, 'data.db')
const seed = new Database(path)
seed.run('PRAGMA journal_mode = WAL')
seed.run('CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, score REAL)')
const insert = seed.prepare('INSERT INTO items VALUES (?, ?, ?)')
seed.transaction(() => {
  for (let id = 1; id <= ROWS; id++) insert.run(id, `item ${id}`, id / 3)
})()
seed.close()

const server = await startServer(
  'rowpost',
  ['bun', join(import.meta.dir, '..', 'index.ts'), path, '--unsafe', '-p', '0', '--setting', 'sql_time_limit_ms', '10000'],
  dir,
)
/** `rowsPerRequest: 0` makes bench/lua/insert.lua send plain GETs. */
const load = (url: string, method: 'insert' | 'get', idBase: number) =>
  wrk.run({ url, rowsPerRequest: method === 'get' ? 0 : 1, seconds: SECONDS, connections: 32, threads: 1, idBase })

const samples: Record<string, LoadResult[]> = { alone: [], during: [], query: [], table: [] }
const slowQueries: Array<{ status: number; seconds: number }> = []
try {
  for (let run = 0; run < RUNS; run++) {
    samples.alone!.push(await load(`${server.url}/-/insert/data/w1?pk=id`, 'insert', 1e13 + run * 1e9))
    const started = performance.now()
    const slow = fetch(`${server.url}/data/-/query.json?sql=${encodeURIComponent(ENDLESS)}`).then(async (response) => {
      await response.text()
      return { status: response.status, seconds: (performance.now() - started) / 1000 }
    })
    await sleep(200)
    samples.during!.push(await load(`${server.url}/-/insert/data/w1?pk=id`, 'insert', 2e13 + run * 1e9))
    slowQueries.push(await slow)
    samples.query!.push(await load(`${server.url}/data/-/query.json?sql=${encodeURIComponent('select * from items limit 100')}`, 'get', 0))
    samples.table!.push(await load(`${server.url}/data/items.json?_size=100`, 'get', 0))
    console.error(`run ${run + 1}/${RUNS} done`)
  }
} finally {
  await server.stop()
  killAll()
  rmSync(dir, { recursive: true, force: true })
}

const of = (name: string, pick: (result: LoadResult) => number) => median(samples[name]!.map(pick))!
const row = (label: string, name: string) =>
  `| ${label} | ${Math.round(of(name, (r) => r.okRequests / r.seconds))} | ${of(name, (r) => r.p50Ms).toFixed(2)} | ${of(name, (r) => r.p99Ms).toFixed(2)} | ${of(name, (r) => r.failedRequests)} |`
console.log(`Medians of ${RUNS} runs × ${SECONDS} s, wrk -t1 -c32, ${ROWS} rows in items, sql_time_limit_ms 10000.\n`)
console.log('| measurement | req/s | p50 ms | p99 ms | failed |\n| --- | ---: | ---: | ---: | ---: |')
console.log(row('W1 inserts alone', 'alone'))
console.log(row('W1 inserts while a 10 s query runs', 'during'))
console.log(row('GET /data/-/query.json?sql=select * from items limit 100', 'query'))
console.log(row('GET /data/items.json?_size=100', 'table'))
console.log(
  `\nW1 p99 during ÷ alone: ${(of('during', (r) => r.p99Ms) / of('alone', (r) => r.p99Ms)).toFixed(2)}×; query p50 ÷ table p50: ${(of('query', (r) => r.p50Ms) / of('table', (r) => r.p50Ms)).toFixed(2)}×`,
)
console.log(`The slow queries answered: ${slowQueries.map((q) => `${q.status} after ${q.seconds.toFixed(1)} s`).join(', ')}`)
