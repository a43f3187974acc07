/** Builds every JSON response, and renders errors in the envelope of the API the path belongs to. */
import { ApiError, MethodNotAllowed, NotFound, InvalidJson, InvalidBody, apiErrorFromPostgres, apiErrorFromSqlite } from '../errors'
import { stringifyJson } from '../json'

export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return jsonTextResponse(stringifyJson(body), status, headers)
}

/** A response for JSON that is already text (a stored Idempotency-Key answer). */
export function jsonTextResponse(text: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(text, { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers } })
}

/** The legacy datasette-insert paths keep that plugin's error body; everything else uses Datasette 1.0's. */
export function isLegacyPath(path: string): boolean {
  return path.startsWith('/-/insert/') || path.startsWith('/-/upsert/')
}

const WRITE_PATH = /^\/-\/(?:insert|upsert)\/|\/-\/(?:insert|upsert|update|delete|drop|create|alter|execute-write)\/?$/

export function renderError(error: ApiError, path: string): Response {
  if (isLegacyPath(path)) {
    const body =
      error.status === 403 && error.code === 'permission_denied'
        ? { error: error.message, status: error.status }
        : { status: error.status, error: error.message, error_code: error.code }
    return jsonResponse(body, error.status, error.headers)
  }
  return jsonResponse({ ok: false, error: error.errors.join('; '), errors: error.errors, status: error.status }, error.status, error.headers)
}

type ElysiaErrorCode = string | number

/** Maps anything thrown while handling a request to an ApiError; undefined means a server fault. */
export function toApiError(code: ElysiaErrorCode, error: unknown, method: string, path: string): ApiError | undefined {
  if (error instanceof ApiError) return error
  if (code === 'NOT_FOUND') return WRITE_PATH.test(path) && method !== 'POST' ? new MethodNotAllowed() : new NotFound()
  if (code === 'PARSE') return new InvalidJson(error instanceof Error ? error.message : String(error))
  if (code === 'VALIDATION') {
    const detail = (error as { message?: string }).message ?? 'invalid request'
    return new InvalidBody(`Invalid request: ${summariseValidation(detail)}`)
  }
  if (error instanceof Error && typeof (error as { code?: unknown }).code === 'string' && error.name === 'SQLiteError') {
    return apiErrorFromSqlite(error as Error & { code: string })
  }
  if (error instanceof Error && error.name === 'PostgresError') return apiErrorFromPostgres(error)
  return undefined
}

/** Elysia's validation message is a JSON document; keep its summary line. */
function summariseValidation(detail: string): string {
  try {
    const parsed = JSON.parse(detail) as { summary?: string; property?: string; message?: string }
    return [parsed.property, parsed.summary ?? parsed.message].filter(Boolean).join(': ')
  } catch {
    return detail
  }
}

/** A fault of the server's own, in the envelope of the path's API; the details stay in the server's log. */
export function serverError(path: string): Response {
  return renderError(new ApiError(500, 'internal_error', 'Internal server error'), path)
}
