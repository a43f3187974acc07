/**
 * The HTML pages over HTTP (issue 12, item 1): what each page renders, on SQLite and PostgreSQL; every user-controlled
 * string escaped wherever it lands; the Content-Security-Policy; the same permissions as the JSON; login with a token
 * and the signed cookie; cross-site writes refused for cookie-authenticated requests. tests/browser.test.ts drives the
 * same pages in Chromium.
 */
import { describe, expect, setDefaultTimeout, test } from 'bun:test'
import { signActorCookie } from '../lib/auth'
import { interpretMetadata } from '../lib/config'
import { CONTENT_SECURITY_POLICY, SCRIPT_PATH } from '../lib/pages/layout'
import type { LiveTable } from '../lib/pages/live'
import { mintToken } from '../lib/signed-tokens'
import { eachBackend, type BackendApp } from './backends'

setDefaultTimeout(60_000)

const SECRET = 'a-test-secret-that-is-long-enough-for-rowpost'
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }
const CONFIG = interpretMetadata({
  plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'reader-token', actor: { id: 'reader' } }] } },
  databases: { data: { tables: { secrets: { allow: { id: 'reader' } } } } },
})

/** A page as a browser asks for it; the cookie header when given. */
async function page(
  t: Pick<BackendApp, 'request'>,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; text: string; response: Response }> {
  const response = await t.request('GET', path, undefined, { ...HTML, ...headers })
  return { status: response.status, text: await response.text(), response }
}

/** The text of each `<tbody id="rows">` row's cells, markup removed. */
function renderedRows(text: string): string[][] {
  const body = /<tbody id="rows">([\s\S]*?)<\/tbody>/.exec(text)?.[1] ?? ''
  return [...body.matchAll(/<tr[^>]*>([\s\S]*?)<\/tr>/g)].map((row) =>
    [...row[1]!.matchAll(/<td[^>]*>([\s\S]*?)<\/td>/g)].slice(1).map((cell) => cell[1]!.replace(/<[^>]+>/g, '')),
  )
}

/** The table page's `data-live` attribute, decoded: what its script is told. */
function liveConfig(text: string): LiveTable {
  const attribute = / data-live="([^"]*)"/.exec(text)![1]!
  const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" }
  return JSON.parse(attribute.replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => entities[entity]!))
}

const hrefs = (text: string) => [...text.matchAll(/\s(?:href|action|src)="([^"]*)"/g)].map((match) => match[1]!)

async function seedDogs(t: BackendApp) {
  await t.exec('CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER)')
  for (let id = 1; id <= 5; id++) await t.exec('INSERT INTO dogs VALUES (?, ?, ?)', [id, `dog${id}`, 10 - id])
}

eachBackend((backend) => {
  describe('the pages render what the JSON serves', () => {
    test('/, /data, /data/dogs and a row page render their rows, and JSON clients get the answers they got before', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seedDogs(t)
      const index = await page(t, '/')
      expect(index.status).toBe(200)
      expect(index.text).toContain('<a href="/data"><bdi>data</bdi></a>')
      const database = await page(t, '/data')
      expect(database.text).toMatch(/<a href="\/data\/dogs"><bdi>dogs<\/bdi><\/a><\/td><td class="num">5<\/td>/)
      const table = await page(t, '/data/dogs')
      expect(renderedRows(table.text)).toEqual([1, 2, 3, 4, 5].map((id) => [String(id), `dog${id}`, String(10 - id)]))
      expect(table.text).toContain('<a href="/data/dogs.json">JSON</a><a href="/data/dogs.csv">CSV</a>')
      expect(table.text).toContain('<a href="/data/dogs/3" title="This row">')
      const row = await page(t, '/data/dogs/3')
      expect(row.text).toContain('<th scope="row"><bdi>name</bdi></th><td><bdi>dog3</bdi></td>')
      // Without Accept: text/html these URLs answer exactly as before the pages existed.
      for (const path of ['/', '/data', '/data/dogs', '/data/dogs/3']) {
        const response = await t.get(path)
        expect({ path, status: response.status, body: await response.json() }).toEqual({
          path,
          status: 404,
          body: { ok: false, error: 'Not found', errors: ['Not found'], status: 404 },
        })
      }
    })

    test('pagination follows _next, sorting links flip direction, and the filter form redirects to a filter', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seedDogs(t)
      const first = await page(t, '/data/dogs?_size=2&_sort=age')
      expect(renderedRows(first.text).map((row) => row[0])).toEqual(['5', '4'])
      const next = /<a id="next" href="([^"]+)">/.exec(first.text)![1]!.replaceAll('&amp;', '&')
      expect(next).toBe('/data/dogs?_size=2&_sort=age&_next=6%2C4')
      expect(renderedRows((await page(t, next)).text).map((row) => row[0])).toEqual(['3', '2'])
      expect(first.text).toContain('<a href="/data/dogs?_size=2&amp;_sort_desc=age" title="Sort"><bdi>age</bdi> ▲</a>')
      const redirect = await t.request('GET', '/data/dogs?_size=2&_filter_column=age&_filter_op=gte&_filter_value=7', undefined, HTML)
      expect(redirect.status).toBe(302)
      expect(redirect.headers.get('location')).toBe('/data/dogs?_size=2&age__gte=7')
      const filtered = await page(t, '/data/dogs?age__gte=7')
      expect(renderedRows(filtered.text).map((row) => row[0])).toEqual(['1', '2', '3'])
      expect(filtered.text).toContain('<li><bdi>age ≥ 7</bdi> <a href="/data/dogs" title="Remove this filter">✕</a></li>')
    })

    test('NULL, BLOBs, JSON text and long text are shown as such, and a BLOB downloads from its link', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await t.post('/data/-/create', {
        table: 'things',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'note', type: 'text' },
          { name: 'data', type: 'blob' },
        ],
        pk: 'id',
      })
      await t.post('/data/things/-/insert', {
        rows: [
          { id: 1, note: '{"b": [1, 2]}', data: { $base64: true, encoded: Buffer.from('hello blob').toString('base64') } },
          { id: 2, note: 'z'.repeat(1000), data: null },
        ],
      })
      const { text } = await page(t, '/data/things')
      expect(text).toContain('<a href="/data/things/1.blob?_blob_column=data"><span class="blob">&lt;Binary: 10 bytes&gt;</span></a>')
      expect(text).toContain('<pre><bdi>{\n  &quot;b&quot;: [\n    1,\n    2\n  ]\n}</bdi></pre>')
      expect(text).toContain('<span class="null">NULL</span>')
      expect(text).toContain(
        `<details class="long"><summary><span class="preview"><bdi>${'z'.repeat(300)}</bdi>…</span> <span class="more">show all 1,000 characters</span>`,
      )
      const blob = await t.get('/data/things/1.blob?_blob_column=data')
      expect(blob.status).toBe(200)
      expect(blob.headers.get('content-disposition')).toBe('attachment; filename="things-1.blob"')
      expect(Buffer.from(await blob.arrayBuffer()).toString()).toBe('hello blob')
      expect((await t.get('/data/things/2.blob?_blob_column=data')).status).toBe(400)
    })

    test("the table page's script is a file of the server's own, told where new rows may go and which filters it can check", async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seedDogs(t)
      const script = await t.get(SCRIPT_PATH)
      expect(script.status).toBe(200)
      expect(script.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
      expect(await script.text()).toContain('new EventSource(live.changes)')
      const { text } = await page(t, '/data/dogs')
      expect([...text.matchAll(/<script[^>]*>/g)].map((tag) => tag[0])).toEqual([`<script src="${SCRIPT_PATH}">`])
      expect(text).toContain('<tr data-key="3"><td><a href="/data/dogs/3"')
      expect(liveConfig(text)).toEqual({
        changes: '/data/dogs/-/changes',
        base: '/data/dogs',
        columns: [
          { name: 'id', affinity: 'INTEGER', key: 0 },
          { name: 'name', affinity: 'TEXT', key: -1 },
          { name: 'age', affinity: 'INTEGER', key: -1 },
        ],
        placement: 'top',
        why: null,
        filters: [],
      })
      const placement = async (query: string) => {
        const { placement, why, filters } = liveConfig((await page(t, `/data/dogs?${query}`)).text)
        return { placement, why, filters }
      }
      expect(await placement('name=dog1&age__not=3&age__notnull=1&name__notblank=1')).toEqual({
        placement: 'top',
        why: null,
        filters: [
          ['name', 'exact', 'dog1'],
          ['age', 'not', '3'],
          ['age', 'notnull', '1'],
          ['name', 'notblank', '1'],
        ],
      })
      expect(await placement('_sort=age')).toEqual({ placement: 'notice', why: 'the page is sorted', filters: [] })
      expect(await placement('_sort_desc=name&name=dog1')).toEqual({ placement: 'notice', why: 'the page is sorted', filters: [] })
      expect(await placement('_size=2&_next=2')).toEqual({ placement: 'notice', why: 'this is not the first page', filters: [] })
      expect(await placement('name=dog1&age__gt=3')).toEqual({ placement: 'notice', why: 'they may not match the filters', filters: [] })

      // A followed table: the page names the change it was rendered after, so the script misses nothing in between.
      const feed = await t.get('/data/dogs/-/changes')
      await t.post('/-/insert/data/dogs?pk=id', [{ id: 6, name: 'dog6', age: 1 }])
      expect(liveConfig((await page(t, '/data/dogs')).text).changes).toBe('/data/dogs/-/changes?since=1')
      await feed.body!.cancel()
    })

    test('every page, error pages included, carries the Content-Security-Policy', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seedDogs(t)
      for (const path of ['/', '/data', '/data/dogs', '/data/dogs/1', '/data/nope', '/data/dogs?nope=1', '/nope', '/-/login']) {
        const { response, status } = await page(t, path)
        expect({ path, status: status < 500, type: response.headers.get('content-type'), csp: response.headers.get('content-security-policy') }).toEqual({
          path,
          status: true,
          type: 'text/html; charset=utf-8',
          csp: CONTENT_SECURITY_POLICY,
        })
      }
    })

    test('a private table appears in no list and its pages are refused, until a reader logs in', async () => {
      const t = await backend.makeApp({ config: CONFIG, secret: SECRET })
      await seedDogs(t)
      await t.exec('CREATE TABLE secrets (id INTEGER PRIMARY KEY, code TEXT)')
      await t.exec("INSERT INTO secrets VALUES (1, 'the launch code')")
      expect((await page(t, '/')).text).toContain('1 table</span>')
      const anonymous = await page(t, '/data')
      expect(anonymous.text).not.toContain('secrets')
      for (const path of ['/data/secrets', '/data/secrets/1']) {
        const refused = await page(t, path)
        expect({ path, status: refused.status, leaks: refused.text.includes('launch') }).toEqual({ path, status: 403, leaks: false })
        expect(refused.text).toContain('<a href="/-/login">Log in</a>')
      }
      const login = await t.request('POST', '/-/login', 'token=reader-token', {
        'content-type': 'application/x-www-form-urlencoded',
        'sec-fetch-site': 'same-origin',
      })
      expect(login.status).toBe(303)
      const cookie = login.headers.get('set-cookie')!
      expect(cookie).toMatch(/^ds_actor=[^;]+; Path=\/; Max-Age=604800; HttpOnly; SameSite=Strict$/)
      const jar = { cookie: cookie.split(';')[0]! }
      expect((await page(t, '/', jar)).text).toContain('2 tables</span>')
      expect((await page(t, '/data', jar)).text).toContain('<a href="/data/secrets"><bdi>secrets</bdi></a> <span class="muted">(private)</span>')
      expect(renderedRows((await page(t, '/data/secrets', jar)).text)).toEqual([['1', 'the launch code']])
      expect((await page(t, '/data/secrets', jar)).text).toContain('<span><bdi>reader</bdi></span> <button type="submit">Log out</button>')
      // The cookie authenticates the JSON too, so a page's .json and .csv links work for whoever sees the page.
      expect(await (await t.request('GET', '/-/actor.json', undefined, jar)).json()).toEqual({ actor: { id: 'reader' } })
      const logout = await t.request('POST', '/-/logout', undefined, { ...jar, 'sec-fetch-site': 'same-origin' })
      expect(logout.headers.get('set-cookie')).toBe('ds_actor=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict')
    })
  })
})

describe('login', () => {
  const sqlite = async (options: Parameters<typeof import('./helpers').makeApp>[0] = {}) => {
    const { makeApp } = await import('./helpers')
    const t = makeApp({ config: CONFIG, secret: SECRET, ...options })
    return t
  }
  const form = (body: string, headers: Record<string, string> = {}) => ({
    'content-type': 'application/x-www-form-urlencoded',
    'sec-fetch-site': 'same-origin',
    ...headers,
    body,
  })
  const postForm = (t: Awaited<ReturnType<typeof sqlite>>, path: string, { body, ...headers }: ReturnType<typeof form>) =>
    t.request('POST', path, body, headers)

  test('a dstok_ token logs in until the token expires, with its restrictions kept', async () => {
    const t = await sqlite()
    t.db.connection.run('CREATE TABLE dogs (id INTEGER PRIMARY KEY)')
    const token = mintToken(SECRET, { actorId: 'bot', expiresAfter: 3600, restrictions: { a: ['vi', 'vd'] } })
    const login = await postForm(t, '/-/login', form(`token=${token}`))
    expect(login.status).toBe(303)
    const cookie = login.headers.get('set-cookie')!
    expect(Number(/Max-Age=(\d+)/.exec(cookie)![1])).toBeLessThanOrEqual(3600)
    const jar = { cookie: cookie.split(';')[0]!, ...HTML }
    const actor = (await (await t.request('GET', '/-/actor.json', undefined, jar)).json()) as { actor: Record<string, unknown> }
    expect(actor.actor).toMatchObject({ id: 'bot', token: 'dstok', _r: { a: ['vi', 'vd'] } })
    // view-table is not among the token's actions, so the table stays hidden from its cookie too.
    expect((await t.request('GET', '/data/dogs', undefined, jar)).status).toBe(403)
  })

  test('a wrong, empty or expired token is refused on the login page, and sets no cookie', async () => {
    const t = await sqlite()
    const cases: Array<[string, number, string]> = [
      ['token=nope', 401, 'Invalid token'],
      ['token=', 400, 'Enter a token.'],
      [`token=${mintToken(SECRET, { actorId: 'bot', expiresAfter: 10, now: Date.now() / 1000 - 100 })}`, 401, 'Token has expired'],
    ]
    for (const [body, status, message] of cases) {
      const response = await postForm(t, '/-/login', form(body))
      const text = await response.text()
      expect({ status: response.status, cookie: response.headers.get('set-cookie'), shown: text.includes(message) }).toEqual({
        status,
        cookie: null,
        shown: true,
      })
    }
  })

  test('without a secret, login is disabled with a message saying how to enable it', async () => {
    const t = await sqlite({ secret: undefined })
    const text = await (await t.request('GET', '/-/login', undefined, HTML)).text()
    expect(text).toContain('Logging in needs a secret to sign the cookie with: start rowpost with --secret or ROWPOST_SECRET.')
    expect(text).not.toContain('<form method="post" action="/-/login">')
    const response = await postForm(t, '/-/login', form('token=reader-token'))
    expect({ status: response.status, cookie: response.headers.get('set-cookie') }).toEqual({ status: 400, cookie: null })
  })

  test('a tampered, expired or foreign-secret cookie is the anonymous actor', async () => {
    const t = await sqlite()
    const now = Math.floor(Date.now() / 1000)
    const good = signActorCookie(SECRET, { id: 'reader' }, now + 60)
    const cases: Array<[string, unknown]> = [
      [good, { id: 'reader' }],
      [`${good.slice(0, -2)}xx`, null],
      [signActorCookie(SECRET, { id: 'reader' }, now - 1), null],
      [signActorCookie('another-secret-of-the-same-kind-and-length!!', { id: 'root' }, now + 60), null],
      ['garbage', null],
    ]
    for (const [value, actor] of cases) {
      const body = await (await t.request('GET', '/-/actor.json', undefined, { cookie: `other=1; ds_actor=${value}` })).json()
      expect(body).toEqual({ actor })
    }
  })

  test('a cross-site login form is refused, and so is a cookie-authenticated write from another origin, even with --cors', async () => {
    const writer = interpretMetadata({
      plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'writer-token', actor: { id: 'writer' } }] } },
      permissions: { 'insert-row': { id: 'writer' }, 'create-table': { id: 'writer' }, 'update-row': { id: 'writer' } },
    })
    for (const cors of [false, true]) {
      const t = await sqlite({ config: writer, cors })
      const refusedLogin = await postForm(t, '/-/login', form('token=writer-token', { 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' }))
      expect({ cors, status: refusedLogin.status, cookie: refusedLogin.headers.get('set-cookie') }).toEqual({ cors, status: 403, cookie: null })
      const login = await postForm(t, '/-/login', form('token=writer-token'))
      const jar = { cookie: login.headers.get('set-cookie')!.split(';')[0]! }
      const body = JSON.stringify([{ id: 1 }])
      for (const site of ['cross-site', 'same-site']) {
        const refused = await t.request('POST', '/-/insert/data/dogs?pk=id', body, { ...jar, 'sec-fetch-site': site, origin: 'http://127.0.0.1:9999' })
        expect({ cors, site, status: refused.status }).toEqual({ cors, site, status: 403 })
      }
      expect(t.tables()).not.toContain('dogs')
      const same = await t.request('POST', '/-/insert/data/dogs?pk=id', body, { ...jar, 'sec-fetch-site': 'same-origin' })
      expect({ cors, status: same.status }).toEqual({ cors, status: 200 })
      expect(t.rows('dogs')).toEqual([{ id: 1 }])
    }
  })
})

describe('every user-controlled string is escaped wherever a page shows it', () => {
  const NAME = `<script>alert("n")</script>'"\u202Eevil`
  const VALUE = `"><img src=x onerror=alert(1)><script>alert('v')</script>\u202Egnp.exe`
  const LINK = 'javascript:alert(1)'

  /** No markup from the payloads survives, every link stays on this server, and the RTL override sits inside a <bdi>. */
  function expectInert(where: string, text: string) {
    // Escaped, the payloads are text (`onerror=` may appear as such); only a real tag would run. The one script is
    // rowpost's own file.
    const markup = text.replace(`<script src="${SCRIPT_PATH}"></script>`, '')
    expect({ where, script: /<script|<img/i.test(markup) }).toEqual({ where, script: false })
    for (const href of hrefs(text)) expect({ where, href, local: href.startsWith('/') }).toEqual({ where, href, local: true })
    // Form fields (attribute values, a textarea's text) are isolated by the browser already; data-live is never shown.
    const outsideBdi = text.replace(/<bdi>[\s\S]*?<\/bdi>|<textarea[^>]*>[\s\S]*?<\/textarea>/g, '').replace(/ (?:value|name|data-live)="[^"]*"/g, '')
    expect({ where, override: outsideBdi.includes('\u202E') }).toEqual({ where, override: false })
  }

  test('in table, column and database names, values, keys, filters, the query page and error pages', async () => {
    const { makeApp } = await import('./helpers')
    const t = makeApp({ unsafe: true })
    await t.post('/data/-/create', {
      table: NAME,
      columns: [
        { name: 'id', type: 'text' },
        { name: NAME, type: 'text' },
        { name: 'link', type: 'text' },
      ],
      pk: 'id',
    })
    const tableSegment = (await import('../lib/identifiers')).tildeEncode(NAME)
    const insert = await t.post(`/data/${tableSegment}/-/insert`, {
      rows: [
        { id: VALUE, [NAME]: VALUE, link: LINK },
        { id: LINK, [NAME]: VALUE.repeat(20), link: LINK },
      ],
    })
    expect(insert.status).toBe(201)
    const keySegment = (await import('../lib/identifiers')).tildeEncode(VALUE)
    const columnFilter = `${encodeURIComponent(NAME)}__contains=${encodeURIComponent(VALUE)}`
    const pages = [
      '/',
      '/data',
      `/data/${tableSegment}`,
      `/data/${tableSegment}?${columnFilter}&_sort=${encodeURIComponent(NAME)}`,
      `/data/${tableSegment}?_size=1`,
      `/data/${tableSegment}/${keySegment}`,
      `/data/${tableSegment}?${encodeURIComponent(VALUE)}=1`,
      `/data/${keySegment}`,
      `/data/-/query?sql=${encodeURIComponent(`select :p as "${NAME.replaceAll('"', '""')}", '${VALUE.replaceAll("'", "''")}' as v`)}&p=${encodeURIComponent(VALUE)}`,
      `/data/-/query?sql=${encodeURIComponent(`select * from "${VALUE.replaceAll('"', '""')}"`)}`,
    ]
    for (const path of pages) {
      const { status, text } = await page(t, path)
      expect({ path, status: status < 500 }).toEqual({ path, status: true })
      expectInert(path, text)
    }
    const table = (await page(t, `/data/${tableSegment}`)).text
    expect(table).toContain('<bdi>&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;&#39;&quot;\u202Eevil</bdi>')
    expect(table).toContain('<bdi>javascript:alert(1)</bdi>')
    expect(liveConfig(table).columns.map((column) => column.name)).toEqual(['id', NAME, 'link'])
    expect(liveConfig(table).base).toBe(`/data/${tableSegment}`)
    expect(table).toContain(`<title>&lt;script&gt;alert(&quot;n&quot;)&lt;/script&gt;&#39;&quot;\ufffdevil · rowpost</title>`)
  })
})
