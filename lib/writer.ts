/** The write path: creates and alters tables and writes rows, all inside one synchronous transaction per request. */
import { InvalidBody, InvalidName, MissingPk, MissingTable, PkMismatch, UnknownKeys } from './errors'
import type { RowpostDatabase, TableInfo } from './database'
import { assertColumnName, assertWritableTableName, identifierKey } from './identifiers'
import { MAX_COLUMNS, type RowEntries } from './rows'
import { inferColumns } from './schema'
import { addColumnSql, createTableSql, insertSql, upsertSql, type ConflictMode } from './sql'
import { toSqlValue, type SqlValue } from './values'

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
}

export interface RowsWritten {
  table: TableInfo
  /** rowid of each written row, in request order. */
  rowids: number[]
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

function createTable(db: RowpostDatabase, write: RowsWrite): TableInfo {
  assertWritableTableName(write.table)
  if (write.rows.length === 0) throw new InvalidBody(`Cannot create table ${write.table} from an empty list of rows`)
  const columns = inferColumns(write.rows)
  const byKey = new Map(columns.map((column) => [identifierKey(column.name), column]))
  const pks = uniquePks(write.pks).map((pk) => byKey.get(identifierKey(pk))?.name ?? pk)
  const missingPks = pks.filter((pk) => !byKey.has(identifierKey(pk)))
  columns.unshift(...missingPks.map((name) => ({ name, type: 'INTEGER' as const })))
  if (columns.length > MAX_COLUMNS) throw new InvalidBody(`Table would have ${columns.length} columns; SQLite allows at most ${MAX_COLUMNS}`)
  db.connection.run(createTableSql(write.table, columns, pks))
  return db.table(write.table)!
}

function addMissingColumns(db: RowpostDatabase, table: TableInfo, write: RowsWrite): TableInfo {
  const missing = inferColumns(write.rows, (name) => !table.columnsByKey.has(identifierKey(name)))
  if (missing.length === 0) return table
  if (!write.alter) throw new UnknownKeys(table.name, missing[0]!.name)
  if (table.columns.length + missing.length > MAX_COLUMNS) {
    throw new InvalidBody(`Table ${table.name} would have ${table.columns.length + missing.length} columns; SQLite allows at most ${MAX_COLUMNS}`)
  }
  for (const column of missing) db.connection.run(addColumnSql(table.name, column))
  return db.table(table.name)!
}

/** The table, created or altered as the request allows. Runs inside the write transaction. */
export function prepareTable(db: RowpostDatabase, write: RowsWrite): TableInfo {
  const existing = db.table(write.table)
  if (!existing) {
    if (!write.mayCreate) throw new MissingTable(write.table)
    return createTable(db, write)
  }
  return addMissingColumns(db, existing, write)
}

function assertUpsertKey(table: TableInfo, write: RowsWrite): void {
  const wanted = write.pks.map(identifierKey).sort().join('\0')
  if (table.pks.length === 0 || wanted !== table.pks.map(identifierKey).sort().join('\0')) {
    throw new PkMismatch(table.name, table.pks, write.pks)
  }
  write.rows.forEach((row, index) => {
    const present = new Set(row.filter(([, value]) => value !== null).map(([name]) => identifierKey(name)))
    if (!table.pks.every((pk) => present.has(identifierKey(pk)))) throw new MissingPk(index, table.pks)
  })
}

/** Writes every row of the request; call inside db.writeTransaction. */
export function writeRows(db: RowpostDatabase, write: RowsWrite): RowsWritten {
  const table = prepareTable(db, write)
  if (write.mode === 'upsert') assertUpsertKey(table, write)
  const rowids: number[] = []
  let signature: string | undefined
  let statement: ReturnType<RowpostDatabase['statement']> | undefined
  write.rows.forEach((row, index) => {
    const columns = row.map(([name]) => table.columnsByKey.get(identifierKey(name))!.name)
    const rowSignature = columns.join('\0')
    if (rowSignature !== signature || !statement) {
      signature = rowSignature
      const sql = write.mode === 'upsert' ? upsertSql(table.name, columns, table.pks) : insertSql(table.name, columns, write.mode)
      statement = db.statement(sql)
    }
    const values: SqlValue[] = row.map(([name, value]) => toSqlValue(value, `Row ${index} column ${JSON.stringify(name)}`))
    const result = statement.run(...(values as never[]))
    rowids.push(Number(result.lastInsertRowid))
  })
  return { table, rowids }
}
