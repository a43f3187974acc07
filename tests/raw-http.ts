/** Raw HTTP/1.1 over a socket, for requests whose Host header must be exactly what the test says (fetch may rewrite it). */
import type { RowpostApp } from '../lib/http/app'
import { serve } from '../lib/http/server'

export interface RawRequest {
  method: string
  /** The request target, sent verbatim. */
  target: string
  /** The Host header's value; null sends none. */
  host: string | null
  headers?: Record<string, string>
  body?: string
}

export interface RawResponse {
  status: number
  /** Header names in lower case. */
  headers: Record<string, string>
  body: string
}

function decodeChunked(body: string): string {
  let decoded = ''
  let at = 0
  for (;;) {
    const lineEnd = body.indexOf('\r\n', at)
    const size = Number.parseInt(body.slice(at, lineEnd), 16)
    if (!(size > 0)) return decoded
    decoded += body.slice(lineEnd + 2, lineEnd + 2 + size)
    at = lineEnd + 2 + size + 2
  }
}

/** Sends one request with `Connection: close` and reads the answer to the end. */
export async function rawRequest(port: number, request: RawRequest): Promise<RawResponse> {
  const body = request.body ?? ''
  const lines = [`${request.method} ${request.target} HTTP/1.1`]
  if (request.host !== null) lines.push(`Host: ${request.host}`)
  for (const [name, value] of Object.entries(request.headers ?? {})) lines.push(`${name}: ${value}`)
  lines.push('Connection: close', `Content-Length: ${Buffer.byteLength(body)}`, '', body)
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = []
    const timer = setTimeout(() => reject(new Error(`no answer to ${lines[0]} with Host ${request.host}`)), 5_000)
    const done = () => {
      clearTimeout(timer)
      resolve(Buffer.concat(chunks).toString('utf8'))
    }
    void Bun.connect({
      hostname: '127.0.0.1',
      port,
      socket: {
        open: (socket) => void socket.write(lines.join('\r\n')),
        data: (_socket, data) => void chunks.push(Buffer.from(data)),
        close: done,
        error: done,
      },
    }).catch(reject)
  })
  const split = text.indexOf('\r\n\r\n')
  const [statusLine, ...headerLines] = text.slice(0, split).split('\r\n')
  const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
  const rest = text.slice(split + 4)
  const chunked = headers['transfer-encoding'] === 'chunked'
  return { status: Number(statusLine!.split(' ')[1]), headers, body: chunked ? decodeChunked(rest) : rest }
}

/** The app on a real Bun.serve at port 0 of 127.0.0.1, with its request log lines kept in `log`. */
export function serveInProcess(app: RowpostApp) {
  const log: string[] = []
  const { server } = serve(app, { port: 0, host: '127.0.0.1', log: (line) => log.push(line) })
  return { port: server.port!, log, stop: () => server.stop(true) }
}

/** The path a request log line names (lines are `time method path status duration actor=...`). */
export const loggedPath = (line: string) => line.split(' ')[2]
