/**
 * The HTML pages at Datasette's URLs: a path without `.json`, asked for by a browser (`Accept: text/html`), is the page.
 * They share the read routes' parsing, permissions and data (lib/http/read.ts) and differ only in rendering; login
 * sets Datasette's signed `ds_actor` cookie.
 */
import { Elysia, NotFoundError } from 'elysia'
import { ACTOR_COOKIE } from '../auth'
import { ApiError, InvalidQuery, InvalidToken, RowNotFound } from '../errors'
import { identifierKey, tildeDecode, tildeEncode } from '../identifiers'
import type { TableInfo } from '../store/table'
import { affinityOf } from '../values'
import { canView } from '../permissions'
import { namedParameters } from '../query/sql-text'
import { FILTER_OPS, parseFilters, readRow, readTableValues, resolveColumn, tableSummaries, visibleColumns, type FilterOp } from '../reader'
import { databasePage, describeFilter, errorPage, indexPage, loginPage, queryPage, rowPage, tablePage, type Viewer } from '../pages/browse'
import { storedValue } from '../pages/cells'
import { pageResponse, SCRIPT, SCRIPT_PATH, STYLESHEET, STYLESHEET_PATH } from '../pages/layout'
import { livePlacement, type LiveTable } from '../pages/live'
import { feedStatePath } from '../feed'
import { keyColumns } from '../store/table'
import { readBodyText } from './body'
import type { AppContext } from './context'
import { contentDisposition } from './export'
import type { QueryAccess, QueryPage } from './query'
import { pageSize, readAccess, tablePageRequest, type PageHandlers } from './read'
import { toApiError } from './respond'

/** How long a login lasts when its token does not expire sooner. */
const LOGIN_SECONDS = 7 * 24 * 3600
/** A login form is a token and little else. */
const LOGIN_BODY_LIMIT = 64 * 1024
const FLAG_OPS = new Set<FilterOp>(['isnull', 'notnull', 'isblank', 'notblank'])

/** A browser navigating asks for HTML; scripts, curl (`*\/*`) and the existing JSON clients do not, and keep their answers. */
export function wantsHtml(request: Request): boolean {
  return /\btext\/html\b/i.test(request.headers.get('accept') ?? '')
}

/** A 302 to a path on this server (Response.redirect wants an absolute URL). */
const redirect = (location: string) => new Response(null, { status: 302, headers: { location } })

/** A path segment with a format suffix (`.json`, `.csv`, `.blob`): names in URLs are tilde-encoded, so a `.` is always one. */
const hasSuffix = (segment: string) => segment.includes('.')

/** `path?query`, or the bare path when the query is empty. */
const withQuery = (path: string, query: URLSearchParams) => {
  const text = query.toString()
  return text === '' ? path : `${path}?${text}`
}

/** The query without the named parameters (and without `_next`, since any change starts again at the first page). */
function without(query: URLSearchParams, ...names: string[]): URLSearchParams {
  return new URLSearchParams([...query].filter(([name]) => name !== '_next' && !names.includes(name)))
}

/** A visible column's affinity; the rowid a rowid table shows is an INTEGER. */
function affinityOfColumn(table: TableInfo, name: string) {
  const column = table.columnsByKey.get(identifierKey(name))
  return column === undefined ? 'INTEGER' : affinityOf(column.type)
}

/** Per column, whether it holds integers: INTEGER affinity, or the rowid a rowid table shows. */
const integerColumns = (table: TableInfo, columns: string[]): boolean[] => columns.map((name) => affinityOfColumn(table, name) === 'INTEGER')

export function createPages(context: AppContext) {
  const { requireView, isPrivate, visibleDatabase, visibleTable } = readAccess(context)

  function viewerOf(request: Request): Viewer {
    context.actorOf(request)
    return { actorId: context.actorIdOf(request), loginEnabled: context.loginEnabled }
  }

  /** Runs a page; a refusal or a missing thing becomes an HTML error page with the status the JSON would have. */
  async function render(request: Request, work: () => Promise<Response>): Promise<Response> {
    try {
      return await work()
    } catch (error) {
      const apiError = error instanceof ApiError ? error : toApiError('UNKNOWN', error, request.method, new URL(request.url).pathname)
      if (!apiError) throw error
      return pageResponse(errorPage(viewerOf(request), apiError.status, apiError.errors.join('; ')), apiError.status, apiError.headers)
    }
  }

  const databaseHref = (name: string) => `/${tildeEncode(name)}`
  const tableHref = (database: string, table: string) => `${databaseHref(database)}/${tildeEncode(table)}`

  async function instancePage(request: Request): Promise<Response> {
    requireView(request, {})
    const actor = context.actorOf(request)
    const databases = []
    for (const database of context.databases.values()) {
      if (!canView(context.policy, actor, { database: database.name })) continue
      await database.sync()
      const tables = database.tableList().filter(({ name }) => canView(context.policy, actor, { database: database.name, table: name })).length
      databases.push({ name: database.name, href: databaseHref(database.name), tables })
    }
    return pageResponse(indexPage(viewerOf(request), databases))
  }

  async function databaseView(request: Request, segment: string): Promise<Response> {
    const url = new URL(request.url)
    // Datasette 1.0 moved SQL to the query page; an old `/<db>?sql=` link lands there.
    if (url.searchParams.has('sql')) return redirect(`/${segment}/-/query${url.search}`)
    const database = visibleDatabase(request, segment)
    const actor = context.actorOf(request)
    const query = url.searchParams
    const { tables, next } = await tableSummaries(
      database,
      (table) => canView(context.policy, actor, { database: database.name, table }),
      pageSize(query.get('_size'), context.settings),
      query.get('_next') || undefined,
    )
    const href = databaseHref(database.name)
    const nextQuery = new URLSearchParams(query)
    if (next !== null) nextQuery.set('_next', next)
    const queryable = database.supports('sql-query') && context.allowed(request, 'execute-sql', { database: database.name })
    const entries = tables.map((table) => ({
      name: table.name,
      href: tableHref(database.name, table.name),
      columns: table.columns,
      primaryKeys: table.primary_keys,
      count: table.count,
      private: isPrivate({ database: database.name, table: table.name }),
    }))
    const markup = databasePage(
      viewerOf(request),
      { name: database.name, href, queryHref: queryable ? `${href}/-/query` : undefined },
      entries,
      next === null ? null : withQuery(href, nextQuery),
    )
    return pageResponse(markup)
  }

  async function tableView(request: Request, params: { database: string; table: string }): Promise<Response> {
    const query = new URL(request.url).searchParams
    if (query.has('_filter_column')) return filterRedirect(params, query)
    const database = visibleDatabase(request, params.database)
    const table = await visibleTable(request, database, params.table)
    const pageRequest = tablePageRequest(table, query, context.settings)
    // Where the feed stands, read before the rows: a change between the two is then sent again (the page applies it
    // in place), never lost. Only a followed table has a position; any other is followed from when the page connects.
    const feed = await database.readPath((s) => feedStatePath(s, table.name))
    const page = await readTableValues(database, table, pageRequest)
    const base = tableHref(database.name, table.name)
    const keys = keyColumns(table)
    const live: LiveTable = {
      changes: feed === undefined ? `${base}/-/changes` : `${base}/-/changes?since=${feed.last}`,
      base,
      columns: visibleColumns(table).map((name) => ({ name, affinity: affinityOfColumn(table, name), key: keys.indexOf(name) })),
      ...livePlacement({ sorted: pageRequest.sort !== undefined, firstPage: pageRequest.next === undefined, filters: pageRequest.filters }),
    }
    const columns = visibleColumns(table).map((name) => {
      const sorted = pageRequest.sort?.column === name ? (pageRequest.sort.descending ? 'desc' : 'asc') : undefined
      const sortQuery = without(query, '_sort', '_sort_desc')
      sortQuery.set(sorted === 'asc' ? '_sort_desc' : '_sort', name)
      return { name, sorted, sortHref: withQuery(base, sortQuery) } as const
    })
    const filters = [...query].flatMap(([key, value], index) =>
      parseFilters(table, [[key, value]]).map((filter) => ({
        label: describeFilter(filter.column, filter.op, filter.value, FLAG_OPS.has(filter.op)),
        removeHref: withQuery(base, new URLSearchParams([...query].filter(([name], i) => i !== index && name !== '_next'))),
      })),
    )
    const nextQuery = without(query)
    if (page.next !== null) nextQuery.set('_next', page.next)
    const rowHref = (index: number) => `${base}/${page.keys[index]}`
    const search = new URL(request.url).search
    const markup = tablePage(viewerOf(request), {
      database: { name: database.name, href: databaseHref(database.name) },
      table: table.name,
      href: base,
      columns,
      rows: page.rows,
      integers: integerColumns(table, page.columns),
      rowHref,
      blobHref: (index, column) => `${rowHref(index)}.blob?_blob_column=${encodeURIComponent(column)}`,
      filters,
      keep: [...query].filter(([name]) => name !== '_next' && !name.startsWith('_filter_')),
      filterColumns: visibleColumns(table),
      jsonHref: `${base}.json${search}`,
      csvHref: `${base}.csv${search}`,
      nextHref: page.next === null ? null : withQuery(base, nextQuery),
      firstHref: query.has('_next') ? withQuery(base, without(query)) : null,
      changesHref: `${base}/-/changes`,
      rowKeys: page.keys,
      live,
    })
    return pageResponse(markup)
  }

  /** The filter form's `_filter_column`/`_filter_op`/`_filter_value` become one `column__op=value` pair, as Datasette redirects. */
  function filterRedirect(params: { database: string; table: string }, query: URLSearchParams): Response {
    const column = query.get('_filter_column') ?? ''
    const op = query.get('_filter_op') || 'exact'
    if (!(FILTER_OPS as readonly string[]).includes(op)) throw new InvalidQuery(`Unknown filter operator: ${op}`)
    const kept = without(query, '_filter_column', '_filter_op', '_filter_value')
    if (column !== '') kept.append(`${column}__${op}`, FLAG_OPS.has(op as FilterOp) ? '1' : (query.get('_filter_value') ?? ''))
    return redirect(withQuery(`/${params.database}/${params.table}`, kept))
  }

  async function rowView(request: Request, params: { database: string; table: string; pks: string }): Promise<Response> {
    const database = visibleDatabase(request, params.database)
    const table = await visibleTable(request, database, params.table)
    const found = await readRow(database, table, params.pks)
    if (!found) throw new RowNotFound()
    const base = tableHref(database.name, table.name)
    const rowBase = `${base}/${params.pks}`
    const markup = rowPage(viewerOf(request), {
      database: { name: database.name, href: databaseHref(database.name) },
      table: { name: table.name, href: base },
      key: params.pks.split(',').map(tildeDecode).join(', '),
      columns: found.columns,
      values: found.row.map(storedValue),
      integers: integerColumns(table, found.columns),
      jsonHref: `${rowBase}.json`,
      blobHref: (column) => `${rowBase}.blob?_blob_column=${encodeURIComponent(column)}`,
    })
    return pageResponse(markup)
  }

  /** `/<db>/<table>/<pk>.blob?_blob_column=c`: one BLOB's bytes as a download, never rendered by the browser. */
  async function blob(request: Request, params: { database: string; table: string; pks: string }): Promise<Response> {
    const identifier = params.pks.slice(0, -'.blob'.length)
    const database = visibleDatabase(request, params.database)
    const table = await visibleTable(request, database, params.table)
    const name = new URL(request.url).searchParams.get('_blob_column') ?? ''
    const column = resolveColumn(table, name)
    if (column === undefined) throw new InvalidQuery(`Table ${table.name} has no column ${JSON.stringify(name)}`)
    const found = await readRow(database, table, identifier)
    if (!found) throw new RowNotFound()
    const value = found.row[found.columns.indexOf(column)] as { $base64?: boolean; encoded?: string } | null
    if (value === null || typeof value !== 'object' || value.$base64 !== true || typeof value.encoded !== 'string') {
      throw new InvalidQuery(`Column ${column} of this row does not hold a BLOB`)
    }
    return new Response(Buffer.from(value.encoded, 'base64'), {
      headers: {
        'content-type': 'application/octet-stream',
        'content-disposition': contentDisposition(`${table.name}-${identifier}`, 'blob'),
        'x-content-type-options': 'nosniff',
        'content-security-policy': "default-src 'none'; sandbox",
      },
    })
  }

  async function sqlPage(request: Request, segment: string, access: QueryAccess): Promise<Response> {
    const database = access.database()
    const url = new URL(request.url)
    const sql = url.searchParams.get('sql') ?? ''
    const names = sql.trim() === '' ? [] : namedParameters(sql)
    const data = {
      database: { name: database.name, href: databaseHref(database.name) },
      action: `/${segment}/-/query`,
      sql,
      params: names.map((name) => [name, url.searchParams.get(name) ?? ''] as [string, string]),
    }
    if (sql.trim() === '') return pageResponse(queryPage(viewerOf(request), data))
    try {
      const { columns, rows, truncated } = await access.run()
      const result = { columns, rows, truncated, jsonHref: `/${segment}/-/query.json${url.search}`, csvHref: `/${segment}/-/query.csv${url.search}` }
      return pageResponse(queryPage(viewerOf(request), { ...data, result }))
    } catch (error) {
      // The form stays, with the SQL as written, so the mistake can be fixed in place.
      if (!(error instanceof ApiError)) throw error
      return pageResponse(queryPage(viewerOf(request), { ...data, error: error.errors.join('; ') }), error.status)
    }
  }

  const handlers: PageHandlers = {
    database: (request, segment) => (hasSuffix(segment) || !wantsHtml(request) ? undefined : render(request, () => databaseView(request, segment))),
    table: (request, params) => (hasSuffix(params.table) || !wantsHtml(request) ? undefined : render(request, () => tableView(request, params))),
    row: (request, params) => {
      if (params.pks.endsWith('.blob')) return wantsHtml(request) ? render(request, () => blob(request, params)) : blob(request, params)
      return hasSuffix(params.pks) || !wantsHtml(request) ? undefined : render(request, () => rowView(request, params))
    },
  }

  const query: QueryPage = (request, segment, access) => (wantsHtml(request) ? render(request, () => sqlPage(request, segment, access)) : undefined)

  function loginCookie(value: string, maxAge: number, request: Request): string {
    const secure = new URL(request.url).protocol === 'https:' || request.headers.get('x-forwarded-proto') === 'https'
    return `${ACTOR_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`
  }

  const NO_SECRET = 'Logging in needs a secret to sign the cookie with: start rowpost with --secret or ROWPOST_SECRET.'

  async function logIn(request: Request): Promise<Response> {
    const viewer = viewerOf(request)
    if (!context.loginEnabled) return pageResponse(loginPage(viewer, { error: true, text: NO_SECRET }), 400)
    const token = new URLSearchParams(await readBodyText(request, LOGIN_BODY_LIMIT)).get('token')?.trim() ?? ''
    let actor
    try {
      actor = token === '' ? null : context.actorOfToken(token)
    } catch (error) {
      if (!(error instanceof InvalidToken)) throw error
      return pageResponse(loginPage(viewer, { error: true, text: error.message }), 401)
    }
    if (actor === null) return pageResponse(loginPage(viewer, { error: true, text: 'Enter a token.' }), 400)
    const now = Math.floor(Date.now() / 1000)
    const tokenExpires = typeof actor.token_expires === 'number' ? actor.token_expires : Infinity
    const expiresAt = Math.min(now + LOGIN_SECONDS, tokenExpires)
    return new Response(null, {
      status: 303,
      headers: { location: '/', 'set-cookie': loginCookie(context.loginCookie(actor, expiresAt), expiresAt - now, request), 'cache-control': 'no-store' },
    })
  }

  const routes = new Elysia({ name: 'rowpost-pages' })
    .get(
      '/',
      ({ request }) => {
        if (!wantsHtml(request)) throw new NotFoundError()
        return render(request, () => instancePage(request))
      },
      { detail: { summary: 'The databases the actor may view (an HTML page for a browser)' } },
    )
    .get(STYLESHEET_PATH, () => new Response(STYLESHEET, { headers: { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' } }), {
      detail: { summary: "The pages' style sheet" },
    })
    .get(SCRIPT_PATH, () => new Response(SCRIPT, { headers: { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' } }), {
      detail: { summary: "The table page's script: it follows the change feed" },
    })
    .get(
      '/-/login',
      ({ request }) => {
        const viewer = viewerOf(request)
        return pageResponse(loginPage(viewer, viewer.loginEnabled ? undefined : { error: true, text: NO_SECRET }))
      },
      { detail: { summary: 'The login page: a form that takes a token' } },
    )
    .post('/-/login', ({ request }) => render(request, () => logIn(request)), {
      parse: 'none',
      detail: { summary: 'Log in with a token (form field `token`): sets the signed, HttpOnly, SameSite=Strict ds_actor cookie' },
    })
    .post(
      '/-/logout',
      ({ request }) => new Response(null, { status: 303, headers: { location: '/', 'set-cookie': loginCookie('', 0, request), 'cache-control': 'no-store' } }),
      {
        parse: 'none',
        detail: { summary: 'Log out: clears the ds_actor cookie' },
      },
    )
  return { handlers, query, routes }
}
