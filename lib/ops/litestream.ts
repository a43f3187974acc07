/**
 * Living with Litestream (0.3), which replicates a database by reading its WAL. It holds a read transaction so no one
 * checkpoints past what it has copied, and checkpoints itself once it has; a TRUNCATE checkpoint by rowpost on exit
 * would fight it for the lock (and, were it to win, restart the WAL before Litestream read its last frames, forcing
 * a new snapshot generation). So under Litestream, rowpost leaves the WAL alone.
 */
import { existsSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import type { Settings } from '../settings'

/** Where Litestream keeps its shadow WAL for `path`, created once it has attached to the database. */
export const litestreamDirectory = (path: string): string => join(dirname(path), `.${basename(path)}-litestream`)

/** Whether rowpost should run its TRUNCATE checkpoint when it stops serving `path`. */
export function checkpointsOnExit(path: string, setting: Settings['litestream']): boolean {
  if (setting === 'off') return true
  if (setting === 'on') return false
  return !existsSync(litestreamDirectory(path))
}
