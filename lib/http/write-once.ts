/** The one way write routes commit and answer: the response is computed inside the transaction, and stored there for Idempotency-Key retries. */
import { IdempotencyStore, idempotentRequest } from '../idempotency'
import { stringifyJson } from '../json'
import type { Actor } from '../permissions'
import type { Path, Session } from '../store/path'
import { SqliteConnection } from '../store/sqlite/connection'
import type { Store } from '../store/store'
import type { AppContext } from './context'
import { jsonTextResponse } from './respond'
import { requestRecordOf } from '../ops/request-record'

/**
 * Whose keys these are: the actor's id, and a signed token's restrictions too, so a token restricted to less than its
 * actor may hold cannot be answered with what a fuller token of the same actor stored.
 */
function keyScope(actor: Actor): string {
  if (actor === null) return ''
  const id = stringifyJson(actor.id ?? actor)
  return actor._r === undefined ? id : `${id}\n${stringifyJson(actor._r)}`
}

export interface WriteOutcome {
  status: number
  body: unknown
}

/** Synchronous work on SQLite's writer as a path, for the routes only SQLite serves (their databases come from context.sqliteDatabase). */
export function onSqlite(work: (writer: SqliteConnection) => WriteOutcome): (s: Session) => Path<WriteOutcome> {
  return function* (s) {
    if (!(s instanceof SqliteConnection)) throw new Error('a SQLite-only route ran on another store')
    // These routes run statements on the raw connection, outside the path's count of changed rows.
    const before = s.totalChanges()
    try {
      return work(s)
    } finally {
      s.noteChanges(s.totalChanges() - before)
    }
  }
}

export function createWriteResponder(context: AppContext) {
  const store = new IdempotencyStore(context.settings.idempotency_key_ttl)
  const describe = (request: Request, bodyText: string) => {
    const header = request.headers.get('idempotency-key')
    if (header === null) return null
    const target = request.url.slice(request.url.indexOf('/', request.url.indexOf('//') + 2))
    return idempotentRequest(header, keyScope(context.actorOf(request)), request.method, target, bodyText)
  }
  const replay = (body: string, status: number) => jsonTextResponse(body, status, { 'idempotent-replayed': 'true' })

  /** A committed response stored for this request's Idempotency-Key, if any: for when the request cannot run again. */
  async function storedResponse(request: Request, database: Store, bodyText: string): Promise<Response | undefined> {
    const idempotent = describe(request, bodyText)
    const stored = idempotent ? await database.readPath((s) => store.findPath(s, idempotent)) : undefined
    return stored ? replay(stored.body, stored.status) : undefined
  }

  /**
   * Runs `work` as the request's transaction and answers with what it returns. With an Idempotency-Key, a retry of
   * the same request by the same actor gets the stored answer (marked `Idempotent-Replayed: true`) and writes nothing.
   */
  async function writeOnce(request: Request, database: Store, bodyText: string, work: (s: Session) => Path<WriteOutcome>): Promise<Response> {
    const idempotent = describe(request, bodyText)
    if (!idempotent) {
      // No answer to store: the work runs as the path itself, one generator fewer on every write.
      const { status, body } = await database.writePath(work, requestRecordOf(request))
      return jsonTextResponse(stringifyJson(body), status)
    }
    const outcome = await database.writePath(function* (s) {
      const stored = yield* store.lookupPath(s, idempotent)
      if (stored) return { ...stored, replayed: true }
      const { status, body } = yield* work(s)
      const text = stringifyJson(body)
      yield* store.storePath(s, idempotent, { status, body: text })
      return { status, body: text, replayed: false }
    }, requestRecordOf(request))
    if (outcome.replayed) return replay(outcome.body, outcome.status)
    return jsonTextResponse(outcome.body, outcome.status)
  }

  return Object.assign(writeOnce, { storedResponse })
}

export type WriteResponder = ReturnType<typeof createWriteResponder>
