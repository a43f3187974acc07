import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import { PostgresStore } from '../lib/store/postgres/store'
import { expectJson, makeApp, tempDbPath } from './helpers'
import { usePostgres } from './postgres'

describe('/-/health', () => {
  test('answers 200 when every database can take writes, immutable ones included', async () => {
    const frozenPath = tempDbPath('frozen')
    new Database(frozenPath, { create: true }).close()
    const t = makeApp({ databases: [RowpostDatabase.open(frozenPath, { immutable: true })] })
    await expectJson(await t.get('/-/health'), 200, { ok: true, live: true, ready: true, databases: { data: { ok: true }, frozen: { ok: true } } })
  })

  test('answers 503 with the reason while another process holds the write lock, and 200 once it lets go', async () => {
    const t = makeApp()
    const other = new Database(t.path)
    other.run('BEGIN IMMEDIATE')
    await expectJson(await t.get('/-/health'), 503, {
      ok: false,
      live: true,
      ready: false,
      databases: { data: { ok: false, reason: 'Another process holds the write lock' } },
    })
    await expectJson(await t.get('/-/health/live'), 200, { ok: true, live: true })
    other.run('ROLLBACK')
    other.close()
    await expectJson(await t.get('/-/health'), 200, { ok: true, live: true, ready: true, databases: { data: { ok: true } } })
  })

  test('checks taken between concurrent writes leave every write intact', async () => {
    const t = makeApp({ unsafe: true })
    const writes = Array.from({ length: 50 }, (_, id) => t.post('/-/insert/data/dogs?pk=id', [{ id }]))
    const checks = Array.from({ length: 20 }, () => t.get('/-/health'))
    const answers = await Promise.all([...writes, ...checks])
    expect(answers.map((response) => response.status)).toEqual(Array(70).fill(200))
    expect(t.rows('dogs')).toHaveLength(50)
  })

  test('names only the databases the caller may see', async () => {
    const t = makeApp({ defaultDeny: true })
    await expectJson(await t.get('/-/health'), 200, { ok: true, live: true, ready: true, databases: {} })
  })
})

describe('/-/health on PostgreSQL', () => {
  const pg = usePostgres()

  test('answers 200 while the server answers, and 503 with the reason once it is gone', async () => {
    const database = await pg.freshDatabase()
    const store = await PostgresStore.open(database.url, { name: 'data' })
    try {
      const app = createApp({ databases: [store] })
      const health = () => app.handle(new Request('http://localhost/-/health'))
      await expectJson(await health(), 200, { ok: true, live: true, ready: true, databases: { data: { ok: true } } })
      pg.cluster.stop()
      const response = await health()
      const body = (await response.json()) as { ready: boolean; databases: { data: { ok: boolean; reason: string } } }
      expect({ status: response.status, ready: body.ready, ok: body.databases.data.ok }).toEqual({ status: 503, ready: false, ok: false })
      expect(body.databases.data.reason).toStartWith('PostgreSQL')
    } finally {
      await store.close()
    }
  })
})
