/** tests/postgres.ts's throwaway cluster, and what Bun.SQL really does with PostgreSQL: the facts the PostgreSQL backend relies on. */
import { SQL } from 'bun'
import { describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { alive, childPids, INSTALL_HINT, startCluster } from '../bench/postgres-cluster'
import { quoteIdentifier } from '../lib/identifiers'
import { postgresPids, usePostgres } from './postgres'

const pg = usePostgres()

/** The SQLSTATE and Bun's own code of whatever `run` rejects with. */
async function failure(run: () => Promise<unknown>): Promise<{ error: unknown; code?: string; errno?: string }> {
  try {
    await run()
  } catch (error) {
    const { code, errno } = error as { code?: string; errno?: string }
    return { error, code, errno }
  }
  throw new Error('expected the statement to fail')
}

describe('the throwaway cluster', () => {
  test('each test gets its own empty database', async () => {
    const first = await pg.freshDatabase()
    const second = await pg.freshDatabase()
    expect(first.name).not.toBe(second.name)
    const a = first.sql()
    await a`CREATE TABLE items (id integer)`
    const b = second.sql()
    expect(await b`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`).toEqual([])
    expect(await a`SELECT current_database() AS name`).toEqual([{ name: first.name }])
  })

  test('stopping a cluster leaves no postgres process and removes its directory', async () => {
    const other = await startCluster()
    try {
      const sql = new SQL(other.url())
      expect(await sql`SELECT 1 AS one`).toEqual([{ one: 1 }])
      await sql.close()
      const children = childPids(other.pid)
      expect(children.length).toBeGreaterThan(0)
      other.stop()
      expect([other.pid, ...children].filter(alive)).toEqual([])
      expect(childPids(other.pid).filter(alive)).toEqual([])
      expect(postgresPids().filter((pid) => pid === other.pid || children.includes(pid))).toEqual([])
      expect(existsSync(other.dir)).toBe(false)
    } finally {
      // Also when an expectation failed; a second stop is harmless.
      other.stop()
    }
  })

  test('without PostgreSQL installed, starting a cluster fails with how to install it rather than skipping', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'rowpost-no-pg-'))
    try {
      await expect(startCluster({ binDir: empty })).rejects.toThrow(INSTALL_HINT)
      expect(INSTALL_HINT).toContain('apt-get install postgresql')
      expect(INSTALL_HINT).toContain('.ci/run')
    } finally {
      rmSync(empty, { recursive: true, force: true })
    }
  })
})

describe('Bun.SQL on PostgreSQL 15', () => {
  test('connects over TCP, and over the unix socket both as { path, port } and as ?host= in the URL', async () => {
    const db = await pg.freshDatabase()
    const tcp = db.sql()
    expect(await tcp`SELECT inet_server_addr()::text AS address, current_database() AS db`).toEqual([{ address: '127.0.0.1/32', db: db.name }])
    // inet_server_addr() is NULL on a unix-socket connection: that is what proves these two did not fall back to TCP.
    const byPath = db.sql({ url: undefined, path: pg.socketDir, port: pg.port, username: 'postgres', database: db.name })
    expect(await byPath`SELECT inet_server_addr() AS address, current_database() AS db`).toEqual([{ address: null, db: db.name }])
    const byUrl = db.sql({ url: db.socketUrl })
    expect(db.socketUrl).toContain(`?host=${encodeURIComponent(pg.socketDir)}`)
    expect(await byUrl`SELECT inet_server_addr() AS address, current_database() AS db`).toEqual([{ address: null, db: db.name }])
  })

  test('a transaction commits, and one whose callback throws rolls back', async () => {
    const sql = (await pg.freshDatabase()).sql()
    await sql`CREATE TABLE items (id integer PRIMARY KEY, name text)`
    await sql.begin(async (tx) => {
      await tx`INSERT INTO items VALUES (1, 'kept')`
      await tx`INSERT INTO items VALUES (2, 'kept too')`
    })
    const thrown = await failure(() =>
      sql.begin(async (tx) => {
        await tx`INSERT INTO items VALUES (3, 'lost')`
        throw new Error('changed my mind')
      }),
    )
    expect((thrown.error as Error).message).toBe('changed my mind')
    const violated = await failure(() =>
      sql.begin(async (tx) => {
        await tx`INSERT INTO items VALUES (4, 'lost')`
        await tx`INSERT INTO items VALUES (1, 'duplicate')`
      }),
    )
    expect(violated.errno).toBe('23505')
    expect(await sql`SELECT id, name FROM items ORDER BY id`).toEqual([
      { id: 1, name: 'kept' },
      { id: 2, name: 'kept too' },
    ])
  })

  test('BEGIN, statements and COMMIT sent at once: after a failure the rest fail with 25P02 and COMMIT answers ROLLBACK', async () => {
    const sql = (await pg.freshDatabase()).sql({ max: 1 })
    await sql`CREATE TABLE items (id integer PRIMARY KEY)`
    await sql`INSERT INTO items VALUES (1)`
    const connection = await sql.reserve()
    try {
      const all = [connection`BEGIN`, connection`INSERT INTO items VALUES (2)`, connection`INSERT INTO items VALUES (1)`]
      all.push(connection`INSERT INTO items VALUES (3)`, connection`COMMIT`)
      const answers = await Promise.allSettled(all)
      const outcome = answers.map((answer) =>
        answer.status === 'fulfilled' ? (answer.value as { command: string }).command : (answer.reason as SQL.PostgresError).errno,
      )
      // COMMIT resolves: only its command tag tells that nothing was committed.
      expect(outcome).toEqual(['BEGIN', 'INSERT', '23505', '25P02', 'ROLLBACK'])
      expect(await connection`SELECT id FROM items`).toEqual([{ id: 1 }])
    } finally {
      connection.release()
    }
  })

  test('commits are durable by default: synchronous_commit and fsync are on', async () => {
    const sql = pg.sql()
    expect(await sql`SELECT current_setting('synchronous_commit') AS sync, current_setting('fsync') AS fsync`).toEqual([{ sync: 'on', fsync: 'on' }])
  })

  test("a unique violation is a SQL.PostgresError with SQLSTATE 23505 in errno (code is Bun's), naming constraint and table", async () => {
    const sql = (await pg.freshDatabase()).sql()
    await sql`CREATE TABLE items (id integer PRIMARY KEY)`
    await sql`INSERT INTO items VALUES (1)`
    const { error, code, errno } = await failure(() => sql`INSERT INTO items VALUES (1)`)
    expect(error).toBeInstanceOf(SQL.PostgresError)
    expect(errno).toBe('23505')
    expect(code).toBe('ERR_POSTGRES_SERVER_ERROR')
    const { constraint, table, detail } = error as SQL.PostgresError
    expect({ constraint, table, detail }).toEqual({ constraint: 'items_pkey', table: 'items', detail: 'Key (id)=(1) already exists.' })
    expect((error as Error).message).toBe('duplicate key value violates unique constraint "items_pkey"')
  })

  test('bigint round trips exactly past 2^53: as a string by default, as a BigInt with bigint: true', async () => {
    const db = await pg.freshDatabase()
    const sql = db.sql()
    await sql`CREATE TABLE numbers (n bigint)`
    const extremes = [2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]
    for (const n of extremes) await sql`INSERT INTO numbers VALUES (${n})`
    expect(await sql`SELECT n FROM numbers ORDER BY n`).toEqual([{ n: '-9223372036854775808' }, { n: '9007199254740993' }, { n: '9223372036854775807' }])
    const exact = db.sql({ bigint: true })
    expect(await exact`SELECT n FROM numbers ORDER BY n`).toEqual([{ n: -(2n ** 63n) }, { n: 2n ** 53n + 1n }, { n: 2n ** 63n - 1n }])
    expect(await exact`SELECT ${'9007199254740993'}::bigint + 0 AS n`).toEqual([{ n: 2n ** 53n + 1n }])
  })

  test('bytea round trips every byte value, and comes back as a Buffer', async () => {
    const sql = (await pg.freshDatabase()).sql()
    await sql`CREATE TABLE blobs (b bytea)`
    const bytes = new Uint8Array(256).map((_, i) => i)
    await sql`INSERT INTO blobs VALUES (${bytes})`
    const [row] = await sql`SELECT b, length(b) AS n FROM blobs`
    expect(row.n).toBe(256)
    expect(Buffer.isBuffer(row.b)).toBe(true)
    expect(new Uint8Array(row.b)).toEqual(bytes)
  })

  test('jsonb round trips objects; a JS string bound to jsonb becomes a JSON string, so JSON text goes in as ::text::jsonb', async () => {
    const sql = (await pg.freshDatabase()).sql()
    await sql`CREATE TABLE docs (id integer, v jsonb)`
    const value = { name: 'é "quoted" 🦆', list: [1, 2.5, null, true], nested: { empty: {} } }
    await sql`INSERT INTO docs VALUES (1, ${value})`
    await sql`INSERT INTO docs VALUES (2, ${'{"n": 12345678901234567890}'})`
    await sql`INSERT INTO docs VALUES (3, ${'{"n": 12345678901234567890}'}::text::jsonb)`
    await sql`INSERT INTO docs VALUES (4, 'null'), (5, NULL)`
    expect(await sql`SELECT id, v, v::text AS text, jsonb_typeof(v) AS type FROM docs ORDER BY id`).toEqual([
      { id: 1, v: value, text: '{"list": [1, 2.5, null, true], "name": "é \\"quoted\\" 🦆", "nested": {"empty": {}}}', type: 'object' },
      { id: 2, v: '{"n": 12345678901234567890}', text: '"{\\"n\\": 12345678901234567890}"', type: 'string' },
      // Parsed into JS, a number past 2^53 is rounded; jsonb itself keeps it exact (numeric), as ::text shows.
      { id: 3, v: { n: 12345678901234567000 }, text: '{"n": 12345678901234567890}', type: 'object' },
      // JSON null and SQL NULL both read as null: only jsonb_typeof (or ::text) tells them apart.
      { id: 4, v: null, text: 'null', type: 'null' },
      { id: 5, v: null, text: null, type: null },
    ])
  })

  test('quoted identifiers keep case and odd characters; unquoted ones fold to lower case; past 63 bytes both are cut', async () => {
    const sql = (await pg.freshDatabase()).sql()
    const names = ['Mixed Case', 'with "quotes"', 'select', 'semi;colon -- comment', 'ünïcødé 🦆', "it's"]
    await sql.unsafe(`CREATE TABLE ${quoteIdentifier('Odd Table "1"')} (${names.map((name) => `${quoteIdentifier(name)} text`).join(', ')})`)
    await sql.unsafe(`CREATE TABLE Unquoted (Name text)`)
    const long = 'x'.repeat(70)
    await sql.unsafe(`CREATE TABLE ${quoteIdentifier(long)} (id integer)`)
    const tables = await sql`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`
    expect(tables.map((row: { table_name: string }) => row.table_name)).toEqual(['Odd Table "1"', 'unquoted', 'x'.repeat(63)])
    const columns = await sql`SELECT column_name FROM information_schema.columns WHERE table_name = ${'Odd Table "1"'} ORDER BY ordinal_position`
    expect(columns.map((row: { column_name: string }) => row.column_name)).toEqual(names)
    const placeholders = names.map((_, i) => `$${i + 1}`).join(', ')
    const insert = `INSERT INTO ${quoteIdentifier('Odd Table "1"')} (${names.map(quoteIdentifier).join(', ')}) VALUES (${placeholders})`
    await sql.unsafe(insert, names)
    const [row] = await sql.unsafe(`SELECT * FROM ${quoteIdentifier('Odd Table "1"')}`)
    expect(row).toEqual(Object.fromEntries(names.map((name) => [name, name])))
  })

  test('statement_timeout cancels a slow query with SQLSTATE 57014, and the connection stays usable', async () => {
    const sql = (await pg.freshDatabase()).sql({ max: 1 })
    const cancelled = await failure(() =>
      sql.begin(async (tx) => {
        await tx`SET LOCAL statement_timeout = 50`
        await tx`SELECT pg_sleep(5)`
      }),
    )
    expect(cancelled.errno).toBe('57014')
    expect((cancelled.error as Error).message).toBe('canceling statement due to statement timeout')
    expect(await sql`SELECT current_setting('statement_timeout') AS timeout`).toEqual([{ timeout: '0' }])
    const perConnection = (await pg.freshDatabase()).sql({ connection: { statement_timeout: 50 } })
    expect((await failure(() => perConnection`SELECT pg_sleep(5)`)).errno).toBe('57014')
  })

  test("two connections see each other's committed rows, and not uncommitted ones", async () => {
    const db = await pg.freshDatabase()
    const one = db.sql()
    const two = db.sql({ url: db.socketUrl })
    await one`CREATE TABLE items (id integer, source text)`
    await one`INSERT INTO items VALUES (1, 'one')`
    expect(await two`SELECT id, source FROM items`).toEqual([{ id: 1, source: 'one' }])
    await two.begin(async (tx) => {
      await tx`INSERT INTO items VALUES (2, 'two')`
      expect(await one`SELECT count(*)::int AS n FROM items`).toEqual([{ n: 1 }])
    })
    expect(await one`SELECT id, source FROM items ORDER BY id`).toEqual([
      { id: 1, source: 'one' },
      { id: 2, source: 'two' },
    ])
  })
})
