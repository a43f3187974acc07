/** Infers SQLite column types from JSON rows, the way sqlite-utils does. */
import { FloatLiteral, type JsonValue } from './json'
import { identifierKey } from './identifiers'
import { isBase64Value, isRawValue } from './values'

export type ColumnType = 'INTEGER' | 'REAL' | 'TEXT' | 'BLOB'
type ValueKind = 'integer' | 'float' | 'text' | 'blob'

export interface ColumnSpec {
  name: string
  type: ColumnType
}

function kindOf(value: JsonValue): ValueKind | null {
  if (value === null) return null
  if (typeof value === 'boolean' || typeof value === 'bigint') return 'integer'
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'float'
  if (value instanceof FloatLiteral) return 'float'
  if (typeof value === 'object' && !Array.isArray(value)) {
    if (isBase64Value(value)) return 'blob'
    if (isRawValue(value)) {
      const raw = (value as { $raw?: JsonValue }).$raw ?? null
      return raw !== null && typeof raw === 'object' && !(raw instanceof FloatLiteral) ? 'text' : kindOf(raw)
    }
  }
  return 'text'
}

interface SeenColumn {
  name: string
  kinds: Set<ValueKind>
  /** The kind added last: a column's values are mostly of one kind, which then skips the set. */
  last?: ValueKind
}

function addKind(column: SeenColumn, value: JsonValue): void {
  const kind = kindOf(value)
  if (kind === null || kind === column.last) return
  column.kinds.add(kind)
  column.last = kind
}

/** One column's type from the kinds of value seen in it: integers and floats make REAL, other mixes TEXT. */
function typeOfKinds(kinds: Set<ValueKind>): ColumnType {
  if (kinds.size === 0) return 'TEXT'
  if (kinds.size === 1) {
    const [only] = kinds
    return ({ integer: 'INTEGER', float: 'REAL', text: 'TEXT', blob: 'BLOB' } as const)[only!]
  }
  if (kinds.size === 2 && kinds.has('integer') && kinds.has('float')) return 'REAL'
  return 'TEXT'
}

/** The kinds of value seen in each column, fed row by row: inferColumns over any number of rows, without keeping them. */
export class ColumnKinds {
  private readonly seen = new Map<string, SeenColumn>()
  /** The names of the last row added without `only`, and their columns: rows usually repeat them, so a cell costs one kind check. */
  private lastNames: string[] = []
  private lastColumns: SeenColumn[] = []

  /** Keys are matched ignoring ASCII case, as SQLite does; the first spelling seen names the column. */
  add(row: ReadonlyArray<readonly [string, JsonValue]>, only?: (key: string) => boolean): void {
    if (!only && row.length === this.lastNames.length && row.every(([name], i) => name === this.lastNames[i])) {
      for (let i = 0; i < row.length; i++) addKind(this.lastColumns[i]!, row[i]![1])
      return
    }
    const columns: SeenColumn[] = []
    for (const [name, value] of row) {
      if (only && !only(name)) continue
      const key = identifierKey(name)
      let column = this.seen.get(key)
      if (!column) this.seen.set(key, (column = { name, kinds: new Set() }))
      addKind(column, value)
      columns.push(column)
    }
    if (only) return
    this.lastNames = row.map(([name]) => name)
    this.lastColumns = columns
  }

  /** Whether some value of the column was a number: turning the column to TEXT or REAL then changes stored values. */
  hasNumbers(name: string): boolean {
    const kinds = this.seen.get(identifierKey(name))?.kinds
    return kinds !== undefined && (kinds.has('integer') || kinds.has('float'))
  }

  columns(): ColumnSpec[] {
    return [...this.seen.values()].map(({ name, kinds }) => ({ name, type: typeOfKinds(kinds) }))
  }
}

/** Columns for the keys of `rows`, in order of first appearance, typed as sqlite-utils types them. */
export function inferColumns(rows: ReadonlyArray<ReadonlyArray<readonly [string, JsonValue]>>, only?: (key: string) => boolean): ColumnSpec[] {
  const kinds = new ColumnKinds()
  for (const row of rows) kinds.add(row, only)
  return kinds.columns()
}
