/** Crash-safety harness: concurrent writers against a real rowpost process, kill -9 at random moments, and a check of the file after each kill. */
import { SQL } from 'bun'
import { Database } from 'bun:sqlite'
import { join } from 'node:path'
import { tempDir } from './helpers'
import { startServer, type RunningServer } from './process'

// What this proves and what it does not: SIGKILL ends the process, but every write() it made has reached the
// operating system, which still puts it on disk. So an acknowledged row must survive under both `durability full` and
// `normal`. A power cut (losing what the OS had not yet written) is not simulated here; only `full` promises that.

export type Durability = 'full' | 'normal'

/** How each writer loop behaves; writers take roles in turn, so any writer count above 5 covers every kind. */
type Role = 'single' | 'batch' | 'alter' | 'api' | 'upsert'
type Kind = Role | 'doomed-alter' | 'doomed-api'
const ROLES: Role[] = ['single', 'batch', 'alter', 'api', 'upsert', 'batch', 'alter', 'api']

/** A cell as SQLite should hold it, read with safeIntegers: INTEGER → bigint, REAL → number, BLOB → bytes. */
type Cell = null | bigint | number | string | Uint8Array
type StoredRow = Record<string, Cell>
type JsonRow = Record<string, unknown>

/** Columns every row carries; anything else in a table must be the column some request added. */
const BASE_COLUMNS = ['id', 'req', 'idx', 'label', 'amount', 'big', 'flag', 'note', 'body']
const SINGLE_COLUMNS = [...BASE_COLUMNS, 'raw']
const ALTER_COLUMNS = ['id', 'req', 'idx', 'label']
/** The 1.0 API only inserts into existing tables: this one is created before the writers start. */
const API_TABLE = 'api_rows'
const API_COLUMNS = [
  { name: 'id', type: 'integer' },
  { name: 'req', type: 'integer' },
  { name: 'idx', type: 'integer' },
  { name: 'label', type: 'text' },
  { name: 'amount', type: 'float' },
  { name: 'big', type: 'integer' },
  { name: 'flag', type: 'integer' },
  { name: 'note', type: 'text' },
  { name: 'body', type: 'text' },
]
/** A new alter table after this many alter requests from one writer, to stay far below SQLite's 2000 columns. */
const ALTERS_PER_TABLE = 100

export interface SentRequest {
  /** Unique across the run; row ids are `n * 1000 + index`, so every row names its request. */
  n: number
  kind: Kind
  table: string
  /** The rows as SQLite must hold them if the request was applied. */
  rows: StoredRow[]
  /** The column an alter request adds: it must exist exactly when the request's rows do. */
  column?: string
  /** A request built to fail halfway through its transaction (after its ALTER and first rows): it must never be applied. */
  doomed: boolean
  /** The HTTP status, when a response arrived. */
  status?: number
  /** Why no response arrived (the fetch error's code). */
  error?: string
  /** For a request without a 2xx: whether an earlier check found it applied; later checks must find the same. */
  seen?: 'applied' | 'absent'
  /** Already reported as lost or half-applied: counted once, whatever later checks find. */
  flagged?: boolean
}

export interface Check {
  /** `PRAGMA integrity_check`, joined: `ok` for a sound file. */
  integrity: string
  /** Rows found and compared cell by cell with what their request sent. */
  rowsChecked: number
  /** Rows missing from the file that a 2xx acknowledged, or that an earlier check had found (newly found by this check). */
  lost: number
  /** Requests found with some but not all of their rows or column (newly found by this check). */
  halfApplied: number
  /** Every violation, one line each; empty when the file is as promised. */
  problems: string[]
}

export interface CheckOptions {
  /** Graceful shutdown: a request without a response must never have been applied (it was never accepted). */
  unansweredMustBeAbsent?: boolean
}

/** A small seeded PRNG (mulberry32), so a run's payloads and kill delays follow from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** JSON with bigints written as exact integers, as rowpost reads them. */
function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, item) => (typeof item === 'bigint' ? JSON.rawJSON(item.toString()) : item))
}

/** What SQLite stores for a JSON value rowpost receives (booleans are 0/1 INTEGERs, `$base64` objects BLOBs). */
function storedCell(value: unknown): Cell {
  if (value === null || typeof value === 'string' || typeof value === 'bigint') return value
  if (typeof value === 'boolean') return value ? 1n : 0n
  if (typeof value === 'number') return Number.isInteger(value) ? BigInt(value) : value
  const encoded = (value as { encoded?: unknown }).encoded
  if (typeof encoded === 'string') return new Uint8Array(Buffer.from(encoded, 'base64'))
  throw new Error(`no stored form for ${String(value)}`)
}

function storedRow(row: JsonRow): StoredRow {
  return Object.fromEntries(Object.entries(row).map(([name, value]) => [name, storedCell(value)]))
}

function sameCell(actual: unknown, expected: Cell): boolean {
  if (expected instanceof Uint8Array) return actual instanceof Uint8Array && Buffer.from(actual).equals(Buffer.from(expected))
  return Object.is(actual, expected)
}

const show = (value: unknown) => (typeof value === 'bigint' ? `${value}n` : value instanceof Uint8Array ? `<${value.byteLength} bytes>` : JSON.stringify(value))

/** A file read straight from disk: each table's columns and rows by id. */
interface FileTable {
  columns: string[]
  rows: Map<bigint, Record<string, unknown>>
}

/** Writers that record every request they send, and the check of a database file against those records. */
export class Workload {
  readonly requests: SentRequest[] = []
  /** Requests sent but not yet answered or failed. */
  inFlight = 0
  private next = 1
  private stopping = false
  private running: Promise<void>[] = []
  private readonly altersByWriter: number[]

  constructor(
    private readonly random: () => number,
    readonly writers: number,
  ) {
    this.altersByWriter = Array(writers).fill(0)
  }

  /** Creates the table the 1.0 API inserts into; run once, before the first writers. */
  async setUp(url: string): Promise<void> {
    const response = await fetch(`${url}/data/-/create`, { method: 'POST', body: JSON.stringify({ table: API_TABLE, columns: API_COLUMNS, pk: 'id' }) })
    if (response.status !== 201) throw new Error(`creating ${API_TABLE} failed: ${response.status} ${await response.text()}`)
  }

  /** Starts the writer loops against `url`; each sends one request at a time until stop(). */
  start(url: string): void {
    this.stopping = false
    this.running = Array.from({ length: this.writers }, (_, slot) => this.writer(url, slot))
  }

  /** Stops sending and waits for every request in flight to be answered or to fail. */
  async stop(): Promise<void> {
    this.stopping = true
    await Promise.all(this.running)
    this.running = []
  }

  count(filter: (request: SentRequest) => boolean): number {
    return this.requests.reduce((sum, request) => sum + (filter(request) ? 1 : 0), 0)
  }

  private async writer(url: string, slot: number): Promise<void> {
    const role = ROLES[slot % ROLES.length]!
    while (!this.stopping) {
      const { request, path, body } = this.build(role, slot)
      this.requests.push(request)
      this.inFlight++
      try {
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json' },
          signal: AbortSignal.timeout(30_000),
        })
        request.status = response.status
        await response.arrayBuffer().catch(() => undefined)
      } catch (error) {
        request.error = String((error as { code?: unknown }).code ?? (error as Error).name)
      } finally {
        this.inFlight--
      }
      // A server that is gone refuses at once; don't spin on it.
      if (request.status === undefined) await Bun.sleep(2)
    }
  }

  private row(n: number, index: number): JsonRow {
    const id = n * 1000 + index
    let amount = n / 7 + index / 13 + 0.1
    if (Number.isInteger(amount)) amount += 0.5
    const long = this.random() < 0.1
    return {
      id,
      req: n,
      idx: index,
      label: `#${n}.${index} naïve "quoted" \\ ✓ 🚀\n`,
      amount,
      // Beyond 2^53: rowpost must store it exactly as a 64-bit integer.
      big: 2n ** 53n + BigInt(id),
      flag: (n + index) % 2 === 0,
      note: (n + index) % 3 === 0 ? null : `note ${n}`,
      // One row in ten spills into overflow pages.
      body: long ? `${id}:`.repeat(Math.ceil((2000 + this.random() * 6000) / `${id}:`.length)) : `body ${id}`,
    }
  }

  private build(role: Role, slot: number): { request: SentRequest; path: string; body: string } {
    const n = this.next++
    const size = (max: number) => 1 + Math.floor(this.random() * max)
    const doomed = (role === 'alter' || role === 'api') && this.random() < 0.125
    let kind: Kind = role
    let table: string
    let path: string
    let json: JsonRow[]
    let column: string | undefined
    let body: unknown
    switch (role) {
      case 'single': {
        table = 'singles'
        path = '/-/insert/data/singles?pk=id'
        const bytes = Buffer.from(Array.from({ length: 16 }, (_, i) => (n * 31 + i * 7) & 0xff))
        json = [{ ...this.row(n, 0), raw: { $base64: true, encoded: bytes.toString('base64') } }]
        body = json[0]
        break
      }
      case 'batch':
      case 'upsert': {
        table = role === 'batch' ? 'batches' : 'upserts'
        path = role === 'batch' ? '/-/insert/data/batches?pk=id' : '/-/upsert/data/upserts?pk=id'
        json = Array.from({ length: role === 'batch' ? 1 + size(99) : size(20) }, (_, index) => this.row(n, index))
        body = json
        break
      }
      case 'alter': {
        const count = this.altersByWriter[slot]!++
        table = `altered_w${slot}_g${Math.floor(count / ALTERS_PER_TABLE)}`
        column = `c${n}`
        path = `/-/insert/data/${table}?pk=id&alter=1`
        json = Array.from({ length: size(10) + (doomed ? 1 : 0) }, (_, index) => ({
          id: n * 1000 + index,
          req: n,
          idx: index,
          label: `alter ${n}`,
          [column!]: n * 100 + index,
        }))
        if (doomed) {
          // Fails in toSqlValue after the ALTER TABLE and the first rows have run: the whole request must roll back.
          kind = 'doomed-alter'
          json[json.length - 1]![column] = 2n ** 70n
        }
        body = json
        break
      }
      case 'api': {
        table = API_TABLE
        path = `/data/${API_TABLE}/-/insert`
        json = Array.from({ length: size(50) + (doomed ? 1 : 0) }, (_, index) => this.row(n, index))
        if (doomed) {
          // Adds a column, inserts all but the last row, then the last row repeats the first id: a UNIQUE failure.
          kind = 'doomed-api'
          column = `x${n}`
          json = json.map((row) => ({ ...row, [column!]: `extra ${n}` }))
          json[json.length - 1]!.id = json[0]!.id
          body = { rows: json, alter: true }
        } else body = { rows: json }
        break
      }
    }
    const request: SentRequest = { n, kind, table, rows: json.map(storedRow), column, doomed }
    return { request, path, body: toJson(body) }
  }

  /** Checks the file at `path` against every request sent so far. Call only while no server has it open. */
  check(path: string, options: CheckOptions = {}): Check {
    const file = new Database(path, { readonly: true, safeIntegers: true })
    try {
      const integrity = (file.query('PRAGMA integrity_check').values() as string[][]).map(([line]) => line).join('; ')
      const tables = new Map<string, FileTable>()
      // sqlite_ tables are SQLite's and _rowpost_ ones the server's own (idempotency keys): no request writes them directly.
      const userTables =
        "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' AND name NOT LIKE '\\_rowpost\\_%' ESCAPE '\\'"
      for (const [name] of file.query(userTables).values() as string[][]) {
        const columns = (file.query('SELECT name FROM pragma_table_info(?)').values(name!) as string[][]).map(([column]) => column!)
        const rows = new Map<bigint, Record<string, unknown>>()
        for (const row of file.query(`SELECT * FROM "${name!.replaceAll('"', '""')}"`).all() as Record<string, unknown>[]) rows.set(row.id as bigint, row)
        tables.set(name!, { columns, rows })
      }
      return this.checkTables(tables, integrity, options)
    } finally {
      file.close()
    }
  }

  /**
   * Checks a PostgreSQL database against every request sent so far, with what it has committed. PostgreSQL has no
   * integrity_check: its own crash recovery is what is trusted; `integrity` says so.
   */
  async checkPostgres(url: string, options: CheckOptions = {}): Promise<Check> {
    const sql = new SQL({ url, bigint: true, max: 1 })
    try {
      const tables = new Map<string, FileTable>()
      const names = await sql`SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename NOT LIKE '\_rowpost\_%'`
      for (const { tablename: name } of names as Array<{ tablename: string }>) {
        const columns = (
          await sql`SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ${name} ORDER BY ordinal_position`
        ).map((column: { column_name: string }) => column.column_name)
        const rows = new Map<bigint, Record<string, unknown>>()
        for (const row of (await sql.unsafe(`SELECT * FROM "${name.replaceAll('"', '""')}"`)) as Record<string, unknown>[]) {
          rows.set(row.id as bigint, {
            ...row,
            ...Object.fromEntries(
              Object.entries(row)
                .filter(([, v]) => v instanceof Uint8Array)
                .map(([k, v]) => [k, new Uint8Array(v as Uint8Array)]),
            ),
          })
        }
        tables.set(name, { columns, rows })
      }
      return this.checkTables(tables, 'ok', options)
    } finally {
      await sql.close()
    }
  }

  private checkTables(tables: Map<string, FileTable>, integrity: string, options: CheckOptions): Check {
    const problems: string[] = integrity === 'ok' ? [] : [`integrity_check: ${integrity}`]

    let rowsChecked = 0
    let lost = 0
    let halfApplied = 0
    const accounted = new Map<string, { ids: Set<bigint>; columns: Set<string> }>()
    const describe = (request: SentRequest) =>
      `request #${request.n} (${request.kind}, ${request.rows.length} rows into ${request.table}, ${request.status ?? `no response: ${request.error}`})`

    for (const request of this.requests) {
      const ids = [...new Set(request.rows.map((row) => row.id as bigint))]
      const mine = accounted.get(request.table) ?? { ids: new Set(), columns: new Set() }
      accounted.set(request.table, mine)
      for (const id of ids) mine.ids.add(id)
      if (request.column) mine.columns.add(request.column)

      const table = tables.get(request.table)
      const found = ids.filter((id) => table?.rows.has(id)).length
      const hasColumn = request.column === undefined ? undefined : (table?.columns.includes(request.column) ?? false)
      const state = found === ids.length && hasColumn !== false ? 'applied' : found === 0 && hasColumn !== true ? 'absent' : 'partial'
      const acknowledged = request.status !== undefined && request.status >= 200 && request.status < 300

      if (state === 'partial') {
        const columnNote = hasColumn === undefined ? '' : `, column ${request.column} ${hasColumn ? 'present' : 'absent'}`
        problems.push(`${describe(request)} is half-applied: ${found} of ${ids.length} rows${columnNote}`)
        if (!request.flagged) halfApplied++
        request.flagged = true
        continue
      }
      if (request.doomed) {
        if (acknowledged) problems.push(`${describe(request)} should have failed but was acknowledged`)
        else if (request.status !== undefined && request.status !== 400) problems.push(`${describe(request)} failed with ${request.status}, not 400`)
        if (state === 'applied') problems.push(`${describe(request)} failed, yet is in the file`)
        continue
      }
      if (acknowledged) {
        if (state === 'absent') {
          problems.push(`${describe(request)} was acknowledged but none of its rows are in the file`)
          if (!request.flagged) lost += ids.length
          request.flagged = true
          continue
        }
      } else if (request.status !== undefined) {
        problems.push(`${describe(request)} got an unexpected status`)
        if (state === 'applied') problems.push(`${describe(request)} was refused, yet is in the file`)
        continue
      } else {
        if (state === 'applied' && options.unansweredMustBeAbsent) problems.push(`${describe(request)} was applied but never answered`)
        if (request.seen && request.seen !== state) {
          problems.push(`${describe(request)} was ${request.seen} after an earlier kill, ${state} now`)
          if (state === 'absent' && !request.flagged) lost += ids.length
          request.flagged = true
        }
        request.seen = state
        if (state === 'absent') continue
      }
      for (const expected of request.rows) {
        const actual = table!.rows.get(expected.id as bigint)!
        rowsChecked++
        for (const column of table!.columns) {
          const want = expected[column] ?? null
          if (!sameCell(actual[column], want)) {
            problems.push(`${describe(request)}: row ${expected.id} column ${column} is ${show(actual[column])}, expected ${show(want)}`)
          }
        }
      }
    }

    for (const [name, table] of tables) {
      const mine = accounted.get(name)
      if (!mine) {
        problems.push(`table ${name} belongs to no request`)
        continue
      }
      const base = name === 'singles' ? SINGLE_COLUMNS : name.startsWith('altered_') ? ALTER_COLUMNS : BASE_COLUMNS
      const strays = table.columns.filter((column) => !base.includes(column) && !mine.columns.has(column))
      if (strays.length) problems.push(`table ${name} has columns no request added: ${strays.join(', ')}`)
      const orphans = [...table.rows.keys()].filter((id) => !mine.ids.has(id))
      if (orphans.length) problems.push(`table ${name} has ${orphans.length} rows no request sent, e.g. id ${orphans[0]}`)
    }
    return { integrity, rowsChecked, lost, halfApplied, problems }
  }
}

export interface CrashLoopOptions {
  /** SQLite's durability setting; a PostgreSQL server commits with synchronous_commit=on whatever this says. */
  durability: Durability
  /** Serve this PostgreSQL database, named `data` and empty at the start, instead of a SQLite file. */
  postgresUrl?: string
  /** The server's group_commit setting (default on, as the server's). */
  groupCommit?: 'on' | 'off'
  /** How many times the server is killed (and restarted). */
  kills: number
  /** Concurrent writer loops (default 16). */
  writers?: number
  /** The kill comes this many milliseconds after the writers start: uniformly random in [min, max] (default 50–400). */
  minKillMs?: number
  maxKillMs?: number
  seed?: number
  /** Folder for data.db; a fresh temporary one by default. */
  dir?: string
  /** Progress, one line per kill. */
  log?: (line: string) => void
}

export interface CrashSummary {
  /** `full` or `normal` for SQLite, `postgres` for a PostgreSQL database. */
  backend: Durability | 'postgres'
  seed: number
  path: string
  kills: number
  requests: number
  acknowledged: number
  /** Requests that never got a response: they may or may not be applied, but never in part. */
  unanswered: number
  unansweredApplied: number
  /** Requests built to fail (each got its 400, or no response) — none may be in the file. */
  doomed: number
  /** Rows in the file at the end, each compared with what its request sent. */
  rowsChecked: number
  /** Row comparisons over all checks (every check re-reads every earlier request). */
  rowChecks: number
  lost: number
  halfApplied: number
  integrity: string
  /** Every violation found; empty for a clean run. */
  problems: string[]
  /** Exit code of the final SIGTERM, after the last restart. */
  finalExitCode: number
  ms: number
}

const MAX_PROBLEMS_KEPT = 200

/** Drains a server's stderr, so a chatty failure cannot block it on a full pipe, and keeps the text for reports. */
function collectStderr(server: RunningServer): () => string {
  let text = ''
  void (async () => {
    const decoder = new TextDecoder()
    for await (const chunk of server.child.stderr) text += decoder.decode(chunk, { stream: true })
  })().catch(() => undefined)
  return () => text
}

/**
 * Starts rowpost on a fresh file, then `kills` times: run the writers, SIGKILL the server at a random moment, wait for
 * it to die, check the file (read-only, with no server running), restart on the same file. After the last kill it
 * restarts once more, stops it with SIGTERM and checks again.
 */
export async function runCrashLoop(options: CrashLoopOptions): Promise<CrashSummary> {
  const started = performance.now()
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31)
  const random = seededRandom(seed)
  const dir = options.dir ?? tempDir()
  const path = join(dir, 'data.db')
  const minKillMs = options.minKillMs ?? 50
  const maxKillMs = options.maxKillMs ?? 400
  const workload = new Workload(random, options.writers ?? 16)
  const postgres = options.postgresUrl
  const label = postgres ? 'postgres' : options.durability
  const args = [
    ...(postgres ? [postgres] : ['data.db', '--setting', 'durability', options.durability]),
    '--unsafe',
    '--setting',
    'group_commit',
    options.groupCommit ?? 'on',
  ]
  const checkNow = () => (postgres ? workload.checkPostgres(postgres) : workload.check(path))
  const walSize = () => (postgres ? 0 : Bun.file(`${path}-wal`).size)
  const problems: string[] = []
  const note = (found: string[]) => problems.push(...found.slice(0, MAX_PROBLEMS_KEPT - problems.length))
  let lost = 0
  let halfApplied = 0
  let rowChecks = 0
  let integrity = 'ok'
  let last: Check | undefined

  const absorb = (check: Check, stderr: string) => {
    lost += check.lost
    halfApplied += check.halfApplied
    rowChecks += check.rowsChecked
    if (check.integrity !== 'ok') integrity = check.integrity
    if (check.problems.length && stderr.trim()) check.problems.push(`server stderr: ${stderr.trim().slice(-2000)}`)
    note(check.problems)
    last = check
  }

  let server = await startServer(postgres ? args : [...args, '--create'], { cwd: dir })
  let stderr = collectStderr(server)
  await workload.setUp(server.url)
  for (let kill = 1; kill <= options.kills; kill++) {
    if (kill > 1) {
      server = await startServer(args, { cwd: dir })
      stderr = collectStderr(server)
    }
    const before = workload.requests.length
    workload.start(server.url)
    const delay = Math.round(minKillMs + random() * (maxKillMs - minKillMs))
    await Bun.sleep(delay)
    if (server.child.exitCode !== null) problems.push(`kill ${kill}: the server had already exited with ${server.child.exitCode}: ${stderr().slice(-2000)}`)
    const inFlight = workload.inFlight
    server.child.kill('SIGKILL')
    await server.child.exited
    await workload.stop()
    const walBytes = walSize()
    const check = await checkNow()
    absorb(check, stderr())
    const sent = workload.requests.slice(before)
    const acked = sent.filter((request) => request.status !== undefined && request.status < 300).length
    const unanswered = sent.filter((request) => request.status === undefined)
    const applied = unanswered.filter((request) => request.seen === 'applied').length
    options.log?.(
      `[${label}] kill ${kill}/${options.kills} after ${delay} ms with ${inFlight} in flight: ${sent.length} requests, ${acked} acknowledged, ` +
        `${unanswered.length} unanswered (${applied} applied); WAL ${(walBytes / 1e6).toFixed(1)} MB; ${check.rowsChecked} rows checked; ` +
        `${check.problems.length ? `${check.problems.length} PROBLEMS` : 'ok'}`,
    )
  }

  server = await startServer(args, { cwd: dir })
  stderr = collectStderr(server)
  // One answered request first: a SIGTERM right after the listening line can arrive before the handlers exist.
  await (await fetch(`${server.url}/-/versions.json`)).arrayBuffer()
  const finalExitCode = await server.stop('SIGTERM')
  if (finalExitCode !== 0) problems.push(`the final SIGTERM exited ${finalExitCode}: ${stderr().slice(-2000)}`)
  const walLeft = walSize()
  if (walLeft !== 0) problems.push(`after the final SIGTERM the WAL still holds ${walLeft} bytes`)
  absorb(await checkNow(), stderr())

  const isAcked = (request: SentRequest) => request.status !== undefined && request.status >= 200 && request.status < 300
  return {
    backend: label,
    seed,
    path: postgres ?? path,
    kills: options.kills,
    requests: workload.requests.length,
    acknowledged: workload.count(isAcked),
    unanswered: workload.count((request) => request.status === undefined),
    unansweredApplied: workload.count((request) => request.status === undefined && request.seen === 'applied'),
    doomed: workload.count((request) => request.doomed),
    rowsChecked: last?.rowsChecked ?? 0,
    rowChecks,
    lost,
    halfApplied,
    integrity,
    problems,
    finalExitCode,
    ms: performance.now() - started,
  }
}

/** The one-line summary the crash-loop script prints. */
export function summaryLine(summary: CrashSummary): string {
  return `kills survived: ${summary.kills}, requests acknowledged: ${summary.acknowledged}, rows checked: ${summary.rowsChecked}, lost: ${summary.lost}, half-applied: ${summary.halfApplied}, integrity: ${summary.integrity}`
}
