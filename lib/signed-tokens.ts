/** Datasette-compatible signed API tokens (`dstok_...`): itsdangerous signing, token payloads and `_r` restrictions. */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import { deflateSync, inflateSync } from 'node:zlib'
import { InvalidToken } from './errors'
import { identifierKey } from './identifiers'

/** The signature does not match: tampered, truncated, or signed with another secret. */
export class TokenSignatureError extends InvalidToken {
  override name = 'TokenSignatureError'
  constructor(message = 'Invalid token signature') {
    super(message)
  }
}

/** The token is signed correctly but its `d` duration has run out. */
export class TokenExpiredError extends InvalidToken {
  override name = 'TokenExpiredError'
  constructor() {
    super('Token has expired')
  }
}

/** The input is not a `dstok_` token, or its signed payload is not the shape Datasette writes. */
export class TokenFormatError extends InvalidToken {
  override name = 'TokenFormatError'
}

/** A bad `rowpost create-token` command line. */
export class CreateTokenUsageError extends Error {
  override name = 'CreateTokenUsageError'
}

/** Datasette's `_r` block: actions allowed everywhere (`a`), per database (`d`) and per table (`r`). */
export type Restrictions = {
  a?: string[]
  d?: Record<string, string[]>
  r?: Record<string, Record<string, string[]>>
}

/** Datasette's registered abbreviation for each core action, as written into `_r`. */
export const ACTION_ABBREVIATIONS: Readonly<Record<string, string>> = Object.freeze({
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

const ABBREVIATION_OF: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(Object.entries(ACTION_ABBREVIATIONS).map(([abbreviation, name]) => [name, abbreviation])),
)

/** Datasette's `implies_can_view` actions: holding one anywhere lets a token see the instance and its database. */
const IMPLIES_VIEW = new Set(['view-database', 'view-table', 'view-query', 'execute-sql'])

/** Lookups go through hasOwn because database, table and action names come from clients ("constructor", "__proto__"). */
const own = <T>(record: Record<string, T> | undefined, key: string): T | undefined =>
  record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined

/**
 * The actions granted on a table: every entry naming it as SQLite does (ASCII case ignored), so a token for `dogs`
 * covers `/-/insert/data/DOGS`, which writes to the same table, exactly as configured permissions do.
 */
function tableRules(tables: Record<string, string[]> | undefined, table: string): string[] | undefined {
  if (tables === undefined) return undefined
  const key = identifierKey(table)
  const matching = Object.keys(tables).filter((name) => identifierKey(name) === key)
  return matching.length ? matching.flatMap((name) => tables[name]!) : undefined
}

/** The full action name for an abbreviation such as `ir`; anything else comes back unchanged. */
export function expandAction(nameOrAbbreviation: string): string {
  return own(ACTION_ABBREVIATIONS, nameOrAbbreviation) ?? nameOrAbbreviation
}

/** The abbreviation Datasette writes into tokens for a known action; unknown names are kept as they are. */
export function abbreviateAction(nameOrAbbreviation: string): string {
  const name = expandAction(nameOrAbbreviation)
  return own(ABBREVIATION_OF, name) ?? name
}

const isKnownAction = (nameOrAbbreviation: string) => Object.hasOwn(ABBREVIATION_OF, expandAction(nameOrAbbreviation))

// itsdangerous URLSafeSerializer: compact JSON, zlib when that is shorter, base64url, then a django-concat HMAC-SHA1 Signer.

function deriveKey(secret: string, salt: string): Buffer {
  return createHash('sha1').update(salt).update('signer').update(secret).digest()
}

function signatureOf(secret: string, salt: string, value: string): string {
  return createHmac('sha1', deriveKey(secret, salt)).update(value).digest('base64url')
}

/** Signs `payload` exactly as Datasette's `datasette.sign(payload, namespace=salt)` does. */
export function signPayload(secret: string, payload: unknown, salt = 'token'): string {
  const json = Buffer.from(JSON.stringify(payload), 'utf8')
  const compressed = deflateSync(json)
  // itsdangerous only compresses when it saves more than the one byte the '.' marker costs.
  const body = compressed.length < json.length - 1 ? `.${compressed.toString('base64url')}` : json.toString('base64url')
  return `${body}.${signatureOf(secret, salt, body)}`
}

const BASE64URL = /^[A-Za-z0-9_-]*$/

/** Verifies and decodes a value from `signPayload` or Datasette's `datasette.sign`. */
export function unsignPayload(secret: string, signed: string, salt = 'token'): unknown {
  if (typeof signed !== 'string') throw new TokenFormatError('Signed value must be a string')
  const separator = signed.lastIndexOf('.')
  if (separator === -1) throw new TokenSignatureError()
  const body = signed.slice(0, separator)
  const presented = Buffer.from(signed.slice(separator + 1), 'utf8')
  const expected = Buffer.from(signatureOf(secret, salt, body), 'utf8')
  // Comparing the canonical base64 text rejects the non-canonical spellings a lenient decoder would let through.
  if (presented.length !== expected.length || !timingSafeEqual(presented, expected)) throw new TokenSignatureError()
  const compressed = body.startsWith('.')
  const encoded = compressed ? body.slice(1) : body
  if (!BASE64URL.test(encoded)) throw new TokenFormatError('Signed payload is not base64url')
  let bytes = Buffer.from(encoded, 'base64url')
  if (compressed) {
    try {
      bytes = inflateSync(bytes)
    } catch {
      throw new TokenFormatError('Signed payload could not be decompressed')
    }
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    throw new TokenFormatError('Signed payload is not valid JSON')
  }
}

export const TOKEN_PREFIX = 'dstok_'

export interface MintTokenOptions {
  actorId: string
  /** Seconds until the token expires; omitted (or 0, as in Datasette) means it never expires. */
  expiresAfter?: number
  /** Full action names or abbreviations; written abbreviated. An object with nothing in it adds no `_r`, as in Datasette. */
  restrictions?: Restrictions
  /** Creation time in Unix seconds; defaults to now. */
  now?: number
}

function abbreviatedRestrictions(restrictions: Restrictions | undefined): Restrictions | undefined {
  if (restrictions === undefined) return undefined
  const abbreviated: Restrictions = {}
  const list = (actions: string[]) => actions.map(abbreviateAction)
  if (restrictions.a?.length) abbreviated.a = list(restrictions.a)
  if (restrictions.d && Object.keys(restrictions.d).length) {
    abbreviated.d = Object.fromEntries(Object.entries(restrictions.d).map(([database, actions]) => [database, list(actions)]))
  }
  if (restrictions.r && Object.keys(restrictions.r).length) {
    abbreviated.r = Object.fromEntries(
      Object.entries(restrictions.r).map(([database, tables]) => [
        database,
        Object.fromEntries(Object.entries(tables).map(([table, actions]) => [table, list(actions)])),
      ]),
    )
  }
  return Object.keys(abbreviated).length ? abbreviated : undefined
}

/** Mints a `dstok_` token with Datasette's payload `{"a", "t", "d"?, "_r"?}`, in that key order. */
export function mintToken(secret: string, options: MintTokenOptions): string {
  if (secret === '') throw new RangeError('An empty secret makes tokens anyone can forge')
  const { actorId, expiresAfter, restrictions, now = Date.now() / 1000 } = options
  if (typeof actorId !== 'string') throw new TypeError('actorId must be a string')
  if (expiresAfter !== undefined && !(Number.isInteger(expiresAfter) && expiresAfter >= 0)) {
    throw new RangeError('expiresAfter must be a whole number of seconds')
  }
  const payload: Record<string, unknown> = { a: actorId, t: Math.floor(now) }
  if (expiresAfter) payload.d = expiresAfter
  const r = abbreviatedRestrictions(restrictions)
  if (r !== undefined) payload._r = r
  return TOKEN_PREFIX + signPayload(secret, payload)
}

export interface ReadToken {
  actorId: string
  /** Unix seconds the token was minted (`t`). */
  created: number
  /** Unix seconds after which it is refused; absent for tokens that never expire. */
  expiresAt?: number
  /** The `_r` block as written (usually abbreviated); absent for unrestricted tokens. */
  restrictions?: Restrictions
}

export interface ReadTokenOptions {
  /** Datasette's `max_signed_tokens_ttl`: caps every token's lifetime, including tokens without `d`. 0 or absent: no cap. */
  maxTtl?: number
}

const isPlainObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value)

const isStringList = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === 'string')

const isRecordOf = <T>(value: unknown, check: (item: unknown) => item is T): value is Record<string, T> =>
  isPlainObject(value) && Object.values(value).every(check)

function parseRestrictions(value: unknown): Restrictions {
  if (!isPlainObject(value)) throw new TokenFormatError('Token restrictions (_r) must be an object')
  const restrictions: Restrictions = {}
  if (value.a !== undefined) {
    if (!isStringList(value.a)) throw new TokenFormatError('Token restrictions _r.a must be a list of actions')
    restrictions.a = value.a
  }
  if (value.d !== undefined) {
    if (!isRecordOf(value.d, isStringList)) throw new TokenFormatError('Token restrictions _r.d must map databases to lists of actions')
    restrictions.d = value.d
  }
  if (value.r !== undefined) {
    const tables = (item: unknown): item is Record<string, string[]> => isRecordOf(item, isStringList)
    if (!isRecordOf(value.r, tables)) throw new TokenFormatError('Token restrictions _r.r must map databases to tables to lists of actions')
    restrictions.r = value.r
  }
  return restrictions
}

/** Verifies a `dstok_` token the way Datasette's signed-token handler does, throwing where Datasette would return None. */
export function readToken(secret: string, token: string, now = Math.floor(Date.now() / 1000), options: ReadTokenOptions = {}): ReadToken {
  // Anyone can sign with an empty key, so nothing it verifies proves anything.
  if (secret === '') throw new TokenSignatureError('Signed API tokens cannot be verified with an empty secret')
  if (typeof token !== 'string' || !token.startsWith(TOKEN_PREFIX)) throw new TokenFormatError('Not a signed API token: expected the dstok_ prefix')
  const payload = unsignPayload(secret, token.slice(TOKEN_PREFIX.length))
  if (!isPlainObject(payload)) throw new TokenFormatError('Token payload must be a JSON object')
  const { a: actorId, t: created, d: duration, _r: restrictions } = payload
  if (typeof actorId !== 'string') throw new TokenFormatError('Token payload "a" (actor id) must be a string')
  if (!Number.isInteger(created)) throw new TokenFormatError('Token payload "t" (created) must be an integer timestamp')
  if (duration !== undefined && duration !== null && !Number.isInteger(duration)) {
    throw new TokenFormatError('Token payload "d" (duration) must be an integer number of seconds')
  }
  let lifetime = (duration ?? undefined) as number | undefined
  const { maxTtl } = options
  // Datasette leaves a "d" of 0 uncapped (so never expiring); a cap is meant to bound every token, so it applies there too.
  if (maxTtl && !(lifetime && lifetime <= maxTtl)) lifetime = maxTtl
  const read: ReadToken = { actorId, created: created as number }
  // Like Datasette, a duration of 0 means the token never expires.
  if (lifetime) {
    read.expiresAt = (created as number) + lifetime
    if (now > read.expiresAt) throw new TokenExpiredError()
  }
  if (restrictions !== undefined) read.restrictions = parseRestrictions(restrictions)
  return read
}

export interface TokenActor {
  id: string
  token: 'dstok'
  _r?: Restrictions
  token_expires?: number
}

/** The actor Datasette builds from a verified token: `{id, token: "dstok", _r?, token_expires?}`. */
export function tokenActor(read: ReadToken): TokenActor {
  const actor: TokenActor = { id: read.actorId, token: 'dstok' }
  if (read.restrictions !== undefined) actor._r = read.restrictions
  if (read.expiresAt !== undefined) actor.token_expires = read.expiresAt
  return actor
}

const impliesView = (action: string) => IMPLIES_VIEW.has(expandAction(action))

/**
 * Whether a token's `_r` block lets `action` reach `resource`, following Datasette 1.0a's `restrictions_allow_action`.
 * No restrictions means allowed; an empty `_r` allows nothing. Callers AND this with the actor's own permissions.
 */
export function restrictionsAllow(restrictions: Restrictions | undefined, action: string, resource: { database?: string; table?: string } = {}): boolean {
  if (restrictions === undefined) return true
  const name = expandAction(action)
  const { database, table } = resource
  const everywhere = restrictions.a ?? []
  const inDatabase = database === undefined ? undefined : own(restrictions.d, database)
  const tablesInDatabase = database === undefined ? undefined : own(restrictions.r, database)
  const onTable = table === undefined ? undefined : tableRules(tablesInDatabase, table)

  // A token that may view something must be able to reach it: view actions imply view-instance, and view-database
  // for their own database (Datasette 1.0a5+, #2102).
  if (name === 'view-instance') {
    const everyRule = [
      ...everywhere,
      ...Object.values(restrictions.d ?? {}).flat(),
      ...Object.values(restrictions.r ?? {}).flatMap((tables) => Object.values(tables).flat()),
    ]
    if (everyRule.some(impliesView)) return true
  }
  if (name === 'view-database' && database !== undefined) {
    const databaseRules = [...everywhere, ...(inDatabase ?? []), ...Object.values(tablesInDatabase ?? {}).flat()]
    if (databaseRules.some(impliesView)) return true
  }

  const variants = new Set([name, abbreviateAction(name)])
  return [everywhere, inDatabase, onTable].some((actions) => actions?.some((listed) => variants.has(listed)))
}

export interface CreateTokenArgs {
  actorId: string
  restrictions?: Restrictions
  expiresAfter?: number
  secret?: string
}

export const CREATE_TOKEN_USAGE = `Usage: rowpost create-token ACTOR [options]

Print a signed API token (dstok_...) for ACTOR, compatible with Datasette's.

Options:
  -a, --all ACTION                Restrict the token to ACTION everywhere; may be repeated
  -d, --database DB ACTION        Restrict to ACTION on database DB; may be repeated
  -r, --resource DB TABLE ACTION  Restrict to ACTION on table DB/TABLE; may be repeated
  -e, --expires-after SECONDS     Expire the token after SECONDS (default: never)
  --secret SECRET                 Signing secret (default: $ROWPOST_SECRET)`

/** Parses the arguments after `rowpost create-token`; the caller falls back to $ROWPOST_SECRET when `secret` is absent. */
export function parseCreateTokenArgs(argv: string[]): CreateTokenArgs {
  const positional: string[] = []
  const all: string[] = []
  // Maps, because database and table names such as "__proto__" must not reach an object's prototype.
  const databases = new Map<string, string[]>()
  const resources = new Map<string, Map<string, string[]>>()
  let expiresAfter: number | undefined
  let secret: string | undefined
  const args = [...argv]

  const take = (option: string, count: number, what: string) => {
    const values = args.splice(0, count)
    if (values.length < count) throw new CreateTokenUsageError(`${option} needs ${what}`)
    return values
  }

  while (args.length) {
    const arg = args.shift()!
    const equals = arg.startsWith('--') ? arg.indexOf('=') : -1
    // `--option=value` supplies the option's first value, as click (and so Datasette's CLI) allows.
    if (equals !== -1) args.unshift(arg.slice(equals + 1))
    const option = equals === -1 ? arg : arg.slice(0, equals)
    switch (option) {
      case '-a':
      case '--all':
        all.push(...take(option, 1, 'an ACTION'))
        break
      case '-d':
      case '--database': {
        const [database, action] = take(option, 2, 'DB ACTION') as [string, string]
        databases.set(database, [...(databases.get(database) ?? []), action])
        break
      }
      case '-r':
      case '--resource': {
        const [database, table, action] = take(option, 3, 'DB TABLE ACTION') as [string, string, string]
        const tables = resources.get(database) ?? new Map<string, string[]>()
        tables.set(table, [...(tables.get(table) ?? []), action])
        resources.set(database, tables)
        break
      }
      case '-e':
      case '--expires-after': {
        const [value] = take(option, 1, 'SECONDS') as [string]
        if (!/^\d+$/.test(value) || Number(value) === 0) {
          throw new CreateTokenUsageError(`Invalid ${option} ${JSON.stringify(value)}: expected a positive whole number of seconds`)
        }
        expiresAfter = Number(value)
        break
      }
      case '--secret':
        secret = take(option, 1, 'a SECRET')[0]
        if (secret === '') throw new CreateTokenUsageError('--secret must not be empty')
        break
      default:
        if (option.startsWith('-') && option !== '-') throw new CreateTokenUsageError(`Unknown option ${option}`)
        positional.push(arg)
    }
  }

  if (positional.length === 0) throw new CreateTokenUsageError('create-token needs an ACTOR id')
  if (positional.length > 1) throw new CreateTokenUsageError(`create-token takes one ACTOR id, got ${positional.length}: ${positional.join(' ')}`)
  const [actorId] = positional as [string]
  if (actorId === '') throw new CreateTokenUsageError('ACTOR id must not be empty')

  const named = [...all, ...[...databases.values()].flat(), ...[...resources.values()].flatMap((tables) => [...tables.values()].flat())]
  const unknown = [...new Set(named.filter((action) => !isKnownAction(action)))]
  if (unknown.length) {
    const known = Object.values(ACTION_ABBREVIATIONS).join(', ')
    throw new CreateTokenUsageError(`Unknown action${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')} (known: ${known}, or their abbreviations)`)
  }

  const result: CreateTokenArgs = { actorId }
  const restrictions: Restrictions = {}
  if (all.length) restrictions.a = all.map(expandAction)
  if (databases.size) {
    restrictions.d = Object.fromEntries([...databases].map(([database, actions]) => [database, actions.map(expandAction)]))
  }
  if (resources.size) {
    restrictions.r = Object.fromEntries(
      [...resources].map(([database, tables]) => [database, Object.fromEntries([...tables].map(([table, actions]) => [table, actions.map(expandAction)]))]),
    )
  }
  if (Object.keys(restrictions).length) result.restrictions = restrictions
  if (expiresAfter !== undefined) result.expiresAfter = expiresAfter
  if (secret !== undefined) result.secret = secret
  return result
}
