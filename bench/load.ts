/** The load generators: wrk with bench/lua/insert.lua, or autocannon (through bunx) where wrk cannot be installed. */
import { join } from 'node:path'
import { exitedWithin, spawnTracked } from './processes'
import { jsonBody } from './rows'

export interface LoadOptions {
  /** Full URL, path and query included. */
  url: string
  rowsPerRequest: number
  seconds: number
  connections: number
  threads: number
  token?: string
  /** First id of the range this run's rows take (wrk only). */
  idBase: number
}

export interface LoadResult {
  /** Requests answered 2xx/3xx. */
  okRequests: number
  /** Answers with another status, plus socket errors and timeouts. */
  failedRequests: number
  seconds: number
  p50Ms: number
  p99Ms: number
}

export interface LoadGenerator {
  name: string
  /** Whether rows carry ids (so targets can use ?pk=id); autocannon sends one fixed body, so its rows go to rowid tables. */
  uniqueIds: boolean
  run(options: LoadOptions): Promise<LoadResult>
}

/** Runs a load generator to completion (killed if it overstays), returning its stdout. */
async function drive(command: string[], env: Record<string, string>, seconds: number): Promise<string> {
  const child = spawnTracked(command, { env: { ...process.env, ...env }, stdout: 'pipe', stderr: 'pipe' })
  const stdout = new Response(child.stdout as ReadableStream).text()
  const stderr = new Response(child.stderr as ReadableStream).text()
  const code = await exitedWithin(child, (seconds + 60) * 1000)
  if (code !== 0) throw new Error(`${command[0]} ${code === null ? 'overran its time and was killed' : `exited ${code}`}: ${(await stderr).trim().slice(-300)}`)
  return stdout
}

export const wrk: LoadGenerator = {
  name: 'wrk',
  uniqueIds: true,
  async run(options) {
    const script = join(import.meta.dir, 'lua', 'insert.lua')
    const timeout = Math.max(10, options.seconds)
    const command = [
      'wrk',
      '-t',
      `${options.threads}`,
      '-c',
      `${options.connections}`,
      '-d',
      `${options.seconds}s`,
      '--timeout',
      `${timeout}s`,
      '-s',
      script,
      options.url,
    ]
    const env = { BENCH_BATCH: `${options.rowsPerRequest}`, BENCH_ID_BASE: `${options.idBase}`, BENCH_TOKEN: options.token ?? '' }
    const stdout = await drive(command, env, options.seconds)
    const line = stdout.split('\n').find((text) => text.startsWith('BENCH_RESULT '))
    if (!line) throw new Error(`wrk printed no result: ${stdout.trim().slice(-300)}`)
    const result = JSON.parse(line.slice('BENCH_RESULT '.length)) as Record<string, number>
    const socketErrors = result.connect! + result.read! + result.write! + result.timeout!
    return {
      okRequests: result.requests! - result.status!,
      failedRequests: result.status! + socketErrors,
      seconds: result.duration_us! / 1e6,
      p50Ms: result.p50_us! / 1000,
      p99Ms: result.p99_us! / 1000,
    }
  },
}

export const autocannon: LoadGenerator = {
  name: 'autocannon',
  uniqueIds: false,
  async run(options) {
    const body = jsonBody(0, options.rowsPerRequest).replaceAll(/"id":\d+,/g, '')
    const headers = ['-H', 'content-type=application/json', ...(options.token ? ['-H', `authorization=Bearer ${options.token}`] : [])]
    const command = [
      'bunx',
      'autocannon',
      '--json',
      '-c',
      `${options.connections}`,
      '-d',
      `${options.seconds}`,
      '-t',
      `${Math.max(10, options.seconds)}`,
      '-m',
      'POST',
      ...headers,
      '-b',
      body,
      options.url,
    ]
    const result = JSON.parse(await drive(command, {}, options.seconds)) as {
      requests: { total: number }
      non2xx: number
      errors: number
      timeouts: number
      duration: number
      latency: { p50: number; p99: number }
    }
    return {
      okRequests: result.requests.total - result.non2xx,
      failedRequests: result.non2xx + result.errors + result.timeouts,
      seconds: result.duration,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
    }
  },
}

/** wrk if it is on PATH or Debian can install it (as root), else autocannon; BENCH_LOADGEN=wrk|autocannon forces one. */
export async function chooseLoadGenerator(forced: string | undefined, log: (line: string) => void): Promise<LoadGenerator> {
  if (forced === 'autocannon') return autocannon
  if (Bun.which('wrk')) return wrk
  if (process.getuid?.() === 0 && Bun.which('apt-get')) {
    log('wrk is missing: apt-get update && apt-get install -y wrk')
    const install = spawnTracked(['sh', '-c', 'apt-get update && apt-get install -y wrk'], {
      stdout: 'inherit',
      stderr: 'inherit',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    })
    await exitedWithin(install, 600_000)
    if (Bun.which('wrk')) return wrk
  }
  if (forced === 'wrk') throw new Error('wrk is not installed and could not be installed with apt-get')
  log('wrk unavailable: falling back to autocannon via bunx (rows without ids, into rowid tables)')
  return autocannon
}
