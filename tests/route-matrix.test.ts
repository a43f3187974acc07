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
}

const docs = (t: TestApp) => t.rows('docs')
const ROUTES: Record<string, RouteCase> = {
  'POST /-/insert/:database/:table': { needs: ['insert-row', 'update-row'], path: '/-/insert/data/docs', body: { id: 9, title: 'new' }, ok: 200, effect: docs },
  'POST /-/upsert/:database/:table': { needs: ['insert-row', 'update-row'], path: '/-/upsert/data/docs?pk=id', body: { id: 1, title: 'changed' }, ok: 200, effect: docs },
  'POST /:database/-/create': { needs: ['create-table'], path: '/data/-/create', body: { table: 'made', columns: [{ name: 'x' }] }, ok: 201, effect: (t) => t.tables() },
  'POST /:database/:table/-/insert': { needs: ['insert-row'], path: '/data/docs/-/insert', body: { row: { id: 9, title: 'new' } }, ok: 201, effect: docs },
  'POST /:database/:table/-/upsert': { needs: ['insert-row', 'update-row'], path: '/data/docs/-/upsert', body: { rows: [{ id: 1, title: 'changed' }] }, ok: 200, effect: docs },
  'POST /:database/:table/-/drop': { needs: ['drop-table'], path: '/data/docs/-/drop', body: { confirm: true }, ok: 200, effect: (t) => t.tables() },
  'POST /:database/:table/:pks/-/update': { needs: ['update-row'], path: '/data/docs/1/-/update', body: { update: { title: 'changed' } }, ok: 200, effect: docs },
  'POST /:database/:table/:pks/-/delete': { needs: ['delete-row'], path: '/data/docs/1/-/delete', ok: 200, effect: docs },
  'GET /-/databases.json': { needs: [], path: '/-/databases.json', ok: 200 },
  'GET /-/versions.json': { needs: [], path: '/-/versions.json', ok: 200 },
  'GET /-/actor.json': { needs: [], path: '/-/actor.json', ok: 200 },
  'GET /-/settings.json': { needs: [], path: '/-/settings.json', ok: 200 },
  'GET /:database': { needs: [], path: '/data.json', ok: 200 },
  'GET /:database/:table': { needs: [], path: '/data/docs.json', ok: 200 },
  'GET /:database/:table/:pks': { needs: [], path: '/data/docs/1.json', ok: 200 },
}

const ALL_WRITES: Action[] = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table']

/** A token per caller kind: `granted` has exactly the route's permissions, `lacking` has every other write permission. */
function appFor(route: RouteCase): TestApp {
  const permissions = Object.fromEntries(
    ALL_WRITES.map((action) => [action, route.needs.includes(action) ? { id: 'granted' } : { id: 'lacking' }]),
  )
  const config = interpretMetadata({
    permissions,
    plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'granted-token', actor: { id: 'granted' } }, { token: 'lacking-token', actor: { id: 'lacking' } }] } },
  })
  const t = makeApp({ config })
  t.db.connection.run('CREATE TABLE docs (id INTEGER PRIMARY KEY, title TEXT)')
  t.db.connection.run("INSERT INTO docs VALUES (1, 'first')")
  return t
}

const send = (t: TestApp, method: string, route: RouteCase, token?: string) =>
  method === 'GET' ? t.get(route.path, token) : t.post(route.path, route.body ?? {}, token)

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
    const route = ROUTES[key]
    const method = key.split(' ')[0]!
    describe(key, () => {
      test('a token matching nothing is 401 and changes nothing', async () => {
        const app = appFor(route!)
        const before = route!.effect?.(app)
        expect((await send(app, method, route!, 'no-such-token')).status).toBe(401)
        expect(route!.effect?.(app)).toEqual(before)
      })
      if (route!.needs.length) {
        test('the anonymous caller is refused with 403 and changes nothing', async () => {
          const app = appFor(route!)
          const before = route!.effect?.(app)
          expect((await send(app, method, route!)).status).toBe(403)
          expect(route!.effect?.(app)).toEqual(before)
        })
        test('a token with every other write permission is refused with 403 and changes nothing', async () => {
          const app = appFor(route!)
          const before = route!.effect?.(app)
          expect((await send(app, method, route!, 'lacking-token')).status).toBe(403)
          expect(route!.effect?.(app)).toEqual(before)
        })
      } else {
        test('the anonymous caller may read it', async () => {
          expect((await send(appFor(route!), method, route!)).status).toBe(route!.ok)
        })
      }
      test(`a token with ${route!.needs.join(' and ') || 'no permissions'} succeeds${route!.effect ? ' and changes the file' : ''}`, async () => {
        const app = appFor(route!)
        const before = route!.effect?.(app)
        const response = await send(app, method, route!, 'granted-token')
        expect(response.status).toBe(route!.ok)
        if (route!.effect) expect(route!.effect(app)).not.toEqual(before)
      })
    })
  }
})
