/** The backend harness itself: the same writes and reads on SQLite and PostgreSQL, and batches with repeated keys and a bad row. */
import { expect, test } from 'bun:test'
import { eachBackend } from './backends'
import { expectJson } from './helpers'

eachBackend((backend) => {
  test('insert, keys, replace, count', async () => {
    const t = await backend.makeApp()
    await expectJson(
      await t.post('/-/insert/data/dogs?pk=id', [
        { id: 1, name: 'A' },
        { id: 2, name: 'B' },
      ]),
      200,
      { table_count: 2 },
    )
    await expectJson(await t.post('/-/insert/data/dogs', { name: 'C' }), 200, { table_count: 3 })
    await expectJson(await t.post('/-/insert/data/dogs', { id: 1, name: 'A2' }), 200, { table_count: 3 })
    expect(await t.rows('dogs')).toEqual([
      { id: 1, name: 'A2' },
      { id: 2, name: 'B' },
      { id: 3, name: 'C' },
    ])
    expect(await t.columns('dogs')).toEqual([
      ['id', 'INTEGER'],
      ['name', 'TEXT'],
    ])
    await expectJson(await t.post('/-/insert/data/log', [{ e: 'x' }, { e: 'y' }]), 200, { table_count: 2 })
    expect(await t.rowids('log')).toEqual([1, 2])
    expect(await t.rows('log')).toEqual([{ e: 'x' }, { e: 'y' }])
    const page = (await (await t.get('/data/log.json?_shape=arrays')).json()) as { rows: unknown[] }
    expect(page.rows).toEqual([
      [1, 'x'],
      [2, 'y'],
    ])
    await t.exec('CREATE TABLE pets (id INTEGER PRIMARY KEY, name TEXT)')
    await t.exec('INSERT INTO pets VALUES (?, ?)', [5, 'Rex'])
    await expectJson(await t.post('/data/pets/-/insert', { row: { id: 6, name: 'Fido' } }), 201, { ok: true, rows: [{ id: 6, name: 'Fido' }] })
    expect(await t.snapshot()).toEqual({
      dogs: {
        columns: [
          ['id', 'INTEGER'],
          ['name', 'TEXT'],
        ],
        rows: [
          { id: 1, name: 'A2' },
          { id: 2, name: 'B' },
          { id: 3, name: 'C' },
        ],
      },
      log: { columns: [['e', 'TEXT']], rows: [{ e: 'x' }, { e: 'y' }] },
      pets: {
        columns: [
          ['id', 'INTEGER'],
          ['name', 'TEXT'],
        ],
        rows: [
          { id: 5, name: 'Rex' },
          { id: 6, name: 'Fido' },
        ],
      },
    })
  })
})

eachBackend((backend) => {
  test('batches: a key repeated within one request is written in order, and a bad row is named', async () => {
    const t = await backend.makeApp()
    const rows = Array.from({ length: 1200 }, (_, i) => ({ id: i % 700, v: i }))
    await expectJson(await t.post('/-/insert/data/b?pk=id', rows), 200, { table_count: 700 })
    const stored = await t.rows('b')
    expect(stored.length).toBe(700)
    expect(stored[5]).toEqual({ id: 5, v: 705 })
    expect(stored[699]).toEqual({ id: 699, v: 699 })
    const upload = Array.from({ length: 50 }, (_, i) => JSON.stringify({ id: 1000 + i, v: i === 37 ? 'x' : i })).join('\n')
    const response = await t.request('POST', '/data/b/-/insert', upload, { 'content-type': 'application/x-ndjson' })
    if (t.backend === 'sqlite') expect(response.status).toBe(201)
    else {
      // PostgreSQL refuses text in the bigint column; the whole upload is refused and the line is named.
      expect(response.status).toBe(400)
      expect(((await response.json()) as { error: string }).error).toContain('Line 38')
      expect((await t.rows('b')).length).toBe(700)
    }
  })
})
