import { Database } from 'bun:sqlite'
import { beforeAll, describe, expect, test } from 'bun:test'
import { copyFileSync, existsSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers'
import { buildBinary } from './binary'
import { killServersAfterEach, runCli, startServer } from './process'
import { SMOKE_METADATA, smokeRequests } from './smoke'

killServersAfterEach()
const SECRET = 'binary-test-secret-0123456789abcdef0123456789'
// No bun and no node_modules where the binary runs: it must need neither.
const BARE_ENV = { PATH: '/nonexistent', ROWPOST_SECRET: SECRET }
let binary: string
let folder: string

beforeAll(async () => {
  const built = join(tempDir(), 'rowpost')
  await buildBinary(built)
  folder = tempDir()
  binary = join(folder, 'rowpost')
  copyFileSync(built, binary)
}, 120_000)

describe('the compiled binary', () => {
  test('prints its version and mints a signed token', async () => {
    const { version } = await Bun.file(join(import.meta.dir, '..', 'package.json')).json()
    expect(await runCli(['--version'], { command: [binary], cwd: folder, env: BARE_ENV })).toEqual({ exitCode: 0, stdout: `rowpost ${version}\n`, stderr: '' })
    const minted = await runCli(['create-token', 'root'], { command: [binary], cwd: folder, env: BARE_ENV })
    expect(minted.exitCode).toBe(0)
    expect(minted.stdout).toMatch(/^dstok_\S+\n$/)
  })

  test('serves inserts, reads and SQL queries with a token, then exits cleanly on SIGTERM', async () => {
    const database = join(folder, 'data.db')
    const metadata = join(folder, 'metadata.json')
    writeFileSync(metadata, SMOKE_METADATA)
    const token = (await runCli(['create-token', 'root'], { command: [binary], cwd: folder, env: BARE_ENV })).stdout.trim()
    const server = await startServer([database, '--create', '-m', metadata], { command: [binary], cwd: folder, env: BARE_ENV })
    await smokeRequests(server.url, token)
    expect(await server.stop('SIGTERM')).toBe(0)
    expect(server.output()).toContain('SIGTERM: finishing in-flight requests')
    // The shutdown checkpoint folded the WAL back (a query process may still hold it open, so it can be left empty).
    expect(existsSync(`${database}-wal`) ? statSync(`${database}-wal`).size : 0).toBe(0)
    const file = new Database(database, { readonly: true })
    expect(file.query('SELECT id, name FROM dogs ORDER BY id').all()).toEqual([
      { id: 1, name: 'Cleo' },
      { id: 2, name: 'Pancakes' },
    ])
    file.close()
  })
})
