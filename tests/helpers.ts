/** Test helpers: a fresh temporary database per test, an in-process app, and direct reads of the SQLite file. */
import { Database } from 'bun:sqlite'
import { expect } from 'bun:test'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { RowpostDatabase } from '../lib/database'
import { createApp } from '../lib/http/app'
import type { AppOptions } from '../lib/http/context'

/** Every folder tempDir made: a full run makes thousands, which left behind pile up in /tmp (tests/setup.ts removes them). */
const madeDirs: string[] = []

export function removeTempDirs(): void {
  for (const dir of madeDirs.splice(0)) rmSync(dir, { recursive: true, force: true })
}

export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-test-'))
  madeDirs.push(dir)
  return dir
}

/** Path of a not-yet-existing database file named `<name>.db` in a fresh temporary folder. */
export function tempDbPath(name = 'data'): string {
  return join(tempDir(), `${name}.db`)
}

export type BodyInit = string | Uint8Array | ReadableStream | null | undefined

export interface TestApp {
  app: ReturnType<typeof createApp>
  db: RowpostDatabase
  path: string
  request(method: string, path: string, body?: BodyInit, headers?: Record<string, string>): Promise<Response>
  /** POSTs `body` (objects are JSON-encoded; strings are sent verbatim) with an optional bearer token. */
  post(path: string, body: unknown, token?: string, headers?: Record<string, string>): Promise<Response>
  get(path: string, token?: string): Promise<Response>
  /** Every row of `table`, read straight from the file with a separate connection, ordered by rowid. */
  rows(table: string): Record<string, unknown>[]
  /** Names of the tables in the file. */
  tables(): string[]
  /** `PRAGMA table_info` of `table`: [name, declared type] pairs. */
  columns(table: string): Array<[string, string]>
}

/** request, post and get through `app.handle`, as every in-process test sends them. */
export function httpClient(app: ReturnType<typeof createApp>): Pick<TestApp, 'request' | 'post' | 'get'> {
  const request = (method: string, target: string, body?: BodyInit, headers: Record<string, string> = {}) =>
    app.handle(new Request(`http://localhost${target}`, { method, body: body ?? undefined, headers }))
  const auth = (token?: string): Record<string, string> => (token === undefined ? {} : { authorization: `Bearer ${token}` })
  return {
    request,
    post: (target, body, token, headers = {}) =>
      request('POST', target, typeof body === 'string' ? body : JSON.stringify(body), { ...auth(token), ...headers }),
    get: (target, token) => request('GET', target, undefined, auth(token)),
  }
}

/** An app over one fresh file database `data.db` (or the given path); extra options pass through. */
export function makeApp(options: Omit<Partial<AppOptions>, 'databases'> & { path?: string; databases?: RowpostDatabase[] } = {}): TestApp {
  const path = options.path ?? tempDbPath()
  const db = RowpostDatabase.open(path, { create: true })
  const app = createApp({ ...options, databases: [db, ...(options.databases ?? [])] })
  const inspect = <T>(read: (file: Database) => T): T => {
    const file = new Database(path, { readonly: true })
    try {
      return read(file)
    } finally {
      file.close()
    }
  }
  return {
    app,
    db,
    path,
    ...httpClient(app),
    rows: (table) => inspect((file) => file.query(`SELECT * FROM "${table.replaceAll('"', '""')}" ORDER BY rowid`).all() as Record<string, unknown>[]),
    tables: () =>
      inspect((file) => (file.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all() as { name: string }[]).map((r) => r.name)),
    columns: (table) =>
      inspect((file) =>
        (file.query('SELECT name, type FROM pragma_table_info(?)').all(table) as { name: string; type: string }[]).map(
          (c) => [c.name, c.type] as [string, string],
        ),
      ),
  }
}

/** Asserts a response's status and whole JSON body at once, so a failure shows both. */
export async function expectJson(response: Response, status: number, body: unknown) {
  expect({ status: response.status, body: await response.json() }).toEqual({ status, body })
}

/** Runs a read-only query against the file, with exact 64-bit integers when `safeIntegers` is set. */
export function query(t: TestApp, sql: string, params: Array<string | number> = [], safeIntegers = false): Record<string, unknown>[] {
  const file = new Database(t.path, { readonly: true, safeIntegers })
  try {
    return file.query(sql).all(...params) as Record<string, unknown>[]
  } finally {
    file.close()
  }
}

/** The repository's root, which README.md and docs/ paths are relative to. */
export const REPO_ROOT = join(import.meta.dir, '..')

/**
 * The lines of the `nth` (from 0) ```sh block under a heading of a Markdown file of the repository (`README.md`,
 * `docs/api.md`), before the next heading (`#` lines inside blocks are comments). tests/docs.test.ts checks that every
 * such block is read by some test through this function.
 */
export function docShellBlock(file: string, heading: string, nth = 0): string[] {
  const lines = readFileSync(join(REPO_ROOT, file), 'utf8').split('\n')
  const start = lines.indexOf(heading)
  expect({ file, heading, found: start !== -1 }).toEqual({ file, heading, found: true })
  let block: string[] | undefined
  let seen = 0
  for (const line of lines.slice(start + 1)) {
    if (block === undefined) {
      if (line === '```sh' && seen++ === nth) block = []
      else if (/^#{1,6} /.test(line)) break
    } else if (line === '```') return block
    else block.push(line)
  }
  expect({ file, heading, nth, block: 'no such ```sh block before the next heading' }).toEqual({ file, heading, nth, block: 'found' })
  return []
}

/** A block's commands: comment lines dropped, lines ending in `\\` joined to the next, as sh reads them. */
export function shellCommands(block: string[]): string[] {
  const commands: string[] = []
  let pending = ''
  for (const line of block) {
    if (pending === '' && (line.startsWith('#') || line.trim() === '')) continue
    if (line.endsWith('\\')) pending += `${line.slice(0, -1)}`
    else {
      commands.push(pending + line)
      pending = ''
    }
  }
  return commands
}

/** Runs documented command lines as written with `sh` in `dir`, pointing the docs' http://127.0.0.1:8001 at `url`; their stdout, each after checking it exited 0. */
export function runAsWritten(commands: string[], dir: string, url: string): string[] {
  return commands.map((command) => {
    const run = Bun.spawnSync(['sh', '-c', command.replaceAll('http://127.0.0.1:8001', url)], { cwd: dir })
    expect({ command, exitCode: run.exitCode }).toEqual({ command, exitCode: 0 })
    return run.stdout.toString()
  })
}
