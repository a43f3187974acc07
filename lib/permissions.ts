/** Who may do what: Datasette's allow-block matching and the permission lookup, as pure functions. */
import { identifierKey } from './identifiers'
import { restrictionsAllow, type Restrictions } from './signed-tokens'

export type Actor = Record<string, unknown> | null

export const WRITE_ACTIONS = ['insert-row', 'update-row', 'delete-row', 'create-table', 'alter-table', 'drop-table'] as const
export const READ_ACTIONS = ['view-instance', 'view-database', 'view-table', 'execute-sql'] as const
/** Denied unless granted, like the writes, but not part of datasette-insert's blanket grant: arbitrary write SQL. */
export const SQL_WRITE_ACTIONS = ['execute-write-sql'] as const
/** rowpost's own, asked of the instance: reading /-/metrics. Unless the root grants it, it follows view-instance. */
export const INSTANCE_ACTIONS = ['view-metrics'] as const
export type Action = (typeof WRITE_ACTIONS)[number] | (typeof READ_ACTIONS)[number] | (typeof SQL_WRITE_ACTIONS)[number] | (typeof INSTANCE_ACTIONS)[number]

/** Datasette's `allow` block: true, false, or keys whose values (one or a list) an actor must share. */
export type AllowBlock = boolean | Record<string, unknown>

/** The permission-bearing parts of one level of configuration (root, database or table). */
export interface PermissionLevel {
  /** Restricts the view action of this level, like Datasette's `allow`. */
  allow?: AllowBlock
  /** Datasette 1.0 `permissions`: action name to allow block. */
  permissions?: Partial<Record<Action, AllowBlock>>
  /** Datasette's `allow_sql` (root and database levels): who may run SQL queries (execute-sql). */
  allowSql?: AllowBlock
}

export interface Policy {
  root: PermissionLevel
  databases: Record<string, PermissionLevel & { tables: Record<string, PermissionLevel> }>
  /** `plugins.datasette-insert.allow`: grants every write action everywhere to matching actors. */
  legacyInsertAllow?: AllowBlock
  /** `--unsafe`: everything allowed for everyone. */
  unsafe: boolean
  /** `--default-deny`: reads need an explicit grant too. */
  defaultDeny: boolean
  /** The `default_allow_sql` setting: false denies execute-sql unless a block grants it. */
  defaultAllowSql?: boolean
}

export interface Resource {
  database?: string
  table?: string
}

const isScalar = (value: unknown) => typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'

/** Datasette's actor_matches_allow, except that a nested value never matches (Datasette crashes on some). */
export function actorMatches(actor: Actor, allow: AllowBlock): boolean {
  if (allow === true) return true
  if (allow === false) return false
  if (actor === null && allow.unauthenticated === true) return true
  if (actor === null) return false
  // Checked on every request, so without the arrays Object.entries and wrapping single values would allocate.
  for (const key in allow) {
    if (!Object.hasOwn(allow, key) || !Object.hasOwn(actor, key)) continue
    const wanted = allow[key]
    if (wanted === '*') return true
    const actorValue = actor[key]
    if (Array.isArray(wanted) ? wanted.some((value) => actorHas(actorValue, value)) : actorHas(actorValue, wanted)) return true
  }
  return false
}

/** Whether an actor's value (one, or a list) holds `wanted`, a scalar of an allow block. */
function actorHas(actorValue: unknown, wanted: unknown): boolean {
  if (!isScalar(wanted)) return false
  return Array.isArray(actorValue) ? actorValue.includes(wanted) : actorValue === wanted
}

/**
 * The configuration of a table: its exact name first, else the entry naming the same SQLite table (ASCII case
 * ignored), since `/-/insert/data/DOGS` writes to `dogs` and must not escape the rules written for it.
 */
function tableLevel(tables: Record<string, PermissionLevel> | undefined, table: string): PermissionLevel | undefined {
  if (!tables) return undefined
  if (Object.hasOwn(tables, table)) return tables[table]
  const key = identifierKey(table)
  for (const [name, level] of Object.entries(tables)) if (identifierKey(name) === key) return level
  return undefined
}

const VIEW_ACTION_OF_LEVEL = { root: 'view-instance', database: 'view-database', table: 'view-table' } as const

function levelBlock(level: PermissionLevel | undefined, kind: keyof typeof VIEW_ACTION_OF_LEVEL, action: Action) {
  if (!level) return undefined
  const granted = level.permissions?.[action]
  if (granted !== undefined) return granted
  if (action === 'execute-sql' && kind !== 'table') return level.allowSql
  return action === VIEW_ACTION_OF_LEVEL[kind] ? level.allow : undefined
}

/**
 * Whether `actor` may perform `action` on `resource`: the most specific level that mentions the action decides.
 * A signed token's restrictions (`_r`) can only narrow that, even under --unsafe.
 */
export function allowed(policy: Policy, actor: Actor, action: Action, resource: Resource = {}): boolean {
  if (actor?.token === 'dstok' && !restrictionsAllow(actor._r as Restrictions | undefined, action, resource)) return false
  if (policy.unsafe) return true
  if (action === 'view-metrics') {
    const granted = policy.root.permissions?.['view-metrics']
    return granted === undefined ? allowed(policy, actor, 'view-instance') : actorMatches(actor, granted)
  }
  const database = resource.database === undefined ? undefined : policy.databases[resource.database]
  const table = resource.table === undefined ? undefined : tableLevel(database?.tables, resource.table)
  const specific = levelBlock(table, 'table', action) ?? levelBlock(database, 'database', action)
  if (specific !== undefined) return actorMatches(actor, specific)
  const rootBlock = levelBlock(policy.root, 'root', action)
  if (action === 'execute-sql' && rootBlock === undefined && policy.defaultAllowSql === false) return false
  const isWrite = (WRITE_ACTIONS as readonly string[]).includes(action)
  const legacy = isWrite ? policy.legacyInsertAllow : undefined
  const deniedByDefault = isWrite || (SQL_WRITE_ACTIONS as readonly string[]).includes(action)
  if (rootBlock === undefined && legacy === undefined) return !deniedByDefault && !policy.defaultDeny
  return (rootBlock !== undefined && actorMatches(actor, rootBlock)) || (legacy !== undefined && actorMatches(actor, legacy))
}

/** Reading a table needs the instance, the database and the table to be visible, as in Datasette. */
export function canView(policy: Policy, actor: Actor, resource: Resource): boolean {
  if (!allowed(policy, actor, 'view-instance')) return false
  if (resource.database !== undefined && !allowed(policy, actor, 'view-database', { database: resource.database })) return false
  if (resource.table !== undefined && !allowed(policy, actor, 'view-table', resource)) return false
  return true
}
