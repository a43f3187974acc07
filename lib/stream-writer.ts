/** Writes a streamed upload batch by batch inside one transaction, typing a new table's columns by all of their values. */
import type { TableInfo } from './store/table'
import { ApiError, UnknownKeys } from './errors'
import { identifierKey, INTERNAL_TABLE_PREFIX } from './identifiers'
import type { IngestBatch } from './ingest'
import { ColumnKinds, type ColumnType } from './schema'
import { exec, table as lookUp, type Path, type Session } from './store/path'
import { writeRowsPath, type RowsWrite } from './writer'

export type StreamTarget = Omit<RowsWrite, 'rows' | 'rowLabel'>

export class StreamWriter {
  /** Rows written so far. */
  rows = 0
  private table: TableInfo | undefined
  private created = false
  private readonly kinds = new ColumnKinds()

  constructor(private readonly target: StreamTarget) {}

  /** Writes one batch; errors name the body's line. */
  *writePath(s: Session, batch: IngestBatch): Path<void> {
    if (this.table === undefined && (yield* lookUp(this.target.table)) === undefined) this.created = true
    const rows = batch.rows.map((row) => row.entries)
    if (this.created) for (const row of rows) this.kinds.add(row)
    if (this.created && this.table && s.dialect.strictTypes) this.table = yield* this.widenColumns(s, this.table)
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
   * On an engine whose columns refuse other types, a column of a table this upload created is widened (INTEGER to
   * REAL or TEXT) as soon as a batch brings values it cannot hold, so the batch can be written at all.
   */
  private *widenColumns(s: Session, table: TableInfo): Path<TableInfo> {
    const changes = this.retyped(table)
    if (changes.length === 0) return table
    for (const { name, type } of changes) yield* exec(s.dialect.widenColumn(table.name, name, type))
    return (yield* lookUp(table.name))!
  }

  /** The non-key columns whose values so far call for another type than the table gives them. */
  private retyped(table: TableInfo): Array<{ name: string; type: ColumnType }> {
    const wanted = new Map(this.kinds.columns().map((column) => [identifierKey(column.name), column.type]))
    const keyColumns = new Set(table.pks.map(identifierKey))
    return table.columns.flatMap((column) => {
      const type = keyColumns.has(identifierKey(column.name)) ? undefined : wanted.get(identifierKey(column.name))
      return type !== undefined && type !== column.type ? [{ name: column.name, type }] : []
    })
  }

  /**
   * A table this upload created got column types from its first rows; when all of a column's values call for another
   * type (sqlite-utils' --detect-types rule), the table is rebuilt with it. Tables that already existed keep theirs.
   */
  *finishPath(s: Session): Path<TableInfo | undefined> {
    const table = this.table
    if (!table || !this.created || s.dialect.strictTypes) return table
    const changes = new Map(this.retyped(table).map(({ name, type }) => [name, type]))
    if (changes.size === 0) return table
    const columns = table.columns.map((column) => ({ name: column.name, type: changes.get(column.name) ?? (column.type as ColumnType) }))
    const scratch = `${INTERNAL_TABLE_PREFIX}rebuild`
    yield* exec(s.dialect.createTable(scratch, columns, table.pks))
    yield* exec(
      s.dialect.copyRows(
        table.name,
        scratch,
        columns.map((column) => column.name),
        table.pks.length === 0,
      ),
    )
    yield* exec(s.dialect.dropTable(table.name))
    yield* exec(s.dialect.renameTable(scratch, table.name))
    return yield* lookUp(table.name)
  }
}
