import { Database } from 'bun:sqlite'
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import fc from 'fast-check'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { quoteIdentifier, tildeEncode } from '../lib/identifiers'
import { afterSql, filterSql, selectPageSql } from '../lib/reader'
import { DEFAULT_SETTINGS } from '../lib/settings'
import type { ColumnType } from '../lib/schema'
import { postgresDialect } from '../lib/store/postgres/dialect'
import { sqliteDialect } from '../lib/store/sqlite/dialect'
import { stringifyJson } from '../lib/json'
import { fromSqlValue, rowArrayJson, rowFromValues, rowObjectsJson, rowsJson, rowsNdjson, sqlValueJson } from '../lib/values'
import { eachBackend, type BackendApp } from './backends'
import { makeApp, type TestApp } from './helpers'

type Row = Record<string, unknown>

/** GETs `path` and returns status, parsed body and headers. */
async function getJson(t: BackendApp | TestApp, path: string, token?: string) {
  const response = await t.get(path, token)
  return { status: response.status, body: (await response.json()) as any, headers: response.headers }
}

/** PostgreSQL's names for the column types of the setup SQL: 64-bit integers and doubles, as SQLite stores them. */
const POSTGRES_TYPES: Record<string, string> = { INTEGER: 'BIGINT', REAL: 'DOUBLE PRECISION', BLOB: 'BYTEA' }

const CREATED = /^CREATE TABLE ("(?:[^"]|"")*"|\w+)/

/**
 * Runs setup SQL through the backend's own connection; on PostgreSQL its column types become the ones rowpost uses. A
 * table created behind the store's back is then looked up, as a request for it would (PostgreSQL's store lists the
 * tables it knows and reads the whole catalogue again only once a second).
 */
async function sql(t: BackendApp, text: string, ...params: Array<string | number | bigint | null | Uint8Array>) {
  const created = CREATED.exec(text)?.[1]
  const spelled = t.backend === 'postgres' && created ? text.replace(/\b(INTEGER|REAL|BLOB)\b/g, (type) => POSTGRES_TYPES[type]!) : text
  await t.exec(spelled, params)
  if (created) await t.store.sync(created.startsWith('"') ? created.slice(1, -1).replaceAll('""', '"') : created)
}

/**
 * A table without a primary key: on PostgreSQL only rowpost's own DDL gives it a rowid (a `rowid` key numbered as
 * SQLite numbers rowids), so that is what runs there.
 */
async function rowidTable(t: BackendApp, table: string, columns: Array<[string, ColumnType]>) {
  const definitions = columns.map(([name, type]) => ({ name, type }))
  await t.exec(t.backend === 'postgres' ? postgresDialect.createTable(table, definitions, []) : sqliteDialect.createTable(table, definitions, []))
  await t.store.sync(table)
}

/** Inserts many rows in one statement. */
async function insertMany(t: BackendApp, table: string, columns: string[], rows: unknown[][]) {
  const placeholders = `(${columns.map(() => '?').join(', ')})`
  await t.exec(
    `INSERT INTO ${quoteIdentifier(table)} (${columns.map(quoteIdentifier).join(', ')}) VALUES ${rows.map(() => placeholders).join(', ')}`,
    rows.flat(),
  )
}

/** Follows next_url from `path` to the last page, checking each page's Link header; `between` runs after each page. */
async function pageThrough(t: BackendApp, path: string, between?: (page: number) => Promise<void>) {
  const rows: Row[] = []
  let target: string | null = path
  let pages = 0
  while (target !== null) {
    const { status, body, headers } = await getJson(t, target)
    expect(status).toBe(200)
    rows.push(...body.rows)
    pages++
    if (body.next === null) {
      expect(body.next_url).toBeNull()
      expect(headers.get('link')).toBeNull()
      target = null
    } else {
      expect(headers.get('link')).toBe(`<${body.next_url}>; rel="next"`)
      expect(body.next_url.startsWith('http://localhost/')).toBe(true)
      target = body.next_url.slice('http://localhost'.length)
    }
    await between?.(pages)
    if (pages > 50) throw new Error('pagination does not end')
  }
  return { rows, pages }
}

/** The SQLite library's version, which /-/versions.json reports whatever the backend. */
function sqliteLibraryVersion(): string {
  const memory = new Database(':memory:')
  try {
    return (memory.query('select sqlite_version() as v').get() as { v: string }).v
  } finally {
    memory.close()
  }
}

/** The `path` /-/databases.json shows for the served database: the file's name on SQLite; none for a database server. */
const PATH_SHOWN = { sqlite: 'data.db', postgres: null }

const ids = (rows: Row[]) => rows.map((row) => row.id)

const tokensConfig = (extra: object = {}) =>
  interpretMetadata({
    ...extra,
    plugins: {
      'datasette-auth-tokens': {
        tokens: [
          { token: 'boss-token', actor: { id: 'boss' } },
          { token: 'reader-token', actor: { id: 'reader' } },
        ],
      },
    },
  })

// The PostgreSQL cluster is removed after the file with its hundred-odd test databases (over 1 GB): on a busy machine
// that took 20-38 s, past bunfig's 30 s, which bounds hooks as well as tests.
setDefaultTimeout(120_000)

eachBackend((backend) => {
  async function dogsApp() {
    const t = await backend.makeApp({ unsafe: true })
    await sql(t, 'CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)')
    await insertMany(
      t,
      'dogs',
      ['id', 'name', 'age'],
      [
        [1, 'Cleopaws', 5],
        [2, 'Pancakes', 4],
        [3, 'Toasty', null],
      ],
    )
    return t
  }

  describe('instance endpoints', () => {
    test('/-/databases.json lists the served database', async () => {
      const t = await backend.makeApp({})
      const { status, body } = await getJson(t, '/-/databases.json')
      expect(status).toBe(200)
      expect(body).toEqual([{ name: 'data', path: PATH_SHOWN[backend.name], is_mutable: true, is_memory: false, hash: null }])
    })

    test('/-/versions.json reports the rowpost, Bun and SQLite versions', async () => {
      const t = await backend.makeApp({ version: '9.8.7' })
      const { status, body } = await getJson(t, '/-/versions.json')
      expect(status).toBe(200)
      const sqliteVersion = sqliteLibraryVersion()
      expect(body).toEqual({ rowpost: { version: '9.8.7' }, bun: { version: Bun.version }, sqlite: { version: sqliteVersion } })
    })

    test('/-/actor.json is null when anonymous and the configured actor with a token', async () => {
      const t = await backend.makeApp({ config: tokensConfig() })
      expect(await getJson(t, '/-/actor.json')).toMatchObject({ status: 200, body: { actor: null } })
      expect(await getJson(t, '/-/actor.json', 'boss-token')).toMatchObject({ status: 200, body: { actor: { id: 'boss' } } })
    })

    test('/-/actor.json with an unknown token is 401', async () => {
      const t = await backend.makeApp({ config: tokensConfig() })
      const { status, body, headers } = await getJson(t, '/-/actor.json', 'wrong')
      expect(status).toBe(401)
      expect(body).toMatchObject({ ok: false, status: 401 })
      expect(headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    })

    test('/-/settings.json returns the settings, overrides included', async () => {
      const t = await backend.makeApp({ settings: { default_page_size: 7 } })
      const { status, body } = await getJson(t, '/-/settings.json')
      expect(status).toBe(200)
      expect(body).toEqual({ ...DEFAULT_SETTINGS, default_page_size: 7 })
    })
  })

  describe('database JSON', () => {
    test('lists each table with its columns, primary keys and row count', async () => {
      const t = await dogsApp()
      await sql(t, 'CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))')
      await rowidTable(t, 'log', [['message', 'TEXT']])
      await sql(t, "INSERT INTO log (message) VALUES ('one'), ('two')")
      const { status, body } = await getJson(t, '/data.json')
      expect(status).toBe(200)
      expect(body).toEqual({
        database: 'data',
        private: false,
        path: '/data',
        tables: [
          { name: 'dogs', columns: ['id', 'name', 'age'], primary_keys: ['id'], count: 3, private: false },
          { name: 'pairs', columns: ['a', 'b', 'v'], primary_keys: ['a', 'b'], count: 0, private: false },
          { name: 'log', columns: ['message'], primary_keys: [], count: 2, private: false },
        ],
      })
    })

    test('a database path without .json is a 404', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data')
      expect(status).toBe(404)
      expect(body).toEqual({ ok: false, error: 'Not found', errors: ['Not found'], status: 404 })
    })

    test('an unknown database is a 404', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/nope.json')
      expect(status).toBe(404)
      expect(body).toMatchObject({ ok: false, status: 404 })
      expect(body.error).toStartWith('Database not found')
    })
  })

  describe('table JSON shapes', () => {
    test('the default shape is objects in an ok envelope', async () => {
      const t = await dogsApp()
      const { status, body, headers } = await getJson(t, '/data/dogs.json')
      expect(status).toBe(200)
      expect(headers.get('content-type')).toBe('application/json; charset=utf-8')
      expect(headers.get('link')).toBeNull()
      expect(body).toEqual({
        ok: true,
        next: null,
        next_url: null,
        rows: [
          { id: 1, name: 'Cleopaws', age: 5 },
          { id: 2, name: 'Pancakes', age: 4 },
          { id: 3, name: 'Toasty', age: null },
        ],
        truncated: false,
      })
      expect(await getJson(t, '/data/dogs.json?_shape=objects')).toMatchObject({ status: 200, body })
    })

    test('a rowid table puts rowid first in each row', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/notes', [
        { text: 'hello', n: 1 },
        { text: 'world', n: 2 },
      ])
      const { status, body } = await getJson(t, '/data/notes.json')
      expect(status).toBe(200)
      expect(body.rows).toEqual([
        { rowid: 1, text: 'hello', n: 1 },
        { rowid: 2, text: 'world', n: 2 },
      ])
      expect(Object.keys(body.rows[0])).toEqual(['rowid', 'text', 'n'])
    })

    test('_shape=arrays gives rows as arrays and the column list', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_shape=arrays')
      expect(status).toBe(200)
      expect(body).toEqual({
        ok: true,
        next: null,
        next_url: null,
        columns: ['id', 'name', 'age'],
        rows: [
          [1, 'Cleopaws', 5],
          [2, 'Pancakes', 4],
          [3, 'Toasty', null],
        ],
        truncated: false,
      })
    })

    test('_shape=array gives a bare array of row objects', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_shape=array')
      expect(status).toBe(200)
      expect(body).toEqual([
        { id: 1, name: 'Cleopaws', age: 5 },
        { id: 2, name: 'Pancakes', age: 4 },
        { id: 3, name: 'Toasty', age: null },
      ])
    })

    test('_shape=array with _nl=on gives newline-delimited JSON', async () => {
      const t = await dogsApp()
      const response = await t.get('/data/dogs.json?_shape=array&_nl=on')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
      expect(await response.text()).toBe('{"id":1,"name":"Cleopaws","age":5}\n{"id":2,"name":"Pancakes","age":4}\n{"id":3,"name":"Toasty","age":null}\n')
    })

    test('_nl=on with _shape=array still paginates through the Link header', async () => {
      const t = await dogsApp()
      const response = await t.get('/data/dogs.json?_shape=array&_nl=on&_size=2')
      expect(response.status).toBe(200)
      expect(response.headers.get('link')).toBe('<http://localhost/data/dogs.json?_shape=array&_nl=on&_size=2&_next=2>; rel="next"')
      expect(
        (await response.text())
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line).id),
      ).toEqual([1, 2])
    })

    test('_shape=object keys rows by primary key', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_shape=object')
      expect(status).toBe(200)
      expect(body).toEqual({
        1: { id: 1, name: 'Cleopaws', age: 5 },
        2: { id: 2, name: 'Pancakes', age: 4 },
        3: { id: 3, name: 'Toasty', age: null },
      })
    })

    test('_shape=object joins compound keys with commas, tilde-encoded like row URLs', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))')
      await insertMany(
        t,
        'pairs',
        ['a', 'b', 'v'],
        [
          ['x', 1, 'one'],
          ['y,z', 2, 'two'],
        ],
      )
      const { status, body } = await getJson(t, '/data/pairs.json?_shape=object')
      expect(status).toBe(200)
      expect(body).toEqual({ 'x,1': { a: 'x', b: 1, v: 'one' }, 'y~2Cz,2': { a: 'y,z', b: 2, v: 'two' } })
    })

    test('_shape=object keys a rowid table by rowid', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/notes', [{ text: 'hello' }, { text: 'world' }])
      const { status, body } = await getJson(t, '/data/notes.json?_shape=object')
      expect(status).toBe(200)
      expect(body).toEqual({ 1: { rowid: 1, text: 'hello' }, 2: { rowid: 2, text: 'world' } })
    })

    test('an unknown _shape is a 400', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_shape=bogus')
      expect(status).toBe(400)
      expect(body).toEqual({ ok: false, error: 'Invalid _shape: bogus', errors: ['Invalid _shape: bogus'], status: 400 })
    })

    test('a table path without .json is a 404, and so is an unknown table', async () => {
      const t = await dogsApp()
      expect(await getJson(t, '/data/dogs')).toMatchObject({ status: 404, body: { ok: false, error: 'Not found', status: 404 } })
      const missing = await getJson(t, '/data/cats.json')
      expect(missing.status).toBe(404)
      expect(missing.body).toMatchObject({ ok: false, status: 404 })
      expect(missing.body.error).toStartWith('Table not found')
      const missingDb = await getJson(t, '/nope/dogs.json')
      expect(missingDb.status).toBe(404)
      expect(missingDb.body.error).toStartWith('Database not found')
    })

    test('unknown underscore options are ignored', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_extra=count&_facet=name&_whatever=1')
      expect(status).toBe(200)
      expect(ids(body.rows)).toEqual([1, 2, 3])
    })
  })

  describe('_size', () => {
    async function numbersApp(count: number, settings = {}) {
      const t = await backend.makeApp({ settings })
      await sql(t, 'CREATE TABLE numbers (id INTEGER PRIMARY KEY)')
      await insertMany(
        t,
        'numbers',
        ['id'],
        Array.from({ length: count }, (_, i) => [i + 1]),
      )
      return t
    }

    test('defaults to default_page_size rows', async () => {
      const t = await numbersApp(150)
      const { status, body } = await getJson(t, '/data/numbers.json')
      expect(status).toBe(200)
      expect(body.rows).toHaveLength(100)
      expect(body.next).toBe('100')
      expect(body.next_url).toBe('http://localhost/data/numbers.json?_next=100')
      const small = await numbersApp(10, { default_page_size: 4 })
      expect((await getJson(small, '/data/numbers.json')).body.rows).toHaveLength(4)
    })

    test('_size=max returns max_returned_rows rows', async () => {
      const t = await numbersApp(150, { max_returned_rows: 120 })
      const { status, body } = await getJson(t, '/data/numbers.json?_size=max')
      expect(status).toBe(200)
      expect(body.rows).toHaveLength(120)
      expect(body.next_url).toBe('http://localhost/data/numbers.json?_size=max&_next=120')
      expect((await getJson(t, '/data/numbers.json?_size=120')).body.rows).toHaveLength(120)
    })

    test('a page exactly filling the table has no next page', async () => {
      const t = await numbersApp(5)
      const { body } = await getJson(t, '/data/numbers.json?_size=5')
      expect(body.rows).toHaveLength(5)
      expect(body.next).toBeNull()
    })

    test.each([
      ['0', '_size must be a positive integer'],
      ['-1', '_size must be a positive integer'],
      ['abc', '_size must be a positive integer'],
      ['1.5', '_size must be a positive integer'],
      ['1001', '_size must be <= 1000'],
    ])('_size=%s is a 400', async (size, message) => {
      const t = await numbersApp(3)
      const { status, body } = await getJson(t, `/data/numbers.json?_size=${size}`)
      expect(status).toBe(400)
      expect(body).toEqual({ ok: false, error: message, errors: [message], status: 400 })
    })
  })

  describe('keyset pagination', () => {
    /** 350 rows; `grp` has duplicates and a NULL on every fifth row. */
    async function groupedApp() {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE items (id INTEGER PRIMARY KEY, grp INTEGER, label TEXT)')
      const rows = Array.from({ length: 350 }, (_, i) => [i + 1, i % 5 === 0 ? null : (i * 7) % 13, `item ${i + 1}`])
      await insertMany(t, 'items', ['id', 'grp', 'label'], rows)
      return t
    }

    const grpOrder = (descending: boolean) => (a: Row, b: Row) => {
      const [x, y] = [a.grp as number | null, b.grp as number | null]
      if (x !== y) {
        if (x === null) return descending ? 1 : -1
        if (y === null) return descending ? -1 : 1
        return descending ? y - x : x - y
      }
      return (a.id as number) - (b.id as number)
    }

    test('350 rows in pages of 100 come back once each, in key order, over 4 pages', async () => {
      const t = await groupedApp()
      const { rows, pages } = await pageThrough(t, '/data/items.json?_size=100')
      expect(pages).toBe(4)
      expect(ids(rows)).toEqual(Array.from({ length: 350 }, (_, i) => i + 1))
    })

    test('_sort on a column with duplicates and NULLs returns every row once, NULLs first', async () => {
      const t = await groupedApp()
      const { rows, pages } = await pageThrough(t, '/data/items.json?_size=100&_sort=grp')
      expect(pages).toBe(4)
      expect(new Set(ids(rows)).size).toBe(350)
      expect(rows).toEqual([...(await t.rows('items'))].sort(grpOrder(false)))
      expect(rows[0]!.grp).toBeNull()
    })

    test('_sort_desc returns every row once, NULLs last', async () => {
      const t = await groupedApp()
      const { rows, pages } = await pageThrough(t, '/data/items.json?_size=100&_sort_desc=grp')
      expect(pages).toBe(4)
      expect(new Set(ids(rows)).size).toBe(350)
      expect(rows).toEqual([...(await t.rows('items'))].sort(grpOrder(true)))
      expect(rows.at(-1)!.grp).toBeNull()
    })

    test('small pages that end inside a run of NULLs still return every row once', async () => {
      const t = await groupedApp()
      for (const sort of ['_sort=grp', '_sort_desc=grp']) {
        const { rows } = await pageThrough(t, `/data/items.json?_size=7&${sort}`)
        expect(rows).toHaveLength(350)
        expect(new Set(ids(rows)).size).toBe(350)
      }
    })

    test('the _next token of a sorted page is the sort value then the key, $null for a NULL', async () => {
      const t = await groupedApp()
      const { body } = await getJson(t, '/data/items.json?_size=3&_sort=grp')
      expect(body.rows.map((row: Row) => row.grp)).toEqual([null, null, null])
      expect(body.next).toBe(`$null,${body.rows[2].id}`)
      const later = await getJson(t, '/data/items.json?_size=100&_sort=grp&_next=3,2')
      expect(later.status).toBe(200)
      expect(later.body.rows[0]).toMatchObject({ grp: 3 })
      expect(later.body.rows[0].id).toBeGreaterThan(2)
    })

    test('a compound primary key table pages through every row once', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE pairs (a TEXT, b INTEGER, v INTEGER, PRIMARY KEY (a, b))')
      await insertMany(
        t,
        'pairs',
        ['a', 'b', 'v'],
        Array.from({ length: 350 }, (_, i) => [`k,${i % 9}`, i, i % 4]),
      )
      const { rows, pages } = await pageThrough(t, '/data/pairs.json?_size=100')
      expect(pages).toBe(4)
      expect(new Set(rows.map((row) => `${row.a}|${row.b}`)).size).toBe(350)
      const sorted = await pageThrough(t, '/data/pairs.json?_size=100&_sort_desc=v')
      expect(new Set(sorted.rows.map((row) => `${row.a}|${row.b}`)).size).toBe(350)
      expect(sorted.rows.map((row) => row.v)).toEqual([...sorted.rows.map((row) => row.v as number)].sort((x, y) => y - x))
    })

    test('a rowid table pages through every row once, by rowid', async () => {
      const t = await backend.makeApp({})
      await rowidTable(t, 'log', [
        ['message', 'TEXT'],
        ['level', 'INTEGER'],
      ])
      await insertMany(
        t,
        'log',
        ['message', 'level'],
        Array.from({ length: 350 }, (_, i) => [`m${i}`, i % 3 === 0 ? null : i % 4]),
      )
      const { rows, pages } = await pageThrough(t, '/data/log.json?_size=100')
      expect(pages).toBe(4)
      expect(rows.map((row) => row.rowid)).toEqual(Array.from({ length: 350 }, (_, i) => i + 1))
      const sorted = await pageThrough(t, '/data/log.json?_size=100&_sort=level')
      expect(new Set(sorted.rows.map((row) => row.rowid)).size).toBe(350)
    })

    test('rows inserted between page fetches never make a pre-existing row repeat or vanish', async () => {
      for (const order of ['', '&_sort=score', '&_sort_desc=score']) {
        const t = await backend.makeApp({})
        await sql(t, 'CREATE TABLE scores (id INTEGER PRIMARY KEY, score INTEGER)')
        // Existing rows take even ids; new rows take odd ids and scores that land before and after the cursor.
        await insertMany(
          t,
          'scores',
          ['id', 'score'],
          Array.from({ length: 350 }, (_, i) => [i * 2, i % 10 === 0 ? null : (i * 37) % 50]),
        )
        const existing = new Set((await t.rows('scores')).map((row) => row.id))
        let nextOdd = 1
        const { rows } = await pageThrough(t, `/data/scores.json?_size=100${order}`, async () => {
          await insertMany(
            t,
            'scores',
            ['id', 'score'],
            Array.from({ length: 40 }, (_, i) => [nextOdd + i * 2, i % 7 === 0 ? null : (i * 13) % 50]),
          )
          await insertMany(
            t,
            'scores',
            ['id', 'score'],
            [
              [-1 - nextOdd, 0],
              [100_000 + nextOdd, 49],
            ],
          )
          nextOdd += 80
        })
        const seen = rows.map((row) => row.id).filter((id) => existing.has(id))
        expect(seen).toHaveLength(350)
        expect(new Set(seen).size).toBe(350)
      }
    })

    test('floats, mixed-type columns and BLOBs in the sort column page exactly', async () => {
      const t = await backend.makeApp({})
      // An untyped column holds numbers, number-like text, other text, BLOBs and NULLs side by side. PostgreSQL has
      // no untyped column (a genuine difference): there it is TEXT holding the same values' text.
      const untyped = backend.name === 'sqlite'
      await sql(t, `CREATE TABLE odd (id INTEGER PRIMARY KEY, f REAL, anything${untyped ? '' : ' TEXT'}, b BLOB)`)
      const floats = [0.1, 1 / 3, 2 / 3, 1e-7, 1e21, null]
      const values: unknown[] = [0.1, 1 / 3, 2 / 3, 1e-7, 1e21, -0.5, 5, '5', '5.0', 'abc', new Uint8Array([1, 2]), null]
      const mixed = untyped ? values : values.map((value) => (value === null ? null : value instanceof Uint8Array ? '\\x0102' : String(value)))
      const blob = (i: number) => (i % 4 === 0 ? null : new Uint8Array([i % 5, 7]))
      const rows = Array.from({ length: 120 }, (_, i) => [i + 1, floats[i % floats.length], mixed[i % mixed.length], blob(i)])
      await insertMany(t, 'odd', ['id', 'f', 'anything', 'b'], rows)
      for (const sort of ['_sort=f', '_sort_desc=f', '_sort=anything', '_sort_desc=anything', '_sort=b', '_sort_desc=b']) {
        const { rows } = await pageThrough(t, `/data/odd.json?_size=7&${sort}`)
        expect(rows).toHaveLength(120)
        expect(new Set(ids(rows)).size).toBe(120)
      }
    })

    test('integer keys beyond 2^53 page exactly', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE big (id INTEGER PRIMARY KEY, v TEXT)')
      for (let i = 0; i < 5; i++) await sql(t, 'INSERT INTO big VALUES (?, ?)', 9007199254740993n + BigInt(i), `v${i}`)
      const first = await t.get('/data/big.json?_size=2')
      const text = await first.text()
      expect(text).toContain('"next":"9007199254740994"')
      const second = await t.get('/data/big.json?_size=2&_next=9007199254740994')
      expect(await second.text()).toBe(
        '{"ok":true,"next":"9007199254740996","next_url":"http://localhost/data/big.json?_size=2&_next=9007199254740996",' +
          '"rows":[{"id":9007199254740995,"v":"v2"},{"id":9007199254740996,"v":"v3"}],"truncated":false}',
      )
    })

    test('paging keeps the other query parameters, filters included', async () => {
      const t = await groupedApp()
      const { rows } = await pageThrough(t, '/data/items.json?_size=10&grp__gte=10&label__contains=item')
      expect(ids(rows)).toEqual((await t.rows('items')).filter((row) => row.grp !== null && (row.grp as number) >= 10).map((row) => row.id))
    })

    test.each([['1,2,3'], ['$bogus'], ['$xZZ']])('an invalid _next token (%s) is a 400', async (token) => {
      const t = await groupedApp()
      const { status, body } = await getJson(t, `/data/items.json?_next=${encodeURIComponent(token)}`)
      expect(status).toBe(400)
      expect(body).toMatchObject({ ok: false, status: 400 })
      expect(body.error).toStartWith('Invalid _next token')
    })
  })

  describe('sorting', () => {
    test('_sort and _sort_desc order rows by the column', async () => {
      const t = await dogsApp()
      expect(ids((await getJson(t, '/data/dogs.json?_sort=name')).body.rows)).toEqual([1, 2, 3])
      expect(ids((await getJson(t, '/data/dogs.json?_sort_desc=name')).body.rows)).toEqual([3, 2, 1])
      expect(ids((await getJson(t, '/data/dogs.json?_sort=age')).body.rows)).toEqual([3, 2, 1])
      expect(ids((await getJson(t, '/data/dogs.json?_sort=AGE')).body.rows)).toEqual([3, 2, 1])
    })

    test('sorting by an unknown column is a 400 naming it', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_sort=weight')
      expect(status).toBe(400)
      expect(body).toEqual({ ok: false, error: 'Cannot sort table by weight', errors: ['Cannot sort table by weight'], status: 400 })
    })

    test('_sort and _sort_desc together are a 400', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs.json?_sort=name&_sort_desc=age')
      expect(status).toBe(400)
      expect(body.error).toBe('Cannot use _sort and _sort_desc at the same time')
    })
  })

  describe('filters', () => {
    async function itemsApp() {
      const t = await backend.makeApp({})
      // `loose` is untyped on SQLite, holding numbers and text; PostgreSQL has no untyped column, so there it is TEXT.
      const untyped = backend.name === 'sqlite'
      await sql(t, `CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price REAL, tag TEXT, note TEXT, loose${untyped ? '' : ' TEXT'})`)
      const loose = (value: number | string) => (untyped ? value : String(value))
      await insertMany(
        t,
        'items',
        ['id', 'name', 'price', 'tag', 'note', 'loose'],
        [
          [1, 'apple', 5, 'a%b', null, loose(5)],
          [2, 'Banana', 10, 'a_b', '', loose(10)],
          [3, 'cherry', 15.5, 'xyz', 'ripe', 'abc'],
          [4, 'date', 100, null, 'dry', loose(100)],
          [5, 'elder berry', -3, 'a\\b', null, loose(-3)],
        ],
      )
      return t
    }

    /**
     * Genuine difference: SQLite compares the untyped column's numbers as numbers (and text above every number);
     * PostgreSQL's TEXT column compares as text in the database's collation ('10' < '9').
     */
    const POSTGRES_ANSWERS: Record<string, number[]> = { 'loose__gt=9': [3], 'loose__lt=9': [1, 2, 4, 5] }

    test.each([
      ['name=apple', [1]],
      ['name__exact=Banana', [2]],
      ['name__not=apple', [2, 3, 4, 5]],
      ['name__contains=an', [2]],
      ['tag__contains=%25', [1]],
      ['tag__contains=_', [2]],
      ['tag__contains=%5C', [5]],
      ['tag__notcontains=%25', [2, 3, 5]],
      ['name__startswith=ch', [3]],
      ['name__endswith=rry', [3, 5]],
      ['price__gt=10', [3, 4]],
      ['price__gte=10', [2, 3, 4]],
      ['price__lt=5', [5]],
      ['price__lte=5', [1, 5]],
      ['price__gt=-5', [1, 2, 3, 4, 5]],
      ['loose__gt=9', [2, 3, 4]],
      ['loose__lt=9', [1, 5]],
      ['id__in=1,3', [1, 3]],
      ['id__in=[2,4]', [2, 4]],
      ['name__in=["apple","date"]', [1, 4]],
      ['id__notin=1,2,3', [4, 5]],
      ['name__like=%25e%25', [1, 3, 4, 5]],
      ['name__notlike=%25e%25', [2]],
      ['name__glob=[a-c]*', [1, 3]],
      ['note__isnull=1', [1, 5]],
      ['note__notnull=1', [2, 3, 4]],
      ['note__isblank=1', [1, 2, 5]],
      ['note__notblank=1', [3, 4]],
      ['price__gt=0&note__notnull=1', [2, 3, 4]],
      ['name=apple&name=Banana', []],
      ['NAME=apple', [1]],
    ] as const)('?%s', async (query, expected) => {
      const t = await itemsApp()
      const { status, body } = await getJson(t, `/data/items.json?${query}`)
      expect(status).toBe(200)
      expect(ids(body.rows)).toEqual([...((backend.name === 'postgres' && POSTGRES_ANSWERS[query]) || expected)])
    })

    test('filtering on a column that does not exist is a 400 naming the column', async () => {
      const t = await itemsApp()
      for (const [query, column] of [
        ['colour=red', 'colour'],
        ['colour__gt=1', 'colour'],
        ['colour__bogus=1', 'colour__bogus'],
      ]) {
        const { status, body } = await getJson(t, `/data/items.json?${query}`)
        const message = `Cannot filter on column "${column}": table items has no such column`
        expect(status).toBe(400)
        expect(body).toEqual({ ok: false, error: message, errors: [message], status: 400 })
      }
    })

    test('a flag filter given something other than 1 is a 400', async () => {
      const t = await itemsApp()
      const { status, body } = await getJson(t, '/data/items.json?note__isnull=0')
      expect(status).toBe(400)
      expect(body.error).toBe('Filter note__isnull takes the value 1, not "0"')
    })

    test('an in filter whose JSON array is malformed or nested is a 400', async () => {
      const t = await itemsApp()
      for (const [value, message] of [
        ['[1,', 'Invalid JSON array in filter value: [1,'],
        ['[[1]]', "Item 0 of the filter's JSON array is not a string, number, boolean or null"],
        ['[1, {"a": 1}]', "Item 1 of the filter's JSON array is not a string, number, boolean or null"],
      ]) {
        const { status, body } = await getJson(t, `/data/items.json?id__in=${encodeURIComponent(value!)}`)
        expect(status).toBe(400)
        expect(body).toEqual({ ok: false, error: message, errors: [message], status: 400 })
      }
    })

    test('an in filter value not starting with [ is comma-separated text, as in Datasette', async () => {
      const t = await itemsApp()
      expect(ids((await getJson(t, `/data/items.json?name__in=${encodeURIComponent('{"a":1},date')}`)).body.rows)).toEqual([4])
    })

    test('column names containing __, spaces, quotes and leading underscores can be filtered', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE weird (id INTEGER PRIMARY KEY, "a__b" TEXT, "size__gt" INTEGER, "odd ""col""" TEXT, "_id" INTEGER)')
      await insertMany(
        t,
        'weird',
        ['id', 'a__b', 'size__gt', 'odd "col"', '_id'],
        [
          [1, 'x', 3, 'hello world', 10],
          [2, 'y', 8, 'goodbye', 20],
        ],
      )
      const query = async (q: string) => ids((await getJson(t, `/data/weird.json?${q}`)).body.rows)
      expect(await query('a__b=y')).toEqual([2])
      expect(await query('a__b__startswith=x')).toEqual([1])
      expect(await query('size__gt=8')).toEqual([2])
      expect(await query('size__gt__gt=5')).toEqual([2])
      expect(await query(`${encodeURIComponent('odd "col"')}__contains=world`)).toEqual([1])
      expect(await query('_id__exact=20')).toEqual([2])
      expect(await query('_id=20')).toEqual([1, 2])
    })

    test('rowid can be filtered and sorted on a rowid table', async () => {
      const t = await backend.makeApp({})
      await rowidTable(t, 'log', [['message', 'TEXT']])
      await insertMany(t, 'log', ['message'], [['a'], ['b'], ['c']])
      expect((await getJson(t, '/data/log.json?rowid__gte=2&_sort_desc=rowid')).body.rows).toEqual([
        { rowid: 3, message: 'c' },
        { rowid: 2, message: 'b' },
      ])
    })
  })

  describe('odd table names in URLs', () => {
    const names = [
      'with space',
      'dots.in.name',
      'slash/inside',
      'quote"double',
      "quote'single",
      'üñíçødé 🐕',
      'select',
      '"; DROP TABLE x; --',
      'name.json',
      'a,b',
      'tilde~2F',
      'plus+sign',
      'percent%20',
      '-',
    ]

    test.each(names)('%s is read through its tilde-encoded name', async (name) => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE x (id INTEGER PRIMARY KEY)')
      await sql(t, `CREATE TABLE ${quoteIdentifier(name)} (id INTEGER PRIMARY KEY, value TEXT)`)
      await sql(t, `INSERT INTO ${quoteIdentifier(name)} VALUES (1, ?)`, name)
      const table = await getJson(t, `/data/${tildeEncode(name)}.json`)
      expect(table.status).toBe(200)
      expect(table.body.rows).toEqual([{ id: 1, value: name }])
      const row = await getJson(t, `/data/${tildeEncode(name)}/1.json`)
      expect(row.status).toBe(200)
      expect(row.body).toMatchObject({ ok: true, database: 'data', table: name, rows: [{ id: 1, value: name }], primary_keys: ['id'] })
      const database = await getJson(t, '/data.json')
      expect(database.body.tables.map((entry: Row) => entry.name)).toEqual(['x', name])
      expect(await t.tables()).toContain('x')
    })
  })

  describe('row JSON', () => {
    test('a row is addressed by its primary key', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs/2.json')
      expect(status).toBe(200)
      expect(Object.keys(body)).toEqual(['ok', 'database', 'table', 'rows', 'primary_keys', 'primary_key_values', 'query_ms', 'truncated'])
      expect(body).toEqual({
        ok: true,
        database: 'data',
        table: 'dogs',
        rows: [{ id: 2, name: 'Pancakes', age: 4 }],
        primary_keys: ['id'],
        primary_key_values: ['2'],
        query_ms: expect.any(Number),
        truncated: false,
      })
    })

    test('_shape works on a row as on a table: array is a bare list, arrays lists values, object keys by primary key', async () => {
      const t = await dogsApp()
      expect(await getJson(t, '/data/dogs/2.json?_shape=array')).toMatchObject({ status: 200, body: [{ id: 2, name: 'Pancakes', age: 4 }] })
      expect(await getJson(t, '/data/dogs/2.json?_shape=object')).toMatchObject({ status: 200, body: { '2': { id: 2, name: 'Pancakes', age: 4 } } })
      const arrays = await getJson(t, '/data/dogs/2.json?_shape=arrays')
      expect(arrays.body).toMatchObject({ ok: true, rows: [[2, 'Pancakes', 4]], primary_keys: ['id'], primary_key_values: ['2'], truncated: false })
      const nl = await t.get('/data/dogs/2.json?_shape=array&_nl=on')
      expect(nl.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
      expect(await nl.text()).toBe('{"id":2,"name":"Pancakes","age":4}\n')
      expect(await getJson(t, '/data/dogs/2.json?_shape=nope')).toMatchObject({ status: 400, body: { ok: false, error: 'Invalid _shape: nope' } })
    })

    test('a compound key is its tilde-encoded values joined by commas', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE pairs (a TEXT, b INTEGER, v TEXT, PRIMARY KEY (a, b))')
      await insertMany(
        t,
        'pairs',
        ['a', 'b', 'v'],
        [
          ['x', 1, 'one'],
          ['y, z/w', 2, 'two'],
        ],
      )
      expect(await getJson(t, '/data/pairs/x,1.json')).toMatchObject({ status: 200, body: { ok: true, rows: [{ a: 'x', b: 1, v: 'one' }] } })
      const encoded = `${tildeEncode('y, z/w')},2`
      expect(encoded).toBe('y~2C+z~2Fw,2')
      expect(await getJson(t, `/data/pairs/${encoded}.json`)).toMatchObject({
        status: 200,
        body: { ok: true, rows: [{ a: 'y, z/w', b: 2, v: 'two' }] },
      })
    })

    test('a text primary key with special characters is tilde-encoded', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE pages (slug TEXT PRIMARY KEY, title TEXT)')
      await sql(t, "INSERT INTO pages VALUES ('a.b/c d', 'Odd'), ('007', 'Bond')")
      expect((await getJson(t, `/data/pages/${tildeEncode('a.b/c d')}.json`)).body.rows).toEqual([{ slug: 'a.b/c d', title: 'Odd' }])
      expect((await getJson(t, '/data/pages/007.json')).body.rows).toEqual([{ slug: '007', title: 'Bond' }])
    })

    test('a rowid table row is addressed by its rowid', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/notes', [{ text: 'hello' }, { text: 'world' }])
      const { status, body } = await getJson(t, '/data/notes/2.json')
      expect(status).toBe(200)
      expect(body).toMatchObject({ ok: true, table: 'notes', rows: [{ rowid: 2, text: 'world' }], primary_keys: ['rowid'], primary_key_values: ['2'] })
    })

    test('a missing row is a 404 Row not found', async () => {
      const t = await dogsApp()
      for (const path of ['/data/dogs/99.json', '/data/dogs/abc.json']) {
        const { status, body } = await getJson(t, path)
        expect(status).toBe(404)
        expect(body).toEqual({ ok: false, error: 'Row not found', errors: ['Row not found'], status: 404 })
      }
    })

    test('the wrong number of key values is a 400', async () => {
      const t = await dogsApp()
      const { status, body } = await getJson(t, '/data/dogs/1,2.json')
      expect(status).toBe(400)
      expect(body).toMatchObject({ ok: false, status: 400 })
      expect(body.error).toBe('Expected 1 primary key value (id) in the URL, got 2')
    })

    test('a row of an unknown table or database is a 404', async () => {
      const t = await dogsApp()
      expect((await getJson(t, '/data/cats/1.json')).status).toBe(404)
      expect((await getJson(t, '/nope/dogs/1.json')).status).toBe(404)
    })
  })

  describe('values', () => {
    test('BLOBs come back as $base64 objects', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE files (id INTEGER PRIMARY KEY, data BLOB)')
      await sql(t, 'INSERT INTO files VALUES (1, ?)', new Uint8Array([0, 1, 2, 255]))
      const expected = { id: 1, data: { $base64: true, encoded: 'AAEC/w==' } }
      expect((await getJson(t, '/data/files.json')).body.rows).toEqual([expected])
      expect((await getJson(t, '/data/files/1.json')).body.rows).toEqual([expected])
    })

    test('a BLOB written through the insert API reads back unchanged', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/files?pk=id', { id: 1, data: { $base64: true, encoded: 'aGVsbG8=' } })
      expect((await getJson(t, '/data/files/1.json')).body.rows).toEqual([{ id: 1, data: { $base64: true, encoded: 'aGVsbG8=' } }])
    })

    test('every shape writes odd names and values byte for byte: integer-like names first, 64-bit extremes, integral and huge floats, escapes, BLOBs', async () => {
      const t = await backend.makeApp({})
      await sql(t, 'CREATE TABLE odd (id INTEGER PRIMARY KEY, b TEXT, "10" REAL, "2" INTEGER, "__proto__" TEXT, "q""x" BLOB)')
      await sql(t, 'INSERT INTO odd VALUES (1, ?, ?, ?, ?, ?)', 'é "x"\n\t\\', 1, 9223372036854775807n, 'p', new Uint8Array([104, 105]))
      await sql(t, 'INSERT INTO odd VALUES (2, ?, ?, ?, ?, ?)', null, 2.5, -9223372036854775808n, null, null)
      await sql(t, 'INSERT INTO odd VALUES (3, ?, ?, ?, ?, ?)', '', 1e300, 0, '\u2028', null)
      const objects = [
        '{"2":9223372036854775807,"10":1.0,"id":1,"b":"é \\"x\\"\\n\\t\\\\","__proto__":"p","q\\"x":{"$base64":true,"encoded":"aGk="}}',
        '{"2":-9223372036854775808,"10":2.5,"id":2,"b":null,"__proto__":null,"q\\"x":null}',
        '{"2":0,"10":1e+300,"id":3,"b":"","__proto__":"\u2028","q\\"x":null}',
      ]
      const arrays = [
        '[1,"é \\"x\\"\\n\\t\\\\",1.0,9223372036854775807,"p",{"$base64":true,"encoded":"aGk="}]',
        '[2,null,2.5,-9223372036854775808,null,null]',
        '[3,"",1e+300,0,"\u2028",null]',
      ]
      const text = async (path: string) => (await t.get(path)).text()
      expect(await text('/data/odd.json?_size=2')).toBe(
        `{"ok":true,"next":"2","next_url":"http://localhost/data/odd.json?_size=2&_next=2","rows":[${objects.slice(0, 2).join(',')}],"truncated":false}`,
      )
      expect(await text('/data/odd.json?_shape=arrays')).toBe(
        `{"ok":true,"next":null,"next_url":null,"columns":["id","b","10","2","__proto__","q\\"x"],"rows":[${arrays.join(',')}],"truncated":false}`,
      )
      expect(await text('/data/odd.json?_shape=array')).toBe(`[${objects.join(',')}]`)
      expect(await text('/data/odd.json?_shape=array&_nl=on')).toBe(objects.map((row) => `${row}\n`).join(''))
      expect(await text('/data/odd.json?_shape=array&_nl=on&_stream=on')).toBe(objects.map((row) => `${row}\n`).join(''))
      expect(await text('/data/odd.json?_shape=object')).toBe(`{${objects.map((row, i) => `"${i + 1}":${row}`).join(',')}}`)
      expect(await text('/data/odd/1.json?_shape=array')).toBe(`[${objects[0]}]`)
      expect(await text('/data/odd/3.json?_shape=arrays')).toContain(`"rows":[${arrays[2]}]`)
    })

    test('the integer 9007199254740993 round-trips exactly in the JSON text', async () => {
      const t = await backend.makeApp({ unsafe: true })
      expect((await t.post('/-/insert/data/big?pk=id', '{"id": 1, "n": 9007199254740993}')).status).toBe(200)
      expect(await (await t.get('/data/big.json')).text()).toContain('"n":9007199254740993')
      expect(await (await t.get('/data/big/1.json?_shape=array')).text()).toBe('[{"id":1,"n":9007199254740993}]')
      expect(await (await t.get('/data/big.json?n=9007199254740993')).text()).toContain('"n":9007199254740993')
      expect((await getJson(t, '/data/big.json?n=9007199254740992')).body.rows).toEqual([])
      expect(await (await t.get('/data/big.json?n__gt=9007199254740992')).text()).toContain('"n":9007199254740993')
    })
  })

  describe('permissions', () => {
    test('reads are allowed to anonymous callers by default', async () => {
      const t = await dogsApp()
      for (const path of ['/-/databases.json', '/-/versions.json', '/-/settings.json', '/data.json', '/data/dogs.json', '/data/dogs/1.json']) {
        expect((await t.get(path)).status).toBe(200)
      }
    })

    test('with defaultDeny every read needs a grant', async () => {
      const t = await backend.makeApp({ defaultDeny: true })
      await sql(t, 'CREATE TABLE dogs (id INTEGER PRIMARY KEY)')
      const paths = ['/-/databases.json', '/-/versions.json', '/-/settings.json', '/data.json', '/data/dogs.json', '/data/dogs/1.json', '/data/cats.json']
      for (const path of paths) {
        const { status, body } = await getJson(t, path)
        expect(status).toBe(403)
        expect(body).toEqual({ ok: false, error: 'Permission denied', errors: ['Permission denied'], status: 403 })
      }
      expect(await getJson(t, '/-/actor.json')).toMatchObject({ status: 200, body: { actor: null } })
    })

    test('with defaultDeny, permissions blocks grant reads to the named actor', async () => {
      const reader = { id: 'reader' }
      const config = tokensConfig({ permissions: { 'view-instance': reader, 'view-database': reader, 'view-table': reader } })
      const t = await backend.makeApp({ defaultDeny: true, config })
      await sql(t, 'CREATE TABLE dogs (id INTEGER PRIMARY KEY)')
      await sql(t, 'INSERT INTO dogs VALUES (1)')
      expect((await getJson(t, '/data/dogs.json', 'reader-token')).body.rows).toEqual([{ id: 1 }])
      expect((await getJson(t, '/data/dogs/1.json', 'reader-token')).status).toBe(200)
      const database = await getJson(t, '/data.json', 'reader-token')
      expect(database.status).toBe(200)
      expect(database.body).toMatchObject({ private: true, tables: [{ name: 'dogs', private: true, count: 1 }] })
      expect((await getJson(t, '/data/dogs.json', 'boss-token')).status).toBe(403)
      expect((await getJson(t, '/data/dogs.json')).status).toBe(403)
    })

    test('an allow block on a table hides it from everyone else', async () => {
      const config = tokensConfig({ databases: { data: { tables: { secret: { allow: { id: 'boss' } } } } } })
      const t = await backend.makeApp({ config })
      await sql(t, 'CREATE TABLE public (id INTEGER PRIMARY KEY)')
      await sql(t, 'CREATE TABLE secret (id INTEGER PRIMARY KEY)')
      await sql(t, 'INSERT INTO secret VALUES (7)')
      const denied = await getJson(t, '/data/secret.json')
      expect(denied.status).toBe(403)
      expect(denied.body).toEqual({ ok: false, error: 'Permission denied', errors: ['Permission denied'], status: 403 })
      expect((await getJson(t, '/data/secret/7.json')).status).toBe(403)
      expect((await getJson(t, '/data/secret.json', 'reader-token')).status).toBe(403)
      expect((await getJson(t, '/data/public.json')).status).toBe(200)
      expect((await getJson(t, '/data.json')).body.tables.map((table: Row) => table.name)).toEqual(['public'])

      expect((await getJson(t, '/data/secret.json', 'boss-token')).body.rows).toEqual([{ id: 7 }])
      const asBoss = await getJson(t, '/data.json', 'boss-token')
      expect(asBoss.body.tables).toEqual([
        { name: 'public', columns: ['id'], primary_keys: ['id'], count: 0, private: false },
        { name: 'secret', columns: ['id'], primary_keys: ['id'], count: 1, private: true },
      ])
    })
  })
})

// SQLite only: a second database opened as --memory has no PostgreSQL counterpart.
describe('sqlite only: several databases', () => {
  test('/-/databases.json lists every attached database', async () => {
    const memory = RowpostDatabase.open(':memory:')
    const t = makeApp({ databases: [memory] })
    const { status, body } = await getJson(t, '/-/databases.json')
    expect(status).toBe(200)
    expect(body).toEqual([
      { name: 'data', path: 'data.db', is_mutable: true, is_memory: false, hash: null },
      { name: '_memory', path: null, is_mutable: true, is_memory: true, hash: null },
    ])
  })

  test('an allow block on a database hides it from /-/databases.json and its routes', async () => {
    const other = RowpostDatabase.open(':memory:')
    const config = tokensConfig({ databases: { _memory: { allow: { id: 'boss' } } } })
    const t = makeApp({ config, databases: [other] })
    expect((await getJson(t, '/-/databases.json')).body.map((database: Row) => database.name)).toEqual(['data'])
    expect((await getJson(t, '/-/databases.json', 'boss-token')).body.map((database: Row) => database.name)).toEqual(['data', '_memory'])
    expect((await getJson(t, '/_memory.json')).status).toBe(403)
    expect((await getJson(t, '/_memory.json', 'boss-token')).body).toEqual({ database: '_memory', private: true, path: '/_memory', tables: [] })
  })
})

// Pure SQL builders, no storage: run once.
describe('page JSON written from stored values', () => {
  const storedValue = fc.oneof(
    fc.constant(null),
    fc.string({ unit: 'binary' }),
    fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)) }),
    fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    fc.bigInt({ min: -(2n ** 54n), max: 2n ** 54n }),
    fc.double(),
    fc.integer().map((n) => n * 1.0),
    fc.constantFrom(-0, 1e21, 1e-7, 2 ** 53, -(2 ** 53) - 2, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, Number.NaN),
    fc.uint8Array({ maxLength: 8 }),
  )

  test('a value is written as JSON.stringify writes its fromSqlValue', () => {
    fc.assert(
      fc.property(storedValue, (value) => {
        expect(sqlValueJson(value)).toBe(stringifyJson(fromSqlValue(value)))
      }),
      { numRuns: 5000 },
    )
  })

  test('a row is written as JSON.stringify writes its rowFromValues object, whatever the column names (a query may repeat one)', () => {
    const names = fc.array(
      fc.oneof(
        fc.string({ maxLength: 4 }),
        fc.nat(20).map(String),
        fc.constantFrom('__proto__', 'constructor', '-1', '01', '" + v(row[0]) + "', '\\', '\u2028'),
      ),
      {
        minLength: 0,
        maxLength: 6,
      },
    )
    fc.assert(
      fc.property(
        names.chain((columns) => fc.tuple(fc.constant(columns), fc.array(fc.array(storedValue, { minLength: columns.length, maxLength: columns.length })))),
        ([columns, rows]) => {
          const write = rowObjectsJson(columns)
          expect(rowsJson(rows, write)).toBe(stringifyJson(rows.map((row) => rowFromValues(columns, row))))
          expect(rowsJson(rows, rowArrayJson)).toBe(stringifyJson(rows.map((row) => row.map(fromSqlValue))))
          expect(rowsNdjson(rows, write)).toBe(rows.map((row) => `${stringifyJson(rowFromValues(columns, row))}\n`).join(''))
        },
      ),
      { numRuns: 1000 },
    )
  })

  test('a row wider than the compiled writers (over 64 columns) is written the same way', () => {
    const columns = Array.from({ length: 70 }, (_, i) => (i % 7 === 0 ? String(70 - i) : `c${i}\`"\${}`))
    const write = rowObjectsJson(columns)
    fc.assert(
      fc.property(fc.array(storedValue, { minLength: 70, maxLength: 70 }), (row) => {
        expect(write(row)).toBe(stringifyJson(rowFromValues(columns, row)))
      }),
      { numRuns: 200 },
    )
  })
})

describe('SQL builders', () => {
  test('keyset conditions use a row-value comparison for ascending non-null keys', () => {
    expect(
      afterSql(
        [
          { column: 'a', descending: false },
          { column: 'b', descending: false },
        ],
        ['x', 2],
      ),
    ).toEqual({
      sql: '("a", "b") > (?, ?)',
      params: ['x', 2],
    })
  })

  test('keyset conditions spell out NULL and descending cases', () => {
    const keys = [
      { column: 's', descending: false },
      { column: 'id', descending: false },
    ]
    expect(afterSql(keys, [null, 3])).toEqual({ sql: '("s" IS NOT NULL OR ("s" IS NULL AND "id" > ?))', params: [3] })
    const descending = [
      { column: 's', descending: true },
      { column: 'id', descending: false },
    ]
    expect(afterSql(descending, [5, 3])).toEqual({ sql: '(("s" < ? OR "s" IS NULL) OR ("s" = ? AND "id" > ?))', params: [5, 5, 3] })
    expect(afterSql(descending, [null, 3])).toEqual({ sql: '("s" IS NULL AND "id" > ?)', params: [3] })
  })

  test('names are quoted and values bound', () => {
    expect(filterSql({ column: 'we"ird', op: 'contains', value: '50%' })).toEqual({ sql: `"we""ird" LIKE ? ESCAPE '\\'`, params: ['%50\\%%'] })
    expect(selectPageSql('t', ['rowid', 'a'], [{ sql: '"a" = ?', params: ['x'] }], [{ column: 'rowid', descending: false }], 11)).toEqual({
      sql: 'SELECT "rowid", "a" FROM "t" WHERE "a" = ? ORDER BY "rowid" LIMIT ?',
      params: ['x', 11],
    })
  })
})
