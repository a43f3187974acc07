/**
 * Every route × every kind of caller, generated from the app's own route list: a route added without an entry here
 * makes this file fail, so no endpoint ships without its permission test.
 */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import type { Action } from '../lib/permissions'
import type { Capability } from '../lib/store/store'
import { eachBackend, type Backend, type BackendApp } from './backends'
import { makeApp } from './helpers'

interface RouteCase {
  /** The permissions a caller needs; empty for routes anyone may use. */
  needs: Action[]
  /** A request that succeeds for a caller with `needs`, against the seeded database. */
  path: string
  body?: unknown
  ok: number
  /** What shows that the write did (or, when refused, did not) happen. */
  effect?: (t: BackendApp) => Promise<unknown>
  /** The same request asking for rows back, which also needs the table to be visible. */
  returning?: unknown
  /** The answer always shows the table (its schema), so the table must be visible even without `returning`. */
  showsTable?: true
  /** Built on SQLite alone (SQL queries, /-/alter, execute-write): other backends answer 400 not_supported. */
  sqliteOnly?: Capability
}

const docs = (t: BackendApp) => t.rows('docs')
const ROUTES: Record<string, RouteCase> = {
  'POST /-/insert/:database/:table': { needs: ['insert-row', 'update-row'], path: '/-/insert/data/docs', body: { id: 9, title: 'new' }, ok: 200, effect: docs },
  'POST /-/upsert/:database/:table': {
    needs: ['insert-row', 'update-row'],
    path: '/-/upsert/data/docs?pk=id',
    body: { id: 1, title: 'changed' },
    ok: 200,
    effect: docs,
  },
  // Rows into an existing table: create-table on the database, insert-row on the table (and view-table, since it exists).
  'POST /:database/-/create': {
    needs: ['create-table', 'insert-row'],
    path: '/data/-/create',
    body: { table: 'docs', rows: [{ id: 9, title: 'new' }], pk: 'id' },
    ok: 201,
    effect: docs,
    showsTable: true,
  },
  'POST /:database/:table/-/insert': {
    needs: ['insert-row'],
    path: '/data/docs/-/insert',
    body: { rows: [{ id: 9, title: 'new' }] },
    ok: 201,
    effect: docs,
    returning: { rows: [{ id: 9, title: 'new' }], return: true },
  },
  'POST /:database/:table/-/upsert': {
    needs: ['insert-row', 'update-row'],
    path: '/data/docs/-/upsert',
    body: { rows: [{ id: 1, title: 'changed' }] },
    ok: 200,
    effect: docs,
    returning: { rows: [{ id: 1, title: 'changed' }], return: true },
  },
  'POST /:database/:table/-/drop': { needs: ['drop-table'], path: '/data/docs/-/drop', body: { confirm: true }, ok: 200, effect: (t) => t.tables() },
  // The answer carries the schema before and after: a read of the table.
  'POST /:database/:table/-/alter': {
    needs: ['alter-table'],
    path: '/data/docs/-/alter',
    body: { operations: [{ op: 'add_column', args: { name: 'extra' } }] },
    ok: 200,
    effect: (t) => t.columns('docs'),
    showsTable: true,
    sqliteOnly: 'alter',
  },
  'POST /:database/:table/:pks/-/update': {
    needs: ['update-row'],
    path: '/data/docs/1/-/update',
    body: { update: { title: 'changed' } },
    ok: 200,
    effect: docs,
    returning: { update: { title: 'changed' }, return: true },
  },
  // A database permission plus all three row actions on the table an insert writes (Datasette's rule for write SQL).
  'POST /:database/-/execute-write': {
    needs: ['execute-write-sql', 'insert-row', 'update-row', 'delete-row'],
    path: '/data/-/execute-write',
    body: { sql: "insert into docs (id, title) values (9, 'new')" },
    ok: 200,
    effect: docs,
    returning: { sql: "insert into docs (id, title) values (9, 'new') returning *" },
    sqliteOnly: 'execute-write',
  },
  'POST /:database/:table/:pks/-/delete': { needs: ['delete-row'], path: '/data/docs/1/-/delete', ok: 200, effect: docs },
  'GET /-/databases.json': { needs: [], path: '/-/databases.json', ok: 200 },
  // Server-Sent Events: the answer begins (200) and goes on; its body is not read here (tests/changes.test.ts reads it).
  'GET /:database/:table/-/changes': { needs: [], path: '/data/docs/-/changes', ok: 200 },
  'GET /-/versions.json': { needs: [], path: '/-/versions.json', ok: 200 },
  'GET /-/actor.json': { needs: [], path: '/-/actor.json', ok: 200 },
  'GET /-/settings.json': { needs: [], path: '/-/settings.json', ok: 200 },
  'GET /:database': { needs: [], path: '/data.json', ok: 200 },
  'GET /:database/:table': { needs: [], path: '/data/docs.json', ok: 200 },
  'GET /:database/:table/:pks': { needs: [], path: '/data/docs/1.json', ok: 200 },
  'GET /:database/-/query.json': { needs: [], path: '/data/-/query.json?sql=select+*+from+docs', ok: 200, sqliteOnly: 'sql-query' },
  'GET /:database/-/query': { needs: [], path: '/data/-/query?sql=select+*+from+docs', ok: 200, sqliteOnly: 'sql-query' },
  'GET /:database/-/query.csv': { needs: [], path: '/data/-/query.csv?sql=select+*+from+docs&_stream=on', ok: 200, sqliteOnly: 'sql-query' },
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
  // The HTML pages answer a browser (Accept: text/html, tests/pages.test.ts); this matrix sends none, so `/` is the JSON 404
  // it always was, and logging in is disabled without a secret (400, no cookie).
  'GET /': { needs: [], path: '/', ok: 404 },
  'GET /-/static/rowpost.css': { needs: [], path: '/-/static/rowpost.css', ok: 200 },
  'GET /-/static/rowpost.js': { needs: [], path: '/-/static/rowpost.js', ok: 200 },
  'GET /-/login': { needs: [], path: '/-/login', ok: 200 },
  'POST /-/login': { needs: [], path: '/-/login', body: 'token=x', ok: 400 },
  'POST /-/logout': { needs: [], path: '/-/logout', ok: 303 },
  'GET /-/openapi.json': { needs: [], path: '/-/openapi.json', ok: 200 },
  'GET /-/api': { needs: [], path: '/-/api', ok: 200 },
  'GET /-/static/api/:file': { needs: [], path: '/-/static/api/api.js', ok: 200 },
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

/** The app builders for one backend: each a fresh database with the docs table seeded. */
function appsOn(backend: Backend) {
  async function seededApp(document: Record<string, unknown>): Promise<BackendApp> {
    const config = interpretMetadata({ ...document, plugins: { 'datasette-auth-tokens': { tokens: TOKENS } } })
    const t = await backend.makeApp({ config })
    await t.exec('CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)')
    await t.exec("INSERT INTO docs VALUES (1, 'first')")
    return t
  }

  return {
    /**
     * `granted` holds exactly the route's permissions at `level`, `lacking` every other write permission there, and
     * `blind` the route's permissions but may not view the docs table.
     */
    appFor(route: RouteCase, level: Level = 'root'): Promise<BackendApp> {
      const permissions = Object.fromEntries(
        ALL_WRITES.map((action) => [action, route.needs.includes(action) ? { id: ['granted', 'blind'] } : { id: 'lacking' }]),
      )
      return seededApp(placed(level, permissions))
    },

    /** Everything granted to `granted` and `lacking` at the database, but the table's own rules keep the route's permissions for `granted`. */
    tableDeniesApp(route: RouteCase): Promise<BackendApp> {
      const everything = Object.fromEntries(ALL_WRITES.map((action) => [action, { id: ['granted', 'lacking'] }]))
      const tableRules = Object.fromEntries(route.needs.filter((action) => !DATABASE_ACTIONS.includes(action)).map((action) => [action, { id: 'granted' }]))
      return seededApp({ databases: { data: { permissions: everything, tables: { docs: { permissions: tableRules } } } } })
    },

    /** The route's permissions for `granted` and `blind`, but only `granted` may view the docs table. */
    blindApp(route: RouteCase): Promise<BackendApp> {
      const permissions = Object.fromEntries(route.needs.map((action) => [action, { id: ['granted', 'blind'] }]))
      return seededApp(placed('database', permissions, { allow: { id: 'granted' } }))
    },
  }
}

const send = (t: BackendApp, method: string, route: RouteCase, token?: string, body = route.body) =>
  method === 'GET' ? t.get(route.path, token) : t.post(route.path, body ?? {}, token)

/** The routes createApp serves, read once from an app over SQLite (the list does not depend on the backend: a test below checks). */
const SERVED = makeApp().app.routes.map((route) => `${route.method} ${route.path}`)

// The PostgreSQL cluster is removed after the file with its hundred-odd test databases (over 1 GB): on a busy machine
// that took 20-38 s, past bunfig's 30 s, which bounds hooks as well as tests.
setDefaultTimeout(120_000)

eachBackend((backend) => {
  const { appFor, tableDeniesApp, blindApp } = appsOn(backend)
  /** Whether the backend serves the route; a route built on SQLite alone is refused by the others, whoever asks. */
  const serves = (route: RouteCase) => route.sqliteOnly === undefined || backend.name === 'sqlite'

  async function expectNotSupported(response: Response, route: RouteCase) {
    const message = `Database data is not SQLite: ${route.sqliteOnly} is available on SQLite databases only`
    expect({ status: response.status, body: await response.json() }).toEqual({
      status: 400,
      body: { ok: false, error: message, errors: [message], status: 400 },
    })
  }

  /** Sends as a caller allowed to: the route's success status, or where the backend does not serve it, 400 not_supported. */
  async function expectServed(app: BackendApp, method: string, route: RouteCase, token?: string, body = route.body) {
    const response = await send(app, method, route, token, body)
    if (serves(route)) expect(response.status).toBe(route.ok)
    else await expectNotSupported(response, route)
  }

  /**
   * Sends as a caller who must be refused with `status`. A backend that does not serve the route refuses them the
   * same way: only a caller allowed to use the route learns that this database cannot serve it (400 not_supported).
   */
  async function expectRefusedUnchanged(
    app: BackendApp,
    method: string,
    route: RouteCase,
    token: string | undefined,
    status: number,
    body?: unknown,
    ofTable = false,
  ) {
    const before = await route.effect?.(app)
    const response = await send(app, method, route, token, body)
    // execute-write learns which tables its SQL touches from SQLite's EXPLAIN: elsewhere it stops at not_supported,
    // before any table rule is asked.
    if (ofTable && !serves(route) && route.sqliteOnly === 'execute-write') await expectNotSupported(response, route)
    else expect(response.status).toBe(status)
    expect(await route.effect?.(app)).toEqual(before)
  }

  describe('every route has a permission case', () => {
    test('the table covers exactly the routes the app serves', async () => {
      const { app } = await appFor(ROUTES['GET /-/actor.json']!)
      const served = app.routes.map((route) => `${route.method} ${route.path}`)
      expect(served.toSorted()).toEqual(Object.keys(ROUTES).toSorted())
      expect(served.toSorted()).toEqual(SERVED.toSorted())
    })
    test('every route has an OpenAPI summary', async () => {
      const { app } = await appFor(ROUTES['GET /-/actor.json']!)
      for (const route of app.routes)
        expect({ route: route.path, summary: (route.hooks as { detail?: { summary?: string } }).detail?.summary }).toEqual({
          route: route.path,
          summary: expect.any(String),
        })
    })

    for (const key of SERVED) {
      const route = ROUTES[key]!
      const method = key.split(' ')[0]!
      // On a backend that does not serve the route, "succeeds" means it got past the permission checks to not_supported.
      const succeeds = serves(route) ? `succeeds${route.effect ? ' and changes the file' : ''}` : 'is answered 400 not_supported and changes nothing'
      describe(key, () => {
        test('a token matching nothing is 401 and changes nothing', async () => {
          await expectRefusedUnchanged(await appFor(route), method, route, 'no-such-token', 401)
        })
        if (route.needs.length) {
          test('the anonymous caller is refused with 403 and changes nothing', async () => {
            await expectRefusedUnchanged(await appFor(route), method, route, undefined, 403)
          })
          for (const level of LEVELS) {
            test(`with grants at the ${level} level, a token with every other write permission is refused with 403 and changes nothing`, async () => {
              await expectRefusedUnchanged(await appFor(route, level), method, route, 'lacking-token', 403)
            })
            test(`with grants at the ${level} level, a token with ${route.needs.join(' and ')} ${succeeds}`, async () => {
              const app = await appFor(route, level)
              const before = await route.effect?.(app)
              await expectServed(app, method, route, 'granted-token')
              if (!route.effect) return
              if (serves(route)) expect(await route.effect(app)).not.toEqual(before)
              else expect(await route.effect(app)).toEqual(before)
            })
          }
          if (route.needs.some((action) => !DATABASE_ACTIONS.includes(action))) {
            test('a database-level grant does not override the table rules that withhold it', async () => {
              await expectRefusedUnchanged(await tableDeniesApp(route), method, route, 'lacking-token', 403, undefined, true)
              await expectServed(await tableDeniesApp(route), method, route, 'granted-token')
            })
          }
          if (route.returning !== undefined) {
            test('a writer who may not view the table writes, but asking for the rows back is a 403 that changes nothing', async () => {
              await expectRefusedUnchanged(await blindApp(route), method, route, 'blind-token', 403, route.returning, true)
              await expectServed(await blindApp(route), method, route, 'blind-token')
              await expectServed(await blindApp(route), method, route, 'granted-token', route.returning)
            })
          }
          if (route.showsTable) {
            test('a writer who may not view the table is refused with 403 and changes nothing', async () => {
              await expectRefusedUnchanged(await blindApp(route), method, route, 'blind-token', 403)
              await expectServed(await blindApp(route), method, route, 'granted-token')
            })
          }
        } else {
          test('the anonymous caller may read it', async () => {
            await expectServed(await appFor(route), method, route)
          })
          test('a token with no permissions may read it', async () => {
            await expectServed(await appFor(route), method, route, 'granted-token')
          })
        }
      })
    }
  })
})
