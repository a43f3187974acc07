/** The tables routes name: finding one (or a 404), and the URLs an answer gives for it. */
import type { TableInfo } from '../database'
import { TableNotFound } from '../errors'
import { tildeEncode } from '../identifiers'
import { table as lookUp, type Path } from '../store/path'
import type { Store } from '../store/store'

/** The named table or a 404, once the store's schema is up to date. `named` puts the name in the 1.0 `errors` list, as row routes do. */
export async function tableNamed(database: Store, name: string, named = false): Promise<TableInfo> {
  await database.sync(name)
  const table = database.table(name)
  if (!table) throw new TableNotFound(name, named)
  return table
}

/**
 * The named table or a 404, asked inside the write transaction, so a request batched after a drop of its table gets
 * the 404 it would have got later.
 */
export function* tableNamedPath(name: string, named = false): Path<TableInfo> {
  const table = yield* lookUp(name)
  if (!table) throw new TableNotFound(name, named)
  return table
}

/** Datasette's `table_url` and `table_api_url`, absolute on the request's own origin. */
export function tableUrls(requestUrl: string, database: string, table: string): { table_url: string; table_api_url: string } {
  const tableUrl = `${new URL(requestUrl).origin}/${tildeEncode(database)}/${tildeEncode(table)}`
  return { table_url: tableUrl, table_api_url: `${tableUrl}.json` }
}
