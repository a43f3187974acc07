/** The datasette-insert plugin's routes: POST /-/insert/<db>/<table> and /-/upsert/<db>/<table>. */
import { Elysia, t } from 'elysia'
import { ImmutableDatabase, UpsertRequiresPk } from '../errors'
import { queryFlag } from '../flags'
import { parseJson } from '../json'
import { legacyRows } from '../rows'
import { countRows } from '../store/path'
import { writeRowsPath } from '../writer'
import { readBodyText } from './body'
import { ROUTE_NEEDS, TableAccess } from './access'
import type { AppContext } from './context'
import { jsonResponse } from './respond'
import { ingestStream, streamFormat } from './stream'
import type { WriteResponder } from './write-once'

export function legacyRoutes(context: AppContext, writeOnce: WriteResponder) {
  async function insertOrUpsert(request: Request, verb: 'insert' | 'upsert', databaseName: string, tableName: string) {
    const database = context.database(databaseName)
    const query = new URL(request.url).searchParams
    const pks = query.getAll('pk').filter((pk) => pk !== '')
    if (verb === 'upsert' && pks.length === 0) throw new UpsertRequiresPk()
    const alter = queryFlag(query.get('alter'))
    // The plugin's names are taken as they are (no tilde decoding), and permissions are checked before any lookup.
    const access = new TableAccess(context, request, database.name, tableName)
    access.require(ROUTE_NEEDS.legacy)
    if (alter) access.require(ROUTE_NEEDS.legacyAlter)
    if (database.immutable) throw new ImmutableDatabase()
    const mayCreate = context.allowed(request, 'create-table', { database: database.name })
    const mode = verb === 'upsert' ? 'upsert' : 'replace'
    const format = streamFormat(request)
    if (format) {
      const { tableCount } = await ingestStream(context, request, database, format, { table: tableName, pks, mode, alter, mayCreate })
      return jsonResponse({ table_count: tableCount })
    }
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    const rows = legacyRows(parseJson(bodyText))
    return writeOnce(request, database, bodyText, function* (s) {
      const { table } = yield* writeRowsPath(s, { table: tableName, rows, pks, mode, alter, mayCreate })
      return { status: 200, body: { table_count: yield* countRows(table.name) } }
    })
  }

  const params = t.Object({ database: t.String(), table: t.String() })
  // Other query parameters are ignored, as the plugin ignored them (a cache-buster must not turn a write into a 400).
  const query = t.Object({ pk: t.Optional(t.Union([t.String(), t.Array(t.String())])), alter: t.Optional(t.String()) }, { additionalProperties: true })
  return new Elysia({ name: 'rowpost-legacy' })
    .post('/-/insert/:database/:table', ({ request, params }) => insertOrUpsert(request, 'insert', params.database, params.table), {
      parse: 'none',
      params,
      query,
      detail: { summary: 'Insert or replace rows, creating the table if needed (datasette-insert)' },
    })
    .post('/-/upsert/:database/:table', ({ request, params }) => insertOrUpsert(request, 'upsert', params.database, params.table), {
      parse: 'none',
      params,
      query,
      detail: { summary: 'Insert rows or update the given columns of existing ones (datasette-insert)' },
    })
}
