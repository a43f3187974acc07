/** Idempotency-Key support: the first response for a key is stored with the request's rows and replayed to retries. */
import { createHash } from 'node:crypto'
import { ApiError, InvalidBody } from './errors'
import { exec, get, run, RunAgain, statementOf, type Path, type Session } from './store/path'

const MAX_KEY_LENGTH = 255

/** The same key was sent again, by the same actor, with a different request. */
export class IdempotencyKeyReused extends ApiError {
  constructor() {
    super(422, 'idempotency_key_reused', 'This Idempotency-Key was already used for a different request; use a new key for a new request')
  }
}

export interface StoredResponse {
  status: number
  body: string
}

/** What identifies one request for replay: who sent it, the key, and a digest of method, path, query and body. */
export interface IdempotentRequest {
  actor: string
  key: string
  fingerprint: string
}

/** Reads and checks the header; null when the request has none. */
export function idempotentRequest(header: string | null, actor: string, method: string, target: string, body: string): IdempotentRequest | null {
  if (header === null) return null
  const key = header.trim()
  if (key === '' || key.length > MAX_KEY_LENGTH || !/^[\x21-\x7e]+$/.test(key)) {
    throw new InvalidBody(`Idempotency-Key must be 1 to ${MAX_KEY_LENGTH} visible ASCII characters`)
  }
  const fingerprint = createHash('sha256').update(`${method}\n${target}\n`).update(body).digest('hex')
  return { actor, key, fingerprint }
}

/**
 * Runs inside the write transaction, so a stored response exists exactly when the request's rows do. Each method is
 * a path (lib/store/path.ts); its SQL, table included, comes from the session's dialect.
 */
export class IdempotencyStore {
  constructor(private readonly ttlSeconds: number) {}

  /** The stored response for this key, or undefined when the key is new (or expired); a different request with it is a 422. */
  *lookupPath(s: Session, request: IdempotentRequest, now = Date.now()): Path<StoredResponse | undefined> {
    for (const sql of s.dialect.idempotency.create) yield* exec(sql)
    const { lock } = s.dialect.idempotency
    if (lock) yield* get(statementOf(lock), [`${request.actor}\n${request.key}`])
    return yield* this.findPath(s, request, now)
  }

  /**
   * lookup on any connection, without creating the table: on the reader it finds only committed responses, for a
   * retry whose first attempt removed its own target (a delete, a drop, an update that changed the key).
   */
  *findPath(s: Session, request: IdempotentRequest, now = Date.now()): Path<StoredResponse | undefined> {
    let row: { fingerprint: string; status: number; body: string } | null
    try {
      row = yield* get(statementOf(s.dialect.idempotency.find), [request.actor, request.key, now - this.ttlSeconds * 1000])
    } catch (error) {
      if (s.dialect.isMissingTable(error)) return undefined
      throw error
    }
    if (!row) return undefined
    if (row.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused()
    return { status: row.status, body: row.body }
  }

  *storePath(s: Session, request: IdempotentRequest, response: StoredResponse, now = Date.now()): Path<void> {
    yield* run(statementOf(s.dialect.idempotency.purge), [now - this.ttlSeconds * 1000])
    const { actor, key, fingerprint } = request
    const ttl = this.ttlSeconds * 1000
    const stored = yield* run(statementOf(s.dialect.idempotency.store), [actor, key, fingerprint, response.status, response.body, now, ttl])
    // A live row for this key appeared after the lookup: another process answered the same request first.
    if (stored.changes === 0) throw new RunAgain('another process stored an answer for this Idempotency-Key')
  }
}
