/** `/-/alter`: Datasette 1.0a37's operations, validated with its messages and applied as one all-or-nothing change of one table. */
import { randomBytes } from 'node:crypto'
import {
  addDefinedColumnSql,
  copyDefinedRowsSql,
  createDefinedTableSql,
  isRowidAlias,
  renameColumnSql,
  selectAllSql,
  triggerProbeSql,
  type DefinedColumn,
  type DefinedForeignKey,
  type TableDefinition,
} from './alter-sql'
import type { CachedConnection, TableInfo } from './database'
import { AlterFailed, ApiError, InvalidBody } from './errors'
import { assertColumnName, assertNewTableName, identifierKey } from './identifiers'
import { FloatLiteral, type JsonValue } from './json'
import { DEFAULT_EXPRESSION_NAMES, DEFAULT_EXPRESSIONS, dropTableSql, isDefaultExpression, renameTableSql, sqlLiteral, type DefaultExpression } from './sql'

const API_TYPES = { text: 'TEXT', integer: 'INTEGER', float: 'REAL', blob: 'BLOB' } as const
type ApiType = keyof typeof API_TYPES

export interface ForeignKeyRequest {
  column: string
  fkTable: string
  fkColumn: string | null
}

/** A default as the request gave it: SQL text, or null to remove the default; absent when not given. */
type DefaultChange = { sql: string | null } | undefined

export type AlterOperation =
  | { op: 'add_column'; name: string; type: ApiType; notNull: boolean; default: DefaultChange }
  | { op: 'rename_column'; name: string; to: string }
  | { op: 'rename_table'; to: string }
  | { op: 'alter_column'; name: string; type: ApiType | null; notNull: boolean | null; default: DefaultChange }
  | { op: 'drop_column'; name: string }
  | { op: 'set_primary_key'; columns: string[] }
  | { op: 'reorder_columns'; columns: string[] }
  | { op: 'add_foreign_key'; key: ForeignKeyRequest }
  | { op: 'drop_foreign_key'; column: string }
  | { op: 'set_foreign_keys'; keys: ForeignKeyRequest[] }

type Kind = 'string' | 'type' | 'optionalType' | 'bool' | 'optionalBool' | 'any' | 'defaultExpr' | 'optionalString' | 'strings' | 'foreignKeys'
interface ModelSpec {
  name: string
  /** Fields in pydantic's order (a parent model's fields first); `required` when it has no default. */
  fields: Array<[string, Kind, boolean?]>
}

const DEFAULT_FIELDS: Array<[string, Kind]> = [
  ['default', 'any'],
  ['default_expr', 'defaultExpr'],
]
const FOREIGN_KEY_MODEL: ModelSpec = {
  name: 'ForeignKeyArgs',
  fields: [
    ['column', 'string', true],
    ['fk_table', 'optionalString'],
    ['fk_column', 'optionalString'],
  ],
}
const MODELS: Record<AlterOperation['op'], ModelSpec> = {
  add_column: { name: 'AddColumnArgs', fields: [...DEFAULT_FIELDS, ['name', 'string', true], ['type', 'type'], ['not_null', 'bool']] },
  rename_column: {
    name: 'RenameColumnArgs',
    fields: [
      ['name', 'string', true],
      ['to', 'string', true],
    ],
  },
  rename_table: { name: 'RenameTableArgs', fields: [['to', 'string', true]] },
  alter_column: {
    name: 'AlterColumnArgs',
    fields: [...DEFAULT_FIELDS, ['name', 'string', true], ['type', 'optionalType'], ['not_null', 'optionalBool']],
  },
  drop_column: { name: 'DropColumnArgs', fields: [['name', 'string', true]] },
  set_primary_key: { name: 'SetPrimaryKeyArgs', fields: [['columns', 'strings', true]] },
  reorder_columns: { name: 'ReorderColumnsArgs', fields: [['columns', 'strings', true]] },
  add_foreign_key: FOREIGN_KEY_MODEL,
  drop_foreign_key: { name: 'DropForeignKeyArgs', fields: [['column', 'string', true]] },
  set_foreign_keys: { name: 'SetForeignKeysArgs', fields: [['foreign_keys', 'foreignKeys', true]] },
}
const TAGS = [
  'add_column',
  'rename_column',
  'rename_table',
  'alter_column',
  'drop_column',
  'set_primary_key',
  'reorder_columns',
  'add_foreign_key',
  'drop_foreign_key',
  'set_foreign_keys',
] as const

/** Datasette's TABLE_NAME_RE `^(?!sqlite_)[^\n]+$` with Python's re.match, whose `$` also matches before a final newline. */
const DATASETTE_TABLE_NAME = /^(?!sqlite_)[^\n]+\n?$/
const PYTHON_BOOLEANS = new Map([
  ...['0', 'off', 'f', 'false', 'n', 'no'].map((word) => [word, false] as const),
  ...['1', 'on', 't', 'true', 'y', 'yes'].map((word) => [word, true] as const),
])
const quoted = (options: readonly string[]) =>
  `${options
    .slice(0, -1)
    .map((option) => `'${option}'`)
    .join(', ')} or '${options.at(-1)}'`

const isObject = (value: JsonValue | undefined): value is { [key: string]: JsonValue } =>
  typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof FloatLiteral)

/** How Python would print a tag that is not a string: Datasette's message shows `repr`-like text. */
function pythonText(value: JsonValue): string {
  if (value === null) return 'None'
  if (value === true) return 'True'
  if (value === false) return 'False'
  if (value instanceof FloatLiteral) return `${value.value}.0`
  return typeof value === 'object' ? JSON.stringify(value) : String(value)
}

/** Pydantic's lax bool: true/false, 0/1, and the words it accepts; the error it gives otherwise. */
function parseBool(value: JsonValue): boolean | string {
  if (typeof value === 'boolean') return value
  if (typeof value === 'number' && (value === 0 || value === 1)) return value === 1
  if (value instanceof FloatLiteral && (value.value === 0 || value.value === 1)) return value.value === 1
  if (typeof value === 'string') return PYTHON_BOOLEANS.get(value.toLowerCase()) ?? 'Input should be a valid boolean, unable to interpret input'
  if (typeof value === 'bigint' || (typeof value === 'number' && Number.isInteger(value))) return 'Input should be a valid boolean, unable to interpret input'
  return 'Input should be a valid boolean'
}

/** A JSON default as SQL text for a DEFAULT clause: strings quoted, numbers as written, booleans as 1 and 0. */
function literalDefault(value: JsonValue): string | null {
  if (value === null) return null
  if (typeof value === 'boolean') return value ? '1' : '0'
  if (typeof value === 'string') return sqlLiteral(value)
  if (typeof value === 'bigint') return value.toString()
  if (value instanceof FloatLiteral) return `${value.value}.0`
  if (typeof value === 'number') return String(value)
  throw new Error('unreachable: objects are refused while validating')
}

type Args = Record<string, JsonValue>

/** Validates one model's fields as pydantic would, pushing `location: message` errors; true when all passed. */
function validateFields(spec: ModelSpec, args: Args, location: string, errors: string[]): boolean {
  const before = errors.length
  const at = (field: string, message: string) => errors.push(`${location}.${field}: ${message}`)
  for (const [field, kind, required] of spec.fields) {
    if (!(field in args)) {
      if (required) at(field, 'Field required')
      continue
    }
    const value = args[field]!
    if (kind === 'string' && typeof value !== 'string') at(field, 'Input should be a valid string')
    if ((kind === 'optionalString' || kind === 'defaultExpr') && value !== null && typeof value !== 'string') at(field, 'Input should be a valid string')
    if (kind === 'defaultExpr' && typeof value === 'string' && !isDefaultExpression(value)) at(field, `Input should be ${quoted(DEFAULT_EXPRESSION_NAMES)}`)
    if ((kind === 'type' || (kind === 'optionalType' && value !== null)) && !(typeof value === 'string' && value in API_TYPES)) {
      at(field, `Input should be ${quoted(Object.keys(API_TYPES))}`)
    }
    if (kind === 'bool' || (kind === 'optionalBool' && value !== null)) {
      const parsed = parseBool(value)
      if (typeof parsed === 'string') at(field, parsed)
      else args[field] = parsed
    }
    if (kind === 'any' && typeof value === 'object' && value !== null && !(value instanceof FloatLiteral)) {
      at(field, 'Input should be a string, number, boolean or null')
    }
    if (kind === 'strings') {
      if (!Array.isArray(value)) at(field, 'Input should be a valid list')
      else {
        value.forEach((item, index) => typeof item !== 'string' && at(`${field}.${index}`, 'Input should be a valid string'))
        if (value.length === 0) at(field, 'List should have at least 1 item after validation, not 0')
      }
    }
    if (kind === 'foreignKeys') {
      if (!Array.isArray(value)) at(field, 'Input should be a valid list')
      else value.forEach((item, index) => validateModel(FOREIGN_KEY_MODEL, item, `${location}.${field}.${index}`, errors))
    }
  }
  for (const key of Object.keys(args)) if (!spec.fields.some(([field]) => field === key)) at(key, 'Extra inputs are not permitted')
  return errors.length === before
}

/** A model: its fields, then (only when they passed) its model validators, in pydantic's order. */
function validateModel(spec: ModelSpec, args: JsonValue | undefined, location: string, errors: string[]): void {
  if (!isObject(args)) {
    errors.push(`${location}: Input should be a valid dictionary or instance of ${spec.name}`)
    return
  }
  if (!validateFields(spec, args, location, errors)) return
  const problem = modelProblem(spec, args)
  if (problem) errors.push(`${location}: ${problem}`)
  else if (spec.name === 'RenameTableArgs' && !DATASETTE_TABLE_NAME.test(args.to as string)) errors.push(`${location}.to: Invalid table name`)
}

function modelProblem(spec: ModelSpec, args: Args): string | undefined {
  if (spec.fields.some(([field]) => field === 'default_expr')) {
    if ('default' in args && 'default_expr' in args) return 'Value error, default and default_expr cannot both be provided'
    if ('default_expr' in args && args.default_expr === null) return 'Value error, default_expr cannot be null'
  }
  if (spec.name === 'AlterColumnArgs' && !['type', 'not_null', 'default', 'default_expr'].some((field) => field in args)) {
    return 'Value error, At least one of type, not_null, default or default_expr must be provided'
  }
  if (spec.name === 'ForeignKeyArgs') {
    if (args.fk_column && !args.fk_table) return 'fk_column requires fk_table'
    if (!args.fk_table) return 'fk_table is required'
  }
  return undefined
}

function defaultChange(args: Args): DefaultChange {
  if ('default_expr' in args) return { sql: DEFAULT_EXPRESSIONS[args.default_expr as DefaultExpression] }
  if ('default' in args) return { sql: literalDefault(args.default!) }
  return undefined
}

const foreignKeyOf = (args: Args): ForeignKeyRequest => ({
  column: args.column as string,
  fkTable: args.fk_table as string,
  fkColumn: (args.fk_column as string | null | undefined) || null,
})

function operationOf(op: AlterOperation['op'], args: Args): AlterOperation {
  switch (op) {
    case 'add_column':
      return {
        op,
        name: args.name as string,
        type: (args.type as ApiType | undefined) ?? 'text',
        notNull: (args.not_null as boolean | undefined) ?? false,
        default: defaultChange(args),
      }
    case 'alter_column':
      return {
        op,
        name: args.name as string,
        type: (args.type as ApiType | null | undefined) ?? null,
        notNull: (args.not_null as boolean | null | undefined) ?? null,
        default: defaultChange(args),
      }
    case 'rename_column':
      return { op, name: args.name as string, to: args.to as string }
    case 'rename_table':
      return { op, to: args.to as string }
    case 'drop_column':
      return { op, name: args.name as string }
    case 'set_primary_key':
    case 'reorder_columns':
      return { op, columns: args.columns as string[] }
    case 'add_foreign_key':
      return { op, key: foreignKeyOf(args) }
    case 'drop_foreign_key':
      return { op, column: args.column as string }
    case 'set_foreign_keys':
      return { op, keys: (args.foreign_keys as Args[]).map(foreignKeyOf) }
  }
}

/** Validates an `/-/alter` body as Datasette's AlterTableRequest does, with its messages, all at once. */
export function parseAlterBody(body: JsonValue): AlterOperation[] {
  if (!isObject(body)) throw new InvalidBody('JSON must be a dictionary')
  const errors: string[] = []
  const operations = body.operations
  if (operations === undefined) errors.push('operations: Field required')
  else if (!Array.isArray(operations)) errors.push('operations: Input should be a valid list')
  else {
    operations.forEach((operation, index) => {
      const location = `operations.${index}`
      if (!isObject(operation)) return errors.push(`${location}: Input should be a valid dictionary or object to extract fields from`)
      if (!('op' in operation)) return errors.push(`${location}: Unable to extract tag using discriminator 'op'`)
      const tag = operation.op!
      if (typeof tag !== 'string' || !(TAGS as readonly string[]).includes(tag)) {
        return errors.push(
          `${location}: Input tag '${pythonText(tag)}' found using 'op' does not match any of the expected tags: ${TAGS.map((t) => `'${t}'`).join(', ')}`,
        )
      }
      const spec = MODELS[tag as AlterOperation['op']]
      if (!('args' in operation)) errors.push(`${location}.${tag}.args: Field required`)
      else validateModel(spec, operation.args, `${location}.${tag}.args`, errors)
      for (const key of Object.keys(operation)) if (key !== 'op' && key !== 'args') errors.push(`${location}.${tag}.${key}: Extra inputs are not permitted`)
    })
    if (operations.length === 0) errors.push('operations: List should have at least 1 item after validation, not 0')
  }
  for (const key of Object.keys(body)) if (key !== 'operations') errors.push(`${key}: Extra inputs are not permitted`)
  if (errors.length) throw new InvalidBody(errors[0]!, errors)
  return (operations as Array<{ op: AlterOperation['op']; args: Args }>).map(({ op, args }) => operationOf(op, args))
}

/** The new table name of a rename, and the tables foreign keys would point at: the HTTP layer checks access to them. */
export function alterTargets(operations: AlterOperation[]): { renameTo: string | undefined; referencedTables: string[] } {
  let renameTo: string | undefined
  const referenced = new Set<string>()
  for (const operation of operations) {
    if (operation.op === 'rename_table') renameTo = operation.to
    if (operation.op === 'add_foreign_key') referenced.add(operation.key.fkTable)
    if (operation.op === 'set_foreign_keys') for (const key of operation.keys) referenced.add(key.fkTable)
  }
  return { renameTo, referencedTables: [...referenced] }
}

/** What the operations ask of the table, gathered as Datasette gathers them before changing anything. */
interface Plan {
  adds: Array<Extract<AlterOperation, { op: 'add_column' }>>
  renames: Map<string, string>
  renameTo: string | undefined
  types: Map<string, ApiType>
  drops: Set<string>
  notNull: Map<string, boolean>
  defaults: Map<string, string | null>
  order: string[] | undefined
  pks: string[] | undefined
  addKeys: ForeignKeyRequest[]
  dropKeys: string[]
  setKeys: ForeignKeyRequest[] | undefined
}

function planOf(operations: AlterOperation[]): Plan {
  const plan: Plan = {
    adds: [],
    renames: new Map(),
    renameTo: undefined,
    types: new Map(),
    drops: new Set(),
    notNull: new Map(),
    defaults: new Map(),
    order: undefined,
    pks: undefined,
    addKeys: [],
    dropKeys: [],
    setKeys: undefined,
  }
  for (const operation of operations) {
    switch (operation.op) {
      case 'add_column':
        if (operation.notNull && (operation.default === undefined || operation.default.sql === null)) {
          throw new AlterFailed('add_column args.default or args.default_expr is required when not_null is true')
        }
        plan.adds.push(operation)
        if (operation.default && !operation.notNull) plan.defaults.set(operation.name, operation.default.sql)
        break
      case 'rename_table':
        plan.renameTo = operation.to
        break
      case 'rename_column':
        plan.renames.set(operation.name, operation.to)
        break
      case 'alter_column':
        if (operation.type !== null) plan.types.set(operation.name, operation.type)
        if (operation.notNull !== null) plan.notNull.set(operation.name, operation.notNull)
        if (operation.default) plan.defaults.set(operation.name, operation.default.sql)
        break
      case 'drop_column':
        plan.drops.add(operation.name)
        break
      case 'set_primary_key':
        plan.pks = operation.columns
        break
      case 'reorder_columns':
        plan.order = operation.columns
        break
      case 'add_foreign_key':
        plan.addKeys.push(operation.key)
        break
      case 'drop_foreign_key':
        plan.dropKeys.push(operation.column)
        break
      case 'set_foreign_keys':
        plan.setKeys = operation.keys
    }
  }
  return plan
}

/** Does the plan need the table rebuilt (everything but adding columns and renaming)? */
const needsRebuild = (plan: Plan) =>
  plan.types.size > 0 ||
  plan.drops.size > 0 ||
  plan.notNull.size > 0 ||
  plan.defaults.size > 0 ||
  plan.order !== undefined ||
  plan.pks !== undefined ||
  plan.addKeys.length > 0 ||
  plan.dropKeys.length > 0 ||
  plan.setKeys !== undefined

export interface AlterResult {
  table: string
  beforeSchema: string
  schema: string
}

/** SQLite's own refusals (a duplicate name, a constraint the old rows break) are the client's 400, with SQLite's message. */
function clientSqliteError(error: unknown): ApiError | undefined {
  const code = (error as { code?: unknown })?.code
  if (typeof code === 'string' && /^SQLITE_(ERROR|CONSTRAINT)/.test(code)) return new AlterFailed((error as Error).message)
  return undefined
}

/**
 * Applies the operations to `table` on the writer, inside the caller's transaction (a throw rolls everything back):
 * columns added with ALTER TABLE, then one rebuild for everything else, then column renames with ALTER TABLE RENAME
 * COLUMN (which SQLite carries into indexes, triggers, views and other tables' foreign keys), then the table rename.
 */
export function alterTable(writer: CachedConnection, table: TableInfo, operations: AlterOperation[]): AlterResult {
  const plan = planOf(operations)
  const beforeSchema = writer.tableSchema(table.name) ?? ''
  try {
    for (const add of plan.adds) {
      assertColumnName(add.name)
      const notNullDefault = add.notNull ? add.default!.sql : null
      writer.run(addDefinedColumnSql(table.name, { name: add.name, type: API_TYPES[add.type], notNullDefault }))
    }
    let current = plan.adds.length ? writer.table(table.name)! : table
    if (needsRebuild(plan)) {
      rebuild(writer, current, plan)
      current = writer.table(table.name)!
    }
    for (const [from, to] of plan.renames) {
      assertColumnName(to)
      const column = columnNamed(current, from)
      const taken = current.columnsByKey.get(identifierKey(to))
      if (taken && taken.name !== column) throw new AlterFailed(`duplicate column name: ${to}`)
      writer.run(renameColumnSql(table.name, column, to))
      current = writer.table(table.name)!
    }
    let name = table.name
    if (plan.renameTo !== undefined && plan.renameTo !== table.name) {
      assertNewTableName(plan.renameTo)
      writer.run(renameTableSql(table.name, plan.renameTo))
      writer.counts?.forget(table.name)
      writer.counts?.forget(plan.renameTo)
      name = plan.renameTo
    }
    return { table: name, beforeSchema, schema: writer.tableSchema(name) ?? '' }
  } catch (error) {
    throw clientSqliteError(error) ?? error
  }
}

function columnNamed(table: TableInfo, name: string): string {
  const column = table.columnsByKey.get(identifierKey(name))
  if (!column) throw new AlterFailed(`No such column: ${name}`)
  return column.name
}

/** Words in a CREATE TABLE (outside names and strings) for what a rebuild from SQLite's pragmas would lose. */
const UNCARRIED = /\b(CHECK|COLLATE|GENERATED|AS|AUTOINCREMENT|CONFLICT|DEFERRABLE|DESC)\b/i
const NAMES_AND_STRINGS = /"(?:[^"]|"")*"|'(?:[^']|'')*'|`(?:[^`]|``)*`|\[[^\]]*\]/g

interface SchemaObject {
  name: string
  sql: string
}

/** The table as SQLite's pragmas describe it, with the indexes and triggers that must be recreated after a rebuild. */
function describeForRebuild(writer: CachedConnection, table: TableInfo) {
  const sql = writer.tableSchema(table.name) ?? ''
  const uncarried = sql.replace(NAMES_AND_STRINGS, '""').match(UNCARRIED)
  if (uncarried) {
    throw new AlterFailed(
      `Table ${table.name} uses ${uncarried[1]!.toUpperCase()} in its definition, which /-/alter cannot carry over when it rebuilds the table; nothing was changed`,
    )
  }
  const all = <T>(query: string, ...params: string[]) => writer.connection.query(query).all(...params) as T[]
  const columns = all<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number; hidden: number }>(
    'SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?) ORDER BY cid',
    table.name,
  )
  const keyRows = all<{ id: number; table: string; from: string; to: string | null; on_update: string; on_delete: string }>(
    'SELECT id, "table", "from", "to", on_update, on_delete FROM pragma_foreign_key_list(?) ORDER BY id, seq',
    table.name,
  )
  const foreignKeys = new Map<number, DefinedForeignKey>()
  for (const row of keyRows) {
    const key = foreignKeys.get(row.id) ?? { columns: [], table: row.table, otherColumns: [], onUpdate: row.on_update, onDelete: row.on_delete }
    key.columns.push(row.from)
    key.otherColumns.push(row.to)
    foreignKeys.set(row.id, key)
  }
  const indexColumns = (index: string) => all<{ name: string | null }>('SELECT name FROM pragma_index_info(?) ORDER BY seqno', index).map((row) => row.name)
  const uniques = all<{ name: string }>("SELECT name FROM pragma_index_list(?) WHERE origin = 'u'", table.name).map((row) => indexColumns(row.name) as string[])
  const indexes = all<SchemaObject>("SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL ORDER BY rowid", table.name)
  const triggers = all<SchemaObject>("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = ? ORDER BY rowid", table.name)
  const strict = (writer.connection.query('SELECT strict FROM pragma_table_list(?)').get(table.name) as { strict: number } | null)?.strict === 1
  const definition: TableDefinition = {
    columns: columns.map((column) => ({ name: column.name, type: column.type.toUpperCase(), notNull: column.notnull === 1, defaultSql: column.dflt_value })),
    pks: table.pks,
    foreignKeys: [...foreignKeys.values()],
    uniques,
    withoutRowid: table.withoutRowid,
    strict,
  }
  return { sql, definition, indexes: indexes.map((index) => ({ ...index, columns: indexColumns(index.name) })), triggers }
}

const TEXT_AFFINITY = /CHAR|CLOB|TEXT/i

/** The definition after the plan's changes, with every column it names checked to exist. */
function changedDefinition(
  writer: CachedConnection,
  table: TableInfo,
  old: TableDefinition,
  plan: Plan,
  indexes: Array<SchemaObject & { columns: Array<string | null> }>,
) {
  const resolve = (name: string) => columnNamed(table, name)
  const drops = new Set([...plan.drops].map(resolve))
  const types = new Map([...plan.types].map(([name, type]) => [resolve(name), API_TYPES[type]]))
  const notNull = new Map([...plan.notNull].map(([name, value]) => [resolve(name), value]))
  const defaults = new Map([...plan.defaults].map(([name, value]) => [resolve(name), value]))
  for (const name of plan.renames.keys()) resolve(name)
  const pks = plan.pks?.map(resolve) ?? old.pks
  if (new Set(pks).size !== pks.length) throw new AlterFailed(`Duplicate column name: ${pks.find((pk, i) => pks.indexOf(pk) !== i)}`)
  for (const name of drops) {
    if (pks.includes(name)) throw new AlterFailed(`cannot drop PRIMARY KEY column: "${name}"`)
    const index = indexes.find((candidate) => candidate.columns.includes(name))
    if (index) {
      throw new AlterFailed(
        `Index '${index.name}' column '${name}' is not in updated table '${table.name}'. You must manually drop this index prior to running this ` +
          'transformation and manually recreate the new index after running this transformation. ' +
          `The original index sql statement is: \`${index.sql}\`. No changes have been applied to this table.`,
      )
    }
  }
  let columns: DefinedColumn[] = old.columns
    .filter((column) => !drops.has(column.name))
    .map((column) => ({
      name: column.name,
      type: types.get(column.name) ?? column.type,
      notNull: notNull.get(column.name) ?? column.notNull,
      defaultSql: defaults.has(column.name) ? defaults.get(column.name)! : column.defaultSql,
    }))
  if (columns.length === 0) throw new AlterFailed(`cannot drop column "${[...drops][0]}": no other columns exist`)
  if (plan.order) {
    const first = plan.order.map(resolve)
    const repeated = first.find((name, i) => first.indexOf(name) !== i)
    if (repeated !== undefined) throw new AlterFailed(`Duplicate column name: ${repeated}`)
    const placed = first.filter((name) => !drops.has(name)).map((name) => columns.find((column) => column.name === name)!)
    columns = [...placed, ...columns.filter((column) => !first.includes(column.name))]
  }
  const target = (request: ForeignKeyRequest): DefinedForeignKey => {
    const column = resolve(request.column)
    const other = identifierKey(request.fkTable) === identifierKey(table.name) ? table : writer.table(request.fkTable)
    let otherColumn: string | undefined
    if (request.fkColumn === null) {
      if (!other || other.pks.length !== 1) throw new AlterFailed(`Could not detect single primary key for table '${request.fkTable}'`)
      otherColumn = other.pks[0]
    } else {
      otherColumn = other?.columnsByKey.get(identifierKey(request.fkColumn))?.name
      if (!other || otherColumn === undefined) throw new AlterFailed(`No such column: ${request.fkTable}.${request.fkColumn}`)
    }
    return { columns: [column], table: other.name, otherColumns: [otherColumn!], onUpdate: 'NO ACTION', onDelete: 'NO ACTION' }
  }
  let foreignKeys: DefinedForeignKey[]
  if (plan.setKeys) foreignKeys = plan.setKeys.map(target)
  else {
    const dropKeys = new Set(plan.dropKeys.map(resolve))
    const added = plan.addKeys.map(target)
    const replaced = new Set(added.map((key) => key.columns[0]!))
    foreignKeys = [
      ...old.foreignKeys.filter(
        (key) => !key.columns.some((column) => drops.has(column) || dropKeys.has(column) || (key.columns.length === 1 && replaced.has(column))),
      ),
      ...added,
    ]
  }
  for (const key of foreignKeys)
    if (key.columns.some((column) => drops.has(column))) throw new AlterFailed(`No such column: ${key.columns.find((c) => drops.has(c))}`)
  const definition: TableDefinition = {
    ...old,
    columns,
    pks,
    foreignKeys,
    uniques: old.uniques.filter((unique) => !unique.some((column) => drops.has(column))),
  }
  const textToNumber = (column: DefinedColumn) => {
    const before = old.columns.find((candidate) => candidate.name === column.name)!
    return types.has(column.name) && TEXT_AFFINITY.test(before.type) && (column.type === 'INTEGER' || column.type === 'REAL')
  }
  return { definition, copied: columns.map((column) => ({ name: column.name, nullIfEmpty: textToNumber(column) })) }
}

/**
 * SQLite's 12-step ALTER (lang_altertable.html#otheralter) inside the caller's transaction: create the new table,
 * copy the rows (and rowids), drop the old one, rename the new one into place, recreate indexes and triggers. rowpost
 * never turns foreign key enforcement on, so dropping the old table fires no ON DELETE actions; were it on, PRAGMA
 * foreign_keys cannot change inside a transaction, so checks are deferred and foreign_key_check runs before commit.
 * The swap runs with legacy_alter_table on, as SQLite documents for this procedure: otherwise the rename would
 * re-check every view while the old name is missing, and fail on views that select from it.
 */
function rebuild(writer: CachedConnection, table: TableInfo, plan: Plan): void {
  const { definition: old, indexes, triggers } = describeForRebuild(writer, table)
  const { definition, copied } = changedDefinition(writer, table, old, plan, indexes)
  const temporary = `${table.name}_new_${randomBytes(6).toString('hex')}`
  const keepsRowids = !old.withoutRowid && !definition.withoutRowid && !definition.columns.some((column) => isRowidAlias(definition, column))
  const pragma = (name: string) => Object.values(writer.connection.query(`PRAGMA ${name}`).get() as Record<string, number>)[0]
  const enforcing = pragma('foreign_keys') === 1
  if (enforcing) writer.run('PRAGMA defer_foreign_keys = ON')
  writer.run(createDefinedTableSql(temporary, definition))
  try {
    writer.run(copyDefinedRowsSql(table.name, temporary, copied, keepsRowids))
  } catch (error) {
    // A constraint the old rows break names the table being built; the client knows it by its own name.
    const message = (error as Error).message.replaceAll(`${temporary}.`, `${table.name}.`)
    throw clientSqliteError(error) ? new AlterFailed(message) : error
  }
  writer.run(dropTableSql(table.name))
  const legacy = pragma('legacy_alter_table')
  writer.run('PRAGMA legacy_alter_table = ON')
  try {
    writer.run(renameTableSql(temporary, table.name))
  } finally {
    writer.run(`PRAGMA legacy_alter_table = ${legacy ? 'ON' : 'OFF'}`)
  }
  for (const object of [...indexes, ...triggers]) writer.run(object.sql)
  if (enforcing && writer.connection.query('SELECT 1 FROM pragma_foreign_key_check(?)').get(table.name)) {
    throw new AlterFailed('FOREIGN KEY constraint failed')
  }
  checkDependents(writer)
}

/**
 * Compiles every view and every table's triggers, as SQLite's own ALTER TABLE checks the schema: a view or trigger
 * that names a dropped column refuses the change instead of being left broken.
 */
function checkDependents(writer: CachedConnection): void {
  const objects = writer.connection.query("SELECT type, name, tbl_name FROM sqlite_schema WHERE type IN ('view', 'trigger') ORDER BY rowid").all() as Array<{
    type: string
    name: string
    tbl_name: string
  }>
  const compile = (sql: string, what: string) => {
    try {
      writer.connection.prepare(sql).finalize()
    } catch (error) {
      throw new AlterFailed(`error in ${what}: ${(error as Error).message}`)
    }
  }
  for (const object of objects) {
    if (object.type === 'view') compile(selectAllSql(object.name), `view ${object.name}`)
  }
  const tables = new Set(objects.filter((object) => object.type === 'trigger').map((object) => object.tbl_name))
  for (const name of tables) {
    const info = writer.table(name)
    if (!info) continue
    for (const sql of triggerProbeSql(
      info.name,
      info.columns.map((column) => column.name),
    ))
      compile(sql, `a trigger on ${info.name}`)
  }
}
