/** Hostile and malformed requests to the legacy API: each is a 4xx naming the problem, writes nothing, and leaves the app serving, on both backends. */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { eachBackend, type Backend, type BackendApp } from './backends'
import { expectJson, type BodyInit } from './helpers'

// For hooks too (bunfig's timeout covers only tests): the PostgreSQL cluster's removal after the file, a database per test, takes seconds.
setDefaultTimeout(60_000)

const DOG = { id: 1, name: 'Cleopaws' }
const SEEDED = {
  dogs: {
    columns: [
      ['id', 'INTEGER'],
      ['name', 'TEXT'],
    ],
    rows: [DOG],
  },
}

/** An unsafe app whose `dogs` table holds DOG. */
async function seeded(backend: Backend, settings?: { max_post_body_bytes: number }): Promise<BackendApp> {
  const t = await backend.makeApp({ unsafe: true, settings })
  await expectJson(await t.post('/-/insert/data/dogs?pk=id', [DOG]), 200, { table_count: 1 })
  expect(await t.snapshot()).toEqual(SEEDED)
  return t
}

/** The app still writes after a refusal: a good row lands next to DOG. */
async function expectStillServing(t: BackendApp) {
  await expectJson(await t.post('/-/insert/data/dogs', [{ id: 2, name: 'Pancakes' }]), 200, { table_count: 2 })
  expect(await t.rows('dogs')).toEqual([DOG, { id: 2, name: 'Pancakes' }])
}

const bytes = (...values: number[]) => new Uint8Array(values)
const utf8 = (text: string) => new TextEncoder().encode(text)
const stream = (data: Uint8Array, chunk = 100): ReadableStream<Uint8Array> =>
  new ReadableStream({
    start(controller) {
      for (let at = 0; at < data.length; at += chunk) controller.enqueue(data.slice(at, at + chunk))
      controller.close()
    },
  })

const invalidJson = (detail: string) => ({ status: 400, error: `Invalid JSON: ${detail}`, error_code: 'invalid_json' })
const invalidBody = (error: string) => ({ status: 400, error, error_code: 'invalid_body' })
const NOT_ROWS = invalidBody('Body must be a JSON object or an array of objects')

const BAD_BODIES: Array<[string, () => BodyInit, unknown]> = [
  ['malformed JSON: a doubled comma', () => '{"id": 2,, "name": "x"}', invalidJson('Expected a double-quoted property name at line 1 column 10')],
  ['malformed JSON: a trailing comma in an array', () => '[{"id": 2},]', invalidJson('Unexpected character "]" at line 1 column 12')],
  ['malformed JSON on a later line', () => '[\n  {"id": 2},\n  {"id": 3\n]', invalidJson("Expected ',' or '}' at line 4 column 1")],
  ['malformed JSON: an unterminated string', () => '{"name": "Rex', invalidJson('Unterminated string at line 1 column 14')],
  ['malformed JSON: single quotes', () => "{'id': 2}", invalidJson('Expected a double-quoted property name at line 1 column 2')],
  ['malformed JSON: NaN', () => '{"id": NaN}', invalidJson('Unexpected character "N" at line 1 column 8')],
  [
    'malformed JSON: a raw control character in a string',
    () => '{"name": "a\u0001b"}',
    invalidJson('Unescaped control character in string at line 1 column 12'),
  ],
  ['two JSON values one after the other', () => '{"id": 2} {"id": 3}', invalidJson('Unexpected data after the JSON value at line 1 column 11')],
  ['an empty body', () => '', invalidJson('the body is empty')],
  ['no body at all', () => undefined, invalidJson('the body is empty')],
  ['a whitespace body', () => ' \n\t\r\n ', invalidJson('the body is empty')],
  ['the scalar 1', () => '1', NOT_ROWS],
  ['the scalar "x"', () => '"x"', NOT_ROWS],
  ['the scalar null', () => 'null', NOT_ROWS],
  ['the scalar true', () => 'true', NOT_ROWS],
  ['an array of numbers', () => '[1, 2]', invalidBody('Item 0 of the array is not a JSON object')],
  ['an array of strings', () => '["id", "name"]', invalidBody('Item 0 of the array is not a JSON object')],
  ['an array of arrays of objects', () => '[[{"id": 2}]]', invalidBody('Item 0 of the array is not a JSON object')],
  ['an array mixing objects and scalars', () => '[{"id": 2}, {"id": 3}, "x", {"id": 4}]', invalidBody('Item 2 of the array is not a JSON object')],
  ['an array ending in null', () => '[{"id": 2}, null]', invalidBody('Item 1 of the array is not a JSON object')],
  ['arrays nested 10,000 deep', () => '['.repeat(10_000) + ']'.repeat(10_000), invalidJson('nesting is deeper than 1000 levels')],
  [
    'a row value nested 10,000 deep',
    () => '{"id": 2, "doc": ' + '{"a": '.repeat(10_000) + '1' + '}'.repeat(10_001),
    invalidJson('nesting is deeper than 1000 levels'),
  ],
  ['invalid UTF-8 bytes', () => bytes(0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d), invalidJson('the body is not valid UTF-8')],
  ['a truncated UTF-8 sequence', () => bytes(0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d), invalidJson('the body is not valid UTF-8')],
  ['UTF-16 text', () => new Uint8Array(Buffer.from('{"id": 2}', 'utf16le')), invalidJson('Expected a double-quoted property name at line 1 column 2')],
]

const LITERAL_NAMES = [
  'dogs"; DROP TABLE dogs; --',
  "Robert'); DROP TABLE dogs;--",
  'double"quote',
  "single'quote",
  '[brackets]',
  '`backticks`',
  'semi;colon',
  'with space',
  '  padded  ',
  'dotted.name',
  '100%',
  'a+b',
  'Ünïcödé',
  '日本語',
  '🐶🐾',
  'select',
  'table',
  'order',
  'rowid',
  '--comment',
  '/* comment */',
  '?',
  '$1',
]

/**
 * SQL naming the type of the value `column` holds, in SQLite's words (`integer`, `real`, `text`, `blob`, `null`).
 * A PostgreSQL value has its column's type, so that is what it names.
 */
function storedType(t: BackendApp, column: string): string {
  if (t.backend === 'sqlite') return `typeof(${column})`
  return `CASE WHEN ${column} IS NULL THEN 'null' ELSE CASE pg_typeof(${column})::text WHEN 'bigint' THEN 'integer' WHEN 'double precision' THEN 'real' WHEN 'text' THEN 'text' WHEN 'bytea' THEN 'blob' ELSE pg_typeof(${column})::text END END`
}

/** [name, type] of every column, types in SQLite's words, read from the catalogue (a column named rowid included). */
async function columnsOf(t: BackendApp, table: string): Promise<Array<[string, string]>> {
  if (t.backend === 'sqlite') return t.columns(table)
  const types: Record<string, string> = { bigint: 'INTEGER', 'double precision': 'REAL', text: 'TEXT', bytea: 'BLOB' }
  const columns = await t.query(
    'SELECT column_name AS name, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position',
    [table],
  )
  return columns.map((column) => [column.name as string, types[column.type as string] ?? (column.type as string)])
}

eachBackend((backend) => {
  describe('bad bodies are refused with a 400 naming the problem', () => {
    test.each(BAD_BODIES)('%s', async (_name, body, response) => {
      const t = await seeded(backend)
      await expectJson(await t.request('POST', '/-/insert/data/dogs', body()), 400, response)
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test.each(BAD_BODIES.filter(([name]) => !name.includes('10,000')))('%s, sent to a missing table, creates nothing', async (_name, body, response) => {
      const t = await backend.makeApp({ unsafe: true })
      await expectJson(await t.request('POST', '/-/insert/data/cats', body()), 400, response)
      expect(await t.tables()).toEqual([])
    })
  })

  describe('bodies that look odd but must be accepted', () => {
    test.each<[string, () => BodyInit, Record<string, string>]>([
      ['with a UTF-8 byte order mark', () => new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('[{"id": 2, "name": "Pancakes"}]')]), {}],
      [
        'sent as application/x-www-form-urlencoded, as curl --data does',
        () => '[{"id": 2, "name": "Pancakes"}]',
        { 'content-type': 'application/x-www-form-urlencoded' },
      ],
      ['sent as text/plain', () => '{"id": 2, "name": "Pancakes"}', { 'content-type': 'text/plain' }],
      ['sent as multipart/form-data', () => '{"id": 2, "name": "Pancakes"}', { 'content-type': 'multipart/form-data; boundary=x' }],
      ['streamed in one-byte chunks', () => stream(utf8('{"id": 2, "name": "Pancakes"}'), 1), {}],
    ])('a JSON body %s', async (_name, body, headers) => {
      const t = await seeded(backend)
      await expectJson(await t.request('POST', '/-/insert/data/dogs', body(), { ...headers }), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([DOG, { id: 2, name: 'Pancakes' }])
    })
  })

  describe('the body size limit', () => {
    const TOO_LARGE = { status: 413, error: 'Request body exceeded maximum size of 1000 bytes', error_code: 'too_large' }
    /** A one-row body of exactly `size` bytes: [{"id":2,"name":"xxx…"}] */
    const bodyOf = (size: number) => `[{"id":2,"name":"${'x'.repeat(size - 20)}"}]`

    test('the helper builds bodies of the exact size asked for', () => {
      expect([bodyOf(1000).length, bodyOf(1001).length]).toEqual([1000, 1001])
    })

    test.each([
      ['declared by Content-Length', (body: string) => ({ body: body as BodyInit, headers: { 'content-length': String(body.length) } })],
      ['streamed without Content-Length', (body: string) => ({ body: stream(utf8(body)) as BodyInit, headers: {} })],
    ])('one byte over the limit, %s, is a 413 and writes nothing', async (_name, send) => {
      const t = await seeded(backend, { max_post_body_bytes: 1000 })
      const { body, headers } = send(bodyOf(1001))
      await expectJson(await t.request('POST', '/-/insert/data/dogs', body, headers), 413, TOO_LARGE)
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('a stream far over the limit is refused without a Content-Length', async () => {
      const t = await seeded(backend, { max_post_body_bytes: 1000 })
      await expectJson(await t.request('POST', '/-/insert/data/dogs', stream(utf8(bodyOf(1_000_000)), 4096)), 413, TOO_LARGE)
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test.each([
      ['with Content-Length', (body: string) => ({ body: body as BodyInit, headers: { 'content-length': String(body.length) } })],
      ['streamed', (body: string) => ({ body: stream(utf8(body)) as BodyInit, headers: {} })],
    ])('a body exactly at the limit is accepted (%s)', async (_name, send) => {
      const t = await seeded(backend, { max_post_body_bytes: 1000 })
      const { body, headers } = send(bodyOf(1000))
      await expectJson(await t.request('POST', '/-/insert/data/dogs', body, headers), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([DOG, { id: 2, name: 'x'.repeat(980) }])
    })

    test('the limit counts bytes, not characters', async () => {
      const t = await seeded(backend, { max_post_body_bytes: 1000 })
      // 500 two-byte characters: 520 characters, 1020 bytes.
      const body = `[{"id":2,"name":"${'é'.repeat(500)}"}]`
      expect([body.length, Buffer.byteLength(body)]).toEqual([520, 1020])
      await expectJson(await t.request('POST', '/-/insert/data/dogs', stream(utf8(body))), 413, TOO_LARGE)
      expect(await t.snapshot()).toEqual(SEEDED)
    })
  })

  describe('table and column names are taken literally', () => {
    test.each(LITERAL_NAMES.filter((name) => name.trim() === name))('a table named %p', async (name) => {
      const t = await seeded(backend)
      await expectJson(await t.post(`/-/insert/data/${encodeURIComponent(name)}`, [{ id: 1, value: 'x' }]), 200, { table_count: 1 })
      expect(await t.tables()).toEqual(['dogs', name].sort())
      expect(await t.columns(name)).toEqual([
        ['id', 'INTEGER'],
        ['value', 'TEXT'],
      ])
      expect(await t.rows(name)).toEqual([{ id: 1, value: 'x' }])
      expect(await t.rows('dogs')).toEqual([DOG])
      // A second write finds the same table instead of creating another.
      await expectJson(await t.post(`/-/insert/data/${encodeURIComponent(name)}`, [{ id: 2, value: 'y' }]), 200, { table_count: 2 })
      expect(await t.tables()).toEqual(['dogs', name].sort())
    })

    test.each(['  padded  ', 'audit ', ' audit', 'a\nb', 'tab\there'])('a new table named %p is refused, an existing one is written to', async (name) => {
      const t = await seeded(backend)
      const refused = await t.post(`/-/insert/data/${encodeURIComponent(name)}`, [{ id: 1, value: 'x' }])
      expect(refused.status).toBe(400)
      expect(await refused.json()).toEqual({ status: 400, error: expect.stringMatching(/white space|control characters/), error_code: 'invalid_name' })
      expect(await t.tables()).toEqual(['dogs'])
      await t.exec(`CREATE TABLE "${name}" (id INTEGER PRIMARY KEY, value TEXT)`)
      await expectJson(await t.post(`/-/insert/data/${encodeURIComponent(name)}`, [{ id: 1, value: 'x' }]), 200, { table_count: 1 })
      expect(await t.rows(name)).toEqual([{ id: 1, value: 'x' }])
    })

    test.each(LITERAL_NAMES.filter((name) => name !== 'rowid'))('a column named %p, added by alter too', async (name) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/cats', [{ id: 1, [name]: 'x' }]), 200, { table_count: 1 })
      expect(await t.columns('cats')).toEqual([
        ['id', 'INTEGER'],
        [name, 'TEXT'],
      ])
      // rows, not SELECT *: on PostgreSQL a table without a key has its rowid as a real column.
      expect(await t.rows('cats')).toEqual([{ id: 1, [name]: 'x' }])
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', [{ id: 2, name: 'Pancakes', [name]: 7 }]), 200, { table_count: 2 })
      expect(await t.columns('dogs')).toEqual([
        ['id', 'INTEGER'],
        ['name', 'TEXT'],
        [name, 'INTEGER'],
      ])
      expect(await t.rows('dogs')).toEqual([
        { ...DOG, [name]: null },
        { id: 2, name: 'Pancakes', [name]: 7 },
      ])
      expect(await t.tables()).toEqual(['cats', 'dogs'])
    })

    test.each(['rowid', 'OID', '_rowid_'])(
      'a column named %p can create a table with a primary key, not one without, and alter cannot add it',
      async (name) => {
        const t = await seeded(backend)
        await expectJson(await t.post('/-/insert/data/birds', [{ id: 1, [name]: 'x' }]), 400, {
          status: 400,
          error: `A table without a primary key cannot have a column named ${JSON.stringify(name)}: it would hide the rowid that addresses its rows`,
          error_code: 'invalid_name',
        })
        await expectJson(await t.post('/-/insert/data/cats?pk=id', [{ id: 1, [name]: 'x' }]), 200, { table_count: 1 })
        const CATS = {
          columns: [
            ['id', 'INTEGER'],
            [name, 'TEXT'],
          ],
          rows: [{ id: 1, [name]: 'x' }],
        }
        // Not t.snapshot(): the PostgreSQL inspectors take any table with a column named rowid for a rowid table and hide that column.
        const state = async (): Promise<Record<string, unknown>> => ({
          tables: await t.tables(),
          dogs: { columns: await t.columns('dogs'), rows: await t.rows('dogs') },
          cats: { columns: await columnsOf(t, 'cats'), rows: await t.query('SELECT * FROM cats') },
        })
        expect(await state()).toEqual({ tables: ['cats', 'dogs'], ...SEEDED, cats: CATS })
        await expectJson(await t.post('/-/insert/data/dogs?alter=1', [{ id: 2, name: 'Pancakes', [name]: 7 }]), 400, {
          status: 400,
          error: `Cannot add column ${JSON.stringify(name)} to table dogs: SQLite reserves that name for the rowid`,
          error_code: 'invalid_name',
        })
        expect(await state()).toEqual({ tables: ['cats', 'dogs'], ...SEEDED, cats: CATS })
        await expectStillServing(t)
      },
    )

    test('an unknown-keys error names a hostile column exactly', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 2, 'x"; DROP TABLE dogs; --': 1 }]), 400, {
        status: 400,
        error: 'table dogs has no column named x"; DROP TABLE dogs; --',
        error_code: 'unknown_keys',
      })
      expect(await t.snapshot()).toEqual(SEEDED)
    })
  })

  describe('names SQLite reserves or cannot hold are refused', () => {
    const reserved = (name: string) => ({
      status: 400,
      error: `Table name ${JSON.stringify(name)} is reserved: names starting with sqlite_ belong to SQLite`,
      error_code: 'invalid_name',
    })

    test.each(['sqlite_foo', 'SQLITE_foo', 'Sqlite_Stat1', 'sqlite_master', 'sqlite_schema', 'sqlite_'])('a table named %p', async (name) => {
      const t = await seeded(backend)
      await expectJson(await t.post(`/-/insert/data/${name}`, [{ id: 1 }]), 400, reserved(name))
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    // SQLite only: sqlite_sequence is the table SQLite makes for AUTOINCREMENT (PostgreSQL refuses the name as it refuses every sqlite_ name above).
    if (backend.name === 'sqlite') {
      test.each(['sqlite_sequence', 'SQLITE_SEQUENCE'])('%s is never written, though it exists', async (name) => {
        const t = await seeded(backend)
        await t.exec('CREATE TABLE counters (id INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER)')
        await t.exec('INSERT INTO counters (n) VALUES (1)')
        // The inspectors leave SQLite's own tables out, so sqlite_sequence is read by name.
        const state = async () => ({
          tables: await t.snapshot(),
          sqlite_sequence: { columns: await t.columns('sqlite_sequence'), rows: await t.query('SELECT * FROM sqlite_sequence') },
        })
        const before = await state()
        expect(before.sqlite_sequence).toEqual({
          columns: [
            ['name', ''],
            ['seq', ''],
          ],
          rows: [{ name: 'counters', seq: 1 }],
        })
        await expectJson(
          await t.post(`/-/insert/data/${name}?alter=1`, [
            { name: 'counters', seq: 1000 },
            { name: 'dogs', seq: 5 },
          ]),
          400,
          reserved(name),
        )
        expect(await state()).toEqual(before)
      })
    }

    test.each([
      ['an empty column name', '[{"id": 2, "": "x"}]', 'Column name must not be empty'],
      ['a column name holding NUL', '[{"id": 2, "a\\u0000b": "x"}]', 'Column name "a\\u0000b" must not contain a NUL character'],
    ])('%s', async (_name, body, error) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', body), 400, { status: 400, error, error_code: 'invalid_name' })
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectJson(await t.post('/-/insert/data/cats', body), 400, { status: 400, error, error_code: 'invalid_name' })
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    // PostgreSQL gives every row system columns of these names, so no table there may have a column so named; SQLite has none.
    test.each(['tableoid', 'xmin', 'cmin', 'xmax', 'cmax', 'ctid'])('a column named %p, by create and by alter', async (name) => {
      const t = await seeded(backend)
      const created = await t.post('/-/insert/data/cats', [{ id: 1, [name]: 'x' }])
      const altered = await t.post('/-/insert/data/dogs?alter=1', [{ id: 2, name: 'Pancakes', [name]: 7 }])
      if (t.backend === 'sqlite') {
        await expectJson(created, 200, { table_count: 1 })
        await expectJson(altered, 200, { table_count: 2 })
        expect(await t.snapshot()).toEqual({
          cats: {
            columns: [
              ['id', 'INTEGER'],
              [name, 'TEXT'],
            ],
            rows: [{ id: 1, [name]: 'x' }],
          },
          dogs: {
            columns: [
              ['id', 'INTEGER'],
              ['name', 'TEXT'],
              [name, 'INTEGER'],
            ],
            rows: [
              { ...DOG, [name]: null },
              { id: 2, name: 'Pancakes', [name]: 7 },
            ],
          },
        })
        return
      }
      const refused = {
        status: 400,
        error: `Name refused by PostgreSQL: column name "${name}" conflicts with a system column name`,
        error_code: 'invalid_name',
      }
      await expectJson(created, 400, refused)
      await expectJson(altered, 400, refused)
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('a table name holding NUL is refused', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/a%00b', [{ id: 1 }]), 400, {
        status: 400,
        error: 'Table name must not contain a NUL character',
        error_code: 'invalid_name',
      })
      expect(await t.snapshot()).toEqual(SEEDED)
    })

    test('an object with no keys cannot create a table', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/cats', [{}, {}]), 400, invalidBody('Cannot create table cats with no columns'))
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('an empty array cannot create a table', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/cats', []), 400, invalidBody('Cannot create table cats from an empty list of rows'))
      expect(await t.snapshot()).toEqual(SEEDED)
    })
  })

  describe('unpaired surrogates, which JSON escapes allow but UTF-8 cannot hold', () => {
    test.each([
      ['a column name', '[{"id": 2, "\\ud800": 1}]', 'invalid_name', `Column name ${JSON.stringify('\ud800')} is not valid Unicode (it has a lone surrogate)`],
      [
        'a column name added by alter',
        '[{"id": 2, "a\\udc00b": 1}]',
        'invalid_name',
        `Column name ${JSON.stringify('a\udc00b')} is not valid Unicode (it has a lone surrogate)`,
      ],
      ['a text value', '[{"id": 2, "name": "x\\ud800"}]', 'invalid_value', 'Row 0 column "name": string is not valid Unicode (it has a lone surrogate)'],
      [
        'a key value in a later row',
        '[{"id": 2, "name": "ok"}, {"id": "\\udfff", "name": "x"}]',
        'invalid_value',
        'Row 1 column "id": string is not valid Unicode (it has a lone surrogate)',
      ],
    ])('%s is a 400 and nothing is written', async (_name, body, code, error) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', body), 400, { status: 400, error, error_code: code })
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('distinct keys that SQLite would both store as U+FFFD cannot replace each other', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await expectJson(await t.post('/-/insert/data/pages?pk=slug', '[{"slug": "a", "n": 0}]'), 200, { table_count: 1 })
      for (const slug of ['\\ud800x', '\\ud801x']) {
        await expectJson(await t.post('/-/insert/data/pages?pk=slug', `[{"slug": "${slug}", "n": 1}]`), 400, {
          status: 400,
          error: 'Row 0 column "slug": string is not valid Unicode (it has a lone surrogate)',
          error_code: 'invalid_value',
        })
      }
      expect(await t.rows('pages')).toEqual([{ slug: 'a', n: 0 }])
    })

    test('escaped surrogate pairs are ordinary characters, and a lone one inside nested JSON is kept as its escape', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await expectJson(await t.post('/-/insert/data/t', '[{"\\ud83d\\udc36": "\\ud83d\\udc3e", "doc": {"k": "\\ud800"}}]'), 200, { table_count: 1 })
      expect(await t.columns('t')).toEqual([
        ['🐶', 'TEXT'],
        ['doc', 'TEXT'],
      ])
      expect(await t.rows('t')).toEqual([{ '🐶': '🐾', doc: '{"k": "\\ud800"}' }])
    })
  })

  describe('nesting depth', () => {
    const row = (depth: number, leaf: string) => `{"id": 2, "name": ${'['.repeat(depth - 1)}${leaf}${']'.repeat(depth - 1)}}`
    // PostgreSQL 15 has no json_valid: its cast to json fails the query on anything that is not JSON.
    const jsonValid = (t: BackendApp) => (t.backend === 'sqlite' ? 'json_valid(name)' : '(name::json IS NOT NULL)::integer')

    test.each(['1', '1.0'])('a body nested 1000 levels deep around %s is stored exactly, as JSON the engine can read', async (leaf) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs', row(1000, leaf)), 200, { table_count: 2 })
      const stored = '['.repeat(999) + leaf + ']'.repeat(999)
      expect(await t.query(`SELECT name, ${jsonValid(t)} AS valid FROM dogs WHERE id = 2`)).toEqual([{ name: stored, valid: 1 }])
    })

    test.each(['1', '1.0'])('a body nested 1001 levels deep around %s is refused and writes nothing', async (leaf) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs', row(1001, leaf)), 400, invalidJson('nesting is deeper than 1000 levels'))
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })
  })

  describe('the column limit (SQLite 2000, PostgreSQL 1600)', () => {
    const limit = backend.name === 'sqlite' ? 2000 : 1600
    const wideRow = (count: number, prefix = 'c') => Object.fromEntries(Array.from({ length: count }, (_, i) => [`${prefix}${i}`, i]))
    // A PostgreSQL row must fit in one 8 kB page unless its values can move out of line: 1600 bigints (12.8 kB) cannot,
    // short texts can. So the widest tables there hold text.
    const fittingRow = (count: number) =>
      backend.name === 'sqlite' ? wideRow(count) : Object.fromEntries(Object.entries(wideRow(count)).map(([k, v]) => [k, `${v}`]))
    const fittingType = backend.name === 'sqlite' ? 'INTEGER' : 'TEXT'

    const ROWID_LIMIT = 'a table without a primary key may have at most 1999, since reads return its rowid too'
    const POSTGRES_LIMIT = 'tables can have at most 1600 columns'

    test(`${limit} columns make a table with a primary key; a rowid table takes ${limit - 1}, keeping one for its rowid`, async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/wide?pk=c0', [fittingRow(limit)]), 200, { table_count: 1 })
      const columns = await t.columns('wide')
      expect([columns.length, columns[0], columns[limit - 1]]).toEqual([limit, ['c0', fittingType], [`c${limit - 1}`, fittingType]])
      expect(await t.rows('wide')).toEqual([fittingRow(limit)])
      expect((await t.get('/data/wide.json?_shape=array')).status).toBe(200)
      await expectJson(await t.post('/-/insert/data/narrower', [fittingRow(limit - 1)]), 200, { table_count: 1 })
      expect(await t.columns('narrower')).toHaveLength(limit - 1)
      expect((await t.get('/data/narrower.json?_shape=array')).status).toBe(200)
    })

    // rowpost's own check (SQLite's 2000) runs first on both; past PostgreSQL's 1600 the refusal is PostgreSQL's own words.
    const refusals: Array<[string, string, Record<string, number | string>[], string]> =
      backend.name === 'sqlite'
        ? [
            ['a row of 2001 columns', '/-/insert/data/wide', [wideRow(2001)], 'Row 0 has 2001 columns; SQLite allows at most 2000'],
            [
              '2000 columns plus a ?pk= column no row carries',
              '/-/insert/data/wide?pk=id',
              [wideRow(2000)],
              'Table wide would have 2001 columns; SQLite allows at most 2000',
            ],
            [
              'two rows of 1001 different columns each',
              '/-/insert/data/wide?pk=a0',
              [wideRow(1001, 'a'), wideRow(1000, 'b')],
              'Table wide would have 2001 columns; SQLite allows at most 2000',
            ],
            ['2000 columns in a table without a primary key', '/-/insert/data/wide', [wideRow(2000)], `Table wide would have 2000 columns; ${ROWID_LIMIT}`],
          ]
        : [
            ['a row of 2001 columns', '/-/insert/data/wide', [wideRow(2001)], 'Row 0 has 2001 columns; SQLite allows at most 2000'],
            ['1600 columns plus a ?pk= column no row carries', '/-/insert/data/wide?pk=id', [fittingRow(1600)], POSTGRES_LIMIT],
            ['two rows of 801 and 800 different columns', '/-/insert/data/wide?pk=a0', [wideRow(801, 'a'), wideRow(800, 'b')], POSTGRES_LIMIT],
            ['1600 columns in a table without a primary key', '/-/insert/data/wide', [fittingRow(1600)], POSTGRES_LIMIT],
            ['a row of 1600 integers, too big for one page', '/-/insert/data/wide?pk=c0', [wideRow(1600)], 'row is too big: size 12824, maximum size 8160'],
          ]

    test.each(refusals)('%s is refused', async (_name, path, rows, error) => {
      const t = await seeded(backend)
      await expectJson(await t.post(path, rows), 400, invalidBody(error))
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('alter may not take a table past the limit', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await expectJson(await t.post('/-/insert/data/wide', [fittingRow(limit - 2)]), 200, { table_count: 1 })
      await expectJson(
        await t.post('/-/insert/data/wide?alter=1', [{ c0: fittingRow(1).c0!, x: 1, y: 2 }]),
        400,
        invalidBody(backend.name === 'sqlite' ? `Table wide would have 2000 columns; ${ROWID_LIMIT}` : POSTGRES_LIMIT),
      )
      expect((await t.columns('wide')).length).toBe(limit - 2)
      expect(await t.rows('wide')).toEqual([fittingRow(limit - 2)])
      await expectJson(await t.post('/-/insert/data/wide?alter=1', [{ c0: fittingRow(1).c0!, x: 1 }]), 200, { table_count: 2 })
      expect((await t.columns('wide')).at(-1)).toEqual(['x', 'INTEGER'])
    })
  })

  describe('64-bit integers', () => {
    test('2^63-1 and -2^63 are stored exactly', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/ints?pk=id', '[{"id": 9223372036854775807, "n": -9223372036854775808}]'), 200, { table_count: 1 })
      expect(await t.columns('ints')).toEqual([
        ['id', 'INTEGER'],
        ['n', 'INTEGER'],
      ])
      expect(await t.query(`SELECT id, n, ${storedType(t, 'n')} AS type FROM ints`)).toEqual([
        { id: 9223372036854775807n, n: -9223372036854775808n, type: 'integer' },
      ])
    })

    test.each([
      ['2^63', '9223372036854775808'],
      ['-2^63-1', '-9223372036854775809'],
      ['2^64', '18446744073709551616'],
      ['a 40-digit integer', '1234567890123456789012345678901234567890'],
    ])('%s is a 400 and nothing is written', async (_name, literal) => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', `[{"id": 2, "name": "ok"}, {"id": 3, "n": ${literal}}]`), 400, {
        status: 400,
        error: `Row 1 column "n": integer ${literal} does not fit in SQLite's 64-bit INTEGER`,
        error_code: 'invalid_value',
      })
      expect(await t.snapshot()).toEqual(SEEDED)
      await expectStillServing(t)
    })

    test('a number beyond the range of a double is a 400', async () => {
      const t = await seeded(backend)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', '{"id": 2, "x": 1e400}'), 400, {
        status: 400,
        error: 'Row 0 column "x": number is out of range',
        error_code: 'invalid_value',
      })
      expect(await t.snapshot()).toEqual(SEEDED)
    })
  })
})
