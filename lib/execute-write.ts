/** Datasette 1.0's /-/execute-write: the body's rules, and running one analysed write statement on the writer. */
import type { CachedConnection } from './database'
import { apiErrorFromSqlite, InvalidBody, WriteSqlFailed } from './errors'
import { FloatLiteral, type JsonValue } from './json'
import { namedParameters, tokens } from './query/sql-text'
import type { WriteAnalysis } from './query/write-analysis'
import { rowFromValues } from './values'

/** Datasette's EXECUTE_WRITE_RETURNING_LIMIT: rows a RETURNING clause sends back at most. */
export const RETURNING_LIMIT = 10

type Parameter = string | number | bigint | null

export interface ExecuteWriteBody {
  sql: string
  /** Every `:name` of the SQL, bound to the body's value or, as in Datasette, to '' when the body has none. */
  params: Record<string, Parameter>
}

const BODY_KEYS = new Set(['sql', 'params'])

function isObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof FloatLiteral)
}

/** A JSON value as SQLite binds it from Python (True as 1); objects and lists cannot be bound. */
function parameterValue(name: string, value: JsonValue): Parameter {
  if (value instanceof FloatLiteral) return value.value
  if (typeof value === 'boolean') return value ? 1 : 0
  if (value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint') return value
  throw new InvalidBody(`Error binding parameter :${name} - probably unsupported type.`)
}

/** Checks the body in Datasette's order: its shape, its keys, `params`, `sql`, then the parameters the SQL names. */
export function parseExecuteWriteBody(body: JsonValue): ExecuteWriteBody {
  if (!isObject(body)) throw new InvalidBody('JSON must be a dictionary')
  const invalid = Object.keys(body).filter((key) => !BODY_KEYS.has(key))
  if (invalid.length) throw new InvalidBody(`Invalid keys: ${invalid.sort().join(', ')}`)
  const given = body.params ?? {}
  if (!isObject(given)) throw new InvalidBody('params must be a dictionary')
  const sql = body.sql
  if (typeof sql !== 'string' || sql === '') throw new InvalidBody('SQL is required')
  const names = namedParameters(sql)
  if (names.some((name) => name.startsWith('_'))) throw new InvalidBody('Magic parameters are not allowed')
  const unknown = Object.keys(given).filter((key) => !names.includes(key))
  if (unknown.length) throw new InvalidBody(`Unknown parameters: ${unknown.sort().join(', ')}`)
  const params: Record<string, Parameter> = {}
  for (const name of names) params[name] = Object.hasOwn(given, name) ? parameterValue(name, given[name]!) : ''
  return { sql, params }
}

/**
 * Parameters the body cannot name (`?`, `@x`, `$x`): Python's sqlite3 refuses them when given a dictionary, so
 * rowpost does rather than bind them to NULL.
 */
function refuseUnnamedParameters(sql: string): void {
  for (const token of tokens(sql)) {
    if (token.kind === 'param' && !token.text.startsWith(':')) {
      throw new WriteSqlFailed(`You did not supply a value for binding parameter ${token.text}.`)
    }
    if (token.kind === 'other' && token.text === '?') {
      throw new WriteSqlFailed('Binding 1 has no name, but you supplied a dictionary (which has only names).')
    }
  }
}

export interface ExecuteWriteResult {
  message: string
  rowcount: number
  rows: Record<string, unknown>[]
  truncated: boolean
}

/** SQLite's failure as the client's 400 (constraints keep their own code), unless it is the server's (busy, full). */
function failure(error: unknown): unknown {
  if (!(error instanceof Error)) return error
  if (error.name === 'SQLiteError') return apiErrorFromSqlite(error as Error & { code?: string }) ?? new WriteSqlFailed(error.message)
  if (error instanceof RangeError || error instanceof TypeError) return new WriteSqlFailed(error.message)
  return error
}

/**
 * Runs the statement on the writer inside the request's savepoint. Every row it returns is read (so `rowcount` is
 * exact), the first RETURNING_LIMIT kept; as in Datasette, `rowcount` is -1 for a schema change and when rows were
 * cut off. Row counts of every table it may have changed are recounted after the commit.
 */
export function runWriteSql(writer: CachedConnection, body: ExecuteWriteBody, analysis: WriteAnalysis): ExecuteWriteResult {
  refuseUnnamedParameters(body.sql)
  const rows: Record<string, unknown>[] = []
  let returned = 0
  let changes: number
  try {
    const statement = writer.connection.prepare(body.sql)
    try {
      statement.safeIntegers(true)
      const columns = statement.columnNames
      const bindings = Object.fromEntries(Object.entries(body.params).map(([name, value]) => [`:${name}`, value]))
      for (const row of statement.iterate(bindings) as Iterable<Record<string, unknown>>) {
        if (++returned <= RETURNING_LIMIT)
          rows.push(
            rowFromValues(
              columns,
              columns.map((column) => row[column]),
            ),
          )
      }
    } finally {
      statement.finalize()
    }
    changes = (writer.statement('SELECT changes() AS n').get() as { n: number }).n
  } catch (error) {
    throw failure(error)
  }
  for (const table of analysis.touched) writer.counts?.forget(table)
  const truncated = returned > RETURNING_LIMIT
  const rowcount = analysis.schemaChange || truncated ? -1 : changes
  const message = rowcount === -1 ? 'Query executed' : `Query executed, ${rowcount} row${rowcount === 1 ? '' : 's'} affected`
  return { message, rowcount, rows, truncated }
}
