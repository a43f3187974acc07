/** CORS headers for `--cors`, computed once: the legacy plugin's exact three, Datasette's for everything else. */
import { isLegacyPath } from './respond'

const LEGACY_CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'content-type,authorization',
  'access-control-allow-methods': 'POST',
}

const DATASETTE_CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-headers': 'Authorization, Content-Type',
  'access-control-expose-headers': 'Link',
  'access-control-allow-methods': 'GET, POST, HEAD, OPTIONS',
  'access-control-max-age': '3600',
}

export function corsHeadersFor(path: string): Record<string, string> {
  return isLegacyPath(path) ? LEGACY_CORS : DATASETTE_CORS
}
