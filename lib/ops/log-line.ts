/** The request log line, as text (`time method path status duration actor=...`) or one JSON object (`--log-format json`). */

export type LogFormat = 'text' | 'json'
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json']

/** What a line says about a request: never its query string, headers or body, where tokens and secrets travel. */
export interface RequestLogEntry {
  time: Date
  method: string
  path: string
  status: number
  durationMs: number
  /** The actor's id, `(no id)`, or null when anonymous. */
  actor: string | null
  rowsWritten: number
  requestId: string
  /** The client went away before the answer was sent. */
  disconnected: boolean
}

function textLine(entry: RequestLogEntry): string {
  const gone = entry.disconnected ? ' client disconnected' : ''
  return `${entry.time.toISOString()} ${entry.method} ${entry.path} ${entry.status} ${entry.durationMs.toFixed(1)}ms actor=${entry.actor ?? '-'}${gone}`
}

function jsonLine(entry: RequestLogEntry): string {
  return JSON.stringify({
    time: entry.time.toISOString(),
    method: entry.method,
    path: entry.path,
    status: entry.status,
    duration_ms: Math.round(entry.durationMs * 1000) / 1000,
    actor: entry.actor,
    rows_written: entry.rowsWritten,
    request_id: entry.requestId,
    ...(entry.disconnected ? { client_disconnected: true } : {}),
  })
}

export const formatLogLine = (format: LogFormat): ((entry: RequestLogEntry) => string) => (format === 'json' ? jsonLine : textLine)
