/** Every row of a filtered, sorted table in keyset-paginated batches, for streamed exports in constant memory. */
import type { RowpostDatabase, TableInfo } from './database'
import { findTable, readTableValues, type Page, type PageRequest } from './reader'
import type { SqlValue } from './values'

/** Lets other requests (writes, reads, health checks) run between two batches of a long export. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The first page, read at once so that a bad filter or token is a 400 before any byte is sent, and a generator of it
 * and every later page. Each batch is a fresh keyset query after the last row sent, so no statement or transaction is
 * held open while the client reads, and memory holds one batch whatever the table's size.
 */
export function tableBatches(db: RowpostDatabase, table: TableInfo, request: PageRequest): { first: Page<SqlValue[]>; batches: AsyncGenerator<SqlValue[][]> } {
  const first = readTableValues(db, table, request)
  async function* batches(): AsyncGenerator<SqlValue[][]> {
    let page = first
    yield page.rows
    while (page.next !== null) {
      await yieldToEventLoop()
      // A table dropped mid-export ends the stream with an error, not with what looks like a complete file.
      page = readTableValues(db, findTable(db, table.name), { ...request, next: page.next })
      yield page.rows
    }
  }
  return { first, batches: batches() }
}
