/**
 * The read ceiling (R1, R2): a bare Bun.serve answering a table page with one prepared `SELECT ... LIMIT 101` and
 * Response.json, the least any HTTP server in Bun does to send a page of a 1M-row table.
 */
// Usage: bun bench/ceilings/read-server.ts FILE.db [PORT]; prints `serving at http://127.0.0.1:PORT/` once listening.
// `?_size=N` gives the page size; `?_sort=score&active=1&_next=SCORE,ID` the filtered, sorted keyset page of R2, its
// token tilde-encoded as rowpost's are (`.` is `~2E`).
import { Database } from 'bun:sqlite'

const db = new Database(process.argv[2]!, { readonly: true })
const columns = 'id, name, score, active'
const firstPage = db.prepare(`SELECT ${columns} FROM items ORDER BY id LIMIT ?`)
const sortedPage = db.prepare(`SELECT ${columns} FROM items WHERE active = ? AND (score, id) > (?, ?) ORDER BY score, id LIMIT ?`)

const tildeNumber = (text: string) => Number(decodeURIComponent(text.replaceAll('~', '%')))

interface Item {
  id: number
  name: string
  score: number
  active: number
}

const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[3] ?? 0),
  fetch(request) {
    const query = new URL(request.url).searchParams
    const size = Number(query.get('_size') ?? 100)
    const next = query.get('_next')
    const fetched = (
      query.get('_sort') === 'score' && next
        ? sortedPage.all(Number(query.get('active')), ...next.split(',').map(tildeNumber), size + 1)
        : firstPage.all(size + 1)
    ) as Item[]
    const rows = fetched.slice(0, size)
    const last = rows.at(-1)
    const token = fetched.length > size && last ? (query.get('_sort') === 'score' ? `${last.score},${last.id}` : `${last.id}`) : null
    return Response.json({ ok: true, next: token, rows, truncated: false })
  },
})
console.log(`read ceiling serving at http://127.0.0.1:${server.port}/`)
