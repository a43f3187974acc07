/** Turns per-run samples into medians and prints the results and the issue's targets as markdown tables. */

export interface Sample {
  /** Answered (2xx) requests per second. */
  rps?: number
  rowsPerSecond?: number
  p50Ms?: number
  p99Ms?: number
  /** Peak resident memory of the measured process, in bytes (idle RSS for the startup row). */
  peakRss?: number
  notes: string[]
}

export interface Cell {
  target: string
  workload: string
  /** Runs meant to fill it. */
  planned: number
  samples: Sample[]
  /** One message per failed run. */
  failures: string[]
}

export type Metric = 'rps' | 'rowsPerSecond' | 'p50Ms' | 'p99Ms' | 'peakRss'

export function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1]! + sorted[middle]!) / 2
}

export function medianOf(cell: Cell | undefined, metric: Metric): number | undefined {
  if (!cell) return undefined
  return median(cell.samples.flatMap((sample) => (sample[metric] === undefined ? [] : [sample[metric]])))
}

/** (max − min) ÷ median of the cell's headline metric, as a percentage: how much the runs disagreed. */
function spread(cell: Cell): string {
  const metric: Metric = cell.samples.some((sample) => sample.rowsPerSecond !== undefined) ? 'rowsPerSecond' : 'p50Ms'
  const values = cell.samples.flatMap((sample) => (sample[metric] === undefined ? [] : [sample[metric]]))
  const middle = median(values)
  if (values.length < 2 || !middle) return ''
  return `${Math.round(((Math.max(...values) - Math.min(...values)) / middle) * 100)}%`
}

const whole = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 })
export const count = (value: number | undefined) => (value === undefined ? '' : whole.format(value))
export const ms = (value: number | undefined) => (value === undefined ? '' : value < 10 ? value.toFixed(2) : value.toFixed(1))
export const megabytes = (bytes: number | undefined) => (bytes === undefined ? '' : (bytes / 1e6).toFixed(1))

function markdownTable(headers: string[], rightAligned: boolean[], rows: string[][]): string {
  const widths = headers.map((header, column) => Math.max(header.length, 3, ...rows.map((row) => row[column]!.length)))
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (rightAligned[column] ? cell.padStart(widths[column]!) : cell.padEnd(widths[column]!))).join(' | ')} |`
  const rule = `| ${widths.map((width, column) => (rightAligned[column] ? `${'-'.repeat(width - 1)}:` : '-'.repeat(width))).join(' | ')} |`
  return [line(headers), rule, ...rows.map(line)].join('\n')
}

export function resultsTable(cells: Cell[]): string {
  const rows = cells.map((cell) => {
    const notes = [...new Set(cell.samples.flatMap((sample) => sample.notes))]
    if (cell.failures.length) {
      const failed = `failed: ${[...new Set(cell.failures)].join('; ')}`
      notes.unshift(cell.samples.length ? `${cell.failures.length}/${cell.failures.length + cell.samples.length} runs ${failed}` : failed)
    }
    return [
      cell.target,
      cell.workload,
      count(medianOf(cell, 'rps')),
      count(medianOf(cell, 'rowsPerSecond')),
      ms(medianOf(cell, 'p50Ms')),
      ms(medianOf(cell, 'p99Ms')),
      megabytes(medianOf(cell, 'peakRss')),
      spread(cell),
      `${cell.samples.length}/${cell.planned}`,
      notes.join('; '),
    ]
  })
  const headers = ['target', 'workload', 'req/s', 'rows/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'spread', 'runs', 'notes']
  return markdownTable(headers, [false, false, true, true, true, true, true, true, true, false], rows)
}

export interface Goal {
  name: string
  /** The measured value or ratio; undefined when an input is missing. */
  actual: number | undefined
  /** How to print `actual`, e.g. as a ratio or in MB. */
  show: (value: number) => string
  comparison: '≥' | '≤'
  goal: number
  /** Why `actual` is missing, when it is. */
  missing?: string
}

export function goalsTable(goals: Goal[]): string {
  const rows = goals.map((goal) => {
    const verdict =
      goal.actual === undefined
        ? `n/a${goal.missing ? ` (${goal.missing})` : ''}`
        : (goal.comparison === '≥' ? goal.actual >= goal.goal : goal.actual <= goal.goal)
          ? 'met'
          : 'MISSED'
    return [goal.name, goal.actual === undefined ? '' : goal.show(goal.actual), `${goal.comparison} ${goal.show(goal.goal)}`, verdict]
  })
  return markdownTable(['target from the issue', 'actual', 'goal', 'verdict'], [false, true, true, false], rows)
}

/** A ratio of two cells' medians against its goal; `≤` for a ratio that must stay small (a latency). */
export function ratioGoal(
  name: string,
  numerator: Cell | undefined,
  denominator: Cell | undefined,
  metric: Metric,
  goal: number,
  comparison: '≥' | '≤' = '≥',
): Goal {
  const top = medianOf(numerator, metric)
  const bottom = medianOf(denominator, metric)
  const missing = [numerator, denominator]
    .filter((cell) => medianOf(cell, metric) === undefined)
    .map((cell) => (cell ? `${cell.workload} ${cell.failures.length ? 'failed' : 'not run'}` : 'not run'))
  return {
    name,
    actual: top !== undefined && bottom ? top / bottom : undefined,
    show: (value) => `${value.toFixed(2)}×`,
    comparison,
    goal,
    missing: missing.join(', '),
  }
}

export function limitGoal(name: string, cell: Cell | undefined, metric: Metric, goal: number, unit: 'MB' | 'ms'): Goal {
  const scale = unit === 'MB' ? 1e6 : 1
  const actual = medianOf(cell, metric)
  return {
    name,
    actual: actual === undefined ? undefined : actual / scale,
    show: (value) => `${value.toFixed(unit === 'MB' ? 1 : 0)} ${unit}`,
    comparison: '≤',
    goal,
    missing: cell?.failures.length ? 'failed' : 'not run',
  }
}
