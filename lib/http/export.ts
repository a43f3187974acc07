/** Table exports as Datasette sends them: `.csv` and `.tsv` (one page, or every row with `_stream=on`), and streamed NDJSON. */
import { csvChunks, csvText, textStream, type Delimiter } from '../csv'
import type { TableInfo } from '../database'
import type { Store } from '../store/store'
import { InvalidQuery } from '../errors'
import { tableBatches } from '../export'
import { queryFlag } from '../flags'
import { readTableValues, type PageRequest } from '../reader'
import { rowObjectsJson, rowsNdjson, type SqlValue } from '../values'

export type ExportFormat = 'csv' | 'tsv' | 'ndjson'

const DELIMITERS: Record<'csv' | 'tsv', Delimiter> = { csv: ',', tsv: '\t' }

const DOWNLOAD_TYPES: Record<ExportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  tsv: 'text/tab-separated-values; charset=utf-8',
  ndjson: 'application/x-ndjson; charset=utf-8',
}

/** The table segment of a `.csv` or `.tsv` path and its format; undefined for any other segment. */
export function exportSegment(segment: string): { name: string; format: 'csv' | 'tsv' } | undefined {
  const match = /^(.*)\.(csv|tsv)$/.exec(segment)
  return match ? { name: match[1]!, format: match[2] as 'csv' | 'tsv' } : undefined
}

/**
 * Datasette's `attachment; filename="<table>.csv"`; a name a quoted header value cannot carry as it is (quotes,
 * backslashes, control or non-ASCII characters) falls back to underscores there, with the exact name in RFC 6266's
 * `filename*`.
 */
export function contentDisposition(table: string, extension: string): string {
  const file = `${table}.${extension}`
  if (/^[\x20-\x7e]*$/.test(file) && !/["\\]/.test(file)) return `attachment; filename="${file}"`
  const fallback = file.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `attachment; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(file)}`
}

/** One NDJSON line per row, each the JSON API's object for it. */
const ndjsonLines = (columns: string[], rows: readonly SqlValue[][]) => rowsNdjson(rows, rowObjectsJson(columns))

async function* ndjsonChunks(columns: string[], batches: AsyncIterable<SqlValue[][]>): AsyncGenerator<string> {
  for await (const batch of batches) if (batch.length > 0) yield ndjsonLines(columns, batch)
}

/**
 * A table's rows as CSV, TSV or NDJSON, with the filters and sort already in `page`. Without `_stream`, one page of
 * `page.size` rows (Datasette's rule for CSV); with it, every row, read in batches of max_returned_rows as the client
 * takes them. Plain text unless `_dl` asks for a download, as in Datasette.
 */
export async function tableExport(
  request: Request,
  database: Store,
  table: TableInfo,
  format: ExportFormat,
  page: PageRequest,
  batchSize: number,
): Promise<Response> {
  const query = new URL(request.url).searchParams
  const stream = queryFlag(query.get('_stream'))
  if (stream && query.get('_next')) throw new InvalidQuery('_next not allowed for CSV streaming')
  const download = queryFlag(query.get('_dl'))
  const headers: Record<string, string> = {
    'content-type': download ? DOWNLOAD_TYPES[format] : format === 'ndjson' ? DOWNLOAD_TYPES.ndjson : 'text/plain; charset=utf-8',
  }
  if (download) headers['content-disposition'] = contentDisposition(table.name, format)
  const options = { delimiter: format === 'ndjson' ? undefined : DELIMITERS[format], header: query.get('_header') !== 'off' }
  if (!stream) {
    const { columns, rows } = await readTableValues(database, table, page)
    return new Response(format === 'ndjson' ? ndjsonLines(columns, rows) : csvText(columns, rows, options), { headers })
  }
  const { first, batches } = await tableBatches(database, table, { ...page, size: batchSize })
  const chunks = format === 'ndjson' ? ndjsonChunks(first.columns, batches) : csvChunks(first.columns, batches, options)
  return new Response(textStream(chunks), { headers })
}
