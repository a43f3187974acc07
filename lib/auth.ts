/** Resolves an Authorization header to an actor, comparing token digests in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { InvalidToken } from './errors'
import type { TokenGrant } from './config'
import type { Actor } from './permissions'
import { readToken, tokenActor, TOKEN_PREFIX } from './signed-tokens'

const digest = (token: string) => createHash('sha256').update(token).digest()

export type Authenticator = (authorization: string | null) => Actor

/**
 * Builds the lookup once per config: each configured token is kept only as its SHA-256 digest. `dstok_` tokens are
 * verified with `secret`; without one they are refused rather than treated as unknown configured tokens.
 */
export function createAuthenticator(grants: TokenGrant[], secret?: string): Authenticator {
  // The CLI refuses an empty secret at startup; this keeps any other caller from verifying tokens anyone can forge.
  if (secret === '') throw new RangeError('An empty secret would let anyone forge dstok_ tokens; pass none to refuse them')
  const table = grants.map(({ token, actor }) => ({ digest: digest(token), actor }))
  return function authenticate(authorization) {
    if (authorization === null) return null
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
    return found
  }
}
