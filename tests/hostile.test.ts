/** Hostile input: generated bodies, bytes, names, query strings and headers at every endpoint, plus explicit extremes, on SQLite and PostgreSQL. Nothing may answer 5xx, every error is a JSON envelope, and the storage stays intact. */
import { Database } from 'bun:sqlite'
import { afterAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import fc from 'fast-check'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { tildeEncode } from '../lib/identifiers'
import type { Settings } from '../lib/settings'
import { eachBackend, type BackendApp, type BackendName } from './backends'
import type { BodyInit } from './helpers'
import { loggedPath, rawRequest, serveInProcess } from './raw-http'

/** Fixed so a failure replays; a failure prints the seed and path of its counterexample. HOSTILE_SEED (and HOSTILE_PATH) override it. */
const SEED = Number(process.env.HOSTILE_SEED ?? 20_260_601)
const PATH = process.env.HOSTILE_PATH
/** Scales every property's run count (HOSTILE_RUNS=10 for a long soak). */
const SCALE = Number(process.env.HOSTILE_RUNS ?? 1)
const runs = (count: number) => Math.max(1, Math.round(count * SCALE))

// ---------------------------------------------------------------------------------------------------------------
// Sending requests and judging responses
// ---------------------------------------------------------------------------------------------------------------

interface Probe {
  method: string
  /** Path and query, appended to http://localhost verbatim (the URL parser normalises it, as a client's would). */
  target: string
  body?: BodyInit
  headers?: Record<string, string>
}

/** Inputs tried and milliseconds spent, per property; printed when the file ends. */
const tried: Record<string, number> = {}
const timings: Record<string, number> = {}
let requestsSent = 0

const clip = (text: string, length = 300) => (text.length > length ? `${text.slice(0, length)}… (${text.length} chars)` : text)

function fail(message: string): never {
  throw new Error(message)
}

const isLegacyPath = (pathname: string) => pathname.startsWith('/-/insert/') || pathname.startsWith('/-/upsert/')

/**
 * The contract every response keeps, whatever was sent: never a 5xx; OPTIONS answers `ok`; an error is JSON whose
 * `status` is the HTTP status and whose `error` is a non-empty string, in the legacy envelope on legacy paths (with an
 * `error_code`, except the plugin's bare 403) and Datasette 1.0's elsewhere; a success is JSON (or NDJSON).
 */
async function judge(request: Request, response: Response): Promise<string> {
  const text = await response.text()
  const where = `${request.method} ${clip(request.url, 200)} answered ${response.status}: ${clip(text)}`
  if (response.status >= 500) fail(`server error: ${where}`)
  if (request.method === 'OPTIONS') {
    if (response.status !== 200 || text !== 'ok') fail(`OPTIONS must answer 200 ok: ${where}`)
    return text
  }
  const type = response.headers.get('content-type') ?? ''
  // A HEAD answer carries the headers of the GET it mirrors and no body.
  if (request.method === 'HEAD') {
    if (response.status >= 400 && !/^application\/json\b/.test(type)) fail(`error is not JSON (${type}): ${where}`)
    return text
  }
  if (response.status >= 400) {
    if (!/^application\/json\b/.test(type)) fail(`error is not JSON (${type}): ${where}`)
    let body: Record<string, unknown>
    try {
      body = JSON.parse(text)
    } catch {
      fail(`error body does not parse: ${where}`)
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) fail(`error body is not an object: ${where}`)
    if (body.status !== response.status) fail(`error body's status differs from the HTTP status: ${where}`)
    if (typeof body.error !== 'string' || body.error === '') fail(`error body has no error message: ${where}`)
    if (isLegacyPath(new URL(request.url).pathname)) {
      if (body.error_code === undefined) {
        if (response.status !== 403 || Object.keys(body).sort().join() !== 'error,status') fail(`legacy error without error_code: ${where}`)
      } else if (typeof body.error_code !== 'string' || body.error_code === '') fail(`legacy error_code is not a string: ${where}`)
    } else {
      const errors = body.errors
      if (body.ok !== false || !Array.isArray(errors) || errors.length === 0 || !errors.every((e) => typeof e === 'string' && e !== '')) {
        fail(`not a Datasette 1.0 error envelope: ${where}`)
      }
    }
    if (response.status === 401 && !response.headers.get('www-authenticate')) fail(`401 without WWW-Authenticate: ${where}`)
    if (response.status === 405 && !response.headers.get('allow')) fail(`405 without Allow: ${where}`)
    return text
  }
  if (/^application\/x-ndjson\b/.test(type)) {
    for (const line of text.split('\n').filter(Boolean)) JSON.parse(line)
  } else if (/^application\/json\b/.test(type)) {
    try {
      JSON.parse(text)
    } catch {
      fail(`success body does not parse: ${where}`)
    }
  } else fail(`success is not JSON (${type}): ${where}`)
  return text
}

async function send(t: BackendApp, probe: Probe): Promise<{ status: number; text: string }> {
  requestsSent++
  const hasBody = probe.body !== undefined && probe.method !== 'GET' && probe.method !== 'HEAD'
  const request = new Request(`http://localhost${probe.target}`, {
    method: probe.method,
    body: hasBody ? (probe.body as RequestInit['body']) : undefined,
    headers: probe.headers,
  })
  const response = await t.app.handle(request)
  return { status: response.status, text: await judge(request, response) }
}

function count(property: string) {
  tried[property] = (tried[property] ?? 0) + 1
}

/**
 * Runs one property with the shared seed; each run (shrinking included) counts as one input tried. A failure names
 * the seed and path that replay it and the shrunk counterexample, clipped (some inputs are megabytes long).
 */
async function check<T>(backend: BackendName, property: string, arbitrary: fc.Arbitrary<T>, numRuns: number, predicate: (input: T) => Promise<void>) {
  const name = `${backend}: ${property}`
  const started = performance.now()
  try {
    const details = await fc.check(
      fc.asyncProperty(arbitrary, async (input) => {
        count(name)
        await predicate(input)
      }),
      { numRuns: runs(numRuns), seed: SEED, ...(PATH ? { path: PATH } : {}) },
    )
    if (details.failed) {
      const cause = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
      fail(
        `${name}: failed after ${details.numRuns} runs, shrunk ${details.numShrinks} times ` +
          `(replay: HOSTILE_SEED=${details.seed} HOSTILE_PATH=${details.counterexamplePath} bun test tests/hostile.test.ts -t '${backend}.*${property}')\n` +
          `counterexample: ${clip(fc.stringify(details.counterexample), 2000)}\n${clip(cause, 2000)}`,
      )
    }
  } finally {
    timings[name] = performance.now() - started
  }
}

/** PRAGMA integrity_check on the file, through a connection of its own. */
function integrity(path: string): string {
  const file = new Database(path, { readonly: true })
  try {
    return (file.query('PRAGMA integrity_check').all() as Array<{ integrity_check: string }>).map((row) => row.integrity_check).join('\n')
  } finally {
    file.close()
  }
}

let canaries = 0

/** The end of every property: the storage is intact, no transaction was left open, and a good write and read still work. */
async function expectHealthy(t: BackendApp, token?: string) {
  const headers = token === undefined ? undefined : { authorization: `Bearer ${token}` }
  await new Promise((resolve) => setImmediate(resolve))
  if (t.store instanceof RowpostDatabase) {
    expect(t.store.connection.inTransaction).toBe(false)
    expect(integrity(t.store.path)).toBe('ok')
  } else {
    // PostgreSQL checks its own pages; what rowpost could leave behind is a connection idle inside a transaction.
    const open = await t.query("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%'")
    expect(open).toEqual([{ n: 0 }])
  }
  const table = `canary ${++canaries}`
  const written = await send(t, { method: 'POST', target: `/-/insert/data/${percentEncode(table)}`, body: '{"note": "still serving"}', headers })
  expect(written).toEqual({ status: 200, text: '{"table_count":1}' })
  const read = await send(t, { method: 'GET', target: `/data/${tildeEncode(table)}.json?_shape=array`, headers })
  expect({ status: read.status, rows: JSON.parse(read.text) }).toEqual({ status: 200, rows: [{ rowid: 1, note: 'still serving' }] })
}

const exact = (_key: string, value: unknown) =>
  typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value

/** Everything in the SQLite file, as one string: tables, their SQL and every value (BLOBs as hex, integers exact). */
function fileFingerprint(file: Database): string {
  const tables = file.query('SELECT type, name, sql FROM sqlite_schema ORDER BY type, name').all() as Array<{ type: string; name: string; sql: string | null }>
  const parts = [JSON.stringify(tables)]
  for (const { type, name } of tables) {
    if (type !== 'table') continue
    const rows = file.query(`SELECT * FROM "${name.replaceAll('"', '""')}"`).values()
    parts.push(JSON.stringify(rows, exact))
  }
  return parts.join('\n')
}

/**
 * Everything stored, as one string: on SQLite every table of the file with its SQL; on PostgreSQL every table's columns
 * and rows, and rowpost's own Idempotency-Key answers and row counts.
 */
async function fingerprint(t: BackendApp): Promise<string> {
  if (t.store instanceof RowpostDatabase) {
    const file = new Database(t.store.path, { readonly: true, safeIntegers: true })
    try {
      return fileFingerprint(file)
    } finally {
      file.close()
    }
  }
  const own = await t.query(
    'SELECT (SELECT json_agg(i ORDER BY actor, key)::text FROM "_rowpost_idempotency" i) AS idempotency, (SELECT json_agg(c ORDER BY name)::text FROM "_rowpost_counts" c) AS counts',
  )
  return JSON.stringify([await t.snapshot(), own], exact)
}

afterAll(() => {
  const total = Object.values(tried).reduce((sum, n) => sum + n, 0)
  const lines = Object.entries(tried).map(([name, n]) => `  ${n.toString().padStart(6)}  ${name} (${((timings[name] ?? 0) / 1000).toFixed(1)} s)`)
  console.log(`hostile inputs tried: ${total} in ${Object.keys(tried).length} properties, ${requestsSent} requests in all (seed ${SEED})\n${lines.join('\n')}`)
})

// ---------------------------------------------------------------------------------------------------------------
// Arbitraries: names, values, bodies, routes, query strings, headers
// ---------------------------------------------------------------------------------------------------------------

const utf8 = new TextEncoder()

/** Percent-encodes every byte of the UTF-8 form except letters, digits, `_` and `-` (lone surrogates become U+FFFD). */
const percentEncode = (text: string) =>
  [...utf8.encode(text)]
    .map((byte) => (/[A-Za-z0-9_-]/.test(String.fromCharCode(byte)) ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`))
    .join('')

const SQL_WORDS = [
  'select',
  'SELECT',
  'table',
  'from',
  'where',
  'order',
  'group',
  'index',
  'drop',
  'null',
  'NULL',
  'default',
  'primary',
  'key',
  'check',
  'main',
  'temp',
]
const SPECIAL_NAMES = [
  ...SQL_WORDS,
  'rowid',
  'ROWID',
  'oid',
  '_rowid_',
  'sqlite_master',
  'sqlite_schema',
  'sqlite_sequence',
  'SQLITE_stat1',
  'sqlite_x',
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
  '',
  ' ',
  '  x  ',
  '\t',
  '\n',
  '\0',
  'a\0b',
  '"',
  '""',
  "'",
  '`',
  '[',
  ']',
  '[x]',
  'a"b',
  "a'b",
  'a.b',
  'a/b',
  'a\\b',
  'a,b',
  '.',
  '..',
  '~',
  '~2E',
  '~zz',
  '+',
  '%',
  '%00',
  '%zz',
  '%FF',
  '%ED%A0%80',
  '?',
  '#',
  '&',
  '=',
  ';',
  '-',
  '-/insert',
  '_shape',
  '_next',
  '_size',
  'a__exact',
  'x__in',
  'id__gt',
  '.json',
  'x.json',
  'json',
  '\ud800',
  '\udfff',
  '\ud800\ud800',
  '\ufffd',
  '\ufeff',
  '\u202e',
  '😀',
  'é',
  'e\u0301',
  'ſ',
  '\u212a',
  'İ',
  'ı',
  'Ⅷ',
  '名前',
  'dogs',
  'DOGS',
  'Dogs',
  'id',
  'ID',
  'Id',
  'name',
  'NAME',
]
const surrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((code) => String.fromCharCode(code))
const nastyChar = fc.oneof(
  fc.constantFrom(
    '"',
    "'",
    '`',
    '[',
    ']',
    '\\',
    '.',
    '~',
    '+',
    '%',
    '/',
    ' ',
    '?',
    '#',
    '&',
    '=',
    ';',
    ',',
    '\0',
    '\t',
    '\n',
    '\r',
    '_',
    '-',
    '$',
    '\ufeff',
    '\u202e',
    '\u0301',
    'ſ',
    '\u212a',
    'İ',
    'é',
  ),
  surrogate,
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 1 }),
)
const shortName = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL_NAMES) },
  { weight: 3, arbitrary: fc.string({ unit: nastyChar, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.mixedCase(fc.constantFrom('dogs', 'plain', 'pair', 'id', 'name', 'rowid', 'select', 'sqlite_master')) },
)
/** A table or column name from the list of trouble: quotes, NULs, unicode, surrogates, SQL words, case twins, very long. */
const hostileName = fc.oneof({ weight: 12, arbitrary: shortName }, { weight: 1, arbitrary: fc.integer({ min: 100, max: 70_000 }).map((n) => 'x'.repeat(n)) })

/** The seeded tables: their columns, primary keys, and JSON fragments that name an existing row's key. */
const SEEDED: Record<string, { columns: string[]; pks: string[]; keys: string[] }> = {
  dogs: {
    columns: ['id', 'name', 'age', 'weight', 'tags', 'big', 'photo', 'note'],
    pks: ['id'],
    keys: ['"id": 1', '"id": 2', '"id": 3', '"ID": 9223372036854775807'],
  },
  plain: { columns: ['a', 'b c', 'x.y'], pks: [], keys: ['"rowid": 1', '"rowid": 2', '"ROWID": 3'] },
  pair: { columns: ['a', 'b', 'v'], pks: ['a', 'b'], keys: ['"a": "k", "b": 1', '"a": "k", "b": 2', '"A": "k", "B": 3'] },
  'odd "name" 🐕': { columns: ['key', 'Col"umn'], pks: ['key'], keys: ['"key": "a/b,c~d"', '"key": "$null"', '"key": "new"'] },
  select: { columns: ['from', 'where', 'order'], pks: ['from'], keys: ['"from": 1', '"from": 2'] },
}
const SEEDED_TABLES = Object.keys(SEEDED)

/** Seeds the tables the 1.0 and read routes need to reach past "table not found". */
async function seed(t: BackendApp) {
  const posts: Array<[string, string]> = [
    [
      '/-/insert/data/dogs?pk=id',
      '[{"id": 1, "name": "Cleopaws", "age": 5, "weight": 4.5, "tags": ["a", "b"], "big": 9223372036854775807, "photo": {"$base64": true, "encoded": "AAEC"}, "note": null},' +
        ' {"id": 2, "name": "Pancakes", "age": 4, "weight": 3.0, "tags": [], "big": -9223372036854775808, "photo": null, "note": "\\u00e9\\ud83d\\ude00"}]',
    ],
    ['/-/insert/data/plain', '[{"a": "x", "b c": 1, "x.y": 2.5}, {"a": null, "b c": "1", "x.y": 0}]'],
    ['/-/insert/data/pair?pk=a&pk=b', '[{"a": "k", "b": 1, "v": "one"}, {"a": "k", "b": 2, "v": "two"}]'],
    [`/-/insert/data/${percentEncode('odd "name" 🐕')}?pk=key`, '[{"key": "a/b,c~d", "Col\\"umn": "v"}, {"key": "$null", "Col\\"umn": null}]'],
    ['/-/insert/data/select?pk=from', '[{"from": 1, "where": "w", "order": "o"}]'],
  ]
  for (const [target, body] of posts) expect((await send(t, { method: 'POST', target, body })).status).toBe(200)
}

const NUMBER_TEXTS = [
  '0',
  '-0',
  '1',
  '1.0',
  '-1.5e3',
  '0.1',
  '1E2',
  '1e0',
  '1e400',
  '-1e400',
  '1e-400',
  '5e-324',
  '1.7976931348623157e308',
  '9007199254740991',
  '9007199254740992',
  '9007199254740993',
  '-9007199254740993',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775808',
  '-9223372036854775809',
  '18446744073709551616',
  '123456789012345678901234567890',
  '9223372036854775807.0',
  '1e19',
]
const numberText = fc.oneof(
  fc.constantFrom(...NUMBER_TEXTS),
  fc.bigInt({ min: -(2n ** 66n), max: 2n ** 66n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
  fc.integer().map(String),
)
/** JSON string literals; JSON.stringify writes lone surrogates as `\udXXX` escapes. */
const stringText = fc.oneof(fc.string({ unit: nastyChar, maxLength: 30 }), fc.constantFrom(...SPECIAL_NAMES)).map((s) => JSON.stringify(s))
const keyArb = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.constantFrom('id', 'ID', 'Id', 'name', 'Name', 'NAME', 'a', 'b', 'v', 'key', 'from', 'rowid', '__proto__', 'photo', 'big', 'x.y', 'b c'),
  },
  { weight: 2, arbitrary: hostileName },
)
const objectText = (entries: ReadonlyArray<readonly [string, string]>) => `{${entries.map(([key, value]) => `${JSON.stringify(key)}: ${value}`).join(', ')}}`
const deepText = fc
  .oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 64 }) },
    { weight: 1, arbitrary: fc.integer({ min: 900, max: 1100 }) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 12_000 }) },
  )
  .chain((depth) => fc.constantFrom('['.repeat(depth) + ']'.repeat(depth), '{"a": '.repeat(depth) + '1' + '}'.repeat(depth)))

/** The text of a JSON value a row cell might hold, from plain scalars to `$base64`/`$raw` forms and deep nesting. */
const { value: valueText } = fc.letrec<{ value: string; array: string; object: string; special: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    numberText,
    stringText,
    fc.constantFrom('true', 'false', 'null'),
    tie('array'),
    tie('object'),
    tie('special'),
  ),
  array: fc.array(tie('value'), { maxLength: 4 }).map((items) => `[${items.join(', ')}]`),
  object: fc.array(fc.tuple(keyArb, tie('value')), { maxLength: 4 }).map(objectText),
  special: fc.oneof(
    fc.oneof(fc.base64String({ maxLength: 16 }), fc.string({ maxLength: 8 })).map((encoded) => `{"$base64": true, "encoded": ${JSON.stringify(encoded)}}`),
    fc.constantFrom(
      '{"$base64": true}',
      '{"$base64": false, "encoded": "AA=="}',
      '{"$base64": true, "encoded": 1}',
      '{"$raw": null}',
      '{"$raw": {"a": 1}}',
      '{"$raw": 9223372036854775808}',
      '{"$raw": "x", "y": 1}',
    ),
    tie('value').map((value) => `{"$raw": ${value}}`),
    deepText,
  ),
}))

const rowText = fc.array(fc.tuple(keyArb, valueText), { maxLength: 6 }).map(objectText)
const rowsText = fc.array(rowText, { maxLength: 5 }).map((rows) => `[${rows.join(', ')}]`)
const flagText = fc.constantFrom('true', 'false', 'null', '1', '0', '"yes"', '[]', '{}')
const anyJsonText = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }).map((value) => JSON.stringify(value)),
  valueText,
)
/** Not JSON at all, or nearly JSON. */
const junkText = fc.oneof(
  fc.string({ unit: nastyChar, maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '{',
    '[',
    '{"a": 1,}',
    "{'a': 1}",
    '{"a": NaN}',
    '{"a": Infinity}',
    '[1, 2',
    'nul',
    '{"a": 01}',
    '{"a": 1} {"b": 2}',
    '\ufeff{"a": 1}',
    '{"a": "\\ud800"}',
    '{"a": "\\x41"}',
    '{"\\u0000": 1}',
  ),
)

/** An object whose entries are the given optional fields plus, sometimes, an unknown one. */
function fieldsText(fields: Record<string, fc.Arbitrary<string>>): fc.Arbitrary<string> {
  const optional = Object.fromEntries(Object.entries(fields).map(([key, arbitrary]) => [key, fc.option(arbitrary, { nil: undefined, freq: 2 })]))
  return fc
    .tuple(fc.record(optional), fc.option(fc.tuple(keyArb, valueText), { nil: undefined, freq: 6 }))
    .map(([record, extra]) =>
      objectText([...Object.entries(record).filter((entry): entry is [string, string] => entry[1] !== undefined), ...(extra ? [extra] : [])]),
    )
}

const tableNameText = fc.oneof(fc.constantFrom(...SEEDED_TABLES), hostileName).map((name) => JSON.stringify(name))
const columnText = fieldsText({
  name: fc.oneof(
    keyArb.map((key) => JSON.stringify(key)),
    fc.constantFrom('null', '1', '""'),
  ),
  type: fc.constantFrom('"text"', '"integer"', '"float"', '"blob"', '"TEXT"', '"json"', '1', 'null'),
  not_null: flagText,
  default: valueText,
  default_expr: fc.constantFrom('"current_timestamp"', '"current_unixtime_ms"', '"now()"', 'null', '1'),
  fk_table: tableNameText,
  fk_column: keyArb.map((key) => JSON.stringify(key)),
})
const pkText = fc.oneof(
  keyArb.map((key) => JSON.stringify(key)),
  fc.constantFrom('null', '1', '[]', '""'),
)

const insertBody = fieldsText({ row: rowText, rows: fc.oneof(rowsText, anyJsonText), return: flagText, ignore: flagText, replace: flagText, alter: flagText })
const createBody = fieldsText({
  table: fc.oneof(tableNameText, fc.constantFrom('null', '1', '""', '[]')),
  row: rowText,
  rows: rowsText,
  columns: fc.oneof(
    fc.array(columnText, { maxLength: 5 }).map((columns) => `[${columns.join(', ')}]`),
    anyJsonText,
  ),
  pk: pkText,
  pks: fc.array(pkText, { maxLength: 3 }).map((pks) => `[${pks.join(', ')}]`),
  ignore: flagText,
  replace: flagText,
  alter: flagText,
})
const updateBody = fieldsText({ update: fc.oneof(rowText, anyJsonText), return: flagText, alter: flagText })
const dropBody = fc.oneof(fc.constantFrom('', '{"confirm": true}', '{"confirm": false}', '{"confirm": "true"}'), junkText)

/** A body for a route: usually shaped like what it takes, sometimes any JSON, sometimes junk. */
const bodyFor = (shaped: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 6, arbitrary: shaped }, { weight: 2, arbitrary: anyJsonText }, { weight: 1, arbitrary: junkText })

type Encoding = 'tilde' | 'percent' | 'raw'
const encodeSegment = (name: string, encoding: Encoding) => (encoding === 'tilde' ? tildeEncode(name) : encoding === 'percent' ? percentEncode(name) : name)
/** A path segment naming something: seeded or hostile, tilde-encoded, percent-encoded or raw. */
const segment = (known: fc.Arbitrary<string>, encodings: Encoding[]) =>
  fc
    .tuple(fc.oneof({ weight: 3, arbitrary: known }, { weight: 2, arbitrary: hostileName }), fc.constantFrom(...encodings))
    .map(([name, encoding]) => encodeSegment(name, encoding))
const databaseSegment = fc.oneof(
  { weight: 10, arbitrary: fc.constant('data') },
  { weight: 2, arbitrary: segment(fc.constantFrom('nope', 'DATA', '_memory', 'data.db', '-'), ['tilde', 'percent', 'raw']) },
)
const tableSegment = segment(fc.constantFrom(...SEEDED_TABLES), ['tilde', 'tilde', 'percent', 'raw'])
const legacyTableSegment = segment(fc.constantFrom(...SEEDED_TABLES), ['percent', 'percent', 'tilde', 'raw'])
const KEY_SEGMENTS = [
  '1',
  '2',
  '3',
  '0',
  '-1',
  'k,1',
  'k,2',
  'a~2Fb~2Cc~7Ed',
  '9223372036854775807',
  '9223372036854775808',
  '$null',
  '$x00',
  '$t1',
  '$',
  '1,2,3',
  '',
  '~',
  '~FF',
  '%FF',
  '1.0',
  '1e3',
]
const keySegment = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...KEY_SEGMENTS) },
  {
    weight: 1,
    arbitrary: fc.tuple(hostileName, fc.constantFrom<Encoding>('tilde', 'percent', 'raw')).map(([name, encoding]) => encodeSegment(name, encoding)),
  },
)

const queryPairs = (keys: fc.Arbitrary<string>, values: fc.Arbitrary<string>) =>
  fc.array(fc.tuple(keys, values, fc.constantFrom<'percent' | 'uri' | 'raw'>('percent', 'uri', 'raw')), { maxLength: 5 }).map((pairs) =>
    pairs
      .map(([key, value, encoding]) => {
        const encode =
          encoding === 'percent' ? percentEncode : encoding === 'uri' ? (text: string) => encodeURIComponent(text.toWellFormed()) : (text: string) => text
        return `${encode(key)}=${encode(value)}`
      })
      .join('&'),
  )

const legacyQuery = fc
  .tuple(
    fc.array(keyArb, { maxLength: 3 }).map((pks) => pks.map((pk) => `pk=${percentEncode(pk)}`)),
    fc.option(fc.constantFrom('1', '0', 'true', 'yes', 'on', 'off', '', 'bogus', ' TRUE '), { nil: undefined }),
    queryPairs(fc.constantFrom('pk', 'alter', 'pk[]', 'pk[0]', 'alter[]', '_', 'x'), fc.oneof(keyArb, fc.constantFrom('1', ''))),
  )
  .map(([pks, alter, extra]) => [...pks, ...(alter === undefined ? [] : [`alter=${percentEncode(alter)}`]), ...(extra ? [extra] : [])].join('&'))

/** A POST to one of the write routes, legacy or 1.0, with a body shaped for it (or not), at any table. */
const randomWriteProbe: fc.Arbitrary<Probe> = fc.oneof(
  fc
    .tuple(fc.constantFrom('insert', 'upsert'), databaseSegment, legacyTableSegment, legacyQuery, bodyFor(fc.oneof(rowText, rowsText)))
    .map(([verb, database, table, query, body]) => ({ method: 'POST', target: `/-/${verb}/${database}/${table}${query ? `?${query}` : ''}`, body })),
  fc.tuple(databaseSegment, bodyFor(createBody)).map(([database, body]) => ({ method: 'POST', target: `/${database}/-/create`, body })),
  fc
    .tuple(fc.constantFrom('insert', 'upsert'), databaseSegment, tableSegment, bodyFor(insertBody))
    .map(([verb, database, table, body]) => ({ method: 'POST', target: `/${database}/${table}/-/${verb}`, body })),
  fc
    .tuple(databaseSegment, tableSegment, keySegment, bodyFor(updateBody))
    .map(([database, table, key, body]) => ({ method: 'POST', target: `/${database}/${table}/${key}/-/update`, body })),
  fc
    .tuple(databaseSegment, tableSegment, keySegment, fc.oneof(fc.constant(''), junkText))
    .map(([database, table, key, body]) => ({ method: 'POST', target: `/${database}/${table}/${key}/-/delete`, body })),
  // Drops aim at hostile names only, so the seeded tables stay for the other routes (a case twin may still hit one).
  fc
    .tuple(databaseSegment, hostileName.map(tildeEncode), dropBody)
    .map(([database, table, body]) => ({ method: 'POST', target: `/${database}/${table}/-/drop`, body })),
)

/** A write the seeded table would mostly accept: its own columns (in any case), its keys, hostile values. */
const plausibleWriteProbe: fc.Arbitrary<Probe> = fc.constantFrom(...Object.entries(SEEDED)).chain(([table, { columns, pks, keys }]) => {
  const column = fc.oneof({ weight: 8, arbitrary: fc.mixedCase(fc.constantFrom(...columns)) }, { weight: 1, arbitrary: keyArb })
  const entries = fc.oneof(
    { weight: 6, arbitrary: fc.uniqueArray(fc.tuple(column, valueText), { minLength: 1, maxLength: 5, selector: ([name]) => name.toLowerCase() }) },
    { weight: 1, arbitrary: fc.array(fc.tuple(column, valueText), { minLength: 1, maxLength: 5 }) },
  )
  const row = entries.map(objectText)
  const keyed = fc.tuple(fc.constantFrom(...keys), row).map(([key, rest]) => `{${key}${rest === '{}' ? '}' : `, ${rest.slice(1)}`}`)
  const rows = fc.array(fc.oneof(row, keyed), { minLength: 1, maxLength: 4 }).map((items) => `[${items.join(', ')}]`)
  const flags = fc.array(fc.tuple(fc.constantFrom('return', 'ignore', 'replace', 'alter'), fc.constantFrom('true', 'false')), { maxLength: 2 })
  const insert = fc
    .tuple(
      fc.oneof(
        row.map((r) => `"row": ${r}`),
        rows.map((r) => `"rows": ${r}`),
      ),
      flags,
    )
    .map(([data, flags]) => `{${[data, ...flags.map(([k, v]) => `"${k}": ${v}`)].join(', ')}}`)
  const pkQuery = pks.map((pk) => `pk=${percentEncode(pk)}`).join('&')
  const rowKey = fc.constantFrom(...KEY_SEGMENTS.slice(0, 9))
  return fc.oneof(
    fc.tuple(fc.constantFrom('insert', 'upsert'), fc.constantFrom('', 'alter=1'), fc.oneof(keyed, rows)).map(([verb, alter, body]) => ({
      method: 'POST',
      target: `/-/${verb}/data/${percentEncode(table)}?${[pkQuery, alter].filter(Boolean).join('&')}`,
      body,
    })),
    fc.tuple(fc.constantFrom('insert', 'upsert'), insert).map(([verb, body]) => ({ method: 'POST', target: `/data/${tildeEncode(table)}/-/${verb}`, body })),
    fc
      .tuple(rowKey, row, fc.constantFrom('', ', "alter": true', ', "return": true'))
      .map(([key, update, extra]) => ({ method: 'POST', target: `/data/${tildeEncode(table)}/${key}/-/update`, body: `{"update": ${update}${extra}}` })),
    rowKey.map((key) => ({ method: 'POST', target: `/data/${tildeEncode(table)}/${key}/-/delete` })),
    fc.tuple(hostileName, fc.oneof(rows, row), fc.option(column, { nil: undefined })).map(([name, rows, pk]) => ({
      method: 'POST',
      target: '/data/-/create',
      body: `{"table": ${JSON.stringify(name)}, "rows": ${rows.startsWith('[') ? rows : `[${rows}]`}${pk === undefined ? '' : `, "pk": ${JSON.stringify(pk)}`}}`,
    })),
  )
})

const writeProbe = fc.oneof(randomWriteProbe, plausibleWriteProbe)

const READ_KEYS = ['_shape', '_nl', '_size', '_next', '_sort', '_sort_desc', '_', '_labels', '_search']
const FILTER_OPS = [
  'exact',
  'not',
  'contains',
  'notcontains',
  'startswith',
  'endswith',
  'gt',
  'gte',
  'lt',
  'lte',
  'in',
  'notin',
  'like',
  'notlike',
  'glob',
  'isnull',
  'notnull',
  'isblank',
  'notblank',
  'bogus',
  '',
]
const COLUMNS = [
  'id',
  'name',
  'age',
  'weight',
  'tags',
  'big',
  'photo',
  'note',
  'rowid',
  'a',
  'b c',
  'x.y',
  'b',
  'v',
  'key',
  'Col"umn',
  'from',
  'where',
  'ID',
  'NAME',
]
const queryKey = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...READ_KEYS) },
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.oneof(fc.constantFrom(...COLUMNS), hostileName), fc.constantFrom(...FILTER_OPS))
      .map(([column, op]) => (op ? `${column}__${op}` : column)),
  },
  { weight: 1, arbitrary: hostileName },
)
const queryValue = fc.oneof(
  fc.constantFrom(
    'objects',
    'arrays',
    'array',
    'object',
    'on',
    '1',
    '0',
    'max',
    '1000',
    '1001',
    '-1',
    '',
    'id',
    'name',
    'rowid',
    'big',
    '$null',
    '$x00',
    '$t1',
    '1,2',
    'k,1',
    '~',
    '%',
    '[1, "a", null]',
    '["a"',
    '[[1]]',
    '[9223372036854775808]',
    '[{"a": 1}]',
  ),
  numberText,
  hostileName,
  deepText,
)
const readQuery = queryPairs(queryKey, queryValue)

/** A GET of any read route, with a generated query string. */
const readProbe: fc.Arbitrary<Probe> = fc.oneof(
  fc.tuple(databaseSegment, tableSegment, readQuery).map(([database, table, query]) => ({ method: 'GET', target: `/${database}/${table}.json?${query}` })),
  fc
    .tuple(databaseSegment, tableSegment, keySegment, readQuery)
    .map(([database, table, key, query]) => ({ method: 'GET', target: `/${database}/${table}/${key}.json?${query}` })),
  fc.tuple(databaseSegment, readQuery).map(([database, query]) => ({ method: 'GET', target: `/${database}.json?${query}` })),
  fc
    .tuple(
      fc.constantFrom('/-/databases.json', '/-/versions.json', '/-/actor.json', '/-/settings.json', '/', '/-/', '/-/insert', '/data', '/data/dogs'),
      readQuery,
    )
    .map(([path, query]) => ({ method: 'GET', target: `${path}?${query}` })),
)

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS', 'PROPFIND', 'get', 'post', 'X-CUSTOM']
/** Random bytes: arbitrary, or a JSON prefix with broken UTF-8 inside a string. */
const bytesBody = fc.oneof(
  fc.uint8Array({ maxLength: 300 }),
  fc.uint8Array({ minLength: 1, maxLength: 12 }).map((bytes) => new Uint8Array([...utf8.encode('{"id": 1, "name": "'), ...bytes, ...utf8.encode('"}')])),
  fc
    .constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80], [0xef, 0xbb, 0xbf, 0x7b, 0x7d], [0x00])
    .map((bytes) => new Uint8Array(bytes)),
)
const anyPath = fc.oneof(
  writeProbe.map((probe) => probe.target),
  readProbe.map((probe) => probe.target),
)

const STREAM_TYPES = {
  ndjson: ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/x-jsonlines; charset=utf-8', 'APPLICATION/X-NDJSON'],
  csv: ['text/csv', 'text/csv; charset=utf-8', 'Text/CSV;header=present'],
  tsv: ['text/tab-separated-values', 'TEXT/tab-separated-values; charset=utf-8'],
}
const eol = fc.constantFrom('\n', '\r\n', '\r', '\n\n')
const ndjsonText = fc
  .tuple(
    fc.array(
      fc.oneof(
        { weight: 6, arbitrary: rowText },
        { weight: 2, arbitrary: anyJsonText },
        { weight: 2, arbitrary: junkText },
        { weight: 1, arbitrary: fc.constantFrom('', ' ', '{"pad": "' + 'x'.repeat(5000) + '"}', '\ufeff{"a": 1}') },
      ),
      { maxLength: 8 },
    ),
    eol,
    fc.boolean(),
  )
  .map(([lines, end, trailing]) => lines.join(end) + (trailing ? end : ''))
const csvField = fc.oneof(
  fc.string({ unit: nastyChar, maxLength: 10 }),
  numberText,
  fc.constantFrom(
    '',
    '"',
    '""',
    '"a,b"',
    '"a\tb"',
    '"a\nb"',
    '"a""b"',
    '"unterminated',
    'a"b',
    ' 1 ',
    '1.0',
    '-0',
    '0x10',
    '1e5',
    'NaN',
    'true',
    'null',
    '9223372036854775808',
  ),
)
const delimitedText = (delimiter: string) =>
  fc
    .tuple(fc.array(fc.oneof(keyArb, csvField), { maxLength: 6 }), fc.array(fc.array(csvField, { maxLength: 7 }), { maxLength: 6 }), eol, fc.boolean())
    .map(([header, rows, end, trailing]) => [header, ...rows].map((fields) => fields.join(delimiter)).join(end) + (trailing ? end : ''))
/** A streamed upload: its Content-Type and its text, in its own format or not. */
const streamUpload = fc.oneof(
  fc.tuple(fc.constantFrom(...STREAM_TYPES.ndjson), fc.oneof({ weight: 4, arbitrary: ndjsonText }, { weight: 1, arbitrary: delimitedText(',') })),
  fc.tuple(fc.constantFrom(...STREAM_TYPES.csv), fc.oneof({ weight: 4, arbitrary: delimitedText(',') }, { weight: 1, arbitrary: ndjsonText })),
  fc.tuple(fc.constantFrom(...STREAM_TYPES.tsv), fc.oneof({ weight: 4, arbitrary: delimitedText('\t') }, { weight: 1, arbitrary: delimitedText(',') })),
)
const streamTarget = fc.oneof(
  fc
    .tuple(fc.constantFrom('insert', 'upsert'), legacyTableSegment, fc.array(keyArb, { maxLength: 2 }), fc.constantFrom('', '&alter=1'))
    .map(([verb, table, pks, alter]) => `/-/${verb}/data/${table}?${pks.map((pk) => `pk=${percentEncode(pk)}`).join('&')}${alter}`),
  fc
    .tuple(fc.constantFrom('insert', 'upsert'), tableSegment, fc.subarray(['ignore=1', 'replace=1', 'alter=1', 'return=1', 'bogus=1']))
    .map(([verb, table, flags]) => `/data/${table}/-/${verb}?${flags.join('&')}`),
)

/** Whether a response is the answer to a drop without `"confirm": true`, which writes nothing. */
function isDryRun(text: string): boolean {
  try {
    return (JSON.parse(text) as { message?: unknown }).message === 'Pass "confirm": true to confirm'
  } catch {
    return false
  }
}

/** `data` as a request body stream of `size`-byte chunks (cutting through multi-byte characters). */
function chunks(data: Uint8Array, size: number): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      for (let at = 0; at < data.length; at += size) controller.enqueue(data.slice(at, at + size))
      controller.close()
    },
  })
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers of the explicit extremes
// ---------------------------------------------------------------------------------------------------------------

/** Sends and returns the parsed body (after the same judging as the properties). */
async function call(t: BackendApp, method: string, target: string, body?: BodyInit, headers?: Record<string, string>) {
  const { status, text } = await send(t, { method, target, body, headers })
  return { status, body: text === '' ? undefined : (JSON.parse(text) as any) }
}

/** Asserts `work` leaves every table, column and value stored as it was. */
async function expectUnchanged<T>(t: BackendApp, work: () => Promise<T>): Promise<T> {
  const before = await fingerprint(t)
  const result = await work()
  expect(await fingerprint(t)).toBe(before)
  return result
}

const legacyError = (status: number, error_code: string, error: string | RegExp) => ({
  status,
  body: { status, error_code, error: typeof error === 'string' ? error : expect.stringMatching(error) },
})
const apiError = (status: number, error: string | RegExp) => ({
  status,
  body: { ok: false, status, error: typeof error === 'string' ? error : expect.stringMatching(error), errors: expect.any(Array) },
})

/** Every route that reads a JSON body, with the envelope its errors use; the seeded `dogs` row 1 exists for update. */
const BODY_ROUTES: Array<{ name: string; target: string; legacy: boolean; wrap: (row: string) => string }> = [
  { name: 'legacy insert', target: '/-/insert/data/dogs?pk=id', legacy: true, wrap: (row) => row },
  { name: 'legacy upsert', target: '/-/upsert/data/dogs?pk=id', legacy: true, wrap: (row) => row },
  { name: '1.0 insert', target: '/data/dogs/-/insert', legacy: false, wrap: (row) => `{"row": ${row}, "alter": true}` },
  { name: '1.0 upsert', target: '/data/dogs/-/upsert', legacy: false, wrap: (row) => `{"rows": [${row}], "alter": true}` },
  { name: '1.0 create', target: '/data/-/create', legacy: false, wrap: (row) => `{"table": "fresh", "row": ${row}}` },
  // The key is in the URL: the update leaves it alone, so row 1 stays addressable.
  { name: '1.0 update', target: '/data/dogs/1/-/update', legacy: false, wrap: (row) => `{"update": ${row.replace(/^\{"id": -?\d+, /, '{')}, "alter": true}` },
]
const errorFor = (legacy: boolean, status: number, code: string, error: string | RegExp) =>
  legacy ? legacyError(status, code, error) : apiError(status, error)

// Some tests make a database after another (sixteen at most): on PostgreSQL, on a busy machine, that can pass bunfig's 30 s.
setDefaultTimeout(60_000)

// ---------------------------------------------------------------------------------------------------------------
// Properties, then explicit extremes, each on both backends
// ---------------------------------------------------------------------------------------------------------------

eachBackend((backend) => {
  async function seededApp(settings?: Partial<Settings>) {
    const t = await backend.makeApp({ unsafe: true, settings })
    await seed(t)
    return t
  }

  describe('generated hostile input never crashes the server', () => {
    test('generated JSON documents at every write route: no 5xx, JSON errors, and a refused write changes nothing', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      await check(backend.name, 'JSON documents at every write route', writeProbe, 500, async (probe) => {
        const before = await fingerprint(t)
        const { status } = await send(t, probe)
        if (status >= 400) expect(await fingerprint(t)).toBe(before)
      })
      await expectHealthy(t)
    }, 120_000)

    test('random bytes and strings as bodies, with any method, at every route', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      const probe = fc.record({
        method: fc.constantFrom(...METHODS),
        target: anyPath,
        body: fc.oneof(bytesBody, fc.string({ unit: nastyChar, maxLength: 200 }), junkText),
        stream: fc.boolean(),
      })
      await check(backend.name, 'random bytes and strings as bodies', probe, 500, async ({ method, target, body, stream }) => {
        await send(t, { method, target, body: stream ? chunks(typeof body === 'string' ? utf8.encode(body) : body, 7) : body })
      })
      await expectHealthy(t)
    }, 120_000)

    test('random table and column names: refused cleanly, or written and read back under the same name', async () => {
      const t = await backend.makeApp({ unsafe: true })
      let fresh = 0
      const input = fc.record({
        table: hostileName,
        columns: fc.uniqueArray(fc.oneof(hostileName, fc.constantFrom('id', 'ID', 'rowid', '__proto__')), { minLength: 1, maxLength: 6 }),
        route: fc.constantFrom('legacy', 'create'),
      })
      await check(backend.name, 'random table and column names', input, 400, async ({ table, columns, route }) => {
        // A fresh table each run, so that a success can be checked against exactly one row.
        const name = `${table}·${++fresh}`
        const row = objectText(columns.map((column, i) => [column, String(i)] as const))
        const written =
          route === 'legacy'
            ? await send(t, { method: 'POST', target: `/-/insert/data/${percentEncode(name)}`, body: row })
            : await send(t, { method: 'POST', target: '/data/-/create', body: `{"table": ${JSON.stringify(name)}, "row": ${row}}` })
        if (written.status >= 400) return
        const read = await send(t, { method: 'GET', target: `/data/${tildeEncode(name)}.json?_shape=array` })
        expect(read.status).toBe(200)
        const rows = JSON.parse(read.text) as Array<Record<string, unknown>>
        expect(rows).toHaveLength(1)
        const { rowid: _rowid, ...cells } = rows[0]!
        const expected = Object.fromEntries(columns.map((column, i) => [column.toWellFormed(), i]))
        if (!columns.some((column) => column.toLowerCase() === 'rowid')) expect(cells).toEqual(expected)
      })
      await expectHealthy(t)
    }, 120_000)

    test('random query strings at the read routes and the legacy write routes', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      const probe = fc.oneof(
        { weight: 3, arbitrary: readProbe },
        {
          weight: 1,
          arbitrary: fc
            .tuple(fc.constantFrom('insert', 'upsert'), legacyTableSegment, fc.oneof(legacyQuery, readQuery, fc.string({ unit: nastyChar, maxLength: 40 })))
            .map(([verb, table, query]): Probe => ({ method: 'POST', target: `/-/${verb}/data/${table}?${query}`, body: '{"id": 7, "name": "Rex"}' })),
        },
      )
      await check(backend.name, 'random query strings', probe, 600, async (probe) => {
        const { status, text } = await send(t, probe)
        // A page that offers a next page must serve it.
        if (status === 200 && probe.method === 'GET' && text.startsWith('{')) {
          const next = (JSON.parse(text) as { next_url?: unknown }).next_url
          if (typeof next === 'string') expect((await send(t, { method: 'GET', target: next.replace(/^http:\/\/localhost/, '') })).status).toBe(200)
        }
      })
      await expectHealthy(t)
    }, 120_000)

    test('random SQL at /-/query.json and /-/execute-write, random operations at /-/alter', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      const sqlWord = fc.oneof(
        fc.constantFrom(
          'select',
          'insert',
          'into',
          'update',
          'delete',
          'from',
          'where',
          'values',
          'set',
          'with',
          'recursive',
          'as',
          'create',
          'table',
          'drop',
          'alter',
          'add',
          'column',
          'rename',
          'to',
          'pragma',
          'attach',
          'detach',
          'vacuum',
          'explain',
          'query',
          'plan',
          'returning',
          'union',
          'all',
          'join',
          'on',
          'order',
          'by',
          'limit',
          'begin',
          'commit',
          'rollback',
          'savepoint',
          'trigger',
          'view',
          'index',
          'dogs',
          'plain',
          'pair',
          '"odd ""name"" 🐕"',
          'select',
          'sqlite_master',
          'sqlite_schema',
          '_rowpost_idempotency',
          'pragma_table_info',
          'json_each',
          'load_extension',
          'randomblob',
          'zeroblob',
          '*',
          ',',
          '(',
          ')',
          ';',
          '=',
          '--',
          '/*',
          '*/',
          "'",
          '"',
          '`',
          '[',
          ']',
          ':p',
          '?',
          '?1',
          '@x',
          '$y',
          '1',
          '-1',
          '1e999',
          "'a''b'",
          "x'00ff'",
          'null',
          'count(*)',
          'id',
          'name',
          'rowid',
        ),
        fc.string({ unit: nastyChar, maxLength: 6 }),
      )
      const sqlText = fc.array(sqlWord, { minLength: 1, maxLength: 14 }).map((words) => words.join(' '))
      const params = fc.array(
        fc.tuple(fc.constantFrom('p', 'x', 'y', '1', '', '_timelimit', '_shape', '_extra'), fc.string({ unit: nastyChar, maxLength: 8 })),
        { maxLength: 3 },
      )
      const alterArg = fc.oneof(
        fc.constantFrom('id', 'name', 'age', 'nope', '', 'rowid', 'text', 'integer', 'float', 'blob', 'dogs', 'pair'),
        hostileName,
        fc.integer().map(String),
      )
      const operation = fc
        .record({
          op: fc.constantFrom(
            'add_column',
            'rename_column',
            'rename_table',
            'alter_column',
            'drop_column',
            'set_primary_key',
            'add_foreign_key',
            'drop_foreign_key',
            'set_foreign_keys',
            'reorder_columns',
            'nope',
          ),
          args: fc.dictionary(
            fc.constantFrom('name', 'to', 'type', 'column', 'columns', 'other_table', 'other_column', 'not_null', 'default', 'foreign_keys', 'pk', 'drop', 'x'),
            fc.oneof(alterArg, fc.array(alterArg, { maxLength: 3 }), fc.boolean(), fc.constant(null)),
          ),
        })
        .map((op) => JSON.stringify(op))
      // Mostly well-formed statements, so that requests get past validation into the query processes and the writer.
      const tableName = fc.oneof(
        { weight: 6, arbitrary: fc.constant('dogs') },
        { weight: 1, arbitrary: fc.constantFrom('plain', 'pair', '"odd ""name"" 🐕"', '"select"', 'nope', 'sqlite_master') },
      )
      const column = fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom('id', 'name', 'age', 'weight', 'note') },
        { weight: 1, arbitrary: fc.constantFrom('*', 'rowid', 'count(*)', 'a', '"b c"', 'v', 'tags', 'photo', 'big', ':p', 'nope') },
      )
      const value = fc.oneof(
        { weight: 3, arbitrary: fc.integer({ min: -5, max: 5 }).map(String) },
        { weight: 1, arbitrary: fc.constantFrom(':p', ':x', 'null', "'x'", '1e999', '-1', "x'00'", '9223372036854775807', '(select 1)') },
      )
      const plausibleSql = fc.oneof(
        fc
          .tuple(fc.array(column, { minLength: 1, maxLength: 3 }), tableName, fc.option(fc.tuple(column, value)), fc.option(fc.integer({ min: -1, max: 2000 })))
          .map(
            ([cols, table, where, limit]) =>
              `select ${cols.join(', ')} from ${table}${where ? ` where ${where[0]} = ${where[1]}` : ''}${limit === null ? '' : ` limit ${limit}`}`,
          ),
        fc
          .tuple(tableName, fc.array(fc.tuple(column, value), { minLength: 1, maxLength: 3 }), fc.boolean())
          .map(
            ([table, pairs, returning]) =>
              `insert into ${table} (${pairs.map(([c]) => c).join(', ')}) values (${pairs.map(([, v]) => v).join(', ')})${returning ? ' returning *' : ''}`,
          ),
        fc
          .tuple(tableName, column, value, fc.option(fc.tuple(column, value)))
          .map(([table, c, v, where]) => `update ${table} set ${c} = ${v}${where ? ` where ${where[0]} = ${where[1]}` : ''}`),
        fc
          .tuple(tableName, fc.option(fc.tuple(column, value)))
          .map(([table, where]) => `delete from ${table}${where ? ` where ${where[0]} = ${where[1]}` : ''}`),
      )
      // No rename_table here: renaming the seeded tables away would leave the SQL probes nothing to find.
      const plausibleOperation = fc
        .oneof(
          fc.record({ op: fc.constant('add_column'), args: fc.record({ name: alterArg, type: fc.constantFrom('text', 'integer', 'float', 'blob', 'nope') }) }),
          fc.record({ op: fc.constant('rename_column'), args: fc.record({ name: alterArg, to: alterArg }) }),
          fc.record({ op: fc.constant('drop_column'), args: fc.record({ name: alterArg }) }),
        )
        .map((op) => JSON.stringify(op))
      const probe: fc.Arbitrary<Probe> = fc.oneof(
        fc.tuple(fc.oneof(sqlText, plausibleSql, plausibleSql), fc.oneof(fc.constant([]), fc.constant([]), params)).map(
          ([sql, extra]): Probe => ({
            method: 'GET',
            target: `/data/-/query.json?sql=${percentEncode(sql)}${extra.map(([k, v]) => `&${percentEncode(k)}=${percentEncode(v)}`).join('')}`,
          }),
        ),
        fc
          .tuple(
            fc.oneof(sqlText, plausibleSql, plausibleSql),
            fc.oneof(
              fc.constant({}),
              fc.constant({ p: 1, x: 'x' }),
              fc.dictionary(fc.constantFrom('p', 'x', 'y', ''), fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null))),
            ),
          )
          .map(([sql, values]): Probe => ({ method: 'POST', target: '/data/-/execute-write', body: JSON.stringify({ sql, params: values }) })),
        fc
          .tuple(
            tableSegment,
            fc.array(fc.oneof(operation, plausibleOperation, plausibleOperation), { maxLength: 3 }),
            fc.oneof(fc.constant(''), fc.constant(''), junkText),
          )
          .map(
            ([table, ops, junk]): Probe => ({
              method: 'POST',
              target: `/data/${table}/-/alter`,
              body: junk === '' ? `{"operations": [${ops.join(', ')}]}` : junk,
            }),
          ),
      )
      // `send` fails the property on any 5xx, a malformed error body or a non-JSON success; on SQLite about 9% of these
      // succeed, on PostgreSQL none: it does not serve these routes (decided difference 4).
      await check(backend.name, 'random SQL and alter operations', probe, 300, async (probe) => {
        const { status } = await send(t, probe)
        if (backend.name === 'postgres') expect(status).toBeGreaterThanOrEqual(400)
      })
      await expectHealthy(t)
    }, 180_000)

    test('random headers and bearer tokens against a token-configured server', async () => {
      const config = interpretMetadata({
        plugins: {
          'datasette-insert': { allow: { bot: 'insert-bot' } },
          'datasette-auth-tokens': {
            tokens: [
              { token: 'abc123', actor: { bot: 'insert-bot' } },
              { token: 'reader', actor: { id: 'reader' } },
            ],
          },
        },
      })
      const t = await backend.makeApp({ config, secret: 'hostile-secret' })
      expect(
        (await send(t, { method: 'POST', target: '/-/insert/data/dogs?pk=id', body: '{"id": 1}', headers: { authorization: 'Bearer abc123' } })).status,
      ).toBe(200)
      const byteString = fc.string({
        unit: fc.oneof(fc.integer({ min: 0x20, max: 0x7e }), fc.integer({ min: 0x80, max: 0xff }), fc.constant(0x09)).map((code) => String.fromCharCode(code)),
        maxLength: 60,
      })
      const authorization = fc.oneof(
        fc.constantFrom(
          'Bearer abc123',
          'bearer abc123',
          'BEARER   abc123  ',
          'Bearer reader',
          'Bearer',
          'Bearer ',
          'Basic YWJjOjEyMw==',
          'abc123',
          'Bearer abc123 abc123',
          'Bearer abc1234',
          'Bearer dstok_',
          'Bearer dstok_x.y',
          'Bearer dstok_eyJhIjoicm9vdCIsInQiOjF9.zTWSgoFsu3FWdk9caKqvmhdyGUs',
          `Bearer ${'a'.repeat(20_000)}`,
          'Bearer \u00ff\u00fe',
        ),
        fc.tuple(fc.constantFrom('Bearer ', 'bearer ', 'Bearer dstok_', 'Token ', ''), byteString).map(([scheme, token]) => scheme + token),
      )
      const headerName = fc.oneof(
        fc.constantFrom(
          'content-type',
          'content-length',
          'idempotency-key',
          'origin',
          'x-forwarded-for',
          'cookie',
          'accept',
          'transfer-encoding',
          'content-encoding',
          'expect',
          'x-http-method-override',
        ),
        fc.stringMatching(/^[a-z][a-z0-9-]{0,15}$/),
      )
      const headerValue = fc.oneof(
        fc.constantFrom(
          'application/json',
          'text/csv',
          'application/x-ndjson',
          'multipart/form-data; boundary=x',
          'application/x-www-form-urlencoded',
          'gzip',
          '100-continue',
          '0',
          '-1',
          '1e9',
          '99999999999999999999',
          'NaN',
          'chunked',
          'DELETE',
        ),
        byteString,
      )
      const probe = fc.record({
        base: fc.oneof({ weight: 2, arbitrary: writeProbe }, { weight: 1, arbitrary: readProbe }),
        authorization: fc.option(authorization, { nil: undefined, freq: 4 }),
        headers: fc.array(fc.tuple(headerName, headerValue), { maxLength: 4 }),
      })
      await check(backend.name, 'random headers and bearer tokens', probe, 400, async ({ base, authorization, headers }) => {
        const all: Record<string, string> = Object.fromEntries(headers.map(([name, value]) => [name, value.trim()]))
        if (authorization !== undefined) all.authorization = authorization
        await send(t, { ...base, headers: all })
      })
      await expectHealthy(t, 'abc123')
    }, 120_000)

    test('concurrent hostile writes sharing a group commit', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      await check(backend.name, 'concurrent hostile writes', fc.array(writeProbe, { minLength: 2, maxLength: 8 }), 200, async (probes) => {
        await Promise.all(probes.map((probe) => send(t, probe)))
      })
      await expectHealthy(t)
    }, 120_000)

    test('streamed NDJSON, CSV and TSV uploads: no 5xx, JSON errors, and a refused upload changes nothing', async () => {
      const t = await backend.makeApp({ unsafe: true, settings: { max_stream_bytes: 4096 } })
      await seed(t)
      const input = fc.record({
        target: streamTarget,
        upload: streamUpload,
        chunk: fc.integer({ min: 1, max: 64 }),
        garbage: fc.option(fc.tuple(fc.nat(), fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82])), { nil: undefined, freq: 5 }),
        idempotencyKey: fc.option(fc.constantFrom('k1', ' ', ''), { nil: undefined, freq: 8 }),
      })
      await check(
        backend.name,
        'streamed NDJSON, CSV and TSV uploads',
        input,
        400,
        async ({ target, upload: [type, text], chunk, garbage, idempotencyKey }) => {
          let data = utf8.encode(text)
          if (garbage) {
            const at = garbage[0] % (data.length + 1)
            data = new Uint8Array([...data.slice(0, at), ...garbage[1], ...data.slice(at)])
          }
          const headers: Record<string, string> = { 'content-type': type }
          if (idempotencyKey !== undefined) headers['idempotency-key'] = idempotencyKey
          const before = await fingerprint(t)
          const { status } = await send(t, { method: 'POST', target, body: chunks(data, chunk), headers })
          if (status >= 400) expect(await fingerprint(t)).toBe(before)
        },
      )
      await expectHealthy(t)
    }, 120_000)

    test('Idempotency-Key: a retry replays the first success and writes nothing; the key with another request is refused', async () => {
      const t = await backend.makeApp({ unsafe: true })
      await seed(t)
      let keys = 0
      const input = fc.record({ first: writeProbe, second: fc.option(writeProbe, { nil: undefined, freq: 2 }) })
      await check(backend.name, 'Idempotency-Key retries', input, 300, async ({ first, second }) => {
        const headers = { 'idempotency-key': `key-${++keys}` }
        const original = await send(t, { ...first, headers })
        const before = await fingerprint(t)
        const retry = second ?? first
        const again = await send(t, { ...retry, headers })
        // A drop without confirmation writes nothing, so there is nothing to replay.
        if (original.status >= 300 || isDryRun(original.text)) return
        // Whatever the retry is, it writes nothing: the same request is replayed, another one is refused (or is a dry run).
        expect(await fingerprint(t)).toBe(before)
        const same = new URL(retry.target, 'http://localhost').href === new URL(first.target, 'http://localhost').href && retry.body === first.body
        if (same) expect(again).toEqual(original)
        else if (!isDryRun(again.text)) expect(again.status).toBeGreaterThanOrEqual(400)
      })
      await expectHealthy(t)
    }, 120_000)
  })

  describe('nesting', () => {
    const deepArray = '['.repeat(10_000) + ']'.repeat(10_000)
    const deepObject = '{"a": '.repeat(10_000) + '1' + '}'.repeat(10_000)

    test.each(BODY_ROUTES)('10 000-deep nesting in a row value is a 400 at $name, and writes nothing', async ({ target, legacy, wrap }) => {
      const t = await seededApp()
      for (const deep of [deepArray, deepObject]) {
        const answer = await expectUnchanged(t, () => call(t, 'POST', target, wrap(`{"id": 1, "doc": ${deep}}`)))
        expect(answer).toEqual(errorFor(legacy, 400, 'invalid_json', /^Invalid JSON: nesting/))
      }
      await expectHealthy(t)
    })

    test('10 000-deep nesting as the whole body is a 400 on every route, and drop reads it as unconfirmed', async () => {
      const t = await seededApp()
      for (const { target, legacy } of BODY_ROUTES) {
        for (const deep of [deepArray, deepObject]) {
          expect(await expectUnchanged(t, () => call(t, 'POST', target, deep))).toEqual(errorFor(legacy, 400, 'invalid_json', /^Invalid JSON: nesting/))
        }
      }
      const dropped = await expectUnchanged(t, () => call(t, 'POST', '/data/plain/-/drop', `{"confirm": ${deepObject}}`))
      expect(dropped).toEqual({ status: 200, body: expect.objectContaining({ ok: true, table: 'plain', message: 'Pass "confirm": true to confirm' }) })
      await expectHealthy(t)
    })

    test('10 000-deep nesting in an `in` filter is a 400', async () => {
      const t = await seededApp()
      expect(await call(t, 'GET', `/data/dogs.json?id__in=${encodeURIComponent(deepArray)}`)).toEqual(apiError(400, /^Invalid JSON array in filter value/))
    })

    test('a 500-deep value is stored as its JSON text and read back exactly', async () => {
      const t = await seededApp()
      const doc = '['.repeat(500) + '1' + ']'.repeat(500)
      expect(await call(t, 'POST', '/-/insert/data/deep', `{"doc": ${doc}}`)).toEqual({ status: 200, body: { table_count: 1 } })
      expect(await t.query('SELECT doc FROM deep')).toEqual([{ doc }])
      expect(await call(t, 'GET', '/data/deep.json?_shape=array')).toEqual({ status: 200, body: [{ rowid: 1, doc }] })
    })
  })

  describe('the body size limit', () => {
    const LIMIT = 4096

    /** `wrap`ped row whose UTF-8 encoding is exactly `bytes` long, padded with 3-byte `€` and then `a`. */
    function bodyOfSize(wrap: (row: string) => string, bytes: number): string {
      const empty = utf8.encode(wrap('{"id": 3, "name": ""}')).length
      const room = bytes - empty
      const text = wrap(`{"id": 3, "name": "${'€'.repeat(Math.floor(room / 3))}${'a'.repeat(room % 3)}"}`)
      expect(utf8.encode(text).length).toBe(bytes)
      return text
    }
    const chunked = (text: string) => chunks(utf8.encode(text), 1000)
    const tooLarge = (legacy: boolean) => errorFor(legacy, 413, 'too_large', `Request body exceeded maximum size of ${LIMIT} bytes`)

    test.each(BODY_ROUTES)(
      '$name: a body of exactly the limit is accepted, one byte more is a 413 (sent whole or streamed)',
      async ({ target, legacy, wrap }) => {
        for (const streamed of [false, true]) {
          const t = await seededApp({ max_post_body_bytes: LIMIT })
          const at = bodyOfSize(wrap, LIMIT)
          const accepted = await call(t, 'POST', target, streamed ? chunked(at) : at)
          expect(accepted.status).toBeGreaterThanOrEqual(200)
          expect(accepted.status).toBeLessThan(300)
          const over = bodyOfSize(wrap, LIMIT + 1)
          expect(await expectUnchanged(t, () => call(t, 'POST', target, streamed ? chunked(over) : over))).toEqual(tooLarge(legacy))
          await expectHealthy(t)
          await t.close()
        }
      },
    )

    test('a Content-Length that understates the body does not get it past the limit', async () => {
      const t = await seededApp({ max_post_body_bytes: LIMIT })
      const over = bodyOfSize((row) => row, LIMIT + 1)
      const answer = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/dogs?pk=id', chunked(over), { 'content-length': '10' }))
      expect(answer).toEqual(tooLarge(true))
    })

    test('drop reads its body under the same limit', async () => {
      const t = await seededApp({ max_post_body_bytes: LIMIT })
      const over = `{"confirm": true, "pad": "${'a'.repeat(LIMIT)}"}`
      expect(await expectUnchanged(t, () => call(t, 'POST', '/data/plain/-/drop', over))).toEqual(tooLarge(false))
    })
  })

  describe('many columns', () => {
    // PostgreSQL allows 1600 columns a table (decided difference 6), rowid included, where SQLite allows 2000; rowpost's own
    // check of SQLite's limits runs first on both, and past PostgreSQL's the refusal is PostgreSQL's own words.
    const limit = backend.name === 'sqlite' ? 2000 : 1600
    const POSTGRES_LIMIT = 'tables can have at most 1600 columns'
    // A PostgreSQL row must fit in one 8 kB page unless its values can move out of line: 1600 bigints cannot, short texts
    // can. So past the integer key c0 the widest PostgreSQL rows hold text.
    const cell = (i: number) => (backend.name === 'sqlite' || i === 0 ? i : `${i}`)
    const wideRow = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`c${i}`, cell(i)]))
    const rowidLimit = (count: number) =>
      backend.name === 'sqlite'
        ? `Table wide would have ${count} columns; a table without a primary key may have at most 1999, since reads return its rowid too`
        : POSTGRES_LIMIT
    const keyedLimit = (table: string, count: number) =>
      backend.name === 'sqlite' ? `Table ${table} would have ${count} columns; SQLite allows at most 2000` : POSTGRES_LIMIT

    test(`a keyed table takes ${limit} columns and reads back; ${limit + 1} are a 400 that creates nothing`, async () => {
      const t = await backend.makeApp({ unsafe: true })
      expect(await call(t, 'POST', '/-/insert/data/wide?pk=c0', JSON.stringify(wideRow(limit)))).toEqual({ status: 200, body: { table_count: 1 } })
      expect(await t.columns('wide')).toHaveLength(limit)
      expect(await call(t, 'GET', '/data/wide.json?_shape=array')).toEqual({ status: 200, body: [wideRow(limit)] })
      expect(await call(t, 'GET', '/data/wide/0.json?_shape=array')).toEqual({ status: 200, body: [wideRow(limit)] })
      const over = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/wider?pk=c0', JSON.stringify(wideRow(limit + 1))))
      expect(over).toEqual(legacyError(400, 'invalid_body', backend.name === 'sqlite' ? 'Row 0 has 2001 columns; SQLite allows at most 2000' : POSTGRES_LIMIT))
      await expectHealthy(t)
    })

    test(`a rowid table takes ${limit - 1} columns, so that its rows read back with their rowid; ${limit} are a 400`, async () => {
      const t = await backend.makeApp({ unsafe: true })
      expect(await call(t, 'POST', '/-/insert/data/wide', JSON.stringify(wideRow(limit - 1)))).toEqual({ status: 200, body: { table_count: 1 } })
      expect(await call(t, 'GET', '/data/wide.json?_shape=array')).toEqual({ status: 200, body: [{ rowid: 1, ...wideRow(limit - 1) }] })
      expect(await call(t, 'GET', '/data/wide/1.json?_shape=array')).toEqual({ status: 200, body: [{ rowid: 1, ...wideRow(limit - 1) }] })
      const over = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/wider', JSON.stringify(wideRow(limit))))
      expect(over).toEqual(legacyError(400, 'invalid_body', rowidLimit(limit).replace('wide ', 'wider ')))
      await expectHealthy(t)
    })

    test('the 1.0 API inserts into the widest tables and returns the row', async () => {
      const t = await backend.makeApp({ unsafe: true })
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'wide', row: wideRow(limit - 1) }))).status).toBe(201)
      expect(await call(t, 'POST', '/data/wide/-/insert', JSON.stringify({ row: wideRow(limit - 1) }))).toEqual({
        status: 201,
        body: { ok: true, rows: [{ rowid: 2, ...wideRow(limit - 1) }] },
      })
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'keyed', row: wideRow(limit), pk: 'c0' }))).status).toBe(201)
      const row = { ...wideRow(limit), c0: -1 }
      expect(await call(t, 'POST', '/data/keyed/-/insert', JSON.stringify({ row }))).toEqual({ status: 201, body: { ok: true, rows: [row] } })
      expect(await call(t, 'POST', '/data/keyed/-1/-/update', JSON.stringify({ update: { c1: 'x' }, return: true }))).toEqual({
        status: 200,
        body: { ok: true, row: { ...row, c1: 'x' }, rows: [{ ...row, c1: 'x' }] },
      })
    })

    test('alter may grow a table to its limit and no further', async () => {
      const t = await backend.makeApp({ unsafe: true })
      expect((await call(t, 'POST', '/-/insert/data/wide', JSON.stringify(wideRow(limit - 2)))).status).toBe(200)
      const over = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/wide?alter=1', JSON.stringify({ x: 1, y: 2 })))
      expect(over).toEqual(legacyError(400, 'invalid_body', rowidLimit(limit)))
      expect(await call(t, 'POST', '/-/insert/data/wide?alter=1', JSON.stringify({ x: 1 }))).toEqual({ status: 200, body: { table_count: 2 } })
      expect(await t.columns('wide')).toHaveLength(limit - 1)

      expect((await call(t, 'POST', '/-/insert/data/keyed?pk=c0', JSON.stringify(wideRow(limit - 1)))).status).toBe(200)
      const overKeyed = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/keyed?alter=1', JSON.stringify({ c0: 1, x: 1, y: 2 })))
      expect(overKeyed).toEqual(legacyError(400, 'invalid_body', keyedLimit('keyed', limit + 1)))
      expect(await call(t, 'POST', '/-/insert/data/keyed?alter=1', JSON.stringify({ c0: 1, x: 1 }))).toEqual({ status: 200, body: { table_count: 2 } })
      expect(await t.columns('keyed')).toHaveLength(limit)
    })

    test('/-/create takes as many column definitions as the table can read back, and refuses one more', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const columns = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `c${i}`, type: 'integer' }))
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'keyed', columns: columns(limit), pk: 'c0' }))).status).toBe(201)
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'wide', columns: columns(limit - 1) }))).status).toBe(201)
      const overKeyed = await expectUnchanged(t, () =>
        call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'wider', columns: columns(limit + 1), pk: 'c0' })),
      )
      expect(overKeyed).toEqual(apiError(400, keyedLimit('wider', limit + 1)))
      const over = await expectUnchanged(t, () => call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'wider', columns: columns(limit) })))
      expect(over).toEqual(apiError(400, rowidLimit(limit).replace('wide ', 'wider ')))
    })
  })

  describe('large values and batches', () => {
    test('1 MB string values are stored and read back byte for byte', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const values = {
        ascii: 'x'.repeat(1 << 20),
        multibyte: '€😀é'.repeat(1 << 17),
        escapes: '"\\\n\t\u0000\u001f</script>'.repeat(1 << 16),
      }
      if (backend.name === 'postgres') {
        // PostgreSQL's text cannot hold a NUL character (decided difference 2): the row is refused whole, and the same
        // megabytes without it are stored exactly.
        const refused = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/big?pk=id', JSON.stringify({ id: 1, ...values })))
        expect(refused).toEqual(legacyError(400, 'invalid_value', 'Row 0: Value refused by PostgreSQL: invalid byte sequence for encoding "UTF8": 0x00'))
        expect(await t.tables()).toEqual([])
        values.escapes = values.escapes.replaceAll('\u0000', '')
      }
      expect(await call(t, 'POST', '/-/insert/data/big?pk=id', JSON.stringify({ id: 1, ...values }))).toEqual({ status: 200, body: { table_count: 1 } })
      expect(await t.query('SELECT ascii, multibyte, escapes FROM big')).toEqual([values])
      expect(await call(t, 'GET', '/data/big/1.json?_shape=array')).toEqual({ status: 200, body: [{ id: 1, ...values }] })
    })

    test('100 000-character table and column names work end to end', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const table = `t${'é'.repeat(100_000)}`
      const column = `c${'"'.repeat(100_000)}`
      if (backend.name === 'postgres') {
        // PostgreSQL keeps names of at most 63 bytes (NAMEDATALEN - 1) and would cut a longer one short: refused whole.
        const tooLong = (kind: string, name: string) =>
          legacyError(
            400,
            'invalid_name',
            `${kind} name ${JSON.stringify(name)} is ${Buffer.byteLength(name)} bytes long; this database keeps names of at most 63 bytes`,
          )
        expect(await expectUnchanged(t, () => call(t, 'POST', `/-/insert/data/${percentEncode(table)}`, JSON.stringify({ [column]: 'v' })))).toEqual(
          tooLong('Table', table),
        )
        expect(await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/short', JSON.stringify({ [column]: 'v' })))).toEqual(tooLong('Column', column))
        expect(await t.tables()).toEqual([])
        // The longest names it keeps work end to end, multi-byte characters and quotes included.
        const longest = { table: `t${'é'.repeat(31)}`, column: `c${'"'.repeat(62)}` }
        expect(await call(t, 'POST', `/-/insert/data/${percentEncode(longest.table)}`, JSON.stringify({ [longest.column]: 'v' }))).toEqual({
          status: 200,
          body: { table_count: 1 },
        })
        expect(await call(t, 'GET', `/data/${tildeEncode(longest.table)}.json?_shape=array`)).toEqual({
          status: 200,
          body: [{ rowid: 1, [longest.column]: 'v' }],
        })
        expect(await t.tables()).toEqual([longest.table])
        return
      }
      expect(await call(t, 'POST', `/-/insert/data/${percentEncode(table)}`, JSON.stringify({ [column]: 'v' }))).toEqual({
        status: 200,
        body: { table_count: 1 },
      })
      expect(await call(t, 'GET', `/data/${tildeEncode(table)}.json?_shape=array`)).toEqual({ status: 200, body: [{ rowid: 1, [column]: 'v' }] })
    })

    test('a 100 000-row batch lands whole through the legacy API', async () => {
      const t = await backend.makeApp({ unsafe: true, settings: { max_post_body_bytes: 64 * 1024 * 1024 } })
      const rows = Array.from({ length: 100_000 }, (_, i) => ({ id: i, name: `row ${i}`, score: i / 4 }))
      expect(await call(t, 'POST', '/-/insert/data/many?pk=id', JSON.stringify(rows))).toEqual({ status: 200, body: { table_count: 100_000 } })
      expect(await t.query('SELECT count(*) AS n, min(id) AS lo, max(id) AS hi, sum(score) AS total FROM many')).toEqual([
        { n: 100_000, lo: 0, hi: 99_999, total: (99_999 * 100_000) / 2 / 4 },
      ])
      expect(await t.query('SELECT * FROM many WHERE id IN (0, 99999) ORDER BY id')).toEqual([rows[0]!, rows[99_999]!])
    }, 60_000)

    test('a 100 001-row batch on the 1.0 API is refused whole by max_insert_rows', async () => {
      const t = await seededApp()
      const rows = Array.from({ length: 100_001 }, (_, i) => ({ id: i + 10 }))
      const answer = await expectUnchanged(t, () => call(t, 'POST', '/data/dogs/-/insert', JSON.stringify({ rows })))
      expect(answer).toEqual(apiError(400, 'Too many rows, maximum allowed is 100'))
    })
  })

  describe('integers at the edges of 2^53 and 2^63', () => {
    const EXACT = [
      '9007199254740991',
      '9007199254740992',
      '9007199254740993',
      '-9007199254740993',
      '9223372036854775806',
      '9223372036854775807',
      '-9223372036854775808',
    ]
    const BEYOND = ['9223372036854775808', '-9223372036854775809', '18446744073709551616', '123456789012345678901234567890']

    test('integers up to 64 bits round-trip exactly through the file, the table JSON and the row JSON', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const body = `[${EXACT.map((n, i) => `{"id": ${i}, "n": ${n}}`).join(', ')}]`
      expect(await call(t, 'POST', '/-/insert/data/ints?pk=id', body)).toEqual({ status: 200, body: { table_count: EXACT.length } })
      expect(await t.columns('ints')).toEqual([
        ['id', 'INTEGER'],
        ['n', 'INTEGER'],
      ])
      expect((await t.query('SELECT n FROM ints ORDER BY id')).map(({ n }) => String(n))).toEqual(EXACT)
      const page = await send(t, { method: 'GET', target: '/data/ints.json?_shape=array' })
      expect(page.text).toBe(`[${EXACT.map((n, i) => `{"id":${i},"n":${n}}`).join(',')}]`)
      const row = await send(t, { method: 'GET', target: '/data/ints/5.json?_shape=array' })
      expect(row.text).toBe('[{"id":5,"n":9223372036854775807}]')
      const filtered = await send(t, { method: 'GET', target: '/data/ints.json?_shape=array&n__gt=9223372036854775806' })
      expect(filtered.text).toBe('[{"id":5,"n":9223372036854775807}]')
    })

    test('a 2^63 - 1 primary key is addressable in row URLs, updates and deletes', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const max = '9223372036854775807'
      expect((await call(t, 'POST', '/-/insert/data/keys?pk=id', `{"id": ${max}, "name": "max"}`)).status).toBe(200)
      expect((await send(t, { method: 'GET', target: `/data/keys/${max}.json?_shape=array` })).text).toBe(`[{"id":${max},"name":"max"}]`)
      const updated = await send(t, { method: 'POST', target: `/data/keys/${max}/-/update`, body: '{"update": {"name": "still max"}, "return": true}' })
      expect(updated.text).toBe(`{"ok":true,"row":{"id":${max},"name":"still max"},"rows":[{"id":${max},"name":"still max"}]}`)
      expect((await send(t, { method: 'POST', target: '/data/keys/-/insert', body: `{"row": {"id": -9223372036854775808}}` })).text).toBe(
        '{"ok":true,"rows":[{"id":-9223372036854775808,"name":null}]}',
      )
      expect(await call(t, 'POST', `/data/keys/${max}/-/delete`)).toEqual({ status: 200, body: { ok: true } })
      expect(await t.query('SELECT count(*) AS n FROM keys')).toEqual([{ n: 1 }])
    })

    test.each(BEYOND)('%s does not fit in 64 bits: a 400 on every route, nothing written', async (n) => {
      const t = await seededApp()
      for (const { target, legacy, wrap } of BODY_ROUTES) {
        const answer = await expectUnchanged(t, () => call(t, 'POST', target, wrap(`{"id": 3, "age": ${n}}`)))
        expect(answer).toEqual(errorFor(legacy, 400, 'invalid_value', /does not fit in SQLite's 64-bit INTEGER/))
      }
      await expectHealthy(t)
    })

    test('a number beyond double range (1e400) is a 400, not Infinity', async () => {
      const t = await seededApp()
      for (const { target, legacy, wrap } of BODY_ROUTES) {
        for (const n of ['1e400', '-1e400']) {
          const answer = await expectUnchanged(t, () => call(t, 'POST', target, wrap(`{"id": 3, "weight": ${n}}`)))
          expect(answer).toEqual(errorFor(legacy, 400, 'invalid_value', /out of range/))
        }
      }
    })

    test('a rowid beyond 64 bits in a row URL is not found, not a crash', async () => {
      const t = await seededApp()
      for (const key of ['9223372036854775808', '-9223372036854775809', '99999999999999999999999']) {
        for (const [method, target, body] of [
          ['GET', `/data/plain/${key}.json`, undefined],
          ['POST', `/data/plain/${key}/-/update`, '{"update": {"a": "z"}}'],
          ['POST', `/data/plain/${key}/-/delete`, undefined],
          ['GET', `/data/dogs/${key}.json`, undefined],
          ['POST', `/data/dogs/${key}/-/update`, '{"update": {"name": "z"}}'],
          ['POST', `/data/dogs/${key}/-/delete`, undefined],
        ] as const) {
          const answer = await expectUnchanged(t, () => call(t, method, target, body))
          expect([400, 404]).toContain(answer.status)
        }
      }
    })
  })

  describe('text that is not valid Unicode', () => {
    test('a lone surrogate in a value is refused, not silently replaced', async () => {
      const t = await seededApp()
      for (const { target, legacy, wrap } of BODY_ROUTES) {
        for (const text of ['\\ud800', 'a\\udfffb', '\\udc00\\ud800']) {
          const answer = await expectUnchanged(t, () => call(t, 'POST', target, wrap(`{"id": 3, "name": "${text}"}`)))
          expect(answer).toEqual(errorFor(legacy, 400, 'invalid_value', /lone surrogate/))
        }
      }
      // A proper pair is an ordinary character.
      expect(await call(t, 'POST', '/-/insert/data/dogs?pk=id', '{"id": 3, "name": "\\ud83d\\ude00"}')).toEqual({ status: 200, body: { table_count: 3 } })
      expect(await t.query('SELECT name FROM dogs WHERE id = 3')).toEqual([{ name: '😀' }])
    })

    test('lone surrogates in column names are refused, even two that SQLite would store as the same name', async () => {
      const t = await seededApp()
      const rows = ['{"\\ud800": 1}', '{"\\ud800": 1, "\\udc00": 2}', '{"\\ufffd": 1, "\\ud800": 2}', '{"x\\udbff": 1}']
      for (const row of rows) {
        for (const target of [
          '/-/insert/data/fresh',
          '/-/insert/data/dogs?pk=id&alter=1',
          '/-/insert/data/plain?alter=1',
          '/-/upsert/data/dogs?pk=id&alter=1',
        ]) {
          const answer = await expectUnchanged(t, () => call(t, 'POST', target, row.replace('{', '{"id": 1, ')))
          expect(answer).toEqual(legacyError(400, 'invalid_name', /lone surrogate/))
        }
        for (const [target, body] of [
          ['/data/-/create', `{"table": "fresh", "row": ${row}}`],
          ['/data/-/create', `{"table": "fresh", "columns": [{"name": "\\ud800"}]}`],
          ['/data/-/create', `{"table": "fresh", "columns": [{"name": "\\ud800"}, {"name": "\\udc00"}]}`],
          ['/data/-/create', `{"table": "fresh", "columns": [{"name": "a", "default": "\\ud800"}]}`],
          ['/data/dogs/-/insert', `{"row": ${row}, "alter": true}`],
          ['/data/dogs/1/-/update', `{"update": ${row}, "alter": true}`],
        ]) {
          const answer = await expectUnchanged(t, () => call(t, 'POST', target!, body!))
          expect(answer.status).toBe(400)
        }
      }
      await expectHealthy(t)
    })

    test('a lone surrogate in a table name is refused', async () => {
      const t = await seededApp()
      const answer = await expectUnchanged(t, () => call(t, 'POST', '/data/-/create', '{"table": "t\\ud800", "row": {"a": 1}}'))
      expect(answer.status).toBe(400)
      // A URL cannot carry one: its UTF-8 (CESU) bytes are not valid UTF-8.
      expect((await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/t%ED%A0%80', '{"a": 1}'))).status).toBe(400)
    })

    const BAD_UTF8: Array<[string, number[]]> = [
      ['a stray 0xFF', [0xff]],
      ['an overlong "/"', [0xc0, 0xaf]],
      ['a UTF-8-encoded surrogate', [0xed, 0xa0, 0x80]],
      ['a truncated sequence', [0xe2, 0x82]],
      ['a code point past U+10FFFF', [0xf4, 0x90, 0x80, 0x80]],
    ]
    test.each(BAD_UTF8)('%s inside the body is a 400 on every route that reads one, nothing written', async (_name, bytes) => {
      const t = await seededApp()
      const routes = [...BODY_ROUTES, { name: 'drop', target: '/data/plain/-/drop', legacy: false, wrap: (row: string) => `{"confirm": true, "x": ${row}}` }]
      for (const { target, legacy, wrap } of routes) {
        const [before, after] = wrap('{"id": 3, "name": "\u0001"}').split('\u0001') as [string, string]
        const body = new Uint8Array([...utf8.encode(before), ...bytes, ...utf8.encode(after)])
        const answer = await expectUnchanged(t, () => call(t, 'POST', target, body))
        expect(answer).toEqual(errorFor(legacy, 400, 'invalid_json', 'Invalid JSON: the body is not valid UTF-8'))
      }
      await expectHealthy(t)
    })

    test('invalid UTF-8 in a URL is a 4xx on every route', async () => {
      const t = await seededApp()
      const bad = '%FF%FE'
      const probes: Array<[string, string, string?]> = [
        ['POST', `/-/insert/data/${bad}`, '{"a": 1}'],
        ['POST', `/-/insert/${bad}/dogs`, '{"a": 1}'],
        ['POST', `/-/insert/data/dogs?pk=${bad}`, '{"id": 5}'],
        ['POST', `/-/upsert/data/dogs?pk=id&alter=${bad}`, '{"id": 5}'],
        ['POST', `/data/${bad}/-/insert`, '{"row": {}}'],
        ['POST', `/data/dogs/${bad}/-/update`, '{"update": {}}'],
        ['POST', `/data/dogs/${bad}/-/delete`],
        ['POST', `/${bad}/-/create`, '{"table": "x", "row": {"a": 1}}'],
        ['GET', `/data/${bad}.json`],
        ['GET', `/data/dogs/${bad}.json`],
        ['GET', `/${bad}.json`],
        ['GET', `/data/dogs.json?name=${bad}`],
        ['GET', `/data/dogs.json?${bad}=1`],
        ['GET', `/data/dogs.json?_next=${bad}`],
      ]
      for (const [method, target, body] of probes) {
        // `send` fails on any 5xx or malformed error; some of these are legitimate writes (`pk` only shapes a new table).
        const { status } = await call(t, method, target, body)
        expect(status).toBeLessThan(500)
      }
      await expectHealthy(t)
    })
  })

  describe('regressions found by the properties', () => {
    test('a table name with a byte-order mark is addressed by its own name, not the name without it', async () => {
      const t = await backend.makeApp({ unsafe: true })
      for (const name of ['\ufeffx', 'x\ufeff', 'a\ufeffb']) {
        expect(await call(t, 'POST', '/data/-/create', JSON.stringify({ table: name, row: { v: name } }))).toEqual({
          status: 201,
          body: expect.objectContaining({ table: name }),
        })
      }
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'ab', row: { v: 'ab' } }))).status).toBe(201)
      for (const name of ['\ufeffx', 'x\ufeff', 'a\ufeffb', 'ab']) {
        expect(await call(t, 'GET', `/data/${tildeEncode(name)}.json?_shape=array`)).toEqual({ status: 200, body: [{ rowid: 1, v: name }] })
      }
    })

    test('NUL characters in /-/create column names and defaults are a 400', async () => {
      const t = await backend.makeApp({ unsafe: true })
      for (const columns of [
        '[{"name": "a\\u0000b"}]',
        '[{"name": "a", "default": "x\\u0000y"}]',
        '[{"name": "a", "fk_table": "x\\u0000y", "fk_column": "q"}]',
      ]) {
        const answer = await expectUnchanged(t, () => call(t, 'POST', '/data/-/create', `{"table": "t", "columns": ${columns}}`))
        expect(answer.status).toBe(400)
      }
      await expectHealthy(t)
    })

    test('a LIKE-family filter value longer than SQLite allows in a pattern is not a server error', async () => {
      const t = await seededApp()
      const long = 'x'.repeat(60_000)
      for (const op of ['contains', 'notcontains', 'startswith', 'endswith', 'like', 'notlike', 'glob']) {
        const answer = await call(t, 'GET', `/data/dogs.json?name__${op}=${long}`)
        expect([200, 400]).toContain(answer.status)
      }
    })

    test('a batch with more distinct row shapes than the statement cache holds is written whole', async () => {
      // Found by the concurrency property (seed 12): a statement prepared early in a batch was finalized by the cache
      // before the batch ran it, and the request failed with "Statement has finalized".
      const t = await backend.makeApp({ unsafe: true })
      const rows = Array.from({ length: 600 }, (_, i) => ({ [`c${i}`]: i }))
      expect(await call(t, 'POST', '/-/insert/data/shapes', JSON.stringify(rows))).toEqual({ status: 200, body: { table_count: 600 } })
      expect(await call(t, 'POST', '/-/upsert/data/keyed?pk=id', JSON.stringify(rows.map((row, id) => ({ id, ...row }))))).toEqual({
        status: 200,
        body: { table_count: 600 },
      })
      expect((await call(t, 'POST', '/data/-/create', JSON.stringify({ table: 'created', rows }))).status).toBe(201)
      expect(await t.query('SELECT (SELECT count(*) FROM shapes) AS a, (SELECT count(*) FROM keyed) AS b, (SELECT count(*) FROM created) AS c')).toEqual([
        { a: 600, b: 600, c: 600 },
      ])
      await expectHealthy(t)
    })

    test.each(['rowid', 'ROWID', 'oid', '_rowid_'])('a column named %s either is refused or leaves every row addressable by one key', async (name) => {
      // Found by the concurrency property (seed 32): a rowid table with a real column called `rowid` made the 1.0
      // upsert a 500 (ON CONFLICT named the column, which has no unique index), and a delete by key removed every row
      // whose column held that value.
      const t = await backend.makeApp({ unsafe: true })
      const created = await call(
        t,
        'POST',
        '/-/insert/data/shadow',
        JSON.stringify([
          { [name]: 1, a: 'one' },
          { [name]: 1, a: 'two' },
        ]),
      )
      if (created.status === 400) {
        expect(created.body.error_code).toBe('invalid_name')
        expect(await t.tables()).not.toContain('shadow')
        return
      }
      expect(created).toEqual({ status: 200, body: { table_count: 2 } })
      const upserted = await call(t, 'POST', '/data/shadow/-/upsert', JSON.stringify({ rows: [{ [name]: 1, a: 'three' }] }))
      expect(upserted.status).toBeLessThan(500)
      const before = (await t.query('SELECT count(*) AS n FROM shadow'))[0]!.n as number
      expect((await call(t, 'POST', '/data/shadow/1/-/delete')).status).toBeLessThan(500)
      expect(before - ((await t.query('SELECT count(*) AS n FROM shadow'))[0]!.n as number)).toBeLessThanOrEqual(1)
    })

    test('writes racing a drop of their table answer 404, not 500', async () => {
      // Found by the concurrency property (seed 43): the 1.0 routes look the table up before reading the body, then
      // assumed it was still there inside the shared group-commit transaction, where a concurrent drop had removed it.
      const t = await seededApp()
      const drop = { method: 'POST', target: '/data/dogs/-/drop', body: '{"confirm": true}' }
      const answers = await Promise.all([
        send(t, drop),
        send(t, drop),
        send(t, { method: 'POST', target: '/data/dogs/1/-/update', body: '{"update": {"name": "Rex"}}' }),
        send(t, { method: 'POST', target: '/data/dogs/2/-/delete' }),
        send(t, { method: 'POST', target: '/data/dogs/-/upsert', body: '{"rows": [{"id": 1, "name": "Rex"}]}' }),
      ])
      expect([answers[0]!.status, answers[1]!.status].sort()).toEqual([200, 404])
      // The others may land before the drop or find the table gone (404, or 400 missing_table from the insert path).
      for (const { status } of answers.slice(2)) expect(status).toBeLessThan(500)
      expect(await t.tables()).not.toContain('dogs')
      await expectHealthy(t)
    })

    test('a BLOB row key ($x…) where the key is an integer or a rowid finds no row', async () => {
      // Found by the query-string property on PostgreSQL: a bytea key compared with a bigint column is an error there
      // (42883, a 500), where SQLite finds nothing.
      const t = await seededApp()
      for (const [table, column] of [
        ['dogs', 'name'],
        ['plain', 'a'],
      ] as const) {
        expect(await call(t, 'GET', `/data/${table}/$x00.json`)).toEqual(apiError(404, 'Row not found'))
        const update = await expectUnchanged(t, () => call(t, 'POST', `/data/${table}/$x00/-/update`, `{"update": {"${column}": "z"}}`))
        expect(update).toEqual(apiError(404, "Record not found: ['$x00']"))
        expect(await expectUnchanged(t, () => call(t, 'POST', `/data/${table}/$x00/-/delete`))).toEqual(apiError(404, "Record not found: ['$x00']"))
      }
    })

    test('HEAD on any route is answered without a server error', async () => {
      const t = await seededApp()
      for (const target of ['/data/dogs.json', '/data.json', '/data/-/create', '/-/insert/data/dogs', '/nope.json', '/data/dogs/1.json']) {
        expect((await send(t, { method: 'HEAD', target })).status).toBeLessThan(500)
      }
    })
  })

  describe('Idempotency-Key retries of writes whose target is gone', () => {
    test.each([
      ['a delete', '/data/dogs/1/-/delete', ''],
      ['a drop', '/data/plain/-/drop', '{"confirm": true}'],
      ['an update that changes the key in its URL', '/data/dogs/1/-/update', '{"update": {"id": 5}}'],
    ])('the retry of %s replays its success instead of answering 404', async (_name, target, body) => {
      const t = await seededApp()
      const headers = { 'idempotency-key': 'retry-me' }
      const first = await t.app.handle(new Request(`http://localhost${target}`, { method: 'POST', body, headers }))
      const firstText = await first.text()
      expect(first.status).toBe(200)
      const retry = await expectUnchanged(t, () => t.app.handle(new Request(`http://localhost${target}`, { method: 'POST', body, headers })))
      expect({ status: retry.status, replayed: retry.headers.get('idempotent-replayed'), text: await retry.text() }).toEqual({
        status: 200,
        replayed: 'true',
        text: firstText,
      })
    })
  })

  describe('streamed uploads at their limits', () => {
    const LIMIT = 4096
    const ndjson = { 'content-type': 'application/x-ndjson' }

    /** NDJSON of rows `{"id": i, "name": "…"}` padded with `€` and `a` to exactly `bytes` bytes. */
    function ndjsonOfSize(bytes: number): string {
      const lines = Array.from({ length: 10 }, (_, i) => `{"id": ${i + 10}, "name": "x"}`)
      const room = bytes - utf8.encode(lines.join('\n')).length
      lines[0] = `{"id": 10, "name": "x${'€'.repeat(Math.floor(room / 3))}${'a'.repeat(room % 3)}"}`
      const text = lines.join('\n')
      expect(utf8.encode(text).length).toBe(bytes)
      return text
    }

    test.each(['/-/insert/data/dogs?pk=id', '/data/dogs/-/insert'])('%s: NDJSON of exactly max_stream_bytes lands, one byte more is a 413', async (target) => {
      for (const size of [1, 7, 4096]) {
        const t = await seededApp({ max_stream_bytes: LIMIT })
        const accepted = await call(t, 'POST', target, chunks(utf8.encode(ndjsonOfSize(LIMIT)), size), ndjson)
        expect(accepted.status).toBeLessThan(300)
        expect(await t.query('SELECT count(*) AS n FROM dogs')).toEqual([{ n: 12 }])
        const over = await expectUnchanged(t, () => call(t, 'POST', target, chunks(utf8.encode(ndjsonOfSize(LIMIT + 1)), size), ndjson))
        expect(over).toEqual(errorFor(target.startsWith('/-/'), 413, 'too_large', `Request body exceeded maximum size of ${LIMIT} bytes`))
        await expectHealthy(t)
        await t.close()
      }
    })

    test.each([
      ['application/x-ndjson', 'invalid_json', '{"id": 9}\n{"id": 10, "name": "ok"}\n{"id": 11, "name": "\u0001"}\n{"id": 12}'],
      ['text/csv', 'invalid_body', 'id,name\n10,ok\n11,\u0001\n12,x'],
      ['text/tab-separated-values', 'invalid_body', 'id\tname\n10\tok\n11\t\u0001\n12\tx'],
    ])('%s: invalid UTF-8 on line 3, even split across chunks, is a 400 naming the line, nothing written', async (type, code, template) => {
      const [before, after] = template.split('\u0001') as [string, string]
      for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xe2, 0x82]]) {
        const data = new Uint8Array([...utf8.encode(before), ...bad, ...utf8.encode(after)])
        for (const size of [1, 2, 3, 64]) {
          const t = await seededApp()
          const answer = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/dogs?pk=id', chunks(data, size), { 'content-type': type }))
          expect(answer).toEqual(legacyError(400, code, 'Line 3: the body is not valid UTF-8'))
          // Sixteen apps in one test: each PostgreSQL store's connections would otherwise stay open until the test ends.
          await t.close()
        }
      }
    })

    test('10 000-deep nesting on an NDJSON line is a 400 naming the line', async () => {
      const t = await seededApp()
      const body = `{"id": 10}\n{"id": 11, "doc": ${'['.repeat(10_000)}${']'.repeat(10_000)}}\n`
      const answer = await expectUnchanged(t, () => call(t, 'POST', '/-/insert/data/dogs?pk=id', chunks(utf8.encode(body), 4096), ndjson))
      expect(answer).toEqual(legacyError(400, 'invalid_json', /^Line 2: Invalid JSON: nesting/))
    })

    test('a 100 000-row NDJSON upload lands whole, with exact 64-bit integers', async () => {
      const t = await backend.makeApp({ unsafe: true })
      const lines = Array.from({ length: 100_000 }, (_, i) => `{"id": ${i}, "n": ${9_223_372_036_854_000_000n + BigInt(i)}}`)
      const answer = await call(t, 'POST', '/-/insert/data/many?pk=id', chunks(utf8.encode(lines.join('\n')), 65_536), ndjson)
      expect(answer).toEqual({ status: 200, body: { table_count: 100_000 } })
      expect(await t.query('SELECT count(*) AS n, max(n) AS top FROM many')).toEqual([{ n: 100_000, top: 9_223_372_036_854_099_999n }])
    }, 60_000)
  })

  describe('Host headers over a real socket', () => {
    const WRITES = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table']
    const LOOPBACK_NAMES = ['localhost', 'LocalHost', '127.0.0.1', '127.0.0.2', '127.255.255.254', '[::1]']
    const printable = fc.integer({ min: 0x20, max: 0x7e }).map((code) => String.fromCharCode(code))
    /** Host names of every kind, each tagged: loopback, routable (any name Bun makes a URL of), or odd (anything printable). */
    const hostName = fc.oneof(
      fc.constantFrom(...LOOPBACK_NAMES).map((name) => ({ name, kind: 'loopback' })),
      fc.stringMatching(/^[a-z][a-z0-9-]{0,2}$/).map((name) => ({ name, kind: 'routable' })),
      fc.domain().map((name) => ({ name, kind: 'routable' })),
      fc.string({ unit: printable, maxLength: 16 }).map((name) => ({ name: name.trim(), kind: 'odd' })),
    )
    const portText = fc.oneof(fc.integer({ min: 0, max: 99_999 }).map(String), fc.constantFrom('', 'x', '080', '-1', '8001:1'))
    const port = fc.option(portText, { nil: undefined, freq: 2 })
    const host = fc.tuple(hostName, port).map(([{ name, kind }, port]) => ({
      host: port === undefined ? name : `${name}:${port}`,
      // A port that is not a port number makes the Host unroutable (a 400), and never loopback.
      kind: port === undefined || (/^\d{1,5}$/.test(port) && Number(port) <= 65_535) ? kind : 'odd',
    }))
    /** Segments put before a real path: whatever Elysia skipped of the URL, it must not route what follows. */
    const prefix = fc
      .array(fc.constantFrom('zz', 'u', 'x', '-', 'data', 'dogs', 'a.b'), { maxLength: 3 })
      .map((segments) => segments.map((segment) => `/${segment}`).join(''))
    const READS = ['/data/dogs.json?_shape=array', '/data.json', '/-/versions.json', '/data/dogs/1.json?_shape=array']
    const WRITE_PATHS = ['/data/dogs/-/drop', '/-/insert/data/dogs', '/data/dogs/1/-/delete']
    const request = fc.oneof(
      fc.tuple(prefix, fc.constantFrom(...READS)).map(([before, path]) => ({ method: 'GET', target: before + path })),
      // Writes only ever with a prefix: routed by the path sent, each is a 404; routed by a shortened one, it writes.
      fc
        .tuple(
          prefix.filter((before) => before !== ''),
          fc.constantFrom(...WRITE_PATHS),
        )
        .map(([before, path]) => ({ method: 'POST', target: before + path })),
    )

    async function property(name: string, unsafe: boolean) {
      const anyoneWrites = interpretMetadata({ permissions: Object.fromEntries(WRITES.map((action) => [action, true])) })
      const t = await backend.makeApp(unsafe ? { unsafe } : { config: anyoneWrites })
      await seed(t)
      const before = await fingerprint(t)
      const { port, log, stop } = serveInProcess(t.app)
      try {
        await check(backend.name, name, fc.record({ host, request }), 300, async ({ host: { host, kind }, request: { method, target } }) => {
          requestsSent++
          const body = method === 'POST' ? '{"confirm": true, "id": 1}' : ''
          const answer = await rawRequest(port, { method, target, host, body })
          const logged = log.splice(0)
          // Bun itself may refuse a Host it cannot parse, before rowpost sees the request.
          if (logged.length === 0) return void expect(answer.status).toBe(400)
          expect(logged.map(loggedPath)).toEqual([target.split('?')[0]])
          const error = answer.status >= 400 ? (JSON.parse(answer.body) as { error: string }).error : undefined
          if (answer.status === 400 && error!.startsWith('Invalid Host header')) return void expect(kind).toBe('odd')
          if (unsafe && kind !== 'loopback') {
            return void expect([answer.status, error!.startsWith('--unsafe serves only loopback hosts')]).toEqual([403, true])
          }
          if (method === 'POST') return void expect(answer.status).toBe(404)
          const oracle = await t.app.handle(new Request(`http://localhost${target}`))
          expect({ status: answer.status, body: answer.body }).toEqual({ status: oracle.status, body: await oracle.text() })
        })
      } finally {
        stop()
      }
      expect(await fingerprint(t)).toBe(before)
      await expectHealthy(t)
    }

    test('random short, long and odd Hosts, with and without ports, route and log the path sent', async () => {
      await property('Host headers', false)
    }, 60_000)
    test('under --unsafe, only a loopback Host reaches a route', () => property('Host headers under --unsafe', true), 60_000)
  })
})
