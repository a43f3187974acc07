import { expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { tempDir } from './helpers'

const ROOT = join(import.meta.dir, '..')

test('the packed tarball starts a working server with bunx, as `bunx rowpost` will once published, SQL queries included', async () => {
  const out = tempDir()
  const pack = Bun.spawnSync(['bun', 'pm', 'pack', '--destination', out], { cwd: ROOT, stdout: 'pipe', stderr: 'pipe' })
  expect(pack.exitCode).toBe(0)
  const { version } = await Bun.file(join(ROOT, 'package.json')).json()
  const tarball = join(out, `rowpost-${version}.tgz`)
  expect(await Bun.file(tarball).exists()).toBe(true)

  const workdir = tempDir()
  const child = Bun.spawn(['bunx', '--package', tarball, 'rowpost', 'data.db', '--create', '--unsafe', '-p', '0'], {
    cwd: workdir,
    stdout: 'pipe',
    stderr: 'pipe',
  })
  try {
    let output = ''
    const reader = child.stdout.getReader()
    const decoder = new TextDecoder()
    const deadline = Date.now() + 60_000
    while (!/at (http:\/\/\S+?)\/?\n/.test(output) && Date.now() < deadline) {
      const { done, value } = await reader.read()
      if (done) break
      output += decoder.decode(value, { stream: true })
    }
    const url = /at (http:\/\/\S+?)\/?\n/.exec(output)?.[1]
    expect(url).toBeDefined()
    const response = await fetch(`${url}/-/insert/data/dogs?pk=id`, { method: 'POST', body: '[{"id": 1, "name": "Cleopaws"}]' })
    expect(await response.json()).toEqual({ table_count: 1 })
    // SQL queries run in child processes started from the installed package's own lib/query/worker.ts.
    const queried = await fetch(`${url}/data/-/query.json?sql=${encodeURIComponent('select name from dogs')}`)
    expect(await queried.json()).toEqual({ ok: true, rows: [{ name: 'Cleopaws' }], truncated: false })
  } finally {
    child.kill('SIGTERM')
    expect(await child.exited).toBe(0)
  }
  const file = new Database(join(workdir, 'data.db'), { readonly: true })
  expect(file.query('SELECT * FROM dogs').all()).toEqual([{ id: 1, name: 'Cleopaws' }])
  file.close()
}, 90_000)
