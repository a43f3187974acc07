/** Failures a client can cause, each knowing its HTTP status and machine-readable code. */

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Every problem found, for envelopes that list them; defaults to the one message. */
    readonly errors: string[] = [message],
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
  }
}

/** The request body is not valid JSON (or not valid UTF-8). */
export class InvalidJson extends ApiError {
  constructor(detail: string) {
    super(400, 'invalid_json', `Invalid JSON: ${detail}`)
  }
}

/** The body parsed, but is not the shape the endpoint takes. */
export class InvalidBody extends ApiError {
  constructor(message: string, errors?: string[]) {
    super(400, 'invalid_body', message, errors)
  }
}

/** A table or column name that rowpost will not create or write. */
export class InvalidName extends ApiError {
  constructor(message: string) {
    super(400, 'invalid_name', message)
  }
}

/** An `/-/alter` operation the table refuses: an unknown column, a duplicate name, rows that break the new constraints. */
export class AlterFailed extends ApiError {
  constructor(message: string) {
    super(400, 'alter_failed', message)
  }
}

/** A value that SQLite cannot store exactly, such as an integer beyond 64 bits. */
export class InvalidValue extends ApiError {
  constructor(message: string) {
    super(400, 'invalid_value', message)
  }
}

/** The legacy upsert route was called without `?pk=`. */
export class UpsertRequiresPk extends ApiError {
  constructor() {
    super(400, 'upsert_requires_pk', 'Upsert requires ?pk=')
  }
}

/** The table is missing and the caller may not create it. */
export class MissingTable extends ApiError {
  constructor(table: string) {
    super(400, 'missing_table', `Table ${table} does not exist`)
  }
}

/** A row names a column the table lacks and `alter` was not asked for. */
export class UnknownKeys extends ApiError {
  constructor(table: string, key: string) {
    super(400, 'unknown_keys', `table ${table} has no column named ${key}`)
  }
}

/** A row that must carry its primary key does not. */
export class MissingPk extends ApiError {
  /** `row` names the row: "Row 0" in a JSON body, "Line 12" in a streamed one. */
  constructor(row: string, pks: string[]) {
    super(400, 'missing_pk', `${row} is missing primary key column(s): ${pks.map((pk) => JSON.stringify(pk)).join(', ')}`)
  }
}

/** The requested primary key does not match the existing table's. */
export class PkMismatch extends ApiError {
  constructor(table: string, tablePks: string[], requested: string[]) {
    const describe = (pks: string[]) => (pks.length ? pks.map((pk) => JSON.stringify(pk)).join(', ') : 'rowid')
    super(400, 'pk_mismatch', `Table ${table} has primary key ${describe(tablePks)}, not ${describe(requested)}`)
  }
}

/** SQLite refused a row: NOT NULL, UNIQUE, CHECK, foreign key or datatype mismatch. */
export class ConstraintFailed extends ApiError {
  constructor(message: string) {
    super(400, 'constraint', message)
  }
}

/** The actor lacks the permission for this action. */
export class PermissionDenied extends ApiError {
  constructor(message = 'Permission denied') {
    super(403, 'permission_denied', message)
  }
}

/** A bearer token matched no configured token. */
export class InvalidToken extends ApiError {
  constructor(message = 'Invalid token') {
    super(401, 'invalid_token', message, [message], { 'www-authenticate': 'Bearer error="invalid_token"' })
  }
}

/** The database was opened read-only with `-i`. */
export class ImmutableDatabase extends ApiError {
  constructor() {
    super(403, 'immutable', 'Database is immutable')
  }
}

/**
 * No database of that name is attached. The legacy body names it; Datasette 1.0's `errors` list names it only on the
 * row routes (`named`), as its row.py does, and not on the table and database routes.
 */
export class DatabaseNotFound extends ApiError {
  constructor(name: string, named = false) {
    const message = `Database not found: ${name}`
    super(404, 'database_not_found', message, [named ? message : 'Database not found'])
  }
}

/** No table of that name exists. The message names it; Datasette 1.0's `errors` list names it only on the row routes. */
export class TableNotFound extends ApiError {
  constructor(name: string, named = false) {
    const message = `Table not found: ${name}`
    super(404, 'table_not_found', message, [named ? message : 'Table not found'])
  }
}

/** No row has that primary key. */
export class RowNotFound extends ApiError {
  constructor(message = 'Row not found') {
    super(404, 'row_not_found', message)
  }
}

/** No route matches the path. */
export class NotFound extends ApiError {
  constructor(message = 'Not found') {
    super(404, 'not_found', message)
  }
}

/** The route exists but not for this method. */
export class MethodNotAllowed extends ApiError {
  constructor() {
    super(405, 'method_not_allowed', 'Method not allowed', undefined, { allow: 'POST' })
  }
}

/** A route that needs what the database's engine does not have (SQL queries, /-/alter and execute-write on PostgreSQL). */
export class NotSupported extends ApiError {
  constructor(database: string, capability: string) {
    super(400, 'not_supported', `Database ${database} is not SQLite: ${capability} is available on SQLite databases only`)
  }
}

/** The body is larger than `max_post_body_bytes`. */
export class PayloadTooLarge extends ApiError {
  constructor(limit: number) {
    super(413, 'too_large', `Request body exceeded maximum size of ${limit} bytes`)
  }
}

/** One row of a streamed upload (an NDJSON line, a CSV/TSV record) is longer than `max_stream_row_bytes`. */
export class RowTooLarge extends ApiError {
  constructor(line: number, limit: number) {
    super(413, 'too_large', `Line ${line}: the row is longer than the maximum of ${limit} bytes (max_stream_row_bytes)`)
  }
}

/** A streamed upload arrived slower than `min_stream_bytes_per_second` over a window of `stream_window_seconds`. */
export class UploadTooSlow extends ApiError {
  constructor(received: number, seconds: number, minimum: number) {
    super(
      408,
      'upload_too_slow',
      `Upload too slow: ${received} bytes in the last ${seconds} s, under the minimum of ${minimum} bytes per second; nothing was written`,
    )
  }
}

/** The connection closed before the request body was complete; only the server's log sees this answer. */
export class ClientDisconnected extends ApiError {
  constructor() {
    super(499, 'client_disconnected', 'The connection closed before the request was complete; nothing was written')
  }
}

/** SQLite reported the disk or the database full. */
export class StorageFull extends ApiError {
  constructor() {
    super(507, 'storage_full', 'Insufficient storage: the database or disk is full; nothing from this request was written')
  }
}

/** Another connection held the write lock past the busy timeout. */
export class DatabaseBusy extends ApiError {
  constructor() {
    super(503, 'database_busy', 'Database is locked by another writer; retry shortly', undefined, { 'retry-after': '1' })
  }
}

/** The error a SQLite failure becomes when a client's data caused it; undefined for failures that are the server's. */
export function apiErrorFromSqlite(error: { code?: string; message: string }): ApiError | undefined {
  const code = error.code ?? ''
  if (code.startsWith('SQLITE_CONSTRAINT') || code === 'SQLITE_MISMATCH') return new ConstraintFailed(error.message)
  if (code === 'SQLITE_FULL') return new StorageFull()
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return new DatabaseBusy()
  if (code === 'SQLITE_TOOBIG') return new InvalidValue(`Value too large for SQLite: ${error.message}`)
  if (code === 'SQLITE_ERROR' && /too many columns|too many SQL variables/.test(error.message)) return new InvalidBody(error.message)
  if (code === 'SQLITE_ERROR' && /pattern too complex/.test(error.message)) return new InvalidQuery(`Filter value too long: ${error.message}`)
  if (code.startsWith('SQLITE_READONLY')) return new ImmutableDatabase()
  return undefined
}

/** A PostgreSQL error's SQLSTATE (Bun.SQL puts it in `errno`), or undefined for anything else. */
export function postgresErrorCode(error: unknown): string | undefined {
  if (!(error instanceof Error) || error.name !== 'PostgresError') return undefined
  const code = (error as { errno?: unknown }).errno
  return typeof code === 'string' ? code : undefined
}

/** `Key (a, b)=(1, 2) already exists.` → `a, b`: the columns of a unique violation, as SQLite's message names them. */
const KEY_COLUMNS = /^Key \((.*?)\)=/

/**
 * The error a PostgreSQL failure becomes when a client's data caused it (undefined for the server's own faults), with
 * SQLite's wording where SQLite has an equivalent, so clients matching on messages see one text from both engines.
 */
export function apiErrorFromPostgres(error: unknown): ApiError | undefined {
  const code = postgresErrorCode(error)
  if (code === undefined) return undefined
  const { message, table, column, detail } = error as Error & { table?: string; column?: string; detail?: string }
  const columns = (names: string | undefined) =>
    (names ?? '')
      .split(', ')
      .filter(Boolean)
      .map((name) => `${table ?? '?'}.${name}`)
      .join(', ')
  switch (code) {
    case '23505':
      return new ConstraintFailed(`UNIQUE constraint failed: ${columns(KEY_COLUMNS.exec(detail ?? '')?.[1])}`)
    case '23502':
      return new ConstraintFailed(`NOT NULL constraint failed: ${columns(column)}`)
    case '23503':
      return new ConstraintFailed('FOREIGN KEY constraint failed')
    case '23514':
      return new ConstraintFailed(`CHECK constraint failed: ${message}`)
    // Data exceptions: text where a number is stored, a number out of range, a value too long; a type the column refuses.
    case '42804':
      return new InvalidValue(`Value of the wrong type for PostgreSQL: ${message}`)
    // A value compared with a column of another type (a BLOB row key against a bigint key): SQLite just finds nothing.
    case '42883':
      return /^operator does not exist/.test(message) ? new InvalidValue(`Value of the wrong type for PostgreSQL: ${message}`) : undefined
    // A foreign key to a column with no unique constraint: SQLite accepts it, PostgreSQL refuses the table.
    case '42830':
      return new InvalidBody(`Schema refused by PostgreSQL: ${message}`)
    // tableoid, xmin, cmin, xmax, cmax and ctid name every PostgreSQL row's system columns: no table may have a column so named.
    case '42701':
      return /conflicts with a system column name/.test(message) ? new InvalidName(`Name refused by PostgreSQL: ${message}`) : undefined
    // A table dropped under a write, after the store ran it again: what it would have found is no table.
    case '42P01':
      return new TableNotFound(/relation "(.*)" does not exist/.exec(message)?.[1] ?? table ?? '?')
    case '53100':
      return new StorageFull()
    case '25006':
      return new ImmutableDatabase()
    case '54000':
    case '54001':
    case '54011':
      return new InvalidBody(message)
  }
  if (code.startsWith('22')) return new InvalidValue(`Value refused by PostgreSQL: ${message}`)
  return undefined
}

/** A read request's query string asks for something the table cannot give (unknown column, bad `_size`, bad `_next`). */
export class InvalidQuery extends ApiError {
  constructor(message: string) {
    super(400, 'invalid_query', message)
  }
}

/** A browser sent an unsafe method from another origin (Datasette's header-based CSRF rule). */
export class CrossSiteRequest extends ApiError {
  constructor(reason: string) {
    super(403, 'cross_site_request', `Cross-site request refused: ${reason}`)
  }
}

/** Under `--unsafe`, a Host header that does not name this machine, as a DNS-rebinding page's would. */
export class NonLoopbackHost extends ApiError {
  constructor(host: string | null) {
    const named = host === null ? 'no Host header' : `Host ${JSON.stringify(host)}`
    super(403, 'non_loopback_host', `--unsafe serves only loopback hosts (localhost, 127.0.0.1, [::1]); refused ${named}`)
  }
}

/** A Host header that does not make a URL (Bun then hands over a path without scheme and host), or a URL not http://. */
export class BadHost extends ApiError {
  constructor(message: string) {
    super(400, 'bad_host', message)
  }
}

/** /-/execute-write SQL that does not compile, holds more than one statement, or only reads (Datasette answers 400). */
export class InvalidWriteSql extends ApiError {
  constructor(message: string) {
    super(400, 'invalid_write_sql', message)
  }
}

/** /-/execute-write SQL that does what is never run there: VACUUM, PRAGMA, ATTACH, transaction control, virtual or internal tables. */
export class RefusedWriteSql extends ApiError {
  constructor(message: string) {
    super(403, 'write_sql_refused', message)
  }
}

/** SQLite failed while running /-/execute-write SQL; the message is SQLite's, as in Datasette. */
export class WriteSqlFailed extends ApiError {
  constructor(message: string) {
    super(400, 'write_sql_failed', message)
  }
}

/** A SQL query Datasette would refuse or SQLite could not run: not a SELECT, several statements, a disallowed pragma, SQLite's error. */
export class InvalidSql extends ApiError {
  constructor(
    message: string,
    /** SQLite's own error (or a trailing statement): Datasette's body then also carries `"rows": []` and `"truncated": false`. */
    readonly fromSqlite = false,
  ) {
    super(400, 'invalid_sql', message)
  }
}

/** A SQL query ran past sql_time_limit_ms (or a lower `_timelimit`) and was stopped. */
export class QueryInterrupted extends ApiError {
  constructor() {
    super(400, 'query_interrupted', 'SQL query took too long. The time limit is controlled by the sql_time_limit_ms setting.')
  }
}
