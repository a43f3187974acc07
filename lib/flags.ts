/** Yes/no values in query strings, spelled the ways datasette-insert's users write them. */

const TRUE_WORDS = new Set(['1', 'true', 'yes', 'on'])

/** `1`, `true`, `yes`, `on` (any case) are true; anything else, an empty value or no value at all is false. */
export function queryFlag(value: string | null): boolean {
  return value !== null && TRUE_WORDS.has(value.trim().toLowerCase())
}
