/**
 * One record per request, filled as it runs (its id, the route template it matched, the rows it wrote, the error it
 * ended with) and read once it is answered by the log line and the metrics. It is found from the Request itself:
 * AsyncLocalStorage would carry it too, but on Bun it made every await of every request dearer (W1 lost ~5% req/s).
 */
import type { RowTally } from '../store/store'

export interface RequestRecord extends RowTally {
  id: string
  /** The route template (`/:database/:table/-/insert`), or `unmatched` when no route took the request. */
  route: string
  /** The API error code the request was answered with (`database_busy`), if any. */
  errorCode?: string
}

const records = new WeakMap<Request, RequestRecord>()

export function recordRequest(request: Request, record: RequestRecord): void {
  records.set(request, record)
}

/** The request's record; undefined for a request that did not come through the server (an app handled in-process by a test). */
export const requestRecordOf = (request: Request): RequestRecord | undefined => records.get(request)
