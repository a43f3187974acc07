/** The instance index (`/.json`) and `/-/schema` at instance, database and table level, as Datasette 1.0a37 serves them. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import { tildeEncode } from '../lib/identifiers'
import { mintToken } from '../lib/signed-tokens'
import { expectJson, makeApp, docShellBlock, runAsWritten, tempDbPath, tempDir, type TestApp } from './helpers'
import { killServersAfterEach, startServer } from './process'

const servers = killServersAfterEach()
const UNSTABLE = "This API is not part of Datasette's stable interface and may change at any time"
const SECRET = 'a-test-secret-that-is-long-enough-for-rowpost'

const DOGS = 'CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)'
const DOGS_INDEX = 'CREATE INDEX dogs_name ON dogs (name)'
const OWNERS = 'CREATE TABLE owners (id INTEGER PRIMARY KEY, dog_id INTEGER REFERENCES dogs(id))'
const VIEW = 'CREATE VIEW named AS SELECT name FROM dogs'
const TRIGGER = 'CREATE TRIGGER dogs_log AFTER INSERT ON dogs BEGIN SELECT 1; END'
const SECRETS = 'CREATE TABLE secrets (id INTEGER PRIMARY KEY, code TEXT)'
const SECRETS_INDEX = 'CREATE INDEX secrets_code ON secrets (code)'

/** data.db with two tables, an index, a view and a trigger, plus SQLite's and rowpost's own tables that must never show. */
function seeded(options: Parameters<typeof makeApp>[0] = {}): TestApp {
  const t = makeApp(options)
  t.db.connection.run(
    [
      DOGS,
      DOGS_INDEX,
      OWNERS,
      VIEW,
      TRIGGER,
      "INSERT INTO dogs VALUES (1, 'Cleo'), (2, 'Pancakes')",
      'CREATE TABLE counters (id INTEGER PRIMARY KEY AUTOINCREMENT)',
      'CREATE TABLE _rowpost_idempotency (key TEXT PRIMARY KEY)',
      'ANALYZE',
    ].join(';\n'),
  )
  t.db.connection.run('DROP TABLE counters')
  return t
}

const dogsEntry = {
  name: 'dogs',
  columns: ['id', 'name'],
  primary_keys: ['id'],
  count: 2,
  hidden: false,
  fts_table: null,
  num_relationships_for_sorting: 0,
  private: false,
}
const ownersEntry = {
  name: 'owners',
  columns: ['id', 'dog_id'],
  primary_keys: ['id'],
  count: 0,
  hidden: false,
  fts_table: null,
  num_relationships_for_sorting: 0,
  private: false,
}

function dataEntry(overrides: Record<string, unknown> = {}) {
  return {
    name: 'data',
    hash: null,
    color: '8d777f',
    path: '/data',
    tables_and_views_truncated: [dogsEntry, ownersEntry, { name: 'named', private: false }],
    tables_and_views_more: false,
    tables_count: 2,
    table_rows_sum: 2,
    show_table_row_counts: true,
    hidden_table_rows_sum: 0,
    hidden_tables_count: 0,
    views_count: 1,
    private: false,
    ...overrides,
  }
}

async function markdown(response: Response, status = 200): Promise<string> {
  expect({ status: response.status, type: response.headers.get('content-type') }).toEqual({ status, type: 'text/markdown; charset=utf-8' })
  return response.text()
}

interface IndexTable {
  name: string
  count?: number | null
  [key: string]: unknown
}
interface IndexDatabase {
  name: string
  path: string
  color: string
  private: boolean
  tables_and_views_truncated: IndexTable[]
  [key: string]: unknown
}

/** The databases of the instance index as `token` sees it. */
async function indexDatabases(t: TestApp, path = '/.json', token?: string): Promise<IndexDatabase[]> {
  const response = await t.get(path, token)
  expect(response.status).toBe(200)
  return ((await response.json()) as { databases: IndexDatabase[] }).databases
}

const denied = (action: string) => ({ ok: false, error: action, errors: [action], status: 403 })
const notFound = (what: string) => ({ ok: false, error: `${what} not found`, errors: [`${what} not found`], status: 404 })

describe('GET /.json: the instance index', () => {
  test('with only the in-memory database it is exactly Datasette’s body (test_no_files_uses_memory_database)', async () => {
    const app = createApp({ databases: [RowpostDatabase.open(':memory:')] })
    const response = await app.handle(new Request('http://localhost/.json'))
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
    await expectJson(response, 200, {
      ok: true,
      unstable: UNSTABLE,
      databases: [
        {
          name: '_memory',
          hash: null,
          color: 'a6c7b9',
          path: '/_memory',
          tables_and_views_truncated: [],
          tables_and_views_more: false,
          tables_count: 0,
          table_rows_sum: 0,
          show_table_row_counts: false,
          hidden_table_rows_sum: 0,
          hidden_tables_count: 0,
          views_count: 0,
          private: false,
        },
      ],
      metadata: {},
    })
  })

  test('lists tables by row count, then views; never sqlite_ or _rowpost_ tables', async () => {
    const t = seeded()
    await expectJson(await t.get('/.json'), 200, { ok: true, unstable: UNSTABLE, databases: [dataEntry()], metadata: {} })
  })

  test('_sort=relationships counts foreign keys in and out of each table', async () => {
    const t = seeded()
    const [database] = await indexDatabases(t, '/.json?_sort=relationships')
    expect(database!.tables_and_views_truncated).toEqual([
      { ...dogsEntry, num_relationships_for_sorting: 1 },
      { ...ownersEntry, num_relationships_for_sorting: 1 },
      { name: 'named', private: false },
    ])
  })

  test('shows five tables, most rows first; hidden tables (_…, FTS and its shadow tables) are counted apart', async () => {
    const t = makeApp()
    const statements = [1, 2, 3, 4, 5, 6, 7].flatMap((n) => [
      `CREATE TABLE t${n} (id INTEGER PRIMARY KEY)`,
      ...Array.from({ length: n }, (_, i) => `INSERT INTO t${n} VALUES (${i})`),
    ])
    t.db.connection.run(
      [
        ...statements,
        'CREATE TABLE _notes (id INTEGER PRIMARY KEY); INSERT INTO _notes VALUES (1), (2), (3)',
        'CREATE VIRTUAL TABLE t7_fts USING fts5(id, content="t7")',
        'CREATE VIEW v1 AS SELECT 1',
      ].join(';\n'),
    )
    const [database] = await indexDatabases(t)
    expect(database!.tables_and_views_truncated.map((table) => table.name)).toEqual(['t7', 't6', 't5', 't4', 't3'])
    expect(database!.tables_and_views_truncated[0]).toEqual({
      name: 't7',
      columns: ['id'],
      primary_keys: ['id'],
      count: 7,
      hidden: false,
      fts_table: 't7_fts',
      num_relationships_for_sorting: 0,
      private: false,
    })
    const { tables_and_views_truncated, ...totals } = database!
    // Hidden: _notes (3 rows), t7_fts (external content: t7's 7 rows) and its shadow tables _data (2), _idx, _docsize, _config (1).
    expect(totals).toEqual({
      name: 'data',
      hash: null,
      color: '8d777f',
      path: '/data',
      tables_and_views_more: true,
      tables_count: 7,
      table_rows_sum: 28,
      show_table_row_counts: true,
      hidden_table_rows_sum: 13,
      hidden_tables_count: 6,
      views_count: 1,
      private: false,
    })
  })

  test('past max_returned_rows tables it does not count rows, as Datasette does for large files, and sorts by relationships', async () => {
    const t = makeApp({ settings: { max_returned_rows: 2 } })
    t.db.connection.run(`${DOGS}; ${OWNERS}; CREATE TABLE lone (id INTEGER PRIMARY KEY); INSERT INTO lone VALUES (1), (2), (3)`)
    const [database] = await indexDatabases(t)
    const listed = database!.tables_and_views_truncated.map((table) => [table.name, table.count])
    expect(listed).toEqual([
      ['owners', null],
      ['dogs', null],
      ['lone', null],
    ])
    expect([database!.show_table_row_counts, database!.table_rows_sum, database!.tables_count]).toEqual([false, 0, 3])
  })

  test('a private table is neither listed nor counted for an actor who may not view it, and marked private for one who may', async () => {
    const { t, other } = privateApp()
    await expectJson(await t.get('/.json'), 200, { ok: true, unstable: UNSTABLE, databases: [dataEntry()], metadata: {} })
    const databases = await indexDatabases(t, '/.json', 'root-token')
    expect(databases.map((database) => [database.name, database.private])).toEqual([
      ['data', false],
      ['other', true],
    ])
    expect(databases[0]).toEqual(
      dataEntry({
        tables_and_views_truncated: [
          { ...dogsEntry, name: 'secrets', columns: ['id', 'code'], count: 3, private: true },
          dogsEntry,
          ownersEntry,
          { name: 'named', private: false },
        ],
        tables_count: 3,
        table_rows_sum: 5,
      }),
    )
    other.close()
  })

  test('--default-deny refuses the anonymous caller with view-instance; an actor granted only view-instance sees no database', async () => {
    const config = interpretMetadata({
      permissions: { 'view-instance': { id: 'viewer' } },
      plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'viewer-token', actor: { id: 'viewer' } }] } },
    })
    const t = seeded({ defaultDeny: true, config })
    await expectJson(await t.get('/.json'), 403, denied('view-instance'))
    await expectJson(await t.get('/.json', 'viewer-token'), 200, { ok: true, unstable: UNSTABLE, databases: [], metadata: {} })
    const invalid = { ok: false, error: 'Invalid token', errors: ['Invalid token'], status: 401 }
    await expectJson(await t.get('/.json', 'no-such-token'), 401, invalid)
  })

  test('a signed token restricted to one table sees that table only', async () => {
    const t = seeded({ secret: SECRET })
    const token = mintToken(SECRET, { actorId: 'bot', restrictions: { r: { data: { dogs: ['vt'] } } } })
    await expectJson(await t.get('/.json', token), 200, {
      ok: true,
      unstable: UNSTABLE,
      metadata: {},
      databases: [dataEntry({ tables_and_views_truncated: [dogsEntry], tables_and_views_more: false, tables_count: 1, views_count: 0 })],
    })
  })
})

/** data (with a `secrets` table only root may view) and `other`, a database only root may view. */
function privateApp() {
  const config = interpretMetadata({
    databases: { data: { tables: { secrets: { allow: { id: 'root' } } } }, other: { allow: { id: 'root' } } },
    plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'root-token', actor: { id: 'root' } }] } },
  })
  const other = RowpostDatabase.open(tempDbPath('other'), { create: true })
  other.connection.run('CREATE TABLE hush (id INTEGER PRIMARY KEY)')
  const t = seeded({ config, databases: [other] })
  t.db.connection.run(`${SECRETS}; ${SECRETS_INDEX}; INSERT INTO secrets VALUES (1, 'a'), (2, 'b'), (3, 'c')`)
  return { t, other }
}

const DATA_SCHEMA = [DOGS, DOGS_INDEX, OWNERS, VIEW, TRIGGER].join(';\n')

describe('/-/schema', () => {
  test('a database’s CREATE statements in creation order, joined by ";\\n" as Datasette’s group_concat joins them', async () => {
    const t = seeded()
    await expectJson(await t.get('/data/-/schema.json'), 200, { ok: true, database: 'data', schema: DATA_SCHEMA })
    expect(await markdown(await t.get('/data/-/schema.md'))).toBe(`# Schema for data\n\n\`\`\`sql\n${DATA_SCHEMA}\n\`\`\`\n`)
  })

  test('an empty database has an empty schema', async () => {
    const t = makeApp()
    await expectJson(await t.get('/data/-/schema.json'), 200, { ok: true, database: 'data', schema: '' })
  })

  test('the instance lists every database the actor may view, by name; its Markdown joins them without a final newline', async () => {
    const { t, other } = privateApp()
    await expectJson(await t.get('/-/schema.json'), 200, { ok: true, schemas: [{ database: 'data', schema: DATA_SCHEMA }] })
    const rootSchema = [DOGS, DOGS_INDEX, OWNERS, VIEW, TRIGGER, SECRETS, SECRETS_INDEX].join(';\n')
    await expectJson(await t.get('/-/schema.json', 'root-token'), 200, {
      ok: true,
      schemas: [
        { database: 'data', schema: rootSchema },
        { database: 'other', schema: 'CREATE TABLE hush (id INTEGER PRIMARY KEY)' },
      ],
    })
    expect(await markdown(await t.get('/-/schema.md', 'root-token'))).toBe(
      `# Schema for data\n\n\`\`\`sql\n${rootSchema}\n\`\`\`\n\n` + '# Schema for other\n\n```sql\nCREATE TABLE hush (id INTEGER PRIMARY KEY)\n```',
    )
    other.close()
  })

  test('a table’s or a view’s own CREATE statement; names match ignoring ASCII case, and the answer gives the real one', async () => {
    const t = seeded()
    await expectJson(await t.get('/data/dogs/-/schema.json'), 200, { ok: true, database: 'data', table: 'dogs', schema: DOGS })
    await expectJson(await t.get('/data/DOGS/-/schema.json'), 200, { ok: true, database: 'data', table: 'dogs', schema: DOGS })
    await expectJson(await t.get('/data/named/-/schema.json'), 200, { ok: true, database: 'data', table: 'named', schema: VIEW })
    expect(await markdown(await t.get('/data/dogs/-/schema.md'))).toBe(`# Schema for data.dogs\n\n\`\`\`sql\n${DOGS}\n\`\`\`\n`)
  })

  test.each([
    ['a missing database', '/nosuch/-/schema.json', 'Database'],
    ['a missing database, as Markdown', '/nosuch/-/schema.md', 'Database'],
    ['a table in a missing database', '/nosuch/dogs/-/schema.json', 'Database'],
    ['a missing table', '/data/nosuch/-/schema.md', 'Table'],
    ['an index, which is no table', '/data/dogs_name/-/schema.json', 'Table'],
    ['a trigger', '/data/dogs_log/-/schema.json', 'Table'],
    ['rowpost’s own table', '/data/_rowpost_idempotency/-/schema.json', 'Table'],
    ['SQLite’s own table', '/data/sqlite_stat1/-/schema.json', 'Table'],
    ['the catalogue', '/data/sqlite_master/-/schema.json', 'Table'],
    ['an injection attempt', `/data/${tildeEncode('dogs"; DROP TABLE dogs; --')}/-/schema.json`, 'Table'],
  ])('%s is a 404 in the JSON error envelope', async (_, path, what) => {
    const t = seeded()
    await expectJson(await t.get(path), 404, notFound(what))
    expect(t.rows('dogs')).toEqual([
      { id: 1, name: 'Cleo' },
      { id: 2, name: 'Pancakes' },
    ])
  })

  test('a private table is left out of its database’s schema with its index, and its own schema is a 403 view-table', async () => {
    const { t, other } = privateApp()
    await expectJson(await t.get('/data/-/schema.json'), 200, { ok: true, database: 'data', schema: DATA_SCHEMA })
    await expectJson(await t.get('/data/secrets/-/schema.json'), 403, denied('view-table'))
    await expectJson(await t.get('/data/secrets/-/schema.md'), 403, denied('view-table'))
    const secrets = { ok: true, database: 'data', table: 'secrets', schema: SECRETS }
    await expectJson(await t.get('/data/secrets/-/schema.json', 'root-token'), 200, secrets)
    await expectJson(await t.get('/other/-/schema.json'), 403, denied('view-database'))
    await expectJson(await t.get('/other/hush/-/schema.json'), 403, denied('view-database'))
    other.close()
  })

  test('--default-deny: every level is a 403 before any lookup, so a missing database looks like a hidden one', async () => {
    const t = seeded({ defaultDeny: true })
    const paths = ['/-/schema.json', '/-/schema.md', '/data/-/schema.json', '/no/-/schema.json', '/data/x/-/schema.md', '/x/y/-/schema.md']
    for (const path of paths) {
      await expectJson(await t.get(path), 403, denied('view-instance'))
    }
  })

  test('a signed token restricted to one table sees that table’s statements only', async () => {
    const t = seeded({ secret: SECRET })
    const token = mintToken(SECRET, { actorId: 'bot', restrictions: { r: { data: { dogs: ['vt'] } } } })
    const schema = [DOGS, DOGS_INDEX, TRIGGER].join(';\n')
    await expectJson(await t.get('/data/-/schema.json', token), 200, { ok: true, database: 'data', schema })
    await expectJson(await t.get('/data/dogs/-/schema.json', token), 200, { ok: true, database: 'data', table: 'dogs', schema: DOGS })
    await expectJson(await t.get('/data/owners/-/schema.json', token), 403, denied('view-table'))
  })

  test('other methods are not routes', async () => {
    const t = seeded()
    for (const path of ['/.json', '/-/schema.json', '/data/-/schema.json', '/data/dogs/-/schema.json']) {
      expect((await t.request('POST', path, '{}')).status).toBe(404)
    }
    expect(t.rows('dogs')).toHaveLength(2)
  })

  test('unknown query parameters are ignored, as in Datasette', async () => {
    const t = seeded()
    await expectJson(await t.get('/data/-/schema.json?_shape=array&x=1'), 200, { ok: true, database: 'data', schema: DATA_SCHEMA })
  })
})

describe('odd names', () => {
  test('quotes, spaces and unicode, tilde-encoded in the path', async () => {
    const t = makeApp()
    const name = 'it\'s "odd" café 🐕'
    const create = `CREATE TABLE "it's ""odd"" café 🐕" (id INTEGER PRIMARY KEY, "select" TEXT)`
    t.db.connection.run(create)
    const path = `/data/${tildeEncode(name)}/-/schema`
    await expectJson(await t.get(`${path}.json`), 200, { ok: true, database: 'data', table: name, schema: create })
    expect(await markdown(await t.get(`${path}.md`))).toBe(`# Schema for data.${name}\n\n\`\`\`sql\n${create}\n\`\`\`\n`)
    const [database] = await indexDatabases(t)
    expect(database!.tables_and_views_truncated[0]!.name).toBe(name)
  })

  test('a table named "-" has its own schema path; /<db>/-/schema.json stays the database’s, as in Datasette', async () => {
    const t = makeApp()
    t.db.connection.run('CREATE TABLE "-" (id INTEGER PRIMARY KEY, schema TEXT); INSERT INTO "-" VALUES (1, \'x\')')
    const create = 'CREATE TABLE "-" (id INTEGER PRIMARY KEY, schema TEXT)'
    await expectJson(await t.get('/data/-/-/schema.json'), 200, { ok: true, database: 'data', table: '-', schema: create })
    await expectJson(await t.get('/data/-/schema.json'), 200, { ok: true, database: 'data', schema: create })
    // The table's own pages still route to the read API.
    expect(await (await t.get('/data/-.json?_shape=array')).json()).toEqual([{ id: 1, schema: 'x' }])
    expect(await (await t.get('/data/-/1.json?_shape=array')).json()).toEqual([{ id: 1, schema: 'x' }])
  })

  test('a database named "-" is reached at /-/-/schema.json; /-/schema.json stays the instance’s', async () => {
    const dash = RowpostDatabase.open(join(tempDir(), '-.db'), { create: true })
    dash.connection.run('CREATE TABLE "-" (id INTEGER PRIMARY KEY)')
    const t = makeApp({ databases: [dash] })
    const create = 'CREATE TABLE "-" (id INTEGER PRIMARY KEY)'
    await expectJson(await t.get('/-/-/schema.json'), 200, { ok: true, database: '-', schema: create })
    await expectJson(await t.get('/-/-/-/schema.json'), 200, { ok: true, database: '-', table: '-', schema: create })
    expect(await markdown(await t.get('/-/-/-/schema.md'))).toBe(`# Schema for -.-\n\n\`\`\`sql\n${create}\n\`\`\`\n`)
    const schemas = [
      { database: '-', schema: create },
      { database: 'data', schema: '' },
    ]
    await expectJson(await t.get('/-/schema.json'), 200, { ok: true, schemas })
    const databases = await indexDatabases(t)
    const listed = databases.map((database) => [database.name, database.path, database.color])
    expect(listed).toEqual([
      ['-', '/-', '336d5e'],
      ['data', '/data', '8d777f'],
    ])
    expect((await t.get('/-.json')).status).toBe(200)
    dash.close()
  })

  test('/.json is the index, not a database named ""; /data.json is still the database', async () => {
    const t = seeded()
    expect(await indexDatabases(t)).toHaveLength(1)
    expect(((await (await t.get('/data.json')).json()) as { database: string }).database).toBe('data')
  })
})

describe('README', () => {
  test('every curl example of the README’s index and schema section works as written', async () => {
    const lines = docShellBlock('docs/api.md', '### The instance index and schemas')
    const commands = lines.filter((line) => line.startsWith('curl '))
    expect(commands).toHaveLength(4)
    const dir = tempDir()
    const file = new Database(join(dir, 'data.db'), { create: true })
    file.run(`${DOGS}; INSERT INTO dogs VALUES (1, 'Cleo'), (2, 'Pancakes')`)
    file.close()
    const server = await startServer(['data.db'], { cwd: dir })
    servers.push(server)
    const outputs = runAsWritten(commands, dir, server.url)
    // Each `# ...` line under a command is its exact output.
    for (const [i, command] of commands.entries()) {
      const next = lines[lines.indexOf(command) + 1]
      if (next?.startsWith('# ')) expect(JSON.parse(outputs[i]!)).toEqual(JSON.parse(next.slice(2)))
    }
    const index = JSON.parse(outputs[0]!) as { databases: IndexDatabase[] }
    expect(index.databases.map((database) => [database.name, database.tables_count])).toEqual([['data', 1]])
    expect(outputs[2]).toBe(`# Schema for data.dogs\n\n\`\`\`sql\n${DOGS}\n\`\`\`\n`)
    expect(outputs[3]).toBe(`# Schema for data\n\n\`\`\`sql\n${DOGS}\n\`\`\``)
  })
})
