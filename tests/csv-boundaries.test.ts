/** The CSV/TSV parser gives the same rows, or the same error, wherever the body's chunks happen to end. */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { ApiError } from '../lib/errors'
import { delimitedRows } from '../lib/ingest'

/** Fixed so a failure replays; fast-check prints the seed and path of the counterexample. */
const SEED = 20261130

type Outcome = { rows: unknown[]; batchSizes: number[] } | { status: number; message: string }

/** Every row and how many each batch held, or the error a client would see, parsing `chunks` in order. */
function parse(chunks: Uint8Array[], delimiter: ',' | '\t'): Outcome {
  try {
    const batches = [...delimitedRows(chunks, delimiter)]
    return { rows: batches.flatMap((batch) => batch.rows), batchSizes: batches.map((batch) => batch.rows.length) }
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    return { status: error.status, message: error.message }
  }
}

const split = (body: Uint8Array, at: number[]) => [0, ...at, body.length].slice(1).map((end, i, ends) => body.subarray(i === 0 ? 0 : ends[i - 1]!, end))

/** Fields that exercise every path: plain text and numbers, quotes, doubled quotes, delimiters, CR, LF, CRLF, non-ASCII. */
const field = fc.oneof(
  fc.constantFrom('', 'a', 'n1', '7', '-0', '1.5', '2e3', '9223372036854775808', 'Zoë 🐕', '日本', 'x"y', ' '),
  fc.stringMatching(/^[a-z0-9 ."\t,\r\n]{0,6}$/),
)

/** One field as it is written in a body: quoted where it must be, and sometimes where it need not be. */
const written = (delimiter: string) =>
  fc.tuple(field, fc.boolean()).map(([text, quote]) => {
    const needs = text.includes(delimiter) || text.includes('"') || text.includes('\n') || text.includes('\r')
    return needs || quote ? `"${text.replaceAll('"', '""')}"` : text
  })

/** A body: a header, records of up to the header's width, blank lines, CRLF or LF, maybe a BOM and a last line end. */
const body = (delimiter: ',' | '\t') =>
  fc
    .record({
      width: fc.integer({ min: 1, max: 4 }),
      records: fc.array(fc.tuple(fc.array(written(delimiter), { minLength: 1, maxLength: 4 }), fc.constantFrom('\n', '\r\n', '\n\n', '\r\n\r\n')), {
        maxLength: 6,
      }),
      bom: fc.boolean(),
      last: fc.constantFrom('', '\n', '\r\n'),
      /** A flaw to plant, sometimes: the parser must refuse it with the same message however the body is cut. */
      flaw: fc.constantFrom('', '', '', `"x"y`, `"never closed`, `a${delimiter}b${delimiter}c${delimiter}d${delimiter}e`, `"x"\rz`),
    })
    .map(({ width, records, bom, last, flaw }) => {
      const header = Array.from({ length: width }, (_, i) => `c${i}`).join(delimiter)
      const lines = records.map(([fields, end]) => fields.slice(0, width).join(delimiter) + end).join('')
      const text = `${header}\n${lines}${flaw}${last}`
      const bytes = new TextEncoder().encode(text)
      return bom ? new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]) : bytes
    })

describe.each([
  ['CSV', ','],
  ['TSV', '\t'],
] as const)('%s', (_name, delimiter) => {
  test('cut in two at every byte, a body parses as it does whole', () => {
    fc.assert(
      fc.property(body(delimiter), (bytes) => {
        const whole = parse([bytes], delimiter)
        for (let at = 0; at <= bytes.length; at++) expect(parse(split(bytes, [at]), delimiter)).toStrictEqual(whole)
      }),
      { numRuns: 300, seed: SEED },
    )
  })

  test('cut into many random pieces, a body parses as it does whole', () => {
    const cuts = fc.uint8Array({ minLength: 40, maxLength: 40 }).map((ends) => [...new Set(ends)].sort((a, b) => a - b))
    fc.assert(
      fc.property(body(delimiter), cuts, (bytes, ends) => {
        const at = ends.filter((end) => end <= bytes.length)
        expect(parse(split(bytes, at), delimiter)).toStrictEqual(parse([bytes], delimiter))
      }),
      { numRuns: 500, seed: SEED },
    )
  })
})

test('the property bodies do reach every outcome: rows, each kind of refusal, quoted fields across lines', () => {
  const samples = fc.sample(body(','), { numRuns: 2000, seed: SEED }).map((bytes) => parse([bytes], ','))
  const messages = samples.flatMap((outcome) => ('message' in outcome ? [outcome.message.replace(/^Line \d+: /, '')] : []))
  expect(samples.some((outcome) => 'rows' in outcome && outcome.rows.length > 3)).toBe(true)
  expect(messages.some((message) => message.startsWith('unexpected "y" after the closing quote'))).toBe(true)
  expect(messages.some((message) => message.startsWith('unexpected "\\r" after the closing quote'))).toBe(true)
  expect(messages).toContain('a quoted field starts here and is never closed')
  expect(messages.some((message) => message.startsWith('the record has more fields than the'))).toBe(true)
  const multiline = samples.some((outcome) => 'rows' in outcome && JSON.stringify(outcome.rows).includes('\\n'))
  expect(multiline).toBe(true)
})
