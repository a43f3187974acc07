/** POST /<db>/-/execute-write: Datasette 1.0a37's ExecuteWriteView, its refusals and the permissions of what a statement touches. */
import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { interpretMetadata } from '../lib/config'
import { expectJson, makeApp, query, docShellBlock, type TestApp } from './helpers'
import { serveInProcess } from './raw-http'

const PATH = '/data/-/execute-write'
const TOKENS = ['admin', 'writer', 'blind', 'reader'].map((id) => ({ token: `${id}-token`, actor: { id } }))
const ROWS = ['insert-row', 'update-row', 'delete-row']

/** An app whose tokens hold what `document` grants, over dogs (two rows, with an audit trigger), audit and a private secret table. */
function seeded(document: Record<string, unknown> = {}, options: { unsafe?: boolean } = {}): TestApp {
  const config = interpretMetadata({ ...document, plugins: { 'datasette-auth-tokens': { tokens: TOKENS } } })
  const t = makeApp({ config, ...options })
  t.db.connection.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT UNIQUE, age INTEGER)')
  t.db.connection.run("INSERT INTO dogs VALUES (1, 'Cleo', 5), (2, 'Pancakes', 4)")
  t.db.connection.run('CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, msg TEXT)')
  t.db.connection.run('CREATE TRIGGER dogs_audit AFTER DELETE ON dogs BEGIN INSERT INTO audit (msg) VALUES (old.name); END')
  t.db.connection.run('CREATE TABLE secret (id INTEGER PRIMARY KEY, code TEXT)')
  t.db.connection.run("INSERT INTO secret VALUES (1, 'hunter2')")
  t.db.connection.run('CREATE VIRTUAL TABLE search USING fts5(name)')
  return t
}

const grant = (ids: string[]) => ({ id: ids })
/** admin: everything; writer: everything but secret is invisible to it; blind: row writes on dogs but may not view it; reader: nothing to write. */
const POLICY = {
  permissions: {
    'execute-write-sql': grant(['admin', 'writer', 'blind']),
    'create-table': grant(['admin', 'writer']),
    'alter-table': grant(['admin', 'writer']),
    'drop-table': grant(['admin', 'writer']),
    ...Object.fromEntries(ROWS.map((action) => [action, grant(['admin', 'writer', 'blind'])])),
  },
  databases: {
    data: {
      tables: {
        secret: { allow: { id: 'admin' } },
        dogs: { allow: { id: ['admin', 'writer', 'reader'] } },
      },
    },
  },
}

/** Everything that tells whether a request changed the file: its schema and every row of the user tables. */
function snapshot(t: TestApp) {
  const schema = query(t, 'SELECT type, name, sql FROM sqlite_schema ORDER BY name')
  return { schema, dogs: t.rows('dogs'), audit: t.rows('audit'), secret: t.rows('secret') }
}

const run = (t: TestApp, body: unknown, token = 'admin-token', headers: Record<string, string> = {}) => t.post(PATH, body, token, headers)

async function expectRefused(t: TestApp, body: unknown, status: number, message: string, token = 'admin-token') {
  const before = snapshot(t)
  await expectJson(await run(t, body, token), status, { ok: false, error: message, errors: [message], status })
  expect(snapshot(t)).toEqual(before)
}

describe('statements that run', () => {
  test('an insert with a named parameter answers Datasette’s body and writes the row', async () => {
    const t = seeded(POLICY)
    await expectJson(await run(t, { sql: 'insert into dogs (name, age) values (:name, :age)', params: { name: 'Boris', age: 1 } }), 200, {
      ok: true,
      message: 'Query executed, 1 row affected',
      rowcount: 1,
      rows: [],
      truncated: false,
      analysis: [{ operation: 'insert', database: 'data', table: 'dogs', required_permission: 'insert-row, update-row, delete-row', source: null }],
    })
    expect(t.rows('dogs')).toEqual([
      { id: 1, name: 'Cleo', age: 5 },
      { id: 2, name: 'Pancakes', age: 4 },
      { id: 3, name: 'Boris', age: 1 },
    ])
  })

  test('a parameter the body leaves out is bound as an empty string, as in Datasette', async () => {
    const t = seeded(POLICY)
    expect((await run(t, { sql: 'insert into dogs (name, age) values (:name, :age)', params: { name: 'Nameless' } })).status).toBe(200)
    expect(t.rows('dogs').at(-1)).toEqual({ id: 3, name: 'Nameless', age: '' })
  })

  test('RETURNING sends back at most 10 rows, with truncated and rowcount -1 past them; every row is still written', async () => {
    const t = seeded(POLICY)
    const sql = "insert into dogs (name) select 'dog ' || value from json_each(:list) returning id, name"
    const few = await run(t, { sql, params: { list: '["a","b"]' } })
    await expectJson(few, 200, {
      ok: true,
      message: 'Query executed, 2 rows affected',
      rowcount: 2,
      rows: [
        { id: 3, name: 'dog a' },
        { id: 4, name: 'dog b' },
      ],
      truncated: false,
      analysis: [
        { operation: 'insert', database: 'data', table: 'dogs', required_permission: 'insert-row, update-row, delete-row', source: null },
        { operation: 'read', database: 'data', table: 'dogs', required_permission: 'view-table', source: null },
      ],
    })
    const many = (await (await run(t, { sql, params: { list: JSON.stringify([...Array(12).keys()]) } })).json()) as Record<string, unknown>
    expect([many.message, many.rowcount, (many.rows as unknown[]).length, many.truncated]).toEqual(['Query executed', -1, 10, true])
    expect(t.rows('dogs')).toHaveLength(16)
  })

  test('an update and a delete (its trigger writing audit) answer their row counts', async () => {
    const t = seeded(POLICY)
    const updated = (await (await run(t, { sql: 'update dogs set age = age + 1' })).json()) as Record<string, unknown>
    expect([updated.message, updated.rowcount]).toEqual(['Query executed, 2 rows affected', 2])
    const deleted = (await (await run(t, { sql: 'delete from dogs where id = :id', params: { id: 1 } })).json()) as Record<string, unknown>
    expect([deleted.message, deleted.rowcount]).toEqual(['Query executed, 1 row affected', 1])
    expect(deleted.analysis).toContainEqual({
      operation: 'insert',
      database: 'data',
      table: 'audit',
      required_permission: 'insert-row, update-row, delete-row',
      source: 'dogs_audit',
    })
    expect(t.rows('dogs')).toEqual([{ id: 2, name: 'Pancakes', age: 5 }])
    expect(t.rows('audit')).toEqual([{ id: 1, msg: 'Cleo' }])
  })

  test('schema changes answer "Query executed" and -1, and every other route sees the new schema at once', async () => {
    const t = seeded(POLICY)
    const ddl = async (sql: string) => expectJson(await run(t, { sql }), 200, expect.objectContaining({ ok: true, message: 'Query executed', rowcount: -1 }))
    await ddl('create table cats (id integer primary key, name text)')
    expect((await t.post('/data/cats/-/insert', { row: { id: 1, name: 'Tom' } }, 'admin-token')).status).toBe(201)
    await ddl('alter table cats add column lives integer')
    expect((await t.post('/data/cats/-/insert', { row: { id: 2, name: 'Felix', lives: 9 } }, 'admin-token')).status).toBe(201)
    await ddl('create index cats_name on cats (name)')
    await ddl('drop index cats_name')
    await ddl('alter table cats rename to kittens')
    expect((await t.get('/data/cats.json', 'admin-token')).status).toBe(404)
    await expectJson(await t.get('/data/kittens.json?_shape=array', 'admin-token'), 200, [
      { id: 1, name: 'Tom', lives: null },
      { id: 2, name: 'Felix', lives: 9 },
    ])
    await ddl('drop table kittens')
    expect(t.tables()).not.toContain('kittens')
    expect((await t.post('/data/kittens/-/insert', { row: { id: 3 } }, 'admin-token')).status).toBe(404)
  })

  test('row counts stay exact after statements that change them', async () => {
    const t = seeded({}, { unsafe: true })
    const count = async () => ((await (await t.post('/-/insert/data/dogs', [], 'admin-token')).json()) as { table_count: number }).table_count
    expect(await count()).toBe(2)
    await run(t, { sql: "insert into dogs (name) select 'd' || value from json_each('[1,2,3]')" })
    expect(await count()).toBe(5)
    await run(t, { sql: 'delete from dogs where id > 3' })
    expect(await count()).toBe(3)
    await run(t, { sql: 'delete from dogs' })
    expect(await count()).toBe(0)
  })

  test('an Idempotency-Key retry gets the stored answer and writes nothing more', async () => {
    const t = seeded(POLICY)
    const body = { sql: "insert into dogs (name) values ('Once') returning id" }
    const first = await run(t, body, 'admin-token', { 'idempotency-key': 'k1' })
    const firstBody = await first.json()
    const again = await run(t, body, 'admin-token', { 'idempotency-key': 'k1' })
    expect([again.status, again.headers.get('idempotent-replayed'), await again.json()]).toEqual([200, 'true', firstBody])
    expect(t.rows('dogs').filter((dog) => dog.name === 'Once')).toHaveLength(1)
  })
})

describe('refusals leave the file unchanged', () => {
  test.each([
    ['vacuum', 403, 'VACUUM is not allowed in user-supplied SQL'],
    ['pragma user_version = 5', 403, 'Unsupported SQL operation: pragma pragma'],
    ['pragma journal_mode', 403, 'Unsupported SQL operation: pragma pragma'],
    ["attach 'other.db' as other", 403, 'Unsupported SQL operation: attach database'],
    ['detach other', 403, 'Unsupported SQL operation: detach database'],
    ['begin', 403, 'Unsupported SQL operation: begin transaction'],
    ['commit', 403, 'Unsupported SQL operation: commit transaction'],
    ['release rowpost_request', 403, 'Unsupported SQL operation: savepoint transaction'],
    ['analyze', 403, 'Unsupported SQL operation: analyze database'],
    ["insert into search values ('x')", 403, 'Writes to virtual tables are not allowed in user-supplied SQL'],
    ["insert into search_content values (9, 'x')", 403, 'Writes to shadow tables are not allowed in user-supplied SQL'],
    ['delete from sqlite_sequence', 403, 'Writes to internal tables are not allowed in user-supplied SQL: sqlite_sequence'],
    ['create table _rowpost_mine (a)', 403, 'Writes to internal tables are not allowed in user-supplied SQL: _rowpost_mine'],
    ['insert into dogs (name) select name from sqlite_master', 403, 'Unsupported SQL operation: read schema'],
    ["insert into dogs (name) select name from pragma_table_info('secret')", 403, 'Unsupported SQL operation: pragma pragma'],
    ['create temp table scratch (a)', 403, 'Writable queries may not access attached databases'],
    ['create view v as select 1', 403, 'Unsupported SQL operation: create view'],
    ['create trigger t after insert on dogs begin delete from audit; end', 403, 'Unsupported SQL operation: create trigger'],
    ['select * from dogs', 400, 'Use /-/query for read-only SQL; this endpoint only executes writes'],
    ['with x as (select 1) select * from x', 400, 'Use /-/query for read-only SQL; this endpoint only executes writes'],
    ['explain delete from dogs', 400, 'Use /-/query for read-only SQL; this endpoint only executes writes'],
    ["delete from dogs; insert into dogs (name) values ('x')", 400, 'Could not analyze query: You can only execute one statement at a time.'],
    ['insert into nosuch values (1)', 400, 'Could not analyze query: no such table: nosuch'],
    ['insert into', 400, 'Could not analyze query: incomplete input'],
    ['-- nothing but a comment', 400, 'Could not analyze query: incomplete input'],
    ["insert into dogs (id, name) values (1, 'again')", 400, 'UNIQUE constraint failed: dogs.id'],
    ['insert into dogs (name) values (?)', 400, 'Binding 1 has no name, but you supplied a dictionary (which has only names).'],
    ['insert into dogs (name) values (@name)', 400, 'You did not supply a value for binding parameter @name.'],
  ])('%s: %d %s', async (sql, status, message) => {
    await expectRefused(seeded(POLICY), { sql }, status, message)
  })

  test('a statement of a hundred thousand nested expressions is a 400 from SQLite, a body past max_post_body_bytes a 413', async () => {
    const t = seeded(POLICY)
    const deep = `insert into dogs (age) values (${'('.repeat(100_000)}1${')'.repeat(100_000)})`
    const response = await run(t, { sql: deep })
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toStartWith('Could not analyze query: ')
    const small = makeApp({ settings: { max_post_body_bytes: 1000 }, unsafe: true })
    small.db.connection.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY)')
    const huge = await small.post(PATH, { sql: `insert into dogs values (1) -- ${'x'.repeat(2000)}` })
    expect(huge.status).toBe(413)
    expect(small.rows('dogs')).toEqual([])
  })
})

describe('bad bodies', () => {
  test.each([
    ['an empty body', '', 'SQL is required'],
    ['a list', '[]', 'JSON must be a dictionary'],
    ['a string', '"insert into dogs values (3)"', 'JSON must be a dictionary'],
    ['unknown keys, sorted', '{"sql": "delete from dogs", "zzz": 1, "return": true}', 'Invalid keys: return, zzz'],
    ['an odd key', '{"sql": "delete from dogs", "x\\"; drop table dogs; --": 1}', 'Invalid keys: x"; drop table dogs; --'],
    ['params as a list', '{"sql": "delete from dogs", "params": [1]}', 'params must be a dictionary'],
    ['params as a string', '{"sql": "delete from dogs", "params": "id=1"}', 'params must be a dictionary'],
    ['no sql', '{"params": {}}', 'SQL is required'],
    ['sql as a number', '{"sql": 5}', 'SQL is required'],
    ['sql as a list', '{"sql": ["delete from dogs"]}', 'SQL is required'],
    ['empty sql', '{"sql": ""}', 'SQL is required'],
    ['a magic parameter', '{"sql": "delete from dogs where id = :_actor_id"}', 'Magic parameters are not allowed'],
    ['extra parameters, sorted', '{"sql": "delete from dogs where id = :id", "params": {"id": 1, "zé": 2, "b c": 3}}', 'Unknown parameters: b c, zé'],
    ['a parameter the SQL names only inside a string', `{"sql": "delete from dogs where name = ':id'", "params": {"id": 1}}`, 'Unknown parameters: id'],
    [
      'an object as a parameter',
      '{"sql": "delete from dogs where id = :id", "params": {"id": {"a": 1}}}',
      'Error binding parameter :id - probably unsupported type.',
    ],
    ['a list as a parameter', '{"sql": "delete from dogs where id = :id", "params": {"id": [1]}}', 'Error binding parameter :id - probably unsupported type.'],
  ])('%s: 400 %s', async (_name, body, message) => {
    await expectRefused(seeded(POLICY), body, 400, message)
  })

  test('invalid JSON is a 400 invalid_json', async () => {
    const t = seeded(POLICY)
    const before = snapshot(t)
    const response = await run(t, '{"sql": ')
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toStartWith('Invalid JSON: ')
    expect(snapshot(t)).toEqual(before)
  })
})

describe('permissions', () => {
  test('execute-write-sql is denied by default, even to a caller with every row permission', async () => {
    const t = seeded({ permissions: Object.fromEntries(ROWS.map((action) => [action, true])) })
    await expectRefused(t, { sql: 'delete from dogs' }, 403, 'Permission denied: need execute-write-sql', 'writer-token')
    await expectRefused(t, { sql: 'delete from dogs' }, 403, 'Permission denied: need execute-write-sql', 'reader-token')
  })

  test('a caller who may not view the database is refused execute-write-sql, as Datasette’s also_requires does', async () => {
    const t = seeded({ permissions: { 'execute-write-sql': true, 'delete-row': true }, databases: { data: { allow: { id: 'admin' } } } })
    await expectRefused(t, { sql: 'delete from dogs' }, 403, 'Permission denied: need execute-write-sql', 'writer-token')
  })

  test('an immutable database answers 403 Database is immutable after the permission check', async () => {
    const t = seeded(POLICY)
    const { RowpostDatabase } = await import('../lib/database')
    const { createApp } = await import('../lib/http/app')
    const immutable = RowpostDatabase.open(t.path, { immutable: true })
    const app = createApp({ databases: [immutable], unsafe: true })
    const response = await app.handle(new Request(`http://localhost${PATH}`, { method: 'POST', body: '{"sql": "delete from dogs"}' }))
    await expectJson(response, 403, { ok: false, error: 'Database is immutable', errors: ['Database is immutable'], status: 403 })
    immutable.close()
    expect(t.rows('dogs')).toHaveLength(2)
  })

  test('an insert or update needs all three row actions on the table; a delete only delete-row', async () => {
    const only = (action: string) => seeded({ permissions: { 'execute-write-sql': true, [action]: true } })
    await expectRefused(
      only('insert-row'),
      { sql: "insert into dogs (name) values ('x')" },
      403,
      'Permission denied: need update-row on data/dogs',
      'writer-token',
    )
    await expectRefused(
      only('update-row'),
      { sql: 'update dogs set age = 1 where id = 1' },
      403,
      'Permission denied: need insert-row on data/dogs',
      'writer-token',
    )
    const deleter = only('delete-row')
    // The trigger's insert into audit takes the row actions on audit too.
    await expectRefused(deleter, { sql: 'delete from dogs where id = 1' }, 403, 'Permission denied: need insert-row on data/audit', 'writer-token')
    deleter.db.connection.run('DROP TRIGGER dogs_audit')
    expect((await run(deleter, { sql: 'delete from dogs where id = 1' }, 'writer-token')).status).toBe(200)
    expect(deleter.rows('dogs')).toEqual([{ id: 2, name: 'Pancakes', age: 4 }])
  })

  test('schema changes need create-table on the database, alter-table and drop-table on the table', async () => {
    const t = seeded({ permissions: { 'execute-write-sql': true, ...Object.fromEntries(ROWS.map((action) => [action, true])) } })
    await expectRefused(t, { sql: 'create table cats (id)' }, 403, 'Permission denied: need create-table on data', 'writer-token')
    await expectRefused(t, { sql: 'alter table dogs add column weight' }, 403, 'Permission denied: need alter-table on data/dogs', 'writer-token')
    await expectRefused(t, { sql: 'create index dogs_age on dogs (age)' }, 403, 'Permission denied: need alter-table on data/dogs', 'writer-token')
    await expectRefused(t, { sql: 'drop table dogs' }, 403, 'Permission denied: need drop-table on data/dogs', 'writer-token')
  })

  test('a database-level grant does not override a table-level denial', async () => {
    const t = seeded({
      databases: {
        data: {
          permissions: { 'execute-write-sql': true, ...Object.fromEntries(ROWS.map((action) => [action, true])) },
          tables: { dogs: { permissions: { 'insert-row': { id: 'admin' } } } },
        },
      },
    })
    await expectRefused(t, { sql: "insert into dogs (name) values ('x')" }, 403, 'Permission denied: need insert-row on data/dogs', 'writer-token')
    expect((await run(t, { sql: "insert into dogs (name) values ('x')" }, 'admin-token')).status).toBe(200)
  })

  test('a private table cannot be read through INSERT … SELECT, a subquery, a join or a view', async () => {
    const t = seeded(POLICY)
    t.db.connection.run('CREATE VIEW secret_view AS SELECT code FROM secret')
    for (const sql of [
      'insert into dogs (name) select code from secret',
      'insert into dogs (name) values ((select code from secret where id = 1))',
      'update dogs set name = (select code from secret) where id = 1',
      'delete from dogs where name in (select code from secret)',
      'insert into dogs (name) select code from secret_view',
      'create table stolen as select * from secret',
    ]) {
      await expectRefused(t, { sql }, 403, 'Permission denied: need view-table on data/secret', 'writer-token')
    }
    expect((await run(t, { sql: 'insert into dogs (name) select code from secret' }, 'admin-token')).status).toBe(200)
  })

  test('RETURNING, and rows an UPDATE or DELETE picks, need view-table on the table', async () => {
    const t = seeded(POLICY)
    await expectRefused(t, { sql: "insert into dogs (name) values ('x') returning *" }, 403, 'Permission denied: need view-table on data/dogs', 'blind-token')
    await expectRefused(t, { sql: 'delete from dogs where age > 4' }, 403, 'Permission denied: need view-table on data/dogs', 'blind-token')
    expect((await run(t, { sql: "insert into dogs (name) values ('x')" }, 'blind-token')).status).toBe(200)
    expect(t.rows('dogs').at(-1)).toEqual({ id: 3, name: 'x', age: null })
  })

  test('a signed token restricted to execute-write-sql by its abbreviation (ews, with vd to see the database) works; without it, it is refused', async () => {
    const { mintToken } = await import('../lib/signed-tokens')
    const config = interpretMetadata({ permissions: { 'execute-write-sql': { id: 'root' }, ...Object.fromEntries(ROWS.map((a) => [a, { id: 'root' }])) } })
    const t = makeApp({ config, secret: 'a-test-secret-long-enough-for-rowpost-000' })
    t.db.connection.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
    const token = (restrict: string[]) => mintToken('a-test-secret-long-enough-for-rowpost-000', { actorId: 'root', restrictions: { a: restrict } })
    expect((await t.post(PATH, { sql: "insert into dogs (name) values ('x')" }, token(['ews', 'vd', ...ROWS]))).status).toBe(200)
    expect((await t.post(PATH, { sql: "insert into dogs (name) values ('y')" }, token(['vd', ...ROWS]))).status).toBe(403)
    expect(t.rows('dogs')).toEqual([{ id: 1, name: 'x' }])
  })
})

describe('over a socket', () => {
  test('a real server runs a statement and refuses a second one in the same body', async () => {
    const t = seeded(POLICY)
    const server = serveInProcess(t.app)
    try {
      const post = (body: unknown) =>
        fetch(`http://127.0.0.1:${server.port}${PATH}`, { method: 'POST', body: JSON.stringify(body), headers: { authorization: 'Bearer admin-token' } })
      const ok = await post({ sql: 'update dogs set age = :age where name = :name returning name, age', params: { age: 6, name: 'Cleo' } })
      expect([ok.status, ((await ok.json()) as { rows: unknown }).rows]).toEqual([200, [{ name: 'Cleo', age: 6 }]])
      const refused = await post({ sql: 'delete from dogs; vacuum' })
      expect(refused.status).toBe(400)
    } finally {
      server.stop()
    }
    const file = new Database(t.path, { readonly: true })
    expect(file.query('SELECT id, age FROM dogs ORDER BY id').all()).toEqual([
      { id: 1, age: 6 },
      { id: 2, age: 4 },
    ])
    file.close()
  })
})

describe('README', () => {
  test('every curl example of the /-/execute-write section works as written', async () => {
    const commands = docShellBlock('docs/api.md', '## Running write SQL: `/-/execute-write`').filter((line) => line.startsWith('curl '))
    expect(commands).toHaveLength(4)
    // The session runs with --unsafe, so the token in $H adds nothing here.
    const t = makeApp({ unsafe: true })
    const answers: unknown[] = []
    for (const command of commands) {
      const match = /^curl -H "\$H" \$B(\S+) -d '(.*)'$/.exec(command)
      expect(match).not.toBeNull()
      const response = await t.request('POST', match![1]!, match![2]!, { 'content-type': 'application/x-www-form-urlencoded' })
      expect(response.status).toBe(200)
      answers.push(await response.json())
    }
    expect(answers[2]).toEqual(expect.objectContaining({ message: 'Query executed, 1 row affected', rows: [{ id: 1, stars: 4 }], truncated: false }))
    expect(answers[3]).toEqual(expect.objectContaining({ rowcount: 1 }))
    expect(t.rows('notes')).toEqual([])
    expect(t.columns('notes')).toEqual([
      ['id', 'INTEGER'],
      ['body', 'TEXT'],
      ['stars', 'INTEGER'],
    ])
  })
})
