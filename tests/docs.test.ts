import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig } from '../lib/config'
import { SETTING_SPECS } from '../lib/settings'
import { docShellBlock, REPO_ROOT, runAsWritten, shellCommands, tempDir } from './helpers'
import { ENTRY, killServersAfterEach, startServer } from './process'

const ROOT = REPO_ROOT
const read = (file: string) => readFileSync(join(ROOT, file), 'utf8')
const readme = read('README.md')
const DOC_FILES = [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
]
const servers = killServersAfterEach()

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

/** Every ```sh block of the README and docs/, as [file, heading, nth block under that heading]. */
function shellBlocks(): Array<[string, string, number]> {
  const blocks: Array<[string, string, number]> = []
  for (const file of DOC_FILES) {
    let heading = ''
    let nth = 0
    let fenced = false
    for (const line of read(file).split('\n')) {
      if (line.startsWith('```')) {
        if (!fenced && line === '```sh') blocks.push([file, heading, nth++])
        fenced = !fenced
      } else if (!fenced && /^#{1,6} /.test(line)) {
        heading = line
        nth = 0
      }
    }
  }
  return blocks
}

/** The server a documented `[VAR=value ...] [bun install && ]bun index.ts ARGS [&] [# comment]` line starts: its arguments and environment. */
function serverOf(line: string): { args: string[]; env: Record<string, string> } {
  const words = line
    .replace(/\s+#.*$/, '')
    .replace(/\s*&$/, '')
    .replace(/^bun install && /, '')
    .split(/\s+/)
  const env: Record<string, string> = {}
  while (/^[A-Z_]+=/.test(words[0]!)) {
    const [name, value] = words.shift()!.split('=') as [string, string]
    env[name] = value
  }
  expect(words.slice(0, 2)).toEqual(['bun', 'index.ts'])
  return { args: words.slice(2), env }
}

/** A folder holding the quick start's data.db: its two dogs, keyed by id. */
function quickStartDir(): string {
  const dir = tempDir()
  const file = new Database(join(dir, 'data.db'), { create: true })
  file.run("CREATE TABLE dogs (id INTEGER PRIMARY KEY, name TEXT, age INTEGER); INSERT INTO dogs VALUES (1, 'Cleopaws', 5), (2, 'Pancakes', 4)")
  file.close()
  return dir
}

/** A documented block's `# ...` line right after a command: the command's exact output. */
function expectedOutputs(block: string[]): Map<string, string> {
  const expected = new Map<string, string>()
  for (const [i, line] of block.entries()) {
    const next = block[i + 1]
    if (!line.startsWith('#') && next?.startsWith('# ')) {
      const start = block.slice(0, i + 1).findLastIndex((candidate) => candidate.startsWith('curl '))
      expected.set(shellCommands(block.slice(start, i + 1))[0]!, next.slice(2))
    }
  }
  return expected
}

describe('the docs match the code', () => {
  test('the code defines a plausible set of error codes', () => {
    expect(errorCodes().length).toBeGreaterThan(15)
  })

  test.each(errorCodes())('error code %s (%d) is in the error table of docs/api.md with its status', (code, status) => {
    expect(read('docs/api.md')).toContain(`| \`${code}\` | ${status} |`)
  })

  test.each(Object.keys(SETTING_SPECS))('setting %s is documented in docs/configuration.md', (name) => {
    expect(read('docs/configuration.md')).toContain(`| \`${name}\` |`)
  })

  test('metadata.example.json passes the validation the server runs at startup', () => {
    const config = loadConfig(join(ROOT, 'metadata.example.json'), { INSERT_TOKEN: 'a', READER_TOKEN: 'b' })
    expect(config.tokens.map((grant) => grant.actor)).toEqual([{ bot: 'insert-bot' }, { id: 'reader' }])
    expect(config.ignoredActions).toEqual([])
  })

  test('the README’s quick start names the commands that CI runs (`bun test` is run by CI, not by a test)', () => {
    const ci = read('.ci/run')
    expect(docShellBlock('README.md', '## Quick start', 0)).toEqual(['bun install && bun index.ts data.db --create --unsafe'])
    expect(docShellBlock('README.md', '## Quick start', 1)).toEqual(['bun test'])
    expect(ci).toContain('bun install --frozen-lockfile')
    expect(ci).toMatch(/^bun test\b/m)
  })

  test('the README fits on two screens and links every file of docs/', () => {
    expect(readme.split('\n').length).toBeLessThanOrEqual(70)
    for (const file of DOC_FILES.filter((name) => name !== 'README.md')) expect({ file, linked: readme.includes(`](${file})`) }).toEqual({ file, linked: true })
  })

  test('every relative link in the README and docs/ points at a file that exists', () => {
    for (const file of DOC_FILES) {
      for (const [, target] of read(file).matchAll(/\]\(([^)#:]+)(?:#[^)]*)?\)/g)) {
        expect({ file, target, exists: existsSync(join(ROOT, file, '..', target!)) }).toEqual({ file, target, exists: true })
      }
    }
  })

  test('every ```sh block of the README and docs/ is read by a test through docShellBlock', () => {
    const calls = new Set<string>()
    for (const name of readdirSync(import.meta.dir).filter((file) => file.endsWith('.test.ts'))) {
      for (const [, file, heading, nth] of readFileSync(join(import.meta.dir, name), 'utf8').matchAll(/docShellBlock\('([^']+)', '([^']+)'(?:, (\d+))?\)/g)) {
        calls.add(JSON.stringify([file, heading, Number(nth ?? 0)]))
      }
    }
    const blocks = shellBlocks()
    expect(blocks.length).toBeGreaterThan(10)
    expect(blocks.filter((block) => !calls.has(JSON.stringify(block)))).toEqual([])
  })
})

describe('the commands of the README and docs/ work as written', () => {
  test('README quick start: the server command, then the first curls answer what the README shows', async () => {
    const dir = tempDir()
    const { args, env } = serverOf(docShellBlock('README.md', '## Quick start', 0)[0]!)
    const server = await startServer(args, { cwd: dir, env })
    servers.push(server)
    const block = docShellBlock('README.md', '## Quick start', 2)
    const commands = shellCommands(block)
    expect(commands).toHaveLength(2)
    const outputs = runAsWritten(commands, dir, server.url)
    expect(JSON.parse(outputs[0]!)).toEqual(JSON.parse(expectedOutputs(block).get(commands[0]!)!))
    expect(JSON.parse(outputs[1]!)).toMatchObject({
      ok: true,
      rows: [
        { id: 1, name: 'Cleopaws', age: 5 },
        { id: 2, name: 'Pancakes', age: 4 },
      ],
    })
  })

  test('docs/api.md, the datasette-insert curls: with and without the token of docs/configuration.md', async () => {
    const dir = quickStartDir()
    writeFileSync(join(dir, 'metadata.json'), tokensMetadata())
    writeFileSync(join(dir, 'dogs.json'), JSON.stringify([{ id: 4, name: 'Toodles', age: 3 }]))
    const server = await startServer(['data.db', '--unsafe', '-m', 'metadata.json'], { cwd: dir, env: { INSERT_TOKEN: 'abc123' } })
    servers.push(server)
    const commands = shellCommands(docShellBlock('docs/api.md', '## Inserting, upserting, altering (the datasette-insert API)'))
    expect(commands).toHaveLength(3)
    const outputs = runAsWritten(
      commands.map((command) => `INSERT_TOKEN=abc123 ${command}`),
      dir,
      server.url,
    )
    expect(outputs.map((output) => JSON.parse(output))).toEqual([{ table_count: 3 }, { table_count: 3 }, { table_count: 4 }])
    const rows = await (await fetch(`${server.url}/data/dogs.json?_shape=array`)).json()
    expect(rows).toEqual([
      { id: 1, name: 'Cleopaws', age: 7, breed: null },
      { id: 2, name: 'Pancakes', age: 4, breed: null },
      { id: 3, name: 'Boris', age: 1, breed: 'Husky' },
      { id: 4, name: 'Toodles', age: 3, breed: null },
    ])
  })

  test('docs/api.md, the Datasette 1.0 session: create-token, then every curl succeeds', async () => {
    const dir = tempDir()
    const block = docShellBlock('docs/api.md', '## The Datasette 1.0 JSON write API')
    const serverLine = block.find((line) => line.startsWith('bun index.ts'))!
    const { args } = serverOf(serverLine)
    const secret = /^export ROWPOST_SECRET=(\S+)/m.exec(block.join('\n'))![1]!
    const server = await startServer(args, { cwd: dir, env: { ROWPOST_SECRET: secret } })
    servers.push(server)
    // The server runs already (started above on a free port); the rest runs as one sh script, each curl failing on a 4xx or 5xx.
    const script = block
      .filter((line) => line !== serverLine)
      .join('\n')
      .replaceAll('bun index.ts', `bun ${ENTRY}`)
      .replaceAll('http://127.0.0.1:8001', server.url)
      .replaceAll(/^curl /gm, "curl -sS --fail-with-body -w '\\n' ")
    const run = Bun.spawnSync(['sh', '-ec', script], { cwd: dir })
    // stderr holds only create-token's warning about the short example secret.
    expect({ exitCode: run.exitCode, stderr: run.stderr.toString() }).toEqual({ exitCode: 0, stderr: expect.not.stringContaining('curl') })
    const answers = run.stdout
      .toString()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { ok: boolean; rows?: unknown[]; row_count?: number })
    expect(answers.map((answer) => answer.ok)).toEqual([true, true, true, true, true, true, true])
    expect(answers[1]!.rows).toEqual([
      expect.objectContaining({ id: 1, title: 'One', score: 1.5 }),
      expect.objectContaining({ id: 2, title: 'Two', score: null }),
    ])
    expect(answers[5]!.row_count).toBe(2)
    const database = (await (await fetch(`${server.url}/data.json`)).json()) as { tables: unknown[] }
    expect(database.tables).toEqual([])
  })

  test('docs/bulk-uploads.md: an NDJSON and a CSV upload', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'readings.ndjson'), '{"id": 1, "station": "A", "temp": 21.5}\n{"id": 2, "station": "B", "temp": 19}\n')
    writeFileSync(join(dir, 'stations.csv'), 'name,lat,lon\nA,51.5,-0.1\nB,48.9,2.35\n')
    const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(server)
    const outputs = runAsWritten(shellCommands(docShellBlock('docs/bulk-uploads.md', '# Bulk uploads: NDJSON, CSV, TSV')), dir, server.url)
    expect(outputs.map((output) => JSON.parse(output))).toEqual([{ table_count: 2 }, { table_count: 2 }])
    expect(await (await fetch(`${server.url}/data/stations.json?_shape=array`)).json()).toEqual([
      { rowid: 1, name: 'A', lat: 51.5, lon: -0.1 },
      { rowid: 2, name: 'B', lat: 48.9, lon: 2.35 },
    ])
  })

  test('docs/changes.md: curl -N follows the table and prints the change as shown', async () => {
    const dir = quickStartDir()
    const server = await startServer(['data.db', '--unsafe'], { cwd: dir })
    servers.push(server)
    const block = docShellBlock('docs/changes.md', '# Following changes live: `/-/changes`')
    const [command] = shellCommands(block)
    const curl = Bun.spawn(['sh', '-c', command!.replaceAll('http://127.0.0.1:8001', server.url)], { stdout: 'pipe' })
    const reader = curl.stdout.getReader()
    let output = ''
    const readUntil = async (text: string) => {
      while (!output.includes(text)) output += new TextDecoder().decode((await reader.read()).value)
    }
    await readUntil('retry: 1000')
    await fetch(`${server.url}/-/insert/data/dogs?pk=id`, { method: 'POST', body: JSON.stringify({ id: 3, name: 'Rex' }) })
    await readUntil('data: ')
    await readUntil('}\n')
    curl.kill()
    const shown = block.filter((line) => line.startsWith('#')).map((line) => line.slice(2))
    const at = /"at":(\d+)/.exec(output)![1]!
    expect(output.trim().split('\n')).toEqual(shown.map((line) => line.replace('1764489600000', at)))
  })

  test('docs/configuration.md: the server started with the metadata shown takes the insert bot’s token, and only it', async () => {
    const dir = quickStartDir()
    writeFileSync(join(dir, 'metadata.json'), tokensMetadata())
    const { args, env } = serverOf(docShellBlock('docs/configuration.md', '## Tokens and permissions')[0]!)
    const server = await startServer(args, { cwd: dir, env })
    servers.push(server)
    const post = (token?: string) =>
      fetch(`${server.url}/-/insert/data/dogs?pk=id`, {
        method: 'POST',
        headers: token ? { authorization: `Bearer ${token}` } : {},
        body: '{"id": 5, "name": "Bot"}',
      })
    expect((await post(env.INSERT_TOKEN)).status).toBe(200)
    expect((await post()).status).toBe(403)
    expect((await post('wrong')).status).toBe(401)
  })

  test('docs/configuration.md: create-token prints a dstok_ token restricted as asked', () => {
    const [command] = shellCommands(docShellBlock('docs/configuration.md', '### Signed tokens'))
    const run = Bun.spawnSync(['sh', '-c', command!.replaceAll('bun index.ts', `bun ${ENTRY}`)])
    expect(run.exitCode).toBe(0)
    expect(run.stdout.toString()).toMatch(/^dstok_[\w.-]+\n$/)
  })

  test('docs/postgresql.md: each command line is what rowpost’s parser takes (no database server is reached here)', () => {
    // A `rowpost` on PATH that parses its arguments as the real one does and prints the result instead of serving.
    const bin = join(tempDir(), 'bin')
    mkdirSync(bin)
    const parse = join(bin, 'parse.ts')
    writeFileSync(
      parse,
      `import { parseArgs } from ${JSON.stringify(join(ROOT, 'lib/cli'))}\nconst command = parseArgs(process.argv.slice(2), process.env)\nconsole.log(JSON.stringify(command))\n`,
    )
    writeFileSync(join(bin, 'rowpost'), `#!/bin/sh\nexec bun ${parse} "$@"\n`)
    chmodSync(join(bin, 'rowpost'), 0o755)
    const commands = shellCommands(docShellBlock('docs/postgresql.md', '# PostgreSQL: several rowposts on one database'))
    const parsed = runAsWritten(
      commands.map((command) => `PATH=${bin}:$PATH; ${command}`),
      tempDir(),
      '',
    ).map((output) => JSON.parse(output))
    expect(parsed.map((command) => [command.command, command.postgres, command.metadata ?? null, command.host])).toEqual([
      ['serve', ['postgres://rowpost:SECRET@db.internal:5432/sensors'], 'metadata.json', '0.0.0.0'],
      ['serve', ['postgres://rowpost@db.internal/sensors'], 'metadata.json', '127.0.0.1'],
      ['serve', ['postgres:///sensors?host=/run/postgresql'], null, '127.0.0.1'],
    ])
  })
})

/** The metadata.json of docs/configuration.md's "Tokens and permissions", as written. */
function tokensMetadata(): string {
  const section = read('docs/configuration.md').split('## Tokens and permissions')[1]!
  return /```json\n([\s\S]*?)```/.exec(section)![1]!
}
