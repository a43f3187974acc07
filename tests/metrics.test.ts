import { Database } from 'bun:sqlite'
import { describe, expect, test } from 'bun:test'
import { interpretMetadata } from '../lib/config'
import { RowpostDatabase } from '../lib/database'
import { makeApp, tempDbPath } from './helpers'
import { serveApp } from './ops-server'

/** The value of one sample line (`name{labels} value`) of a Prometheus text page; undefined when it is absent. */
function sample(page: string, series: string): number | undefined {
  const line = page.split('\n').find((candidate) => candidate.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function scrape(url: string): Promise<string> {
  const response = await fetch(`${url}/-/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  return response.text()
}

const post = (url: string, path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('/-/metrics', () => {
  test('requests, latency, rows written and commits move as requests are answered', async () => {
    const t = serveApp({ unsafe: true })
    const before = await scrape(t.url)
    expect(sample(before, 'rowpost_rows_written_total{database="data"}')).toBe(0)
    expect(sample(before, 'rowpost_http_requests_total{method="POST",route="/-/insert/:database/:table",status="200"}')).toBeUndefined()

    const inserted = await post(t.url, '/-/insert/data/dogs?pk=id', [{ id: 1 }, { id: 2 }, { id: 3 }])
    expect(inserted.status).toBe(200)
    const replaced = await post(t.url, '/-/insert/data/dogs?pk=id', [{ id: 3 }, { id: 4 }])
    expect(replaced.status).toBe(200)
    const refused = await post(t.url, '/-/insert/data/dogs?pk=id', [{ id: 5, unknown: 1 }])
    expect(refused.status).toBe(400)
    expect(t.rows('dogs')).toHaveLength(4)

    const after = await scrape(t.url)
    expect(sample(after, 'rowpost_http_requests_total{method="POST",route="/-/insert/:database/:table",status="200"}')).toBe(2)
    expect(sample(after, 'rowpost_http_requests_total{method="POST",route="/-/insert/:database/:table",status="400"}')).toBe(1)
    // One latency series per route, whatever the statuses, with cumulative buckets ending in +Inf.
    expect(after.match(/^rowpost_http_request_duration_seconds_count\{method="POST",route="\/-\/insert\/:database\/:table"\} 3$/gm)).toHaveLength(1)
    expect(sample(after, 'rowpost_http_request_duration_seconds_bucket{method="POST",route="/-/insert/:database/:table",le="+Inf"}')).toBe(3)
    expect(sample(after, 'rowpost_http_requests_total{method="GET",route="/-/metrics",status="200"}')).toBe(1)
    // 3 rows, then a replaced row and a new one: SQLite counts the REPLACE's row once.
    expect(sample(after, 'rowpost_rows_written_total{database="data"}')).toBe(5)
    const commits = sample(after, 'rowpost_commit_duration_seconds_count{database="data"}')!
    expect(commits).toBeGreaterThanOrEqual(1)
    expect(sample(after, 'rowpost_commit_batch_requests_sum{database="data"}')).toBe(2)
    expect(sample(after, 'rowpost_commit_batch_requests_count{database="data"}')).toBe(commits)
    expect(sample(after, 'rowpost_write_queue_depth{database="data"}')).toBe(0)
    expect(sample(after, 'rowpost_http_requests_in_flight')).toBe(1)
  })

  test('an unknown path is counted under one route label, not its own', async () => {
    const t = serveApp({ unsafe: true })
    for (const path of ['/nope/a/b/c', '/nope/d/e/f']) expect((await fetch(`${t.url}${path}`)).status).toBe(404)
    expect(sample(await scrape(t.url), 'rowpost_http_requests_total{method="GET",route="unmatched",status="404"}')).toBe(2)
  })

  test('idempotent replays are counted', async () => {
    const t = serveApp({ unsafe: true })
    const headers = { 'idempotency-key': 'retry-1' }
    const body = { table: 'dogs', rows: [{ id: 1 }], pk: 'id' }
    expect((await post(t.url, '/data/-/create', body, headers)).status).toBe(201)
    const again = await post(t.url, '/data/-/create', body, headers)
    expect({ status: again.status, replayed: again.headers.get('idempotent-replayed') }).toEqual({ status: 201, replayed: 'true' })
    const page = await scrape(t.url)
    expect(sample(page, 'rowpost_idempotent_replays_total')).toBe(1)
    expect(t.rows('dogs')).toEqual([{ id: 1 }])
  })

  test("a write waiting for another process's lock shows in the queue depth, and a busy refusal is counted", async () => {
    const busyPath = tempDbPath('busy')
    const t = serveApp({ unsafe: true, databases: [RowpostDatabase.open(busyPath, { create: true, busyTimeoutMs: 600, name: 'busy' })] })
    expect((await post(t.url, '/-/insert/busy/dogs?pk=id', [{ id: 1 }])).status).toBe(200)
    const other = new Database(busyPath)
    other.run('BEGIN IMMEDIATE')
    const waiting = post(t.url, '/-/insert/busy/dogs?pk=id', [{ id: 2 }])
    await Bun.sleep(200)
    expect(sample(await scrape(t.url), 'rowpost_write_queue_depth{database="busy"}')).toBe(1)
    const refused = await waiting
    expect(refused.status).toBe(503)
    other.run('ROLLBACK')
    const page = await scrape(t.url)
    expect(sample(page, 'rowpost_write_refusals_total{reason="busy"}')).toBe(1)
    expect(sample(page, 'rowpost_write_refusals_total{reason="full"}')).toBe(0)
    expect(sample(page, 'rowpost_write_queue_depth{database="busy"}')).toBe(0)
    expect(other.query('SELECT id FROM dogs').all()).toEqual([{ id: 1 }])
    other.close()
  })
})

describe('who may read /-/metrics', () => {
  const tokens = [
    { token: 'root-token', actor: { id: 'root' } },
    { token: 'ops-token', actor: { id: 'ops' } },
  ]
  const metrics = (t: ReturnType<typeof makeApp>, token?: string) => t.get('/-/metrics', token).then((response) => response.status)

  test('by default, anyone who may view the instance', async () => {
    expect(await metrics(makeApp())).toBe(200)
    expect(await metrics(makeApp({ defaultDeny: true }))).toBe(403)
  })

  test('view-metrics follows view-instance when the root does not grant it', async () => {
    const config = interpretMetadata({ allow: { id: 'root' }, plugins: { 'datasette-auth-tokens': { tokens } } })
    const t = makeApp({ config })
    expect([await metrics(t), await metrics(t, 'root-token'), await metrics(t, 'ops-token')]).toEqual([403, 200, 403])
  })

  test('a root view-metrics grant decides on its own', async () => {
    const config = interpretMetadata({
      allow: { id: 'root' },
      permissions: { 'view-metrics': { id: 'ops' } },
      plugins: { 'datasette-auth-tokens': { tokens } },
    })
    const t = makeApp({ config })
    expect([await metrics(t), await metrics(t, 'root-token'), await metrics(t, 'ops-token')]).toEqual([403, 403, 200])
    expect(config.ignoredActions).toEqual([])
  })
})
