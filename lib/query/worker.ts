/** A query process: read-only connections, one job at a time, killed by the pool when a query passes its time limit. */
import { Database } from 'bun:sqlite'
import { QueryRefused, checkQuery, prepareQuery, rowBatches, runQuery, type QueryJob } from './execute'
import type { SqlValue } from '../values'

export type WorkerRequest =
  | { type: 'query'; id: number; job: QueryJob }
  | { type: 'stream'; id: number; job: QueryJob; batchSize: number }
  | { type: 'pull'; id: number }

export type WorkerReply =
  | { id: number; type: 'outcome'; outcome: ReturnType<typeof runQuery> }
  | { id: number; type: 'columns'; columns: string[] }
  | { id: number; type: 'batch'; rows: SqlValue[][]; done: boolean }

const connections = new Map<string, Database>()

/** One read-only connection per file, refusing writes twice over: opened read-only and with query_only set. */
function connection(path: string): Database {
  let found = connections.get(path)
  if (!found) {
    found = new Database(path, { readonly: true })
    found.run('PRAGMA query_only = 1')
    found.run('PRAGMA busy_timeout = 5000')
    connections.set(path, found)
  }
  return found
}

let stream: { id: number; batches: Generator<SqlValue[][]> } | null = null

function handle(message: WorkerRequest): WorkerReply {
  switch (message.type) {
    case 'query':
      return { id: message.id, type: 'outcome', outcome: runQuery(connection(message.job.path), message.job) }
    case 'stream': {
      const db = connection(message.job.path)
      try {
        checkQuery(db, message.job.sql, message.job.privacy)
        const prepared = prepareQuery(db, message.job.sql, message.job.params)
        stream = { id: message.id, batches: rowBatches(prepared, message.batchSize) }
        return { id: message.id, type: 'columns', columns: prepared.statement.columnNames }
      } catch (error) {
        if (error instanceof QueryRefused) return { id: message.id, type: 'outcome', outcome: error.failure }
        throw error
      }
    }
    case 'pull': {
      if (!stream || stream.id !== message.id) return { id: message.id, type: 'batch', rows: [], done: true }
      try {
        const next = stream.batches.next()
        if (next.done) stream = null
        return { id: message.id, type: 'batch', rows: next.done ? [] : next.value, done: next.done === true }
      } catch (error) {
        stream = null
        if (error instanceof QueryRefused) return { id: message.id, type: 'outcome', outcome: error.failure }
        throw error
      }
    }
  }
}

process.on('message', (message: WorkerRequest) => {
  let reply: WorkerReply
  try {
    reply = handle(message)
  } catch (error) {
    // What is left is SQLite's (a file that cannot be opened, say): the query's error, not the process's end.
    reply = { id: message.id, type: 'outcome', outcome: { ok: false, kind: 'sqlite', message: (error as Error).message } }
  }
  process.send!(reply)
})
// The server went away (even by kill -9): nothing is left to answer.
process.on('disconnect', () => process.exit(0))
