/** One attached SQLite file, the SQLite Store: a writer and a read-only reader connection, and group commit. */
import { Database, type Statement } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { RowCounts } from './row-counts'
import type { Path, Session } from './store/path'
import { SqliteConnection } from './store/sqlite/connection'
import { GroupCommit, groupCommitOf } from './store/sqlite/group-commit'
import type { Capability, RowTally, SchemaFacts, SchemaStatement, Store, StoreHealth } from './store/store'
import { catalogue, relationshipCounts, schemaStatements, tableOrViewSchema } from './reader'
import { statSync } from 'node:fs'
import type { TableInfo, TableListing } from './store/table'

export { keyColumns, type ColumnInfo, type TableInfo, type TableListing } from './store/table'

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

export class RowpostDatabase implements Store {
  private readonly commits: GroupCommit | null

  private constructor(
    readonly name: string,
    readonly path: string,
    /** Sees only committed data: every read goes through it. */
    readonly reader: SqliteConnection,
    /** Null for an immutable database. */
    readonly writer: SqliteConnection | null,
    groupCommit: boolean,
    busyTimeoutMs: number,
  ) {
    this.commits = writer
      ? new GroupCommit(
          writer.connection,
          writer.counts!,
          groupCommit,
          busyTimeoutMs,
          () => writer.rolledBack(),
          () => writer.othersCommitted(),
          () => writer.changeCount,
        )
      : null
  }

  /** The raw writer connection (the reader for an immutable database), for setup done outside requests. */
  get connection(): Database {
    return (this.writer ?? this.reader).connection
  }

  get immutable(): boolean {
    return this.writer === null
  }

  get fileName(): string | null {
    return this.path === ':memory:' ? null : basename(this.path)
  }

  /** SQLite has every capability: SQL queries, execute-write and /-/alter are built on it. */
  supports(_capability: Capability): boolean {
    return true
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
        return new RowpostDatabase(name, path, new SqliteConnection(reader), null, false, busyTimeoutMs)
      }
      const writer = new Database(path, { create: true, readwrite: true })
      opened.push(writer)
      // The writer never sleeps inside SQLite on a lock: GroupCommit retries BEGIN with timers instead.
      writer.run('PRAGMA busy_timeout = 0')
      writer.query('PRAGMA schema_version').get()
      if (memory) {
        // A second connection cannot see a private in-memory database, so it reads through the writer and commits per request.
        const shared = new SqliteConnection(writer, new RowCounts())
        return new RowpostDatabase(name, path, shared, shared, false, busyTimeoutMs)
      }
      writer.run('PRAGMA journal_mode = WAL')
      writer.run(`PRAGMA synchronous = ${options.durability === 'normal' ? 'NORMAL' : 'FULL'}`)
      const reader = new Database(path, { readonly: true })
      opened.push(reader)
      reader.run(`PRAGMA busy_timeout = ${busyTimeoutMs}`)
      return new RowpostDatabase(
        name,
        path,
        new SqliteConnection(reader),
        new SqliteConnection(writer, new RowCounts()),
        options.groupCommit ?? true,
        busyTimeoutMs,
      )
    } catch (error) {
      for (const connection of opened) connection.close()
      throw new DatabaseOpenError(`Cannot open ${path} as a SQLite database: ${(error as Error).message}`)
    }
  }

  /** SQLite reads its schema version on every lookup: nothing to bring up to date. */
  sync(): void {}

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

  private requireWriter(): SqliteConnection {
    if (!this.writer) throw new Error(`Database ${this.name} is immutable`)
    return this.writer
  }

  /**
   * Runs `work` as one all-or-nothing unit on the writer; resolves only after its data is committed. `work` must be
   * synchronous: everything async (reading the body, auth) happens before.
   */
  write<T>(work: (writer: SqliteConnection) => T): Promise<T> {
    const writer = this.requireWriter()
    return this.commits!.run(() => work(writer))
  }

  /** Runs a path as one all-or-nothing unit on the writer, synchronously inside its SAVEPOINT; resolves after the commit. */
  writePath<T>(path: (session: Session) => Path<T>, tally?: RowTally): Promise<T> {
    const writer = this.requireWriter()
    return this.commits!.run(() => {
      const before = writer.changeCount
      const value = writer.drive(path(writer))
      if (tally) tally.rowsWritten += writer.changeCount - before
      return value
    })
  }

  /** Runs a path on the reader, which sees only committed data. */
  async readPath<T>(path: (session: Session) => Path<T>): Promise<T> {
    return this.reader.drive(path(this.reader))
  }

  writeStream<T>(work: (run: <U>(path: (session: Session) => Path<U>) => Promise<U>) => Promise<T>, tally?: RowTally): Promise<T> {
    const writer = this.requireWriter()
    // A memory database is read through its writer, so no other request may run before COMMIT: its batches follow
    // each other in one turn of the event loop. A file database has a separate reader, so reads go on between batches.
    const shared = this.reader === writer
    const run = async <U>(path: (session: Session) => Path<U>) => {
      const value = writer.drive(path(writer))
      if (!shared) await new Promise((resolve) => setImmediate(resolve))
      return value
    }
    return this.commits!.runExclusive(async () => {
      const before = writer.changeCount
      const value = await work(run)
      if (tally) tally.rowsWritten += writer.changeCount - before
      return value
    })
  }

  /**
   * Checked synchronously on the writer, which never waits inside SQLite (its busy_timeout is 0), so a check never
   * blocks the server: the writer can begin a transaction now, or one is open and not stuck.
   */
  async health(stuckAfterMs: number): Promise<StoreHealth> {
    try {
      if (!this.writer) {
        this.reader.statement('SELECT count(*) FROM sqlite_schema').get()
        return { ok: true }
      }
      const writer = this.writer.connection
      if (writer.inTransaction) {
        // A transaction is open, so the writer could begin one; a streamed upload's may rightly last minutes, a group's not.
        const openedAt = groupCommitOf(writer)?.batchOpenedAt ?? null
        const openMs = openedAt === null ? 0 : performance.now() - openedAt
        return openMs > stuckAfterMs ? { ok: false, reason: `A commit has been pending for ${Math.round(openMs)} ms` } : { ok: true }
      }
      writer.run('BEGIN IMMEDIATE')
      writer.run('ROLLBACK')
      return { ok: true }
    } catch (error) {
      if (/^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code ?? ''))) return { ok: false, reason: 'Another process holds the write lock' }
      return { ok: false, reason: (error as Error).message }
    }
  }

  async schemaFacts(): Promise<SchemaFacts> {
    return {
      statements: schemaStatements(this),
      catalogue: catalogue(this),
      relationships: () => relationshipCounts(this),
      sizeBytes: this.path === ':memory:' ? 0 : (statSync(this.path, { throwIfNoEntry: false })?.size ?? 0),
    }
  }

  async schemaOf(name: string): Promise<SchemaStatement | undefined> {
    const found = tableOrViewSchema(this, name)
    return found && { table: found.name, sql: found.sql }
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

/** The SQLite connection that SQLite-only code (execute-write, /-/alter, the stream writer) and the write routes are handed. */
export { SqliteConnection as CachedConnection } from './store/sqlite/connection'
