/**
 * What the table page's script (rowpost.js) is told, in the table's `data-live` attribute, to follow the change feed:
 * where the feed is, the columns, and whether new rows can go at the top of this page or only be counted in a notice.
 */
import type { Affinity } from '../values'
import type { FilterOp } from '../reader'

/** The filters the browser can check on a changed row's own values; any other filter cannot be decided without SQL. */
export const CHECKED_OPS = ['exact', 'not', 'isnull', 'notnull', 'isblank', 'notblank'] as const satisfies readonly FilterOp[]
type CheckedOp = (typeof CHECKED_OPS)[number]

const isChecked = (op: FilterOp): op is CheckedOp => (CHECKED_OPS as readonly string[]).includes(op)

export interface LiveColumn {
  name: string
  /** How SQLite converts and compares the column's values: the script shows numbers and checks filters by it. */
  affinity: Affinity
  /** Its place in the row's key (as the feed's `key` lists it), or -1. */
  key: number
}

export interface LiveTable {
  /** The feed's URL, with `?since=` when the table is being followed, so nothing between rendering and connecting is missed. */
  changes: string
  /** `/<db>/<table>`: row links are `<base>/<key>`. */
  base: string
  columns: LiveColumn[]
  /** `top`: new rows that pass `filters` go at the top. `notice`: new rows are only counted, for the reason in `why`. */
  placement: 'top' | 'notice'
  why: string | null
  filters: Array<[column: string, op: CheckedOp, value: string]>
}

/**
 * Where new rows may go: at the top only on the first page in the default order (anywhere else a new row's place is
 * not the top), and only when every filter can be checked in the browser.
 */
export function livePlacement(page: {
  sorted: boolean
  firstPage: boolean
  filters: Array<{ column: string; op: FilterOp; value: string }>
}): Pick<LiveTable, 'placement' | 'why' | 'filters'> {
  const checked = page.filters.flatMap((filter) => (isChecked(filter.op) ? [[filter.column, filter.op, filter.value] as [string, CheckedOp, string]] : []))
  const why = page.sorted
    ? 'the page is sorted'
    : !page.firstPage
      ? 'this is not the first page'
      : checked.length < page.filters.length
        ? 'they may not match the filters'
        : null
  return why === null ? { placement: 'top', why, filters: checked } : { placement: 'notice', why, filters: [] }
}
