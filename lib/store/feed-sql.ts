/** The change feed's statements that SQLite and PostgreSQL spell alike (lib/store/dialect.ts `FeedSql`). */
import { INTERNAL_TABLE_PREFIX, quoteIdentifier as q } from '../identifiers'
import type { FeedSql } from './dialect'

export const FEEDS_TABLE = q(`${INTERNAL_TABLE_PREFIX}feeds`)
export const CHANGES_TABLE = q(`${INTERNAL_TABLE_PREFIX}changes`)

export const SHARED_FEED_SQL: Omit<FeedSql, 'create' | 'follow'> = {
  allocate: `UPDATE ${FEEDS_TABLE} SET last_id = last_id + ? WHERE name = ? AND followed_until > ? RETURNING last_id`,
  record: `INSERT INTO ${CHANGES_TABLE} (feed, id, op, key, row, at) VALUES (?, ?, ?, ?, ?, ?)`,
  prune: `DELETE FROM ${CHANGES_TABLE} WHERE feed = ? AND id <= ?`,
  state: `SELECT last_id, first_id, followed_until FROM ${FEEDS_TABLE} WHERE name = ?`,
  read: `SELECT id, op, key, row, at FROM ${CHANGES_TABLE} WHERE feed = ? AND id > ? ORDER BY id LIMIT ?`,
  oldest: `SELECT min(id) AS id FROM ${CHANGES_TABLE} WHERE feed = ?`,
}
