import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { makeApp } from './helpers'

const tableCount = async (response: Response) => ((await response.json()) as { table_count: number }).table_count

describe('table_count without a scan per request', () => {
  test('stays exact through inserts, replacements, upserts, deletes, refused requests and other writers', async () => {
    const t = makeApp({ unsafe: true })
    expect(
      await tableCount(
        await t.post('/-/insert/data/dogs?pk=id', [
          { id: 1, name: 'a' },
          { id: 2, name: 'b' },
        ]),
      ),
    ).toBe(2)
    expect(
      await tableCount(
        await t.post('/-/insert/data/dogs?pk=id', [
          { id: 2, name: 'B' },
          { id: 3, name: 'c' },
        ]),
      ),
    ).toBe(3)
    expect(
      await tableCount(
        await t.post('/-/upsert/data/dogs?pk=id', [
          { id: 3, name: 'C' },
          { id: 4, name: 'd' },
        ]),
      ),
    ).toBe(4)
    expect(
      (
        await t.post('/-/insert/data/dogs', [
          { id: 5, name: 'e' },
          { id: 6, nope: 1 },
        ])
      ).status,
    ).toBe(400)
    expect((await t.post('/data/dogs/4/-/delete', {})).status).toBe(200)
    expect((await t.post('/data/dogs/-/insert', { rows: [{ id: 1, name: 'dup' }], ignore: true })).status).toBe(201)
    expect(await tableCount(await t.post('/-/insert/data/dogs', { id: 7, name: 'g' }))).toBe(4)

    const other = new Database(t.path)
    other.run("INSERT INTO dogs (id, name) VALUES (100, 'from another process'), (101, 'and another')")
    other.close()
    expect(await tableCount(await t.post('/-/insert/data/dogs', { id: 8, name: 'h' }))).toBe(7)
    expect(t.rows('dogs')).toHaveLength(7)
  })

  test('a rowid table counts every insert, and concurrent batched requests agree with the file', async () => {
    const t = makeApp({ unsafe: true })
    await t.post('/-/insert/data/log', { n: 0 })
    const counts = await Promise.all(Array.from({ length: 40 }, (_, n) => t.post('/-/insert/data/log', [{ n }, { n }]).then(tableCount)))
    expect(Math.max(...counts)).toBe(81)
    expect(new Set(counts).size).toBe(40)
    expect(t.rows('log')).toHaveLength(81)
  })

  test('a replace on a table with another UNIQUE index is recounted, not guessed', async () => {
    const t = makeApp({ unsafe: true })
    t.db.connection.run('CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT UNIQUE)')
    await t.post('/-/insert/data/users', [
      { id: 1, email: 'a@x' },
      { id: 2, email: 'b@x' },
    ])
    expect(await tableCount(await t.post('/-/insert/data/users', { id: 3, email: 'a@x' }))).toBe(2)
    expect(t.rows('users')).toEqual([
      { id: 2, email: 'b@x' },
      { id: 3, email: 'a@x' },
    ])
  })
})
