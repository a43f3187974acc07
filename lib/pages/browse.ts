/** The pages themselves, from plain data to markup: the instance, a database, a table, a row, a SQL query, login, errors. */
import { FILTER_OPS } from '../reader'
import { renderCell } from './cells'
import { html, isolate, plain, type Fragment, type Html } from './html'
import { page, SCRIPT_PATH, type Crumb } from './layout'
import type { LiveTable } from './live'

/** Who a page is for, and what its header offers. */
export interface Viewer {
  actorId: string | null
  loginEnabled: boolean
}

/** URLs of a database and a table, their names already tilde-encoded. */
export interface Names {
  database: string
  /** `/<db>` */
  databaseHref: string
}

const frame = (viewer: Viewer, title: string, crumbs: Crumb[], body: Fragment) => page({ ...viewer, title, crumbs, body })

export interface DatabaseEntry {
  name: string
  href: string
  /** Tables the viewer may see. */
  tables: number
}

export function indexPage(viewer: Viewer, databases: DatabaseEntry[]): Html {
  const cards = databases.map(
    (database) =>
      html`<div class="card"><h2><a href="${database.href}">${isolate(database.name)}</a></h2><span class="count">${database.tables} ${database.tables === 1 ? 'table' : 'tables'}</span></div>`,
  )
  const body = html`<h1>Databases</h1>${databases.length ? html`<div class="cards">${cards}</div>` : html`<p class="muted">No databases you may view.</p>`}`
  return frame(viewer, 'Databases', [], body)
}

export interface TableEntry {
  name: string
  href: string
  columns: string[]
  primaryKeys: string[]
  count: number
  private: boolean
}

export function databasePage(
  viewer: Viewer,
  database: { name: string; href: string; queryHref?: string },
  tables: TableEntry[],
  nextHref: string | null,
): Html {
  const rows = tables.map(
    (table) =>
      html`<tr><td><a href="${table.href}">${isolate(table.name)}</a>${table.private ? html` <span class="muted">(private)</span>` : ''}</td><td class="num">${table.count}</td><td>${table.columns.map((column, i) => html`${i ? ', ' : ''}${table.primaryKeys.includes(column) ? html`<strong>${isolate(column)}</strong>` : isolate(column)}`)}</td></tr>`,
  )
  const body = html`<h1>${isolate(database.name)}</h1>
<div class="links"><a href="${database.href}.json">JSON</a>${database.queryHref ? html`<a href="${database.queryHref}">Run SQL</a>` : ''}</div>
${
  tables.length
    ? html`<div class="scroll"><table><thead><tr><th>Table</th><th>Rows</th><th>Columns (key in bold)</th></tr></thead><tbody>${rows}</tbody></table></div>`
    : html`<p class="muted">No tables you may view.</p>`
}
${nextHref ? html`<div class="pager"><a href="${nextHref}">Next page</a></div>` : ''}`
  return frame(viewer, database.name, [{ label: database.name }], body)
}

/** One header cell: the column, a link that sorts by it (the other way when it already sorts the page). */
export interface ColumnHead {
  name: string
  sortHref: string
  /** `asc` or `desc` when the page is sorted by this column. */
  sorted?: 'asc' | 'desc'
}

export interface ActiveFilter {
  label: string
  removeHref: string
}

export interface TablePageData {
  database: { name: string; href: string }
  table: string
  /** `/<db>/<table>`, the page's own path. */
  href: string
  columns: ColumnHead[]
  /** Each row's values, as the read path gives them. */
  rows: unknown[][]
  /** Per column, whether it holds integers (INTEGER affinity, or the rowid). */
  integers: boolean[]
  /** Each row's page, and the BLOB download URL of a column of it. */
  rowHref: (index: number) => string
  blobHref: (index: number, column: string) => string
  filters: ActiveFilter[]
  /** Query parameters the filter form carries along (sort, size, filters already set). */
  keep: Array<[string, string]>
  /** Columns a new filter may name. */
  filterColumns: string[]
  jsonHref: string
  csvHref: string
  nextHref: string | null
  firstHref: string | null
  /** Where the live change feed of this table is, for the page's script. */
  changesHref: string
  /** Each row's key as its URL spells it, so the script finds a changed row on the page. */
  rowKeys: string[]
  /** What the script needs to follow the feed. */
  live: LiveTable
}

const OP_LABELS: Partial<Record<(typeof FILTER_OPS)[number], string>> = {
  exact: '=',
  not: '!=',
  gt: '>',
  gte: '≥',
  lt: '<',
  lte: '≤',
  isnull: 'is null',
  notnull: 'is not null',
  isblank: 'is blank',
  notblank: 'is not blank',
}
const opLabel = (op: (typeof FILTER_OPS)[number]) => OP_LABELS[op] ?? op

export const describeFilter = (column: string, op: (typeof FILTER_OPS)[number], value: string, flag: boolean) =>
  flag ? `${column} ${opLabel(op)}` : `${column} ${opLabel(op)} ${value}`

export function tablePage(viewer: Viewer, data: TablePageData): Html {
  const heads = data.columns.map(
    (column) =>
      html`<th scope="col"><a href="${column.sortHref}" title="Sort">${isolate(column.name)}${column.sorted === 'asc' ? ' ▲' : column.sorted === 'desc' ? ' ▼' : ''}</a></th>`,
  )
  const rows = data.rows.map((row, index) => {
    const cells = row.map((value, i) => {
      const cell = renderCell(value, data.blobHref(index, data.columns[i]!.name), data.integers[i])
      return html`<td${cell.numeric ? html` class="num"` : ''}>${cell.markup}</td>`
    })
    return html`<tr data-key="${data.rowKeys[index]}"><td><a href="${data.rowHref(index)}" title="This row">→</a></td>${cells}</tr>`
  })
  const columnOptions = data.filterColumns.map((column) => html`<option value="${column}">${plain(column)}</option>`)
  const opOptions = FILTER_OPS.map((op) => html`<option value="${op}">${opLabel(op)}</option>`)
  const kept = data.keep.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)
  const body = html`<h1>${isolate(data.table)}</h1>
<div class="links"><a href="${data.jsonHref}">JSON</a><a href="${data.csvHref}">CSV</a></div>
<form class="filters" method="get" action="${data.href}">${kept}
<label>Filter <select name="_filter_column" aria-label="Column">${columnOptions}</select></label>
<select name="_filter_op" aria-label="Operator">${opOptions}</select>
<input name="_filter_value" aria-label="Value" placeholder="value">
<button type="submit">Apply</button>
</form>
${data.filters.length ? html`<ul class="active-filters">${data.filters.map((filter) => html`<li>${isolate(filter.label)} <a href="${filter.removeHref}" title="Remove this filter">✕</a></li>`)}</ul>` : ''}
<p class="count">${data.rows.length} ${data.rows.length === 1 ? 'row' : 'rows'}${data.nextHref ? ' on this page' : ''}</p>
<div class="scroll"><table id="table" data-changes="${data.changesHref}" data-live="${JSON.stringify(data.live)}"><thead><tr><th scope="col"><span class="muted">row</span></th>${heads}</tr></thead><tbody id="rows">${rows}</tbody></table></div>
<div class="pager">${data.firstHref ? html`<a href="${data.firstHref}">First page</a>` : ''}${data.nextHref ? html`<a id="next" href="${data.nextHref}">Next page</a>` : ''}</div>
<script src="${SCRIPT_PATH}"></script>`
  return frame(viewer, data.table, [{ label: data.database.name, href: data.database.href }, { label: data.table }], body)
}

export interface RowPageData {
  database: { name: string; href: string }
  table: { name: string; href: string }
  /** The row's key values, as its URL names them (decoded). */
  key: string
  columns: string[]
  values: unknown[]
  integers: boolean[]
  jsonHref: string
  blobHref: (column: string) => string
}

export function rowPage(viewer: Viewer, data: RowPageData): Html {
  const rows = data.columns.map((column, i) => {
    const cell = renderCell(data.values[i], data.blobHref(column), data.integers[i])
    return html`<tr><th scope="row">${isolate(column)}</th><td${cell.numeric ? html` class="num"` : ''}>${cell.markup}</td></tr>`
  })
  const body = html`<h1>${isolate(data.table.name)}: ${isolate(data.key)}</h1>
<div class="links"><a href="${data.jsonHref}">JSON</a></div>
<div class="scroll"><table class="row"><tbody>${rows}</tbody></table></div>`
  return frame(
    viewer,
    `${data.table.name}: ${data.key}`,
    [{ label: data.database.name, href: data.database.href }, { label: data.table.name, href: data.table.href }, { label: data.key }],
    body,
  )
}

export interface QueryPageData {
  database: { name: string; href: string }
  /** `/<db>/-/query` */
  action: string
  sql: string
  /** Named parameters the SQL uses, with the values given. */
  params: Array<[string, string]>
  result?: { columns: string[]; rows: unknown[][]; truncated: boolean; jsonHref: string; csvHref: string }
  error?: string
}

export function queryPage(viewer: Viewer, data: QueryPageData): Html {
  const inputs = data.params.map(([name, value]) => html`<label>${isolate(name)} <input name="${name}" value="${value}"></label>`)
  const result = data.result
  const table = result
    ? html`<div class="links"><a href="${result.jsonHref}">JSON</a><a href="${result.csvHref}">CSV</a></div>
<p class="count">${result.rows.length} ${result.rows.length === 1 ? 'row' : 'rows'}${result.truncated ? ' (truncated)' : ''}</p>
<div class="scroll"><table><thead><tr>${result.columns.map((column) => html`<th scope="col">${isolate(column)}</th>`)}</tr></thead><tbody>${result.rows.map(
        (row) =>
          html`<tr>${row.map((value) => {
            const cell = renderCell(value)
            return html`<td${cell.numeric ? html` class="num"` : ''}>${cell.markup}</td>`
          })}</tr>`,
      )}</tbody></table></div>`
    : ''
  const body = html`<h1>Query ${isolate(data.database.name)}</h1>
<form method="get" action="${data.action}"><textarea name="sql" aria-label="SQL">${data.sql}</textarea>
<div class="filters">${inputs}<button type="submit">Run SQL</button></div></form>
${data.error ? html`<p class="error" role="alert">${isolate(data.error)}</p>` : ''}
${table}`
  return frame(viewer, `Query ${data.database.name}`, [{ label: data.database.name, href: data.database.href }, { label: 'query' }], body)
}

export function loginPage(viewer: Viewer, message?: { error: boolean; text: string }): Html {
  const form = viewer.loginEnabled
    ? html`<form method="post" action="/-/login"><p><label>Token<br><input type="password" name="token" autocomplete="off" required></label></p><p><button type="submit">Log in</button></p></form>
<p class="muted">A token from the server's metadata, or a signed <code>dstok_</code> token from <code>rowpost create-token</code>. It is checked once; the browser then keeps a signed cookie that lasts as long as the token (at most 7 days).</p>`
    : ''
  const body = html`<h1>Log in</h1>
${message ? html`<p class="${message.error ? 'error' : 'muted'}" role="${message.error ? 'alert' : 'status'}">${message.text}</p>` : ''}
${form}`
  return frame(viewer, 'Log in', [{ label: 'log in' }], body)
}

export function errorPage(viewer: Viewer, status: number, message: string): Html {
  const hint =
    (status === 403 || status === 401) && viewer.loginEnabled && viewer.actorId === null
      ? html`<p><a href="/-/login">Log in</a> with a token that may see it.</p>`
      : ''
  return frame(viewer, `Error ${status}`, [], html`<h1>Error ${status}</h1><p class="error" role="alert">${isolate(message)}</p>${hint}`)
}
