/** Streams NDJSON, CSV and TSV request bodies into batches of rows, holding only the current line or record in memory. */
import { ApiError, InvalidBody, InvalidJson, RowTooLarge } from './errors'
import { assertColumnName, identifierKey } from './identifiers'
import { FloatLiteral, parseJson, type JsonValue } from './json'
import { isJsonObject, MAX_COLUMNS, rowEntries, type RowEntries } from './rows'

/** One row of the body; `line` is the 1-based line of the body where it starts. */
export interface IngestRow {
  line: number
  entries: RowEntries
}

/** Rows to write in one synchronous step: at most 250, or about 1 MiB of body text, whichever comes first (a longer row gets a batch of its own). */
export interface IngestBatch {
  rows: IngestRow[]
}

/** A line of a bulk upload that cannot become a row; the message starts with the line number. */
export class InvalidLine extends ApiError {
  constructor(
    readonly line: number,
    detail: string,
    code = 'invalid_body',
  ) {
    super(400, code, `Line ${line}: ${detail}`)
  }
}

/** 250 rather than 1000: 250 MB CSV uploads peaked 10-15 MB lower in resident memory, at the same CPU per row. */
const BATCH_ROWS = 250
/** Counted in UTF-16 code units of the decoded text, which is bytes for ASCII. */
const BATCH_TEXT = 1 << 20

/**
 * Rows of an NDJSON body: one JSON object per line, `\n` or `\r\n` line ends, blank lines skipped. The body comes as
 * byte chunks read synchronously (a spooled upload), so a whole upload can be written in one synchronous step.
 */
export function* ndjsonRows(body: Iterable<Uint8Array>): Generator<IngestBatch> {
  yield* batches(body, new NdjsonParser(), 'invalid_json')
}

/**
 * Rows of a CSV or TSV body (RFC 4180 quoting, `\n` or `\r\n` record ends). The first record names the columns;
 * fields are typed as sqlite-utils' `--detect-types` would type them.
 */
export function* delimitedRows(body: Iterable<Uint8Array>, delimiter: ',' | '\t'): Generator<IngestBatch> {
  yield* batches(body, new DelimitedParser(delimiter), 'invalid_body')
}

interface RowParser {
  /** The line the parser has reached, for errors found before its input. */
  readonly line: number
  /** How much text the parser has turned into rows (or skipped), in UTF-16 code units. */
  readonly consumed: number
  feed(text: string): Iterable<IngestRow>
  /** Ends the body: the last row if it had no line end, or an error if the body ended mid-row or held no rows. */
  finish(): Iterable<IngestRow>
}

function* batches(body: Iterable<Uint8Array>, parser: RowParser, utf8Code: string): Generator<IngestBatch> {
  let rows: IngestRow[] = []
  let start = 0
  try {
    for (const text of decodeText(body)) {
      for (const row of parser.feed(text)) {
        rows.push(row)
        if (rows.length >= BATCH_ROWS || parser.consumed - start >= BATCH_TEXT) {
          yield { rows }
          rows = []
          start = parser.consumed
        }
      }
    }
  } catch (error) {
    if (error instanceof BadUtf8) throw new InvalidLine(parser.line + error.newlines, 'the body is not valid UTF-8', utf8Code)
    throw error
  }
  rows.push(...parser.finish())
  if (rows.length > 0) yield { rows }
}

/** Decoding failed; `newlines` is how many lines of the failing chunk came before the bad bytes. */
class BadUtf8 extends Error {
  constructor(readonly newlines: number) {
    super('invalid UTF-8')
  }
}

const STREAM = { stream: true }

/** The body as text, chunk by chunk. */
function* decodeText(body: Iterable<Uint8Array>): Generator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let tail: Uint8Array = new Uint8Array(0)
  for (const chunk of body) {
    let text: string
    try {
      text = decoder.decode(chunk, STREAM)
    } catch {
      throw new BadUtf8(newlinesBeforeInvalid(tail, chunk))
    }
    tail = chunk.subarray(Math.max(0, chunk.length - 3))
    yield text
  }
  try {
    yield decoder.decode()
  } catch {
    throw new BadUtf8(0)
  }
}

/**
 * Finds the line of the first invalid byte in `chunk` by decoding it again line by line, starting with any
 * character the previous chunk left unfinished (it began at a lead byte among that chunk's last three bytes).
 * A newline byte never occurs inside a multi-byte character, so lines can be decoded apart. Runs only after a failure.
 */
function newlinesBeforeInvalid(previousTail: Uint8Array, chunk: Uint8Array): number {
  let lead = previousTail.length - 1
  while (lead >= 0 && (previousTail[lead]! & 0xc0) === 0x80) lead--
  const pending = lead >= 0 && previousTail[lead]! >= 0xc0 ? previousTail.subarray(lead) : new Uint8Array(0)
  const bytes = Buffer.concat([pending, chunk])
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let newlines = 0
  for (let start = 0; start < bytes.length; newlines++) {
    const end = bytes.indexOf(0x0a, start)
    const next = end === -1 ? bytes.length : end + 1
    try {
      decoder.decode(bytes.subarray(start, next), STREAM)
    } catch {
      return newlines
    }
    start = next
  }
  return 0
}

const JSON_BLANK = /^[ \t\r]*$/

class NdjsonParser implements RowParser {
  line = 1
  consumed = 0
  #pending = ''
  #offset = 0
  #rows = 0

  // Placed before the generator methods: right after a field, `*feed(...)` would read as `#rows = 0 * feed(...)`.
  #row(text: string): IngestRow | undefined {
    // A row's line starts with its brace, so only the rare other lines need the blank-line pattern.
    if (text.charCodeAt(0) !== 0x7b && JSON_BLANK.test(text)) return undefined
    const line = this.line
    let value: JsonValue
    try {
      value = parseJson(text)
    } catch (error) {
      // Each line is parsed alone, so parseJson's "line 1" is this line.
      if (error instanceof InvalidJson) throw new InvalidLine(line, error.message.replace(/ at line 1 column (\d+)$/, ' at column $1'), error.code)
      throw error
    }
    if (!isJsonObject(value)) throw new InvalidLine(line, `expected a JSON object, got ${describeJson(value)}`)
    return { line, entries: atLine(line, () => rowEntries(value, this.#rows++)) }
  }

  *feed(text: string): Generator<IngestRow> {
    const offset = this.#offset
    this.#offset += text.length
    let start = 0
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      const row = this.#row(this.#pending + text.slice(start, end))
      this.#pending = ''
      start = end + 1
      this.line++
      this.consumed = offset + start
      if (row) yield row
    }
    this.#pending += text.slice(start)
  }

  *finish(): Generator<IngestRow> {
    const row = this.#row(this.#pending)
    this.#pending = ''
    if (row) yield row
    else if (this.#rows === 0) throw new InvalidBody('The body is empty')
  }
}

function describeJson(value: JsonValue): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return 'a string'
  if (typeof value === 'boolean') return 'a boolean'
  return 'a number'
}

/** Runs a row check whose errors say "Row N", and reports them against the body's line instead. */
function atLine<T>(line: number, check: () => T): T {
  try {
    return check()
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    throw new InvalidLine(line, error.message.replace(/^Row \d+ /, 'the row '), error.code)
  }
}

const QUOTE = 0x22
const NEWLINE = 0x0a
const CR = 0x0d

/** Where a delimited parser is: between fields, in an unquoted field, in a quoted one, just after a quote inside one, or after the CR of a closing `"\r\n`. */
type FieldState = 'start' | 'unquoted' | 'quoted' | 'quote' | 'cr'

class DelimitedParser implements RowParser {
  line = 1
  consumed = 0
  readonly #delimiter: number
  readonly #separator: string
  #state: FieldState = 'start'
  #field = ''
  #fieldQuoted = false
  #fields: string[] = []
  #quoted: boolean[] = []
  #recordLine = 1
  #fieldLine = 1
  #header: string[] | undefined
  #offset = 0

  constructor(delimiter: ',' | '\t') {
    this.#delimiter = delimiter.charCodeAt(0)
    this.#separator = delimiter
  }

  *feed(text: string): Generator<IngestRow> {
    const offset = this.#offset
    this.#offset += text.length
    const delimiter = this.#delimiter
    // The next newline and quote at or after i, kept rather than searched again, so each is found once per chunk.
    let newline = text.indexOf('\n')
    let quote = text.indexOf('"')
    let i = 0
    while (i < text.length) {
      if (this.#state === 'start' && this.#fields.length === 0) {
        // At a record's start, a whole line without a quote is split natively instead of character by character.
        if (newline !== -1 && newline < i) newline = text.indexOf('\n', i)
        if (quote !== -1 && quote < i) quote = text.indexOf('"', i)
        if (newline !== -1 && (quote === -1 || quote > newline)) {
          const end = newline > i && text.charCodeAt(newline - 1) === CR ? newline - 1 : newline
          const line = text.slice(i, end)
          i = newline + 1
          const row = this.#plainRecord(line, offset + i)
          if (row) yield row
          continue
        }
      }
      switch (this.#state) {
        case 'start':
          if (text.charCodeAt(i) === QUOTE) {
            this.#state = 'quoted'
            this.#fieldQuoted = true
            this.#fieldLine = this.line
            i++
            break
          }
          this.#state = 'unquoted'
        // falls through
        case 'unquoted': {
          let j = i
          let char = 0
          for (; j < text.length; j++) {
            char = text.charCodeAt(j)
            if (char === delimiter || char === NEWLINE) break
          }
          this.#field += text.slice(i, j)
          i = j + 1
          if (j === text.length) break
          if (char === delimiter) this.#endField()
          else {
            const row = this.#endRecord(offset + i)
            if (row) yield row
          }
          break
        }
        case 'quoted': {
          const closing = text.indexOf('"', i)
          const end = closing === -1 ? text.length : closing
          this.line += countNewlines(text, i, end)
          this.#field += text.slice(i, end)
          if (closing !== -1) this.#state = 'quote'
          i = end + 1
          break
        }
        case 'quote': {
          const char = text.charCodeAt(i++)
          if (char === QUOTE) {
            this.#field += '"'
            this.#state = 'quoted'
          } else if (char === delimiter) this.#endField()
          else if (char === CR) this.#state = 'cr'
          else if (char === NEWLINE) {
            const row = this.#endRecord(offset + i)
            if (row) yield row
          } else throw this.#afterQuote(text[i - 1]!)
          break
        }
        case 'cr': {
          if (text.charCodeAt(i++) !== NEWLINE) throw this.#afterQuote('\r')
          const row = this.#endRecord(offset + i)
          if (row) yield row
          break
        }
      }
    }
  }

  *finish(): Generator<IngestRow> {
    if (this.#state === 'quoted') throw new InvalidLine(this.#fieldLine, 'a quoted field starts here and is never closed')
    if (this.#state !== 'start' || this.#fields.length > 0) {
      const row = this.#endRecord(this.#offset)
      if (row) yield row
    }
    if (!this.#header) throw new InvalidBody('The body is empty')
  }

  #afterQuote(char: string): InvalidLine {
    return new InvalidLine(this.line, `unexpected ${JSON.stringify(char)} after the closing quote of a field; a quote inside a quoted field is written ""`)
  }

  #endField(): void {
    this.#fields.push(this.#field)
    this.#quoted.push(this.#fieldQuoted)
    this.#field = ''
    this.#fieldQuoted = false
    this.#state = 'start'
    // Refused as soon as it happens, so a runaway record is never held whole.
    if (this.#header && this.#fields.length > this.#header.length) {
      throw new InvalidLine(this.#recordLine, `the record has more fields than the ${this.#header.length} columns of the header`)
    }
  }

  /** Closes the record ending at `end`; its row, or nothing for the header and blank lines. */
  #endRecord(end: number): IngestRow | undefined {
    if (!this.#fieldQuoted && this.#field.endsWith('\r')) this.#field = this.#field.slice(0, -1)
    this.#endField()
    const fields = this.#fields
    const quoted = this.#quoted
    const line = this.#recordLine
    this.#fields = []
    this.#quoted = []
    this.line++
    this.#recordLine = this.line
    this.consumed = end
    if (fields.length === 1 && fields[0] === '' && !quoted[0]) return undefined
    return this.#row(fields, quoted, line)
  }

  /** A record without a quote, given as its line without the line end, closed at `end`; its row, as #endRecord's. */
  #plainRecord(text: string, end: number): IngestRow | undefined {
    const line = this.#recordLine
    this.line++
    this.#recordLine = this.line
    this.consumed = end
    if (text === '') return undefined
    const separator = this.#separator
    const header = this.#header
    if (!header) return this.#row(text.split(separator), undefined, line)
    // Each field goes straight into its entry, without an array of the fields first.
    const entries: RowEntries = []
    for (let start = 0; ; ) {
      if (entries.length === header.length) throw new InvalidLine(line, `the record has more fields than the ${header.length} columns of the header`)
      const stop = text.indexOf(separator, start)
      entries.push([header[entries.length]!, fieldValue(stop === -1 ? text.slice(start) : text.slice(start, stop), false)])
      if (stop === -1) break
      start = stop + 1
    }
    while (entries.length < header.length) entries.push([header[entries.length]!, null])
    return { line, entries }
  }

  /** The row of a record's fields (`quoted` says which were quoted; none when absent), or nothing for the header. */
  #row(fields: string[], quoted: boolean[] | undefined, line: number): IngestRow | undefined {
    const header = this.#header
    if (!header) {
      this.#header = headerNames(fields, line)
      return undefined
    }
    const entries: RowEntries = []
    for (let index = 0; index < header.length; index++) {
      entries.push([header[index]!, index < fields.length ? fieldValue(fields[index]!, quoted !== undefined && quoted[index]!) : null])
    }
    return { line, entries }
  }
}

function countNewlines(text: string, from: number, to: number): number {
  let count = 0
  for (let at = text.indexOf('\n', from); at !== -1 && at < to; at = text.indexOf('\n', at + 1)) count++
  return count
}

/** The header's names, refused when empty, too many, or equal ignoring ASCII case (SQLite would see one column). */
function headerNames(names: string[], line: number): string[] {
  if (names.length > MAX_COLUMNS) throw new InvalidLine(line, `the header has ${names.length} columns; SQLite allows at most ${MAX_COLUMNS}`)
  const spellings = new Map<string, string[]>()
  names.forEach((name, index) => {
    if (name === '') throw new InvalidLine(line, `column ${index + 1} of the header has no name`, 'invalid_name')
    atLine(line, () => assertColumnName(name))
    const key = identifierKey(name)
    const seen = spellings.get(key)
    if (seen) seen.push(name)
    else spellings.set(key, [name])
  })
  const repeated = [...spellings.values()].filter((group) => group.length > 1)
  if (repeated.length > 0) {
    const listed = repeated.map((group) => group.map((name) => JSON.stringify(name)).join(', ')).join('; ')
    throw new InvalidLine(line, `the header repeats column names (SQLite ignores ASCII case in names): ${listed}`)
  }
  return names
}

const FLOAT = /^-?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?$/
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/**
 * A field's value as sqlite-utils' `--detect-types` reads it, value by value: integers (exact, bigint past 2^53),
 * floats (integral ones as FloatLiteral), otherwise the text. An empty field is null unless it was quoted.
 * Numbers that SQLite cannot hold exactly as numbers (past 64 bits, or beyond a double's range) stay text.
 */
function fieldValue(text: string, quoted: boolean): JsonValue {
  if (text === '') return quoted ? '' : null
  const length = text.length
  // A number starts with a digit, a minus or a point: most text is known as text after this one comparison.
  const first = text.charCodeAt(0)
  if (first !== 0x2d && first !== 0x2e && (first < 0x30 || first > 0x39)) return text
  // Digits after an optional minus are an integer, added up here (exact below 16 characters) rather than matched.
  const start = first === 0x2d ? 1 : 0
  let i = start
  let value = 0
  for (; i < length; i++) {
    const digit = text.charCodeAt(i) - 0x30
    if (digit < 0 || digit > 9) break
    value = value * 10 + digit
  }
  if (i === length && length > start) {
    // `|| 0` turns "-0" into 0.
    if (length < 16) return start === 1 ? -value || 0 : value
    const exact = BigInt(text)
    if (exact < INT64_MIN || exact > INT64_MAX) return text
    return Number.isSafeInteger(Number(exact)) ? Number(exact) : exact
  }
  if (FLOAT.test(text)) {
    const float = Number(text)
    if (!Number.isFinite(float)) return text
    return Number.isInteger(float) ? new FloatLiteral(float) : float
  }
  return text
}

/** Where a row-size check is inside a CSV/TSV record, in the parser's terms (a quote opens a field only at its start). */
type ScanState = 'start' | 'unquoted' | 'quoted' | 'quote'

/**
 * Refuses an upload with 413 as soon as one row passes `maxBytes`, by looking at its bytes as they arrive (before any
 * parsing or lock): an NDJSON row ends at each newline, a CSV/TSV record at a newline outside a quoted field. Both
 * byte scans jump from quote to newline with indexOf, so they cost little next to parsing.
 */
export class RowSizeLimit {
  /** The body's line the scan has reached, and the line the current row started on. */
  #line = 1
  #rowLine = 1
  /** Bytes of the current row that came in earlier chunks. */
  #carried = 0
  #state: ScanState = 'start'
  readonly #delimiter: number

  constructor(
    private readonly maxBytes: number,
    /** `,` or a tab for CSV/TSV; none for NDJSON. */
    delimiter?: ',' | '\t',
  ) {
    this.#delimiter = delimiter === undefined ? -1 : delimiter.charCodeAt(0)
  }

  check(chunk: Uint8Array): void {
    const start = this.#delimiter === -1 ? this.#ndjson(chunk) : this.#delimited(chunk)
    this.#carried += chunk.length - start
    if (this.#carried > this.maxBytes) throw new RowTooLarge(this.#rowLine, this.maxBytes)
  }

  /** Closes the row whose newline is at `end` of `chunk` (which it entered at `start`); where the next row starts. */
  #endRow(start: number, end: number): number {
    if (this.#carried + end - start > this.maxBytes) throw new RowTooLarge(this.#rowLine, this.maxBytes)
    this.#carried = 0
    this.#rowLine = ++this.#line
    return end + 1
  }

  #ndjson(chunk: Uint8Array): number {
    let start = 0
    for (let end = chunk.indexOf(NEWLINE); end !== -1; end = chunk.indexOf(NEWLINE, start)) start = this.#endRow(start, end)
    return start
  }

  #delimited(chunk: Uint8Array): number {
    const delimiter = this.#delimiter
    const length = chunk.length
    let start = 0
    let i = 0
    // The next newline and quote at or after i, kept rather than searched again, so the scan stays linear.
    let newline = chunk.indexOf(NEWLINE)
    let quote = chunk.indexOf(QUOTE)
    while (i < length) {
      if (newline !== -1 && newline < i) newline = chunk.indexOf(NEWLINE, i)
      if (quote !== -1 && quote < i) quote = chunk.indexOf(QUOTE, i)
      if (this.#state === 'quoted') {
        const end = quote === -1 ? length : quote
        for (; newline !== -1 && newline < end; newline = chunk.indexOf(NEWLINE, newline + 1)) this.#line++
        if (quote !== -1) this.#state = 'quote'
        i = end + 1
      } else if (this.#state === 'quote') {
        const char = chunk[i]
        if (char === QUOTE) this.#state = 'quoted'
        else if (char === delimiter) this.#state = 'start'
        else if (char === NEWLINE) {
          start = this.#endRow(start, i)
          this.#state = 'start'
        } else this.#state = 'unquoted'
        i++
      } else if (quote !== -1 && (newline === -1 || quote < newline)) {
        // Delimiters matter only where a quote follows one: that quote opens a quoted field, any other is text.
        const fieldStart = quote === i ? this.#state === 'start' : chunk[quote - 1] === delimiter
        this.#state = fieldStart ? 'quoted' : 'unquoted'
        i = quote + 1
      } else if (newline === -1) {
        this.#state = chunk[length - 1] === delimiter ? 'start' : 'unquoted'
        i = length
      } else {
        start = this.#endRow(start, newline)
        this.#state = 'start'
        i = newline + 1
      }
    }
    return start
  }
}
