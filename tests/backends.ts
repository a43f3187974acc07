/**
 * One HTTP suite, two storage backends: `eachBackend` runs a block of tests against SQLite and against a throwaway
 * PostgreSQL cluster, and `backend.makeApp` gives each test a fresh database named `data` with inspectors that read
 * what is really stored, through the backend's own connection, in the same shape on both.
 */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { afterEach, describe } from 'bun:test'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import type { AppOptions } from '../lib/http/context'
import { PostgresStore } from '../lib/store/postgres/store'
import type { Store } from '../lib/store/store'
import { httpClient, tempDbPath, type BodyInit } from './helpers'
import { usePostgres, type TestPostgres } from './postgres'

export type BackendName = 'sqlite' | 'postgres'

export type BackendOptions = Omit<Partial<AppOptions>, 'databases'>

export interface BackendApp {
  backend: BackendName
  app: ReturnType<typeof createApp>
  store: Store
  request(method: string, path: string, body?: BodyInit, headers?: Record<string, string>): Promise<Response>
  /** POSTs `body` (objects are JSON-encoded; strings are sent verbatim) with an optional bearer token. */
  post(path: string, body: unknown, token?: string, headers?: Record<string, string>): Promise<Response>
  get(path: string, token?: string): Promise<Response>
  /**
   * Every row of `table` as stored, in insertion order (rowid, else key order), without a rowid table's rowid; integers
   * as numbers (bigint past 2^53), BLOBs as Uint8Array.
   */
  rows(table: string): Promise<Record<string, unknown>[]>
  /** The rowids of a rowid table, in order. */
  rowids(table: string): Promise<number[]>
  /** Names of the user tables, sorted (rowpost's own left out). */
  tables(): Promise<string[]>
  /** [name, type] of each column, the type in SQLite's words (INTEGER, REAL, TEXT, BLOB) on both backends. */
  columns(table: string): Promise<Array<[string, string]>>
  /** Runs setup SQL written in the subset both engines speak (CREATE TABLE with INTEGER/TEXT/REAL, INSERT), `?` placeholders. */
  exec(sql: string, params?: unknown[]): Promise<void>
  /** Rows of a query written in that subset, values as `rows` gives them. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>
  /** Every table's columns and rows: what "the database is unchanged" compares. */
  snapshot(): Promise<Record<string, unknown>>
  /**
   * Closes the store and the inspectors' connection now rather than after the test: a property that makes an app per
   * run would otherwise hold PostgreSQL connections past max_connections.
   */
  close(): Promise<void>
}

export interface Backend {
  name: BackendName
  /** A fresh database served as `data` (unsafe unless the options say otherwise), closed after the test. */
  makeApp(options?: BackendOptions): Promise<BackendApp>
}

type Inspectors = Pick<BackendApp, 'rows' | 'rowids' | 'tables' | 'columns' | 'exec' | 'query'>

function harness(backend: BackendName, store: Store, options: BackendOptions, inspect: Inspectors, close: () => Promise<void>): BackendApp {
  const app = createApp({ ...options, databases: [store] })
  const snapshot = async () => {
    const result: Record<string, unknown> = {}
    for (const name of await inspect.tables()) result[name] = { columns: await inspect.columns(name), rows: await inspect.rows(name) }
    return result
  }
  return {
    backend,
    app,
    store,
    ...httpClient(app),
    snapshot,
    close,
    ...inspect,
  }
}

const quote = (name: string) => `"${name.replaceAll('"', '""')}"`

/** SQLite's values as the inspectors give them: exact integers, numbers where they fit. */
const sqliteValue = (value: unknown) =>
  typeof value === 'bigint' && value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value

function sqliteInspectors(path: string, store: RowpostDatabase): Inspectors {
  const read = <T>(work: (file: Database) => T): T => {
    const file = new Database(path, { readonly: true, safeIntegers: true })
    try {
      return work(file)
    } finally {
      file.close()
    }
  }
  const all = (sql: string, params: unknown[] = []) =>
    read((file) =>
      (file.query(sql).all(...(params as never[])) as Record<string, unknown>[]).map((row) =>
        Object.fromEntries(Object.entries(row).map(([k, v]) => [k, sqliteValue(v)])),
      ),
    )
  return {
    rows: async (table) => all(`SELECT * FROM ${quote(table)} ORDER BY rowid`),
    rowids: async (table) => all(`SELECT rowid FROM ${quote(table)} ORDER BY rowid`).map((row) => row.rowid as number),
    tables: async () =>
      all(
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE '\\_rowpost\\_%' ESCAPE '\\' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
      ).map((row) => row.name as string),
    columns: async (table) => all('SELECT name, type FROM pragma_table_info(?)', [table]).map((row) => [row.name as string, row.type as string]),
    exec: async (sql, params = []) => void store.connection.run(sql, params as never[]),
    query: async (sql, params = []) => all(sql, params),
  }
}

const POSTGRES_FAMILIES: Record<string, string> = {
  bigint: 'INTEGER',
  integer: 'INTEGER',
  smallint: 'INTEGER',
  'double precision': 'REAL',
  real: 'REAL',
  text: 'TEXT',
  bytea: 'BLOB',
}

/** `?` placeholders as PostgreSQL's `$n`, outside quotes. */
function numbered(sql: string): string {
  let n = 0
  let quoteChar: string | undefined
  let out = ''
  for (const char of sql) {
    if (quoteChar) {
      if (char === quoteChar) quoteChar = undefined
    } else if (char === '"' || char === "'") quoteChar = char
    else if (char === '?') {
      out += `$${++n}`
      continue
    }
    out += char
  }
  return out
}

/** PostgreSQL's values as the inspectors give them: int8 exact, bytea as a plain Uint8Array. */
const postgresValue = (value: unknown) => {
  const plain = sqliteValue(value)
  return plain instanceof Uint8Array ? new Uint8Array(plain) : plain
}

function postgresInspectors(sql: SQL): Inspectors {
  const all = async (text: string, params: unknown[] = []) =>
    ((await sql.unsafe(numbered(text), params as never[])) as Record<string, unknown>[]).map((row) =>
      Object.fromEntries(Object.entries(row).map(([k, v]) => [k, postgresValue(v)])),
    )
  // A rowid table as rowpost makes them: its primary key is the one column `rowid`.
  const hasRowid = async (table: string) =>
    (
      await all(
        `SELECT 1 FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.conrelid = ?::regclass AND c.contype = 'p' AND cardinality(c.conkey) = 1 AND a.attname = 'rowid'`,
        [quote(table)],
      )
    ).length > 0
  const keyOrder = async (table: string) => {
    const keys = await all(
      `SELECT a.attname AS name FROM pg_constraint c JOIN unnest(c.conkey) WITH ORDINALITY AS k(attnum, position) ON true
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
       WHERE c.conrelid = ?::regclass AND c.contype = 'p' ORDER BY k.position`,
      [quote(table)],
    )
    return keys.length ? keys.map((key) => quote(key.name as string)).join(', ') : 'ctid'
  }
  return {
    async rows(table) {
      const rowid = await hasRowid(table)
      const rows = await all(`SELECT * FROM ${quote(table)} ORDER BY ${rowid ? 'rowid' : await keyOrder(table)}`)
      return rowid ? rows.map(({ rowid: _, ...rest }) => rest) : rows
    },
    rowids: async (table) => (await all(`SELECT rowid FROM ${quote(table)} ORDER BY rowid`)).map((row) => row.rowid as number),
    tables: async () =>
      (
        await all(
          'SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE \'\\_rowpost\\_%\' ORDER BY tablename COLLATE "C"',
        )
      ).map((row) => row.tablename as string),
    async columns(table) {
      const rowid = await hasRowid(table)
      const columns = await all(
        'SELECT attname AS name, format_type(atttypid, atttypmod) AS type FROM pg_attribute WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum',
        [quote(table)],
      )
      return columns
        .filter((column) => !(rowid && column.name === 'rowid'))
        .map((column) => [column.name as string, POSTGRES_FAMILIES[column.type as string] ?? (column.type as string)])
    },
    exec: async (text, params = []) => void (await sql.unsafe(numbered(text), params as never[])),
    query: all,
  }
}

const sqliteBackend: Backend = {
  name: 'sqlite',
  async makeApp(options = { unsafe: true }) {
    const path = tempDbPath()
    const store = RowpostDatabase.open(path, { create: true })
    return harness('sqlite', store, options, sqliteInspectors(path, store), async () => store.close())
  },
}

function postgresBackend(pg: TestPostgres): Backend {
  const opened: Array<{ store: PostgresStore; sql: SQL }> = []
  afterEach(async () => {
    for (const { store, sql } of opened.splice(0)) await Promise.all([store.close(), sql.close({ timeout: 0 })])
  })
  return {
    name: 'postgres',
    async makeApp(options = { unsafe: true }) {
      const database = await pg.freshDatabase()
      const store = await PostgresStore.open(database.socketUrl, { name: 'data' })
      const sql = new SQL({ url: database.socketUrl, bigint: true, max: 1 })
      const entry = { store, sql }
      opened.push(entry)
      const close = async () => {
        const at = opened.indexOf(entry)
        if (at === -1) return
        opened.splice(at, 1)
        await Promise.all([store.close(), sql.close({ timeout: 0 })])
      }
      // A test's setup SQL creates tables behind the store's back: each lookup reads the catalogue again.
      return harness('postgres', store, options, postgresInspectors(sql), close)
    },
  }
}

/** Runs `body` once per backend, each in its own describe block named after it. */
export function eachBackend(body: (backend: Backend) => void): void {
  describe('sqlite', () => body(sqliteBackend))
  describe('postgres', () => body(postgresBackend(usePostgres())))
}
