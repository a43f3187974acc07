import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { RowpostDatabase } from '../lib/database'
import { makeApp, tempDbPath } from './helpers'

const countIn = (path: string, table: string) => {
  const file = new Database(path, { readonly: true })
  try {
    return (file.query(`SELECT count(*) AS n FROM "${table}"`).get() as { n: number }).n
  } finally {
    file.close()
  }
}

describe('group commit', () => {
  test('one bad request among many concurrent good ones fails alone; every good row lands', async () => {
    const t = makeApp({ unsafe: true })
    await t.post('/-/insert/data/readings?pk=id', { id: 0, value: 0 })
    const good = Array.from({ length: 60 }, (_, i) =>
      t.post('/-/insert/data/readings?pk=id', [
        { id: i * 2 + 1, value: i },
        { id: i * 2 + 2, value: i },
      ]),
    )
    const bad = [
      t.post('/-/insert/data/readings', [
        { id: 1000, value: 1 },
        { id: 1001, nope: 1 },
      ]),
      t.post('/-/insert/data/readings?pk=id', '[{"id": 2000, "value": 1}, {"id": 2001, "value": 123456789012345678901234567890}]'),
      t.post('/data/readings/-/insert', {
        rows: [
          { id: 3000, value: 1 },
          { id: 1, value: 'duplicate key' },
        ],
      }),
    ]
    const responses = await Promise.all([...good, ...bad])
    expect(responses.slice(0, 60).map((response) => response.status)).toEqual(Array(60).fill(200))
    expect(responses.slice(60).map((response) => response.status)).toEqual([400, 400, 400])
    expect(countIn(t.path, 'readings')).toBe(121)
    const ids = new Set(t.rows('readings').map((row) => row.id))
    for (const absent of [1000, 1001, 2000, 2001, 3000]) expect(ids.has(absent)).toBe(false)
  })

  test('a row written in an open batch is invisible to readers until the batch commits', async () => {
    const path = tempDbPath()
    const db = RowpostDatabase.open(path, { create: true })
    await db.write((writer) => writer.run('CREATE TABLE events (id INTEGER PRIMARY KEY, note TEXT)'))
    const pending = db.write((writer) => writer.run("INSERT INTO events (note) VALUES ('uncommitted')"))
    expect(db.countRows('events')).toBe(0)
    expect(countIn(path, 'events')).toBe(0)
    await pending
    expect(db.countRows('events')).toBe(1)
    expect(countIn(path, 'events')).toBe(1)
    db.close()
  })

  test('a write resolves only once another connection can see its row', async () => {
    const path = tempDbPath()
    const db = RowpostDatabase.open(path, { create: true })
    await db.write((writer) => writer.run('CREATE TABLE events (id INTEGER PRIMARY KEY)'))
    const seenAtResolve: number[] = []
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db.write((writer) => writer.run(`INSERT INTO events (id) VALUES (${i + 1})`)).then(() => seenAtResolve.push(countIn(path, 'events'))),
      ),
    )
    expect(seenAtResolve).toHaveLength(20)
    expect(Math.min(...seenAtResolve)).toBe(20)
    db.close()
  })

  test('concurrent requests share commits: 200 single-row writes need far fewer transactions', async () => {
    const t = makeApp({ unsafe: true })
    await t.post('/-/insert/data/hits', { n: 0 })
    const commitsBefore = (t.db.connection.query('PRAGMA data_version').get() as { data_version: number }).data_version
    const observer = new Database(t.path, { readonly: true })
    const versions = new Set<number>()
    const writes = Array.from({ length: 200 }, (_, n) =>
      t.post('/-/insert/data/hits', { n: n + 1 }).then((response) => {
        versions.add((observer.query('PRAGMA data_version').get() as { data_version: number }).data_version)
        return response.status
      }),
    )
    expect(await Promise.all(writes)).toEqual(Array(200).fill(200))
    expect(countIn(t.path, 'hits')).toBe(201)
    expect(versions.size).toBeLessThan(200)
    expect(commitsBefore).toBeGreaterThan(0)
    observer.close()
  })
})
