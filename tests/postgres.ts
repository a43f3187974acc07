/** A throwaway PostgreSQL cluster per test file (started in beforeAll, removed in afterAll) and a fresh database per test. */
import { SQL } from 'bun'
import { afterAll, afterEach, beforeAll, beforeEach } from 'bun:test'
import { alive, childPids, startCluster, type Cluster, type ClusterOptions } from '../bench/postgres-cluster'

/**
 * A file's cluster holds a database per test (1–2 GB after a few hundred), and stopping and removing it has taken up
 * to 38 s on a loaded machine, past the 5 s Bun gives a hook by default.
 */
const CLUSTER_TEARDOWN_MS = 120_000

export interface TestDatabase {
  /** `t_<n>`: lower case, so it needs no quoting. */
  name: string
  /** TCP URL as the superuser `postgres`. */
  url: string
  /** The same over the unix socket. */
  socketUrl: string
  /** A new client of this database (closed after the test). */
  sql(options?: Partial<SQL.PostgresOrMySQLOptions>): SQL
}

export interface TestPostgres {
  /** TCP URL of the `postgres` database. */
  readonly url: string
  readonly socketDir: string
  readonly port: number
  readonly cluster: Cluster
  /** A new client of the `postgres` database (closed after the test, or in afterAll when made outside a test). */
  sql(options?: Partial<SQL.PostgresOrMySQLOptions>): SQL
  /** `CREATE DATABASE t_<n>`: an empty database for one test. */
  freshDatabase(): Promise<TestDatabase>
}

/** Pids of processes named `postgres` run by the account the servers run as. */
export function postgresPids(): number[] {
  const user = process.getuid?.() === 0 ? 'postgres' : `${process.getuid?.()}`
  const result = Bun.spawnSync(['pgrep', '-u', user, '-x', 'postgres'], { stdout: 'pipe', stderr: 'ignore' })
  return result.stdout.toString().split('\n').filter(Boolean).map(Number).filter(alive)
}

/**
 * Starts a cluster for the calling test file. When PostgreSQL is missing or does not start, every use of the returned
 * object throws why (with the install hint), so the tests that need it fail rather than skip. Clients are closed after each
 * test; afterAll stops the server, removes its directory and throws if any postgres process it started is still alive.
 */
export function usePostgres(options: ClusterOptions = {}): TestPostgres {
  let cluster: Cluster | undefined
  let failure: Error | undefined
  let databases = 0
  const fileClients: SQL[] = []
  // Bun.SQL's pool opens several connections at once, so a file's clients would soon pass max_connections if kept.
  const testClients: SQL[] = []
  let inTest = false
  const closeAll = (clients: SQL[]) => Promise.allSettled(clients.splice(0).map((sql) => sql.close({ timeout: 0 })))

  const started = (): Cluster => {
    if (cluster) return cluster
    throw failure ?? new Error('usePostgres: the cluster is used before beforeAll ran')
  }
  const client = (url: string, extra: Partial<SQL.PostgresOrMySQLOptions> = {}): SQL => {
    const sql = new SQL({ url, ...extra } as SQL.PostgresOrMySQLOptions)
    ;(inTest ? testClients : fileClients).push(sql)
    return sql
  }

  beforeAll(async () => {
    try {
      cluster = await startCluster(options)
    } catch (error) {
      failure = error as Error
      throw failure
    }
  })

  beforeEach(() => {
    inTest = true
  })

  afterEach(async () => {
    inTest = false
    await closeAll(testClients)
  })

  afterAll(async () => {
    if (!cluster) return
    const { pid } = cluster
    const children = childPids(pid)
    await closeAll(fileClients)
    cluster.stop()
    cluster = undefined
    // Only this cluster's processes: other test runs on the machine may have clusters of their own.
    const left = [pid, ...children].filter(alive)
    if (left.length) throw new Error(`postgres processes still running after the cluster stopped: ${left}`)
  }, CLUSTER_TEARDOWN_MS)

  return {
    get url() {
      return started().url()
    },
    get socketDir() {
      return started().socketDir
    },
    get port() {
      return started().port
    },
    get cluster() {
      return started()
    },
    sql: (extra) => client(started().url(), extra),
    async freshDatabase() {
      const running = started()
      const name = `t_${++databases}`
      const admin = client(running.url(), { max: 1 })
      await admin.unsafe(`CREATE DATABASE ${name}`)
      await admin.close()
      return { name, url: running.url(name), socketUrl: running.socketUrl(name), sql: (extra) => client(running.url(name), extra) }
    },
  }
}
