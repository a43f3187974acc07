/** CSV and TSV text from rows of SQLite values, written as Datasette writes it with Python's csv module (excel dialect). */
import type { SqlValue } from './values'

export type Delimiter = ',' | '\t'

export interface CsvOptions {
  /** `,` for CSV (default), a tab for TSV. */
  delimiter?: Delimiter
  /**
   * The text for a BLOB cell. Datasette writes a URL to the blob there; the default writes its bytes as base64, the
   * `encoded` of the JSON API's `{"$base64": true, "encoded": ...}`, so the bytes stay recoverable from the file.
   */
  blob?: (value: Uint8Array, column: number, row: readonly SqlValue[]) => string
}

const CRLF = '\r\n'

/** A float as Python's repr() writes it: the shortest text that reads back exactly, `1.0`, `1e+16`, `1.5e-07`, `inf`. */
export function pythonFloat(value: number): string {
  if (Number.isNaN(value)) return 'nan'
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf'
  if (value === 0) return Object.is(value, -0) ? '-0.0' : '0.0'
  const [mantissa, exponentText] = value.toExponential().split('e') as [string, string]
  const exponent = Number(exponentText)
  const negative = mantissa.startsWith('-')
  const digits = mantissa.replace('-', '').replace('.', '')
  const sign = negative ? '-' : ''
  // Python's repr switches to exponent notation below 1e-4 and from 1e16 on.
  if (exponent < -4 || exponent >= 16) {
    const fraction = digits.length > 1 ? `.${digits.slice(1)}` : ''
    const magnitude = String(Math.abs(exponent)).padStart(2, '0')
    return `${sign}${digits[0]}${fraction}e${exponent < 0 ? '-' : '+'}${magnitude}`
  }
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`
  const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0')
  const fraction = digits.slice(exponent + 1) || '0'
  return `${sign}${whole}.${fraction}`
}

/**
 * One cell's text before quoting. Values are as bun:sqlite reads them with safeIntegers: every INTEGER a bigint, so a
 * JavaScript number is always a REAL and is written as a float (`1.0`), as Python writes SQLite's REALs.
 */
function cellText(value: SqlValue, column: number, row: readonly SqlValue[], options: CsvOptions): string {
  if (value === null) return ''
  if (typeof value === 'string') return value
  if (typeof value === 'bigint') return value.toString()
  if (typeof value === 'number') return pythonFloat(value)
  return options.blob ? options.blob(value, column, row) : Buffer.from(value).toString('base64')
}

/** Python's QUOTE_MINIMAL: quote a field holding the delimiter, a double quote, CR or LF; double the quotes inside. */
function quoteField(text: string, delimiter: Delimiter): string {
  for (let i = 0; i < text.length; i++) {
    const char = text[i]
    if (char === delimiter || char === '"' || char === '\r' || char === '\n') return `"${text.replaceAll('"', '""')}"`
  }
  return text
}

/** One record with its CRLF. A record of one empty field is written `""`, as Python does, so it is not a blank line. */
export function csvRow(row: readonly SqlValue[], options: CsvOptions = {}): string {
  const delimiter = options.delimiter ?? ','
  if (row.length === 1 && cellText(row[0]!, 0, row, options) === '') return `""${CRLF}`
  let line = ''
  for (let i = 0; i < row.length; i++) {
    if (i > 0) line += delimiter
    line += quoteField(cellText(row[i]!, i, row, options), delimiter)
  }
  return line + CRLF
}

/** The header record: the column names, quoted like any text. */
export const csvHeader = (columns: readonly string[], options: CsvOptions = {}) => csvRow(columns, options)

/** A whole document: the header (unless `header` is false), then each row. */
export function csvText(columns: readonly string[], rows: Iterable<readonly SqlValue[]>, options: CsvOptions & { header?: boolean } = {}): string {
  let text = options.header === false ? '' : csvHeader(columns, options)
  for (const row of rows) text += csvRow(row, options)
  return text
}

/** The same document as text chunks, one per batch of rows (the header alone first), for a streamed response. */
export async function* csvChunks(
  columns: readonly string[],
  batches: AsyncIterable<readonly (readonly SqlValue[])[]> | Iterable<readonly (readonly SqlValue[])[]>,
  options: CsvOptions & { header?: boolean } = {},
): AsyncGenerator<string> {
  if (options.header !== false) yield csvHeader(columns, options)
  for await (const batch of batches) {
    if (batch.length > 0) yield csvText(columns, batch, { ...options, header: false })
  }
}

/**
 * A byte stream of UTF-8 text chunks, pulled one at a time so a slow client holds back the producer (constant memory).
 * Cancelling the stream (the client went away) ends the generator, which releases what it holds, and calls `release`:
 * a generator cancelled before it reached its own `try` never runs its `finally`.
 */
export function textStream(chunks: AsyncIterable<string>, release?: () => void): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]()
  const encoder = new TextEncoder()
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { value, done } = await iterator.next()
        if (done) controller.close()
        else controller.enqueue(encoder.encode(value))
      },
      async cancel() {
        release?.()
        await iterator.return?.()
      },
    },
    { highWaterMark: 0 },
  )
}
