/** Datasette 1.0 write API request bodies: validated in Datasette's order, with its exact messages. */
import { InvalidBody } from './errors'
import type { TableInfo } from './database'
import { assertColumnName, identifierKey, isReservedTableName } from './identifiers'
import { FloatLiteral, type JsonValue } from './json'
import type { Action } from './permissions'
import { isJsonObject, rowEntries, type RowEntries } from './rows'
import type { ColumnType } from './schema'
import { isDefaultExpression, type ColumnDefinition, type DefaultExpression } from './sql'

type JsonObject = { [key: string]: JsonValue }

/** A 400 carrying Datasette's list of messages. */
export function invalid(...errors: string[]): InvalidBody {
  return new InvalidBody(errors.join('; '), errors)
}

const FLAGS = ['return', 'ignore', 'replace', 'alter'] as const

function flag(body: JsonObject, name: string): boolean {
  const value = body[name]
  if (value === undefined || value === null) return false
  if (typeof value !== 'boolean') throw invalid(`"${name}" must be true or false`)
  return value
}

function objectBody(body: JsonValue, message: string): JsonObject {
  if (!isJsonObject(body)) throw invalid(message)
  return body
}

export interface InsertBody {
  rows: RowEntries[]
  /** `"return": true` was sent. */
  returnAsked: boolean
  /** The body sent one `"row"`, which Datasette echoes back unasked. */
  single: boolean
  ignore: boolean
  replace: boolean
  alter: boolean
}

/** Validates an insert or upsert body against the table, as Datasette's TableInsertView does. */
export function parseInsertBody(body: JsonValue, table: TableInfo, options: { upsert: boolean; maxRows: number }): InsertBody {
  const data = objectBody(body, 'JSON must be a dictionary')
  const hasRow = Object.hasOwn(data, 'row')
  if (!hasRow && !Object.hasOwn(data, 'rows')) throw invalid('JSON must have one or other of "row" or "rows"')
  let rows: JsonValue
  if (hasRow) {
    if (Object.hasOwn(data, 'rows')) throw invalid('Cannot use "row" and "rows" at the same time')
    if (!isJsonObject(data.row)) throw invalid('"row" must be a dictionary')
    rows = [data.row]
  } else rows = data.rows!
  if (!Array.isArray(rows)) throw invalid('"rows" must be a list')
  if (!rows.every(isJsonObject)) throw invalid('"rows" must be a list of dictionaries')
  if (rows.length > options.maxRows) throw invalid(`Too many rows, maximum allowed is ${options.maxRows}`)
  const extras = Object.keys(data).filter((key) => key !== 'row' && key !== 'rows')
  const unknown = extras.filter((key) => !(FLAGS as readonly string[]).includes(key)).sort()
  if (unknown.length) throw invalid(`Invalid parameter: "${unknown.join('", "')}"`)
  const [returnRows, ignore, replace, alter] = FLAGS.map((name) => flag(data, name)) as [boolean, boolean, boolean, boolean]
  if (ignore && replace) throw invalid('Cannot use "ignore" and "replace" at the same time')

  const keys = table.pks.length ? table.pks : ['rowid']
  const known = new Set([...table.columns.map((column) => identifierKey(column.name)), ...keys.map(identifierKey)])
  const errors: string[] = []
  const entries = rows.map((row, index) => {
    const entries = rowEntries(row as JsonObject, index)
    if (options.upsert) {
      const present = new Map(entries.map(([name, value]) => [identifierKey(name), value]))
      const missing = keys.filter((pk) => !present.has(identifierKey(pk)))
      if (missing.length) errors.push(`Row ${index} is missing primary key column(s): "${missing.join('", "')}"`)
      const nulls = keys.filter((pk) => present.get(identifierKey(pk)) === null)
      if (nulls.length) errors.push(`Row ${index} has null primary key column(s): "${nulls.join('", "')}"`)
    }
    const invalidColumns = entries.map(([name]) => name).filter((name) => !known.has(identifierKey(name)))
    if (invalidColumns.length && !alter) errors.push(`Row ${index} has invalid columns: ${invalidColumns.sort().join(', ')}`)
    return entries
  })
  if (errors.length) throw invalid(...errors)
  return { rows: entries, returnAsked: returnRows, single: hasRow, ignore, replace, alter }
}

export interface UpdateBody {
  update: RowEntries
  returnRow: boolean
  alter: boolean
}

/** Validates a row update body, as Datasette's RowUpdateView does. */
export function parseUpdateBody(body: JsonValue): UpdateBody {
  const data = objectBody(body, 'JSON must be a dictionary')
  if (!isJsonObject(data.update)) throw invalid('JSON must contain an update dictionary')
  const unknown = Object.keys(data)
    .filter((key) => !['update', 'return', 'alter'].includes(key))
    .sort()
  if (unknown.length) throw invalid(`Invalid keys: ${unknown.join(', ')}`)
  return { update: rowEntries(data.update, 0), returnRow: flag(data, 'return'), alter: flag(data, 'alter') }
}

/** `{"confirm": true}` for drop; anything else, including no body, asks for confirmation. */
export function dropConfirmed(body: JsonValue | undefined): boolean {
  return isJsonObject(body) && body.confirm === true
}

const COLUMN_TYPES: Record<string, ColumnType> = { text: 'TEXT', integer: 'INTEGER', float: 'REAL', blob: 'BLOB' }
const COLUMN_KEYS = new Set(['name', 'type', 'not_null', 'default', 'default_expr', 'fk_table', 'fk_column'])
/** Datasette's named default expressions, as SQL (the unixtime ones need parentheses to be expressions). */
const CREATE_KEYS = new Set(['table', 'rows', 'row', 'columns', 'pk', 'pks', 'ignore', 'replace', 'alter'])

export interface CreateColumn extends ColumnDefinition {
  /** A foreign key whose column is to be the referenced table's single primary key. */
  fkTableOnly?: string
}

export interface CreateBody {
  table: string
  columns?: CreateColumn[]
  rows?: RowEntries[]
  pks: string[]
  ignore: boolean
  replace: boolean
  /** Whether missing columns may be added: always for a new table, on request for an existing one. */
  alter: boolean
}

/** What validating a `/-/create` body needs to ask of the server. */
export interface CreateChecks {
  /**
   * Throws when the actor lacks `action` on `table`, the name the body gives (undefined when it gives none that is a
   * string): called for each permission as Datasette's order reaches it.
   */
  require(action: Action, message: string, table: string | undefined): void
  /** The existing table of that name, if any. */
  existing(name: string): TableInfo | undefined
}

/**
 * Datasette's rule for a table name: `re.match(r"^(?!sqlite_)[^\n]+$", name)`. Python's `$` also matches before a
 * final newline, hence the `\n?`; rowpost's own rules for new tables (assertNewTableName) then refuse that newline.
 */
export const isDatasetteTableName = (name: string) => /^(?!sqlite_)[^\n]+\n?$/.test(name)

/** Validates a `/-/create` body in Datasette's order, asking `checks` for permissions and the existing table. */
export function parseCreateBody(body: JsonValue, checks: CreateChecks): CreateBody {
  const data = objectBody(body, 'JSON must be an object')
  const named = typeof data.table === 'string' ? data.table : undefined
  const require = (action: Action, message: string) => checks.require(action, message, named)
  const unknown = Object.keys(data)
    .filter((key) => !CREATE_KEYS.has(key))
    .sort()
  if (unknown.length) throw invalid(`Invalid keys: ${unknown.join(', ')}`)
  const ignore = flag(data, 'ignore')
  const replace = flag(data, 'replace')
  const alterAsked = flag(data, 'alter')
  if (ignore && replace) throw invalid('ignore and replace are mutually exclusive')
  // Datasette tests these by truthiness: an empty list or object counts as not given.
  const given = (value: JsonValue | undefined) =>
    value !== undefined &&
    value !== null &&
    value !== false &&
    value !== '' &&
    !(Array.isArray(value) && value.length === 0) &&
    !(isJsonObject(value) && Object.keys(value).length === 0)
  const hasRows = given(data.row) || given(data.rows)
  if ((ignore || replace) && !hasRows) throw invalid('ignore and replace require row or rows')
  if ((ignore || replace) && !given(data.pk) && !given(data.pks)) throw invalid('ignore and replace require pk or pks')
  if (replace) require('update-row', 'Permission denied: need update-row')
  const table = data.table
  if (!given(table)) throw invalid('Table is required')
  if (typeof table !== 'string' || !isDatasetteTableName(table) || isReservedTableName(table) || table.includes('\0')) {
    throw invalid('Invalid table name')
  }
  const existing = checks.existing(table)
  if (!given(data.columns) && !hasRows) throw invalid('columns, rows or row is required')
  if (given(data.rows) && given(data.row)) throw invalid('Cannot specify both rows and row')
  let alter = false
  if (hasRows) {
    require('insert-row', 'Permission denied: need insert-row')
    if (!existing) alter = true
    else if (alterAsked) {
      require('alter-table', 'Permission denied: need alter-table')
      alter = true
    }
  }
  let columns: CreateColumn[] | undefined
  if (given(data.columns)) {
    if (hasRows) throw invalid('Cannot specify columns with rows or row')
    columns = parseColumns(data.columns!)
  }
  let rows: RowEntries[] | undefined
  if (hasRows) {
    const list = given(data.row) ? [data.row!] : data.rows!
    if (!Array.isArray(list)) throw invalid('rows must be a list')
    if (!list.every(isJsonObject)) throw invalid('rows must be a list of objects')
    rows = list.map((row, index) => rowEntries(row as JsonObject, index))
  }
  if (data.pk && data.pks) throw invalid('Cannot specify both pk and pks')
  let pks: string[] = []
  if (data.pk != null && data.pk !== '') {
    if (typeof data.pk !== 'string') throw invalid('pk must be a string')
    pks = [data.pk]
  }
  if (data.pks != null) {
    if (!Array.isArray(data.pks)) throw invalid('pks must be a list')
    if (!data.pks.every((pk) => typeof pk === 'string')) throw invalid('pks must be a list of strings')
    pks = data.pks as string[]
  }
  if (existing) {
    // Past this point the answer shows the existing table: its key in an error, its schema on success.
    require('view-table', `Permission denied: need view-table on ${table}, which exists, to write to it through /-/create (its answer shows the table's schema)`)
    const actual = existing.pks.map(identifierKey)
    const asked = pks.map(identifierKey)
    const changed = asked.length > 0 && (asked.length !== actual.length || asked.some((pk) => !actual.includes(pk)))
    if (changed) throw invalid('pk cannot be changed for existing table')
    pks = existing.pks
  }
  return { table, columns, rows, pks, ignore, replace, alter }
}

function parseColumns(value: JsonValue): CreateColumn[] {
  if (!Array.isArray(value)) throw invalid('columns must be a list')
  if (!value.every(isJsonObject)) throw invalid('columns must be a list of objects')
  const columns = (value as JsonObject[]).map((column, index) => {
    if (typeof column.name !== 'string' || column.name === '') throw invalid('Column name is required')
    assertColumnName(column.name)
    const where = `columns.${index}`
    for (const key of Object.keys(column)) if (!COLUMN_KEYS.has(key)) throw invalid(`${where}.${key}: Extra inputs are not permitted`)
    const type = column.type ?? 'text'
    if (typeof type !== 'string' || !Object.hasOwn(COLUMN_TYPES, type))
      throw invalid(`Unsupported column type: ${typeof type === 'string' ? type : JSON.stringify(type)}`)
    if (column.not_null != null && typeof column.not_null !== 'boolean') throw invalid(`${where}.not_null: Input should be a valid boolean`)
    const hasDefault = column.default !== undefined
    const defaultValue = column.default instanceof FloatLiteral ? column.default.value : column.default
    if (hasDefault && defaultValue !== null && typeof defaultValue !== 'string' && typeof defaultValue !== 'number') {
      throw invalid(`${where}.default: Input should be a string, a number or null`)
    }
    if (typeof defaultValue === 'string' && (defaultValue.includes('\0') || !defaultValue.isWellFormed())) {
      throw invalid(`${where}.default: must not contain NUL characters or lone surrogates`)
    }
    const expression = column.default_expr
    if (expression != null && (typeof expression !== 'string' || !isDefaultExpression(expression))) {
      throw invalid(`${where}.default_expr: Input should be 'current_timestamp', 'current_date', 'current_time', 'current_unixtime' or 'current_unixtime_ms'`)
    }
    if (hasDefault && expression != null) throw invalid(`${where}: Value error, default and default_expr cannot both be provided`)
    for (const key of ['fk_table', 'fk_column'] as const) {
      if (column[key] != null && typeof column[key] !== 'string') throw invalid(`${where}.${key}: Input should be a valid string`)
    }
    if (column.fk_column != null && column.fk_table == null) throw invalid(`${where}: fk_column requires fk_table`)
    const definition: CreateColumn = { name: column.name, type: COLUMN_TYPES[type]!, notNull: column.not_null === true }
    if (hasDefault) definition.defaultValue = defaultValue as string | number | null
    if (typeof expression === 'string') definition.defaultExpression = expression as DefaultExpression
    if (typeof column.fk_table === 'string') {
      if (typeof column.fk_column === 'string') definition.references = { table: column.fk_table, column: column.fk_column }
      else definition.fkTableOnly = column.fk_table
    }
    return definition
  })
  const seen = new Set<string>()
  const duplicates = new Set<string>()
  for (const { name } of columns) {
    if (seen.has(identifierKey(name))) duplicates.add(name)
    seen.add(identifierKey(name))
  }
  if (duplicates.size) throw invalid(`Duplicate column name: ${[...duplicates].join(', ')}`)
  return columns
}
