/** The read API (API.md §3): table pages, rows and database summaries as Datasette 1.0 JSON, plus the /-/ introspection routes. */
import { Elysia, NotFoundError, t } from 'elysia'
import type { TableInfo } from '../database'
import type { Store } from '../store/store'
import { InvalidQuery, PermissionDenied, RowNotFound } from '../errors'
import { tildeDecode } from '../identifiers'
import { stringifyJson } from '../json'
import { canView, type Resource } from '../permissions'
import { parseFilters, parseSort, readRowValues, readTableValues, sqliteVersion, tableSummaries, type Page, type PageRequest } from '../reader'
import { tableNamed } from './tables'
import type { Settings } from '../settings'
import type { AppContext } from './context'
import { queryFlag } from '../flags'
import { exportSegment, tableExport } from './export'
import { queryRedirect } from './query'
import { jsonResponse, jsonTextResponse } from './respond'
import { fromSqlValue, rowArrayJson, rowObjectsJson, rowsJson, rowsNdjson, type SqlValue } from '../values'

const SHAPES = ['objects', 'arrays', 'array', 'object'] as const
type Shape = (typeof SHAPES)[number]

/** The `.json` these routes require; a path without it is answered as if no route matched. */
function withoutJson(segment: string): string {
  if (!segment.endsWith('.json')) throw new NotFoundError()
  return segment.slice(0, -'.json'.length)
}

/** `_size`: a positive integer up to max_returned_rows, or `max`; default_page_size when absent. */
export function pageSize(value: string | null, settings: Settings): number {
  const max = settings.max_returned_rows
  if (value === null || value === '') return Math.min(settings.default_page_size, max)
  if (value === 'max') return max
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidQuery('_size must be a positive integer')
  if (Number(value) > max) throw new InvalidQuery(`_size must be <= ${max}`)
  return Number(value)
}

function shapeOf(value: string | null): Shape {
  if (value === null || value === '') return 'objects'
  if (!(SHAPES as readonly string[]).includes(value)) throw new InvalidQuery(`Invalid _shape: ${value}`)
  return value as Shape
}

/** The request's own URL with `_next` replaced, keeping every other parameter exactly as the client wrote it. */
function nextUrl(requestUrl: string, token: string): string {
  const url = new URL(requestUrl)
  const kept = url.search
    .slice(1)
    .split('&')
    .filter((part) => part !== '' && [...new URLSearchParams(part).keys()][0] !== '_next')
  return `${url.origin}${url.pathname}?${[...kept, `_next=${encodeURIComponent(token)}`].join('&')}`
}

/** Object.fromEntries defines `__proto__` as an ordinary key, so any column name is safe here. */
const rowObject = (columns: string[], row: unknown[]) => Object.fromEntries(columns.map((column, i) => [column, row[i]]))

/**
 * A page in any shape. The JSON text of its rows is written straight from the stored values (sqlValueJson), byte for
 * byte what JSON.stringify of the fromSqlValue objects gives, without building them: on a 100-row page those objects
 * and the stringify replacer were a third of the server's time.
 */
function pageResponse(page: Page<SqlValue[]>, shape: Shape, newlines: boolean, requestUrl: string): Response {
  const next_url = page.next === null ? null : nextUrl(requestUrl, page.next)
  const headers: Record<string, string> = next_url === null ? {} : { link: `<${next_url}>; rel="next"` }
  const objects = () => rowsJson(page.rows, rowObjectsJson(page.columns))
  switch (shape) {
    case 'arrays': {
      const start = `{"ok":true,"next":${stringifyJson(page.next)},"next_url":${stringifyJson(next_url)},"columns":${stringifyJson(page.columns)}`
      return jsonTextResponse(`${start},"rows":${rowsJson(page.rows, rowArrayJson)},"truncated":false}`, 200, headers)
    }
    case 'array':
      if (!newlines) return jsonTextResponse(objects(), 200, headers)
      return new Response(rowsNdjson(page.rows, rowObjectsJson(page.columns)), {
        headers: { 'content-type': 'application/x-ndjson; charset=utf-8', ...headers },
      })
    case 'object':
      // Keyed by row: JavaScript's own key order (integer-like keys first) is the order this shape has always had.
      return jsonResponse(Object.fromEntries(page.keys.map((key, i) => [key, rowObject(page.columns, page.rows[i]!.map(fromSqlValue))])), 200, headers)
    case 'objects': {
      const start = `{"ok":true,"next":${stringifyJson(page.next)},"next_url":${stringifyJson(next_url)}`
      return jsonTextResponse(`${start},"rows":${objects()},"truncated":false}`, 200, headers)
    }
  }
}

interface RowFacts {
  database: string
  table: string
  primary_keys: string[]
  /** The key values as the URL spells them, tilde-decoded: text, as in Datasette. */
  primary_key_values: string[]
  query_ms: number
}

/** A row page: `_shape=array` and `object` as for a table; the default and `arrays` bodies in row.py's key order. */
function rowResponse(page: Page<SqlValue[]>, shape: Shape, newlines: boolean, facts: RowFacts): Response {
  if (shape === 'array' || shape === 'object') return pageResponse(page, shape, newlines, '')
  const values = page.rows.map((row) => row.map(fromSqlValue))
  const rows = shape === 'arrays' ? values : values.map((row) => rowObject(page.columns, row))
  const { database, table, primary_keys, primary_key_values, query_ms } = facts
  return jsonResponse({ ok: true, database, table, rows, primary_keys, primary_key_values, query_ms, truncated: false })
}

const READ_OPTIONS = ['_shape', '_nl', '_size', '_next', '_sort', '_sort_desc', '_stream', '_dl', '_header'] as const

/** What a table URL's query asks for, read the same way by every renderer (JSON, CSV, HTML). */
export function tablePageRequest(table: TableInfo, query: URLSearchParams, settings: Settings): PageRequest {
  return {
    filters: parseFilters(table, query.entries()),
    sort: parseSort(table, query.get('_sort') ?? undefined, query.get('_sort_desc') ?? undefined),
    size: pageSize(query.get('_size'), settings),
    next: query.get('_next') || undefined,
  }
}

/**
 * The HTML pages at the read routes' URLs without `.json`: each answers a request it renders and returns undefined
 * for any other, which these routes then answer as before.
 */
export interface PageHandlers {
  database(request: Request, segment: string): Promise<Response> | undefined
  table(request: Request, params: { database: string; table: string }): Promise<Response> | undefined
  row(request: Request, params: { database: string; table: string; pks: string }): Promise<Response> | undefined
}

/** The read routes' permission checks, shared with the pages so both show exactly the same things. */
export function readAccess(context: AppContext) {
  function requireView(request: Request, resource: Resource): void {
    if (!canView(context.policy, context.actorOf(request), resource)) throw new PermissionDenied()
  }

  /** Datasette's "private": visible to this actor but not to an anonymous one. */
  const isPrivate = (resource: Resource) => !canView(context.policy, null, resource)

  /** Checks in an order that tells a caller nothing they may not see: instance, database, then table. */
  function visibleDatabase(request: Request, segment: string): Store {
    requireView(request, {})
    const database = context.database(tildeDecode(segment))
    requireView(request, { database: database.name })
    return database
  }

  async function visibleTable(request: Request, database: Store, segment: string): Promise<TableInfo> {
    const table = await tableNamed(database, tildeDecode(segment))
    requireView(request, { database: database.name, table: table.name })
    return table
  }

  return { requireView, isPrivate, visibleDatabase, visibleTable }
}

export function readRoutes(context: AppContext, pages?: PageHandlers) {
  const version = sqliteVersion()
  const { requireView, isPrivate, visibleDatabase, visibleTable } = readAccess(context)

  const databaseParams = t.Object({ database: t.String() })
  const tableParams = t.Object({ database: t.String(), table: t.String() })
  const rowParams = t.Object({ database: t.String(), table: t.String(), pks: t.String() })
  const tableQuery = t.Object(Object.fromEntries(READ_OPTIONS.map((option) => [option, t.Optional(t.String())])), {
    additionalProperties: true,
  })

  return new Elysia({ name: 'rowpost-read' })
    .get(
      '/-/databases.json',
      function databasesJson({ request }) {
        requireView(request, {})
        const actor = context.actorOf(request)
        const visible = [...context.databases.values()].filter((database) => canView(context.policy, actor, { database: database.name }))
        return jsonResponse(
          visible.map((database) => {
            const memory = database.path === ':memory:'
            // The file name only: an absolute path tells any reader the server's user name and directory layout.
            return { name: database.name, path: database.fileName, is_mutable: !database.immutable, is_memory: memory, hash: null }
          }),
        )
      },
      { detail: { summary: 'List the attached databases the actor may view' } },
    )
    .get(
      '/-/versions.json',
      function versionsJson({ request }) {
        requireView(request, {})
        return jsonResponse({ rowpost: { version: context.version }, bun: { version: Bun.version }, sqlite: { version } })
      },
      { detail: { summary: 'Versions of rowpost, Bun and SQLite' } },
    )
    .get(
      '/-/actor.json',
      function actorJson({ request }) {
        return jsonResponse({ actor: context.actorOf(request) })
      },
      { detail: { summary: 'The actor the request authenticates as (null when anonymous)' } },
    )
    .get(
      '/-/settings.json',
      function settingsJson({ request }) {
        requireView(request, {})
        return jsonResponse(context.settings)
      },
      { detail: { summary: 'The server settings' } },
    )
    .get(
      '/:database',
      async function databaseJson({ request, params }) {
        const toQuery = queryRedirect(params.database, request.url)
        if (toQuery) return toQuery
        const page = pages?.database(request, params.database)
        if (page) return page
        const database = visibleDatabase(request, withoutJson(params.database))
        const actor = context.actorOf(request)
        const query = new URL(request.url).searchParams
        // Datasette lists every table; past max_returned_rows of them, counting each would hold the event loop for seconds.
        const size = query.get('_size') ? pageSize(query.get('_size'), context.settings) : context.settings.max_returned_rows
        const { tables, next } = await tableSummaries(
          database,
          (table) => canView(context.policy, actor, { database: database.name, table }),
          size,
          query.get('_next') || undefined,
        )
        const next_url = next === null ? null : nextUrl(request.url, next)
        return jsonResponse(
          {
            database: database.name,
            private: isPrivate({ database: database.name }),
            path: `/${withoutJson(params.database)}`,
            tables: tables.map((table) => ({ ...table, private: isPrivate({ database: database.name, table: table.name }) })),
            ...(next === null ? {} : { next, next_url }),
          },
          200,
          next_url === null ? {} : { link: `<${next_url}>; rel="next"` },
        )
      },
      { params: databaseParams, detail: { summary: 'The tables of a database, with their columns, primary keys and row counts' } },
    )
    .get(
      '/:database/:table',
      async function tableJson({ request, params }) {
        const exported = exportSegment(params.table)
        const page = exported ? undefined : pages?.table(request, params)
        if (page) return page
        const tableSegment = exported ? exported.name : withoutJson(params.table)
        const database = visibleDatabase(request, params.database)
        const table = await visibleTable(request, database, tableSegment)
        const query = new URL(request.url).searchParams
        const pageRequest = tablePageRequest(table, query, context.settings)
        const batchSize = context.settings.max_returned_rows
        if (exported) return tableExport(request, database, table, exported.format, pageRequest, batchSize)
        const shape = shapeOf(query.get('_shape'))
        const newlines = queryFlag(query.get('_nl'))
        if (shape === 'array' && newlines && queryFlag(query.get('_stream'))) {
          return tableExport(request, database, table, 'ndjson', pageRequest, batchSize)
        }
        return pageResponse(await readTableValues(database, table, pageRequest), shape, newlines, request.url)
      },
      {
        params: tableParams,
        query: tableQuery,
        detail: {
          summary: 'Rows of a table: filters, sorting and keyset pagination, shaped like Datasette 1.0; .csv and .tsv, and _stream=on for every row',
        },
      },
    )
    .get(
      '/:database/:table/:pks',
      async function rowJson({ request, params }) {
        const html = pages?.row(request, params)
        if (html) return html
        const identifier = withoutJson(params.pks)
        const database = visibleDatabase(request, params.database)
        const table = await visibleTable(request, database, params.table)
        const query = new URL(request.url).searchParams
        const shape = shapeOf(query.get('_shape'))
        const started = performance.now()
        const found = await readRowValues(database, table, identifier)
        if (!found) throw new RowNotFound()
        const page: Page<SqlValue[]> = { columns: found.columns, rows: [found.row], keys: [identifier], next: null }
        return rowResponse(page, shape, queryFlag(query.get('_nl')), {
          database: database.name,
          table: table.name,
          primary_keys: table.pks.length ? table.pks : ['rowid'],
          primary_key_values: identifier.split(',').map(tildeDecode),
          query_ms: performance.now() - started,
        })
      },
      { params: rowParams, detail: { summary: 'One row, addressed by its primary key values (or rowid), shaped as a table page is' } },
    )
}
