/** The one query pool of this process, shared by every app in it (tests build many), grown to the largest size asked. */
import { QueryPool } from './pool'

let pool: QueryPool | null = null

export function sharedQueryPool(size: number): QueryPool {
  if (!pool) pool = new QueryPool(size)
  else pool.grow(size)
  return pool
}
