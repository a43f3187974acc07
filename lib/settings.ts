/** Server settings (`--setting NAME VALUE`), named and defaulted like Datasette's where Datasette has them. */

export interface Settings {
  /** Most rows one insert/upsert request of the 1.0 API may carry. */
  max_insert_rows: number
  /** Largest request body accepted, in bytes; larger bodies get 413 without being buffered. */
  max_post_body_bytes: number
  /** Largest streamed (NDJSON/CSV/TSV) body, in bytes; 0 means no limit. */
  max_stream_bytes: number
  /** Longest one row of a streamed upload may be, in bytes: an NDJSON line, or a CSV/TSV record with its quoted line breaks. */
  max_stream_row_bytes: number
  /** Slowest a streamed upload may arrive, averaged over each window of `stream_window_seconds`; slower ones get 408. */
  min_stream_bytes_per_second: number
  /** Length of the windows the upload rate is measured over; also the longest pause an upload may make. */
  stream_window_seconds: number
  /** Rows per page of the read API when `_size` is not given. */
  default_page_size: number
  /** Most rows one page of the read API may return. */
  max_returned_rows: number
  /** `full`: acknowledged writes survive power loss. `normal`: they survive a crash; a power cut may lose the last ones. */
  durability: 'full' | 'normal'
  /** `on`: concurrent writes share one commit. `off`: one commit (one fsync) per request. */
  group_commit: 'on' | 'off'
  /** Seconds a stored Idempotency-Key response is kept. */
  idempotency_key_ttl: number
  /** Milliseconds a write waits for another process's lock on the file before answering 503. */
  busy_timeout_ms: number
  /** Longest a SQL query may run, in milliseconds; `?_timelimit=` may only lower it. */
  sql_time_limit_ms: number
  /** `on`: anyone who may view a database may run SQL queries on it unless a block says otherwise; `off`: only those granted execute-sql. */
  default_allow_sql: 'on' | 'off'
  /** Worker threads that run SQL queries, each with its own read-only connections. */
  num_sql_threads: number
  /**
   * Who checkpoints the WAL. `auto`: SQLite's automatic checkpoints, and a TRUNCATE checkpoint on exit unless Litestream
   * replicates the file; `on`: Litestream alone (no automatic checkpoints, none on exit); `off`: rowpost, always.
   */
  litestream: 'auto' | 'on' | 'off'
}

type SettingSpec = { help: string } & ({ kind: 'integer'; min: number } | { kind: 'choice'; choices: readonly string[] })

export const SETTING_SPECS: Record<keyof Settings, SettingSpec> = {
  max_insert_rows: { kind: 'integer', min: 1, help: 'Maximum rows in one insert/upsert request of the JSON write API' },
  max_post_body_bytes: { kind: 'integer', min: 1, help: 'Maximum JSON request body size in bytes (larger bodies get 413)' },
  max_stream_bytes: { kind: 'integer', min: 0, help: 'Maximum NDJSON/CSV/TSV upload size in bytes; 0 means no limit' },
  max_stream_row_bytes: { kind: 'integer', min: 1, help: 'Maximum bytes in one NDJSON line or CSV/TSV record of an upload' },
  min_stream_bytes_per_second: { kind: 'integer', min: 1, help: 'Slowest upload rate accepted (408 below it)' },
  stream_window_seconds: { kind: 'integer', min: 1, help: 'Seconds the upload rate is averaged over' },
  default_page_size: { kind: 'integer', min: 1, help: 'Default rows per page in the read API' },
  max_returned_rows: { kind: 'integer', min: 1, help: 'Maximum rows per page in the read API (caps _size)' },
  durability: { kind: 'choice', choices: ['full', 'normal'], help: 'full: fsync every commit; normal: survive crashes, not power loss' },
  group_commit: { kind: 'choice', choices: ['on', 'off'], help: 'Let concurrent writes share one commit' },
  idempotency_key_ttl: { kind: 'integer', min: 1, help: 'Seconds a response stored under an Idempotency-Key is kept' },
  busy_timeout_ms: { kind: 'integer', min: 0, help: "Milliseconds a write waits for another process's lock before a 503" },
  sql_time_limit_ms: { kind: 'integer', min: 1, help: 'Time limit for a SQL query in milliseconds' },
  default_allow_sql: { kind: 'choice', choices: ['on', 'off'], help: 'Allow anyone who may view a database to run SQL queries by default' },
  num_sql_threads: { kind: 'integer', min: 1, help: 'Worker threads that run SQL queries' },
  litestream: {
    kind: 'choice',
    choices: ['auto', 'on', 'off'],
    help: 'on: leave every WAL checkpoint to Litestream; auto: no exit checkpoint when it replicates the file',
  },
}

export const DEFAULT_SETTINGS: Settings = {
  max_insert_rows: 100,
  max_post_body_bytes: 20 * 1024 * 1024,
  max_stream_bytes: 256 * 1024 * 1024,
  max_stream_row_bytes: 20 * 1024 * 1024,
  min_stream_bytes_per_second: 1024,
  stream_window_seconds: 30,
  default_page_size: 100,
  max_returned_rows: 1000,
  durability: 'full',
  group_commit: 'on',
  idempotency_key_ttl: 24 * 60 * 60,
  busy_timeout_ms: 5000,
  sql_time_limit_ms: 1000,
  default_allow_sql: 'on',
  num_sql_threads: 3,
  litestream: 'auto',
}

/** A problem with a `--setting`; the CLI treats it as a bad argument. */
export class SettingError extends Error {}

/** Applies one `--setting NAME VALUE`, refusing unknown names and values outside the setting's range or choices. */
export function applySetting(settings: Settings, name: string, value: string): Settings {
  if (!Object.hasOwn(SETTING_SPECS, name)) {
    throw new SettingError(`Unknown setting ${JSON.stringify(name)}; known settings: ${Object.keys(SETTING_SPECS).join(', ')}`)
  }
  const spec = SETTING_SPECS[name as keyof Settings]
  if (spec.kind === 'choice') {
    if (!spec.choices.includes(value)) throw new SettingError(`Setting ${name} must be one of ${spec.choices.join(', ')}, not ${JSON.stringify(value)}`)
    return { ...settings, [name]: value }
  }
  if (!/^\d+$/.test(value) || Number(value) < spec.min || !Number.isSafeInteger(Number(value))) {
    throw new SettingError(`Setting ${name} must be ${spec.min === 0 ? 'a whole number' : 'a positive integer'}, not ${JSON.stringify(value)}`)
  }
  return { ...settings, [name]: Number(value) }
}
