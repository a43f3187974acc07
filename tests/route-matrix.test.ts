/**
 * Every route × every kind of caller, generated from the app's own route list: a route added without an entry here
 * makes this file fail, so no endpoint ships without its permission test.
 */
import { describe, expect, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import type { Action } from '../lib/permissions'
import { makeApp, type TestApp } from './helpers'

interface RouteCase {
  /** The permissions a caller needs; empty for routes anyone may use. */
  needs: Action[]
  /** A request that succeeds for a caller with `needs`, against the seeded database. */
  path: string
  body?: unknown
  ok: number
  /** What shows that the write did (or, when refused, did not) happen. */
  effect?: (t: TestApp) => unknown
  /** The same request asking for rows back, which also needs the table to be visible. */
  returning?: unknown
  /** The answer always shows the table (its schema), so the table must be visible even without `returning`. */
  showsTable?: true
}

const docs = (t: TestApp) => t.rows('docs')
const ROUTES: Record<string, RouteCase> = {
  'POST /-/insert/:database/:table': { needs: ['insert-row', 'update-row'], path: '/-/insert/data/docs', body: { id: 9, title: 'new' }, ok: 200, effect: docs },
  'POST /-/upsert/:database/:table': { needs: ['insert-row', 'update-row'], path: '/-/upsert/data/docs?pk=id', body: { id: 1, title: 'changed' }, ok: 200, effect: docs },
  // Rows into an existing table: create-table on the database, insert-row on the table (and view-table, since it exists).
  'POST /:database/-/create': { needs: ['create-table', 'insert-row'], path: '/data/-/create', body: { table: 'docs', rows: [{ id: 9, title: 'new' }], pk: 'id' }, ok: 201, effect: docs, showsTable: true },
  'POST /:database/:table/-/insert': {
    needs: ['insert-row'], path: '/data/docs/-/insert', body: { rows: [{ id: 9, title: 'new' }] }, ok: 201, effect: docs,
    returning: { rows: [{ id: 9, title: 'new' }], return: true },
  },
  'POST /:database/:table/-/upsert': {
    needs: ['insert-row', 'update-row'], path: '/data/docs/-/upsert', body: { rows: [{ id: 1, title: 'changed' }] }, ok: 200, effect: docs,
    returning: { rows: [{ id: 1, title: 'changed' }], return: true },
  },
  'POST /:database/:table/-/drop': { needs: ['drop-table'], path: '/data/docs/-/drop', body: { confirm: true }, ok: 200, effect: (t) => t.tables() },
  // The answer carries the schema before and after: a read of the table.
  'POST /:database/:table/-/alter': {
    needs: ['alter-table'], path: '/data/docs/-/alter', body: { operations: [{ op: 'add_column', args: { name: 'extra' } }] }, ok: 200,
    effect: (t) => t.columns('docs'), showsTable: true,
  },
  'POST /:database/:table/:pks/-/update': {
    needs: ['update-row'], path: '/data/docs/1/-/update', body: { update: { title: 'changed' } }, ok: 200, effect: docs,
    returning: { update: { title: 'changed' }, return: true },
  },
  // A database permission plus all three row actions on the table an insert writes (Datasette's rule for write SQL).
  'POST /:database/-/execute-write': {
    needs: ['execute-write-sql', 'insert-row', 'update-row', 'delete-row'], path: '/data/-/execute-write',
    body: { sql: "insert into docs (id, title) values (9, 'new')" }, ok: 200, effect: docs,
    returning: { sql: "insert into docs (id, title) values (9, 'new') returning *" },
  },
  'POST /:database/:table/:pks/-/delete': { needs: ['delete-row'], path: '/data/docs/1/-/delete', ok: 200, effect: docs },
  'GET /-/databases.json': { needs: [], path: '/-/databases.json', ok: 200 },
  'GET /-/versions.json': { needs: [], path: '/-/versions.json', ok: 200 },
  'GET /-/actor.json': { needs: [], path: '/-/actor.json', ok: 200 },
  'GET /-/settings.json': { needs: [], path: '/-/settings.json', ok: 200 },
  'GET /:database': { needs: [], path: '/data.json', ok: 200 },
  'GET /:database/:table': { needs: [], path: '/data/docs.json', ok: 200 },
  'GET /:database/:table/:pks': { needs: [], path: '/data/docs/1.json', ok: 200 },
  'GET /:database/-/query.json': { needs: [], path: '/data/-/query.json?sql=select+*+from+docs', ok: 200 },
  'GET /:database/-/query': { needs: [], path: '/data/-/query?sql=select+*+from+docs', ok: 200 },
  'GET /:database/-/query.csv': { needs: [], path: '/data/-/query.csv?sql=select+*+from+docs&_stream=on', ok: 200 },
  'GET /.json': { needs: [], path: '/.json', ok: 200 },
  'GET /-/schema.json': { needs: [], path: '/-/schema.json', ok: 200 },
  'GET /-/schema.md': { needs: [], path: '/-/schema.md', ok: 200 },
  'GET /:database/-/schema.json': { needs: [], path: '/data/-/schema.json', ok: 200 },
  'GET /:database/-/schema.md': { needs: [], path: '/data/-/schema.md', ok: 200 },
  'GET /:database/:table/-/schema.json': { needs: [], path: '/data/docs/-/schema.json', ok: 200 },
  'GET /:database/:table/-/schema.md': { needs: [], path: '/data/docs/-/schema.md', ok: 200 },
  'GET /-/health': { needs: [], path: '/-/health', ok: 200 },
  'GET /-/health/live': { needs: [], path: '/-/health/live', ok: 200 },
  // view-metrics follows view-instance, which everyone has here; tests/metrics.test.ts grants and denies it.
  'GET /-/metrics': { needs: [], path: '/-/metrics', ok: 200 },
}

const ALL_WRITES: Action[] = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table', 'execute-write-sql']
/** Actions asked of the database, never of a table: the table level leaves them to the database. */
const DATABASE_ACTIONS = ['create-table', 'execute-write-sql']

type Level = 'root' | 'database' | 'table'
const LEVELS: Level[] = ['root', 'database', 'table']
const TOKENS = ['granted', 'lacking', 'blind'].map((id) => ({ token: `${id}-token`, actor: { id } }))

/** Permission blocks placed at one level; create-table and execute-write-sql are database actions, so the table level leaves them to the database. */
function placed(level: Level, permissions: Record<string, unknown>, tableExtras: Record<string, unknown> = {}) {
  const databaseActions = Object.fromEntries(Object.entries(permissions).filter(([action]) => DATABASE_ACTIONS.includes(action)))
  const tableActions = Object.fromEntries(Object.entries(permissions).filter(([action]) => !DATABASE_ACTIONS.includes(action)))
  if (level === 'root') return { permissions, databases: { data: { tables: { docs: tableExtras } } } }
  if (level === 'database') return { databases: { data: { permissions, tables: { docs: tableExtras } } } }
  return { databases: { data: { permissions: databaseActions, tables: { docs: { ...tableExtras, permissions: tableActions } } } } }
}

function seededApp(document: Record<string, unknown>): TestApp {
  const config = interpretMetadata({ ...document, plugins: { 'datasette-auth-tokens': { tokens: TOKENS } } })
  const t = makeApp({ config })
  t.db.connection.run('CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)')
  t.db.connection.run("INSERT INTO docs VALUES (1, 'first')")
  return t
}

/**
 * `granted` holds exactly the route's permissions at `level`, `lacking` every other write permission there, and
 * `blind` the route's permissions but may not view the docs table.
 */
function appFor(route: RouteCase, level: Level = 'root'): TestApp {
  const permissions = Object.fromEntries(
    ALL_WRITES.map((action) => [action, route.needs.includes(action) ? { id: ['granted', 'blind'] } : { id: 'lacking' }]),
  )
  return seededApp(placed(level, permissions))
}

/** Everything granted to `granted` and `lacking` at the database, but the table's own rules keep the route's permissions for `granted`. */
function tableDeniesApp(route: RouteCase): TestApp {
  const everything = Object.fromEntries(ALL_WRITES.map((action) => [action, { id: ['granted', 'lacking'] }]))
  const tableRules = Object.fromEntries(route.needs.filter((action) => !DATABASE_ACTIONS.includes(action)).map((action) => [action, { id: 'granted' }]))
  return seededApp({ databases: { data: { permissions: everything, tables: { docs: { permissions: tableRules } } } } })
}

/** The route's permissions for `granted` and `blind`, but only `granted` may view the docs table. */
function blindApp(route: RouteCase): TestApp {
  const permissions = Object.fromEntries(route.needs.map((action) => [action, { id: ['granted', 'blind'] }]))
  return seededApp(placed('database', permissions, { allow: { id: 'granted' } }))
}

const send = (t: TestApp, method: string, route: RouteCase, token?: string, body = route.body) =>
  method === 'GET' ? t.get(route.path, token) : t.post(route.path, body ?? {}, token)

async function expectRefusedUnchanged(app: TestApp, method: string, route: RouteCase, token: string | undefined, status: number, body?: unknown) {
  const before = route.effect?.(app)
  expect((await send(app, method, route, token, body)).status).toBe(status)
  expect(route.effect?.(app)).toEqual(before)
}

describe('every route has a permission case', () => {
  const t = appFor(ROUTES['GET /-/actor.json']!)
  const served = t.app.routes.map((route) => `${route.method} ${route.path}`)
  test('the table covers exactly the routes the app serves', () => {
    expect(served.toSorted()).toEqual(Object.keys(ROUTES).toSorted())
  })
  test('every route has an OpenAPI summary', () => {
    for (const route of t.app.routes) expect({ route: route.path, summary: (route.hooks as { detail?: { summary?: string } }).detail?.summary }).toEqual({ route: route.path, summary: expect.any(String) })
  })

  for (const key of served) {
    const route = ROUTES[key]!
    const method = key.split(' ')[0]!
    describe(key, () => {
      test('a token matching nothing is 401 and changes nothing', async () => {
        await expectRefusedUnchanged(appFor(route), method, route, 'no-such-token', 401)
      })
      if (route.needs.length) {
        test('the anonymous caller is refused with 403 and changes nothing', async () => {
          await expectRefusedUnchanged(appFor(route), method, route, undefined, 403)
        })
        for (const level of LEVELS) {
          test(`with grants at the ${level} level, a token with every other write permission is refused with 403 and changes nothing`, async () => {
            await expectRefusedUnchanged(appFor(route, level), method, route, 'lacking-token', 403)
          })
          test(`with grants at the ${level} level, a token with ${route.needs.join(' and ')} succeeds${route.effect ? ' and changes the file' : ''}`, async () => {
            const app = appFor(route, level)
            const before = route.effect?.(app)
            expect((await send(app, method, route, 'granted-token')).status).toBe(route.ok)
            if (route.effect) expect(route.effect(app)).not.toEqual(before)
          })
        }
        if (route.needs.some((action) => !DATABASE_ACTIONS.includes(action))) {
          test('a database-level grant does not override the table rules that withhold it', async () => {
            await expectRefusedUnchanged(tableDeniesApp(route), method, route, 'lacking-token', 403)
            expect((await send(tableDeniesApp(route), method, route, 'granted-token')).status).toBe(route.ok)
          })
        }
        if (route.returning !== undefined) {
          test('a writer who may not view the table writes, but asking for the rows back is a 403 that changes nothing', async () => {
            await expectRefusedUnchanged(blindApp(route), method, route, 'blind-token', 403, route.returning)
            expect((await send(blindApp(route), method, route, 'blind-token')).status).toBe(route.ok)
            expect((await send(blindApp(route), method, route, 'granted-token', route.returning)).status).toBe(route.ok)
          })
        }
        if (route.showsTable) {
          test('a writer who may not view the table is refused with 403 and changes nothing', async () => {
            await expectRefusedUnchanged(blindApp(route), method, route, 'blind-token', 403)
            expect((await send(blindApp(route), method, route, 'granted-token')).status).toBe(route.ok)
          })
        }
      } else {
        test('the anonymous caller may read it', async () => {
          expect((await send(appFor(route), method, route)).status).toBe(route.ok)
        })
        test('a token with no permissions may read it', async () => {
          expect((await send(appFor(route), method, route, 'granted-token')).status).toBe(route.ok)
        })
      }
    })
  }
})
