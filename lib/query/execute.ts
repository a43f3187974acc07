/** Runs one SQL query on a read-only connection: refuses writes, trailing statements and private tables, then reads rows. */
import type { Database, Statement } from 'bun:sqlite'
import { identifierKey } from '../identifiers'
import type { SqlValue } from '../values'
import { analyzeStatement, type StatementAnalysis } from './analyze'
import { hasTrailingStatement, namedParameters } from './sql-text'

/** Which tables the actor may not read; null when it may read every one (the analysis is then only the read-only check). */
export interface Privacy {
  /** identifierKey() of every table the actor may not view (rowpost's internal tables always among them). */
  hidden: string[]
  /** Whether the actor may view every user table, so that the schema (sqlite_master, pragma functions) names nothing secret. */
  allVisible: boolean
}

export interface QueryJob {
  path: string
  sql: string
  /** Query-string values for the statement's `:named` parameters; missing ones are bound as ''. */
  params: Record<string, string>
  /** Rows to return before answering `truncated: true` (ignored when streaming). */
  maxRows: number
  privacy: Privacy | null
}

export type QueryFailure = { ok: false; kind: 'invalid' | 'sqlite' | 'forbidden'; message: string }
export type QueryOutcome = { ok: true; columns: string[]; rows: SqlValue[][]; truncated: boolean } | QueryFailure

/** Data-only table-valued functions: they read their arguments, never the database. */
const SAFE_EPONYMOUS = new Set(['json_each', 'json_tree', 'generate_series', 'carray'])
const HIDDEN_TABLE = 'Permission denied: this query reads a table you may not view'
const HIDDEN_SCHEMA = 'Permission denied: this query reads the database schema (sqlite_master or a pragma function), which names tables you may not view'
const NOT_SELECT = 'Statement must be a SELECT'
const ONE_STATEMENT = 'You can only execute one statement at a time.'

export class QueryRefused extends Error {
  constructor(readonly failure: QueryFailure) {
    super(failure.message)
  }
}

const refuse = (kind: QueryFailure['kind'], message: string): never => {
  throw new QueryRefused({ ok: false, kind, message })
}

type Cached = Pick<StatementAnalysis, 'reads' | 'readsSchema' | 'virtualTables' | 'readOnly'> & { declared: Set<string> }
const ANALYSIS_CACHE_SIZE = 500
const analyses = new WeakMap<Database, Map<string, Cached>>()

/** The analysis of `sql`, kept per connection, schema version and SQL text (the bytecode depends on nothing else). */
function analysis(connection: Database, sql: string): Cached {
  const { schema_version: version } = connection.query('PRAGMA schema_version').get() as { schema_version: number }
  let cache = analyses.get(connection)
  if (!cache) analyses.set(connection, (cache = new Map()))
  const key = `${version}\0${sql}`
  const found = cache.get(key)
  if (found) return found
  let result: StatementAnalysis
  try {
    result = analyzeStatement(connection, sql)
  } catch (error) {
    return refuse('sqlite', (error as Error).message)
  }
  const declared = new Set(
    (connection.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND rootpage = 0").all() as Array<{ name: string }>).map((row) =>
      identifierKey(row.name),
    ),
  )
  const entry = { reads: result.reads, readsSchema: result.readsSchema, virtualTables: result.virtualTables, readOnly: result.readOnly, declared }
  if (cache.size >= ANALYSIS_CACHE_SIZE) cache.delete(cache.keys().next().value!)
  cache.set(key, entry)
  return entry
}

/** Refuses, before anything runs, a statement that writes or reads what the actor may not see; SQLite's message when it does not compile. */
export function checkQuery(connection: Database, sql: string, privacy: Privacy | null): void {
  const found = analysis(connection, sql)
  if (!found.readOnly) refuse('invalid', NOT_SELECT)
  if (hasTrailingStatement(sql)) refuse('sqlite', ONE_STATEMENT)
  if (!privacy) return
  const hidden = new Set(privacy.hidden)
  // `?` is a cursor on a temp or attached schema, which a read-only query cannot have made: refuse rather than guess.
  if (found.reads.some((table) => hidden.has(identifierKey(table)) || table.includes('?'))) refuse('forbidden', HIDDEN_TABLE)
  for (const name of found.virtualTables) {
    const key = identifierKey(name)
    if (found.declared.has(key)) {
      if (hidden.has(key)) refuse('forbidden', HIDDEN_TABLE)
    } else if (!SAFE_EPONYMOUS.has(key) && !privacy.allVisible) {
      refuse('forbidden', HIDDEN_SCHEMA)
    }
  }
  if (found.readsSchema && !privacy.allVisible) refuse('forbidden', HIDDEN_SCHEMA)
}

export interface PreparedQuery {
  statement: Statement
  /** `:name` to value; empty when the statement has no named parameters. */
  bindings: Record<string, string>
}

/** The statement prepared with exact integers and its `:named` parameters bound (all text; missing ones ''). */
export function prepareQuery(connection: Database, sql: string, params: Record<string, string>): PreparedQuery {
  let statement: Statement
  try {
    statement = connection.prepare(sql)
  } catch (error) {
    return refuse('sqlite', (error as Error).message)
  }
  statement.safeIntegers(true)
  const bindings: Record<string, string> = {}
  for (const name of namedParameters(sql)) bindings[`:${name}`] = Object.hasOwn(params, name) ? params[name]! : ''
  return { statement, bindings }
}

/**
 * The rows as arrays, in batches of `batchSize`. bun:sqlite iterates rows as objects only, which merges columns of the
 * same name; such a result is read whole instead (bounded by the time limit).
 */
export function* rowBatches({ statement, bindings }: PreparedQuery, batchSize: number): Generator<SqlValue[][]> {
  const columns = statement.columnNames
  const args = Object.keys(bindings).length > 0 ? [bindings] : []
  try {
    if (new Set(columns).size !== columns.length) {
      const rows = statement.values(...args) as SqlValue[][]
      for (let start = 0; start < rows.length; start += batchSize) yield rows.slice(start, start + batchSize)
      return
    }
    let batch: SqlValue[][] = []
    for (const row of statement.iterate(...args) as Iterable<Record<string, SqlValue>>) {
      batch.push(columns.map((column) => row[column]!))
      if (batch.length === batchSize) {
        yield batch
        batch = []
      }
    }
    if (batch.length > 0) yield batch
  } catch (error) {
    if (error instanceof QueryRefused) throw error
    refuse('sqlite', (error as Error).message)
  }
}

/** Runs the whole job: checks, then at most maxRows rows (one more is read to know whether it was truncated). */
export function runQuery(connection: Database, job: QueryJob): QueryOutcome {
  try {
    checkQuery(connection, job.sql, job.privacy)
    const prepared = prepareQuery(connection, job.sql, job.params)
    const { statement } = prepared
    try {
      const rows: SqlValue[][] = []
      for (const batch of rowBatches(prepared, job.maxRows + 1)) {
        rows.push(...batch)
        if (rows.length > job.maxRows) break
      }
      const truncated = rows.length > job.maxRows
      return { ok: true, columns: statement.columnNames, rows: truncated ? rows.slice(0, job.maxRows) : rows, truncated }
    } finally {
      statement.finalize()
    }
  } catch (error) {
    if (error instanceof QueryRefused) return error.failure
    throw error
  }
}
