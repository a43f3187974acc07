/**
 * The write path: creates and alters tables, writes, updates and deletes rows, one all-or-nothing unit per request.
 * Each operation is a Path (lib/store/path.ts) written once for every store; the plain-named functions drive it on a
 * SQLite connection synchronously, inside the request's SAVEPOINT.
 */
import { ConstraintFailed, InvalidBody, InvalidName, InvalidValue, MissingPk, MissingTable, PkMismatch, UnknownKeys } from './errors'
import type { SqliteConnection } from './store/sqlite/connection'
import { exec, get, run, statementOf, table as lookUp } from './store/path'
import { RowFailure, type EachResult, type Path, type RunResult, type Session, type StatementRef } from './store/path'
import { keyColumns, type TableInfo } from './store/table'
import { assertColumnName, assertNewTableName, assertWritableTableName, identifierKey } from './identifiers'
import { MAX_COLUMNS, type RowEntries } from './rows'
import { inferColumns } from './schema'
import type { ColumnDefinition, ConflictMode } from './sql'
import { affinityOf, asStoredReal, convertsTextToNumbers, overflowsToInfinity, rowFromValues, toSqlValue, type SqlValue } from './values'
import { stringifyJson, type JsonValue } from './json'
import { rowsByKey, selectRowSql, visibleColumns } from './reader'
import { feedRequest, logChanges, recordChangesPath } from './feed'

export type WriteMode = 'upsert' | ConflictMode

export interface RowsWrite {
  table: string
  rows: RowEntries[]
  /** Key columns: used to create a missing table, and as the conflict target of an upsert. */
  pks: string[]
  mode: WriteMode
  /** Add columns the table lacks instead of refusing the request. */
  alter: boolean
  /** Whether the caller may create the table when it is missing. */
  mayCreate: boolean
  /**
   * How errors name a row: "Row 3" by default. A streamed body names lines instead, and then SQLite's constraint
   * errors are labelled too, since the client cannot otherwise tell which of a million lines failed.
   */
  rowLabel?: (index: number) => string
  /**
   * Skip learning which keys of a replace or upsert already exist, and recount the table once instead: right for bulk
   * uploads, where that query costs more per row than one count(*) at the end.
   */
  recount?: boolean
}

export interface RowsWritten {
  table: TableInfo
  /** The key of each written row, in request order (rowid for rowid tables); null where nothing was written. */
  keys: Array<SqlValue[] | null>
}

/** Whether the row key is the rowid itself: a rowid table, or an INTEGER PRIMARY KEY (an alias of the rowid). */
function keyIsRowid(table: TableInfo): boolean {
  if (table.withoutRowid) return false
  if (table.pks.length === 0) return true
  return table.pks.length === 1 && table.columnsByKey.get(identifierKey(table.pks[0]!))?.type.toUpperCase() === 'INTEGER'
}

/** The table's column for a request key, matching ASCII case-insensitively; `rowid` names the rowid of a rowid table. */
function columnFor(table: TableInfo, name: string): string | undefined {
  const column = table.columnsByKey.get(identifierKey(name))
  if (column) return column.name
  return identifierKey(name) === 'rowid' && table.pks.length === 0 && !table.withoutRowid ? 'rowid' : undefined
}

/** The names that match no column of the table. */
export function unknownColumns(table: TableInfo, names: string[]): string[] {
  return names.filter((name) => columnFor(table, name) === undefined)
}

function uniquePks(pks: string[]): string[] {
  const keys = new Set<string>()
  for (const pk of pks) {
    assertColumnName(pk)
    if (keys.has(identifierKey(pk))) throw new InvalidName(`Primary key column ${JSON.stringify(pk)} is listed twice`)
    keys.add(identifierKey(pk))
  }
  return pks
}

/** SQLite's 2000-column limit applies to result rows too, so a rowid table keeps one column free for its rowid. */
function assertColumnCount(table: string, count: number, hasPk: boolean): void {
  if (hasPk && count > MAX_COLUMNS) throw new InvalidBody(`Table ${table} would have ${count} columns; SQLite allows at most ${MAX_COLUMNS}`)
  if (!hasPk && count > MAX_COLUMNS - 1) {
    throw new InvalidBody(
      `Table ${table} would have ${count} columns; a table without a primary key may have at most ${MAX_COLUMNS - 1}, since reads return its rowid too`,
    )
  }
}

/** The names of a rowid table's rowid: SQLite refuses them in ADD COLUMN, and rowpost in CREATE TABLE, where a column would hide it. */
const ROWID_ALIASES = new Set(['rowid', 'oid', '_rowid_'])

/**
 * Creates a table from column definitions. Key columns missing from them are added first as INTEGER, as sqlite-utils
 * does, so `pk: "id"` with no `id` column gives an `"id" INTEGER PRIMARY KEY`.
 */
/** Refuses a name the engine would not keep whole. */
function assertNameFits(s: Session, kind: 'Table' | 'Column', name: string): void {
  const limit = s.dialect.maxNameBytes
  if (limit !== undefined && Buffer.byteLength(name) > limit) {
    throw new InvalidName(`${kind} name ${JSON.stringify(name)} is ${Buffer.byteLength(name)} bytes long; this database keeps names of at most ${limit} bytes`)
  }
}

export function* createTablePath(s: Session, name: string, columns: ColumnDefinition[], pks: string[]): Path<TableInfo> {
  assertNewTableName(name)
  assertNameFits(s, 'Table', name)
  for (const column of columns) assertNameFits(s, 'Column', column.name)
  for (const pk of pks) assertNameFits(s, 'Column', pk)
  const byKey = new Map(columns.map((column) => [identifierKey(column.name), column]))
  const keys = uniquePks(pks).map((pk) => byKey.get(identifierKey(pk))?.name ?? pk)
  const missing = keys.filter((pk) => !byKey.has(identifierKey(pk))).map((pk) => ({ name: pk, type: 'INTEGER' as const }))
  if (columns.length + missing.length === 0) throw new InvalidBody(`Cannot create table ${name} with no columns`)
  const alias = keys.length ? undefined : columns.find((column) => ROWID_ALIASES.has(identifierKey(column.name)))
  if (alias) {
    throw new InvalidName(
      `A table without a primary key cannot have a column named ${JSON.stringify(alias.name)}: it would hide the rowid that addresses its rows`,
    )
  }
  assertColumnCount(name, columns.length + missing.length, keys.length > 0)
  yield* exec(s.dialect.createTable(name, [...missing, ...columns], keys))
  return (yield* lookUp(name))!
}

function createTableFromRows(s: Session, write: RowsWrite): Path<TableInfo> {
  if (write.rows.length === 0) throw new InvalidBody(`Cannot create table ${write.table} from an empty list of rows`)
  return createTablePath(s, write.table, inferColumns(write.rows), write.pks)
}

/** Adds the columns `rows` name that the table lacks, or refuses them when `alter` is off. */
function* addMissingColumns(s: Session, table: TableInfo, rows: RowEntries[], alter: boolean): Path<TableInfo> {
  const isMissing = (name: string) => columnFor(table, name) === undefined
  if (!lacksColumns(table, rows)) return table
  const missing = inferColumns(rows, isMissing)
  if (!alter) throw new UnknownKeys(table.name, missing[0]!.name)
  const alias = table.withoutRowid ? undefined : missing.find((column) => ROWID_ALIASES.has(identifierKey(column.name)))
  if (alias) throw new InvalidName(`Cannot add column ${JSON.stringify(alias.name)} to table ${table.name}: SQLite reserves that name for the rowid`)
  assertColumnCount(table.name, table.columns.length + missing.length, table.pks.length > 0 || table.withoutRowid)
  for (const column of missing) assertNameFits(s, 'Column', column.name)
  for (const column of missing) yield* exec(s.dialect.addColumn(table.name, column))
  return (yield* lookUp(table.name))!
}

/** Whether some row names a column the table lacks; a row with the same keys as the row before it is not looked at again. */
function lacksColumns(table: TableInfo, rows: RowEntries[]): boolean {
  let checked: RowEntries | undefined
  for (const row of rows) {
    if (checked && sameKeys(row, checked)) continue
    if (row.some(([name]) => columnFor(table, name) === undefined)) return true
    checked = row
  }
  return false
}

const sameKeys = (row: RowEntries, other: RowEntries) => row.length === other.length && row.every(([name], i) => name === other[i]![0])

/** The table `existing` describes, created or altered as the request allows. Runs inside the write transaction. */
function* prepareTable(s: Session, write: RowsWrite, existing: TableInfo | undefined): Path<TableInfo> {
  if (!existing) {
    if (!write.mayCreate) throw new MissingTable(write.table)
    return yield* createTableFromRows(s, write)
  }
  return yield* addMissingColumns(s, existing, write.rows, write.alter)
}

function assertUpsertKey(table: TableInfo, write: RowsWrite): void {
  const keys = keyColumns(table)
  if (write.pks.length) {
    const wanted = write.pks.map(identifierKey).sort().join('\0')
    if (table.pks.length === 0 || wanted !== table.pks.map(identifierKey).sort().join('\0')) {
      throw new PkMismatch(table.name, table.pks, write.pks)
    }
  }
  write.rows.forEach((row, index) => {
    const present = new Set(row.filter(([, value]) => value !== null).map(([name]) => identifierKey(name)))
    if (!keys.every((pk) => present.has(identifierKey(pk)))) throw new MissingPk(labelOf(write)(index), keys)
  })
}

const labelOf = (write: RowsWrite) => write.rowLabel ?? ((index: number) => `Row ${index}`)

/** How the rows of one key layout are written: their key names in order, the statement, and where the key columns sit. */
interface RowShape {
  names: string[]
  statement: StatementRef
  /** The statement for `count` rows of this shape at once, where the dialect has one. */
  many?: (count: number) => StatementRef
  keyAt: number[]
  /** Which values go to columns that turn number-like text into numbers. */
  numericAt: boolean[]
}

/** Whether the column turns number-like text into numbers; the rowid does. */
function convertsText(table: TableInfo, column: string): boolean {
  const info = table.columnsByKey.get(identifierKey(column))
  return info ? convertsTextToNumbers(info.type) : true
}

/** One cell as SQLite will store it; text that a numeric column would turn into ±Infinity is refused, as 1e999 is. */
function cellValue(value: JsonValue, numeric: boolean, describe: () => string): SqlValue {
  const stored = toSqlValue(value, describe)
  if (numeric && typeof stored === 'string' && overflowsToInfinity(stored)) {
    throw new InvalidValue(`${describe()}: ${JSON.stringify(stored.trim())} is beyond the range of a floating-point number`)
  }
  return stored
}

const sameNames = (row: RowEntries, names: string[]) => row.length === names.length && row.every(([name], i) => name === names[i])

/** Key values that reach SQLite through JSON exactly as they do when bound: text and integers, not floats, -0 (a float) or BLOBs. */
const sameInJson = (value: SqlValue) => typeof value === 'string' || typeof value === 'bigint' || (Number.isSafeInteger(value) && !Object.is(value, -0))

/**
 * How many rows have one of `keys` (values of a one-column key), in one query that compares them as the key column
 * does: `2` and `"2"` are one key in an INTEGER column and two in a TEXT one, and SQLite, not rowpost, decides.
 */
function* countExisting(s: Session, table: TableInfo, column: string, keys: string): Path<number> {
  const statement = { key: `existing\0${table.name}\0${column}`, build: () => s.dialect.countExistingKeys(table, column) }
  return (yield* get<{ n: number }>(statement, [keys]))!.n
}

/**
 * How many rows a batch adds when every key is an integer above the table's largest rowid (a table keyed by its rowid
 * that only ever grows, as sensor and log data do): its distinct keys, found with one lookup instead of counting the
 * batch's keys before and after. Undefined when that does not hold, or the engine has no rowids.
 */
function* appendedKeys(s: Session, table: TableInfo, prepared: Array<{ key: SqlValue[] | null }>): Path<number | undefined> {
  if (!s.dialect.maxRowid || !keyIsRowid(table)) return undefined
  let lowest: number | bigint | undefined
  let previous: number | bigint | undefined
  // Keys that only ever grow are all distinct: the set is made only for a batch whose keys do not.
  let distinct: Set<number | bigint> | undefined
  for (let index = 0; index < prepared.length; index++) {
    const value = prepared[index]!.key![0]!
    if (typeof value !== 'bigint' && !Number.isSafeInteger(value)) return undefined
    const integer = value as number | bigint
    if (lowest === undefined || integer < lowest) lowest = integer
    if (distinct) distinct.add(integer)
    else if (previous !== undefined && integer <= previous) distinct = new Set(prepared.slice(0, index + 1).map(({ key }) => key![0] as number | bigint))
    previous = integer
  }
  const statement = statementOf(s.dialect.maxRowid(table.name), true)
  const largest = (yield* get<{ m: bigint | null }>(statement))!.m
  return largest === null || lowest! > largest ? (distinct?.size ?? prepared.length) : undefined
}

/** Writes every row of the request; call inside RowpostDatabase.write. */
export function writeRows(db: SqliteConnection, write: RowsWrite): RowsWritten {
  return db.drive(writeRowsPath(db, write))
}

export function* writeRowsPath(s: Session, write: RowsWrite): Path<RowsWritten> {
  // Checked before the lookup: sqlite_sequence and sqlite_stat1 exist as tables but must never be written.
  assertWritableTableName(write.table)
  // The common case (the table exists with every column) delegates to no other generator: on a one-row request, each
  // generator costs about as much as the statement cache lookup.
  const existing = (yield { want: 'table', name: write.table }) as TableInfo | undefined
  const table = existing && !lacksColumns(existing, write.rows) ? existing : yield* prepareTable(s, write, existing)
  if (write.mode === 'upsert') assertUpsertKey(table, write)
  const keys = keyColumns(table)
  const label = labelOf(write)
  const replaces = write.mode === 'upsert' || write.mode === 'replace'
  // A dialect that reports inserted rows keeps counts exact for free; otherwise keys are looked up, or the table recounted.
  const reported = s.dialect.reportsInserted
  const counting = replaces && !write.recount && !reported
  if (replaces && !reported && (write.recount || (write.mode === 'replace' && table.otherUniqueIndexes))) s.counts?.forget(table.name)

  const shapeFor = (row: RowEntries): RowShape => {
    const names = row.map(([name]) => name)
    const columns = names.map((name) => columnFor(table, name)!)
    const signature = columns.join('\0')
    const statement = {
      key: `${write.mode}\0${table.name}\0${signature}`,
      build: () => (write.mode === 'upsert' ? s.dialect.upsert(table, columns) : s.dialect.insert(table, columns, write.mode as ConflictMode)),
    }
    const keyAt = keys.map((key) => columns.findIndex((column) => identifierKey(column) === identifierKey(key)))
    // An ignore needs each row's result (which were skipped), which a multi-row statement does not give.
    const insertRows = write.mode === 'ignore' ? undefined : s.dialect.insertRows
    const many = insertRows && ((count: number) => ({ key: `${statement.key}\0${count}`, build: () => insertRows(table, columns, write.mode, count) }))
    return { names, statement, many, keyAt, numericAt: columns.map((column) => convertsText(table, column)) }
  }

  const realKeys = table.pks.map((pk) => affinityOf(table.columnsByKey.get(identifierKey(pk))!.type) === 'REAL')
  // First every row's values and key, so a replace or upsert batch can learn which keys exist in one query.
  const prepared: Array<{ shape: RowShape; values: SqlValue[]; key: SqlValue[] | null }> = []
  let shape: RowShape | undefined
  // One describer for every cell (read only when a cell is refused), rather than a closure made for each cell.
  let cellRow = 0
  let cellName = ''
  const describeCell = () => `${label(cellRow)} column ${JSON.stringify(cellName)}`
  // Plain loops: this runs once per row of batches of thousands.
  for (let index = 0; index < write.rows.length; index++) {
    const row = write.rows[index]!
    if (!shape || !sameNames(row, shape.names)) shape = shapeFor(row)
    const { numericAt, keyAt } = shape
    const values: SqlValue[] = new Array(row.length)
    cellRow = index
    for (let i = 0; i < row.length; i++) {
      const [name, value] = row[i]!
      cellName = name
      values[i] = cellValue(value, numericAt[i]!, describeCell)
    }
    let key: SqlValue[] | null = []
    for (let i = 0; i < keyAt.length; i++) {
      const at = keyAt[i]!
      const value = at === -1 ? null : values[at]!
      if (value === null) {
        key = null
        break
      }
      key.push(realKeys[i] ? asStoredReal(value) : value)
    }
    prepared.push({ shape, values, key })
  }

  // A replace or upsert adds only the rows whose key is new. A batch of one-column keys counts the rows holding its
  // keys before and after writing; otherwise each key is looked up before its row is written (a row without a key
  // always adds one: its rowid is new, even if a later row of the batch then takes it over).
  let added = 0
  let probe: StatementRef | undefined
  let batchKeys: string | undefined
  if (counting) {
    if (keys.length === 1 && prepared.length > 1 && prepared.every(({ key }) => key !== null && sameInJson(key[0]!))) {
      const appended = yield* appendedKeys(s, table, prepared)
      if (appended !== undefined) added = appended
      else {
        batchKeys = stringifyJson(prepared.map(({ key }) => key![0]!))
        added = -(yield* countExisting(s, table, keys[0]!, batchKeys))
      }
    } else probe = { key: `exists\0${table.name}\0${keys.join('\0')}`, build: () => s.dialect.existsByKey(table.name, keys) }
  }

  const written: RowsWritten['keys'] = []
  /** Which rows were written: all of them, except those an ignore skipped. */
  const skipped = new Set<number>()
  /**
   * A row's error, naming the row: always for a value the engine refused (rowpost checked it already, so only a
   * stricter engine gets here, with no better way to say which row), and for a constraint in a streamed body, where
   * the client cannot otherwise tell which of a million lines failed.
   */
  const refusal = (index: number, error: unknown) => {
    const refused = s.dialect.apiError(error)
    if (refused instanceof InvalidValue) return new InvalidValue(`${label(index)}: ${refused.message}`)
    return write.rowLabel && refused instanceof ConstraintFailed ? new ConstraintFailed(`${label(index)}: ${refused.message}`) : error
  }
  if (probe) {
    // Each key is looked up just before its row is written: an earlier row of the batch may have added it.
    for (let index = 0; index < prepared.length; index++) {
      const { shape, values, key } = prepared[index]!
      const existed = key ? (yield { want: 'get', statement: probe, params: key }) !== null : false
      let result: RunResult
      try {
        // Yielded directly rather than through run(): one generator fewer per row on the hottest loop.
        result = (yield { want: 'run', statement: shape.statement, params: values }) as RunResult
      } catch (error) {
        throw refusal(index, error)
      }
      added += existed ? 0 : 1
      if (result.changes === 0) skipped.add(index)
      if (key) written.push(key)
      else if (result.changes > 0 && keyIsRowid(table)) written.push([result.lastInsertRowid])
      else written.push(null)
    }
  } else {
    // Runs of rows with one shape go to the store together, which may send them in one flight or one statement.
    for (let start = 0; start < prepared.length; ) {
      const shape = prepared[start]!.shape
      let end = start + 1
      while (end < prepared.length && prepared[end]!.shape === shape) end++
      const run = prepared.slice(start, end)
      let result: EachResult
      try {
        result = (yield {
          want: 'runEach',
          statement: shape.statement,
          rows: run.map((row) => row.values),
          keys: run.map((row) => row.key),
          many: shape.many,
        }) as EachResult
      } catch (error) {
        if (error instanceof RowFailure) throw refusal(start + error.index, error.cause)
        throw error
      }
      if (result.inserted !== undefined) added += result.inserted
      else if (!replaces) added += result.changes
      if (result.changed) result.changed.forEach((changed, i) => changed || skipped.add(start + i))
      run.forEach(({ key }, i) => {
        const generated = result.generated[i]
        if (key) written.push(key)
        else if (generated !== null && generated !== undefined && keyIsRowid(table)) written.push([generated])
        else written.push(null)
      })
      start = end
    }
  }
  if (batchKeys !== undefined) added += yield* countExisting(s, table, keys[0]!, batchKeys)
  s.counts?.add(table.name, added)
  // Asked inline rather than through recordChangesPath: on a one-row write, a generator costs as much as the question.
  const logged = prepared.length - skipped.size
  const op = replaces ? 'upsert' : 'insert'
  const changes = () =>
    prepared.flatMap((_, index) => (skipped.has(index) ? [] : [{ op, key: written[index]!, row: rowJson(table, write.rows[index]!) } as const]))
  const last = logged > 0 ? ((yield feedRequest(table.name, logged, changes)) as number | null) : null
  if (last !== null) yield* logChanges(s, table.name, last, changes())
  return { table, keys: written }
}

/** A written row as the change feed shows it: the columns the write set, under the table's names for them, as sent. */
function rowJson(table: TableInfo, row: RowEntries): string {
  return stringifyJson(Object.fromEntries(row.map(([name, value]) => [columnFor(table, name) ?? name, value])))
}

export function* readRowsByKeyPath(s: Session, table: TableInfo, keys: Array<SqlValue[] | null>): Path<Record<string, unknown>[]> {
  // The same columns and query as the read API's row URL, so a returned row looks exactly like a read one.
  const columns = visibleColumns(table)
  const rows: Record<string, unknown>[] = []
  for (const key of keys) {
    if (!key) continue
    const { sql, params } = selectRowSql(table.name, columns, keyColumns(table), key)
    const values = (yield* rowsByKey(s, sql, params))[0]
    if (values) rows.push(rowFromValues(columns, values))
  }
  return rows
}

export interface RowUpdate {
  table: TableInfo
  key: SqlValue[]
  update: RowEntries
  alter: boolean
}

export function* updateRowPath(s: Session, request: RowUpdate): Path<boolean> {
  const table = yield* addMissingColumns(s, request.table, [request.update], request.alter)
  if (request.update.length === 0) return (yield* readRowsByKeyPath(s, table, [request.key])).length > 0
  const columns = request.update.map(([name]) => columnFor(table, name)!)
  const values = request.update.map(([name, value], i) => cellValue(value, convertsText(table, columns[i]!), () => `Column ${JSON.stringify(name)}`))
  const result = yield* run(statementOf(s.dialect.updateByKey(table.name, columns, keyColumns(table))), [...values, ...request.key])
  yield* recordChangesPath(s, table.name, result.changes > 0 ? 1 : 0, () => [{ op: 'update', key: request.key, row: rowJson(table, request.update) }])
  return result.changes > 0
}

export function* deleteRowPath(s: Session, table: TableInfo, key: SqlValue[]): Path<boolean> {
  const deleted = (yield* run(statementOf(s.dialect.deleteByKey(table.name, keyColumns(table))), key)).changes
  s.counts?.add(table.name, -deleted)
  yield* recordChangesPath(s, table.name, deleted > 0 ? 1 : 0, () => [{ op: 'delete', key }])
  return deleted > 0
}

export function* dropTablePath(s: Session, table: TableInfo): Path<void> {
  yield* exec(s.dialect.dropTable(table.name))
  s.counts?.forget(table.name)
}
