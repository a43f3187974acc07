import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import { makeApp, tempDbPath, tempDir } from './helpers'
import { killServersAfterEach, startServer } from './process'

const integrity = (path: string) => {
  const file = new Database(path, { readonly: true })
  try {
    return (file.query('PRAGMA integrity_check').get() as { integrity_check: string }).integrity_check
  } finally {
    file.close()
  }
}

describe('a full disk or database', () => {
  test('is a 507 that keeps nothing of the request, and writes succeed again once there is space', async () => {
    const t = makeApp({ unsafe: true })
    expect((await t.post('/-/insert/data/blobs?pk=id', { id: 0, text: 'seed' })).status).toBe(200)
    const { page_count: pages } = t.db.connection.query('PRAGMA page_count').get() as { page_count: number }
    t.db.connection.run(`PRAGMA max_page_count = ${pages + 2}`)
    const rows = Array.from({ length: 50 }, (_, i) => ({ id: i + 1, text: 'x'.repeat(4000) }))
    const full = await t.post(
      '/-/insert/data/blobs?pk=id&alter=1',
      rows.map((row) => ({ ...row, extra: 1 })),
    )
    expect(full.status).toBe(507)
    expect(await full.json()).toEqual({
      status: 507,
      error: 'Insufficient storage: the database or disk is full; nothing from this request was written',
      error_code: 'storage_full',
    })
    expect(t.rows('blobs')).toEqual([{ id: 0, text: 'seed' }])
    expect(t.columns('blobs')).toEqual([
      ['id', 'INTEGER'],
      ['text', 'TEXT'],
    ])

    const fullApi = await t.post('/data/blobs/-/insert', { rows: rows.slice(0, 20) })
    expect(fullApi.status).toBe(507)
    expect(((await fullApi.json()) as { ok: boolean }).ok).toBe(false)

    t.db.connection.run('PRAGMA max_page_count = 1073741823')
    const later = await t.post('/-/insert/data/blobs?pk=id', rows)
    expect(later.status).toBe(200)
    expect(await later.json()).toEqual({ table_count: 51 })
    expect(integrity(t.path)).toBe('ok')
  })
})

describe('a database locked by another process', () => {
  test('gets a 503 with Retry-After after the busy timeout, reads keep working, and writes resume when it is released', async () => {
    const path = tempDbPath()
    const db = RowpostDatabase.open(path, { create: true, busyTimeoutMs: 150 })
    const app = createApp({ databases: [db], unsafe: true })
    const post = (body: unknown) => app.handle(new Request('http://localhost/-/insert/data/jobs', { method: 'POST', body: JSON.stringify(body) }))
    expect((await post({ n: 1 })).status).toBe(200)

    const other = new Database(path)
    other.run('BEGIN IMMEDIATE')
    other.run('INSERT INTO jobs (n) VALUES (100)')
    const started = performance.now()
    const pending = post({ n: 2 })
    const read = await app.handle(new Request('http://localhost/data/jobs.json?_shape=array'))
    expect(read.status).toBe(200)
    expect(await read.json()).toEqual([{ rowid: 1, n: 1 }])
    const busy = await pending
    expect(performance.now() - started).toBeGreaterThanOrEqual(140)
    expect(busy.status).toBe(503)
    expect(busy.headers.get('retry-after')).toBe('1')
    expect(await busy.json()).toEqual({ status: 503, error: 'Database is locked by another writer; retry shortly', error_code: 'database_busy' })
    other.run('COMMIT')
    other.close()

    const after = await post({ n: 3 })
    expect(after.status).toBe(200)
    expect(await after.json()).toEqual({ table_count: 3 })
    const file = new Database(path, { readonly: true })
    expect(file.query('SELECT n FROM jobs ORDER BY rowid').values()).toEqual([[1], [100], [3]])
    file.close()
    db.close()
  })
})

describe('two rowpost processes on one file', () => {
  const servers = killServersAfterEach()

  test('both write at once: every acknowledged row is there once, refusals are 503, and the file stays sound', async () => {
    const dir = tempDir()
    const first = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(first)
    expect((await fetch(`${first.url}/-/insert/data/events?pk=id`, { method: 'POST', body: '{"id": 0, "source": "setup"}' })).status).toBe(200)
    const second = await startServer(['data.db', '--unsafe'], { cwd: dir })
    servers.push(second)

    const acknowledged: number[] = []
    const statuses = new Set<number>()
    await Promise.all(
      Array.from({ length: 300 }, async (_, i) => {
        const server = i % 2 ? second : first
        const id = i + 1
        const response = await fetch(`${server.url}/-/insert/data/events?pk=id`, {
          method: 'POST',
          body: JSON.stringify({ id, source: i % 2 ? 'second' : 'first' }),
        })
        statuses.add(response.status)
        if (response.status === 200) acknowledged.push(id)
      }),
    )
    expect([...statuses].every((status) => status === 200 || status === 503)).toBe(true)
    expect(acknowledged.length).toBeGreaterThan(0)
    await first.stop()
    await second.stop()
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    const stored = (file.query('SELECT id FROM events WHERE id > 0 ORDER BY id').values() as number[][]).map(([id]) => id)
    file.close()
    expect(stored).toEqual(acknowledged.sort((a, b) => a - b))
    expect(integrity(join(dir, 'data.db'))).toBe('ok')
  })
})
