/** One SQLite connection behind the storage interface: cached statements and schema, and the synchronous driver of paths. */
import type { Database, Statement } from 'bun:sqlite'
import { identifierKey, isReservedTableName } from '../../identifiers'
import { FEEDS_TABLE } from '../feed-sql'
import type { RowCounts } from '../../row-counts'
import { drive, powerOfTwoRuns, RowFailure, type Answer, type EachResult, type Path, type Session, type StatementRef, type StatementRequest } from '../path'
import type { SqlValue } from '../../values'
import type { ColumnInfo, TableInfo, TableListing } from '../table'
import { sqliteDialect } from './dialect'

const STATEMENT_CACHE_SIZE = 512
/** SQLite's default SQLITE_MAX_VARIABLE_NUMBER: the most `?` one statement may have. */
const MAX_PARAMETERS = 32766
/** Rows per multi-row statement: past 64, bare bun:sqlite measured no faster per row (1000-row batches of 4 columns). */
const MAX_ROWS_PER_STATEMENT = 64

/** A user table as sqlite_schema lists it; its columns are read only when first asked for. */
interface SchemaEntry {
  name: string
  /** sqlite_schema's rowid: creation order, and the position a paged listing resumes after. */
  position: number
  /** Its CREATE TABLE statement. */
  sql: string
  /** The CREATE statements of the table and its indexes: while they are unchanged, so is the TableInfo. */
  definition: string
  /** Undefined until read; null when SQLite cannot describe the table (a virtual table whose module is missing). */
  info?: TableInfo | null
}

const isSqliteError = (error: unknown) =>
  typeof (error as { code?: unknown }).code === 'string' && String((error as { code: string }).code).startsWith('SQLITE_')

/**
 * One connection with a bounded prepared-statement cache and a schema cache that follows `PRAGMA schema_version`.
 * Both are dropped whenever the version moves: a cached statement's SQL was built from the schema it was prepared
 * under (an upsert's conflict target, say), and SQLite would recompile it against the new schema rather than fail.
 */
export class SqliteConnection implements Session {
  readonly dialect = sqliteDialect

  private schema = new Map<string, SchemaEntry>()
  private schemaVersion = -1
  private statements = new Map<string, Statement>()

  constructor(
    readonly connection: Database,
    /** Row counts the write path keeps up to date; only on a writer. */
    readonly counts?: RowCounts,
  ) {}

  run(sql: string): void {
    this.connection.run(sql)
  }

  /** Rows changed by the statements this connection ran for paths (and those noted by SQLite-only routes), for metrics. */
  changeCount = 0

  /** Adds changes made by statements run on the raw connection (the SQLite-only routes). */
  noteChanges(count: number): void {
    this.changeCount += count
  }

  /** SQLite's own count of rows changed on this connection, for work done outside paths. */
  totalChanges(): number {
    return (this.statement('SELECT total_changes() AS n').get() as { n: number }).n
  }

  /** Answers one request of a path on this connection, with statements from the cache. */
  private readonly answer = (request: StatementRequest): Answer => {
    if (request.want === 'exec') return void this.connection.run(request.sql)
    if (request.want === 'table') return this.table(request.name)
    if (request.want === 'count') return this.countRows(request.name)
    if (request.want === 'schema') return this.tableSchema(request.name)
    if (request.want === 'runEach') return this.runEach(request)
    if (request.want === 'feed') return this.takeChangeIds(request.name, request.count, request.now)
    if (request.want === 'follow') return this.follow(request.name, request.until, request.now)
    const { key, build, safeIntegers } = request.statement
    const statement = this.cached(key, build, safeIntegers)
    if (request.want === 'run') {
      const result = statement.run(...(request.params as never[]))
      this.changeCount += result.changes
      return result
    }
    return statement[request.want](...(request.params as never[])) as Answer
  }

  /**
   * Followed tables and until when, from `_rowpost_feeds`: read again after another connection has committed (group
   * commit tells `othersCommitted` when a transaction begins), so a table another process started following is seen
   * by this writer's next transaction.
   */
  private followed: Map<string, number> | undefined

  othersCommitted(): void {
    this.followed = undefined
  }

  private followedTables(): Map<string, number> {
    if (this.followed) return this.followed
    this.followed = new Map()
    try {
      const rows = this.connection.query(`SELECT name, followed_until FROM ${FEEDS_TABLE}`).values() as Array<[string, number]>
      for (const [name, until] of rows) this.followed.set(name, until)
    } catch (error) {
      if (!isSqliteError(error)) throw error
    }
    return this.followed
  }

  private takeChangeIds(table: string, count: number, now: number): number | null {
    const until = this.followedTables().get(table)
    if (until === undefined || until <= now) return null
    const row = this.statement(this.dialect.feed.allocate).get(count, table, now) as { last_id: number } | null
    return row ? row.last_id : null
  }

  private follow(table: string, until: number, now: number): void {
    for (const sql of this.dialect.feed.create) this.connection.run(sql)
    this.statement(this.dialect.feed.follow).run(table, until, now)
    const followed = this.followedTables()
    followed.set(table, Math.max(followed.get(table) ?? 0, until))
  }

  /**
   * Rows that all have their keys go as statements of many rows each (runs of powers of two, up to
   * MAX_ROWS_PER_STATEMENT): binding and stepping one statement per row cost about half again as much. When one fails
   * (SQLite undoes that statement alone), its rows run again one by one, to name the row at fault.
   */
  private runEach(request: Extract<StatementRequest, { want: 'runEach' }>): EachResult {
    const { rows, keys, many } = request
    const width = rows[0]?.length ?? 0
    const limit = Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_PARAMETERS / Math.max(width, 1)))
    if (!many || rows.length < 2 || width === 0 || limit < 2 || keys.some((key) => key === null)) return this.runRowByRow(request.statement, rows)
    let changes = 0
    for (let start = 0; start < rows.length; ) {
      const end = Math.min(start + limit, rows.length)
      for (const [from, to] of powerOfTwoRuns(start, end)) {
        const ref = many(to - from)
        const statement = this.cached(ref.key, ref.build, ref.safeIntegers)
        let changed: number
        try {
          changed = statement.run(...(rows.slice(from, to).flat() as never[])).changes
        } catch (error) {
          // An error that ended the whole transaction (a full disk) leaves nothing to run again in it.
          if (!this.connection.inTransaction) throw new RowFailure(from, error)
          changes += this.runRowByRow(request.statement, rows.slice(from, to), from).changes
          continue
        }
        changes += changed
        this.changeCount += changed
      }
      start = end
    }
    return { changes, generated: rows.map(() => null) }
  }

  /** One statement per row; `offset` is the index of the first of `rows` in the request, for naming a failing row. */
  private runRowByRow(ref: StatementRef, rows: SqlValue[][], offset = 0): EachResult {
    const statement = this.cached(ref.key, ref.build, ref.safeIntegers)
    let changes = 0
    const generated: EachResult['generated'] = []
    const changed: boolean[] = []
    for (let index = 0; index < rows.length; index++) {
      let result
      try {
        result = statement.run(...(rows[index] as never[]))
      } catch (error) {
        throw new RowFailure(offset + index, error)
      }
      changes += result.changes
      generated.push(result.changes > 0 ? result.lastInsertRowid : null)
      changed.push(result.changes > 0)
    }
    this.changeCount += changes
    return { changes, generated, changed }
  }

  /** Runs a path to its end in this event-loop turn: inside a write's SAVEPOINT, it stays one synchronous unit. */
  drive<T>(path: Path<T>): T {
    return drive(path, this.answer)
  }

  /** A prepared statement, compiled once and kept in a bounded cache keyed by its SQL. */
  statement(sql: string, options: { safeIntegers?: boolean } = {}): Statement {
    return this.cached(options.safeIntegers ? `1${sql}` : `0${sql}`, () => sql, options.safeIntegers)
  }

  /**
   * A prepared statement found by `key` before its SQL is built: on the hot path, joining a few names into a key is
   * cheaper than quoting them into SQL for every row. The key must name everything the SQL is built from.
   */
  cached(key: string, buildSql: () => string, safeIntegers = false): Statement {
    let statement = this.statements.get(key)
    if (statement) return statement
    statement = this.connection.prepare(buildSql())
    if (safeIntegers) statement.safeIntegers(true)
    // Evicting the oldest-prepared statement is enough here: the hot ones are re-prepared at most once per cycle.
    // It is only dropped, not finalized: a caller may still hold it (a batch with hundreds of row shapes does), and
    // bun:sqlite finalizes a statement once it is garbage.
    if (this.statements.size >= STATEMENT_CACHE_SIZE) this.statements.delete(this.statements.keys().next().value!)
    this.statements.set(key, statement)
    return statement
  }

  /**
   * Called after a rollback on this connection: the cached schema may describe a state that no longer exists, and a
   * later change could bring the schema version back to the number it was cached under.
   */
  rolledBack(): void {
    const { schema_version: version } = this.statement('PRAGMA schema_version').get() as { schema_version: number }
    if (version !== this.schemaVersion) this.schemaVersion = -1
  }

  /** The user tables, re-read when this connection sees a different schema (another connection, a create/alter or a rollback). */
  private syncSchema(): Map<string, SchemaEntry> {
    const { schema_version: version } = this.statement('PRAGMA schema_version').get() as { schema_version: number }
    if (version !== this.schemaVersion) {
      this.statements.clear()
      this.schema = this.readSchema()
      this.schemaVersion = version
    }
    return this.schema
  }

  /**
   * One scan of sqlite_schema, keeping what was already known of every table whose definition did not change: a
   * schema change costs one pass over the names, not a lookup per table.
   */
  private readSchema(): Map<string, SchemaEntry> {
    const rows = this.statement("SELECT type, name, tbl_name, sql, rowid FROM sqlite_schema WHERE type IN ('table', 'index') ORDER BY rowid").values() as Array<
      [string, string, string, string | null, number]
    >
    const indexes = new Map<string, string>()
    for (const [type, , table, sql] of rows) {
      if (type === 'index' && sql !== null) indexes.set(identifierKey(table), `${indexes.get(identifierKey(table)) ?? ''}\0${sql}`)
    }
    const schema = new Map<string, SchemaEntry>()
    for (const [type, name, , sql, position] of rows) {
      if (type !== 'table' || isReservedTableName(name)) continue
      const key = identifierKey(name)
      const definition = `${sql ?? ''}${indexes.get(key) ?? ''}`
      const known = this.schema.get(key)
      const info = known && known.name === name && known.definition === definition ? known.info : undefined
      schema.set(key, { name, position, sql: sql ?? '', definition, info })
    }
    return schema
  }

  /** Columns, key and flags of one table, from SQLite's own pragmas; null when SQLite cannot describe it. */
  private describe(name: string, sql: string): TableInfo | null {
    let columns: ColumnInfo[]
    let otherUniqueIndexes: boolean
    try {
      columns = (
        this.statement('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)').all(name) as Array<{
          name: string
          type: string
          notnull: number
          dflt_value: string | null
          pk: number
        }>
      ).map((column) => ({ name: column.name, type: column.type, notNull: column.notnull === 1, defaultValue: column.dflt_value, pk: column.pk }))
      otherUniqueIndexes = (this.statement(`SELECT count(*) AS n FROM pragma_index_list(?) WHERE "unique" AND origin <> 'pk'`).get(name) as { n: number }).n > 0
    } catch (error) {
      if (isSqliteError(error)) return null
      throw error
    }
    return {
      name,
      columns,
      pks: columns
        .filter((column) => column.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((column) => column.name),
      columnsByKey: new Map(columns.map((column) => [identifierKey(column.name), column])),
      withoutRowid: /\)\s*WITHOUT\s+ROWID\s*$/i.test(sql),
      otherUniqueIndexes,
    }
  }

  /**
   * The table's columns and key, or undefined when no such table exists (names match ignoring ASCII case); SQLite's
   * (`sqlite_…`) and rowpost's own (`_rowpost_…`) tables never match.
   */
  table(name: string): TableInfo | undefined {
    const entry = this.syncSchema().get(identifierKey(name))
    if (!entry) return undefined
    if (entry.info === undefined) entry.info = this.describe(entry.name, entry.sql)
    return entry.info ?? undefined
  }

  /** The CREATE TABLE statement SQLite keeps for the table. */
  tableSchema(name: string): string | undefined {
    const row = this.statement("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) as { sql: string } | null
    return row?.sql
  }

  /** The user tables (not SQLite's or rowpost's own), in creation order. */
  tableList(): TableListing[] {
    return [...this.syncSchema().values()].map(({ name, position }) => ({ name, position }))
  }

  /** Rows in the table, from the kept count when there is one (writer), else by counting. */
  countRows(table: string): number {
    return this.counts ? this.counts.count(table, () => this.countNow(table)) : this.countNow(table)
  }

  /** Counts by scanning, through a statement that is not cached: a listing of many tables would flush the cache. */
  private countNow(table: string): number {
    const statement = this.connection.prepare(this.dialect.count(table))
    try {
      return (statement.get() as { count: number }).count
    } finally {
      statement.finalize()
    }
  }

  close(): void {
    for (const statement of this.statements.values()) statement.finalize()
    this.statements.clear()
    this.connection.close()
  }
}
