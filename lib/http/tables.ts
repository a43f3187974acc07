/** The tables routes name: finding one (or a 404), and the URLs an answer gives for it. */
import type { TableInfo } from '../database'
import { TableNotFound } from '../errors'
import { tildeEncode } from '../identifiers'

/**
 * The named table or a 404; asked of the writer inside a transaction too, so a request batched after a drop of its
 * table gets the 404 it would have got later. `named` puts the name in the 1.0 `errors` list, as row routes do.
 */
export function tableNamed(source: { table(name: string): TableInfo | undefined }, name: string, named = false): TableInfo {
  const table = source.table(name)
  if (!table) throw new TableNotFound(name, named)
  return table
}

/** Datasette's `table_url` and `table_api_url`, absolute on the request's own origin. */
export function tableUrls(requestUrl: string, database: string, table: string): { table_url: string; table_api_url: string } {
  const tableUrl = `${new URL(requestUrl).origin}/${tildeEncode(database)}/${tildeEncode(table)}`
  return { table_url: tableUrl, table_api_url: `${tableUrl}.json` }
}
