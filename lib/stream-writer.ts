/** Writes a streamed upload batch by batch inside one transaction, typing a new table's columns by all of their values. */
import type { TableInfo } from './store/table'
import type { SqliteConnection } from './store/sqlite/connection'
import { ApiError, UnknownKeys } from './errors'
import { identifierKey, INTERNAL_TABLE_PREFIX } from './identifiers'
import type { IngestBatch } from './ingest'
import { ColumnKinds } from './schema'
import { exec, table as lookUp, type Path, type Session } from './store/path'
import { writeRowsPath, type RowsWrite } from './writer'

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

  /** Writes one batch synchronously on SQLite; errors name the body's line. */
  write(batch: IngestBatch): void {
    this.db.drive(this.writePath(this.db, batch))
  }

  /** The TableInfo of what was written, after any rebuild. */
  finish(): TableInfo | undefined {
    return this.db.drive(this.finishPath(this.db))
  }

  *writePath(s: Session, batch: IngestBatch): Path<void> {
    if (this.table === undefined && (yield* lookUp(this.target.table)) === undefined) this.created = true
    const rows = batch.rows.map((row) => row.entries)
    if (this.created) for (const row of rows) this.kinds.add(row)
    try {
      this.table = (yield* writeRowsPath(s, {
        ...this.target,
        // Later lines may bring keys the first ones lacked: on a table this upload creates, they become columns.
        alter: this.target.alter || this.created,
        rows,
        rowLabel: (index) => `Line ${batch.rows[index]!.line}`,
        recount: true,
      })).table
    } catch (error) {
      if (!(error instanceof UnknownKeys)) throw error
      const known = (yield* lookUp(this.target.table))!
      const first = batch.rows.find((row) => row.entries.some(([name]) => !known.columnsByKey.has(identifierKey(name))))
      throw new ApiError(400, error.code, `Line ${first?.line ?? '?'}: ${error.message}`)
    }
    this.rows += rows.length
  }

  /**
   * A table this upload created got column types from its first rows; when all of a column's values call for another
   * type (sqlite-utils' --detect-types rule), the table is rebuilt with it. Tables that already existed keep theirs.
   */
  *finishPath(s: Session): Path<TableInfo | undefined> {
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
    yield* exec(s.dialect.createTable(scratch, columns, table.pks))
    yield* exec(s.dialect.copyRows(table.name, scratch, columns.map((column) => column.name), table.pks.length === 0))
    yield* exec(s.dialect.dropTable(table.name))
    yield* exec(s.dialect.renameTable(scratch, table.name))
    return yield* lookUp(table.name)
  }
}
