/** Resolves an Authorization header to an actor, comparing token digests in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { InvalidToken } from './errors'
import type { TokenGrant } from './config'
import type { Actor } from './permissions'

const digest = (token: string) => createHash('sha256').update(token).digest()

export type Authenticator = (authorization: string | null) => Actor

/** Builds the lookup once per config: each token is kept only as its SHA-256 digest. */
export function createAuthenticator(grants: TokenGrant[]): Authenticator {
  const table = grants.map(({ token, actor }) => ({ digest: digest(token), actor }))
  return function authenticate(authorization) {
    if (authorization === null) return null
    const match = /^bearer[ \t]+(.*)$/is.exec(authorization.trim())
    if (!match) return null
    const presented = digest(match[1]!.trim())
    let found: Actor = null
    for (const entry of table) {
      if (timingSafeEqual(entry.digest, presented) && found === null) found = entry.actor
    }
    if (found === null) throw new InvalidToken()
    return found
  }
}
