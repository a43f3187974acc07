/** What a statement reads and writes, found by compiling it (EXPLAIN) and reading its cursors, not by matching its text. */
import type { Database, Statement } from 'bun:sqlite'
import { quoteIdentifier } from '../identifiers'
import { withoutExplain } from './sql-text'

export interface StatementAnalysis {
  /** Tables read, by name (a view shows as the tables it reads; an index as its table; `sqlite_schema` for the catalogue). */
  reads: string[]
  /** Tables written, created into, cleared or dropped (`sqlite_schema` for any schema change). */
  writes: string[]
  /** Whether the statement reads the catalogue (sqlite_schema / sqlite_master), which names every table. */
  readsSchema: boolean
  /** Virtual tables opened: eponymous ones by module (`json_each`, `pragma_table_info`), declared ones by name; `?` if unknown. */
  virtualTables: string[]
  /** Whether it creates a b-tree (CREATE TABLE / INDEX, ANALYZE's first sqlite_stat1). */
  creates: boolean
  /**
   * Effects beyond table cursors, in the order met: `write-transaction`, `vacuum`, `set-cookie` (PRAGMA user_version = ...),
   * `journal-mode`, `attach`, `detach`, `load_extension`, `transaction-control` (BEGIN, COMMIT, SAVEPOINT...).
   */
  effects: string[]
  /** No writes, no b-tree created and no effects: safe to run as a query. */
  readOnly: boolean
}

/** One instruction of `EXPLAIN <sql>`. */
export interface ExplainRow {
  addr: number
  opcode: string
  p1: number
  p2: number
  p3: number
  p4: unknown
  p5: number
}

/** Set in p5 when p2 is a register holding the root page of a b-tree the same statement creates (SQLite's OPFLAG_P2ISREG). */
const P2_IS_REGISTER = 0x10
const SCHEMA_TABLE = 'sqlite_schema'

interface RootPages {
  version: number
  names: Map<number, string>
  virtualTables: string[]
}

const rootPagesByConnection = new WeakMap<Database, RootPages>()

/** Root page to table name for the main database (an index maps to its table), re-read when the schema version moves. */
function rootPages(connection: Database): RootPages {
  const { schema_version: version } = connection.query('PRAGMA schema_version').get() as { schema_version: number }
  const cached = rootPagesByConnection.get(connection)
  if (cached && cached.version === version) return cached
  const rows = connection.query('SELECT type, tbl_name, rootpage, sql FROM main.sqlite_schema').all() as Array<{
    type: string
    tbl_name: string
    rootpage: number | null
    sql: string | null
  }>
  const names = new Map<number, string>([[1, SCHEMA_TABLE]])
  const virtualTables: string[] = []
  for (const row of rows) {
    if (row.rootpage) names.set(row.rootpage, row.tbl_name)
    else if (row.type === 'table' && /^\s*create\s+virtual\b/i.test(row.sql ?? '')) virtualTables.push(row.tbl_name)
  }
  const fresh = { version, names, virtualTables }
  rootPagesByConnection.set(connection, fresh)
  return fresh
}

/** The bytecode of `sql`, compiled and listed without being run; finalize the statement when done with it. */
export function explain(connection: Database, sql: string): { statement: Statement; rows: ExplainRow[] } {
  const statement = connection.prepare(`EXPLAIN ${sql}`)
  return { statement, rows: statement.all() as ExplainRow[] }
}

const vtabPointers = (rows: ExplainRow[]) => rows.filter((row) => row.opcode === 'VOpen' || row.opcode === 'VUpdate').map((row) => String(row.p4))

/**
 * Names the `vtab:0x...` pointers of VOpen/VUpdate by compiling a probe for each declared virtual table and eponymous
 * module. The statement being analysed is still alive while this runs, so its virtual tables cannot be freed and
 * their addresses reused by a probe: a pointer matches only the table it really is.
 */
function nameVirtualTables(connection: Database, pointers: string[], declared: string[]): string[] {
  const wanted = new Set(pointers)
  const found = new Map<string, string>()
  const probes: Statement[] = []
  const modules = (connection.query('SELECT name FROM pragma_module_list ORDER BY name').all() as Array<{ name: string }>).map((row) => row.name)
  try {
    for (const name of [...declared, ...modules]) {
      if (found.size === wanted.size) break
      let probe: { statement: Statement; rows: ExplainRow[] }
      try {
        probe = explain(connection, `SELECT * FROM ${quoteIdentifier(name)}`)
      } catch {
        continue // a module that needs arguments (fts5, rtree) is not eponymous
      }
      probes.push(probe.statement)
      for (const pointer of vtabPointers(probe.rows)) if (wanted.has(pointer) && !found.has(pointer)) found.set(pointer, name)
    }
  } finally {
    for (const probe of probes) probe.finalize()
  }
  return [...new Set(pointers.map((pointer) => found.get(pointer) ?? '?'))]
}

/**
 * Compiles `sql` (only its first statement; the caller refuses trailing ones) without running it and reports the
 * tables its bytecode opens. Covers: OpenRead/ReopenIdx (reads), OpenWrite (writes), Clear and Destroy (DELETE without
 * WHERE, DROP), DropTable, CreateBtree (creates), VOpen/VUpdate (virtual tables; VUpdate is also a write). Views are
 * expanded by SQLite, so they show as their base tables; an `EXPLAIN [QUERY PLAN]` prefix is analysed as the statement
 * it describes. Cursors on attached or temp databases are reported as `<schema>.?`. Throws SQLite's error when the
 * statement does not compile. Works on a read-only connection.
 */
export function analyzeStatement(connection: Database, sql: string): StatementAnalysis {
  const { statement, rows } = explain(connection, withoutExplain(sql))
  try {
    const pages = rootPages(connection)
    const reads = new Set<string>()
    const writes = new Set<string>()
    let creates = false
    const effects = new Set<string>()
    const table = (root: number, schema: number) => (schema === 0 ? (pages.names.get(root) ?? '?') : `${schema === 1 ? 'temp' : schema}.?`)
    for (const row of rows) {
      switch (row.opcode) {
        case 'OpenRead':
        case 'ReopenIdx':
          if (row.p5 & P2_IS_REGISTER) creates = true
          else reads.add(table(row.p2, row.p3))
          break
        case 'OpenWrite':
          if (row.p5 & P2_IS_REGISTER) creates = true
          else writes.add(table(row.p2, row.p3))
          break
        case 'Clear':
        case 'Destroy':
          writes.add(table(row.p1, row.opcode === 'Clear' ? row.p2 : row.p3))
          break
        case 'DropTable':
          writes.add(SCHEMA_TABLE)
          writes.add(String(row.p4))
          break
        case 'DropIndex':
        case 'DropTrigger':
          writes.add(SCHEMA_TABLE)
          break
        case 'CreateBtree':
          creates = true
          break
        case 'Transaction':
          if (row.p2 !== 0) effects.add('write-transaction')
          break
        case 'Vacuum':
          effects.add('vacuum')
          break
        case 'SetCookie':
          effects.add('set-cookie')
          break
        case 'JournalMode':
          effects.add('journal-mode')
          break
        case 'AutoCommit':
        case 'Savepoint':
          effects.add('transaction-control')
          break
        case 'Function':
        case 'PureFunc': {
          const name = /^(\w+)\(/.exec(String(row.p4))?.[1]?.toLowerCase()
          if (name === 'sqlite_attach') effects.add('attach')
          else if (name === 'sqlite_detach') effects.add('detach')
          else if (name === 'load_extension') effects.add('load_extension')
          break
        }
      }
    }
    const pointers = vtabPointers(rows)
    const virtualTables = pointers.length === 0 ? [] : nameVirtualTables(connection, pointers, pages.virtualTables)
    const updated = rows.filter((row) => row.opcode === 'VUpdate').map((row) => String(row.p4))
    if (updated.length > 0) for (const name of nameVirtualTables(connection, updated, pages.virtualTables)) writes.add(name)
    const readOnly = writes.size === 0 && !creates && effects.size === 0
    return { reads: [...reads], writes: [...writes], readsSchema: reads.has(SCHEMA_TABLE), virtualTables, creates, effects: [...effects], readOnly }
  } finally {
    statement.finalize()
  }
}
