/** Unit tests of the statement analysis (lib/query/analyze.ts) and the SQL lexer beside it (lib/query/sql-text.ts). */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { analyzeStatement } from '../lib/query/analyze'
import { hasTrailingStatement, namedParameters, withoutExplain } from '../lib/query/sql-text'
import { tempDbPath } from './helpers'

const SCHEMA = `
  CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT);
  CREATE TABLE secret (id INTEGER PRIMARY KEY, code TEXT);
  CREATE INDEX secret_code ON secret (code);
  CREATE VIEW peek AS SELECT code FROM secret;
  CREATE VIEW nested AS SELECT * FROM peek;
  CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT, n);
  CREATE VIRTUAL TABLE docs USING fts5 (body);
`

/** A read-only connection to a fresh file holding SCHEMA, as the query workers have. */
function readOnlyConnection(): Database {
  const path = tempDbPath()
  const writer = new Database(path, { create: true })
  writer.run(SCHEMA)
  writer.close()
  return new Database(path, { readonly: true })
}

describe('analyzeStatement', () => {
  const connection = readOnlyConnection()
  const analysed = (sql: string) => {
    const { reads, writes, readsSchema, virtualTables, creates, effects, readOnly } = analyzeStatement(connection, sql)
    return { reads: reads.sort(), writes: writes.sort(), readsSchema, virtualTables: virtualTables.sort(), creates, effects: effects.sort(), readOnly }
  }
  const read = (reads: string[], more: Partial<ReturnType<typeof analysed>> = {}) => ({
    reads,
    writes: [],
    readsSchema: false,
    virtualTables: [],
    creates: false,
    effects: [],
    readOnly: true,
    ...more,
  })

  test.each([
    ['select * from items', read(['items'])],
    ['select code from secret where code = :c', read(['secret'])],
    ['select * from peek', read(['secret'])],
    ['select * from nested', read(['secret'])],
    ['with s as (select * from secret) select count(*) from s', read(['secret'])],
    ['select * from items where exists (select 1 from secret)', read(['items', 'secret'])],
    ['select (select max(code) from secret)', read(['secret'])],
    ['select * from items join secret using (id)', read(['items', 'secret'])],
    ['select name from sqlite_master', read(['sqlite_schema'], { readsSchema: true })],
    ['explain select * from secret', read(['secret'])],
    ['explain query plan select * from peek', read(['secret'])],
    ["select * from pragma_table_info('secret')", read([], { virtualTables: ['pragma_table_info'] })],
    ["select value from json_each('[1, 2]')", read([], { virtualTables: ['json_each'] })],
    ["select * from items, json_tree('{}') as t, pragma_table_list", read(['items'], { virtualTables: ['json_tree', 'pragma_table_list'] })],
    ['select * from docs', read([], { virtualTables: ['docs'] })],
    ['select 1 + 1', read([])],
  ])('%s reads what its bytecode opens', (sql, expected) => {
    expect(analysed(sql)).toEqual(expected)
  })

  test.each([
    ['insert into items (name) values (1)', ['items'], false, ['write-transaction']],
    ['with s as (select code from secret) insert into items (name) select code from s', ['items'], false, ['write-transaction']],
    ['update items set name = 1 where id in (select id from secret)', ['items'], false, ['write-transaction']],
    ['delete from items', ['items'], false, ['write-transaction']],
    ['drop table secret', ['secret', 'sqlite_schema'], false, ['set-cookie', 'write-transaction']],
    ['create table made (x)', ['sqlite_schema'], true, ['set-cookie', 'write-transaction']],
    ['insert into counter (n) values (1)', ['counter', 'sqlite_sequence'], false, ['write-transaction']],
    ["insert into docs values ('x')", ['docs'], false, ['write-transaction']],
    ['vacuum', [], false, ['vacuum']],
    ["vacuum into '/nonexistent/x.db'", [], false, ['vacuum']],
    ['pragma user_version = 7', [], false, ['set-cookie', 'write-transaction']],
    ["attach '/nonexistent/x.db' as x", [], false, ['attach']],
    ["select load_extension('x')", [], false, ['load_extension']],
    ['begin', [], false, ['transaction-control']],
  ])('%s is not read-only', (sql, writes, creates, effects) => {
    const result = analysed(sql)
    expect([result.writes, result.creates, result.effects, result.readOnly]).toEqual([writes, creates, effects, false])
  })

  test("a statement that does not compile throws SQLite's message", () => {
    expect(() => analyzeStatement(connection, 'select * from nowhere')).toThrow('no such table: nowhere')
  })

  test('follows the schema when it changes under the connection', () => {
    const path = tempDbPath()
    const writer = new Database(path, { create: true })
    writer.run('CREATE TABLE first (x)')
    const reader = new Database(path, { readonly: true })
    expect(analyzeStatement(reader, 'select * from first').reads).toEqual(['first'])
    writer.run('DROP TABLE first; CREATE TABLE second (x); CREATE TABLE third (x)')
    expect([analyzeStatement(reader, 'select * from second').reads, analyzeStatement(reader, 'select * from third').reads]).toEqual([['second'], ['third']])
  })
})

describe('sql-text', () => {
  test.each([
    ['select 1', false],
    ['select 1;', false],
    ['select 1;  -- done\n ; /* c */', false],
    ['select 1; select 2', true],
    ["select ';' as s", false],
    ["select 'it''s; fine'; ", false],
    ['select 1 as "a;b"', false],
    ['select 1 as [a;b]', false],
    ['select 1 as `a;b`', false],
    ['select 1 -- ; select 2', false],
    ['select 1 /* ; */', false],
    ['select 1 /* ; */; select 2', true],
    ["select 1; 'x'", true],
    ['create trigger t after insert on items begin update items set name = 1; delete from items; end', false],
    ['create temp trigger t after insert on items begin select 1; end; select 2', true],
  ])('hasTrailingStatement(%p) is %p', (sql, expected) => {
    expect(hasTrailingStatement(sql)).toBe(expected)
  })

  test.each([
    ['explain select 1', 'select 1'],
    ['EXPLAIN QUERY PLAN select 1', ' select 1'],
    ['/* x */ explain\nselect 1', 'select 1'],
    ['select 1', 'select 1'],
  ])('withoutExplain(%p)', (sql, expected) => {
    expect(withoutExplain(sql)).toBe(expected)
  })

  test('named parameters are found outside strings, identifiers and comments, once each, in order', () => {
    expect(namedParameters('select :b, :a, \':c\', ":d", :b -- :e\n /* :f */ , :g_1, @h, $i')).toEqual(['b', 'a', 'g_1'])
  })
})
