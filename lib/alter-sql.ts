/** Pure SQL builders for `/-/alter`: the rebuilt table laid out as sqlite-utils' transform writes it, and the statements around it. */
import { quoteIdentifier as q } from './identifiers'

/** One column of a table definition; `defaultSql` is SQL text (a literal or an expression), as SQLite keeps it. */
export interface DefinedColumn {
  name: string
  /** Declared type, possibly empty (no affinity). */
  type: string
  notNull: boolean
  defaultSql: string | null
}

/** A foreign key; `otherColumns` holds null where the REFERENCES clause named only the table. */
export interface DefinedForeignKey {
  columns: string[]
  table: string
  otherColumns: Array<string | null>
  onUpdate: string
  onDelete: string
}

/** Everything a rebuild carries over from the old table to the new one. */
export interface TableDefinition {
  columns: DefinedColumn[]
  pks: string[]
  foreignKeys: DefinedForeignKey[]
  /** UNIQUE constraints (not indexes created with CREATE INDEX), each a list of columns. */
  uniques: string[][]
  withoutRowid: boolean
  strict: boolean
}

/** Is this column a rowid alias in the new table: the one INTEGER PRIMARY KEY of a rowid table. */
export function isRowidAlias(definition: TableDefinition, column: DefinedColumn): boolean {
  return !definition.withoutRowid && definition.pks.length === 1 && definition.pks[0] === column.name && column.type.toUpperCase() === 'INTEGER'
}

function actionsSql(key: DefinedForeignKey): string {
  let actions = ''
  if (key.onUpdate && key.onUpdate !== 'NO ACTION') actions += ` ON UPDATE ${key.onUpdate}`
  if (key.onDelete && key.onDelete !== 'NO ACTION') actions += ` ON DELETE ${key.onDelete}`
  return actions
}

function referencesSql(key: DefinedForeignKey): string {
  const others = key.otherColumns.every((column) => column === null) ? '' : `(${key.otherColumns.map((column) => q(column ?? '')).join(', ')})`
  return `REFERENCES ${q(key.table)}${others}${actionsSql(key)}`
}

/** CREATE TABLE for the rebuilt table: one column per line, three-space indent, single-column keys inline. */
export function createDefinedTableSql(table: string, definition: TableDefinition): string {
  const singlePk = definition.pks.length === 1 ? definition.pks[0] : undefined
  const inlineKeys = new Map(definition.foreignKeys.filter((key) => key.columns.length === 1).map((key) => [key.columns[0]!, key]))
  const inlineUniques = new Set(definition.uniques.filter((unique) => unique.length === 1).map((unique) => unique[0]!))
  const lines = definition.columns.map((column) => {
    const parts = [q(column.name)]
    if (column.type) parts.push(column.type)
    if (column.name === singlePk) parts.push('PRIMARY KEY')
    if (column.notNull) parts.push('NOT NULL')
    if (column.defaultSql !== null) parts.push(`DEFAULT ${column.defaultSql}`)
    const key = inlineKeys.get(column.name)
    if (key) parts.push(referencesSql(key))
    if (inlineUniques.has(column.name)) parts.push('UNIQUE')
    return parts.join(' ')
  })
  if (definition.pks.length > 1) lines.push(`PRIMARY KEY (${definition.pks.map(q).join(', ')})`)
  for (const key of definition.foreignKeys.filter((key) => key.columns.length > 1)) {
    lines.push(`FOREIGN KEY (${key.columns.map(q).join(', ')}) ${referencesSql(key)}`)
  }
  for (const unique of definition.uniques.filter((unique) => unique.length > 1)) lines.push(`UNIQUE (${unique.map(q).join(', ')})`)
  const options = [definition.withoutRowid ? 'WITHOUT ROWID' : '', definition.strict ? 'STRICT' : ''].filter(Boolean).join(', ')
  return `CREATE TABLE ${q(table)} (\n${lines.map((line) => `   ${line}`).join(',\n')}\n)${options ? ` ${options}` : ''}`
}

/** One column copied into the rebuilt table; `nullIfEmpty` turns '' into NULL when text becomes a number, as sqlite-utils does. */
export interface CopiedColumn {
  name: string
  nullIfEmpty: boolean
}

/** Copies every row into the rebuilt table, and the rowid with it when both tables keep rowids apart from their columns. */
export function copyDefinedRowsSql(from: string, to: string, columns: CopiedColumn[], withRowid: boolean): string {
  const targets = [...(withRowid ? ['rowid'] : []), ...columns.map((column) => q(column.name))]
  const sources = [...(withRowid ? ['rowid'] : []), ...columns.map((column) => (column.nullIfEmpty ? `NULLIF(${q(column.name)}, '')` : q(column.name)))]
  return `INSERT INTO ${q(to)} (${targets.join(', ')}) SELECT ${sources.join(', ')} FROM ${q(from)}`
}

/** ALTER TABLE … ADD COLUMN, with NOT NULL and a default when asked (SQLite requires a default for NOT NULL). */
export function addDefinedColumnSql(table: string, column: { name: string; type: string; notNullDefault: string | null }): string {
  const notNull = column.notNullDefault === null ? '' : ` NOT NULL DEFAULT ${column.notNullDefault}`
  return `ALTER TABLE ${q(table)} ADD COLUMN ${q(column.name)} ${column.type}${notNull}`
}

export function renameColumnSql(table: string, from: string, to: string): string {
  return `ALTER TABLE ${q(table)} RENAME COLUMN ${q(from)} TO ${q(to)}`
}

/** Statements that compile a table's INSERT, UPDATE and DELETE triggers without running them. */
export function triggerProbeSql(table: string, columns: string[]): string[] {
  return [
    `INSERT INTO ${q(table)} DEFAULT VALUES`,
    `UPDATE ${q(table)} SET ${columns.map((column) => `${q(column)} = ${q(column)}`).join(', ')}`,
    `DELETE FROM ${q(table)}`,
  ]
}

export function selectAllSql(view: string): string {
  return `SELECT * FROM ${q(view)}`
}
