/**
 * The live change feed: GET /<db>/<table>/-/changes as Server-Sent Events (or NDJSON with `?_format=ndjson`), every
 * committed insert, update and delete of the table in commit order, resumable from an event id.
 */
import { Elysia, t } from 'elysia'
import { InvalidQuery } from '../errors'
import type { FeedEvent } from '../feed'
import type { FeedHub, FeedSink } from '../feed-hub'
import type { AppContext } from './context'
import { readAccess } from './read'

/** A subscriber that has this much unsent is dropped rather than kept in memory: it is not reading. */
const MAX_QUEUED_BYTES = 4 * 1024 * 1024
/** Under Bun's 10 s idle timeout, and short enough for proxies that close quiet connections. */
const HEARTBEAT_MS = 5_000

type Format = 'sse' | 'ndjson'

/** How each format writes a change, a gap and a drop. */
const WRITERS: Record<Format, { change(event: FeedEvent): string; gap(json: string): string; drop(json: string): string; heartbeat: string }> = {
  sse: {
    change: (event) => `id: ${event.id}\ndata: ${event.json}\n\n`,
    gap: (json) => `event: gap\ndata: ${json}\n\n`,
    drop: (json) => `event: dropped\ndata: ${json}\n\n`,
    heartbeat: ': keep-alive\n\n',
  },
  ndjson: {
    change: (event) => `${event.json}\n`,
    gap: (json) => `{"gap":${json}}\n`,
    drop: (json) => `{"dropped":${json}}\n`,
    heartbeat: '\n',
  },
}

/** `Last-Event-ID` (an EventSource reconnecting) or `?since=`: the last id the client has. */
function sinceOf(request: Request, query: URLSearchParams): number | undefined {
  const value = request.headers.get('last-event-id') ?? query.get('since')
  if (value === null || value === '') return undefined
  if (!/^\d{1,15}$/.test(value)) throw new InvalidQuery(`since (or Last-Event-ID) must be a change id, a whole number; not ${JSON.stringify(value)}`)
  return Number(value)
}

function formatOf(request: Request, query: URLSearchParams): Format {
  const asked = query.get('_format')
  if (asked === 'ndjson') return 'ndjson'
  if (asked !== null && asked !== 'sse') throw new InvalidQuery(`_format must be sse or ndjson, not ${JSON.stringify(asked)}`)
  if (asked === null && /application\/(x-)?ndjson/.test(request.headers.get('accept') ?? '')) return 'ndjson'
  return 'sse'
}

export function changeRoutes(context: AppContext, hub: FeedHub) {
  const { visibleDatabase, visibleTable } = readAccess(context)
  const encoder = new TextEncoder()

  async function changes(request: Request, params: { database: string; table: string }): Promise<Response> {
    const database = visibleDatabase(request, params.database)
    const table = await visibleTable(request, database, params.table)
    const query = new URL(request.url).searchParams
    const since = sinceOf(request, query)
    const format = formatOf(request, query)
    const write = WRITERS[format]
    let unsubscribe: (() => void) | undefined
    let heartbeat: ReturnType<typeof setInterval> | undefined
    // `closing`: what is queued is still sent, then the stream ends (a drop); `ended`: the client has gone.
    let state: 'open' | 'closing' | 'ended' = 'open'
    const stop = (next: 'closing' | 'ended') => {
      state = next
      clearInterval(heartbeat)
      unsubscribe?.()
      wake?.()
    }
    // Chunks wait here until the client takes them: Bun may move a stream's queued chunks into its own buffer, so
    // what is unsent is counted here, where the feed can give up on a subscriber that is not reading.
    const pending: Uint8Array[] = []
    let pendingBytes = 0
    let wake: (() => void) | undefined
    const body = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          while (pending.length === 0 && state === 'open') await new Promise<void>((resolve) => (wake = resolve))
          const chunk = pending.shift()
          if (chunk) {
            pendingBytes -= chunk.byteLength
            controller.enqueue(chunk)
          } else controller.close()
        },
        cancel: () => stop('ended'),
      },
      { highWaterMark: 0 },
    )
    const enqueue = (text: string) => {
      if (state !== 'open') return
      const chunk = encoder.encode(text)
      pending.push(chunk)
      pendingBytes += chunk.byteLength
      wake?.()
      wake = undefined
    }
    const sink: FeedSink = {
      send(event) {
        enqueue(write.change(event))
        return pendingBytes <= MAX_QUEUED_BYTES
      },
      gap(from, to, reason) {
        enqueue(write.gap(JSON.stringify({ after: from, resumed_after: to, reason })))
      },
      drop(reason) {
        enqueue(write.drop(JSON.stringify({ reason })))
        stop('closing')
      },
    }
    // Something at once, so the headers go out now (Bun sends them with the first chunk) and the client knows it is on.
    enqueue(format === 'sse' ? 'retry: 1000\n\n' : write.heartbeat)
    unsubscribe = await hub.subscribe(database, table.name, sink, since)
    // The client may have gone while the subscription was being made.
    if (state === 'open') heartbeat = setInterval(() => enqueue(write.heartbeat), HEARTBEAT_MS)
    else unsubscribe()
    request.signal.addEventListener('abort', () => stop('ended'), { once: true })
    const type = format === 'sse' ? 'text/event-stream; charset=utf-8' : 'application/x-ndjson; charset=utf-8'
    return new Response(body, { headers: { 'content-type': type, 'cache-control': 'no-store', 'x-accel-buffering': 'no' } })
  }

  return new Elysia({ name: 'rowpost-changes' }).get('/:database/:table/-/changes', ({ request, params }) => changes(request, params), {
    params: t.Object({ database: t.String(), table: t.String() }),
    query: t.Object({ since: t.Optional(t.String()), _format: t.Optional(t.String()) }, { additionalProperties: true }),
    detail: {
      summary: 'Every committed insert, update and delete of a table, as they commit: Server-Sent Events, or NDJSON with _format=ndjson',
    },
  })
}
