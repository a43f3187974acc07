/** Bulk uploads: NDJSON, CSV and TSV request bodies streamed into a table in constant memory, as one transaction. */
import type { RowpostDatabase } from '../database'
import { InvalidBody, PayloadTooLarge } from '../errors'
import { delimitedRows, ndjsonRows, type IngestBatch } from '../ingest'
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

/** Reads the body batch by batch and writes each batch before reading on; any failure rolls back the whole upload. */
export async function ingestStream(
  context: AppContext,
  request: Request,
  database: RowpostDatabase,
  format: StreamFormat,
  target: StreamTarget,
): Promise<StreamResult> {
  const limit = context.settings.max_stream_bytes || undefined
  const declared = Number(request.headers.get('content-length'))
  if (limit !== undefined && Number.isFinite(declared) && declared > limit) throw new PayloadTooLarge(limit)
  if (request.headers.has('idempotency-key')) {
    throw new InvalidBody('Idempotency-Key is not supported on streamed (NDJSON/CSV/TSV) uploads; send JSON to use it')
  }
  const body = request.body ?? new ReadableStream<Uint8Array>({ start: (controller) => controller.close() })
  const batches: AsyncGenerator<IngestBatch> =
    format === 'ndjson' ? ndjsonRows(body, { maxBytes: limit }) : delimitedRows(body, { delimiter: format === 'csv' ? ',' : '\t', maxBytes: limit })
  return database.writeExclusive(async (writer) => {
    const stream = new StreamWriter(writer, target)
    for await (const batch of batches) stream.write(batch)
    const table = stream.finish() ?? writer.table(target.table)
    return { rows: stream.rows, tableName: table?.name ?? target.table, tableCount: table ? writer.countRows(table.name) : 0 }
  })
}
