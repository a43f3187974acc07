/** Assembles the Elysia app: CORS and OPTIONS first, then the actor, then the routes; one onError for every failure. */
import { Elysia } from 'elysia'
import { AppContext, type AppOptions } from './context'
import { corsHeadersFor } from './cors'
import { legacyRoutes } from './legacy'
import { readRoutes } from './read'
import { writeRoutes } from './write'
import { createWriteResponder } from './write-once'
import { renderError, serverError, toApiError } from './respond'
import { ClientDisconnected } from '../errors'

const pathOf = (url: string) => {
  const start = url.indexOf('/', url.indexOf('://') + 3)
  const end = url.indexOf('?', start)
  return start === -1 ? '/' : url.slice(start, end === -1 ? undefined : end)
}

export function createApp(options: AppOptions) {
  const context = new AppContext(options)
  const writeOnce = createWriteResponder(context)
  const app = new Elysia({ normalize: false })
    .onRequest(function corsPreflightAndActor({ request, set }) {
      if (context.cors) Object.assign(set.headers, corsHeadersFor(pathOf(request.url)))
      if (request.method === 'OPTIONS') return new Response('ok', { headers: { 'content-type': 'text/plain; charset=utf-8' } })
      context.actorOf(request)
    })
    .onError(function renderErrors({ code, error, request }) {
      const path = pathOf(request.url)
      const apiError = toApiError(code, error, request.method, path)
      if (apiError) return renderError(apiError, path)
      // A body read cut short by the client (or by Bun's idle timeout) is the client's doing, not a fault to trace.
      if (request.signal.aborted && (error as Error)?.name === 'AbortError') return renderError(new ClientDisconnected(), path)
      console.error(`rowpost: unexpected error on ${request.method} ${path}:`, error)
      return serverError(path)
    })
    .use(legacyRoutes(context, writeOnce))
    .use(writeRoutes(context, writeOnce))
    .use(readRoutes(context))
  return Object.assign(app, { context })
}

export type RowpostApp = ReturnType<typeof createApp>
export { pathOf }
