/** Checks request bodies that carry rows and turns them into key/value lists safe for any key, `__proto__` included. */
import { InvalidBody } from './errors'
import { FloatLiteral, type JsonValue } from './json'
import { assertColumnName, identifierKey } from './identifiers'

export type RowEntries = Array<readonly [string, JsonValue]>

const MAX_COLUMNS = 2000

export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof FloatLiteral)
}

/** The key names of the last row that passed the checks: batches usually repeat them row after row. */
let lastValidNames: string[] = []

/** One row object as entries, refusing empty or NUL-bearing names and keys that differ only in case. */
export function rowEntries(row: { [key: string]: JsonValue }, index: number): RowEntries {
  const entries = Object.entries(row)
  if (entries.length > MAX_COLUMNS) throw new InvalidBody(`Row ${index} has ${entries.length} columns; SQLite allows at most ${MAX_COLUMNS}`)
  if (entries.length === lastValidNames.length && entries.every(([name], i) => name === lastValidNames[i])) return entries
  const seen = new Map<string, string>()
  for (const [name] of entries) {
    assertColumnName(name)
    const key = identifierKey(name)
    const twin = seen.get(key)
    if (twin !== undefined) {
      throw new InvalidBody(
        `Row ${index} has keys that differ only in case, which SQLite treats as one column: ${JSON.stringify(twin)}, ${JSON.stringify(name)}`,
      )
    }
    seen.set(key, name)
  }
  lastValidNames = entries.map(([name]) => name)
  return entries
}

/** The legacy body: one object, or an array of objects. */
export function legacyRows(body: JsonValue): RowEntries[] {
  if (isJsonObject(body)) return [rowEntries(body, 0)]
  if (!Array.isArray(body)) throw new InvalidBody('Body must be a JSON object or an array of objects')
  return body.map((row, index) => {
    if (!isJsonObject(row)) throw new InvalidBody(`Item ${index} of the array is not a JSON object`)
    return rowEntries(row, index)
  })
}

export { MAX_COLUMNS }
