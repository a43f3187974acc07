/** The smoke set run against a packaged rowpost (the compiled binary, the container): insert, read, a SQL query, a token. */
import { expect } from 'bun:test'

/** A metadata.json that lets the actor `root` create tables and insert, and nobody else write. */
export const SMOKE_METADATA = JSON.stringify({ permissions: { 'create-table': { id: 'root' }, 'insert-row': { id: 'root' } } })

/** Runs the smoke requests against a server at `url` serving database `data`, with `token` a signed token for `root`. */
export async function smokeRequests(url: string, token: string): Promise<void> {
  const post = (path: string, body: unknown, authorization?: string) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization: `Bearer ${authorization}` } : {}) },
      body: JSON.stringify(body),
    })
  const create = { table: 'dogs', rows: [{ id: 1, name: 'Cleo' }], pk: 'id' }
  const refused = await post('/data/-/create', create)
  expect({ status: refused.status, body: await refused.json() }).toMatchObject({ status: 403, body: { ok: false } })
  const created = await post('/data/-/create', create, token)
  expect({ status: created.status, body: await created.json() }).toMatchObject({ status: 201, body: { ok: true, table: 'dogs' } })
  const inserted = await post('/data/dogs/-/insert', { rows: [{ id: 2, name: 'Pancakes' }] }, token)
  expect(inserted.status).toBe(201)
  await inserted.text()
  const read = await fetch(`${url}/data/dogs.json?_shape=array`)
  expect({ status: read.status, body: await read.json() }).toEqual({
    status: 200,
    body: [
      { id: 1, name: 'Cleo' },
      { id: 2, name: 'Pancakes' },
    ],
  })
  // A SQL query runs in a query process that the server starts from its own executable.
  const counted = await fetch(`${url}/data/-/query.json?sql=${encodeURIComponent('select count(*) as n, 1 as one from dogs')}&_shape=array`)
  expect({ status: counted.status, body: await counted.json() }).toEqual({ status: 200, body: [{ n: 2, one: 1 }] })
}
