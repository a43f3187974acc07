/** PostgreSQL ceiling: a bare Bun.serve that upserts each request's rows with Bun.SQL, durably, one transaction per request or group-committed. */
// Usage: bun bench/ceilings/pg-server.ts POSTGRES_URL MODE [PORT]; prints `serving at http://127.0.0.1:PORT/` once listening.
// MODE is one of PG_CEILING_MODES. Rows are bench/rows.ts's jsonRow, with ids (wrk sends them).
import { SQL, type TransactionSQL } from 'bun'

interface Item {
  id: number
  name: string
  score: number
  active: boolean
}

export const PG_CEILING_MODES = {
  /** Each request is one INSERT statement, so one transaction and one commit; a pool of 16 connections. */
  autocommit: 'one statement (one commit) per request, pool 16',
  /** Requests that arrive in one event-loop turn share a transaction; each gets a savepoint, as per-request isolation needs. */
  group: 'group commit, SAVEPOINT + INSERT + RELEASE per request, pipelined, 2 groups in flight',
  /** The same without the savepoints: what group commit costs at the least. */
  'group-nosp': 'group commit, INSERT per request, pipelined, 2 groups in flight',
} as const
export type PgCeilingMode = keyof typeof PG_CEILING_MODES

/** bench/rows.ts's ITEMS_DDL in PostgreSQL's types: wrk's ids start at 1e13, past `integer`. */
export const PG_ITEMS_DDL = 'CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, name text, score double precision, active boolean)'

type Runner = SQL | TransactionSQL

/**
 * The legacy route's INSERT OR REPLACE as one statement: a single row as VALUES, a batch as unnest of four bound arrays
 * (one statement, so one parse and four parameters whatever the batch size).
 */
function upsert(sql: Runner, rows: Item[]) {
  if (rows.length === 1) {
    const row = rows[0]!
    return sql`INSERT INTO items (id, name, score, active) VALUES (${row.id}, ${row.name}, ${row.score}, ${row.active})
      ON CONFLICT (id) DO UPDATE SET name = excluded.name, score = excluded.score, active = excluded.active`
  }
  return sql`INSERT INTO items (id, name, score, active)
    SELECT * FROM unnest(${rows.map((row) => row.id)}::bigint[], ${rows.map((row) => row.name)}::text[],
      ${rows.map((row) => row.score)}::float8[], ${rows.map((row) => row.active)}::bool[])
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, score = excluded.score, active = excluded.active`
}

interface Job {
  rows: Item[]
  resolve(): void
  reject(error: unknown): void
}

/** Group commit: the jobs queued in one event-loop turn go in one transaction, all their statements sent without waiting. */
function groupCommitter(sql: SQL, savepoints: boolean, groupsInFlight: number) {
  let queue: Job[] = []
  let inFlight = 0
  let scheduled = false
  const schedule = () => {
    if (scheduled || inFlight >= groupsInFlight || queue.length === 0) return
    scheduled = true
    setImmediate(flush)
  }
  async function flush() {
    scheduled = false
    const group = queue
    queue = []
    inFlight++
    try {
      await sql.begin((tx) =>
        Promise.all(group.flatMap((job) => (savepoints ? [tx`SAVEPOINT request`, upsert(tx, job.rows), tx`RELEASE SAVEPOINT request`] : [upsert(tx, job.rows)]))),
      )
      for (const job of group) job.resolve()
    } catch (error) {
      for (const job of group) job.reject(error)
    } finally {
      inFlight--
      schedule()
    }
  }
  return (rows: Item[]) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ rows, resolve, reject })
      schedule()
    })
}

if (import.meta.main) {
  const [url, mode, port] = process.argv.slice(2) as [string, PgCeilingMode, string | undefined]
  if (!url || !(mode in PG_CEILING_MODES)) throw new Error(`usage: pg-server.ts POSTGRES_URL ${Object.keys(PG_CEILING_MODES).join('|')} [PORT]`)
  const groups = 2
  // synchronous_commit=on is the server's default; it is set here too so that no server default can make the ceiling less durable.
  const sql = new SQL({ url, max: mode === 'autocommit' ? 16 : groups, connection: { synchronous_commit: 'on' } })
  await sql.unsafe(PG_ITEMS_DDL)
  const write = mode === 'autocommit' ? (rows: Item[]) => upsert(sql, rows) : groupCommitter(sql, mode === 'group', groups)

  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: Number(port ?? 0),
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    async fetch(request) {
      const body = (await request.json()) as Item | Item[]
      await write(Array.isArray(body) ? body : [body])
      return Response.json({ ok: true })
    },
  })
  console.log(`pg ceiling (${mode}) serving at http://127.0.0.1:${server.port}/`)
}
