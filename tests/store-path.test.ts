/** The storage protocol: paths as generators of statement requests, driven synchronously by SQLite and by any other driver. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { RowpostDatabase } from '../lib/database'
import { IdempotencyStore } from '../lib/idempotency'
import { drive, get, RowFailure, run, statementOf, type Answer, type Path, type Session, type StatementRequest } from '../lib/store/path'
import { sqliteDialect } from '../lib/store/sqlite/dialect'
import type { TableInfo } from '../lib/store/table'
import { readTableValuesPath } from '../lib/reader'
import { readRowsByKeyPath, writeRowsPath, type RowsWrite } from '../lib/writer'
import { tempDbPath } from './helpers'

const items: TableInfo = {
  name: 'items',
  columns: [
    { name: 'id', type: 'INTEGER', notNull: false, defaultValue: null, pk: 1 },
    { name: 'name', type: 'TEXT', notNull: false, defaultValue: null, pk: 0 },
  ],
  pks: ['id'],
  columnsByKey: new Map([
    ['id', { name: 'id', type: 'INTEGER', notNull: false, defaultValue: null, pk: 1 }],
    ['name', { name: 'name', type: 'TEXT', notNull: false, defaultValue: null, pk: 0 }],
  ]),
  withoutRowid: false,
  otherUniqueIndexes: false,
}

const session: Session = { dialect: sqliteDialect }

const insert = (rows: RowsWrite['rows'], mode: RowsWrite['mode'] = 'abort'): RowsWrite => ({
  table: 'items',
  rows,
  pks: ['id'],
  mode,
  alter: false,
  mayCreate: false,
})

/** A request as the fake driver logs it: what is wanted, the SQL it names, and the values bound. */
function describeRequest(request: StatementRequest): unknown[] {
  if (request.want === 'exec') return ['exec', request.sql]
  if (request.want === 'table' || request.want === 'count' || request.want === 'schema') return [request.want, request.name]
  if (request.want === 'runEach') return [request.want, request.statement.build(), request.rows]
  if (request.want === 'feed' || request.want === 'follow') return [request.want, request.name]
  return [request.want, request.statement.build(), request.params]
}

/** Drives a path the way a networked store would: each answer arrives on a later turn of the event loop. */
async function driveLater<T>(path: Path<T>, answer: (request: StatementRequest) => Answer): Promise<T> {
  let step = path.next()
  while (!step.done) {
    const request = step.value
    let result: Answer
    try {
      result = await new Promise<Answer>((resolve, reject) =>
        setTimeout(() => {
          try {
            resolve(answer(request))
          } catch (error) {
            reject(error)
          }
        }, 0),
      )
    } catch (error) {
      step = path.throw(error)
      continue
    }
    step = path.next(result)
  }
  return step.value
}

describe('drive', () => {
  test('answers each request in order and returns what the path returns', () => {
    const seen: unknown[] = []
    function* path(): Path<number> {
      const first = yield* get<{ n: number }>(statementOf('SELECT 1 AS n'))
      const second = yield* run(statementOf('DELETE FROM t WHERE id = ?'), [first!.n])
      return first!.n + second.changes
    }
    const value = drive(path(), (request) => {
      seen.push(describeRequest(request))
      return request.want === 'get' ? { n: 41 } : { changes: 1, lastInsertRowid: 0 }
    })
    expect(value).toBe(42)
    expect(seen).toEqual([
      ['get', 'SELECT 1 AS n', []],
      ['run', 'DELETE FROM t WHERE id = ?', [41]],
    ])
  })

  test('a failed request is thrown into the path at its yield, where the path may catch it', () => {
    function* path(): Path<string> {
      try {
        yield* run(statementOf('INSERT INTO missing VALUES (1)'))
        return 'written'
      } catch (error) {
        return `caught: ${(error as Error).message}`
      }
    }
    expect(
      drive(path(), () => {
        throw new Error('no such table: missing')
      }),
    ).toBe('caught: no such table: missing')
  })

  test('an error the path does not catch reaches the caller, and the path is finished', () => {
    const path = (function* (): Path<void> {
      yield* run(statementOf('INSERT INTO t VALUES (1)'))
    })()
    expect(() =>
      drive(path, () => {
        throw new Error('constraint failed')
      }),
    ).toThrow('constraint failed')
    expect(path.next().done).toBe(true)
  })
})

describe('the write path as requests', () => {
  test("a single-row insert asks for the table, then runs the dialect's INSERT with the row's values", () => {
    const seen: unknown[] = []
    const written = drive(
      writeRowsPath(
        session,
        insert([
          [
            ['id', 7],
            ['name', 'seven'],
          ],
        ]),
      ),
      (request) => {
        seen.push(describeRequest(request))
        return request.want === 'table' ? items : request.want === 'feed' ? null : { changes: 1, generated: [7] }
      },
    )
    expect(seen).toEqual([
      ['table', 'items'],
      ['runEach', 'INSERT INTO "items" ("id", "name") VALUES (?, ?)', [[7, 'seven']]],
      // Asked after the write: whether a change feed follows the table (here not, so nothing more is written).
      ['feed', 'items'],
    ])
    expect(written.keys).toEqual([[7]])
  })

  test('a missing column is refused before any statement runs', () => {
    const seen: unknown[] = []
    const path = writeRowsPath(
      session,
      insert([
        [
          ['id', 1],
          ['colour', 'red'],
        ],
      ]),
    )
    expect(() => drive(path, (request) => (seen.push(describeRequest(request)), items))).toThrow('colour')
    expect(seen).toEqual([['table', 'items']])
  })

  test('the same path driven asynchronously, one answer per event-loop turn, gives the same result', async () => {
    const answer = (request: StatementRequest): Answer =>
      request.want === 'table'
        ? items
        : request.want === 'get'
          ? { n: 1 }
          : request.want === 'runEach'
            ? { changes: request.rows.length, generated: request.rows.map(() => null) }
            : request.want === 'feed'
              ? null
              : { changes: 1, lastInsertRowid: 0 }
    const rows: RowsWrite['rows'] = [
      [
        ['id', 1],
        ['name', 'a'],
      ],
      [
        ['id', 2],
        ['name', 'b'],
      ],
    ]
    const now = drive(writeRowsPath(session, insert(rows, 'replace')), answer)
    const later = await driveLater(writeRowsPath(session, insert(rows, 'replace')), answer)
    expect(later.keys).toEqual(now.keys)
    expect(later.keys).toEqual([[1], [2]])
  })

  test("a constraint error a store names a row of is labelled with that row, by the dialect's error mapping", () => {
    const failure = Object.assign(new Error('UNIQUE constraint failed: items.id'), { code: 'SQLITE_CONSTRAINT_PRIMARYKEY' })
    const write = {
      ...insert([
        [
          ['id', 1],
          ['name', 'a'],
        ],
        [
          ['id', 2],
          ['name', 'b'],
        ],
      ]),
      rowLabel: (index: number) => `Line ${index + 1}`,
    }
    expect(() =>
      drive(writeRowsPath(session, write), (request) => {
        if (request.want === 'table') return items
        throw new RowFailure(1, failure)
      }),
    ).toThrow('Line 2: UNIQUE constraint failed: items.id')
  })
})

describe('the read path as requests', () => {
  test('a page asks for one row more than it shows, with exact integers, and makes the next token from its last row', () => {
    const seen: unknown[] = []
    const page = drive(readTableValuesPath(session, items, { filters: [], size: 2 }), (request) => {
      seen.push(request.want === 'values' ? [request.want, request.statement.safeIntegers, request.params] : request.want)
      return [
        [1n, 'a'],
        [2n, 'b'],
        [3n, 'c'],
      ]
    })
    expect(seen).toEqual([['values', true, [3]]])
    expect(page).toEqual({
      columns: ['id', 'name'],
      rows: [
        [1n, 'a'],
        [2n, 'b'],
      ],
      keys: ['1', '2'],
      next: '2',
    })
  })

  test("a query past the engine's size limits is the client's error, named as such", () => {
    const path = readTableValuesPath(session, items, { filters: [], size: 10 })
    const tooMany = () => {
      throw new Error('too many SQL variables')
    }
    expect(() => drive(path, tooMany)).toThrow('Too many filters or filter values for one query')
  })
})

describe('the SQLite store', () => {
  test("writePath commits a path's rows to the file, and readPath then reads them", async () => {
    const path = tempDbPath()
    const database = RowpostDatabase.open(path, { create: true })
    try {
      const created = await database.writePath((s) =>
        writeRowsPath(s, {
          ...insert([
            [
              ['id', 1],
              ['name', 'one'],
            ],
            [
              ['id', 2],
              ['name', 'two'],
            ],
          ]),
          mayCreate: true,
        }),
      )
      expect(created.keys).toEqual([[1], [2]])
      const table = database.table('items')!
      const read = await database.readPath((s) => readRowsByKeyPath(s, table, [[2], [3], null]))
      expect(read).toEqual([{ id: 2, name: 'two' }])
    } finally {
      database.close()
    }
    const file = new Database(path, { readonly: true })
    expect(file.query('SELECT id, name FROM items ORDER BY id').all()).toEqual([
      { id: 1, name: 'one' },
      { id: 2, name: 'two' },
    ])
    file.close()
  })

  test('a path that fails part-way leaves nothing in the file', async () => {
    const path = tempDbPath()
    const database = RowpostDatabase.open(path, { create: true })
    await database.writePath((s) =>
      writeRowsPath(s, {
        ...insert([
          [
            ['id', 1],
            ['name', 'one'],
          ],
        ]),
        mayCreate: true,
      }),
    )
    const failing = database.writePath((s) =>
      writeRowsPath(
        s,
        insert([
          [
            ['id', 2],
            ['name', 'two'],
          ],
          [
            ['id', 1],
            ['name', 'again'],
          ],
        ]),
      ),
    )
    await expect(failing).rejects.toThrow('UNIQUE constraint failed')
    database.close()
    const file = new Database(path, { readonly: true })
    expect(file.query('SELECT id, name FROM items ORDER BY id').all()).toEqual([{ id: 1, name: 'one' }])
    file.close()
  })

  test('idempotency paths: a committed response is found on the reader; another request with its key is refused', async () => {
    const database = RowpostDatabase.open(tempDbPath(), { create: true })
    const store = new IdempotencyStore(60)
    const request = { actor: 'a', key: 'k-1', fingerprint: 'f1' }
    try {
      expect(await database.readPath((s) => store.findPath(s, request))).toBeUndefined()
      await database.writePath(function* (s) {
        expect(yield* store.lookupPath(s, request)).toBeUndefined()
        yield* store.storePath(s, request, { status: 201, body: '{"ok":true}' })
      })
      expect(await database.readPath((s) => store.findPath(s, request))).toEqual({ status: 201, body: '{"ok":true}' })
      await expect(database.readPath((s) => store.findPath(s, { ...request, fingerprint: 'f2' }))).rejects.toThrow('Idempotency-Key')
    } finally {
      database.close()
    }
  })

  test('SQLite supports every capability', () => {
    const database = RowpostDatabase.open(':memory:')
    for (const capability of ['sql-query', 'execute-write', 'alter'] as const) expect(database.supports(capability)).toBe(true)
    database.close()
  })
})
