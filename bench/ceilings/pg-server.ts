/** PostgreSQL ceiling: a bare Bun.serve that upserts each request's rows with Bun.SQL, durably, a commit per request or per group. */
// Usage: bun bench/ceilings/pg-server.ts POSTGRES_URL MODE [PORT]; prints `serving at http://127.0.0.1:PORT/` once listening.
// MODE is one of PG_CEILING_MODES; PG_CEILING_GROUPS (default 2) sets the groups in flight.
// Rows are bench/rows.ts's jsonRow, with ids (wrk sends them).
import { SQL, type ReservedSQL, type TransactionSQL } from 'bun'

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
  /** The same without the savepoints. */
  'group-nosp': 'group commit, INSERT per request, pipelined, 2 groups in flight',
  /**
   * BEGIN, the group's INSERTs and COMMIT sent in one flight on a reserved connection: one round trip and one fsync per
   * group. A failing statement would roll the whole group back (COMMIT then answers ROLLBACK), so a real server would
   * retry its requests one by one; the ceiling never fails.
   */
  'group-pipelined': 'group commit, BEGIN + INSERT per request + COMMIT in one flight, 2 groups in flight',
} as const
export type PgCeilingMode = keyof typeof PG_CEILING_MODES

/** bench/rows.ts's ITEMS_DDL in PostgreSQL's types: wrk's ids start at 1e13, past `integer`. */
export const PG_ITEMS_DDL = 'CREATE TABLE IF NOT EXISTS items (id bigint PRIMARY KEY, name text, score double precision, active boolean)'

type Runner = SQL | TransactionSQL | ReservedSQL

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

type GroupCommit = (jobs: Job[]) => Promise<unknown>

/** Group commit: the jobs queued in one event-loop turn are written together by `commit`, at most `groupsInFlight` at once. */
function groupCommitter(commit: GroupCommit, groupsInFlight: number) {
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
      await commit(group)
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

/** sql.begin: BEGIN is awaited, then the group's statements go out together, then COMMIT once they have all answered. */
function inTransaction(sql: SQL, savepoints: boolean): GroupCommit {
  return (group) =>
    sql.begin((tx) =>
      Promise.all(group.flatMap((job) => (savepoints ? [tx`SAVEPOINT request`, upsert(tx, job.rows), tx`RELEASE SAVEPOINT request`] : [upsert(tx, job.rows)]))),
    )
}

/** One flight per group on one of `connections` reserved connections, used in turn (a group at a time on each). */
function inOneFlight(connections: ReservedSQL[]): GroupCommit {
  const idle = [...connections]
  return async (group) => {
    const connection = idle.pop()!
    try {
      const answers = await Promise.all([connection`BEGIN`, ...group.map((job) => upsert(connection, job.rows)), connection`COMMIT`])
      // COMMIT of a transaction that failed part-way answers ROLLBACK rather than an error.
      if (answers.at(-1)?.command !== 'COMMIT') throw new Error('the group was rolled back')
    } finally {
      idle.push(connection)
    }
  }
}

if (import.meta.main) {
  const [url, mode, port] = process.argv.slice(2) as [string, PgCeilingMode, string | undefined]
  if (!url || !(mode in PG_CEILING_MODES)) throw new Error(`usage: pg-server.ts POSTGRES_URL ${Object.keys(PG_CEILING_MODES).join('|')} [PORT]`)
  const groups = Number(process.env.PG_CEILING_GROUPS ?? 2)
  // synchronous_commit=on is the server's default; it is set here too so that no server default can make the ceiling less durable.
  const sql = new SQL({ url, max: mode === 'autocommit' ? 16 : groups, connection: { synchronous_commit: 'on' } })
  await sql.unsafe(PG_ITEMS_DDL)
  const commit =
    mode === 'group-pipelined' ? inOneFlight(await Promise.all(Array.from({ length: groups }, () => sql.reserve()))) : inTransaction(sql, mode === 'group')
  const write = mode === 'autocommit' ? (rows: Item[]) => upsert(sql, rows) : groupCommitter(commit, groups)

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
