/** Ceiling (b): a bare Bun.serve that writes each request's rows with one prepared statement in one transaction (WAL, synchronous=NORMAL). */
// Usage: bun bench/ceilings/sqlite-server.ts FILE.db [PORT]; prints `serving at http://127.0.0.1:PORT/` once listening.
import { Database } from 'bun:sqlite'
import { INSERT_ITEM_SQL, ITEMS_DDL } from '../rows'

interface Item {
  id?: number
  name: string
  score: number
  active: boolean
}

const db = new Database(process.argv[2]!, { create: true })
db.run('PRAGMA journal_mode = WAL')
db.run('PRAGMA synchronous = NORMAL')
db.run(ITEMS_DDL)
const insert = db.prepare(INSERT_ITEM_SQL)
const insertAll = db.transaction((rows: Item[]) => {
  for (const row of rows) insert.run(row.id ?? null, row.name, row.score, row.active)
})

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[3] ?? 0),
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  async fetch(request) {
    const body = (await request.json()) as Item | Item[]
    insertAll(Array.isArray(body) ? body : [body])
    return Response.json({ ok: true })
  },
})
console.log(`sqlite ceiling serving at http://127.0.0.1:${server.port}/`)
