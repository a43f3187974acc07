/**
 * The OpenAPI 3.1 document, generated from the app's own route list: each route's path, method, summary and parameter
 * schemas come from its Elysia declaration; what Elysia cannot know (bodies read with `parse: 'none'`, responses, the
 * error envelope of its API family) comes from OPERATIONS, which must name every route (tests/openapi.test.ts checks).
 */
import { Type, type TSchema } from '@sinclair/typebox'
import type { Settings } from '../settings'
import { AlterBody, CreateBody, DropBody, ExecuteWriteBody, insertBody, LegacyBody, STREAM_EXAMPLES, UpdateBody, upsertBody } from './bodies'

/** What the generator reads of an Elysia route. */
export interface RouteLike {
  method: string
  path: string
  hooks: { detail?: { summary?: string; description?: string }; params?: unknown; query?: unknown }
}

const JSON_TYPE = 'application/json'
const HTML = 'text/html'
const Json = Type.Unknown({ description: 'Any JSON value' })
const Nullable = (schema: TSchema) => Type.Union([schema, Type.Null()])

const LegacyError = Type.Object(
  { status: Type.Integer(), error: Type.String(), error_code: Type.Optional(Type.String()) },
  { description: "datasette-insert's error body; a permission refusal has no error_code, as in the plugin" },
)
const DatasetteError = Type.Object(
  { ok: Type.Literal(false), error: Type.String(), errors: Type.Array(Type.String()), status: Type.Integer() },
  { description: "Datasette 1.0's error body" },
)
const SqlError = Type.Object({ ...DatasetteError.properties, rows: Type.Array(Json, { maxItems: 0 }), truncated: Type.Literal(false) })

const TableUrls = { table_url: Type.String(), table_api_url: Type.String() }
const Rows = Type.Array(Type.Record(Type.String(), Json))
const OkRows = Type.Object({ ok: Type.Literal(true), rows: Type.Optional(Rows), row_count: Type.Optional(Type.Integer()) })
const TableCount = Type.Object({ table_count: Type.Integer() }, { additionalProperties: false })
const Created = Type.Object({
  ok: Type.Literal(true),
  database: Type.String(),
  table: Type.String(),
  ...TableUrls,
  schema: Type.String(),
  row_count: Type.Optional(Type.Integer()),
})
const Dropped = Type.Union([
  Type.Object({ ok: Type.Literal(true) }, { additionalProperties: false }),
  Type.Object({ ok: Type.Literal(true), database: Type.String(), table: Type.String(), row_count: Type.Integer(), message: Type.String() }),
])
const Updated = Type.Object({ ok: Type.Literal(true), row: Type.Optional(Type.Record(Type.String(), Json)), rows: Type.Optional(Rows) })
const Altered = Type.Object({
  ok: Type.Literal(true),
  database: Type.String(),
  table: Type.String(),
  ...TableUrls,
  altered: Type.Boolean(),
  schema: Type.String(),
  before_schema: Type.String(),
  operations_applied: Type.Integer(),
})
const ExecuteWriteResult = Type.Object({
  ok: Type.Literal(true),
  message: Type.String(),
  rowcount: Type.Integer(),
  rows: Type.Array(Json),
  truncated: Type.Boolean(),
  analysis: Type.Array(
    Type.Object({ operation: Type.String(), database: Type.String(), table: Type.String(), required_permission: Type.String(), source: Type.String() }),
  ),
})
const TablePage = Type.Union(
  [
    Type.Object({
      ok: Type.Literal(true),
      next: Nullable(Type.String()),
      next_url: Nullable(Type.String()),
      rows: Type.Array(Json),
      truncated: Type.Boolean(),
    }),
    Type.Array(Type.Record(Type.String(), Json)),
    Type.Record(Type.String(), Json),
  ],
  { description: 'By _shape: objects (the default) or arrays in an envelope; array, a bare list; object, rows keyed by their key' },
)
const RowPage = Type.Union([
  Type.Object({
    ok: Type.Literal(true),
    database: Type.String(),
    table: Type.String(),
    rows: Type.Array(Json),
    primary_keys: Type.Array(Type.String()),
    primary_key_values: Type.Array(Type.String()),
    query_ms: Type.Number(),
    truncated: Type.Literal(false),
  }),
  Type.Array(Type.Record(Type.String(), Json)),
  Type.Record(Type.String(), Json),
])
const QueryResult = Type.Union([
  Type.Object({ ok: Type.Literal(true), rows: Type.Array(Json), columns: Type.Optional(Type.Array(Type.String())), truncated: Type.Boolean() }),
  Type.Array(Json),
])
const DatabasePage = Type.Object({
  database: Type.String(),
  private: Type.Boolean(),
  path: Type.String(),
  tables: Type.Array(Type.Object({ name: Type.String(), private: Type.Boolean() })),
  next: Type.Optional(Type.String()),
  next_url: Type.Optional(Type.String()),
})
const Health = Type.Object({
  ok: Type.Boolean(),
  live: Type.Literal(true),
  ready: Type.Boolean(),
  databases: Type.Record(Type.String(), Type.Object({ ok: Type.Boolean(), reason: Type.Optional(Type.String()) })),
})
const SchemaJson = Type.Object({ ok: Type.Literal(true) })

type Content = Record<string, { schema: TSchema; example?: unknown }>
interface Response {
  description: string
  content?: Content
  headers?: Record<string, unknown>
}

const json = (schema: TSchema, description = 'OK'): Response => ({ description, content: { [JSON_TYPE]: { schema } } })
const text = (type: string, description: string): Response => ({ description, content: { [type]: { schema: Type.String() } } })
const redirect = (description: string): Response => ({ description, headers: { location: { schema: Type.String() } } })
const withHtml = (response: Response): Response => ({ ...response, content: { ...response.content, [HTML]: { schema: Type.String() } } })

/** Which API family answers a route, and so which error body it sends; `page` routes also answer errors as HTML to a browser. */
type Family = 'legacy' | 'datasette' | 'page'
/** What one route's declaration cannot say. */
interface OperationDoc {
  family: Family
  responses: Record<string, Response>
  body?: { schema: TSchema; streams?: boolean; required?: boolean; form?: boolean }
  /** Query parameters beyond those the route declares, described here. */
  query?: Record<string, { description: string; schema?: TSchema }>
  write?: true
  /** SQL queries: a 400 from SQLite carries `rows: []` and `truncated: false` too, as in Datasette. */
  sql?: true
  /** Statuses this route may answer besides 400, 401, 403 and 404. */
  errors?: number[]
  security?: 'none'
}

const flagQuery = (description: string) => ({ description, schema: Type.String({ examples: ['1'] }) })
const STREAM_QUERY = {
  ignore: flagQuery('Streamed bodies only: skip rows whose key exists'),
  replace: flagQuery('Streamed bodies only: replace rows whose key exists'),
  alter: flagQuery('Streamed bodies only: add missing columns'),
}
const TABLE_QUERY = {
  _shape: { description: 'objects, arrays, array or object', schema: Type.String({ examples: ['objects', 'arrays', 'array', 'object'] }) },
  _size: { description: 'Rows per page, up to max_returned_rows, or max', schema: Type.String({ examples: ['10', 'max'] }) },
  _sort: { description: 'Sort by this column', schema: Type.String() },
  _sort_desc: { description: 'Sort by this column, descending', schema: Type.String() },
  _next: { description: 'The next page token from the previous page', schema: Type.String() },
  _nl: flagQuery('With _shape=array: one JSON object per line (NDJSON)'),
  _stream: flagQuery('.csv/.tsv, or _shape=array&_nl=on: every row, not one page'),
  _dl: flagQuery('.csv/.tsv: answer as a download'),
}
const SQL_QUERY = {
  sql: { description: 'The SELECT to run', schema: Type.String({ examples: ['select 1 as one'] }) },
  _shape: { description: 'objects, arrays, array or arrayfirst', schema: Type.String({ examples: ['objects', 'arrays', 'array', 'arrayfirst'] }) },
  _timelimit: { description: 'A lower time limit in ms', schema: Type.String({ examples: ['100'] }) },
  _extra: { description: 'columns', schema: Type.String({ examples: ['columns'] }) },
  _nl: flagQuery('With _shape=array: NDJSON'),
}

const WRITE_ERRORS = [408, 413, 503, 507]
const OPERATIONS: Record<string, (settings: Settings) => OperationDoc> = {
  'POST /-/insert/:database/:table': () => ({
    family: 'legacy',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: LegacyBody, streams: true, required: true },
    query: {
      pk: { description: 'Primary key column for a new table (repeat for a compound key)', schema: Type.String({ examples: ['id'] }) },
      alter: flagQuery('Add missing columns (needs alter-table)'),
    },
    responses: { 200: json(TableCount, 'The table now has this many rows') },
  }),
  'POST /-/upsert/:database/:table': () => ({
    family: 'legacy',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: LegacyBody, streams: true, required: true },
    query: {
      pk: { description: 'The primary key column(s); required', schema: Type.String({ examples: ['id'] }) },
      alter: flagQuery('Add missing columns (needs alter-table)'),
    },
    responses: { 200: json(TableCount, 'The table now has this many rows') },
  }),
  'POST /:database/-/create': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: CreateBody, required: true },
    responses: { 201: json(Created, 'Created, or rows added') },
  }),
  'POST /:database/:table/-/insert': (settings) => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: insertBody(settings.max_insert_rows), streams: true, required: true },
    query: STREAM_QUERY,
    responses: { 201: json(OkRows, 'Inserted; rows when asked for (JSON), or row_count (streamed)') },
  }),
  'POST /:database/:table/-/upsert': (settings) => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: upsertBody(settings.max_insert_rows), streams: true, required: true },
    query: { alter: STREAM_QUERY.alter },
    responses: { 200: json(OkRows, 'Upserted; rows when asked for (JSON), or row_count (streamed)') },
  }),
  'POST /:database/:table/-/drop': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: DropBody },
    responses: { 200: json(Dropped, 'Dropped, or (without confirm) what would be') },
  }),
  'POST /:database/:table/:pks/-/update': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: UpdateBody, required: true },
    responses: { 200: json(Updated) },
  }),
  'POST /:database/:table/:pks/-/delete': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    responses: { 200: json(Type.Object({ ok: Type.Literal(true) })) },
  }),
  'POST /:database/:table/-/alter': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: AlterBody, required: true },
    responses: { 200: json(Altered) },
  }),
  'POST /:database/-/execute-write': () => ({
    family: 'datasette',
    write: true,
    errors: WRITE_ERRORS,
    body: { schema: ExecuteWriteBody, required: true },
    responses: { 200: json(ExecuteWriteResult) },
  }),
  'GET /-/databases.json': () => ({
    family: 'datasette',
    responses: {
      200: json(
        Type.Array(
          Type.Object({ name: Type.String(), path: Nullable(Type.String()), is_mutable: Type.Boolean(), is_memory: Type.Boolean(), hash: Type.Null() }),
        ),
      ),
    },
  }),
  'GET /-/versions.json': () => ({
    family: 'datasette',
    responses: {
      200: json(
        Type.Object({
          rowpost: Type.Object({ version: Type.String() }),
          bun: Type.Object({ version: Type.String() }),
          sqlite: Type.Object({ version: Type.String() }),
        }),
      ),
    },
  }),
  'GET /-/actor.json': () => ({ family: 'datasette', responses: { 200: json(Type.Object({ actor: Nullable(Type.Record(Type.String(), Json)) })) } }),
  'GET /-/settings.json': () => ({ family: 'datasette', responses: { 200: json(Type.Record(Type.String(), Json)) } }),
  'GET /:database': () => ({
    family: 'page',
    query: {
      _size: TABLE_QUERY._size,
      _next: TABLE_QUERY._next,
      sql: { description: 'Redirects to /<db>/-/query.json (Datasette 1.0 moved SQL there)', schema: Type.String() },
    },
    responses: { 200: withHtml(json(DatabasePage)), 302: redirect('To the SQL query route, for ?sql=') },
  }),
  'GET /:database/:table': () => ({
    family: 'page',
    query: TABLE_QUERY,
    responses: {
      200: {
        description: 'A page of rows: JSON by _shape, NDJSON, CSV/TSV (text/plain unless _dl), or an HTML page for a browser',
        content: {
          [JSON_TYPE]: { schema: TablePage },
          'application/x-ndjson': { schema: Type.String() },
          'text/plain': { schema: Type.String() },
          'text/csv': { schema: Type.String() },
          'text/tab-separated-values': { schema: Type.String() },
          [HTML]: { schema: Type.String() },
        },
      },
      302: redirect('The filter form of the HTML page, as URL filters'),
    },
  }),
  'GET /:database/:table/:pks': () => ({
    family: 'page',
    query: { _shape: TABLE_QUERY._shape, _blob_column: { description: 'For <pks>.blob: the BLOB column to download', schema: Type.String() } },
    responses: {
      200: {
        description: 'The row: JSON, an HTML page, or (.blob) one BLOB',
        content: {
          [JSON_TYPE]: { schema: RowPage },
          'application/x-ndjson': { schema: Type.String() },
          [HTML]: { schema: Type.String() },
          'application/octet-stream': { schema: Type.String() },
        },
      },
    },
  }),
  'GET /:database/-/query.json': () => ({
    family: 'datasette',
    query: SQL_QUERY,
    sql: true,
    responses: { 200: { description: 'Rows', content: { [JSON_TYPE]: { schema: QueryResult }, 'application/x-ndjson': { schema: Type.String() } } } },
  }),
  'GET /:database/-/query': () => ({
    family: 'page',
    query: SQL_QUERY,
    sql: true,
    responses: {
      200: {
        description: 'Rows, or the query page for a browser',
        content: { [JSON_TYPE]: { schema: QueryResult }, 'application/x-ndjson': { schema: Type.String() }, [HTML]: { schema: Type.String() } },
      },
    },
  }),
  'GET /:database/-/query.csv': () => ({
    family: 'datasette',
    sql: true,
    query: { sql: SQL_QUERY.sql, _stream: TABLE_QUERY._stream, _dl: TABLE_QUERY._dl, _timelimit: SQL_QUERY._timelimit },
    responses: { 200: { description: 'CSV', content: { 'text/plain': { schema: Type.String() }, 'text/csv': { schema: Type.String() } } } },
  }),
  'GET /.json': () => ({
    family: 'datasette',
    responses: {
      200: json(
        Type.Object({
          ok: Type.Literal(true),
          unstable: Type.String(),
          databases: Type.Array(Type.Object({ name: Type.String(), path: Type.String() })),
          metadata: Type.Object({}),
        }),
      ),
    },
  }),
  'GET /-/schema.json': () => ({
    family: 'datasette',
    responses: { 200: json(Type.Object({ ok: Type.Literal(true), schemas: Type.Array(Type.Object({ database: Type.String(), schema: Type.String() })) })) },
  }),
  'GET /-/schema.md': () => ({ family: 'datasette', responses: { 200: text('text/markdown', 'Markdown') } }),
  'GET /:database/-/schema.json': () => ({
    family: 'datasette',
    responses: { 200: json(Type.Object({ ...SchemaJson.properties, database: Type.String(), schema: Type.String() })) },
  }),
  'GET /:database/-/schema.md': () => ({ family: 'datasette', responses: { 200: text('text/markdown', 'Markdown') } }),
  'GET /:database/:table/-/schema.json': () => ({
    family: 'datasette',
    responses: { 200: json(Type.Object({ ...SchemaJson.properties, database: Type.String(), table: Type.String(), schema: Type.String() })) },
  }),
  'GET /:database/:table/-/schema.md': () => ({ family: 'datasette', responses: { 200: text('text/markdown', 'Markdown') } }),
  'GET /:database/:table/-/changes': () => ({
    family: 'datasette',
    query: {
      since: { description: 'Resume after this change id (or send Last-Event-ID)', schema: Type.String({ examples: ['0'] }) },
      _format: { description: 'sse (the default) or ndjson', schema: Type.String({ examples: ['sse', 'ndjson'] }) },
    },
    responses: {
      200: {
        description: 'A stream of changes that does not end',
        content: { 'text/event-stream': { schema: Type.String() }, 'application/x-ndjson': { schema: Type.String() } },
      },
    },
  }),
  'GET /-/health': () => ({
    family: 'datasette',
    security: 'none',
    responses: { 200: json(Health, 'Ready'), 503: json(Health, 'Not ready: the reasons per database') },
  }),
  'GET /-/health/live': () => ({
    family: 'datasette',
    security: 'none',
    responses: { 200: json(Type.Object({ ok: Type.Literal(true), live: Type.Literal(true) })) },
  }),
  'GET /-/metrics': () => ({ family: 'datasette', responses: { 200: text('text/plain', 'Prometheus text format') } }),
  'GET /': () => ({ family: 'page', responses: { 200: text(HTML, 'The index page, for a browser (Accept: text/html); other clients get a 404') } }),
  'GET /-/static/rowpost.css': () => ({ family: 'datasette', security: 'none', responses: { 200: text('text/css', 'CSS') } }),
  'GET /-/static/rowpost.js': () => ({ family: 'datasette', security: 'none', responses: { 200: text('text/javascript', "The table page's live script") } }),
  'GET /-/login': () => ({ family: 'page', responses: { 200: text(HTML, 'The login form') } }),
  'POST /-/login': () => ({
    family: 'page',
    body: { schema: Type.Object({ token: Type.String() }, { examples: [{ token: 'dstok_...' }] }), form: true, required: true },
    responses: { 303: redirect('Logged in: the ds_actor cookie is set') },
  }),
  'POST /-/logout': () => ({ family: 'page', security: 'none', responses: { 303: redirect('Logged out: the cookie is cleared') } }),
  'GET /-/openapi.json': () => ({ family: 'datasette', responses: { 200: json(Type.Object({ openapi: Type.Literal('3.1.0') }), 'This document') } }),
  'GET /-/api': () => ({ family: 'page', responses: { 200: text(HTML, 'The API reference page, which renders this document') } }),
  'GET /-/static/api/:file': () => ({
    family: 'datasette',
    security: 'none',
    responses: {
      200: { description: "The reference page's files", content: { 'text/javascript': { schema: Type.String() }, 'text/css': { schema: Type.String() } } },
    },
  }),
}

const UNDESCRIBED: OperationDoc = { family: 'datasette', responses: { 200: { description: 'Not described yet' } } }

/** The routes the document lacks an entry for: empty when every route is described. */
export function undocumentedRoutes(routes: readonly RouteLike[]): string[] {
  return routes.map((route) => `${route.method} ${route.path}`).filter((key) => !Object.hasOwn(OPERATIONS, key))
}

const ERROR_DESCRIPTIONS: Record<number, string | undefined> = {
  400: 'The request is invalid (a message per problem)',
  401: 'The bearer token is unknown, expired or badly signed',
  403: 'Permission denied, an immutable database, or a cross-site or non-loopback request',
  404: 'No such database, table, row or route',
  408: 'A streamed upload arrived too slowly; nothing was written',
  413: 'The body (or one streamed row) is too large',
  503: 'The database is locked by another writer (Retry-After)',
  507: 'The disk or database is full; nothing was written',
  500: 'A fault of the server; details only in its log',
}

function errorResponses(doc: OperationDoc): Record<string, unknown> {
  const schema = doc.family === 'legacy' ? { $ref: '#/components/schemas/LegacyError' } : { $ref: '#/components/schemas/DatasetteError' }
  const statuses = [400, 401, 403, 404, ...(doc.errors ?? []), 500]
  return Object.fromEntries(
    statuses.map((status) => {
      const content: Record<string, unknown> = { [JSON_TYPE]: { schema } }
      if (status === 400 && doc.sql) content[JSON_TYPE] = { schema: { anyOf: [{ $ref: '#/components/schemas/SqlError' }, schema] } }
      if (doc.family === 'page') content[HTML] = { schema: { type: 'string' } }
      return [String(status), { description: ERROR_DESCRIPTIONS[status] ?? 'Error', content }]
    }),
  )
}

/** Elysia's `:name` to OpenAPI's `{name}`. */
const openApiPath = (path: string) => path.replace(/:(\w+)/g, '{$1}')

const PARAM_DESCRIPTIONS: Record<string, string> = {
  database: 'A database name, tilde-encoded (on the read routes followed by .json, .csv or .tsv where the route serves a format)',
  table: 'A table name, tilde-encoded (on the read routes followed by .json, .csv or .tsv)',
  pks: 'The primary key values, tilde-encoded and comma-separated (or the rowid); on the read routes followed by .json or .blob',
  file: 'swagger-ui-bundle.js, swagger-ui.css or api.js',
}
const PARAM_EXAMPLES: Record<string, Record<string, string[]>> = {
  'GET /:database': { database: ['data.json'] },
  'GET /:database/:table': { database: ['data'], table: ['docs.json', 'docs.csv', 'docs.tsv'] },
  'GET /:database/:table/:pks': { database: ['data'], table: ['docs'], pks: ['1.json'] },
  'GET /-/static/api/:file': { file: ['swagger-ui-bundle.js', 'swagger-ui.css', 'api.js'] },
}
const DEFAULT_EXAMPLES: Record<string, string[]> = { database: ['data'], table: ['docs'], pks: ['1'] }

function parameters(key: string, route: RouteLike, doc: OperationDoc) {
  const names = [...route.path.matchAll(/:(\w+)/g)].map((match) => match[1]!)
  const path = names.map((name) => ({
    name,
    in: 'path',
    required: true,
    description: PARAM_DESCRIPTIONS[name],
    schema: { type: 'string', examples: PARAM_EXAMPLES[key]?.[name] ?? DEFAULT_EXAMPLES[name] },
  }))
  const declared = (route.hooks.query as { properties?: Record<string, TSchema> } | undefined)?.properties ?? {}
  const query = { ...Object.fromEntries(Object.keys(declared).map((name) => [name, { description: '', schema: Type.String() }])), ...doc.query }
  const headers = doc.write
    ? [
        {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Retry-safe writes: a retry with the same key, actor and body gets the first answer (with Idempotent-Replayed: true); not on streamed uploads',
          schema: { type: 'string', maxLength: 255 },
        },
      ]
    : []
  return [
    ...path,
    ...Object.entries(query).map(([name, { description, schema }]) => ({
      name,
      in: 'query',
      required: false,
      description: description || undefined,
      schema: schema ?? Type.String(),
    })),
    ...headers,
  ]
}

function requestBody(doc: OperationDoc) {
  if (!doc.body) return undefined
  const { schema, streams, required, form } = doc.body
  const examples = (schema as { examples?: unknown[] }).examples ?? []
  const content: Record<string, unknown> = form
    ? { 'application/x-www-form-urlencoded': { schema } }
    : { [JSON_TYPE]: { schema, examples: Object.fromEntries(examples.map((value, i) => [`example${i + 1}`, { value }])) } }
  if (streams) {
    for (const [type, example] of Object.entries(STREAM_EXAMPLES)) {
      content[type] = {
        schema: {
          type: 'string',
          description: 'One row per line (NDJSON) or record (CSV/TSV, a header row first); received whole, then written in one transaction',
        },
        example,
      }
    }
  }
  return { required: required ?? false, content }
}

/** The OpenAPI 3.1 document for these routes, with limits (max_insert_rows) from these settings. */
export function openApiDocument(routes: readonly RouteLike[], settings: Settings, version: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  for (const route of routes) {
    const key = `${route.method} ${route.path}`
    // A route added without an entry is still listed, with what its declaration says; tests/openapi.test.ts fails on it.
    const doc = OPERATIONS[key]?.(settings) ?? UNDESCRIBED
    const operation = {
      operationId: operationId(route),
      summary: route.hooks.detail?.summary,
      tags: [tagOf(doc, route.path)],
      parameters: parameters(key, route, doc),
      requestBody: requestBody(doc),
      responses: { ...doc.responses, ...errorResponses(doc) },
      ...(doc.security === 'none' ? { security: [] } : {}),
    }
    ;(paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = JSON.parse(JSON.stringify(operation))
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'rowpost',
      version,
      summary: "POST JSON rows, get SQLite (or PostgreSQL) tables: Datasette 1.0's JSON APIs and datasette-insert's legacy API",
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    servers: [{ url: '/' }],
    tags: [
      { name: 'write', description: "Datasette 1.0's JSON write API" },
      { name: 'legacy', description: "datasette-insert's API: /-/insert and /-/upsert" },
      { name: 'read', description: 'Tables, rows, SQL queries, schemas and the change feed' },
      { name: 'instance', description: 'The instance: databases, versions, settings, health, metrics, this document' },
      { name: 'pages', description: 'HTML pages for a browser, and login' },
    ],
    paths,
    // Anonymous requests are allowed wherever the permissions allow them: hence the empty alternative.
    security: [{ bearer: [] }, { cookie: [] }, {}],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A static token from the metadata (datasette-auth-tokens), or a signed dstok_ token made with `rowpost create-token` (needs --secret). An unknown, expired or badly signed token is a 401.',
        },
        cookie: {
          type: 'apiKey',
          in: 'cookie',
          name: 'ds_actor',
          description: "Datasette's signed login cookie, set by POST /-/login; used when no Authorization header is sent",
        },
      },
      schemas: { LegacyError, DatasetteError, SqlError },
    },
  }
}

function tagOf(doc: OperationDoc, path: string): string {
  if (doc.family === 'legacy') return 'legacy'
  if (doc.write) return 'write'
  if (doc.family === 'page' && (path === '/' || path.startsWith('/-/log') || path === '/-/api')) return 'pages'
  return path.startsWith('/-/') || path === '/.json' ? 'instance' : 'read'
}

/** `GET /:database/-/query.json` → `get_database_query_json`: stable, unique, and readable in generated clients. */
function operationId(route: RouteLike): string {
  const words = route.path.replace(/[:.\-/]+/g, '_').replace(/^_+|_+$/g, '')
  return `${route.method.toLowerCase()}_${words || 'index'}`
}
