/** What every route needs: the attached databases, the permission policy, the authenticator and the settings. */
import { actorFromCookie, createAuthenticator, signActorCookie, type Authenticator } from '../auth'
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
  /** Signs and checks the login cookie; without it no one can log in, so the cookie is never read. */
  private readonly secret: string | undefined

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
    this.secret = options.secret
  }

  /**
   * The request's actor, resolved once: from its Authorization header (throws InvalidToken for an unknown token), or,
   * without one, from the login cookie. The cookie counts for writes too: request-guard.ts refuses them cross-site.
   */
  actorOf(request: Request): Actor {
    if (this.actors.has(request)) return this.actors.get(request)!
    const authorization = request.headers.get('authorization')
    const actor = authorization === null ? actorFromCookie(this.secret, request.headers.get('cookie')) : this.authenticate(authorization)
    this.actors.set(request, actor)
    return actor
  }

  /** Whether the login page can set a cookie: only with a secret to sign it. */
  get loginEnabled(): boolean {
    return this.secret !== undefined
  }

  /** The actor a token stands for, as if sent as a bearer token (throws InvalidToken). */
  actorOfToken(token: string): Actor {
    return this.authenticate(`Bearer ${token}`)
  }

  /** The login cookie's value for `actor`, valid until `expiresAt` (Unix seconds); only when loginEnabled. */
  loginCookie(actor: Record<string, unknown>, expiresAt: number): string {
    if (this.secret === undefined) throw new RangeError('No secret to sign a login cookie with')
    return signActorCookie(this.secret, actor, expiresAt)
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
