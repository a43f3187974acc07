/**
 * Readiness for load balancers and supervisors: every database's writer can begin a transaction now, and no group
 * commit has been left open longer than a write may wait for the lock. Checked synchronously on the writer, which
 * never waits inside SQLite (its busy_timeout is 0), so a check never blocks the server.
 */
import { RowpostDatabase } from '../database'
import { groupCommitOf } from '../store/sqlite/group-commit'
import type { Store } from '../store/store'

export interface DatabaseHealth {
  ok: boolean
  /** Why the database is not ready. */
  reason?: string
  /** Set when the backend has no readiness check here (only SQLite's is written). */
  checked?: false
}

const isBusy = (error: unknown) => /^SQLITE_(BUSY|LOCKED)/.test(String((error as { code?: unknown }).code ?? ''))

/** Whether `database` can take writes now; `stuckAfterMs` is how long a group transaction may stay open. */
export function databaseHealth(database: Store, stuckAfterMs: number): DatabaseHealth {
  if (!(database instanceof RowpostDatabase)) return { ok: true, checked: false }
  try {
    if (database.immutable) {
      database.connection.query('SELECT count(*) FROM sqlite_schema').get()
      return { ok: true }
    }
    const writer = database.connection
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
    if (isBusy(error)) return { ok: false, reason: 'Another process holds the write lock' }
    return { ok: false, reason: (error as Error).message }
  }
}
