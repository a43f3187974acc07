import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './helpers'
import { killServersAfterEach, runCli, startServer } from './process'

killServersAfterEach()

interface Sent {
  id: number
  sentAt: number
  ackedAt?: number
}

describe('rowpost backup', () => {
  test('copies a database consistently while a server keeps writing to it', async () => {
    const dir = tempDir()
    const database = join(dir, 'data.db')
    const server = await startServer([database, '--create', '--unsafe'])
    const sent: Sent[] = []
    let nextId = 1
    let stopped = false
    const writers = Array.from({ length: 6 }, async () => {
      while (!stopped) {
        const row: Sent = { id: nextId++, sentAt: performance.now() }
        sent.push(row)
        const response = await fetch(`${server.url}/-/insert/data/rows?pk=id`, {
          method: 'POST',
          body: JSON.stringify({ id: row.id, payload: 'x'.repeat(200) }),
        })
        expect(response.status).toBe(200)
        row.ackedAt = performance.now()
        await response.arrayBuffer()
      }
    })
    const copies: Array<{ path: string; startedAt: number }> = []
    try {
      await Bun.sleep(300)
      for (let copy = 1; copy <= 3; copy++) {
        const path = join(dir, `copy-${copy}.db`)
        const startedAt = performance.now()
        const result = await runCli(['backup', database, path])
        expect(result).toMatchObject({ exitCode: 0, stderr: '' })
        expect(result.stdout).toMatch(/^rowpost: backed up .* \(1 tables, \d+ bytes, quick_check ok\)\n$/)
        copies.push({ path, startedAt })
        await Bun.sleep(150)
      }
    } finally {
      stopped = true
      await Promise.all(writers)
    }
    const byId = new Map(sent.map((row) => [row.id, row]))
    let previous = 0
    for (const { path, startedAt } of copies) {
      const copy = new Database(path, { readonly: true })
      expect(copy.query('PRAGMA integrity_check').get()).toEqual({ integrity_check: 'ok' })
      const ids = (copy.query('SELECT id FROM rows').all() as { id: number }[]).map((row) => row.id)
      copy.close()
      const present = new Set(ids)
      // Everything acknowledged before the backup began is in it; each row in it vouches for every row acknowledged
      // before it was sent (one snapshot, no half commits); and later copies hold more.
      expect(sent.filter((row) => row.ackedAt! < startedAt && !present.has(row.id)).map((row) => row.id)).toEqual([])
      const holes = ids.flatMap((id) => sent.filter((row) => row.ackedAt! < byId.get(id)!.sentAt && !present.has(row.id)).map((row) => row.id))
      expect(holes).toEqual([])
      expect(ids.length).toBeGreaterThan(previous)
      previous = ids.length
    }
    expect(previous).toBeLessThan(sent.length)
    expect(readdirSync(dir).filter((name) => name.includes('.partial-'))).toEqual([])
  }, 30_000)

  test('never overwrites a file, and says why it cannot copy', async () => {
    const dir = tempDir()
    const database = join(dir, 'data.db')
    const existing = join(dir, 'existing.db')
    const db = new Database(database, { create: true })
    db.run('CREATE TABLE t (x)')
    db.close()
    writeFileSync(existing, 'keep me')
    const overwrite = await runCli(['backup', database, existing])
    expect({ exitCode: overwrite.exitCode, stderr: overwrite.stderr }).toEqual({
      exitCode: 1,
      stderr: `rowpost: ${existing} already exists: a backup never overwrites a file\n`,
    })
    expect(readFileSync(existing, 'utf8')).toBe('keep me')
    const missing = await runCli(['backup', join(dir, 'nope.db'), join(dir, 'out.db')])
    expect({ exitCode: missing.exitCode, stderr: missing.stderr }).toEqual({
      exitCode: 1,
      stderr: `rowpost: Database file ${join(dir, 'nope.db')} does not exist\n`,
    })
    const notSqlite = join(dir, 'text.db')
    writeFileSync(notSqlite, 'not a database at all, just some text that is long enough'.repeat(20))
    const refused = await runCli(['backup', notSqlite, join(dir, 'out.db')])
    expect(refused.exitCode).toBe(1)
    expect(refused.stderr).toStartWith(`rowpost: Cannot back up ${notSqlite}: `)
    expect(existsSync(join(dir, 'out.db'))).toBe(false)
    const usage = await runCli(['backup', database])
    expect(usage.exitCode).toBe(2)
    expect(usage.stderr).toContain('rowpost backup DB_FILE OUT_FILE')
  })
})
