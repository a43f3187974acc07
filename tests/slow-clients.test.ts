/** Slow, stalled, oversized and vanishing upload clients, over a real socket: they delay only themselves and leave nothing behind. */
import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import fc from 'fast-check'
import { makeApp, tempDir } from './helpers'
import { killServersAfterEach, startServer, type RunningServer } from './process'

const utf8 = new TextEncoder()
const ndjsonType = 'application/x-ndjson'

interface Answer {
  status: number
  body: Record<string, unknown>
}

/** An HTTP/1.1 upload written by hand on a socket, so the test decides when each byte goes and sees an early answer. */
interface RawUpload {
  /** Writes all of `data`, waiting for the socket to drain; stops early once the server has closed the connection. */
  send(data: string | Uint8Array): Promise<void>
  /** The server's answer, as soon as it arrives (possibly before the body is complete). */
  answer: Promise<Answer>
  /** Whether the answer has arrived yet. */
  answered(): boolean
  close(): void
}

async function openUpload(server: RunningServer, path: string, type: string, contentLength: number): Promise<RawUpload> {
  const { hostname, port } = new URL(server.url)
  let received = Buffer.alloc(0)
  let done = false
  let closed = false
  let drained: (() => void) | undefined
  let settle!: (answer: Answer) => void
  let fail!: (error: Error) => void
  const answer = new Promise<Answer>((resolve, reject) => {
    settle = resolve
    fail = reject
  })
  answer.catch(() => {})
  const parse = () => {
    const end = received.indexOf('\r\n\r\n')
    if (end === -1) return
    const head = received.subarray(0, end).toString()
    const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
    if (received.length < end + 4 + length) return
    done = true
    settle({ status: Number(head.split(' ')[1]), body: JSON.parse(received.subarray(end + 4, end + 4 + length).toString()) })
  }
  const socket = await Bun.connect({
    hostname,
    port: Number(port),
    socket: {
      data(_socket, chunk) {
        received = Buffer.concat([received, chunk])
        parse()
      },
      drain() {
        drained?.()
      },
      close() {
        closed = true
        drained?.()
        if (!done) fail(new Error('the connection closed without an answer'))
      },
      error() {},
    },
  })
  socket.write(`POST ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${type}\r\nContent-Length: ${contentLength}\r\n\r\n`)
  return {
    async send(data) {
      let rest = typeof data === 'string' ? utf8.encode(data) : data
      while (rest.length > 0 && !closed && !done) {
        const written = socket.write(rest)
        rest = rest.subarray(Math.max(0, written))
        if (rest.length > 0) await new Promise<void>((resolve) => (drained = resolve))
      }
    },
    answer,
    answered: () => done,
    close: () => socket.end(),
  }
}

/** Fails with `message` unless `promise` settles within `ms` (generous: it asserts that something happens, not how fast). */
async function within<T>(ms: number, message: string, promise: Promise<T>): Promise<T> {
  let timer: Timer | undefined
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Waits until `check` holds, polling; fails with `message` after `ms`. */
async function eventually(ms: number, message: string, check: () => boolean): Promise<void> {
  const deadline = performance.now() + ms
  while (!check()) {
    if (performance.now() > deadline) throw new Error(message)
    await Bun.sleep(20)
  }
}

const tablesIn = (path: string) => {
  const file = new Database(path, { readonly: true })
  try {
    return file.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").values().flat()
  } finally {
    file.close()
  }
}

/** Files the server process has open in `dir`, as /proc shows them (an unlinked spool file ends in " (deleted)"). */
const openFilesIn = (server: RunningServer, dir: string) =>
  readdirSync(`/proc/${server.child.pid}/fd`)
    .map((fd) => {
      try {
        return readlinkSync(`/proc/${server.child.pid}/fd/${fd}`)
      } catch {
        return ''
      }
    })
    .filter((target) => target.startsWith(`${dir}/`))

const rss = (server: RunningServer) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))![1]) * 1024

const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => `{"id": ${from + i}, "note": "row ${from + i}"}\n`).join('')

describe('slow clients over a real socket', () => {
  const servers = killServersAfterEach()

  /** A server on a fresh data.db, spooling into its own temporary folder so the test can watch it. */
  async function serve(...args: string[]) {
    const dir = tempDir()
    const spoolDir = tempDir()
    let stderr = ''
    const server = await startServer(['data.db', '--create', '--unsafe', ...args], { cwd: dir, env: { TMPDIR: spoolDir } })
    servers.push(server)
    void (async () => {
      const decoder = new TextDecoder()
      for await (const chunk of server.child.stderr) stderr += decoder.decode(chunk, { stream: true })
    })()
    return { server, path: join(dir, 'data.db'), spoolDir, stderr: () => stderr }
  }

  test('(6) a trickling upload to one table does not hold up one-row inserts to another, nor reads', async () => {
    const { server, path, spoolDir } = await serve()
    const rest = lines(3, 2000)
    const upload = await openUpload(server, '/-/insert/data/slow?pk=id', ndjsonType, utf8.encode(lines(1, 2) + rest).length)
    await upload.send(lines(1, 2))
    await Bun.sleep(100)
    for (let i = 0; i < 5; i++) {
      const insert = fetch(`${server.url}/-/insert/data/fast`, { method: 'POST', body: JSON.stringify({ n: i }) })
      const answer = await within(5000, 'a one-row insert waited for the slow upload', insert)
      expect(await answer.json()).toEqual({ table_count: i + 1 })
    }
    const read = await within(5000, 'a read waited for the slow upload', fetch(`${server.url}/data/fast.json?_shape=array`))
    expect(await read.json()).toEqual([0, 1, 2, 3, 4].map((n) => ({ rowid: n + 1, n })))
    expect(upload.answered()).toBe(false)
    expect(tablesIn(path)).toEqual(['fast'])
    // Received into a file in the temporary folder that has no name left, so it cannot outlive the process.
    expect(openFilesIn(server, spoolDir)).toEqual([expect.stringMatching(/\/rowpost-upload-[^/]+ \(deleted\)$/)])
    await upload.send(rest)
    expect(await within(10_000, 'the upload got no answer', upload.answer)).toEqual({ status: 200, body: { table_count: 2002 } })
    expect(tablesIn(path)).toEqual(['fast', 'slow'])
    expect(openFilesIn(server, spoolDir)).toEqual([])
    expect(readdirSync(spoolDir)).toEqual([])
  }, 30_000)

  test('(6) an upload slower than min_stream_bytes_per_second gets a 408 while still sending, logged as a client error', async () => {
    const pace = ['--setting', 'min_stream_bytes_per_second', '1000', '--setting', 'stream_window_seconds', '1']
    const { server, path, spoolDir, stderr } = await serve(...pace)
    const upload = await openUpload(server, '/-/insert/data/slow?pk=id', ndjsonType, 1_000_000)
    for (let i = 0; i < 30 && !upload.answered(); i++) {
      await upload.send(lines(i, 1))
      await Bun.sleep(200)
    }
    const answer = await within(5000, 'the slow upload was never refused', upload.answer)
    expect(answer.status).toBe(408)
    expect(answer.body).toMatchObject({ error_code: 'upload_too_slow', status: 408 })
    expect(String(answer.body.error)).toMatch(/^Upload too slow: \d+ bytes in the last 1 s, under the minimum of 1000 bytes per second/)
    await eventually(5000, 'the 408 was not logged', () => / POST \/-\/insert\/data\/slow 408 /.test(server.output()))
    expect(stderr()).not.toContain('unexpected error')
    expect(tablesIn(path)).toEqual([])
    expect(openFilesIn(server, spoolDir)).toEqual([])
    expect(readdirSync(spoolDir)).toEqual([])
    expect((await fetch(`${server.url}/-/insert/data/after`, { method: 'POST', body: '{"ok": 1}' })).status).toBe(200)
  }, 30_000)

  test('(6) a client that disconnects mid-upload writes nothing and is logged as a disconnect, not as a 500', async () => {
    const { server, path, spoolDir, stderr } = await serve()
    const upload = await openUpload(server, '/-/insert/data/gone?pk=id', ndjsonType, 1_000_000)
    await upload.send(lines(0, 3000))
    await Bun.sleep(100)
    upload.close()
    const logged = / POST \/-\/insert\/data\/gone 499 .* client disconnected$/m
    await eventually(5000, 'the disconnect was not logged', () => logged.test(server.output()))
    expect(server.output()).not.toMatch(/ 500 /)
    expect(stderr()).not.toContain('unexpected error')
    expect((await fetch(`${server.url}/-/insert/data/after`, { method: 'POST', body: '{"ok": 1}' })).status).toBe(200)
    expect(tablesIn(path)).toEqual(['after'])
    expect(openFilesIn(server, spoolDir)).toEqual([])
    expect(readdirSync(spoolDir)).toEqual([])
  }, 30_000)

  test.each([
    ['an NDJSON line', ndjsonType, '{"id": 1}\n{"id": 2}\n{"id": 3, "blob": "', 'x', 'Line 3'],
    ['a CSV field', 'text/csv', 'id,blob\n1,a\n2,"starts on line 3\n', 'y\n', 'Line 3'],
  ])(
    '(8) %s over max_stream_row_bytes is a 413 well before the body ends, nothing written',
    async (_case, type, head, filler, line) => {
      const { server, path, spoolDir } = await serve('--setting', 'max_stream_row_bytes', '1000')
      const upload = await openUpload(server, '/-/insert/data/long', type, 10_000_000)
      await upload.send(head)
      let sent = head.length
      while (!upload.answered() && sent < 100_000) {
        await upload.send(filler.repeat(500))
        sent += 500 * filler.length
        await Bun.sleep(5)
      }
      expect(await within(5000, 'the long row was never refused', upload.answer)).toEqual({
        status: 413,
        body: {
          status: 413,
          error_code: 'too_large',
          error: `${line}: the row is longer than the maximum of 1000 bytes (max_stream_row_bytes)`,
        },
      })
      expect(sent).toBeLessThan(100_000)
      expect(tablesIn(path)).toEqual([])
      expect(readdirSync(spoolDir)).toEqual([])
    },
    30_000,
  )

  test('(8) a 64 MB NDJSON line is refused at the default cap without the server holding it in memory', async () => {
    const { server, path } = await serve()
    const before = rss(server)
    let peak = before
    const sampler = setInterval(() => (peak = Math.max(peak, rss(server))), 10)
    let answer: Answer
    try {
      const upload = await openUpload(server, '/-/insert/data/huge', ndjsonType, 64 * 2 ** 20 + 20)
      await upload.send('{"id": 1, "blob": "')
      const chunk = 'z'.repeat(2 ** 20)
      for (let i = 0; i < 64 && !upload.answered(); i++) await upload.send(chunk)
      answer = await within(10_000, 'the huge line was never refused', upload.answer)
    } finally {
      clearInterval(sampler)
    }
    expect(answer).toMatchObject({ status: 413, body: { error_code: 'too_large' } })
    expect(String(answer.body.error)).toStartWith('Line 1: the row is longer than the maximum of 20971520 bytes')
    expect(tablesIn(path)).toEqual([])
    // Parsing a line this long held several times its size (a 200 MB line took the server from 63 MB to 1.1 GB).
    expect(peak - before).toBeLessThan(64 * 2 ** 20)
  }, 30_000)

  test('(17) with --memory, reads during a streamed upload see the rows before it or all of them, never part', async () => {
    const server = await startServer(['--memory', '--unsafe'], { cwd: tempDir() })
    servers.push(server)
    const created = await fetch(`${server.url}/-/insert/_memory/t?pk=id`, { method: 'POST', body: '{"id": 0, "note": "before"}' })
    expect(created.status).toBe(200)
    const seen = new Set<number>()
    const lastId = async () => {
      const rows = (await (await fetch(`${server.url}/_memory/t.json?_shape=array&_sort_desc=id&_size=1`)).json()) as Array<{ id: number }>
      return rows[0]!.id
    }
    const body = lines(1, 5000)
    const upload = await openUpload(server, '/-/insert/_memory/t?pk=id', ndjsonType, utf8.encode(body).length)
    // Enough rows for several of the writer's batches, while the body is not yet complete.
    const half = body.indexOf('\n', body.length / 2) + 1
    await upload.send(body.slice(0, half))
    await Bun.sleep(200)
    seen.add(await lastId())
    expect([...seen]).toEqual([0])
    const reads = (async () => {
      while (!upload.answered()) seen.add(await lastId())
    })()
    await upload.send(body.slice(half))
    expect(await within(10_000, 'the upload got no answer', upload.answer)).toEqual({ status: 200, body: { table_count: 5001 } })
    await reads
    seen.add(await lastId())
    expect([...seen].filter((id) => id !== 0 && id !== 5000)).toEqual([])
    expect(seen.has(5000)).toBe(true)
  }, 30_000)
})

describe('slow bodies, generated', () => {
  /** Sends `data` as a stream cut at `cuts`, pausing `pauses[i]` ms before piece i, as a slow or bursty client would. */
  function pacedBody(data: Uint8Array, cuts: number[], pauses: number[]): ReadableStream<Uint8Array> {
    const ends = [...new Set(cuts.map((cut) => cut % (data.length + 1)))].sort((a, b) => a - b).concat(data.length)
    let at = 0
    let piece = 0
    return new ReadableStream({
      async pull(controller) {
        if (at >= data.length) return controller.close()
        const pause = pauses[piece % Math.max(1, pauses.length)] ?? 0
        if (pause > 0) await Bun.sleep(pause)
        const end = ends.find((cut) => cut > at) ?? data.length
        controller.enqueue(data.slice(at, end))
        at = end
        piece++
      },
    })
  }

  const word = fc.stringMatching(/^[a-z0-9 é"\\,\n\t]{0,12}$/)
  const ndjsonLine = fc.oneof(
    { weight: 8, arbitrary: fc.record({ id: fc.integer({ min: 0, max: 50 }), s: word }).map((row) => JSON.stringify(row)) },
    { weight: 1, arbitrary: fc.constantFrom('[1]', '{"id": ', '', '{"id": 1, "s": "\u00e9"}', 'null') },
  )
  const csvField = fc.oneof(
    fc.integer({ min: 0, max: 50 }).map(String),
    word.map((text) => `"${text.replaceAll('"', '""')}"`),
    fc.constantFrom('', 'x"y', '"unclosed', '"a"b'),
  )
  const body = fc.oneof(
    fc.array(ndjsonLine, { minLength: 0, maxLength: 12 }).map((rows) => ({ type: ndjsonType, text: rows.join('\n') })),
    fc
      .tuple(fc.array(fc.tuple(csvField, csvField), { maxLength: 12 }), fc.constantFrom('\n', '\r\n'))
      .map(([rows, end]) => ({ type: 'text/csv', text: ['id,s', ...rows.map((row) => row.join(','))].join(end) })),
  )
  const input = fc.record({
    body,
    garbage: fc.option(fc.nat(), { nil: undefined, freq: 6 }),
    cuts: fc.array(fc.nat(), { maxLength: 8 }),
    pauses: fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 4 }),
    rowCap: fc.constantFrom(20, 40, 1000),
  })

  test('any chunking and pacing of a valid or invalid NDJSON/CSV body gets the answer and rows that the whole body gets', async () => {
    await fc.assert(
      fc.asyncProperty(input, async ({ body: { type, text }, garbage, cuts, pauses, rowCap }) => {
        let data = utf8.encode(text)
        if (garbage !== undefined) {
          const at = garbage % (data.length + 1)
          data = new Uint8Array([...data.slice(0, at), 0xff, ...data.slice(at)])
        }
        const outcome = async (sent: Uint8Array | ReadableStream<Uint8Array>) => {
          const t = makeApp({ unsafe: true, settings: { max_stream_row_bytes: rowCap } })
          const response = await t.request('POST', '/-/insert/data/t', sent, { 'content-type': type })
          return { status: response.status, body: await response.json(), rows: t.tables().includes('t') ? t.rows('t') : null }
        }
        const whole = await outcome(data)
        expect(whole.status).toBeLessThan(500)
        expect(await outcome(pacedBody(data, cuts, pauses))).toEqual(whole)
      }),
      { numRuns: 120, seed: 20261125 },
    )
  }, 60_000)
})
