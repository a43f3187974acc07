import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { makeApp, tempDir, type TestApp } from './helpers'
import { killServersAfterEach, startServer } from './process'

const encoder = new TextEncoder()

/** A request body that yields `chunks` one at a time, as a slow client would send them. */
function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  let index = 0
  return new ReadableStream({
    pull(controller) {
      if (index < chunks.length) controller.enqueue(encoder.encode(chunks[index++]!))
      else controller.close()
    },
  })
}

const upload = (t: TestApp, path: string, type: string, body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
  t.request('POST', path, body, { 'content-type': type, ...headers })

const typesIn = (t: TestApp, table: string) => new Database(t.path, { readonly: true }).query(`SELECT name, type FROM pragma_table_info('${table}')`).values()

describe('streamed uploads on the legacy route', () => {
  test('NDJSON creates the table, types its columns and answers the table count', async () => {
    const t = makeApp({ unsafe: true })
    const body =
      '{"id": 1, "name": "Cleopaws", "weight": 4.5}\n{"id": 2, "name": "Pancakes", "weight": 3}\r\n\n{"id": 3, "name": "Boris", "big": 9223372036854775807}'
    const response = await upload(t, '/-/insert/data/dogs?pk=id', 'application/x-ndjson', body)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: 3 })
    expect(typesIn(t, 'dogs')).toEqual([
      ['id', 'INTEGER'],
      ['name', 'TEXT'],
      ['weight', 'REAL'],
      ['big', 'INTEGER'],
    ])
    const exact = new Database(t.path, { readonly: true }).query('SELECT CAST(big AS TEXT) AS big FROM dogs WHERE id = 3').get()
    expect(exact).toEqual({ big: '9223372036854775807' })
  })

  test('CSV columns are typed by every value, even when the first thousand rows suggested otherwise', async () => {
    const t = makeApp({ unsafe: true })
    const lines = ['id,code,reading,label']
    for (let i = 1; i <= 1500; i++) lines.push(`${i},${i === 1400 ? 'N/A' : i},${i === 1200 ? '2.5' : i},row ${i}`)
    const response = await upload(t, '/-/insert/data/readings?pk=id', 'text/csv', streamOf(lines.map((line) => `${line}\n`)))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: 1500 })
    expect(typesIn(t, 'readings')).toEqual([
      ['id', 'INTEGER'],
      ['code', 'TEXT'],
      ['reading', 'REAL'],
      ['label', 'TEXT'],
    ])
    const file = new Database(t.path, { readonly: true })
    expect(file.query('SELECT code, typeof(code) AS t FROM readings WHERE id IN (5, 1400) ORDER BY id').all()).toEqual([
      { code: '5', t: 'text' },
      { code: 'N/A', t: 'text' },
    ])
    expect(file.query("SELECT count(*) AS n FROM readings WHERE typeof(reading) = 'real'").get()).toEqual({ n: 1500 })
    expect(file.query("SELECT sql FROM sqlite_schema WHERE name = 'readings'").get()).toEqual({
      sql: 'CREATE TABLE "readings" (\n   "id" INTEGER PRIMARY KEY,\n   "code" TEXT,\n   "reading" REAL,\n   "label" TEXT\n)',
    })
  })

  test('TSV with quoted fields and empty cells', async () => {
    const t = makeApp({ unsafe: true })
    const body = 'name\tnote\tn\n"Tab\tbed"\t"line one\nline two"\t1\nplain\t\t2\n'
    const response = await upload(t, '/-/insert/data/notes', 'text/tab-separated-values; charset=utf-8', body)
    expect(await response.json()).toEqual({ table_count: 2 })
    expect(t.rows('notes')).toEqual([
      { name: 'Tab\tbed', note: 'line one\nline two', n: 1 },
      { name: 'plain', note: null, n: 2 },
    ])
  })

  test.each([
    ['a line that is not an object', 'application/x-ndjson', '{"id": 1}\n{"id": 2}\n[3]\n', 'Line 3: expected a JSON object, got an array'],
    ['a line that is not JSON', 'application/x-ndjson', '{"id": 1}\n{"id": 2,}\n', 'Line 2: Invalid JSON'],
    ['a truncated CSV', 'text/csv', 'id,name\n1,a\n2,"unclosed\n', 'Line 3: a quoted field starts here and is never closed'],
    ['a header with duplicate names', 'text/csv', 'id,Name,name\n1,a,b\n', 'Line 1: the header repeats column names'],
  ])('%s fails the whole upload with a 400 naming the line, and writes nothing', async (_case, type, body, message) => {
    const t = makeApp({ unsafe: true })
    const response = await upload(t, '/data/-/create', 'application/json', JSON.stringify({ table: 'existing', row: { id: 0 }, pk: 'id' }))
    expect(response.status).toBe(201)
    const failed = await upload(t, '/data/existing/-/insert', type, body)
    expect(failed.status).toBe(400)
    expect(((await failed.json()) as { error: string }).error).toStartWith(message)
    expect(t.rows('existing')).toEqual([{ id: 0 }])
    const fresh = await upload(t, '/-/insert/data/fresh?pk=id', type, body)
    expect(fresh.status).toBe(400)
    expect(t.tables()).toEqual(['existing'])
  })

  test('a key that already exists fails a plain 1.0 insert stream with the line of the duplicate', async () => {
    const t = makeApp({ unsafe: true })
    await upload(t, '/data/-/create', 'application/json', JSON.stringify({ table: 'docs', row: { id: 0 }, pk: 'id' }))
    const failed = await upload(t, '/data/docs/-/insert', 'application/x-ndjson', '{"id": 1}\n{"id": 2}\n{"id": 1}\n')
    expect(failed.status).toBe(400)
    expect(await failed.json()).toEqual({
      ok: false,
      error: 'Line 3: UNIQUE constraint failed: docs.id',
      errors: ['Line 3: UNIQUE constraint failed: docs.id'],
      status: 400,
    })
    expect(t.rows('docs')).toEqual([{ id: 0 }])
  })

  // Keyed rows go as statements of up to 64 rows each: a failing row deep in a batch is still named by its own line.
  test('a duplicate key deep in a long stream names its line and keeps nothing', async () => {
    const t = makeApp({ unsafe: true })
    await upload(t, '/data/-/create', 'application/json', JSON.stringify({ table: 'docs', row: { id: -1 }, pk: 'id' }))
    const ids = Array.from({ length: 300 }, (_, i) => (i === 201 ? 5 : i))
    const failed = await upload(t, '/data/docs/-/insert', 'application/x-ndjson', ids.map((id) => `{"id": ${id}}\n`).join(''))
    expect(await failed.json()).toEqual({
      ok: false,
      error: 'Line 202: UNIQUE constraint failed: docs.id',
      errors: ['Line 202: UNIQUE constraint failed: docs.id'],
      status: 400,
    })
    expect(t.rows('docs')).toEqual([{ id: -1 }])
  })

  test('repeated keys in one long batch are written in order, the last one kept, and counted once', async () => {
    const t = makeApp({ unsafe: true })
    const rows = Array.from({ length: 300 }, (_, i) => ({ id: i % 100, v: `r${i}` }))
    const response = await t.post('/-/insert/data/docs?pk=id', rows)
    expect(await response.json()).toEqual({ table_count: 100 })
    expect(t.rows('docs')).toEqual(Array.from({ length: 100 }, (_, i) => ({ id: i, v: `r${i + 200}` })))
    // The 1.0 API takes at most 100 rows a request: half update, half insert.
    const upserted = await t.post('/data/docs/-/upsert', { rows: Array.from({ length: 100 }, (_, i) => ({ id: i + 50, v: `u${i + 50}` })) })
    expect(upserted.status).toBe(200)
    expect(t.rows('docs')).toHaveLength(150)
    expect(t.rows('docs').at(-1)).toEqual({ id: 149, v: 'u149' })
  })

  test('a streamed body over max_stream_bytes is a 413 and nothing is kept', async () => {
    const t = makeApp({ unsafe: true, settings: { max_stream_bytes: 2000 } })
    const lines = Array.from({ length: 200 }, (_, i) => `{"id": ${i}, "pad": "${'x'.repeat(20)}"}\n`)
    const response = await upload(t, '/-/insert/data/big', 'application/x-ndjson', streamOf(lines))
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({ status: 413, error: 'Request body exceeded maximum size of 2000 bytes', error_code: 'too_large' })
    expect(t.tables()).toEqual([])
  })

  test('max_insert_rows does not apply to a stream, and max_post_body_bytes does not either', async () => {
    const t = makeApp({ unsafe: true, settings: { max_insert_rows: 5, max_post_body_bytes: 100 } })
    await upload(t, '/data/-/create', 'application/json', JSON.stringify({ table: 'events', columns: [{ name: 'id', type: 'integer' }], pk: 'id' }))
    const lines = Array.from({ length: 500 }, (_, i) => `{"id": ${i}}\n`)
    const response = await upload(t, '/data/events/-/insert', 'application/x-ndjson', streamOf(lines))
    expect(response.status).toBe(201)
    expect(await response.json()).toEqual({ ok: true, row_count: 500 })
    expect(t.rows('events')).toHaveLength(500)
  })
})

describe('streamed uploads on the 1.0 route', () => {
  test('an unknown column is refused with its line unless ?alter=1', async () => {
    const t = makeApp({ unsafe: true })
    await upload(t, '/data/-/create', 'application/json', JSON.stringify({ table: 'docs', row: { id: 1, title: 'a' }, pk: 'id' }))
    const body = '{"id": 2, "title": "b"}\n{"id": 3, "title": "c", "extra": true}\n'
    const refused = await upload(t, '/data/docs/-/insert', 'application/x-ndjson', body)
    expect(refused.status).toBe(400)
    expect(((await refused.json()) as { error: string }).error).toBe('Line 2: table docs has no column named extra')
    expect(t.rows('docs')).toEqual([{ id: 1, title: 'a' }])
    const altered = await upload(t, '/data/docs/-/insert?alter=1', 'application/x-ndjson', body)
    expect(altered.status).toBe(201)
    expect(t.rows('docs')).toEqual([
      { id: 1, title: 'a', extra: null },
      { id: 2, title: 'b', extra: null },
      { id: 3, title: 'c', extra: 1 },
    ])
  })

  test('upsert streams update only the given columns', async () => {
    const t = makeApp({ unsafe: true })
    await upload(
      t,
      '/data/-/create',
      'application/json',
      JSON.stringify({
        table: 'docs',
        rows: [
          { id: 1, title: 'a', n: 1 },
          { id: 2, title: 'b', n: 2 },
        ],
        pk: 'id',
      }),
    )
    const response = await upload(t, '/data/docs/-/upsert', 'text/csv', 'id,n\n1,10\n3,30\n')
    expect(response.status).toBe(200)
    expect(t.rows('docs')).toEqual([
      { id: 1, title: 'a', n: 10 },
      { id: 2, title: 'b', n: 2 },
      { id: 3, title: null, n: 30 },
    ])
  })
})

describe('streams and other requests', () => {
  test('readers never see a stream’s rows before it commits, and other writes go ahead while it is received', async () => {
    const t = makeApp({ unsafe: true })
    await t.post('/-/insert/data/log?pk=id', { id: 0, source: 'json' })
    let release!: () => void
    const gate = new Promise<void>((resolve) => (release = resolve))
    let sent = 0
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent === 3) await gate
        if (sent >= 6) return controller.close()
        sent++
        controller.enqueue(encoder.encode(`{"id": ${sent}, "source": "stream"}\n`))
      },
    })
    const streaming = upload(t, '/-/insert/data/log?pk=id', 'application/x-ndjson', body)
    await Bun.sleep(50)
    const during = await t.get('/data/log.json?_shape=array')
    expect(await during.json()).toEqual([{ id: 0, source: 'json' }])
    expect(await (await t.post('/-/insert/data/log?pk=id', { id: 100, source: 'json' })).json()).toEqual({ table_count: 2 })
    release()
    expect(await (await streaming).json()).toEqual({ table_count: 8 })
  })
})

describe('streams over a real socket', () => {
  const servers = killServersAfterEach()

  test('a client that disconnects mid-stream leaves nothing behind, and the server keeps serving', async () => {
    const dir = tempDir()
    const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(server)
    const socket = await Bun.connect({ hostname: '127.0.0.1', port: Number(new URL(server.url).port), socket: { data() {} } })
    const head = 'POST /-/insert/data/partial HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n'
    socket.write(head + Array.from({ length: 200 }, (_, i) => `{"id": ${i}}\n`).join(''))
    await Bun.sleep(150)
    socket.end()
    await Bun.sleep(150)
    const after = await fetch(`${server.url}/-/insert/data/after`, { method: 'POST', body: '{"ok": 1}' })
    expect(after.status).toBe(200)
    await server.stop()
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    expect(file.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").values()).toEqual([['after']])
    file.close()
  })

  test('a ~100 MB NDJSON upload keeps the server’s memory flat', async () => {
    const dir = tempDir()
    const server = await startServer(['data.db', '--create', '--unsafe', '--setting', 'durability', 'normal'], { cwd: dir })
    servers.push(server)
    const rss = () => {
      const status = require('node:fs').readFileSync(`/proc/${server.child.pid}/status`, 'utf8') as string
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) * 1024
    }
    const before = rss()
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, rss())), 25)
    const line = (i: number) => `{"id": ${i}, "sensor": "s-${i % 97}", "value": ${i * 0.5}, "note": "${'n'.repeat(60)}"}\n`
    const total = 100 * 1024 * 1024
    let produced = 0
    let index = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (produced >= total) return controller.close()
        let chunk = ''
        while (chunk.length < 256 * 1024) chunk += line(index++)
        produced += chunk.length
        controller.enqueue(encoder.encode(chunk))
      },
    })
    const response = await fetch(`${server.url}/-/insert/data/readings?pk=id`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-ndjson' },
      duplex: 'half',
    } as RequestInit)
    clearInterval(sampler)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: index })
    const growth = peak - before
    console.log(`100 MB NDJSON upload: ${index} rows, server RSS ${Math.round(before / 2 ** 20)} MB -> peak ${Math.round(peak / 2 ** 20)} MB`)
    expect(growth).toBeLessThan(100 * 2 ** 20)
  }, 120_000)
})
