/** Helpers for process-level tests: run the CLI, start a real server on port 0, wait for its output. */
import { join } from 'node:path'
import { afterEach } from 'bun:test'
import type { Subprocess } from 'bun'

export const ENTRY = join(import.meta.dir, '..', 'index.ts')

export interface CliResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** How to start rowpost: `bun index.ts` unless a test names another command (the compiled binary). */
export interface ProcessOptions {
  cwd?: string
  env?: Record<string, string>
  command?: string[]
}

/** Runs `bun index.ts ...args` to completion (for commands that exit). */
export async function runCli(args: string[], options: ProcessOptions = {}): Promise<CliResult> {
  const child = Bun.spawn([...(options.command ?? ['bun', ENTRY]), ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited])
  return { exitCode, stdout, stderr }
}

export interface RunningServer {
  child: Subprocess<'ignore', 'pipe', 'pipe'>
  url: string
  /** Everything the server printed to stdout so far. */
  output(): string
  stop(signal?: NodeJS.Signals): Promise<number>
}

/** Starts `bun index.ts ...args -p 0` and resolves once it prints the address it listens on. */
export async function startServer(args: string[], options: ProcessOptions = {}): Promise<RunningServer> {
  const child = Bun.spawn([...(options.command ?? ['bun', ENTRY]), ...args, '-p', '0'], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  let stdout = ''
  const decoder = new TextDecoder()
  const reader = child.stdout.getReader()
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${stdout}`)), 10_000)
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) {
          clearTimeout(timer)
          reject(new Error(`server exited before listening: ${stdout}${await new Response(child.stderr).text()}`))
          return
        }
        stdout += decoder.decode(value, { stream: true })
        const match = /at (http:\/\/\S+?)\/?\n/.exec(stdout)
        if (match) {
          clearTimeout(timer)
          resolve(match[1]!)
          break
        }
      }
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        stdout += decoder.decode(value, { stream: true })
      }
    })()
  })
  const server: RunningServer = {
    child,
    url,
    output: () => stdout,
    async stop(signal = 'SIGTERM') {
      child.kill(signal)
      return child.exited
    },
  }
  running.add(server)
  void child.exited.then(() => running.delete(server))
  return server
}

/** Every server startServer started that has not exited yet. */
const running = new Set<RunningServer>()

/**
 * After each test, kills every server startServer started that is still running, so neither a failed test nor one
 * that forgot to stop its server leaks a process. Returns a list that tests may keep their servers in.
 */
export function killServersAfterEach(): RunningServer[] {
  const servers: RunningServer[] = []
  afterEach(async () => {
    servers.splice(0)
    for (const server of [...running]) {
      if (server.child.exitCode === null && server.child.signalCode === null) await server.stop('SIGKILL')
    }
  })
  return servers
}
