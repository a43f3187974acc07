/**
 * Prometheus metrics, exposed in the text format by prom-client (a well-kept implementation of the format, with
 * histograms and labels, measured at ~0.4 µs for a counter increment plus a histogram observation on Bun). Its
 * default process metrics are not used: on Bun its event-loop lag reads NaN.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { RowpostDatabase } from '../database'
import { groupCommitOf, type GroupCommit } from '../store/sqlite/group-commit'
import type { Store } from '../store/store'

/** What the metrics hear about one answered request. */
export interface AnsweredRequest {
  method: string
  route: string
  status: number
  durationMs: number
  errorCode?: string
  replayed: boolean
}

const LATENCY_BUCKETS_SECONDS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const COMMIT_BUCKETS_SECONDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]
/** Up to group-commit.ts's MAX_BATCH_REQUESTS. */
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

/** API error codes counted as write refusals, by the reason label they get. */
const REFUSAL_REASONS: Readonly<Record<string, string>> = { database_busy: 'busy', storage_full: 'full' }

/** The group commit of a writable SQLite database. */
export function sqliteGroupCommit(database: Store): GroupCommit | undefined {
  return database instanceof RowpostDatabase && !database.immutable ? groupCommitOf(database.connection) : undefined
}

export class Metrics {
  private readonly registry = new Registry()
  private readonly requests = new Counter({
    name: 'rowpost_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  })
  private readonly latency = new Histogram({
    name: 'rowpost_http_request_duration_seconds',
    help: 'Time from receiving a request to having its response, by method and route template',
    labelNames: ['method', 'route'] as const,
    buckets: LATENCY_BUCKETS_SECONDS,
    registers: [this.registry],
  })
  private readonly refusals = new Counter({
    name: 'rowpost_write_refusals_total',
    help: 'Requests refused because the database was locked by another process (busy) or the disk or database was full (full)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  })
  private readonly replays = new Counter({
    name: 'rowpost_idempotent_replays_total',
    help: 'Requests answered with the stored response of an earlier request with the same Idempotency-Key',
    registers: [this.registry],
  })
  /**
   * Each method, route and status's labelled children, made once: prom-client's labels() builds a label object and
   * bound functions on every call, too much to do for every request.
   */
  private readonly series = new Map<string, { requests: { inc(): void }; latency: { observe(seconds: number): void } }>()
  /** Requests being handled now; Bun does not count open connections, so this is the nearest it shows. */
  inFlight = 0

  /** Commit metrics come from SQLite's group commit; other stores get the request metrics only, for now. */
  constructor(databases: Iterable<Store>) {
    const registers = [this.registry]
    const rowsWritten = new Counter({ name: 'rowpost_rows_written_total', help: 'Rows changed by committed requests (SQLite total_changes)', labelNames: ['database'] as const, registers })
    const batchSize = new Histogram({
      name: 'rowpost_commit_batch_requests',
      help: 'Write requests sharing one commit (group commit)',
      labelNames: ['database'] as const,
      buckets: BATCH_BUCKETS,
      registers,
    })
    const commitLatency = new Histogram({
      name: 'rowpost_commit_duration_seconds',
      help: 'Time spent in COMMIT, its fsync included',
      labelNames: ['database'] as const,
      buckets: COMMIT_BUCKETS_SECONDS,
      registers,
    })
    const committing = [...databases].flatMap((database) => {
      const commits = sqliteGroupCommit(database)
      return commits ? [{ name: database.name, commits }] : []
    })
    for (const { name, commits: groupCommit } of committing) {
      const rows = rowsWritten.labels(name)
      const batches = batchSize.labels(name)
      const commits = commitLatency.labels(name)
      rows.inc(0)
      groupCommit.observers.add({
        requestWritten: (count) => rows.inc(count),
        batchCommitted: (requests, commitMs) => {
          batches.observe(requests)
          commits.observe(commitMs / 1000)
        },
      })
    }
    new Gauge({
      name: 'rowpost_write_queue_depth',
      help: 'Write requests waiting for the writer or for their commit',
      labelNames: ['database'] as const,
      registers,
      collect() {
        for (const { name, commits } of committing) this.set({ database: name }, commits.queued)
      },
    })
    const metrics = this
    new Gauge({
      name: 'rowpost_http_requests_in_flight',
      help: 'HTTP requests received and not yet answered',
      registers,
      collect() {
        this.set(metrics.inFlight)
      },
    })
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes',
      registers,
      collect() {
        this.set(process.memoryUsage.rss())
      },
    })
    new Gauge({ name: 'process_start_time_seconds', help: 'Start time of the process since the Unix epoch, in seconds', registers }).set(
      Math.round((Date.now() - performance.now()) / 1000),
    )
    for (const reason of Object.values(REFUSAL_REASONS)) this.refusals.labels(reason).inc(0)
  }

  answered(request: AnsweredRequest): void {
    const key = `${request.status} ${request.method} ${request.route}`
    let series = this.series.get(key)
    if (!series) {
      series = { requests: this.requests.labels(request.method, request.route, String(request.status)), latency: this.latency.labels(request.method, request.route) }
      this.series.set(key, series)
    }
    series.requests.inc()
    series.latency.observe(request.durationMs / 1000)
    const refusal = request.errorCode === undefined ? undefined : REFUSAL_REASONS[request.errorCode]
    if (refusal) this.refusals.labels(refusal).inc()
    if (request.replayed) this.replays.inc()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }
}
