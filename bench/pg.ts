#!/usr/bin/env bun
/**
 * `bun bench/pg.ts`: rowpost on PostgreSQL (one and two processes on one database) beside issue 10's PostgreSQL
 * ceilings (a bare Bun.serve + Bun.SQL doing the same upserts), over TCP and the unix socket, and bun:sqlite's ceiling,
 * on a throwaway cluster. BENCH_TARGETS=rowpost limits the run to rowpost and the two best ceilings.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { PG_CEILING_MODES, type PgCeilingMode } from './ceilings/pg-server'
import { wrk } from './load'
import { killAll, memoryOf, startServer, type Server } from './processes'
import { startCluster, type Cluster } from './postgres-cluster'
import { count, median, medianOf, resultsTable, type Cell } from './report'
import { jsonBody } from './rows'
import { envInt } from './env'

const WORKLOADS = { W1: 1, W2: 100, W3: 1000 } as const
type WorkloadName = keyof typeof WORKLOADS
const config = {
  seconds: envInt('BENCH_SECONDS', 6),
  runs: envInt('BENCH_RUNS', 3),
  connections: envInt('BENCH_CONNECTIONS', 32),
  threads: envInt('BENCH_WRK_THREADS', 1),
  /** Statements per measurement of the statement-cost table. */
  statements: envInt('BENCH_STATEMENTS', 1000),
  workloads: (process.env.BENCH_WORKLOADS ?? 'W1,W3').split(',').map((name) => name.trim().toUpperCase()) as WorkloadName[],
}
for (const name of config.workloads) if (!(name in WORKLOADS)) throw new Error(`BENCH_WORKLOADS: W1, W2 or W3, not ${name}`)

const PG_SERVER = join(import.meta.dir, 'ceilings', 'pg-server.ts')
const ROWPOST = join(import.meta.dir, '..', 'index.ts')
const SQLITE_SERVER = join(import.meta.dir, 'ceilings', 'sqlite-server.ts')
const WRK_ID_BASE = 1e13
const PROBE_ID_BASE = 8e15
const log = (line: string) => console.error(line)

type Transport = 'TCP' | 'unix socket'

interface Target {
  label: string
  /**
   * Starts the servers (one, or several sharing one database, which the load is split across) on a fresh store and
   * returns the path wrk posts to on each, and how to count the rows afterwards.
   */
  start(): Promise<{ servers: Server[]; path: string; rows(): Promise<number>; cleanup(): Promise<void> }>
}

let cluster: Cluster
let databases = 0
let admin: SQL

/** A fresh database on the cluster, its URL over `transport`, and how to count and drop it. */
async function freshDatabase(transport: Transport) {
  const name = `bench_${++databases}`
  await admin.unsafe(`CREATE DATABASE ${name}`)
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-pg-bench-'))
  return {
    name,
    dir,
    url: transport === 'TCP' ? cluster.url(name) : cluster.socketUrl(name),
    async rows() {
      const sql = new SQL({ url: cluster.url(name), max: 1 })
      try {
        const [row] = await sql`SELECT count(*)::int AS n FROM items`
        return row.n as number
      } finally {
        await sql.close()
      }
    },
    async cleanup() {
      await admin.unsafe(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      rmSync(dir, { recursive: true, force: true })
    },
  }
}

/** rowpost serving the database (`processes` of them, each its own pool and group commit), through the legacy route. */
function rowpostTarget(processes: number, transport: Transport): Target {
  return {
    label: `rowpost on pg, ${processes} process${processes > 1 ? 'es' : ''}, ${transport}`,
    async start() {
      const database = await freshDatabase(transport)
      const servers: Server[] = []
      for (let n = 0; n < processes; n++) {
        servers.push(await startServer(`rowpost ${n + 1}`, ['bun', ROWPOST, database.url, '--unsafe', '-p', '0'], database.dir))
      }
      // rowpost serves a PostgreSQL database under its own name.
      return { servers, path: `/-/insert/${database.name}/items?pk=id`, rows: database.rows, cleanup: database.cleanup }
    },
  }
}

function pgTarget(mode: PgCeilingMode, transport: Transport): Target {
  return {
    label: `pg ${mode}, ${transport}`,
    async start() {
      const database = await freshDatabase(transport)
      const server = await startServer(`pg ceiling ${mode}`, ['bun', PG_SERVER, database.url, mode, '0'], database.dir)
      return { servers: [server], path: '/', rows: database.rows, cleanup: database.cleanup }
    },
  }
}

const SQLITE_TARGET: Target = {
  label: 'sqlite ceiling b (WAL, NORMAL)',
  async start() {
    const dir = mkdtempSync(join(tmpdir(), 'rowpost-pg-bench-'))
    const file = join(dir, 'data.db')
    const server = await startServer('sqlite ceiling', ['bun', SQLITE_SERVER, file, '0'], dir)
    return {
      servers: [server],
      path: '/',
      async rows() {
        const db = new Database(file, { readonly: true })
        try {
          return (db.query('SELECT count(*) AS n FROM items').get() as { n: number }).n
        } finally {
          db.close()
        }
      },
      async cleanup() {
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}

const modes = Object.keys(PG_CEILING_MODES) as PgCeilingMode[]
const transports = ['TCP', 'unix socket'] as const
const rowpostTargets = transports.flatMap((transport) => [rowpostTarget(1, transport), rowpostTarget(2, transport)])
const targets: Target[] =
  process.env.BENCH_TARGETS === 'rowpost'
    ? [...transports.flatMap((transport) => [pgTarget('group', transport), pgTarget('group-pipelined', transport)]), ...rowpostTargets]
    : [SQLITE_TARGET, ...transports.flatMap((transport) => modes.map((mode) => pgTarget(mode, transport))), ...rowpostTargets]

/**
 * One run of one cell: fresh servers, a probe request, wrk (one per server, the connections split between them, each
 * with its own id range), then the stored rows checked against the acknowledged ones.
 */
async function runOnce(target: Target, workload: WorkloadName, cell: Cell): Promise<void> {
  const rowsPerRequest = WORKLOADS[workload]
  const started = await target.start()
  let servers: Server[] = started.servers
  try {
    const probe = await fetch(`${servers[0]!.url}${started.path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: jsonBody(PROBE_ID_BASE, rowsPerRequest),
    })
    if (!probe.ok) throw new Error(`probe answered ${probe.status}: ${(await probe.text()).slice(0, 160)}`)
    const results = await Promise.all(
      servers.map((server, n) =>
        wrk.run({
          url: `${server.url}${started.path}`,
          rowsPerRequest,
          seconds: config.seconds,
          connections: Math.max(1, Math.round(config.connections / servers.length)),
          threads: config.threads,
          idBase: WRK_ID_BASE + n * 1e14,
        }),
      ),
    )
    const peakRss = Math.max(...servers.map((server) => memoryOf(server.pid)?.peak ?? 0)) || undefined
    await Promise.all(servers.map((server) => server.stop()))
    servers = []
    const notes: string[] = []
    const failed = results.reduce((sum, result) => sum + result.failedRequests, 0)
    if (failed) notes.push(`${failed} failed requests`)
    const ok = results.reduce((sum, result) => sum + result.okRequests, 0)
    const stored = await started.rows()
    const acknowledged = rowsPerRequest * (1 + ok)
    if (stored < acknowledged) notes.push(`table holds ${stored} rows, ${acknowledged} acknowledged`)
    const rps = results.reduce((sum, result) => sum + result.okRequests / result.seconds, 0)
    const p50Ms = median(results.map((result) => result.p50Ms))!
    const p99Ms = Math.max(...results.map((result) => result.p99Ms))
    cell.samples.push({ rps, rowsPerSecond: rps * rowsPerRequest, p50Ms, p99Ms, peakRss, notes })
    log(`  ${workload} | ${target.label}: ${Math.round(rps)} req/s, ${Math.round(rps * rowsPerRequest)} rows/s ${notes.join('; ')}`.trimEnd())
  } catch (error) {
    cell.failures.push((error as Error).message)
    log(`  ${workload} | ${target.label}: failed: ${(error as Error).message}`)
  } finally {
    await Promise.all(servers.map((server) => server.stop()))
    await started.cleanup()
  }
}

interface StatementCost {
  label: string
  /** Runs `n` statements (however the strategy sends them) and resolves when all are done. */
  run(sql: SQL, n: number): Promise<unknown>
}

/** How Bun.SQL sends statements, in µs per statement: which ways are pipelined, and what a savepoint costs. */
const STATEMENT_COSTS: StatementCost[] = [
  {
    label: 'tagged template, each awaited (one round trip each)',
    run: async (sql, n) => {
      for (let i = 0; i < n; i++) await sql`SELECT ${i}::int`
    },
  },
  {
    label: 'tagged template, sent together in a transaction',
    run: (sql, n) => sql.begin((tx) => Promise.all(Array.from({ length: n }, (_, i) => tx`SELECT ${i}::int`))),
  },
  {
    label: 'tx.unsafe with parameters, sent together in a transaction',
    run: (sql, n) => sql.begin((tx) => Promise.all(Array.from({ length: n }, (_, i) => tx.unsafe('SELECT $1::int', [i])))),
  },
  {
    label: 'tx.unsafe without parameters, sent together in a transaction',
    run: (sql, n) => sql.begin((tx) => Promise.all(Array.from({ length: n }, (_, i) => tx.unsafe(`SELECT ${i}`)))),
  },
  {
    label: 'tx.savepoint(fn) around each statement, one after another',
    run: (sql, n) =>
      sql.begin(async (tx) => {
        for (let i = 0; i < n; i++) await tx.savepoint((sp) => sp`SELECT ${i}::int`)
      }),
  },
  {
    label: 'SAVEPOINT + statement + RELEASE as tagged templates, sent together (per statement: all three)',
    run: (sql, n) =>
      sql.begin((tx) => Promise.all(Array.from({ length: n }, (_, i) => [tx`SAVEPOINT s`, tx`SELECT ${i}::int`, tx`RELEASE SAVEPOINT s`]).flat())),
  },
]

async function statementCosts(transport: Transport): Promise<string[][]> {
  const sql = new SQL({ url: transport === 'TCP' ? cluster.url() : cluster.socketUrl(), max: 1 })
  try {
    const rows: string[][] = []
    for (const cost of STATEMENT_COSTS) {
      await cost.run(sql, 100)
      const samples: number[] = []
      for (let run = 0; run < config.runs; run++) {
        const started = performance.now()
        await cost.run(sql, config.statements)
        samples.push(((performance.now() - started) * 1000) / config.statements)
      }
      rows.push([transport, cost.label, median(samples)!.toFixed(1)])
    }
    return rows
  } finally {
    await sql.close()
  }
}

function machine(): string {
  const memory = (Number(/MemTotal:\s+(\d+)/.exec(readFileSync('/proc/meminfo', 'utf8'))?.[1] ?? 0) / 1024 / 1024).toFixed(1)
  return `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${memory} GiB RAM, Linux, Bun ${Bun.version}`
}

async function main(): Promise<void> {
  if (!Bun.which('wrk')) throw new Error('wrk is not installed: apt-get install wrk')
  const began = new Date()
  const loadBefore = loadavg()
    .map((value) => value.toFixed(1))
    .join(' ')
  cluster = await startCluster()
  admin = new SQL({ url: cluster.url(), max: 1 })
  const [server] = await admin`SELECT version() AS version, current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sync`
  log(`cluster on port ${cluster.port} (${server.version}; fsync ${server.fsync}, synchronous_commit ${server.sync})`)

  const costRows = [...(await statementCosts('TCP')), ...(await statementCosts('unix socket'))]
  const cells = config.workloads.flatMap((workload) =>
    targets.map((target) => ({
      target,
      workload,
      cell: { target: target.label, workload, planned: config.runs, samples: [], failures: [] } as Cell,
    })),
  )
  // Runs are interleaved (every cell once, then again) so that a slow minute of the machine spreads over all cells.
  for (let run = 1; run <= config.runs; run++) {
    log(`run ${run} of ${config.runs}`)
    for (const { target, workload, cell } of cells) await runOnce(target, workload, cell)
  }

  console.log(`#### PostgreSQL ceilings, ${began.toISOString().slice(0, 16)}Z\n`)
  console.log(`${machine()}; ${server.version.split(' on ')[0]}, fsync on, synchronous_commit on; load average ${loadBefore} before.`)
  console.log(`wrk -t${config.threads} -c${config.connections}, ${config.seconds} s per run; medians of ${config.runs} runs, interleaved.\n`)
  console.log(resultsTable(cells.map(({ cell }) => cell)))
  console.log('\n| transport | how the statements are sent | µs per statement |\n| --- | --- | ---: |')
  for (const row of costRows) console.log(`| ${row.join(' | ')} |`)
  console.log(`\n(${config.statements} \`SELECT $1::int\` statements per measurement on one connection, median of ${config.runs}.)\n`)
  for (const workload of config.workloads) {
    const pg = cells.filter((entry) => entry.workload === workload && entry.target !== SQLITE_TARGET && !rowpostTargets.includes(entry.target))
    const metric = workload === 'W1' ? 'rps' : 'rowsPerSecond'
    const best = pg.map((entry) => ({ label: entry.target.label, value: medianOf(entry.cell, metric) ?? 0 })).sort((a, b) => b.value - a.value)[0]
    if (!best) continue
    const unit = metric === 'rps' ? 'req/s' : 'rows/s'
    console.log(`- ${workload}: best PostgreSQL ceiling ${best.label}, ${count(best.value)} ${unit}; 0.7× of it: ${count(best.value * 0.7)} ${unit}`)
    for (const entry of cells.filter((candidate) => candidate.workload === workload && rowpostTargets.includes(candidate.target))) {
      const value = medianOf(entry.cell, metric)
      if (value !== undefined) console.log(`  - ${entry.target.label}: ${count(value)} ${unit}, ${(value / best.value).toFixed(2)}× of that ceiling`)
    }
  }
}

function shutDown(code: number): never {
  killAll()
  cluster?.stop()
  process.exit(code)
}
process.on('SIGINT', () => shutDown(130))
process.on('SIGTERM', () => shutDown(143))
try {
  await main()
  shutDown(0)
} catch (error) {
  log(`bench failed: ${(error as Error).stack ?? error}`)
  shutDown(1)
}
