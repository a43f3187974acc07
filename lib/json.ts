/** JSON in and out without losing precision: exact 64-bit integers, `1.0` kept apart from `1`, errors with line and column. */
import { InvalidJson } from './errors'

declare global {
  interface JSON {
    /** Bun/JSC's JSON.rawJSON (TC39 "JSON.parse source text access"): emits its text verbatim from JSON.stringify. */
    rawJSON(text: string): unknown
  }
}

/** A number written as a float (`1.0`, `2e3`) whose value happens to be integral; plain non-integral floats stay numbers. */
export class FloatLiteral {
  constructor(readonly value: number) {}
}

export type JsonValue = null | boolean | number | bigint | string | FloatLiteral | JsonValue[] | { [key: string]: JsonValue }

function reviveNumber(this: unknown, _key: string, value: unknown, context?: { source?: string }): unknown {
  if (typeof value !== 'number' || context?.source === undefined) return value
  const source = context.source
  if (/[.eE]/.test(source)) return Number.isInteger(value) ? new FloatLiteral(value) : value
  return Number.isSafeInteger(value) ? value : BigInt(source)
}

/** Deeper documents are refused outright, so every path (fast or exact parse, storing, echoing back) treats them alike. */
export const MAX_JSON_DEPTH = 1000

const isDigit = (code: number) => code >= 0x30 && code <= 0x39

/**
 * Whether the text may hold a float literal with an integral value (`1.0`, `2e3`, or so many digits that the value
 * rounds to an integer), which only the source text tells apart from an integer. A match inside a string merely costs
 * a second parse. indexOf finds the few candidates; a regular expression visiting every character cost more than the
 * parse itself on 1000-row bodies.
 */
function mayHoldIntegralFloat(text: string): boolean {
  for (let dot = text.indexOf('.'); dot !== -1; dot = text.indexOf('.', dot + 1)) {
    if (!isDigit(text.charCodeAt(dot - 1))) continue
    let end = dot + 1
    while (text.charCodeAt(end) === 0x30) end++
    if (end > dot + 1 && !isDigit(text.charCodeAt(end))) return true
    while (isDigit(text.charCodeAt(end))) end++
    let start = dot - 1
    while (start >= 0 && isDigit(text.charCodeAt(start))) start--
    // A double holds 15 significant decimal digits exactly: with fewer, a fraction never rounds to an integer.
    if (end - start - 2 >= 16) return true
  }
  return DIGIT_EXPONENT.test(text)
}

const DIGIT_EXPONENT = /\d[eE]/

/** What a natively parsed document still needs: bits of REVIEW_TOO_DEEP and REVIEW_INEXACT. */
const REVIEW_TOO_DEEP = 1
const REVIEW_INEXACT = 2

/** A number the native parse cannot have kept exact: an integer beyond 2^53, or one too large for a double. */
const inexact = (value: number) => (Number.isInteger(value) ? !Number.isSafeInteger(value) : !Number.isFinite(value))

/**
 * Walks a parsed container (at nesting `depth`) for containers nested deeper than MAX_JSON_DEPTH and numbers that need
 * their source text; visiting the values costs far less than scanning every character of the text.
 */
function reviewParsed(container: object, depth: number): number {
  if (depth > MAX_JSON_DEPTH) return REVIEW_TOO_DEEP
  let found = 0
  if (Array.isArray(container)) {
    for (let i = 0; i < container.length; i++) {
      found |= reviewValue(container[i], depth)
      if (found & REVIEW_TOO_DEEP) return found
    }
  } else {
    for (const key in container) {
      found |= reviewValue((container as Record<string, unknown>)[key], depth)
      if (found & REVIEW_TOO_DEEP) return found
    }
  }
  return found
}

/** reviewParsed for one value inside a container at nesting `depth`. */
function reviewValue(value: unknown, depth: number): number {
  if (typeof value === 'number') return inexact(value) ? REVIEW_INEXACT : 0
  return typeof value === 'object' && value !== null ? reviewParsed(value, depth + 1) : 0
}

/** True when brackets outside strings nest deeper than MAX_JSON_DEPTH; one pass over the text. */
function nestsTooDeep(text: string): boolean {
  let depth = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (inString) {
      if (code === 0x5c) i++
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > MAX_JSON_DEPTH) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

/** Parses JSON text, keeping integers beyond 2^53 as bigint and integral float literals as FloatLiteral. */
export function parseJson(text: string): JsonValue {
  if (text.trim() === '') throw new InvalidJson('the body is empty')
  const tooDeep = () => new InvalidJson(`nesting is deeper than ${MAX_JSON_DEPTH} levels`)
  let value: JsonValue
  try {
    value = JSON.parse(text) as JsonValue
  } catch (error) {
    const located = locateJsonError(text)
    if (located) throw new InvalidJson(`${located.message} at line ${located.line} column ${located.column}`)
    if (nestsTooDeep(text)) throw tooDeep()
    throw new InvalidJson(error instanceof Error ? error.message : String(error))
  }
  const review = typeof value === 'object' && value !== null ? reviewParsed(value, 1) : typeof value === 'number' && inexact(value) ? REVIEW_INEXACT : 0
  if (review & REVIEW_TOO_DEEP) throw tooDeep()
  // Parsed again, numbers with their source text, only when some number needs it.
  if (review & REVIEW_INEXACT || mayHoldIntegralFloat(text)) return JSON.parse(text, reviveNumber as never) as JsonValue
  return value
}

function stringifyExact(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return JSON.rawJSON(value.toString())
  if (value instanceof FloatLiteral) return JSON.rawJSON(formatFloat(value.value))
  return value
}

/** Writes a float so that it reads back as a float: `1` becomes `1.0`. */
export function formatFloat(value: number): string {
  const text = String(value)
  return /[.eEn]/.test(text) ? text : `${text}.0`
}

/** JSON.stringify that writes bigints as exact integers and FloatLiterals as floats. */
export function stringifyJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, stringifyExact, indent)
}

/**
 * JSON text for a nested value stored in a TEXT cell, written as Python's json.dumps writes it (`", "` and `": "`
 * separators, non-ASCII kept), so rowpost stores the same bytes datasette-insert and Datasette did.
 */
export function storedJson(value: JsonValue): string {
  if (value === null || typeof value !== 'object' || value instanceof FloatLiteral) return stringifyJson(value)
  if (Array.isArray(value)) return `[${value.map(storedJson).join(', ')}]`
  return `{${Object.entries(value)
    .map(([key, item]) => `${JSON.stringify(key)}: ${storedJson(item)}`)
    .join(', ')}}`
}

export interface JsonErrorLocation {
  message: string
  offset: number
  line: number
  column: number
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y
const LITERAL = /true|false|null/y
const WHITESPACE = /[ \t\n\r]*/y

/** Finds where JSON text first goes wrong; null when it is well-formed. Runs only after JSON.parse has failed. */
export function locateJsonError(text: string): JsonErrorLocation | null {
  let i = 0
  const stack: string[] = []
  let expect: 'value' | 'after' | 'key' | 'colon' = 'value'
  const at = (message: string): JsonErrorLocation => {
    const before = text.slice(0, i)
    const line = before.split('\n').length
    return { message, offset: i, line, column: i - before.lastIndexOf('\n') }
  }
  const skipWhitespace = () => {
    WHITESPACE.lastIndex = i
    WHITESPACE.test(text)
    i = WHITESPACE.lastIndex
  }
  const unexpected = () => at(`Unexpected character ${JSON.stringify(text[i])}`)
  const scanString = (): JsonErrorLocation | null => {
    let j = i + 1
    while (j < text.length) {
      const char = text[j]!
      if (char === '"') {
        i = j + 1
        return null
      }
      if (char === '\\') {
        const escape = text[j + 1]
        if (escape === 'u' && /^[0-9A-Fa-f]{4}$/.test(text.slice(j + 2, j + 6))) j += 6
        else if (escape !== undefined && '"\\/bfnrt'.includes(escape)) j += 2
        else {
          i = j
          return at('Invalid escape in string')
        }
      } else if (char < ' ') {
        i = j
        return at('Unescaped control character in string')
      } else j++
    }
    i = j
    return at('Unterminated string')
  }
  for (;;) {
    skipWhitespace()
    if (i >= text.length) return expect === 'after' && stack.length === 0 ? null : at('Unexpected end of input')
    const char = text[i]!
    if (expect === 'value') {
      if (char === '{' || char === '[') {
        stack.push(char)
        i++
        skipWhitespace()
        if (text[i] === (char === '{' ? '}' : ']')) {
          stack.pop()
          i++
          expect = 'after'
        } else expect = char === '{' ? 'key' : 'value'
        continue
      }
      if (char === '"') {
        const problem = scanString()
        if (problem) return problem
      } else {
        NUMBER.lastIndex = i
        LITERAL.lastIndex = i
        if (NUMBER.test(text)) i = NUMBER.lastIndex
        else if (LITERAL.test(text)) i = LITERAL.lastIndex
        else return unexpected()
      }
      expect = 'after'
    } else if (expect === 'after') {
      const open = stack.at(-1)
      if (open === undefined) return at('Unexpected data after the JSON value')
      if (char === ',') {
        i++
        expect = open === '{' ? 'key' : 'value'
      } else if (char === (open === '{' ? '}' : ']')) {
        stack.pop()
        i++
      } else return at(`Expected ',' or '${open === '{' ? '}' : ']'}'`)
    } else if (expect === 'key') {
      if (char !== '"') return at('Expected a double-quoted property name')
      const problem = scanString()
      if (problem) return problem
      expect = 'colon'
    } else {
      if (char !== ':') return at("Expected ':' after property name")
      i++
      expect = 'value'
    }
  }
}
