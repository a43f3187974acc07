/** Converts JSON values to what SQLite stores, and stored values back to JSON. */
import { InvalidValue } from './errors'
import { FloatLiteral, formatFloat, storedJson, stringifyJson, type JsonValue } from './json'

export type SqlValue = null | number | bigint | string | Uint8Array

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

type JsonObject = { [key: string]: JsonValue }

const isPlainObject = (value: JsonValue): value is JsonObject =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof FloatLiteral)

/** Datasette's binary form: `{"$base64": true, "encoded": "..."}`. */
export function isBase64Value(value: JsonValue): value is JsonObject {
  return isPlainObject(value) && value.$base64 === true && Object.keys(value).length === 2 && 'encoded' in value
}

/** `{"$raw": X}`: X is stored as it is: a scalar as itself, an object or array as its JSON text, never decoded further. */
export function isRawValue(value: JsonValue): value is JsonObject {
  return isPlainObject(value) && Object.keys(value).length === 1 && Object.hasOwn(value, '$raw')
}

/** The SQLite value for one cell; `describe` names the cell in error messages (only called on error: it is on the hot path). */
export function toSqlValue(value: JsonValue, describe: () => string): SqlValue {
  if (value === null) return null
  switch (typeof value) {
    case 'boolean':
      return value ? 1 : 0
    case 'string':
      // UTF-8 cannot hold a lone surrogate; SQLite would silently store U+FFFD instead.
      if (!value.isWellFormed()) throw new InvalidValue(`${describe()}: string is not valid Unicode (it has a lone surrogate)`)
      return value
    case 'number':
      if (!Number.isFinite(value)) throw new InvalidValue(`${describe()}: number is out of range`)
      return value
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) {
        throw new InvalidValue(`${describe()}: integer ${value} does not fit in SQLite's 64-bit INTEGER`)
      }
      return value
  }
  if (value instanceof FloatLiteral) {
    if (!Number.isFinite(value.value)) throw new InvalidValue(`${describe()}: number is out of range`)
    return value.value
  }
  if (isBase64Value(value)) {
    const encoded = value.encoded
    if (typeof encoded !== 'string' || !BASE64.test(encoded)) throw new InvalidValue(`${describe()}: "encoded" is not valid base64`)
    return Buffer.from(encoded, 'base64')
  }
  const stored = isRawValue(value) ? value.$raw! : value
  if (stored === null || typeof stored !== 'object' || stored instanceof FloatLiteral) return toSqlValue(stored, describe)
  try {
    return storedJson(stored)
  } catch {
    throw new InvalidValue(`${describe()}: value is nested too deeply to store`)
  }
}

export type Affinity = 'INTEGER' | 'TEXT' | 'BLOB' | 'REAL' | 'NUMERIC'

/** SQLite's rules for the affinity of a declared column type ("Datatypes In SQLite", section 3.1). */
export function affinityOf(declaredType: string): Affinity {
  const type = declaredType.toUpperCase()
  if (type.includes('INT')) return 'INTEGER'
  if (/CHAR|CLOB|TEXT/.test(type)) return 'TEXT'
  if (type === '' || type.includes('BLOB')) return 'BLOB'
  if (/REAL|FLOA|DOUB/.test(type)) return 'REAL'
  return 'NUMERIC'
}

/** Whether a column of this declared type turns number-like text into a number. */
export const convertsTextToNumbers = (declaredType: string) => ['INTEGER', 'REAL', 'NUMERIC'].includes(affinityOf(declaredType))

/** Decimal text as SQLite reads it when converting to a number: ASCII whitespace around, no hex, no words. */
const SQLITE_DECIMAL = /^[ \t\n\v\f\r]*[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[ \t\n\v\f\r]*$/

/**
 * Whether a column that converts text to numbers would store this text as ±Infinity (`"1e999"`), which reads back as
 * null. JavaScript's Number() overflows exactly where SQLite does; it is only a first sieve, since it also reads
 * `Infinity`, hex and Unicode spaces, which SQLite keeps as text.
 */
export function overflowsToInfinity(text: string): boolean {
  if (text.length < 5) return false
  const number = Number(text)
  return (number === Infinity || number === -Infinity) && SQLITE_DECIMAL.test(text)
}

/**
 * A key value as a REAL column stores it, to find its row by: such a column rounds integers past 2^53 (and text
 * spelling them) to the nearest double, while `column = ?` would compare the integer itself and miss the row.
 */
export function asStoredReal(value: SqlValue): SqlValue {
  if (typeof value === 'bigint') return Number(value)
  if (typeof value === 'string' && SQLITE_DECIMAL.test(value)) return Number(value)
  return value
}

/**
 * A stored value as JSON: BLOBs as `$base64`, integers exact (bigint only where a number would round), REALs as
 * floats even when whole (`1.0`). Only for values read with safeIntegers, where every INTEGER arrives as a bigint.
 */
export function fromSqlValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value
  if (typeof value === 'number' && Number.isInteger(value)) return new FloatLiteral(value)
  if (value instanceof Uint8Array) return { $base64: true, encoded: Buffer.from(value).toString('base64') }
  return value
}

/** What JSON.stringify escapes in a string (quote, backslash, control characters, lone surrogates), or a surrogate half of a pair. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what JSON.stringify escapes
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/
const SAFE_MIN = BigInt(Number.MIN_SAFE_INTEGER)
const SAFE_MAX = BigInt(Number.MAX_SAFE_INTEGER)

/**
 * `stringifyJson(fromSqlValue(value))` without building the value: the read path writes every cell of a page with
 * it. A bigint's digits are its JSON whether or not it fits a double (through a double where it does: JSC writes
 * those faster); a REAL is written as fromSqlValue's FloatLiteral or number would be (±Infinity as null); a string
 * with nothing to escape is only quoted; anything rarer (a BLOB, a driver's own type) takes the general route.
 */
export function sqlValueJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return NEEDS_ESCAPE.test(value) ? JSON.stringify(value) : `"${value}"`
    case 'bigint':
      return value >= SAFE_MIN && value <= SAFE_MAX ? String(Number(value)) : value.toString()
    case 'number':
      if (Number.isInteger(value)) return formatFloat(value)
      return Number.isFinite(value) ? String(value) : 'null'
  }
  if (value === null) return 'null'
  return stringifyJson(fromSqlValue(value))
}

/** Writes one stored row as JSON text. */
export type RowJson = (row: readonly unknown[]) => string

const objectWriters = new Map<string, RowJson>()
const WRITER_CACHE_SIZE = 256

/**
 * Writes stored rows as the JSON text of `rowFromValues` objects, keys in the order such an object has them (names
 * that are array indexes first, ascending, as JavaScript orders them). Worked out once per list of columns and kept
 * (a bounded cache, like the statements'), so a page pays only for its values.
 */
export function rowObjectsJson(columns: string[]): RowJson {
  const key = JSON.stringify(columns)
  let writer = objectWriters.get(key)
  if (writer) return writer
  writer = objectWriter(columns)
  if (objectWriters.size >= WRITER_CACHE_SIZE) objectWriters.delete(objectWriters.keys().next().value!)
  objectWriters.set(key, writer)
  return writer
}

/** Columns up to which a row writer is compiled to one expression; wider rows are written by a loop. */
const COMPILED_COLUMNS = 64

function objectWriter(columns: string[]): RowJson {
  const order = Object.entries(Object.fromEntries(columns.map((column, index) => [column, index])))
  if (order.length === 0) return () => '{}'
  const prefixes = order.map(([column], k) => `${k === 0 ? '{' : ','}${JSON.stringify(column)}:`)
  const indexes = order.map(([, index]) => index)
  if (order.length <= COMPILED_COLUMNS) {
    // One concatenation per row instead of a loop of them: about a third less time per page. Only string literals
    // (JSON.stringify's output, which JavaScript reads back as the same string) and integer indexes go into the code.
    const terms = prefixes.map((prefix, k) => `${JSON.stringify(prefix)} + v(row[${indexes[k]}])`)
    return new Function('v', `return (row) => ${terms.join(' + ')} + '}'`)(sqlValueJson) as RowJson
  }
  const count = order.length
  return (row) => {
    let text = ''
    for (let k = 0; k < count; k++) text += prefixes[k]! + sqlValueJson(row[indexes[k]!])
    return `${text}}`
  }
}

/** `rows` written with `write` as a JSON array. */
export function rowsJson(rows: readonly (readonly unknown[])[], write: RowJson): string {
  let text = '['
  for (let i = 0; i < rows.length; i++) text += (i === 0 ? '' : ',') + write(rows[i]!)
  return `${text}]`
}

/** `rows` written with `write` as NDJSON: one line each. */
export function rowsNdjson(rows: readonly (readonly unknown[])[], write: RowJson): string {
  let text = ''
  for (const row of rows) text += `${write(row)}\n`
  return text
}

/** A stored row as the JSON text of the array `row.map(fromSqlValue)`. */
export function rowArrayJson(row: readonly unknown[]): string {
  let text = '['
  for (let i = 0; i < row.length; i++) text += (i === 0 ? '' : ',') + sqlValueJson(row[i])
  return `${text}]`
}

/** A row object from column names and stored values; Object.fromEntries keeps a column named `__proto__` as data. */
export function rowFromValues(columns: string[], values: unknown[]): Record<string, unknown> {
  return Object.fromEntries(columns.map((column, index) => [column, fromSqlValue(values[index])]))
}
