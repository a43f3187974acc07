/** Writes a streamed upload batch by batch inside one transaction, typing a new table's columns by all of their values. */
import type { TableInfo } from './store/table'
import type { SqliteConnection } from './store/sqlite/connection'
import { ApiError, UnknownKeys } from './errors'
import { identifierKey, INTERNAL_TABLE_PREFIX } from './identifiers'
import type { IngestBatch } from './ingest'
import { ColumnKinds } from './schema'
import { copyRowsSql, createTableSql, dropTableSql, renameTableSql } from './sql'
import { writeRows, type RowsWrite } from './writer'

export type StreamTarget = Omit<RowsWrite, 'rows' | 'rowLabel'>

export class StreamWriter {
  /** Rows written so far. */
  rows = 0
  private table: TableInfo | undefined
  private created = false
  private readonly kinds = new ColumnKinds()

  constructor(
    private readonly db: SqliteConnection,
    private readonly target: StreamTarget,
  ) {}

  /** Writes one batch synchronously; errors name the body's line. */
  write(batch: IngestBatch): void {
    if (this.table === undefined && this.db.table(this.target.table) === undefined) this.created = true
    const rows = batch.rows.map((row) => row.entries)
    if (this.created) for (const row of rows) this.kinds.add(row)
    try {
      this.table = writeRows(this.db, {
        ...this.target,
        // Later lines may bring keys the first ones lacked: on a table this upload creates, they become columns.
        alter: this.target.alter || this.created,
        rows,
        rowLabel: (index) => `Line ${batch.rows[index]!.line}`,
        recount: true,
      }).table
    } catch (error) {
      if (!(error instanceof UnknownKeys)) throw error
      const known = this.db.table(this.target.table)!
      const first = batch.rows.find((row) => row.entries.some(([name]) => !known.columnsByKey.has(identifierKey(name))))
      throw new ApiError(400, error.code, `Line ${first?.line ?? '?'}: ${error.message}`)
    }
    this.rows += rows.length
  }

  /**
   * A table this upload created got column types from its first rows; when all of a column's values call for another
   * type (sqlite-utils' --detect-types rule), the table is rebuilt with it. Tables that already existed keep theirs.
   */
  finish(): TableInfo | undefined {
    const table = this.table
    if (!table || !this.created) return table
    const wanted = new Map(this.kinds.columns().map((column) => [identifierKey(column.name), column.type]))
    const keyColumns = new Set(table.pks.map(identifierKey))
    const columns = table.columns.map((column) => {
      const type = keyColumns.has(identifierKey(column.name)) ? undefined : wanted.get(identifierKey(column.name))
      return { name: column.name, type: type ?? (column.type as 'INTEGER' | 'REAL' | 'TEXT' | 'BLOB') }
    })
    if (columns.every((column, index) => column.type === table.columns[index]!.type)) return table
    const scratch = `${INTERNAL_TABLE_PREFIX}rebuild`
    this.db.run(createTableSql(scratch, columns, table.pks))
    this.db.run(copyRowsSql(table.name, scratch, columns.map((column) => column.name), table.pks.length === 0))
    this.db.run(dropTableSql(table.name))
    this.db.run(renameTableSql(scratch, table.name))
    return this.db.table(table.name)
  }
}
