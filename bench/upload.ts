/** W4's client, run as its own process: streams BYTES of generated NDJSON or CSV rows to URL, produced lazily by a generator. */
// Usage: bun bench/upload.ts URL ndjson|csv BYTES TIMEOUT_SECONDS [TOKEN]
// Prints one JSON line: { ok, status, answer, rows, bytes, seconds } or { ok: false, error, rows, bytes, seconds }.
import { CSV_HEADER, csvRow, jsonRow } from './rows'

const [url, format, bytesArg, timeoutArg, token] = process.argv.slice(2)
const limit = Number(bytesArg)
const ROWS_PER_CHUNK = 8192

let rows = 0
let bytes = 0

/** About `limit` bytes of whole rows, one chunk of ROWS_PER_CHUNK rows at a time, generated only when fetch asks for more. */
async function* body(): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder()
  const row = format === 'csv' ? csvRow : jsonRow
  let id = 1
  let pending = format === 'csv' ? `${CSV_HEADER}\n` : ''
  while (bytes < limit) {
    const lines: string[] = []
    for (let i = 0; i < ROWS_PER_CHUNK; i++) lines.push(row(id++))
    const chunk = encoder.encode(`${pending}${lines.join('\n')}\n`)
    pending = ''
    bytes += chunk.byteLength
    rows += ROWS_PER_CHUNK
    yield chunk
  }
}

const headers: Record<string, string> = { 'content-type': format === 'csv' ? 'text/csv' : 'application/x-ndjson' }
if (token) headers.authorization = `Bearer ${token}`
const started = performance.now()
const seconds = () => (performance.now() - started) / 1000
try {
  const response = await fetch(url!, {
    method: 'POST',
    headers,
    body: body() as unknown as RequestInit['body'],
    signal: AbortSignal.timeout(Number(timeoutArg) * 1000),
  })
  const answer = await response.text()
  console.log(JSON.stringify({ ok: response.ok, status: response.status, answer: answer.slice(0, 300), rows, bytes, seconds: seconds() }))
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String((error as Error).message ?? error), rows, bytes, seconds: seconds() }))
}
