/** Datasette 1.0's POST /<db>/-/execute-write: one write statement, analysed, permission-checked, then run in the group commit. */
import { Elysia, t } from 'elysia'
import { ImmutableDatabase } from '../errors'
import { parseExecuteWriteBody, runWriteSql } from '../execute-write'
import { tildeDecode } from '../identifiers'
import { parseJson } from '../json'
import { analyzeWrite } from '../query/write-analysis'
import { DATABASE_NEEDS, requireOnDatabase, statementNeeds, TableAccess } from './access'
import { readBodyText } from './body'
import type { AppContext } from './context'
import { onSqlite, type WriteResponder } from './write-once'

export function executeWriteRoutes(context: AppContext, writeOnce: WriteResponder) {
  /**
   * Datasette's order: the database, execute-write-sql, mutability, the body, then the statement's analysis and the
   * permissions of everything it touches, all before it runs. The analysis is made on the writer inside the request's
   * transaction, so it describes the schema the statement will really run against.
   */
  async function executeWrite(request: Request, databaseName: string) {
    const named = context.database(tildeDecode(databaseName))
    requireOnDatabase(context, request, named.name, DATABASE_NEEDS.executeWrite)
    // Only a caller allowed to run write SQL learns that this database cannot run it.
    const database = context.sqliteDatabase(named.name, 'execute-write')
    if (database.immutable) throw new ImmutableDatabase()
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    // Datasette reads an empty body as {}, which then lacks its SQL.
    const body = parseExecuteWriteBody(bodyText.trim() === '' ? {} : parseJson(bodyText))
    return writeOnce(
      request,
      database,
      bodyText,
      onSqlite((writer) => {
        const analysis = analyzeWrite(writer.connection, body.sql)
        for (const operation of analysis.operations) {
          const needs = statementNeeds(database.name, operation.table, operation.needs)
          const onDatabase = needs.filter((need) => need.action === 'create-table')
          requireOnDatabase(context, request, database.name, onDatabase)
          new TableAccess(context, request, database.name, operation.table).require(needs.filter((need) => need.action !== 'create-table'))
        }
        const result = runWriteSql(writer, body, analysis)
        const rows = analysis.operations.map((operation) => ({
          operation: operation.operation,
          database: database.name,
          table: operation.table,
          required_permission: operation.needs.join(', '),
          source: operation.source,
        }))
        return { status: 200, body: { ok: true, ...result, analysis: rows } }
      }),
    )
  }

  return new Elysia({ name: 'rowpost-execute-write' }).post('/:database/-/execute-write', ({ request, params }) => executeWrite(request, params.database), {
    parse: 'none',
    params: t.Object({ database: t.String() }),
    detail: { summary: 'Run one write SQL statement, with the permissions of every table it touches (Datasette 1.0)' },
  })
}
