/** Bulk uploads: NDJSON, CSV and TSV request bodies spooled to a temporary file, then written into a table as one transaction. */
import type { CachedConnection, RowpostDatabase } from '../database'
import { ClientDisconnected, InvalidBody, PayloadTooLarge } from '../errors'
import { delimitedRows, ndjsonRows, RowSizeLimit } from '../ingest'
import { spoolBody } from '../spool'
import { StreamWriter, type StreamTarget } from '../stream-writer'
import type { AppContext } from './context'

export type StreamFormat = 'ndjson' | 'csv' | 'tsv'

const FORMATS: Record<string, StreamFormat> = {
  'application/x-ndjson': 'ndjson',
  'application/ndjson': 'ndjson',
  'application/jsonl': 'ndjson',
  'application/x-jsonlines': 'ndjson',
  'text/csv': 'csv',
  'text/tab-separated-values': 'tsv',
}

/** The streamed format a request's Content-Type names, or null for a JSON body (whatever else it says). */
export function streamFormat(request: Request): StreamFormat | null {
  const mediaType = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase()
  return FORMATS[mediaType] ?? null
}

export interface StreamResult {
  rows: number
  tableName: string
  tableCount: number
}

/**
 * Receives the whole body into a temporary file first, under the size, row-length and pace limits, holding no lock
 * while the client sends; then writes it from the file as one transaction. A slow client thus delays only itself.
 */
export async function ingestStream(
  context: AppContext,
  request: Request,
  database: RowpostDatabase,
  format: StreamFormat,
  target: StreamTarget,
): Promise<StreamResult> {
  const { settings } = context
  const limit = settings.max_stream_bytes || undefined
  const declared = Number(request.headers.get('content-length'))
  if (limit !== undefined && Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge(limit)
  if (request.headers.has('idempotency-key')) {
    throw new InvalidBody('Idempotency-Key is not supported on streamed (NDJSON/CSV/TSV) uploads; send JSON to use it')
  }
  const delimiter = format === 'ndjson' ? undefined : format === 'csv' ? ',' : '\t'
  const rowLimit = new RowSizeLimit(settings.max_stream_row_bytes, delimiter)
  const body = request.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
  const spooled = await spoolBody(body, {
    maxBytes: limit,
    minBytesPerSecond: settings.min_stream_bytes_per_second,
    windowSeconds: settings.stream_window_seconds,
    check: (chunk) => rowLimit.check(chunk),
  })
  try {
    if (request.signal.aborted) throw new ClientDisconnected()
    const batches = delimiter === undefined ? ndjsonRows(spooled.chunks()) : delimitedRows(spooled.chunks(), delimiter)
    const written = (writer: CachedConnection, stream: StreamWriter) => {
      const table = stream.finish() ?? writer.table(target.table)
      return { rows: stream.rows, tableName: table?.name ?? target.table, tableCount: table ? writer.countRows(table.name) : 0 }
    }
    // A memory database is read through its writer, so its write must not yield before COMMIT: one synchronous step.
    if (database.reader === database.writer) {
      return await database.write((writer) => {
        const stream = new StreamWriter(writer, target)
        for (const batch of batches) stream.write(batch)
        return written(writer, stream)
      })
    }
    // A file database has a separate reader: yielding between batches keeps reads served during a long write.
    return await database.writeExclusive(async (writer) => {
      const stream = new StreamWriter(writer, target)
      for (const batch of batches) {
        stream.write(batch)
        await new Promise((resolve) => setImmediate(resolve))
      }
      return written(writer, stream)
    })
  } finally {
    spooled.close()
  }
}
