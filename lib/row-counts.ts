/** Exact row counts kept in memory, so writes can answer `table_count` without scanning the table each time. */
import { identifierKey } from './identifiers'

type Deltas = Map<string, number>

function addTo(target: Deltas, table: string, delta: number): void {
  target.set(table, (target.get(table) ?? 0) + delta)
}

/**
 * Counts follow the write path's transactions: a request's changes are kept apart until its savepoint is released,
 * a batch's until it commits, and both are dropped on rollback. A table whose count cannot be tracked exactly
 * (REPLACE on a table with other UNIQUE indexes, a drop, another process writing) is forgotten and recounted once.
 */
export class RowCounts {
  private committed = new Map<string, number>()
  private batch: Deltas = new Map()
  private request: Deltas = new Map()
  private forgotten = new Set<string>()

  /** The table's row count as the current request sees it; `countNow` scans, and runs only when nothing is known. */
  count(table: string, countNow: () => number): number {
    const key = identifierKey(table)
    const base = this.committed.get(key)
    const pending = (this.batch.get(key) ?? 0) + (this.request.get(key) ?? 0)
    if (base !== undefined && !this.forgotten.has(key)) return base + pending
    const exact = countNow()
    if (!this.forgotten.has(key)) this.committed.set(key, exact - pending)
    return exact
  }

  add(table: string, delta: number): void {
    if (delta !== 0) addTo(this.request, identifierKey(table), delta)
  }

  /** Stops trusting the table's count until it is recounted after the current batch commits. */
  forget(table: string): void {
    const key = identifierKey(table)
    this.committed.delete(key)
    this.forgotten.add(key)
  }

  requestSucceeded(): void {
    for (const [table, delta] of this.request) addTo(this.batch, table, delta)
    this.request.clear()
  }

  requestFailed(): void {
    this.request.clear()
  }

  batchCommitted(): void {
    for (const [table, delta] of this.batch) {
      const base = this.committed.get(table)
      if (base !== undefined) this.committed.set(table, base + delta)
    }
    this.batch.clear()
    this.forgotten.clear()
  }

  /** The batch rolled back: the file is as it was at the last commit, which `committed` describes. */
  batchFailed(): void {
    this.batch.clear()
    this.request.clear()
    this.forgotten.clear()
  }

  /** Another connection committed: nothing known is certain any more. */
  reset(): void {
    this.committed.clear()
  }
}
