/** Who may write through the legacy API (API.md §4): tokens, 0.x and 1.0 configuration, and the allow-block rules underneath. */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, interpretMetadata, loadConfig } from '../lib/config'
import { actorMatches, allowed, type Actor, type AllowBlock, type Policy } from '../lib/permissions'
import { eachBackend, type BackendApp } from './backends'
import { tempDir } from './helpers'

// Removing this file's PostgreSQL cluster (a database per test) takes longer than bun's 5 s hook default.
setDefaultTimeout(60_000)

async function expectJson(response: Response, status: number, body: unknown) {
  expect({ status: response.status, body: await response.json() }).toEqual({ status, body })
}

const TOKENS = [
  { token: 'alice-token', actor: { id: 'alice' } },
  { token: 'bob-token', actor: { id: 'bob' } },
  { token: 'bot-token', actor: { bot: 'insert-bot' } },
]
const withTokens = (document: Record<string, unknown>) =>
  interpretMetadata({ ...document, plugins: { ...(document.plugins as object), 'datasette-auth-tokens': { tokens: TOKENS } } })

const PERMISSION_DENIED = { error: 'Permission denied', status: 403 }
const ALTER_DENIED = { error: 'Alter permission denied', status: 403 }
const INVALID_TOKEN = { status: 401, error: 'Invalid token', error_code: 'invalid_token' }
const missingTable = (table: string) => ({ status: 400, error: `Table ${table} does not exist`, error_code: 'missing_table' })

const SEED = {
  columns: [
    ['id', 'INTEGER'],
    ['name', 'TEXT'],
  ],
  rows: [{ id: 1, name: 'Cleopaws' }],
}

/** Creates dogs (and cats) with one row each, behind the app's back, so no permission is involved. */
async function seed(t: BackendApp, ...tables: string[]) {
  for (const table of tables) {
    await t.exec(`CREATE TABLE ${table} (id INTEGER PRIMARY KEY, name TEXT)`)
    await t.exec(`INSERT INTO ${table} VALUES (1, 'Cleopaws')`)
  }
}

type Level = 'the 0.x plugin allow block' | 'a root permissions block' | 'a database permissions block' | 'a table permissions block'
type Operation = 'insert into an existing table' | 'create a missing table' | 'alter a table'

/** Grants `actions` to `allow` at one level of a 1.0 configuration. */
function atLevel(level: Level, actions: Record<string, AllowBlock>): Record<string, unknown> {
  if (level === 'a root permissions block') return { permissions: actions }
  if (level === 'a database permissions block') return { databases: { data: { permissions: actions } } }
  return { databases: { data: { tables: { dogs: { permissions: actions } } } } }
}

const ALICE = { id: 'alice' }
const ALICE_AND_BOB = { id: ['alice', 'bob'] }

/** Configuration where alice holds the action(s) under test, and bob holds everything the operation needs except those. */
function configFor(level: Level, operation: Operation) {
  if (level === 'the 0.x plugin allow block') return withTokens({ plugins: { 'datasette-insert': { allow: ALICE } } })
  if (operation === 'insert into an existing table') return withTokens(atLevel(level, { 'insert-row': ALICE, 'update-row': ALICE }))
  const tested = operation === 'create a missing table' ? 'create-table' : 'alter-table'
  return withTokens(atLevel(level, { 'insert-row': ALICE_AND_BOB, 'update-row': ALICE_AND_BOB, [tested]: ALICE }))
}

const OPERATIONS: Record<Operation, { seeded: boolean; path: string; row: Record<string, unknown>; after: Record<string, unknown> }> = {
  'insert into an existing table': {
    seeded: true,
    path: '/-/insert/data/dogs',
    row: { id: 2, name: 'Pancakes' },
    after: { dogs: { columns: SEED.columns, rows: [...SEED.rows, { id: 2, name: 'Pancakes' }] } },
  },
  'create a missing table': {
    seeded: false,
    path: '/-/insert/data/dogs?pk=id',
    row: { id: 2, name: 'Pancakes' },
    after: { dogs: { columns: SEED.columns, rows: [{ id: 2, name: 'Pancakes' }] } },
  },
  'alter a table': {
    seeded: true,
    path: '/-/insert/data/dogs?alter=1',
    row: { id: 2, name: 'Pancakes', breed: 'Husky' },
    after: {
      dogs: {
        columns: [...SEED.columns, ['breed', 'TEXT']],
        rows: [
          { ...SEED.rows[0], breed: null },
          { id: 2, name: 'Pancakes', breed: 'Husky' },
        ],
      },
    },
  },
}

type Caller = 'anonymous' | 'an unknown token' | 'a token without the action' | 'a token with the action'
const CALLERS: Record<Caller, string | undefined> = {
  anonymous: undefined,
  'an unknown token': 'mallory-token',
  'a token without the action': 'bob-token',
  'a token with the action': 'alice-token',
}

function expected(level: Level, operation: Operation, caller: Caller): { status: number; body: unknown } {
  if (caller === 'anonymous') return { status: 403, body: PERMISSION_DENIED }
  if (caller === 'an unknown token') return { status: 401, body: INVALID_TOKEN }
  if (caller === 'a token with the action') return { status: 200, body: { table_count: operation === 'create a missing table' ? 1 : 2 } }
  if (level === 'the 0.x plugin allow block' || operation === 'insert into an existing table') return { status: 403, body: PERMISSION_DENIED }
  return operation === 'create a missing table' ? { status: 400, body: missingTable('dogs') } : { status: 403, body: ALTER_DENIED }
}

const LEVELS: Level[] = ['the 0.x plugin allow block', 'a root permissions block', 'a database permissions block', 'a table permissions block']
const MATRIX = LEVELS.flatMap((level) =>
  (Object.keys(OPERATIONS) as Operation[])
    // create-table is a database-level action: a table block cannot grant it (tested separately below).
    .filter((operation) => !(level === 'a table permissions block' && operation === 'create a missing table'))
    .flatMap((operation) => (Object.keys(CALLERS) as Caller[]).map((caller) => [level, operation, caller] as const)),
)

/** Writes metadata.json (and any extra files) into a fresh folder; returns the metadata path. */
function metadataFile(document: unknown, files: Record<string, string> = {}): string {
  const dir = tempDir()
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true })
    writeFileSync(join(dir, name), text)
  }
  const path = join(dir, 'metadata.json')
  writeFileSync(path, JSON.stringify(document, null, 2))
  return path
}

const README_METADATA = {
  plugins: {
    'datasette-insert': { allow: { bot: 'insert-bot' } },
    'datasette-auth-tokens': { tokens: [{ token: { $env: 'INSERT_TOKEN' }, actor: { bot: 'insert-bot' } }] },
  },
}

eachBackend((backend) => {
  describe('the permission matrix', () => {
    test.each(MATRIX)('with %s, to %s, %s', async (level, operation, caller) => {
      const t = await backend.makeApp({ config: configFor(level, operation) })
      const { seeded, path, row, after } = OPERATIONS[operation]
      if (seeded) await seed(t, 'dogs')
      const before = await t.snapshot()
      expect(before).toEqual(seeded ? { dogs: SEED } : {})
      const response = await t.post(path, [row], CALLERS[caller])
      const { status, body } = expected(level, operation, caller)
      if (status === 401) expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      await expectJson(response, status, body)
      expect(await t.snapshot()).toEqual(status === 200 ? after : before)
    })

    test('a create-table grant in a table block does not let anyone create that table', async () => {
      const t = await backend.makeApp({
        config: withTokens({
          permissions: { 'insert-row': true, 'update-row': true },
          databases: { data: { tables: { dogs: { permissions: { 'create-table': true } } } } },
        }),
      })
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 1 }], 'alice-token'), 400, missingTable('dogs'))
      expect(await t.tables()).toEqual([])
    })
  })

  describe('insert and upsert need both insert-row and update-row', () => {
    test.each([
      ['insert', 'insert-row only', { 'insert-row': true }, 403],
      ['insert', 'update-row only', { 'update-row': true }, 403],
      ['insert', 'both', { 'insert-row': true, 'update-row': true }, 200],
      ['upsert', 'insert-row only', { 'insert-row': true }, 403],
      ['upsert', 'update-row only', { 'update-row': true }, 403],
      ['upsert', 'both', { 'insert-row': true, 'update-row': true }, 200],
    ] as const)('%s with %s', async (verb, _name, actions, status) => {
      const t = await backend.makeApp({ config: withTokens({ permissions: actions }) })
      await seed(t, 'dogs')
      const response = await t.post(`/-/${verb}/data/dogs?pk=id`, [{ id: 1, name: 'Cleo' }], 'bob-token')
      if (status === 403) {
        await expectJson(response, 403, PERMISSION_DENIED)
        expect(await t.snapshot()).toEqual({ dogs: SEED })
      } else {
        await expectJson(response, 200, { table_count: 1 })
        expect(await t.snapshot()).toEqual({ dogs: { columns: SEED.columns, rows: [{ id: 1, name: 'Cleo' }] } })
      }
    })
  })

  describe('the most specific level that mentions an action wins', () => {
    const insertUpdate = (allow: AllowBlock) => ({ 'insert-row': allow, 'update-row': allow })
    test.each([
      [
        'a database block narrows a root grant',
        { permissions: insertUpdate(true), databases: { data: { permissions: insertUpdate(ALICE) } } },
        'bob-token',
        'dogs',
        403,
      ],
      [
        'the root grant still covers the other caller',
        { permissions: insertUpdate(true), databases: { data: { permissions: insertUpdate(ALICE) } } },
        'alice-token',
        'dogs',
        200,
      ],
      [
        'a table block widens a database denial',
        { databases: { data: { permissions: insertUpdate(false), tables: { dogs: { permissions: insertUpdate({ id: 'bob' }) } } } } },
        'bob-token',
        'dogs',
        200,
      ],
      [
        'the database denial still covers other tables',
        { databases: { data: { permissions: insertUpdate(false), tables: { dogs: { permissions: insertUpdate({ id: 'bob' }) } } } } },
        'bob-token',
        'cats',
        403,
      ],
      [
        'a table block overrides the root for its table',
        { permissions: insertUpdate(ALICE), databases: { data: { tables: { dogs: { permissions: insertUpdate({ id: 'bob' }) } } } } },
        'alice-token',
        'dogs',
        403,
      ],
      [
        'the root still decides for other tables',
        { permissions: insertUpdate(ALICE), databases: { data: { tables: { dogs: { permissions: insertUpdate({ id: 'bob' }) } } } } },
        'alice-token',
        'cats',
        200,
      ],
      [
        'a level mentioning other actions only does not shadow the root',
        { permissions: insertUpdate({ id: 'bob' }), databases: { data: { permissions: { 'alter-table': ALICE } } } },
        'bob-token',
        'dogs',
        200,
      ],
      ['a block for another database does not apply', { databases: { other: { permissions: insertUpdate({ id: 'bob' }) } } }, 'bob-token', 'dogs', 403],
      [
        'a block for another table does not apply',
        { databases: { data: { tables: { cats: { permissions: insertUpdate({ id: 'bob' }) } } } } },
        'bob-token',
        'dogs',
        403,
      ],
      [
        'the 0.x allow block and a root block each grant',
        { permissions: insertUpdate(ALICE), plugins: { 'datasette-insert': { allow: { id: 'bob' } } } },
        'bob-token',
        'dogs',
        200,
      ],
      [
        'a database block decides over the 0.x allow block',
        { databases: { data: { permissions: insertUpdate(ALICE) } }, plugins: { 'datasette-insert': { allow: { id: 'bob' } } } },
        'bob-token',
        'dogs',
        403,
      ],
    ] as const)('%s', async (_name, document, token, table, status) => {
      const t = await backend.makeApp({ config: withTokens(document) })
      await seed(t, 'dogs', 'cats')
      const response = await t.post(`/-/insert/data/${table}`, [{ id: 2, name: 'Pancakes' }], token)
      if (status === 403) {
        await expectJson(response, 403, PERMISSION_DENIED)
        expect(await t.snapshot()).toEqual({ cats: SEED, dogs: SEED })
      } else {
        await expectJson(response, 200, { table_count: 2 })
        const written = { columns: SEED.columns, rows: [...SEED.rows, { id: 2, name: 'Pancakes' }] }
        expect(await t.snapshot()).toEqual({ cats: SEED, dogs: SEED, [table]: written })
      }
    })
  })

  describe('table blocks apply to the table whatever the case of its name in the URL', () => {
    const insertUpdate = (allow: AllowBlock) => ({ 'insert-row': allow, 'update-row': allow })
    test.each([
      [
        'a deny on dogs holds for /-/insert/data/DOGS',
        { permissions: insertUpdate(true), databases: { data: { tables: { dogs: { permissions: insertUpdate(false) } } } } },
        'DOGS',
        403,
      ],
      [
        'a deny on dogs holds for /-/insert/data/Dogs',
        { permissions: insertUpdate(true), databases: { data: { tables: { dogs: { permissions: insertUpdate(false) } } } } },
        'Dogs',
        403,
      ],
      [
        'a deny written for DOGS holds for /-/insert/data/dogs',
        { permissions: insertUpdate(true), databases: { data: { tables: { DOGS: { permissions: insertUpdate(false) } } } } },
        'dogs',
        403,
      ],
      ['a grant written for Dogs admits /-/insert/data/dOGS', { databases: { data: { tables: { Dogs: { permissions: insertUpdate(true) } } } } }, 'dOGS', 200],
      [
        'an alter deny on dogs holds for ?alter=1 on DOGS',
        { permissions: { ...insertUpdate(true), 'alter-table': true }, databases: { data: { tables: { dogs: { permissions: { 'alter-table': false } } } } } },
        'DOGS?alter=1',
        403,
      ],
    ] as const)('%s', async (_name, document, target, status) => {
      const t = await backend.makeApp({ config: withTokens(document) })
      await seed(t, 'dogs')
      const response = await t.post(
        `/-/insert/data/${target}`,
        [{ id: 2, name: 'Pancakes', ...(target.includes('alter') ? { breed: 'Husky' } : {}) }],
        'bob-token',
      )
      if (status === 403) {
        await expectJson(response, 403, target.includes('alter') ? ALTER_DENIED : PERMISSION_DENIED)
        expect(await t.snapshot()).toEqual({ dogs: SEED })
      } else {
        await expectJson(response, 200, { table_count: 2 })
        expect(await t.snapshot()).toEqual({ dogs: { columns: SEED.columns, rows: [...SEED.rows, { id: 2, name: 'Pancakes' }] } })
      }
    })
  })

  describe('allow blocks over HTTP', () => {
    const grant = (allow: AllowBlock) => withTokens({ permissions: { 'insert-row': allow, 'update-row': allow } })
    test.each([
      ['{"unauthenticated": true} admits the anonymous caller', { unauthenticated: true }, undefined, 200],
      ['{"unauthenticated": true} refuses a signed-in caller', { unauthenticated: true }, 'alice-token', 403],
      ['{"id": "*"} admits any actor with an id', { id: '*' }, 'bob-token', 200],
      ['{"id": "*"} refuses an actor without an id', { id: '*' }, 'bot-token', 403],
      ['{"id": "*"} refuses the anonymous caller', { id: '*' }, undefined, 403],
      ['the plugin README block {"bot": "insert-bot"} admits the bot', { bot: 'insert-bot' }, 'bot-token', 200],
      ['false refuses everyone', false, 'alice-token', 403],
      ['true admits the anonymous caller', true, undefined, 200],
    ] as const)('%s', async (_name, allow, token, status) => {
      const t = await backend.makeApp({ config: grant(allow) })
      await seed(t, 'dogs')
      const response = await t.post('/-/insert/data/dogs', [{ id: 2, name: 'Pancakes' }], token)
      if (status === 403) {
        await expectJson(response, 403, PERMISSION_DENIED)
        expect(await t.snapshot()).toEqual({ dogs: SEED })
      } else {
        await expectJson(response, 200, { table_count: 2 })
        expect(await t.snapshot()).toEqual({ dogs: { columns: SEED.columns, rows: [...SEED.rows, { id: 2, name: 'Pancakes' }] } })
      }
    })

    test('--unsafe lets an anonymous caller create, insert and alter', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await expectJson(await t.post('/-/insert/data/dogs?pk=id', [{ id: 1, name: 'Cleopaws' }]), 200, { table_count: 1 })
      await expectJson(await t.post('/-/insert/data/dogs?alter=1', [{ id: 2, name: 'Pancakes', breed: 'Husky' }]), 200, { table_count: 2 })
      expect(await t.snapshot()).toEqual({
        dogs: {
          columns: [...SEED.columns, ['breed', 'TEXT']],
          rows: [
            { ...SEED.rows[0], breed: null },
            { id: 2, name: 'Pancakes', breed: 'Husky' },
          ],
        },
      })
    })
  })

  describe('bearer tokens', () => {
    const config = () => withTokens({ plugins: { 'datasette-insert': { allow: ALICE } } })

    test.each(['Bearer alice-token', 'bearer alice-token', 'BEARER alice-token', 'bEaReR alice-token', 'Bearer   alice-token', 'Bearer\talice-token '])(
      'the header %p authenticates',
      async (authorization) => {
        const t = await backend.makeApp({ config: config() })
        await expectJson(await t.request('POST', '/-/insert/data/dogs?pk=id', '{"id": 1, "name": "Cleopaws"}', { authorization }), 200, { table_count: 1 })
        expect(await t.snapshot()).toEqual({ dogs: SEED })
      },
    )

    test.each(['Bearer alice', 'Bearer alice-token-2', 'Bearer ALICE-TOKEN', 'Bearer bob-token alice-token'])(
      'the header %p matches no token: 401 with WWW-Authenticate',
      async (authorization) => {
        const t = await backend.makeApp({ config: config() })
        const response = await t.request('POST', '/-/insert/data/dogs?pk=id', '{"id": 1}', { authorization })
        expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
        await expectJson(response, 401, INVALID_TOKEN)
        expect(await t.tables()).toEqual([])
      },
    )

    test('an unknown token is refused even where anonymous callers may write', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const response = await t.post('/-/insert/data/dogs', [{ id: 1 }], 'anything')
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      await expectJson(response, 401, INVALID_TOKEN)
      expect(await t.tables()).toEqual([])
    })

    test('a non-bearer Authorization header leaves the caller anonymous', async () => {
      const t = await backend.makeApp({ config: config() })
      await expectJson(await t.request('POST', '/-/insert/data/dogs', '{"id": 1}', { authorization: 'Basic YWxpY2U6YWxpY2UtdG9rZW4=' }), 403, PERMISSION_DENIED)
      expect(await t.tables()).toEqual([])
    })
  })

  describe('tokens from $env and $file', () => {
    test('the README metadata with INSERT_TOKEN=abc123 admits Bearer abc123 and refuses anything else', async () => {
      const config = loadConfig(metadataFile(README_METADATA), { INSERT_TOKEN: 'abc123' })
      const t = await backend.makeApp({ config })
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 3, name: 'Boris', age: 1, breed: 'Husky' }], 'abc123'), 200, { table_count: 1 })
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 4 }], 'INSERT_TOKEN'), 401, INVALID_TOKEN)
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 4 }]), 403, PERMISSION_DENIED)
      expect(await t.rows('dogs')).toEqual([{ id: 3, name: 'Boris', age: 1, breed: 'Husky' }])
    })

    test('a $file token drops one trailing newline, relative to the metadata file', async () => {
      const document = {
        plugins: {
          'datasette-insert': { allow: { id: 'filebot' } },
          'datasette-auth-tokens': { tokens: [{ token: { $file: 'secrets/token.txt' }, actor: { id: 'filebot' } }] },
        },
      }
      const config = loadConfig(metadataFile(document, { 'secrets/token.txt': 'from-a-file\n' }), {})
      expect(config.tokens).toEqual([{ token: 'from-a-file', actor: { id: 'filebot' } }])
      const t = await backend.makeApp({ config })
      await expectJson(await t.post('/-/insert/data/dogs', [{ id: 1 }], 'from-a-file'), 200, { table_count: 1 })
      expect(await t.rows('dogs')).toEqual([{ id: 1 }])
    })
  })
})

// Startup and the permission rules themselves: no database is involved.
describe('tokens from $env and $file', () => {
  test('an unset $env variable stops startup with an error naming it', () => {
    const path = metadataFile(README_METADATA)
    expect(() => loadConfig(path, { OTHER: 'x' })).toThrow(
      new ConfigError('Environment variable INSERT_TOKEN is not set (referenced by {"$env": "INSERT_TOKEN"})'),
    )
  })

  test('a missing $file stops startup with an error naming it', () => {
    const document = { plugins: { 'datasette-auth-tokens': { tokens: [{ token: { $file: 'nope.txt' }, actor: { id: 'x' } }] } } }
    const path = metadataFile(document)
    expect(() => loadConfig(path, {})).toThrow(new ConfigError('File nope.txt does not exist (referenced by {"$file": "nope.txt"})'))
  })

  test('an empty $env variable is not a usable token', () => {
    const path = metadataFile(README_METADATA)
    expect(() => loadConfig(path, { INSERT_TOKEN: '' })).toThrow(ConfigError)
  })
})

describe('actorMatches: Datasette’s allow-block rules', () => {
  test.each<[string, Actor, AllowBlock, boolean]>([
    ['true admits anyone', { id: 'x' }, true, true],
    ['true admits the anonymous actor', null, true, true],
    ['false refuses anyone', { id: 'root' }, false, false],
    ['an equal value matches', { id: 'root' }, { id: 'root' }, true],
    ['a different value does not', { id: 'other' }, { id: 'root' }, false],
    ['the anonymous actor matches no key', null, { id: 'root' }, false],
    ['"*" matches any value of a key the actor has', { id: 'anyone' }, { id: '*' }, true],
    ['"*" matches even a null value the actor has', { id: null }, { id: '*' }, true],
    ['"*" does not match an actor lacking the key', { bot: 'x' }, { id: '*' }, false],
    ['"*" does not match the anonymous actor', null, { id: '*' }, false],
    ['a list of wanted values is an OR (hit)', { id: 'b' }, { id: ['a', 'b'] }, true],
    ['a list of wanted values is an OR (miss)', { id: 'c' }, { id: ['a', 'b'] }, false],
    ['a list in the actor matches any of its items', { roles: ['staff', 'admin'] }, { roles: 'admin' }, true],
    ['lists on both sides intersect', { roles: ['staff', 'admin'] }, { roles: ['root', 'admin'] }, true],
    ['several keys are an OR', { bot: 'insert-bot' }, { id: 'root', bot: 'insert-bot' }, true],
    ['several keys, none matching', { bot: 'other' }, { id: 'root', bot: 'insert-bot' }, false],
    ['{"unauthenticated": true} matches the anonymous actor', null, { unauthenticated: true }, true],
    ['{"unauthenticated": true} does not match a signed-in actor', { id: 'x' }, { unauthenticated: true }, false],
    ['{"unauthenticated": false} does not match the anonymous actor', null, { unauthenticated: false }, false],
    ['an empty block matches no one', { id: 'x' }, {}, false],
    ['values are compared strictly: 1 is not "1"', { id: 1 }, { id: '1' }, false],
    ['numbers match numbers', { id: 1 }, { id: 1 }, true],
    ['a nested object never matches, even an equal one', { id: { a: 1 } }, { id: { a: 1 } }, false],
    ['a nested list never matches, even an equal one', { roles: [['admin']] }, { roles: [['admin']] }, false],
    ['a nested list in the block does not match its inner value', { id: 'a' }, { id: [['a']] }, false],
    ['an object in the block does not match', { id: 'a' }, { id: { $in: ['a'] } }, false],
    ['a null in the block does not match a null in the actor', { id: null }, { id: null }, false],
    ['an inherited property is not the actor’s', { id: 'x' }, { toString: '*' }, false],
  ])('%s', (_name, actor, allow, matches) => {
    expect(actorMatches(actor, allow)).toBe(matches)
  })
})

describe('allowed: grants across levels', () => {
  const policy = (overrides: Partial<Policy> = {}): Policy => ({ root: {}, databases: {}, unsafe: false, defaultDeny: false, ...overrides })
  const alice = { id: 'alice' }
  const writes = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table'] as const

  test('every write is denied by default and every read allowed', () => {
    expect(writes.map((action) => allowed(policy(), alice, action, { database: 'data', table: 'dogs' }))).toEqual(writes.map(() => false))
    expect(
      ['view-instance', 'view-database', 'view-table'].map((action) => allowed(policy(), null, action as never, { database: 'data', table: 'dogs' })),
    ).toEqual([true, true, true])
  })

  test('--default-deny also denies reads', () => {
    expect(allowed(policy({ defaultDeny: true }), alice, 'view-table', { database: 'data', table: 'dogs' })).toBe(false)
  })

  test('--unsafe allows every action to everyone', () => {
    expect(writes.map((action) => allowed(policy({ unsafe: true, defaultDeny: true }), null, action, { database: 'data' }))).toEqual(writes.map(() => true))
  })

  test('the 0.x allow block grants all six write actions on every database, and nothing to others', () => {
    const p = policy({ legacyInsertAllow: { id: 'alice' } })
    expect(writes.map((action) => allowed(p, alice, action, { database: 'any', table: 't' }))).toEqual(writes.map(() => true))
    expect(writes.map((action) => allowed(p, { id: 'bob' }, action, { database: 'any', table: 't' }))).toEqual(writes.map(() => false))
  })

  test('the 0.x allow block does not open reads under --default-deny', () => {
    expect(allowed(policy({ legacyInsertAllow: true, defaultDeny: true }), alice, 'view-table', { database: 'data', table: 'dogs' })).toBe(false)
  })

  test('the most specific level that mentions the action decides', () => {
    const p = policy({
      root: { permissions: { 'insert-row': true } },
      databases: { data: { permissions: { 'insert-row': { id: 'alice' } }, tables: { dogs: { permissions: { 'insert-row': { id: 'bob' } } } } } },
    })
    expect([
      allowed(p, alice, 'insert-row', { database: 'other', table: 'dogs' }),
      allowed(p, { id: 'bob' }, 'insert-row', { database: 'data', table: 'cats' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'cats' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'dogs' }),
      allowed(p, { id: 'bob' }, 'insert-row', { database: 'data', table: 'dogs' }),
      allowed(p, alice, 'insert-row', { database: 'data' }),
    ]).toEqual([true, false, true, false, true, true])
  })

  test('an allow block restricts the view action of its level, not writes', () => {
    const p = policy({ databases: { data: { allow: { id: 'alice' }, tables: {} } } })
    expect([
      allowed(p, { id: 'bob' }, 'view-database', { database: 'data' }),
      allowed(p, alice, 'view-database', { database: 'data' }),
      allowed(p, alice, 'insert-row', { database: 'data' }),
    ]).toEqual([false, true, false])
  })

  test('a table block is found by its exact name first, else ignoring ASCII case as SQLite does', () => {
    const p = policy({
      databases: {
        data: {
          tables: {
            dogs: { permissions: { 'insert-row': { id: 'alice' } } },
            DOGS: { permissions: { 'insert-row': { id: 'bob' } } },
            Élan: { permissions: { 'insert-row': true } },
          },
        },
      },
    })
    expect([
      allowed(p, alice, 'insert-row', { database: 'data', table: 'dogs' }),
      allowed(p, { id: 'bob' }, 'insert-row', { database: 'data', table: 'DOGS' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'Dogs' }),
      allowed(p, { id: 'bob' }, 'insert-row', { database: 'data', table: 'Dogs' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'ÉLAN' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'éLAN' }),
    ]).toEqual([true, true, true, false, true, false])
  })

  test('names like __proto__ and constructor find no inherited grant', () => {
    const loaded = interpretMetadata({ databases: { data: { tables: { dogs: { permissions: { 'insert-row': true } } } } } })
    const p = { ...loaded.policy, unsafe: false, defaultDeny: false }
    expect([
      allowed(p, alice, 'insert-row', { database: '__proto__', table: 'dogs' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'constructor' }),
      allowed(p, alice, 'insert-row', { database: 'data', table: 'dogs' }),
    ]).toEqual([false, false, true])
  })
})
