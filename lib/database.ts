/** One attached SQLite file: a writer and a read-only reader connection, each with cached schema and statements, and group commit. */
import { Database, type Statement } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { identifierKey, isReservedTableName } from './identifiers'
import { RowCounts } from './row-counts'
import { countSql } from './sql'

export interface ColumnInfo {
  name: string
  type: string
  notNull: boolean
  defaultValue: string | null
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number
}

export interface TableInfo {
  name: string
  columns: ColumnInfo[]
  /** Primary key columns in key order; empty for a rowid table. */
  pks: string[]
  /** Columns by identifierKey, so `Name` finds `name` as SQLite would. */
  columnsByKey: Map<string, ColumnInfo>
  withoutRowid: boolean
  /** UNIQUE indexes besides the primary key: a REPLACE may then delete rows other than the one with the same key. */
  otherUniqueIndexes: boolean
}

/** The columns that identify a row: the primary key, or `rowid` for a rowid table. */
export function keyColumns(table: TableInfo): string[] {
  return table.pks.length ? table.pks : ['rowid']
}

export type Durability = 'full' | 'normal'

export interface OpenOptions {
  /** Create the file when missing (`--create`). */
  create?: boolean
  /** Open read-only (`-i`): every write is refused. */
  immutable?: boolean
  /** Milliseconds a writer waits for another process's lock before giving up. */
  busyTimeoutMs?: number
  /** Name in URLs; the file's stem by default. */
  name?: string
  /** `full` (default): a commit is fsynced before it is acknowledged. `normal`: it survives a crash, not a power cut. */
  durability?: Durability
  /** Let concurrent write requests share one commit (default true); off means one commit per request. */
  groupCommit?: boolean
}

/** A database that could not be opened; the CLI prints its message and exits 1. */
export class DatabaseOpenError extends Error {}

const STATEMENT_CACHE_SIZE = 512

/** A user table as sqlite_schema lists it; its columns are read only when first asked for. */
interface SchemaEntry {
  name: string
  /** sqlite_schema's rowid: creation order, and the position a paged listing resumes after. */
  position: number
  /** Its CREATE TABLE statement. */
  sql: string
  /** The CREATE statements of the table and its indexes: while they are unchanged, so is the TableInfo. */
  definition: string
  /** Undefined until read; null when SQLite cannot describe the table (a virtual table whose module is missing). */
  info?: TableInfo | null
}

/** A user table's name and its place in creation order. */
export interface TableListing {
  name: string
  position: number
}

const isSqliteError = (error: unknown) => typeof (error as { code?: unknown }).code === 'string' && String((error as { code: string }).code).startsWith('SQLITE_')

/**
 * One connection with a bounded prepared-statement cache and a schema cache that follows `PRAGMA schema_version`.
 * Both are dropped whenever the version moves: a cached statement's SQL was built from the schema it was prepared
 * under (an upsert's conflict target, say), and SQLite would recompile it against the new schema rather than fail.
 */
export class CachedConnection {
  private schema = new Map<string, SchemaEntry>()
  private schemaVersion = -1
  private statements = new Map<string, Statement>()

  constructor(
    readonly connection: Database,
    /** Row counts the write path keeps up to date; only on a writer. */
    readonly counts?: RowCounts,
  ) {}

  run(sql: string): void {
    this.connection.run(sql)
  }

  /** A prepared statement, compiled once and kept in a bounded cache keyed by its SQL. */
  statement(sql: string, options: { safeIntegers?: boolean } = {}): Statement {
    return this.cached(options.safeIntegers ? `1${sql}` : `0${sql}`, () => sql, options.safeIntegers)
  }

  /**
   * A prepared statement found by `key` before its SQL is built: on the hot path, joining a few names into a key is
   * cheaper than quoting them into SQL for every row. The key must name everything the SQL is built from.
   */
  cached(key: string, buildSql: () => string, safeIntegers = false): Statement {
    let statement = this.statements.get(key)
    if (statement) return statement
    statement = this.connection.prepare(buildSql())
    if (safeIntegers) statement.safeIntegers(true)
    // Evicting the oldest-prepared statement is enough here: the hot ones are re-prepared at most once per cycle.
    // It is only dropped, not finalized: a caller may still hold it (a batch with hundreds of row shapes does), and
    // bun:sqlite finalizes a statement once it is garbage.
    if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.delete(this.statements.keys().next().value!)
    this.statements.set(key, statement)
    return statement
  }

  /**
   * Called after a rollback on this connection: the cached schema may describe a state that no longer exists, and a
   * later change could bring the schema version back to the number it was cached under.
   */
  rolledBack(): void {
    const { schema_version: version } = this.statement('PRAGMA schema_version').get() as { schema_version: number }
    if (version !== this.schemaVersion) this.schemaVersion = -1
  }

  /** The user tables, re-read when this connection sees a different schema (another connection, a create/alter or a rollback). */
  private syncSchema(): Map<string, SchemaEntry> {
    const { schema_version: version } = this.statement('PRAGMA schema_version').get() as { schema_version: number }
    if (version !== this.schemaVersion) {
      this.statements.clear()
      this.schema = this.readSchema()
      this.schemaVersion = version
    }
    return this.schema
  }

  /**
   * One scan of sqlite_schema, keeping what was already known of every table whose definition did not change: a
   * schema change costs one pass over the names, not a lookup per table.
   */
  private readSchema(): Map<string, SchemaEntry> {
    const rows = this.statement("SELECT type, name, tbl_name, sql, rowid FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY rowid").values() as Array<
      [string, string, string, string | null, number]
    >
    const indexes = new Map<string, string>()
    for (const [type, , table, sql] of rows) {
      if (type === 'index' && sql !== null) indexes.set(identifierKey(table), `${indexes.get(identifierKey(table)) ?? ''}\0${sql}`)
    }
    const schema = new Map<string, SchemaEntry>()
    for (const [type, name, , sql, position] of rows) {
      if (type !== 'table' || isReservedTableName(name)) continue
      const key = identifierKey(name)
      const definition = `${sql ?? ''}${indexes.get(key) ?? ''}`
      const known = this.schema.get(key)
      const info = known && known.name === name && known.definition === definition ? known.info : undefined
      schema.set(key, { name, position, sql: sql ?? '', definition, info })
    }
    return schema
  }

  /** Columns, key and flags of one table, from SQLite's own pragmas; null when SQLite cannot describe it. */
  private describe(name: string, sql: string): TableInfo | null {
    let columns: ColumnInfo[]
    let otherUniqueIndexes: boolean
    try {
      columns = (
        this.statement('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)').all(name) as Array<{
          name: string
          type: string
          notnull: number
          dflt_value: string | null
          pk: number
        }>
      ).map((column) => ({ name: column.name, type: column.type, notNull: column.notnull === 1, defaultValue: column.dflt_value, pk: column.pk }))
      otherUniqueIndexes =
        (this.statement(`SELECT count(*) AS n FROM pragma_index_list(?) WHERE "unique" AND origin <> 'pk'`).get(name) as { n: number }).n > 0
    } catch (error) {
      if (isSqliteError(error)) return null
      throw error
    }
    return {
      name,
      columns,
      pks: columns
        .filter((column) => column.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((column) => column.name),
      columnsByKey: new Map(columns.map((column) => [identifierKey(column.name), column])),
      withoutRowid: /\)\s*WITHOUT\s+ROWID\s*$/i.test(sql),
      otherUniqueIndexes,
    }
  }

  /**
   * The table's columns and key, or undefined when no such table exists (names match ignoring ASCII case); SQLite's
   * (`sqlite_…`) and rowpost's own (`_rowpost_…`) tables never match.
   */
  table(name: string): TableInfo | undefined {
    const entry = this.syncSchema().get(identifierKey(name))
    if (!entry) return undefined
    if (entry.info === undefined) entry.info = this.describe(entry.name, entry.sql)
    return entry.info ?? undefined
  }

  /** The CREATE TABLE statement SQLite keeps for the table. */
  tableSchema(name: string): string | undefined {
    const row = this.statement("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) as { sql: string } | null
    return row?.sql
  }

  /** The user tables (not SQLite's or rowpost's own), in creation order. */
  tableList(): TableListing[] {
    return [...this.syncSchema().values()].map(({ name, position }) => ({ name, position }))
  }

  /** Rows in the table, from the kept count when there is one (writer), else by counting. */
  countRows(table: string): number {
    return this.counts ? this.counts.count(table, () => this.countNow(table)) : this.countNow(table)
  }

  /** Counts by scanning, through a statement that is not cached: a listing of many tables would flush the cache. */
  private countNow(table: string): number {
    const statement = this.connection.prepare(countSql(table))
    try {
      return (statement.get() as { count: number }).count
    } finally {
      statement.finalize()
    }
  }

  close(): void {
    for (const statement of this.statements.values()) statement.finalize()
    this.statements.clear()
    this.connection.close()
  }
}

/** Concurrent write requests whose savepoints share one open transaction, committed together. */
interface Batch {
  started: number
  requests: number
  done: Promise<void>
  resolve: () => void
  reject: (error: unknown) => void
}

/** Commit a batch at once when it grows this large or this old, rather than waiting for the event loop to go quiet. */
const MAX_BATCH_REQUESTS = 256
const MAX_BATCH_MS = 20

const isBusy = (error: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code ?? ''))

/**
 * Serialises writes on the writer connection. Each request runs synchronously inside its own SAVEPOINT of a shared
 * transaction; the transaction commits (one fsync) once the event loop has run every ready request, and only then are
 * the batch's promises resolved, so no response is sent before its rows are durable. With group commit off, each
 * request commits on its own. A streaming request takes the connection exclusively for its whole body. While another
 * process holds the write lock, BEGIN is retried with timers, so the event loop keeps serving reads meanwhile.
 */
class GroupCommit {
  private batch: Batch | null = null
  private opening: Promise<Batch> | null = null
  private exclusive: Promise<void> | null = null
  private dataVersion = -1
  private readonly savepoint: Statement
  private readonly release: Statement
  private readonly rollbackToSavepoint: Statement

  constructor(
    private readonly writer: Database,
    private readonly counts: RowCounts,
    private readonly enabled: boolean,
    private readonly busyTimeoutMs: number,
    /** Told after each rollback, so the writer's schema cache cannot outlive the schema it read. */
    private readonly rolledBack: () => void,
  ) {
    // Prepared once: bun:sqlite's transaction() wrapper costs more per call than the savepoint itself.
    this.savepoint = writer.prepare('SAVEPOINT rowpost_request')
    this.release = writer.prepare('RELEASE rowpost_request')
    this.rollbackToSavepoint = writer.prepare('ROLLBACK TO rowpost_request')
  }

  /** Kept counts are only exact while no other process writes: data_version moves when one does. */
  private noticeOtherWriters(): void {
    const { data_version: version } = this.writer.query('PRAGMA data_version').get() as { data_version: number }
    if (version !== this.dataVersion) this.counts.reset()
    this.dataVersion = version
  }

  /** BEGIN IMMEDIATE, retried with growing pauses until the busy timeout; then SQLITE_BUSY goes to the caller (503). */
  private async begin(): Promise<void> {
    const deadline = performance.now() + this.busyTimeoutMs
    for (let pause = 1; ; pause = Math.min(pause * 2, 50)) {
      try {
        this.writer.run('BEGIN IMMEDIATE')
        this.noticeOtherWriters()
        return
      } catch (error) {
        if (!isBusy(error) || performance.now() >= deadline) throw error
        await Bun.sleep(pause)
      }
    }
  }

  private async currentBatch(): Promise<Batch> {
    for (;;) {
      while (this.exclusive) await this.exclusive
      if (this.batch) return this.batch
      this.opening ??= this.open().finally(() => (this.opening = null))
      const batch = await this.opening
      if (this.batch === batch) return batch
    }
  }

  async run<T>(work: () => T): Promise<T> {
    const batch = await this.currentBatch()
    let value: T
    this.savepoint.run()
    try {
      value = work()
      this.release.run()
      this.counts.requestSucceeded()
    } catch (error) {
      this.counts.requestFailed()
      // Some errors (SQLITE_FULL, I/O errors) make SQLite roll back the whole transaction, not just the savepoint.
      if (!this.writer.inTransaction) this.fail(batch, error)
      else {
        this.rollbackToSavepoint.run()
        this.release.run()
        this.rolledBack()
      }
      throw error
    }
    batch.requests++
    const full = batch.requests >= MAX_BATCH_REQUESTS || performance.now() - batch.started > MAX_BATCH_MS
    if (!this.enabled || full) this.commit(batch)
    await batch.done
    return value
  }

  /** Runs async `work` alone in its own transaction: for bodies that arrive over many event-loop turns. */
  async runExclusive<T>(work: () => Promise<T>): Promise<T> {
    while (this.exclusive || this.opening) await (this.exclusive ?? this.opening)
    let release!: () => void
    this.exclusive = new Promise((resolve) => (release = resolve))
    try {
      if (this.batch) this.commit(this.batch)
      await this.begin()
      try {
        const value = await work()
        this.writer.run('COMMIT')
        this.counts.requestSucceeded()
        this.counts.batchCommitted()
        return value
      } catch (error) {
        if (this.writer.inTransaction) this.writer.run('ROLLBACK')
        this.rolledBack()
        this.counts.batchFailed()
        throw error
      }
    } finally {
      this.exclusive = null
      release()
    }
  }

  private async open(): Promise<Batch> {
    await this.begin()
    let resolve!: () => void
    let reject!: (error: unknown) => void
    const done = new Promise<void>((res, rej) => {
      resolve = res
      reject = rej
    })
    done.catch(() => {})
    const batch: Batch = { started: performance.now(), requests: 0, done, resolve, reject }
    this.batch = batch
    if (this.enabled) setImmediate(() => this.commit(batch))
    return batch
  }

  private commit(batch: Batch): void {
    if (this.batch !== batch) return
    this.batch = null
    try {
      this.writer.run('COMMIT')
      this.counts.batchCommitted()
      batch.resolve()
    } catch (error) {
      if (this.writer.inTransaction) this.writer.run('ROLLBACK')
      this.counts.batchFailed()
      this.rolledBack()
      batch.reject(error)
    }
  }

  private fail(batch: Batch, error: unknown): void {
    if (this.batch === batch) this.batch = null
    this.counts.batchFailed()
    this.rolledBack()
    batch.reject(error)
  }

  /** Commits whatever is pending, for shutdown. */
  flush(): void {
    if (this.batch) this.commit(this.batch)
  }
}

export class RowpostDatabase {
  private readonly commits: GroupCommit | null

  private constructor(
    readonly name: string,
    readonly path: string,
    /** Sees only committed data: every read goes through it. */
    readonly reader: CachedConnection,
    /** Null for an immutable database. */
    readonly writer: CachedConnection | null,
    groupCommit: boolean,
    busyTimeoutMs: number,
  ) {
    this.commits = writer ? new GroupCommit(writer.connection, writer.counts!, groupCommit, busyTimeoutMs, () => writer.rolledBack()) : null
  }

  /** The raw writer connection (the reader for an immutable database), for setup done outside requests. */
  get connection(): Database {
    return (this.writer ?? this.reader).connection
  }

  get immutable(): boolean {
    return this.writer === null
  }

  /** Opens `path` (or `:memory:` as `_memory`), checks that it really is SQLite, and sets WAL, durability and a busy timeout. */
  static open(path: string, options: OpenOptions = {}): RowpostDatabase {
    const memory = path === ':memory:'
    const name = options.name ?? (memory ? '_memory' : basename(path, extname(path)))
    if (!memory && !existsSync(path) && (options.immutable || !options.create)) {
      throw new DatabaseOpenError(`Database file ${path} does not exist${options.immutable ? '' : ' (use --create to create it)'}`)
    }
    const busyTimeoutMs = Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))
    const opened: Database[] = []
    try {
      if (options.immutable) {
        const reader = new Database(path, { readonly: true })
        opened.push(reader)
        reader.query('PRAGMA schema_version').get()
        return new RowpostDatabase(name, path, new CachedConnection(reader), null, false, busyTimeoutMs)
      }
      const writer = new Database(path, { create: true, readwrite: true })
      opened.push(writer)
      // The writer never sleeps inside SQLite on a lock: GroupCommit retries BEGIN with timers instead.
      writer.run('PRAGMA busy_timeout = 0')
      writer.query('PRAGMA schema_version').get()
      if (memory) {
        // A second connection cannot see a private in-memory database, so it reads through the writer and commits per request.
        const shared = new CachedConnection(writer, new RowCounts())
        return new RowpostDatabase(name, path, shared, shared, false, busyTimeoutMs)
      }
      writer.run('PRAGMA journal_mode = WAL')
      writer.run(`PRAGMA synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`)
      const reader = new Database(path, { readonly: true })
      opened.push(reader)
      reader.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
      return new RowpostDatabase(name, path, new CachedConnection(reader), new CachedConnection(writer, new RowCounts()), options.groupCommit ?? true, busyTimeoutMs)
    } catch (error) {
      for (const connection of opened) connection.close()
      throw new DatabaseOpenError(`Cannot open ${path} as a SQLite database: ${(error as Error).message}`)
    }
  }

  /** Read-side lookups, all on the reader connection so they only ever see committed data. */
  table(name: string): TableInfo | undefined {
    return this.reader.table(name)
  }

  statement(sql: string, options?: { safeIntegers?: boolean }): Statement {
    return this.reader.statement(sql, options)
  }

  tableList(): TableListing[] {
    return this.reader.tableList()
  }

  tableSchema(name: string): string | undefined {
    return this.reader.tableSchema(name)
  }

  countRows(table: string): number {
    return this.reader.countRows(table)
  }

  private requireWriter(): CachedConnection {
    if (!this.writer) throw new Error(`Database ${this.name} is immutable`)
    return this.writer
  }

  /**
   * Runs `work` as one all-or-nothing unit on the writer; resolves only after its data is committed. `work` must be
   * synchronous: everything async (reading the body, auth) happens before.
   */
  write<T>(work: (writer: CachedConnection) => T): Promise<T> {
    const writer = this.requireWriter()
    return this.commits!.run(() => work(writer))
  }

  /** Like write, for work that awaits (a streamed body): it has the writer to itself until it finishes. */
  writeExclusive<T>(work: (writer: CachedConnection) => Promise<T>): Promise<T> {
    const writer = this.requireWriter()
    return this.commits!.runExclusive(() => work(writer))
  }

  /** Commits pending writes and folds the WAL back into the main file, so a stopped server leaves one self-contained file. */
  checkpoint(): void {
    if (!this.writer) return
    this.commits!.flush()
    this.writer.run('PRAGMA wal_checkpoint(TRUNCATE)')
  }

  close(): void {
    this.commits?.flush()
    if (this.writer && this.writer !== this.reader) this.writer.close()
    this.reader.close()
  }
}
