import { describe, expect, test } from 'bun:test'
import { csvChunks, csvHeader, csvRow, csvText, pythonFloat, textStream } from '../lib/csv'
import type { SqlValue } from '../lib/values'

describe('lib/csv.ts writes what Python csv.writer writes for Datasette', () => {
  test('floats as Python repr, integers exact, NULL empty, minimal quoting, CRLF', () => {
    // Expected text is Python 3's own: csv.writer(io.StringIO()).writerow([...]) on the same values.
    const row: SqlValue[] = [
      1,
      1e16,
      1.5e-7,
      0.0001,
      123456.789,
      1e22,
      -2.5e-5,
      Infinity,
      -0,
      9007199254740993n,
      null,
      'a,b',
      'q"x',
      'l\nm',
      'cr\r',
      't\tx',
      ' sp ',
    ]
    expect(csvRow(row)).toBe('1.0,1e+16,1.5e-07,0.0001,123456.789,1e+22,-2.5e-05,inf,-0.0,9007199254740993,,"a,b","q""x","l\nm","cr\r",t\tx, sp \r\n')
  })

  test.each([
    [0.1 + 0.2, '0.30000000000000004'],
    [1e15, '1000000000000000.0'],
    [123456789012345678, '1.2345678901234568e+17'],
    [5e-324, '5e-324'],
    [1.7976931348623157e308, '1.7976931348623157e+308'],
    [-Infinity, '-inf'],
    [0, '0.0'],
    [-12.5, '-12.5'],
    [0.001, '0.001'],
    [1e-5, '1e-05'],
    [9999999999999998, '9999999999999998.0'],
  ])('pythonFloat(%p) is %p', (value, text) => {
    expect(pythonFloat(value)).toBe(text)
  })

  test('a record of one empty field is quoted, as Python does; two empty fields are not', () => {
    expect(csvRow([''])).toBe('""\r\n')
    expect(csvRow([null])).toBe('""\r\n')
    expect(csvRow(['', ''])).toBe(',\r\n')
  })

  test('big integers beyond 2^53 and the 64-bit extremes are written exactly', () => {
    expect(csvRow([-(2n ** 63n), 2n ** 63n - 1n, 0n, -1n])).toBe('-9223372036854775808,9223372036854775807,0,-1\r\n')
  })

  test('BLOBs are base64 by default, or whatever the blob option writes', () => {
    const bytes = Uint8Array.from([0, 255, 10, 44])
    expect(csvRow(['x', bytes])).toBe('x,AP8KLA==\r\n')
    expect(csvRow(['x', bytes], { blob: (value, column, row) => `${row[0]}:${column}:${value.length}` })).toBe('x,x:1:4\r\n')
  })

  test('TSV quotes tabs, not commas', () => {
    expect(csvRow(['a\tb', 'c,d', 'e'], { delimiter: '\t' })).toBe('"a\tb"\tc,d\te\r\n')
  })

  test('the header is quoted like any record; csvText joins header and rows; header: false leaves it out', () => {
    expect(csvHeader(['id', 'na,me', 'say "hi"'])).toBe('id,"na,me","say ""hi"""\r\n')
    expect(
      csvText(
        ['id', 'name'],
        [
          [1n, 'Cleo'],
          [2n, null],
        ],
      ),
    ).toBe('id,name\r\n1,Cleo\r\n2,\r\n')
    expect(csvText(['id'], [[1n]], { header: false })).toBe('1\r\n')
    expect(csvText(['id'], [])).toBe('id\r\n')
  })

  test('unicode is kept as it is, with no quoting of its own', () => {
    expect(csvRow(['café 🐶', '名前'])).toBe('café 🐶,名前\r\n')
  })

  test('csvChunks yields the header, then one chunk per non-empty batch, and textStream encodes them as UTF-8', async () => {
    async function* batches() {
      yield [[1n, 'a']]
      yield []
      yield [
        [2n, 'b,c'],
        [3n, 'ü'],
      ]
    }
    const chunks: string[] = []
    for await (const chunk of csvChunks(['id', 'v'], batches())) chunks.push(chunk)
    expect(chunks).toEqual(['id,v\r\n', '1,a\r\n', '2,"b,c"\r\n3,ü\r\n'])
    const text = await new Response(textStream(csvChunks(['id', 'v'], batches()))).text()
    expect(text).toBe(chunks.join(''))
  })

  test('cancelling the byte stream ends the generator, so its finally block runs', async () => {
    let released = false
    async function* endless() {
      try {
        for (let i = 0n; ; i++) yield [[i]]
      } finally {
        released = true
      }
    }
    const reader = textStream(csvChunks(['n'], endless())).getReader()
    await reader.read()
    await reader.read()
    await reader.cancel()
    expect(released).toBe(true)
  })
})
