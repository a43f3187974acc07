/** The streaming bulk-upload parsers: NDJSON, CSV and TSV bodies to batches of rows, chunk boundaries anywhere, bounded memory. */
import { describe, expect, test } from 'bun:test'
import { ApiError } from '../lib/errors'
import { delimitedRows, ndjsonRows, RowSizeLimit, type IngestBatch, type IngestRow } from '../lib/ingest'
import { FloatLiteral } from '../lib/json'
import { ColumnKinds, inferColumns, type ColumnSpec } from '../lib/schema'

const utf8 = (text: string) => new TextEncoder().encode(text)
const bytes = (...parts: Array<string | number[]>) => Buffer.concat(parts.map((part) => (typeof part === 'string' ? utf8(part) : new Uint8Array(part))))

/** `data` in chunks whose sizes `size()` picks (the whole body at once by default); `onClose` runs when the reader stops. */
function* chunksOf(data: string | Uint8Array, size: () => number = () => Infinity, onClose?: () => void): Generator<Uint8Array> {
  const all = typeof data === 'string' ? utf8(data) : data
  try {
    for (let at = 0; at < all.length; ) {
      const end = Math.min(all.length, at + Math.max(1, size()))
      yield all.slice(at, end)
      at = end
    }
  } finally {
    onClose?.()
  }
}

/** A small seeded PRNG (mulberry32), so "random" chunk sizes are the same on every run. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const batchesOf = (source: Generator<IngestBatch>): IngestBatch[] => [...source]
const rowsOf = (source: Generator<IngestBatch>): IngestRow[] => batchesOf(source).flatMap((batch) => batch.rows)
const ndjson = (body: string | Uint8Array) => rowsOf(ndjsonRows(chunksOf(body)))
const csv = (body: string | Uint8Array) => rowsOf(delimitedRows(chunksOf(body), ','))
const tsv = (body: string | Uint8Array) => rowsOf(delimitedRows(chunksOf(body), '\t'))

/** What `run` threw, reduced to what a client sees. */
function failure(run: () => unknown): { status: number; code: string; message: string } {
  try {
    run()
  } catch (error) {
    if (!(error instanceof ApiError)) throw error
    return { status: error.status, code: error.code, message: error.message }
  }
  throw new Error('expected the parser to fail')
}

const bad = (message: string, code = 'invalid_body') => ({ status: 400, code, message })

describe('NDJSON', () => {
  test('each line is a row numbered by its line, across CRLF, blank lines and a last line without a newline', async () => {
    expect(ndjson('{"a": 1}\r\n\n   \r\n{"a": 2, "b": "x"}\n\t\n{"b": null}')).toStrictEqual([
      { line: 1, entries: [['a', 1]] },
      {
        line: 4,
        entries: [
          ['a', 2],
          ['b', 'x'],
        ],
      },
      { line: 6, entries: [['b', null]] },
    ])
  })

  test('integers beyond 2^53 stay exact, 1.0 stays a float, nested values pass through', async () => {
    expect(ndjson('{"big": 9007199254740993, "float": 1.0, "half": 0.5, "doc": {"k": [1, true]}, "__proto__": 7}\n')).toStrictEqual([
      {
        line: 1,
        entries: [
          ['big', 9007199254740993n],
          ['float', new FloatLiteral(1)],
          ['half', 0.5],
          ['doc', { k: [1, true] }],
          ['__proto__', 7],
        ],
      },
    ])
  })

  test.each([
    ['an array line', '{"a": 1}\n\n[1, 2]\n', bad('Line 3: expected a JSON object, got an array')],
    ['a string line', '"x"', bad('Line 1: expected a JSON object, got a string')],
    ['a number line', '{"a": 1}\n12', bad('Line 2: expected a JSON object, got a number')],
    ['a null line', 'null\n', bad('Line 1: expected a JSON object, got null')],
    ['a boolean line', '{}\r\ntrue\r\n', bad('Line 2: expected a JSON object, got a boolean')],
    ['invalid JSON', '{"a": 1}\n{"a": 1,, "b": 2}\n', bad('Line 2: Invalid JSON: Expected a double-quoted property name at column 9', 'invalid_json')],
    ['two values on one line', '{"a": 1} {"a": 2}\n', bad('Line 1: Invalid JSON: Unexpected data after the JSON value at column 10', 'invalid_json')],
    ['a value split over two lines', '{"a":\n 1}\n', bad('Line 1: Invalid JSON: Unexpected end of input at column 6', 'invalid_json')],
    [
      'keys that differ only in case',
      '{"a": 1}\n{"Name": 1, "name": 2}',
      bad('Line 2: the row has keys that differ only in case, which SQLite treats as one column: "Name", "name"'),
    ],
    ['an empty key', '{"": 1}', bad('Line 1: Column name must not be empty', 'invalid_name')],
    ['invalid UTF-8 on line 3', bytes('{"a": 1}\n{"a": 2}\n{"a": "', [0xff, 0xfe], '"}\n'), bad('Line 3: the body is not valid UTF-8', 'invalid_json')],
    [
      'a UTF-8 sequence cut short by the end of the body',
      bytes('{"a": 1}\n{"a": 2}\n', [0xe2, 0x82]),
      bad('Line 3: the body is not valid UTF-8', 'invalid_json'),
    ],
    ['an empty body', '', bad('The body is empty')],
    ['a body of blank lines', '\n \r\n\t\n', bad('The body is empty')],
  ])('%s is refused naming the line', async (_name, body, expected) => {
    expect(failure(() => ndjson(body))).toEqual(expected)
  })
})

describe('CSV and TSV', () => {
  test('the header names the columns and each field is typed by its own value', async () => {
    const body = 'id,score,name,ratio,note\n1,-2.5,Cleo,1.0,\n-0,007,12abc,.5e1,""\n9007199254740993,9223372036854775808,1e999, 3,-1.5E-3\n'
    expect(csv(body)).toStrictEqual([
      {
        line: 2,
        entries: [
          ['id', 1],
          ['score', -2.5],
          ['name', 'Cleo'],
          ['ratio', new FloatLiteral(1)],
          ['note', null],
        ],
      },
      {
        line: 3,
        entries: [
          ['id', 0],
          ['score', 7],
          ['name', '12abc'],
          ['ratio', new FloatLiteral(5)],
          ['note', ''],
        ],
      },
      {
        line: 4,
        entries: [
          ['id', 9007199254740993n],
          ['score', '9223372036854775808'],
          ['name', '1e999'],
          ['ratio', ' 3'],
          ['note', -0.0015],
        ],
      },
    ])
  })

  test('int64 bounds are integers, one past them is text', async () => {
    expect(csv('n\n9223372036854775807\n-9223372036854775808\n-9223372036854775809\n')).toStrictEqual([
      { line: 2, entries: [['n', 9223372036854775807n]] },
      { line: 3, entries: [['n', -9223372036854775808n]] },
      { line: 4, entries: [['n', '-9223372036854775809']] },
    ])
  })

  test('quoted fields hold delimiters, newlines and doubled quotes, and each row keeps the line it starts on', async () => {
    const body = '"id","text"\n1,"a, b"\n2,"two\nlines"\n3,"say ""hi"""\n"4",5"6\n'
    expect(csv(body)).toStrictEqual([
      {
        line: 2,
        entries: [
          ['id', 1],
          ['text', 'a, b'],
        ],
      },
      {
        line: 3,
        entries: [
          ['id', 2],
          ['text', 'two\nlines'],
        ],
      },
      {
        line: 5,
        entries: [
          ['id', 3],
          ['text', 'say "hi"'],
        ],
      },
      {
        line: 6,
        entries: [
          ['id', 4],
          ['text', '5"6'],
        ],
      },
    ])
  })

  test('CRLF ends records, a CRLF inside quotes is kept, blank lines are skipped and the last record needs no line end', async () => {
    expect(csv('a,b\r\n\r\n"x\r\ny",1\r\n"z",\r\n\r\n3,"w"')).toStrictEqual([
      {
        line: 3,
        entries: [
          ['a', 'x\r\ny'],
          ['b', 1],
        ],
      },
      {
        line: 5,
        entries: [
          ['a', 'z'],
          ['b', null],
        ],
      },
      {
        line: 7,
        entries: [
          ['a', 3],
          ['b', 'w'],
        ],
      },
    ])
  })

  test('TSV splits on tabs with the same quoting, and commas are plain text', async () => {
    expect(tsv('name\tnote\r\nCleo\t"tab\there"\r\na,b\t2\r\n')).toStrictEqual([
      {
        line: 2,
        entries: [
          ['name', 'Cleo'],
          ['note', 'tab\there'],
        ],
      },
      {
        line: 3,
        entries: [
          ['name', 'a,b'],
          ['note', 2],
        ],
      },
    ])
  })

  test('a short record fills the missing columns with null', async () => {
    expect(csv('a,b,c\n1\n1,2\n')).toStrictEqual([
      {
        line: 2,
        entries: [
          ['a', 1],
          ['b', null],
          ['c', null],
        ],
      },
      {
        line: 3,
        entries: [
          ['a', 1],
          ['b', 2],
          ['c', null],
        ],
      },
    ])
  })

  test('a header with no records gives no rows, and a UTF-8 byte order mark is not part of the first name', async () => {
    expect(csv('a,b\n')).toStrictEqual([])
    expect(csv(bytes([0xef, 0xbb, 0xbf], 'id\n1\n'))).toStrictEqual([{ line: 2, entries: [['id', 1]] }])
  })

  test.each([
    [
      'a repeated header name',
      'a,b,a,c,b\n1,2,3,4,5\n',
      bad('Line 1: the header repeats column names (SQLite ignores ASCII case in names): "a", "a"; "b", "b"'),
    ],
    [
      'header names that differ only in case',
      'Name,id,NAME\n',
      bad('Line 1: the header repeats column names (SQLite ignores ASCII case in names): "Name", "NAME"'),
    ],
    ['an empty header name', 'a,,c\n1,2,3\n', bad('Line 1: column 2 of the header has no name', 'invalid_name')],
    ['an empty quoted header name', '\n\na,""\n', bad('Line 3: column 2 of the header has no name', 'invalid_name')],
    ['a record with more fields than the header', 'a,b\n1,2\n"x\ny",2,3,4\n', bad('Line 3: the record has more fields than the 2 columns of the header')],
    ['a quote never closed', 'a,b\n1,2\n3,"four\nfive\n', bad('Line 3: a quoted field starts here and is never closed')],
    [
      'text after a closing quote',
      'a,b\n1,"x"y\n',
      bad('Line 2: unexpected "y" after the closing quote of a field; a quote inside a quoted field is written ""'),
    ],
    [
      'a CR after a closing quote not followed by LF',
      'a\n"x"\rb\n',
      bad('Line 2: unexpected "\\r" after the closing quote of a field; a quote inside a quoted field is written ""'),
    ],
    ['invalid UTF-8 inside a quoted field on line 4', bytes('a,b\n1,"x\n\ny', [0xc3, 0x28], '"\n'), bad('Line 4: the body is not valid UTF-8')],
    ['an empty body', '', bad('The body is empty')],
    ['a body of blank lines', '\r\n\n', bad('The body is empty')],
  ])('%s is refused naming the line', async (_name, body, expected) => {
    expect(failure(() => csv(body))).toEqual(expected)
  })
})

describe('batches', () => {
  test('625 rows come in batches of 250, 250 and 125 with the right line numbers', async () => {
    const body = Array.from({ length: 625 }, (_, index) => `{"n": ${index}}\n`).join('')
    const batches = batchesOf(ndjsonRows(chunksOf(body, () => 4096)))
    expect(batches.map((batch) => batch.rows.length)).toEqual([250, 250, 125])
    expect(batches.map((batch) => [batch.rows[0]!.line, batch.rows.at(-1)!.line])).toEqual([
      [1, 250],
      [251, 500],
      [501, 625],
    ])
    expect(batches[2]!.rows[124]).toStrictEqual({ line: 625, entries: [['n', 624]] })
  })

  test('CSV batches count rows, not the header', async () => {
    const body = 'n\n' + Array.from({ length: 251 }, (_, index) => `${index}\n`).join('')
    const batches = batchesOf(delimitedRows(chunksOf(body), ','))
    expect(batches.map((batch) => [batch.rows.length, batch.rows[0]!.line])).toEqual([
      [250, 2],
      [1, 252],
    ])
  })

  test('a batch closes once it holds about 1 MiB of text', async () => {
    // Each line is 2^17 bytes with its newline, so the eighth row reaches 1 MiB.
    const line = `{"s":"${'x'.repeat(2 ** 17 - 9)}"}\n`
    expect(line.length).toBe(2 ** 17)
    const batches = batchesOf(ndjsonRows(chunksOf(line.repeat(20), () => 65536)))
    expect(batches.map((batch) => batch.rows.length)).toEqual([8, 8, 4])
    expect(batches.map((batch) => batch.rows[0]!.line)).toEqual([1, 9, 17])
  })
})

describe('chunk boundaries', () => {
  const NDJSON = '{"name": "Zoë 🐕", "n": 9007199254740993}\r\n\r\n{"f": 1.0, "s": "a\\nb"}\n\n{"k": "日本語"}'
  const CSV = 'name,"no\nte"\r\n"Zoë, 🐕","say ""hi""\r\nthere"\r\n\r\n日本,1.5\r\n7,\n""""'
  const INVALID = bytes('{"a": 1}\n{"a": "é', [0xe9], '"}\n{"a": 3}\n')
  const UNCLOSED = 'a,b\n1,2\n"x,y\n'
  const parse = {
    ndjson: (body: string | Uint8Array, size?: () => number) => rowsOf(ndjsonRows(chunksOf(body, size))),
    csv: (body: string | Uint8Array, size?: () => number) => rowsOf(delimitedRows(chunksOf(body, size), ',')),
  }
  const outcome = (run: () => unknown) => {
    try {
      return run()
    } catch (error) {
      return { status: (error as ApiError).status, message: (error as ApiError).message }
    }
  }

  test.each([
    ['NDJSON', NDJSON, parse.ndjson],
    ['CSV', CSV, parse.csv],
    ['NDJSON with invalid UTF-8', INVALID, parse.ndjson],
    ['CSV with an unclosed quote', UNCLOSED, parse.csv],
  ] as const)('%s parses the same in one chunk, in 1-byte chunks and in random chunks', async (_name, body, run) => {
    const whole = outcome(() => run(body))
    expect(outcome(() => run(body, () => 1))).toStrictEqual(whole)
    const next = random(42)
    for (let round = 0; round < 50; round++) expect(outcome(() => run(body, () => 1 + Math.floor(next() * 8)))).toStrictEqual(whole)
  })

  test('the reference results are what they should be', async () => {
    expect(parse.ndjson(NDJSON)).toStrictEqual([
      {
        line: 1,
        entries: [
          ['name', 'Zoë 🐕'],
          ['n', 9007199254740993n],
        ],
      },
      {
        line: 3,
        entries: [
          ['f', new FloatLiteral(1)],
          ['s', 'a\nb'],
        ],
      },
      { line: 5, entries: [['k', '日本語']] },
    ])
    expect(parse.csv(CSV)).toStrictEqual([
      {
        line: 3,
        entries: [
          ['name', 'Zoë, 🐕'],
          ['no\nte', 'say "hi"\r\nthere'],
        ],
      },
      {
        line: 6,
        entries: [
          ['name', '日本'],
          ['no\nte', 1.5],
        ],
      },
      {
        line: 7,
        entries: [
          ['name', 7],
          ['no\nte', null],
        ],
      },
      {
        line: 8,
        entries: [
          ['name', '"'],
          ['no\nte', null],
        ],
      },
    ])
    expect(outcome(() => parse.ndjson(INVALID))).toEqual({ status: 400, message: 'Line 2: the body is not valid UTF-8' })
    expect(outcome(() => parse.csv(UNCLOSED))).toEqual({ status: 400, message: 'Line 3: a quoted field starts here and is never closed' })
  })
})

describe('the body', () => {
  test('a caller that stops after the first batch closes the rest of the body', () => {
    let closed = false
    for (const batch of ndjsonRows(
      chunksOf(
        '{"a": 1}\n'.repeat(3000),
        () => 4096,
        () => (closed = true),
      ),
    )) {
      expect(batch.rows.length).toBe(250)
      break
    }
    expect(closed).toBe(true)
  })

  test('a bad line closes the rest of the body', () => {
    let closed = false
    const body = chunksOf(
      '{"a": 1}\n[]\n' + '{"a": 1}\n'.repeat(1000),
      () => 16,
      () => (closed = true),
    )
    expect(failure(() => rowsOf(ndjsonRows(body))).message).toBe('Line 2: expected a JSON object, got an array')
    expect(closed).toBe(true)
  })

  test('a body that fails to read throws that error after the rows before it', () => {
    const broken = new Error('read failed')
    function* body() {
      for (let sent = 0; sent < 3; sent++) yield utf8('{"a": 1}\n'.repeat(400))
      throw broken
    }
    const seen: number[] = []
    expect(() => {
      for (const batch of ndjsonRows(body())) seen.push(batch.rows.length)
    }).toThrow(broken)
    expect(seen).toEqual([250, 250, 250, 250])
  })
})

describe('RowSizeLimit', () => {
  /** What the check says of `body` fed in chunks of `size` bytes: the 413 message, or 'ok'. */
  const verdict = (body: string, maxBytes: number, delimiter?: ',' | '\t', size = Infinity) => {
    const limit = new RowSizeLimit(maxBytes, delimiter)
    try {
      for (const chunk of chunksOf(body, () => size)) limit.check(chunk)
      return 'ok'
    } catch (error) {
      return `${(error as ApiError).status} ${(error as ApiError).message}`
    }
  }

  const refused = (line: string, maxBytes: number) => `413 ${line}: the row is longer than the maximum of ${maxBytes} bytes (max_stream_row_bytes)`

  test.each([
    ['an NDJSON line of exactly the limit passes', '{"a": 1}\n12345678\n', 8, undefined, 'ok'],
    ['one byte more is refused with its line', '{"a": 1}\n123456789\n', 8, undefined, refused('Line 2', 8)],
    ['a last line without a newline counts too', 'a\nb\n123456789', 8, undefined, refused('Line 3', 8)],
    ['a quoted CSV field spanning lines is one record, named by its first line', 'a,b\n1,"x\ny\nzzzz"\n', 8, ',', refused('Line 2', 8)],
    ['newlines inside quotes move the line of later records', 'a\n"x\ny"\n123456789\n', 8, ',', refused('Line 4', 8)],
    ['a quote inside an unquoted field is text, so the newline after it ends the record', 'a,b\n12" pipe,1\n2,2\n', 12, ',', 'ok'],
    ['a doubled quote stays inside the quoted field', 'a\n"say ""hi""\nthere"\n', 14, ',', refused('Line 2', 14)],
    ['a quote after a tab opens a TSV field', 'a\tb\n1\t"x\ny"\n', 6, '\t', refused('Line 2', 6)],
  ] as const)('%s, in any chunking', (_case, body, maxBytes, delimiter, expected) => {
    expect(verdict(body, maxBytes, delimiter)).toBe(expected)
    for (const size of [1, 2, 3, 5]) expect(verdict(body, maxBytes, delimiter, size)).toBe(expected)
  })
})

test('ColumnKinds fed batch by batch agrees with inferColumns over all the rows', async () => {
  // price turns REAL in the last batch, later is null through the first batch, mixed has one text among integers.
  const record = (index: number) => `${index},${index === 2400 ? '1.5' : index},n${index},,${index < 1500 ? '' : index},${index === 2000 ? 'x' : index}\n`
  const body = 'id,price,name,empty,later,mixed\n' + Array.from({ length: 2500 }, (_, index) => record(index)).join('')
  const batches = batchesOf(delimitedRows(chunksOf(body), ','))
  const types = new ColumnKinds()
  for (const batch of batches) for (const row of batch.rows) types.add(row.entries)
  const expected: ColumnSpec[] = [
    { name: 'id', type: 'INTEGER' },
    { name: 'price', type: 'REAL' },
    { name: 'name', type: 'TEXT' },
    { name: 'empty', type: 'TEXT' },
    { name: 'later', type: 'INTEGER' },
    { name: 'mixed', type: 'TEXT' },
  ]
  expect(types.columns()).toEqual(expected)
  expect(inferColumns(batches.flatMap((batch) => batch.rows.map((row) => row.entries)))).toEqual(expected)
})

test('parsing 100 MB of NDJSON keeps memory flat', () => {
  const TOTAL = 100 * 1024 * 1024
  const line = (index: number) => `{"id": ${index}, "name": "row ${index}", "score": ${index}.5, "pad": "${'p'.repeat(900)}"}\n`
  let produced = 0
  let index = 0
  function* body() {
    while (produced < TOTAL) {
      let chunk = ''
      while (chunk.length < 65536) chunk += line(index++)
      produced += chunk.length
      yield utf8(chunk)
    }
  }
  Bun.gc(true)
  const before = process.memoryUsage().rss
  let peak = before
  let rows = 0
  let batches = 0
  for (const batch of ndjsonRows(body())) {
    rows += batch.rows.length
    // What must stay flat is what the parser holds on to, not garbage a busy test process has not collected yet:
    // without a collection here the measured growth depended on what else the process had run (it failed in some
    // full-suite runs and passed alone).
    if (++batches % 10 === 0) {
      Bun.gc(true)
      peak = Math.max(peak, process.memoryUsage().rss)
    }
  }
  const after = process.memoryUsage().rss
  const mb = (value: number) => (value / 1024 / 1024).toFixed(1)
  console.log(
    `ndjsonRows over ${mb(produced)} MB, ${rows} rows in ${batches} batches:`,
    `rss before ${mb(before)} MB, peak ${mb(peak)} MB, after ${mb(after)} MB, growth ${mb(peak - before)} MB`,
  )
  expect(rows).toBe(index)
  expect(peak - before).toBeLessThan(60 * 1024 * 1024)
}, 30_000)
