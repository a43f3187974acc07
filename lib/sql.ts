/** Pure SQL builders: every name through quoteIdentifier, every value a `?` parameter. */
import { identifierKey, quoteIdentifier as q } from './identifiers'
import type { ColumnType } from './schema'

/** SQLite's SQL for each of Datasette's `default_expr` names. */
export const DEFAULT_EXPRESSIONS = {
  current_timestamp: 'CURRENT_TIMESTAMP',
  current_date: 'CURRENT_DATE',
  current_time: 'CURRENT_TIME',
  current_unixtime: "(CAST(strftime('%s', 'now') AS INTEGER))",
  current_unixtime_ms: "(CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER))",
} as const
export type DefaultExpression = keyof typeof DEFAULT_EXPRESSIONS

export const DEFAULT_EXPRESSION_NAMES = Object.keys(DEFAULT_EXPRESSIONS) as DefaultExpression[]

export const isDefaultExpression = (name: string): name is DefaultExpression => Object.hasOwn(DEFAULT_EXPRESSIONS, name)

export interface ColumnDefinition {
  name: string
  type: ColumnType
  notNull?: boolean
  /** A literal default, bound into the DDL as a quoted SQL literal by `sqlLiteral`. */
  defaultValue?: string | number | null
  /** A default computed when a row is written, one of Datasette's `default_expr` names. */
  defaultExpression?: DefaultExpression
  references?: { table: string; column: string }
}

/** A literal for DDL, where SQLite takes no parameters (DEFAULT clauses). */
export function sqlLiteral(value: string | number | null): string {
  if (value === null) return 'NULL'
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : 'NULL'
  return `'${value.replaceAll("'", "''")}'`
}

/** CREATE TABLE laid out as sqlite-utils writes it: one column per line, three-space indent. */
export function createTableSql(table: string, columns: ColumnDefinition[], pks: string[]): string {
  const single = pks.length === 1 ? pks[0] : undefined
  const lines = columns.map((column) => {
    let line = `${q(column.name)} ${column.type}`
    if (single !== undefined && column.name === single) line += ' PRIMARY KEY'
    if (column.notNull) line += ' NOT NULL'
    if (column.defaultValue !== undefined) line += ` DEFAULT ${sqlLiteral(column.defaultValue)}`
    if (column.defaultExpression !== undefined) line += ` DEFAULT ${DEFAULT_EXPRESSIONS[column.defaultExpression]}`
    if (column.references) line += ` REFERENCES ${q(column.references.table)}(${q(column.references.column)})`
    return line
  })
  if (pks.length > 1) lines.push(`PRIMARY KEY (${pks.map(q).join(', ')})`)
  return `CREATE TABLE ${q(table)} (\n${lines.map((line) => `   ${line}`).join(',\n')}\n)`
}

export function addColumnSql(table: string, column: { name: string; type: ColumnType }): string {
  return `ALTER TABLE ${q(table)} ADD COLUMN ${q(column.name)} ${column.type}`
}

export type ConflictMode = 'abort' | 'replace' | 'ignore'

/** Inserts `rows` rows (one VALUES tuple each) of the given columns. */
export function insertSql(table: string, columns: string[], conflict: ConflictMode, rows = 1): string {
  const verb = conflict === 'abort' ? 'INSERT' : `INSERT OR ${conflict.toUpperCase()}`
  if (columns.length === 0) return `${verb} INTO ${q(table)} DEFAULT VALUES`
  const tuple = `(${columns.map(() => '?').join(', ')})`
  return `${verb} INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${Array(rows).fill(tuple).join(', ')}`
}

/** Inserts a row, or updates only the given non-key columns of the row with the same key. */
export function upsertSql(table: string, columns: string[], pks: string[], rows = 1): string {
  const pkKeys = new Set(pks.map(identifierKey))
  const updates = columns.filter((column) => !pkKeys.has(identifierKey(column)))
  const action = updates.length ? `DO UPDATE SET ${updates.map((c) => `${q(c)} = excluded.${q(c)}`).join(', ')}` : 'DO NOTHING'
  return `${insertSql(table, columns, 'abort', rows)} ON CONFLICT (${pks.map(q).join(', ')}) ${action}`
}

export function countSql(table: string): string {
  return `SELECT count(*) AS count FROM ${q(table)}`
}

/** `"a" = ? AND "b" = ?` for the key columns of one row. */
function keyWhere(keyColumns: string[]): string {
  return keyColumns.map((column) => `${q(column)} = ?`).join(' AND ')
}

export function existsByKeySql(table: string, keyColumns: string[]): string {
  return `SELECT 1 FROM ${q(table)} WHERE ${keyWhere(keyColumns)}`
}

/**
 * How many rows have one of the key values in the JSON array bound to `?`. The `+` strips json_each's own (BLOB)
 * affinity, so each value is compared as a bound `?` would be, with the key column's affinity: `"2"` finds the
 * INTEGER 2 and `2` the TEXT "2".
 */
export function countExistingKeysSql(table: string, column: string): string {
  return `SELECT count(*) AS n FROM ${q(table)} WHERE ${q(column)} IN (SELECT +value FROM json_each(?))`
}

export function maxRowidSql(table: string): string {
  return `SELECT max(rowid) AS m FROM ${q(table)}`
}

export function updateByKeySql(table: string, columns: string[], keyColumns: string[]): string {
  return `UPDATE ${q(table)} SET ${columns.map((column) => `${q(column)} = ?`).join(', ')} WHERE ${keyWhere(keyColumns)}`
}

export function deleteByKeySql(table: string, keyColumns: string[]): string {
  return `DELETE FROM ${q(table)} WHERE ${keyWhere(keyColumns)}`
}

export function dropTableSql(table: string): string {
  return `DROP TABLE ${q(table)}`
}

/** Copies every row (and its rowid, for rowid tables) into a table with the same columns. */
export function copyRowsSql(from: string, to: string, columns: string[], withRowid: boolean): string {
  const list = [...(withRowid ? ['rowid'] : []), ...columns.map(q)].join(', ')
  return `INSERT INTO ${q(to)} (${list}) SELECT ${list} FROM ${q(from)}`
}

export function renameTableSql(from: string, to: string): string {
  return `ALTER TABLE ${q(from)} RENAME TO ${q(to)}`
}
