/** Read endpoints Datasette clients call: the instance index (`/.json`) and `/-/schema` for the instance, a database or a table. */
import { createHash } from 'node:crypto'
import { Elysia, t } from 'elysia'
import type { TableInfo } from '../database'
import { countRows } from '../store/path'
import type { SchemaFacts, Store } from '../store/store'
import { PermissionDenied, TableNotFound } from '../errors'
import { tildeDecode, tildeEncode } from '../identifiers'
import { allowed, canView, type Actor, type Resource } from '../permissions'
import type { AppContext } from './context'
import { jsonResponse } from './respond'

/** Datasette's index shows this many tables (then views) of each database. */
const TRUNCATE_AT = 5
/** Datasette counts rows for its index only in files smaller than this. */
const COUNT_DB_SIZE_LIMIT = 100 * 1024 * 1024
const UNSTABLE = "This API is not part of Datasette's stable interface and may change at any time"

type Format = 'json' | 'md'

/** Python's sort of str: by code point, which is the order of the UTF-8 bytes (JavaScript's `<` compares UTF-16 units). */
const byCodePoint = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b))

interface IndexTable {
  name: string
  columns: string[]
  primary_keys: string[]
  count: number | null
  hidden: boolean
  fts_table: string | null
  num_relationships_for_sorting: number
  private: boolean
}

/** Datasette's order for the tables its index shows first: most relationships, then most rows, then name, all descending. */
function byProminence(a: IndexTable, b: IndexTable): number {
  return b.num_relationships_for_sorting - a.num_relationships_for_sorting || (b.count ?? 0) - (a.count ?? 0) || byCodePoint(b.name, a.name)
}

const sum = (tables: IndexTable[]) => tables.reduce((total, table) => total + (table.count ?? 0), 0)

const markdown = (text: string) => new Response(text, { headers: { 'content-type': 'text/markdown; charset=utf-8' } })
const markdownSection = (heading: string, schema: string) => `# ${heading}\n\n\`\`\`sql\n${schema}\n\`\`\``

export function schemaRoutes(context: AppContext) {
  const { policy } = context

  /** Refuses with the first view action the actor lacks, named as Datasette's Forbidden names it. */
  function requireView(actor: Actor, resource: Resource): void {
    if (!allowed(policy, actor, 'view-instance')) throw new PermissionDenied('view-instance')
    if (resource.database !== undefined && !allowed(policy, actor, 'view-database', { database: resource.database })) {
      throw new PermissionDenied('view-database')
    }
    if (resource.table !== undefined && !allowed(policy, actor, 'view-table', resource)) throw new PermissionDenied('view-table')
  }

  /** Datasette's "private": visible to this actor but not to an anonymous one. */
  const isPrivate = (resource: Resource) => !canView(policy, null, resource)

  /**
   * Exact counts as /<db>.json gives them, where Datasette would count (files under 100 MB), and only while there are at
   * most max_returned_rows tables to count: past that, /<db>.json pages its listing rather than scan every table, and so
   * does this. Null means no counts, which Datasette shows as `show_table_row_counts: false`.
   */
  async function rowCounts(database: Store, facts: SchemaFacts, tables: TableInfo[]): Promise<Map<string, number> | null> {
    if (facts.sizeBytes >= COUNT_DB_SIZE_LIMIT || tables.length > context.settings.max_returned_rows) return null
    const counts = new Map<string, number>()
    for (const table of tables) counts.set(table.name, await database.readPath(() => countRows(table.name)))
    return counts
  }

  /** One database of the index, as Datasette's IndexView builds it, from the tables and views this actor may see. */
  async function indexEntry(database: Store, actor: Actor, sortByRelationships: boolean) {
    const name = database.name
    const visible = (table: string) => canView(policy, actor, { database: name, table })
    const schema = await database.schemaFacts()
    const facts = schema.catalogue
    const infos = database
      .tableList()
      .filter((table) => visible(table.name))
      .flatMap((table) => database.table(table.name) ?? [])
    const counts = await rowCounts(database, schema, infos)
    const relationships = sortByRelationships || counts === null || counts.size === 0 ? schema.relationships() : undefined
    const tables: IndexTable[] = infos.map((info) => ({
      name: info.name,
      columns: info.columns.map((column) => column.name),
      primary_keys: info.pks,
      count: counts?.get(info.name) ?? null,
      hidden: facts.hidden.has(info.name),
      fts_table: facts.ftsTable(info.name),
      num_relationships_for_sorting: relationships?.get(info.name) ?? 0,
      private: isPrivate({ database: name, table: info.name }),
    }))
    const hidden = tables.filter((table) => table.hidden)
    const shown = tables.filter((table) => !table.hidden)
    const views = facts.views
      .filter(visible)
      .toSorted(byCodePoint)
      .map((view) => ({ name: view, private: isPrivate({ database: name, table: view }) }))
    const prominent: Array<IndexTable | { name: string; private: boolean }> = shown.toSorted(byProminence).slice(0, TRUNCATE_AT)
    prominent.push(...views.slice(0, TRUNCATE_AT - prominent.length))
    return {
      name,
      // Datasette hashes only immutable files it was told never change; a file rowpost opens with -i may still be
      // written by another process, so rowpost, like Datasette for every mutable file, gives none.
      hash: null,
      color: createHash('md5').update(name).digest('hex').slice(0, 6),
      path: `/${tildeEncode(name)}`,
      tables_and_views_truncated: prominent,
      tables_and_views_more: shown.length + views.length > TRUNCATE_AT,
      tables_count: shown.length,
      table_rows_sum: sum(shown),
      show_table_row_counts: counts !== null && counts.size > 0,
      hidden_table_rows_sum: sum(hidden),
      hidden_tables_count: hidden.length,
      views_count: views.length,
      private: isPrivate({ database: name }),
    }
  }

  async function instanceIndex({ request }: { request: Request }): Promise<Response> {
    const actor = context.actorOf(request)
    requireView(actor, {})
    const sortByRelationships = new URL(request.url).searchParams.get('_sort') === 'relationships'
    const databases = []
    for (const database of visibleDatabases(actor)) databases.push(await indexEntry(database, actor, sortByRelationships))
    return jsonResponse({ ok: true, unstable: UNSTABLE, databases, metadata: {} })
  }

  /** The CREATE statements of what this actor may see, joined as Datasette's group_concat(sql, ';' || CHAR(10)) joins them. */
  async function databaseSchema(database: Store, actor: Actor): Promise<string> {
    return (await database.schemaFacts()).statements
      .filter((statement) => canView(policy, actor, { database: database.name, table: statement.table }))
      .map((statement) => statement.sql)
      .join(';\n')
  }

  /** The databases the actor may view, in Datasette's order. */
  const visibleDatabases = (actor: Actor) =>
    [...context.databases.values()].filter((database) => canView(policy, actor, { database: database.name })).toSorted((a, b) => byCodePoint(a.name, b.name))

  async function instanceSchema(request: Request, format: Format): Promise<Response> {
    const actor = context.actorOf(request)
    requireView(actor, {})
    const schemas = []
    for (const database of visibleDatabases(actor)) schemas.push({ database: database.name, schema: await databaseSchema(database, actor) })
    if (format === 'json') return jsonResponse({ ok: true, schemas })
    return markdown(schemas.map((item) => markdownSection(`Schema for ${item.database}`, item.schema)).join('\n\n'))
  }

  /** Permission before existence, as in Datasette 1.0a37: a caller who may not look cannot tell a missing database from a hidden one. */
  async function singleDatabaseSchema(request: Request, segment: string, format: Format): Promise<Response> {
    const actor = context.actorOf(request)
    const name = tildeDecode(segment)
    requireView(actor, { database: name })
    const database = context.database(name)
    const schema = await databaseSchema(database, actor)
    if (format === 'json') return jsonResponse({ ok: true, database: database.name, schema })
    return markdown(`${markdownSection(`Schema for ${database.name}`, schema)}\n`)
  }

  async function tableSchema(request: Request, params: { database: string; table: string }, format: Format): Promise<Response> {
    const actor = context.actorOf(request)
    const name = tildeDecode(params.database)
    const tableName = tildeDecode(params.table)
    requireView(actor, { database: name, table: tableName })
    const database = context.database(name)
    const found = await database.schemaOf(tableName)
    if (!found) throw new TableNotFound(tableName)
    if (format === 'json') return jsonResponse({ ok: true, database: database.name, table: found.table, schema: found.sql })
    return markdown(`${markdownSection(`Schema for ${database.name}.${found.table}`, found.sql)}\n`)
  }

  const databaseParams = t.Object({ database: t.String() })
  const tableParams = t.Object({ database: t.String(), table: t.String() })
  return new Elysia({ name: 'rowpost-schema' })
    .get('/.json', instanceIndex, {
      detail: { summary: 'The instance index (Datasette 1.0 /.json): each database the actor may view, its counts and main tables' },
    })
    .get('/-/schema.json', ({ request }) => instanceSchema(request, 'json'), {
      detail: { summary: 'The CREATE statements of every database the actor may view, as JSON' },
    })
    .get('/-/schema.md', ({ request }) => instanceSchema(request, 'md'), {
      detail: { summary: 'The CREATE statements of every database the actor may view, as Markdown' },
    })
    .get('/:database/-/schema.json', ({ request, params }) => singleDatabaseSchema(request, params.database, 'json'), {
      params: databaseParams,
      detail: { summary: 'The CREATE statements of a database (tables, views, indexes, triggers the actor may view), as JSON' },
    })
    .get('/:database/-/schema.md', ({ request, params }) => singleDatabaseSchema(request, params.database, 'md'), {
      params: databaseParams,
      detail: { summary: 'The CREATE statements of a database, as Markdown' },
    })
    .get('/:database/:table/-/schema.json', ({ request, params }) => tableSchema(request, params, 'json'), {
      params: tableParams,
      detail: { summary: 'The CREATE statement of a table or view, as JSON' },
    })
    .get('/:database/:table/-/schema.md', ({ request, params }) => tableSchema(request, params, 'md'), {
      params: tableParams,
      detail: { summary: 'The CREATE statement of a table or view, as Markdown' },
    })
}
