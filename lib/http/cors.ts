/** CORS headers for `--cors`, computed once per config: the legacy plugin's, Datasette's for everything else; any origin or a list. */
import { isLegacyPath } from './respond'

/** The plugin's three headers (never Allow-Credentials), plus what Idempotency-Key retries need from a page. */
const LEGACY_CORS = {
  'access-control-allow-headers': 'content-type,authorization,idempotency-key',
  'access-control-allow-methods': 'POST',
  'access-control-expose-headers': 'idempotent-replayed',
}

const DATASETTE_CORS = {
  'access-control-allow-headers': 'Authorization, Content-Type, Idempotency-Key',
  'access-control-expose-headers': 'Link, Idempotent-Replayed',
  'access-control-allow-methods': 'GET, POST, HEAD, OPTIONS',
  'access-control-max-age': '3600',
}

/** Adds the CORS headers for a request on `path` from `origin` (its Origin header) to `headers`. */
export type ApplyCors = (path: string, origin: string | null, headers: Record<string, string>) => void

/** With no `origins`, any origin (`*`); otherwise only those exact origins, reflected, with `Vary: Origin` on every answer. */
export function createCors(origins: readonly string[]): ApplyCors {
  if (origins.length === 0) {
    const legacy = { 'access-control-allow-origin': '*', ...LEGACY_CORS }
    const datasette = { 'access-control-allow-origin': '*', ...DATASETTE_CORS }
    return function corsForAnyOrigin(path, _origin, headers) {
      Object.assign(headers, isLegacyPath(path) ? legacy : datasette)
    }
  }
  const allowed = new Set(origins)
  const legacy = { ...LEGACY_CORS, vary: 'Origin' }
  const datasette = { ...DATASETTE_CORS, vary: 'Origin' }
  return function corsForListedOrigins(path, origin, headers) {
    // A cache must not hand one origin's answer to another, so Vary goes on refusals too.
    if (origin === null || !allowed.has(origin)) {
      headers.vary = 'Origin'
      return
    }
    Object.assign(headers, isLegacyPath(path) ? legacy : datasette)
    headers['access-control-allow-origin'] = origin
  }
}
