/** How one stored value looks on a page: NULL as such, BLOBs as sizes with a download link, JSON pretty-printed, long text folded. */
import { FloatLiteral } from '../json'
import { html, isolate, type Html } from './html'

/** Characters of text shown before the rest is folded behind an expander. */
export const FOLD_AT = 300

const BYTE_UNITS = ['bytes', 'KB', 'MB', 'GB'] as const

export function byteSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} ${bytes === 1 ? 'byte' : 'bytes'}`
  let size = bytes
  let unit = 0
  while (size >= 1024 && unit < BYTE_UNITS.length - 1) {
    size /= 1024
    unit++
  }
  return `${size.toFixed(1)} ${BYTE_UNITS[unit]}`
}

/** A REAL as SQLite and Python print it: `4.0`, not `4`. */
function floatText(value: number): string {
  if (!Number.isFinite(value)) return value > 0 ? 'Inf' : value < 0 ? '-Inf' : 'NaN'
  return Number.isInteger(value) && Math.abs(value) < 1e16 ? value.toFixed(1) : String(value)
}

/** Text that is a JSON object or array, pretty-printed; undefined for any other text. */
function prettyJson(text: string): string | undefined {
  const start = text.trimStart()[0]
  if (start !== '{' && start !== '[') return undefined
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return undefined
  }
}

/** Text longer than FOLD_AT: its start, and the whole of it behind a `<details>` (no script needed). */
function folded(text: string, whole: Html): Html {
  if (text.length <= FOLD_AT) return whole
  // By code point, so the cut never splits a surrogate pair.
  const characters = [...text]
  if (characters.length <= FOLD_AT) return whole
  const preview = characters.slice(0, FOLD_AT).join('')
  return html`<details class="long"><summary><span class="preview">${isolate(preview)}…</span> <span class="more">show all ${characters.length.toLocaleString('en')} characters</span><span class="less">show less</span></summary>${whole}</details>`
}

export interface RenderedCell {
  markup: Html
  /** Right-aligned, as numbers are. */
  numeric: boolean
}

/**
 * A value of the JSON-ready readRow as the store held it: there an INTEGER is a number (a bigint past 2^53), a REAL
 * with an integral value a FloatLiteral, a BLOB `{"$base64": ...}` (renderCell reads that form as it is).
 */
export function storedValue(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value)
  if (value instanceof FloatLiteral) return value.value
  return value
}

/**
 * One value as a page shows it, as the store holds it (readTableValues, query results, or storedValue of readRow's):
 * an INTEGER is a bigint (or a number in an `integerColumn`) and any other number a REAL. `blobHref` is where a BLOB's bytes can be downloaded, when they can.
 */
export function renderCell(value: unknown, blobHref?: string, integerColumn = false): RenderedCell {
  if (value === null || value === undefined) return { markup: html`<span class="null">NULL</span>`, numeric: false }
  if (typeof value === 'bigint') return { markup: html`${value.toString()}`, numeric: true }
  // PostgreSQL's driver gives bigint columns as numbers where they fit: the column's type tells them from REALs.
  if (typeof value === 'number') return { markup: html`${integerColumn && Number.isInteger(value) ? String(value) : floatText(value)}`, numeric: true }
  const bytes = value instanceof Uint8Array ? value.byteLength : base64Length(value)
  if (bytes !== undefined) {
    const size = html`<span class="blob">&lt;Binary: ${byteSize(bytes)}&gt;</span>`
    return { markup: blobHref === undefined ? size : html`<a href="${blobHref}">${size}</a>`, numeric: false }
  }
  const text = typeof value === 'string' ? value : JSON.stringify(value)
  const json = prettyJson(text)
  if (json !== undefined) return { markup: folded(json, html`<pre>${isolate(json)}</pre>`), numeric: false }
  return { markup: folded(text, isolate(text)), numeric: false }
}

/** The size of a BLOB the JSON side wrote as `{"$base64": true, "encoded": ...}`; undefined for anything else. */
function base64Length(value: unknown): number | undefined {
  if (value === null || typeof value !== 'object') return undefined
  const { $base64, encoded } = value as { $base64?: unknown; encoded?: unknown }
  if ($base64 !== true || typeof encoded !== 'string') return undefined
  return Buffer.from(encoded, 'base64').byteLength
}
