/** Resolves an Authorization header to an actor, comparing token digests in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { InvalidToken } from './errors'
import type { TokenGrant } from './config'
import type { Actor } from './permissions'
import { readToken, signPayload, tokenActor, TOKEN_PREFIX, unsignPayload } from './signed-tokens'

const digest = (token: string) => createHash('sha256').update(token).digest()

export type Authenticator = (authorization: string | null) => Actor

/** Authorization headers remembered with the configured token's actor they resolved to; past this many, the oldest goes. */
const REMEMBERED_HEADERS = 1024

/**
 * The actors of Authorization headers seen before, so that a client sending the same token on every request pays the
 * digest and the table scan once. Entries are found by a hash seeded afresh per process (so no caller can aim at a
 * bucket) and confirmed by a constant-time comparison of the whole header; only headers that named a configured
 * token are kept, so refused guesses cannot fill it.
 */
class RememberedHeaders {
  private readonly seed = crypto.getRandomValues(new BigUint64Array(1))[0]!
  private readonly entries = new Map<bigint | number, { header: Buffer; actor: Actor }>()

  find(authorization: string): { actor: Actor } | undefined {
    const entry = this.entries.get(Bun.hash(authorization, this.seed))
    if (!entry) return undefined
    const presented = Buffer.from(authorization)
    return presented.length === entry.header.length && timingSafeEqual(presented, entry.header) ? entry : undefined
  }

  remember(authorization: string, actor: Actor): void {
    if (this.entries.size >= REMEMBERED_HEADERS) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(Bun.hash(authorization, this.seed), { header: Buffer.from(authorization), actor })
  }
}

/**
 * Builds the lookup once per config: each configured token is kept only as its SHA-256 digest. `dstok_` tokens are
 * verified with `secret`; without one they are refused rather than treated as unknown configured tokens.
 */
export function createAuthenticator(grants: TokenGrant[], secret?: string): Authenticator {
  // The CLI refuses an empty secret at startup; this keeps any other caller from verifying tokens anyone can forge.
  if (secret === '') throw new RangeError('An empty secret would let anyone forge dstok_ tokens; pass none to refuse them')
  const table = grants.map(({ token, actor }) => ({ digest: digest(token), actor }))
  const remembered = new RememberedHeaders()
  return function authenticate(authorization) {
    if (authorization === null) return null
    const seen = remembered.find(authorization)
    if (seen) return seen.actor
    const match = /^bearer[ \t]+(.*)$/is.exec(authorization.trim())
    if (!match) return null
    const token = match[1]!.trim()
    if (token.startsWith(TOKEN_PREFIX)) {
      if (secret === undefined) throw new InvalidToken('Signed API tokens are not enabled on this server (start it with --secret or ROWPOST_SECRET)')
      return tokenActor(readToken(secret, token)) as unknown as Actor
    }
    const presented = digest(token)
    let found: Actor = null
    for (const entry of table) {
      if (timingSafeEqual(entry.digest, presented) && found === null) found = entry.actor
    }
    if (found === null) throw new InvalidToken()
    remembered.remember(authorization, found)
    return found
  }
}

/**
 * The login cookie is Datasette's `ds_actor`, in its format (`datasette.sign({"a": actor, "e": base62 expiry}, "actor")`),
 * so a Datasette sharing the secret and the origin shares the login; it holds the actor, not the token.
 */
export const ACTOR_COOKIE = 'ds_actor'
const ACTOR_SALT = 'actor'
const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'

function base62(value: number): string {
  let text = ''
  for (let rest = Math.floor(value); rest > 0; rest = Math.floor(rest / 62)) text = BASE62[rest % 62] + text
  return text || '0'
}

function fromBase62(text: string): number | undefined {
  let value = 0
  for (const char of text) {
    const digit = BASE62.indexOf(char)
    if (digit === -1) return undefined
    value = value * 62 + digit
  }
  return value
}

/** The cookie value that logs `actor` in until `expiresAt` (Unix seconds). */
export function signActorCookie(secret: string, actor: Record<string, unknown>, expiresAt: number): string {
  return signPayload(secret, { a: actor, e: base62(expiresAt) }, ACTOR_SALT)
}

/** The value of one cookie in a Cookie header, or undefined. */
export function cookieValue(header: string | null, name: string): string | undefined {
  if (header === null) return undefined
  for (const part of header.split(';')) {
    const separator = part.indexOf('=')
    if (separator !== -1 && part.slice(0, separator).trim() === name) return part.slice(separator + 1).trim()
  }
  return undefined
}

/**
 * The actor a Cookie header's `ds_actor` names, or null: a missing, tampered, malformed or expired cookie is the
 * anonymous actor, as in Datasette (a browser keeps sending a stale cookie; a 401 on every page would lock it out).
 */
export function actorFromCookie(secret: string | undefined, header: string | null, now = Date.now() / 1000): Actor {
  const value = secret === undefined ? undefined : cookieValue(header, ACTOR_COOKIE)
  if (value === undefined) return null
  let decoded: unknown
  try {
    decoded = unsignPayload(secret!, value, ACTOR_SALT)
  } catch (error) {
    if (error instanceof InvalidToken) return null
    throw error
  }
  if (decoded === null || typeof decoded !== 'object' || Array.isArray(decoded)) return null
  const { a: actor, e: expires } = decoded as { a?: unknown; e?: unknown }
  if (actor === null || typeof actor !== 'object' || Array.isArray(actor)) return null
  if (expires !== undefined && expires !== null) {
    const at = typeof expires === 'string' ? fromBase62(expires) : undefined
    if (at === undefined || now > at) return null
  }
  return actor as Record<string, unknown>
}
