/** POST /<db>/<table>/-/alter: every operation, Datasette's messages, one transaction, and the caches after a rename or rebuild. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { expectJson, makeApp, query, docShellBlock, tempDbPath, type TestApp } from './helpers'
import { killServersAfterEach, startServer } from './process'

/** dogs (with an index, a trigger, a view and a table pointing at it) and owners, in a fresh file. */
function seeded(options: Parameters<typeof makeApp>[0] = { unsafe: true }): TestApp {
  const t = makeApp(options)
  const c = t.db.connection
  c.run('CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT)')
  c.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age TEXT, owner INTEGER REFERENCES owners(id))')
  c.run('CREATE INDEX dogs_name ON dogs(name)')
  c.run("INSERT INTO owners VALUES (1, 'Ann')")
  c.run("INSERT INTO dogs VALUES (1, 'Cleo', '5', 1), (2, 'Pancakes', '', NULL), (7, 'Zed', '3', 1)")
  c.run('CREATE TABLE log (message TEXT)')
  c.run('CREATE TRIGGER dogs_log AFTER INSERT ON dogs BEGIN INSERT INTO log VALUES (new.name); END')
  c.run('CREATE VIEW dog_names AS SELECT name FROM dogs')
  c.run('CREATE TABLE walks (dog INTEGER REFERENCES dogs(id), km REAL)')
  return t
}

/** Everything in the file: its schema and every row of every table. */
function snapshot(t: TestApp) {
  const file = new Database(t.path, { readonly: true })
  try {
    const schema = file.query('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name').all() as Array<{ type: string; name: string }>
    const rows = Object.fromEntries(
      schema
        .filter((o) => o.type === 'table' && !o.name.startsWith('sqlite_'))
        .map((o) => [
          o.name,
          file
            .query(`SELECT * FROM "${o.name}"`)
            .all()
            .map((row) => JSON.stringify(row))
            .toSorted(),
        ]),
    )
    return { schema, rows }
  } finally {
    file.close()
  }
}

const alter = (t: TestApp, operations: unknown, table = 'dogs', token?: string) => t.post(`/data/${table}/-/alter`, { operations }, token)
const schemaOf = (t: TestApp, name: string) => (query(t, 'SELECT sql FROM sqlite_schema WHERE name = ?', [name])[0] as { sql: string } | undefined)?.sql
const info = (t: TestApp, table: string) => query(t, 'SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)', [table])
const foreignKeys = (t: TestApp, table: string) => query(t, 'SELECT "table", "from", "to" FROM pragma_foreign_key_list(?) ORDER BY "from"', [table])

describe('each operation changes the table and keeps its rows, indexes, triggers, views and foreign keys', () => {
  test('add_column adds columns with types, NOT NULL defaults and default expressions', async () => {
    const t = seeded()
    const response = await alter(t, [
      { op: 'add_column', args: { name: 'weight', type: 'float' } },
      { op: 'add_column', args: { name: 'good', type: 'integer', not_null: true, default: true } },
      { op: 'add_column', args: { name: 'it\'s "odd" ✓', default: "O'Neil" } },
    ])
    const body = await response.json()
    expect(response.status).toBe(200)
    expect(body).toEqual({
      ok: true,
      database: 'data',
      table: 'dogs',
      table_url: 'http://localhost/data/dogs',
      table_api_url: 'http://localhost/data/dogs.json',
      altered: true,
      schema: schemaOf(t, 'dogs'),
      before_schema: 'CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT NOT NULL, age TEXT, owner INTEGER REFERENCES owners(id))',
      operations_applied: 3,
    })
    expect(info(t, 'dogs')).toEqual([
      { name: 'id', type: 'INTEGER', notnull: 0, dflt_value: null, pk: 1 },
      { name: 'name', type: 'TEXT', notnull: 1, dflt_value: null, pk: 0 },
      { name: 'age', type: 'TEXT', notnull: 0, dflt_value: null, pk: 0 },
      { name: 'owner', type: 'INTEGER', notnull: 0, dflt_value: null, pk: 0 },
      { name: 'weight', type: 'REAL', notnull: 0, dflt_value: null, pk: 0 },
      { name: 'good', type: 'INTEGER', notnull: 1, dflt_value: '1', pk: 0 },
      { name: 'it\'s "odd" ✓', type: 'TEXT', notnull: 0, dflt_value: "'O''Neil'", pk: 0 },
    ])
    // As in Datasette: a NOT NULL default fills the existing rows; a plain default applies to rows inserted later.
    expect(t.rows('dogs').map((row) => [row.id, row.good, row['it\'s "odd" ✓']])).toEqual([
      [1, 1, null],
      [2, 1, null],
      [7, 1, null],
    ])
    expect(foreignKeys(t, 'dogs')).toEqual([{ table: 'owners', from: 'owner', to: 'id' }])
    expect(query(t, "SELECT name FROM sqlite_schema WHERE type IN ('index', 'trigger') ORDER BY name")).toEqual([{ name: 'dogs_log' }, { name: 'dogs_name' }])
  })

  test('a rebuild (alter_column) keeps rows and rowids, indexes, triggers that fire, views, and foreign keys both ways', async () => {
    const t = seeded()
    await expectJson(await alter(t, [{ op: 'alter_column', args: { name: 'age', type: 'integer', not_null: false, default: 0 } }]), 200, expect.anything())
    expect(schemaOf(t, 'dogs')).toBe(
      'CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT NOT NULL,\n   "age" INTEGER DEFAULT 0,\n   "owner" INTEGER REFERENCES "owners"("id")\n)',
    )
    // '' becomes null when text turns into a number, as sqlite-utils does it.
    expect(t.rows('dogs')).toEqual([
      { id: 1, name: 'Cleo', age: 5, owner: 1 },
      { id: 2, name: 'Pancakes', age: null, owner: null },
      { id: 7, name: 'Zed', age: 3, owner: 1 },
    ])
    expect(schemaOf(t, 'dogs_name')).toBe('CREATE INDEX dogs_name ON dogs(name)')
    expect(query(t, 'SELECT * FROM dog_names ORDER BY name')).toEqual([{ name: 'Cleo' }, { name: 'Pancakes' }, { name: 'Zed' }])
    expect(foreignKeys(t, 'walks')).toEqual([{ table: 'dogs', from: 'dog', to: 'id' }])
    expect(query(t, "SELECT name FROM sqlite_schema WHERE name LIKE '%_new_%'")).toEqual([])
    await expectJson(await t.post('/data/dogs/-/insert', { row: { id: 8, name: 'Rex' } }), 201, expect.anything())
    expect(t.rows('log')).toEqual([{ message: 'Rex' }])
    expect(t.rows('dogs').at(-1)).toEqual({ id: 8, name: 'Rex', age: 0, owner: null })
  })

  test("rename_column carries the new name into the index, trigger, view and other tables' foreign keys", async () => {
    const t = seeded()
    await expectJson(
      await alter(t, [
        { op: 'rename_column', args: { name: 'NAME', to: 'select' } },
        { op: 'rename_column', args: { name: 'id', to: 'dog id' } },
      ]),
      200,
      expect.anything(),
    )
    expect(info(t, 'dogs').map((column) => column.name)).toEqual(['dog id', 'select', 'age', 'owner'])
    expect(query(t, 'SELECT * FROM dog_names ORDER BY 1')).toEqual([{ select: 'Cleo' }, { select: 'Pancakes' }, { select: 'Zed' }])
    expect(query(t, 'SELECT name FROM pragma_index_info(?)', ['dogs_name'])).toEqual([{ name: 'select' }])
    expect(foreignKeys(t, 'walks')).toEqual([{ table: 'dogs', from: 'dog', to: 'dog id' }])
    await t.post('/data/dogs/-/insert', { row: { 'dog id': 9, select: 'Bo' } })
    expect(t.rows('log')).toEqual([{ message: 'Bo' }])
  })

  test('drop_column drops a column and the foreign keys on it', async () => {
    const t = seeded()
    await expectJson(
      await alter(t, [
        { op: 'drop_column', args: { name: 'owner' } },
        { op: 'drop_column', args: { name: 'age' } },
      ]),
      200,
      expect.anything(),
    )
    expect(t.rows('dogs')).toEqual([
      { id: 1, name: 'Cleo' },
      { id: 2, name: 'Pancakes' },
      { id: 7, name: 'Zed' },
    ])
    expect(foreignKeys(t, 'dogs')).toEqual([])
  })

  test('set_primary_key makes a compound key, and reorder_columns puts columns first', async () => {
    const t = seeded()
    await alter(t, [
      { op: 'set_primary_key', args: { columns: ['name', 'id'] } },
      { op: 'reorder_columns', args: { columns: ['age', 'name'] } },
    ])
    expect(schemaOf(t, 'dogs')).toBe(
      'CREATE TABLE "dogs" (\n   "age" TEXT,\n   "name" TEXT NOT NULL,\n   "id" INTEGER,\n   "owner" INTEGER REFERENCES "owners"("id"),\n   PRIMARY KEY ("name", "id")\n)',
    )
    expect(query(t, 'SELECT rowid, id FROM dogs ORDER BY rowid')).toEqual([
      { rowid: 1, id: 1 },
      { rowid: 2, id: 2 },
      { rowid: 7, id: 7 },
    ])
    await expectJson(await t.get('/data/dogs/Cleo,1.json?_shape=objects'), 200, expect.objectContaining({ primary_keys: ['name', 'id'] }))
  })

  test('add_foreign_key, drop_foreign_key and set_foreign_keys', async () => {
    const t = seeded()
    await alter(t, [
      { op: 'add_column', args: { name: 'vet', type: 'integer' } },
      { op: 'add_foreign_key', args: { column: 'vet', fk_table: 'owners', fk_column: 'id' } },
    ])
    expect(foreignKeys(t, 'dogs')).toEqual([
      { table: 'owners', from: 'owner', to: 'id' },
      { table: 'owners', from: 'vet', to: 'id' },
    ])
    await alter(t, [{ op: 'drop_foreign_key', args: { column: 'owner' } }])
    expect(foreignKeys(t, 'dogs')).toEqual([{ table: 'owners', from: 'vet', to: 'id' }])
    await alter(t, [
      {
        op: 'set_foreign_keys',
        args: {
          foreign_keys: [
            { column: 'owner', fk_table: 'owners' },
            { column: 'age', fk_table: 'dogs' },
          ],
        },
      },
    ])
    expect(foreignKeys(t, 'dogs')).toEqual([
      { table: 'dogs', from: 'age', to: 'id' },
      { table: 'owners', from: 'owner', to: 'id' },
    ])
    expect(t.rows('dogs')).toHaveLength(3)
  })

  test('rename_table moves the table, its view, trigger and the foreign keys pointing at it; table_count and /data.json follow', async () => {
    const t = seeded()
    const response = await alter(t, [{ op: 'rename_table', args: { to: 'hounds ✓' } }])
    expect(await response.json()).toMatchObject({ table: 'hounds ✓', table_url: 'http://localhost/data/hounds+~E2~9C~93' })
    expect(t.tables()).toEqual(['hounds ✓', 'log', 'owners', 'walks'])
    expect(query(t, 'SELECT count(*) AS n FROM dog_names')).toEqual([{ n: 3 }])
    expect(foreignKeys(t, 'walks')).toEqual([{ table: 'hounds ✓', from: 'dog', to: 'id' }])
    await expectJson(await t.post('/-/insert/data/hounds%20%E2%9C%93', { id: 20, name: 'New' }), 200, { table_count: 4 })
    await expectJson(await t.post('/-/insert/data/dogs', { id: 21, name: 'Other' }), 200, { table_count: 1 })
    const listing = (await (await t.get('/data.json')).json()) as { tables: Array<{ name: string; count: number }> }
    for (const table of listing.tables) expect(table.count).toBe((query(t, `SELECT count(*) AS n FROM "${table.name}"`)[0] as { n: number }).n)
    expect(listing.tables.map((table) => table.name)).toContain('hounds ✓')
  })

  test('counts stay exact across a rebuild in the same database the writer counted before', async () => {
    const t = seeded()
    await expectJson(await t.post('/-/insert/data/dogs', { id: 30, name: 'A' }), 200, { table_count: 4 })
    await alter(t, [
      { op: 'alter_column', args: { name: 'age', type: 'integer', default: 0 } },
      { op: 'rename_table', args: { to: 'dogs2' } },
    ])
    await expectJson(await t.post('/-/insert/data/dogs2', { id: 31, name: 'B', age: 'x' }), 200, { table_count: 5 })
  })

  test('an Idempotency-Key retry of an alter is replayed, not applied twice', async () => {
    const t = seeded()
    const send = () => t.post('/data/dogs/-/alter', { operations: [{ op: 'add_column', args: { name: 'x' } }] }, undefined, { 'idempotency-key': 'k1' })
    const first = await send()
    const before = snapshot(t)
    const second = await send()
    expect([second.status, second.headers.get('idempotent-replayed'), await second.json()]).toEqual([200, 'true', await first.json()])
    expect(snapshot(t)).toEqual(before)
  })

  test('altered is false when nothing changed', async () => {
    const t = seeded()
    await expectJson(await alter(t, [{ op: 'rename_table', args: { to: 'dogs' } }]), 200, expect.objectContaining({ altered: false, operations_applied: 1 }))
  })
})

const OPS =
  'add_column, rename_column, rename_table, alter_column, drop_column, set_primary_key, reorder_columns, add_foreign_key, drop_foreign_key, set_foreign_keys'
const TAG_ERROR = (tag: string) =>
  `operations.0: Input tag '${tag}' found using 'op' does not match any of the expected tags: ${OPS.split(', ')
    .map((op) => `'${op}'`)
    .join(', ')}`

describe('refusals leave the file unchanged', () => {
  test.each<[string, unknown, number, string[]]>([
    ['a body that is a list', [], 400, ['JSON must be a dictionary']],
    ['no operations', {}, 400, ['operations: Field required']],
    ['operations not a list', { operations: 'x' }, 400, ['operations: Input should be a valid list']],
    ['no operation at all', { operations: [] }, 400, ['operations: List should have at least 1 item after validation, not 0']],
    ['an unknown key', { operations: [{ op: 'drop_column', args: { name: 'age' } }], extra: 1 }, 400, ['extra: Extra inputs are not permitted']],
    ['an unknown op', { operations: [{ op: 'drop_table', args: {} }] }, 400, [TAG_ERROR('drop_table')]],
    ['an op that is null', { operations: [{ op: null }] }, 400, [TAG_ERROR('None')]],
    ['no op', { operations: [{ args: {} }] }, 400, ["operations.0: Unable to extract tag using discriminator 'op'"]],
    [
      'an operation that is a string',
      { operations: ['add_column'] },
      400,
      ['operations.0: Input should be a valid dictionary or object to extract fields from'],
    ],
    ['no args', { operations: [{ op: 'add_column' }] }, 400, ['operations.0.add_column.args: Field required']],
    [
      'args not an object',
      { operations: [{ op: 'alter_column', args: 'x' }] },
      400,
      ['operations.0.alter_column.args: Input should be a valid dictionary or instance of AlterColumnArgs'],
    ],
    [
      'wrong types, all reported',
      { operations: [{ op: 'add_column', args: { name: 1, type: 'date', not_null: 'maybe', zz: 1 } }] },
      400,
      [
        'operations.0.add_column.args.name: Input should be a valid string',
        "operations.0.add_column.args.type: Input should be 'text', 'integer', 'float' or 'blob'",
        'operations.0.add_column.args.not_null: Input should be a valid boolean, unable to interpret input',
        'operations.0.add_column.args.zz: Extra inputs are not permitted',
      ],
    ],
    [
      'a null boolean',
      { operations: [{ op: 'add_column', args: { name: 'a', not_null: null } }] },
      400,
      ['operations.0.add_column.args.not_null: Input should be a valid boolean'],
    ],
    [
      'an object default',
      { operations: [{ op: 'add_column', args: { name: 'a', default: { x: 1 } } }] },
      400,
      ['operations.0.add_column.args.default: Input should be a string, number, boolean or null'],
    ],
    [
      'default and default_expr',
      { operations: [{ op: 'alter_column', args: { name: 'age', default: 1, default_expr: 'current_date' } }] },
      400,
      ['operations.0.alter_column.args: Value error, default and default_expr cannot both be provided'],
    ],
    [
      'an unknown default_expr',
      { operations: [{ op: 'add_column', args: { name: 'a', default_expr: '1); DROP TABLE dogs; --' } }] },
      400,
      [
        "operations.0.add_column.args.default_expr: Input should be 'current_timestamp', 'current_date', 'current_time', 'current_unixtime' or 'current_unixtime_ms'",
      ],
    ],
    [
      'alter_column changing nothing',
      { operations: [{ op: 'alter_column', args: { name: 'age' } }] },
      400,
      ['operations.0.alter_column.args: Value error, At least one of type, not_null, default or default_expr must be provided'],
    ],
    [
      'an empty primary key',
      { operations: [{ op: 'set_primary_key', args: { columns: [] } }] },
      400,
      ['operations.0.set_primary_key.args.columns: List should have at least 1 item after validation, not 0'],
    ],
    [
      'fk_column without fk_table',
      { operations: [{ op: 'add_foreign_key', args: { column: 'age', fk_column: 'id' } }] },
      400,
      ['operations.0.add_foreign_key.args: fk_column requires fk_table'],
    ],
    [
      'a sqlite_ table name',
      { operations: [{ op: 'rename_table', args: { to: 'sqlite_x' } }] },
      400,
      ['operations.0.rename_table.args.to: Invalid table name'],
    ],
    ['an empty table name', { operations: [{ op: 'rename_table', args: { to: '' } }] }, 400, ['operations.0.rename_table.args.to: Invalid table name']],
    [
      'a table name with a newline',
      { operations: [{ op: 'rename_table', args: { to: 'a\nb' } }] },
      400,
      ['operations.0.rename_table.args.to: Invalid table name'],
    ],
    [
      'a reserved rowpost name',
      { operations: [{ op: 'rename_table', args: { to: '_rowpost_x' } }] },
      400,
      ['Table name "_rowpost_x" is reserved: names starting with _rowpost_ belong to rowpost'],
    ],
    [
      'a table name ending in a space',
      { operations: [{ op: 'rename_table', args: { to: 'dogs ' } }] },
      400,
      ['Table name "dogs " must not begin or end with white space'],
    ],
    [
      'renaming onto an existing table',
      { operations: [{ op: 'rename_table', args: { to: 'owners' } }] },
      400,
      ['there is already another table or index with this name: owners'],
    ],
    [
      'not_null without a default',
      { operations: [{ op: 'add_column', args: { name: 'z', not_null: true } }] },
      400,
      ['add_column args.default or args.default_expr is required when not_null is true'],
    ],
    ['a duplicate added column', { operations: [{ op: 'add_column', args: { name: 'NAME' } }] }, 400, ['duplicate column name: NAME']],
    ['an empty column name', { operations: [{ op: 'add_column', args: { name: '' } }] }, 400, ['Column name must not be empty']],
    ['renaming onto an existing column', { operations: [{ op: 'rename_column', args: { name: 'age', to: 'name' } }] }, 400, ['duplicate column name: name']],
    ['renaming an unknown column', { operations: [{ op: 'rename_column', args: { name: 'nope', to: 'x' } }] }, 400, ['No such column: nope']],
    [
      'dropping an unknown column',
      { operations: [{ op: 'drop_column', args: { name: '"; DROP TABLE dogs; --' } }] },
      400,
      ['No such column: "; DROP TABLE dogs; --'],
    ],
    ['retyping an unknown column', { operations: [{ op: 'alter_column', args: { name: 'select', type: 'text' } }] }, 400, ['No such column: select']],
    ['a primary key on an unknown column', { operations: [{ op: 'set_primary_key', args: { columns: ['nope'] } }] }, 400, ['No such column: nope']],
    ['reordering an unknown column', { operations: [{ op: 'reorder_columns', args: { columns: ['age', 'nope'] } }] }, 400, ['No such column: nope']],
    ['reordering a column twice', { operations: [{ op: 'reorder_columns', args: { columns: ['age', 'AGE'] } }] }, 400, ['Duplicate column name: age']],
    ['dropping the primary key column', { operations: [{ op: 'drop_column', args: { name: 'id' } }] }, 400, ['cannot drop PRIMARY KEY column: "id"']],
    [
      'dropping an indexed column',
      { operations: [{ op: 'drop_column', args: { name: 'name' } }] },
      400,
      [
        "Index 'dogs_name' column 'name' is not in updated table 'dogs'. You must manually drop this index prior to running this transformation and manually recreate the new index after running this transformation. The original index sql statement is: `CREATE INDEX dogs_name ON dogs(name)`. No changes have been applied to this table.",
      ],
    ],
    [
      'a foreign key to a missing table',
      { operations: [{ op: 'add_foreign_key', args: { column: 'age', fk_table: 'nope' } }] },
      400,
      ["Could not detect single primary key for table 'nope'"],
    ],
    [
      'a foreign key to a missing column',
      { operations: [{ op: 'add_foreign_key', args: { column: 'age', fk_table: 'owners', fk_column: 'zz' } }] },
      400,
      ['No such column: owners.zz'],
    ],
    [
      'a foreign key on an unknown column',
      { operations: [{ op: 'add_foreign_key', args: { column: 'nope', fk_table: 'owners' } }] },
      400,
      ['No such column: nope'],
    ],
    ['a primary key the rows break', { operations: [{ op: 'set_primary_key', args: { columns: ['owner'] } }] }, 400, ['UNIQUE constraint failed: dogs.owner']],
    [
      'NOT NULL on a column holding nulls',
      { operations: [{ op: 'alter_column', args: { name: 'owner', not_null: true } }] },
      400,
      ['NOT NULL constraint failed: dogs.owner'],
    ],
    [
      'a later operation failing after earlier ones succeeded',
      {
        operations: [
          { op: 'add_column', args: { name: 'w' } },
          { op: 'rename_column', args: { name: 'age', to: 'years' } },
          { op: 'rename_table', args: { to: 'hounds' } },
          { op: 'drop_column', args: { name: 'nope' } },
        ],
      },
      400,
      ['No such column: nope'],
    ],
    [
      'a rename that would collide after a rebuild and a table rename',
      {
        operations: [
          { op: 'alter_column', args: { name: 'age', type: 'integer' } },
          { op: 'rename_table', args: { to: 'owners' } },
        ],
      },
      400,
      ['there is already another table or index with this name: owners'],
    ],
  ])('%s', async (_name, body, status, errors) => {
    const t = seeded()
    const before = snapshot(t)
    const response = await t.post('/data/dogs/-/alter', body)
    expect({ status: response.status, errors: ((await response.json()) as { errors: string[] }).errors }).toEqual({ status, errors })
    expect(snapshot(t)).toEqual(before)
    await expectJson(await t.post('/-/insert/data/dogs', { id: 50, name: 'After' }), 200, { table_count: 4 })
  })

  test('a view that selects a dropped column refuses the drop', async () => {
    const t = seeded()
    t.db.connection.run('CREATE VIEW ages AS SELECT age FROM dogs')
    const before = snapshot(t)
    await expectJson(
      await alter(t, [{ op: 'drop_column', args: { name: 'age' } }]),
      400,
      expect.objectContaining({ errors: ['error in view ages: no such column: age'] }),
    )
    expect(snapshot(t)).toEqual(before)
  })

  test('a table using CHECK is not rebuilt, but can still gain and rename columns', async () => {
    const t = makeApp({ unsafe: true })
    t.db.connection.run('CREATE TABLE checked (id INTEGER PRIMARY KEY, n INTEGER CHECK (n > 0))')
    const before = snapshot(t)
    await expectJson(
      await alter(t, [{ op: 'alter_column', args: { name: 'n', type: 'text' } }], 'checked'),
      400,
      expect.objectContaining({
        errors: ['Table checked uses CHECK in its definition, which /-/alter cannot carry over when it rebuilds the table; nothing was changed'],
      }),
    )
    expect(snapshot(t)).toEqual(before)
    await expectJson(
      await alter(
        t,
        [
          { op: 'add_column', args: { name: 'm' } },
          { op: 'rename_column', args: { name: 'n', to: 'k' } },
        ],
        'checked',
      ),
      200,
      expect.anything(),
    )
    expect(t.columns('checked')).toEqual([
      ['id', 'INTEGER'],
      ['k', 'INTEGER'],
      ['m', 'TEXT'],
    ])
  })

  test('a missing table is a 404, an empty or oversized body a 400 or 413', async () => {
    const t = seeded({ unsafe: true, settings: { max_post_body_bytes: 100 } } as Parameters<typeof makeApp>[0])
    const before = snapshot(t)
    await expectJson(await alter(t, [{ op: 'drop_column', args: { name: 'age' } }], 'nope'), 404, expect.objectContaining({ errors: ['Table not found'] }))
    expect((await t.post('/data/dogs/-/alter', '')).status).toBe(400)
    expect((await t.post('/data/dogs/-/alter', { operations: [{ op: 'add_column', args: { name: 'x'.repeat(200) } }] })).status).toBe(413)
    expect(snapshot(t)).toEqual(before)
  })
})

describe('permissions', () => {
  const TOKENS = ['alter', 'reader', 'renamer'].map((id) => ({ token: `${id}-token`, actor: { id } }))
  const config = interpretMetadata({
    databases: {
      data: {
        permissions: { 'alter-table': { id: ['alter', 'renamer'] } },
        tables: { secret: { allow: { id: 'alter' } }, locked: { permissions: { 'alter-table': { id: 'renamer' } } } },
      },
    },
    plugins: { 'datasette-auth-tokens': { tokens: TOKENS } },
  })

  test('without alter-table: 403 "Permission denied: need alter-table" before the body is read, the file unchanged', async () => {
    const t = seeded({ config })
    const before = snapshot(t)
    await expectJson(
      await t.post('/data/dogs/-/alter', 'not json', 'reader-token'),
      403,
      expect.objectContaining({ errors: ['Permission denied: need alter-table'] }),
    )
    expect(snapshot(t)).toEqual(before)
  })

  test('a caller who may not view the table gets the same 403 whether it exists or not', async () => {
    const t = seeded({ config })
    t.db.connection.run('CREATE TABLE secret (id INTEGER PRIMARY KEY)')
    for (const table of ['secret', 'nope']) {
      const response = await t.post(`/data/${table}/-/alter`, { operations: [{ op: 'add_column', args: { name: 'x' } }] }, 'reader-token')
      expect(response.status).toBe(table === 'secret' ? 403 : 404)
    }
    const blind = await t.post('/-/insert/data/secret', {}, 'renamer-token')
    expect(blind.status).toBe(403)
    await expectJson(
      await t.post('/data/secret/-/alter', { operations: [{ op: 'add_column', args: { name: 'x' } }] }, 'renamer-token'),
      403,
      expect.objectContaining({
        errors: ['Permission denied: need view-table to see the altered schema'],
      }),
    )
    await expectJson(await t.post('/data/nope/-/alter', { operations: [{ op: 'add_column', args: { name: 'x' } }] }, 'renamer-token'), 404, expect.anything())
    expect(t.columns('secret')).toEqual([['id', 'INTEGER']])
  })

  test('rename_table needs alter-table on the new name; a foreign key needs view-table on its target', async () => {
    const t = seeded({ config })
    t.db.connection.run('CREATE TABLE secret (id INTEGER PRIMARY KEY)')
    const before = snapshot(t)
    await expectJson(
      await alter(t, [{ op: 'rename_table', args: { to: 'locked' } }], 'dogs', 'alter-token'),
      403,
      expect.objectContaining({
        errors: ['Permission denied: need alter-table on locked to rename a table to it'],
      }),
    )
    await expectJson(
      await alter(t, [{ op: 'add_foreign_key', args: { column: 'age', fk_table: 'secret' } }], 'dogs', 'renamer-token'),
      403,
      expect.objectContaining({
        errors: ['Permission denied: need view-table on secret to reference it in a foreign key'],
      }),
    )
    expect(snapshot(t)).toEqual(before)
    await expectJson(
      await alter(t, [{ op: 'rename_table', args: { to: 'locked' } }], 'dogs', 'renamer-token'),
      200,
      expect.objectContaining({ table: 'locked' }),
    )
  })

  test('an immutable database: 403 after the permission check', async () => {
    const path = tempDbPath('frozen')
    const setup = new Database(path, { create: true })
    setup.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY)')
    setup.close()
    const rootConfig = interpretMetadata({ permissions: { 'alter-table': { id: 'alter' } }, plugins: { 'datasette-auth-tokens': { tokens: TOKENS } } })
    const t = makeApp({ config: rootConfig, databases: [RowpostDatabase.open(path, { immutable: true })] })
    const ops = { operations: [{ op: 'add_column', args: { name: 'x' } }] }
    await expectJson(
      await t.post('/frozen/dogs/-/alter', ops, 'reader-token'),
      403,
      expect.objectContaining({ errors: ['Permission denied: need alter-table'] }),
    )
    await expectJson(await t.post('/frozen/dogs/-/alter', ops, 'alter-token'), 403, expect.objectContaining({ errors: ['Database is immutable'] }))
  })
})

describe('the README', () => {
  test('every /-/alter curl example works as written', async () => {
    const section = docShellBlock('docs/api.md', '## Changing a table: `/-/alter`').join('\n')
    const calls = [...section.matchAll(/^curl -H "\$H" \$B(\S+) -d '(.*)'$/gm)]
    expect(calls).toHaveLength(4)
    const t = makeApp({ unsafe: true })
    for (const [, path, body] of calls) expect((await t.post(path!, body!)).status).toBeLessThan(300)
    expect(t.tables()).toEqual(['hounds'])
    expect(t.rows('hounds')).toEqual([
      { weight: null, id: 1, title: 'Cleo', age: 5 },
      { weight: null, id: 2, title: 'Pancakes', age: null },
    ])
  })
})

describe('over a socket', () => {
  killServersAfterEach()
  test('a real server alters a table and a second request sees the new schema', async () => {
    const path = tempDbPath()
    const setup = new Database(path, { create: true })
    setup.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
    setup.run("INSERT INTO dogs VALUES (1, 'Cleo')")
    setup.close()
    const server = await startServer([path, '--unsafe'])
    const response = await fetch(`${server.url}/data/dogs/-/alter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        operations: [
          { op: 'rename_column', args: { name: 'name', to: 'title' } },
          { op: 'rename_table', args: { to: 'hounds' } },
        ],
      }),
    })
    expect(await response.json()).toMatchObject({ ok: true, table: 'hounds', table_url: `${server.url}/data/hounds`, operations_applied: 2 })
    const rows = await (await fetch(`${server.url}/data/hounds.json?_shape=array`)).json()
    expect(rows).toEqual([{ id: 1, title: 'Cleo' }])
  })
})
