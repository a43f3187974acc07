/** Datasette 1.0's JSON write API: insert, upsert, update, delete, create and drop. */
import { Elysia, t } from 'elysia'
import type { TableInfo } from '../database'
import type { Store } from '../store/store'
import { countRows, table as lookUp, tableSchema } from '../store/path'
import { ApiError, DatabaseNotFound, ImmutableDatabase, PermissionDenied, RowNotFound } from '../errors'
import { identifierKey, tildeDecode } from '../identifiers'
import { foreignKeyTargetNeeds, optionNeeds, ROUTE_NEEDS, TableAccess, type Need } from './access'
import { tableNamed, tableNamedPath, tableUrls } from './tables'
import { invalid, dropConfirmed, parseCreateBody, parseInsertBody, parseUpdateBody, type CreateColumn } from '../write-api'
import { createTablePath, deleteRowPath, dropTablePath, readRowsByKeyPath, unknownColumns, updateRowPath, writeRowsPath } from '../writer'
import { readBodyText } from './body'
import type { AppContext } from './context'
import { parseRowIdentifier } from '../reader'
import { queryFlag } from '../flags'
import { jsonResponse } from './respond'
import { ingestStream, streamFormat, type StreamFormat } from './stream'
import type { WriteResponder } from './write-once'
import { parseJson, type JsonValue } from '../json'
import { isJsonObject } from '../rows'

/** A Python str's repr(), as Datasette's messages show one: single quotes unless only double quotes avoid escaping. */
function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'"
  const escaped = text.replace(/[\\\u0000-\u001f\u007f-\u00a0]/g, (char) => {
    const named: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }
    return named[char] ?? `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`
  })
  return quote + (quote === "'" ? escaped.replaceAll("'", "\\'") : escaped) + quote
}

export function writeRoutes(context: AppContext, writeOnce: WriteResponder) {
  function assertMutable(database: Store) {
    if (database.immutable) throw new ImmutableDatabase()
  }

  /** The database and table a table route names, with the caller's access to that table. */
  function target(request: Request, params: { database: string; table: string }) {
    const database = context.database(tildeDecode(params.database))
    return { database, access: new TableAccess(context, request, database.name, tildeDecode(params.table)) }
  }

  /** Datasette's row routes name the missing database in `errors` too (row.py), unlike its table routes. */
  function rowTarget(request: Request, params: { database: string; table: string }) {
    const name = tildeDecode(params.database)
    const database = context.databases.get(name)
    if (!database) throw new DatabaseNotFound(name, true)
    return { database, access: new TableAccess(context, request, database.name, tildeDecode(params.table)) }
  }

  /** The row a row route names, or Datasette's 404: `Record not found: ['a', 'b']`, the URL's values as a Python list. */
  async function rowOf(database: Store, name: string, pks: string) {
    const table = await tableNamed(database, name, true)
    const key = parseRowIdentifier(table, pks)
    if ((await database.readPath((s) => readRowsByKeyPath(s, table, [key]))).length === 0) {
      throw new RowNotFound(
        `Record not found: [${pks
          .split(',')
          .map((component) => pythonRepr(tildeDecode(component)))
          .join(', ')}]`,
      )
    }
    return { table, key }
  }

  async function insertOrUpsert(request: Request, params: { database: string; table: string }, upsert: boolean) {
    const { database, access } = target(request, params)
    const table = await access.lookup(ROUTE_NEEDS[upsert ? 'upsert' : 'insert'], () => tableNamed(database, access.table))
    assertMutable(database)
    const format = streamFormat(request)
    if (format) return insertStream(request, database, access, table.name, format, upsert)
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    const body = parseInsertBody(parseJson(bodyText), table, { upsert, maxRows: context.settings.max_insert_rows })
    if (upsert && (body.ignore || body.replace)) throw invalid('Upsert does not support ignore or replace')
    access.require(optionNeeds({ replace: body.replace, alter: body.alter, return: body.returnAsked }))
    // A single "row" is echoed back unasked, as in Datasette, but only to a caller who may read the table.
    const returnRows = body.returnAsked || (body.single && access.visible)
    const mode = upsert ? 'upsert' : body.ignore ? 'ignore' : body.replace ? 'replace' : 'abort'
    return writeOnce(request, database, bodyText, function* (s) {
      const written = yield* writeRowsPath(s, { table: table.name, rows: body.rows, pks: [], mode, alter: body.alter, mayCreate: false })
      const rows = returnRows ? yield* readRowsByKeyPath(s, written.table, written.keys) : undefined
      return { status: upsert ? 200 : 201, body: rows ? { ok: true, rows } : { ok: true } }
    })
  }

  /**
   * A streamed body has no JSON envelope: `ignore`, `replace` and `alter` come from the query string instead, the
   * permissions they need are checked the same way, and `max_insert_rows` does not apply.
   */
  async function insertStream(request: Request, database: Store, access: TableAccess, tableName: string, format: StreamFormat, upsert: boolean) {
    const query = new URL(request.url).searchParams
    const [ignore, replace, alter] = ['ignore', 'replace', 'alter'].map((name) => queryFlag(query.get(name))) as [boolean, boolean, boolean]
    if (ignore && replace) throw invalid('Cannot use "ignore" and "replace" at the same time')
    if (upsert && (ignore || replace)) throw invalid('Upsert does not support ignore or replace')
    access.require(optionNeeds({ replace, alter }))
    const mode = upsert ? 'upsert' : ignore ? 'ignore' : replace ? 'replace' : 'abort'
    const { rows } = await ingestStream(context, request, database, format, { table: tableName, pks: [], mode, alter, mayCreate: false })
    return jsonResponse({ ok: true, row_count: rows }, upsert ? 200 : 201)
  }

  /**
   * Checks each foreign key's target and fills in `{"fk_table": T}` with T's single primary key, as sqlite-utils does;
   * a key may point at the table being created. Another table's columns and key are looked at only once the caller
   * is known to be allowed to see that table, so a foreign key cannot probe a private one.
   */
  async function resolveForeignKeys(request: Request, database: Store, tableName: string, pks: string[], columns: CreateColumn[]) {
    const own = { name: tableName, pks, columns: new Set(columns.map((column) => identifierKey(column.name))) }
    const target = async (name: string) => {
      if (identifierKey(name) === identifierKey(tableName)) return own
      new TableAccess(context, request, database.name, name).require(foreignKeyTargetNeeds(name))
      await database.sync(name)
      const table = database.table(name)
      return table && { name: table.name, pks: table.pks, columns: new Set(table.columnsByKey.keys()) }
    }
    const resolved: CreateColumn[] = []
    for (const { fkTableOnly, ...column } of columns) {
      if (fkTableOnly !== undefined) {
        const other = await target(fkTableOnly)
        if (!other || other.pks.length !== 1) throw invalid(`Could not detect single primary key for table '${fkTableOnly}'`)
        resolved.push({ ...column, references: { table: other.name, column: other.pks[0]! } })
        continue
      }
      if (column.references) {
        const other = await target(column.references.table)
        if (!other || !other.columns.has(identifierKey(column.references.column))) {
          throw invalid(`No such column: ${column.references.table}.${column.references.column}`)
        }
      }
      resolved.push(column)
    }
    return resolved
  }

  /**
   * Datasette checks `/-/create`'s permissions on the database; rowpost checks each one on the table the body names,
   * so a table's own rules hold here as on every other route (create-table stays a database action).
   */
  async function create(request: Request, databaseName: string) {
    const database = context.database(tildeDecode(databaseName))
    if (!context.allowed(request, 'create-table', { database: database.name })) throw new PermissionDenied()
    assertMutable(database)
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    const json = parseJson(bodyText)
    const named = isJsonObject(json) ? json.table : undefined
    if (typeof named === 'string') await database.sync(named)
    const body = parseCreateBody(json, {
      require(action, message, table) {
        if (table !== undefined) new TableAccess(context, request, database.name, table).require([{ action, message }])
        else if (!context.allowed(request, action, { database: database.name })) throw new PermissionDenied(message)
      },
      existing: (name) => database.table(name),
    })
    const columns = body.columns && (await resolveForeignKeys(request, database, body.table, body.pks, body.columns))
    return writeOnce(request, database, bodyText, function* (s) {
      let table: TableInfo
      if (columns) {
        if (yield* lookUp(body.table)) throw invalid(`Table ${body.table} already exists`)
        table = yield* createTablePath(s, body.table, columns, body.pks)
      } else {
        const mode = body.ignore ? 'ignore' : body.replace ? 'replace' : 'abort'
        table = (yield* writeRowsPath(s, { table: body.table, rows: body.rows!, pks: body.pks, mode, alter: body.alter, mayCreate: true })).table
      }
      const created = {
        ok: true,
        database: database.name,
        table: table.name,
        ...tableUrls(request.url, database.name, table.name),
        schema: yield* tableSchema(table.name),
        ...(body.rows ? { row_count: body.rows.length } : {}),
      }
      return { status: 201, body: created }
    })
  }

  /**
   * Resolves the target of an update, delete or drop, with the route's needs checked around the lookup; when the
   * target is gone, a retry carrying the Idempotency-Key of the request that removed it gets that request's stored
   * answer instead of a 404, once the caller is known to hold those needs.
   */
  async function resolveOrReplay<T>(request: Request, database: Store, access: TableAccess, needs: Need[], resolve: () => Promise<T>) {
    try {
      return await access.lookup(needs, resolve)
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404 || !request.headers.has('idempotency-key')) throw error
      access.require(needs)
      const replay = await writeOnce.storedResponse(request, database, await readBodyText(request, context.settings.max_post_body_bytes))
      if (replay) return replay
      throw error
    }
  }

  async function update(request: Request, params: { database: string; table: string; pks: string }) {
    const { database, access } = rowTarget(request, params)
    const resolved = await resolveOrReplay(request, database, access, ROUTE_NEEDS.update, () => rowOf(database, access.table, params.pks))
    if (resolved instanceof Response) return resolved
    const { table, key } = resolved
    assertMutable(database)
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    const body = parseUpdateBody(parseJson(bodyText))
    access.require(optionNeeds({ alter: body.alter, return: body.returnRow }))
    if (!body.alter) {
      const [unknown] = unknownColumns(
        table,
        body.update.map(([name]) => name),
      )
      if (unknown !== undefined) throw invalid(`no such column: ${unknown}`)
    }
    return writeOnce(request, database, bodyText, function* (s) {
      yield* updateRowPath(s, { table: yield* tableNamedPath(table.name, true), key, update: body.update, alter: body.alter })
      const row = body.returnRow ? (yield* readRowsByKeyPath(s, yield* tableNamedPath(table.name, true), [key]))[0] : undefined
      return { status: 200, body: row ? { ok: true, row, rows: [row] } : { ok: true } }
    })
  }

  async function remove(request: Request, params: { database: string; table: string; pks: string }) {
    const { database, access } = rowTarget(request, params)
    const resolved = await resolveOrReplay(request, database, access, ROUTE_NEEDS.delete, () => rowOf(database, access.table, params.pks))
    if (resolved instanceof Response) return resolved
    const { table, key } = resolved
    assertMutable(database)
    const bodyText = await readBodyText(request, context.settings.max_post_body_bytes)
    return writeOnce(request, database, bodyText, function* (s) {
      yield* deleteRowPath(s, yield* tableNamedPath(table.name, true), key)
      return { status: 200, body: { ok: true } }
    })
  }

  async function drop(request: Request, params: { database: string; table: string }) {
    const { database, access } = target(request, params)
    const table = await resolveOrReplay(request, database, access, ROUTE_NEEDS.drop, () => tableNamed(database, access.table))
    if (table instanceof Response) return table
    assertMutable(database)
    const text = await readBodyText(request, context.settings.max_post_body_bytes)
    let body: JsonValue | undefined
    try {
      body = text.trim() ? parseJson(text) : undefined
    } catch {
      body = undefined
    }
    if (!dropConfirmed(body)) {
      return jsonResponse({
        ok: true,
        database: database.name,
        table: table.name,
        row_count: await database.readPath(() => countRows(table.name)),
        message: 'Pass "confirm": true to confirm',
      })
    }
    return writeOnce(request, database, text, function* (s) {
      yield* dropTablePath(s, yield* tableNamedPath(table.name))
      return { status: 200, body: { ok: true } }
    })
  }

  const tableParams = t.Object({ database: t.String(), table: t.String() })
  const rowParams = t.Object({ database: t.String(), table: t.String(), pks: t.String() })
  return new Elysia({ name: 'rowpost-write' })
    .post('/:database/-/create', ({ request, params }) => create(request, params.database), {
      parse: 'none',
      params: t.Object({ database: t.String() }),
      detail: { summary: 'Create a table from columns or rows (Datasette 1.0)' },
    })
    .post('/:database/:table/-/insert', ({ request, params }) => insertOrUpsert(request, params, false), {
      parse: 'none',
      params: tableParams,
      detail: { summary: 'Insert rows into an existing table (Datasette 1.0)' },
    })
    .post('/:database/:table/-/upsert', ({ request, params }) => insertOrUpsert(request, params, true), {
      parse: 'none',
      params: tableParams,
      detail: { summary: 'Insert rows or update existing ones by primary key (Datasette 1.0)' },
    })
    .post('/:database/:table/-/drop', ({ request, params }) => drop(request, params), {
      parse: 'none',
      params: tableParams,
      detail: { summary: 'Drop a table; without "confirm": true, report what would be dropped (Datasette 1.0)' },
    })
    .post('/:database/:table/:pks/-/update', ({ request, params }) => update(request, params), {
      parse: 'none',
      params: rowParams,
      detail: { summary: 'Update columns of one row (Datasette 1.0)' },
    })
    .post('/:database/:table/:pks/-/delete', ({ request, params }) => remove(request, params), {
      parse: 'none',
      params: rowParams,
      detail: { summary: 'Delete one row (Datasette 1.0)' },
    })
}
