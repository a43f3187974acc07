/** Serves the app on a socket, logging one line per request (never a token) and shutting down gracefully. */
import type { RowpostApp } from './app'
import { pathOf } from './app'

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
    async fetch(request) {
      const started = performance.now()
      const response = await app.handle(request)
      const elapsed = (performance.now() - started).toFixed(1)
      const actor = app.context.actorIdOf(request) ?? '-'
      log(`${new Date().toISOString()} ${request.method} ${pathOf(request.url)} ${response.status} ${elapsed}ms actor=${actor}`)
      return response
    },
  })
  return { server, flushLog: stdout.flush }
}
