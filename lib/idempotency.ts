/** Idempotency-Key support: the first response for a key is stored with the request's rows and replayed to retries. */
import { createHash } from 'node:crypto'
import type { CachedConnection } from './database'
import { ApiError, InvalidBody } from './errors'
import { INTERNAL_TABLE_PREFIX, quoteIdentifier } from './identifiers'

const TABLE = quoteIdentifier(`${INTERNAL_TABLE_PREFIX}idempotency`)
const CREATED_INDEX = quoteIdentifier(`${INTERNAL_TABLE_PREFIX}idempotency_created`)
const MAX_KEY_LENGTH = 255
/**
 * Expired keys removed by one keyed write. Each write adds one key and removes up to this many, so a backlog (a
 * burst of keys expiring together) drains in bounded steps instead of stalling one request.
 */
const PURGE_BATCH = 100

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

/** Runs inside the write transaction, so a stored response exists exactly when the request's rows do. */
export class IdempotencyStore {
  constructor(private readonly ttlSeconds: number) {}

  /** Also adds the index on `created` to tables made before it existed. */
  private ensureTable(writer: CachedConnection): void {
    writer.run(
      `CREATE TABLE IF NOT EXISTS ${TABLE} (actor TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (actor, key)) WITHOUT ROWID`,
    )
    writer.run(`CREATE INDEX IF NOT EXISTS ${CREATED_INDEX} ON ${TABLE} (created)`)
  }

  /** The stored response for this key, or undefined when the key is new (or expired); a different request with it is a 422. */
  lookup(writer: CachedConnection, request: IdempotentRequest, now = Date.now()): StoredResponse | undefined {
    this.ensureTable(writer)
    return this.find(writer, request, now)
  }

  /**
   * lookup on any connection, without creating the table: on the reader it finds only committed responses, for a
   * retry whose first attempt removed its own target (a delete, a drop, an update that changed the key).
   */
  find(connection: CachedConnection, request: IdempotentRequest, now = Date.now()): StoredResponse | undefined {
    let row: { fingerprint: string; status: number; body: string } | null
    try {
      row = connection
        .statement(`SELECT fingerprint, status, body FROM ${TABLE} WHERE actor = ? AND key = ? AND created > ?`)
        .get(request.actor, request.key, now - this.ttlSeconds * 1000) as typeof row
    } catch (error) {
      if (/no such table/.test((error as Error).message)) return undefined
      throw error
    }
    if (!row) return undefined
    if (row.fingerprint !== request.fingerprint) throw new IdempotencyKeyReused()
    return { status: row.status, body: row.body }
  }

  store(writer: CachedConnection, request: IdempotentRequest, response: StoredResponse, now = Date.now()): void {
    // The table is WITHOUT ROWID: its key, found through the index on created, names the rows to delete.
    writer
      .statement(`DELETE FROM ${TABLE} WHERE (actor, key) IN (SELECT actor, key FROM ${TABLE} WHERE created <= ? ORDER BY created LIMIT ${PURGE_BATCH})`)
      .run(now - this.ttlSeconds * 1000)
    writer
      .statement(`INSERT OR REPLACE INTO ${TABLE} (actor, key, fingerprint, status, body, created) VALUES (?, ?, ?, ?, ?, ?)`)
      .run(request.actor, request.key, request.fingerprint, response.status, response.body, now)
  }
}
