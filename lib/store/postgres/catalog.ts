/** What PostgreSQL's catalogue says about the tables of the current schema, as TableInfo the paths understand. */
import { identifierKey, isReservedTableName, quoteIdentifier as q } from '../../identifiers'
import type { ColumnInfo, TableInfo } from '../table'

/** One row per column of every ordinary table in the current schema (or of the tables whose name matches `$1`). */
const COLUMNS_SQL = `
SELECT c.oid::bigint AS oid, c.relname AS table, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, pg_get_expr(d.adbin, d.adrelid) AS default, a.attidentity <> '' AS identity,
       coalesce(array_position(pk.conkey, a.attnum), 0) AS pk,
       EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisunique AND NOT i.indisprimary) AS other_unique,
       (SELECT json_build_array(fc.relname, fa.attname)::text FROM pg_constraint f JOIN pg_class fc ON fc.oid = f.confrelid
          JOIN pg_attribute fa ON fa.attrelid = f.confrelid AND fa.attnum = f.confkey[1]
          WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.conkey = ARRAY[a.attnum] ORDER BY f.oid LIMIT 1) AS refers_to
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN pg_constraint pk ON pk.conrelid = c.oid AND pk.contype = 'p'
WHERE c.relkind IN ('r', 'p')`

/** Every table, in creation order (oid), columns in table order. */
export const ALL_TABLES_SQL = `${COLUMNS_SQL} ORDER BY c.oid, a.attnum`
/** The tables whose name is `$1` ignoring case (rowpost matches names ignoring ASCII case, as SQLite does). */
export const NAMED_TABLE_SQL = `${COLUMNS_SQL} AND lower(c.relname) = lower($1) ORDER BY c.oid, a.attnum`

export interface CatalogRow {
  oid: bigint | number
  table: string
  name: string
  type: string
  not_null: boolean
  default: string | null
  identity: boolean
  pk: number
  other_unique: boolean
  /** `["table", "column"]` of the column's single-column foreign key, as JSON text, or null. */
  refers_to: string | null
}

/** PostgreSQL's type names in the families SQLite's affinity rules (lib/values.ts) decide by. */
function familyOf(type: string): string {
  if (/^(bigint|integer|smallint)$/.test(type)) return 'INTEGER'
  if (/^(double precision|real)$/.test(type)) return 'REAL'
  if (/^(text|character varying.*|character.*)$/.test(type)) return 'TEXT'
  if (type === 'bytea') return 'BLOB'
  if (type.startsWith('numeric')) return 'NUMERIC'
  return type.toUpperCase()
}

export interface CatalogTable {
  info: TableInfo
  /** The oid: creation order, and where a paged listing resumes. */
  position: number
  /** Each column's PostgreSQL type, for the CREATE TABLE statement shown to clients. */
  types: Map<string, string>
  /** A rowid table: its `rowid` key column stays out of the columns, as SQLite hides its rowid. */
  rowid: boolean
  /** The [table, column] each column with a foreign key refers to. */
  references: Map<string, [string, string]>
}

/**
 * Groups catalogue rows into tables. A table whose key is one bigint column named `rowid` is a rowid table, as
 * rowpost creates them: its `rowid` stays out of the columns, as SQLite's does. rowpost's own tables are left out, and
 * so are tables without a primary key.
 */
export function tablesFrom(rows: CatalogRow[]): CatalogTable[] {
  const grouped = new Map<string, CatalogRow[]>()
  for (const row of rows) {
    if (isReservedTableName(row.table)) continue
    const key = String(row.oid)
    if (!grouped.has(key)) grouped.set(key, [])
    grouped.get(key)!.push(row)
  }
  // A table with no primary key (made by other tools: rowpost gives every table one) has no way to address its rows.
  return [...grouped.values()]
    .filter((columns) => columns.some((column) => column.pk > 0))
    .map((columns) => {
      const keyRows = columns.filter((column) => column.pk > 0)
      const rowid = keyRows.length === 1 && keyRows[0]!.name === 'rowid' && keyRows[0]!.type === 'bigint'
      const visible = rowid ? columns.filter((column) => column.name !== 'rowid') : columns
      const infos: ColumnInfo[] = visible.map((column) => ({
        name: column.name,
        type: familyOf(column.type),
        notNull: column.not_null,
        defaultValue: column.identity ? null : column.default,
        pk: rowid ? 0 : column.pk,
      }))
      const pks = infos
        .filter((column) => column.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((column) => column.name)
      const singleInteger = pks.length === 1 && infos.find((column) => column.name === pks[0])?.type === 'INTEGER'
      const info: TableInfo = {
        name: columns[0]!.table,
        columns: infos,
        pks,
        columnsByKey: new Map(infos.map((column) => [identifierKey(column.name), column])),
        // Only a rowid table or a single INTEGER key gets a generated key back from an insert, as SQLite's rowid tables do.
        withoutRowid: pks.length > 0 && !singleInteger,
        otherUniqueIndexes: columns[0]!.other_unique,
      }
      const references = new Map(
        columns.filter((column) => column.refers_to !== null).map((column) => [column.name, JSON.parse(column.refers_to!) as [string, string]]),
      )
      return {
        info,
        position: Number(columns[0]!.oid),
        types: new Map(columns.map((column) => [column.name, column.identity ? `${column.type} GENERATED BY DEFAULT AS IDENTITY` : column.type])),
        rowid,
        references,
      }
    })
}

/** A CREATE TABLE statement for the table as the catalogue describes it (PostgreSQL keeps none verbatim). */
export function createStatement(table: CatalogTable): string {
  const { info } = table
  const lines: string[] = table.rowid ? ['"rowid" bigint PRIMARY KEY'] : []
  const single = info.pks.length === 1 ? info.pks[0] : undefined
  for (const column of info.columns) {
    let line = `${q(column.name)} ${table.types.get(column.name)}`
    if (column.name === single) line += ' PRIMARY KEY'
    if (column.notNull && column.name !== single) line += ' NOT NULL'
    if (column.defaultValue !== null) line += ` DEFAULT ${column.defaultValue}`
    const target = table.references.get(column.name)
    if (target) line += ` REFERENCES ${q(target[0])}(${q(target[1])})`
    lines.push(line)
  }
  if (info.pks.length > 1) lines.push(`PRIMARY KEY (${info.pks.map(q).join(', ')})`)
  return `CREATE TABLE ${q(info.name)} (\n${lines.map((line) => `   ${line}`).join(',\n')}\n)`
}
