/** Assembles the Elysia app: refusals before routing, CORS and OPTIONS, then the actor, then the routes; one onError for every failure. */
import { Elysia } from 'elysia'
import { alterRoutes } from './alter'
import { changeRoutes } from './changes'
import { FeedHub } from '../feed-hub'
import { AppContext, type AppOptions } from './context'
import { createCors } from './cors'
import { executeWriteRoutes } from './execute-write'
import { legacyRoutes } from './legacy'
import { createPages } from './pages'
import { queryRoutes } from './query'
import { readRoutes } from './read'
import { schemaRoutes } from './schema'
import { writeRoutes } from './write'
import { createWriteResponder } from './write-once'
import { createRequestGuard } from './request-guard'
import { renderError, serverError, toApiError } from './respond'
import { ClientDisconnected } from '../errors'
import { Metrics } from '../ops/metrics'
import { requestRecordOf } from '../ops/request-record'
import { opsRoutes } from './ops'
import { openApiRoutes } from './openapi'
import type { RouteLike } from '../openapi/document'

/** The path of a request URL; Bun's URL is a bare path when the Host header made no URL. */
const pathOf = (url: string) => {
  const scheme = url.indexOf('://')
  const start = scheme === -1 ? url.indexOf('/') : url.indexOf('/', scheme + 3)
  const end = url.indexOf('?', start)
  return start === -1 ? '/' : url.slice(start, end === -1 ? undefined : end)
}

export function createApp(options: AppOptions) {
  const context = new AppContext(options)
  const writeOnce = createWriteResponder(context)
  const origins = context.cors ? context.corsOrigins : []
  const guardRequest = createRequestGuard({ unsafe: context.policy.unsafe, anyOrigin: context.cors && origins.length === 0, origins })
  const applyCors = context.cors ? createCors(origins) : undefined
  const feeds = new FeedHub()
  const metrics = new Metrics(context.databases.values())
  const pages = createPages(context)
  // The OpenAPI document describes the finished app: its route list exists only once `app` does.
  let described: () => readonly RouteLike[] = () => []
  // Elysia's default (standardHostname) looks for the path from the 11th character on, past hosts such as `db` or `x`
  // and into the path: `Host: x` routed /zz/u/t/-/drop as /u/t/-/drop. From the 7th, any http:// URL routes by its own path.
  const app = new Elysia({ normalize: false, handler: { standardHostname: false } })
    .onRequest(function guardCorsPreflightAndActor({ request, set }) {
      // CORS headers first, so that a page allowed to call the API can read a refusal too.
      if (applyCors) applyCors(pathOf(request.url), request.headers.get('origin'), set.headers as Record<string, string>)
      guardRequest(request)
      if (request.method === 'OPTIONS') return new Response('ok', { headers: { 'content-type': 'text/plain; charset=utf-8' } })
      context.actorOf(request)
    })
    .onTransform({ as: 'global' }, function recordRoute({ route, request }) {
      const record = requestRecordOf(request)
      if (record) record.route = route
    })
    .onError(function renderErrors({ code, error, request }) {
      const path = pathOf(request.url)
      const apiError = toApiError(code, error, request.method, path)
      const record = requestRecordOf(request)
      if (record) record.errorCode = apiError?.code ?? 'internal_error'
      if (apiError) return renderError(apiError, path)
      // A body read cut short by the client (or by Bun's idle timeout) is the client's doing, not a fault to trace.
      if (request.signal.aborted && (error as Error)?.name === 'AbortError') return renderError(new ClientDisconnected(), path)
      console.error(`rowpost: unexpected error on ${request.method} ${path}:`, error)
      return serverError(path)
    })
    .use(legacyRoutes(context, writeOnce))
    .use(writeRoutes(context, writeOnce))
    .use(alterRoutes(context, writeOnce))
    .use(executeWriteRoutes(context, writeOnce))
    .use(queryRoutes(context, pages.query))
    .use(schemaRoutes(context))
    .use(changeRoutes(context, feeds))
    .use(readRoutes(context, pages.handlers))
    .use(pages.routes)
    .use(opsRoutes(context, metrics))
    .use(openApiRoutes(context, () => described()))
  described = () => app.routes
  return Object.assign(app, { context, metrics, feeds })
}

export type RowpostApp = ReturnType<typeof createApp>
export { pathOf }
