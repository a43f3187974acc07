/**
 * The write path's own cost, without HTTP: writeRows through RowpostDatabase.write (group commit, durability normal),
 * in another checkout's lib/ and in this one's, alternating in one process. Usage:
 *   git archive <revision> lib | tar -x -C /tmp/base && bun bench/store-paths.ts /tmp/base
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

const baseDir = process.argv[2]
if (!baseDir) throw new Error("usage: bun bench/store-paths.ts <directory holding the other checkout's lib/>")
const ROUNDS = 9
const CONCURRENT = 32

interface Side {
  label: string
  database: typeof import('../lib/database')
  writer: typeof import('../lib/writer')
}

const sides: Side[] = [
  { label: 'base', database: await import(resolve(baseDir, 'lib/database.ts')), writer: await import(resolve(baseDir, 'lib/writer.ts')) },
  { label: 'this', database: await import('../lib/database'), writer: await import('../lib/writer') },
]

let nextId = 0
const row = () => {
  const id = ++nextId
  return [
    ['id', id],
    ['name', `n${id}`],
    ['score', 1.5],
    ['active', 1],
  ] as Array<[string, string | number]>
}

/** Milliseconds for `requests` writes of `rowsPer` rows each, CONCURRENT in flight, into a fresh file. */
async function measure(side: Side, rowsPer: number, requests: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'rowpost-store-paths-'))
  const database = side.database.RowpostDatabase.open(join(dir, 'data.db'), { create: true, durability: 'normal' })
  const start = performance.now()
  let pending: Promise<unknown>[] = []
  for (let r = 0; r < requests; r++) {
    const rows = Array.from({ length: rowsPer }, row)
    const write = { table: 'items', rows, pks: ['id'], mode: 'replace' as const, alter: false, mayCreate: true }
    pending.push(database.write((writer) => side.writer.writeRows(writer as never, write)))
    if (pending.length === CONCURRENT) {
      await Promise.all(pending)
      pending = []
    }
  }
  await Promise.all(pending)
  const elapsed = performance.now() - start
  database.close()
  rmSync(dir, { recursive: true, force: true })
  return elapsed
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

for (const [rowsPer, requests] of [
  [1, 100_000],
  [1000, 200],
] as const) {
  const times = new Map(sides.map((side) => [side.label, [] as number[]]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const side of round % 2 ? [...sides].reverse() : sides) times.get(side.label)!.push(await measure(side, rowsPer, requests))
  }
  const cells = sides.map(({ label }) => {
    const values = times.get(label)!
    return `${label} median ${median(values).toFixed(0)} ms, min ${Math.min(...values).toFixed(0)} ms`
  })
  console.log(`${rowsPer} row(s) × ${requests} requests: ${cells.join('; ')}`)
}
