/**
 * The Datasette 1.0 JSON write API over HTTP, on SQLite and on PostgreSQL: every response body exact, every write
 * checked in the database through the backend's own connection.
 */
import { Database } from 'bun:sqlite'
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import type { Settings } from '../lib/settings'
import { eachBackend, type Backend, type BackendApp, type BackendOptions } from './backends'
import { makeApp, tempDbPath, type TestApp } from './helpers'

// Removing this file's PostgreSQL cluster (a database per test, about 2 GB) takes longer than bun's 5 s hook default.
setDefaultTimeout(60_000)

// --- fixtures and helpers -------------------------------------------------------------------------

/** Datasette's own write-test fixture table. */
const DOCS_SQL = 'CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, score FLOAT, age INTEGER)'
/**
 * The same table made by rowpost, for PostgreSQL: a table created there behind rowpost's back has a plain integer key
 * that nothing numbers (SQLite's INTEGER PRIMARY KEY is the rowid), and FLOAT is double precision, REAL to the inspectors.
 */
const DOCS_CREATE = {
  table: 'docs',
  columns: [
    { name: 'id', type: 'integer' },
    { name: 'title', type: 'text' },
    { name: 'score', type: 'float' },
    { name: 'age', type: 'integer' },
  ],
  pk: 'id',
}

type Doc = {
  id: number
  title: string | null
  score: number | null
  age: number | null
}

const doc = (id: number, title: string | null, score: number | null = null, age: number | null = null): Doc => ({ id, title, score, age })

/** An app over a fresh `data` database holding the docs table with the given rows; `--unsafe` unless options say otherwise. */
async function docsApp(backend: Backend, rows: Doc[] = [], options: BackendOptions = { unsafe: true }): Promise<BackendApp> {
  const t = await backend.makeApp(options)
  if (backend.name === 'sqlite') await t.exec(DOCS_SQL)
  else await createTable(t, DOCS_CREATE)
  for (const row of rows) await t.exec('INSERT INTO docs (id, title, score, age) VALUES (?, ?, ?, ?)', [row.id, row.title, row.score, row.age])
  return t
}

/** Creates a table through rowpost (through a second, unsafe app on the same store, so the test's permissions do not apply), so it is keyed and numbered the same way on both backends. */
async function createTable(t: BackendApp, body: Record<string, unknown>) {
  const unsafe = createApp({ unsafe: true, databases: [t.store] })
  const response = await unsafe.handle(new Request('http://localhost/data/-/create', { method: 'POST', body: JSON.stringify(body) }))
  expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: expect.objectContaining({ ok: true }) })
}

/** Datasette's error envelope. */
function errorBody(status: number, ...errors: string[]) {
  return { ok: false, error: errors.join('; '), errors, status }
}

/** POSTs and returns status and parsed body together, so one toEqual pins both. */
async function call(t: BackendApp | TestApp, path: string, body?: unknown, token?: string) {
  const response =
    body === undefined ? await t.request('POST', path, undefined, token ? { authorization: `Bearer ${token}` } : {}) : await t.post(path, body, token)
  return { status: response.status, body: await response.json() }
}

/** Runs a read-only query against a SQLite file with its own connection. */
function query(path: string, sql: string, ...params: Array<string | number>): Record<string, unknown>[] {
  const file = new Database(path, { readonly: true })
  try {
    return file.query(sql).all(...params) as Record<string, unknown>[]
  } finally {
    file.close()
  }
}

/** Every table's schema and rows in a SQLite file. */
function fileState(path: string) {
  const tables = query(path, "SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name") as Array<{ name: string; sql: string }>
  return tables.map(({ name, sql }) => ({ name, sql, rows: query(path, `SELECT * FROM "${name.replaceAll('"', '""')}" ORDER BY rowid`) }))
}

/** PostgreSQL keeps no CREATE TABLE text: the catalogue's columns, constraints, indexes and triggers stand for it. */
const POSTGRES_SCHEMA_SQL = `
SELECT c.relname AS table,
  (SELECT json_agg(json_build_array(a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid)) ORDER BY a.attnum)
     FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)::text AS columns,
  (SELECT json_agg(pg_get_constraintdef(k.oid) ORDER BY k.conname) FROM pg_constraint k WHERE k.conrelid = c.oid)::text AS constraints,
  (SELECT json_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid) FROM pg_index i WHERE i.indrelid = c.oid)::text AS indexes,
  (SELECT json_agg(g.tgname ORDER BY g.tgname) FROM pg_trigger g WHERE g.tgrelid = c.oid AND NOT g.tgisinternal)::text AS triggers
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = current_schema()
WHERE c.relkind IN ('r', 'p') ORDER BY c.relname COLLATE "C"`

/** Every table's schema and rows (rowpost's own tables too), to show that a refused request changed nothing. */
async function databaseState(t: BackendApp) {
  const schema =
    t.backend === 'sqlite' ? await t.query("SELECT name, sql FROM sqlite_schema WHERE type = 'table' ORDER BY name") : await t.query(POSTGRES_SCHEMA_SQL)
  const rows: Record<string, unknown> = {}
  for (const { name, table } of schema) rows[String(name ?? table)] = await t.rows(String(name ?? table))
  return { schema, rows }
}

/** rowpost's column types as PostgreSQL names them. */
const POSTGRES_TYPE_NAMES = { INTEGER: 'bigint', REAL: 'double precision', TEXT: 'text', BLOB: 'bytea' } as const

/** [name, PostgreSQL type] of each column of a table, rowid included. */
async function postgresTypes(t: BackendApp, table: string) {
  const rows = await t.query(
    'SELECT attname, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
    [`"${table}"`],
  )
  return rows.map((row) => [row.attname, row.type])
}

/** pragma_table_info's name and pk (position in the key, 0 outside it) from PostgreSQL's catalogue; `?` is the table. */
const postgresKeyPositions = (table: string) => `SELECT a.attname AS name, coalesce(array_position(k.conkey, a.attnum), 0) AS pk
  FROM pg_attribute a LEFT JOIN pg_constraint k ON k.conrelid = a.attrelid AND k.contype = 'p'
  WHERE a.attrelid = '"${table}"'::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

/** pragma_table_info's name, notnull and dflt_value from PostgreSQL's catalogue; `?` is the table. */
const POSTGRES_DEFAULTS_SQL = `SELECT a.attname AS name, a.attnotnull AS notnull, pg_get_expr(d.adbin, d.adrelid) AS dflt_value
  FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
  WHERE a.attrelid = ?::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`

/** pragma_foreign_key_list's from, table and to from PostgreSQL's catalogue; `?` is the table. */
const POSTGRES_FOREIGN_KEYS_SQL = `SELECT a.attname AS "from", f.confrelid::regclass::text AS "table", r.attname AS "to"
  FROM pg_constraint f JOIN pg_attribute a ON a.attrelid = f.conrelid AND a.attnum = f.conkey[1]
  JOIN pg_attribute r ON r.attrelid = f.confrelid AND r.attnum = f.confkey[1]
  WHERE f.conrelid = ?::regclass AND f.contype = 'f' ORDER BY 1`

/** Setup SQL in each engine's types: PostgreSQL's INTEGER is 32-bit and its REAL single precision, so spell rowpost's. */
function ddl(t: BackendApp, sql: string): string {
  if (t.backend === 'sqlite') return sql
  return sql
    .replace(/\bINTEGER\b/g, 'bigint')
    .replace(/\b(REAL|FLOAT)\b/g, 'double precision')
    .replace(/\bBLOB\b/g, 'bytea')
}

/** SQL for the type a value is stored as ('null' for NULL) and for its bytes in upper-case hex, in each engine's words. */
const typeOf = (t: BackendApp, expr: string) =>
  t.backend === 'sqlite' ? `typeof(${expr})` : `CASE WHEN ${expr} IS NULL THEN 'null' ELSE pg_typeof(${expr})::text END`
const hexOf = (t: BackendApp, expr: string) => (t.backend === 'sqlite' ? `hex(${expr})` : `coalesce(upper(encode(${expr}, 'hex')), '')`)
/** What typeOf answers for each of SQLite's storage classes: on PostgreSQL, the column's own type. */
const storedAs = (t: BackendApp) =>
  t.backend === 'sqlite'
    ? { blob: 'blob', integer: 'integer', real: 'real', text: 'text' }
    : { blob: 'bytea', integer: 'bigint', real: 'double precision', text: 'text' }

const BASE64_VALUE = { $base64: true, encoded: 'AAEC/f7/' }
/** The `$base64` object as Python's json.dumps writes it, which is what `{"$raw": ...}` stores. */
const BASE64_LITERAL = '{"$base64": true, "encoded": "AAEC/f7/"}'

// --- create -----------------------------------------------------------------------------------------

const createdBody = (table: string, schema: string, rowCount?: number) => ({
  ok: true,
  database: 'data',
  table,
  table_url: `http://localhost/data/${table}`,
  table_api_url: `http://localhost/data/${table}.json`,
  schema,
  ...(rowCount === undefined ? {} : { row_count: rowCount }),
})

// --- insert and upsert validation ---------------------------------------------------------------------

interface RowsErrorCase {
  path?: string
  body: unknown
  status?: number
  errors: string[]
  settings?: Partial<Settings>
  setup?: (t: BackendApp) => Promise<void>
}

const tooMany = (count: number) => ({ rows: Array.from({ length: count }, () => ({ title: 'Test' })) })

const ROWS_ERRORS: Array<[string, RowsErrorCase]> = [
  ['a body that is a list', { body: [], errors: ['JSON must be a dictionary'] }],
  ['a "row" that is not an object', { body: { row: 'blah' }, errors: ['"row" must be a dictionary'] }],
  ['a body with neither "row" nor "rows"', { body: { blah: 'blah' }, errors: ['JSON must have one or other of "row" or "rows"'] }],
  ['both "row" and "rows"', { body: { row: { title: 'a' }, rows: [{ title: 'b' }] }, errors: ['Cannot use "row" and "rows" at the same time'] }],
  ['"rows" that is not a list', { body: { rows: 'blah' }, errors: ['"rows" must be a list'] }],
  ['"rows" holding a non-object', { body: { rows: ['blah'] }, errors: ['"rows" must be a list of dictionaries'] }],
  ['101 rows by default', { body: tooMany(101), errors: ['Too many rows, maximum allowed is 100'] }],
  ['6 rows when max_insert_rows is 5', { body: tooMany(6), settings: { max_insert_rows: 5 }, errors: ['Too many rows, maximum allowed is 5'] }],
  [
    '6 rows to upsert when max_insert_rows is 5',
    {
      path: '/data/docs/-/upsert',
      body: { rows: Array.from({ length: 6 }, (_, i) => ({ id: i + 10 })) },
      settings: { max_insert_rows: 5 },
      errors: ['Too many rows, maximum allowed is 5'],
    },
  ],
  [
    'a duplicate primary key, rolling back the rows before it',
    {
      body: {
        rows: [
          { id: 2, title: 'Test' },
          { id: 1, title: 'Test' },
        ],
      },
      errors: ['UNIQUE constraint failed: docs.id'],
    },
  ],
  [
    '"ignore" and "replace" together',
    { body: { rows: [{ title: 'Test' }], ignore: true, replace: true }, errors: ['Cannot use "ignore" and "replace" at the same time'] },
  ],
  ['an unknown parameter', { body: { rows: [{ title: 'Test' }], invalid_param: true }, errors: ['Invalid parameter: "invalid_param"'] }],
  ['two unknown parameters', { body: { rows: [{ title: 'Test' }], two: true, one: true }, errors: ['Invalid parameter: "one", "two"'] }],
  ['a non-boolean "return"', { body: { rows: [{ title: 'Test' }], return: 'yes' }, errors: ['"return" must be true or false'] }],
  [
    'unknown columns in each row',
    {
      body: {
        rows: [
          { title: 'Test', worse: 2, bad: 1 },
          { title: 'Test', bad: 1, worse: 2 },
        ],
      },
      errors: ['Row 0 has invalid columns: bad, worse', 'Row 1 has invalid columns: bad, worse'],
    },
  ],
  [
    'an integer beyond 64 bits',
    {
      body: '{"row": {"title": "big", "age": 9223372036854775808}}',
      errors: ['Row 0 column "age": integer 9223372036854775808 does not fit in SQLite\'s 64-bit INTEGER'],
    },
  ],
  ['invalid base64', { body: { row: { title: { $base64: true, encoded: '!!' } } }, errors: ['Row 0 column "title": "encoded" is not valid base64'] }],
  [
    'a failing row after "alter" added columns, rolling the columns back too',
    {
      body: {
        rows: [
          { id: 2, title: 'New', extra: 'x' },
          { id: 1, title: 'Dup' },
        ],
        alter: true,
      },
      errors: ['UNIQUE constraint failed: docs.id'],
    },
  ],
  ['a number too large for a double', { body: '{"row": {"score": 1e400}}', errors: ['Row 0 column "score": number is out of range'] }],
  ['malformed JSON', { body: '{bad json', errors: ['Invalid JSON: Expected a double-quoted property name at line 1 column 2'] }],
  ['an empty body', { body: '', errors: ['Invalid JSON: the body is empty'] }],
  [
    'an upsert row without its primary key',
    { path: '/data/docs/-/upsert', body: { rows: [{ title: 'Missing PK' }] }, errors: ['Row 0 is missing primary key column(s): "id"'] },
  ],
  [
    'an upsert row with a null primary key',
    { path: '/data/docs/-/upsert', body: { rows: [{ id: null, title: 'Null PK' }] }, errors: ['Row 0 has null primary key column(s): "id"'] },
  ],
  [
    'upsert with "ignore"',
    { path: '/data/docs/-/upsert', body: { rows: [{ id: 1, title: 'Bad' }], ignore: true }, errors: ['Upsert does not support ignore or replace'] },
  ],
  [
    'upsert with "replace"',
    { path: '/data/docs/-/upsert', body: { rows: [{ id: 1, title: 'Bad' }], replace: true }, errors: ['Upsert does not support ignore or replace'] },
  ],
  [
    'an upsert row of a rowid table without its rowid',
    {
      path: '/data/things/-/upsert',
      body: { rows: [{ title: 'No rowid' }] },
      errors: ['Row 0 is missing primary key column(s): "rowid"'],
      setup: async (t) => {
        await createTable(t, { table: 'things', columns: [{ name: 'title', type: 'text' }] })
        await t.exec("INSERT INTO things (title) VALUES ('One')")
      },
    },
  ],
  ['upsert rows with unknown columns', { path: '/data/docs/-/upsert', body: { rows: [{ id: 1, bad: 1 }] }, errors: ['Row 0 has invalid columns: bad'] }],
  [
    'a NOT NULL column left empty',
    {
      path: '/data/strict/-/insert',
      body: { rows: [{ id: 1, title: 'fine' }, { id: 2 }] },
      errors: ['NOT NULL constraint failed: strict.title'],
      setup: (t) => t.exec(ddl(t, 'CREATE TABLE strict (id INTEGER PRIMARY KEY, title TEXT NOT NULL)')),
    },
  ],
  ['an unknown database', { path: '/data2/docs/-/insert', body: {}, status: 404, errors: ['Database not found'] }],
  ['an unknown table', { path: '/data/docs2/-/insert', body: {}, status: 404, errors: ['Table not found'] }],
  ['an unknown table to upsert', { path: '/data/badtable/-/upsert', body: { rows: [{ title: 'Test' }] }, status: 404, errors: ['Table not found'] }],
]

/** Actors named by what they may do; each has the token `<id>-token`. */
const ACTORS = ['root', 'nobody', 'inserter', 'updater', 'insert-update', 'insert-alter', 'update-alter', 'creator', 'create-insert', 'create-insert-alter']

const PERMISSIONS_CONFIG = interpretMetadata({
  permissions: {
    'insert-row': { id: ['root', 'inserter', 'insert-update', 'insert-alter', 'create-insert', 'create-insert-alter'] },
    'update-row': { id: ['root', 'updater', 'insert-update', 'update-alter'] },
    'delete-row': { id: ['root'] },
    'create-table': { id: ['root', 'creator', 'create-insert', 'create-insert-alter'] },
    'alter-table': { id: ['root', 'insert-alter', 'update-alter', 'create-insert-alter'] },
    'drop-table': { id: ['root'] },
  },
  plugins: { 'datasette-auth-tokens': { tokens: ACTORS.map((id) => ({ token: `${id}-token`, actor: { id } })) } },
})

const token = (actor: string) => `${actor}-token`

eachBackend((backend) => {
  /** docs.score as the inspectors name it: SQLite keeps the fixture's declared FLOAT, PostgreSQL's is double precision. */
  const SCORE = backend.name === 'sqlite' ? 'FLOAT' : 'REAL'
  /** Each backend's expectation where the engines differ (each use says why). */
  const either = <T>(sqlite: T, postgres: T): T => (backend.name === 'sqlite' ? sqlite : postgres)

  // --- insert -----------------------------------------------------------------------------------------

  describe('insert', () => {
    test('a single "row" is inserted with 201 and returned, since "row" implies return', async () => {
      const t = await docsApp(backend)
      expect(await call(t, '/data/docs/-/insert', { row: { title: 'Test', score: 1.2, age: 5 } })).toEqual({
        status: 201,
        body: { ok: true, rows: [{ id: 1, title: 'Test', score: 1.2, age: 5 }] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Test', 1.2, 5)])
    })

    test('"rows" without "return" answers only ok', async () => {
      const t = await docsApp(backend)
      const rows = Array.from({ length: 20 }, (_, i) => ({ title: `Test ${i}`, score: 1.5, age: 5 }))
      expect(await call(t, '/data/docs/-/insert', { rows })).toEqual({ status: 201, body: { ok: true } })
      expect(await t.rows('docs')).toEqual(rows.map((row, i) => doc(i + 1, row.title, 1.5, 5)))
    })

    test('"rows" with "return": true returns every inserted row in request order', async () => {
      const t = await docsApp(backend)
      expect(
        await call(t, '/data/docs/-/insert', {
          rows: [
            { title: 'A', age: 1 },
            { title: 'B', score: 2.5 },
          ],
          return: true,
        }),
      ).toEqual({
        status: 201,
        body: { ok: true, rows: [doc(1, 'A', null, 1), doc(2, 'B', 2.5, null)] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'A', null, 1), doc(2, 'B', 2.5, null)])
    })

    test('"ignore" keeps the existing row and returns it', async () => {
      const t = await docsApp(backend, [doc(1, 'Exists')])
      expect(
        await call(t, '/data/docs/-/insert', {
          rows: [
            { id: 1, title: 'One' },
            { id: 2, title: 'Two' },
          ],
          ignore: true,
          return: true,
        }),
      ).toEqual({
        status: 201,
        body: { ok: true, rows: [doc(1, 'Exists'), doc(2, 'Two')] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Exists'), doc(2, 'Two')])
    })

    test('"replace" replaces the existing row whole', async () => {
      const t = await docsApp(backend, [doc(1, 'Exists', 9.5, 9)])
      expect(await call(t, '/data/docs/-/insert', { rows: [{ id: 1, title: 'One' }], replace: true, return: true })).toEqual({
        status: 201,
        body: { ok: true, rows: [doc(1, 'One')] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'One')])
    })

    test('"replace" without "return" answers only ok', async () => {
      const t = await docsApp(backend, [doc(1, 'Exists')])
      expect(await call(t, '/data/docs/-/insert', { rows: [{ id: 1, title: 'One' }], replace: true })).toEqual({ status: 201, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([doc(1, 'One')])
    })

    test('"alter" adds the missing columns with inferred types before inserting', async () => {
      const t = await docsApp(backend)
      expect(await call(t, '/data/docs/-/insert', { row: { title: 'Test', extra: 'extra', count: 3, ratio: 0.5 }, alter: true })).toEqual({
        status: 201,
        body: { ok: true, rows: [{ id: 1, title: 'Test', score: null, age: null, extra: 'extra', count: 3, ratio: 0.5 }] },
      })
      expect(await t.columns('docs')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
        ['score', SCORE],
        ['age', 'INTEGER'],
        ['extra', 'TEXT'],
        ['count', 'INTEGER'],
        ['ratio', 'REAL'],
      ])
      expect(await t.rows('docs')).toEqual([{ id: 1, title: 'Test', score: null, age: null, extra: 'extra', count: 3, ratio: 0.5 }])
    })

    test('a rowid table returns rowid as the first key of each row', async () => {
      const t = await backend.makeApp()
      await createTable(t, {
        table: 'things',
        columns: [
          { name: 'title', type: 'text' },
          { name: 'score', type: 'float' },
        ],
      })
      const { status, body } = await call(t, '/data/things/-/insert', { rows: [{ title: 'One', score: 1.5 }, { title: 'Two' }], return: true })
      expect({ status, body }).toEqual({
        status: 201,
        body: {
          ok: true,
          rows: [
            { rowid: 1, title: 'One', score: 1.5 },
            { rowid: 2, title: 'Two', score: null },
          ],
        },
      })
      expect(Object.keys((body as { rows: object[] }).rows[0]!)).toEqual(['rowid', 'title', 'score'])
      expect(await t.query('SELECT rowid, title, score FROM things ORDER BY rowid')).toEqual([
        { rowid: 1, title: 'One', score: 1.5 },
        { rowid: 2, title: 'Two', score: null },
      ])
    })

    test('a rowid table accepts an explicit rowid', async () => {
      const t = await backend.makeApp()
      await createTable(t, { table: 'things', columns: [{ name: 'title', type: 'text' }] })
      expect(await call(t, '/data/things/-/insert', { row: { rowid: 5, title: 'Five' } })).toEqual({
        status: 201,
        body: { ok: true, rows: [{ rowid: 5, title: 'Five' }] },
      })
      expect(await t.query('SELECT rowid, title FROM things')).toEqual([{ rowid: 5, title: 'Five' }])
    })

    test('a $base64 value is stored as a BLOB and returned in the same form; $raw stores the object as JSON text', async () => {
      const t = await backend.makeApp()
      await t.exec(ddl(t, 'CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, literal TEXT, double_raw TEXT)'))
      expect(
        await call(t, '/data/files/-/insert', {
          row: { id: 1, data: BASE64_VALUE, literal: { $raw: BASE64_VALUE }, double_raw: { $raw: { $raw: BASE64_VALUE } } },
        }),
      ).toEqual({
        status: 201,
        body: {
          ok: true,
          rows: [{ id: 1, data: BASE64_VALUE, literal: BASE64_LITERAL, double_raw: `{"$raw": ${BASE64_LITERAL}}` }],
        },
      })
      expect(
        await t.query(
          `SELECT ${typeOf(t, 'data')} AS data_type, ${hexOf(t, 'data')} AS data_hex, ${typeOf(t, 'literal')} AS literal_type, literal, double_raw FROM files`,
        ),
      ).toEqual([
        {
          data_type: storedAs(t).blob,
          data_hex: '000102FDFEFF',
          literal_type: storedAs(t).text,
          literal: BASE64_LITERAL,
          double_raw: `{"$raw": ${BASE64_LITERAL}}`,
        },
      ])
    })

    test('integers beyond 2^53 are stored and returned exactly', async () => {
      const t = await backend.makeApp()
      await t.exec(ddl(t, 'CREATE TABLE big (id INTEGER PRIMARY KEY, n INTEGER, m INTEGER)'))
      const response = await t.post('/data/big/-/insert', '{"row": {"id": 9223372036854775807, "n": 9007199254740993, "m": -9223372036854775808}}')
      expect(response.status).toBe(201)
      expect(await response.text()).toBe('{"ok":true,"rows":[{"id":9223372036854775807,"n":9007199254740993,"m":-9223372036854775808}]}')
      expect(await t.query(`SELECT CAST(id AS TEXT) AS id, CAST(n AS TEXT) AS n, CAST(m AS TEXT) AS m, ${typeOf(t, 'n')} AS type FROM big`)).toEqual([
        { id: '9223372036854775807', n: '9007199254740993', m: '-9223372036854775808', type: storedAs(t).integer },
      ])
    })

    test('a key that differs from a column only in case writes that column', async () => {
      const t = await docsApp(backend)
      expect(await call(t, '/data/docs/-/insert', { row: { TITLE: 'Shouted' } })).toEqual({ status: 201, body: { ok: true, rows: [doc(1, 'Shouted')] } })
      expect(await t.columns('docs')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
        ['score', SCORE],
        ['age', 'INTEGER'],
      ])
      expect(await t.rows('docs')).toEqual([doc(1, 'Shouted')])
    })

    test('the body is read as JSON whatever the Content-Type says', async () => {
      const t = await docsApp(backend)
      const response = await t.post('/data/docs/-/insert', { row: { title: 'Form' } }, undefined, { 'content-type': 'application/x-www-form-urlencoded' })
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: { ok: true, rows: [doc(1, 'Form')] } })
      expect(await t.rows('docs')).toEqual([doc(1, 'Form')])
    })
  })

  // --- upsert -----------------------------------------------------------------------------------------

  describe('upsert', () => {
    test('updates the given columns of an existing row, leaves its other columns, and inserts new rows (200)', async () => {
      const t = await docsApp(backend, [doc(1, 'One', 1.5, 3), doc(2, 'Two')])
      expect(
        await call(t, '/data/docs/-/upsert', {
          rows: [
            { id: 1, title: 'Three' },
            { id: 5, title: 'Five', age: 5 },
          ],
        }),
      ).toEqual({
        status: 200,
        body: { ok: true },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Three', 1.5, 3), doc(2, 'Two'), doc(5, 'Five', null, 5)])
    })

    test('"return": true returns the rows it wrote, as they are after the write', async () => {
      const t = await docsApp(backend, [doc(1, 'One', 1.5, 3), doc(2, 'Two')])
      expect(
        await call(t, '/data/docs/-/upsert', {
          rows: [
            { id: 1, title: 'Three' },
            { id: 5, title: 'Five' },
          ],
          return: true,
        }),
      ).toEqual({
        status: 200,
        body: { ok: true, rows: [doc(1, 'Three', 1.5, 3), doc(5, 'Five')] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Three', 1.5, 3), doc(2, 'Two'), doc(5, 'Five')])
    })

    test('a single "row" is upserted and returned', async () => {
      const t = await docsApp(backend, [doc(1, 'One', 1.5)])
      expect(await call(t, '/data/docs/-/upsert', { row: { id: 1, age: 40 } })).toEqual({ status: 200, body: { ok: true, rows: [doc(1, 'One', 1.5, 40)] } })
      expect(await t.rows('docs')).toEqual([doc(1, 'One', 1.5, 40)])
    })

    test('a table with a compound primary key is upserted on both key columns', async () => {
      const t = await backend.makeApp()
      expect(
        (
          await call(t, '/data/-/create', {
            table: 'pairs',
            rows: [
              { id: 1, title: 'One', score: 1 },
              { id: 1, title: 'Other', score: 2 },
            ],
            pks: ['id', 'score'],
          })
        ).status,
      ).toBe(201)
      expect(
        await call(t, '/data/pairs/-/upsert', {
          rows: [
            { id: 1, title: 'Two', score: 1 },
            { id: 2, title: 'New', score: 1 },
          ],
          return: true,
        }),
      ).toEqual({
        status: 200,
        body: {
          ok: true,
          rows: [
            { id: 1, title: 'Two', score: 1 },
            { id: 2, title: 'New', score: 1 },
          ],
        },
      })
      expect(await t.rows('pairs')).toEqual([
        { id: 1, title: 'Two', score: 1 },
        { id: 1, title: 'Other', score: 2 },
        { id: 2, title: 'New', score: 1 },
      ])
    })

    test('a rowid table is upserted by its "rowid" key', async () => {
      const t = await backend.makeApp()
      expect((await call(t, '/data/-/create', { table: 'things', rows: [{ title: 'One' }, { title: 'Keep' }] })).status).toBe(201)
      expect(
        await call(t, '/data/things/-/upsert', {
          rows: [
            { rowid: 1, title: 'Two' },
            { rowid: 7, title: 'Seven' },
          ],
          return: true,
        }),
      ).toEqual({
        status: 200,
        body: {
          ok: true,
          rows: [
            { rowid: 1, title: 'Two' },
            { rowid: 7, title: 'Seven' },
          ],
        },
      })
      expect(await t.query('SELECT rowid, title FROM things ORDER BY rowid')).toEqual([
        { rowid: 1, title: 'Two' },
        { rowid: 2, title: 'Keep' },
        { rowid: 7, title: 'Seven' },
      ])
    })

    test('"alter" adds the missing columns before upserting', async () => {
      const t = await docsApp(backend, [doc(1, 'One')])
      expect(await call(t, '/data/docs/-/upsert', { rows: [{ id: 1, title: 'Two', extra: 'extra' }], alter: true, return: true })).toEqual({
        status: 200,
        body: { ok: true, rows: [{ ...doc(1, 'Two'), extra: 'extra' }] },
      })
      expect(await t.columns('docs')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
        ['score', SCORE],
        ['age', 'INTEGER'],
        ['extra', 'TEXT'],
      ])
      expect(await t.rows('docs')).toEqual([{ ...doc(1, 'Two'), extra: 'extra' }])
    })

    test('BLOBs are written by upsert and update too', async () => {
      const t = await backend.makeApp()
      await t.exec(ddl(t, 'CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB, literal TEXT)'))
      expect(await call(t, '/data/files/-/upsert', { rows: [{ id: 2, data: BASE64_VALUE, literal: { $raw: BASE64_VALUE } }] })).toEqual({
        status: 200,
        body: { ok: true },
      })
      expect(await call(t, '/data/files/2/-/update', { update: { data: { $base64: true, encoded: '/wAB' } }, return: true })).toEqual({
        status: 200,
        body: {
          ok: true,
          row: { id: 2, data: { $base64: true, encoded: '/wAB' }, literal: BASE64_LITERAL },
          rows: [{ id: 2, data: { $base64: true, encoded: '/wAB' }, literal: BASE64_LITERAL }],
        },
      })
      expect(await t.query(`SELECT id, ${typeOf(t, 'data')} AS type, ${hexOf(t, 'data')} AS hex, literal FROM files`)).toEqual([
        { id: 2, type: storedAs(t).blob, hex: 'FF0001', literal: BASE64_LITERAL },
      ])
    })
  })

  // --- update -----------------------------------------------------------------------------------------

  describe('update', () => {
    test('sets the given columns of one row and answers ok', async () => {
      const t = await docsApp(backend, [doc(1, 'Row one', 1.2, 5), doc(2, 'Row two')])
      expect(await call(t, '/data/docs/1/-/update', { update: { title: 'New title', score: 1.6 } })).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([doc(1, 'New title', 1.6, 5), doc(2, 'Row two')])
    })

    test('can set a column to null', async () => {
      const t = await docsApp(backend, [doc(1, 'Row one', 1.2, 5)])
      expect(await call(t, '/data/docs/1/-/update', { update: { title: null } })).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([doc(1, null, 1.2, 5)])
    })

    test('"return": true answers with the updated row under both "row" and "rows"', async () => {
      const t = await docsApp(backend, [doc(1, 'Row one', 1.2, 5)])
      expect(await call(t, '/data/docs/1/-/update', { update: { age: 10 }, return: true })).toEqual({
        status: 200,
        body: { ok: true, row: doc(1, 'Row one', 1.2, 10), rows: [doc(1, 'Row one', 1.2, 10)] },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Row one', 1.2, 10)])
    })

    test('"alter" adds a missing column and sets it', async () => {
      const t = await docsApp(backend, [doc(1, 'Row one')])
      expect(await call(t, '/data/docs/1/-/update', { update: { title: 'New title', extra: 'extra' }, alter: true })).toEqual({
        status: 200,
        body: { ok: true },
      })
      expect(await t.columns('docs')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
        ['score', SCORE],
        ['age', 'INTEGER'],
        ['extra', 'TEXT'],
      ])
      expect(await t.rows('docs')).toEqual([{ ...doc(1, 'New title'), extra: 'extra' }])
    })

    test('a rowid table is addressed by its rowid', async () => {
      const t = await backend.makeApp()
      await createTable(t, { table: 'things', columns: [{ name: 'title', type: 'text' }] })
      await t.exec("INSERT INTO things (title) VALUES ('One'), ('Two')")
      expect(await call(t, '/data/things/2/-/update', { update: { title: 'Deux' }, return: true })).toEqual({
        status: 200,
        body: { ok: true, row: { rowid: 2, title: 'Deux' }, rows: [{ rowid: 2, title: 'Deux' }] },
      })
      expect(await t.query('SELECT rowid, title FROM things ORDER BY rowid')).toEqual([
        { rowid: 1, title: 'One' },
        { rowid: 2, title: 'Deux' },
      ])
    })

    test('a compound key is written a,b in the URL, with commas, slashes and pluses in values tilde-encoded', async () => {
      const t = await backend.makeApp()
      await t.exec('CREATE TABLE pairs (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b))')
      await t.exec("INSERT INTO pairs VALUES ('x,y', 'p/q', 'old'), ('x', 'y,p/q', 'other'), ('two words', 'a+b', 'spaced')")
      expect(await call(t, '/data/pairs/x~2Cy,p~2Fq/-/update', { update: { v: 'new' }, return: true })).toEqual({
        status: 200,
        body: { ok: true, row: { a: 'x,y', b: 'p/q', v: 'new' }, rows: [{ a: 'x,y', b: 'p/q', v: 'new' }] },
      })
      expect(await call(t, '/data/pairs/two+words,a~2Bb/-/update', { update: { v: 'found' } })).toEqual({ status: 200, body: { ok: true } })
      const inserted = [
        { a: 'x,y', b: 'p/q', v: 'new' },
        { a: 'x', b: 'y,p/q', v: 'other' },
        { a: 'two words', b: 'a+b', v: 'found' },
      ]
      // A keyed PostgreSQL table has no rowid to keep insertion order by: the inspector reads it in key order.
      expect(await t.rows('pairs')).toEqual(either(inserted, [inserted[2]!, inserted[1]!, inserted[0]!]))
    })

    test('an integer key beyond 2^53 in the URL finds its row exactly', async () => {
      const t = await backend.makeApp()
      await t.exec(ddl(t, 'CREATE TABLE big (id INTEGER PRIMARY KEY, n INTEGER)'))
      await t.exec('INSERT INTO big VALUES (9223372036854775807, 1), (9223372036854775806, 2)')
      const response = await t.post('/data/big/9223372036854775807/-/update', '{"update": {"n": 9007199254740993}, "return": true}')
      expect(response.status).toBe(200)
      expect(await response.text()).toBe(
        '{"ok":true,"row":{"id":9223372036854775807,"n":9007199254740993},"rows":[{"id":9223372036854775807,"n":9007199254740993}]}',
      )
      expect(await t.query('SELECT CAST(id AS TEXT) AS id, CAST(n AS TEXT) AS n FROM big ORDER BY id')).toEqual([
        { id: '9223372036854775806', n: '2' },
        { id: '9223372036854775807', n: '9007199254740993' },
      ])
    })

    test.each([
      ['an unknown column is refused: no such column', '/data/docs/1/-/update', { update: { title2: 'New title' } }, errorBody(400, 'no such column: title2')],
      [
        'keys other than update, return and alter are refused',
        '/data/docs/1/-/update',
        { update: { title: 'New title' }, bad_key: 1 },
        errorBody(400, 'Invalid keys: bad_key'),
      ],
      ['a body without "update" is refused', '/data/docs/1/-/update', { title: 'New title' }, errorBody(400, 'JSON must contain an update dictionary')],
      ['an "update" that is not an object is refused', '/data/docs/1/-/update', { update: 'title' }, errorBody(400, 'JSON must contain an update dictionary')],
      ['a body that is not an object is refused', '/data/docs/1/-/update', [], errorBody(400, 'JSON must be a dictionary')],
      [
        'a non-boolean "return" is refused',
        '/data/docs/1/-/update',
        { update: { title: 'x' }, return: 'yes' },
        errorBody(400, '"return" must be true or false'),
      ],
      ['a missing row is 404 Record not found', '/data/docs/77/-/update', { update: { title: 'x' } }, errorBody(404, "Record not found: ['77']")],
      ['a non-numeric key for an integer key is 404', '/data/docs/abc/-/update', { update: { title: 'x' } }, errorBody(404, "Record not found: ['abc']")],
      [
        'two key values for a one-column key is 400',
        '/data/docs/1,2/-/update',
        { update: { title: 'x' } },
        errorBody(400, 'Expected 1 primary key value (id) in the URL, got 2'),
      ],
      ['an unknown table is 404 naming it, as row.py does', '/data/nope/1/-/update', { update: { title: 'x' } }, errorBody(404, 'Table not found: nope')],
      [
        'a missing text key is shown as a Python list of strings',
        "/data/docs/it's/-/update",
        { update: { title: 'x' } },
        errorBody(404, 'Record not found: ["it\'s"]'),
      ],
      [
        'malformed JSON is 400 Invalid JSON',
        '/data/docs/1/-/update',
        '{bad json',
        errorBody(400, 'Invalid JSON: Expected a double-quoted property name at line 1 column 2'),
      ],
    ] as const)('update: %s, and nothing is written', async (_name, path, body, expected) => {
      const t = await docsApp(backend, [doc(1, 'Row one', 1.2, 5)])
      const before = await databaseState(t)
      expect(await call(t, path, body)).toEqual({ status: expected.status, body: expected })
      expect(await databaseState(t)).toEqual(before)
    })

    test('a compound key given one value is 400 naming both key columns', async () => {
      const t = await backend.makeApp()
      await t.exec('CREATE TABLE pairs (a TEXT, b TEXT, v TEXT, PRIMARY KEY (a, b))')
      await t.exec("INSERT INTO pairs VALUES ('x', 'y', 'v')")
      const before = await databaseState(t)
      expect(await call(t, '/data/pairs/x/-/update', { update: { v: 'new' } })).toEqual({
        status: 400,
        body: errorBody(400, 'Expected 2 primary key values (a, b) in the URL, got 1'),
      })
      expect(await databaseState(t)).toEqual(before)
    })
  })

  // --- delete -----------------------------------------------------------------------------------------

  describe('delete', () => {
    test('deletes a row of a table with a primary key', async () => {
      const t = await docsApp(backend, [doc(1, 'One'), doc(2, 'Two')])
      expect(await call(t, '/data/docs/1/-/delete')).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([doc(2, 'Two')])
    })

    test('deletes a row of a table with a compound primary key', async () => {
      const t = await backend.makeApp()
      expect(
        (
          await call(t, '/data/-/create', {
            table: 'compound_pk_table',
            rows: [
              { type: 'article', key: 'k' },
              { type: 'article', key: 'k,2' },
            ],
            pks: ['type', 'key'],
          })
        ).status,
      ).toBe(201)
      expect(await call(t, '/data/compound_pk_table/article,k/-/delete')).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('compound_pk_table')).toEqual([{ type: 'article', key: 'k,2' }])
      expect(await call(t, '/data/compound_pk_table/article,k~2C2/-/delete')).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('compound_pk_table')).toEqual([])
    })

    test('deletes a row of a rowid table by its rowid', async () => {
      const t = await backend.makeApp()
      expect((await call(t, '/data/-/create', { table: 'rowid_table', rows: [{ name: 'rowid row' }, { name: 'second' }] })).status).toBe(201)
      expect(await call(t, '/data/rowid_table/1/-/delete')).toEqual({ status: 200, body: { ok: true } })
      expect(await t.query('SELECT rowid, name FROM rowid_table')).toEqual([{ rowid: 2, name: 'second' }])
    })

    test.each([
      ['a missing row is 404 Record not found', '/data/docs/77/-/delete', errorBody(404, "Record not found: ['77']")],
      ['an unknown table is 404 naming it', '/data/bad_table/1/-/delete', errorBody(404, 'Table not found: bad_table')],
      ['an unknown database is 404 naming it', '/nope/docs/1/-/delete', errorBody(404, 'Database not found: nope')],
      ['two key values for a one-column key is 400', '/data/docs/1,1/-/delete', errorBody(400, 'Expected 1 primary key value (id) in the URL, got 2')],
    ] as const)('delete: %s, and nothing is deleted', async (_name, path, expected) => {
      const t = await docsApp(backend, [doc(1, 'One')])
      const before = await databaseState(t)
      expect(await call(t, path)).toEqual({ status: expected.status, body: expected })
      expect(await databaseState(t)).toEqual(before)
    })
  })

  describe('create', () => {
    test('"columns" creates an empty table with text, integer, float and blob mapped to SQLite types (201, no row_count)', async () => {
      const t = await backend.makeApp()
      const columns = [
        { name: 'id', type: 'integer' },
        { name: 'title', type: 'text' },
        { name: 'score', type: 'integer' },
        { name: 'weight', type: 'float' },
        { name: 'thumbnail', type: 'blob' },
        { name: 'untyped' },
      ]
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "one" (\n   "id" INTEGER PRIMARY KEY,\n   "title" TEXT,\n   "score" INTEGER,\n   "weight" REAL,\n   "thumbnail" BLOB,\n   "untyped" TEXT\n)',
        'CREATE TABLE "one" (\n   "id" bigint PRIMARY KEY,\n   "title" text,\n   "score" bigint,\n   "weight" double precision,\n   "thumbnail" bytea,\n   "untyped" text\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'one', columns, pk: 'id' })).toEqual({ status: 201, body: createdBody('one', schema) })
      expect(await t.tables()).toEqual(['one'])
      expect(await t.columns('one')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
        ['score', 'INTEGER'],
        ['weight', 'REAL'],
        ['thumbnail', 'BLOB'],
        ['untyped', 'TEXT'],
      ])
      expect(await t.rows('one')).toEqual([])
      if (backend.name === 'sqlite') expect(await t.query("SELECT sql FROM sqlite_schema WHERE name = 'one'")).toEqual([{ sql: schema }])
      else
        expect(await postgresTypes(t, 'one')).toEqual([
          ['id', 'bigint'],
          ['title', 'text'],
          ['score', 'bigint'],
          ['weight', 'double precision'],
          ['thumbnail', 'bytea'],
          ['untyped', 'text'],
        ])
    })

    test('"columns" with "pks" puts the compound PRIMARY KEY on the last line', async () => {
      const t = await backend.makeApp()
      const columns = [
        { name: 'type', type: 'text' },
        { name: 'key', type: 'integer' },
        { name: 'title', type: 'text' },
      ]
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      // PostgreSQL makes every key column NOT NULL (SQLite lets a compound key hold NULLs), and its text says so.
      const schema = either(
        'CREATE TABLE "five" (\n   "type" TEXT,\n   "key" INTEGER,\n   "title" TEXT,\n   PRIMARY KEY ("type", "key")\n)',
        'CREATE TABLE "five" (\n   "type" text NOT NULL,\n   "key" bigint NOT NULL,\n   "title" text,\n   PRIMARY KEY ("type", "key")\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'five', columns, pks: ['type', 'key'] })).toEqual({ status: 201, body: createdBody('five', schema) })
      expect(await t.query(either("SELECT name, pk FROM pragma_table_info('five') ORDER BY cid", postgresKeyPositions('five')))).toEqual([
        { name: 'type', pk: 1 },
        { name: 'key', pk: 2 },
        { name: 'title', pk: 0 },
      ])
    })

    test('"columns" without a pk creates a rowid table', async () => {
      const t = await backend.makeApp()
      expect(await call(t, '/data/-/create', { table: 't', columns: [{ name: 'c' }] })).toEqual({
        status: 201,
        // Schema text: PostgreSQL's rowid is a real column, shown first.
        body: createdBody('t', either('CREATE TABLE "t" (\n   "c" TEXT\n)', 'CREATE TABLE "t" (\n   "rowid" bigint PRIMARY KEY,\n   "c" text\n)')),
      })
      expect(await t.columns('t')).toEqual([['c', 'TEXT']])
    })

    test('a pk that is not among the columns is added first as INTEGER PRIMARY KEY, as sqlite-utils does', async () => {
      const t = await backend.makeApp()
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "t" (\n   "id" INTEGER PRIMARY KEY,\n   "title" TEXT\n)',
        'CREATE TABLE "t" (\n   "id" bigint PRIMARY KEY,\n   "title" text\n)',
      )
      expect(await call(t, '/data/-/create', { table: 't', columns: [{ name: 'title', type: 'text' }], pk: 'id' })).toEqual({
        status: 201,
        body: createdBody('t', schema),
      })
      expect(await t.columns('t')).toEqual([
        ['id', 'INTEGER'],
        ['title', 'TEXT'],
      ])
    })

    test('not_null, default and every default_expr end up in the schema and take effect on insert', async () => {
      const t = await backend.makeApp()
      const columns = [
        { name: 'id', type: 'integer' },
        { name: 'title', type: 'text', not_null: true, default: 'Untitled' },
        { name: 'created', type: 'text', default_expr: 'current_timestamp' },
        { name: 'day', type: 'text', default_expr: 'current_date' },
        { name: 'clock', type: 'text', default_expr: 'current_time' },
        { name: 'unix', type: 'integer', default_expr: 'current_unixtime' },
        { name: 'unix_ms', type: 'integer', default_expr: 'current_unixtime_ms' },
        { name: 'score', type: 'integer', default: 0 },
        { name: 'weight', type: 'float', default: 1.5 },
        { name: 'literal', type: 'text', default: "it's hello)" },
        { name: 'required', type: 'integer', not_null: true, default: 7 },
      ]
      const sqliteSchema = [
        'CREATE TABLE "constrained" (',
        '   "id" INTEGER PRIMARY KEY,',
        `   "title" TEXT NOT NULL DEFAULT 'Untitled',`,
        '   "created" TEXT DEFAULT CURRENT_TIMESTAMP,',
        '   "day" TEXT DEFAULT CURRENT_DATE,',
        '   "clock" TEXT DEFAULT CURRENT_TIME,',
        `   "unix" INTEGER DEFAULT (CAST(strftime('%s', 'now') AS INTEGER)),`,
        `   "unix_ms" INTEGER DEFAULT (CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),`,
        '   "score" INTEGER DEFAULT 0,',
        '   "weight" REAL DEFAULT 1.5,',
        `   "literal" TEXT DEFAULT 'it''s hello)',`,
        '   "required" INTEGER NOT NULL DEFAULT 7',
        ')',
      ].join('\n')
      // PostgreSQL has no CURRENT_TIMESTAMP text of SQLite's shape: rowpost's defaults compute the same values, and the
      // catalogue gives them back in its own normalised spelling.
      const postgresDefaults = {
        title: "'Untitled'::text",
        created: "to_char((now() AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD HH24:MI:SS'::text)",
        day: "to_char((now() AT TIME ZONE 'UTC'::text), 'YYYY-MM-DD'::text)",
        clock: "to_char((now() AT TIME ZONE 'UTC'::text), 'HH24:MI:SS'::text)",
        unix: '(floor(EXTRACT(epoch FROM now())))::bigint',
        unix_ms: '(floor((EXTRACT(epoch FROM now()) * (1000)::numeric)))::bigint',
        literal: "'it''s hello)'::text",
      }
      const postgresSchema = [
        'CREATE TABLE "constrained" (',
        '   "id" bigint PRIMARY KEY,',
        `   "title" text NOT NULL DEFAULT ${postgresDefaults.title},`,
        `   "created" text DEFAULT ${postgresDefaults.created},`,
        `   "day" text DEFAULT ${postgresDefaults.day},`,
        `   "clock" text DEFAULT ${postgresDefaults.clock},`,
        `   "unix" bigint DEFAULT ${postgresDefaults.unix},`,
        `   "unix_ms" bigint DEFAULT ${postgresDefaults.unix_ms},`,
        '   "score" bigint DEFAULT 0,',
        '   "weight" double precision DEFAULT 1.5,',
        `   "literal" text DEFAULT ${postgresDefaults.literal},`,
        '   "required" bigint NOT NULL DEFAULT 7',
        ')',
      ].join('\n')
      expect(await call(t, '/data/-/create', { table: 'constrained', columns, pk: 'id' })).toEqual({
        status: 201,
        body: createdBody('constrained', either(sqliteSchema, postgresSchema)),
      })
      if (backend.name === 'sqlite') {
        expect(await t.query('SELECT name, "notnull", dflt_value FROM pragma_table_info(\'constrained\') ORDER BY cid')).toEqual([
          { name: 'id', notnull: 0, dflt_value: null },
          { name: 'title', notnull: 1, dflt_value: "'Untitled'" },
          { name: 'created', notnull: 0, dflt_value: 'CURRENT_TIMESTAMP' },
          { name: 'day', notnull: 0, dflt_value: 'CURRENT_DATE' },
          { name: 'clock', notnull: 0, dflt_value: 'CURRENT_TIME' },
          // SQLite keeps a parenthesised default expression without its outer parentheses.
          { name: 'unix', notnull: 0, dflt_value: "CAST(strftime('%s', 'now') AS INTEGER)" },
          { name: 'unix_ms', notnull: 0, dflt_value: "CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)" },
          { name: 'score', notnull: 0, dflt_value: '0' },
          { name: 'weight', notnull: 0, dflt_value: '1.5' },
          { name: 'literal', notnull: 0, dflt_value: "'it''s hello)'" },
          { name: 'required', notnull: 1, dflt_value: '7' },
        ])
      } else {
        // A PostgreSQL key column is NOT NULL.
        expect(await t.query(POSTGRES_DEFAULTS_SQL, ['constrained'])).toEqual([
          { name: 'id', notnull: true, dflt_value: null },
          { name: 'title', notnull: true, dflt_value: postgresDefaults.title },
          { name: 'created', notnull: false, dflt_value: postgresDefaults.created },
          { name: 'day', notnull: false, dflt_value: postgresDefaults.day },
          { name: 'clock', notnull: false, dflt_value: postgresDefaults.clock },
          { name: 'unix', notnull: false, dflt_value: postgresDefaults.unix },
          { name: 'unix_ms', notnull: false, dflt_value: postgresDefaults.unix_ms },
          { name: 'score', notnull: false, dflt_value: '0' },
          { name: 'weight', notnull: false, dflt_value: '1.5' },
          { name: 'literal', notnull: false, dflt_value: postgresDefaults.literal },
          { name: 'required', notnull: true, dflt_value: '7' },
        ])
      }

      expect(await call(t, '/data/constrained/-/insert', { rows: [{ id: 1 }] })).toEqual({ status: 201, body: { ok: true } })
      const [row] = await t.query(
        `SELECT title, created, day, clock, unix, ${typeOf(t, 'unix')} AS unix_type, unix_ms, ${typeOf(t, 'unix_ms')} AS unix_ms_type, score, weight, literal, required FROM constrained`,
      )
      expect(row).toEqual({
        title: 'Untitled',
        created: expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/),
        day: expect.stringMatching(/^\d{4}-\d\d-\d\d$/),
        clock: expect.stringMatching(/^\d\d:\d\d:\d\d$/),
        unix: expect.any(Number),
        unix_type: storedAs(t).integer,
        unix_ms: expect.any(Number),
        unix_ms_type: storedAs(t).integer,
        score: 0,
        weight: 1.5,
        literal: "it's hello)",
        required: 7,
      })
      expect(row!.unix as number).toBeGreaterThan(1_600_000_000)
      expect(row!.unix_ms as number).toBeGreaterThan(1_600_000_000_000)
    })

    test('fk_table with and without fk_column creates REFERENCES clauses (without: the single primary key)', async () => {
      const t = await backend.makeApp()
      const owners = {
        table: 'owners',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'name', type: 'text' },
        ],
        pk: 'id',
      }
      expect((await call(t, '/data/-/create', owners)).status).toBe(201)
      const columns = [
        { name: 'id', type: 'integer' },
        { name: 'owner_id', type: 'integer', fk_table: 'owners' },
        { name: 'owner_name', type: 'text', fk_table: 'owners', fk_column: 'name' },
        { name: 'title', type: 'text' },
      ]
      if (backend.name === 'sqlite') {
        const schema = [
          'CREATE TABLE "projects" (',
          '   "id" INTEGER PRIMARY KEY,',
          '   "owner_id" INTEGER REFERENCES "owners"("id"),',
          '   "owner_name" TEXT REFERENCES "owners"("name"),',
          '   "title" TEXT',
          ')',
        ].join('\n')
        expect(await call(t, '/data/-/create', { table: 'projects', columns, pk: 'id' })).toEqual({ status: 201, body: createdBody('projects', schema) })
        expect(await t.query('SELECT "from", "table", "to" FROM pragma_foreign_key_list(\'projects\') ORDER BY "from"')).toEqual([
          { from: 'owner_id', table: 'owners', to: 'id' },
          { from: 'owner_name', table: 'owners', to: 'name' },
        ])
        return
      }
      // PostgreSQL refuses a foreign key to a column without a unique constraint (owners.name); SQLite accepts it.
      const before = await databaseState(t)
      expect(await call(t, '/data/-/create', { table: 'projects', columns, pk: 'id' })).toEqual({
        status: 400,
        body: errorBody(400, 'Schema refused by PostgreSQL: there is no unique constraint matching given keys for referenced table "owners"'),
      })
      expect(await databaseState(t)).toEqual(before)
      const schema = 'CREATE TABLE "projects" (\n   "id" bigint PRIMARY KEY,\n   "owner_id" bigint REFERENCES "owners"("id"),\n   "title" text\n)'
      const keyed = columns.filter((column) => column.name !== 'owner_name')
      expect(await call(t, '/data/-/create', { table: 'projects', columns: keyed, pk: 'id' })).toEqual({ status: 201, body: createdBody('projects', schema) })
      expect(await t.query(POSTGRES_FOREIGN_KEYS_SQL, ['projects'])).toEqual([{ from: 'owner_id', table: 'owners', to: 'id' }])
    })

    test('a column may reference the table being created', async () => {
      const t = await backend.makeApp()
      const columns = [
        { name: 'id', type: 'integer' },
        { name: 'parent_id', type: 'integer', fk_table: 'tree', fk_column: 'id' },
      ]
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "tree" (\n   "id" INTEGER PRIMARY KEY,\n   "parent_id" INTEGER REFERENCES "tree"("id")\n)',
        'CREATE TABLE "tree" (\n   "id" bigint PRIMARY KEY,\n   "parent_id" bigint REFERENCES "tree"("id")\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'tree', columns, pk: 'id' })).toEqual({ status: 201, body: createdBody('tree', schema) })
      expect(await t.columns('tree')).toEqual([
        ['id', 'INTEGER'],
        ['parent_id', 'INTEGER'],
      ])
    })

    test('"rows" creates the table with inferred types and inserts them (row_count)', async () => {
      const t = await backend.makeApp()
      const rows = [
        { id: 1, title: 'Row 1', score: 1.5 },
        { id: 2, title: 'Row 2', score: 1.5 },
      ]
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "two" (\n   "id" INTEGER PRIMARY KEY,\n   "title" TEXT,\n   "score" REAL\n)',
        'CREATE TABLE "two" (\n   "id" bigint PRIMARY KEY,\n   "title" text,\n   "score" double precision\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'two', rows, pk: 'id' })).toEqual({ status: 201, body: createdBody('two', schema, 2) })
      expect(await t.rows('two')).toEqual(rows)
    })

    test('"row" creates the table from one row', async () => {
      const t = await backend.makeApp()
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "three" (\n   "id" INTEGER PRIMARY KEY,\n   "title" TEXT,\n   "score" REAL\n)',
        'CREATE TABLE "three" (\n   "id" bigint PRIMARY KEY,\n   "title" text,\n   "score" double precision\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'three', row: { id: 1, title: 'Row 1', score: 1.5 }, pk: 'id' })).toEqual({
        status: 201,
        body: createdBody('three', schema, 1),
      })
      expect(await t.rows('three')).toEqual([{ id: 1, title: 'Row 1', score: 1.5 }])
    })

    test('"row" without a pk creates a rowid table', async () => {
      const t = await backend.makeApp()
      expect(await call(t, '/data/-/create', { table: 'four', row: { name: 'Row 1' } })).toEqual({
        status: 201,
        // Schema text: PostgreSQL's rowid is a real column, shown first.
        body: createdBody(
          'four',
          either('CREATE TABLE "four" (\n   "name" TEXT\n)', 'CREATE TABLE "four" (\n   "rowid" bigint PRIMARY KEY,\n   "name" text\n)'),
          1,
        ),
      })
      expect(await t.query('SELECT rowid, name FROM four')).toEqual([{ rowid: 1, name: 'Row 1' }])
    })

    test('"row" with "pks" creates a compound primary key', async () => {
      const t = await backend.makeApp()
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      // PostgreSQL makes every key column NOT NULL (SQLite lets a compound key hold NULLs), and its text says so.
      const schema = either(
        'CREATE TABLE "five" (\n   "type" TEXT,\n   "key" INTEGER,\n   "title" TEXT,\n   PRIMARY KEY ("type", "key")\n)',
        'CREATE TABLE "five" (\n   "type" text NOT NULL,\n   "key" bigint NOT NULL,\n   "title" text,\n   PRIMARY KEY ("type", "key")\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'five', row: { type: 'article', key: 123, title: 'Article 1' }, pks: ['type', 'key'] })).toEqual({
        status: 201,
        body: createdBody('five', schema, 1),
      })
      expect(await t.rows('five')).toEqual([{ type: 'article', key: 123, title: 'Article 1' }])
    })

    test('types are inferred from every kind of JSON value', async () => {
      const t = await backend.makeApp()
      const body =
        '{"table": "kinds", "pk": "id", "rows": [' +
        '{"id": 1, "n": 1, "f": 1.5, "whole": 2.0, "s": "x", "b": true, "o": {"a": 1}, "arr": [1, "two"], "nothing": null, "blob": {"$base64": true, "encoded": "AAEC/f7/"}, "mixed": 1},' +
        '{"id": 2, "n": 2, "f": 3, "whole": 4.0, "s": "y", "b": false, "o": null, "arr": [], "nothing": null, "blob": null, "mixed": "one"}]}'
      const types = [
        ['n', 'INTEGER'],
        ['f', 'REAL'],
        ['whole', 'REAL'],
        ['s', 'TEXT'],
        ['b', 'INTEGER'],
        ['o', 'TEXT'],
        ['arr', 'TEXT'],
        ['nothing', 'TEXT'],
        ['blob', 'BLOB'],
        ['mixed', 'TEXT'],
      ] as const
      // Schema text: PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const typeName = (type: keyof typeof POSTGRES_TYPE_NAMES) => either(type, POSTGRES_TYPE_NAMES[type])
      const schema = [
        'CREATE TABLE "kinds" (',
        `   "id" ${typeName('INTEGER')} PRIMARY KEY,`,
        ...types.map(([name, type]) => `   "${name}" ${typeName(type)},`),
        ')',
      ]
        .join('\n')
        .replace(/,\n\)$/, '\n)')
      const response = await t.post('/data/-/create', body)
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: createdBody('kinds', schema, 2) })
      expect(
        await t.query(
          `SELECT id, n, f, whole, ${typeOf(t, 'whole')} AS whole_type, s, b, o, arr, "nothing", ${typeOf(t, 'blob')} AS blob_type, ${hexOf(t, 'blob')} AS blob, ${typeOf(t, 'mixed')} AS mixed_type FROM kinds ORDER BY id`,
        ),
      ).toEqual([
        {
          id: 1,
          n: 1,
          f: 1.5,
          whole: 2,
          whole_type: storedAs(t).real,
          s: 'x',
          b: 1,
          o: '{"a": 1}',
          arr: '[1, "two"]',
          nothing: null,
          blob_type: storedAs(t).blob,
          blob: '000102FDFEFF',
          mixed_type: storedAs(t).text,
        },
        {
          id: 2,
          n: 2,
          f: 3,
          whole: 4,
          whole_type: storedAs(t).real,
          s: 'y',
          b: 0,
          o: null,
          arr: '[]',
          nothing: null,
          blob_type: 'null',
          blob: '',
          mixed_type: storedAs(t).text,
        },
      ])
    })

    test('a pk missing from the rows is added as INTEGER PRIMARY KEY; later rows may add columns; create is not capped at max_insert_rows', async () => {
      const t = await backend.makeApp()
      const rows = [...Array.from({ length: 100 }, () => ({ name: 'Row 1' })), { name: 'Row 2', extra: 'Extra' }]
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "new_table" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT,\n   "extra" TEXT\n)',
        'CREATE TABLE "new_table" (\n   "id" bigint PRIMARY KEY,\n   "name" text,\n   "extra" text\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'new_table', rows, pk: 'id' })).toEqual({ status: 201, body: createdBody('new_table', schema, 101) })
      const stored = await t.rows('new_table')
      expect(stored).toHaveLength(101)
      expect(stored[0]).toEqual({ id: 1, name: 'Row 1', extra: null })
      expect(stored[100]).toEqual({ id: 101, name: 'Row 2', extra: 'Extra' })
    })

    test.each([
      [
        '"ignore" keeps existing rows and adds new ones',
        { ignore: true },
        [
          { id: 1, name: 'Row 1' },
          { id: 2, name: 'Row 2' },
          { id: 3, name: 'Row 3 new' },
        ],
      ],
      [
        '"replace" replaces existing rows and adds new ones',
        { replace: true },
        [
          { id: 1, name: 'Row 1 new' },
          { id: 2, name: 'Row 2' },
          { id: 3, name: 'Row 3 new' },
        ],
      ],
    ] as const)('create against an existing table: %s', async (_name, flag, expected) => {
      const t = await backend.makeApp()
      // Schema text: SQLite keeps the statement it ran; PostgreSQL's is rebuilt from its catalogue, in its own type names.
      const schema = either(
        'CREATE TABLE "test_insert_replace" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT\n)',
        'CREATE TABLE "test_insert_replace" (\n   "id" bigint PRIMARY KEY,\n   "name" text\n)',
      )
      const first = {
        table: 'test_insert_replace',
        rows: [
          { id: 1, name: 'Row 1' },
          { id: 2, name: 'Row 2' },
        ],
        pk: 'id',
      }
      expect(await call(t, '/data/-/create', first)).toEqual({ status: 201, body: createdBody('test_insert_replace', schema, 2) })
      const second = {
        table: 'test_insert_replace',
        rows: [
          { id: 1, name: 'Row 1 new' },
          { id: 3, name: 'Row 3 new' },
        ],
        pk: 'id',
        ...flag,
      }
      expect(await call(t, '/data/-/create', second)).toEqual({ status: 201, body: createdBody('test_insert_replace', schema, 2) })
      expect(await t.rows('test_insert_replace')).toEqual([...expected])
    })

    test('create against an existing table with "alter" adds the new columns', async () => {
      const t = await docsApp(backend, [doc(1, 'One')])
      // Schema text: SQLite appends the new column to the fixture's own statement; PostgreSQL's is rebuilt from its catalogue.
      const schema = either(
        'CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT, score FLOAT, age INTEGER, "extra" TEXT)',
        'CREATE TABLE "docs" (\n   "id" bigint PRIMARY KEY,\n   "title" text,\n   "score" double precision,\n   "age" bigint,\n   "extra" text\n)',
      )
      expect(await call(t, '/data/-/create', { table: 'docs', rows: [{ id: 2, title: 'Two', extra: 'extra' }], pk: 'id', alter: true })).toEqual({
        status: 201,
        body: createdBody('docs', schema, 1),
      })
      expect(await t.rows('docs')).toEqual([
        { ...doc(1, 'One'), extra: null },
        { ...doc(2, 'Two'), extra: 'extra' },
      ])
    })

    test.each([
      [
        'the same rows twice without ignore or replace fail on the key',
        {
          table: 'docs',
          rows: [
            { id: 2, title: 'Two' },
            { id: 1, title: 'Dup' },
          ],
          pk: 'id',
        },
        errorBody(400, 'UNIQUE constraint failed: docs.id'),
      ],
      [
        'a different pk for an existing table is refused',
        { table: 'docs', rows: [{ id: 2, title: 'Two' }], pk: 'title', replace: true },
        errorBody(400, 'pk cannot be changed for existing table'),
      ],
      [
        '"columns" for an existing table is refused',
        { table: 'docs', columns: [{ name: 'id', type: 'integer' }] },
        errorBody(400, 'Table docs already exists'),
      ],
      ['a new column without "alter" is refused', { table: 'docs', rows: [{ id: 2, extra: 'x' }] }, errorBody(400, 'table docs has no column named extra')],
    ] as const)('create against an existing table: %s, and nothing is written', async (_name, body, expected) => {
      const t = await docsApp(backend, [doc(1, 'One')])
      const before = await databaseState(t)
      expect(await call(t, '/data/-/create', body)).toEqual({ status: expected.status, body: expected })
      expect(await databaseState(t)).toEqual(before)
    })

    test.each([
      ['a missing table name', { row: { id: 1 } }, 'Table is required'],
      ['an empty table name', { table: '', row: { id: 1 } }, 'Table is required'],
      ['a table name starting with sqlite_', { table: 'sqlite_bad_name', row: { id: 1 } }, 'Invalid table name'],
      ['a table name starting with SQLITE_ in capitals', { table: 'SQLite_stat1', row: { id: 1 } }, 'Invalid table name'],
      ['a table name that is not a string', { table: 5, row: { id: 1 } }, 'Invalid table name'],
      ['a table name holding a NUL character', { table: 'bad\u0000name', row: { id: 1 } }, 'Invalid table name'],
      ['a table name with a newline inside (Datasette: ^(?!sqlite_)[^\\n]+$)', { table: 'a\nb', row: { id: 1 } }, 'Invalid table name'],
      ['a table name that is only a newline', { table: '\n', row: { id: 1 } }, 'Invalid table name'],
      ['a table name of columns', { table: 'a\nb', columns: [{ name: 'id', type: 'integer' }] }, 'Invalid table name'],
      ['a table name starting with a newline', { table: '\nsqlite_x', row: { id: 1 } }, 'Invalid table name'],
      ['a body that is not an object', [], 'JSON must be an object'],
      ['unknown keys', { table: 'bad', row: { id: 1 }, bad: 1 }, 'Invalid keys: bad'],
      ['both columns and rows', { table: 'bad', columns: [{ name: 'id', type: 'integer' }], rows: [{ id: 1 }] }, 'Cannot specify columns with rows or row'],
      ['neither columns nor rows nor row', { table: 'bad' }, 'columns, rows or row is required'],
      ['an empty columns list', { table: 'bad', columns: [] }, 'columns, rows or row is required'],
      ['an empty rows list', { table: 'bad', rows: [] }, 'columns, rows or row is required'],
      ['both rows and row', { table: 'bad', rows: [{ id: 1 }], row: { id: 2 } }, 'Cannot specify both rows and row'],
      ['columns that are not a list', { table: 'bad', columns: { name: 'id', type: 'integer' } }, 'columns must be a list'],
      ['columns that are not objects', { table: 'bad', columns: ['id'] }, 'columns must be a list of objects'],
      ['a column without a name', { table: 'bad', columns: [{ type: 'integer' }] }, 'Column name is required'],
      ['an unsupported column type', { table: 'bad', columns: [{ name: 'id', type: 'bad' }] }, 'Unsupported column type: bad'],
      [
        'a duplicate column name',
        {
          table: 'bad',
          columns: [
            { name: 'id', type: 'integer' },
            { name: 'id', type: 'integer' },
          ],
        },
        'Duplicate column name: id',
      ],
      ['rows that are not a list', { table: 'bad', rows: { id: 1 } }, 'rows must be a list'],
      ['rows that are not objects', { table: 'bad', rows: ['id'] }, 'rows must be a list of objects'],
      ['a pk that is not a string', { table: 'bad', row: { id: 1 }, pk: 1 }, 'pk must be a string'],
      ['both pk and pks', { table: 'bad', row: { id: 1, name: 'Row 1' }, pk: 'id', pks: ['id', 'name'] }, 'Cannot specify both pk and pks'],
      ['pks that are not a list', { table: 'bad', row: { id: 1, name: 'Row 1' }, pks: 'id' }, 'pks must be a list'],
      ['pks that are not strings', { table: 'bad', row: { id: 1, name: 'Row 1' }, pks: [1, 2] }, 'pks must be a list of strings'],
      [
        'both ignore and replace',
        { table: 'bad', row: { id: 1, name: 'Row 1' }, pk: 'id', ignore: true, replace: true },
        'ignore and replace are mutually exclusive',
      ],
      ['ignore with columns', { table: 'bad', columns: [{ name: 'id', type: 'integer' }], ignore: true }, 'ignore and replace require row or rows'],
      ['ignore without a pk', { table: 'bad', row: { id: 1 }, ignore: true }, 'ignore and replace require pk or pks'],
      ['replace without a pk', { table: 'bad', row: { id: 1 }, replace: true }, 'ignore and replace require pk or pks'],
      [
        'fk_column without fk_table',
        { table: 'projects', columns: [{ name: 'owner_id', type: 'integer', fk_column: 'id' }] },
        'columns.0: fk_column requires fk_table',
      ],
      [
        'an unknown default_expr',
        { table: 'projects', columns: [{ name: 'created', type: 'text', default_expr: "datetime('now')" }] },
        "columns.0.default_expr: Input should be 'current_timestamp', 'current_date', 'current_time', 'current_unixtime' or 'current_unixtime_ms'",
      ],
      [
        'both default and default_expr',
        { table: 'projects', columns: [{ name: 'created', type: 'text', default: 'x', default_expr: 'current_timestamp' }] },
        'columns.0: Value error, default and default_expr cannot both be provided',
      ],
      [
        'fk_table naming a missing table',
        { table: 'projects', columns: [{ name: 'owner_id', type: 'integer', fk_table: 'owners' }] },
        "Could not detect single primary key for table 'owners'",
      ],
      [
        'fk_table naming a table with a compound key',
        {
          table: 'projects',
          columns: [
            { name: 'id', type: 'integer' },
            { name: 'account_id', type: 'integer', fk_table: 'accounts' },
          ],
          pk: 'id',
        },
        "Could not detect single primary key for table 'accounts'",
      ],
      [
        'fk_column naming a column the other table lacks',
        { table: 'projects', columns: [{ name: 'account_id', type: 'integer', fk_table: 'docs', fk_column: 'nope' }] },
        'No such column: docs.nope',
      ],
      [
        'fk_table naming a missing table, with fk_column',
        { table: 'projects', columns: [{ name: 'ghost_id', type: 'integer', fk_table: 'ghosts', fk_column: 'id' }] },
        'No such column: ghosts.id',
      ],
      ['an empty row', { table: 'bad', row: {} }, 'columns, rows or row is required'],
      [
        'rows that break the new primary key, leaving no table behind',
        { table: 'fresh', rows: [{ id: 1 }, { id: 1 }], pk: 'id' },
        'UNIQUE constraint failed: fresh.id',
      ],
      ['malformed JSON', '{bad json', 'Invalid JSON: Expected a double-quoted property name at line 1 column 2'],
    ] as const)('create refuses %s with 400, and nothing is written', async (_name, body, message) => {
      const t = await docsApp(backend, [doc(1, 'One')])
      await t.exec(ddl(t, 'CREATE TABLE accounts (tenant_id INTEGER, id INTEGER, name TEXT, PRIMARY KEY (tenant_id, id))'))
      const before = await databaseState(t)
      expect(await call(t, '/data/-/create', body)).toEqual({ status: 400, body: errorBody(400, message) })
      expect(await databaseState(t)).toEqual(before)
    })
  })

  // --- drop -------------------------------------------------------------------------------------------

  describe('drop', () => {
    test('without "confirm" answers 200 with the row count and a message, and keeps the table', async () => {
      const t = await docsApp(backend, [doc(1, 'One'), doc(2, 'Two')])
      const before = await databaseState(t)
      const expected = { status: 200, body: { ok: true, database: 'data', table: 'docs', row_count: 2, message: 'Pass "confirm": true to confirm' } }
      expect(await call(t, '/data/docs/-/drop')).toEqual(expected)
      expect(await call(t, '/data/docs/-/drop', { confirm: false })).toEqual(expected)
      expect(await call(t, '/data/docs/-/drop', '{not json')).toEqual(expected)
      expect(await databaseState(t)).toEqual(before)
    })

    test('with "confirm": true drops the table', async () => {
      const t = await docsApp(backend, [doc(1, 'One')])
      await t.exec(ddl(t, 'CREATE TABLE other (id INTEGER)'))
      expect(await call(t, '/data/docs/-/drop', { confirm: true })).toEqual({ status: 200, body: { ok: true } })
      expect(await t.tables()).toEqual(['other'])
    })

    test('an unknown table is 404, and nothing is dropped', async () => {
      const t = await docsApp(backend, [doc(1, 'One')])
      const before = await databaseState(t)
      expect(await call(t, '/data/bad_table/-/drop', { confirm: true })).toEqual({ status: 404, body: errorBody(404, 'Table not found') })
      expect(await databaseState(t)).toEqual(before)
    })
  })

  describe('insert and upsert validation', () => {
    test.each(ROWS_ERRORS)(
      'refuses %s, and nothing is written',
      async (_name, { path = '/data/docs/-/insert', body, status = 400, errors, settings, setup }) => {
        const t = await docsApp(backend, [doc(1, 'Exists')], { unsafe: true, settings })
        await setup?.(t)
        const before = await databaseState(t)
        expect(await call(t, path, body)).toEqual({ status, body: errorBody(status, ...errors) })
        expect(await databaseState(t)).toEqual(before)
      },
    )

    test('exactly max_insert_rows rows are accepted', async () => {
      const t = await docsApp(backend, [], { unsafe: true, settings: { max_insert_rows: 5 } })
      expect(await call(t, '/data/docs/-/insert', tooMany(5))).toEqual({ status: 201, body: { ok: true } })
      expect(await t.rows('docs')).toHaveLength(5)
    })
  })

  // --- routing, methods and limits ------------------------------------------------------------------------

  describe('routing and limits', () => {
    test.each([
      ['create', '/data2/-/create', { table: 't', row: { id: 1 } }],
      ['insert', '/data2/docs/-/insert', { row: { title: 'x' } }],
      ['upsert', '/data2/docs/-/upsert', { row: { id: 1 } }],
      ['update', '/data2/docs/1/-/update', { update: { title: 'x' } }],
      ['delete', '/data2/docs/1/-/delete', undefined],
      ['drop', '/data2/docs/-/drop', { confirm: true }],
    ] as const)('%s on an unknown database is 404 Database not found (naming it on the row routes, as row.py does)', async (name, path, body) => {
      const t = await docsApp(backend, [doc(1, 'One')])
      const before = await databaseState(t)
      const message = name === 'update' || name === 'delete' ? 'Database not found: data2' : 'Database not found'
      expect(await call(t, path, body)).toEqual({ status: 404, body: errorBody(404, message) })
      expect(await databaseState(t)).toEqual(before)
    })

    test.each([
      '/data/-/create',
      '/data/docs/-/drop',
      '/data/docs/-/insert',
      '/data/docs/-/upsert',
      '/data/docs/1/-/update',
      '/data/docs/1/-/delete',
      '/data/docs/-/alter',
      '/data/-/execute-write',
    ])('GET %s is 405 Method not allowed', async (path) => {
      const t = await docsApp(backend, [doc(1, 'One')])
      const before = await databaseState(t)
      const response = await t.get(path)
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 405, body: errorBody(405, 'Method not allowed') })
      expect(await databaseState(t)).toEqual(before)
    })

    test.each(['/data/-/create', '/data/docs/-/insert', '/data/docs/-/upsert', '/data/docs/1/-/update', '/data/docs/1/-/delete', '/data/docs/-/drop'])(
      'OPTIONS %s answers 200 ok',
      async (path) => {
        const t = await docsApp(backend)
        const response = await t.request('OPTIONS', path)
        expect({ status: response.status, body: await response.text() }).toEqual({ status: 200, body: 'ok' })
      },
    )

    test.each([
      ['insert', '/data/docs/-/insert', { rows: [{ title: 'x'.repeat(200) }] }],
      ['upsert', '/data/docs/-/upsert', { rows: [{ id: 1, title: 'x'.repeat(200) }] }],
      ['update', '/data/docs/1/-/update', { update: { title: 'x'.repeat(200) } }],
      ['create', '/data/-/create', { table: 'big', rows: [{ title: 'x'.repeat(200) }] }],
    ] as const)('a %s body over max_post_body_bytes is 413, and a small one still works', async (_name, path, body) => {
      const t = await docsApp(backend, [doc(1, 'One')], { unsafe: true, settings: { max_post_body_bytes: 100 } })
      const before = await databaseState(t)
      expect(await call(t, path, body)).toEqual({ status: 413, body: errorBody(413, 'Request body exceeded maximum size of 100 bytes') })
      expect(await databaseState(t)).toEqual(before)
      expect(await call(t, '/data/docs/-/insert', { row: { title: 'hi' } })).toEqual({ status: 201, body: { ok: true, rows: [doc(2, 'hi')] } })
    })
  })

  // --- odd table names ----------------------------------------------------------------------------------

  describe('odd table names', () => {
    test.each([
      ['table with spaces', 'table+with+spaces'],
      [`it's "quoted"`, 'it~27s+~22quoted~22'],
      ['ünï 表', '~C3~BCn~C3~AF+~E8~A1~A8'],
      ['"; DROP TABLE x; --', '~22~3B+DROP+TABLE+x~3B+--'],
      ['dots.and/slashes', 'dots~2Eand~2Fslashes'],
      ['select', 'select'],
      ['tilde~plus+', 'tilde~7Eplus~2B'],
    ])('%s is created, then written through its tilde-encoded URL %s', async (name, encoded) => {
      const t = await backend.makeApp()
      await t.exec(ddl(t, 'CREATE TABLE x (id INTEGER)'))
      await t.exec('INSERT INTO x VALUES (42)')
      const quoted = `"${name.replaceAll('"', '""')}"`
      const column = 'col "q"'
      expect(await call(t, '/data/-/create', { table: name, rows: [{ id: 1, [column]: 'one' }], pk: 'id' })).toEqual({
        status: 201,
        body: {
          ok: true,
          database: 'data',
          table: name,
          table_url: `http://localhost/data/${encoded}`,
          table_api_url: `http://localhost/data/${encoded}.json`,
          // Schema text: PostgreSQL's is rebuilt from its catalogue, in its own type names.
          schema: `CREATE TABLE ${quoted} (\n   "id" ${either('INTEGER', 'bigint')} PRIMARY KEY,\n   "col ""q""" ${either('TEXT', 'text')}\n)`,
          row_count: 1,
        },
      })
      expect(await call(t, `/data/${encoded}/-/insert`, { row: { id: 2, [column]: 'two' } })).toEqual({
        status: 201,
        body: { ok: true, rows: [{ id: 2, [column]: 'two' }] },
      })
      expect(await call(t, `/data/${encoded}/-/upsert`, { rows: [{ id: 3, [column]: 'three' }] })).toEqual({ status: 200, body: { ok: true } })
      expect(await call(t, `/data/${encoded}/2/-/update`, { update: { [column]: 'deux' } })).toEqual({ status: 200, body: { ok: true } })
      expect(await call(t, `/data/${encoded}/1/-/delete`)).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows(name)).toEqual([
        { id: 2, [column]: 'deux' },
        { id: 3, [column]: 'three' },
      ])
      expect(await t.tables()).toEqual([name, 'x'].sort())
      expect(await t.rows('x')).toEqual([{ id: 42 }])
      expect(await call(t, `/data/${encoded}/-/drop`, { confirm: true })).toEqual({ status: 200, body: { ok: true } })
      expect(await t.tables()).toEqual(['x'])
    })
  })

  // --- permissions ------------------------------------------------------------------------------------------

  describe('permissions', () => {
    const permissionsApp = () => docsApp(backend, [doc(1, 'One')], { config: PERMISSIONS_CONFIG })

    test.each([
      ['an anonymous insert', undefined, '/data/docs/-/insert', { rows: [{ title: 'Test' }] }, 'Permission denied'],
      ['an insert without insert-row', 'updater', '/data/docs/-/insert', { rows: [{ title: 'Test' }] }, 'Permission denied'],
      ['an insert without insert-row, before looking at the body', 'nobody', '/data/docs/-/insert', [], 'Permission denied'],
      [
        'an upsert without update-row',
        'inserter',
        '/data/docs/-/upsert',
        { rows: [{ id: 1, title: 'Disallowed' }] },
        'Permission denied: need both insert-row and update-row',
      ],
      [
        'an upsert without insert-row',
        'updater',
        '/data/docs/-/upsert',
        { rows: [{ id: 1, title: 'Disallowed' }] },
        'Permission denied: need both insert-row and update-row',
      ],
      [
        'an insert with "replace" without update-row',
        'inserter',
        '/data/docs/-/insert',
        { rows: [{ id: 1, title: 'Test' }], replace: true },
        'Permission denied: need update-row to use "replace"',
      ],
      [
        'an insert with "alter" without alter-table',
        'inserter',
        '/data/docs/-/insert',
        { rows: [{ title: 'Test', extra: 'x' }], alter: true },
        'Permission denied for alter-table',
      ],
      [
        'an upsert with "alter" without alter-table',
        'insert-update',
        '/data/docs/-/upsert',
        { rows: [{ id: 1, title: 'One', extra: 'extra' }], alter: true },
        'Permission denied for alter-table',
      ],
      [
        'an update with "alter" without alter-table',
        'updater',
        '/data/docs/1/-/update',
        { update: { title: 'New', extra: 'x' }, alter: true },
        'Permission denied for alter-table',
      ],
      ['an update without update-row', 'inserter', '/data/docs/1/-/update', { update: { title: 'New' } }, 'Permission denied'],
      ['an anonymous update', undefined, '/data/docs/1/-/update', { update: { title: 'New' } }, 'Permission denied'],
      ['a delete without delete-row', 'insert-update', '/data/docs/1/-/delete', undefined, 'Permission denied'],
      ['an anonymous delete', undefined, '/data/docs/1/-/delete', undefined, 'Permission denied'],
      ['a create without create-table', 'inserter', '/data/-/create', { table: 't', columns: [{ name: 'c' }] }, 'Permission denied'],
      ['an anonymous create', undefined, '/data/-/create', { table: 't', row: { id: 1 } }, 'Permission denied'],
      ['a create with rows without insert-row', 'creator', '/data/-/create', { table: 't', rows: [{ name: 'c' }] }, 'Permission denied: need insert-row'],
      [
        'a create with "replace" without update-row',
        'create-insert',
        '/data/-/create',
        { table: 't', rows: [{ id: 1 }], pk: 'id', replace: true },
        'Permission denied: need update-row',
      ],
      [
        'a create with "alter" on an existing table without alter-table',
        'create-insert',
        '/data/-/create',
        { table: 'docs', rows: [{ id: 2, title: 'Row 2', extra: 'extra' }], pk: 'id', alter: true },
        'Permission denied: need alter-table',
      ],
      ['a drop without drop-table', 'insert-update', '/data/docs/-/drop', { confirm: true }, 'Permission denied'],
      ['a drop without drop-table, even unconfirmed', 'nobody', '/data/docs/-/drop', undefined, 'Permission denied'],
    ] as const)('refuses %s with 403, and nothing is written', async (_name, actor, path, body, message) => {
      const t = await permissionsApp()
      const before = await databaseState(t)
      expect(await call(t, path, body, actor && token(actor))).toEqual({ status: 403, body: errorBody(403, message) })
      expect(await databaseState(t)).toEqual(before)
    })

    test('a missing table is 404 before permissions are checked', async () => {
      const t = await permissionsApp()
      const before = await databaseState(t)
      expect(await call(t, '/data/docs2/-/insert', { rows: [{ title: 'x' }] })).toEqual({ status: 404, body: errorBody(404, 'Table not found') })
      expect(await databaseState(t)).toEqual(before)
    })

    test.each([
      ['insert', '/data/docs/-/insert', { rows: [{ title: 'x' }] }],
      ['upsert', '/data/docs/-/upsert', { rows: [{ id: 1, title: 'x' }] }],
      ['update', '/data/docs/1/-/update', { update: { title: 'x' } }],
      ['delete', '/data/docs/1/-/delete', undefined],
      ['create', '/data/-/create', { table: 't', row: { id: 1 } }],
      ['drop', '/data/docs/-/drop', { confirm: true }],
    ] as const)('an unknown bearer token on %s is 401 with WWW-Authenticate, and nothing is written', async (_name, path, body) => {
      const t = await permissionsApp()
      const before = await databaseState(t)
      const response = await t.request('POST', path, body === undefined ? undefined : JSON.stringify(body), { authorization: 'Bearer root-token-bad' })
      expect({ status: response.status, body: await response.json(), challenge: response.headers.get('www-authenticate') }).toEqual({
        status: 401,
        body: errorBody(401, 'Invalid token'),
        challenge: 'Bearer error="invalid_token"',
      })
      expect(await databaseState(t)).toEqual(before)
    })

    test('insert-row alone may insert', async () => {
      const t = await permissionsApp()
      expect(await call(t, '/data/docs/-/insert', { rows: [{ title: 'Two' }] }, token('inserter'))).toEqual({ status: 201, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([doc(1, 'One'), doc(2, 'Two')])
    })

    test('insert-row with alter-table may insert with "alter"', async () => {
      const t = await permissionsApp()
      expect(await call(t, '/data/docs/-/insert', { row: { title: 'Two', extra: 'x' }, alter: true }, token('insert-alter'))).toEqual({
        status: 201,
        body: { ok: true, rows: [{ ...doc(2, 'Two'), extra: 'x' }] },
      })
      expect(await t.rows('docs')).toEqual([
        { ...doc(1, 'One'), extra: null },
        { ...doc(2, 'Two'), extra: 'x' },
      ])
    })

    test('insert-row with update-row may upsert and insert with "replace"', async () => {
      const t = await permissionsApp()
      expect(await call(t, '/data/docs/-/upsert', { rows: [{ id: 1, age: 9 }] }, token('insert-update'))).toEqual({ status: 200, body: { ok: true } })
      expect(await call(t, '/data/docs/-/insert', { rows: [{ id: 2, title: 'Two' }], replace: true }, token('insert-update'))).toEqual({
        status: 201,
        body: { ok: true },
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'One', null, 9), doc(2, 'Two')])
    })

    test('update-row with alter-table may update with "alter"', async () => {
      const t = await permissionsApp()
      expect(await call(t, '/data/docs/1/-/update', { update: { title: 'New', extra: 'x' }, alter: true }, token('update-alter'))).toEqual({
        status: 200,
        body: { ok: true },
      })
      expect(await t.rows('docs')).toEqual([{ ...doc(1, 'New'), extra: 'x' }])
    })

    test('create-table alone may create from columns; with insert-row, from rows; with alter-table, alter an existing table', async () => {
      const t = await permissionsApp()
      expect((await call(t, '/data/-/create', { table: 't', columns: [{ name: 'c' }] }, token('creator'))).status).toBe(201)
      expect((await call(t, '/data/-/create', { table: 'u', rows: [{ name: 'c' }] }, token('create-insert'))).status).toBe(201)
      expect((await call(t, '/data/-/create', { table: 'docs', rows: [{ id: 2, extra: 'x' }], alter: true }, token('create-insert-alter'))).status).toBe(201)
      expect(await t.tables()).toEqual(['docs', 't', 'u'])
      expect(await t.rows('u')).toEqual([{ name: 'c' }])
      expect(await t.rows('docs')).toEqual([
        { ...doc(1, 'One'), extra: null },
        { ...doc(2, null), extra: 'x' },
      ])
    })

    test('delete-row and drop-table let root delete and drop', async () => {
      const t = await permissionsApp()
      expect(await call(t, '/data/docs/1/-/delete', undefined, token('root'))).toEqual({ status: 200, body: { ok: true } })
      expect(await t.rows('docs')).toEqual([])
      expect(await call(t, '/data/docs/-/drop', { confirm: true }, token('root'))).toEqual({ status: 200, body: { ok: true } })
      expect(await t.tables()).toEqual([])
    })

    test('a table-level grant allows that table only', async () => {
      const config = interpretMetadata({
        databases: { data: { tables: { docs: { permissions: { 'insert-row': { id: 'docs-writer' } } } } } },
        plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'docs-writer-token', actor: { id: 'docs-writer' } }] } },
      })
      const t = await docsApp(backend, [], { config })
      await createTable(t, { table: 'other', columns: [{ name: 'title', type: 'text' }] })
      expect(await call(t, '/data/docs/-/insert', { row: { title: 'Yes' } }, 'docs-writer-token')).toEqual({
        status: 201,
        body: { ok: true, rows: [doc(1, 'Yes')] },
      })
      expect(await call(t, '/data/other/-/insert', { row: { title: 'No' } }, 'docs-writer-token')).toEqual({
        status: 403,
        body: errorBody(403, 'Permission denied'),
      })
      expect(await t.rows('docs')).toEqual([doc(1, 'Yes')])
      expect(await t.rows('other')).toEqual([])
    })
  })
})

// --- immutable databases --------------------------------------------------------------------------------

// SQLite-only: an immutable database is a SQLite file opened with -i.

describe('immutable databases', () => {
  /** An app whose second database, `immutable`, is an existing file opened read-only. */
  function immutableApp() {
    const path = tempDbPath('immutable')
    const file = new Database(path, { create: true })
    file.run(DOCS_SQL)
    file.run("INSERT INTO docs VALUES (1, 'Frozen', 1.5, 3)")
    file.close()
    const t = makeApp({ unsafe: true, databases: [RowpostDatabase.open(path, { immutable: true })] })
    t.db.connection.run(DOCS_SQL)
    t.db.connection.run("INSERT INTO docs VALUES (1, 'One', NULL, NULL)")
    return { t, path }
  }

  test.each([
    ['insert', '/immutable/docs/-/insert', { rows: [{ title: 'Test' }] }],
    ['insert with "row"', '/immutable/docs/-/insert', { row: { title: 'Test' } }],
    ['upsert', '/immutable/docs/-/upsert', { rows: [{ id: 1, title: 'Test' }] }],
    ['update', '/immutable/docs/1/-/update', { update: { title: 'Test' } }],
    ['delete', '/immutable/docs/1/-/delete', undefined],
    ['create', '/immutable/-/create', { table: 't', rows: [{ id: 1 }] }],
    ['create with columns', '/immutable/-/create', { table: 't', columns: [{ name: 'id' }] }],
    ['drop', '/immutable/docs/-/drop', { confirm: true }],
    ['drop without confirm', '/immutable/docs/-/drop', undefined],
  ] as const)('%s is 403 Database is immutable, and neither file changes', async (_name, path, body) => {
    const { t, path: immutablePath } = immutableApp()
    const before = { data: fileState(t.path), immutable: fileState(immutablePath) }
    expect(await call(t, path, body)).toEqual({ status: 403, body: errorBody(403, 'Database is immutable') })
    expect({ data: fileState(t.path), immutable: fileState(immutablePath) }).toEqual(before)
  })
})
