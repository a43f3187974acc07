/**
 * rowpost under the real Litestream 0.3.13 (the npm package's binary, called directly: its .bin wrapper needs node
 * and exits 0 when litestream fails): writes under load, then both processes are killed as a dying disk would leave
 * them, the database is deleted and restored from the file replica.
 */
import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { tempDir } from './helpers'
import { ENTRY, killServersAfterEach, startServer } from './process'

const LITESTREAM = join(import.meta.dir, '..', 'node_modules', '@flydotio', 'litestream-linux-x64', 'litestream')
const SUPPORTED = process.platform === 'linux' && process.arch === 'x64'
if (!SUPPORTED) console.log(`tests/litestream.test.ts skipped: the npm package ships Litestream for linux-x64 only, not ${process.platform}-${process.arch}`)
/** Litestream copies the WAL every sync-interval (1 s, its default and deploy/litestream.yml's); a row acknowledged longer ago than this must survive. */
const LOSS_BOUND_MS = 2500

interface Sent {
  id: number
  sentAt: number
  ackedAt?: number
}

/** Starts `litestream replicate -exec "rowpost ..."` and resolves with rowpost's URL once Litestream has written a first WAL segment. */
async function replicated(dir: string, rowpostArgs: string) {
  const config = join(dir, 'litestream.yml')
  const database = join(dir, 'data.db')
  const replica = join(dir, 'replica')
  writeFileSync(config, `dbs:\n  - path: ${database}\n    replicas:\n      - type: file\n        path: ${replica}\n        sync-interval: 1s\n`)
  const exec = `${process.execPath} ${ENTRY} ${database} --create -p 0 ${rowpostArgs}`
  const litestream = Bun.spawn([LITESTREAM, 'replicate', '-config', config, '-exec', exec], { stdout: 'pipe', stderr: 'pipe' })
  let output = ''
  const decoder = new TextDecoder()
  void (async () => {
    for await (const chunk of litestream.stdout) output += decoder.decode(chunk, { stream: true })
  })()
  void (async () => {
    for await (const chunk of litestream.stderr) output += decoder.decode(chunk, { stream: true })
  })()
  const deadline = performance.now() + 15_000
  const segments = () => {
    const generations = join(replica, 'generations')
    if (!existsSync(generations)) return 0
    return readdirSync(generations).reduce(
      (count, generation) => count + (existsSync(join(generations, generation, 'wal')) ? readdirSync(join(generations, generation, 'wal')).length : 0),
      0,
    )
  }
  let url: string | undefined
  while (url === undefined || segments() === 0) {
    if (performance.now() > deadline || litestream.exitCode !== null) throw new Error(`litestream/rowpost did not start replicating: ${output}`)
    url ??= /at (http:\/\/\S+?)\/?\n/.exec(output)?.[1]
    await Bun.sleep(50)
  }
  return { litestream, url, config, database, output: () => output }
}

/** The pid of the process Litestream started with -exec. */
function childOf(parent: Subprocess): number {
  // Go starts the child from any of its threads, and each thread lists only its own children.
  const tasks = readdirSync(`/proc/${parent.pid}/task`)
  const children = tasks.flatMap((task) => readFileSync(`/proc/${parent.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean))
  if (children.length !== 1) throw new Error(`expected one child of litestream, found ${JSON.stringify(children)}`)
  return Number(children[0])
}

/** Inserts one row per request from `clients` loops until `stop` is set, recording when each was sent and acknowledged. */
function load(url: string, clients: number, firstId: number) {
  const sent: Sent[] = []
  let nextId = firstId
  let stopped = false
  const loops = Array.from({ length: clients }, async () => {
    while (!stopped) {
      const row: Sent = { id: nextId++, sentAt: performance.now() }
      sent.push(row)
      try {
        const response = await fetch(`${url}/-/insert/data/rows?pk=id`, { method: 'POST', body: JSON.stringify({ id: row.id }) })
        if (response.status === 200) row.ackedAt = performance.now()
        await response.arrayBuffer()
      } catch {
        return
      }
    }
  })
  return {
    sent,
    async stop() {
      stopped = true
      await Promise.all(loops)
    },
  }
}

describe.skipIf(!SUPPORTED)('Litestream', () => {
  test('after both processes die and the database is deleted, a restore holds every row acknowledged before the last replicated one, and no gaps', async () => {
    const lossWindows: number[] = []
    for (let round = 0; round < 3; round++) {
      const dir = tempDir()
      const { litestream, url, config, database } = await replicated(dir, '--unsafe')
      const rowpost = childOf(litestream)
      const writes = load(url, 8, round * 1_000_000 + 1)
      await Bun.sleep(1500 + Math.random() * 1500)
      // A disk that dies takes the replication with it first; rowpost may acknowledge a few more rows meanwhile.
      litestream.kill('SIGKILL')
      const killedAt = performance.now()
      process.kill(rowpost, 'SIGKILL')
      await writes.stop()
      await litestream.exited
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${database}${suffix}`, { force: true })

      const restore = Bun.spawnSync([LITESTREAM, 'restore', '-config', config, database], { stderr: 'pipe' })
      expect({ exitCode: restore.exitCode, stderr: restore.stderr.toString().includes('level=ERROR') }).toEqual({ exitCode: 0, stderr: false })
      const restored = new Database(database, { readonly: true })
      expect(restored.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
      const present = new Set((restored.query('SELECT id FROM rows').all() as { id: number }[]).map((row) => row.id))
      restored.close()

      const byId = new Map(writes.sent.map((row) => [row.id, row]))
      const acked = writes.sent.filter((row) => row.ackedAt !== undefined)
      expect([...present].every((id) => byId.has(id))).toBe(true)
      // The replica holds a prefix of the commits: a row whose request was sent after another was acknowledged commits
      // after it, so each restored row vouches for every row acknowledged before it was sent.
      const holes = [...present].flatMap((id) => acked.filter((row) => row.ackedAt! < byId.get(id)!.sentAt && !present.has(row.id)).map((row) => row.id))
      expect(holes).toEqual([])
      const lost = acked.filter((row) => !present.has(row.id))
      const oldestLost = Math.min(...lost.map((row) => row.ackedAt!))
      const window = lost.length === 0 ? 0 : killedAt - oldestLost
      expect(present.size).toBeGreaterThan(0)
      expect(window).toBeLessThan(LOSS_BOUND_MS)
      lossWindows.push(window)
      console.log(
        `litestream round ${round + 1}: ${acked.length} rows acknowledged, ${present.size} restored, ${lost.length} lost, acknowledged within the last ${Math.round(window)} ms before the kill`,
      )
    }
  }, 90_000)

  test('rowpost stopped by Litestream leaves the WAL to it instead of checkpointing it, and the replica restores every row', async () => {
    const dir = tempDir()
    const { litestream, url, config, database, output } = await replicated(dir, '--unsafe')
    for (let id = 1; id <= 20; id++) expect((await fetch(`${url}/-/insert/data/rows?pk=id`, { method: 'POST', body: JSON.stringify({ id }) })).status).toBe(200)
    // Past one sync-interval, so the last rows are in the replica before the stop (Litestream 0.3 does not sync on exit).
    await Bun.sleep(1500)
    litestream.kill('SIGTERM')
    expect(await litestream.exited).toBe(0)
    expect(output()).toContain(`rowpost: leaving ${database}'s WAL to Litestream (setting litestream: auto)`)
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${database}${suffix}`, { force: true })
    expect(Bun.spawnSync([LITESTREAM, 'restore', '-config', config, database]).exitCode).toBe(0)
    const restored = new Database(database, { readonly: true })
    expect(restored.query('SELECT count(*) AS n FROM rows').get()).toEqual({ n: 20 })
    restored.close()
  }, 30_000)
})

describe('the litestream setting', () => {
  killServersAfterEach()

  /** Writes ~8 MB through a server with the given setting, then returns the sizes of the main file and its WAL. */
  async function sizesAfterWriting(setting: string) {
    const database = join(tempDir(), 'data.db')
    const server = await startServer([database, '--create', '--unsafe', '--setting', 'litestream', setting])
    const payload = 'x'.repeat(4000)
    for (let batch = 0; batch < 20; batch++) {
      const rows = Array.from({ length: 100 }, (_, index) => ({ id: batch * 100 + index, payload }))
      expect((await fetch(`${server.url}/-/insert/data/rows?pk=id`, { method: 'POST', body: JSON.stringify(rows) })).status).toBe(200)
    }
    const sizes = { main: statSync(database).size, wal: statSync(`${database}-wal`).size }
    expect(await server.stop('SIGTERM')).toBe(0)
    return { sizes, output: server.output(), database }
  }

  test('on: SQLite checkpoints nothing behind Litestream (the pages stay in the WAL), nor does rowpost on exit', async () => {
    const { sizes, output, database } = await sizesAfterWriting('on')
    expect(sizes.main).toBeLessThan(100_000)
    expect(sizes.wal).toBeGreaterThan(8_000_000)
    expect(output).toContain(`rowpost: leaving ${database}'s WAL to Litestream (setting litestream: on)`)
  })

  test('auto without Litestream: SQLite checkpoints as it goes, and rowpost on exit', async () => {
    const { sizes, output } = await sizesAfterWriting('auto')
    expect(sizes.main).toBeGreaterThan(4_000_000)
    expect(output).not.toContain('leaving')
  })
})
