/** docs/client.md as written: types generated from a real rowpost's /-/openapi.json, the example type-checked, then run against it. */
import { describe, expect, test } from 'bun:test'
import { readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { docShellBlock, REPO_ROOT, runAsWritten, shellCommands, tempDir } from './helpers'
import { killServersAfterEach, startServer } from './process'

const servers = killServersAfterEach()

/** The page's ```ts block, pointed at `url`. */
function example(url: string): string {
  const page = readFileSync(join(REPO_ROOT, 'docs/client.md'), 'utf8')
  return /```ts\n([\s\S]*?)```/.exec(page)![1]!.replaceAll('http://127.0.0.1:8001', url)
}

/** `tsc --noEmit` in `dir` on `files`, strict as this repository; its output, empty when the code type-checks. */
function typecheck(dir: string, files: string[]): string {
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ESNext', module: 'Preserve', moduleResolution: 'bundler', strict: true, noEmit: true, skipLibCheck: true },
      files,
    }),
  )
  const run = Bun.spawnSync([join(REPO_ROOT, 'node_modules/.bin/tsc'), '-p', dir], { cwd: dir })
  return run.stdout.toString() + run.stderr.toString()
}

describe('docs/client.md', () => {
  test('openapi-typescript and openapi-fetch make a client that type-checks and works against a real rowpost', async () => {
    const dir = tempDir()
    // The example's project: openapi-fetch and openapi-typescript installed, as the page asks.
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(dir, 'node_modules'))
    const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(server)
    await fetch(`${server.url}/data/-/create`, {
      method: 'POST',
      body: JSON.stringify({
        table: 'dogs',
        columns: [
          { name: 'id', type: 'integer' },
          { name: 'name', type: 'text' },
        ],
        pk: 'id',
      }),
    })

    const commands = shellCommands(docShellBlock('docs/client.md', '# A typed TypeScript client'))
    expect(commands).toHaveLength(1)
    runAsWritten(commands, dir, server.url)
    expect(readFileSync(join(dir, 'rowpost-api.d.ts'), 'utf8').includes('"/{database}/{table}/-/insert": {')).toBe(true)

    writeFileSync(join(dir, 'example.ts'), example(server.url))
    expect(typecheck(dir, ['example.ts'])).toBe('')
    // A misspelt path and a misspelt body key are type errors.
    writeFileSync(join(dir, 'path-typo.ts'), example(server.url).replace("'/{database}/{table}/-/insert'", "'/{database}/{table}/-/insrt'"))
    expect(typecheck(dir, ['path-typo.ts'])).toContain('/-/insrt"\' is not assignable')
    writeFileSync(join(dir, 'body-typo.ts'), example(server.url).replace('rows: [', 'rowz: ['))
    expect(typecheck(dir, ['body-typo.ts'])).toContain("'rowz' does not exist")

    const run = Bun.spawnSync(['bun', 'example.ts'], { cwd: dir })
    expect({ exitCode: run.exitCode, stderr: run.stderr.toString() }).toEqual({ exitCode: 0, stderr: '' })
    expect(run.stdout.toString()).toBe('[{"id":3,"name":"Boris"}]\n{"ok":true,"rows":[{"n":1}],"truncated":false}\n')
  }, 30_000)
})
