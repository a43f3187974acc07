/**
 * What a write statement for /-/execute-write does and which permissions that takes, as Datasette 1.0a37's
 * write_sql.py decides them: built on analyzeStatement's cursors, the statement's own bytecode (row writes named by
 * their Insert/Delete opcodes, trigger and foreign-key programs included) and its leading keywords.
 */
import type { Database } from 'bun:sqlite'
import { RefusedWriteSql, InvalidWriteSql } from '../errors'
import { identifierKey, isReservedTableName } from '../identifiers'
import type { Action } from '../permissions'
import { analyzeStatement, explain, type ExplainRow, type StatementAnalysis } from './analyze'
import { hasTrailingStatement, leadingKeywords, tokens, type Token } from './sql-text'

export type WriteOperationKind = 'insert' | 'update' | 'delete' | 'read' | 'create' | 'alter' | 'drop'

/** One thing the statement does to one table, with the permissions it takes (Datasette's analysis rows). */
export interface WriteOperation {
  operation: WriteOperationKind
  table: string
  /** The trigger whose program does it; null for the statement itself (and for foreign-key actions). */
  source: string | null
  /** Actions needed on `table`, except `create-table`, which is asked of the database. */
  needs: Action[]
}

export interface WriteAnalysis {
  operations: WriteOperation[]
  /** CREATE, ALTER or DROP: SQLite answers -1 for its row count, and the schema version moves. */
  schemaChange: boolean
  /** Tables whose row count the statement may change, or whose name it may take away or give. */
  touched: string[]
}

const ROW_ACTIONS: Action[] = ['insert-row', 'update-row', 'delete-row']
/** Insert's p5 flag for the write half of an UPDATE, and Delete's p2 flag for its delete half (SQLite's OPFLAG_ISUPDATE). */
const IS_UPDATE = 0x04
const SCHEMA_TABLES = new Set(['sqlite_schema', 'sqlite_master'])
const READ_ONLY_MESSAGE = 'Use /-/query for read-only SQL; this endpoint only executes writes'

const unsupported = (what: string) => new RefusedWriteSql(`Unsupported SQL operation: ${what}`)

/** Datasette's unsupported-operation names for statements that are never run here. */
const REFUSED_VERBS: Record<string, string> = {
  PRAGMA: 'pragma pragma',
  ATTACH: 'attach database',
  DETACH: 'detach database',
  BEGIN: 'begin transaction',
  COMMIT: 'commit transaction',
  END: 'commit transaction',
  ROLLBACK: 'rollback transaction',
  SAVEPOINT: 'savepoint transaction',
  RELEASE: 'savepoint transaction',
  ANALYZE: 'analyze database',
  REINDEX: 'reindex index',
}

/** The text of a name token: quotes removed and doubled quotes undone. */
function nameOf(token: Token | undefined): string | undefined {
  if (!token) return undefined
  if (token.kind === 'word') return token.text
  if (token.kind !== 'quoted' && token.kind !== 'string') return undefined
  const close = token.text.at(-1)!
  const inner = token.text.slice(1, -1)
  return close === ']' ? inner : inner.replaceAll(`${close}${close}`, close)
}

/**
 * The table a CREATE/ALTER statement names: the name after the words in `after` (then an optional IF [NOT] EXISTS),
 * refused when it is qualified with another schema.
 */
function namedTable(sql: string, after: (word: string, index: number) => boolean): string | undefined {
  const list = [...tokens(sql)]
  let index = list.findIndex((token, i) => token.kind === 'word' && after(token.text.toUpperCase(), i))
  if (index === -1) return undefined
  index++
  while (list[index]?.kind === 'word' && ['IF', 'NOT', 'EXISTS'].includes(list[index]!.text.toUpperCase())) index++
  const first = nameOf(list[index])
  if (list[index + 1]?.text === '.') {
    if (identifierKey(first ?? '') !== 'main') throw new RefusedWriteSql('Writable queries may not access attached databases')
    return nameOf(list[index + 2])
  }
  return first
}

function explainRows(connection: Database, sql: string): ExplainRow[] {
  const { statement, rows } = explain(connection, sql)
  statement.finalize()
  return rows
}

/** Row writes named by the bytecode: each table's insert/update/delete, with the trigger program doing it. */
function rowWrites(rows: ExplainRow[]): Array<{ table: string; operation: 'insert' | 'update' | 'delete'; source: string | null }> {
  const found = new Map<string, { table: string; operation: 'insert' | 'update' | 'delete'; source: string | null }>()
  let source: string | null = null
  for (const row of rows) {
    // EXPLAIN lists each trigger and foreign-key action program after the statement's, each starting again at 0.
    if (row.addr === 0 && row.opcode === 'Init') source = /^-- TRIGGER (.+)$/.exec(String(row.p4 ?? ''))?.[1] ?? null
    const table = typeof row.p4 === 'string' && row.p4 !== '' ? row.p4 : undefined
    if (!table) continue
    let operation: 'insert' | 'update' | 'delete' | undefined
    if (row.opcode === 'Insert') operation = row.p5 & IS_UPDATE ? 'update' : 'insert'
    else if (row.opcode === 'Delete' && !(row.p2 & IS_UPDATE)) operation = 'delete'
    if (!operation) continue
    found.set(`${operation}\0${identifierKey(table)}\0${source ?? ''}`, { table, operation, source })
  }
  return [...found.values()]
}

function tableExists(connection: Database, name: string): boolean {
  return connection.query("SELECT 1 FROM main.sqlite_schema WHERE type = 'table' AND name = ? COLLATE NOCASE").get(name) !== null
}

function indexTable(connection: Database, index: string): string | undefined {
  const row = connection.query("SELECT tbl_name FROM main.sqlite_schema WHERE type = 'index' AND name = ? COLLATE NOCASE").get(index) as {
    tbl_name: string
  } | null
  return row?.tbl_name
}

/** Refuses writes to SQLite's and rowpost's own tables (autoincrement's sqlite_sequence bookkeeping aside). */
function refuseInternal(table: string): void {
  if (isReservedTableName(table)) throw new RefusedWriteSql(`Writes to internal tables are not allowed in user-supplied SQL: ${table}`)
}

/**
 * Compiles `sql` on `connection` without running it and says what it does, or throws Datasette's refusal: more than
 * one statement, SQL that does not compile (400 `Could not analyze query: ...`), a read-only statement (400), VACUUM,
 * PRAGMA, ATTACH, transaction control, temp or attached schemas, virtual, shadow or internal tables (403).
 */
export function analyzeWrite(connection: Database, sql: string): WriteAnalysis {
  if (hasTrailingStatement(sql)) throw new InvalidWriteSql('Could not analyze query: You can only execute one statement at a time.')
  let analysis: StatementAnalysis
  let rows: ExplainRow[]
  const [verb = '', second = '', third = ''] = leadingKeywords(sql, 3)
  try {
    analysis = analyzeStatement(connection, sql)
    if (verb === 'EXPLAIN') throw new InvalidWriteSql(READ_ONLY_MESSAGE)
    rows = explainRows(connection, sql)
  } catch (error) {
    if (error instanceof InvalidWriteSql) throw error
    const message = error instanceof Error ? error.message : String(error)
    // SQLite's defensive mode keeps shadow tables (an FTS index's _data, _content...) from being written at all.
    if (/^table .* may not be modified$/.test(message)) throw new RefusedWriteSql('Writes to shadow tables are not allowed in user-supplied SQL')
    throw new InvalidWriteSql(`Could not analyze query: ${message}`)
  }
  if (verb === 'SELECT' || verb === 'VALUES' || (verb === 'WITH' && analysis.readOnly)) throw new InvalidWriteSql(READ_ONLY_MESSAGE)
  if (verb === 'VACUUM' || analysis.effects.includes('vacuum')) throw new RefusedWriteSql('VACUUM is not allowed in user-supplied SQL')
  if (verb in REFUSED_VERBS) throw unsupported(verb === 'ROLLBACK' && second === 'TO' ? 'savepoint transaction' : REFUSED_VERBS[verb]!)
  for (const effect of analysis.effects) {
    if (effect === 'attach' || effect === 'detach') throw unsupported(`${effect} database`)
    if (effect === 'transaction-control') throw unsupported('begin transaction')
    if (effect === 'journal-mode' || effect === 'load_extension') throw unsupported(effect === 'load_extension' ? 'function load_extension' : 'pragma pragma')
  }
  // A schema change checks the temp schema too (ALTER ... RENAME), so only a row write's cursors there are the caller's.
  const ddl = verb === 'CREATE' || verb === 'DROP' || verb === 'ALTER'
  if ((!ddl && [...analysis.reads, ...analysis.writes].some((table) => table.endsWith('.?'))) || /^TEMP(ORARY)?$/.test(second)) {
    throw new RefusedWriteSql('Writable queries may not access attached databases')
  }
  if (rows.some((row) => row.opcode === 'VUpdate')) throw new RefusedWriteSql('Writes to virtual tables are not allowed in user-supplied SQL')

  const operations: WriteOperation[] = []
  const touched = new Set<string>()
  const add = (operation: WriteOperationKind, table: string, needs: Action[], source: string | null = null) => {
    const key = identifierKey(table)
    const same = operations.find((op) => op.operation === operation && identifierKey(op.table) === key && op.source === source)
    if (!same) operations.push({ operation, table, source, needs })
  }

  let schemaChange = false
  /** The table a DDL statement is about: its own bookkeeping reads and writes of it are not the caller's row access. */
  let target: string | undefined
  if (verb === 'CREATE') {
    const kind = second === 'UNIQUE' ? third : second
    if (kind === 'VIEW' || kind === 'TRIGGER') throw unsupported(`create ${kind.toLowerCase()}`)
    if (kind === 'VIRTUAL') throw unsupported('create virtual-table')
    if (kind === 'TABLE') {
      const name = namedTable(sql, (word) => word === 'TABLE')
      if (name === undefined) throw unsupported('create table')
      refuseInternal(name)
      add('create', name, ['create-table'])
      touched.add(name)
    } else if (kind === 'INDEX') {
      target = namedTable(sql, (word) => word === 'ON')
      if (target === undefined) throw unsupported('create index')
      add('create', target, ['alter-table'])
    } else throw unsupported(`create ${kind.toLowerCase()}`)
    schemaChange = true
  } else if (verb === 'DROP') {
    if (second === 'VIEW' || second === 'TRIGGER') throw unsupported(`drop ${second.toLowerCase()}`)
    if (second === 'TABLE') {
      if (rows.some((row) => row.opcode === 'VDestroy')) throw unsupported('drop virtual-table')
      for (const row of rows.filter((row) => row.opcode === 'DropTable')) {
        target = String(row.p4)
        refuseInternal(target)
        add('drop', target, ['drop-table'])
        touched.add(target)
      }
    } else if (second === 'INDEX') {
      for (const row of rows.filter((row) => row.opcode === 'DropIndex')) {
        target = indexTable(connection, String(row.p4))
        if (target === undefined) throw unsupported('drop index')
        refuseInternal(target)
        add('drop', target, ['alter-table'])
      }
    } else throw unsupported(`drop ${second.toLowerCase()}`)
    schemaChange = true
  } else if (verb === 'ALTER') {
    target = namedTable(sql, (word, index) => index === 1 && word === 'TABLE')
    if (target === undefined) throw unsupported('alter table')
    refuseInternal(target)
    add('alter', target, ['alter-table'])
    touched.add(target)
    // ALTER TABLE t RENAME TO u (not RENAME [COLUMN] a TO b): the new name is written too.
    const list = [...tokens(sql)]
    const rename = list.findIndex((token) => token.kind === 'word' && token.text.toUpperCase() === 'RENAME')
    if (rename !== -1 && list[rename + 1]?.kind === 'word' && list[rename + 1]!.text.toUpperCase() === 'TO') {
      const renamed = nameOf(list[rename + 2])
      if (renamed !== undefined) {
        refuseInternal(renamed)
        touched.add(renamed)
      }
    }
    schemaChange = true
  } else if (!['INSERT', 'REPLACE', 'UPDATE', 'DELETE', 'WITH'].includes(verb)) {
    throw unsupported('unknown statement')
  }

  const isTarget = (table: string) => target !== undefined && identifierKey(table) === identifierKey(target)
  const named = rowWrites(rows).filter((write) => !isTarget(write.table))
  for (const write of named) {
    refuseInternal(write.table)
    add(write.operation, write.table, write.operation === 'delete' ? ['delete-row'] : ROW_ACTIONS, write.source)
    touched.add(write.table)
  }
  // Autoincrement keeps sqlite_sequence up to date on its own; only SQL that names it is the caller's doing.
  const mentionsSequence = [...tokens(sql)].some((token) => identifierKey(nameOf(token) ?? '') === 'sqlite_sequence')
  // Cursors written without a named row write: a DELETE without WHERE (SQLite clears the table) or index upkeep.
  if (!schemaChange) {
    for (const table of analysis.writes) {
      if ((identifierKey(table) === 'sqlite_sequence' && !mentionsSequence) || touched.has(table)) continue
      refuseInternal(table)
      add(verb === 'DELETE' ? 'delete' : 'update', table, verb === 'DELETE' ? ['delete-row'] : ROW_ACTIONS)
      touched.add(table)
    }
  }

  // What the statement reads takes view-table: a SELECT inside it, RETURNING, and rows an UPDATE or DELETE picks by
  // their content; reads SQLite makes to enforce foreign keys count too (a refusal would tell whether rows refer).
  const reads = new Set(analysis.reads)
  const returns = rows.some((row) => row.opcode === 'ResultRow')
  for (const op of [...operations]) {
    if (op.operation === 'update' || op.operation === 'delete' || (returns && op.source === null)) reads.add(op.table)
  }
  for (const table of reads) {
    const key = identifierKey(table)
    if (isTarget(table)) continue
    if (SCHEMA_TABLES.has(key)) {
      if (schemaChange) continue
      throw unsupported('read schema')
    }
    if (key === 'sqlite_sequence' && analysis.writes.includes('sqlite_sequence') && !mentionsSequence) continue
    if (isReservedTableName(table)) throw new RefusedWriteSql(`Reads of internal tables are not allowed in user-supplied SQL: ${table}`)
    if (operations.some((op) => op.operation === 'create' && identifierKey(op.table) === key)) continue
    add('read', table, ['view-table'])
  }
  for (const name of analysis.virtualTables) {
    if (name === '?') throw unsupported('read virtual-table')
    if (name.toLowerCase().startsWith('pragma_')) throw unsupported('pragma pragma')
    if (tableExists(connection, name)) add('read', name, ['view-table'])
  }
  return { operations, schemaChange, touched: [...touched] }
}
