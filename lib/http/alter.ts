/** Datasette 1.0's `POST /<db>/<table>/-/alter`: every operation of one request applied in one transaction. */
import { Elysia, t } from 'elysia'
import { alterTable, alterTargets, parseAlterBody } from '../alter'
import { ImmutableDatabase } from '../errors'
import { tildeDecode } from '../identifiers'
import { parseJson } from '../json'
import { foreignKeyTargetNeeds, renameTableNeeds, ROUTE_NEEDS, TableAccess } from './access'
import { tableNamed, tableNamedPath, tableUrls } from './tables'
import { readBodyText } from './body'
import type { AppContext } from './context'
import { onSqlite, type WriteResponder } from './write-once'

export function alterRoutes(context: AppContext, writeOnce: WriteResponder) {
  /** Datasette's order: the table (404), alter-table (403), immutability (403), then the body (400). */
  async function alter(request: Request, params: { database: string; table: string }) {
    const named = context.database(tildeDecode(params.database))
    const access = new TableAccess(context, request, named.name, tildeDecode(params.table))
    await access.lookup(ROUTE_NEEDS.alter, () => tableNamed(named, access.table))
    // Only a caller allowed to alter the table learns that its database cannot be altered this way.
    const database = context.sqliteDatabase(named.name, 'alter')
    if (database.immutable) throw new ImmutableDatabase()
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    const operations = parseAlterBody(parseJson(bodyText))
    const { renameTo, referencedTables } = alterTargets(operations)
    if (renameTo !== undefined) new TableAccess(context, request, database.name, renameTo).require(renameTableNeeds(renameTo))
    for (const name of referencedTables) {
      new TableAccess(context, request, database.name, name).require(foreignKeyTargetNeeds(name))
    }
    return writeOnce(
      request,
      database,
      bodyText,
      onSqlite((writer) => {
        const altered = alterTable(writer, writer.drive(tableNamedPath(access.table)), operations)
        const body = {
          ok: true,
          database: database.name,
          table: altered.table,
          ...tableUrls(request.url, database.name, altered.table),
          altered: altered.schema !== altered.beforeSchema,
          schema: altered.schema,
          before_schema: altered.beforeSchema,
          operations_applied: operations.length,
        }
        return { status: 200, body }
      }),
    )
  }

  return new Elysia({ name: 'rowpost-alter' }).post('/:database/:table/-/alter', ({ request, params }) => alter(request, params), {
    parse: 'none',
    params: t.Object({ database: t.String(), table: t.String() }),
    detail: { summary: 'Change a table: add, rename, retype, drop and reorder columns, keys and foreign keys, rename it (Datasette 1.0)' },
  })
}
