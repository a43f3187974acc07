/** Loads metadata.json (Datasette 0.x or 1.0 style): `$env`/`$file` secrets, schema validation, tokens and permissions. */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { locateJsonError } from './json'
import { INSTANCE_ACTIONS, READ_ACTIONS, SQL_WRITE_ACTIONS, WRITE_ACTIONS, type Actor, type AllowBlock, type PermissionLevel, type Policy } from './permissions'

/** A problem that stops the server from starting; the CLI prints its message as one line. */
export class ConfigError extends Error {}

const AllowBlockSchema = Type.Union([Type.Boolean(), Type.Record(Type.String(), Type.Unknown())])
const PermissionsSchema = Type.Record(Type.String(), AllowBlockSchema)
const LevelFields = {
  allow: Type.Optional(AllowBlockSchema),
  permissions: Type.Optional(PermissionsSchema),
  allow_sql: Type.Optional(AllowBlockSchema),
}

export const MetadataSchema = Type.Object({
  ...LevelFields,
  databases: Type.Optional(
    Type.Record(Type.String(), Type.Object({ ...LevelFields, tables: Type.Optional(Type.Record(Type.String(), Type.Object(LevelFields))) })),
  ),
  plugins: Type.Optional(
    Type.Object({
      'datasette-insert': Type.Optional(Type.Object({ allow: Type.Optional(AllowBlockSchema) })),
      'datasette-auth-tokens': Type.Optional(
        Type.Object({
          tokens: Type.Optional(
            Type.Array(
              Type.Object({
                token: Type.String({ minLength: 1 }),
                actor: Type.Record(Type.String(), Type.Unknown()),
              }),
            ),
          ),
        }),
      ),
    }),
  ),
})
export type Metadata = Static<typeof MetadataSchema>

export interface TokenGrant {
  token: string
  actor: NonNullable<Actor>
}

export interface LoadedConfig {
  policy: Omit<Policy, 'unsafe' | 'defaultDeny'>
  tokens: TokenGrant[]
  /** Action names in permissions blocks that rowpost does not act on (kept so a Datasette file still loads). */
  ignoredActions: string[]
}

export const EMPTY_CONFIG: LoadedConfig = { policy: { root: {}, databases: {} }, tokens: [], ignoredActions: [] }

/** Replaces every `{"$env": NAME}` and `{"$file": PATH}` with the string it stands for. */
export function resolveSecrets(value: unknown, baseDir: string, env: Record<string, string | undefined> = process.env): unknown {
  if (Array.isArray(value)) return value.map((item) => resolveSecrets(item, baseDir, env))
  if (value === null || typeof value !== 'object') return value
  const entries = Object.entries(value)
  if (entries.length === 1) {
    const [[key, ref]] = entries as [[string, unknown]]
    if (key === '$env' && typeof ref === 'string') {
      const found = env[ref]
      if (found === undefined) throw new ConfigError(`Environment variable ${ref} is not set (referenced by {"$env": ${JSON.stringify(ref)}})`)
      return found
    }
    if (key === '$file' && typeof ref === 'string') {
      const path = resolve(baseDir, ref)
      if (!existsSync(path)) throw new ConfigError(`File ${ref} does not exist (referenced by {"$file": ${JSON.stringify(ref)}})`)
      return readFileSync(path, 'utf8').replace(/\r?\n$/, '')
    }
  }
  const resolved: Record<string, unknown> = Object.create(null)
  for (const [key, item] of entries) resolved[key] = resolveSecrets(item, baseDir, env)
  return resolved
}

function parseMetadataText(path: string, text: string): unknown {
  if (/\.ya?ml$/i.test(path)) {
    try {
      return Bun.YAML.parse(text)
    } catch (error) {
      throw new ConfigError(`Invalid YAML in ${path}: ${error instanceof Error ? error.message : String(error)}`)
    }
  }
  try {
    return JSON.parse(text)
  } catch (error) {
    const located = locateJsonError(text)
    const where = located ? `${located.message} at line ${located.line} column ${located.column}` : String(error)
    throw new ConfigError(`Invalid JSON in ${path}: ${where}`)
  }
}

/** Turns a validated metadata document into a policy and a token list. */
export function interpretMetadata(document: unknown, source = 'metadata'): LoadedConfig {
  if (!Value.Check(MetadataSchema, document)) {
    const first = Value.Errors(MetadataSchema, document).First()
    const where = first?.path ? first.path.replaceAll('/', '.').replace(/^\./, '') : '(top level)'
    throw new ConfigError(`Invalid ${source}: ${where}: ${first?.message ?? 'does not match the expected shape'}`)
  }
  const metadata = document as Metadata
  const known = new Set<string>([...WRITE_ACTIONS, ...READ_ACTIONS, ...SQL_WRITE_ACTIONS, ...INSTANCE_ACTIONS])
  const ignoredActions = new Set<string>()
  const level = (fields: { allow?: AllowBlock; permissions?: Record<string, AllowBlock>; allow_sql?: AllowBlock }): PermissionLevel => {
    for (const action of Object.keys(fields.permissions ?? {})) if (!known.has(action)) ignoredActions.add(action)
    return { allow: fields.allow, permissions: fields.permissions as PermissionLevel['permissions'], allowSql: fields.allow_sql }
  }
  const databases: LoadedConfig['policy']['databases'] = Object.create(null)
  for (const [name, database] of Object.entries(metadata.databases ?? {})) {
    const tables: Record<string, PermissionLevel> = Object.create(null)
    for (const [tableName, table] of Object.entries(database.tables ?? {})) tables[tableName] = level(table)
    databases[name] = { ...level(database), tables }
  }
  const tokens = (metadata.plugins?.['datasette-auth-tokens']?.tokens ?? []).map(({ token, actor }) => ({ token, actor }))
  return {
    policy: { root: level(metadata), databases, legacyInsertAllow: metadata.plugins?.['datasette-insert']?.allow },
    tokens,
    ignoredActions: [...ignoredActions],
  }
}

/** Reads, resolves and validates a metadata file; every failure is a ConfigError naming the file and the problem. */
export function loadConfig(path: string, env: Record<string, string | undefined> = process.env): LoadedConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message
    throw new ConfigError(`Cannot read metadata file ${path}: ${reason}`)
  }
  const document = resolveSecrets(parseMetadataText(path, text), dirname(resolve(path)), env)
  return interpretMetadata(document, `metadata file ${path}`)
}
