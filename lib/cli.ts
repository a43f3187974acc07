/** Command-line parsing and help text; no side effects beyond building the options object. */
import { LOG_FORMATS, type LogFormat } from './ops/log-line'
import { DEFAULT_SETTINGS, SETTING_SPECS, SettingError, applySetting, type Settings } from './settings'
import { CREATE_TOKEN_USAGE, CreateTokenUsageError, parseCreateTokenArgs, type CreateTokenArgs } from './signed-tokens'

export interface ServeCommand {
  command: 'serve'
  files: string[]
  /** PostgreSQL connection URLs (`postgres://…`, `postgresql://…`), served beside or instead of files. */
  postgres: string[]
  immutable: string[]
  create: boolean
  memory: boolean
  metadata?: string
  port: number
  host: string
  cors: boolean
  /** `--cors=ORIGIN,...`: the only origins CORS lets in; empty means any origin. */
  corsOrigins: string[]
  unsafe: boolean
  defaultDeny: boolean
  settings: Settings
  /** Signs and verifies `dstok_` tokens; ROWPOST_SECRET is the fallback, applied by the caller. */
  secret?: string
  /** `--log-format`: request lines as text or as one JSON object each. */
  logFormat: LogFormat
}

export type Command =
  | ServeCommand
  | ({ command: 'create-token' } & CreateTokenArgs)
  | { command: 'backup'; source: string; target: string }
  | { command: 'help'; usage: string }
  | { command: 'version' }

/** A bad command line; the CLI prints the message and the usage of the command, and exits 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly usage = USAGE,
  ) {
    super(message)
  }
}

export const USAGE = `Usage: rowpost [serve] [FILE.db | postgres://USER@HOST:PORT/DBNAME ...] [options]
       rowpost create-token ACTOR [options]   (rowpost create-token --help)
       rowpost backup DB_FILE OUT_FILE        (a consistent copy, also while a server writes)
       rowpost --help | --version

Serve SQLite files over HTTP: POST JSON rows to create tables and insert,
upsert or alter them (datasette-insert and Datasette 1.0 write APIs), and
read them back as JSON. A postgres:// or postgresql:// URL serves that
PostgreSQL database under its name instead (several rowposts may share it;
a unix socket is postgres:///DBNAME?host=/run/postgresql); with no database
named, $DATABASE_URL is served.

Options:
  --create                 Create database files that do not exist
  --memory                 Also serve an in-memory database named _memory
  -i, --immutable FILE     Serve FILE read-only; every write to it is refused
  -m, --metadata FILE      Tokens and permissions (metadata.json, or .yaml)
  -p, --port PORT          Port to listen on (default 8001; 0 picks a free one)
  -h, --host HOST          Address to bind (default 127.0.0.1)
  --cors[=ORIGIN,...]      Send CORS headers so pages on other origins can call the
                           API: any origin, or only the listed ones (exact origins
                           such as https://app.example.com; also --cors ORIGIN)
  --unsafe                 Allow every action to everyone (loopback hosts only)
  --default-deny           Reads also need a grant (by default anyone may read)
  --setting NAME VALUE     Change a setting (see below); may be repeated
  --secret SECRET          Verify signed dstok_ API tokens (default: $ROWPOST_SECRET)
  --log-format FORMAT      Request log lines as text (default) or json, one object a line
  --help                   Show this message and exit
  --version                Show the version and exit

Settings:
${Object.entries(SETTING_SPECS)
  .map(([name, spec]) => `  ${name.padEnd(22)} ${spec.help} (default ${DEFAULT_SETTINGS[name as keyof Settings]})`)
  .join('\n')}

Examples:
  rowpost data.db --create --unsafe
  INSERT_TOKEN=abc123 rowpost data.db -m metadata.json
  rowpost postgres://rowpost@db.internal:5432/sensors -m metadata.json`

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|::1|\[::1\])$/i

export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host)
}

/** A PostgreSQL URL, checked here so a typo is a usage error rather than a connection failure later. */
function parsePostgresUrl(url: string, source = 'the command line'): string {
  if (!POSTGRES_URL.test(url) || !URL.canParse(url)) {
    throw new UsageError(`${source}: not a PostgreSQL URL (expected postgres://USER[:PASSWORD]@HOST[:PORT]/DBNAME)`)
  }
  return url
}

function parsePort(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) > 65535) throw new UsageError(`Invalid port ${JSON.stringify(value)}: expected a number from 0 to 65535`)
  return Number(value)
}

/** `--cors=` values: comma-separated origins spelled exactly as browsers send them in `Origin`, since they are compared as text. */
function parseOrigins(list: string): string[] {
  const origins = list.split(',').map((origin) => origin.trim())
  for (const origin of origins) {
    const url = URL.canParse(origin) ? new URL(origin) : undefined
    const canonical = url?.protocol === 'http:' || url?.protocol === 'https:' ? url.origin : undefined
    if (canonical !== origin) {
      const hint = canonical === undefined ? '' : ` (did you mean ${canonical}?)`
      const expected = 'give http(s)://host[:port], lower case, no path; plain --cors allows any origin'
      throw new UsageError(`--cors: ${JSON.stringify(origin)} is not an origin${hint}: ${expected}`)
    }
  }
  return origins
}

/** Parses argv (without the `bun index.ts` part). Throws UsageError for anything it does not understand. */
const POSTGRES_URL = /^postgres(?:ql)?:\/\//i

/** `env` supplies DATABASE_URL, served when the command line names no database. */
export function parseArgs(argv: string[], env: Record<string, string | undefined> = {}): Command {
  const command: ServeCommand = {
    command: 'serve',
    files: [],
    postgres: [],
    immutable: [],
    create: false,
    memory: false,
    port: 8001,
    host: '127.0.0.1',
    cors: false,
    corsOrigins: [],
    unsafe: false,
    defaultDeny: false,
    settings: { ...DEFAULT_SETTINGS },
    logFormat: 'text',
  }
  const args = [...argv]
  if (args[0] === 'create-token') {
    if (args.includes('--help')) return { command: 'help', usage: CREATE_TOKEN_USAGE }
    try {
      return { command: 'create-token', ...parseCreateTokenArgs(args.slice(1)) }
    } catch (error) {
      if (error instanceof CreateTokenUsageError) throw new UsageError(error.message, CREATE_TOKEN_USAGE)
      throw error
    }
  }
  if (args[0] === 'backup') {
    if (args.length !== 3 || args.slice(1).some((arg) => arg.startsWith('-')))
      throw new UsageError('backup needs a database file and a file to write the copy to: rowpost backup DB_FILE OUT_FILE')
    return { command: 'backup', source: args[1]!, target: args[2]! }
  }
  if (args[0] === 'serve') args.shift()
  while (args.length) {
    let arg = args.shift()!
    let inline: string | undefined
    if (/^--[^=]+=/.test(arg)) {
      inline = arg.slice(arg.indexOf('=') + 1)
      arg = arg.slice(0, arg.indexOf('='))
    }
    const value = (what: string) => {
      const next = inline ?? args.shift()
      if (next === undefined) throw new UsageError(`${arg} needs ${what}`)
      return next
    }
    switch (arg) {
      case '--help':
        return { command: 'help', usage: USAGE }
      case '--version':
        return { command: 'version' }
      case '--create':
        command.create = true
        break
      case '--memory':
        command.memory = true
        break
      case '--cors':
        command.cors = true
        if (inline !== undefined) command.corsOrigins.push(...parseOrigins(inline))
        else if (/^https?:\/\//.test(args[0] ?? '')) command.corsOrigins.push(...parseOrigins(args.shift()!))
        break
      case '--unsafe':
        command.unsafe = true
        break
      case '--default-deny':
        command.defaultDeny = true
        break
      case '-i':
      case '--immutable':
        command.immutable.push(value('a database file'))
        break
      case '-m':
      case '--metadata':
        command.metadata = value('a metadata file')
        break
      case '-p':
      case '--port':
        command.port = parsePort(value('a port number'))
        break
      case '-h':
      case '--host':
        command.host = value('a host address')
        break
      case '--secret':
        command.secret = value('a secret')
        break
      case '--log-format': {
        const format = value('a format (text or json)')
        if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new UsageError(`--log-format must be text or json, not ${JSON.stringify(format)}`)
        command.logFormat = format as LogFormat
        break
      }
      case '--setting': {
        const name = value('a setting name and a value')
        const settingValue = args.shift()
        if (settingValue === undefined) throw new UsageError(`--setting ${name} needs a value`)
        try {
          command.settings = applySetting(command.settings, name, settingValue)
        } catch (error) {
          if (error instanceof SettingError) throw new UsageError(error.message)
          throw error
        }
        break
      }
      default:
        if (arg.startsWith('-')) throw new UsageError(`Unknown option ${arg}`)
        if (POSTGRES_URL.test(arg)) command.postgres.push(parsePostgresUrl(arg))
        else command.files.push(arg)
    }
  }
  const none = command.files.length === 0 && command.postgres.length === 0 && command.immutable.length === 0 && !command.memory
  if (none && env.DATABASE_URL) command.postgres.push(parsePostgresUrl(env.DATABASE_URL, 'DATABASE_URL'))
  else if (none) {
    throw new UsageError('No database given: name at least one FILE.db (with --create to make it) or postgres:// URL, set DATABASE_URL, or use --memory')
  }
  if (command.unsafe && !isLoopback(command.host)) {
    throw new UsageError(`--unsafe lets anyone write; it only works on a loopback host (127.0.0.1, ::1, localhost), not ${command.host}`)
  }
  return command
}
