/** A throwaway PostgreSQL cluster in a temporary directory (initdb + pg_ctl), shared by the tests and the PostgreSQL bench. */
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './processes'

export const INSTALL_HINT = 'PostgreSQL is not installed: run `apt-get install postgresql` (as root) or .ci/run, which installs it'

export interface ClusterOptions {
  /** Directory holding initdb, pg_ctl and postgres; default: $PG_BINDIR, `pg_config --bindir`, or the newest /usr/lib/postgresql/N/bin. */
  binDir?: string
  /** Extra server settings, passed as `-c name=value`. */
  settings?: Record<string, string | number>
}

export interface Cluster {
  /** The temporary directory: the cluster's files in data/, its unix socket and its log. */
  dir: string
  /** Directory of the unix socket `.s.PGSQL.<port>` (the same as dir). */
  socketDir: string
  port: number
  /** PID of the postmaster. */
  pid: number
  /** TCP URL of `database` (default `postgres`) as the superuser `postgres`, trust authentication. */
  url(database?: string): string
  /** The same over the unix socket, as `?host=<socketDir>`. */
  socketUrl(database?: string): string
  /** Stops the server at once (`pg_ctl stop -m immediate`) and removes the directory; safe to call twice. */
  stop(): void
}

function pgConfigBinDir(): string | undefined {
  if (!Bun.which('pg_config')) return undefined
  const result = Bun.spawnSync(['pg_config', '--bindir'], { stdout: 'pipe', stderr: 'ignore' })
  const dir = result.stdout.toString().trim()
  return result.exitCode === 0 && existsSync(join(dir, 'initdb')) ? dir : undefined
}

function debianBinDir(): string | undefined {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return undefined
  const versions = readdirSync(root).filter((name) => /^\d+$/.test(name) && existsSync(join(root, name, 'bin', 'initdb')))
  const newest = versions.sort((a, b) => Number(b) - Number(a))[0]
  return newest === undefined ? undefined : join(root, newest, 'bin')
}

/** Where initdb and pg_ctl are, or undefined when PostgreSQL is not installed. Debian keeps them off PATH. */
export function postgresBinDir(): string | undefined {
  const fromEnv = process.env.PG_BINDIR
  if (fromEnv) return existsSync(join(fromEnv, 'initdb')) ? fromEnv : undefined
  return pgConfigBinDir() ?? debianBinDir()
}

/** uid and gid of the `postgres` account, which root must run the server as (initdb refuses root). */
function postgresAccount(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.startsWith('postgres:'))
  const fields = line?.split(':')
  if (!fields) throw new Error('running as root, but there is no `postgres` account to run PostgreSQL as: install the postgresql package')
  return { uid: Number(fields[2]), gid: Number(fields[3]) }
}

function run(command: string[], what: string): void {
  const result = Bun.spawnSync(command, { stdin: 'ignore', stdout: 'pipe', stderr: 'pipe' })
  if (result.exitCode !== 0) {
    const output = `${result.stderr.toString()}${result.stdout.toString()}`.trim().split('\n').slice(-5).join(' | ')
    throw new Error(`${what} failed (exit ${result.exitCode}): ${output}`)
  }
}

const running = new Set<Cluster>()
let exitHookInstalled = false

/**
 * A postmaster outlives its parent (pg_ctl detaches it), so clusters still running when this process exits, or is
 * interrupted or terminated, are stopped here. (A SIGKILLed process cannot clean up: its clusters stay.)
 */
function installExitHook(): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  const stopAll = () => {
    for (const cluster of running) cluster.stop()
  }
  process.on('exit', stopAll)
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      stopAll()
      process.exit(code)
    })
  }
}

/**
 * Creates and starts a cluster: `initdb -U postgres -A trust --no-sync`, then `pg_ctl start -w` listening on 127.0.0.1:<free
 * port> and on a unix socket in the cluster's directory. As root, both run as `postgres` through runuser, and the directory
 * belongs to postgres with mode 755: postgres must write its socket there, and other users must reach it (without that a
 * client gets a misleading "connection refused"). The port is chosen free and retried if another process takes it first.
 */
export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const binDir = options.binDir ?? postgresBinDir()
  if (!binDir || !existsSync(join(binDir, 'initdb'))) throw new Error(INSTALL_HINT)
  const asRoot = process.getuid?.() === 0
  const as = (command: string[]) => (asRoot ? ['runuser', '-u', 'postgres', '--', ...command] : command)
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-pg-'))
  const data = join(dir, 'data')
  try {
    chmodSync(dir, 0o755)
    if (asRoot) {
      const { uid, gid } = postgresAccount()
      chownSync(dir, uid, gid)
    }
    // C collation sorts by code point, as SQLite's BINARY does; UTF8 whatever the machine's locale.
    run(as([join(binDir, 'initdb'), '-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']), 'initdb')
    const settings = Object.entries(options.settings ?? {}).map(([name, value]) => `-c ${name}=${value}`)
    for (let attempt = 1; ; attempt++) {
      const port = freePort()
      const serverOptions = [`-k '${dir}'`, `-p ${port}`, '-c listen_addresses=127.0.0.1', ...settings].join(' ')
      // -l: the server's output goes to a file; otherwise it would hold this process's pipes open after pg_ctl exits.
      const start = [join(binDir, 'pg_ctl'), '-D', data, '-w', '-t', '30', '-l', join(dir, 'server.log'), '-o', serverOptions, 'start']
      try {
        run(as(start), 'pg_ctl start')
        return registered(binDir, dir, port, as)
      } catch (error) {
        const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : ''
        if (attempt < 3 && /could not bind|Address already in use/.test(log)) continue
        throw new Error(`${(error as Error).message}; server log: ${log.trim().split('\n').slice(-3).join(' | ')}`)
      }
    }
  } catch (error) {
    rmSync(dir, { recursive: true, force: true })
    throw error
  }
}

function registered(binDir: string, dir: string, port: number, as: (command: string[]) => string[]): Cluster {
  const data = join(dir, 'data')
  const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0])
  const cluster: Cluster = {
    dir,
    socketDir: dir,
    port,
    pid,
    url: (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`,
    socketUrl: (database = 'postgres') => `postgres://postgres@localhost:${port}/${database}?host=${encodeURIComponent(dir)}`,
    stop() {
      if (!running.delete(cluster)) return
      try {
        if (existsSync(join(data, 'postmaster.pid'))) run(as([join(binDir, 'pg_ctl'), '-D', data, '-w', '-m', 'immediate', 'stop']), 'pg_ctl stop')
      } finally {
        // pg_ctl could fail only if the postmaster is wedged; it must not outlive the run either way.
        if (alive(pid)) process.kill(pid, 'SIGKILL')
        rmSync(dir, { recursive: true, force: true })
      }
    },
  }
  running.add(cluster)
  installExitHook()
  return cluster
}

/** Pids of the processes whose parent is `pid` (a postmaster's backends and background workers). */
export function childPids(pid: number): number[] {
  const result = Bun.spawnSync(['pgrep', '-P', `${pid}`], { stdout: 'pipe', stderr: 'ignore' })
  return result.stdout.toString().split('\n').filter(Boolean).map(Number)
}

/** Whether a process with this pid exists and has not exited: a zombie waiting for init to reap it counts as gone. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
  } catch {
    return false
  }
  try {
    // The state follows the parenthesised name, which may itself hold spaces or parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}
