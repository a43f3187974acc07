/** Serves an app in this process on a real socket (request records, logs and metrics live in the server's fetch), for the ops tests. */
import { afterEach } from 'bun:test'
import type { LogFormat } from '../lib/ops/log-line'
import { serve } from '../lib/http/server'
import { makeApp, type TestApp } from './helpers'

export interface ServedApp extends TestApp {
  url: string
  /** Request log lines written so far. */
  lines: string[]
}

const served: Array<{ stop(force: boolean): unknown }> = []
afterEach(() => {
  for (const server of served.splice(0)) server.stop(true)
})

/** A fresh app (see makeApp) behind serve() on port 0; stopped after the test. */
export function serveApp(options: Parameters<typeof makeApp>[0] & { logFormat?: LogFormat } = {}): ServedApp {
  const t = makeApp(options)
  const lines: string[] = []
  const { server } = serve(t.app, { port: 0, host: '127.0.0.1', log: (line) => lines.push(line), logFormat: options.logFormat })
  served.push(server)
  return { ...t, url: `http://127.0.0.1:${server.port}`, lines }
}
