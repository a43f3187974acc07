/** Bulk uploads: NDJSON, CSV and TSV request bodies spooled to a temporary file, then written into a table as one transaction. */
import { ClientDisconnected, InvalidBody, PayloadTooLarge } from '../errors'
import { delimitedRows, ndjsonRows, RowSizeLimit } from '../ingest'
import { spoolBody } from '../spool'
import { StreamWriter, type StreamTarget } from '../stream-writer'
import { countRows, table as lookUp } from '../store/path'
import type { Store } from '../store/store'
import { requestRecordOf } from '../ops/request-record'
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
export async function ingestStream(context: AppContext, request: Request, database: Store, format: StreamFormat, target: StreamTarget): Promise<StreamResult> {
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
    return await database.writeStream(async (run) => {
      const stream = new StreamWriter(target)
      for (const batch of batches) await run((s) => stream.writePath(s, batch))
      return run(function* (s) {
        const table = (yield* stream.finishPath(s)) ?? (yield* lookUp(target.table))
        return { rows: stream.rows, tableName: table?.name ?? target.table, tableCount: table ? yield* countRows(table.name) : 0 }
      })
    }, requestRecordOf(request))
  } finally {
    spooled.close()
  }
}
