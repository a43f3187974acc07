import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { existsSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { runCrashLoop, seededRandom, Workload } from './crash-harness'
import { tempDir } from './helpers'
import { killServersAfterEach, startServer } from './process'

// A short run of the crash loop; `bun tests/crash-loop.ts` is the full one (25 kills under each durability setting).
// kill -9 loses nothing the process had handed to the OS, so this checks atomicity and acknowledgement order,
// not survival of a power cut.

const servers = killServersAfterEach()

describe('crash safety', () => {
  test('after kill -9 at random moments every acknowledged row is there exactly, no request is half-applied, the file is sound', async () => {
    const dir = tempDir()
    const summary = await runCrashLoop({ durability: 'full', kills: 4, dir })
    expect(summary.problems).toEqual([])
    expect(summary).toMatchObject({ kills: 4, lost: 0, halfApplied: 0, integrity: 'ok', finalExitCode: 0 })
    expect(summary.acknowledged).toBeGreaterThan(0)
    expect(summary.rowsChecked).toBeGreaterThan(0)
    rmSync(dir, { recursive: true, force: true })
  }, 60_000)

  test('the check notices a lost request, a half-applied one, a changed value and a stray column', async () => {
    const dir = tempDir()
    const path = join(dir, 'data.db')
    const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
    servers.push(server)
    const workload = new Workload(seededRandom(7), 8)
    await workload.setUp(server.url)
    workload.start(server.url)
    const acked = (kind: string, minRows: number) =>
      workload.count((request) => request.status === 200 && request.kind === kind && request.rows.length >= minRows)
    while (acked('batch', 3) < 2 || acked('single', 1) < 1) await Bun.sleep(10)
    await workload.stop()
    expect(await server.stop('SIGTERM')).toBe(0)
    expect(workload.check(path).problems).toEqual([])

    const [whole, part] = workload.requests.filter((request) => request.status === 200 && request.kind === 'batch' && request.rows.length > 2)
    const single = workload.requests.find((request) => request.status === 200 && request.kind === 'single')!
    const file = new Database(path)
    file.run('DELETE FROM batches WHERE req = ?', [whole!.n])
    file.run('DELETE FROM batches WHERE id = ?', [part!.n * 1000 + 1])
    file.run("UPDATE singles SET label = 'changed' WHERE id = ?", [single.n * 1000])
    file.run('ALTER TABLE batches ADD COLUMN sneaky TEXT')
    file.close()

    const check = workload.check(path)
    expect(check.lost).toBe(whole!.rows.length)
    expect(check.halfApplied).toBe(1)
    expect(check.problems).toHaveLength(4)
    expect(check.problems).toEqual(
      expect.arrayContaining([
        `request #${whole!.n} (batch, ${whole!.rows.length} rows into batches, 200) was acknowledged but none of its rows are in the file`,
        `request #${part!.n} (batch, ${part!.rows.length} rows into batches, 200) is half-applied: ${part!.rows.length - 1} of ${part!.rows.length} rows`,
        expect.stringContaining(`request #${single.n} (single, 1 rows into singles, 200): row ${single.n * 1000} column label is "changed", expected "#`),
        'table batches has columns no request added: sneaky',
      ]),
    )
  })
})

describe('graceful shutdown', () => {
  test.each(['SIGTERM', 'SIGINT'] as const)(
    '%s under load: every request is answered 2xx with its rows in the file, or never taken up; exit 0 soon; WAL empty',
    async (signal) => {
      const dir = tempDir()
      const path = join(dir, 'data.db')
      const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: dir })
      servers.push(server)
      const workload = new Workload(seededRandom(signal.length), 64)
      await workload.setUp(server.url)
      workload.start(server.url)
      while (workload.count((request) => request.status !== undefined) < 200) await Bun.sleep(5)
      const inFlight = workload.inFlight
      const signalled = performance.now()
      server.child.kill(signal)
      const exitCode = await Promise.race([server.child.exited, Bun.sleep(10_000).then(() => 'still running after 10 s')])
      const elapsed = performance.now() - signalled
      await workload.stop()

      expect(inFlight).toBeGreaterThan(10)
      expect(exitCode).toBe(0)
      expect(elapsed).toBeLessThan(10_000)
      const wal = `${path}-wal`
      expect(existsSync(wal) ? statSync(wal).size : 0).toBe(0)
      // A request without a response (refused, or reset on a keep-alive connection the server closed) wrote nothing.
      const check = workload.check(path, { unansweredMustBeAbsent: true })
      expect(check.problems).toEqual([])
      expect(check.integrity).toBe('ok')
      // And the server handled (and logged) exactly the requests that got an answer, plus the table creation.
      await Bun.sleep(100)
      const handled = server
        .output()
        .split('\n')
        .filter((line) => / POST \S+ \d{3} /.test(line)).length
      expect(handled).toBe(workload.count((request) => request.status !== undefined) + 1)
    },
    30_000,
  )

  test.each(['SIGTERM', 'SIGINT'] as const)('%s sent as soon as the server says it is listening still stops it cleanly with exit 0', async (signal) => {
    // A supervisor may stop a server the moment it is up; the signal must not find the process without its handlers.
    for (let attempt = 1; attempt <= 5; attempt++) {
      const server = await startServer(['data.db', '--create', '--unsafe'], { cwd: tempDir() })
      servers.push(server)
      expect({ attempt, exitCode: await server.stop(signal) }).toEqual({ attempt, exitCode: 0 })
    }
  })
})
