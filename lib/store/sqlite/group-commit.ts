/** SQLite's group commit: concurrent requests' paths run in SAVEPOINTs of one shared transaction, committed with one fsync. */
import type { Database, Statement } from 'bun:sqlite'
import type { RowCounts } from '../../row-counts'

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

/** Told what each commit did, for metrics and request logs (lib/ops/); nothing is told while none is registered. */
export interface CommitObserver {
  /** A request's work succeeded, having changed `rows` rows (SQLite's total_changes, trigger programs included). */
  requestWritten(rows: number): void
  /** `requests` requests committed together; `commitMs` is the COMMIT alone, its fsync included. */
  batchCommitted(requests: number, commitMs: number): void
}

/** Each writer connection's group commit, so lib/ops/ can observe and probe it without a handle through the Store. */
const groupCommits = new WeakMap<Database, GroupCommit>()
export const groupCommitOf = (writer: Database): GroupCommit | undefined => groupCommits.get(writer)

const isBusy = (error: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code ?? ''))

/**
 * Serialises writes on the writer connection. Each request runs synchronously inside its own SAVEPOINT of a shared
 * transaction; the transaction commits (one fsync) once the event loop has run every ready request, and only then are
 * the batch's promises resolved, so no response is sent before its rows are durable. With group commit off, each
 * request commits on its own. A streaming request takes the connection exclusively for its whole body. While another
 * process holds the write lock, BEGIN is retried with timers, so the event loop keeps serving reads meanwhile.
 */
export class GroupCommit {
  private batch: Batch | null = null
  private opening: Promise<Batch> | null = null
  private exclusive: Promise<void> | null = null
  private dataVersion = -1
  private readonly savepoint: Statement
  private readonly release: Statement
  private readonly rollbackToSavepoint: Statement
  readonly observers = new Set<CommitObserver>()
  /** Write requests that have asked for the writer and not yet been answered (waiting to begin, to run or to commit). */
  queued = 0

  constructor(
    private readonly writer: Database,
    private readonly counts: RowCounts,
    private readonly enabled: boolean,
    private readonly busyTimeoutMs: number,
    /** Told after each rollback, so the writer's schema cache cannot outlive the schema it read. */
    private readonly rolledBack: () => void,
    /** Told when another connection has committed since this one last wrote: what the writer keeps in memory may be stale. */
    private readonly othersCommitted: () => void = () => {},
    /**
     * Rows the writer's statements have changed so far, counted as they run: asking SQLite's total_changes() around
     * every request cost two statements each.
     */
    private readonly changesSoFar: () => number = () => 0,
  ) {
    // Prepared once: bun:sqlite's transaction() wrapper costs more per call than the savepoint itself.
    this.savepoint = writer.prepare('SAVEPOINT rowpost_request')
    this.release = writer.prepare('RELEASE rowpost_request')
    this.rollbackToSavepoint = writer.prepare('ROLLBACK TO rowpost_request')
    groupCommits.set(writer, this)
  }

  /** Kept counts are only exact while no other process writes: data_version moves when one does. */
  private noticeOtherWriters(): void {
    const { data_version: version } = this.writer.query('PRAGMA data_version').get() as { data_version: number }
    if (version !== this.dataVersion) {
      this.counts.reset()
      this.othersCommitted()
    }
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

  /** When the group transaction now open began (performance.now()), or null; a streamed upload's transaction is not one. */
  get batchOpenedAt(): number | null {
    return this.batch?.started ?? null
  }

  async run<T>(work: () => T): Promise<T> {
    this.queued++
    try {
      return await this.runQueued(work)
    } finally {
      this.queued--
    }
  }

  private async runQueued<T>(work: () => T): Promise<T> {
    const batch = await this.currentBatch()
    let value: T
    this.savepoint.run()
    const changesBefore = this.observers.size > 0 ? this.changesSoFar() : 0
    try {
      value = work()
      this.release.run()
      this.counts.requestSucceeded()
      if (this.observers.size > 0) for (const observer of this.observers) observer.requestWritten(this.changesSoFar() - changesBefore)
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
    this.queued++
    try {
      return await this.runExclusiveQueued(work)
    } finally {
      this.queued--
    }
  }

  private async runExclusiveQueued<T>(work: () => Promise<T>): Promise<T> {
    while (this.exclusive || this.opening) await (this.exclusive ?? this.opening)
    let release!: () => void
    this.exclusive = new Promise((resolve) => (release = resolve))
    try {
      if (this.batch) this.commit(this.batch)
      await this.begin()
      try {
        const changesBefore = this.changesSoFar()
        const value = await work()
        const rows = this.changesSoFar() - changesBefore
        const committing = performance.now()
        this.writer.run('COMMIT')
        const commitMs = performance.now() - committing
        this.counts.requestSucceeded()
        this.counts.batchCommitted()
        for (const observer of this.observers) {
          observer.requestWritten(rows)
          observer.batchCommitted(1, commitMs)
        }
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
      const committing = performance.now()
      this.writer.run('COMMIT')
      const commitMs = performance.now() - committing
      this.counts.batchCommitted()
      for (const observer of this.observers) observer.batchCommitted(batch.requests, commitMs)
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
