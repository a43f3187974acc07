/**
 * Write-without-view callers, generated: random grants and denials at database and table level against random write
 * requests on a private table. Whatever is asked, a caller who may not view the table never gets its rows or schema
 * back, and a refused caller's answer is the same whether the table, or the row, exists or not.
 */
import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { interpretMetadata } from '../lib/config'
import { allowed, canView, type Action } from '../lib/permissions'
import { eachBackend, type Backend, type BackendName } from './backends'

const SECRET_VALUE = 'SECRET-VALUE-7f3a'
const WRITES = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table'] as const

type Grant = 'none' | 'database' | 'table' | 'database-but-table-denies'
const grant = fc.constantFrom<Grant>('none', 'database', 'table', 'database-but-table-denies')

const policyArb = fc.record({
  grants: fc.tuple(...WRITES.map(() => grant)),
  /** Whether the bot may view the secrets table. */
  viewsSecrets: fc.boolean(),
})
type PolicyCase = typeof policyArb extends fc.Arbitrary<infer T> ? T : never

/** Every route that writes to a named table, with the options that change what it needs or answers. */
const requestArb = fc.oneof(
  fc.record({
    kind: fc.constantFrom('insert', 'upsert'),
    single: fc.boolean(),
    key: fc.constantFrom(1, 77),
    return: fc.boolean(),
    ignore: fc.boolean(),
    replace: fc.boolean(),
    alter: fc.boolean(),
  }),
  fc.record({ kind: fc.constantFrom('update', 'delete'), key: fc.constantFrom(1, 77), return: fc.boolean(), alter: fc.boolean() }),
  fc.record({ kind: fc.constant('drop'), confirm: fc.boolean() }),
  fc.record({
    kind: fc.constant('create-rows'),
    key: fc.constantFrom(1, 77),
    pk: fc.constantFrom('id', 'value', 'other'),
    replace: fc.boolean(),
    alter: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('create-fk'), column: fc.constantFrom('id', 'value', 'missing'), tableOnly: fc.boolean() }),
  fc.record({ kind: fc.constant('legacy'), key: fc.constantFrom(1, 77), alter: fc.boolean(), upsert: fc.boolean() }),
)
type WriteCase = typeof requestArb extends fc.Arbitrary<infer T> ? T : never

function metadata({ grants, viewsSecrets }: PolicyCase) {
  const database: Record<string, unknown> = { 'view-database': true }
  const table: Record<string, unknown> = {}
  WRITES.forEach((action, index) => {
    const given = grants[index]
    if (given === 'database' || given === 'database-but-table-denies') database[action] = { id: 'bot' }
    // create-table is a database action: a table-level entry for it is not consulted.
    if (given === 'table') table[action] = { id: 'bot' }
    if (given === 'database-but-table-denies') table[action] = false
  })
  return interpretMetadata({
    permissions: { 'view-instance': true },
    databases: { data: { permissions: database, tables: { secrets: { allow: viewsSecrets ? { id: 'bot' } : { id: 'nobody' }, permissions: table } } } },
    plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'bot-token', actor: { id: 'bot' } }] } },
  })
}

type World = 'row' | 'no-row' | 'no-table'

async function appIn(backend: Backend, world: World, policy: PolicyCase) {
  const t = await backend.makeApp({ config: metadata(policy), defaultDeny: true })
  if (world !== 'no-table') await t.exec('CREATE TABLE secrets (id INTEGER PRIMARY KEY, value TEXT)')
  if (world === 'row') await t.exec('INSERT INTO secrets VALUES (1, ?)', [SECRET_VALUE])
  return t
}

function requestFor(w: WriteCase): [string, unknown] {
  switch (w.kind) {
    case 'insert':
    case 'upsert': {
      const row = { id: w.key, value: 'x', ...(w.alter ? { extra: 1 } : {}) }
      const options = {
        ...(w.return ? { return: true } : {}),
        ...(w.ignore ? { ignore: true } : {}),
        ...(w.replace ? { replace: true } : {}),
        ...(w.alter ? { alter: true } : {}),
      }
      return [`/data/secrets/-/${w.kind}`, { ...(w.single ? { row } : { rows: [row] }), ...options }]
    }
    case 'update':
      return [
        `/data/secrets/${w.key}/-/update`,
        { update: w.alter ? { extra: 1 } : { value: 'y' }, ...(w.return ? { return: true } : {}), ...(w.alter ? { alter: true } : {}) },
      ]
    case 'delete':
      return [`/data/secrets/${w.key}/-/delete`, {}]
    case 'drop':
      return ['/data/secrets/-/drop', w.confirm ? { confirm: true } : {}]
    case 'create-rows':
      return [
        '/data/-/create',
        {
          table: 'secrets',
          rows: [{ id: w.key, value: 'x', ...(w.alter ? { extra: 1 } : {}) }],
          pk: w.pk,
          ...(w.replace ? { replace: true } : {}),
          ...(w.alter ? { alter: true } : {}),
        },
      ]
    case 'create-fk':
      return ['/data/-/create', { table: 'refs', columns: [{ name: 'ref', fk_table: 'secrets', ...(w.tableOnly ? {} : { fk_column: w.column }) }] }]
    case 'legacy':
      return [
        `/-/${w.upsert ? 'upsert' : 'insert'}/data/secrets?pk=id${w.alter ? '&alter=1' : ''}`,
        [{ id: w.key, value: 'x', ...(w.alter ? { extra: 1 } : {}) }],
      ]
  }
}

/** What the path demands before any option: [action, checked on the table (else the database)]. */
function baseNeeds(w: WriteCase): Array<[Action, boolean]> {
  switch (w.kind) {
    case 'insert':
      return [['insert-row', true]]
    case 'upsert':
    case 'legacy':
      return [
        ['insert-row', true],
        ['update-row', true],
      ]
    case 'update':
      return [['update-row', true]]
    case 'delete':
      return [['delete-row', true]]
    case 'drop':
      return [['drop-table', true]]
    case 'create-rows':
      return [
        ['create-table', false],
        ['insert-row', true],
      ]
    case 'create-fk':
      return [['create-table', false]]
  }
}

async function answer(backend: Backend, world: World, policy: PolicyCase, w: WriteCase) {
  const t = await appIn(backend, world, policy)
  const [path, body] = requestFor(w)
  const response = await t.post(path, body, 'bot-token')
  const text = await response.text()
  await t.close()
  return { status: response.status, text, t }
}

/**
 * Generated cases per run. Each case opens three fresh databases, which PostgreSQL makes in about 0.3 s each, so there
 * it runs fewer (a fixed seed would not help: every run of the file draws new cases, on both backends).
 */
const RUNS: Record<BackendName, number> = { sqlite: 150, postgres: 30 }

eachBackend((backend) =>
  describe('write-without-view callers, generated', () => {
    test('a caller who may not view the table never sees its rows or schema, and a refusal does not depend on what exists', async () => {
      await fc.assert(
        fc.asyncProperty(policyArb, requestArb, async (policy, w) => {
          const answers = await Promise.all((['row', 'no-row', 'no-table'] as World[]).map((world) => answer(backend, world, policy, w)))
          const actor = { id: 'bot' }
          const visible = canView(answers[0]!.t.app.context.policy, actor, { database: 'data', table: 'secrets' })
          expect(visible).toBe(policy.viewsSecrets)
          for (const { status } of answers) expect(status).toBeLessThan(500)
          if (visible) return
          // Where the table existed before the request, nothing of it comes back (in the third world the caller made it).
          for (const { text } of answers.slice(0, 2)) {
            expect(text).not.toContain(SECRET_VALUE)
            expect(text).not.toContain('CREATE TABLE')
          }
          // Lacking what the route itself needs, the caller learns nothing from the answer: the same in every world.
          const policyOf = answers[0]!.t.app.context.policy
          const lacksBase = baseNeeds(w).some(
            ([action, onTable]) => !allowed(policyOf, actor, action, onTable ? { database: 'data', table: 'secrets' } : { database: 'data' }),
          )
          if (lacksBase) {
            const [first, ...others] = answers.map(({ status, text }) => ({ status, text }))
            expect(first!.status).toBe(403)
            expect(others).toEqual([first!, first!])
          }
        }),
        { numRuns: RUNS[backend.name] },
      )
    }, 60_000)
  }),
)
