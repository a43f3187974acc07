/** The storage interface the routes talk to: one database, whatever engine holds it. */
import type { Path, Session } from './path'
import type { TableInfo, TableListing } from './table'

/**
 * What only some engines can do; a route asks `supports` rather than which engine it has. SQLite has all of them:
 * `sql-query` (read-only SQL checked by EXPLAIN, run in killable child processes), `execute-write` (one write
 * statement analysed by EXPLAIN) and `alter` (/-/alter, whose rebuild is SQLite's 12-step procedure).
 */
export type Capability = 'sql-query' | 'execute-write' | 'alter'

/** A CREATE statement the engine keeps (or, for PostgreSQL, builds), with the table or view it belongs to. */
export interface SchemaStatement {
  table: string
  sql: string
}

/** What Datasette's instance index needs to know of a database's tables beyond their columns and counts. */
export interface Catalogue {
  /** Views in creation order. */
  views: string[]
  /** Tables Datasette hides from listings: names starting with `_`, shadow tables, FTS tables over another table's content. */
  hidden: Set<string>
  /** The full-text search table over `table` (Datasette's detect_fts), or null. */
  ftsTable(table: string): string | null
}

/** The schema as Datasette's index and /-/schema show it. */
export interface SchemaFacts {
  /** Every CREATE statement, in creation order, less the engine's and rowpost's own. */
  statements: SchemaStatement[]
  catalogue: Catalogue
  /** Foreign keys per table, counted as Datasette sorts its index by them. */
  relationships(): Map<string, number>
  /** Bytes of storage, or 0 when unknown: Datasette counts rows for its index only in small files. */
  sizeBytes: number
}

/** Whether a database can take writes now, for /-/health. */
/** Credited with the rows a write changed once its work has succeeded: the request log's and metrics' `rows_written`. */
export interface RowTally {
  rowsWritten: number
}

export interface StoreHealth {
  ok: boolean
  /** Why the database is not ready. */
  reason?: string
}

export interface Store {
  /** Name in URLs. */
  readonly name: string
  /** Every write is refused. */
  readonly immutable: boolean
  supports(capability: Capability): boolean
  /** Where the data lives: a file path, `:memory:`, or a connection URL without its password. */
  readonly path: string
  /** The database file's name, as /-/databases.json shows it; null for a memory database and a database server. */
  readonly fileName: string | null
  /**
   * Brings what `table` and `tableList` answer up to date with the storage (another process may have changed the
   * schema): for one table before a request looks it up, or for the listing. SQLite's schema is always current.
   */
  sync(table?: string): Promise<void> | void
  /** Committed state, as the read side sees it, as of the last `sync`. */
  table(name: string): TableInfo | undefined
  tableList(): TableListing[]
  /**
   * Runs a path as one all-or-nothing unit, sharing a commit with concurrent writes where the store can; resolves
   * only once its data is durable. A store answers the path's requests however suits it: SQLite synchronously inside
   * a SAVEPOINT, a networked engine by sending them (and pipelining) asynchronously.
   */
  writePath<T>(path: (session: Session) => Path<T>, tally?: RowTally): Promise<T>
  /** Runs a path that only reads, on committed data. */
  readPath<T>(path: (session: Session) => Path<T>): Promise<T>
  /**
   * Runs async `work` as one all-or-nothing unit of its own, for a body written in batches as it is read: `run` drives
   * each batch's path inside it.
   */
  writeStream<T>(work: (run: <U>(path: (session: Session) => Path<U>) => Promise<U>) => Promise<T>, tally?: RowTally): Promise<T>
  /** Whether a write could start now, and no commit has been pending longer than `stuckAfterMs`; never waits for a lock. */
  health(stuckAfterMs: number): Promise<StoreHealth>
  schemaFacts(): Promise<SchemaFacts>
  /** A table's or view's real name and CREATE statement, the name matched ignoring ASCII case. */
  schemaOf(name: string): Promise<SchemaStatement | undefined>
  /** Commits what is pending and leaves the storage self-contained (before a stop). */
  checkpoint(): void
  /** Resolves once every connection is closed. */
  close(): void | Promise<void>
}
