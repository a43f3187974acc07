/**
 * Prometheus metrics. prom-client 15 renders the text format and collects the gauges; the counters and histograms
 * that change on every request or commit are lib/ops/series.ts's, whose observations cost a field update (see there
 * why). prom-client's default process metrics are not used: on Bun its event-loop lag reads NaN.
 */
import { Gauge, Registry } from 'prom-client'
import { RowpostDatabase } from '../database'
import { groupCommitOf, type GroupCommit } from '../store/sqlite/group-commit'
import type { Store } from '../store/store'
import { CounterSeries, HistogramSeries, type HistogramChild } from './series'

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
  private readonly requests = new CounterSeries('rowpost_http_requests_total', 'HTTP requests answered, by method, route template and status', this.registry)
  private readonly latency = new HistogramSeries(
    'rowpost_http_request_duration_seconds',
    'Time from receiving a request to having its response, by method and route template',
    this.registry,
    LATENCY_BUCKETS_SECONDS,
  )
  private readonly refusals = new CounterSeries(
    'rowpost_write_refusals_total',
    'Requests refused because the database was locked by another process (busy) or the disk or database was full (full)',
    this.registry,
  )
  private readonly refusalsByReason = new Map(Object.values(REFUSAL_REASONS).map((reason) => [reason, this.refusals.labels({ reason })]))
  private readonly replays = new CounterSeries(
    'rowpost_idempotent_replays_total',
    'Requests answered with the stored response of an earlier request with the same Idempotency-Key',
    this.registry,
  ).labels({})
  /** Each method, route template and status's series, made on first sight; latency is by method and route alone. */
  private readonly series = new Map<string, { requests: { value: number }; latency: HistogramChild }>()
  private readonly latencies = new Map<string, HistogramChild>()
  /** Requests being handled now; Bun does not count open connections, so this is the nearest it shows. */
  inFlight = 0

  /** Commit metrics come from SQLite's group commit; other stores get the request metrics only, for now. */
  constructor(databases: Iterable<Store>) {
    const registers = [this.registry]
    const rowsWritten = new CounterSeries('rowpost_rows_written_total', 'Rows changed by committed requests (SQLite total_changes)', this.registry)
    const batchSize = new HistogramSeries('rowpost_commit_batch_requests', 'Write requests sharing one commit (group commit)', this.registry, BATCH_BUCKETS)
    const commitLatency = new HistogramSeries(
      'rowpost_commit_duration_seconds',
      'Time spent in COMMIT, its fsync included',
      this.registry,
      COMMIT_BUCKETS_SECONDS,
    )
    const committing = [...databases].flatMap((database) => {
      const commits = sqliteGroupCommit(database)
      return commits ? [{ name: database.name, commits }] : []
    })
    for (const { name, commits: groupCommit } of committing) {
      const rows = rowsWritten.labels({ database: name })
      const batches = batchSize.labels({ database: name })
      const commits = commitLatency.labels({ database: name })
      groupCommit.observers.add({
        requestWritten: (count) => (rows.value += count),
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
  }

  answered(request: AnsweredRequest): void {
    const key = `${request.status} ${request.method} ${request.route}`
    let series = this.series.get(key)
    if (!series) {
      series = {
        requests: this.requests.labels({ method: request.method, route: request.route, status: String(request.status) }),
        latency: this.latencyOf(request.method, request.route),
      }
      this.series.set(key, series)
    }
    series.requests.value++
    series.latency.observe(request.durationMs / 1000)
    if (request.errorCode !== undefined) {
      const refusal = this.refusalsByReason.get(REFUSAL_REASONS[request.errorCode] ?? '')
      if (refusal) refusal.value++
    }
    if (request.replayed) this.replays.value++
  }

  private latencyOf(method: string, route: string): HistogramChild {
    const key = `${method} ${route}`
    let latency = this.latencies.get(key)
    if (!latency) {
      latency = this.latency.labels({ method, route })
      this.latencies.set(key, latency)
    }
    return latency
  }

  get contentType(): string {
    return this.registry.contentType
  }

  text(): Promise<string> {
    return this.registry.metrics()
  }
}
