/** The one row shape every workload writes (as JSON, CSV and SQL), so every target stores the same rows. */

/** What rowpost infers from `jsonRow`: an integer primary key, TEXT, REAL and a boolean stored as INTEGER. */
export const ITEMS_DDL = 'CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, name TEXT, score REAL, active INTEGER)'

/** The legacy route replaces rows whose key exists; the ceilings do the same. */
export const INSERT_ITEM_SQL = 'INSERT OR REPLACE INTO items (id, name, score, active) VALUES (?, ?, ?, ?)'

/** The same row bench/lua/insert.lua sends. */
export function jsonRow(id: number): string {
  return `{"id":${id},"name":"n${id}","score":1.5,"active":true}`
}

export const CSV_HEADER = 'id,name,score,active'

export function csvRow(id: number): string {
  return `${id},n${id},1.5,1`
}

/** A request body of `count` rows from `firstId` on: one object for a single row, as W1 sends, else an array. */
export function jsonBody(firstId: number, count: number): string {
  if (count === 1) return jsonRow(firstId)
  const rows: string[] = []
  for (let id = firstId; id < firstId + count; id++) rows.push(jsonRow(id))
  return `[${rows.join(',')}]`
}
