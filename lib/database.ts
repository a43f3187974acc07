/** One attached SQLite file: opening it safely, cached schema knowledge, cached prepared statements, write transactions. */
import { Database, type Statement } from 'bun:sqlite'
import { existsSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { identifierKey } from './identifiers'
import { countSql } from './sql'

export interface ColumnInfo {
  name: string
  type: string
  notNull: boolean
  defaultValue: string | null
  /** 1-based position in the primary key, 0 when not part of it. */
  pk: number
}

export interface TableInfo {
  name: string
  columns: ColumnInfo[]
  /** Primary key columns in key order; empty for a rowid table. */
  pks: string[]
  /** Columns by identifierKey, so `Name` finds `name` as SQLite would. */
  columnsByKey: Map<string, ColumnInfo>
  withoutRowid: boolean
}

export interface OpenOptions {
  /** Create the file when missing (`--create`). */
  create?: boolean
  /** Open read-only (`-i`): every write is refused. */
  immutable?: boolean
  /** Milliseconds a writer waits for another process's lock before giving up. */
  busyTimeoutMs?: number
  /** Name in URLs; the file's stem by default. */
  name?: string
}

/** A database that could not be opened; the CLI prints its message and exits 1. */
export class DatabaseOpenError extends Error {}

const STATEMENT_CACHE_SIZE = 512

export class RowpostDatabase {
  private tables = new Map<string, TableInfo>()
  private schemaVersion = -1
  private statements = new Map<string, Statement>()

  private constructor(
    readonly name: string,
    readonly path: string,
    readonly connection: Database,
    readonly immutable: boolean,
  ) {}

  /** Opens `path` (or `:memory:` as `_memory`), checks that it really is SQLite, and sets WAL and a busy timeout. */
  static open(path: string, options: OpenOptions = {}): RowpostDatabase {
    const memory = path === ':memory:'
    const name = options.name ?? (memory ? '_memory' : basename(path, extname(path)))
    if (!memory && !existsSync(path) && (options.immutable || !options.create)) {
      throw new DatabaseOpenError(`Database file ${path} does not exist${options.immutable ? '' : ' (use --create to create it)'}`)
    }
    let connection: Database
    try {
      connection = options.immutable ? new Database(path, { readonly: true }) : new Database(path, { create: true, readwrite: true })
      connection.run(`PRAGMA busy_timeout = ${Math.max(0, Math.trunc(options.busyTimeoutMs ?? 5000))}`)
      connection.query('PRAGMA schema_version').get()
      if (!memory && !options.immutable) connection.run('PRAGMA journal_mode = WAL')
      connection.run('PRAGMA synchronous = FULL')
    } catch (error) {
      throw new DatabaseOpenError(`Cannot open ${path} as a SQLite database: ${(error as Error).message}`)
    }
    return new RowpostDatabase(name, path, connection, options.immutable === true)
  }

  /** A prepared statement, compiled once and kept in a bounded cache keyed by its SQL. */
  statement(sql: string, options: { safeIntegers?: boolean } = {}): Statement {
    const key = options.safeIntegers ? `1${sql}` : `0${sql}`
    let statement = this.statements.get(key)
    if (statement) {
      this.statements.delete(key)
    } else {
      statement = this.connection.prepare(sql)
      if (options.safeIntegers) statement.safeIntegers(true)
      if (this.statements.size >= STATEMENT_CACHE_SIZE) {
        const [oldestKey, oldest] = this.statements.entries().next().value!
        this.statements.delete(oldestKey)
        oldest.finalize()
      }
    }
    this.statements.set(key, statement)
    return statement
  }

  /** Drops cached schema when another connection (or a create/alter here) has changed it. */
  private syncSchema(): void {
    const { schema_version: version } = this.statement('PRAGMA schema_version').get() as { schema_version: number }
    if (version !== this.schemaVersion) {
      this.tables.clear()
      this.schemaVersion = version
    }
  }

  /** The table's columns and key, or undefined when no such table exists (names match ignoring ASCII case). */
  table(name: string): TableInfo | undefined {
    this.syncSchema()
    const key = identifierKey(name)
    const cached = this.tables.get(key)
    if (cached) return cached
    const row = this.statement("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE").get(name) as
      | { name: string; sql: string }
      | null
    if (!row) return undefined
    const columns = (this.statement('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?)').all(row.name) as Array<{
      name: string
      type: string
      notnull: number
      dflt_value: string | null
      pk: number
    }>).map((column) => ({ name: column.name, type: column.type, notNull: column.notnull === 1, defaultValue: column.dflt_value, pk: column.pk }))
    const info: TableInfo = {
      name: row.name,
      columns,
      pks: columns.filter((column) => column.pk > 0).sort((a, b) => a.pk - b.pk).map((column) => column.name),
      columnsByKey: new Map(columns.map((column) => [identifierKey(column.name), column])),
      withoutRowid: /\)\s*WITHOUT\s+ROWID\s*$/i.test(row.sql ?? ''),
    }
    this.tables.set(key, info)
    return info
  }

  /** The CREATE TABLE statement SQLite keeps for the table. */
  tableSchema(name: string): string | undefined {
    const row = this.statement("SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) as { sql: string } | null
    return row?.sql
  }

  /** Names of the user tables, in creation order. */
  tableNames(): string[] {
    return (this.statement("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid").all() as Array<{ name: string }>).map(
      (row) => row.name,
    )
  }

  countRows(table: string): number {
    return (this.statement(countSql(table)).get() as { count: number }).count
  }

  /** Runs `work` inside BEGIN IMMEDIATE … COMMIT; any throw rolls everything back. `work` must be synchronous. */
  writeTransaction<T>(work: () => T): T {
    return this.connection.transaction(work).immediate()
  }

  /** Folds the WAL back into the main file so a stopped server leaves one self-contained file. */
  checkpoint(): void {
    if (!this.immutable) this.connection.run('PRAGMA wal_checkpoint(TRUNCATE)')
  }

  close(): void {
    for (const statement of this.statements.values()) statement.finalize()
    this.statements.clear()
    this.connection.close()
  }
}
