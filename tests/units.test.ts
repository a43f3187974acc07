/** Unit tests of the pure modules: JSON, identifiers, SQL builders, schema inference, the authenticator and config loading. */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createAuthenticator } from '../lib/auth'
import { interpretMetadata, loadConfig, resolveSecrets } from '../lib/config'
import { InvalidJson, InvalidName, InvalidToken } from '../lib/errors'
import { assertColumnName, assertWritableTableName, identifierKey, quoteIdentifier, tildeDecode, tildeEncode } from '../lib/identifiers'
import { FloatLiteral, formatFloat, locateJsonError, parseJson, storedJson, stringifyJson, type JsonValue } from '../lib/json'
import { inferColumns } from '../lib/schema'
import { addColumnSql, countSql, createTableSql, insertSql, sqlLiteral, upsertSql } from '../lib/sql'
import { tempDir } from './helpers'

/** The thrown error as `[class name, message]`, or null when nothing was thrown. */
function thrown(work: () => unknown): [string, string] | null {
  try {
    work()
    return null
  } catch (error) {
    return [(error as Error).constructor.name, (error as Error).message]
  }
}

describe('parseJson', () => {
  test('keeps integers beyond 2^53 exact as bigint and safe ones as numbers', () => {
    expect(parseJson('[9007199254740991, 9007199254740992, -9007199254740993, 9223372036854775807, 0, -1]')).toEqual([
      9007199254740991,
      9007199254740992n,
      -9007199254740993n,
      9223372036854775807n,
      0,
      -1,
    ])
  })

  test('marks integral float literals as FloatLiteral and leaves other floats as numbers', () => {
    expect(parseJson('[1.0, 2e3, 1E2, -0.0, 1.5, 0.1, 1e-7]')).toEqual([
      new FloatLiteral(1),
      new FloatLiteral(2000),
      new FloatLiteral(100),
      new FloatLiteral(-0),
      1.5,
      0.1,
      1e-7,
    ])
  })

  test.each([
    ['a fraction of zeros', '[10.000]', [new FloatLiteral(10)]],
    ['a fraction rounding to an integer', '[1.0000000000000001, 4503599627370496.5]', [new FloatLiteral(1), new FloatLiteral(4503599627370496)]],
    ['an integer beyond 2^53 in an object beside text', '{"n": "1.0 is text", "id": 9007199254740993}', { n: '1.0 is text', id: 9007199254740993n }],
    ['an integer too long for a double', `[${'9'.repeat(400)}]`, [BigInt('9'.repeat(400))]],
    ['a top-level integer beyond 2^53', '12345678901234567890', 12345678901234567890n],
    ['short fractions and exponent-free text', '[0.5, 123456789012345.6, "2e3", -0]', [0.5, 123456789012345.6, '2e3', -0]],
    ['an exponent with a sign', '[1E+2, 1.5e300]', [new FloatLiteral(100), new FloatLiteral(1.5e300)]],
  ])('numbers that need their source text are found without scanning for them: %s', (_, text, expected) => {
    expect(parseJson(text)).toEqual(expected as JsonValue)
  })

  test('nesting is measured inside objects too', () => {
    const nested = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth)
    expect([thrown(() => parseJson(nested(1000))), thrown(() => parseJson(nested(1001)))]).toEqual([
      null,
      ['InvalidJson', 'Invalid JSON: nesting is deeper than 1000 levels'],
    ])
  })

  test('revives numbers at every depth', () => {
    expect(parseJson('{"a": {"b": [1.0, 12345678901234567890]}}')).toEqual({ a: { b: [new FloatLiteral(1), 12345678901234567890n] } })
  })

  test('keeps a __proto__ key as an own property without touching the prototype', () => {
    const parsed = parseJson('{"__proto__": {"polluted": true}}') as Record<string, unknown>
    expect([Object.keys(parsed), Object.getPrototypeOf(parsed) === Object.prototype, ({} as Record<string, unknown>).polluted]).toEqual([
      ['__proto__'],
      true,
      undefined,
    ])
  })

  test.each([
    ['an empty text', '', 'Invalid JSON: the body is empty'],
    ['whitespace', ' \n\t ', 'Invalid JSON: the body is empty'],
    ['a trailing comma in an object', '{"a": 1,}', 'Invalid JSON: Expected a double-quoted property name at line 1 column 9'],
    ['an unclosed array', '[1, 2', 'Invalid JSON: Unexpected end of input at line 1 column 6'],
    ['a missing value on line 3', '{"a"\n:\n}', 'Invalid JSON: Unexpected character "}" at line 3 column 1'],
    ['an unknown escape', '{"a": "\\x"}', 'Invalid JSON: Invalid escape in string at line 1 column 8'],
    ['a short \\u escape', '{"a": "\\u12"}', 'Invalid JSON: Invalid escape in string at line 1 column 8'],
    ['a leading zero', '01', 'Invalid JSON: Unexpected data after the JSON value at line 1 column 2'],
    ['data after the value', '{"a": 1} x', 'Invalid JSON: Unexpected data after the JSON value at line 1 column 10'],
    ['a missing comma', '[1 2]', "Invalid JSON: Expected ',' or ']' at line 1 column 4"],
    ['a bare word', 'undefined', 'Invalid JSON: Unexpected character "u" at line 1 column 1'],
    ['100,000 unclosed brackets', '['.repeat(100_000), 'Invalid JSON: Unexpected end of input at line 1 column 100001'],
    ['brackets nested 100,000 deep', '['.repeat(100_000) + ']'.repeat(100_000), 'Invalid JSON: nesting is deeper than 1000 levels'],
    ['brackets nested 100,000 deep around a float', '['.repeat(100_000) + '1.0' + ']'.repeat(100_000), 'Invalid JSON: nesting is deeper than 1000 levels'],
  ])('refuses %s with a located message', (_name, text, message) => {
    const error = thrown(() => parseJson(text))
    expect(error).toEqual(['InvalidJson', message])
  })

  test.each(['1', '1.0', '"[[[["'])('nesting is limited to 1000 levels whichever parse path a leaf of %s takes', (leaf) => {
    const nested = (depth: number) => '['.repeat(depth) + leaf + ']'.repeat(depth)
    expect([thrown(() => parseJson(nested(1000))), thrown(() => parseJson(nested(1001)))]).toEqual([
      null,
      ['InvalidJson', 'Invalid JSON: nesting is deeper than 1000 levels'],
    ])
  })

  test('its errors are 400 invalid_json ApiErrors', () => {
    let error: unknown
    try {
      parseJson('{')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InvalidJson)
    expect([(error as InvalidJson).status, (error as InvalidJson).code]).toEqual([400, 'invalid_json'])
  })
})

describe('locateJsonError', () => {
  test.each(['{}', '[]', '0', '-1.5e+3', '"x"', 'true', ' {"a": [1, {"b": null}], "c": "\\u00e9\\n"} '])('finds nothing wrong in %p', (text) => {
    expect(locateJsonError(text)).toBeNull()
  })

  test('counts lines and columns from 1, and offsets from 0', () => {
    expect(locateJsonError('{\n  "a": 1,\n  "b" 2\n}')).toEqual({ message: "Expected ':' after property name", offset: 18, line: 3, column: 7 })
  })
})

describe('writing JSON', () => {
  test('stringifyJson writes bigints exactly and FloatLiterals as floats', () => {
    expect(stringifyJson({ big: 12345678901234567890n, one: new FloatLiteral(1), list: [new FloatLiteral(2000), -9223372036854775808n] })).toBe(
      '{"big":12345678901234567890,"one":1.0,"list":[2000.0,-9223372036854775808]}',
    )
  })

  test('storedJson writes what Python’s json.dumps writes, non-ASCII kept', () => {
    const value = parseJson('{"a": [1, 2.0, null, true], "b": {"c": "é\\"🐶", "d": 123456789012345678901234567890}, "e": {}, "f": []}')
    expect(storedJson(value)).toBe('{"a": [1, 2.0, null, true], "b": {"c": "é\\"🐶", "d": 123456789012345678901234567890}, "e": {}, "f": []}')
  })

  test.each([
    [1, '1.0'],
    [-2, '-2.0'],
    [1.5, '1.5'],
    [1e21, '1e+21'],
    [1e-7, '1e-7'],
  ])('formatFloat(%p) is %p', (value, text) => {
    expect(formatFloat(value)).toBe(text)
  })

  test('parse then stringify round-trips exact integers and float spellings', () => {
    const text = '{"a":9223372036854775807,"b":1.0,"c":[0.5,-9223372036854775808]}'
    expect(stringifyJson(parseJson(text))).toBe(text)
  })
})

describe('identifiers', () => {
  test.each([
    ['dogs', '"dogs"'],
    ['a"b', '"a""b"'],
    ['"', '""""'],
    ['dogs"; DROP TABLE dogs; --', '"dogs""; DROP TABLE dogs; --"'],
    ['[x]', '"[x]"'],
    ["it's", '"it\'s"'],
    ['🐶', '"🐶"'],
  ])('quoteIdentifier(%p) is %p', (name, quoted) => {
    expect(quoteIdentifier(name)).toBe(quoted)
  })

  test('identifierKey folds ASCII case only, as SQLite does', () => {
    expect(['Name', 'NAME', 'ÉCOLE', 'Straße', 'ǅ'].map(identifierKey)).toEqual(['name', 'name', 'École', 'straße', 'ǅ'])
  })

  test.each([
    ['', 'Table name must not be empty'],
    ['a\0b', 'Table name must not contain a NUL character'],
    ['sqlite_master', 'Table name "sqlite_master" is reserved: names starting with sqlite_ belong to SQLite'],
    ['SQLite_Stat1', 'Table name "SQLite_Stat1" is reserved: names starting with sqlite_ belong to SQLite'],
  ])('assertWritableTableName refuses %p', (name, message) => {
    expect(thrown(() => assertWritableTableName(name))).toEqual(['InvalidName', message])
  })

  test.each(['sqlite', 'sqlitex', 'my_sqlite_table', ' sqlite_x', 'ſqlite_x'])('assertWritableTableName accepts %p', (name) => {
    expect(thrown(() => assertWritableTableName(name))).toBeNull()
  })

  test.each([
    ['', 'Column name must not be empty'],
    ['\0', 'Column name "\\u0000" must not contain a NUL character'],
  ])('assertColumnName refuses %p', (name, message) => {
    expect(thrown(() => assertColumnName(name))).toEqual(['InvalidName', message])
  })

  test('assertColumnName throws InvalidName, a 400', () => {
    let error: unknown
    try {
      assertColumnName('')
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InvalidName)
    expect((error as InvalidName).status).toBe(400)
  })

  test.each([
    ['dogs', 'dogs'],
    ['foo/bar', 'foo~2Fbar'],
    ['table.csv', 'table~2Ecsv'],
    ['with space', 'with+space'],
    ['~tilde', '~7Etilde'],
    ['a+b', 'a~2Bb'],
    ['under_score-dash', 'under_score-dash'],
    ['é', '~C3~A9'],
    ['🐶', '~F0~9F~90~B6'],
    ['100%', '100~25'],
  ])('tildeEncode(%p) is %p and decodes back', (name, encoded) => {
    expect([tildeEncode(name), tildeDecode(encoded)]).toEqual([encoded, name])
  })

  test('tildeDecode keeps a malformed escape literally', () => {
    expect(tildeDecode('a~ZZb~4')).toBe('a~ZZb~4')
  })
})

describe('SQL builders', () => {
  test('createTableSql lays out one column per line, sqlite-utils style', () => {
    expect(
      createTableSql(
        'dogs',
        [
          { name: 'id', type: 'INTEGER' },
          { name: 'name', type: 'TEXT' },
        ],
        ['id'],
      ),
    ).toBe('CREATE TABLE "dogs" (\n   "id" INTEGER PRIMARY KEY,\n   "name" TEXT\n)')
  })

  test('createTableSql writes a compound key as a table constraint, and a rowid table without one', () => {
    const columns = [
      { name: 'a', type: 'TEXT' as const },
      { name: 'b', type: 'INTEGER' as const },
    ]
    expect([createTableSql('t', columns, ['b', 'a']), createTableSql('t', columns, [])]).toEqual([
      'CREATE TABLE "t" (\n   "a" TEXT,\n   "b" INTEGER,\n   PRIMARY KEY ("b", "a")\n)',
      'CREATE TABLE "t" (\n   "a" TEXT,\n   "b" INTEGER\n)',
    ])
  })

  test('createTableSql writes NOT NULL, defaults and references', () => {
    const sql = createTableSql(
      't',
      [
        { name: 'id', type: 'INTEGER' },
        { name: 'n', type: 'TEXT', notNull: true, defaultValue: "it's" },
        { name: 'at', type: 'TEXT', defaultExpression: 'current_timestamp' },
        { name: 'owner', type: 'INTEGER', references: { table: 'people', column: 'id' } },
      ],
      ['id'],
    )
    expect(sql).toBe(
      'CREATE TABLE "t" (\n   "id" INTEGER PRIMARY KEY,\n   "n" TEXT NOT NULL DEFAULT \'it\'\'s\',\n   "at" TEXT DEFAULT CURRENT_TIMESTAMP,\n   "owner" INTEGER REFERENCES "people"("id")\n)',
    )
  })

  test.each([
    [null, 'NULL'],
    [3, '3'],
    [-1.5, '-1.5'],
    [Number.NaN, 'NULL'],
    ["O'Brien", "'O''Brien'"],
    ["'); DROP TABLE t; --", "'''); DROP TABLE t; --'"],
  ])('sqlLiteral(%p) is %p', (value, literal) => {
    expect(sqlLiteral(value)).toBe(literal)
  })

  test('addColumnSql and countSql quote their names', () => {
    expect([addColumnSql('a"b', { name: 'c"d', type: 'REAL' }), countSql('a"b')]).toEqual([
      'ALTER TABLE "a""b" ADD COLUMN "c""d" REAL',
      'SELECT count(*) AS count FROM "a""b"',
    ])
  })

  test.each([
    ['abort', ['a', 'b'], 'INSERT INTO "t" ("a", "b") VALUES (?, ?)'],
    ['replace', ['a'], 'INSERT OR REPLACE INTO "t" ("a") VALUES (?)'],
    ['ignore', ['a'], 'INSERT OR IGNORE INTO "t" ("a") VALUES (?)'],
    ['replace', [], 'INSERT OR REPLACE INTO "t" DEFAULT VALUES'],
  ] as const)('insertSql with %s and columns %p', (mode, columns, sql) => {
    expect(insertSql('t', [...columns], mode)).toBe(sql)
  })

  test('upsertSql updates only the non-key columns it was given, matching keys ignoring ASCII case', () => {
    expect(upsertSql('t', ['ID', 'name', 'age'], ['id'])).toBe(
      'INSERT INTO "t" ("ID", "name", "age") VALUES (?, ?, ?) ON CONFLICT ("id") DO UPDATE SET "name" = excluded."name", "age" = excluded."age"',
    )
  })

  test('upsertSql with only key columns does nothing on conflict', () => {
    expect(upsertSql('t', ['a', 'b'], ['a', 'b'])).toBe('INSERT INTO "t" ("a", "b") VALUES (?, ?) ON CONFLICT ("a", "b") DO NOTHING')
  })

  test('built SQL runs in SQLite with hostile names taken literally', () => {
    const db = new Database(':memory:')
    const table = 'x"); DROP TABLE keep; --'
    const column = 'c\'"]; --'
    db.run('CREATE TABLE keep (k)')
    db.run(
      createTableSql(
        table,
        [
          { name: 'id', type: 'INTEGER' },
          { name: column, type: 'TEXT' },
        ],
        ['id'],
      ),
    )
    db.prepare(insertSql(table, ['id', column], 'replace')).run(1, 'a')
    db.prepare(upsertSql(table, ['id', column], ['id'])).run(1, 'b')
    db.run(addColumnSql(table, { name: 'select', type: 'INTEGER' }))
    expect([
      db.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all(),
      db.query(`SELECT * FROM ${quoteIdentifier(table)}`).all(),
      db.query(countSql(table)).get(),
    ]).toEqual([[{ name: 'keep' }, { name: table }], [{ id: 1, [column]: 'b', select: null }], { count: 1 }])
  })
})

describe('inferColumns', () => {
  const rows = (text: string) => (parseJson(text) as Array<Record<string, JsonValue>>).map((row) => Object.entries(row))

  test.each([
    ['[{"v": 1}]', 'INTEGER'],
    ['[{"v": true}]', 'INTEGER'],
    ['[{"v": 9223372036854775807}]', 'INTEGER'],
    ['[{"v": 1.0}]', 'REAL'],
    ['[{"v": 1.5}]', 'REAL'],
    ['[{"v": 1}, {"v": 1.5}]', 'REAL'],
    ['[{"v": 1.0}, {"v": 2}]', 'REAL'],
    ['[{"v": "x"}]', 'TEXT'],
    ['[{"v": {"a": 1}}]', 'TEXT'],
    ['[{"v": [1]}]', 'TEXT'],
    ['[{"v": null}]', 'TEXT'],
    ['[{"v": null}, {"v": 1.5}]', 'REAL'],
    ['[{"v": 1}, {"v": "x"}]', 'TEXT'],
    ['[{"v": 1.5}, {"v": [1]}]', 'TEXT'],
    ['[{"v": {"$base64": true, "encoded": "AAE="}}]', 'BLOB'],
    ['[{"v": {"$base64": true, "encoded": "AAE="}}, {"v": 1}]', 'TEXT'],
  ] as const)('%s makes %s', (text, type) => {
    expect(inferColumns(rows(text))).toEqual([{ name: 'v', type }])
  })

  test('orders columns by first appearance and names them by their first spelling', () => {
    expect(inferColumns(rows('[{"b": 1, "Name": "x"}, {"a": 2.5, "NAME": "y", "B": 3}]'))).toEqual([
      { name: 'b', type: 'INTEGER' },
      { name: 'Name', type: 'TEXT' },
      { name: 'a', type: 'REAL' },
    ])
  })

  test('considers only the keys `only` admits', () => {
    expect(inferColumns(rows('[{"id": 1, "new": "x"}, {"id": 2, "other": 1.5}]'), (key) => key !== 'id')).toEqual([
      { name: 'new', type: 'TEXT' },
      { name: 'other', type: 'REAL' },
    ])
  })

  test('no rows make no columns', () => {
    expect(inferColumns([])).toEqual([])
  })
})

describe('createAuthenticator', () => {
  const authenticate = createAuthenticator([
    { token: 'abc123', actor: { bot: 'insert-bot' } },
    { token: 'two words', actor: { id: 'spaced' } },
    { token: 'abc123', actor: { id: 'shadowed' } },
  ])

  test.each([
    [null, null],
    ['Bearer abc123', { bot: 'insert-bot' }],
    ['bearer abc123', { bot: 'insert-bot' }],
    ['BEARER abc123', { bot: 'insert-bot' }],
    ['  Bearer \t abc123  ', { bot: 'insert-bot' }],
    ['Bearer two words', { id: 'spaced' }],
    ['Basic YWJjMTIz', null],
    ['abc123', null],
    ['Bearer', null],
    ['Bearerabc123', null],
  ])('%p resolves to the configured actor, or anonymous', (header, actor) => {
    expect(authenticate(header)).toEqual(actor)
  })

  test.each(['Bearer abc12', 'Bearer abc1234', 'Bearer ABC123', 'Bearer x', 'Bearer two  words'])('%p is an invalid token', (header) => {
    let error: unknown
    try {
      authenticate(header)
    } catch (caught) {
      error = caught
    }
    expect(error).toBeInstanceOf(InvalidToken)
    const invalid = error as InvalidToken
    expect([invalid.status, invalid.code, invalid.message, invalid.headers]).toEqual([
      401,
      'invalid_token',
      'Invalid token',
      { 'www-authenticate': 'Bearer error="invalid_token"' },
    ])
  })

  test('a header seen before resolves to the same actor again, and one differing from it by a character is still refused', () => {
    const first = authenticate('Bearer abc123')
    expect(authenticate('Bearer abc123')).toBe(first!)
    expect(thrown(() => authenticate('Bearer abc124'))).toEqual(['InvalidToken', 'Invalid token'])
    expect(thrown(() => authenticate('Bearer abc123x'))).toEqual(['InvalidToken', 'Invalid token'])
  })

  test('past the number of headers it remembers, old and new headers all still resolve', () => {
    const fresh = createAuthenticator([{ token: 'abc123', actor: { id: 'bot' } }])
    const headers = Array.from({ length: 1100 }, (_, index) => `Bearer${' '.repeat(index + 1)}abc123`)
    for (let round = 0; round < 2; round++) expect(headers.filter((header) => fresh(header)?.id === 'bot')).toHaveLength(headers.length)
    expect(thrown(() => fresh(`Bearer${' '.repeat(5)}abc12`))).toEqual(['InvalidToken', 'Invalid token'])
  })

  test('with no tokens configured any bearer value is invalid, and no header is anonymous', () => {
    const none = createAuthenticator([])
    expect([thrown(() => none('Bearer anything')), none(null)]).toEqual([['InvalidToken', 'Invalid token'], null])
  })
})

describe('config', () => {
  test('interpretMetadata turns a Datasette 0.x file into a legacy allow block and tokens', () => {
    const config = interpretMetadata({
      title: 'kept out of the way',
      plugins: {
        'datasette-insert': { allow: { bot: 'insert-bot' } },
        'datasette-auth-tokens': { tokens: [{ token: 'abc123', actor: { bot: 'insert-bot' } }] },
        'datasette-cluster-map': { latitude_column: 'lat' },
      },
    })
    expect(config).toEqual({
      policy: { root: { allow: undefined, permissions: undefined }, databases: {}, legacyInsertAllow: { bot: 'insert-bot' } },
      tokens: [{ token: 'abc123', actor: { bot: 'insert-bot' } }],
      ignoredActions: [],
    })
  })

  test('interpretMetadata reads permissions at every level and lists actions it does not act on', () => {
    const config = interpretMetadata({
      permissions: { 'insert-row': { id: 'a' }, 'debug-menu': true },
      databases: {
        data: { allow: { id: 'a' }, permissions: { 'create-table': true }, tables: { dogs: { permissions: { 'alter-table': false, 'insert:all': true } } } },
      },
    })
    expect(config.policy.root.permissions as Record<string, unknown>).toEqual({ 'insert-row': { id: 'a' }, 'debug-menu': true })
    expect(config.policy.databases.data as unknown).toEqual({
      allow: { id: 'a' },
      permissions: { 'create-table': true },
      tables: { dogs: { allow: undefined, permissions: { 'alter-table': false, 'insert:all': true } } },
    })
    expect(config.ignoredActions.sort()).toEqual(['debug-menu', 'insert:all'])
  })

  test.each([
    ['a token that is not a string', { plugins: { 'datasette-auth-tokens': { tokens: [{ token: 5, actor: { id: 'x' } }] } } }],
    ['an empty token', { plugins: { 'datasette-auth-tokens': { tokens: [{ token: '', actor: { id: 'x' } }] } } }],
    ['a token without an actor', { plugins: { 'datasette-auth-tokens': { tokens: [{ token: 'abc' }] } } }],
    ['an allow block that is a string', { plugins: { 'datasette-insert': { allow: 'everyone' } } }],
    ['a permissions block that is a list', { permissions: ['insert-row'] }],
    ['databases that are a list', { databases: ['data'] }],
    ['a document that is not an object', ['permissions']],
  ])('interpretMetadata refuses %s with a ConfigError', (_name, document) => {
    const error = thrown(() => interpretMetadata(document))
    expect(error?.[0]).toBe('ConfigError')
    expect(error?.[1]).toStartWith('Invalid metadata: ')
  })

  test('interpretMetadata names where the problem is', () => {
    expect(thrown(() => interpretMetadata({ plugins: { 'datasette-auth-tokens': { tokens: [{ token: 5, actor: {} }] } } }))?.[1]).toStartWith(
      'Invalid metadata: plugins.datasette-auth-tokens.tokens.0.token: ',
    )
  })

  test('resolveSecrets replaces $env and $file anywhere, and leaves look-alikes alone', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'secret.txt'), 'line one\nline two\n\n')
    const resolved = resolveSecrets({ a: [{ $env: 'A' }, { nested: { $file: 'secret.txt' } }], b: { $env: 'A', other: 1 }, c: { $env: 5 }, d: '$env' }, dir, {
      A: 'from env',
    })
    expect(resolved).toEqual({ a: ['from env', { nested: 'line one\nline two\n' }], b: { $env: 'A', other: 1 }, c: { $env: 5 }, d: '$env' })
  })

  test('resolveSecrets keeps a __proto__ key as data', () => {
    const resolved = resolveSecrets(JSON.parse('{"__proto__": {"x": 1}}'), '.', {}) as Record<string, unknown>
    expect([Object.keys(resolved), ({} as Record<string, unknown>).x]).toEqual([['__proto__'], undefined])
  })

  test('$file drops exactly one trailing newline, CRLF included', () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'a'), 'tok\r\n')
    writeFileSync(join(dir, 'b'), 'tok\n\n')
    writeFileSync(join(dir, 'c'), 'tok')
    expect(resolveSecrets([{ $file: 'a' }, { $file: 'b' }, { $file: 'c' }], dir, {})).toEqual(['tok', 'tok\n', 'tok'])
  })

  test('loadConfig reports a missing file and invalid JSON with its line and column', () => {
    const dir = tempDir()
    const bad = join(dir, 'metadata.json')
    writeFileSync(bad, '{\n  "plugins": {,}\n}')
    expect([thrown(() => loadConfig(join(dir, 'nope.json'), {})), thrown(() => loadConfig(bad, {}))]).toEqual([
      ['ConfigError', `Cannot read metadata file ${join(dir, 'nope.json')}: no such file`],
      ['ConfigError', `Invalid JSON in ${bad}: Expected a double-quoted property name at line 2 column 15`],
    ])
  })

  test('loadConfig resolves secrets before validating, so a $env token is a string token', () => {
    const dir = tempDir()
    const path = join(dir, 'metadata.json')
    writeFileSync(path, JSON.stringify({ plugins: { 'datasette-auth-tokens': { tokens: [{ token: { $env: 'T' }, actor: { id: 'x' } }] } } }))
    expect(loadConfig(path, { T: 'secret' }).tokens).toEqual([{ token: 'secret', actor: { id: 'x' } }])
    expect(thrown(() => loadConfig(path, {}))).toEqual(['ConfigError', 'Environment variable T is not set (referenced by {"$env": "T"})'])
  })
})
