/** Server settings (`--setting NAME VALUE`), named and defaulted like Datasette's. */

export interface Settings {
  /** Most rows one insert/upsert request of the 1.0 API may carry. */
  max_insert_rows: number
  /** Largest request body accepted, in bytes; larger bodies get 413 without being buffered. */
  max_post_body_bytes: number
  /** Rows per page of the read API when `_size` is not given. */
  default_page_size: number
  /** Most rows one page of the read API may return. */
  max_returned_rows: number
}

export const DEFAULT_SETTINGS: Settings = {
  max_insert_rows: 100,
  max_post_body_bytes: 20 * 1024 * 1024,
  default_page_size: 100,
  max_returned_rows: 1000,
}

export const SETTING_HELP: Record<keyof Settings, string> = {
  max_insert_rows: 'Maximum rows in one insert/upsert request of the JSON write API',
  max_post_body_bytes: 'Maximum request body size in bytes (larger bodies get 413)',
  default_page_size: 'Default rows per page in the read API',
  max_returned_rows: 'Maximum rows per page in the read API (caps _size)',
}

/** A problem with a `--setting`; the CLI treats it as a bad argument. */
export class SettingError extends Error {}

/** Applies one `--setting NAME VALUE`, refusing unknown names and values that are not positive integers. */
export function applySetting(settings: Settings, name: string, value: string): Settings {
  if (!Object.hasOwn(DEFAULT_SETTINGS, name)) {
    throw new SettingError(`Unknown setting ${JSON.stringify(name)}; known settings: ${Object.keys(DEFAULT_SETTINGS).join(', ')}`)
  }
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new SettingError(`Setting ${name} must be a positive integer, not ${JSON.stringify(value)}`)
  }
  return { ...settings, [name]: Number(value) }
}
