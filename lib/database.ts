/** One attached SQLite file, the SQLite Store: a writer and a read-only reader connection, and group commit. */
import { Database, type Statement } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { RowCounts } from './row-counts'
import type { Path, Session } from './store/path'
import { SqliteConnection } from './store/sqlite/connection'
import type { Capability, Store } from './store/store'
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
    this.commits = writer ? new GroupCommit(writer.connection, writer.counts!, groupCommit, busyTimeoutMs, () => writer.rolledBack()) : null
  }

  /** The raw writer connection (the reader for an immutable database), for setup done outside requests. */
  get connection(): Database {
    return (this.writer ?? this.reader).connection
  }

  get immutable(): boolean {
    return this.writer === null
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
      return new RowpostDatabase(name, path, new SqliteConnection(reader), new SqliteConnection(writer, new RowCounts()), options.groupCommit ?? true, busyTimeoutMs)
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
  writePath<T>(path: (session: Session) => Path<T>): Promise<T> {
    const writer = this.requireWriter()
    return this.commits!.run(() => writer.drive(path(writer)))
  }

  /** Runs a path on the reader, which sees only committed data. */
  async readPath<T>(path: (session: Session) => Path<T>): Promise<T> {
    return this.reader.drive(path(this.reader))
  }

  /** Like write, for work that awaits (a streamed body): it has the writer to itself until it finishes. */
  writeExclusive<T>(work: (writer: SqliteConnection) => Promise<T>): Promise<T> {
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

/** The SQLite connection that SQLite-only code (execute-write, /-/alter, the stream writer) and the write routes are handed. */
export { SqliteConnection as CachedConnection } from './store/sqlite/connection'
