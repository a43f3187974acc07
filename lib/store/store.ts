/** The storage interface the routes talk to: one database, whatever engine holds it. */
import type { Path, Session } from './path'
import type { TableInfo, TableListing } from './table'

/**
 * What only some engines can do; a route asks `supports` rather than which engine it has. SQLite has all of them:
 * `sql-query` (read-only SQL checked by EXPLAIN, run in killable child processes), `execute-write` (one write
 * statement analysed by EXPLAIN) and `alter` (/-/alter, whose rebuild is SQLite's 12-step procedure).
 */
export type Capability = 'sql-query' | 'execute-write' | 'alter'

export interface Store {
  /** Name in URLs. */
  readonly name: string
  /** Every write is refused. */
  readonly immutable: boolean
  supports(capability: Capability): boolean
  /** Committed state, as the read side sees it. */
  table(name: string): TableInfo | undefined
  tableList(): TableListing[]
  countRows(table: string): number
  /**
   * Runs a path as one all-or-nothing unit, sharing a commit with concurrent writes where the store can; resolves
   * only once its data is durable. A store answers the path's requests however suits it: SQLite synchronously inside
   * a SAVEPOINT, a networked engine by sending them (and pipelining) asynchronously.
   */
  writePath<T>(path: (session: Session) => Path<T>): Promise<T>
  /** Runs a path that only reads, on committed data. */
  readPath<T>(path: (session: Session) => Path<T>): Promise<T>
  /** Commits what is pending and leaves the storage self-contained (before a stop). */
  checkpoint(): void
  close(): void
}
