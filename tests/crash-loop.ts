#!/usr/bin/env bun
/**
 * The full crash-safety run: rowpost is SIGKILLed at random moments under concurrent writers and restarted on the same
 * file, under each durability setting, then on a PostgreSQL database (a throwaway cluster started here); after every
 * kill the database must hold every acknowledged row exactly, no request in part, and a SQLite file must pass
 * `PRAGMA integrity_check`. Exits 1 on any violation.
 *
 *   bun tests/crash-loop.ts [--kills 25] [--durability full|normal|both|none] [--postgres on|off] [--writers 16]
 *                           [--min-ms 50] [--max-ms 400] [--group-commit on|off] [--seed N] [--dir PATH] [--quiet]
 *
 * Each option can also come from the environment: CRASH_KILLS, CRASH_DURABILITY, CRASH_POSTGRES, CRASH_WRITERS, CRASH_MIN_MS,
 * CRASH_MAX_MS, CRASH_GROUP_COMMIT, CRASH_SEED, CRASH_DIR. Kills are per durability setting. kill -9 is not a power cut: see crash-harness.ts.
 */
import { mkdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { SQL } from 'bun'
import { startCluster } from '../bench/postgres-cluster'
import { runCrashLoop, summaryLine, type CrashLoopOptions, type CrashSummary, type Durability } from './crash-harness'

const OPTIONS = ['kills', 'durability', 'postgres', 'writers', 'min-ms', 'max-ms', 'group-commit', 'seed', 'dir'] as const
type Option = (typeof OPTIONS)[number]

function usage(message: string): never {
  console.error(
    `crash-loop: ${message}\nusage: bun tests/crash-loop.ts [--kills N] [--durability full|normal|both|none] [--postgres on|off] [--writers N] [--min-ms N] [--max-ms N] [--group-commit on|off] [--seed N] [--dir PATH] [--quiet]`,
  )
  process.exit(2)
}

function parse(argv: string[]) {
  const values = new Map<Option, string>()
  for (const option of OPTIONS) {
    const fromEnv = process.env[`CRASH_${option.toUpperCase().replaceAll('-', '_')}`]
    if (fromEnv) values.set(option, fromEnv)
  }
  let quiet = false
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (arg === '--quiet') quiet = true
    else if (arg.startsWith('--') && (OPTIONS as readonly string[]).includes(arg.slice(2))) {
      const value = argv[++i]
      if (value === undefined) usage(`${arg} needs a value`)
      values.set(arg.slice(2) as Option, value)
    } else usage(`unknown argument ${arg}`)
  }
  const integer = (option: Option, fallback: number, min: number) => {
    const text = values.get(option)
    if (text === undefined) return fallback
    if (!/^\d+$/.test(text) || Number(text) < min) usage(`--${option} must be a whole number of at least ${min}, not ${JSON.stringify(text)}`)
    return Number(text)
  }
  const durability = values.get('durability') ?? 'both'
  if (!['full', 'normal', 'both', 'none'].includes(durability)) usage(`--durability must be full, normal, both or none, not ${JSON.stringify(durability)}`)
  const postgres = values.get('postgres') ?? 'on'
  if (postgres !== 'on' && postgres !== 'off') usage(`--postgres must be on or off, not ${JSON.stringify(postgres)}`)
  const groupCommit = values.get('group-commit') ?? 'on'
  if (groupCommit !== 'on' && groupCommit !== 'off') usage(`--group-commit must be on or off, not ${JSON.stringify(groupCommit)}`)
  const minMs = integer('min-ms', 50, 0)
  const maxMs = integer('max-ms', 400, minMs)
  return {
    kills: integer('kills', 25, 1),
    durabilities: (durability === 'both' ? ['full', 'normal'] : durability === 'none' ? [] : [durability]) as Durability[],
    postgres: postgres === 'on',
    writers: integer('writers', 16, 1),
    groupCommit: groupCommit as 'on' | 'off',
    minMs,
    maxMs,
    seed: values.has('seed') ? integer('seed', 0, 0) : undefined,
    dir: values.get('dir'),
    quiet,
  }
}

const options = parse(process.argv.slice(2))
const started = performance.now()
let failed = false

function report(summary: CrashSummary, keep: boolean): void {
  console.log(`${summary.backend}: ${summaryLine(summary)}`)
  console.log(
    `  seed ${summary.seed}; ${summary.requests} requests: ${summary.acknowledged} acknowledged, ${summary.unanswered} unanswered ` +
      `(${summary.unansweredApplied} applied whole, the rest absent), ${summary.doomed} built to fail (none applied); ` +
      `${summary.rowChecks} row comparisons over all checks; final SIGTERM exit ${summary.finalExitCode}; ${(summary.ms / 1000).toFixed(1)} s${summary.problems.length && keep ? `; kept: ${summary.path}` : ''}`,
  )
  if (summary.problems.length) {
    failed = true
    console.log(`  ${summary.problems.length} problem(s):`)
    for (const problem of summary.problems) console.log(`  - ${problem}`)
  }
}

const common: Omit<CrashLoopOptions, 'durability'> = {
  kills: options.kills,
  writers: options.writers,
  groupCommit: options.groupCommit,
  minKillMs: options.minMs,
  maxKillMs: options.maxMs,
  seed: options.seed,
  log: options.quiet ? undefined : (line) => console.log(line),
}
for (const durability of options.durabilities) {
  const dir = options.dir === undefined ? undefined : join(options.dir, durability)
  if (dir) mkdirSync(dir, { recursive: true })
  const summary = await runCrashLoop({ ...common, durability, dir })
  report(summary, true)
  if (!summary.problems.length && !dir) rmSync(dirname(summary.path), { recursive: true, force: true })
}
if (options.postgres) {
  // The cluster is this run's own and is removed after it: a failure is reported from the summary, not kept.
  const cluster = await startCluster()
  try {
    const admin = new SQL({ url: cluster.url(), max: 1 })
    await admin`CREATE DATABASE data`
    await admin.close()
    report(await runCrashLoop({ ...common, durability: 'full', postgresUrl: cluster.url('data') }), false)
  } finally {
    cluster.stop()
  }
}
console.log(`${failed ? 'FAILED' : 'passed'} in ${((performance.now() - started) / 1000).toFixed(1)} s`)
process.exit(failed ? 1 : 0)
