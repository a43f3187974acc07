/**
 * The PostgreSQL Store: the same paths as SQLite, driven asynchronously over Bun.SQL. Writes share a transaction
 * (group commit) with a SAVEPOINT per request; several rowpost processes may serve one database, so row counts and
 * Idempotency-Key answers live in the database, not in a process.
 */
import { SQL, type ReservedSQL } from 'bun'
import { identifierKey, quoteIdentifier as q } from '../../identifiers'
import { MissingTable, postgresErrorCode, UnknownKeys } from '../../errors'
import type { SqlValue } from '../../values'
import { changeRows, pruneThrough, type Change } from '../../feed'
import {
  driveAsync,
  powerOfTwoRuns,
  RowFailure,
  RunAgain,
  type Answer,
  type CountKeeper,
  type EachResult,
  type Path,
  type RunResult,
  type Session,
  type StatementRef,
  type StatementRequest,
} from '../path'
import type { Capability, RowTally, SchemaFacts, SchemaStatement, Store, StoreHealth } from '../store'
import type { TableInfo, TableListing } from '../table'
import { ALL_TABLES_SQL, createStatement, NAMED_TABLE_SQL, tablesFrom, type CatalogRow, type CatalogTable } from './catalog'
import { COUNTS_TABLE, postgresDialect, STORE_TABLES } from './dialect'

export interface PostgresOptions {
  /** Name in URLs; the database's own name by default. */
  name?: string
  /** Let concurrent write requests share one commit (default true). */
  groupCommit?: boolean
}

/** Transactions committing at once: one gathers requests while the other waits for its commit. */
const GROUPS_IN_FLIGHT = 2
const READ_CONNECTIONS = 4
const MAX_GROUP_REQUESTS = 256
/** How long a table's description is trusted before it is read again (another process may have added columns). */
const DESCRIPTION_TTL_MS = 1000
/** Times a request is run again after losing a race with another process (a deadlock, a concurrent CREATE TABLE). */
const MAX_ATTEMPTS = 4
/**
 * Failures that say another transaction got there first, not that the request is wrong: a deadlock or serialization
 * failure, a table or column another process created a moment ago, a table it dropped. Running the request again,
 * after reading the schema again, gives the answer it would have had.
 */
const RACE_CODES = new Set(['40P01', '40001', '42P07', '42701', '42P01', '42703'])

function lostRace(error: unknown): boolean {
  if (error instanceof RunAgain) return true
  const code = postgresErrorCode(error)
  if (code === undefined) return false
  // Two CREATE TABLEs of one name collide on the catalogue's own unique index (pg_type), not on a user table's key.
  if (code === '23505') return String((error as { constraint?: unknown }).constraint ?? '').startsWith('pg_')
  // A column another process added is a race; a column named like a system column (xmin, ctid…) is the client's error.
  if (code === '42701') return !/conflicts with a system column name/.test((error as Error).message)
  return RACE_CODES.has(code)
}

/** The name a URL gives a PostgreSQL database: the last path segment of the connection URL, else the user's name. */
export function databaseNameOf(url: string): string {
  const parsed = new URL(url)
  return decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres'
}

/** The URL without its password, for logs and listings. */
export function redactedUrl(url: string): string {
  const parsed = new URL(url)
  if (parsed.password) parsed.password = '***'
  return parsed.toString()
}

/**
 * SQL with `?` placeholders as a template strings array: Bun.SQL sends tagged queries as prepared statements and
 * pipelines them, where `unsafe` would wait for each. Quoted names and string literals may hold a `?`.
 */
function templateOf(sql: string): TemplateStringsArray {
  const parts: string[] = []
  let start = 0
  let quote: string | undefined
  for (let i = 0; i < sql.length; i++) {
    const char = sql[i]!
    if (quote) {
      if (char === quote) quote = undefined
    } else if (char === '"' || char === "'") quote = char
    else if (char === '?') {
      parts.push(sql.slice(start, i))
      start = i + 1
    }
  }
  parts.push(sql.slice(start))
  Object.defineProperty(parts, 'raw', { value: [...parts] })
  return parts as unknown as TemplateStringsArray
}

/**
 * Numbers go as text, which PostgreSQL reads as the column's type: bound as a float8, 1.5 would be rounded into a
 * bigint column; as text it is refused there, as it should be.
 */
const toParameter = (value: SqlValue) => (typeof value === 'number' || typeof value === 'bigint' ? String(value) : value)

/** Integers within 2^53 as numbers, for statements that did not ask for exact integers (SQLite answers those with numbers too). */
const plainInteger = (value: unknown) => (typeof value === 'bigint' && value >= -(2n ** 53n) && value <= 2n ** 53n ? Number(value) : value)

type Runner = SQL | ReservedSQL

/** PostgreSQL's limit on the parameters of one statement. */
const MAX_PARAMETERS = 65535
/** Rows per multi-row statement: past a few hundred, a longer statement saves nothing more. */
const MAX_ROWS_PER_STATEMENT = 512
/** Statements kept prepared; the oldest is dropped past this (a connection re-prepares it if it comes back). */
const STATEMENT_CACHE_SIZE = 512

/** Sends a statement without waiting for its answer; its failure shows in the next statement awaited. */
const pipelined = (query: Promise<unknown>) => void query.catch(() => {})

/** What a `run` answers from the rows a statement returned: a key and `inserted` flag per row where it reports them. */
function runResult(prepared: Prepared, rows: unknown): RunResult {
  const count = (rows as { count?: number }).count ?? 0
  if (!prepared.reportsInserted) return { changes: count, lastInsertRowid: 0 }
  let inserted = 0
  for (const row of rows as unknown[][]) if (row[1] === true) inserted++
  const key = (rows as unknown[][])[0]?.[0]
  return { changes: count, lastInsertRowid: (key as bigint | number | null) ?? 0, inserted }
}

const COUNT_SELECT = templateOf(`SELECT n FROM ${COUNTS_TABLE} WHERE name = ?`)
const COUNT_UPDATE = templateOf(`UPDATE ${COUNTS_TABLE} SET n = n + ? WHERE name = ? RETURNING n`)
const COUNT_DELETE = templateOf(`DELETE FROM ${COUNTS_TABLE} WHERE name = ?`)
const FEED_ALLOCATE = templateOf(postgresDialect.feed.allocate)
const FEED_FOLLOW = templateOf(postgresDialect.feed.follow)
const FEED_RECORD = templateOf(postgresDialect.feed.record)
const FEED_PRUNE = templateOf(postgresDialect.feed.prune)

/** A statement prepared once: its template, and whether it reports inserted rows (`RETURNING …, (xmax = 0) AS inserted`). */
interface Prepared {
  template: TemplateStringsArray
  reportsInserted: boolean
  safeIntegers: boolean
}

/**
 * A request's row-count changes within a write transaction, kept as deltas until it succeeds, when they join the
 * group's (applied to the shared counts table before COMMIT). When the request asks for a count, that table's delta,
 * its own and the group's so far, is applied at once; the group's part is given back if the request then fails, since
 * its savepoint undoes the update.
 */
class RequestCounts implements CountKeeper {
  private readonly deltas = new Map<string, number>()
  private readonly borrowed = new Map<string, number>()
  readonly dropped = new Set<string>()

  constructor(private readonly group: Map<string, number>) {}

  add(table: string, delta: number): void {
    if (delta !== 0) this.deltas.set(table, (this.deltas.get(table) ?? 0) + delta)
  }

  /** This request's own delta for `table`, not yet applied. */
  own(table: string): number {
    return this.deltas.get(table) ?? 0
  }

  forget(table: string): void {
    this.take(table)
    this.dropped.add(table)
  }

  /** The delta to apply now for `table`, which the caller then writes into the counts table. */
  take(table: string): number {
    const fromGroup = this.group.get(table) ?? 0
    if (fromGroup !== 0) this.borrowed.set(table, (this.borrowed.get(table) ?? 0) + fromGroup)
    this.group.delete(table)
    const delta = fromGroup + (this.deltas.get(table) ?? 0)
    this.deltas.delete(table)
    return delta
  }

  succeeded(): void {
    for (const [table, delta] of this.deltas) this.group.set(table, (this.group.get(table) ?? 0) + delta)
  }

  failed(): void {
    for (const [table, delta] of this.borrowed) this.group.set(table, (this.group.get(table) ?? 0) + delta)
  }
}

/** Changes of one table a request made, to log before COMMIT if the table is followed then. */
interface PendingChanges {
  table: string
  count: number
  changes: () => Change[]
  now: number
}

interface RequestSession extends Session {
  counts: RequestCounts
  /** Whether a table description came from this process's cache, which another process's change may have outdated. */
  cachedSchema: boolean
  /** What the request changed, for the change feed; the transaction's once the request succeeds. */
  changes: PendingChanges[]
  /** Tables whose counts row this request was first to update (and lock) in the transaction: undone if it fails. */
  locked: string[]
  /** Rows its statements changed, for its RowTally. */
  rowsChanged: number
}

/**
 * Whether a request refused for its table's columns or absence (unknown keys, a missing table) may only have seen an
 * outdated description: then it runs again once the schema is read afresh.
 */
const maybeOutdated = (error: unknown, session: RequestSession) => session.cachedSchema && (error instanceof UnknownKeys || error instanceof MissingTable)

/** One write transaction: its connection, its requests' pending counts and changes, and whether it changed the schema. */
class WriteTransaction {
  readonly pendingCounts = new Map<string, number>()
  /**
   * Tables whose counts row this transaction has updated (and so holds locked until COMMIT), with the count that update
   * left: later requests work their counts out from it and the deltas still pending, with no round trip.
   */
  readonly countedBase = new Map<string, Promise<number>>()
  readonly changes: PendingChanges[] = []
  schemaChanged = false

  constructor(
    readonly connection: ReservedSQL,
    /** Whether its requests run at once, with no savepoint of their own: any failure then fails them all. */
    readonly together = false,
  ) {}

  /** A session for one request of this transaction. */
  session(): RequestSession {
    return { dialect: postgresDialect, counts: new RequestCounts(this.pendingCounts), cachedSchema: false, changes: [], locked: [], rowsChanged: 0 }
  }

  /** The group's deltas, in name order so that two transactions lock counts rows in one order. */
  takeCounts(): Array<[string, number]> {
    const deltas = [...this.pendingCounts].filter(([, delta]) => delta !== 0).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    this.pendingCounts.clear()
    return deltas
  }
}

interface Job {
  path: (session: Session) => Path<unknown>
  tally: RowTally | undefined
  resolve(value: unknown): void
  reject(error: unknown): void
  attempts: number
}

/** Answers a job whose request has committed, crediting its rows. */
function settle(job: Job, ran: { value: unknown; rows: number }): void {
  if (job.tally) job.tally.rowsWritten += ran.rows
  job.resolve(ran.value)
}

export class PostgresStore implements Store {
  readonly immutable = false
  readonly fileName = null
  private tables = new Map<string, CatalogTable>()
  private checkedAt = new Map<string, number>()
  private prepared = new Map<string, Prepared>()
  private queue: Job[] = []
  private inFlight = 0
  /** When each group now being written began, for health: a transaction open far longer than a write should is stuck. */
  private readonly groupsOpenSince = new Set<number>()
  private scheduled = false
  private readonly readSession: Session = { dialect: postgresDialect }

  private constructor(
    readonly name: string,
    /** The connection URL without its password. */
    readonly path: string,
    private readonly writer: SQL,
    private readonly reader: SQL,
    private readonly groupCommit: boolean,
  ) {}

  /** Connects, creates rowpost's own tables when missing, and reads the schema. */
  static async open(url: string, options: PostgresOptions = {}): Promise<PostgresStore> {
    // synchronous_commit=on whatever the server's default: an acknowledged write is on disk.
    const connection = { synchronous_commit: 'on', application_name: 'rowpost' }
    const writer = new SQL({ url, bigint: true, max: GROUPS_IN_FLIGHT + 1, connection })
    const reader = new SQL({ url, bigint: true, max: READ_CONNECTIONS, connection })
    try {
      for (let attempt = 1; ; attempt++) {
        try {
          await writer.begin(async (tx) => {
            for (const statement of STORE_TABLES) await tx.unsafe(statement)
          })
          break
        } catch (error) {
          // Two processes starting together race to create the same tables; the loser sees them on its next try.
          if (attempt >= MAX_ATTEMPTS || !lostRace(error)) throw error
        }
      }
      const store = new PostgresStore(options.name ?? databaseNameOf(url), redactedUrl(url), writer, reader, options.groupCommit ?? true)
      await store.sync()
      return store
    } catch (error) {
      await Promise.allSettled([writer.close({ timeout: 0 }), reader.close({ timeout: 0 })])
      throw error
    }
  }

  /** SQL queries, execute-write and /-/alter are built on SQLite's EXPLAIN and rebuild: not available here. */
  supports(_capability: Capability): boolean {
    return false
  }

  table(name: string): TableInfo | undefined {
    return this.tables.get(identifierKey(name))?.info
  }

  tableList(): TableListing[] {
    return [...this.tables.values()].sort((a, b) => a.position - b.position).map(({ info, position }) => ({ name: info.name, position }))
  }

  /**
   * Brings the schema up to date before a request looks a table up: a table unknown here is always looked for (another
   * process may have just created it); a known one is read again once its description is older than a second. With
   * no name, the whole listing is read again (one catalogue query: listings are not on the write path).
   */
  async sync(name?: string): Promise<void> {
    const now = performance.now()
    if (name === undefined) {
      const rows = (await this.reader.unsafe(ALL_TABLES_SQL)) as CatalogRow[]
      this.tables = new Map(tablesFrom(rows).map((table) => [identifierKey(table.info.name), table]))
      this.checkedAt = new Map([...this.tables.keys()].map((key) => [key, now]))
      return
    }
    const key = identifierKey(name)
    const checked = this.checkedAt.get(key)
    if (checked !== undefined && this.tables.has(key) && now - checked < DESCRIPTION_TTL_MS) return
    this.remember(key, await this.describe(this.reader, name), now)
  }

  private remember(key: string, table: CatalogTable | undefined, now = performance.now()): void {
    if (table) this.tables.set(key, table)
    else this.tables.delete(key)
    this.checkedAt.set(key, now)
  }

  /** The table named `name` (ignoring ASCII case) as `runner` sees it: inside a transaction, with its own changes. */
  private async describe(runner: Runner, name: string): Promise<CatalogTable | undefined> {
    // PostgreSQL names hold no NUL; asking about one would be an encoding error, not an answer.
    if (name.includes('\0')) return undefined
    const rows = (await runner.unsafe(NAMED_TABLE_SQL, [name])) as CatalogRow[]
    const key = identifierKey(name)
    return tablesFrom(rows).find((table) => identifierKey(table.info.name) === key)
  }

  private statement(ref: StatementRef): Prepared {
    let prepared = this.prepared.get(ref.key)
    if (!prepared) {
      const sql = ref.build()
      prepared = { template: templateOf(sql), reportsInserted: /\(xmax = 0\) AS inserted$/.test(sql), safeIntegers: ref.safeIntegers ?? false }
      if (this.prepared.size >= STATEMENT_CACHE_SIZE) this.prepared.delete(this.prepared.keys().next().value!)
      this.prepared.set(ref.key, prepared)
    }
    return prepared
  }

  /** Answers one request of a path on `runner`; `transaction` and the request's `session` are absent on the read side. */
  private async answer(runner: Runner, request: StatementRequest, transaction?: WriteTransaction, session?: RequestSession): Promise<Answer> {
    switch (request.want) {
      case 'exec':
        await runner.unsafe(request.sql)
        if (transaction) transaction.schemaChanged = true
        return undefined
      case 'table':
        return (await this.tableOn(runner, request.name, transaction, session))?.info
      case 'schema': {
        const table = await this.tableOn(runner, request.name, transaction, session)
        return table && createStatement(table)
      }
      case 'count':
        return transaction && session ? this.countInTransaction(transaction, session, request.name) : this.countCommitted(request.name)
      case 'runEach': {
        const result = await this.runEach(runner, request, transaction?.together ?? false)
        if (session) session.rowsChanged += result.changes
        return result
      }
      case 'feed':
        // Whether the table is followed is asked of the database once per table and group, just before COMMIT.
        if (session) {
          session.changes.push({ table: request.name, count: request.count, changes: request.changes, now: request.now })
          return null
        }
        throw new Error('a read asked for change ids')
      case 'follow':
        await runner(FEED_FOLLOW, request.name, String(request.until), String(request.now))
        return undefined
      case 'run': {
        const prepared = this.statement(request.statement)
        const result = runResult(prepared, await runner(prepared.template, ...request.params.map(toParameter)).values())
        if (session) session.rowsChanged += result.changes
        return result
      }
      case 'values': {
        const prepared = this.statement(request.statement)
        const rows = (await runner(prepared.template, ...request.params.map(toParameter)).values()) as unknown[][]
        return prepared.safeIntegers ? rows : rows.map((row) => row.map(plainInteger))
      }
      case 'get':
      case 'all': {
        const prepared = this.statement(request.statement)
        const rows = (await runner(prepared.template, ...request.params.map(toParameter))) as Record<string, unknown>[]
        const objects = prepared.safeIntegers
          ? rows
          : rows.map((row) => Object.fromEntries(Object.entries(row).map(([name, value]) => [name, plainInteger(value)])))
        return request.want === 'get' ? (objects[0] ?? null) : objects
      }
    }
  }

  /**
   * Rows with their keys go as statements of many rows each (a chunk ends where a key repeats, which one statement
   * could not both insert and update), inside a savepoint; when one fails, the rows are run again one by one to name
   * the row at fault. Rows without a key, or a dialect without multi-row statements, go one statement per row, all
   * sent in one flight.
   */
  private async runEach(runner: Runner, request: Extract<StatementRequest, { want: 'runEach' }>, together: boolean): Promise<EachResult> {
    const { rows, keys, many } = request
    const width = rows[0]?.length ?? 0
    if (!many || rows.length < 2 || width === 0 || keys.some((key) => key === null)) return this.runRowByRow(runner, request.statement, rows)
    const limit = Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMETERS / width)))
    const chunks: Array<[number, number]> = []
    let start = 0
    let seen = new Set<string>()
    rows.forEach((_, index) => {
      const key = keys[index]!.map(String).join('\0')
      if (index - start >= limit || seen.has(key)) {
        chunks.push([start, index])
        start = index
        seen = new Set()
      }
      seen.add(key)
    })
    chunks.push([start, rows.length])
    const sized = chunks.flatMap(([from, to]) => powerOfTwoRuns(from, to))
    // Requests running together share the transaction: a savepoint of one would be released or rolled back by another.
    if (!together) pipelined(runner`SAVEPOINT rowpost_rows`)
    const sent = sized.map(([from, to]) => {
      const prepared = this.statement(many(to - from))
      const query = runner(prepared.template, ...rows.slice(from, to).flat().map(toParameter)).values()
      query.catch(() => {})
      return { prepared, query }
    })
    let results: RunResult[]
    try {
      results = await Promise.all(sent.map(async ({ prepared, query }) => runResult(prepared, await query)))
    } catch (error) {
      if (together) throw error
      await runner`ROLLBACK TO SAVEPOINT rowpost_rows`
      return this.runRowByRow(runner, request.statement, rows)
    }
    if (!together) pipelined(runner`RELEASE SAVEPOINT rowpost_rows`)
    const inserted = results.some((result) => result.inserted !== undefined) ? results.reduce((sum, result) => sum + (result.inserted ?? 0), 0) : undefined
    return { changes: results.reduce((sum, result) => sum + result.changes, 0), inserted, generated: rows.map(() => null) }
  }

  private async runRowByRow(runner: Runner, ref: StatementRef, rows: SqlValue[][]): Promise<EachResult> {
    const prepared = this.statement(ref)
    const settled = await Promise.allSettled(rows.map((row) => runner(prepared.template, ...row.map(toParameter)).values()))
    // Statements run in order: the first failure is the real one; those after it only saw the transaction aborted.
    const failed = settled.findIndex((outcome) => outcome.status === 'rejected')
    if (failed !== -1) throw new RowFailure(failed, (settled[failed] as PromiseRejectedResult).reason)
    const results = settled.map((outcome) => runResult(prepared, (outcome as PromiseFulfilledResult<unknown[][]>).value))
    return {
      changes: results.reduce((sum, result) => sum + result.changes, 0),
      inserted: prepared.reportsInserted ? results.reduce((sum, result) => sum + (result.inserted ?? 0), 0) : undefined,
      generated: results.map((result) => (result.changes > 0 && result.lastInsertRowid !== 0 ? result.lastInsertRowid : null)),
      changed: results.map((result) => result.changes > 0),
    }
  }

  /** A table as a statement on `runner` would find it: after a schema change in this transaction, from the catalogue. */
  private async tableOn(runner: Runner, name: string, transaction?: WriteTransaction, session?: RequestSession): Promise<CatalogTable | undefined> {
    if (transaction?.schemaChanged) return this.describe(runner, name)
    const key = identifierKey(name)
    const known = this.tables.get(key)
    if (known && this.checkedAt.has(key)) {
      if (session) session.cachedSchema = true
      return known
    }
    const found = await this.describe(runner, name)
    this.remember(key, found)
    return found
  }

  /** The committed count: the counts row, else a count of the table (a read never creates the row). */
  private async countCommitted(table: string): Promise<number> {
    const [row] = await this.reader(COUNT_SELECT, table)
    if (row) return Number(row.n)
    const [counted] = await this.reader.unsafe(`SELECT count(*) AS n FROM ${q(table)}`)
    return Number(counted.n)
  }

  /**
   * Applies `delta` to the table's counts row and returns the new count. A table without a row gets one from a
   * count(*), taken under an advisory lock so that two transactions cannot both start counting: the second waits,
   * then finds the first one's row and adds to it.
   */
  private async applyCount(connection: ReservedSQL, table: string, delta: number): Promise<number> {
    const update = () => connection(COUNT_UPDATE, String(delta), table)
    let [row] = await update()
    if (row) return Number(row.n)
    await connection`SELECT pg_advisory_xact_lock(hashtext(${`rowpost count ${table}`}))`
    ;[row] = await update()
    if (row) return Number(row.n)
    // A table dropped meanwhile (by this transaction or another process) has no count to keep.
    const [found] = await connection`SELECT to_regclass(${q(table)}) IS NOT NULL AS present`
    if (!found.present) return 0
    ;[row] = await connection.unsafe(`INSERT INTO ${COUNTS_TABLE} (name, n) SELECT $1, count(*) FROM ${q(table)} RETURNING n`, [table])
    return Number(row.n)
  }

  /**
   * The table's count as this request sees it. The first request of the transaction to ask updates the counts row
   * (locking it until COMMIT, so no other transaction's count can interleave); later ones add the deltas pending since.
   */
  private async countInTransaction(transaction: WriteTransaction, session: RequestSession, table: string): Promise<number> {
    const base = transaction.countedBase.get(table)
    if (!base) {
      const counted = this.applyCount(transaction.connection, table, session.counts.take(table))
      transaction.countedBase.set(table, counted)
      session.locked.push(table)
      return counted
    }
    const applied = await base
    return applied + (transaction.pendingCounts.get(table) ?? 0) + session.counts.own(table)
  }

  /**
   * The last statements of a write transaction: the changes of each followed table into the feed's log (ids taken
   * under its feeds row's lock, held to COMMIT, so they are in commit order), then the counts. Tables in name order,
   * so that two transactions take these locks in one order.
   */
  private async beforeCommit(transaction: WriteTransaction): Promise<void> {
    const { connection } = transaction
    const byTable = new Map<string, PendingChanges[]>()
    for (const pending of transaction.changes.splice(0)) {
      const list = byTable.get(pending.table)
      if (list) list.push(pending)
      else byTable.set(pending.table, [pending])
    }
    for (const table of [...byTable.keys()].sort()) {
      const batches = byTable.get(table)!
      const count = batches.reduce((sum, batch) => sum + batch.count, 0)
      const [followed] = await connection(FEED_ALLOCATE, String(count), table, String(Date.now()))
      if (!followed) continue
      const last = Number(followed.last_id)
      let next = last - count + 1
      const rows: SqlValue[][] = []
      for (const batch of batches) {
        const changes = batch.changes()
        rows.push(...changeRows(table, next, changes, batch.now))
        next += changes.length
      }
      await Promise.all(rows.map((row) => connection(FEED_RECORD, ...row.map(toParameter))))
      const prune = pruneThrough(last - count + 1, last)
      if (prune !== undefined) await connection(FEED_PRUNE, table, String(prune))
    }
    for (const [table, delta] of transaction.takeCounts()) await this.applyCount(connection, table, delta)
  }

  /** Runs one request's path in `transaction`; a table it dropped takes its counts row with it. */
  private async runRequest<T>(transaction: WriteTransaction, path: (session: Session) => Path<T>): Promise<{ value: T; rows: number }> {
    const session = transaction.session()
    const { connection } = transaction
    try {
      const value = await driveAsync(path(session), (request) => this.answer(connection, request, transaction, session))
      for (const table of session.counts.dropped) await connection(COUNT_DELETE, table)
      session.counts.succeeded()
      transaction.changes.push(...session.changes)
      return { value, rows: session.rowsChanged }
    } catch (error) {
      session.counts.failed()
      // Its savepoint undoes its update of these counts rows: the next request to ask updates them again.
      for (const table of session.locked) transaction.countedBase.delete(table)
      throw maybeOutdated(error, session) ? new RunAgain(`${(error as Error).message}, as this process last saw the table`, error) : error
    }
  }

  writePath<T>(path: (session: Session) => Path<T>, tally?: RowTally): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ path, tally, resolve: resolve as (value: unknown) => void, reject, attempts: 0 })
      this.schedule()
    })
  }

  readPath<T>(path: (session: Session) => Path<T>): Promise<T> {
    return driveAsync(path(this.readSession), (request) => this.answer(this.reader, request))
  }

  /**
   * Runs async `work` in a transaction of its own, for a body that arrives in batches: `run` drives each batch's path
   * in it. Everything commits at the end, or nothing.
   */
  async writeStream<T>(work: (run: <U>(path: (session: Session) => Path<U>) => Promise<U>) => Promise<T>, tally?: RowTally): Promise<T> {
    const connection = await this.writer.reserve()
    const transaction = new WriteTransaction(connection)
    try {
      await connection`BEGIN`
      let rows = 0
      const value = await work(async (path) => {
        const ran = await this.runRequest(transaction, path)
        rows += ran.rows
        return ran.value
      })
      await this.beforeCommit(transaction)
      await this.commit(connection)
      if (tally) tally.rowsWritten += rows
      return value
    } catch (error) {
      await connection`ROLLBACK`.catch(() => {})
      throw error
    } finally {
      connection.release()
      if (transaction.schemaChanged) this.forgetSchema()
    }
  }

  private async commit(connection: ReservedSQL): Promise<void> {
    const result = await connection`COMMIT`
    // PostgreSQL answers COMMIT of a transaction that failed part-way with ROLLBACK, not an error.
    if ((result as unknown as { command?: string }).command !== 'COMMIT') throw new Error('PostgreSQL rolled the transaction back at COMMIT')
  }

  /** After a schema change: every description is read again before it is next used. */
  private forgetSchema(): void {
    this.checkedAt.clear()
    this.prepared.clear()
  }

  private schedule(): void {
    if (this.scheduled || this.inFlight >= GROUPS_IN_FLIGHT || this.queue.length === 0) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.inFlight >= GROUPS_IN_FLIGHT || this.queue.length === 0) return
      const group = this.queue.splice(0, this.groupCommit ? MAX_GROUP_REQUESTS : 1)
      this.inFlight++
      this.runGroup(group).finally(() => {
        this.inFlight--
        this.schedule()
      })
      this.schedule()
    })
  }

  private async runGroup(group: Job[]): Promise<void> {
    const began = performance.now()
    this.groupsOpenSince.add(began)
    try {
      if (group.length > 1 && (await this.runTogether(group))) return
      await this.runInTurn(group)
    } catch (error) {
      // No connection could be had (the server is gone, or the store is closing): nothing was written.
      for (const job of group) job.reject(error)
    } finally {
      this.groupsOpenSince.delete(began)
    }
  }

  /**
   * The fast way: the group's paths run at once in one transaction, so their statements travel together (a round trip
   * per step of the longest path, not per statement). Without savepoints, one failure spoils the whole transaction:
   * then it is rolled back, nothing is answered, and `runInTurn` runs the group again. Resolves false in that case.
   */
  private async runTogether(group: Job[]): Promise<boolean> {
    const connection = await this.writer.reserve()
    const transaction = new WriteTransaction(connection, true)
    let outcomes: PromiseSettledResult<{ value: unknown; rows: number }>[]
    try {
      try {
        pipelined(connection`BEGIN`)
        outcomes = await Promise.allSettled(group.map((job) => this.runRequest(transaction, job.path)))
        if (outcomes.some((outcome) => outcome.status === 'rejected')) throw new Error('a request of the group failed')
        await this.beforeCommit(transaction)
      } catch {
        await connection`ROLLBACK`.catch(() => {})
        return false
      }
      try {
        // Past this point the outcome may be unknown (a connection lost during COMMIT): never run the group again.
        await this.commit(connection)
      } catch (error) {
        for (const job of group) job.reject(error)
        return true
      }
    } finally {
      connection.release()
      if (transaction.schemaChanged) this.forgetSchema()
    }
    group.forEach((job, index) => settle(job, (outcomes[index] as PromiseFulfilledResult<{ value: unknown; rows: number }>).value))
    return true
  }

  /**
   * One transaction for the group, each request in a SAVEPOINT (sent without waiting for its answer, so it costs no
   * round trip), run to its end before the next begins. A request that fails is rolled back to its savepoint and
   * answered with its error; one that lost a race runs again in a later group. Answers go out after COMMIT.
   */
  private async runInTurn(group: Job[]): Promise<void> {
    const done: Array<{ job: Job; ran?: { value: unknown; rows: number }; error?: unknown }> = []
    const again: Job[] = []
    let connection: ReservedSQL | undefined
    let transaction: WriteTransaction | undefined
    try {
      connection = await this.writer.reserve()
      transaction = new WriteTransaction(connection)
      pipelined(connection`BEGIN`)
      for (const job of group) {
        pipelined(connection`SAVEPOINT rowpost_request`)
        try {
          const ran = await this.runRequest(transaction, job.path)
          pipelined(connection`RELEASE SAVEPOINT rowpost_request`)
          done.push({ job, ran })
        } catch (error) {
          await connection`ROLLBACK TO SAVEPOINT rowpost_request`
          pipelined(connection`RELEASE SAVEPOINT rowpost_request`)
          if (lostRace(error) && job.attempts < MAX_ATTEMPTS - 1) {
            job.attempts++
            this.forgetSchema()
            again.push(job)
          } else done.push({ job, error: error instanceof RunAgain && error.otherwise !== undefined ? error.otherwise : error })
        }
      }
      try {
        await this.beforeCommit(transaction)
      } catch (error) {
        // A deadlock on the counts or feeds rows with another process's transaction: nothing is committed, so the whole
        // group runs again (each request at most MAX_ATTEMPTS times).
        if (!lostRace(error)) throw error
        await connection`ROLLBACK`.catch(() => {})
        for (const job of group) {
          if (job.attempts++ < MAX_ATTEMPTS - 1) this.queue.push(job)
          else job.reject(error)
        }
        this.schedule()
        return
      }
      await this.commit(connection)
    } catch (error) {
      if (connection) await connection`ROLLBACK`.catch(() => {})
      // Nothing of the group was committed: every request fails (one already answered is not answered twice).
      for (const job of group) job.reject(error)
      return
    } finally {
      connection?.release()
      if (transaction?.schemaChanged) this.forgetSchema()
    }
    for (const { job, ran, error } of done) {
      if (ran) settle(job, ran)
      else job.reject(error)
    }
    if (again.length) {
      this.queue.unshift(...again)
      this.schedule()
    }
  }

  /**
   * CREATE statements built from the catalogue (PostgreSQL keeps none verbatim). No views, full-text tables or
   * relationship counts: Datasette's index reads those from SQLite's schema, and here they are left out.
   */
  /**
   * The server answers a statement within the time a write may wait, and no group's transaction has been open longer
   * than that (a COMMIT stuck on a full disk or a lost standby with synchronous replication).
   */
  async health(stuckAfterMs: number): Promise<StoreHealth> {
    const oldest = Math.min(...this.groupsOpenSince)
    if (Number.isFinite(oldest) && performance.now() - oldest > stuckAfterMs) {
      return { ok: false, reason: `A commit has been pending for ${Math.round(performance.now() - oldest)} ms` }
    }
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<StoreHealth>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, reason: `PostgreSQL did not answer within ${stuckAfterMs} ms` }), stuckAfterMs)
    })
    const answered = this.reader`SELECT 1`.then(
      (): StoreHealth => ({ ok: true }),
      (error: Error): StoreHealth => ({ ok: false, reason: `PostgreSQL: ${error.message}` }),
    )
    try {
      return await Promise.race([answered, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  async schemaFacts(): Promise<SchemaFacts> {
    await this.sync()
    const tables = this.tableList().map(({ name }) => this.tables.get(identifierKey(name))!)
    return {
      statements: tables.map((table) => ({ table: table.info.name, sql: createStatement(table) })),
      catalogue: { views: [], hidden: new Set(tables.map((table) => table.info.name).filter((name) => name.startsWith('_'))), ftsTable: () => null },
      relationships: () => new Map(),
      sizeBytes: 0,
    }
  }

  async schemaOf(name: string): Promise<SchemaStatement | undefined> {
    await this.sync(name)
    const table = this.tables.get(identifierKey(name))
    return table && { table: table.info.name, sql: createStatement(table) }
  }

  /** Nothing to fold back: PostgreSQL's own checkpoints keep its files consistent. */
  checkpoint(): void {}

  async close(): Promise<void> {
    await Promise.allSettled([this.writer.close({ timeout: 5 }), this.reader.close({ timeout: 5 })])
  }
}
