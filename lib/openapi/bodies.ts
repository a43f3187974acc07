/**
 * The request bodies of the write routes as TypeBox (JSON Schema) declarations, each with examples. The hand-written
 * validators in lib/write-api.ts, lib/alter.ts and lib/execute-write.ts keep Datasette's exact messages; tests post
 * every example here and check that these schemas and those validators accept and refuse the same generated bodies.
 * What depends on the table (which columns exist, which are its key) is the validators' alone and said in descriptions.
 */
import { Type, type TSchema } from '@sinclair/typebox'
import { MAX_COLUMNS } from '../rows'

/** A row: column names to JSON values. Names are non-empty, hold no NUL; two names differing only in case are one column. */
export const Row = Type.Object(
  {},
  {
    additionalProperties: true,
    maxProperties: MAX_COLUMNS,
    propertyNames: { minLength: 1, pattern: '^[^\\u0000]*$' },
    description: 'Column names to values. Names must be non-empty, hold no NUL, and not differ from each other only in case.',
  },
)

/** `true`, `false` or null (null counts as false, as in Datasette). */
const Flag = Type.Union([Type.Boolean(), Type.Null()])
/** A flag upsert refuses when true. */
const FalseFlag = Type.Union([Type.Literal(false), Type.Null()])

const returnFlag = Type.Optional({ ...Flag, description: 'Send the written rows back (needs view-table)' })
const alterFlag = Type.Optional({ ...Flag, description: 'Add missing columns (needs alter-table)' })
/** `"ignore": true` with `"replace": true`: Datasette refuses the pair. */
const IGNORE_AND_REPLACE = { required: ['ignore', 'replace'], properties: { ignore: { const: true }, replace: { const: true } } }

function oneRowOrMany(flags: Record<string, TSchema>, maxRows: number, extra: object = {}) {
  return Type.Union(
    [
      Type.Object({ row: Row, ...flags }, { additionalProperties: false }),
      Type.Object({ rows: Type.Array(Row, { maxItems: maxRows }), ...flags }, { additionalProperties: false }),
    ],
    extra,
  )
}

/** POST /<db>/<table>/-/insert (Datasette 1.0). */
export function insertBody(maxRows: number) {
  return oneRowOrMany(
    {
      return: returnFlag,
      ignore: Type.Optional({ ...Flag, description: 'Skip rows whose key exists' }),
      replace: Type.Optional({ ...Flag, description: 'Replace rows whose key exists (needs update-row)' }),
      alter: alterFlag,
    },
    maxRows,
    {
      not: IGNORE_AND_REPLACE,
      description: `One "row" or a list of "rows" (at most ${maxRows}, max_insert_rows), each naming only columns the table has unless "alter" is true.`,
      examples: [
        { row: { id: 11, title: 'Eleven' } },
        {
          rows: [
            { id: 12, title: 'Twelve' },
            { id: 13, title: 'Thirteen' },
          ],
          return: true,
        },
      ],
    },
  )
}

/** POST /<db>/<table>/-/upsert (Datasette 1.0): every row carries the table's primary key (or rowid). */
export function upsertBody(maxRows: number) {
  return oneRowOrMany({ return: returnFlag, ignore: Type.Optional(FalseFlag), replace: Type.Optional(FalseFlag), alter: alterFlag }, maxRows, {
    description: `One "row" or a list of "rows" (at most ${maxRows}), each with every primary key column (or rowid), none of them null.`,
    examples: [{ rows: [{ id: 1, title: 'Changed' }] }, { row: { id: 4, title: 'New or changed' }, return: true }],
  })
}

/** POST /<db>/<table>/<pks>/-/update. */
export const UpdateBody = Type.Object(
  { update: Row, return: returnFlag, alter: alterFlag },
  {
    additionalProperties: false,
    description: 'The columns to change and their new values; unless "alter" is true, only columns the table has.',
    examples: [{ update: { title: 'Changed' } }, { update: { title: 'Changed' }, return: true }],
  },
)

/** POST /<db>/<table>/-/drop: without `"confirm": true` (or with no body) the answer only says what would be dropped. */
export const DropBody = Type.Object({ confirm: Type.Optional(Type.Boolean()) }, { additionalProperties: true, examples: [{ confirm: true }, {}] })

const ColumnType = Type.Union([Type.Literal('text'), Type.Literal('integer'), Type.Literal('float'), Type.Literal('blob')])
const DEFAULT_EXPRESSIONS = ['current_timestamp', 'current_date', 'current_time', 'current_unixtime', 'current_unixtime_ms'] as const

const CreateColumn = Type.Object(
  {
    name: Type.String({ minLength: 1, pattern: '^[^\\u0000]*$' }),
    type: Type.Optional(ColumnType),
    not_null: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Null()])),
    default_expr: Type.Optional(Type.Union([...DEFAULT_EXPRESSIONS.map((name) => Type.Literal(name)), Type.Null()])),
    fk_table: Type.Optional(Type.Union([Type.String(), Type.Null()])),
    fk_column: Type.Optional(Type.Union([Type.String(), Type.Null()])),
  },
  { additionalProperties: false, not: { required: ['default', 'default_expr'], properties: { default: {}, default_expr: { type: 'string' } } } },
)

/** Datasette's rule for a table name (see isDatasetteTableName); rowpost's reserved _rowpost_ names are refused too. */
const TableName = Type.String({ pattern: '^(?!sqlite_)[^\n\u0000]+\n?$' })

/** A non-empty "pk" with any "pks" list: refused. */
const PK_AND_PKS = { required: ['pk', 'pks'], properties: { pk: { minLength: 1 }, pks: { type: 'array' } } }

/** POST /<db>/-/create: a table from columns, or from rows (creating it, or adding to it when it exists). */
export const CreateBody = Type.Union(
  [
    Type.Object(
      {
        table: TableName,
        columns: Type.Array(CreateColumn, { minItems: 1 }),
        pk: Type.Optional(Type.String()),
        pks: Type.Optional(Type.Array(Type.String())),
      },
      { additionalProperties: false, not: PK_AND_PKS },
    ),
    Type.Object(
      {
        table: TableName,
        row: Type.Optional({ ...Row, minProperties: 1 }),
        rows: Type.Optional(Type.Array(Row, { minItems: 1 })),
        pk: Type.Optional(Type.String()),
        pks: Type.Optional(Type.Array(Type.String())),
        ignore: Type.Optional(Flag),
        replace: Type.Optional(Flag),
        alter: alterFlag,
      },
      {
        additionalProperties: false,
        anyOf: [
          { required: ['row'], properties: { row: {} } },
          { required: ['rows'], properties: { rows: {} } },
        ],
        not: { anyOf: [IGNORE_AND_REPLACE, { required: ['row', 'rows'], properties: { row: {}, rows: {} } }, PK_AND_PKS] },
      },
    ),
  ],
  {
    description:
      'A new table from "columns", or rows into a table (created when missing). "ignore"/"replace" need "pk" or "pks"; a table name must not start with sqlite_ or hold a newline; an existing table keeps its key.',
    examples: [
      {
        table: 'people',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'name', type: 'text' },
        ],
        pk: 'id',
      },
      { table: 'notes', rows: [{ id: 1, text: 'hello' }], pk: 'id' },
    ],
  },
)

const BOOLEAN_WORDS = ['0', 'off', 'f', 'false', 'n', 'no', '1', 'on', 't', 'true', 'y', 'yes']
/** The words in any case: JSON Schema's regular expressions have no case-insensitive flag. */
const anyCase = (word: string) => [...word].map((char) => (/[a-z]/.test(char) ? `[${char}${char.toUpperCase()}]` : char)).join('')
const LaxBool = Type.Union([Type.Boolean(), Type.Literal(0), Type.Literal(1), Type.String({ pattern: `^(${BOOLEAN_WORDS.map(anyCase).join('|')})$` })], {
  description: "Pydantic's lax boolean: true/false, 0/1, or one of the words on/off, yes/no, t/f, y/n, true/false, 1/0",
})
const Strings = Type.Array(Type.String(), { minItems: 1 })
const ForeignKey = Type.Object(
  { column: Type.String(), fk_table: Type.String({ minLength: 1 }), fk_column: Type.Optional(Type.Union([Type.String(), Type.Null()])) },
  { additionalProperties: false },
)
const defaults = {
  default: Type.Optional(Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()])),
  default_expr: Type.Optional(Type.Union(DEFAULT_EXPRESSIONS.map((name) => Type.Literal(name)))),
}
/** "default" and "default_expr" together: refused. */
const DEFAULT_AND_EXPRESSION = { not: { required: ['default', 'default_expr'], properties: { default: {}, default_expr: {} } } }
const operation = (op: string, args: Record<string, TSchema>, options: object = {}) =>
  Type.Object({ op: Type.Literal(op), args: Type.Object(args, { additionalProperties: false, ...options }) }, { additionalProperties: false })

/** POST /<db>/<table>/-/alter: Datasette 1.0's operations, applied in order in one transaction. */
export const AlterBody = Type.Object(
  {
    operations: Type.Array(
      Type.Union([
        operation(
          'add_column',
          { ...defaults, name: Type.String(), type: Type.Optional(ColumnType), not_null: Type.Optional(LaxBool) },
          DEFAULT_AND_EXPRESSION,
        ),
        operation('rename_column', { name: Type.String(), to: Type.String() }),
        operation('rename_table', { to: TableName }),
        operation(
          'alter_column',
          {
            ...defaults,
            name: Type.String(),
            type: Type.Optional(Type.Union([ColumnType, Type.Null()])),
            not_null: Type.Optional(Type.Union([LaxBool, Type.Null()])),
          },
          {
            ...DEFAULT_AND_EXPRESSION,
            anyOf: ['type', 'not_null', 'default', 'default_expr'].map((name) => ({ required: [name], properties: { [name]: {} } })),
          },
        ),
        operation('drop_column', { name: Type.String() }),
        operation('set_primary_key', { columns: Strings }),
        operation('reorder_columns', { columns: Strings }),
        operation('add_foreign_key', ForeignKey.properties),
        operation('drop_foreign_key', { column: Type.String() }),
        operation('set_foreign_keys', { foreign_keys: Type.Array(ForeignKey) }),
      ]),
      { minItems: 1 },
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { operations: [{ op: 'add_column', args: { name: 'extra', type: 'text' } }] },
      { operations: [{ op: 'rename_column', args: { name: 'title', to: 'heading' } }] },
    ],
  },
)

/** POST /<db>/-/execute-write: one statement; `params` names exactly the statement's :named parameters. */
export const ExecuteWriteBody = Type.Object(
  {
    sql: Type.String({ minLength: 1 }),
    params: Type.Optional(Type.Record(Type.String(), Type.Union([Type.String(), Type.Number(), Type.Null()]))),
  },
  {
    additionalProperties: false,
    examples: [{ sql: "insert into docs (id, title) values (10, 'ten')" }, { sql: 'update docs set title = :title where id = 1', params: { title: 'One' } }],
  },
)

/** POST /-/insert and /-/upsert (datasette-insert): one row object, or a list of them. */
export const LegacyBody = Type.Union([Row, Type.Array(Row)], {
  examples: [
    { id: 1, title: 'First' },
    [
      { id: 2, title: 'Second' },
      { id: 3, title: 'Third' },
    ],
  ],
})

/** The streamed formats the upload routes take instead of JSON, one row per line or record. */
export const STREAM_EXAMPLES = {
  'application/x-ndjson': '{"id": 5, "title": "Five"}\n{"id": 6, "title": "Six"}\n',
  'text/csv': 'id,title\n7,Seven\n8,Eight\n',
  'text/tab-separated-values': 'id\ttitle\n9\tNine\n',
} as const
