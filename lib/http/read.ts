/** Placeholder replaced by the read API routes. */
import { Elysia } from 'elysia'
import type { AppContext } from './context'

export function readRoutes(_context: AppContext) {
  return new Elysia({ name: 'rowpost-read' })
}
