/** Ceiling (a): the least an HTTP insert can cost in Bun — a bare Bun.serve that parses the JSON body and answers {"ok":true}. */
// Usage: bun bench/ceilings/json-server.ts [PORT]; prints `serving at http://127.0.0.1:PORT/` once listening.
const server = Bun.serve({
  hostname: '127.0.0.1',
  port: Number(process.argv[2] ?? 0),
  maxRequestBodySize: Number.MAX_SAFE_INTEGER,
  async fetch(request) {
    await request.json()
    return Response.json({ ok: true })
  },
})
console.log(`json ceiling serving at http://127.0.0.1:${server.port}/`)
