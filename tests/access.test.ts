/**
 * Access to a table through the write routes, as a stranger probed it: rows sent back by writes, /-/create on an
 * existing or referenced table, 404s that would name private rows, Idempotency-Key replays, and the names a rule or a
 * token restriction covers (issue 8, findings 1, 2, 5, 12 and 18).
 */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { mintToken } from '../lib/signed-tokens'
import { eachBackend, type BackendApp } from './backends'

// Removing this file's PostgreSQL cluster (a database per test) takes longer than bun's 5 s hook default.
setDefaultTimeout(60_000)

const SECRET = 'a-test-secret-that-is-long-enough-for-rowpost'
const TOKENS = [
  { token: 'ins', actor: { bot: 'insert-bot', id: 'insert-bot' } },
  { token: 'reader', actor: { id: 'reader' } },
  { token: 'root', actor: { id: 'root' } },
]
const withTokens = (document: Record<string, unknown>) =>
  interpretMetadata({ ...document, plugins: { ...(document.plugins as object), 'datasette-auth-tokens': { tokens: TOKENS } } })

const ALL_WRITES = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table']

/** The shipped metadata.example.json's shape: insert-bot writes everywhere in `data`, only `reader` may view `secrets`. */
const EXAMPLE = withTokens({
  plugins: { 'datasette-insert': { allow: { bot: 'insert-bot' } } },
  databases: { data: { permissions: { 'create-table': { bot: 'insert-bot' } }, tables: { secrets: { allow: { id: 'reader' } } } } },
})

async function seeded(app: Promise<BackendApp>): Promise<BackendApp> {
  const t = await app
  await t.exec('CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT)')
  await t.exec("INSERT INTO secrets VALUES (1, 'the launch code')")
  await t.exec('CREATE TABLE public (id INTEGER PRIMARY KEY, value TEXT)')
  return t
}

const denied = (message: string) => ({ ok: false, error: message, errors: [message], status: 403 })
const NEED_VIEW_FOR_RETURN = 'Permission denied: need view-table to use "return" (rows sent back are a read of the table)'

async function expectRefusedUnchanged(t: BackendApp, send: () => Promise<Response>, status: number, body: unknown) {
  const before = await t.snapshot()
  const response = await send()
  expect({ status: response.status, body: await response.json() }).toEqual({ status, body })
  expect(await t.snapshot()).toEqual(before)
}

eachBackend((backend) => {
  describe('rows sent back by a write are a read of the table (finding 1)', () => {
    const cases: Array<[string, string, unknown]> = [
      ['insert with ignore and return', '/data/secrets/-/insert', { rows: [{ id: 1 }], ignore: true, return: true }],
      ['upsert with return', '/data/secrets/-/upsert', { rows: [{ id: 1 }], return: true }],
      ['row update with an empty update and return', '/data/secrets/1/-/update', { update: {}, return: true }],
    ]
    test.each(cases)('%s by a writer who may not view the table is a 403 that says so, and nothing is written', async (_, path, body) => {
      const t = await seeded(backend.makeApp({ config: EXAMPLE }))
      await expectRefusedUnchanged(t, () => t.post(path, body, 'ins'), 403, denied(NEED_VIEW_FOR_RETURN))
    })

    test('a writer who may view the table gets the rows back', async () => {
      const t = await seeded(backend.makeApp({ config: EXAMPLE }))
      const response = await t.post('/data/public/-/insert', { rows: [{ id: 5, value: 'x' }], return: true }, 'ins')
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: { ok: true, rows: [{ id: 5, value: 'x' }] } })
    })

    test('a single "row" is written but not echoed to a writer who may not view the table', async () => {
      const t = await seeded(backend.makeApp({ config: EXAMPLE }))
      const response = await t.post('/data/secrets/-/insert', { row: { id: 2, value: 'new' } }, 'ins')
      expect({ status: response.status, body: await response.json() }).toEqual({ status: 201, body: { ok: true } })
      expect(await t.rows('secrets')).toEqual([
        { id: 1, value: 'the launch code' },
        { id: 2, value: 'new' },
      ])
      const visible = await t.post('/data/public/-/insert', { row: { id: 2, value: 'new' } }, 'ins')
      expect(await visible.json()).toEqual({ ok: true, rows: [{ id: 2, value: 'new' }] })
    })

    test('a signed token restricted to insert-row on the table may insert but not read through "return"', async () => {
      const t = await seeded(
        backend.makeApp({ config: withTokens({ permissions: Object.fromEntries(ALL_WRITES.map((a) => [a, { id: 'root' }])) }), secret: SECRET }),
      )
      const token = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { secrets: ['ir'] } } } })
      await expectRefusedUnchanged(
        t,
        () => t.post('/data/secrets/-/insert', { rows: [{ id: 1 }], ignore: true, return: true }, token),
        403,
        denied(NEED_VIEW_FOR_RETURN),
      )
      const plain = await t.post('/data/secrets/-/insert', { row: { id: 3, value: 'x' } }, token)
      expect({ status: plain.status, body: await plain.json() }).toEqual({ status: 201, body: { ok: true } })
      const withView = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { secrets: ['ir', 'vt'] } } } })
      const returned = await t.post('/data/secrets/-/insert', { rows: [{ id: 1 }], ignore: true, return: true }, withView)
      expect(await returned.json()).toEqual({ ok: true, rows: [{ id: 1, value: 'the launch code' }] })
    })
  })

  describe('/-/create checks the table it names (finding 2)', () => {
    /** The bot may do everything at database level; the audit table's own rules deny it insert, update and alter. */
    const AUDITED = withTokens({
      databases: {
        data: {
          permissions: Object.fromEntries(ALL_WRITES.map((action) => [action, { bot: 'insert-bot' }])),
          tables: {
            audit: { permissions: { 'insert-row': false, 'update-row': false, 'alter-table': false } },
            secrets: { allow: { id: 'reader' } },
            ghost: { allow: { id: 'reader' } },
          },
        },
      },
    })
    async function auditedApp() {
      const t = await seeded(backend.makeApp({ config: AUDITED }))
      await t.exec('CREATE TABLE audit (id INTEGER PRIMARY KEY, event TEXT)')
      await t.exec("INSERT INTO audit VALUES (1, 'created')")
      return t
    }

    test.each([
      ['overwriting rows with replace', { table: 'audit', rows: [{ id: 1, event: 'forged' }], pk: 'id', replace: true }, 'Permission denied: need update-row'],
      ['inserting rows', { table: 'audit', rows: [{ id: 2, event: 'forged' }], pk: 'id' }, 'Permission denied: need insert-row'],
    ])('%s in a table whose rules deny it is a 403 and changes nothing', async (_, body, message) => {
      const t = await auditedApp()
      await expectRefusedUnchanged(t, () => t.post('/data/-/create', body, 'ins'), 403, denied(message))
    })

    test('adding columns with alter is refused by the table rules', async () => {
      const config = withTokens({
        databases: {
          data: {
            permissions: Object.fromEntries(ALL_WRITES.map((action) => [action, { bot: 'insert-bot' }])),
            tables: { audit: { permissions: { 'alter-table': false } } },
          },
        },
      })
      const t = await backend.makeApp({ config })
      await t.exec('CREATE TABLE audit (id INTEGER PRIMARY KEY, event TEXT)')
      await expectRefusedUnchanged(
        t,
        () => t.post('/data/-/create', { table: 'audit', rows: [{ id: 2, extra: 1 }], pk: 'id', alter: true }, 'ins'),
        403,
        denied('Permission denied: need alter-table'),
      )
    })

    test('writing to an existing table the caller may not view is refused before its schema or key is shown', async () => {
      const t = await auditedApp()
      const message = "Permission denied: need view-table on secrets, which exists, to write to it through /-/create (its answer shows the table's schema)"
      await expectRefusedUnchanged(
        t,
        () => t.post('/data/-/create', { table: 'secrets', rows: [{ id: 9, value: 'x' }], pk: 'id' }, 'ins'),
        403,
        denied(message),
      )
      // A changed key would otherwise be reported, telling the caller the table's real key.
      await expectRefusedUnchanged(t, () => t.post('/data/-/create', { table: 'secrets', rows: [{ x: 1 }], pk: 'x' }, 'ins'), 403, denied(message))
      const allowed = await t.post('/data/-/create', { table: 'secrets', rows: [{ id: 9, value: 'x' }], pk: 'id' }, 'reader')
      expect(allowed.status).toBe(403)
    })

    test('a foreign key to a table the caller may not view gets the same 403 whether or not its column exists', async () => {
      const t = await auditedApp()
      const message = 'Permission denied: need view-table on secrets to reference it in a foreign key'
      for (const column of ['id', 'value', 'no_such_column']) {
        const body = { table: `refs_${column}`, columns: [{ name: 'ref', type: 'integer', fk_table: 'secrets', fk_column: column }] }
        await expectRefusedUnchanged(t, () => t.post('/data/-/create', body, 'ins'), 403, denied(message))
      }
      await expectRefusedUnchanged(
        t,
        () => t.post('/data/-/create', { table: 'refs', columns: [{ name: 'ref', fk_table: 'secrets' }] }, 'ins'),
        403,
        denied(message),
      )
      // The decision rests on the rules for the name alone: a private name with no table behind it answers the same.
      await expectRefusedUnchanged(
        t,
        () => t.post('/data/-/create', { table: 'refs', columns: [{ name: 'ref', fk_table: 'ghost' }] }, 'ins'),
        403,
        denied(message.replace('secrets', 'ghost')),
      )
    })

    test('a foreign key to a visible table still works', async () => {
      const t = await auditedApp()
      const response = await t.post('/data/-/create', { table: 'refs', columns: [{ name: 'ref', type: 'integer', fk_table: 'public' }] }, 'ins')
      expect(response.status).toBe(201)
      expect(await t.tables()).toContain('refs')
    })

    test('creating a new table and writing to a visible existing one is unchanged', async () => {
      const t = await auditedApp()
      expect((await t.post('/data/-/create', { table: 'fresh', rows: [{ id: 1 }], pk: 'id' }, 'ins')).status).toBe(201)
      const again = await t.post('/data/-/create', { table: 'fresh', rows: [{ id: 2 }], pk: 'id' }, 'ins')
      expect({ status: again.status, body: await again.json() }).toEqual({
        status: 201,
        body: expect.objectContaining({ schema: expect.stringContaining('CREATE TABLE') }),
      })
      expect(await t.rows('fresh')).toEqual([{ id: 1 }, { id: 2 }])
    })
  })

  describe('a 404 never tells a caller about a table it may not see (finding 5)', () => {
    const PRIVATE = withTokens({
      permissions: { 'view-instance': true },
      databases: {
        data: {
          permissions: { 'view-database': true, 'delete-row': { id: 'root' }, 'update-row': { id: 'root' } },
          tables: { secrets: { allow: { id: ['reader', 'root'] } } },
        },
      },
    })
    const routes: Array<[string, string, unknown]> = [
      ['delete a missing row', '/data/secrets/77/-/delete', {}],
      ['delete a present row', '/data/secrets/1/-/delete', {}],
      ['update a missing row', '/data/secrets/77/-/update', { update: { value: 'x' } }],
      ['update a present row', '/data/secrets/1/-/update', { update: { value: 'x' } }],
      ['delete in a missing table', '/data/nosuch/1/-/delete', {}],
      ['drop a missing table', '/data/nosuch/-/drop', { confirm: true }],
      ['insert into a missing table', '/data/nosuch/-/insert', { row: { id: 1 } }],
    ]
    test.each(routes)('anonymous under --default-deny: %s is the same 403', async (_, path, body) => {
      const t = await seeded(backend.makeApp({ config: PRIVATE, defaultDeny: true }))
      await expectRefusedUnchanged(t, () => t.post(path, body), 403, denied('Permission denied'))
    })

    test('a caller who may view the table keeps Datasette order: a missing row is a 404 before its 403', async () => {
      const t = await seeded(backend.makeApp({ config: PRIVATE, defaultDeny: true }))
      await expectRefusedUnchanged(t, () => t.post('/data/secrets/77/-/delete', {}, 'reader'), 404, {
        ok: false,
        error: "Record not found: ['77']",
        errors: ["Record not found: ['77']"],
        status: 404,
      })
      await expectRefusedUnchanged(t, () => t.post('/data/secrets/1/-/delete', {}, 'reader'), 403, denied('Permission denied'))
    })
  })

  describe('an Idempotency-Key replay is authorized first and scoped to the token (finding 12)', () => {
    const config = withTokens({ permissions: Object.fromEntries(ALL_WRITES.map((action) => [action, { id: 'root' }])) })
    const withKey = { 'idempotency-key': 'delete-1' }

    test('a retry whose target is gone is refused to a token that lacks the permission', async () => {
      const t = await seeded(backend.makeApp({ config, secret: SECRET }))
      const first = await t.post('/data/secrets/1/-/delete', {}, 'root', withKey)
      expect(first.status).toBe(200)
      const insertOnly = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { secrets: ['ir', 'vt'] } } } })
      const retry = await t.post('/data/secrets/1/-/delete', {}, insertOnly, withKey)
      expect({ status: retry.status, replayed: retry.headers.get('idempotent-replayed'), body: await retry.json() }).toEqual({
        status: 403,
        replayed: null,
        body: denied('Permission denied'),
      })
    })

    test('tokens of one actor with different restrictions do not share keys', async () => {
      const t = await seeded(backend.makeApp({ config, secret: SECRET }))
      const narrow = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { secrets: ['dr', 'vt'] } } } })
      const wider = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { secrets: ['dr', 'ir', 'vt'] } } } })
      expect((await t.post('/data/secrets/1/-/delete', {}, narrow, withKey)).status).toBe(200)
      const other = await t.post('/data/secrets/1/-/delete', {}, wider, withKey)
      expect({ status: other.status, replayed: other.headers.get('idempotent-replayed') }).toEqual({ status: 404, replayed: null })
      const fullToken = await t.post('/data/secrets/1/-/delete', {}, 'root', withKey)
      expect({ status: fullToken.status, replayed: fullToken.headers.get('idempotent-replayed') }).toEqual({ status: 404, replayed: null })
      const same = await t.post('/data/secrets/1/-/delete', {}, narrow, withKey)
      expect({ status: same.status, replayed: same.headers.get('idempotent-replayed'), body: await same.json() }).toEqual({
        status: 200,
        replayed: 'true',
        body: { ok: true },
      })
    })
  })

  describe('one rule for table names in routes, rules and restrictions (finding 18)', () => {
    test('a token restricted to dogs may write through /-/insert/data/DOGS, the same table', async () => {
      const config = withTokens({ permissions: Object.fromEntries(ALL_WRITES.map((action) => [action, { id: 'root' }])) })
      const t = await backend.makeApp({ config, secret: SECRET })
      await t.exec('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
      const token = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { dogs: ['ir', 'ur'] } } } })
      const legacy = await t.post('/-/insert/data/DOGS', { id: 1, name: 'Cleo' }, token)
      expect({ status: legacy.status, body: await legacy.json() }).toEqual({ status: 200, body: { table_count: 1 } })
      const modern = await t.post('/data/Dogs/-/insert', { rows: [{ id: 2, name: 'Rex' }] }, token)
      expect(modern.status).toBe(201)
      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'Cleo' },
        { id: 2, name: 'Rex' },
      ])
      expect(await t.tables()).toEqual(['dogs'])
      const elsewhere = await t.post('/-/insert/data/cats', { id: 1 }, token)
      expect(elsewhere.status).toBe(403)
    })

    test('a look-alike of an audited table cannot be created beside it', async () => {
      const t = await backend.makeApp()
      await t.exec('CREATE TABLE audit (id INTEGER PRIMARY KEY, event TEXT)')
      for (const name of ['audit ', ' audit', 'audit\t', 'au\ndit']) {
        const legacy = await t.post(`/-/insert/data/${encodeURIComponent(name)}`, [{ id: 1 }])
        expect(legacy.status).toBe(400)
        const modern = await t.post('/data/-/create', { table: name, rows: [{ id: 1 }] })
        expect(modern.status).toBe(400)
      }
      expect(await t.tables()).toEqual(['audit'])
    })
  })
})
