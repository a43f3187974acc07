/**
 * `rowpost backup DB_FILE OUT_FILE`: a consistent copy of a database while a server keeps writing to it. VACUUM INTO
 * reads one snapshot inside a read transaction, so it never blocks the writer and never sees half a commit; the copy
 * is written under a temporary name and renamed into place once it passes quick_check, so OUT_FILE either does not
 * exist or is a whole, checked database.
 */
import { Database } from 'bun:sqlite'
import { existsSync, renameSync, rmSync, statSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'

/** A backup that could not be made; the CLI prints its message and exits 1. */
export class BackupError extends Error {}

export interface BackupResult {
  bytes: number
  tables: number
}

export function backupDatabase(source: string, target: string): BackupResult {
  if (!existsSync(source)) throw new BackupError(`Database file ${source} does not exist`)
  if (existsSync(target)) throw new BackupError(`${target} already exists: a backup never overwrites a file`)
  const partial = join(dirname(target), `.${basename(target)}.partial-${process.pid}`)
  let database: Database | undefined
  try {
    database = new Database(source, { readonly: true })
    // Waits out a writer's checkpoint instead of failing on a busy file.
    database.run('PRAGMA busy_timeout = 5000')
    database.query('VACUUM INTO ?').run(partial)
    const copy = new Database(partial, { readonly: true })
    try {
      const check = copy.query('PRAGMA quick_check').get() as { quick_check: string }
      if (check.quick_check !== 'ok') throw new BackupError(`The copy of ${source} failed quick_check: ${check.quick_check}`)
      const { tables } = copy.query("SELECT count(*) AS tables FROM sqlite_schema WHERE type = 'table'").get() as { tables: number }
      renameSync(partial, target)
      return { bytes: statSync(target).size, tables }
    } finally {
      copy.close()
    }
  } catch (error) {
    rmSync(partial, { force: true })
    if (error instanceof BackupError) throw error
    throw new BackupError(`Cannot back up ${source}: ${(error as Error).message}`)
  } finally {
    database?.close()
  }
}
