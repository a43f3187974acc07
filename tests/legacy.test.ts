/** The datasette-insert API (API.md §1) and the values it stores (§5), asserted through HTTP and in the stored tables, on both backends. */
import { Database } from 'bun:sqlite'
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import { eachBackend, type Backend, type BackendApp, type BackendOptions } from './backends'
import { expectJson, makeApp, tempDbPath } from './helpers'

// For hooks too (bunfig's timeout covers only tests): the PostgreSQL cluster's removal after the file, a database per test, takes seconds.
setDefaultTimeout(60_000)

/** The CREATE TABLE statement the store shows for `table`: SQLite's own, or the one rowpost builds from PostgreSQL's catalogue. */
async function schemaOf(t: BackendApp, table: string): Promise<string | undefined> {
  return (await t.store.schemaOf(table))?.sql
}

/** The expected value on the backend under test, where the engines rightly differ. */
const on = <T>(t: BackendApp, expected: { sqlite: T; postgres: T }): T => expected[t.backend]

/**
 * SQL naming the type of the value `column` holds, in SQLite's words (`integer`, `real`, `text`, `blob`, `null`).
 * A PostgreSQL value has its column's type, so that is what it names.
 */
function storedType(t: BackendApp, column: string): string {
  if (t.backend === 'sqlite') return `typeof(${column})`
  return `CASE WHEN ${column} IS NULL THEN 'null' ELSE CASE pg_typeof(${column})::text WHEN 'bigint' THEN 'integer' WHEN 'double precision' THEN 'real' WHEN 'text' THEN 'text' WHEN 'bytea' THEN 'blob' ELSE pg_typeof(${column})::text END END`
}

const CLEOPAWS = { id: 1, name: 'Cleopaws', age: 5 }
const PANCAKES = { id: 2, name: 'Pancakes', age: 4 }
const DOGS = [CLEOPAWS, PANCAKES]
const DOG_COLUMNS: Array<[string, string]> = [
  ['id', 'INTEGER'],
  ['name', 'TEXT'],
  ['age', 'INTEGER'],
]

/**
 * An app (unsafe unless `options` say otherwise) whose `dogs` table holds DOGS, created by rowpost itself through an
 * unsafe app over the same store: on PostgreSQL only rowpost's own CREATE gives an INTEGER key SQLite's numbering
 * (a bigint with a trigger), which setup SQL's `INTEGER PRIMARY KEY` (an int4 with no default) would not have.
 */
async function withDogs(backend: Backend, options: BackendOptions = { unsafe: true }): Promise<BackendApp> {
  const t = await backend.makeApp(options)
  const setup = createApp({ unsafe: true, databases: [t.store] })
  const seeded = await setup.handle(new Request('http://localhost/-/insert/data/dogs?pk=id', { method: 'POST', body: JSON.stringify(DOGS) }))
  await expectJson(seeded, 200, { table_count: 2 })
  expect(await t.snapshot()).toEqual({ dogs: { columns: DOG_COLUMNS, rows: DOGS } })
  return t
}

const PERMISSION_DENIED = { error: 'Permission denied', status: 403 }

const TOKENS = [
  { token: 'alice-token', actor: { id: 'alice' } },
  { token: 'bot-token', actor: { bot: 'insert-bot' } },
]

/** A config granting the given write actions at the root to every caller, anonymous included. */
function grantEveryone(actions: Record<string, boolean>) {
  return interpretMetadata({ permissions: actions, plugins: { 'datasette-auth-tokens': { tokens: TOKENS } } })
}

const insertOnly = () => grantEveryone({ 'insert-row': true, 'update-row': true })
const small = { max_post_body_bytes: 1000 }
const tooBig = JSON.stringify([{ id: 9, name: 'x'.repeat(1000) }])

interface ErrorCase {
  /** What the app is built with; `dogs` always holds DOGS and `nn` has a NOT NULL name. */
  options: BackendOptions
  path: string
  body: string
  headers?: Record<string, string>
  status: number
  response: unknown
}

const ERROR_TABLE: Array<[string, ErrorCase]> = [
  [
    'upsert without ?pk=',
    {
      options: { unsafe: true },
      path: '/-/upsert/data/dogs',
      body: '{"id": 1, "age": 7}',
      status: 400,
      response: { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' },
    },
  ],
  [
    'upsert with an empty ?pk=',
    {
      options: { unsafe: true },
      path: '/-/upsert/data/dogs?pk=',
      body: '{"id": 1, "age": 7}',
      status: 400,
      response: { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' },
    },
  ],
  ['a caller who may not insert', { options: {}, path: '/-/insert/data/dogs', body: '{"id": 3}', status: 403, response: PERMISSION_DENIED }],
  [
    'a caller who may insert but not update',
    { options: { config: grantEveryone({ 'insert-row': true }) }, path: '/-/insert/data/dogs', body: '{"id": 3}', status: 403, response: PERMISSION_DENIED },
  ],
  [
    'alter asked by a caller who may not alter',
    {
      options: { config: insertOnly() },
      path: '/-/insert/data/dogs?alter=1',
      body: '{"id": 3, "breed": "Husky"}',
      status: 403,
      response: { error: 'Alter permission denied', status: 403 },
    },
  ],
  [
    'a missing table and a caller who may not create',
    {
      options: { config: insertOnly() },
      path: '/-/insert/data/cats',
      body: '{"id": 3}',
      status: 400,
      response: { status: 400, error: 'Table cats does not exist', error_code: 'missing_table' },
    },
  ],
  [
    'an unknown key without alter (the plugin’s exact body)',
    {
      options: { unsafe: true },
      path: '/-/insert/data/dogs',
      body: '{"id": 3, "foo": "bar"}',
      status: 400,
      response: { status: 400, error: 'table dogs has no column named foo', error_code: 'unknown_keys' },
    },
  ],
  [
    'an unknown database',
    {
      options: { unsafe: true },
      path: '/-/insert/nope/dogs',
      body: '{"id": 3}',
      status: 404,
      response: { status: 404, error: 'Database not found: nope', error_code: 'database_not_found' },
    },
  ],
  [
    'a body that is not JSON',
    {
      options: { unsafe: true },
      path: '/-/insert/data/dogs',
      body: '[\n  {"id": 3,\n   "name": "Rex",}\n]',
      status: 400,
      response: { status: 400, error: 'Invalid JSON: Expected a double-quoted property name at line 3 column 18', error_code: 'invalid_json' },
    },
  ],
  [
    'an empty body',
    {
      options: { unsafe: true },
      path: '/-/insert/data/dogs',
      body: '',
      status: 400,
      response: { status: 400, error: 'Invalid JSON: the body is empty', error_code: 'invalid_json' },
    },
  ],
  [
    'an array holding something other than objects',
    {
      options: { unsafe: true },
      path: '/-/insert/data/dogs',
      body: '[{"id": 3}, 4]',
      status: 400,
      response: { status: 400, error: 'Item 1 of the array is not a JSON object', error_code: 'invalid_body' },
    },
  ],
  [
    'an upsert row missing its key',
    {
      options: { unsafe: true },
      path: '/-/upsert/data/dogs?pk=id',
      body: '[{"id": 1, "age": 6}, {"age": 7}]',
      status: 400,
      response: { status: 400, error: 'Row 1 is missing primary key column(s): "id"', error_code: 'missing_pk' },
    },
  ],
  [
    'an upsert row whose key is null',
    {
      options: { unsafe: true },
      path: '/-/upsert/data/dogs?pk=id',
      body: '{"id": null, "age": 7}',
      status: 400,
      response: { status: 400, error: 'Row 0 is missing primary key column(s): "id"', error_code: 'missing_pk' },
    },
  ],
  [
    'a NOT NULL constraint failure',
    {
      options: { unsafe: true },
      path: '/-/insert/data/nn',
      body: '[{"id": 1, "name": "ok"}, {"id": 2}]',
      status: 400,
      response: { status: 400, error: 'NOT NULL constraint failed: nn.name', error_code: 'constraint' },
    },
  ],
  [
    'a body over the size limit (declared by Content-Length)',
    {
      options: { unsafe: true, settings: small },
      path: '/-/insert/data/dogs',
      body: tooBig,
      headers: { 'content-length': String(tooBig.length) },
      status: 413,
      response: { status: 413, error: 'Request body exceeded maximum size of 1000 bytes', error_code: 'too_large' },
    },
  ],
]

interface OrderCase {
  options: () => BackendOptions
  path: string
  body: string
  headers?: Record<string, string>
  status: number
  response: unknown
}

const ORDER_TABLE: Array<[string, OrderCase]> = [
  [
    'an unknown database before upsert-without-pk, even for an anonymous caller',
    {
      options: () => ({}),
      path: '/-/upsert/nope/dogs',
      body: 'not json',
      status: 404,
      response: { status: 404, error: 'Database not found: nope', error_code: 'database_not_found' },
    },
  ],
  [
    'upsert-without-pk before permissions, so an anonymous caller learns it first',
    {
      options: () => ({}),
      path: '/-/upsert/data/dogs',
      body: '{"id": 1}',
      status: 400,
      response: { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' },
    },
  ],
  [
    'upsert-without-pk before the body',
    {
      options: () => ({ unsafe: true }),
      path: '/-/upsert/data/dogs?alter=1',
      body: '{',
      status: 400,
      response: { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' },
    },
  ],
  [
    'insert/update permission before alter permission',
    { options: () => ({}), path: '/-/insert/data/dogs?alter=1', body: '{"id": 3}', status: 403, response: PERMISSION_DENIED },
  ],
  ['permissions before the body', { options: () => ({}), path: '/-/insert/data/dogs', body: 'not json', status: 403, response: PERMISSION_DENIED }],
  [
    'permissions before the body size',
    {
      options: () => ({ settings: small }),
      path: '/-/insert/data/dogs',
      body: tooBig,
      headers: { 'content-length': String(tooBig.length) },
      status: 403,
      response: PERMISSION_DENIED,
    },
  ],
  [
    'alter permission before the body',
    {
      options: () => ({ config: insertOnly() }),
      path: '/-/insert/data/dogs?alter=yes',
      body: '[1]',
      status: 403,
      response: { error: 'Alter permission denied', status: 403 },
    },
  ],
  [
    'the body before whether the table exists (invalid JSON)',
    {
      options: () => ({ config: insertOnly() }),
      path: '/-/insert/data/cats',
      body: '{"id": }',
      status: 400,
      response: { status: 400, error: 'Invalid JSON: Unexpected character "}" at line 1 column 8', error_code: 'invalid_json' },
    },
  ],
  [
    'the body before whether the table exists (not objects)',
    {
      options: () => ({ config: insertOnly() }),
      path: '/-/insert/data/cats',
      body: '"cat"',
      status: 400,
      response: { status: 400, error: 'Body must be a JSON object or an array of objects', error_code: 'invalid_body' },
    },
  ],
  [
    'the body size before whether the table exists',
    {
      options: () => ({ config: insertOnly(), settings: small }),
      path: '/-/insert/data/cats',
      body: tooBig,
      headers: { 'content-length': String(tooBig.length) },
      status: 413,
      response: { status: 413, error: 'Request body exceeded maximum size of 1000 bytes', error_code: 'too_large' },
    },
  ],
  [
    'whether the table exists before unknown keys',
    {
      options: () => ({ config: insertOnly() }),
      path: '/-/insert/data/cats',
      body: '{"id": 1, "foo": 2}',
      status: 400,
      response: { status: 400, error: 'Table cats does not exist', error_code: 'missing_table' },
    },
  ],
]

eachBackend((backend) => {
  describe('insert creates the table', () => {
    test('with ?pk=id the key is an INTEGER PRIMARY KEY and the count is reported', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', DOGS), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual(DOGS)
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
      expect(await schemaOf(t, 'dogs')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT,\n   "age" INTEGER\n)',
          postgres: 'CREATE TABLE "dogs" (\n   "id" bigint PRIMARY KEY,\n   "name" text,\n   "age" bigint\n)',
        }),
      )
    })

    test('without ?pk= it is a rowid table numbering rows from 1', async () => {
      const t = await backend.makeApp()
      await expectJson(
        await t.post('/-/insert/data/dogs', [
          { name: 'Cleopaws', age: 5 },
          { name: 'Pancakes', age: 4 },
        ]),
        200,
        { table_count: 2 },
      )
      expect(await t.query('SELECT rowid, name, age FROM dogs ORDER BY rowid')).toEqual([
        { rowid: 1, name: 'Cleopaws', age: 5 },
        { rowid: 2, name: 'Pancakes', age: 4 },
      ])
      // PostgreSQL has no implicit rowid: rowpost gives the table one as its key.
      expect(await schemaOf(t, 'dogs')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "dogs" (\n   "name" TEXT,\n   "age" INTEGER\n)',
          postgres: 'CREATE TABLE "dogs" (\n   "rowid" bigint PRIMARY KEY,\n   "name" text,\n   "age" bigint\n)',
        }),
      )
    })

    test.each([
      [
        '?pk=id',
        { id: 1, name: 'Cleopaws', age: 5 },
        [
          ['id', 'INTEGER'],
          ['name', 'TEXT'],
          ['age', 'INTEGER'],
        ],
      ],
      [
        '',
        { name: 'Cleopaws', age: 5 },
        [
          ['name', 'TEXT'],
          ['age', 'INTEGER'],
        ],
      ],
    ])('from a single object (query %p) as if it were a one-row array', async (search, row, columns) => {
      const t = await backend.makeApp()
      await expectJson(await t.post(`/-/insert/data/dogs${search}`, row), 200, { table_count: 1 })
      expect(await t.rows('dogs')).toEqual([row])
      expect(await t.columns('dogs')).toEqual(columns as Array<[string, string]>)
    })

    test('repeating ?pk= makes a compound primary key', async () => {
      const t = await backend.makeApp()
      const rows = [
        { country: 'fr', city: 'Paris', population: 2100000 },
        { country: 'us', city: 'Paris', population: 25000 },
      ]
      await expectJson(await t.post('/-/insert/data/cities?pk=country&pk=city', rows), 200, { table_count: 2 })
      expect(await t.rows('cities')).toEqual(rows)
      // PostgreSQL makes every primary key column NOT NULL; SQLite lets a compound key's columns hold NULL.
      expect(await schemaOf(t, 'cities')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "cities" (\n   "country" TEXT,\n   "city" TEXT,\n   "population" INTEGER,\n   PRIMARY KEY ("country", "city")\n)',
          postgres:
            'CREATE TABLE "cities" (\n   "country" text NOT NULL,\n   "city" text NOT NULL,\n   "population" bigint,\n   PRIMARY KEY ("country", "city")\n)',
        }),
      )
    })

    test('a string key makes a TEXT PRIMARY KEY', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/pages?pk=slug', [{ slug: 'home', title: 'Home' }]), 200, { table_count: 1 })
      expect(await t.rows('pages')).toEqual([{ slug: 'home', title: 'Home' }])
      expect(await schemaOf(t, 'pages')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "pages" (\n   "slug" TEXT PRIMARY KEY,\n   "title" TEXT\n)',
          postgres: 'CREATE TABLE "pages" (\n   "slug" text PRIMARY KEY,\n   "title" text\n)',
        }),
      )
    })

    test('a ?pk= column that no row carries is added first as INTEGER PRIMARY KEY and numbered as SQLite numbers it', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', [{ name: 'Cleopaws' }, { name: 'Pancakes' }]), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'Cleopaws' },
        { id: 2, name: 'Pancakes' },
      ])
      expect(await schemaOf(t, 'dogs')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT\n)',
          postgres: 'CREATE TABLE "dogs" (\n   "id" bigint PRIMARY KEY,\n   "name" text\n)',
        }),
      )
    })
  })

  describe('insert replaces rows whose key exists', () => {
    test('an existing key is replaced whole: omitted columns become NULL', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 1, name: 'Cleo' }]), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Cleo', age: null }, PANCAKES])
    })

    test('table_count is every row in the table after the write, not the rows sent', async () => {
      const t = await withDogs(backend)
      const response = await t.post('/-/insert/data/dogs', [
        { id: 2, name: 'Pancakes', age: 6 },
        { id: 7, name: 'Rex', age: 1 },
      ])
      await expectJson(response, 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([CLEOPAWS, { id: 2, name: 'Pancakes', age: 6 }, { id: 7, name: 'Rex', age: 1 }])
    })

    // Batches whose keys all lie above the largest key are counted from their keys alone; the others by lookups.
    test.each([
      ['appended batches', ['[{"id":1},{"id":2},{"id":3}]', '[{"id":4},{"id":5}]'], [3, 5]],
      ['a batch reaching below the largest key', ['[{"id":1},{"id":2},{"id":3}]', '[{"id":3},{"id":10}]'], [3, 4]],
      ['a batch above it repeating a key', ['[{"id":1},{"id":2}]', '[{"id":5},{"id":5},{"id":6}]'], [2, 4]],
      ['a negative key below it', ['[{"id":5},{"id":6}]', '[{"id":-1},{"id":7}]'], [2, 4]],
      [
        'keys beyond 2^53, compared exactly',
        ['[{"id":9007199254740991},{"id":9007199254740993}]', '[{"id":9007199254740993},{"id":9007199254740997}]'],
        [2, 3],
      ],
      ...(backend.name === 'sqlite' ? [['keys sent as text', ['[{"id":1},{"id":2}]', '[{"id":"3"},{"id":"2"}]'], [2, 3]] as const] : []),
    ])('table_count stays exact for %s', async (_, bodies, counts) => {
      const t = await backend.makeApp()
      const answered = []
      for (const body of bodies) answered.push(await (await t.post('/-/insert/data/items?pk=id', body)).json())
      expect(answered).toEqual(counts.map((count) => ({ table_count: count })))
      expect(await t.query('SELECT count(*) AS n FROM items')).toEqual([{ n: counts.at(-1) }])
    })

    test('rows sent to a rowid table are appended, never replaced', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/log', { event: 'start' }), 200, { table_count: 1 })
      await expectJson(await t.post('/-/insert/data/log', { event: 'start' }), 200, { table_count: 2 })
      expect(await t.query('SELECT rowid, event FROM log ORDER BY rowid')).toEqual([
        { rowid: 1, event: 'start' },
        { rowid: 2, event: 'start' },
      ])
    })

    test('a row without the key gets the next INTEGER PRIMARY KEY', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs', { name: 'Rex', age: 1 }), 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([...DOGS, { id: 3, name: 'Rex', age: 1 }])
    })

    test('an empty array on an existing table writes nothing and reports the count', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs', []), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual(DOGS)
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
    })

    test('an empty object writes a row of NULLs into an existing table', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs', {}), 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([...DOGS, { id: 3, name: null, age: null }])
    })

    test('?pk= naming another column is ignored once the table exists', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs?pk=name', [{ id: 1, name: 'Pancakes', age: 9 }]), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Pancakes', age: 9 }, PANCAKES])
      expect(await schemaOf(t, 'dogs')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT,\n   "age" INTEGER\n)',
          postgres: 'CREATE TABLE "dogs" (\n   "id" bigint PRIMARY KEY,\n   "name" text,\n   "age" bigint\n)',
        }),
      )
    })

    test('a request is one transaction: a bad value in its last row leaves rows and columns untouched', async () => {
      const t = await withDogs(backend)
      const response = await t.post(
        '/-/insert/data/dogs?alter=1',
        '[{"id": 1, "name": "Changed", "weight": 10}, {"id": 9, "name": "Big", "weight": 18446744073709551616}]',
      )
      await expectJson(response, 400, {
        status: 400,
        error: 'Row 1 column "weight": integer 18446744073709551616 does not fit in SQLite\'s 64-bit INTEGER',
        error_code: 'invalid_value',
      })
      expect(await t.rows('dogs')).toEqual(DOGS)
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
    })

    test('concurrent requests are each all-or-nothing: the failing ones leave no trace, the others land', async () => {
      const t = await withDogs(backend)
      const tooBig = '18446744073709551616'
      const responses = await Promise.all([
        t.post('/-/insert/data/dogs', [{ id: 3, name: 'Rex' }]),
        t.post('/-/insert/data/cats?pk=id', `[{"id": 1}, {"id": 2, "n": ${tooBig}}]`),
        t.post('/-/insert/data/dogs?alter=1', `[{"id": 4, "weight": 1}, {"id": 5, "weight": ${tooBig}}]`),
        t.post('/-/insert/data/birds', [{ id: 1, name: 'Tweety' }]),
      ])
      const tooLarge = (column: string) => ({
        status: 400,
        error: `Row 1 column "${column}": integer ${tooBig} does not fit in SQLite's 64-bit INTEGER`,
        error_code: 'invalid_value',
      })
      expect(await Promise.all(responses.map(async (response) => [response.status, await response.json()]))).toEqual([
        [200, { table_count: 3 }],
        [400, tooLarge('n')],
        [400, tooLarge('weight')],
        [200, { table_count: 1 }],
      ])
      expect(await t.snapshot()).toEqual({
        birds: {
          columns: [
            ['id', 'INTEGER'],
            ['name', 'TEXT'],
          ],
          rows: [{ id: 1, name: 'Tweety' }],
        },
        dogs: { columns: DOG_COLUMNS, rows: [...DOGS, { id: 3, name: 'Rex', age: null }] },
      })
      // Nothing remembers the rolled-back table or column: writing them now creates them afresh.
      await expectJson(await t.post('/-/insert/data/cats', [{ id: 1 }]), 200, { table_count: 1 })
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 4, weight: 1 }]), 400, {
        status: 400,
        error: 'table dogs has no column named weight',
        error_code: 'unknown_keys',
      })
      expect(await t.rows('cats')).toEqual([{ id: 1 }])
    })

    test('a table created by a failed request does not exist afterwards', async () => {
      const t = await backend.makeApp()
      const response = await t.post('/-/insert/data/cats?pk=id', '[{"id": 1}, {"id": 2, "n": -9223372036854775809}]')
      await expectJson(response, 400, {
        status: 400,
        error: 'Row 1 column "n": integer -9223372036854775809 does not fit in SQLite\'s 64-bit INTEGER',
        error_code: 'invalid_value',
      })
      expect(await t.tables()).toEqual([])
    })
  })

  describe('upsert', () => {
    test('updates only the given column of an existing row (the README example)', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/upsert/data/dogs?pk=id', { id: 1, age: 7 }), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Cleopaws', age: 7 }, PANCAKES])
    })

    test('rows with different key sets each update only their own columns, and new keys are inserted', async () => {
      const t = await withDogs(backend)
      const response = await t.post('/-/upsert/data/dogs?pk=id', [
        { id: 1, age: 7 },
        { id: 2, name: 'Pancake' },
        { id: 3, name: 'Rex' },
      ])
      await expectJson(response, 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'Cleopaws', age: 7 },
        { id: 2, name: 'Pancake', age: 4 },
        { id: 3, name: 'Rex', age: null },
      ])
    })

    test('creates the table with the given key when it is missing', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/upsert/data/dogs?pk=id', DOGS), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual(DOGS)
      expect(await schemaOf(t, 'dogs')).toBe(
        on(t, {
          sqlite: 'CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT,\n   "age" INTEGER\n)',
          postgres: 'CREATE TABLE "dogs" (\n   "id" bigint PRIMARY KEY,\n   "name" text,\n   "age" bigint\n)',
        }),
      )
    })

    test('with a compound key updates the row matching both columns', async () => {
      const t = await backend.makeApp()
      const france = { country: 'fr', city: 'Paris', population: 1 }
      await expectJson(await t.post('/-/insert/data/cities?pk=country&pk=city', [france, { country: 'us', city: 'Paris', population: 2 }]), 200, {
        table_count: 2,
      })
      await expectJson(await t.post('/-/upsert/data/cities?pk=country&pk=city', { country: 'us', city: 'Paris', population: 25000 }), 200, {
        table_count: 2,
      })
      expect(await t.rows('cities')).toEqual([france, { country: 'us', city: 'Paris', population: 25000 }])
    })

    test('with ?alter=1 adds the new column and sets it only on the rows that name it', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/upsert/data/dogs?pk=id&alter=1', [{ id: 2, weight: 12.5 }]), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual([
        { ...CLEOPAWS, weight: null },
        { ...PANCAKES, weight: 12.5 },
      ])
      expect(await t.columns('dogs')).toEqual([...DOG_COLUMNS, ['weight', 'REAL']])
    })

    test('a row naming only its key leaves the existing row as it was', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/upsert/data/dogs?pk=id', [{ id: 1 }]), 200, { table_count: 2 })
      expect(await t.rows('dogs')).toEqual(DOGS)
    })
  })

  describe('alter', () => {
    test('an unknown key is refused without ?alter and accepted with it (the plugin test)', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', [{ id: 3, name: 'Cleopaws', age: 5 }]), 200, { table_count: 1 })
      const row = { id: 3, name: 'Cleopaws', age: 5, weight_lb: 51.1 }
      await expectJson(await t.post('/-/insert/data/dogs', [row]), 400, {
        status: 400,
        error: 'table dogs has no column named weight_lb',
        error_code: 'unknown_keys',
      })
      expect(await t.rows('dogs')).toEqual([{ id: 3, name: 'Cleopaws', age: 5 }])
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', [row]), 200, { table_count: 1 })
      expect(await t.rows('dogs')).toEqual([row])
      expect(await t.columns('dogs')).toEqual([...DOG_COLUMNS, ['weight_lb', 'REAL']])
    })

    test('added columns get inferred types, in order of first appearance across the rows', async () => {
      const t = await withDogs(backend)
      const response = await t.post(
        '/-/insert/data/dogs?alter=1',
        '[{"id": 3, "weight": 1.0, "tags": ["a"]}, {"id": 4, "good": true, "weight": 2, "notes": null, "chip": 981000000000000001}]',
      )
      await expectJson(response, 200, { table_count: 4 })
      expect(await t.columns('dogs')).toEqual([
        ['id', 'INTEGER'],
        ['name', 'TEXT'],
        ['age', 'INTEGER'],
        ['weight', 'REAL'],
        ['tags', 'TEXT'],
        ['good', 'INTEGER'],
        ['notes', 'TEXT'],
        ['chip', 'INTEGER'],
      ])
      const stored = await t.query(
        `SELECT id, weight, ${storedType(t, 'weight')} AS wt, tags, good, notes, CAST(chip AS TEXT) AS chip FROM dogs WHERE id > 2 ORDER BY id`,
      )
      expect(stored).toEqual([
        { id: 3, weight: 1, wt: 'real', tags: '["a"]', good: null, notes: null, chip: null },
        { id: 4, weight: 2, wt: 'real', tags: null, good: 1, notes: null, chip: '981000000000000001' },
      ])
    })

    test.each(['1', 'true', 'yes', 'on', 'TRUE', 'On'])('?alter=%s adds the missing column', async (flag) => {
      const t = await withDogs(backend)
      await expectJson(await t.post(`/-/insert/data/dogs?alter=${flag}`, [{ id: 3, name: 'Rex', breed: 'Husky' }]), 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([...DOGS.map((dog) => ({ ...dog, breed: null })), { id: 3, name: 'Rex', age: null, breed: 'Husky' }])
      expect(await t.columns('dogs')).toEqual([...DOG_COLUMNS, ['breed', 'TEXT']])
    })

    test.each(['?alter=', '?alter', '?alter=0', '?alter=false', '?alter=no', '?alter=off', '?alter=OFF'])(
      '%s is false: it needs no alter permission and an unknown key is refused',
      async (search) => {
        const t = await withDogs(backend, { config: grantEveryone({ 'insert-row': true, 'update-row': true }) })
        await expectJson(await t.post(`/-/insert/data/dogs${search}`, [{ id: 3, breed: 'Husky' }]), 400, {
          status: 400,
          error: 'table dogs has no column named breed',
          error_code: 'unknown_keys',
        })
        expect(await t.rows('dogs')).toEqual(DOGS)
        expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
      },
    )

    test('an unknown key in any row fails the whole request', async () => {
      const t = await withDogs(backend)
      await expectJson(
        await t.post('/-/insert/data/dogs', [
          { id: 3, name: 'Rex' },
          { id: 4, foo: 'bar' },
        ]),
        400,
        {
          status: 400,
          error: 'table dogs has no column named foo',
          error_code: 'unknown_keys',
        },
      )
      expect(await t.rows('dogs')).toEqual(DOGS)
    })
  })

  describe('the plugin’s own scenarios', () => {
    test('writes are denied by default: no --unsafe and no config', async () => {
      const t = await backend.makeApp({})
      await expectJson(await t.post('/-/insert/data/newtable', [{ foo: 'bar' }]), 403, PERMISSION_DENIED)
      expect(await t.tables()).toEqual([])
    })

    const allowBlock = interpretMetadata({
      plugins: {
        'datasette-insert': { allow: { bot: 'insert-bot' } },
        'datasette-auth-tokens': { tokens: [{ token: 'abc123', actor: { bot: 'insert-bot' } }] },
      },
    })

    test('an allow block refuses an anonymous caller', async () => {
      const t = await backend.makeApp({ config: allowBlock })
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', [{ id: 3, name: 'Cleopaws', age: 5 }]), 403, PERMISSION_DENIED)
      expect(await t.tables()).toEqual([])
    })

    test('an allow block admits the actor of a datasette-auth-tokens token', async () => {
      const t = await backend.makeApp({ config: allowBlock })
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', [{ id: 3, name: 'Cleopaws', age: 5 }], 'abc123'), 200, { table_count: 1 })
      expect(await t.rows('dogs')).toEqual([{ id: 3, name: 'Cleopaws', age: 5 }])
    })

    // The plugin's test_permission_finely_grained, with its permission_allowed hook expressed as a root `permissions` block.
    test.each([
      ['insert granted', { 'insert-row': true, 'update-row': true }, 'insert', 200, { table_count: 2 }],
      ['insert denied', { 'insert-row': false, 'update-row': false }, 'insert', 403, PERMISSION_DENIED],
      ['create-table granted', { 'insert-row': true, 'update-row': true, 'create-table': true }, 'create', 200, { table_count: 1 }],
      [
        'create-table denied',
        { 'insert-row': true, 'update-row': true, 'create-table': false },
        'create',
        400,
        { status: 400, error: 'Table dogs does not exist', error_code: 'missing_table' },
      ],
      ['alter-table granted', { 'insert-row': true, 'update-row': true, 'alter-table': true }, 'alter', 200, { table_count: 2 }],
      [
        'alter-table denied',
        { 'insert-row': true, 'update-row': true, 'create-table': true, 'alter-table': false },
        'alter',
        403,
        { error: 'Alter permission denied', status: 403 },
      ],
    ] as const)('fine-grained grants: %s', async (_name, actions, attempt, status, body) => {
      const config = grantEveryone({ ...actions })
      const seeded = attempt !== 'create'
      const t = await backend.makeApp({ config })
      if (seeded) await t.exec('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)')
      if (seeded) await t.exec("INSERT INTO dogs VALUES (1, 'Toodles', 3)")
      const before = await t.snapshot()
      const response =
        attempt === 'alter'
          ? await t.post('/-/insert/data/dogs?pk=id&alter=1', [{ id: 3, name: 'Cleopaws', age: 5, weight: 51.5 }])
          : await t.post('/-/insert/data/dogs?pk=id', [{ id: 3, name: 'Cleopaws', age: 5 }])
      await expectJson(response, status, body)
      if (status !== 200) {
        expect(await t.snapshot()).toEqual(before)
        expect(await t.tables()).toEqual(seeded ? ['dogs'] : [])
      } else if (attempt === 'alter') {
        expect(await t.rows('dogs')).toEqual([
          { id: 1, name: 'Toodles', age: 3, weight: null },
          { id: 3, name: 'Cleopaws', age: 5, weight: 51.5 },
        ])
      } else {
        expect(await t.rows('dogs')).toEqual([...(seeded ? [{ id: 1, name: 'Toodles', age: 3 }] : []), { id: 3, name: 'Cleopaws', age: 5 }])
      }
    })

    test('every curl and Python example of the README works as written', async () => {
      const config = interpretMetadata({
        plugins: {
          'datasette-insert': { allow: { bot: 'insert-bot' } },
          'datasette-auth-tokens': { tokens: [{ token: 'abc123', actor: { bot: 'insert-bot' } }] },
        },
      })
      const t = await backend.makeApp({ config })
      const form = { 'content-type': 'application/x-www-form-urlencoded' }
      const bearer = { authorization: 'Bearer abc123' }
      // requests.post(..., json=[...]) to ?pk=id
      const created = await t.request(
        'POST',
        '/-/insert/data/dogs?pk=id',
        JSON.stringify([
          { id: 1, name: 'Cleopaws', age: 5 },
          { id: 2, name: 'Pancakes', age: 4 },
        ]),
        {
          'content-type': 'application/json',
          ...bearer,
        },
      )
      await expectJson(created, 200, { table_count: 2 })
      // curl --data '{...}' sends form-urlencoded
      const single = await t.request('POST', '/-/insert/data/dogs?pk=id', '{\n      "id": 1,\n      "name": "Cleopaws",\n      "age": 5\n    }', {
        ...form,
        ...bearer,
      })
      await expectJson(single, 200, { table_count: 2 })
      // curl ... ?alter=1 with a new "breed" key
      const altered = await t.request('POST', '/-/insert/data/dogs?alter=1', '[{"id": 3, "name": "Boris", "age": 1, "breed": "Husky"}]', { ...form, ...bearer })
      await expectJson(altered, 200, { table_count: 3 })
      // curl to /-/upsert: the dog with id 1 goes from 5 to 7
      await expectJson(await t.request('POST', '/-/upsert/data/dogs?pk=id', '{"id": 1, "age": 7}', { ...form, ...bearer }), 200, { table_count: 3 })
      // requests.post(..., headers={"Authorization": "bearer abc123"})
      const lower = await t.request('POST', '/-/insert/data/dogs', JSON.stringify({ id: 4, name: 'Lower', age: 2 }), { authorization: 'bearer abc123' })
      await expectJson(lower, 200, { table_count: 4 })
      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'Cleopaws', age: 7, breed: null },
        { id: 2, name: 'Pancakes', age: 4, breed: null },
        { id: 3, name: 'Boris', age: 1, breed: 'Husky' },
        { id: 4, name: 'Lower', age: 2, breed: null },
      ])
    })

    test('query parameters the plugin did not know are ignored, as the plugin ignored them', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/dogs?pk=id&_=1700000000&format=json', [{ id: 1, name: 'Cleopaws' }]), 200, { table_count: 1 })
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Cleopaws' }])
    })
  })

  describe('OPTIONS and CORS', () => {
    const allowAlice = () => interpretMetadata({ plugins: { 'datasette-insert': { allow: { id: 'alice' } }, 'datasette-auth-tokens': { tokens: TOKENS } } })

    test.each([
      ['an anonymous caller', '/-/insert/data/dogs', {}],
      ['an unknown token', '/-/insert/data/dogs', { authorization: 'Bearer wrong' }],
      ['an unknown database', '/-/upsert/nope/dogs', {}],
    ])('OPTIONS answers 200 ok before any auth, for %s', async (_name, path, headers) => {
      const t = await backend.makeApp({ config: allowAlice() })
      const response = await t.request('OPTIONS', path, undefined, headers)
      expect([response.status, response.headers.get('content-type'), await response.text()]).toEqual([200, 'text/plain; charset=utf-8', 'ok'])
      expect(await t.tables()).toEqual([])
    })

    const CORS: Array<[string, string]> = [
      ['access-control-allow-headers', 'content-type,authorization,idempotency-key'],
      ['access-control-allow-methods', 'POST'],
      ['access-control-allow-origin', '*'],
      ['access-control-expose-headers', 'idempotent-replayed'],
    ]
    const corsOf = (response: Response) => [...response.headers].filter(([name]) => name.startsWith('access-control-'))

    test.each([
      ['a 200', '/-/insert/data/dogs?pk=id', 'alice-token', '{"id": 1}', 200, { table_count: 1 }],
      ['a 403', '/-/insert/data/dogs', undefined, '{"id": 1}', 403, PERMISSION_DENIED],
      ['a 401', '/-/insert/data/dogs', 'wrong', '{"id": 1}', 401, { status: 401, error: 'Invalid token', error_code: 'invalid_token' }],
      ['a 404', '/-/insert/nope/dogs', 'alice-token', '{"id": 1}', 404, { status: 404, error: 'Database not found: nope', error_code: 'database_not_found' }],
      ['a 400', '/-/upsert/data/dogs', 'alice-token', '{"id": 1}', 400, { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' }],
    ] as const)('with --cors, %s carries exactly the plugin’s three headers, plus Idempotency-Key’s', async (_name, path, token, body, status, json) => {
      const t = await backend.makeApp({ config: allowAlice(), cors: true })
      const response = await t.post(path, body, token)
      expect(corsOf(response)).toEqual(CORS)
      await expectJson(response, status, json)
      expect(await t.tables()).toEqual(status === 200 ? ['dogs'] : [])
    })

    test('with --cors, OPTIONS carries them too; without --cors no response does', async () => {
      const withCors = await backend.makeApp({ config: allowAlice(), cors: true })
      const without = await backend.makeApp({ config: allowAlice() })
      const responses = [
        await withCors.request('OPTIONS', '/-/insert/data/dogs'),
        await without.request('OPTIONS', '/-/insert/data/dogs'),
        await without.post('/-/insert/data/dogs', '{"id": 1}', 'alice-token'),
      ]
      expect(responses.map(corsOf)).toEqual([CORS, [], []])
      expect(responses.map((response) => response.status)).toEqual([200, 200, 200])
      expect(await without.rows('dogs')).toEqual([{ id: 1 }])
    })
  })

  describe('every row of the API.md §1 error table', () => {
    test.each(ERROR_TABLE)('%s', async (_name, c) => {
      const t = await withDogs(backend, c.options)
      await t.exec('CREATE TABLE nn (id INTEGER PRIMARY KEY, name TEXT NOT NULL)')
      const before = await t.snapshot()
      expect(before.dogs).toEqual({ columns: DOG_COLUMNS, rows: DOGS })
      expect(before.nn).toEqual({
        columns: [
          ['id', 'INTEGER'],
          ['name', 'TEXT'],
        ],
        rows: [],
      })
      await expectJson(await t.request('POST', c.path, c.body, c.headers), c.status, c.response)
      expect(await t.snapshot()).toEqual(before)
    })
  })

  describe('checks run in the plugin’s order', () => {
    test.each(ORDER_TABLE)('%s', async (_name, c) => {
      const t = await withDogs(backend, c.options())
      const before = await t.snapshot()
      expect(Object.keys(before)).toEqual(['dogs'])
      await expectJson(await t.request('POST', c.path, c.body, c.headers), c.status, c.response)
      expect(await t.snapshot()).toEqual(before)
    })
  })

  describe('values and types', () => {
    test.each([
      [
        'integers',
        '[{"v": 1}, {"v": -2}]',
        'INTEGER',
        [
          [1, 'integer'],
          [-2, 'integer'],
        ],
      ],
      [
        'booleans, stored as 1 and 0',
        '[{"v": true}, {"v": false}]',
        'INTEGER',
        [
          [1, 'integer'],
          [0, 'integer'],
        ],
      ],
      ['floats', '[{"v": 1.5}]', 'REAL', [[1.5, 'real']]],
      ['a float written 1.0', '[{"v": 1.0}]', 'REAL', [[1, 'real']]],
      ['a float written with an exponent', '[{"v": 2e3}]', 'REAL', [[2000, 'real']]],
      ['strings', '[{"v": "x"}]', 'TEXT', [['x', 'text']]],
      ['objects, as JSON (written as Python json.dumps writes them)', '[{"v": {"a": [1, "b"]}}]', 'TEXT', [['{"a": [1, "b"]}', 'text']]],
      ['arrays, as JSON', '[{"v": [1, 2.0, null]}]', 'TEXT', [['[1, 2.0, null]', 'text']]],
      [
        'only nulls',
        '[{"v": null}, {"v": null}]',
        'TEXT',
        [
          [null, 'null'],
          [null, 'null'],
        ],
      ],
      [
        'nulls beside integers',
        '[{"v": null}, {"v": 3}]',
        'INTEGER',
        [
          [null, 'null'],
          [3, 'integer'],
        ],
      ],
      [
        'integers mixed with floats',
        '[{"v": 1}, {"v": 2.5}]',
        'REAL',
        [
          [1, 'real'],
          [2.5, 'real'],
        ],
      ],
      [
        'integers mixed with strings',
        '[{"v": 1}, {"v": "two"}]',
        'TEXT',
        [
          ['1', 'text'],
          ['two', 'text'],
        ],
      ],
      [
        'floats mixed with strings',
        '[{"v": 1.5}, {"v": "x"}]',
        'TEXT',
        [
          ['1.5', 'text'],
          ['x', 'text'],
        ],
      ],
      [
        'integers mixed with objects',
        '[{"v": 1}, {"v": {"a": 1}}]',
        'TEXT',
        [
          ['1', 'text'],
          ['{"a": 1}', 'text'],
        ],
      ],
    ])('%s make a %s column', async (_name, body, type, stored) => {
      const t = await backend.makeApp()
      const rows = JSON.parse(body) as unknown[]
      await expectJson(await t.post('/-/insert/data/t', body), 200, { table_count: rows.length })
      expect(await t.columns('t')).toEqual([['v', type]])
      expect((await t.query(`SELECT v, ${storedType(t, 'v')} AS type FROM t ORDER BY rowid`)).map((row) => [row.v, row.type])).toEqual(stored)
    })

    test('columns are ordered by first appearance across the rows', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/t', [{ b: 1 }, { a: 'x', b: 2 }, { c: true, a: 'y' }]), 200, { table_count: 3 })
      expect(await t.columns('t')).toEqual([
        ['b', 'INTEGER'],
        ['a', 'TEXT'],
        ['c', 'INTEGER'],
      ])
      expect(await t.rows('t')).toEqual([
        { b: 1, a: null, c: null },
        { b: 2, a: 'x', c: null },
        { b: null, a: 'y', c: 1 },
      ])
    })

    test('integers beyond 2^53 are stored exactly, at the top level and inside JSON', async () => {
      const t = await backend.makeApp()
      const body = '[{"id": 9007199254740993, "neg": -9007199254740993, "doc": {"big": 123456789012345678901234567890, "f": 1.0}}]'
      await expectJson(await t.post('/-/insert/data/t?pk=id', body), 200, { table_count: 1 })
      expect(await t.columns('t')).toEqual([
        ['id', 'INTEGER'],
        ['neg', 'INTEGER'],
        ['doc', 'TEXT'],
      ])
      expect(await t.query('SELECT id, neg, doc FROM t')).toEqual([
        { id: 9007199254740993n, neg: -9007199254740993n, doc: '{"big": 123456789012345678901234567890, "f": 1.0}' },
      ])
    })

    test('keys that differ only in ASCII case in one row are refused, and nothing is written', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', [{ id: 3 }, { id: 4, Name: 'A', name: 'B' }]), 400, {
        status: 400,
        error: 'Row 1 has keys that differ only in case, which SQLite treats as one column: "Name", "name"',
        error_code: 'invalid_body',
      })
      expect(await t.rows('dogs')).toEqual(DOGS)
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
    })

    test('a key spelled Name in a later request writes the existing name column', async () => {
      const t = await withDogs(backend)
      await expectJson(await t.post('/-/insert/data/dogs', [{ ID: 3, Name: 'Rex', AGE: 1 }]), 200, { table_count: 3 })
      expect(await t.rows('dogs')).toEqual([...DOGS, { id: 3, name: 'Rex', age: 1 }])
      expect(await t.columns('dogs')).toEqual(DOG_COLUMNS)
    })

    test('the first spelling of a key across rows names the new column', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/t', [{ Name: 'a' }, { NAME: 'b' }]), 200, { table_count: 2 })
      expect(await t.columns('t')).toEqual([['Name', 'TEXT']])
      expect(await t.rows('t')).toEqual([{ Name: 'a' }, { Name: 'b' }])
    })

    test('keys differing in non-ASCII case are two columns, as SQLite sees them', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/t', [{ É: 1, é: 2 }]), 200, { table_count: 1 })
      expect(await t.columns('t')).toEqual([
        ['É', 'INTEGER'],
        ['é', 'INTEGER'],
      ])
      expect(await t.rows('t')).toEqual([{ É: 1, é: 2 }])
    })

    test('a key named __proto__ is stored as an ordinary column', async () => {
      const t = await backend.makeApp()
      await expectJson(await t.post('/-/insert/data/t', '[{"__proto__": "p", "constructor": 1, "toString": {"x": 1}}]'), 200, { table_count: 1 })
      expect(await t.columns('t')).toEqual([
        ['__proto__', 'TEXT'],
        ['constructor', 'INTEGER'],
        ['toString', 'TEXT'],
      ])
      expect(await t.query('SELECT "__proto__" AS p, "constructor" AS c, "toString" AS s FROM t')).toEqual([{ p: 'p', c: 1, s: '{"x": 1}' }])
    })

    test('text is stored exactly, emoji and escapes included', async () => {
      const t = await backend.makeApp()
      const text = 'Cleo 🐶 \u00e9\u0301 "quoted" \\ \n tab\t nul\u0000end'
      if (t.backend === 'sqlite') {
        await expectJson(await t.post('/-/insert/data/t', [{ text }]), 200, { table_count: 1 })
        expect(await t.query('SELECT text, length(CAST(text AS BLOB)) AS bytes FROM t')).toEqual([{ text, bytes: Buffer.byteLength(text) }])
        return
      }
      // PostgreSQL's text cannot hold a NUL character: the row is refused whole, and the rest of the text is stored exactly.
      await expectJson(await t.post('/-/insert/data/t', [{ text }]), 400, {
        status: 400,
        error: 'Row 0: Value refused by PostgreSQL: invalid byte sequence for encoding "UTF8": 0x00',
        error_code: 'invalid_value',
      })
      expect(await t.tables()).toEqual([])
      const withoutNul = text.replace('\u0000', '')
      await expectJson(await t.post('/-/insert/data/t', [{ text: withoutNul }]), 200, { table_count: 1 })
      expect(await t.query('SELECT text, octet_length(text) AS bytes FROM t')).toEqual([{ text: withoutNul, bytes: Buffer.byteLength(withoutNul) }])
    })
  })
})

// SQLite only: an immutable database is a file opened with -i, which only the SQLite store serves.
describe('an immutable database', () => {
  /** An immutable second database `frozen` holding dogs(id, name) with one row. */
  function frozenDatabase(): RowpostDatabase {
    const path = tempDbPath('frozen')
    const file = new Database(path, { create: true })
    file.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
    file.run("INSERT INTO dogs VALUES (1, 'Cleopaws')")
    file.close()
    return RowpostDatabase.open(path, { immutable: true })
  }

  function frozenRows(frozen: RowpostDatabase) {
    const file = new Database(frozen.path, { readonly: true })
    try {
      return { tables: file.query("SELECT name FROM sqlite_schema WHERE type = 'table'").all(), rows: file.query('SELECT * FROM dogs').all() }
    } finally {
      file.close()
    }
  }

  const FROZEN_STATE = { tables: [{ name: 'dogs' }], rows: [{ id: 1, name: 'Cleopaws' }] }

  test('an immutable database (a row of the API.md §1 error table)', async () => {
    const frozen = frozenDatabase()
    const t = makeApp({ unsafe: true, databases: [frozen] })
    await expectJson(await t.post('/-/insert/frozen/dogs', { id: 2, name: 'Pancakes' }), 403, {
      status: 403,
      error: 'Database is immutable',
      error_code: 'immutable',
    })
    expect(frozenRows(frozen)).toEqual(FROZEN_STATE)
  })

  // Checks run in the plugin's order on an immutable database too.
  test.each([
    ['an anonymous caller is refused before the database is found immutable', {}, '/-/insert/frozen/dogs', '{"id": 2}', 403, PERMISSION_DENIED],
    [
      'upsert-without-pk comes before immutability',
      { unsafe: true },
      '/-/upsert/frozen/dogs',
      '{"id": 2}',
      400,
      { status: 400, error: 'Upsert requires ?pk=', error_code: 'upsert_requires_pk' },
    ],
    [
      'immutability is refused before the body is read',
      { unsafe: true },
      '/-/insert/frozen/dogs',
      'not json',
      403,
      { status: 403, error: 'Database is immutable', error_code: 'immutable' },
    ],
  ] as const)('%s', async (_name, options, path, body, status, response) => {
    const frozen = frozenDatabase()
    const t = makeApp({ ...options, databases: [frozen] })
    await expectJson(await t.post(path, body), status, response)
    expect(frozenRows(frozen)).toEqual(FROZEN_STATE)
    expect(t.tables()).toEqual([])
  })
})
