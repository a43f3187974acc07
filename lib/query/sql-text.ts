/** A small SQL lexer: where the first statement ends, its leading keywords, and its `:named` parameters, as SQLite reads them. */

export interface Token {
  /** `word` (a keyword or bare name), `quoted` ("name", [name], `name`), `string`, `param` (:name, @name, $name), `semi`, `other`. */
  kind: 'word' | 'quoted' | 'string' | 'param' | 'semi' | 'other'
  text: string
  start: number
}

const WORD = /[A-Za-z0-9_\u0080-\uffff]/
const CLOSING: Record<string, string> = { '"': '"', '`': '`', '[': ']' }

/** SQLite's tokens in order, without white space and comments; an unterminated string or comment runs to the end, as in SQLite. */
export function* tokens(sql: string): Generator<Token> {
  let i = 0
  while (i < sql.length) {
    const char = sql[i]!
    const start = i
    if (/\s/.test(char)) {
      i++
    } else if (char === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i)
      i = end === -1 ? sql.length : end + 1
    } else if (char === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2)
      i = end === -1 ? sql.length : end + 2
    } else if (char === "'" || char in CLOSING) {
      const close = char === "'" ? "'" : CLOSING[char]!
      i++
      for (;;) {
        const end = sql.indexOf(close, i)
        if (end === -1) {
          i = sql.length
          break
        }
        i = end + 1
        // A doubled quote is an escaped one, except inside [brackets], which have no escape.
        if (close !== ']' && sql[i] === close) i++
        else break
      }
      yield { kind: char === "'" ? 'string' : 'quoted', text: sql.slice(start, i), start }
    } else if (char === ';') {
      i++
      yield { kind: 'semi', text: ';', start }
    } else if ((char === ':' || char === '@' || char === '$') && i + 1 < sql.length && WORD.test(sql[i + 1]!)) {
      i++
      while (i < sql.length && (WORD.test(sql[i]!) || sql[i] === '$' || (sql[i] === ':' && sql[i + 1] === ':'))) i += sql[i] === ':' ? 2 : 1
      yield { kind: 'param', text: sql.slice(start, i), start }
    } else if (WORD.test(char)) {
      while (i < sql.length && (WORD.test(sql[i]!) || sql[i] === '$')) i++
      yield { kind: 'word', text: sql.slice(start, i), start }
    } else {
      i++
      yield { kind: 'other', text: char, start }
    }
  }
}

/** The statement's first `count` keywords, upper-cased (stops at the first token that is not a word). */
export function leadingKeywords(sql: string, count: number): string[] {
  const words: string[] = []
  for (const token of tokens(sql)) {
    if (token.kind !== 'word' || words.length === count) break
    words.push(token.text.toUpperCase())
  }
  return words
}

/**
 * Whether `sql` holds more than one statement: anything but white space, comments and semicolons after the first
 * statement's end. bun:sqlite would silently run only the first. In CREATE TRIGGER, as in sqlite3_complete(), only
 * `END;` ends the statement.
 */
export function hasTrailingStatement(sql: string): boolean {
  let ended = false
  let previous = ''
  let trigger = false
  const head: string[] = []
  for (const token of tokens(sql)) {
    if (ended) {
      if (token.kind !== 'semi') return true
      continue
    }
    if (head.length < 3 && token.kind === 'word') {
      head.push(token.text.toUpperCase())
      trigger = head[0] === 'CREATE' && (head[1] === 'TRIGGER' || (/^TEMP(ORARY)?$/.test(head[1] ?? '') && head[2] === 'TRIGGER'))
    }
    if (token.kind === 'semi' && (!trigger || previous === 'END')) ended = true
    previous = token.kind === 'word' ? token.text.toUpperCase() : token.text
  }
  return false
}

/** The statement without a leading EXPLAIN or EXPLAIN QUERY PLAN (the statement they describe). */
export function withoutExplain(sql: string): string {
  const iterator = tokens(sql)
  const first = iterator.next().value
  if (!first || first.kind !== 'word' || first.text.toUpperCase() !== 'EXPLAIN') return sql
  const second = iterator.next().value
  const third = second?.text.toUpperCase() === 'QUERY' ? iterator.next().value : undefined
  if (second && third?.text.toUpperCase() === 'PLAN') return sql.slice(third.start + third.text.length)
  return second ? sql.slice(second.start) : ''
}

/** The distinct `:name` parameters, in order of first use, without their colon (Datasette's derive_named_parameters). */
export function namedParameters(sql: string): string[] {
  const names: string[] = []
  for (const token of tokens(sql)) {
    if (token.kind === 'param' && token.text.startsWith(':') && !names.includes(token.text.slice(1))) names.push(token.text.slice(1))
  }
  return names
}
