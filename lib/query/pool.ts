/**
 * Runs SQL queries in child processes, so a slow query never holds the event loop, and kills one that passes its time
 * limit. Processes rather than Worker threads: Worker.terminate() cannot stop a thread inside sqlite3_step (bun:sqlite
 * has no interrupt), so a runaway query would go on burning a core; SIGKILL stops it.
 */
import type { Subprocess } from 'bun'
import { fileURLToPath } from 'node:url'
import { QueryInterrupted } from '../errors'
import type { SqlValue } from '../values'
import type { QueryJob, QueryOutcome } from './execute'
import type { WorkerReply, WorkerRequest } from './worker'

/** Set for a query process started by a compiled binary: the binary's entry (lib/ops/binary-entry.ts) then runs worker.ts. */
export const QUERY_WORKER_ENV = 'ROWPOST_QUERY_WORKER'

/**
 * How to start a query process. A `bun build --compile` binary has no worker.ts on disk and no separate bun to run
 * it with (its modules live under /$bunfs/), so it starts itself again, marked by QUERY_WORKER_ENV.
 */
const WORKER_COMMAND = import.meta.url.includes('/$bunfs/')
  ? { cmd: [process.execPath], env: { ...process.env, [QUERY_WORKER_ENV]: '1' } }
  : { cmd: [process.execPath, fileURLToPath(new URL('./worker.ts', import.meta.url))], env: undefined }

/** One query process, answering one request at a time. */
class QueryProcess {
  private readonly child: Subprocess
  private waiting: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void } | null = null
  private exited = false

  constructor(onExit: (process: QueryProcess) => void) {
    this.child = Bun.spawn(WORKER_COMMAND.cmd, {
      env: WORKER_COMMAND.env,
      ipc: (reply: WorkerReply) => {
        const waiting = this.waiting
        this.waiting = null
        waiting?.resolve(reply)
      },
      serialization: 'advanced',
      stdio: ['ignore', 'inherit', 'inherit'],
      onExit: () => {
        this.exited = true
        this.waiting?.reject(new Error('The query process exited'))
        this.waiting = null
        onExit(this)
      },
    })
    this.child.unref()
  }

  get alive(): boolean {
    return !this.exited
  }

  /** Sends one request; rejects with QueryInterrupted (and kills the process) when no reply comes within `timeLimitMs`. */
  request(message: WorkerRequest, timeLimitMs: number): Promise<WorkerReply> {
    return new Promise<WorkerReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null
        this.kill()
        reject(new QueryInterrupted())
      }, timeLimitMs)
      this.waiting = {
        resolve: (reply) => {
          clearTimeout(timer)
          resolve(reply)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      }
      this.child.send(message)
    })
  }

  kill(): void {
    if (this.exited) return
    this.exited = true
    this.child.kill('SIGKILL')
  }
}

export interface QueryStream {
  columns: string[]
  /** Batches of rows, each fetched when the previous one has been consumed; returning early kills the stream's process. */
  batches: AsyncGenerator<SqlValue[][]>
  /** Ends the stream early (its client went away), also when `batches` was never started; safe to call twice. */
  close(): void
}

export type StreamStart = { ok: true; stream: QueryStream } | Extract<QueryOutcome, { ok: false }>

export class QueryPool {
  private readonly idle: QueryProcess[] = []
  private readonly all = new Set<QueryProcess>()
  private readonly queue: Array<(process: QueryProcess) => void> = []
  /** Streams running, each in a process of its own, and the streams waiting for one of them to end. */
  private streams = 0
  private readonly streamQueue: Array<() => void> = []
  private nextId = 1
  private closed = false

  constructor(private size: number) {}

  /** Allows up to `size` processes, when that is more than now. */
  grow(size: number): void {
    this.size = Math.max(this.size, size)
  }

  /** Runs a query on a pooled process; resolves with its rows or its refusal, rejects with QueryInterrupted past the limit. */
  async run(job: QueryJob, timeLimitMs: number): Promise<QueryOutcome> {
    const process = await this.acquire()
    let reply: WorkerReply
    try {
      reply = await process.request({ type: 'query', id: this.nextId++, job }, timeLimitMs)
    } finally {
      this.release(process)
    }
    if (reply.type !== 'outcome') throw new Error(`Unexpected reply from a query process: ${reply.type}`)
    return reply.outcome
  }

  /**
   * Streams every row of a query in batches from a process of its own (a slow client must not hold a pooled one). Each
   * batch must arrive within `timeLimitMs`; the process is killed when the stream ends, fails or is abandoned.
   */
  async stream(job: QueryJob, timeLimitMs: number, batchSize: number): Promise<StreamStart> {
    // At most `size` streams at once, as many as pooled queries: each holds a whole process (tens of MB) for as long
    // as its client reads, so without a cap a few hundred slow downloads would exhaust the machine's memory.
    await this.streamSlot()
    const process = new QueryProcess(() => {})
    let ended = false
    const end = () => {
      if (ended) return
      ended = true
      process.kill()
      this.streams--
      this.streamQueue.shift()?.()
    }
    const id = this.nextId++
    let first: WorkerReply
    try {
      first = await process.request({ type: 'stream', id, job, batchSize }, timeLimitMs)
    } catch (error) {
      end()
      throw error
    }
    if (first.type === 'outcome') {
      end()
      if (first.outcome.ok) throw new Error('A stream answered rows without columns')
      return first.outcome
    }
    if (first.type !== 'columns') {
      end()
      throw new Error(`Unexpected reply from a query process: ${first.type}`)
    }
    async function* batches(): AsyncGenerator<SqlValue[][]> {
      try {
        for (;;) {
          const reply = await process.request({ type: 'pull', id }, timeLimitMs)
          if (reply.type === 'outcome') throw new Error(reply.outcome.ok ? 'Unexpected rows' : reply.outcome.message)
          if (reply.type !== 'batch') throw new Error(`Unexpected reply from a query process: ${reply.type}`)
          if (reply.rows.length > 0) yield reply.rows
          if (reply.done) return
        }
      } finally {
        end()
      }
    }
    return { ok: true, stream: { columns: first.columns, batches: batches(), close: end } }
  }

  /** Streams running now, for tests and metrics. */
  get runningStreams(): number {
    return this.streams
  }

  private streamSlot(): Promise<void> {
    if (this.streams < this.size) {
      this.streams++
      return Promise.resolve()
    }
    return new Promise((resolve) =>
      this.streamQueue.push(() => {
        this.streams++
        resolve()
      }),
    )
  }

  /** Kills every process; queries still running reject. */
  close(): void {
    this.closed = true
    for (const process of this.all) process.kill()
  }

  private acquire(): Promise<QueryProcess> {
    while (this.idle.length > 0) {
      const process = this.idle.pop()!
      if (process.alive) return Promise.resolve(process)
    }
    if (this.all.size < this.size) return Promise.resolve(this.spawn())
    return new Promise((resolve) => this.queue.push(resolve))
  }

  private release(process: QueryProcess): void {
    // A process killed for its time limit is replaced by a fresh one for whoever waits.
    const next = process.alive ? process : this.closed ? null : this.spawn()
    if (!next) return
    const waiter = this.queue.shift()
    if (waiter) waiter(next)
    else this.idle.push(next)
  }

  private spawn(): QueryProcess {
    const process = new QueryProcess((exited) => this.all.delete(exited))
    this.all.add(process)
    return process
  }
}
