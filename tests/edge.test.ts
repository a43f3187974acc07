/** The HTTP edge: empty secrets, cross-site writes, Host headers (short, odd, rebinding), CORS, and what logs and databases.json show. */
import { afterEach, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { createAuthenticator } from '../lib/auth'
import { interpretMetadata } from '../lib/config'
import { mintToken, readToken, signPayload, TokenSignatureError } from '../lib/signed-tokens'
import { expectJson, makeApp, tempDir, type TestApp } from './helpers'
import { ENTRY, killServersAfterEach, runCli, startServer } from './process'
import { loggedPath, rawRequest, serveInProcess } from './raw-http'

const servers = killServersAfterEach()
const inProcess: Array<() => void> = []
afterEach(() => {
  for (const stop of inProcess.splice(0)) stop()
})

async function started(args: string[], options?: Parameters<typeof startServer>[1]) {
  const server = await startServer(args, options)
  servers.push(server)
  return server
}

/** What a started server wrote to stderr, once it has stopped. */
async function stderrAfterStop(server: Awaited<ReturnType<typeof startServer>>) {
  await server.stop()
  return new Response(server.child.stderr).text()
}

/** Runs the CLI on port 0 for at most `ms`: a server that should have refused to start is killed rather than waited for. */
async function runWithin(args: string[], env: Record<string, string>, ms = 4_000) {
  const child = Bun.spawn(['bun', ENTRY, ...args, '-p', '0'], {
    cwd: tempDir(),
    env: { ...process.env, ...env },
    stdout: 'pipe',
    stderr: 'pipe',
    timeout: ms,
  })
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { exitCode, stdout, stderr }
}

const SECRET = 'edge-tests-secret-that-is-long-enough-0123456789'
const WRITES = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table']
/** Anyone may write, without --unsafe: what a misrouted request does is then visible in the file. */
const OPEN = interpretMetadata({ permissions: Object.fromEntries(WRITES.map((action) => [action, true])) })

function withDogs(options: Parameters<typeof makeApp>[0] = {}): TestApp {
  const t = makeApp(options)
  t.db.connection.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT)')
  t.db.connection.run("INSERT INTO dogs VALUES (1, 'Cleopaws')")
  return t
}

const configurationDoc = readFileSync(join(import.meta.dir, '..', 'docs', 'configuration.md'), 'utf8')
const CONFIRM = '{"confirm": true}'

describe('3: the dstok_ secret', () => {
  test.each([
    ['--secret ""', ['--secret', ''], {}, '--secret'],
    ['ROWPOST_SECRET=""', [], { ROWPOST_SECRET: '' }, 'ROWPOST_SECRET'],
    ['--secret "" over a good ROWPOST_SECRET', ['--secret', ''], { ROWPOST_SECRET: SECRET }, '--secret'],
  ])('an empty secret (%s) stops startup with one line naming it and the fix, exit 1', async (_name, args, env, source) => {
    const result = await runWithin(['data.db', '--create', ...args], env)
    expect(result.exitCode).toBe(1)
    expect(result.stderr.trim().split('\n')).toEqual([
      `rowpost: ${source} is empty, which would let anyone forge dstok_ tokens: ` +
        'give a random secret (openssl rand -hex 32), or unset it to refuse signed tokens',
    ])
    expect(result.stdout).toBe('')
  })

  test('a secret shorter than 32 bytes starts with a warning on stderr; a 32-byte one without', async () => {
    const dir = tempDir()
    const short = await started(['data.db', '--create', '--secret', 'hunter2'], { cwd: dir })
    expect(await stderrAfterStop(short)).toContain('rowpost: warning: --secret is 7 bytes; a secret under 32 bytes can be guessed')
    const fromEnv = await started(['data.db'], { cwd: dir, env: { ROWPOST_SECRET: 'é'.repeat(15) } })
    expect(await stderrAfterStop(fromEnv)).toContain('rowpost: warning: ROWPOST_SECRET is 30 bytes')
    const long = await started(['data.db'], { cwd: dir, env: { ROWPOST_SECRET: 'x'.repeat(32) } })
    expect(await stderrAfterStop(long)).toBe('')
  })

  test('create-token refuses an empty ROWPOST_SECRET by name, and an empty --secret', async () => {
    const fromEnv = await runCli(['create-token', 'root'], { env: { ROWPOST_SECRET: '' } })
    expect(fromEnv.exitCode).toBe(2)
    expect(fromEnv.stderr).toStartWith('rowpost: ROWPOST_SECRET is empty, which would let anyone forge dstok_ tokens')
    expect(fromEnv.stdout).toBe('')
    const fromFlag = await runCli(['create-token', 'root', '--secret', ''])
    expect(fromFlag.exitCode).toBe(2)
    expect(fromFlag.stdout).toBe('')
  })

  test('the authenticator, readToken and mintToken refuse an empty secret themselves', () => {
    const forged = `dstok_${signPayload('', { a: 'root', t: Math.floor(Date.now() / 1000) })}`
    expect(() => createAuthenticator([], '')).toThrow('An empty secret would let anyone forge dstok_ tokens')
    expect(() => makeApp({ unsafe: true, secret: '' })).toThrow(RangeError)
    expect(() => readToken('', forged)).toThrow(TokenSignatureError)
    expect(() => mintToken('', { actorId: 'root' })).toThrow(RangeError)
  })
})

describe('4: cross-site writes', () => {
  const EVIL = 'http://evil.example'
  const refused = (reason: string) => {
    const error = `Cross-site request refused: ${reason}`
    return { ok: false, error, errors: [error], status: 403 }
  }
  const NOT_SAME_ORIGIN = (site: string) => `Sec-Fetch-Site was "${site}", expected "same-origin" or "none"`
  const NOT_HOST = (origin: string) => `Origin "${origin}" does not match Host "localhost"`

  test.each([
    ['a text/plain form post from another site', { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site', origin: EVIL }, NOT_SAME_ORIGIN('cross-site')],
    ['a fetch from a sibling site', { 'sec-fetch-site': 'same-site', origin: 'http://a.localhost' }, NOT_SAME_ORIGIN('same-site')],
    ['an older browser on another site (Origin only)', { origin: EVIL }, NOT_HOST(EVIL)],
    ['an older browser on another port', { origin: 'http://localhost:8001' }, NOT_HOST('http://localhost:8001')],
    ['a sandboxed page (Origin: null)', { origin: 'null' }, 'malformed Origin "null" or Host "localhost"'],
    ['Basic credentials (a browser sends them itself)', { authorization: 'Basic YTpi', 'sec-fetch-site': 'cross-site' }, NOT_SAME_ORIGIN('cross-site')],
    ['a bearer token that comes with a cookie', { authorization: 'Bearer x', cookie: 'session=1', origin: EVIL }, NOT_HOST(EVIL)],
  ])('under --unsafe, %s cannot drop a table: 403', async (_name, headers, reason) => {
    const t = withDogs({ unsafe: true })
    await expectJson(await t.request('POST', '/data/dogs/-/drop', '{"confirm": true, "x":"="}', headers), 403, refused(reason))
    expect(t.rows('dogs')).toEqual([{ id: 1, name: 'Cleopaws' }])
  })

  test('a legacy route refuses in the legacy envelope, and writes nothing', async () => {
    const t = withDogs({ unsafe: true })
    const response = await t.post('/-/insert/data/dogs', { id: 2, name: 'Pancakes' }, undefined, { origin: EVIL })
    const message = `Cross-site request refused: Origin "${EVIL}" does not match Host "localhost"`
    await expectJson(response, 403, { status: 403, error: message, error_code: 'cross_site_request' })
    expect(t.rows('dogs')).toHaveLength(1)
  })

  test.each([
    ['curl or a script (neither header)', {}],
    ['the same origin', { 'sec-fetch-site': 'same-origin', origin: 'http://localhost' }],
    ['a request the user typed (Sec-Fetch-Site: none)', { 'sec-fetch-site': 'none' }],
    ['an older browser on the same origin', { origin: 'http://localhost' }],
    ['an older browser naming the default port', { origin: 'http://LOCALHOST:80' }],
    ['a bearer token and no cookie, from anywhere', { authorization: 'BEARER <token>', 'sec-fetch-site': 'cross-site', origin: EVIL }],
  ])('%s may write', async (_name, headers: Record<string, string>) => {
    const t = withDogs({ unsafe: true, secret: SECRET })
    const token = mintToken(SECRET, { actorId: 'root' })
    if (headers.authorization) headers = { ...headers, authorization: headers.authorization.replace('<token>', token) }
    const response = await t.request('POST', '/data/dogs/-/insert', '{"row": {"id": 2, "name": "Pancakes"}}', headers)
    expect(response.status).toBe(201)
    expect(t.rows('dogs')).toHaveLength(2)
  })

  test('reads from another site are served (GET is safe)', async () => {
    const t = withDogs({ unsafe: true })
    const response = await t.request('GET', '/data/dogs.json?_shape=array', undefined, { 'sec-fetch-site': 'cross-site', origin: EVIL })
    expect(response.status).toBe(200)
  })

  test('with plain --cors any origin may write, as a CORS fetch already could', async () => {
    const t = withDogs({ unsafe: true, cors: true })
    const response = await t.request('POST', '/data/dogs/-/drop', CONFIRM, { 'sec-fetch-site': 'cross-site', origin: EVIL })
    expect([response.status, response.headers.get('access-control-allow-origin')]).toEqual([200, '*'])
    expect(t.tables()).toEqual([])
  })

  test('with --cors=list, a listed origin may write and is reflected; another is refused and gets no CORS grant', async () => {
    const APP = 'https://app.example'
    const t = withDogs({ unsafe: true, cors: true, corsOrigins: [APP, 'http://localhost:3000'] })
    const listed = await t.request('POST', '/data/dogs/-/insert', '{"row": {"id": 2}}', { 'sec-fetch-site': 'cross-site', origin: APP })
    expect(listed.status).toBe(201)
    expect([listed.headers.get('access-control-allow-origin'), listed.headers.get('vary')]).toEqual([APP, 'Origin'])
    const other = await t.request('POST', '/data/dogs/-/insert', '{"row": {"id": 3}}', { 'sec-fetch-site': 'cross-site', origin: EVIL })
    expect(other.status).toBe(403)
    expect([other.headers.get('access-control-allow-origin'), other.headers.get('vary')]).toEqual([null, 'Origin'])
    const read = await t.request('GET', '/data/dogs.json', undefined, { origin: EVIL })
    expect([read.status, read.headers.get('access-control-allow-origin'), read.headers.get('vary')]).toEqual([200, null, 'Origin'])
    expect(t.rows('dogs').map((row) => row.id)).toEqual([1, 2])
  })

  test('under --unsafe, an in-process request to a non-loopback host is refused', async () => {
    const t = withDogs({ unsafe: true })
    const response = await t.app.handle(new Request('http://attacker.example/data/dogs/-/drop', { method: 'POST', body: CONFIRM }))
    const message = '--unsafe serves only loopback hosts (localhost, 127.0.0.1, [::1]); refused Host "attacker.example"'
    await expectJson(response, 403, { ok: false, error: message, errors: [message], status: 403 })
    expect(t.tables()).toEqual(['dogs'])
  })

  describe('over a real socket', () => {
    const REBINDING = ['attacker.example', 'attacker.example:8001', '127.0.0.1.nip.io', 'localhost.attacker.example', 'x.localhost', '0.0.0.0', '[::2]']
    test.each(REBINDING)('under --unsafe, Host %s (DNS rebinding) is refused for every method and reaches no route', async (host) => {
      const t = withDogs({ unsafe: true })
      const { port, log, stop } = serveInProcess(t.app)
      inProcess.push(stop)
      for (const method of ['GET', 'OPTIONS', 'POST']) {
        const target = method === 'GET' ? '/data/dogs.json' : '/data/dogs/-/drop'
        const response = await rawRequest(port, { method, target, host, body: method === 'POST' ? CONFIRM : '' })
        const message = `--unsafe serves only loopback hosts (localhost, 127.0.0.1, [::1]); refused Host ${JSON.stringify(host)}`
        expect([method, response.status, JSON.parse(response.body).error]).toEqual([method, 403, message])
      }
      const logged = log.map((line) => line.split(' ').slice(1, 4).join(' '))
      expect(logged).toEqual(['GET /data/dogs.json 403', 'OPTIONS /data/dogs/-/drop 403', 'POST /data/dogs/-/drop 403'])
      expect(t.tables()).toEqual(['dogs'])
    })

    const LOOPBACK = ['localhost', 'LOCALHOST:8001', '127.0.0.1', '127.1.2.3:99', '[::1]', '[::1]:8001']
    test.each(LOOPBACK)('under --unsafe, loopback Host %s is served', async (host) => {
      const t = withDogs({ unsafe: true })
      const { port, stop } = serveInProcess(t.app)
      inProcess.push(stop)
      const response = await rawRequest(port, { method: 'GET', target: '/data/dogs.json?_shape=array', host })
      expect([response.status, JSON.parse(response.body)]).toEqual([200, [{ id: 1, name: 'Cleopaws' }]])
    })

    test('without --unsafe, any Host is served (deployments are reached by their own names)', async () => {
      const t = withDogs()
      const { port, stop } = serveInProcess(t.app)
      inProcess.push(stop)
      expect((await rawRequest(port, { method: 'GET', target: '/data/dogs.json', host: 'rowpost.example.com' })).status).toBe(200)
    })

    test('--cors ORIGIN on the command line: a preflight from it is granted, with Idempotency-Key; from another origin not', async () => {
      const server = await started(['data.db', '--create', '--unsafe', '--cors', 'http://localhost:3000'], { cwd: tempDir() })
      const port = Number(new URL(server.url).port)
      const preflight = (origin: string) =>
        rawRequest(port, {
          method: 'OPTIONS',
          target: '/data/-/create',
          host: `127.0.0.1:${port}`,
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,idempotency-key' },
        })
      const granted = await preflight('http://localhost:3000')
      expect(granted.status).toBe(200)
      expect(granted.headers).toMatchObject({
        'access-control-allow-origin': 'http://localhost:3000',
        'access-control-allow-headers': 'Authorization, Content-Type, Idempotency-Key',
        'access-control-allow-methods': 'GET, POST, HEAD, OPTIONS',
        vary: 'Origin',
      })
      const other = await preflight('http://localhost:3001')
      const { 'access-control-allow-origin': origin, 'access-control-allow-headers': allowed, vary } = other.headers
      expect([origin, allowed, vary]).toEqual([undefined, undefined, 'Origin'])
      expect(await stderrAfterStop(server)).toBe('')
    })
  })

  test('--cors with --unsafe and no origin list warns at startup that any page can write', async () => {
    const server = await started(['data.db', '--create', '--unsafe', '--cors'], { cwd: tempDir() })
    expect(await stderrAfterStop(server)).toStartWith(
      'rowpost: warning: --cors with --unsafe and no origin list: any web page open in a browser on this machine can read and write',
    )
  })
})

describe('11: short and odd Host headers route and log the same path', () => {
  test.each(['x', 'db', 'api', 'abc'])('in-process, http://%s/ routes by its own path', async (host) => {
    const t = withDogs({ config: OPEN })
    const misrouted = await t.app.handle(new Request(`http://${host}/zz/data/dogs/-/drop`, { method: 'POST', body: CONFIRM }))
    expect(misrouted.status).toBe(404)
    expect(t.tables()).toEqual(['dogs'])
    const read = await t.app.handle(new Request(`http://${host}/data/dogs.json?_shape=array`))
    expect(await read.json()).toEqual([{ id: 1, name: 'Cleopaws' }])
  })

  test.each(['x', 'db', 'db:80', 'api', 'a:1', 'ab:8001'])('over a socket, Host %s: a prefixed drop is a 404, logged so', async (h) => {
    const t = withDogs({ config: OPEN })
    const { port, log, stop } = serveInProcess(t.app)
    inProcess.push(stop)
    const misrouted = await rawRequest(port, { method: 'POST', target: '/zz/data/dogs/-/drop', host: h, body: CONFIRM })
    expect(misrouted.status).toBe(404)
    expect(t.tables()).toEqual(['dogs'])
    const read = await rawRequest(port, { method: 'GET', target: '/data/dogs.json?_shape=array', host: h })
    expect([read.status, JSON.parse(read.body)]).toEqual([200, [{ id: 1, name: 'Cleopaws' }]])
    expect(log.map(loggedPath)).toEqual(['/zz/data/dogs/-/drop', '/data/dogs.json'])
  })

  const UNROUTABLE = ['a b', 'a/b', 'x?y', 'a\\b', '', '127.0.0.1, evil', 'x:99999', 'localhost:8001:1', '%2f', '127.256.0.1']
  test.each(UNROUTABLE)('a Host that makes no URL (%p) is a 400 that routes nothing, logged with the path sent', async (host) => {
    const t = withDogs({ config: OPEN })
    const { port, log, stop } = serveInProcess(t.app)
    inProcess.push(stop)
    const response = await rawRequest(port, { method: 'POST', target: '/zzzzzzzzzz/data/dogs/-/drop', host, body: CONFIRM })
    const message = `Invalid Host header ${JSON.stringify(host)}`
    expect([response.status, JSON.parse(response.body)]).toEqual([400, { ok: false, error: message, errors: [message], status: 400 }])
    expect(log.map(loggedPath)).toEqual(['/zzzzzzzzzz/data/dogs/-/drop'])
    expect(t.tables()).toEqual(['dogs'])
  })

  test('an in-process https:// request is refused rather than routed by a wrong path', async () => {
    const t = withDogs({ config: OPEN })
    const response = await t.app.handle(new Request('https://u/data/dogs/-/drop', { method: 'POST', body: CONFIRM }))
    expect(response.status).toBe(400)
    expect(t.tables()).toEqual(['dogs'])
  })
})

describe('20: CORS headers, Basic auth, paths, addresses and actors in logs', () => {
  test('--cors allows Idempotency-Key and exposes Idempotent-Replayed, on the 1.0 and the legacy routes', async () => {
    const t = withDogs({ unsafe: true, cors: true })
    const datasette = await t.request('OPTIONS', '/data/dogs/-/insert')
    expect(datasette.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type, Idempotency-Key')
    expect(datasette.headers.get('access-control-expose-headers')).toBe('Link, Idempotent-Replayed')
    const legacy = await t.request('OPTIONS', '/-/insert/data/dogs')
    expect(legacy.headers.get('access-control-allow-headers')).toBe('content-type,authorization,idempotency-key')
    expect(legacy.headers.get('access-control-expose-headers')).toBe('idempotent-replayed')
  })

  test('Authorization: Basic is the anonymous actor, as in Datasette, and docs/configuration.md says so', async () => {
    const t = makeApp({ secret: SECRET })
    await expectJson(await t.request('GET', '/-/actor.json', undefined, { authorization: 'Basic YWxpY2U6cw==' }), 200, { actor: null })
    expect(configurationDoc.includes('`Authorization: Basic ...` (from a reverse proxy) is ignored')).toBe(true)
  })

  test('/-/databases.json names the file, not its absolute path', async () => {
    const t = makeApp()
    const text = await (await t.get('/-/databases.json')).text()
    expect(JSON.parse(text)).toEqual([{ name: 'data', path: 'data.db', is_mutable: true, is_memory: false, hash: null }])
    expect(text).not.toContain(join(t.path, '..'))
  })

  test.each(['[::1]', '::1'])('-h %s prints http://[::1]:PORT/ and serves there', async (host) => {
    const server = await started(['data.db', '--create', '-h', host], { cwd: tempDir() })
    expect(server.url).toMatch(/^http:\/\/\[::1\]:\d+$/)
    expect((await fetch(`${server.url}/-/versions.json`)).status).toBe(200)
  })

  test('an actor without an id is logged as (no id), not as its JSON', async () => {
    const config = interpretMetadata({
      plugins: {
        'datasette-insert': { allow: { bot: 'insert-bot' } },
        'datasette-auth-tokens': { tokens: [{ token: 'abc123', actor: { bot: 'insert-bot', email: 'ops@example.com' } }] },
      },
    })
    const t = makeApp({ config })
    const { port, log, stop } = serveInProcess(t.app)
    inProcess.push(stop)
    const headers = { authorization: 'Bearer abc123' }
    const host = `127.0.0.1:${port}`
    const response = await rawRequest(port, { method: 'POST', target: '/-/insert/data/dogs', host, headers, body: '{"id": 1}' })
    expect(response.status).toBe(200)
    expect(log).toHaveLength(1)
    expect(log[0]).toEndWith(' actor=(no id)')
  })
})
