/** What every store tells the paths about a table: its columns, key and the flags the write path decides by. */

export interface ColumnInfo {
  name: string
  type: string
  notNull: boolean
  defaultValue: string | null
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number
}

export interface TableInfo {
  name: string
  columns: ColumnInfo[]
  /** Primary key columns in key order; empty for a rowid table. */
  pks: string[]
  /** Columns by identifierKey, so `Name` finds `name` as SQLite would. */
  columnsByKey: Map<string, ColumnInfo>
  withoutRowid: boolean
  /** UNIQUE indexes besides the primary key: a REPLACE may then delete rows other than the one with the same key. */
  otherUniqueIndexes: boolean
}

/** The columns that identify a row: the primary key, or `rowid` for a rowid table. */
export function keyColumns(table: TableInfo): string[] {
  return table.pks.length ? table.pks : ['rowid']
}

/** A user table's name and its place in creation order. */
export interface TableListing {
  name: string
  position: number
}
