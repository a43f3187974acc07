import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs, USAGE } from '../lib/cli'
import { tempDir } from './helpers'
import { killServersAfterEach, runCli, startServer } from './process'

const servers = killServersAfterEach()
async function started(args: string[], options?: Parameters<typeof startServer>[1]) {
  const server = await startServer(args, options)
  servers.push(server)
  return server
}

describe('command line', () => {
  test('--help prints usage and exits 0', async () => {
    const result = await runCli(['--help'])
    expect(result.exitCode).toBe(0)
    expect(result.stdout).toContain('Usage: rowpost')
    expect(result.stdout).toContain('--setting NAME VALUE')
    expect(result.stdout).toContain('max_post_body_bytes')
  })

  test('--version prints the package version', async () => {
    const { version } = await Bun.file(join(import.meta.dir, '..', 'package.json')).json()
    const result = await runCli(['--version'])
    expect(result).toEqual({ exitCode: 0, stdout: `rowpost ${version}\n`, stderr: '' })
  })

  test.each([
    [['--bogus', 'x.db'], 'Unknown option --bogus'],
    [['x.db', '-p', 'eighty'], 'Invalid port "eighty"'],
    [['x.db', '-p', '70000'], 'Invalid port "70000"'],
    [['x.db', '--setting', 'nope', '1'], 'Unknown setting "nope"'],
    [['x.db', '--setting', 'max_insert_rows', 'many'], 'Setting max_insert_rows must be a positive integer'],
    [['x.db', '--setting', 'max_insert_rows'], '--setting max_insert_rows needs a value'],
    [['x.db', '-m'], '-m needs a metadata file'],
    [[], 'No database given'],
    [['x.db', '--unsafe', '-h', '0.0.0.0'], 'only works on a loopback host'],
    [['x.db', '--cors=example.com'], '--cors: "example.com" is not an origin'],
    [['x.db', '--cors=https://example.com/'], '--cors: "https://example.com/" is not an origin (did you mean https://example.com?)'],
    [['x.db', '--cors=HTTPS://Example.com'], '(did you mean https://example.com?)'],
    [['x.db', '--cors='], '--cors: "" is not an origin'],
  ])('bad arguments %p print a clear message and usage, exit 2', async (args, message) => {
    const result = await runCli(args, { cwd: tempDir() })
    expect(result.exitCode).toBe(2)
    expect(result.stderr).toContain(message)
    expect(result.stderr).toContain('Usage: rowpost')
  })

  test('--cors takes an optional list of origins: --cors=A,B, or --cors A when A is a URL', () => {
    const origins = (args: string[]) => {
      const command = parseArgs(args)
      return command.command === 'serve' ? [command.cors, command.corsOrigins, command.files] : command
    }
    expect(origins(['x.db', '--cors'])).toEqual([true, [], ['x.db']])
    expect(origins(['--cors', 'x.db'])).toEqual([true, [], ['x.db']])
    const listed = ['https://app.example', 'http://localhost:3000']
    expect(origins(['x.db', `--cors=${listed.join(',')}`])).toEqual([true, listed, ['x.db']])
    expect(origins(['--cors', 'http://localhost:3000', 'x.db', '--cors', 'https://b.example:8443'])).toEqual([
      true,
      ['http://localhost:3000', 'https://b.example:8443'],
      ['x.db'],
    ])
    expect(USAGE).toContain('--cors[=ORIGIN,...]')
  })

  test('startup errors print one line and exit 1', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'broken.json'), '{\n  "plugins": {\n    "datasette-insert": }\n}\n')
    writeFileSync(
      join(dir, 'env.json'),
      JSON.stringify({ plugins: { 'datasette-auth-tokens': { tokens: [{ token: { $env: 'ROWPOST_TEST_UNSET' }, actor: { id: 'bot' } }] } } }),
    )
    writeFileSync(
      join(dir, 'file.json'),
      JSON.stringify({ plugins: { 'datasette-auth-tokens': { tokens: [{ token: { $file: 'missing-secret.txt' }, actor: { id: 'bot' } }] } } }),
    )
    writeFileSync(join(dir, 'shape.json'), JSON.stringify({ plugins: { 'datasette-auth-tokens': { tokens: [{ token: 5, actor: { id: 'bot' } }] } } }))
    writeFileSync(join(dir, 'text.db'), 'this is not a database, just text\n'.repeat(200))
    const cases: Array<[string[], string]> = [
      [['missing.db'], 'Database file missing.db does not exist (use --create to create it)'],
      [['data.db', '--create', '-m', 'nowhere.json'], 'Cannot read metadata file nowhere.json: no such file'],
      [['data.db', '--create', '-m', 'broken.json'], 'Invalid JSON in broken.json: Unexpected character "}" at line 3 column 25'],
      [['data.db', '--create', '-m', 'env.json'], 'Environment variable ROWPOST_TEST_UNSET is not set'],
      [['data.db', '--create', '-m', 'file.json'], 'File missing-secret.txt does not exist'],
      [['data.db', '--create', '-m', 'shape.json'], 'Invalid metadata file shape.json: plugins.datasette-auth-tokens.tokens.0.token'],
      [['text.db'], 'Cannot open text.db as a SQLite database: file is not a database'],
    ]
    for (const [args, message] of cases) {
      const result = await runCli(args, { cwd: dir })
      expect({ args, exitCode: result.exitCode }).toEqual({ args, exitCode: 1 })
      expect(result.stderr).toStartWith(`rowpost: ${message}`)
      expect(result.stderr.trim().split('\n')).toHaveLength(1)
    }
    expect(existsSync(join(dir, 'missing.db'))).toBe(false)
  })

  test('a port already in use is a one-line startup error', async () => {
    const dir = tempDir()
    const first = await started(['data.db', '--create'], { cwd: dir })
    const port = new URL(first.url).port
    const result = await runCli(['data.db', '-p', port], { cwd: dir })
    expect(result.exitCode).toBe(1)
    expect(result.stderr).toBe(`rowpost: Port ${port} is already in use on 127.0.0.1\n`)
  })
})

describe('real server', () => {
  test('serves inserts and logs one line per request without the token', async () => {
    const dir = tempDir()
    writeFileSync(
      join(dir, 'metadata.json'),
      JSON.stringify({
        plugins: {
          'datasette-insert': { allow: { bot: 'insert-bot' } },
          'datasette-auth-tokens': { tokens: [{ token: { $env: 'INSERT_TOKEN' }, actor: { bot: 'insert-bot' } }] },
        },
      }),
    )
    const server = await started(['data.db', '--create', '-m', 'metadata.json'], { cwd: dir, env: { INSERT_TOKEN: 'sekrit-abc123' } })
    const denied = await fetch(`${server.url}/-/insert/data/dogs`, { method: 'POST', body: '{"id": 1}' })
    expect(denied.status).toBe(403)
    const wrong = await fetch(`${server.url}/-/insert/data/dogs`, { method: 'POST', body: '{"id": 1}', headers: { authorization: 'Bearer sekrit-wrong' } })
    expect(wrong.status).toBe(401)
    const response = await fetch(`${server.url}/-/insert/data/dogs?pk=id`, {
      method: 'POST',
      body: '[{"id": 1, "name": "Cleopaws"}]',
      headers: { authorization: 'bearer sekrit-abc123' },
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ table_count: 1 })
    await Bun.sleep(50)
    const lines = server
      .output()
      .split('\n')
      .filter((line) => line.includes(' POST '))
    expect(lines).toHaveLength(3)
    expect(lines[0]).toMatch(/ POST \/-\/insert\/data\/dogs 403 [\d.]+ms actor=-$/)
    expect(lines[1]).toMatch(/ POST \/-\/insert\/data\/dogs 401 [\d.]+ms actor=-$/)
    expect(lines[2]).toMatch(/ POST \/-\/insert\/data\/dogs 200 [\d.]+ms actor=\(no id\)$/)
    expect(server.output()).not.toContain('sekrit')
    expect(await server.stop()).toBe(0)
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    expect(file.query('SELECT * FROM dogs').all()).toEqual([{ id: 1, name: 'Cleopaws' }])
    file.close()
  })

  test('SIGTERM finishes, checkpoints the WAL and exits 0', async () => {
    const dir = tempDir()
    const server = await started(['data.db', '--create', '--unsafe'], { cwd: dir })
    const rows = Array.from({ length: 50 }, (_, id) => ({ id, reading: id * 1.5 }))
    expect((await fetch(`${server.url}/-/insert/data/readings?pk=id`, { method: 'POST', body: JSON.stringify(rows) })).status).toBe(200)
    expect(await server.stop('SIGTERM')).toBe(0)
    expect(Bun.file(join(dir, 'data.db-wal')).size).toBe(0)
    const file = new Database(join(dir, 'data.db'), { readonly: true })
    expect(file.query('SELECT count(*) AS n FROM readings').get()).toEqual({ n: 50 })
    file.close()
  })

  test('--cors adds the plugin headers (and Idempotency-Key’s) to legacy responses; without it there are none', async () => {
    const dir = tempDir()
    const withCors = await started(['data.db', '--create', '--unsafe', '--cors'], { cwd: dir })
    for (const init of [{ method: 'OPTIONS' }, { method: 'POST', body: '{"a": 1}' }, { method: 'POST', body: 'not json' }]) {
      const response = await fetch(`${withCors.url}/-/insert/data/things`, init)
      expect(response.headers.get('access-control-allow-origin')).toBe('*')
      expect(response.headers.get('access-control-allow-headers')).toBe('content-type,authorization,idempotency-key')
      expect(response.headers.get('access-control-allow-methods')).toBe('POST')
      expect(response.headers.get('access-control-expose-headers')).toBe('idempotent-replayed')
      expect(response.headers.get('access-control-allow-credentials')).toBeNull()
    }
    const preflight = await fetch(`${withCors.url}/-/insert/data/things`, { method: 'OPTIONS' })
    expect(preflight.status).toBe(200)
    expect(await preflight.text()).toBe('ok')
    await withCors.stop()

    const without = await started(['data.db', '--unsafe'], { cwd: dir })
    const response = await fetch(`${without.url}/-/insert/data/things`, { method: 'POST', body: '{"a": 2}' })
    expect(response.status).toBe(200)
    expect([...response.headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([])
  })

  test('a body over max_post_body_bytes is refused with 413 over a real socket', async () => {
    const dir = tempDir()
    const server = await started(['data.db', '--create', '--unsafe', '--setting', 'max_post_body_bytes', '1024'], { cwd: dir })
    const big = JSON.stringify([{ text: 'x'.repeat(2000) }])
    const response = await fetch(`${server.url}/-/insert/data/notes`, { method: 'POST', body: big })
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({ status: 413, error: 'Request body exceeded maximum size of 1024 bytes', error_code: 'too_large' })
    const ok = await fetch(`${server.url}/-/insert/data/notes`, { method: 'POST', body: '{"text": "small"}' })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ table_count: 1 })
  })
})
