/** SQL queries (/<db>/-/query.json, .csv): bodies and shapes, read-only proof, time limit and isolation, permissions, private tables. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import { QueryPool } from '../lib/query/pool'
import { expectJson, makeApp, query, docShellBlock, tempDbPath, type TestApp } from './helpers'
import { killServersAfterEach, startServer } from './process'

const RUNAWAY = 'with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c'
const q = (sql: string, extra = '') => `/data/-/query.json?sql=${encodeURIComponent(sql)}${extra}`

async function seeded(options: Parameters<typeof makeApp>[0] = {}): Promise<TestApp> {
  const t = makeApp({ unsafe: true, ...options })
  const seed = makeApp({ path: t.path, unsafe: true })
  expect(
    (
      await seed.post('/-/insert/data/items?pk=id', [
        { id: 1, name: 'one' },
        { id: 2, name: 'two, "2"' },
        { id: 3, name: null },
      ])
    ).status,
  ).toBe(200)
  expect((await seed.post('/-/insert/data/secret?pk=id', [{ id: 1, code: 'hunter2' }])).status).toBe(200)
  seed.db.connection.run('CREATE VIEW peek AS SELECT code FROM secret')
  return t
}

/** The file and its folder, byte for byte, to show a refused statement changed nothing. */
function snapshot(t: TestApp) {
  const folder = dirname(t.path)
  return { files: readdirSync(folder).toSorted(), bytes: readFileSync(t.path).toString('base64'), items: t.rows('items'), tables: t.tables() }
}

describe('GET /<db>/-/query.json', () => {
  test('answers exactly ok, rows and truncated; columns only with _extra=columns', async () => {
    const t = await seeded()
    await expectJson(await t.get(q('select id, name from items order by id')), 200, {
      ok: true,
      rows: [
        { id: 1, name: 'one' },
        { id: 2, name: 'two, "2"' },
        { id: 3, name: null },
      ],
      truncated: false,
    })
    await expectJson(await t.get(q('select id from items where id = 1', '&_extra=columns')), 200, {
      ok: true,
      rows: [{ id: 1 }],
      columns: ['id'],
      truncated: false,
    })
  })

  test.each([
    [
      'arrays',
      {
        ok: true,
        rows: [
          [1, 'one'],
          [2, 'two, "2"'],
        ],
        truncated: false,
      },
    ],
    [
      'array',
      [
        { id: 1, name: 'one' },
        { id: 2, name: 'two, "2"' },
      ],
    ],
    ['arrayfirst', [1, 2]],
    [
      'objects',
      {
        ok: true,
        rows: [
          { id: 1, name: 'one' },
          { id: 2, name: 'two, "2"' },
        ],
        truncated: false,
      },
    ],
  ])('_shape=%s', async (shape, body) => {
    const t = await seeded()
    await expectJson(await t.get(q('select id, name from items where id < 3 order by id', `&_shape=${shape}`)), 200, body)
  })

  test('_shape=array&_nl=on is newline-delimited JSON', async () => {
    const t = await seeded()
    const response = await t.get(q('select id from items order by id', '&_shape=array&_nl=on'))
    expect([response.status, response.headers.get('content-type'), await response.text()]).toEqual([
      200,
      'application/x-ndjson; charset=utf-8',
      '{"id":1}\n{"id":2}\n{"id":3}\n',
    ])
  })

  test('values keep their types: exact 64-bit integers, floats, blobs as $base64', async () => {
    const t = await seeded()
    const response = await t.get(q("select 9223372036854775807 as big, 1.0 as f, x'0102' as b, 'x' as s"))
    expect([response.status, await response.text()]).toEqual([
      200,
      '{"ok":true,"rows":[{"big":9223372036854775807,"f":1.0,"b":{"$base64":true,"encoded":"AQI="},"s":"x"}],"truncated":false}',
    ])
  })

  test(':named parameters come from the query string as text; missing ones are bound as ""', async () => {
    const t = await seeded()
    await expectJson(await t.get(q('select :a as a, :b as b, typeof(:a) as t, name from items where id = :id', '&a=5&id=1')), 200, {
      ok: true,
      rows: [{ a: '5', b: '', t: 'text', name: 'one' }],
      truncated: false,
    })
  })

  test('stops at max_returned_rows with truncated: true', async () => {
    const t = await seeded({ settings: { max_returned_rows: 2 } })
    await expectJson(await t.get(q('select id from items order by id')), 200, { ok: true, rows: [{ id: 1 }, { id: 2 }], truncated: true })
  })

  test('/-/query without .json answers the same JSON (Datasette would answer its HTML page)', async () => {
    const t = await seeded()
    await expectJson(await t.get(`/data/-/query?sql=${encodeURIComponent('select 1 as a')}`), 200, { ok: true, rows: [{ a: 1 }], truncated: false })
  })

  test.each([
    ['.json', '/data/-/query.json?sql=select+1&_shape=array'],
    ['.csv', '/data/-/query.csv?sql=select+1&_shape=array'],
  ])('/data%s?sql= redirects to the query page with the same query string', async (extension, location) => {
    const t = await seeded()
    const response = await t.get(`/data${extension}?sql=select+1&_shape=array`)
    expect([response.status, response.headers.get('location')]).toEqual([302, location])
  })

  test.each([
    ['a SQLite error', q('select * from nowhere'), 'no such table: nowhere'],
    ['a syntax error', q('select from'), 'near "from": syntax error'],
    ['two statements', q('select 1; select 2'), 'You can only execute one statement at a time.'],
    ['two statements after a comment holding ;', q('select 1 /* ; */ ; select 2'), 'You can only execute one statement at a time.'],
  ])('%s is a 400 with rows [] and truncated false', async (_, path, message) => {
    const t = await seeded()
    await expectJson(await t.get(path), 400, { ok: false, rows: [], error: message, errors: [message], status: 400, truncated: false })
  })

  test.each([
    ['no sql', '/data/-/query.json', 400, '?sql= is required'],
    ['an empty sql', '/data/-/query.json?sql=', 400, '?sql= is required'],
    ['an unknown _shape', q('select 1', '&_shape=nope'), 400, 'Invalid _shape: nope'],
    ['_shape=object', q('select 1', '&_shape=object'), 400, '_shape=object is only available on tables'],
    ['an unknown _extra', q('select 1', '&_extra=count'), 400, 'Invalid _extra: count'],
    ['a bad _timelimit', q('select 1', '&_timelimit=soon'), 400, '_timelimit must be a positive integer'],
    ['a zero _timelimit', q('select 1', '&_timelimit=0'), 400, '_timelimit must be a positive integer'],
    ['a missing database', '/nope/-/query.json?sql=select+1', 404, 'Database not found'],
    ['a database named with quotes and spaces', `/${encodeURIComponent('d\'b "x')}/-/query.json?sql=select+1`, 404, 'Database not found'],
  ])('%s is refused with a clear error', async (_, path, status, message) => {
    const t = await seeded()
    const response = await t.get(path)
    const body = (await response.json()) as { error: string }
    expect([response.status, body.error]).toEqual([status, message])
  })
})

describe('queries are read-only', () => {
  const PRAGMA_MESSAGE =
    'Statement contained a disallowed PRAGMA. Allowed pragma functions are pragma_database_list(), pragma_foreign_key_list(), ' +
    'pragma_function_list(), pragma_index_info(), pragma_index_list(), pragma_index_xinfo(), pragma_page_count(), ' +
    'pragma_max_page_count(), pragma_page_size(), pragma_schema_version(), pragma_table_info(), pragma_table_xinfo(), pragma_table_list()'
  test.each([
    ["insert into items (id, name) values (9, 'x')", 'Statement must be a SELECT'],
    ["update items set name = 'x'", 'Statement must be a SELECT'],
    ['delete from items', 'Statement must be a SELECT'],
    ['create table made (x)', 'Statement must be a SELECT'],
    ['drop table items', 'Statement must be a SELECT'],
    ['pragma user_version = 5', 'Statement must be a SELECT'],
    ['select * from pragma_user_version', PRAGMA_MESSAGE],
    ["attach 'NEWFILE' as other", 'Statement must be a SELECT'],
    ['vacuum', 'Statement must be a SELECT'],
    ["vacuum into 'NEWFILE'", 'Statement must be a SELECT'],
    ["select load_extension('NEWFILE')", 'Statement must be a SELECT'],
    ["with x as (select 1) insert into items (id, name) select 9, 'x' from x", 'Statement must be a SELECT'],
    ['with x as (select 1) delete from items', 'Statement must be a SELECT'],
    ["with x as (select 1) update items set name = 'x'", 'Statement must be a SELECT'],
    ['-- a comment\ndelete from items', 'Statement must be a SELECT'],
    ['/* select */ delete from items', 'Statement must be a SELECT'],
    ["select 1; insert into items (id, name) values (9, 'x')", 'You can only execute one statement at a time.'],
  ])('%s is refused and the file and its folder are unchanged', async (template, message) => {
    const t = await seeded()
    const newFile = join(dirname(t.path), 'new.db')
    const before = snapshot(t)
    const response = await t.get(q(template.replaceAll('NEWFILE', newFile)))
    const body = (await response.json()) as { error: string }
    expect([response.status, body.error]).toEqual([400, message])
    expect(snapshot(t)).toEqual(before)
    expect(existsSync(newFile)).toBe(false)
  })
})

describe('time limit and isolation', () => {
  const TOO_LONG = 'SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.'

  test("a query past sql_time_limit_ms is stopped with Datasette's 400, and the next query is served", async () => {
    const t = await seeded({ settings: { sql_time_limit_ms: 200 } })
    await expectJson(await t.get(q(RUNAWAY)), 400, { ok: false, error: TOO_LONG, errors: [TOO_LONG], status: 400 })
    await expectJson(await t.get(q('select count(*) as n from items')), 200, { ok: true, rows: [{ n: 3 }], truncated: false })
  })

  test('_timelimit lowers the limit but cannot raise it', async () => {
    const t = await seeded({ settings: { sql_time_limit_ms: 150 } })
    expect((await t.get(q(RUNAWAY, '&_timelimit=100000'))).status).toBe(400)
    const lowered = await seeded({ settings: { sql_time_limit_ms: 60000 } })
    await expectJson(await lowered.get(q(RUNAWAY, '&_timelimit=100')), 400, { ok: false, error: TOO_LONG, errors: [TOO_LONG], status: 400 })
  })

  test('while a slow query runs, writes and reads on the same database are served', async () => {
    const t = await seeded({ settings: { sql_time_limit_ms: 3000 } })
    const order: string[] = []
    const slow = t.get(q(RUNAWAY)).then((response) => order.push(`query ${response.status}`))
    await Bun.sleep(100)
    const write = await t.post('/-/insert/data/items', { id: 10, name: 'during' })
    order.push(`write ${write.status}`)
    const read = await t.get('/data/items/10.json')
    order.push(`read ${read.status}`)
    await slow
    expect(order).toEqual(['write 200', 'read 200', 'query 400'])
    expect(t.rows('items').at(-1)).toEqual({ id: 10, name: 'during' })
  })
})

describe('execute-sql permission', () => {
  const tokens = [
    { token: 'alice-token', actor: { id: 'alice' } },
    { token: 'bob-token', actor: { id: 'bob' } },
  ]
  const appWith = (metadata: Record<string, unknown>, options: Parameters<typeof makeApp>[0] = {}) =>
    seeded({ unsafe: false, config: interpretMetadata({ ...metadata, plugins: { 'datasette-auth-tokens': { tokens } } }), ...options })
  const status = async (t: TestApp, token?: string) => {
    const response = await t.get(q('select 1 as one'), token)
    return response.status === 403 ? [403, ((await response.json()) as { error: string }).error] : [response.status]
  }

  test('is allowed by default, to anyone', async () => {
    expect(await status(await appWith({}))).toEqual([200])
  })
  test('allow_sql at the root limits it', async () => {
    const t = await appWith({ allow_sql: { id: 'alice' } })
    expect([await status(t), await status(t, 'bob-token'), await status(t, 'alice-token')]).toEqual([[403, 'execute-sql'], [403, 'execute-sql'], [200]])
  })
  test('allow_sql on the database limits it, and false denies everyone', async () => {
    const t = await appWith({ databases: { data: { allow_sql: { id: 'alice' } } } })
    expect([await status(t, 'bob-token'), await status(t, 'alice-token')]).toEqual([[403, 'execute-sql'], [200]])
    expect(await status(await appWith({ allow_sql: false }), 'alice-token')).toEqual([403, 'execute-sql'])
  })
  test('a permissions block grants it', async () => {
    const t = await appWith({ databases: { data: { permissions: { 'execute-sql': { id: 'bob' } } } } })
    expect([await status(t, 'alice-token'), await status(t, 'bob-token')]).toEqual([[403, 'execute-sql'], [200]])
  })
  test('--default-deny denies it unless granted', async () => {
    const denied = await appWith({}, { defaultDeny: true })
    expect(await status(denied, 'alice-token')).toEqual([403, 'Permission denied'])
    const granted = await appWith({ permissions: { 'view-instance': true, 'view-database': true, 'execute-sql': { id: 'alice' } } }, { defaultDeny: true })
    expect([await status(granted, 'alice-token'), await status(granted, 'bob-token')]).toEqual([[200], [403, 'execute-sql']])
  })
  test('default_allow_sql off denies it unless a block grants it', async () => {
    expect(await status(await appWith({}, { settings: { default_allow_sql: 'off' } }), 'alice-token')).toEqual([403, 'execute-sql'])
    const t = await appWith({ allow_sql: { id: 'alice' } }, { settings: { default_allow_sql: 'off' } })
    expect([await status(t, 'alice-token'), await status(t, 'bob-token')]).toEqual([[200], [403, 'execute-sql']])
  })
  test('it also needs view-database: a hidden database answers 403 execute-sql', async () => {
    const t = await appWith({ databases: { data: { allow: { id: 'alice' } } } })
    expect([await status(t, 'bob-token'), await status(t, 'alice-token')]).toEqual([[403, 'execute-sql'], [200]])
  })
})

describe('private tables stay invisible to queries', () => {
  const HIDDEN = 'Permission denied: this query reads a table you may not view'
  const SCHEMA = 'Permission denied: this query reads the database schema (sqlite_master or a pragma function), which names tables you may not view'
  const privateApp = () =>
    seeded({
      unsafe: false,
      config: interpretMetadata({
        databases: { data: { tables: { secret: { allow: { id: 'admin' } } } } },
        plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'admin-token', actor: { id: 'admin' } }] } },
      }),
    })

  test.each([
    ['select * from secret', HIDDEN],
    ['select * from SECRET', HIDDEN],
    ['select * from "secret"', HIDDEN],
    ['select * from peek', HIDDEN],
    ['select (select code from secret) from items', HIDDEN],
    ["select * from items where exists (select 1 from secret where code like 'h%')", HIDDEN],
    ['with s as (select * from secret) select * from s', HIDDEN],
    ['select * from items join secret using (id)', HIDDEN],
    ['explain select * from secret', HIDDEN],
    ['select count(*) from secret', HIDDEN],
    ["select * from pragma_table_info('secret')", SCHEMA],
    ['select * from pragma_table_list', SCHEMA],
    ['select sql from sqlite_master', SCHEMA],
    ['select name from sqlite_schema', SCHEMA],
  ])('%s is a 403 that does not name the table', async (sql, message) => {
    const t = await privateApp()
    await expectJson(await t.get(q(sql)), 403, { ok: false, error: message, errors: [message], status: 403 })
  })

  test('visible tables, json_each and json_tree stay queryable; the actor who may view the table reads it', async () => {
    const t = await privateApp()
    await expectJson(await t.get(q("select i.id, j.value from items i join json_each('[1]') j where i.id = 1")), 200, {
      ok: true,
      rows: [{ id: 1, value: 1 }],
      truncated: false,
    })
    await expectJson(await t.get(q('select count(*) as n from json_tree(\'{"a": [1]}\')')), 200, { ok: true, rows: [{ n: 3 }], truncated: false })
    await expectJson(await t.get(q('select code from peek'), 'admin-token'), 200, { ok: true, rows: [{ code: 'hunter2' }], truncated: false })
    await expectJson(await t.get(q("select count(*) as n from sqlite_master where name = 'secret'"), 'admin-token'), 200, {
      ok: true,
      rows: [{ n: 1 }],
      truncated: false,
    })
  })

  test("rowpost's own Idempotency-Key table is never readable, even with --unsafe", async () => {
    const t = await seeded()
    expect((await t.post('/data/items/-/insert', { row: { id: 20, name: 'k' } }, undefined, { 'idempotency-key': 'k1' })).status).toBe(201)
    expect(query(t, "select count(*) as n from sqlite_master where type = 'table' and name like '_rowpost_%'")).toEqual([{ n: 1 }])
    await expectJson(await t.get(q('select * from _rowpost_idempotency')), 403, { ok: false, error: HIDDEN, errors: [HIDDEN], status: 403 })
  })
})

describe('GET /<db>/-/query.csv', () => {
  test('CRLF, minimal quoting, text/plain; _dl makes a text/csv download', async () => {
    const t = await seeded()
    const response = await t.get('/data/-/query.csv?sql=select+id,+name+from+items+order+by+id')
    expect([response.status, response.headers.get('content-type'), await response.text()]).toEqual([
      200,
      'text/plain; charset=utf-8',
      'id,name\r\n1,one\r\n2,"two, ""2"""\r\n3,\r\n',
    ])
    const download = await t.get('/data/-/query.csv?sql=select+1+as+a&_dl=1')
    expect([download.headers.get('content-type'), download.headers.get('content-disposition'), await download.text()]).toEqual([
      'text/csv; charset=utf-8',
      'attachment; filename="data.csv"',
      'a\r\n1\r\n',
    ])
  })

  test('without _stream it is one page of max_returned_rows; _stream=on sends every row', async () => {
    const t = await seeded({ settings: { max_returned_rows: 10 } })
    const sql = encodeURIComponent('with recursive c(x) as (select 1 union all select x + 1 from c where x < 2500) select x from c')
    const page = await (await t.get(`/data/-/query.csv?sql=${sql}`)).text()
    const all = await (await t.get(`/data/-/query.csv?sql=${sql}&_stream=on`)).text()
    expect([page.split('\r\n').length, all.split('\r\n').length, all.endsWith('2499\r\n2500\r\n')]).toEqual([12, 2502, true])
  })

  test("errors are JSON with Datasette's messages, and private tables stay private", async () => {
    const t = await seeded()
    expect((await t.get('/data/-/query.csv?sql=delete+from+items')).status).toBe(400)
    expect((await t.get('/data/-/query.csv?sql=select+*+from+_rowpost_x&_stream=on')).status).toBe(400)
  })
})

test('an in-memory database is queried in-process (no other process can open it)', async () => {
  const db = RowpostDatabase.open(':memory:')
  const app = createApp({ databases: [db], unsafe: true })
  const get = (path: string, init?: RequestInit) => app.handle(new Request(`http://localhost${path}`, init))
  expect((await get('/-/insert/_memory/t', { method: 'POST', body: '{"a": 1}' })).status).toBe(200)
  await expectJson(await get('/_memory/-/query.json?sql=select+a+from+t'), 200, { ok: true, rows: [{ a: 1 }], truncated: false })
  expect((await get('/_memory/-/query.json?sql=delete+from+t')).status).toBe(400)
  expect(db.connection.query('select count(*) as n from t').get()).toEqual({ n: 1 })
})

test('every curl example of the README\'s "SQL queries" section works as written', async () => {
  const lines = docShellBlock('docs/api.md', '## SQL queries')
  const t = makeApp({ unsafe: true })
  // The quick start's two dogs.
  expect(
    (
      await t.post('/-/insert/data/dogs?pk=id', [
        { id: 1, name: 'Cleopaws', age: 5 },
        { id: 2, name: 'Pancakes', age: 4 },
      ])
    ).status,
  ).toBe(200)
  const checked: string[] = []
  for (const [index, line] of lines.entries()) {
    if (!line.startsWith('curl ')) continue
    const url = new URL(/'(http[^']+)'/.exec(line)![1]!)
    const response = await t.get(url.pathname + url.search)
    const text = await response.text()
    const expected = lines[index + 1]?.startsWith('# ') ? lines[index + 1]!.slice(2) : undefined
    expect([line, response.status, expected ?? text]).toEqual([line, 200, text])
    if (line.includes('-o dogs.csv')) expect(text).toBe('id,name\r\n1,Cleopaws\r\n2,Pancakes\r\n')
    checked.push(line)
  }
  expect(checked.length).toBe(3)
})

describe('streamed query CSV holds a process per stream, never more than the pool allows', () => {
  const job = (path: string) => ({
    path,
    sql: 'with recursive c(value) as (select 1 union all select value + 1 from c where value < 100000) select value from c',
    params: {},
    maxRows: 1000,
    privacy: null,
  })

  test('a second stream waits for the first to end, and a stream closed before it was read frees its process', async () => {
    const t = makeApp({ unsafe: true })
    const pool = new QueryPool(1)
    try {
      const first = await pool.stream(job(t.path), 5000, 1000)
      if (!first.ok) throw new Error(first.message)
      expect(pool.runningStreams).toBe(1)
      let secondStarted = false
      const second = pool.stream(job(t.path), 5000, 1000).then((started) => {
        secondStarted = true
        return started
      })
      await Bun.sleep(200)
      expect(secondStarted).toBe(false)
      // The first stream's client went away before a single batch was read: its generator never started.
      first.stream.close()
      const started = await second
      if (!started.ok) throw new Error(started.message)
      let rows = 0
      for await (const batch of started.stream.batches) rows += batch.length
      expect(rows).toBe(100000)
      expect(pool.runningStreams).toBe(0)
    } finally {
      pool.close()
    }
  })
})

describe('over a socket', () => {
  killServersAfterEach()

  test('a real server answers queries, and a query past its limit is stopped while inserts and reads go on', async () => {
    const path = tempDbPath()
    const setup = new Database(path, { create: true })
    setup.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
    setup.run("INSERT INTO dogs VALUES (1, 'Cleo')")
    setup.close()
    const server = await startServer([path, '--unsafe', '--setting', 'sql_time_limit_ms', '1500'])
    const endless = 'with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c'
    const started = performance.now()
    const slow = fetch(`${server.url}/data/-/query.json?sql=${encodeURIComponent(endless)}`).then(async (response) => ({
      status: response.status,
      body: (await response.json()) as { error?: string },
      ms: performance.now() - started,
    }))
    // While the endless query runs in its process, the server goes on writing and reading.
    const inserted = await fetch(`${server.url}/-/insert/data/dogs`, { method: 'POST', body: '{"id": 2, "name": "Rex"}' })
    expect(await inserted.json()).toEqual({ table_count: 2 })
    const read = await fetch(`${server.url}/data/-/query.json?sql=${encodeURIComponent('select name from dogs order by id')}`)
    expect(await read.json()).toEqual({ ok: true, rows: [{ name: 'Cleo' }, { name: 'Rex' }], truncated: false })
    const finishedBefore = performance.now() - started
    const answer = await slow
    expect(finishedBefore).toBeLessThan(answer.ms)
    expect({ status: answer.status, error: answer.body.error }).toEqual({
      status: 400,
      error: 'SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.',
    })
  })
})
