/** What every route needs: the attached databases, the permission policy, the authenticator and the settings. */
import { createAuthenticator, type Authenticator } from '../auth'
import { EMPTY_CONFIG, type LoadedConfig } from '../config'
import { RowpostDatabase } from '../database'
import { DatabaseNotFound, NotSupported } from '../errors'
import type { Capability, Store } from '../store/store'
import { allowed, type Action, type Actor, type Policy, type Resource } from '../permissions'
import { DEFAULT_SETTINGS, type Settings } from '../settings'

export interface AppOptions {
  databases: Store[]
  /** Tokens and permissions from `-m metadata.json`; none by default. */
  config?: LoadedConfig
  settings?: Partial<Settings>
  /** `--unsafe`: every action allowed for everyone. */
  unsafe?: boolean
  /** `--default-deny`: reads need a grant too. */
  defaultDeny?: boolean
  /** `--cors`: add CORS headers to every response. */
  cors?: boolean
  /** `--cors=ORIGIN,...`: CORS, and the cross-site check, let only these exact origins through; empty or absent means any. */
  corsOrigins?: string[]
  version?: string
  /** Secret that signs and verifies `dstok_` API tokens (`--secret` or ROWPOST_SECRET); without it they are refused. */
  secret?: string
}

export class AppContext {
  readonly databases: Map<string, Store>
  readonly policy: Policy
  readonly settings: Settings
  readonly cors: boolean
  readonly corsOrigins: readonly string[]
  readonly version: string
  private readonly authenticate: Authenticator
  private readonly actors = new WeakMap<Request, Actor>()

  constructor(options: AppOptions) {
    const config = options.config ?? EMPTY_CONFIG
    this.databases = new Map(options.databases.map((database) => [database.name, database]))
    this.policy = { ...config.policy, unsafe: options.unsafe ?? false, defaultDeny: options.defaultDeny ?? false }
    this.settings = { ...DEFAULT_SETTINGS, ...options.settings }
    this.policy.defaultAllowSql = this.settings.default_allow_sql === 'on'
    this.cors = options.cors ?? false
    this.corsOrigins = options.corsOrigins ?? []
    this.version = options.version ?? '0.0.0'
    this.authenticate = createAuthenticator(config.tokens, options.secret)
  }

  /** The request's actor, resolved once from its Authorization header (throws InvalidToken for an unknown token). */
  actorOf(request: Request): Actor {
    if (this.actors.has(request)) return this.actors.get(request)!
    const actor = this.authenticate(request.headers.get('authorization'))
    this.actors.set(request, actor)
    return actor
  }

  /** How logs name the request's actor: its id, or `(no id)` (an actor's other keys may be long or personal); null when anonymous. */
  actorIdOf(request: Request): string | null {
    const actor = this.actors.get(request)
    if (!actor) return null
    return actor.id !== undefined ? String(actor.id) : '(no id)'
  }

  database(name: string): Store {
    const database = this.databases.get(name)
    if (!database) throw new DatabaseNotFound(name)
    return database
  }

  /** A database for a route only SQLite can serve (SQL queries, /-/alter, execute-write); any other store is refused with a 400. */
  sqliteDatabase(name: string, capability: Capability): RowpostDatabase {
    const database = this.database(name)
    if (!database.supports(capability) || !(database instanceof RowpostDatabase)) throw new NotSupported(database.name, capability)
    return database
  }

  allowed(request: Request, action: Action, resource?: Resource): boolean {
    return allowed(this.policy, this.actorOf(request), action, resource)
  }
}
