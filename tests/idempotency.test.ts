/** Idempotency-Key: a retried write replays its first answer and writes nothing again, on both backends. */
import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { interpretMetadata } from '../lib/config'
import { eachBackend, type BackendApp } from './backends'
import { tempDir } from './helpers'
import { killServersAfterEach, startServer } from './process'

const withKey = (key: string) => ({ 'idempotency-key': key })

/** Whether rowpost's table of stored answers exists (the inspectors leave rowpost's own tables out). */
async function hasIdempotencyTable(t: BackendApp): Promise<boolean> {
  const sql =
    t.backend === 'sqlite'
      ? "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = ?"
      : 'SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?'
  return (await t.query(sql, ['_rowpost_idempotency'])).length === 1
}

eachBackend((backend) => {
  describe('Idempotency-Key', () => {
    test('a retry with the same key replays the first response and writes nothing', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const first = await t.post('/-/insert/data/readings', [{ sensor: 'a', value: 1 }], undefined, withKey('req-1'))
      expect(first.status).toBe(200)
      expect(await first.json()).toEqual({ table_count: 1 })
      await t.post('/-/insert/data/readings', { sensor: 'b', value: 2 })
      const retry = await t.post('/-/insert/data/readings', [{ sensor: 'a', value: 1 }], undefined, withKey('req-1'))
      expect(retry.status).toBe(200)
      expect(retry.headers.get('idempotent-replayed')).toBe('true')
      expect(await retry.json()).toEqual({ table_count: 1 })
      expect(await t.rows('readings')).toEqual([
        { sensor: 'a', value: 1 },
        { sensor: 'b', value: 2 },
      ])
    })

    test('the 1.0 API replays its status and body too', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const body = { table: 'notes', row: { id: 1, text: 'hello' }, pk: 'id' }
      const first = await t.post('/data/-/create', body, undefined, withKey('create-1'))
      expect(first.status).toBe(201)
      const firstBody = await first.json()
      const retry = await t.post('/data/-/create', body, undefined, withKey('create-1'))
      expect(retry.status).toBe(201)
      expect(await retry.json()).toEqual(firstBody)
      const insert = { rows: [{ id: 2, text: 'again' }] }
      expect((await t.post('/data/notes/-/insert', insert, undefined, withKey('ins-1'))).status).toBe(201)
      expect((await t.post('/data/notes/-/insert', insert, undefined, withKey('ins-1'))).status).toBe(201)
      expect(await t.rows('notes')).toEqual([
        { id: 1, text: 'hello' },
        { id: 2, text: 'again' },
      ])
    })

    test('the same key with a different body is a 422 and writes nothing', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/readings', { value: 1 }, undefined, withKey('k'))
      const reused = await t.post('/-/insert/data/readings', { value: 2 }, undefined, withKey('k'))
      expect(reused.status).toBe(422)
      expect(await reused.json()).toEqual({
        status: 422,
        error: 'This Idempotency-Key was already used for a different request; use a new key for a new request',
        error_code: 'idempotency_key_reused',
      })
      expect(await t.rows('readings')).toEqual([{ value: 1 }])
    })

    test('keys belong to one actor: another actor with the same key is a new request', async () => {
      const config = interpretMetadata({
        permissions: { 'insert-row': true, 'update-row': true, 'create-table': true },
        plugins: {
          'datasette-auth-tokens': {
            tokens: [
              { token: 'tok-a', actor: { id: 'a' } },
              { token: 'tok-b', actor: { id: 'b' } },
            ],
          },
        },
      })
      const t = await backend.makeApp({ config })
      expect((await t.post('/-/insert/data/log', { n: 1 }, 'tok-a', withKey('same'))).status).toBe(200)
      const other = await t.post('/-/insert/data/log', { n: 1 }, 'tok-b', withKey('same'))
      expect(other.headers.get('idempotent-replayed')).toBeNull()
      expect(await other.json()).toEqual({ table_count: 2 })
      expect(await t.rows('log')).toHaveLength(2)
    })

    test('a failed request stores nothing, so its retry runs again', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/dogs?pk=id', { id: 1, name: 'a' })
      expect((await t.post('/-/insert/data/dogs', { id: 2, nope: 1 }, undefined, withKey('x'))).status).toBe(400)
      const retry = await t.post('/-/insert/data/dogs?alter=1', { id: 2, nope: 1 }, undefined, withKey('x'))
      expect(retry.status).toBe(200)
      expect(await t.rows('dogs')).toEqual([
        { id: 1, name: 'a', nope: null },
        { id: 2, name: null, nope: 1 },
      ])
    })

    test('keys expire after idempotency_key_ttl seconds', async () => {
      const t = await backend.makeApp({ unsafe: true, settings: { idempotency_key_ttl: 1 } })
      await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('old'))
      await Bun.sleep(1100)
      const again = await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('old'))
      expect(again.headers.get('idempotent-replayed')).toBeNull()
      expect(await t.rows('log')).toHaveLength(2)
    })

    test.each([['a'.repeat(256)], ['has space'], ['']])('a malformed key %p is a 400 and writes nothing', async (key) => {
      const t = await backend.makeApp({ unsafe: true })
      const response = await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey(key))
      expect(response.status).toBe(400)
      expect(((await response.json()) as { error: string }).error).toBe('Idempotency-Key must be 1 to 255 visible ASCII characters')
      expect(await t.tables()).toEqual([])
    })

    test('the stored responses are never listed, readable or writable through the API', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/-/insert/data/log', { n: 1 }, undefined, withKey('hidden'))
      expect(await hasIdempotencyTable(t)).toBe(true)
      const listing = (await (await t.get('/data.json')).json()) as { tables: Array<{ name: string }> }
      expect(listing.tables.map((table) => table.name)).toEqual(['log'])
      expect((await t.get('/data/_rowpost_idempotency.json')).status).toBe(404)
      expect((await t.post('/-/insert/data/_rowpost_idempotency', { actor: 'x' })).status).toBe(400)
      expect((await t.post('/data/_rowpost_idempotency/-/drop', { confirm: true })).status).toBe(404)
    })
  })
})

// SQLite only: kill -9 of a server on a .db file and a read of that file; tests/postgres-processes.test.ts retries a key on a second process on PostgreSQL.
describe('Idempotency-Key across a crash', () => {
  const servers = killServersAfterEach()

  test('a retry after kill -9 and restart gets the stored response and writes nothing again', async () => {
    const dir = tempDir()
    const first = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(first)
    const send = (url: string) =>
      fetch(`${url}/-/insert/data/payments?pk=id`, { method: 'POST', body: '[{"id": 1, "amount": 250}]', headers: withKey('payment-1') })
    const response = await send(first.url)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: 1 })
    await first.stop('SIGKILL')

    const second = await startServer(['data.db', '--unsafe'], { cwd: dir })
    servers.push(second)
    await fetch(`${second.url}/-/insert/data/payments?pk=id`, { method: 'POST', body: '{"id": 2, "amount": 5}' })
    const retry = await send(second.url)
    expect(retry.status).toBe(200)
    expect(retry.headers.get('idempotent-replayed')).toBe('true')
    expect(await retry.json()).toEqual({ table_count: 1 })
    await second.stop('SIGKILL')
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    expect(file.query('SELECT * FROM payments ORDER BY id').all()).toEqual([
      { id: 1, amount: 250 },
      { id: 2, amount: 5 },
    ])
    file.close()
  })
})
