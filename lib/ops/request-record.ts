/**
 * One record per request, filled as it runs (its id, the route template it matched, the rows it wrote, the error it
 * ended with) and read once it is answered by the log line and the metrics. It travels with the request's async
 * context, so the group commit can credit rows to the request whose work it just ran.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { CommitObserver } from '../store/sqlite/group-commit'

export interface RequestRecord {
  id: string
  /** The route template (`/:database/:table/-/insert`), or `unmatched` when no route took the request. */
  route: string
  rowsWritten: number
  /** The API error code the request was answered with (`database_busy`), if any. */
  errorCode?: string
}

const records = new AsyncLocalStorage<RequestRecord>()

export const withRequestRecord = <T>(record: RequestRecord, handle: () => T): T => records.run(record, handle)

/** The record of the request running now; undefined outside one (an app handled in-process by a test). */
export const currentRequestRecord = (): RequestRecord | undefined => records.getStore()

/** Credits each request's rows to its record; one observer shared by every database and app. */
export const rowsToRequestRecord: CommitObserver = {
  requestWritten(rows) {
    const record = records.getStore()
    if (record) record.rowsWritten += rows
  },
  batchCommitted() {},
}
