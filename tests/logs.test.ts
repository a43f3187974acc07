import { describe, expect, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { serveApp } from './ops-server'
import { killServersAfterEach, runCli, startServer } from './process'
import { tempDbPath } from './helpers'
import { eachBackend } from './backends'
import { serve } from '../lib/http/server'

killServersAfterEach()
const TOKEN = 'tok-5ecret-value-never-logged'
const config = () =>
  interpretMetadata({
    permissions: { 'insert-row': { id: 'bot' }, 'update-row': { id: 'bot' }, 'create-table': { id: 'bot' } },
    plugins: { 'datasette-auth-tokens': { tokens: [{ token: TOKEN, actor: { id: 'bot' } }] } },
  })

describe('request logs', () => {
  test('--log-format json writes one object per request with its actor, rows written and request id', async () => {
    const t = serveApp({ config: config(), logFormat: 'json' })
    const response = await fetch(`${t.url}/-/insert/data/dogs?pk=id`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'x-request-id': 'trace-42.a:b' },
      body: JSON.stringify([{ id: 1 }, { id: 2 }, { id: 3 }]),
    })
    expect({ status: response.status, id: response.headers.get('x-request-id') }).toEqual({ status: 200, id: 'trace-42.a:b' })
    await fetch(`${t.url}/data/dogs.json`)
    await Bun.sleep(10)
    const [write, read] = t.lines.map((line) => JSON.parse(line))
    expect(write).toEqual({
      time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      method: 'POST',
      path: '/-/insert/data/dogs',
      status: 200,
      duration_ms: expect.any(Number),
      actor: 'bot',
      rows_written: 3,
      request_id: 'trace-42.a:b',
    })
    expect(read).toMatchObject({ method: 'GET', path: '/data/dogs.json', status: 200, actor: null, rows_written: 0 })
    expect(read.request_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(t.rows('dogs')).toHaveLength(3)
  })

  test.each([
    ['a space in it', 'not a valid id'],
    ['too long', 'x'.repeat(129)],
    ['quotes', 'id"with"quotes'],
  ])('a sent X-Request-Id with %s is replaced by a fresh one', async (_, sent) => {
    const t = serveApp({ logFormat: 'json' })
    const response = await fetch(`${t.url}/-/health`, { headers: { 'x-request-id': sent } })
    const echoed = response.headers.get('x-request-id')!
    expect(echoed).toMatch(/^[0-9a-f-]{36}$/)
    await Bun.sleep(10)
    expect(JSON.parse(t.lines[0]!).request_id).toBe(echoed)
  })

  test.each(['text', 'json'] as const)('%s lines never hold a token, a body or the query string', async (logFormat) => {
    const t = serveApp({ config: config(), logFormat })
    const secretInQuery = 'q-5ecret-in-query'
    const secretInBody = 'b-5ecret-in-body'
    const answers = await Promise.all([
      fetch(`${t.url}/-/insert/data/dogs?pk=id&_token=${secretInQuery}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify([{ id: 1, password: secretInBody }]),
      }),
      // A refused token is not logged either.
      fetch(`${t.url}/data/-/query.json?sql=select+1&password=${secretInQuery}`, { headers: { authorization: `Bearer ${TOKEN}-wrong` } }),
    ])
    expect(answers.map((response) => response.status)).toEqual([200, 401])
    await Bun.sleep(10)
    expect(t.lines).toHaveLength(2)
    const text = t.lines.join('\n')
    for (const secret of [TOKEN, secretInQuery, secretInBody, 'Bearer']) expect(text).not.toContain(secret)
    expect(text).toContain('/-/insert/data/dogs')
  })

  test('the command line takes --log-format json and refuses other formats', async () => {
    const server = await startServer([tempDbPath(), '--create', '--unsafe', '--log-format', 'json'])
    await fetch(`${server.url}/-/health`)
    await Bun.sleep(100)
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.startsWith('{'))
    expect(JSON.parse(lines[0]!)).toMatchObject({ method: 'GET', path: '/-/health', status: 200 })
    const refused = await runCli(['x.db', '--log-format', 'xml'])
    expect(refused.exitCode).toBe(2)
    expect(refused.stderr).toContain('--log-format must be text or json, not "xml"')
  })
})

eachBackend((backend) => {
  describe('rows_written in the request log', () => {
    test('counts the rows each committed write changed, streamed uploads and Datasette writes included; a refused write wrote none', async () => {
      const t = await backend.makeApp()
      const lines: string[] = []
      const { server } = serve(t.app, { port: 0, host: '127.0.0.1', log: (line) => lines.push(line), logFormat: 'json' })
      const url = `http://127.0.0.1:${server.port}`
      const post = (path: string, body: string, contentType = 'application/json') =>
        fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': contentType }, body })
      try {
        const statuses = []
        statuses.push((await post('/-/insert/data/dogs?pk=id', JSON.stringify([{ id: 1, name: 'x' }, { id: 2 }, { id: 3 }]))).status)
        statuses.push(
          (
            await post(
              '/data/dogs/-/upsert',
              JSON.stringify({
                rows: [
                  { id: 1, name: 'a' },
                  { id: 2, name: 'b' },
                ],
              }),
            )
          ).status,
        )
        statuses.push((await post('/data/dogs/-/insert', JSON.stringify({ rows: [{ id: 9 }, { id: 1 }] }))).status)
        statuses.push((await post('/-/insert/data/dogs?pk=id', 'id,name\n4,d\n5,e\n6,f\n7,g\n', 'text/csv')).status)
        statuses.push((await post('/data/dogs/4/-/delete', '')).status)
        expect(statuses).toEqual([200, 200, 400, 200, 200])
        await Bun.sleep(10)
        const logged = lines.map((line) => JSON.parse(line)).map(({ path, status, rows_written }) => ({ path, status, rows_written }))
        expect(logged).toEqual([
          { path: '/-/insert/data/dogs', status: 200, rows_written: 3 },
          { path: '/data/dogs/-/upsert', status: 200, rows_written: 2 },
          { path: '/data/dogs/-/insert', status: 400, rows_written: 0 },
          { path: '/-/insert/data/dogs', status: 200, rows_written: 4 },
          { path: '/data/dogs/4/-/delete', status: 200, rows_written: 1 },
        ])
        expect((await t.rows('dogs')).map((row) => row.id)).toEqual([1, 2, 3, 5, 6, 7])
      } finally {
        server.stop(true)
      }
    })
  })
})
