import { describe, expect, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { mintToken } from '../lib/signed-tokens'
import { eachBackend, type Backend } from './backends'
import { runCli } from './process'

const SECRET = 'test-secret'
/** root may do every write action; signed tokens for root can only narrow that. */
const rootMayWrite = interpretMetadata({
  permissions: Object.fromEntries(
    ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table'].map((action) => [action, { id: 'root' }]),
  ),
})

async function appWithTables(backend: Backend) {
  const t = await backend.makeApp({ config: rootMayWrite, secret: SECRET })
  await t.exec('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
  await t.exec('CREATE TABLE cats (id INTEGER PRIMARY KEY, name TEXT)')
  await t.exec("INSERT INTO dogs VALUES (1, 'Cleopaws')")
  return t
}

const denied = (errors: string[]) => ({ ok: false, error: errors.join('; '), errors, status: 403 })

eachBackend((backend) => {
  describe('signed dstok_ tokens', () => {
    test('the Datasette test vector is accepted and names its actor', async () => {
      const t = await backend.makeApp({ secret: 'secret' })
      const response = await t.get('/-/actor.json', 'dstok_eyJhIjoicm9vdCIsInQiOjF9.zTWSgoFsu3FWdk9caKqvmhdyGUs')
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ actor: { id: 'root', token: 'dstok' } })
    })

    test('a token restricted to insert-row on one table inserts there and nowhere else', async () => {
      const t = await appWithTables(backend)
      const token = mintToken(SECRET, { actorId: 'root', restrictions: { r: { data: { dogs: ['ir'] } } } })
      const inserted = await t.post('/data/dogs/-/insert', { row: { id: 2, name: 'Pancakes' } }, token)
      expect(inserted.status).toBe(201)
      // A single "row" is echoed only to callers who may read the table; this token may not.
      expect(await inserted.json()).toEqual({ ok: true })

      const otherTable = await t.post('/data/cats/-/insert', { row: { id: 1, name: 'Tom' } }, token)
      expect(otherTable.status).toBe(403)
      expect(await otherTable.json()).toEqual(denied(['Permission denied']))

      const update = await t.post('/data/dogs/1/-/update', { update: { name: 'Renamed' } }, token)
      expect(update.status).toBe(403)
      const upsert = await t.post('/data/dogs/-/upsert', { rows: [{ id: 1, name: 'Renamed' }] }, token)
      expect(await upsert.json()).toEqual(denied(['Permission denied: need both insert-row and update-row']))
      const create = await t.post('/data/-/create', { table: 'birds', row: { id: 1 } }, token)
      expect(create.status).toBe(403)
      const legacy = await t.post('/-/insert/data/dogs', { id: 3, name: 'Boris' }, token)
      expect(legacy.status).toBe(403)

      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'Cleopaws' },
        { id: 2, name: 'Pancakes' },
      ])
      expect(await t.rows('cats')).toEqual([])
      expect(await t.tables()).toEqual(['cats', 'dogs'])
    })

    test('restrictions never widen what the actor may do', async () => {
      const t = await appWithTables(backend)
      const token = mintToken(SECRET, { actorId: 'someone-else', restrictions: { a: ['ir', 'ur', 'ct'] } })
      const response = await t.post('/data/dogs/-/insert', { row: { id: 5, name: 'Rex' } }, token)
      expect(response.status).toBe(403)
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Cleopaws' }])
    })

    test('an unrestricted token carries all of its actor’s permissions', async () => {
      const t = await appWithTables(backend)
      const token = mintToken(SECRET, { actorId: 'root' })
      const response = await t.post('/data/dogs/-/upsert', { rows: [{ id: 1, name: 'Renamed' }] }, token)
      expect(response.status).toBe(200)
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Renamed' }])
    })

    test.each([
      ['expired', () => mintToken(SECRET, { actorId: 'root', expiresAfter: 10, now: Math.floor(Date.now() / 1000) - 60 }), 'Token has expired'],
      ['signed with another secret', () => mintToken('other-secret', { actorId: 'root' }), 'Invalid token signature'],
      ['tampered with', () => mintToken(SECRET, { actorId: 'root' }).replace('dstok_eyJ', 'dstok_eyK'), 'Invalid token signature'],
      ['truncated', () => mintToken(SECRET, { actorId: 'root' }).slice(0, 30), 'Invalid token signature'],
    ])('a token that is %s gets 401 saying so, and writes nothing', async (_case, makeToken, message) => {
      const t = await appWithTables(backend)
      const response = await t.post('/data/dogs/-/insert', { row: { id: 9, name: 'Nope' } }, makeToken())
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(await response.json()).toEqual({ ok: false, error: message, errors: [message], status: 401 })
      expect(await t.rows('dogs')).toEqual([{ id: 1, name: 'Cleopaws' }])
    })

    test('without a secret, signed tokens are refused with a clear 401', async () => {
      const t = await backend.makeApp({ config: rootMayWrite })
      const response = await t.post('/-/insert/data/dogs', { id: 1 }, mintToken(SECRET, { actorId: 'root' }))
      expect(response.status).toBe(401)
      expect(await response.json()).toEqual({
        status: 401,
        error: 'Signed API tokens are not enabled on this server (start it with --secret or ROWPOST_SECRET)',
        error_code: 'invalid_token',
      })
      expect(await t.tables()).toEqual([])
    })

    test('rowpost create-token prints a token the server accepts, with its restrictions', async () => {
      const result = await runCli(['create-token', 'root', '--resource', 'data', 'dogs', 'insert-row', '--expires-after', '3600'], {
        env: { ROWPOST_SECRET: SECRET },
      })
      expect(result.exitCode).toBe(0)
      const token = result.stdout.trim()
      expect(token).toStartWith('dstok_')
      const t = await appWithTables(backend)
      const actor = (await (await t.get('/-/actor.json', token)).json()) as { actor: Record<string, unknown> }
      expect(actor.actor.id).toBe('root')
      expect(actor.actor._r).toEqual({ r: { data: { dogs: ['ir'] } } })
      expect(typeof actor.actor.token_expires).toBe('number')
      expect((await t.post('/data/dogs/-/insert', { row: { id: 4, name: 'Max' } }, token)).status).toBe(201)
      expect((await t.post('/data/cats/-/insert', { row: { id: 4, name: 'Max' } }, token)).status).toBe(403)
    })
  })
})

// No database is involved: the CLI refuses before it opens one.
describe('signed dstok_ tokens', () => {
  test('rowpost create-token without a secret exits 2 and says how to give one', async () => {
    const env = { ...process.env }
    delete env.ROWPOST_SECRET
    const result = await runCli(['create-token', 'root'], { env: env as Record<string, string> })
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain('create-token needs a secret')
    expect(result.stdout).toBe('')
  })
})
