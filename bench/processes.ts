/** Child processes of the bench: every one is tracked so that all of them die with the bench, whatever happens. */
import type { Subprocess } from 'bun'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const children = new Set<Subprocess>()

type SpawnOptions = NonNullable<Parameters<typeof Bun.spawn>[1]>

/** Bun.spawn, remembered until the child exits. */
export function spawnTracked(command: string[], options: SpawnOptions = {}): Subprocess {
  const child = Bun.spawn(command, { stdin: 'ignore', ...options })
  children.add(child)
  void child.exited.then(() => children.delete(child))
  return child
}

/** SIGKILLs every child still alive: for the end of the bench, an error or a signal. */
export function killAll(): void {
  for (const child of children) child.kill('SIGKILL')
  children.clear()
}

/** Resolves with the exit code, or kills the child and resolves null once `ms` have passed. */
export async function exitedWithin(child: Subprocess, ms: number): Promise<number | null> {
  let timer: Timer | undefined
  const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), ms)))
  const code = await Promise.race([child.exited, timeout])
  clearTimeout(timer)
  if (code === null) {
    child.kill('SIGKILL')
    await child.exited
  }
  return code
}

/** User + system CPU seconds of a process so far (fields 14 and 15 of /proc/PID/stat, in clock ticks of 1/100 s). */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

export interface Memory {
  /** Resident set now, in bytes. */
  rss: number
  /** Peak resident set over the process's life so far (VmHWM), in bytes. */
  peak: number
}

/** The process's resident memory from /proc/<pid>/status, or undefined once it has gone. */
export function memoryOf(pid: number): Memory | undefined {
  let status: string
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return undefined
  }
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024
  return { rss: kb('VmRSS'), peak: kb('VmHWM') }
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data() {} } })
  const port = listener.port
  listener.stop(true)
  return port
}

/** Whether a TCP connection to 127.0.0.1:port is accepted right now. */
export async function accepts(port: number): Promise<boolean> {
  try {
    const socket = await Bun.connect({ hostname: '127.0.0.1', port, socket: { data() {} } })
    socket.end()
    return true
  } catch {
    return false
  }
}

export interface Server {
  name: string
  child: Subprocess
  pid: number
  /** http://127.0.0.1:PORT, no trailing slash. */
  url: string
  stop(): Promise<void>
}

const LISTENING = /serving .*?at (http:\/\/127\.0\.0\.1:\d+)\//

/**
 * Starts a server that prints `... serving ... at http://127.0.0.1:PORT/` when it listens. Its stdout and stderr go to
 * files in `dir` (rowpost logs every request; a file costs the bench nothing to drain, unlike a pipe).
 */
export async function startServer(name: string, command: string[], dir: string, timeoutMs = 15_000): Promise<Server> {
  const stdoutPath = join(dir, 'server.out')
  const stderrPath = join(dir, 'server.err')
  const child = spawnTracked(command, { stdout: Bun.file(stdoutPath), stderr: Bun.file(stderrPath) })
  const read = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '')
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const match = LISTENING.exec(read(stdoutPath))
    if (match) {
      return {
        name,
        child,
        pid: child.pid,
        url: match[1]!,
        async stop() {
          child.kill('SIGTERM')
          await exitedWithin(child, 10_000)
        },
      }
    }
    const why = child.exitCode !== null ? `exited with ${child.exitCode}` : performance.now() > deadline ? 'did not listen in time' : ''
    if (why) {
      child.kill('SIGKILL')
      throw new Error(`${name} ${why}: ${(read(stderrPath) || read(stdoutPath)).trim().split('\n').slice(-3).join(' | ')}`)
    }
    await sleep(5)
  }
}
