/** Table and column names: the one place they are quoted for SQL, validated, and tilde-coded for URLs. */
import { InvalidName } from './errors'

/** Quotes a table or column name for SQL: double quotes, inner quotes doubled. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}

/** SQLite compares identifiers ignoring ASCII case only, so this is the key that decides "same column". */
export function identifierKey(name: string): string {
  // Called for every key of every row: skip the regex when there is no ASCII capital, the common case.
  for (let i = 0; i < name.length; i++) {
    const code = name.charCodeAt(i)
    if (code >= 65 && code <= 90) return name.replace(/[A-Z]/g, (letter) => letter.toLowerCase())
  }
  return name
}

/** rowpost's own bookkeeping tables (stored Idempotency-Key responses): never listed, read or written through the API. */
export const INTERNAL_TABLE_PREFIX = '_rowpost_'

/** Tables that belong to SQLite (`sqlite_…`) or to rowpost itself (`_rowpost_…`). */
export function isReservedTableName(name: string): boolean {
  const key = identifierKey(name)
  return key.startsWith('sqlite_') || key.startsWith(INTERNAL_TABLE_PREFIX)
}

/** Refuses table names rowpost must never create or write to. */
export function assertWritableTableName(name: string): void {
  if (name === '') throw new InvalidName('Table name must not be empty')
  if (name.includes('\0')) throw new InvalidName('Table name must not contain a NUL character')
  if (!name.isWellFormed()) throw new InvalidName(`Table name ${JSON.stringify(name)} is not valid Unicode (it has a lone surrogate)`)
  if (isReservedTableName(name)) {
    const owner = identifierKey(name).startsWith('sqlite_') ? 'sqlite_ belong to SQLite' : `${INTERNAL_TABLE_PREFIX} belong to rowpost`
    throw new InvalidName(`Table name ${JSON.stringify(name)} is reserved: names starting with ${owner}`)
  }
}

/** C0 and C1 control characters, and white space at either end (Unicode White_Space; U+FEFF is not white space). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/
const EDGE_SPACE = /^[\s\u0085]|[\s\u0085]$/u
const BOM = '\ufeff'

/**
 * Refuses names for a table rowpost is about to create that a person could not tell apart from another table's name
 * in a listing or a log: `"audit "` beside `audit`, or a name broken by a newline. Existing tables keep working
 * whatever their names; only new ones are held to this.
 */
export function assertNewTableName(name: string): void {
  assertWritableTableName(name)
  if (CONTROL.test(name)) throw new InvalidName(`Table name ${JSON.stringify(name)} must not contain control characters such as a newline or a tab`)
  const edgeSpace = EDGE_SPACE.test(name.replaceAll(BOM, 'x'))
  if (edgeSpace) throw new InvalidName(`Table name ${JSON.stringify(name)} must not begin or end with white space`)
}

/** Refuses column names SQLite cannot hold. */
export function assertColumnName(name: string): void {
  if (name === '') throw new InvalidName('Column name must not be empty')
  if (name.includes('\0')) throw new InvalidName(`Column name ${JSON.stringify(name)} must not contain a NUL character`)
  // SQLite stores names as UTF-8, which cannot hold a lone surrogate: the column would come back under another name.
  if (!name.isWellFormed()) throw new InvalidName(`Column name ${JSON.stringify(name)} is not valid Unicode (it has a lone surrogate)`)
}

const TILDE_SAFE = /[A-Za-z0-9_-]/
const utf8 = new TextEncoder()

/** Datasette's tilde encoding for names and key values in URL paths. */
export function tildeEncode(value: string): string {
  let encoded = ''
  for (const char of value) {
    if (TILDE_SAFE.test(char)) encoded += char
    else if (char === ' ') encoded += '+'
    else for (const byte of utf8.encode(char)) encoded += `~${byte.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}

/** Reverses tildeEncode; a malformed escape is kept literally, as Datasette does. */
export function tildeDecode(value: string): string {
  return value.replaceAll('+', ' ').replace(/(?:~[0-9A-Fa-f]{2})+/g, (run) =>
    // ignoreBOM: a name may really begin with U+FEFF, and decoding must not drop it.
    new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(run.slice(1).split('~'), (hex) => parseInt(hex, 16))),
  )
}
