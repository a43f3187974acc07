/** The live change feed (GET /<db>/<table>/-/changes): exactly once, in commit order, never a rolled-back row, resumable. */
import { describe, expect, test } from 'bun:test'
import { createConnection } from 'node:net'
import { interpretMetadata } from '../lib/config'
import { eachBackend, type BackendApp } from './backends'

interface Message {
  /** `message` for a change; `gap` or `dropped` for the feed's own events. */
  event: string
  id?: number
  data: Record<string, unknown>
}

/** Reads Server-Sent Events from a response until `done` says enough (or `ms` pass), then stops reading. */
async function readEvents(response: Response, done: (messages: Message[]) => boolean, ms = 5_000): Promise<Message[]> {
  const reader = response.body!.getReader()
  const decoder = new TextDecoder()
  const messages: Message[] = []
  let buffer = ''
  const deadline = Date.now() + ms
  try {
    while (!done(messages) && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), Bun.sleep(deadline - Date.now()).then(() => undefined)])
      if (!chunk || chunk.done) break
      buffer += decoder.decode(chunk.value, { stream: true })
      let end: number
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end)
        buffer = buffer.slice(end + 2)
        const fields = new Map<string, string>()
        for (const line of block.split('\n')) {
          if (line.startsWith(':') || line === '') continue
          const colon = line.indexOf(':')
          fields.set(line.slice(0, colon), line.slice(colon + 1).trimStart())
        }
        if (!fields.has('data')) continue
        messages.push({
          event: fields.get('event') ?? 'message',
          id: fields.has('id') ? Number(fields.get('id')) : undefined,
          data: JSON.parse(fields.get('data')!) as Record<string, unknown>,
        })
      }
    }
  } finally {
    await reader.cancel()
  }
  return messages
}

const changesOf = (messages: Message[]) => messages.filter((message) => message.event === 'message')

/** Opens the feed of `table` and waits until the subscription is registered (the response has begun). */
function subscribe(t: BackendApp, table: string, headers: Record<string, string> = {}, query = ''): Promise<Response> {
  return t.request('GET', `/data/${table}/-/changes${query}`, undefined, headers)
}

eachBackend((backend) => {
  describe('the change feed', () => {
    test('sends each committed insert, update and delete in commit order, with ids counting from 1', async () => {
      const t = await backend.makeApp()
      await t.post('/-/insert/data/dogs?pk=id', [{ id: 1, name: 'Cleo' }])
      const response = await subscribe(t, 'dogs')
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
      await t.post('/-/insert/data/dogs?pk=id', [
        { id: 2, name: 'Pancakes' },
        { id: 3, name: 'Rex' },
      ])
      await t.post('/data/dogs/2/-/update', { update: { name: 'Pancake' } })
      await t.post('/data/dogs/3/-/delete', {})
      await t.post('/data/dogs/-/insert', { rows: [{ id: 4, name: 'Fido' }] })
      const changes = changesOf(await readEvents(response, (messages) => changesOf(messages).length >= 5))
      expect(changes.map(({ id, data }) => ({ id, op: data.op, key: data.key, row: data.row }))).toEqual([
        { id: 1, op: 'upsert', key: [2], row: { id: 2, name: 'Pancakes' } },
        { id: 2, op: 'upsert', key: [3], row: { id: 3, name: 'Rex' } },
        { id: 3, op: 'update', key: [2], row: { name: 'Pancake' } },
        { id: 4, op: 'delete', key: [3], row: null },
        { id: 5, op: 'insert', key: [4], row: { id: 4, name: 'Fido' } },
      ])
      for (const change of changes) expect(change.data.id).toBe(change.id)
    })

    test('a request that fails sends nothing, and the ids of what commits after it follow on without a hole', async () => {
      const t = await backend.makeApp()
      await t.post('/data/-/create', {
        table: 'items',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'n', type: 'integer' },
        ],
        pk: 'id',
      })
      const response = await subscribe(t, 'items')
      await t.post('/data/items/-/insert', { rows: [{ id: 1, n: 1 }] })
      // The second row repeats the first one's key: the whole request rolls back, its first row and its change too.
      const failed = await t.post('/data/items/-/insert', {
        rows: [
          { id: 2, n: 2 },
          { id: 1, n: 3 },
        ],
      })
      expect(failed.status).toBe(400)
      await t.post('/data/items/-/insert', { rows: [{ id: 3, n: 3 }] })
      const changes = changesOf(await readEvents(response, (messages) => changesOf(messages).length >= 2, 2_000))
      expect(changes.map(({ id, data }) => [id, (data.row as { id: number }).id])).toEqual([
        [1, 1],
        [2, 3],
      ])
    })

    test('concurrent writers, some failing: every committed row once, ids contiguous and in commit order', async () => {
      const t = await backend.makeApp()
      await t.post('/data/-/create', {
        table: 'events',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'w', type: 'integer' },
        ],
        pk: 'id',
      })
      const response = await subscribe(t, 'events')
      const answers = await Promise.all(
        Array.from({ length: 40 }, (_, n) => {
          // Every fifth request repeats a key within itself and must roll back whole.
          const rows =
            n % 5 === 4
              ? [
                  { id: 1000 + n, w: n },
                  { id: 1000 + n, w: n },
                ]
              : [
                  { id: n * 2, w: n },
                  { id: n * 2 + 1, w: n },
                ]
          return t.post('/data/events/-/insert', { rows }).then((answer) => answer.status)
        }),
      )
      expect(answers.filter((status) => status === 201).length).toBe(32)
      expect(answers.filter((status) => status === 400).length).toBe(8)
      const changes = changesOf(await readEvents(response, (messages) => changesOf(messages).length >= 64))
      expect(changes.map((change) => change.id)).toEqual(Array.from({ length: 64 }, (_, i) => i + 1))
      const keys = changes.map((change) => (change.data.key as number[])[0]!)
      expect(new Set(keys).size).toBe(64)
      expect(keys.every((key) => key < 1000)).toBe(true)
      // Commit order: the two rows of one request are next to each other.
      for (let i = 0; i < 64; i += 2) expect(keys[i]! + 1).toBe(keys[i + 1]!)
      expect((await t.rows('events')).length).toBe(64)
    })

    test('resuming with Last-Event-ID or ?since= gives exactly what came after it', async () => {
      const t = await backend.makeApp()
      await t.post('/data/-/create', { table: 'log', columns: [{ name: 'msg', type: 'text' }] })
      const first = await subscribe(t, 'log')
      for (const msg of ['a', 'b', 'c', 'd']) await t.post('/data/log/-/insert', { row: { msg } })
      const seen = changesOf(await readEvents(first, (messages) => changesOf(messages).length >= 2))
      expect(seen.slice(0, 2).map((change) => change.id)).toEqual([1, 2])
      await t.post('/data/log/-/insert', { row: { msg: 'e' } })
      const resumed = changesOf(await readEvents(await subscribe(t, 'log', { 'last-event-id': '2' }), (messages) => changesOf(messages).length >= 3))
      expect(resumed.map((change) => [change.id, (change.data.row as { msg: string }).msg])).toEqual([
        [3, 'c'],
        [4, 'd'],
        [5, 'e'],
      ])
      const ndjson = await subscribe(t, 'log', {}, '?since=4&_format=ndjson')
      expect(ndjson.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8')
      const reader = ndjson.body!.getReader()
      let text = ''
      // The stream opens with a blank keep-alive line; the change follows.
      while (!text.includes('{"id"')) text += new TextDecoder().decode((await reader.read()).value)
      await reader.cancel()
      const line = text.split('\n').find((candidate) => candidate.startsWith('{"id"'))!
      expect(JSON.parse(line)).toMatchObject({ id: 5, op: 'insert', row: { msg: 'e' } })
    })

    test('resuming from before the table was followed is a gap event, then the feed goes on', async () => {
      const t = await backend.makeApp()
      await t.post('/data/-/create', { table: 'log', columns: [{ name: 'msg', type: 'text' }] })
      await t.post('/data/log/-/insert', { row: { msg: 'unlogged' } })
      const response = await subscribe(t, 'log', {}, '?since=7')
      await t.post('/data/log/-/insert', { row: { msg: 'logged' } })
      const messages = await readEvents(response, (found) => changesOf(found).length >= 1)
      expect(messages[0]).toMatchObject({ event: 'gap', data: { after: 7, resumed_after: 0 } })
      expect(changesOf(messages).map((change) => [change.id, (change.data.row as { msg: string }).msg])).toEqual([[1, 'logged']])
    })

    test('a subscriber that stops reading is dropped with a reason, and writers do not wait for it', async () => {
      const t = await backend.makeApp()
      await t.post('/data/-/create', {
        table: 'blobs',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'text', type: 'text' },
        ],
        pk: 'id',
      })
      // Over a real socket whose client stops reading: what the kernel and Bun will buffer fills, then rowpost's queue.
      const server = Bun.serve({ port: 0, hostname: '127.0.0.1', fetch: (request) => t.app.handle(request) })
      const socket = createConnection({ port: server.port!, host: '127.0.0.1' })
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => received.push(chunk))
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()))
      socket.write('GET /data/blobs/-/changes HTTP/1.1\r\nHost: localhost\r\n\r\n')
      while (!Buffer.concat(received).includes('retry: 1000')) await Bun.sleep(10)
      socket.pause()
      const big = 'x'.repeat(200_000)
      // Each write is answered while nothing reads the feed: a subscriber never holds a writer up.
      for (let id = 1; id <= 80; id++) expect((await t.post('/data/blobs/-/insert', { row: { id, text: big } })).status).toBe(201)
      await Bun.sleep(500)
      socket.resume()
      const deadline = Date.now() + 10_000
      while (!Buffer.concat(received).includes('event: dropped') && Date.now() < deadline) await Bun.sleep(20)
      socket.destroy()
      server.stop(true)
      const text = Buffer.concat(received).toString()
      expect(text).toContain('event: dropped\ndata: {"reason":"the subscriber did not keep up: too many changes were waiting to be sent to it"}')
      const ids = [...text.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]))
      expect(ids.length).toBeLessThan(80)
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, i) => i + 1))
    }, 30_000)

    test('bad since values are 400, a missing table 404, and a caller who may not view the table 403', async () => {
      const config = interpretMetadata({ databases: { data: { tables: { secret: { allow: { id: 'boss' } } } } } })
      const t = await backend.makeApp({ config, unsafe: false })
      const owner = await backend.makeApp({ unsafe: true })
      expect((await owner.post('/-/insert/data/open', [{ a: 1 }])).status).toBe(200)
      expect((await subscribe(owner, 'open', {}, '?since=abc')).status).toBe(400)
      expect((await subscribe(owner, 'open', {}, '?_format=xml')).status).toBe(400)
      expect((await subscribe(owner, 'nope')).status).toBe(404)
      await t.exec('CREATE TABLE secret (id INTEGER PRIMARY KEY)')
      await t.store.sync('secret')
      expect((await subscribe(t, 'secret')).status).toBe(403)
    })
  })
})
