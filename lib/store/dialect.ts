/** The SQL a path needs built, one implementation per engine: where engines differ (conflict clauses, placeholders, types), only here. */
import type { ColumnDefinition, ConflictMode } from '../sql'
import type { ApiError } from '../errors'
import type { ColumnType } from '../schema'
import type { SqlValue } from '../values'
import type { TableInfo } from './table'

/** Idempotency-Key storage: a table keyed by (actor, key), its index on `created`, and its three statements. */
export interface IdempotencySql {
  /** Statements that create the table and index when missing; run before each keyed write's lookup. */
  create: string[]
  /**
   * Takes a lock on one (actor, key), bound as one text parameter, held until the transaction ends: where several
   * processes write, the second of two concurrent first attempts waits, then finds the first one's stored answer.
   */
  lock?: string
  /** fingerprint, status, body of the row for (actor, key) created after the bound cutoff. */
  find: string
  /** Removes a bounded batch of rows created at or before the bound cutoff. */
  purge: string
  /**
   * Stores (actor, key, fingerprint, status, body, created) given a TTL in milliseconds as the seventh parameter,
   * replacing only an expired row with the same key: no row changes when a live one holds it.
   */
  store: string
}

/**
 * The change feed's log: `_rowpost_feeds` says which tables are followed (until when) and numbers each table's changes
 * (`last_id`, from `first_id` since following began); `_rowpost_changes` holds the changes themselves, written in the
 * transaction that made them.
 */
export interface FeedSql {
  /** Creates both tables when missing. */
  create: string[]
  /** Follows a table until the bound time: (name, until, now); a table not followed at `now` starts a new run of ids. */
  follow: string
  /** Takes `count` ids for a followed table: (count, name, now) → `last_id` after, or no row when it is not followed. */
  allocate: string
  /** One change: (feed, id, op, key, row, at). */
  record: string
  /** Forgets a table's changes up to an id: (feed, id). */
  prune: string
  /** A table's ids and how long it is followed: (name) → last_id, first_id, followed_until. */
  state: string
  /** Changes after an id, oldest first: (feed, after, limit) → id, op, key, row, at. */
  read: string
  /** The oldest change kept: (feed) → id. */
  oldest: string
}

export interface Dialect {
  idempotency: IdempotencySql
  feed: FeedSql
  /**
   * Whether a `run` of insert or upsert answers `inserted` (new rows, not updated ones): then the write path needs no
   * lookup to keep counts exact.
   */
  reportsInserted: boolean
  /** Whether a column refuses values of another type, so a new table's columns must be widened before such rows arrive. */
  strictTypes: boolean
  /** The longest table or column name the engine keeps whole, in UTF-8 bytes; absent when there is no such limit. */
  maxNameBytes?: number
  /** Whether a failed statement failed only because its table does not exist (yet). */
  isMissingTable(error: unknown): boolean
  /** Whether a read query failed on the engine's limits on query size (too many terms or parameters). */
  isQueryTooLarge(error: unknown): boolean
  /** The API error an engine's error stands for (a constraint, a full disk, a busy lock), or undefined for a bug. */
  apiError(error: unknown): ApiError | undefined
  createTable(table: string, columns: ColumnDefinition[], pks: string[]): string
  addColumn(table: string, column: { name: string; type: ColumnType }): string
  /** Changes a column to a type that holds every value it has (INTEGER to REAL, anything to TEXT); only for strictTypes. */
  widenColumn(table: string, column: string, type: ColumnType): string
  /** A plain insert, or one that skips (`ignore`) or replaces (`replace`) a row whose key exists. */
  insert(table: TableInfo, columns: string[], conflict: ConflictMode): string
  /** Inserts a row, or updates only the given non-key columns of the row with the same key. */
  upsert(table: TableInfo, columns: string[]): string
  /**
   * `count` rows of insert (`mode` as `insert`'s conflict) or upsert in one statement, parameters row after row; only
   * where the engine answers such a statement faster than as many one-row ones, and the rows all have distinct keys.
   */
  insertRows?(table: TableInfo, columns: string[], mode: ConflictMode | 'upsert', count: number): string
  count(table: string): string
  existsByKey(table: string, keyColumns: string[]): string
  /** How many rows hold one of the key values of a JSON array bound as the one parameter, compared as the column compares. */
  countExistingKeys(table: TableInfo, column: string): string
  /** The largest rowid of a rowid table (NULL when empty), where the engine has rowids: new keys above it need no lookup. */
  maxRowid?(table: string): string
  updateByKey(table: string, columns: string[], keyColumns: string[]): string
  deleteByKey(table: string, keyColumns: string[]): string
  dropTable(table: string): string
  copyRows(from: string, to: string, columns: string[], withRowid: boolean): string
  renameTable(from: string, to: string): string
  /** A LIKE condition on the column with one `?` pattern that uses `\\` as its escape; case-insensitive for ASCII, as SQLite's. */
  like(column: string, negate: boolean): string
  glob(column: string, pattern: string): { sql: string; params: SqlValue[] }
  /** NULL or empty text (`negate`: neither). */
  blank(column: string, negate: boolean): string
  /** One ORDER BY term, NULLs first ascending and last descending as SQLite sorts them. */
  orderBy(column: string, descending: boolean, nullable: boolean): string
}
