/** Reads the bench's settings from the environment. */

/** A positive integer from `name`, or `fallback` when it is unset or empty; anything else stops the bench. */
export function envInt(name: string, fallback: number): number {
  const text = process.env[name]
  if (text === undefined || text === '') return fallback
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, not ${JSON.stringify(text)}`)
  return value
}
