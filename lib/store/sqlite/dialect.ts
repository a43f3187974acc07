/** SQLite's SQL for the paths: the builders of lib/sql.ts (`?` placeholders, INSERT OR IGNORE/REPLACE, rowid). */
import type { Dialect, FeedSql, IdempotencySql } from '../dialect'
import { CHANGES_TABLE, FEEDS_TABLE, SHARED_FEED_SQL } from '../feed-sql'
import { apiErrorFromSqlite } from '../../errors'
import { INTERNAL_TABLE_PREFIX, quoteIdentifier as q } from '../../identifiers'
import { keyColumns } from '../table'
import {
  addColumnSql,
  copyRowsSql,
  countExistingKeysSql,
  countSql,
  createTableSql,
  deleteByKeySql,
  dropTableSql,
  existsByKeySql,
  insertSql,
  maxRowidSql,
  renameTableSql,
  updateByKeySql,
  upsertSql,
} from '../../sql'

const IDEMPOTENCY = q(`${INTERNAL_TABLE_PREFIX}idempotency`)
const IDEMPOTENCY_CREATED = q(`${INTERNAL_TABLE_PREFIX}idempotency_created`)
/**
 * Expired keys removed by one keyed write. Each write adds one key and removes up to this many, so a backlog (a
 * burst of keys expiring together) drains in bounded steps instead of stalling one request.
 */
const PURGE_BATCH = 100

const idempotency: IdempotencySql = {
  // The index on created is created separately so that tables made before it existed get it too.
  create: [
    `CREATE TABLE IF NOT EXISTS ${IDEMPOTENCY} (actor TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, status INTEGER NOT NULL, body TEXT NOT NULL, created INTEGER NOT NULL, PRIMARY KEY (actor, key)) WITHOUT ROWID`,
    `CREATE INDEX IF NOT EXISTS ${IDEMPOTENCY_CREATED} ON ${IDEMPOTENCY} (created)`,
  ],
  find: `SELECT fingerprint, status, body FROM ${IDEMPOTENCY} WHERE actor = ? AND key = ? AND created > ?`,
  // The table is WITHOUT ROWID: its key, found through the index on created, names the rows to delete.
  purge:
    `DELETE FROM ${IDEMPOTENCY} WHERE (actor, key) IN ` + `(SELECT actor, key FROM ${IDEMPOTENCY} WHERE created <= ? ORDER BY created LIMIT ${PURGE_BATCH})`,
  store:
    `INSERT INTO ${IDEMPOTENCY} (actor, key, fingerprint, status, body, created) VALUES (?, ?, ?, ?, ?, ?) ` +
    `ON CONFLICT (actor, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status, body = excluded.body, created = excluded.created ` +
    `WHERE created <= excluded.created - ?`,
}

const feed: FeedSql = {
  create: [
    `CREATE TABLE IF NOT EXISTS ${FEEDS_TABLE} (name TEXT PRIMARY KEY, last_id INTEGER NOT NULL, first_id INTEGER NOT NULL, followed_until INTEGER NOT NULL) WITHOUT ROWID`,
    `CREATE TABLE IF NOT EXISTS ${CHANGES_TABLE} (feed TEXT NOT NULL, id INTEGER NOT NULL, op TEXT NOT NULL, key TEXT, row TEXT, at INTEGER NOT NULL, PRIMARY KEY (feed, id)) WITHOUT ROWID`,
  ],
  follow:
    `INSERT INTO ${FEEDS_TABLE} (name, last_id, first_id, followed_until) VALUES (?, 0, 1, ?) ON CONFLICT (name) DO UPDATE SET ` +
    `first_id = CASE WHEN followed_until < ? THEN last_id + 1 ELSE first_id END, followed_until = max(followed_until, excluded.followed_until)`,
  ...SHARED_FEED_SQL,
}

export const sqliteDialect: Dialect = {
  idempotency,
  feed,
  reportsInserted: false,
  strictTypes: false,
  isMissingTable: (error) => error instanceof Error && /no such table/.test(error.message),
  // SQLite's parser limits that a long enough query string reaches: its message names the limit.
  isQueryTooLarge: (error) => error instanceof Error && /Expression tree is too large|too many SQL variables/.test(error.message),
  apiError: (error) => (error instanceof Error ? apiErrorFromSqlite(error as Error & { code?: string }) : undefined),
  createTable: createTableSql,
  addColumn: addColumnSql,
  widenColumn: () => {
    throw new Error('SQLite columns hold values of any type: nothing to widen')
  },
  insert: (table, columns, conflict) => insertSql(table.name, columns, conflict),
  upsert: (table, columns) => upsertSql(table.name, columns, keyColumns(table)),
  // SQLite runs a multi-row VALUES row after row, exactly as it runs one statement per row, repeated keys included.
  insertRows: (table, columns, mode, count) =>
    mode === 'upsert' ? upsertSql(table.name, columns, keyColumns(table), count) : insertSql(table.name, columns, mode, count),
  count: countSql,
  existsByKey: existsByKeySql,
  countExistingKeys: (table, column) => countExistingKeysSql(table.name, column),
  maxRowid: maxRowidSql,
  updateByKey: updateByKeySql,
  deleteByKey: deleteByKeySql,
  dropTable: dropTableSql,
  copyRows: copyRowsSql,
  renameTable: renameTableSql,
  like: (column, negate) => `${q(column)}${negate ? ' NOT' : ''} LIKE ? ESCAPE '\\'`,
  glob: (column, pattern) => ({ sql: `${q(column)} GLOB ?`, params: [pattern] }),
  blank: (column, negate) => (negate ? `(${q(column)} IS NOT NULL AND ${q(column)} != '')` : `(${q(column)} IS NULL OR ${q(column)} = '')`),
  orderBy: (column, descending) => `${q(column)}${descending ? ' DESC' : ''}`,
}
