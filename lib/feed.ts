/**
 * The change feed's paths: following a table, recording a write's changes in the write's own transaction (so a change
 * is logged exactly when it commits, in commit order, and never when it rolls back), and reading them back.
 */
import { get, run, statementOf, values, type Path, type Session, type StatementRequest } from './store/path'
import { stringifyJson } from './json'
import type { SqlValue } from './values'

export type ChangeOp = 'insert' | 'upsert' | 'update' | 'delete'

/** One change to record: what was done, to which row (its key, or rowid), and the columns the write set (JSON text). */
export interface Change {
  op: ChangeOp
  key: SqlValue[] | null
  row?: string
}

/** A logged change as a subscriber gets it: its JSON text, exact as written, and its id. */
export interface FeedEvent {
  id: number
  /** `{"id": …, "op": …, "key": […], "row": {…}, "at": ms}`. */
  json: string
}

/** A table's changes kept for resuming: the older ones are pruned, and resuming before them is a gap. */
export const RETAINED_CHANGES = 10_000
/** Prune once per this many ids, not at every write. */
const PRUNE_EVERY = 1_000

/** Key values as JSON: BLOBs in Datasette's `$base64` form. */
function keyJson(key: SqlValue[] | null): string | null {
  if (key === null) return null
  return stringifyJson(key.map((value) => (value instanceof Uint8Array ? { $base64: true, encoded: Buffer.from(value).toString('base64') } : value)))
}

/**
 * The question a write asks its store: is `table` followed, and if so, `count` ids for its changes, which `changes`
 * builds only then. A store may instead keep `changes` and log them itself later in the same transaction.
 */
export const feedRequest = (table: string, count: number, changes: () => Change[], now = Date.now()): StatementRequest => ({
  want: 'feed',
  name: table,
  count,
  changes,
  now,
})

/**
 * Records `count` changes of `table` when it is followed; `changes` builds them only then, so an unfollowed table costs
 * one question to the store and nothing else.
 */
export function* recordChangesPath(s: Session, table: string, count: number, changes: () => Change[], now = Date.now()): Path<void> {
  if (count === 0) return
  const last = (yield feedRequest(table, count, changes, now)) as number | null
  if (last !== null) yield* logChanges(s, table, last, changes(), now)
}

/** The log's rows for `changes` of `table`, the first taking id `first`. */
export function changeRows(table: string, first: number, changes: Change[], now: number): SqlValue[][] {
  return changes.map((change, i) => [table, first + i, change.op, keyJson(change.key), change.row ?? null, now])
}

/** Past the retained changes, once per PRUNE_EVERY ids: the id up to which a table's log is pruned after taking ids first..last. */
export function pruneThrough(first: number, last: number): number | undefined {
  return last > RETAINED_CHANGES && Math.floor(last / PRUNE_EVERY) > Math.floor((first - 1) / PRUNE_EVERY) ? last - RETAINED_CHANGES : undefined
}

/** Writes `changes`, the last of which takes id `last`, into the log (what recordChangesPath does once it has ids). */
export function* logChanges(s: Session, table: string, last: number, changes: Change[], now = Date.now()): Path<void> {
  const first = last - changes.length + 1
  const rows = changeRows(table, first, changes, now)
  yield { want: 'runEach', statement: statementOf(s.dialect.feed.record), rows, keys: rows.map(() => null) }
  const prune = pruneThrough(first, last)
  if (prune !== undefined) yield* run(statementOf(s.dialect.feed.prune), [table, prune])
}

export interface FeedState {
  /** The newest id taken. */
  last: number
  /** The first id of the current run of following: changes before it (and after the previous run) were not logged. */
  first: number
  /** The oldest id still kept, or null when none is. */
  oldest: number | null
}

/** Follows `table` until `until`, in the write transaction, and says where its ids stand. */
export function* followPath(s: Session, table: string, until: number, now = Date.now()): Path<FeedState> {
  yield { want: 'follow', name: table, until, now }
  return (yield* feedStatePath(s, table))!
}

/** Where a table's ids stand, or undefined when it was never followed. */
export function* feedStatePath(s: Session, table: string): Path<FeedState | undefined> {
  let state: { last_id: number | bigint; first_id: number | bigint } | null
  try {
    state = yield* get(statementOf(s.dialect.feed.state), [table])
  } catch (error) {
    if (s.dialect.isMissingTable(error)) return undefined
    throw error
  }
  if (!state) return undefined
  const oldest = (yield* get<{ id: number | bigint | null }>(statementOf(s.dialect.feed.oldest), [table]))?.id ?? null
  return { last: Number(state.last_id), first: Number(state.first_id), oldest: oldest === null ? null : Number(oldest) }
}

/** Up to `limit` changes of `table` after id `after`, oldest first. */
export function* readChangesPath(s: Session, table: string, after: number, limit: number): Path<FeedEvent[]> {
  const rows = yield* values(statementOf(s.dialect.feed.read), [table, after, limit])
  // The key and row are JSON text already, written exactly (64-bit integers, 1.0): they are spliced in, not re-parsed.
  return rows.map(([id, op, key, row, at]) => ({
    id: Number(id),
    json: `{"id":${Number(id)},"op":${JSON.stringify(op)},"key":${key ?? 'null'},"row":${row ?? 'null'},"at":${Number(at)}}`,
  }))
}
