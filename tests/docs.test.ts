import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../lib/config'
import { SETTING_SPECS } from '../lib/settings'

const ROOT = join(import.meta.dir, '..')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')

/** Every `super(STATUS, 'code', ...)` / `new ApiError(STATUS, 'code'` in lib/: the error codes a client can see. */
function errorCodes(): Array<[string, number]> {
  const found = new Map<string, number>()
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name)
      if (entry.isDirectory()) walk(path)
      else if (entry.name.endsWith('.ts')) {
        for (const match of readFileSync(path, 'utf8').matchAll(/(?:super|ApiError)\((\d{3}), '([a-z_]+)'/g)) found.set(match[2]!, Number(match[1]))
      }
    }
  }
  walk(join(ROOT, 'lib'))
  return [...found]
}

describe('the docs match the code', () => {
  test('the code defines a plausible set of error codes', () => {
    expect(errorCodes().length).toBeGreaterThan(15)
  })

  test.each(errorCodes())('error code %s (%d) is in the README’s table with its status', (code, status) => {
    expect(readme).toContain(`| \`${code}\` | ${status} |`)
  })

  test.each(Object.keys(SETTING_SPECS))('setting %s is documented in the README', (name) => {
    expect(readme).toContain(`| \`${name}\` |`)
  })

  test('metadata.example.json passes the validation the server runs at startup', () => {
    const config = loadConfig(join(ROOT, 'metadata.example.json'), { INSERT_TOKEN: 'a', READER_TOKEN: 'b' })
    expect(config.tokens.map((grant) => grant.actor)).toEqual([{ bot: 'insert-bot' }, { id: 'reader' }])
    expect(config.ignoredActions).toEqual([])
  })

  test('the README’s quick start names the commands that CI runs', () => {
    const ci = readFileSync(join(ROOT, '.ci/run'), 'utf8')
    expect(readme).toContain('bun install && bun index.ts data.db --create --unsafe')
    expect(readme).toContain('```sh\nbun test\n```')
    expect(ci).toContain('bun install --frozen-lockfile')
    expect(ci).toMatch(/^bun test\b/m)
  })
})
