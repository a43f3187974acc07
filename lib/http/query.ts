/** SQL queries (Datasette 1.0's /<db>/-/query): read-only, time-limited, in killable processes, private tables kept out. */
import { Elysia, t } from 'elysia'
import { csvChunks, csvText, textStream } from '../csv'
import type { RowpostDatabase } from '../database'
import { InvalidQuery, InvalidSql, PermissionDenied } from '../errors'
import { identifierKey, INTERNAL_TABLE_PREFIX, tildeDecode } from '../identifiers'
import { stringifyJson } from '../json'
import { allowed, canView, type Actor } from '../permissions'
import { queryFlag } from '../flags'
import { runQuery, type Privacy, type QueryJob, type QueryOutcome } from '../query/execute'
import { sharedQueryPool } from '../query/shared-pool'
import { validateSelect } from '../query/validate'
import { fromSqlValue, rowArrayJson, rowObjectsJson, rowsJson, rowsNdjson } from '../values'
import type { AppContext } from './context'
import { jsonResponse, jsonTextResponse } from './respond'

const SHAPES = ['objects', 'arrays', 'array', 'arrayfirst', 'object'] as const
type Shape = (typeof SHAPES)[number]
const EXTRAS = ['columns']
/** Rows per message from a streaming query process: large enough to amortise the IPC, small enough to keep memory flat. */
const STREAM_BATCH_ROWS = 500

function shapeOf(value: string | null): Shape {
  if (value === null || value === '') return 'objects'
  if (!(SHAPES as readonly string[]).includes(value)) throw new InvalidQuery(`Invalid _shape: ${value}`)
  if (value === 'object') throw new InvalidQuery('_shape=object is only available on tables')
  return value as Shape
}

/** Datasette's `_extra=` (repeated or comma-separated); queries know only `columns`. */
function extrasOf(query: URLSearchParams): Set<string> {
  const extras = new Set(
    query
      .getAll('_extra')
      .flatMap((value) => value.split(','))
      .filter((value) => value !== ''),
  )
  for (const extra of extras) if (!EXTRAS.includes(extra)) throw new InvalidQuery(`Invalid _extra: ${extra}`)
  return extras
}

/** `_timelimit` may only lower sql_time_limit_ms. */
function timeLimitOf(value: string | null, limit: number): number {
  if (value === null || value === '') return limit
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidQuery('_timelimit must be a positive integer')
  return Math.min(Number(value), limit)
}

/** The query's rows in the asked shape, as Datasette's json_renderer lays them out; rows written from the stored values (sqlValueJson). */
function queryResponse(outcome: Extract<QueryOutcome, { ok: true }>, shape: Shape, extras: Set<string>, newlines: boolean): Response {
  const { columns, rows, truncated } = outcome
  const end = `${extras.has('columns') ? `,"columns":${stringifyJson(columns)}` : ''},"truncated":${truncated}}`
  switch (shape) {
    case 'arrays':
      return jsonTextResponse(`{"ok":true,"rows":${rowsJson(rows, rowArrayJson)}${end}`)
    case 'arrayfirst':
      return jsonResponse(rows.map((row) => fromSqlValue(row[0])))
    case 'array':
      if (!newlines) return jsonTextResponse(rowsJson(rows, rowObjectsJson(columns)))
      return new Response(rowsNdjson(rows, rowObjectsJson(columns)), { headers: { 'content-type': 'application/x-ndjson; charset=utf-8' } })
    default:
      return jsonTextResponse(`{"ok":true,"rows":${rowsJson(rows, rowObjectsJson(columns))}${end}`)
  }
}

/** A refusal from the query process as the error it stands for. */
function failure(outcome: Extract<QueryOutcome, { ok: false }>): Error {
  if (outcome.kind === 'forbidden') return new PermissionDenied(outcome.message)
  return new InvalidSql(outcome.message, outcome.kind === 'sqlite')
}

/** Datasette's body for a SQL error: its error envelope inside the query's own keys. */
function sqlErrorResponse(error: InvalidSql): Response {
  return jsonResponse({ ok: false, rows: [], error: error.message, errors: [error.message], status: 400, truncated: false }, 400)
}

/** What the SQL query page may do on its request: check the caller may query the database, and run the query. */
export interface QueryAccess {
  database(): RowpostDatabase
  run(): Promise<Extract<QueryOutcome, { ok: true }>>
}

/** The SQL query page (lib/http/pages.ts): answers a request it renders, undefined for any other (then JSON, as before). */
export type QueryPage = (request: Request, segment: string, access: QueryAccess) => Promise<Response> | undefined

export function queryRoutes(context: AppContext, page?: QueryPage) {
  const pool = () => sharedQueryPool(context.settings.num_sql_threads)

  /** Instance, then the database (404), then view-database and execute-sql together: Datasette answers 403 `execute-sql` for both. */
  function queryableDatabase(request: Request, segment: string): RowpostDatabase {
    const actor = context.actorOf(request)
    if (!canView(context.policy, actor, {})) throw new PermissionDenied()
    const database = context.database(tildeDecode(segment))
    const resource = { database: database.name }
    if (!canView(context.policy, actor, resource) || !allowed(context.policy, actor, 'execute-sql', resource)) {
      throw new PermissionDenied('execute-sql')
    }
    return context.sqliteDatabase(database.name, 'sql-query')
  }

  /** The tables this actor may not read (rowpost's internal ones always); null when there are none, so no check is needed. */
  function privacyOf(database: RowpostDatabase, actor: Actor): Privacy | null {
    const names = database.statement("SELECT name FROM sqlite_schema WHERE type IN ('table', 'view')").all() as Array<{ name: string }>
    const hidden: string[] = []
    let allVisible = true
    for (const { name } of names) {
      const key = identifierKey(name)
      if (key.startsWith(INTERNAL_TABLE_PREFIX)) hidden.push(key)
      else if (!key.startsWith('sqlite_') && !canView(context.policy, actor, { database: database.name, table: name })) {
        hidden.push(key)
        allVisible = false
      }
    }
    return hidden.length === 0 ? null : { hidden, allVisible }
  }

  /** Everything a query request needs, checked in Datasette's order: permission, `?sql=`, options, then the SQL's form. */
  function jobOf(request: Request, segment: string) {
    const database = queryableDatabase(request, segment)
    const query = new URL(request.url).searchParams
    const sql = query.get('sql')
    if (sql === null || sql.trim() === '') throw new InvalidSql('?sql= is required')
    const timeLimit = timeLimitOf(query.get('_timelimit'), context.settings.sql_time_limit_ms)
    validateSelect(sql)
    const params: Record<string, string> = {}
    for (const [key, value] of query) if (key !== 'sql' && !Object.hasOwn(params, key)) params[key] = value
    const job: QueryJob = {
      path: database.path,
      sql,
      params,
      maxRows: context.settings.max_returned_rows,
      privacy: privacyOf(database, context.actorOf(request)),
    }
    return { database, query, job, timeLimit }
  }

  /** A private in-memory database cannot be opened by another process: its queries run here, without a time limit. */
  function runInProcess(database: RowpostDatabase, job: QueryJob): QueryOutcome {
    const connection = database.reader.connection
    connection.run('PRAGMA query_only = 1')
    try {
      return runQuery(connection, job)
    } finally {
      connection.run('PRAGMA query_only = 0')
    }
  }

  async function run(database: RowpostDatabase, job: QueryJob, timeLimit: number): Promise<Extract<QueryOutcome, { ok: true }>> {
    const outcome = database.path === ':memory:' ? runInProcess(database, job) : await pool().run(job, timeLimit)
    if (!outcome.ok) throw failure(outcome)
    return outcome
  }

  async function queryJson({ request, params }: { request: Request; params: { database: string } }): Promise<Response> {
    try {
      const { database, query, job, timeLimit } = jobOf(request, params.database)
      const shape = shapeOf(query.get('_shape'))
      const extras = extrasOf(query)
      return queryResponse(await run(database, job, timeLimit), shape, extras, queryFlag(query.get('_nl')))
    } catch (error) {
      if (error instanceof InvalidSql && error.fromSqlite) return sqlErrorResponse(error)
      throw error
    }
  }

  async function queryCsv({ request, params }: { request: Request; params: { database: string } }): Promise<Response> {
    try {
      const { database, query, job, timeLimit } = jobOf(request, params.database)
      const headers: Record<string, string> = queryFlag(query.get('_dl'))
        ? { 'content-type': 'text/csv; charset=utf-8', 'content-disposition': `attachment; filename="${database.name}.csv"` }
        : { 'content-type': 'text/plain; charset=utf-8' }
      if (!queryFlag(query.get('_stream')) || database.path === ':memory:') {
        const { columns, rows } = await run(database, job, timeLimit)
        return new Response(csvText(columns, rows), { headers })
      }
      const started = await pool().stream(job, timeLimit, STREAM_BATCH_ROWS)
      if (!started.ok) throw failure(started)
      const { columns, batches, close } = started.stream
      return new Response(textStream(csvChunks(columns, batches), close), { headers })
    } catch (error) {
      if (error instanceof InvalidSql && error.fromSqlite) return sqlErrorResponse(error)
      throw error
    }
  }

  function queryPageOrJson({ request, params }: { request: Request; params: { database: string } }): Promise<Response> {
    const access: QueryAccess = {
      database: () => queryableDatabase(request, params.database),
      run: () => {
        const { database, job, timeLimit } = jobOf(request, params.database)
        return run(database, job, timeLimit)
      },
    }
    return page?.(request, params.database, access) ?? queryJson({ request, params })
  }

  const params = t.Object({ database: t.String() })
  const summary = 'Run a read-only SQL query (Datasette 1.0): rows as JSON, shaped by _shape'
  return new Elysia({ name: 'rowpost-query' })
    .get('/:database/-/query.json', queryJson, { params, detail: { summary } })
    .get('/:database/-/query', queryPageOrJson, { params, detail: { summary: `${summary}; an HTML page for a browser (Accept: text/html)` } })
    .get('/:database/-/query.csv', queryCsv, {
      params,
      detail: { summary: 'Run a read-only SQL query as CSV: one page, or every row with _stream=on; _dl=1 to download' },
    })
}

/** Datasette 1.0 moved SQL off the database page: `/<db>.json?sql=...` (and `.csv`) answers 302 to `/<db>/-/query.json?...`. */
export function queryRedirect(segment: string, requestUrl: string): Response | null {
  const match = /^(.*)\.(json|csv)$/.exec(segment)
  const url = new URL(requestUrl)
  if (!match || !url.searchParams.has('sql')) return null
  return new Response(null, { status: 302, headers: { location: `/${match[1]}/-/query.${match[2]}${url.search}` } })
}
