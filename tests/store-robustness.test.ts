/** Regression tests for the store and data findings of the security/robustness issue (7, 9, 10, 13, 14, 15, 16). */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { makeApp, query, type TestApp } from './helpers'

type Body = Record<string, unknown>

const json = async (response: Response) => ({ status: response.status, body: (await response.json()) as Body })

/** Runs SQL on the app's own writer connection, as another tool sharing the file would. */
const sql = (t: TestApp, text: string) => t.db.connection.run(text)

const count = (t: TestApp, table: string) => Number(query(t, `SELECT count(*) AS n FROM "${table}"`)[0]!.n)

describe('finding 7: the database JSON with thousands of tables', () => {
  const TABLES = 5000

  function manyTables(options: Parameters<typeof makeApp>[0] = {}): TestApp {
    const t = makeApp({ unsafe: true, ...options })
    sql(t, 'BEGIN')
    for (let i = 0; i < TABLES; i++) sql(t, `CREATE TABLE t${i} (id INTEGER PRIMARY KEY, name TEXT)`)
    sql(t, "INSERT INTO t7 (name) VALUES ('a'), ('b')")
    sql(t, 'COMMIT')
    return t
  }

  /** Counts the statements the read connection runs from here on; cached statements are prepared after this too. */
  function countStatements(t: TestApp): () => number {
    const connection = t.db.reader.connection
    const prepare = connection.prepare.bind(connection)
    let runs = 0
    connection.prepare = ((text: string) => {
      const statement = prepare(text)
      for (const method of ['all', 'get', 'values', 'run'] as const) {
        const original = statement[method].bind(statement) as (...args: unknown[]) => unknown
        Object.defineProperty(statement, method, { value: (...args: unknown[]) => (runs++, original(...args)) })
      }
      return statement
    }) as typeof connection.prepare
    return () => runs
  }

  test('lists max_returned_rows tables a page, with next, next_url and a Link header, and paging reaches every table once', async () => {
    const t = manyTables()
    const started = performance.now()
    const names: string[] = []
    let url: string | null = '/data.json'
    let pages = 0
    while (url !== null) {
      const response = await t.get(url)
      const { status, body } = await json(response)
      expect(status).toBe(200)
      const tables = body.tables as Array<{ name: string; count: number; columns: string[]; primary_keys: string[] }>
      expect(tables.length).toBe(pages < 5 ? 1000 : 0)
      names.push(...tables.map((table) => table.name))
      if (pages === 0) {
        expect(tables[7]).toEqual({ name: 't7', columns: ['id', 'name'], primary_keys: ['id'], count: 2, private: false } as never)
        expect(body.next_url).toBe(`http://localhost/data.json?_next=${body.next}`)
        expect(response.headers.get('link')).toBe(`<${body.next_url}>; rel="next"`)
      }
      url = body.next_url === undefined ? null : new URL(body.next_url as string).pathname + new URL(body.next_url as string).search
      pages++
      if (pages === 5) expect(body.next_url).toBeUndefined()
    }
    expect(names).toEqual(Array.from({ length: TABLES }, (_, i) => `t${i}`))
    expect(performance.now() - started).toBeLessThan(3000)
  })

  test('one page runs a bounded number of statements, however many tables the database has', async () => {
    const t = manyTables()
    const statements = countStatements(t)
    const { status, body } = await json(await t.get('/data.json?_size=10'))
    expect(status).toBe(200)
    expect((body.tables as Body[]).map((table) => table.name)).toEqual(Array.from({ length: 10 }, (_, i) => `t${i}`))
    expect(body.next).toBeString()
    // One scan of sqlite_schema, then per listed table: the schema version check, its columns, its indexes, its count.
    expect(statements()).toBeLessThan(60)
  })

  test('after a schema change only the changed table is described again', async () => {
    const t = manyTables()
    await t.get('/data.json?_size=10')
    const statements = countStatements(t)
    sql(t, 'ALTER TABLE t3 ADD COLUMN extra TEXT')
    sql(t, 'CREATE TABLE newest (x)')
    const { body } = await json(await t.get('/data.json?_size=10'))
    expect((body.tables as Array<{ columns: string[] }>)[3]!.columns).toEqual(['id', 'name', 'extra'])
    expect(statements()).toBeLessThan(40)
    expect((await json(await t.get('/data/newest.json'))).status).toBe(200)
  })

  test('a smaller _size pages too, and a malformed _next or _size is a 400', async () => {
    const t = makeApp({ unsafe: true })
    for (const name of ['a', 'b', 'c']) sql(t, `CREATE TABLE ${name} (x)`)
    const first = await json(await t.get('/data.json?_size=2'))
    expect((first.body.tables as Body[]).map((table) => table.name)).toEqual(['a', 'b'])
    const second = await json(await t.get(`/data.json?_size=2&_next=${first.body.next}`))
    expect((second.body.tables as Body[]).map((table) => table.name)).toEqual(['c'])
    expect(second.body.next).toBeUndefined()
    const all = await json(await t.get('/data.json'))
    expect(Object.keys(all.body)).toEqual(['database', 'private', 'path', 'tables'])
    expect((await json(await t.get('/data.json?_next=x'))).body).toMatchObject({ status: 400, errors: ['Invalid _next token: x'] })
    expect((await json(await t.get('/data.json?_size=0'))).status).toBe(400)
  })
})

describe('finding 9: expired Idempotency-Keys are purged in bounded batches through an index', () => {
  const withKey = (key: string) => ({ 'idempotency-key': key })

  /** The table as rowpost made it before the index existed, holding `expired` keys a week old. */
  function oldKeys(t: TestApp, expired: number): void {
    sql(
      t,
      'CREATE TABLE _rowpost_idempotency (actor TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (actor, key)) WITHOUT ROWID',
    )
    const week = Date.now() - 7 * 86400 * 1000
    sql(
      t,
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${expired})
       INSERT INTO _rowpost_idempotency SELECT '', 'old-' || i, 'f', 200, '{}', ${week} + i FROM n`,
    )
  }

  const expiredLeft = (t: TestApp) => Number(query(t, "SELECT count(*) AS n FROM _rowpost_idempotency WHERE key LIKE 'old-%'")[0]!.n)

  test('a keyed write removes at most one batch of expired keys, and later writes drain the rest', async () => {
    const t = makeApp({ unsafe: true })
    oldKeys(t, 1000)
    expect((await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('new-1'))).status).toBe(200)
    expect(expiredLeft(t)).toBe(900)
    for (let i = 2; i <= 10; i++) await t.post('/-/insert/data/log', { n: i }, undefined, withKey(`new-${i}`))
    expect(expiredLeft(t)).toBe(0)
    expect(query(t, "SELECT key FROM _rowpost_idempotency WHERE key LIKE 'new-%'")).toHaveLength(10)
    const retry = await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('new-1'))
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(t.rows('log')).toHaveLength(10)
  })

  test('a table made without the index gets it, and the purge finds expired keys through it', async () => {
    const t = makeApp({ unsafe: true })
    oldKeys(t, 10)
    await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('k'))
    expect(query(t, "SELECT name FROM pragma_index_list('_rowpost_idempotency') WHERE origin = 'c'")).toEqual([{ name: '_rowpost_idempotency_created' }])
    const plan = query(t, 'EXPLAIN QUERY PLAN SELECT actor, key FROM _rowpost_idempotency WHERE created <= 0 ORDER BY created LIMIT 100')
    expect(plan.map((step) => step.detail)).toEqual(['SEARCH _rowpost_idempotency USING COVERING INDEX _rowpost_idempotency_created (created<?)'])
  })
})

describe('finding 10: a table dropped and created again with another primary key', () => {
  test('legacy upsert uses the new key, not a statement cached for the old one', async () => {
    const t = makeApp({ unsafe: true })
    expect((await t.post('/-/upsert/data/things?pk=id', [{ id: 1, other: 'a', v: 1 }])).status).toBe(200)
    expect((await t.post('/data/things/-/drop', { confirm: true })).status).toBe(200)
    const created = await t.post('/data/-/create', {
      table: 'things',
      columns: [
        { name: 'id', type: 'integer' },
        { name: 'other', type: 'text' },
        { name: 'v', type: 'integer' },
      ],
      pk: 'other',
    })
    expect(created.status).toBe(201)
    expect(
      await json(
        await t.post('/-/upsert/data/things?pk=other', [
          { id: 1, other: 'a', v: 1 },
          { id: 2, other: 'a', v: 2 },
        ]),
      ),
    ).toEqual({
      status: 200,
      body: { table_count: 1 },
    })
    expect(t.rows('things')).toEqual([{ id: 2, other: 'a', v: 2 }])
  })

  test('1.0 upsert too, also after a dropped table comes back through the legacy route', async () => {
    const t = makeApp({ unsafe: true })
    expect((await t.post('/data/-/create', { table: 'things', rows: [{ id: 1, other: 'a', v: 1 }], pk: 'id' })).status).toBe(201)
    expect((await t.post('/data/things/-/upsert', { rows: [{ id: 1, other: 'b', v: 5 }] })).status).toBe(200)
    sql(t, 'DROP TABLE things')
    expect((await t.post('/-/insert/data/things?pk=other', [{ id: 7, other: 'b', v: 1 }])).status).toBe(200)
    expect(await json(await t.post('/data/things/-/upsert', { rows: [{ id: 8, other: 'b', v: 9 }] }))).toEqual({ status: 200, body: { ok: true } })
    expect(t.rows('things')).toEqual([{ id: 8, other: 'b', v: 9 }])
  })

  test('a request that created a table and failed leaves no schema behind in the writer’s cache', async () => {
    const t = makeApp({ unsafe: true })
    // Creates "things" keyed by id, then fails on the second row, which lacks its key: the table is rolled back.
    expect((await t.post('/-/upsert/data/things?pk=id', [{ id: 1, v: 1 }, { v: 2 }])).status).toBe(400)
    expect(t.tables()).toEqual([])
    // The same schema version number is reached again by another table.
    sql(t, 'CREATE TABLE things (other TEXT PRIMARY KEY, id INTEGER, v INTEGER)')
    expect((await t.post('/-/upsert/data/things?pk=other', [{ other: 'x', id: 1, v: 1 }])).status).toBe(200)
    expect(t.rows('things')).toEqual([{ other: 'x', id: 1, v: 1 }])
  })

  test('a streamed upload that created a table and failed leaves no schema behind either', async () => {
    const t = makeApp({ unsafe: true })
    const ndjson = { 'content-type': 'application/x-ndjson' }
    // Creates "things" keyed by id from the first line, then fails on the second: the whole upload is rolled back.
    expect((await t.request('POST', '/-/upsert/data/things?pk=id', '{"id": 1, "v": 1}\n{"v": 2}\n', ndjson)).status).toBe(400)
    expect(t.tables()).toEqual([])
    sql(t, 'CREATE TABLE things (other TEXT PRIMARY KEY, id INTEGER, v INTEGER)')
    expect((await t.request('POST', '/-/upsert/data/things?pk=other', '{"other": "x", "id": 1, "v": 1}\n', ndjson)).status).toBe(200)
    expect(t.rows('things')).toEqual([{ other: 'x', id: 1, v: 1 }])
  })
})

describe('finding 13: sqlite_* tables are reserved', () => {
  function withInternalTables(): TestApp {
    const t = makeApp({ unsafe: true })
    sql(t, 'CREATE TABLE secret (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT)')
    sql(t, "INSERT INTO secret (v) VALUES ('x'), ('y')")
    sql(t, 'CREATE INDEX secret_v ON secret (v)')
    sql(t, 'ANALYZE')
    expect(t.tables()).toEqual(['secret', 'sqlite_sequence', 'sqlite_stat1'])
    return t
  }

  const notFound = { ok: false, error: 'Table not found', errors: ['Table not found'], status: 404 }

  test.each(['sqlite_stat1', 'sqlite_sequence', 'SQLITE_STAT1', 'Sqlite_Sequence'])('%s is not found by any read route, nor listed', async (table) => {
    const t = withInternalTables()
    expect(await json(await t.get(`/data/${table}.json`))).toEqual({ status: 404, body: notFound })
    expect(await json(await t.get(`/data/${table}/1.json`))).toEqual({ status: 404, body: notFound })
    expect(((await json(await t.get('/data.json'))).body.tables as Body[]).map((entry) => entry.name)).toEqual(['secret'])
  })

  test.each([
    ['insert', '/data/sqlite_stat1/-/insert', { row: { tbl: 'secret', idx: null, stat: '1' } }],
    ['upsert', '/data/sqlite_sequence/-/upsert', { rows: [{ rowid: 1, name: 'secret', seq: 99 }] }],
    ['update', '/data/sqlite_sequence/1/-/update', { update: { seq: 99 } }],
    ['delete', '/data/sqlite_stat1/1/-/delete', {}],
    ['drop', '/data/sqlite_stat1/-/drop', { confirm: true }],
  ])('1.0 %s on a sqlite_ table is a 404 and changes nothing', async (route, path, body) => {
    const t = withInternalTables()
    const before = [query(t, 'SELECT * FROM sqlite_stat1'), query(t, 'SELECT * FROM sqlite_sequence')]
    // Row routes name the table in `errors` too, as Datasette's row.py does.
    const table = path.split('/')[2]
    const expected =
      route === 'update' || route === 'delete' ? { ...notFound, error: `Table not found: ${table}`, errors: [`Table not found: ${table}`] } : notFound
    expect(await json(await t.post(path, body))).toEqual({ status: 404, body: expected })
    expect([query(t, 'SELECT * FROM sqlite_stat1'), query(t, 'SELECT * FROM sqlite_sequence')]).toEqual(before)
  })

  test('a sqlite_ table is no foreign-key target, and the legacy route refuses its name', async () => {
    const t = withInternalTables()
    const create = await json(
      await t.post('/data/-/create', { table: 'refs', columns: [{ name: 'n', type: 'text', fk_table: 'sqlite_sequence', fk_column: 'name' }] }),
    )
    expect(create.status).toBe(400)
    expect(t.tables()).not.toContain('refs')
    const legacy = await json(await t.post('/-/insert/data/sqlite_sequence', { name: 'secret', seq: 99 }))
    expect(legacy).toMatchObject({ status: 400, body: { error_code: 'invalid_name' } })
    expect(query(t, 'SELECT seq FROM sqlite_sequence')).toEqual([{ seq: 2 }])
  })
})

describe('finding 14: a query past SQLite’s expression limits', () => {
  test('more than 1000 filters is a 400 invalid_query naming the limit', async () => {
    const t = makeApp({ unsafe: true })
    await t.post('/-/insert/data/dogs?pk=id', [{ id: 1, name: 'a' }])
    const filters = Array.from({ length: 1001 }, (_, i) => `id__not=${i + 10}`).join('&')
    const { status, body } = await json(await t.get(`/data/dogs.json?${filters}`))
    expect(status).toBe(400)
    expect(body.error).toBe('Too many filters or filter values for one query: Expression tree is too large (maximum depth 1000)')
    expect(await json(await t.get('/data/dogs.json?_shape=array&id__not=10&id__not=11'))).toEqual({ status: 200, body: [{ id: 1, name: 'a' }] as never })
  })
})

describe('finding 15: table_count stays exact when key values mix types', () => {
  const tableCount = async (response: Response) => {
    expect(response.status).toBe(200)
    return ((await response.json()) as { table_count: number }).table_count
  }

  test.each([
    ['INTEGER', '[{"k": 2, "v": 1}, {"k": "2", "v": 2}, {"k": 2.0, "v": 3}]', 1],
    ['TEXT', '[{"k": 2, "v": 1}, {"k": "2", "v": 2}, {"k": "2.0", "v": 3}]', 2],
    ['REAL', '[{"k": 2, "v": 1}, {"k": "2", "v": 2}, {"k": "2.0", "v": 3}]', 1],
    ['', '[{"k": 2, "v": 1}, {"k": "2", "v": 2}, {"k": 2.0, "v": 3}]', 2],
    ['', '[{"k": {"$base64": true, "encoded": "Mg=="}, "v": 1}, {"k": {"$base64": true, "encoded": "Mg=="}, "v": 2}, {"k": "2", "v": 3}]', 2],
  ])('a %s key column: the legacy insert and upsert report what count(*) finds', async (type, body, expected) => {
    const t = makeApp({ unsafe: true })
    sql(t, `CREATE TABLE t (k ${type} NOT NULL, v INTEGER, PRIMARY KEY (k))`)
    expect(await tableCount(await t.post('/-/insert/data/t?pk=k', body))).toBe(expected)
    expect(await tableCount(await t.post('/-/upsert/data/t?pk=k', body))).toBe(expected)
    expect(count(t, 't')).toBe(expected)
  })

  test('property: mixed-type keys in any key column, by insert, upsert and 1.0 upsert, keep the kept count equal to count(*)', async () => {
    const keyLiterals = [
      '2',
      '"2"',
      '2.0',
      '"2.0"',
      '" 2"',
      '3',
      '"3"',
      '"a"',
      '"A"',
      '0',
      '-0',
      '"0"',
      '1e0',
      '"1e0"',
      '9007199254740993',
      '"9007199254740993"',
      '2.5',
      '"2.5"',
      '1e20',
      '"1e20"',
      '{"$base64": true, "encoded": "Mg=="}',
    ]
    const request = fc.record({
      route: fc.constantFrom('insert', 'upsert', 'upsert-1.0'),
      keys: fc.array(fc.constantFrom(...keyLiterals), { minLength: 1, maxLength: 6 }),
    })
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('INTEGER', 'TEXT', 'REAL', 'NUMERIC', ''),
        fc.boolean(),
        fc.array(request, { minLength: 1, maxLength: 4 }),
        async (type, withoutRowid, requests) => {
          const t = makeApp({ unsafe: true })
          sql(t, `CREATE TABLE t (k ${type} NOT NULL, v INTEGER, PRIMARY KEY (k))${withoutRowid ? ' WITHOUT ROWID' : ''}`)
          for (const { route, keys } of requests) {
            const rows = `[${keys.map((key, i) => `{"k": ${key}, "v": ${i}}`).join(', ')}]`
            const response = route === 'upsert-1.0' ? await t.post('/data/t/-/upsert', `{"rows": ${rows}}`) : await t.post(`/-/${route}/data/t?pk=k`, rows)
            if (route !== 'upsert-1.0' && response.status === 200) expect(((await response.json()) as Body).table_count).toBe(count(t, 't'))
            expect(t.db.writer!.countRows('t')).toBe(count(t, 't'))
          }
        },
      ),
      { numRuns: 100 },
    )
  }, 30000)
})

describe('finding 16: text that a numeric column would store as ±Infinity', () => {
  const refused = (row: string, column: string, text: string) => `${row} column "${column}": "${text}" is beyond the range of a floating-point number`

  function readings(): TestApp {
    const t = makeApp({ unsafe: true })
    sql(t, 'CREATE TABLE readings (id INTEGER PRIMARY KEY, r REAL, i INTEGER, n NUMERIC, label TEXT, any)')
    sql(t, "INSERT INTO readings VALUES (1, 1.5, 1, 1, 'one', 1)")
    return t
  }

  const unchanged = (t: TestApp) => expect(t.rows('readings')).toEqual([{ id: 1, r: 1.5, i: 1, n: 1, label: 'one', any: 1 }])

  test.each([
    ['r', '1e999'],
    ['i', '-1e999'],
    ['n', ' 1e999 '],
    ['r', `1${'0'.repeat(400)}`],
  ])('legacy insert and upsert of %s = %j are a 400 invalid_value and write nothing', async (column, text) => {
    const t = readings()
    for (const route of ['/-/insert/data/readings', '/-/upsert/data/readings?pk=id']) {
      const { status, body } = await json(
        await t.post(route, [
          { id: 2, [column]: 2 },
          { id: 3, [column]: text },
        ]),
      )
      expect({ status, body }).toEqual({ status: 400, body: { status: 400, error: refused('Row 1', column, text.trim()), error_code: 'invalid_value' } })
    }
    unchanged(t)
  })

  test('1.0 insert, upsert and update are refused too', async () => {
    const t = readings()
    const insert = await json(await t.post('/data/readings/-/insert', { rows: [{ id: 2, r: '1e999' }] }))
    expect(insert).toEqual({ status: 400, body: { ok: false, error: refused('Row 0', 'r', '1e999'), errors: [refused('Row 0', 'r', '1e999')], status: 400 } })
    expect((await json(await t.post('/data/readings/-/upsert', { rows: [{ id: 1, i: '1E+999' }] }))).body.error).toBe(refused('Row 0', 'i', '1E+999'))
    expect((await json(await t.post('/data/readings/1/-/update', { update: { n: '-.5e999' } }))).body.error).toBe(
      refused('Column', 'n', '-.5e999').replace('Column column', 'Column'),
    )
    expect((await json(await t.post('/data/readings/-/insert', '{"rows": [{"id": 2, "r": 1e999}]}'))).status).toBe(400)
    unchanged(t)
  })

  test('streamed CSV and NDJSON uploads are refused with the line', async () => {
    const t = readings()
    const csv = await t.request('POST', '/-/insert/data/readings', 'id,r\n2,2.5\n3,1e999\n', { 'content-type': 'text/csv' })
    expect(await json(csv)).toEqual({ status: 400, body: { status: 400, error: refused('Line 3', 'r', '1e999'), error_code: 'invalid_value' } })
    const ndjson = await t.request('POST', '/data/readings/-/insert', '{"id": 2, "i": "1e999"}\n', { 'content-type': 'application/x-ndjson' })
    expect((await json(ndjson)).body.error).toBe(refused('Line 1', 'i', '1e999'))
    unchanged(t)
  })

  test('the same text in TEXT and untyped columns, and words SQLite keeps as text, are stored as sent', async () => {
    const t = readings()
    const row = { id: 2, r: 'Infinity', i: 'inf', n: '0x1p9999', label: '1e999', any: '1e999' }
    expect((await t.post('/-/insert/data/readings', row)).status).toBe(200)
    expect(query(t, 'SELECT * FROM readings WHERE id = 2')).toEqual([row])
    expect(await json(await t.get('/data/readings/2.json?_shape=array'))).toEqual({ status: 200, body: [row] as unknown as Body })
  })
})
