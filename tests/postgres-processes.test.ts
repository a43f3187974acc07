/**
 * Several rowpost processes on one PostgreSQL database (issue 10, item 3): writes through both at once, exact counts
 * across processes, a kill -9 of one mid-load, and an Idempotency-Key request answered once whichever process gets it.
 */
import { SQL } from 'bun'
import { describe, expect, test } from 'bun:test'
import { killServersAfterEach, startServer, type RunningServer } from './process'
import { usePostgres, type TestDatabase } from './postgres'

const pg = usePostgres()
killServersAfterEach()

/** Two rowposts serving one fresh database (under its own name, t_<n>), and a client of it for checks. */
async function twoServers(extra: string[] = ['--unsafe']): Promise<{ a: RunningServer; b: RunningServer; sql: SQL; db: TestDatabase }> {
  const db = await pg.freshDatabase()
  const [a, b] = await Promise.all([startServer([db.url, ...extra]), startServer([db.url, ...extra])])
  return { a, b, sql: db.sql({ bigint: true }), db }
}

const post = (server: RunningServer, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } })

/** The database's path segment: the test database's own name (rowpost names a PostgreSQL database after the URL). */
const dbPath = (db: TestDatabase) => `/${db.name}`

describe('two rowposts on one PostgreSQL database', () => {
  test('writes through both at once all land, and every table_count is exact at its commit', async () => {
    const { a, b, sql, db } = await twoServers()
    const requests = 120
    const perRequest = 5
    const answers = await Promise.all(
      Array.from({ length: requests }, async (_, n) => {
        const rows = Array.from({ length: perRequest }, (_, i) => ({ id: n * 100 + i, via: n % 2 ? 'b' : 'a', n }))
        const response = await post(n % 2 ? b : a, `/-/insert${dbPath(db)}/items?pk=id`, rows)
        return { status: response.status, body: (await response.json()) as { table_count: number } }
      }),
    )
    expect(answers.filter((answer) => answer.status !== 200)).toEqual([])
    // Counts are kept in the database, in each write's transaction: every answer saw its own commit's total, so the
    // counts are the multiples of 5 up to the final total, each once, whichever process answered.
    const counts = answers.map((answer) => answer.body.table_count).sort((x, y) => x - y)
    expect(counts).toEqual(Array.from({ length: requests }, (_, n) => (n + 1) * perRequest))
    const [{ n }] = await sql`SELECT count(*) AS n FROM items`
    expect(Number(n)).toBe(requests * perRequest)
    for (const server of [a, b]) {
      const listing = (await (await fetch(`${server.url}${dbPath(db)}.json`)).json()) as { tables: Array<{ name: string; count: number }> }
      expect(listing.tables).toEqual([expect.objectContaining({ name: 'items', count: requests * perRequest })])
    }
  })

  test('a table one process creates is written and read through the other at once', async () => {
    const { a, b, db } = await twoServers()
    expect((await post(a, `/-/insert${dbPath(db)}/fresh?pk=id`, [{ id: 1, name: 'one' }])).status).toBe(200)
    const inserted = await post(b, `${dbPath(db)}/fresh/-/insert`, { rows: [{ id: 2, name: 'two' }] })
    expect(inserted.status).toBe(201)
    const page = (await (await fetch(`${b.url}${dbPath(db)}/fresh.json?_shape=array`)).json()) as unknown[]
    expect(page).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ])
    // A column the other process added is written through this one (its schema is read again when the write needs it).
    expect((await post(a, `/-/insert${dbPath(db)}/fresh?pk=id&alter=1`, [{ id: 3, name: 'three', size: 3 }])).status).toBe(200)
    expect((await post(b, `/-/insert${dbPath(db)}/fresh?pk=id&alter=1`, [{ id: 4, name: 'four', size: 4 }])).status).toBe(200)
    const rows = (await (await fetch(`${a.url}${dbPath(db)}/fresh.json?_shape=array`)).json()) as unknown[]
    expect(rows).toEqual([
      { id: 1, name: 'one', size: null },
      { id: 2, name: 'two', size: null },
      { id: 3, name: 'three', size: 3 },
      { id: 4, name: 'four', size: 4 },
    ])
  })

  test('kill -9 of one mid-load: every acknowledged request is stored whole, none in part, and the other keeps writing', async () => {
    const { a, b, sql, db } = await twoServers()
    const sent: Array<{ n: number; via: 'a' | 'b'; rows: number; status?: number }> = []
    let next = 0
    let stopping = false
    const writer = async (server: RunningServer, via: 'a' | 'b') => {
      while (!stopping) {
        const n = next++
        const rows = 1 + (n % 20)
        const request: (typeof sent)[number] = { n, via, rows }
        sent.push(request)
        try {
          const body = Array.from({ length: rows }, (_, i) => ({ id: n * 100 + i, n, i, via }))
          const response = await post(server, `/-/insert${dbPath(db)}/load?pk=id`, body)
          request.status = response.status
          await response.arrayBuffer()
        } catch {
          // No answer: the process died with the request in flight. It may or may not be stored, but never in part.
          await Bun.sleep(5)
        }
      }
    }
    const writers = [...Array.from({ length: 6 }, () => writer(a, 'a')), ...Array.from({ length: 6 }, () => writer(b, 'b'))]
    await Bun.sleep(400)
    a.child.kill('SIGKILL')
    await a.child.exited
    const ackedByBBeforeKill = sent.filter((request) => request.via === 'b' && request.status === 200).length
    await Bun.sleep(400)
    stopping = true
    await Promise.all(writers)

    const stored = new Map<number, number>()
    for (const row of (await sql`SELECT n, count(*) AS rows FROM load GROUP BY n`) as Array<{ n: bigint; rows: bigint }>) {
      stored.set(Number(row.n), Number(row.rows))
    }
    const acknowledged = sent.filter((request) => request.status === 200)
    expect(acknowledged.filter((request) => stored.get(request.n) !== request.rows)).toEqual([])
    expect(sent.filter((request) => stored.has(request.n) && stored.get(request.n) !== request.rows)).toEqual([])
    expect(sent.filter((request) => request.status !== undefined && request.status !== 200)).toEqual([])
    const ackedByBAfterKill = sent.filter((request) => request.via === 'b' && request.status === 200).length - ackedByBBeforeKill
    expect(ackedByBAfterKill).toBeGreaterThan(0)
    // The counts table lost nothing either: the dead process's last transaction took its count update with it.
    const [{ total }] = await sql`SELECT count(*) AS total FROM load`
    const listing = (await (await fetch(`${b.url}${dbPath(db)}.json`)).json()) as { tables: Array<{ name: string; count: number }> }
    expect(listing.tables).toEqual([expect.objectContaining({ name: 'load', count: Number(total) })])
  })

  test('an Idempotency-Key request retried on the other process is replayed, not written twice', async () => {
    const { a, b, sql, db } = await twoServers()
    const body = { table: 'orders', rows: [{ id: 1, item: 'tea' }], pk: 'id' }
    const first = await post(a, `${dbPath(db)}/-/create`, body, { 'idempotency-key': 'order-1' })
    expect(first.status).toBe(201)
    const firstBody = await first.json()
    const retried = await post(b, `${dbPath(db)}/-/create`, body, { 'idempotency-key': 'order-1' })
    expect({ status: retried.status, replayed: retried.headers.get('idempotent-replayed'), body: await retried.json() }).toEqual({
      status: 201,
      replayed: 'true',
      body: firstBody,
    })
    const other = await post(b, `${dbPath(db)}/-/create`, { ...body, rows: [{ id: 2, item: 'cake' }] }, { 'idempotency-key': 'order-1' })
    expect(other.status).toBe(422)
    expect(await sql`SELECT id, item FROM orders`).toEqual([{ id: 1n, item: 'tea' }])
  })

  test('the same keyed request sent to both at once is written once; one answer is the replay of the other', async () => {
    const { a, b, sql, db } = await twoServers()
    expect((await post(a, `/-/insert${dbPath(db)}/events?pk=id`, [{ id: 0, key: 'seed' }])).status).toBe(200)
    for (let k = 1; k <= 15; k++) {
      const row = { rows: [{ id: k, key: `k${k}` }] }
      const [x, y] = await Promise.all([a, b].map((server) => post(server, `${dbPath(db)}/events/-/insert`, row, { 'idempotency-key': `event-${k}` })))
      const answers = [x!, y!].map((response) => ({ status: response.status, replayed: response.headers.get('idempotent-replayed') }))
      expect(answers.map((answer) => answer.status)).toEqual([201, 201])
      expect(answers.filter((answer) => answer.replayed === 'true').length).toBe(1)
    }
    const [{ n }] = await sql`SELECT count(*) AS n FROM events`
    expect(Number(n)).toBe(16)
  })
})

describe('a schema another process changed', () => {
  test('a column the other rowpost added is written here without alter, though this one described the table before', async () => {
    const { a, b, db } = await twoServers()
    expect((await post(a, `/-/insert${dbPath(db)}/notes?pk=id`, [{ id: 1, text: 'one' }])).status).toBe(200)
    // b reads the table, so it keeps a description without the column a adds next.
    expect((await post(b, `/-/insert${dbPath(db)}/notes?pk=id`, [{ id: 2, text: 'two' }])).status).toBe(200)
    expect((await post(a, `/-/insert${dbPath(db)}/notes?pk=id&alter=1`, [{ id: 3, text: 'three', mood: 'calm' }])).status).toBe(200)
    const response = await post(b, `/-/insert${dbPath(db)}/notes?pk=id`, [{ id: 4, text: 'four', mood: 'glad' }])
    expect({ status: response.status, body: await response.json() }).toEqual({ status: 200, body: { table_count: 4 } })
    const unknown = await post(b, `/-/insert${dbPath(db)}/notes?pk=id`, [{ id: 5, colour: 'red' }])
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as { error_code: string }).error_code).toBe('unknown_keys')
  })
})

describe('the change feed across processes', () => {
  test('a subscriber of one rowpost gets the commits made through the other, once each and in order', async () => {
    const { a, b, db } = await twoServers()
    expect(
      (
        await post(a, `${dbPath(db)}/-/create`, {
          table: 'readings',
          columns: [
            { name: 'id', type: 'integer' },
            { name: 'v', type: 'integer' },
          ],
          pk: 'id',
        })
      ).status,
    ).toBe(201)
    const controller = new AbortController()
    const feed = await fetch(`${a.url}${dbPath(db)}/readings/-/changes?_format=ndjson`, { signal: controller.signal })
    expect(feed.status).toBe(200)
    const writes = await Promise.all(
      Array.from({ length: 20 }, (_, n) => post(n % 2 ? b : a, `${dbPath(db)}/readings/-/insert`, { rows: [{ id: n, v: n * 10 }] }).then((r) => r.status)),
    )
    expect(writes.every((status) => status === 201)).toBe(true)
    const reader = feed.body!.getReader()
    const decoder = new TextDecoder()
    let text = ''
    const deadline = Date.now() + 5_000
    while (text.split('\n').filter((line) => line.startsWith('{"id"')).length < 20 && Date.now() < deadline) {
      const { value, done } = await reader.read()
      if (done) break
      text += decoder.decode(value, { stream: true })
    }
    controller.abort()
    const events = text
      .split('\n')
      .filter((line) => line.startsWith('{"id"'))
      .map((line) => JSON.parse(line) as { id: number; key: number[] })
    expect(events.map((event) => event.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1))
    expect(new Set(events.map((event) => event.key[0])).size).toBe(20)
  })
})
