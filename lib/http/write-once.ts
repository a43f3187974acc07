/** The one way write routes commit and answer: the response is computed inside the transaction, and stored there for Idempotency-Key retries. */
import type { CachedConnection, RowpostDatabase } from '../database'
import { IdempotencyStore, idempotentRequest } from '../idempotency'
import { stringifyJson } from '../json'
import type { AppContext } from './context'

export interface WriteOutcome {
  status: number
  body: unknown
}

const JSON_TYPE = 'application/json; charset=utf-8'

export function createWriteResponder(context: AppContext) {
  const store = new IdempotencyStore(context.settings.idempotency_key_ttl)
  /**
   * Runs `work` as the request's transaction and answers with what it returns. With an Idempotency-Key, a retry of
   * the same request by the same actor gets the stored answer (marked `Idempotent-Replayed: true`) and writes nothing.
   */
  return async function writeOnce(
    request: Request,
    database: RowpostDatabase,
    bodyText: string,
    work: (writer: CachedConnection) => WriteOutcome,
  ): Promise<Response> {
    const actor = context.actorOf(request)
    const target = request.url.slice(request.url.indexOf('/', request.url.indexOf('//') + 2))
    const idempotent = idempotentRequest(
      request.headers.get('idempotency-key'),
      actor === null ? '' : stringifyJson(actor.id ?? actor),
      request.method,
      target,
      bodyText,
    )
    const outcome = await database.write((writer) => {
      const stored = idempotent && store.lookup(writer, idempotent)
      if (stored) return { ...stored, replayed: true }
      const { status, body } = work(writer)
      const text = stringifyJson(body)
      if (idempotent) store.store(writer, idempotent, { status, body: text })
      return { status, body: text, replayed: false }
    })
    const headers: Record<string, string> = { 'content-type': JSON_TYPE }
    if (outcome.replayed) headers['idempotent-replayed'] = 'true'
    return new Response(outcome.body, { status: outcome.status, headers })
  }
}

export type WriteResponder = ReturnType<typeof createWriteResponder>
