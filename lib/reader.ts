/**
 * The read side: filtered, sorted, keyset-paginated table pages, single rows and table summaries, as plain values.
 * Pages and rows are paths (lib/store/path.ts); the catalogue reads below them (sqlite_schema, pragmas) are SQLite's own.
 */
import { Database } from 'bun:sqlite'
import type { RowpostDatabase } from './database'
import { countRows, statementOf, values, type Path, type Session } from './store/path'
import type { Catalogue, SchemaStatement, Store } from './store/store'
import type { Dialect } from './store/dialect'
import { sqliteDialect } from './store/sqlite/dialect'
import { keyColumns, type TableInfo } from './store/table'
import { InvalidQuery, InvalidValue } from './errors'
import { identifierKey, isReservedTableName, quoteIdentifier as q, tildeDecode, tildeEncode } from './identifiers'
import { queryFlag } from './flags'
import { FloatLiteral, parseJson } from './json'
import { affinityOf, fromSqlValue, toSqlValue, type Affinity, type SqlValue } from './values'

/** A piece of SQL and the values bound to its `?` placeholders, in order. */
export interface Fragment {
  sql: string
  params: SqlValue[]
}

export const FILTER_OPS = [
  'exact',
  'not',
  'contains',
  'notcontains',
  'startswith',
  'endswith',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'notin',
  'like',
  'notlike',
  'glob',
  'isnull',
  'notnull',
  'isblank',
  'notblank',
] as const
export type FilterOp = (typeof FILTER_OPS)[number]

const isFilterOp = (name: string): name is FilterOp => (FILTER_OPS as readonly string[]).includes(name)
const FLAG_OPS = new Set<FilterOp>(['isnull', 'notnull', 'isblank', 'notblank'])

export interface Filter {
  /** The column's real name (or `rowid`), already checked to exist. */
  column: string
  op: FilterOp
  value: string
}

export interface OrderKey {
  column: string
  descending: boolean
  /** Whether the column may hold NULL (where it sorts depends on the engine); assumed when absent. */
  nullable?: boolean
}

/** A rowid table shows its rowid as a column, like Datasette; a table with a primary key does not. */
const showsRowid = (table: TableInfo) => table.pks.length === 0 && !table.columnsByKey.has('rowid')

/** The columns a page selects, in order: `rowid` first for a rowid table. */
export function visibleColumns(table: TableInfo): string[] {
  const names = table.columns.map((column) => column.name)
  return showsRowid(table) ? ['rowid', ...names] : names
}

/** The real name of a visible column, matched ignoring ASCII case as SQLite does; undefined when there is none. */
export function resolveColumn(table: TableInfo, name: string): string | undefined {
  const key = identifierKey(name)
  if (key === 'rowid' && showsRowid(table)) return 'rowid'
  return table.columnsByKey.get(key)?.name
}

function columnAffinity(table: TableInfo, column: string): Affinity {
  const info = table.columnsByKey.get(identifierKey(column))
  return info ? affinityOf(info.type) : 'INTEGER'
}

/**
 * Turns query-string pairs into filters. `col__op` splits at the last `__` when the suffix is an operator and the
 * prefix a column; otherwise the whole key is the column. Keys starting with `_` are options, not filters, unless
 * they end in `__<op>` (so a column such as `_id` can still be filtered with `_id__exact`), as in Datasette.
 */
export function parseFilters(table: TableInfo, pairs: Iterable<[string, string]>): Filter[] {
  const filters: Filter[] = []
  for (const [key, value] of pairs) {
    const filter = filterFor(table, key, value)
    if (filter) filters.push(filter)
  }
  return filters
}

/** One query pair as a filter; undefined for an option key. */
function filterFor(table: TableInfo, key: string, value: string): Filter | undefined {
  const split = key.lastIndexOf('__')
  const suffix = split === -1 ? '' : key.slice(split + 2)
  const op = isFilterOp(suffix) ? suffix : undefined
  if (key.startsWith('_') && op === undefined) return undefined
  const prefixColumn = op && resolveColumn(table, key.slice(0, split))
  const wholeColumn = prefixColumn === undefined ? resolveColumn(table, key) : undefined
  const filter: Filter | undefined =
    prefixColumn !== undefined ? { column: prefixColumn, op: op!, value } : wholeColumn !== undefined ? { column: wholeColumn, op: 'exact', value } : undefined
  if (!filter) {
    const named = op === undefined ? key : key.slice(0, split)
    throw new InvalidQuery(`Cannot filter on column ${JSON.stringify(named)}: table ${table.name} has no such column`)
  }
  if (FLAG_OPS.has(filter.op) && !queryFlag(value)) {
    throw new InvalidQuery(`Filter ${key} takes the value 1, not ${JSON.stringify(value)}`)
  }
  return filter
}

/** `_sort` / `_sort_desc`; an empty value means no sort, as in Datasette. */
export function parseSort(table: TableInfo, sort: string | undefined, sortDesc: string | undefined): OrderKey | undefined {
  if (sort && sortDesc) throw new InvalidQuery('Cannot use _sort and _sort_desc at the same time')
  const name = sort || sortDesc
  if (!name) return undefined
  const column = resolveColumn(table, name)
  if (column === undefined) throw new InvalidQuery(`Cannot sort table by ${name}`)
  return { column, descending: !sort }
}

const LOOKS_NUMERIC = /^-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** The number a decimal string spells, exact for 64-bit integers; undefined when it is not a plain number. */
export function parseNumber(text: string): number | bigint | undefined {
  if (!LOOKS_NUMERIC.test(text)) return undefined
  if (/^-?\d+$/.test(text)) {
    const integer = BigInt(text)
    if (integer >= BigInt(Number.MIN_SAFE_INTEGER) && integer <= BigInt(Number.MAX_SAFE_INTEGER)) return Number(integer)
    if (integer >= INT64_MIN && integer <= INT64_MAX) return integer
  }
  return Number(text)
}

const escapeLike = (text: string) => text.replace(/[\\%_]/g, (char) => `\\${char}`)

/** `in` / `notin` values: a JSON array, or comma-separated strings, as Datasette takes them. */
function listValues(value: string): SqlValue[] {
  if (!value.trimStart().startsWith('[')) return value.split(',')
  let parsed: unknown
  try {
    parsed = parseJson(value)
  } catch {
    throw new InvalidQuery(`Invalid JSON array in filter value: ${value}`)
  }
  if (!Array.isArray(parsed)) throw new InvalidQuery(`Filter value must be a JSON array: ${value}`)
  return parsed.map((item, index) => {
    if (item !== null && typeof item === 'object' && !(item instanceof FloatLiteral)) {
      throw new InvalidQuery(`Item ${index} of the filter's JSON array is not a string, number, boolean or null`)
    }
    return toSqlValue(item, () => `Item ${index} of the filter's JSON array`)
  })
}

/** The WHERE condition for one filter, in the dialect's SQL where engines differ. */
export function filterSql({ column, op, value }: Filter, dialect: Dialect = sqliteDialect): Fragment {
  const c = q(column)
  const like = (negate: boolean, pattern: string): Fragment => ({ sql: dialect.like(column, negate), params: [pattern] })
  // Datasette compares gt/gte/lt/lte numerically when the value looks like a number.
  const ordered = (operator: string): Fragment => ({ sql: `${c} ${operator} ?`, params: [parseNumber(value) ?? value] })
  const list = (negate: boolean): Fragment => {
    const values = listValues(value)
    return { sql: `${c}${negate ? ' NOT' : ''} IN (${values.map(() => '?').join(', ')})`, params: values }
  }
  switch (op) {
    case 'exact':
      return { sql: `${c} = ?`, params: [value] }
    case 'not':
      return { sql: `${c} != ?`, params: [value] }
    case 'contains':
      return like(false, `%${escapeLike(value)}%`)
    case 'notcontains':
      return like(true, `%${escapeLike(value)}%`)
    case 'startswith':
      return like(false, `${escapeLike(value)}%`)
    case 'endswith':
      return like(false, `%${escapeLike(value)}`)
    case 'gt':
      return ordered('>')
    case 'gte':
      return ordered('>=')
    case 'lt':
      return ordered('<')
    case 'lte':
      return ordered('<=')
    case 'in':
      return list(false)
    case 'notin':
      return list(true)
    case 'like':
      return { sql: `${c} LIKE ?`, params: [value] }
    case 'notlike':
      return { sql: `${c} NOT LIKE ?`, params: [value] }
    case 'glob':
      return dialect.glob(column, value)
    case 'isnull':
      return { sql: `${c} IS NULL`, params: [] }
    case 'notnull':
      return { sql: `${c} IS NOT NULL`, params: [] }
    case 'isblank':
      return { sql: dialect.blank(column, false), params: [] }
    case 'notblank':
      return { sql: dialect.blank(column, true), params: [] }
  }
}

/**
 * Rows that come strictly after `values` in the order `keys`, where SQLite puts NULLs first ascending and last
 * descending. A trailing run of ascending keys with non-null values becomes one row-value comparison, which an
 * index can serve; NULLs and descending keys need the expanded `a > ? OR (a = ? AND …)` form.
 */
export function afterSql(keys: OrderKey[], values: SqlValue[]): Fragment {
  const build = (i: number): Fragment => {
    const rest = keys.slice(i)
    if (rest.every((key, j) => !key.descending && values[i + j] !== null)) {
      if (rest.length === 1) return { sql: `${q(rest[0]!.column)} > ?`, params: [values[i]!] }
      return { sql: `(${rest.map((key) => q(key.column)).join(', ')}) > (${rest.map(() => '?').join(', ')})`, params: values.slice(i) }
    }
    const key = keys[i]!
    const value = values[i]!
    const c = q(key.column)
    const beyond: Fragment | undefined =
      value === null
        ? key.descending
          ? undefined
          : { sql: `${c} IS NOT NULL`, params: [] }
        : key.descending
          ? { sql: `(${c} < ? OR ${c} IS NULL)`, params: [value] }
          : { sql: `${c} > ?`, params: [value] }
    if (i === keys.length - 1) return beyond ?? { sql: '1 = 0', params: [] }
    const same: Fragment = value === null ? { sql: `${c} IS NULL`, params: [] } : { sql: `${c} = ?`, params: [value] }
    const after = build(i + 1)
    const tie: Fragment = { sql: `${same.sql} AND ${after.sql}`, params: [...same.params, ...after.params] }
    if (!beyond) return { sql: `(${tie.sql})`, params: tie.params }
    return { sql: `(${beyond.sql} OR (${tie.sql}))`, params: [...beyond.params, ...tie.params] }
  }
  return build(0)
}

/** One page: the conditions ANDed, ordered by `order`, at most `limit` rows. */
export function selectPageSql(
  table: string,
  columns: string[],
  where: Fragment[],
  order: OrderKey[],
  limit: number,
  dialect: Dialect = sqliteDialect,
): Fragment {
  const conditions = where.length ? ` WHERE ${where.map((part) => part.sql).join(' AND ')}` : ''
  const orderBy = order.map((key) => dialect.orderBy(key.column, key.descending, key.nullable ?? true)).join(', ')
  return {
    sql: `SELECT ${columns.map(q).join(', ')} FROM ${q(table)}${conditions} ORDER BY ${orderBy} LIMIT ?`,
    params: [...where.flatMap((part) => part.params), limit],
  }
}

/** The row whose key columns hold `values`. */
export function selectRowSql(table: string, columns: string[], keys: string[], values: SqlValue[]): Fragment {
  const conditions = keys.map((key, i) => (values[i] === null ? `${q(key)} IS NULL` : `${q(key)} = ?`))
  return {
    sql: `SELECT ${columns.map(q).join(', ')} FROM ${q(table)} WHERE ${conditions.join(' AND ')}`,
    params: values.filter((value) => value !== null),
  }
}

/**
 * One key value as it appears in `_next` tokens, row URLs and `_shape=object` keys: Datasette's tilde-encoded text,
 * plus `$`-forms for what text cannot say (tilde encoding escapes `$`, so a text value never starts with one):
 * `$null`, `$x<hex>` for a BLOB, and `$t<text>` for number-like text in a column that also holds numbers.
 */
export function encodeKeyValue(value: SqlValue, affinity: Affinity): string {
  if (value === null) return '$null'
  if (value instanceof Uint8Array) return `$x${Buffer.from(value).toString('hex').toUpperCase()}`
  if (typeof value === 'number' && !Number.isFinite(value)) return value > 0 ? '9e999' : '-9e999'
  if (typeof value === 'string' && affinity !== 'TEXT' && LOOKS_NUMERIC.test(value)) return `$t${tildeEncode(value)}`
  return tildeEncode(String(value))
}

/**
 * Reverses encodeKeyValue; undefined when malformed. Number-like text is bound as a number for columns that are not
 * TEXT, so a value that went out as a float comes back exactly (JavaScript, unlike SQLite's text conversion, parses
 * the shortest round-trip form exactly).
 */
export function decodeKeyValue(component: string, affinity: Affinity): SqlValue | undefined {
  if (component === '$null') return null
  if (component.startsWith('$x')) {
    const hex = component.slice(2)
    return /^(?:[0-9A-Fa-f]{2})*$/.test(hex) ? Uint8Array.from(Buffer.from(hex, 'hex')) : undefined
  }
  if (component.startsWith('$t')) return tildeDecode(component.slice(2))
  if (component.startsWith('$')) return undefined
  const text = tildeDecode(component)
  return affinity === 'TEXT' ? text : (parseNumber(text) ?? text)
}

export interface PageRequest {
  filters: Filter[]
  sort?: OrderKey
  /** Rows per page. */
  size: number
  /** The `_next` token of the previous page. */
  next?: string
}

export interface Page<Row = unknown[]> {
  columns: string[]
  /** Each row's values in `columns` order, ready for JSON. */
  rows: Row[]
  /** Each row's identifier, as in its row URL. */
  keys: string[]
  /** The token for the following page; null on the last one. */
  next: string | null
}

/** A read query's rows with exact integers; one past the engine's limits (thousands of filters or `in` values) is the client's to fix. */
function* readValues(s: Session, sql: string, params: SqlValue[]): Path<SqlValue[][]> {
  try {
    return (yield* values(statementOf(sql, true), params)) as SqlValue[][]
  } catch (error) {
    if (!s.dialect.isQueryTooLarge(error)) throw error
    throw new InvalidQuery(`Too many filters or filter values for one query: ${(error as Error).message}`)
  }
}

/**
 * One page of a table, after the `next` token's row: keyset pagination, so concurrent inserts never shift a page. The
 * values are as the store holds them (every INTEGER a bigint); renderers write them (sqlValueJson, CSV, HTML).
 */
export function readTableValues(db: Store, table: TableInfo, options: PageRequest): Promise<Page<SqlValue[]>> {
  return db.readPath((s) => readTableValuesPath(s, table, options))
}

export function* readTableValuesPath(s: Session, table: TableInfo, options: PageRequest): Path<Page<SqlValue[]>> {
  const columns = visibleColumns(table)
  const keys = keyColumns(table)
  const nullable = (column: string) => !keys.includes(column) && !table.columnsByKey.get(identifierKey(column))?.notNull
  const order: OrderKey[] = [...(options.sort ? [options.sort] : []), ...keys.map((column) => ({ column, descending: false }))].map((key) => ({
    ...key,
    nullable: nullable(key.column),
  }))
  const affinities = order.map((key) => columnAffinity(table, key.column))
  const where = options.filters.map((filter) => filterSql(filter, s.dialect))
  if (options.next !== undefined) {
    const components = options.next.split(',')
    const values = components.map((component, i) => decodeKeyValue(component, affinities[i] ?? 'BLOB'))
    if (components.length !== order.length || values.some((value) => value === undefined)) {
      throw new InvalidQuery(`Invalid _next token: ${options.next}`)
    }
    where.push(afterSql(order, values as SqlValue[]))
  }
  const { sql, params } = selectPageSql(table.name, columns, where, order, options.size + 1, s.dialect)
  const fetched = yield* readValues(s, sql, params)
  const rows = fetched.slice(0, options.size)
  const indexes = order.map((key) => columns.indexOf(key.column))
  const tokenOf = (row: SqlValue[], from: number) =>
    indexes
      .slice(from)
      .map((index, i) => encodeKeyValue(row[index]!, affinities[from + i]!))
      .join(',')
  const last = rows.at(-1)
  let rowKeys: string[] | undefined
  return {
    columns,
    rows,
    // Only `_shape=object` and the HTML page use every row's key: worked out when first asked for, not for each page.
    get keys() {
      return (rowKeys ??= rows.map((row) => tokenOf(row, order.length - keys.length)))
    },
    next: fetched.length > options.size && last ? tokenOf(last, 0) : null,
  }
}

/** The key values a row URL names: tilde-encoded, joined by `,`, one per key column (the rowid for a rowid table). */
export function parseRowIdentifier(table: TableInfo, identifier: string): SqlValue[] {
  const keys = keyColumns(table)
  const components = identifier.split(',')
  if (components.length !== keys.length) {
    throw new InvalidQuery(`Expected ${keys.length} primary key value${keys.length === 1 ? '' : 's'} (${keys.join(', ')}) in the URL, got ${components.length}`)
  }
  const values = components.map((component, i) => decodeKeyValue(component, columnAffinity(table, keys[i]!)))
  if (values.some((value) => value === undefined)) throw new InvalidQuery(`Invalid row identifier: ${identifier}`)
  return values as SqlValue[]
}

/** The row a row URL names, its values as the store holds them, or undefined when there is none. */
export function readRowValues(db: Store, table: TableInfo, identifier: string): Promise<{ columns: string[]; row: SqlValue[] } | undefined> {
  return db.readPath((s) => readRowPath(s, table, identifier))
}

/** readRowValues with the values ready for JSON (fromSqlValue). */
export async function readRow(db: Store, table: TableInfo, identifier: string): Promise<{ columns: string[]; row: unknown[] } | undefined> {
  const found = await readRowValues(db, table, identifier)
  return found && { columns: found.columns, row: found.row.map(fromSqlValue) }
}

function* readRowPath(s: Session, table: TableInfo, identifier: string): Path<{ columns: string[]; row: SqlValue[] } | undefined> {
  const columns = visibleColumns(table)
  const { sql, params } = selectRowSql(table.name, columns, keyColumns(table), parseRowIdentifier(table, identifier))
  const row = (yield* rowsByKey(s, sql, params))[0]
  return row && { columns, row }
}

/**
 * The rows a key lookup finds. A key value the key column cannot hold (text for a bigint key on PostgreSQL, which
 * refuses to compare them where SQLite just finds nothing) matches no row.
 */
export function* rowsByKey(s: Session, sql: string, params: SqlValue[]): Path<SqlValue[][]> {
  try {
    return yield* readValues(s, sql, params)
  } catch (error) {
    if (s.dialect.apiError(error) instanceof InvalidValue) return []
    throw error
  }
}

export interface TableSummary {
  name: string
  columns: string[]
  primary_keys: string[]
  count: number
}

export interface TableSummaryPage {
  tables: TableSummary[]
  /** Where the next page starts (`_next`); null on the last one. */
  next: string | null
}

/**
 * Name, columns, key and row count of up to `size` tables that `include` accepts, in creation order, starting after
 * the `next` token of the previous page. Counting is a scan per table, so a page, not the whole database, bounds it.
 */
export async function tableSummaries(db: Store, include: (table: string) => boolean, size: number, next?: string): Promise<TableSummaryPage> {
  if (next !== undefined && !/^\d{1,15}$/.test(next)) throw new InvalidQuery(`Invalid _next token: ${next}`)
  await db.sync()
  const after = next === undefined ? -Infinity : Number(next)
  const tables: TableSummary[] = []
  let last: number | undefined
  for (const { name, position } of db.tableList()) {
    if (position <= after || !include(name)) continue
    if (tables.length === size) return { tables, next: String(last) }
    const table = db.table(name)
    if (!table) continue
    const count = await db.readPath(() => countRows(table.name))
    tables.push({ name: table.name, columns: table.columns.map((column) => column.name), primary_keys: table.pks, count })
    last = position
  }
  return { tables, next: null }
}

/** The SQLite library's version, asked of a throwaway in-memory database (every SQLite database here uses the same library). */
export function sqliteVersion(): string {
  const connection = new Database(':memory:')
  try {
    return (connection.query('SELECT sqlite_version() AS version').get() as { version: string }).version
  } finally {
    connection.close()
  }
}

/** The database's CREATE statements in creation order, as Datasette's /-/schema joins them, less SQLite's and rowpost's own. */
export function schemaStatements(db: RowpostDatabase): SchemaStatement[] {
  const listing = 'SELECT tbl_name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid'
  const rows = db.statement(listing).values() as Array<[string, string]>
  return rows.filter(([table]) => !isReservedTableName(table)).map(([table, sql]) => ({ table, sql }))
}

/** A table's or view's real name and CREATE statement, the name matched ignoring ASCII case as SQLite does. */
export function tableOrViewSchema(db: RowpostDatabase, name: string): { name: string; sql: string } | undefined {
  const row = db.statement("SELECT name, sql FROM sqlite_schema WHERE type IN ('table', 'view') AND name = ? COLLATE NOCASE AND sql IS NOT NULL").get(name) as {
    name: string
    sql: string
  } | null
  return row && !isReservedTableName(row.name) ? row : undefined
}

/** Datasette's list of the shadow tables each virtual table module keeps beside it. */
const SHADOW_SUFFIXES: Record<string, string[]> = {
  fts3: ['_content', '_segdir', '_segments', '_stat', '_docsize'],
  fts4: ['_content', '_segdir', '_segments', '_stat', '_docsize'],
  fts5: ['_data', '_idx', '_docsize', '_content', '_config'],
  rtree: ['_node', '_parent', '_rowid'],
  rtree_i32: ['_node', '_parent', '_rowid'],
}
const VIRTUAL_MODULE = /\bCREATE\s+VIRTUAL\s+TABLE\b.*?\bUSING\s+([^\s(]+)/is
const asciiLower = (text: string) => text.replace(/[A-Z]/g, (letter) => letter.toLowerCase())

/** One pass over sqlite_schema, following Datasette's sqlite_hidden_table_names and detect_fts. */
export function catalogue(db: RowpostDatabase): Catalogue {
  const listing = "SELECT type, name, tbl_name, sql, rootpage FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY rowid"
  const rows = db.statement(listing).values() as Array<[string, string, string, string | null, number]>
  const views: string[] = []
  const hidden = new Set<string>()
  const shadows = new Set<string>()
  const fts: Array<{ name: string; table: string; sql: string }> = []
  for (const [type, name, table, sql, rootpage] of rows) {
    if (isReservedTableName(name)) continue
    if (type === 'view') {
      views.push(name)
      continue
    }
    const module =
      sql === null
        ? undefined
        : VIRTUAL_MODULE.exec(sql)?.[1]
            ?.replace(/^["'[\]`]+|["'[\]`]+$/g, '')
            .toLowerCase()
    for (const suffix of SHADOW_SUFFIXES[module ?? ''] ?? []) shadows.add(name + suffix)
    const contentFts = (module === 'fts3' || module === 'fts4' || module === 'fts5') && sql!.toLowerCase().includes('content=')
    if (name.startsWith('_') || contentFts) hidden.add(name)
    if (rootpage === 0 && sql !== null && /VIRTUAL TABLE.*USING FTS/is.test(sql)) fts.push({ name, table, sql: asciiLower(sql) })
  }
  for (const [type, name] of rows) if (type === 'table' && shadows.has(name)) hidden.add(name)
  return {
    views,
    hidden,
    ftsTable(table) {
      const lowered = asciiLower(table)
      const found = fts.find(
        (candidate) => candidate.sql.includes(`content="${lowered}"`) || candidate.sql.includes(`content=[${lowered}]`) || candidate.table === table,
      )
      return found?.name ?? null
    },
  }
}

/**
 * Datasette's relationships per table for sorting its index: each single-column foreign key counts once for the table
 * holding it and once for the table it names (compound keys and keys naming missing tables are left out, as there).
 */
export function relationshipCounts(db: RowpostDatabase): Map<string, number> {
  const tables = db.tableList().map(({ name }) => name)
  const known = new Set(tables)
  const counts = new Map<string, number>()
  const add = (table: string) => counts.set(table, (counts.get(table) ?? 0) + 1)
  for (const table of tables) {
    let keys: Array<[number, string]>
    try {
      keys = db.statement('SELECT id, "table" FROM pragma_foreign_key_list(?)').values(table) as Array<[number, string]>
    } catch (error) {
      // A virtual table whose module is missing cannot be described; it has no keys to count.
      if ((error as Error).name === 'SQLiteError') continue
      throw error
    }
    const perId = new Map<number, number>()
    for (const [id] of keys) perId.set(id, (perId.get(id) ?? 0) + 1)
    for (const [id, target] of keys) {
      if (perId.get(id) !== 1 || !known.has(target)) continue
      add(table)
      add(target)
    }
  }
  return counts
}
