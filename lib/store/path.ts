/** The storage protocol: a path (write, read, idempotency) is a generator that yields statement requests and receives their results. */
import type { TableInfo } from './table'
import type { Dialect } from './dialect'
import type { SqlValue } from '../values'
import type { Change } from '../feed'

/**
 * A statement a path wants run, named by `key` so a store prepares it once: the key must name everything `build`
 * builds the SQL from, and whether it reads safe integers. `build` runs only when the store has no statement under
 * that key yet.
 */
export interface StatementRef {
  key: string
  build: () => string
  /** Read every INTEGER as a bigint (exact beyond 2^53), as the read API needs. */
  safeIntegers?: boolean
}

/** What a `run` gives back: rows changed, and the rowid (identity) of the last row inserted. */
export interface RunResult {
  changes: number
  lastInsertRowid: number | bigint
  /** Rows the statement inserted rather than updated, from a dialect that `reportsInserted`. */
  inserted?: number
}

/**
 * Thrown by a path that lost a race with another process (two first attempts of one Idempotency-Key request): the
 * store rolls the request back and runs its path again, when it will find what the other process committed.
 */
export class RunAgain extends Error {
  constructor(
    reason: string,
    /** The answer to give if the request cannot run again (it has run too many times). */
    readonly otherwise?: unknown,
  ) {
    super(`the request must run again: ${reason}`)
  }
}

/** What a `runEach` gives back for its rows together. */
export interface EachResult {
  changes: number
  /** Rows inserted rather than updated, from a dialect that `reportsInserted`. */
  inserted?: number
  /** For each row, the rowid (identity) it was given when it was inserted; null when it was not, or had its key. */
  generated: Array<number | bigint | null>
  /** For each row, whether it changed anything (an ignored row did not); absent where a multi-row statement ran. */
  changed?: boolean[]
}

/**
 * [from, to) as runs whose lengths are powers of two, longest first: a table then needs at most a dozen multi-row
 * statements per row shape, whatever the batch sizes clients send, so the prepared statements stay few.
 */
export function powerOfTwoRuns(from: number, to: number): Array<[number, number]> {
  const runs: Array<[number, number]> = []
  while (from < to) {
    const length = 2 ** Math.floor(Math.log2(to - from))
    runs.push([from, from + length])
    from += length
  }
  return runs
}

/** A row of a `runEach` failed: `index` says which, `cause` is the engine's error. */
export class RowFailure extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(`row ${index} failed: ${(cause as Error)?.message ?? cause}`)
  }
}

/** One request from a path to its store; `want` says what comes back. */
export type StatementRequest =
  | { want: 'run'; statement: StatementRef; params: SqlValue[] }
  /**
   * One statement run once per row, in order: a networked store may send the rows together, or as statements of
   * many rows each (`many`, when every row has its key and no key repeats within one statement).
   */
  | { want: 'runEach'; statement: StatementRef; rows: SqlValue[][]; keys: Array<SqlValue[] | null>; many?: (count: number) => StatementRef }
  | { want: 'get' | 'all' | 'values'; statement: StatementRef; params: SqlValue[] }
  /** Schema changes and other statements run once, never cached (DDL); nothing comes back. */
  | { want: 'exec'; sql: string }
  /** The table's description as the store sees it now, or undefined when there is none. */
  | { want: 'table'; name: string }
  /** The table's exact row count as this transaction sees it (a number). */
  | { want: 'count'; name: string }
  /** The table's CREATE TABLE statement (a string). */
  | { want: 'schema'; name: string }
  /**
   * Takes `count` change ids for `name` when a feed follows it at `now`: the last id taken (a number), for the path to
   * log `changes` with, or null when it is not followed. Asked by every write, so a store answers it without SQL where
   * it can (SQLite keeps the set); a store may instead keep `changes`, log them itself before the transaction commits,
   * and answer null (PostgreSQL, once per table for a whole group).
   */
  | { want: 'feed'; name: string; count: number; changes: () => Change[]; now: number }
  /** Follows `name` with the change feed until `until` (ms since the epoch). */
  | { want: 'follow'; name: string; until: number; now: number }

/** What answers each request: `run` a RunResult, `get` a row object or null, `all` row objects, `values` row arrays. */
export type Answer =
  | RunResult
  | EachResult
  | Record<string, unknown>
  | null
  | Record<string, unknown>[]
  | unknown[][]
  | TableInfo
  | undefined
  | number
  | string
  | void

/** A path: written once against this protocol, driven synchronously by SQLite and asynchronously by a networked store. */
export type Path<T> = Generator<StatementRequest, T, Answer>

/** What the write path tells its store about row counts, which the store keeps exact through its transactions. */
export interface CountKeeper {
  add(table: string, delta: number): void
  /** The table's count is no longer known (a drop, a write whose effect on the count is unknown). */
  forget(table: string): void
}

/** What a path may use without asking its store: the SQL builders of its dialect, and the row counts kept beside the writer. */
export interface Session {
  readonly dialect: Dialect
  /** Absent on read-only sessions. */
  readonly counts?: CountKeeper
}

/** A statement keyed by its own SQL: for SQL built once, not per row shape. */
export function statementOf(sql: string, safeIntegers = false): StatementRef {
  return { key: safeIntegers ? `1${sql}` : `0${sql}`, build: () => sql, safeIntegers }
}

export function* exec(sql: string): Path<void> {
  yield { want: 'exec', sql }
}

export function* run(statement: StatementRef, params: SqlValue[] = []): Path<RunResult> {
  return (yield { want: 'run', statement, params }) as RunResult
}

export function* get<Row>(statement: StatementRef, params: SqlValue[] = []): Path<Row | null> {
  return (yield { want: 'get', statement, params }) as Row | null
}

export function* all<Row>(statement: StatementRef, params: SqlValue[] = []): Path<Row[]> {
  return (yield { want: 'all', statement, params }) as Row[]
}

export function* values(statement: StatementRef, params: SqlValue[] = []): Path<unknown[][]> {
  return (yield { want: 'values', statement, params }) as unknown[][]
}

export function* table(name: string): Path<TableInfo | undefined> {
  return (yield { want: 'table', name }) as TableInfo | undefined
}

export function* countRows(name: string): Path<number> {
  return (yield { want: 'count', name }) as number
}

export function* tableSchema(name: string): Path<string> {
  return (yield { want: 'schema', name }) as string
}

/** Drives a path asynchronously, as a networked store does: each request is awaited, and a failure thrown into the path. */
export async function driveAsync<T>(path: Path<T>, answer: (request: StatementRequest) => Answer | Promise<Answer>): Promise<T> {
  let step = path.next()
  while (!step.done) {
    let result: Answer
    try {
      result = await answer(step.value)
    } catch (error) {
      step = path.throw(error)
      continue
    }
    step = path.next(result)
  }
  return step.value
}

/**
 * Drives a path synchronously: each request is answered in the same event-loop turn, so a path run inside SQLite's
 * SAVEPOINT stays one synchronous unit. A failed request is thrown into the path at its `yield`, where it may catch it.
 */
export function drive<T>(path: Path<T>, answer: (request: StatementRequest) => Answer): T {
  let step = path.next()
  while (!step.done) {
    let result: Answer
    try {
      result = answer(step.value)
    } catch (error) {
      step = path.throw(error)
      continue
    }
    step = path.next(result)
  }
  return step.value
}
