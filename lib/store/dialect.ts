/** The SQL a path needs built, one implementation per engine: where engines differ (conflict clauses, placeholders, types), only here. */
import type { ColumnDefinition, ConflictMode } from '../sql'
import type { ApiError } from '../errors'
import type { ColumnType } from '../schema'

/** Idempotency-Key storage: a table keyed by (actor, key), its index on `created`, and its three statements. */
export interface IdempotencySql {
  /** Statements that create the table and index when missing; run before each keyed write's lookup. */
  create: string[]
  /** fingerprint, status, body of the row for (actor, key) created after the bound cutoff. */
  find: string
  /** Removes a bounded batch of rows created at or before the bound cutoff. */
  purge: string
  /** Stores (actor, key, fingerprint, status, body, created), replacing an expired row with the same key. */
  store: string
}

export interface Dialect {
  idempotency: IdempotencySql
  /** Whether a failed statement failed only because its table does not exist (yet). */
  isMissingTable(error: unknown): boolean
  /** Whether a read query failed on the engine's limits on query size (too many terms or parameters). */
  isQueryTooLarge(error: unknown): boolean
  /** The API error an engine's error stands for (a constraint, a full disk, a busy lock), or undefined for a bug. */
  apiError(error: unknown): ApiError | undefined
  createTable(table: string, columns: ColumnDefinition[], pks: string[]): string
  addColumn(table: string, column: { name: string; type: ColumnType }): string
  /** A plain insert, or one that skips (`ignore`) or replaces (`replace`) a row whose key exists. */
  insert(table: string, columns: string[], conflict: ConflictMode): string
  /** Inserts a row, or updates only the given non-key columns of the row with the same key. */
  upsert(table: string, columns: string[], pks: string[]): string
  count(table: string): string
  existsByKey(table: string, keyColumns: string[]): string
  /** How many rows hold one of the key values of a JSON array bound as the one parameter, compared as the column compares. */
  countExistingKeys(table: string, column: string): string
  updateByKey(table: string, columns: string[], keyColumns: string[]): string
  deleteByKey(table: string, keyColumns: string[]): string
  dropTable(table: string): string
  copyRows(from: string, to: string, columns: string[], withRowid: boolean): string
  renameTable(from: string, to: string): string
}
