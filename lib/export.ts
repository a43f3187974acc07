/** Every row of a filtered, sorted table in keyset-paginated batches, for streamed exports in constant memory. */
import type { TableInfo } from './database'
import { TableNotFound } from './errors'
import { readTableValues, type Page, type PageRequest } from './reader'
import type { Store } from './store/store'
import type { SqlValue } from './values'

/** Lets other requests (writes, reads, health checks) run between two batches of a long export. */
const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/**
 * The first page, read at once so that a bad filter or token is a 400 before any byte is sent, and a generator of it
 * and every later page. Each batch is a fresh keyset query after the last row sent, so no statement or transaction is
 * held open while the client reads, and memory holds one batch whatever the table's size.
 */
export async function tableBatches(
  db: Store,
  table: TableInfo,
  request: PageRequest,
): Promise<{ first: Page<SqlValue[]>; batches: AsyncGenerator<SqlValue[][]> }> {
  const first = await readTableValues(db, table, request)
  async function* batches(): AsyncGenerator<SqlValue[][]> {
    let page = first
    yield page.rows
    while (page.next !== null) {
      await yieldToEventLoop()
      // A table dropped mid-export ends the stream with an error, not with what looks like a complete file.
      await db.sync(table.name)
      const current = db.table(table.name)
      if (!current) throw new TableNotFound(table.name)
      page = await readTableValues(db, current, { ...request, next: page.next })
      yield page.rows
    }
  }
  return { first, batches: batches() }
}
