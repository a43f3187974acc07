/** Serves the app on a socket, logging one line per request (never a token) and shutting down gracefully. */
import type { RowpostApp } from './app'
import { pathOf } from './app'
import { streamFormat } from './stream'

/** Bun's default: how long a connection may sit idle, or a request other than a streamed upload take to arrive. */
const IDLE_TIMEOUT_SECONDS = 10

export interface ServeOptions {
  port: number
  host: string
  /** Where request lines go; stdout by default. */
  log?: (line: string) => void
}

/** Request lines go to stdout in one write per event-loop turn rather than one per request (a write per request halved throughput). */
function batchedStdout() {
  let pending = ''
  const flush = () =>
    new Promise<void>((resolve) => {
      const text = pending
      pending = ''
      if (text === '') resolve()
      else process.stdout.write(text, () => resolve())
    })
  const log = (line: string) => {
    if (pending === '') setImmediate(flush)
    pending += `${line}\n`
  }
  return { log, flush }
}

/** Starts listening; `flushLog` writes out request lines still buffered (call it before exiting). */
export function serve(app: RowpostApp, options: ServeOptions) {
  const stdout = batchedStdout()
  const log = options.log ?? stdout.log
  const server = Bun.serve({
    port: options.port,
    hostname: options.host,
    // rowpost enforces max_post_body_bytes itself, with a JSON 413; Bun's own cap would answer first in text.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    async fetch(request, server) {
      const started = performance.now()
      // Bun's idle timer is not re-armed by body data: it would cut any upload longer than idleTimeout, however fast.
      // A streamed upload is paced by its own rate rule (lib/spool.ts) instead; the timer is back for the idle connection.
      const streamed = streamFormat(request) !== null
      if (streamed) server.timeout(request, 0)
      const response = await app.handle(request)
      if (streamed) server.timeout(request, IDLE_TIMEOUT_SECONDS)
      const elapsed = (performance.now() - started).toFixed(1)
      const actor = app.context.actorIdOf(request) ?? '-'
      const gone = request.signal.aborted ? ' client disconnected' : ''
      log(`${new Date().toISOString()} ${request.method} ${pathOf(request.url)} ${response.status} ${elapsed}ms actor=${actor}${gone}`)
      return response
    },
  })
  return { server, flushLog: stdout.flush }
}
