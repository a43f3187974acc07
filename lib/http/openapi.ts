/**
 * The described API: GET /-/openapi.json (generated from the app's routes) and GET /-/api, Swagger UI rendering it from
 * this server's own copy of swagger-ui-dist (no CDN: it works offline), under the pages' strict CSP.
 */
import { Elysia, NotFoundError, t } from 'elysia'
// Embedded in the compiled binary too (Bun's file imports), so the reference page needs no node_modules at run time.
import bundlePath from 'swagger-ui-dist/swagger-ui-bundle.js' with { type: 'file' }
import cssPath from 'swagger-ui-dist/swagger-ui.css' with { type: 'file' }
import { openApiDocument, type RouteLike } from '../openapi/document'
import { PAGE_HEADERS } from '../pages/layout'
import type { AppContext } from './context'
import { readAccess } from './read'

const ASSET_BASE = '/-/static/api'

/** Swagger UI's start-up, as a file of its own: the CSP allows no inline script. */
const INITIALIZER = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: '/-/openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null, tryItOutEnabled: false })
})
`

const ASSETS: Record<string, { path?: string; text?: string; type: string }> = {
  'swagger-ui-bundle.js': { path: bundlePath, type: 'text/javascript; charset=utf-8' },
  'swagger-ui.css': { path: cssPath, type: 'text/css; charset=utf-8' },
  'api.js': { text: INITIALIZER, type: 'text/javascript; charset=utf-8' },
}

const PAGE = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>API reference · rowpost</title>
<link rel="stylesheet" href="${ASSET_BASE}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"><p><a href="/-/openapi.json">/-/openapi.json</a></p></div>
<script src="${ASSET_BASE}/swagger-ui-bundle.js"></script>
<script src="${ASSET_BASE}/api.js"></script>
</body>
</html>
`

export function openApiRoutes(context: AppContext, routes: () => readonly RouteLike[]) {
  const { requireView } = readAccess(context)
  let document: string | undefined
  /** Built on first use, once every route is registered: the route list is the app's, complete only then. */
  const documentText = () => (document ??= JSON.stringify(openApiDocument(routes(), context.settings, context.version)))

  return new Elysia({ name: 'rowpost-openapi' })
    .get(
      '/-/openapi.json',
      function openApiJson({ request }) {
        requireView(request, {})
        return new Response(documentText(), { headers: { 'content-type': 'application/json; charset=utf-8' } })
      },
      { detail: { summary: 'This API as an OpenAPI 3.1 document, generated from the routes' } },
    )
    .get(
      '/-/api',
      function apiPage({ request }) {
        requireView(request, {})
        // The pages' CSP unchanged: the scripts are this server's files, Swagger UI's icons are data: images (img-src
        // allows them), the styles it sets from script are not inline style elements, and its calls go to this origin.
        return new Response(PAGE, { headers: PAGE_HEADERS })
      },
      { detail: { summary: 'The API reference: /-/openapi.json rendered by Swagger UI, served from this server' } },
    )
    .get(
      `${ASSET_BASE}/:file`,
      function apiAsset({ params }) {
        const asset = ASSETS[params.file]
        if (!asset) throw new NotFoundError()
        const headers = { 'content-type': asset.type, 'cache-control': 'max-age=3600', 'x-content-type-options': 'nosniff' }
        return new Response(asset.text ?? Bun.file(asset.path!), { headers })
      },
      { params: t.Object({ file: t.String() }), detail: { summary: "The API reference page's files (Swagger UI, its style sheet, its start-up script)" } },
    )
}
