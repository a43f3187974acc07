#!/usr/bin/env bun
/** rowpost's entry point: parse the command line, load the config, open the databases, build the app, listen. */
import { basename, extname } from 'node:path'
import packageJson from './package.json'
import { parseArgs, UsageError, type ServeCommand } from './lib/cli'
import { ConfigError, loadConfig } from './lib/config'
import { DatabaseOpenError, RowpostDatabase } from './lib/database'
import { createApp } from './lib/http/app'
import { PostgresStore, databaseNameOf, redactedUrl } from './lib/store/postgres/store'
import type { Store } from './lib/store/store'
import { serve } from './lib/http/server'
import { BackupError, backupDatabase } from './lib/ops/backup'
import { checkpointsOnExit } from './lib/ops/litestream'
import { mintToken } from './lib/signed-tokens'

const SHUTDOWN_GRACE_MS = 10_000

/** HMAC keys shorter than this can be guessed offline from any token they signed. */
const SHORT_SECRET_BYTES = 32

/**
 * The secret that signs `dstok_` tokens, from `--secret` or ROWPOST_SECRET: undefined when neither is given (signed
 * tokens refused). An empty one would let anyone forge tokens, so it is refused; a short one is warned about.
 */
function secretOf(flag: string | undefined): string | undefined {
  const secret = flag ?? process.env.ROWPOST_SECRET
  if (secret === undefined) return undefined
  const source = flag === undefined ? 'ROWPOST_SECRET' : '--secret'
  if (secret === '') {
    throw new ConfigError(
      `${source} is empty, which would let anyone forge dstok_ tokens: ` + 'give a random secret (openssl rand -hex 32), or unset it to refuse signed tokens',
    )
  }
  const bytes = Buffer.byteLength(secret)
  if (bytes < SHORT_SECRET_BYTES) {
    console.error(
      `rowpost: warning: ${source} is ${bytes} bytes; a secret under ${SHORT_SECRET_BYTES} bytes can be guessed from any token it signed ` +
        '(openssl rand -hex 32 makes a good one)',
    )
  }
  return secret
}

/** A host for a URL: IPv6 addresses in brackets, once, however `-h` was spelled. */
const urlHost = (host: string) => {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  return bare.includes(':') ? `[${bare}]` : bare
}

/**
 * Opens every database of the command line; names are file stems (a PostgreSQL database's own name), with `_2`, `_3`…
 * added on a clash, as Datasette does.
 */
async function openDatabases(command: ServeCommand): Promise<Store[]> {
  const taken = new Set<string>()
  const uniqueName = (stem: string) => {
    let name = stem
    for (let n = 2; taken.has(name); n++) name = `${stem}_${n}`
    taken.add(name)
    return name
  }
  const opened: Store[] = []
  try {
    const { durability, group_commit: groupCommit, busy_timeout_ms: busyTimeoutMs } = command.settings
    const writeOptions = { durability, groupCommit: groupCommit === 'on', busyTimeoutMs }
    for (const file of command.files) {
      const database = RowpostDatabase.open(file, { ...writeOptions, create: command.create, name: uniqueName(basename(file, extname(file))) })
      opened.push(database)
      // Litestream checkpoints once it has copied the WAL; SQLite's automatic checkpoints would race it.
      if (command.settings.litestream === 'on') database.connection.run('PRAGMA wal_autocheckpoint = 0')
    }
    for (const file of command.immutable) opened.push(RowpostDatabase.open(file, { immutable: true, name: uniqueName(basename(file, extname(file))) }))
    if (command.memory) opened.push(RowpostDatabase.open(':memory:', { ...writeOptions, name: uniqueName('_memory') }))
    for (const url of command.postgres) {
      try {
        opened.push(await PostgresStore.open(url, { groupCommit: groupCommit === 'on', name: uniqueName(databaseNameOf(url)) }))
      } catch (error) {
        // The URL may hold a password: the message names the redacted URL, and the driver's own words.
        throw new DatabaseOpenError(`Cannot open ${redactedUrl(url)} as a PostgreSQL database: ${(error as Error).message}`)
      }
    }
  } catch (error) {
    for (const database of opened) database.close()
    throw error
  }
  return opened
}

async function start(command: ServeCommand): Promise<number> {
  const secret = secretOf(command.secret)
  const config = command.metadata ? loadConfig(command.metadata) : undefined
  for (const action of config?.ignoredActions ?? [])
    console.error(`rowpost: note: permission ${JSON.stringify(action)} in ${command.metadata} is not used by rowpost`)
  const databases = await openDatabases(command)
  const app = createApp({
    databases,
    config,
    settings: command.settings,
    unsafe: command.unsafe,
    defaultDeny: command.defaultDeny,
    cors: command.cors,
    corsOrigins: command.corsOrigins,
    version: packageJson.version,
    secret,
  })
  let server: ReturnType<typeof serve>['server']
  let flushLog: () => Promise<void>
  try {
    ;({ server, flushLog } = serve(app, { port: command.port, host: command.host, logFormat: command.logFormat }))
  } catch (error) {
    for (const database of databases) database.close()
    const code = (error as { code?: string }).code
    if (code === 'EADDRINUSE') throw new ConfigError(`Port ${command.port} is already in use on ${command.host}`)
    throw new ConfigError(`Cannot listen on ${command.host}:${command.port}: ${(error as Error).message}`)
  }
  let stopping = false
  const shutdown = async (signal: string) => {
    if (stopping) return
    stopping = true
    console.log(`rowpost: ${signal}: finishing in-flight requests`)
    // Feed subscriptions never end by themselves: they are told why and closed, so in-flight requests can finish.
    app.feeds.close('the server is stopping')
    const force = setTimeout(() => server.stop(true), SHUTDOWN_GRACE_MS)
    await server.stop()
    clearTimeout(force)
    for (const database of databases) {
      if (checkpointsOnExit(database.path, command.settings.litestream)) database.checkpoint()
      else console.log(`rowpost: leaving ${database.path}'s WAL to Litestream (setting litestream: ${command.settings.litestream})`)
      await database.close()
    }
    await flushLog()
    process.exit(0)
  }
  process.on('SIGTERM', () => void shutdown('SIGTERM'))
  process.on('SIGINT', () => void shutdown('SIGINT'))
  // Announce only once the signal handlers are in place: a supervisor may signal as soon as it sees this line.
  const names = databases.map((database) => database.name).join(', ')
  console.log(`rowpost ${packageJson.version} serving ${names} at http://${urlHost(command.host)}:${server.port}/`)
  if (command.unsafe) console.log('rowpost: --unsafe: anyone who can reach this port may read and write every database')
  if (command.unsafe && command.cors && command.corsOrigins.length === 0) {
    console.error(
      'rowpost: warning: --cors with --unsafe and no origin list: any web page open in a browser on this machine can read and write ' +
        'every database (list the pages allowed with --cors=ORIGIN,...)',
    )
  }
  return 0
}

async function main(argv: string[]): Promise<number> {
  let command
  try {
    command = parseArgs(argv, process.env)
  } catch (error) {
    if (!(error instanceof UsageError)) throw error
    console.error(`rowpost: ${error.message}\n\n${error.usage}`)
    return 2
  }
  if (command.command === 'help') {
    console.log(command.usage)
    return 0
  }
  if (command.command === 'create-token') {
    let secret
    try {
      secret = secretOf(command.secret)
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error
      console.error(`rowpost: ${error.message}`)
      return 2
    }
    if (secret === undefined) {
      console.error('rowpost: create-token needs a secret: pass --secret or set ROWPOST_SECRET (the server must use the same one)')
      return 2
    }
    console.log(mintToken(secret, { actorId: command.actorId, restrictions: command.restrictions, expiresAfter: command.expiresAfter }))
    return 0
  }
  if (command.command === 'version') {
    console.log(`rowpost ${packageJson.version}`)
    return 0
  }
  if (command.command === 'backup') {
    try {
      const { bytes, tables } = backupDatabase(command.source, command.target)
      console.log(`rowpost: backed up ${command.source} to ${command.target} (${tables} tables, ${bytes} bytes, quick_check ok)`)
      return 0
    } catch (error) {
      if (!(error instanceof BackupError)) throw error
      console.error(`rowpost: ${error.message}`)
      return 1
    }
  }
  try {
    return await start(command)
  } catch (error) {
    if (error instanceof ConfigError || error instanceof DatabaseOpenError) {
      console.error(`rowpost: ${error.message}`)
      return 1
    }
    throw error
  }
}

const exitCode = await main(process.argv.slice(2))
if (exitCode !== 0) process.exit(exitCode)
