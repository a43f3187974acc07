/** Signed API tokens: byte-for-byte Datasette/itsdangerous compatibility, expiry, `_r` restrictions and the create-token CLI. */
import { describe, expect, test } from 'bun:test'
import { createHash, createHmac } from 'node:crypto'
import { deflateSync } from 'node:zlib'
import { InvalidToken } from '../lib/errors'
import {
  ACTION_ABBREVIATIONS,
  CreateTokenUsageError,
  TokenExpiredError,
  TokenFormatError,
  TokenSignatureError,
  abbreviateAction,
  expandAction,
  mintToken,
  parseCreateTokenArgs,
  readToken,
  restrictionsAllow,
  signPayload,
  tokenActor,
  unsignPayload,
  type Restrictions,
} from '../lib/signed-tokens'

const VECTOR = 'dstok_eyJhIjoicm9vdCIsInQiOjF9.zTWSgoFsu3FWdk9caKqvmhdyGUs'

/** From Datasette's docs/authentication.rst (`datasette create-token root --secret mysecret ... --debug`). */
const DATASETTE_DOCS_TOKEN =
  'dstok_.eJxFizEKgDAMRe_y5w4qYrFXERGxDkVsMI0uxbubdjFL8l_ez1jhwEQCA6Fjjxp90qtkuHawzdjYrh8MFobLxZ_wBH0_gtnAF-hpS5VfmF8D_lnd97lHqUJgLd6sls4H1qwlhA.nH_7RecYHj5qSzvjhMU95iy0Xlc'

/** Minted offline by Python itsdangerous 2.2.0: URLSafeSerializer('mysecret', 'token').dumps(LONG_PAYLOAD). */
const ITSDANGEROUS_TOKEN =
  'dstok_.eJxljMEKgCAQRP9lzh6KoMBfCQnRoA4lbasX8d9bJejQXHaZNzMZFhoUAkOBofupe6XgoYexPgtB5xqckXbJJYZpOMMHdzf_gikK9HntxmM9uQV2kmKkWrTM1m0_IouCi-gB9Hkrvw.P2FxRB6fA2XCS69GXTECY_7Ig3w'
const LONG_PAYLOAD = {
  a: 'root',
  t: 1700000000,
  d: 3600,
  _r: { a: ['vi', 'vt'], d: { docs: ['vq'] }, r: { docs: { documents: ['ir', 'ur'], attachments: ['ir', 'ur', 'dr'] } } },
}

const SECRET = 'sekrit'

/** What the error thrown by `run` is, so a test can check its class and exact message together. */
function thrown(run: () => unknown): Error {
  try {
    run()
  } catch (error) {
    return error as Error
  }
  throw new Error('expected a throw')
}

/** itsdangerous' signature, computed here from first principles rather than through the module. */
const independentSignature = (secret: string, value: string) =>
  createHmac('sha1', createHash('sha1').update(`tokensigner${secret}`).digest())
    .update(value)
    .digest('base64url')

describe('itsdangerous-compatible signing', () => {
  test('the reference payload signs to the known Datasette token', () => {
    expect(signPayload('secret', { a: 'root', t: 1 })).toBe(VECTOR.slice('dstok_'.length))
    expect(mintToken('secret', { actorId: 'root', now: 1 })).toBe(VECTOR)
  })

  test('the reference token reads back as actor root created at 1', () => {
    expect(unsignPayload('secret', VECTOR.slice('dstok_'.length))).toEqual({ a: 'root', t: 1 })
    expect(readToken('secret', VECTOR, 1)).toEqual({ actorId: 'root', created: 1 })
  })

  test('the reference signature is HMAC-SHA1 keyed by SHA1(salt + "signer" + secret)', () => {
    expect(independentSignature('secret', 'eyJhIjoicm9vdCIsInQiOjF9')).toBe('zTWSgoFsu3FWdk9caKqvmhdyGUs')
  })

  test("the compressed token in Datasette's documentation verifies and keeps its restrictions", () => {
    const read = readToken('mysecret', DATASETTE_DOCS_TOKEN, 1670907246)
    expect(read).toEqual({
      actorId: 'root',
      created: 1670907246,
      restrictions: { a: ['vi', 'vt'], d: { docs: ['vq'] }, r: { docs: { documents: ['ir', 'ur'] } } },
    })
    expect(tokenActor(read)).toEqual({
      id: 'root',
      token: 'dstok',
      _r: { a: ['vi', 'vt'], d: { docs: ['vq'] }, r: { docs: { documents: ['ir', 'ur'] } } },
    })
  })

  test('a compressed token minted by Python itsdangerous decodes to its payload', () => {
    expect(unsignPayload('mysecret', ITSDANGEROUS_TOKEN.slice('dstok_'.length))).toEqual(LONG_PAYLOAD)
  })

  test('a payload long enough to compress is marked with a leading dot and round-trips', () => {
    const signed = signPayload('mysecret', LONG_PAYLOAD)
    expect(signed.startsWith('.eJ')).toBe(true)
    expect(signed.length).toBeLessThan(Buffer.from(JSON.stringify(LONG_PAYLOAD)).toString('base64url').length)
    expect(unsignPayload('mysecret', signed)).toEqual(LONG_PAYLOAD)
  })

  test('a short payload is left uncompressed', () => {
    expect(signPayload('secret', { a: 'x', t: 2 })).toMatch(/^eyJ/)
  })

  test('a hand-built compressed token (another zlib level) verifies', () => {
    const json = JSON.stringify({ a: 'carol', t: 500, d: 100, _r: { r: { data: { dogs: ['ir', 'ur', 'dr'], cats: ['ir', 'ur', 'dr'] } } } })
    const body = `.${deflateSync(Buffer.from(json), { level: 9 }).toString('base64url')}`
    const token = `dstok_${body}.${independentSignature(SECRET, body)}`
    expect(readToken(SECRET, token, 550)).toEqual({
      actorId: 'carol',
      created: 500,
      expiresAt: 600,
      restrictions: { r: { data: { dogs: ['ir', 'ur', 'dr'], cats: ['ir', 'ur', 'dr'] } } },
    })
  })

  test('non-ASCII text and escapes survive a round trip', () => {
    const payload = { a: 'zoë ☃ 😀', t: 3, note: 'tab\there "quoted" \\ \u0001' }
    expect(unsignPayload(SECRET, signPayload(SECRET, payload))).toEqual(payload)
  })

  test('a value signed under another salt does not verify as a token', () => {
    const error = thrown(() => unsignPayload(SECRET, signPayload(SECRET, { a: 'root' }, 'actor')))
    expect(error).toBeInstanceOf(TokenSignatureError)
    expect(error.message).toBe('Invalid token signature')
  })
})

describe('minting and reading tokens', () => {
  const restrictions: Restrictions = {
    a: ['view-instance'],
    d: { data: ['create-table'] },
    r: { data: { dogs: ['insert-row', 'ur'] } },
  }

  test('restrictions and expiry round-trip, abbreviated, in Datasette key order', () => {
    const token = mintToken(SECRET, { actorId: 'alice', expiresAfter: 3600, restrictions, now: 1000 })
    expect(JSON.stringify(unsignPayload(SECRET, token.slice('dstok_'.length)))).toBe(
      '{"a":"alice","t":1000,"d":3600,"_r":{"a":["vi"],"d":{"data":["ct"]},"r":{"data":{"dogs":["ir","ur"]}}}}',
    )
    const read = readToken(SECRET, token, 1000)
    expect(read).toEqual({
      actorId: 'alice',
      created: 1000,
      expiresAt: 4600,
      restrictions: { a: ['vi'], d: { data: ['ct'] }, r: { data: { dogs: ['ir', 'ur'] } } },
    })
    expect(tokenActor(read)).toEqual({
      id: 'alice',
      token: 'dstok',
      _r: { a: ['vi'], d: { data: ['ct'] }, r: { data: { dogs: ['ir', 'ur'] } } },
      token_expires: 4600,
    })
  })

  test('a token is accepted up to its expiry second and refused after it', () => {
    const token = mintToken(SECRET, { actorId: 'alice', expiresAfter: 60, now: 1000 })
    expect(readToken(SECRET, token, 1060).expiresAt).toBe(1060)
    const error = thrown(() => readToken(SECRET, token, 1061))
    expect(error).toBeInstanceOf(TokenExpiredError)
    expect(error).toBeInstanceOf(InvalidToken)
    expect(error.message).toBe('Token has expired')
  })

  test('a token without "d" never expires', () => {
    const token = mintToken(SECRET, { actorId: 'bob', now: 1000 })
    const read = readToken(SECRET, token, 99_999_999_999)
    expect(read).toEqual({ actorId: 'bob', created: 1000 })
    expect(tokenActor(read)).toEqual({ id: 'bob', token: 'dstok' })
  })

  test('expiresAfter 0 and empty restrictions add nothing to the payload, as in Datasette', () => {
    const token = mintToken(SECRET, { actorId: 'bob', expiresAfter: 0, restrictions: { a: [], d: {} }, now: 7 })
    expect(unsignPayload(SECRET, token.slice('dstok_'.length))).toEqual({ a: 'bob', t: 7 })
  })

  test('a token restricted to nothing (_r: {}) reads back as restricted', () => {
    const token = `dstok_${signPayload(SECRET, { a: 'bob', t: 7, _r: {} })}`
    expect(readToken(SECRET, token, 7)).toEqual({ actorId: 'bob', created: 7, restrictions: {} })
  })

  test('maxTtl caps tokens with a longer or no duration, like max_signed_tokens_ttl', () => {
    const forever = mintToken(SECRET, { actorId: 'bob', now: 1000 })
    const long = mintToken(SECRET, { actorId: 'bob', expiresAfter: 5000, now: 1000 })
    const short = mintToken(SECRET, { actorId: 'bob', expiresAfter: 10, now: 1000 })
    expect(readToken(SECRET, forever, 1000, { maxTtl: 100 }).expiresAt).toBe(1100)
    expect(readToken(SECRET, long, 1000, { maxTtl: 100 }).expiresAt).toBe(1100)
    expect(readToken(SECRET, short, 1000, { maxTtl: 100 }).expiresAt).toBe(1010)
    expect(thrown(() => readToken(SECRET, forever, 1101, { maxTtl: 100 })).message).toBe('Token has expired')
  })

  const good = mintToken(SECRET, { actorId: 'root', expiresAfter: 3600, now: 1000 })
  const [body, signature] = good.slice('dstok_'.length).split('.') as [string, string]
  const forgedBody = Buffer.from('{"a":"admin","t":1000,"d":3600}').toString('base64url')
  const flipped = signature.slice(0, 5) + (signature[5] === 'A' ? 'B' : 'A') + signature.slice(6)

  test.each([
    ['a tampered payload', `dstok_${forgedBody}.${signature}`, SECRET],
    ['a tampered signature', `dstok_${body}.${flipped}`, SECRET],
    ['a truncated signature', good.slice(0, -4), SECRET],
    ['a token cut before its signature', `dstok_${body}`, SECRET],
    ['an empty token', 'dstok_', SECRET],
    ['the wrong secret', good, 'not-the-secret'],
  ])('%s is refused with "Invalid token signature"', (_, token, secret) => {
    const error = thrown(() => readToken(secret, token, 1000))
    expect(error).toBeInstanceOf(TokenSignatureError)
    expect(error.message).toBe('Invalid token signature')
    expect((error as InvalidToken).status).toBe(401)
    expect((error as InvalidToken).code).toBe('invalid_token')
  })

  const signed = (payload: unknown) => `dstok_${signPayload(SECRET, payload)}`
  test.each([
    ['a token without the dstok_ prefix', 'abc123', 'Not a signed API token: expected the dstok_ prefix'],
    ['a payload that is a list', signed(['root', 1]), 'Token payload must be a JSON object'],
    ['a payload without an actor', signed({ t: 1 }), 'Token payload "a" (actor id) must be a string'],
    ['a numeric actor id', signed({ a: 7, t: 1 }), 'Token payload "a" (actor id) must be a string'],
    ['a missing created time', signed({ a: 'root' }), 'Token payload "t" (created) must be an integer timestamp'],
    ['a fractional created time', signed({ a: 'root', t: 1.5 }), 'Token payload "t" (created) must be an integer timestamp'],
    ['a text duration', signed({ a: 'root', t: 1, d: '60' }), 'Token payload "d" (duration) must be an integer number of seconds'],
    ['restrictions that are a list', signed({ a: 'root', t: 1, _r: ['ir'] }), 'Token restrictions (_r) must be an object'],
    ['"a" restrictions that are text', signed({ a: 'root', t: 1, _r: { a: 'ir' } }), 'Token restrictions _r.a must be a list of actions'],
    ['"d" restrictions that are a list', signed({ a: 'root', t: 1, _r: { d: ['ir'] } }), 'Token restrictions _r.d must map databases to lists of actions'],
    [
      '"r" restrictions one level short',
      signed({ a: 'root', t: 1, _r: { r: { data: ['ir'] } } }),
      'Token restrictions _r.r must map databases to tables to lists of actions',
    ],
  ])('%s is refused as malformed', (_, token, message) => {
    const error = thrown(() => readToken(SECRET, token, 1))
    expect(error).toBeInstanceOf(TokenFormatError)
    expect(error.message).toBe(message)
  })

  test('a signed payload that is not JSON is refused as malformed', () => {
    const notJson = Buffer.from('{"a":').toString('base64url')
    const error = thrown(() => unsignPayload(SECRET, `${notJson}.${independentSignature(SECRET, notJson)}`))
    expect(error).toBeInstanceOf(TokenFormatError)
    expect(error.message).toBe('Signed payload is not valid JSON')
  })
})

describe('restriction checks', () => {
  const dogs = { database: 'data', table: 'dogs' }
  const cats = { database: 'data', table: 'cats' }
  const otherDogs = { database: 'other', table: 'dogs' }
  const data = { database: 'data' }
  const other = { database: 'other' }
  const tableInsert: Restrictions = { r: { data: { dogs: ['ir'] } } }
  const databaseInsert: Restrictions = { d: { data: ['insert-row'] } }
  const everywhereInsert: Restrictions = { a: ['ir'] }

  test.each([
    ['no restrictions allow anything', undefined, 'drop-table', dogs, true],
    ['table-level insert-row allows that table', tableInsert, 'insert-row', dogs, true],
    ['table-level insert-row refuses another table', tableInsert, 'insert-row', cats, false],
    ['table-level insert-row refuses the same table name elsewhere', tableInsert, 'insert-row', otherDogs, false],
    ['table-level insert-row refuses the database itself', tableInsert, 'insert-row', data, false],
    ['table-level insert-row refuses update-row', tableInsert, 'update-row', dogs, false],
    ['table-level insert-row refuses create-table', tableInsert, 'create-table', data, false],
    ['database-level insert-row allows every table there', databaseInsert, 'insert-row', cats, true],
    ['database-level insert-row allows the database', databaseInsert, 'insert-row', data, true],
    ['database-level insert-row refuses other databases', databaseInsert, 'insert-row', otherDogs, false],
    ['database-level insert-row refuses delete-row', databaseInsert, 'delete-row', dogs, false],
    ['"a"-level insert-row allows any table', everywhereInsert, 'insert-row', otherDogs, true],
    ['"a"-level insert-row allows the instance', everywhereInsert, 'insert-row', {}, true],
    ['"a"-level insert-row refuses delete-row', everywhereInsert, 'delete-row', dogs, false],
    ['an abbreviated check matches a full name', { a: ['insert-row'] }, 'ir', dogs, true],
    ['a full-name check matches an abbreviation', { d: { data: ['ct'] } }, 'create-table', data, true],
    ['an empty _r allows nothing', {}, 'view-instance', {}, false],
    ['view-table on a table implies view-instance', { r: { data: { dogs: ['vt'] } } }, 'view-instance', {}, true],
    ['view-table on a table implies view-database for its database', { r: { data: { dogs: ['vt'] } } }, 'view-database', data, true],
    ['view-table on a table does not imply another database', { r: { data: { dogs: ['vt'] } } }, 'view-database', other, false],
    ['view-table on a table does not reach its neighbour', { r: { data: { dogs: ['vt'] } } }, 'view-table', cats, false],
    ['execute-sql on a database implies view-database there', { d: { data: ['es'] } }, 'view-database', data, true],
    ['"a"-level view-database implies view-instance', { a: ['vd'] }, 'view-instance', {}, true],
    ['"a"-level view-database does not imply view-table', { a: ['vd'] }, 'view-table', dogs, false],
    ['write actions imply no view-instance', { r: { data: { dogs: ['ir', 'ur'] } } }, 'view-instance', {}, false],
    ['write actions imply no view-database', { d: { data: ['ct'] } }, 'view-database', data, false],
    ['a database named constructor is not found on the prototype', databaseInsert, 'insert-row', { database: 'constructor', table: 'x' }, false],
    ['a table named __proto__ is not found on the prototype', tableInsert, 'insert-row', { database: 'data', table: '__proto__' }, false],
  ] as const)('%s', (_, restrictions, action, resource, expected) => {
    expect(restrictionsAllow(restrictions as Restrictions | undefined, action, resource)).toBe(expected)
  })

  test('every Datasette abbreviation expands and abbreviates back', () => {
    expect(ACTION_ABBREVIATIONS).toEqual({
      vi: 'view-instance',
      vd: 'view-database',
      vdd: 'view-database-download',
      vt: 'view-table',
      vq: 'view-query',
      es: 'execute-sql',
      ews: 'execute-write-sql',
      pd: 'permissions-debug',
      dm: 'debug-menu',
      ir: 'insert-row',
      dr: 'delete-row',
      ur: 'update-row',
      ct: 'create-table',
      at: 'alter-table',
      dt: 'drop-table',
    })
    for (const [abbreviation, name] of Object.entries(ACTION_ABBREVIATIONS)) {
      expect(expandAction(abbreviation)).toBe(name)
      expect(expandAction(name)).toBe(name)
      expect(abbreviateAction(name)).toBe(abbreviation)
    }
    expect(expandAction('my-plugin-action')).toBe('my-plugin-action')
    expect(expandAction('constructor')).toBe('constructor')
  })
})

describe('create-token arguments', () => {
  test.each([
    [['root'], { actorId: 'root' }],
    [['root', '--all', 'insert-row', '-a', 'ur'], { actorId: 'root', restrictions: { a: ['insert-row', 'update-row'] } }],
    [
      ['root', '-d', 'data', 'create-table', '--database', 'data', 'ir', '--database', 'logs', 'dt'],
      { actorId: 'root', restrictions: { d: { data: ['create-table', 'insert-row'], logs: ['drop-table'] } } },
    ],
    [
      ['root', '--resource', 'data', 'dogs', 'insert-row', '-r', 'data', 'cats', 'ur'],
      { actorId: 'root', restrictions: { r: { data: { dogs: ['insert-row'], cats: ['update-row'] } } } },
    ],
    [['--expires-after', '3600', 'root', '--secret', 's3cret'], { actorId: 'root', expiresAfter: 3600, secret: 's3cret' }],
    [['root', '--secret=a=b', '--expires-after=60', '-e', '90'], { actorId: 'root', expiresAfter: 90, secret: 'a=b' }],
  ])('%j parses', (argv, expected) => {
    expect(parseCreateTokenArgs(argv)).toEqual(expected)
  })

  test.each([
    [[], 'create-token needs an ACTOR id'],
    [['root', 'bob'], 'create-token takes one ACTOR id, got 2: root bob'],
    [['root', '--all'], '--all needs an ACTION'],
    [['root', '--database', 'data'], '--database needs DB ACTION'],
    [['root', '-r', 'data', 'dogs'], '-r needs DB TABLE ACTION'],
    [['root', '-e'], '-e needs SECONDS'],
    [['root', '--secret'], '--secret needs a SECRET'],
    [['root', '--secret', ''], '--secret must not be empty'],
    [['root', '--expires-after', 'soon'], 'Invalid --expires-after "soon": expected a positive whole number of seconds'],
    [['root', '-e', '0'], 'Invalid -e "0": expected a positive whole number of seconds'],
    [['root', '--bogus'], 'Unknown option --bogus'],
    [['root', '-a', 'frobnicate'], 'Unknown action: frobnicate (known: view-instance, '],
    [['root', '-a', 'insert-rows', '-d', 'data', 'frobnicate', '-a', 'ir'], 'Unknown actions: insert-rows, frobnicate (known: '],
  ])('%j is refused', (argv, message) => {
    const error = thrown(() => parseCreateTokenArgs(argv))
    expect(error).toBeInstanceOf(CreateTokenUsageError)
    expect(error.message.startsWith(message)).toBe(true)
  })

  test("Datasette's own create-token CLI case produces the same actor", () => {
    // tests/test_permissions.py::test_cli_create_token, the case using every option several times.
    const argv = ['root', '-a', 'debug-menu', '--all', 'create-table', '-r', 'db1', 't1', 'insert-row', '--resource', 'db1', 't2', 'update-row']
    argv.push('-d', 'db1', 'create-table', '--database', 'db2', 'drop-table')
    const { actorId, restrictions } = parseCreateTokenArgs(argv)
    const token = mintToken(SECRET, { actorId, restrictions, now: 1000 })
    expect(tokenActor(readToken(SECRET, token, 1000))).toEqual({
      _r: { a: ['dm', 'ct'], d: { db1: ['ct'], db2: ['dt'] }, r: { db1: { t1: ['ir'], t2: ['ur'] } } },
      id: 'root',
      token: 'dstok',
    })
  })

  test('a database called __proto__ becomes an ordinary restriction key', () => {
    const { restrictions } = parseCreateTokenArgs(['root', '-d', '__proto__', 'insert-row'])
    expect(Object.hasOwn(restrictions!.d!, '__proto__')).toBe(true)
    const token = mintToken(SECRET, { actorId: 'root', restrictions, now: 1 })
    const read = readToken(SECRET, token, 1)
    expect(JSON.stringify(read.restrictions)).toBe('{"d":{"__proto__":["ir"]}}')
    expect(restrictionsAllow(read.restrictions, 'insert-row', { database: '__proto__', table: 't' })).toBe(true)
    expect(restrictionsAllow(read.restrictions, 'insert-row', { database: 'data', table: 't' })).toBe(false)
  })
})
