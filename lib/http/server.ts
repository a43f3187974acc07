/** Serves the app on a socket: one request id, one log line (never a token) and one metrics entry per request. */
import { formatLogLine, type LogFormat } from '../ops/log-line'
import { requestIdOf } from '../ops/request-id'
import { recordRequest, type RequestRecord } from '../ops/request-record'
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
  /** `text` (default) or `json`, one object per line. */
  logFormat?: LogFormat
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
  const format = formatLogLine(options.logFormat ?? 'text')
  const metrics = app.metrics
  const server = Bun.serve({
    port: options.port,
    hostname: options.host,
    // rowpost enforces max_post_body_bytes itself, with a JSON 413; Bun's own cap would answer first in text.
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: IDLE_TIMEOUT_SECONDS,
    async fetch(request, server) {
      const started = performance.now()
      const record: RequestRecord = { id: requestIdOf(request.headers.get('x-request-id')), route: 'unmatched', rowsWritten: 0 }
      // Bun's idle timer is not re-armed by body data: it would cut any upload longer than idleTimeout, however fast.
      // A streamed upload is paced by its own rate rule (lib/spool.ts) instead; the timer is back for the idle connection.
      const streamed = streamFormat(request) !== null
      if (streamed) server.timeout(request, 0)
      recordRequest(request, record)
      metrics.inFlight++
      let response: Response
      try {
        response = await app.handle(request)
      } finally {
        metrics.inFlight--
      }
      if (streamed) server.timeout(request, IDLE_TIMEOUT_SECONDS)
      const durationMs = performance.now() - started
      response.headers.set('x-request-id', record.id)
      const replayed = response.headers.get('idempotent-replayed') === 'true'
      metrics.answered({ method: request.method, route: record.route, status: response.status, durationMs, errorCode: record.errorCode, replayed })
      log(
        format({
          time: new Date(),
          method: request.method,
          path: pathOf(request.url),
          status: response.status,
          durationMs,
          actor: app.context.actorIdOf(request),
          rowsWritten: record.rowsWritten,
          requestId: record.id,
          disconnected: request.signal.aborted,
        }),
      )
      return response
    },
  })
  return { server, flushLog: stdout.flush }
}
