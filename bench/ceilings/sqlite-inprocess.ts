/** Ceiling (c): bun:sqlite alone, no HTTP — ROWS rows through one prepared statement in transactions of BATCH (WAL, synchronous=NORMAL). */
// Usage: bun bench/ceilings/sqlite-inprocess.ts FILE.db ROWS BATCH; prints one JSON line: rows, seconds, peakRssBytes.
import { Database } from 'bun:sqlite'
import { readFileSync } from 'node:fs'
import { INSERT_ITEM_SQL, ITEMS_DDL } from '../rows'

const [path, rowsArg, batchArg] = process.argv.slice(2)
const rows = Number(rowsArg)
const batch = Number(batchArg)

const db = new Database(path!, { create: true })
db.run('PRAGMA journal_mode = WAL')
db.run('PRAGMA synchronous = NORMAL')
db.run(ITEMS_DDL)
const insert = db.prepare(INSERT_ITEM_SQL)
const insertRange = db.transaction((first: number, count: number) => {
  for (let id = first; id < first + count; id++) insert.run(id, `n${id}`, 1.5, true)
})

const started = performance.now()
for (let first = 1; first <= rows; first += batch) insertRange(first, Math.min(batch, rows - first + 1))
const seconds = (performance.now() - started) / 1000
const written = (db.query('SELECT count(*) AS n FROM items').get() as { n: number }).n
db.close()

const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? 0)
console.log(JSON.stringify({ rows: written, seconds, peakRssBytes: hwmKb * 1024 }))
