/** Refusals made before routing: URLs Elysia cannot route, non-loopback hosts under --unsafe, and cross-site writes. */
import { ACTOR_COOKIE, cookieValue } from '../auth'
import { BadHost, CrossSiteRequest, NonLoopbackHost } from '../errors'

export interface RequestGuardOptions {
  /** `--unsafe`: only loopback Host names are served, so a DNS-rebinding page cannot reach the open server. */
  unsafe: boolean
  /** `--cors` with no list: any origin may read and write, so the cross-site check has nothing left to stop. */
  anyOrigin: boolean
  /** `--cors=ORIGIN,...`: these origins pass the cross-site check. */
  origins: readonly string[]
}

/** An Authorization header whose scheme is Bearer (the word alone, or followed by white space). */
const BEARER_SCHEME = /^\s*bearer(?:\s|$)/i

/** Datasette's safe methods; every other method gets the cross-site check. */
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

const DEFAULT_PORTS: Readonly<Record<string, number>> = { 'http:': 80, 'https:': 443, 'ws:': 80, 'wss:': 443 }

const OCTET = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'

/**
 * localhost, 127.0.0.0/8 and [::1], each with an optional port. Not `*.localhost`: browsers resolve those to loopback
 * themselves, but other clients may ask DNS, where a rebinding attacker answers.
 */
const LOOPBACK_HOST = new RegExp(`^(?:localhost|127(?:\\.${OCTET}){3}|\\[::1\\])(?::\\d{1,5})?$`, 'i')

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOST.test(host)
}

/** The host the client named: its Host header, or, for a Request built in-process (which has none), its URL's. */
function hostOf(request: Request): string | null {
  const header = request.headers.get('host')
  if (header !== null) return header
  const url = request.url
  const scheme = url.indexOf('://')
  if (scheme === -1) return null
  const end = url.indexOf('/', scheme + 3)
  return url.slice(scheme + 3, end === -1 ? undefined : end)
}

/** `scheme://host:port` with the default port filled in, as Datasette's `_origin_tuple`; throws for a malformed value. */
function originKey(value: string): string {
  const url = new URL(value)
  const port = url.port === '' ? DEFAULT_PORTS[url.protocol] : Number(url.port)
  if (url.hostname === '' || port === undefined) throw new TypeError(`no host or default port in ${value}`)
  return `${url.protocol}//${url.hostname}:${port}`
}

/**
 * Why an unsafe-method request is cross-site, or undefined when it may go on: Datasette 1.0a37's csrf.py, condition for
 * condition, plus the `--cors` origin list. Browsers send Sec-Fetch-Site (or, older ones, Origin) on every write; curl
 * and scripts send neither and pass.
 */
function crossSiteReason(request: Request, origins: ReadonlySet<string>): string | undefined {
  const headers = request.headers
  const authorization = headers.get('authorization')
  // A bearer token is no ambient credential a page could borrow, unless a cookie comes along (then cookie auth may be in play).
  if (authorization !== null && BEARER_SCHEME.test(authorization) && !headers.get('cookie')) return undefined
  const origin = headers.get('origin') || null
  // A listed origin may call with its own credentials; the visitor's login cookie is for rowpost's own pages only.
  if (origin !== null && origins.has(origin) && !authenticatesByCookie(request)) return undefined
  const site = headers.get('sec-fetch-site') || null
  if (site !== null) {
    if (site === 'same-origin' || site === 'none') return undefined
    return `Sec-Fetch-Site was ${JSON.stringify(site)}, expected "same-origin" or "none"`
  }
  if (origin === null) return undefined
  const host = hostOf(request) ?? ''
  try {
    if (originKey(origin) === originKey(`http://${host}`)) return undefined
  } catch {
    return `malformed Origin ${JSON.stringify(origin)} or Host ${JSON.stringify(host)}`
  }
  return `Origin ${JSON.stringify(origin)} does not match Host ${JSON.stringify(host)}`
}

/**
 * Elysia (with `standardHostname: false`) finds the path after `http://`, and routes read their query with `new URL`.
 * Bun hands over a bare path when the Host header makes no URL, and an unparseable URL for some (`x:99999`,
 * `a:1:2`); an in-process Request may be https://. Those would route another path than the one logged, or fail.
 */
function unroutable(request: Request): BadHost | undefined {
  const url = request.url
  if (url.startsWith('http://')) {
    if (URL.canParse(url)) return undefined
  } else if (!url.startsWith('/')) {
    return new BadHost(`rowpost routes only http:// URLs, not ${JSON.stringify(url.slice(0, url.indexOf(':') + 3))}`)
  }
  const host = request.headers.get('host')
  return new BadHost(host === null ? 'Missing Host header' : `Invalid Host header ${JSON.stringify(host)}`)
}

/** Routes that set the login cookie: a page elsewhere must not log a visitor in (or out) as someone else, whatever --cors says. */
const COOKIE_ROUTES = new Set(['/-/login', '/-/logout'])

/** The path of an http:// URL (unroutable() has refused every other form). */
const pathOf = (url: string) => new URL(url, 'http://localhost').pathname

/** A request the login cookie would authenticate: it carries one and no Authorization header to take precedence. */
function authenticatesByCookie(request: Request): boolean {
  return request.headers.get('authorization') === null && cookieValue(request.headers.get('cookie'), ACTOR_COOKIE) !== undefined
}

/** Builds the check once per config; it throws the refusal for a request that must not reach a route. */
export function createRequestGuard(options: RequestGuardOptions): (request: Request) => void {
  const { unsafe, anyOrigin } = options
  const origins = new Set(options.origins)
  return function guardRequest(request) {
    const refusal = unroutable(request)
    if (refusal !== undefined) throw refusal
    if (unsafe) {
      const host = hostOf(request)
      if (host === null || !LOOPBACK_HOST.test(host)) throw new NonLoopbackHost(host)
    }
    if (SAFE_METHODS.has(request.method)) return
    // `--cors` lets any page use the API with credentials of its own, never with the login cookie of the person visiting it.
    if (anyOrigin && !authenticatesByCookie(request) && !COOKIE_ROUTES.has(pathOf(request.url))) return
    const reason = crossSiteReason(request, origins)
    if (reason !== undefined) throw new CrossSiteRequest(reason)
  }
}
