/**
 * PostgreSQL's SQL for the paths. Where it must differ from SQLite's to give the same API: a rowid table gets a bigint
 * `rowid` key numbered as SQLite numbers rowids, a replace is an upsert that resets the columns a row leaves out, LIKE
 * is ILIKE on the column's text, NULLs sort first ascending, and statements that insert say whether they inserted
 * (`xmax = 0`).
 */
import { createHash } from 'node:crypto'
import type { Dialect, FeedSql, IdempotencySql } from '../dialect'
import { apiErrorFromPostgres, postgresErrorCode } from '../../errors'
import { INTERNAL_TABLE_PREFIX, identifierKey, quoteIdentifier as q } from '../../identifiers'
import { DEFAULT_EXPRESSIONS, sqlLiteral, type ColumnDefinition, type ConflictMode, type DefaultExpression } from '../../sql'
import type { ColumnType } from '../../schema'
import { keyColumns, type TableInfo } from '../table'

/** rowpost's column types in PostgreSQL: 64-bit integers and doubles as SQLite has them, text, and bytea for BLOBs. */
export const POSTGRES_TYPES: Record<ColumnType, string> = {
  INTEGER: 'bigint',
  REAL: 'double precision',
  TEXT: 'text',
  BLOB: 'bytea',
}

/** PostgreSQL's version of each `default_expr`: the same values SQLite would store, in the same types. */
const DEFAULT_SQL: Record<DefaultExpression, string> = {
  current_timestamp: "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')",
  current_date: "to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
  current_time: "to_char(now() AT TIME ZONE 'UTC', 'HH24:MI:SS')",
  current_unixtime: 'floor(extract(epoch from now()))::bigint',
  current_unixtime_ms: 'floor(extract(epoch from now()) * 1000)::bigint',
}
// Every name SQLite knows has a PostgreSQL spelling: a new one added there must be added here.
void (DEFAULT_EXPRESSIONS satisfies Record<keyof typeof DEFAULT_SQL, string>)

/** Exact row counts shared by every rowpost process on the database, updated in each write's own transaction. */
export const COUNTS_TABLE = q(`${INTERNAL_TABLE_PREFIX}counts`)
const FEEDS = q(`${INTERNAL_TABLE_PREFIX}feeds`)
const CHANGES = q(`${INTERNAL_TABLE_PREFIX}changes`)
const IDEMPOTENCY = q(`${INTERNAL_TABLE_PREFIX}idempotency`)
const IDEMPOTENCY_CREATED = q(`${INTERNAL_TABLE_PREFIX}idempotency_created`)
const PURGE_BATCH = 100

/** rowpost's own tables, created when the store opens (by whichever process comes first), so no write changes their schema. */
export const STORE_TABLES = [
  `CREATE TABLE IF NOT EXISTS ${IDEMPOTENCY} (actor text NOT NULL, key text NOT NULL, fingerprint text NOT NULL, status integer NOT NULL, body text NOT NULL, created bigint NOT NULL, PRIMARY KEY (actor, key))`,
  `CREATE INDEX IF NOT EXISTS ${IDEMPOTENCY_CREATED} ON ${IDEMPOTENCY} (created)`,
  `CREATE TABLE IF NOT EXISTS ${COUNTS_TABLE} (name text PRIMARY KEY, n bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${FEEDS} (name text PRIMARY KEY, last_id bigint NOT NULL, first_id bigint NOT NULL, followed_until bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${CHANGES} (feed text NOT NULL, id bigint NOT NULL, op text NOT NULL, key text, row text, at bigint NOT NULL, PRIMARY KEY (feed, id))`,
]

/**
 * `allocate` updates the table's feeds row, whose lock is held until COMMIT: the next transaction to number changes of
 * that table waits for this one to commit, so ids are in commit order across every process writing the database.
 */
const feed: FeedSql = {
  create: [],
  follow:
    `INSERT INTO ${FEEDS} AS feeds (name, last_id, first_id, followed_until) VALUES (?, 0, 1, ?) ON CONFLICT (name) DO UPDATE SET ` +
    `first_id = CASE WHEN feeds.followed_until < ? THEN feeds.last_id + 1 ELSE feeds.first_id END, followed_until = greatest(feeds.followed_until, excluded.followed_until)`,
  allocate: `UPDATE ${FEEDS} SET last_id = last_id + ? WHERE name = ? AND followed_until > ? RETURNING last_id`,
  record: `INSERT INTO ${CHANGES} (feed, id, op, key, row, at) VALUES (?, ?, ?, ?, ?, ?)`,
  prune: `DELETE FROM ${CHANGES} WHERE feed = ? AND id <= ?`,
  state: `SELECT last_id, first_id, followed_until FROM ${FEEDS} WHERE name = ?`,
  read: `SELECT id, op, key, row, at FROM ${CHANGES} WHERE feed = ? AND id > ? ORDER BY id LIMIT ?`,
  oldest: `SELECT min(id) AS id FROM ${CHANGES} WHERE feed = ?`,
}

const idempotency: IdempotencySql = {
  create: [],
  lock: 'SELECT pg_advisory_xact_lock(hashtextextended(?, 0))',
  find: `SELECT fingerprint, status, body FROM ${IDEMPOTENCY} WHERE actor = ? AND key = ? AND created > ?`,
  purge:
    `DELETE FROM ${IDEMPOTENCY} WHERE (actor, key) IN ` +
    `(SELECT actor, key FROM ${IDEMPOTENCY} WHERE created <= ? ORDER BY created LIMIT ${PURGE_BATCH} FOR UPDATE SKIP LOCKED)`,
  // Only an expired row may be replaced: a live one is another process's answer to the same request, and the unique
  // key turns this insert into the error that makes the request look again and replay it.
  store:
    `INSERT INTO ${IDEMPOTENCY} AS stored (actor, key, fingerprint, status, body, created) VALUES (?, ?, ?, ?, ?, ?) ` +
    `ON CONFLICT (actor, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body, created = excluded.created ` +
    `WHERE stored.created <= excluded.created - ?`,
}

/** Whether the table's key is generated by the engine when a row leaves it out: a rowid, or a single INTEGER key. */
function generatedKey(table: TableInfo): string | undefined {
  const keys = keyColumns(table)
  if (keys.length !== 1) return undefined
  if (table.pks.length === 0) return 'rowid'
  return table.columnsByKey.get(identifierKey(keys[0]!))?.type === 'INTEGER' ? keys[0] : undefined
}

/** `RETURNING` what the write path needs back: the generated key, and whether the row was inserted rather than updated. */
function returning(table: TableInfo): string {
  const key = generatedKey(table)
  return ` RETURNING ${key === undefined ? 'NULL' : q(key)}, (xmax = 0) AS inserted`
}

function insertInto(table: TableInfo, columns: string[], count: number): string {
  if (columns.length === 0) return `INSERT INTO ${q(table.name)} DEFAULT VALUES`
  const row = `(${columns.map(() => '?').join(', ')})`
  return `INSERT INTO ${q(table.name)} (${columns.map(q).join(', ')}) VALUES ${Array(count).fill(row).join(', ')}`
}

/** A plain insert, or one that skips or replaces a row whose key exists, of `count` rows. */
function insertSql(table: TableInfo, columns: string[], conflict: ConflictMode, count: number): string {
  const insert = insertInto(table, columns, count)
  const keys = keyColumns(table)
  const keyed = new Set(keys.map(identifierKey))
  const hasKey = keys.every((key) => columns.some((column) => identifierKey(column) === identifierKey(key)))
  if (conflict === 'abort' || !hasKey) return insert + returning(table)
  if (conflict === 'ignore') return `${insert} ON CONFLICT (${keys.map(q).join(', ')}) DO NOTHING${returning(table)}`
  // SQLite's REPLACE deletes the old row and inserts the new one: columns the row leaves out go back to their defaults.
  const given = new Set(columns.map(identifierKey))
  const others = table.columns.filter((column) => !keyed.has(identifierKey(column.name)))
  const sets = others.map((column) => `${q(column.name)} = ${given.has(identifierKey(column.name)) ? `excluded.${q(column.name)}` : 'DEFAULT'}`)
  const action = sets.length ? `DO UPDATE SET ${sets.join(', ')}` : `DO UPDATE SET ${q(keys[0]!)} = excluded.${q(keys[0]!)}`
  return `${insert} ON CONFLICT (${keys.map(q).join(', ')}) ${action}${returning(table)}`
}

/** Inserts `count` rows, or updates only the given non-key columns of those whose key exists. */
function upsertSql(table: TableInfo, columns: string[], count: number): string {
  const keys = keyColumns(table)
  const keyed = new Set(keys.map(identifierKey))
  const updates = columns.filter((column) => !keyed.has(identifierKey(column)))
  // DO NOTHING would return no row for an existing key; setting a key column to itself updates nothing.
  const sets = updates.length ? updates : [keys[0]!]
  const action = `DO UPDATE SET ${sets.map((column) => `${q(column)} = excluded.${q(column)}`).join(', ')}`
  return `${insertInto(table, columns, count)} ON CONFLICT (${keys.map(q).join(', ')}) ${action}${returning(table)}`
}

function columnSql(column: ColumnDefinition, primaryKey: boolean): string {
  let line = `${q(column.name)} ${POSTGRES_TYPES[column.type]}`
  if (primaryKey) line += ' PRIMARY KEY'
  if (column.notNull) line += ' NOT NULL'
  if (column.defaultValue !== undefined) line += ` DEFAULT ${sqlLiteral(column.defaultValue)}`
  if (column.defaultExpression !== undefined) line += ` DEFAULT ${DEFAULT_SQL[column.defaultExpression]}`
  if (column.references) line += ` REFERENCES ${q(column.references.table)}(${q(column.references.column)})`
  return line
}

const keyWhere = (keyColumns: string[]) => keyColumns.map((column) => `${q(column)} = ?`).join(' AND ')

/** Turns a GLOB pattern (`*`, `?`, `[...]`, case-sensitive, whole value) into the POSIX regular expression `~` takes. */
export function globToRegex(pattern: string): string {
  let regex = '^'
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!
    if (char === '*') regex += '.*'
    else if (char === '?') regex += '.'
    else if (char === '[') {
      const end = pattern.indexOf(']', i + 2)
      if (end === -1) regex += '\\['
      else {
        const body = pattern.slice(i + 1, end)
        regex += `[${body.startsWith('^') ? `^${body.slice(1)}` : body.replace(/\\/g, '\\\\')}]`
        i = end
      }
    } else regex += /[\\^$.|+(){}]/.test(char) ? `\\${char}` : char
  }
  return `${regex}$`
}

/** The function that numbers a table's rows without a key: named after the table, so dropping the table can drop it too. */
const keyFunction = (table: string) => q(`${INTERNAL_TABLE_PREFIX}key_${createHash('md5').update(table).digest('hex')}`)

/**
 * SQLite gives a row inserted without its rowid (or INTEGER PRIMARY KEY) the largest key plus one, whatever keys
 * clients gave before. An identity column would not (its sequence ignores given keys, and the next generated one
 * would collide), so a trigger does what SQLite does, under a lock that makes concurrent transactions take turns.
 */
function keyTrigger(table: string, column: string): string[] {
  return [
    `CREATE FUNCTION ${keyFunction(table)}() RETURNS trigger LANGUAGE plpgsql AS $rowpost$
BEGIN
  IF NEW.${q(column)} IS NULL THEN
    PERFORM pg_advisory_xact_lock(1919, (TG_RELID::bigint % 2147483647)::integer);
    SELECT coalesce(max(${q(column)}), 0) + 1 INTO NEW.${q(column)} FROM ${q(table)};
  END IF;
  RETURN NEW;
END
$rowpost$`,
    `CREATE TRIGGER ${q(`${INTERNAL_TABLE_PREFIX}key`)} BEFORE INSERT ON ${q(table)} FOR EACH ROW EXECUTE FUNCTION ${keyFunction(table)}()`,
  ]
}

export const postgresDialect: Dialect = {
  idempotency,
  feed,
  reportsInserted: true,
  strictTypes: true,
  // NAMEDATALEN - 1: PostgreSQL would silently cut a longer name short, and then find no table by the name given.
  maxNameBytes: 63,
  isMissingTable: (error) => postgresErrorCode(error) === '42P01',
  // 54000 program_limit_exceeded (too many parameters for one statement), 54001 statement too complex.
  isQueryTooLarge: (error) => ['54000', '54001'].includes(postgresErrorCode(error) ?? '') || /bind message has \d+ parameter/.test(String(error)),
  apiError: apiErrorFromPostgres,
  createTable(table, columns, pks) {
    const single = pks.length === 1 ? pks[0] : undefined
    const lines = pks.length === 0 ? ['"rowid" bigint PRIMARY KEY'] : []
    for (const column of columns) lines.push(columnSql(column, single !== undefined && column.name === single))
    if (pks.length > 1) lines.push(`PRIMARY KEY (${pks.map(q).join(', ')})`)
    const create = `CREATE TABLE ${q(table)} (\n${lines.map((line) => `   ${line}`).join(',\n')}\n)`
    const generated = pks.length === 0 ? 'rowid' : columns.find((column) => column.name === single && column.type === 'INTEGER')?.name
    return [create, ...(generated === undefined ? [] : keyTrigger(table, generated))].join(';\n')
  },
  addColumn: (table, column) => `ALTER TABLE ${q(table)} ADD COLUMN ${q(column.name)} ${POSTGRES_TYPES[column.type]}`,
  widenColumn: (table, column, type) =>
    `ALTER TABLE ${q(table)} ALTER COLUMN ${q(column)} TYPE ${POSTGRES_TYPES[type]} USING ${q(column)}::${POSTGRES_TYPES[type]}`,
  insert: (table, columns, conflict) => insertSql(table, columns, conflict, 1),
  upsert: (table, columns) => upsertSql(table, columns, 1),
  insertRows: (table, columns, mode, count) => (mode === 'upsert' ? upsertSql(table, columns, count) : insertSql(table, columns, mode, count)),
  count: (table) => `SELECT count(*) AS count FROM ${q(table)}`,
  existsByKey: (table, keyColumns) => `SELECT 1 FROM ${q(table)} WHERE ${keyWhere(keyColumns)}`,
  countExistingKeys(table, column) {
    const type = POSTGRES_TYPES[(table.columnsByKey.get(identifierKey(column))?.type ?? 'INTEGER') as ColumnType] ?? 'text'
    return `SELECT count(*) AS n FROM ${q(table.name)} WHERE ${q(column)} IN (SELECT value::${type} FROM jsonb_array_elements_text(?::text::jsonb) AS value)`
  },
  updateByKey: (table, columns, keyColumns) =>
    `UPDATE ${q(table)} SET ${columns.map((column) => `${q(column)} = ?`).join(', ')} WHERE ${keyWhere(keyColumns)}`,
  deleteByKey: (table, keyColumns) => `DELETE FROM ${q(table)} WHERE ${keyWhere(keyColumns)}`,
  dropTable: (table) => `DROP TABLE ${q(table)};\nDROP FUNCTION IF EXISTS ${keyFunction(table)}()`,
  copyRows(from, to, columns, withRowid) {
    const list = [...(withRowid ? ['"rowid"'] : []), ...columns.map(q)].join(', ')
    return `INSERT INTO ${q(to)} (${list}) SELECT ${list} FROM ${q(from)}`
  },
  renameTable: (from, to) => `ALTER TABLE ${q(from)} RENAME TO ${q(to)}`,
  like: (column, negate) => `${q(column)}::text${negate ? ' NOT' : ''} ILIKE ? ESCAPE '\\'`,
  glob: (column, pattern) => ({ sql: `${q(column)}::text ~ ?`, params: [globToRegex(pattern)] }),
  blank: (column, negate) => (negate ? `(${q(column)} IS NOT NULL AND ${q(column)}::text != '')` : `(${q(column)} IS NULL OR ${q(column)}::text = '')`),
  // SQLite puts NULLs first ascending and last descending; a column that cannot be NULL needs no clause, so an index still serves it.
  orderBy: (column, descending, nullable) =>
    `${q(column)}${descending ? ' DESC' : ''}${nullable ? (descending ? ' NULLS LAST' : ' NULLS FIRST') : ''}`,
}
