/** @module Turning timestamped samples into an equally spaced series: interval inference, gap filling, checks. */
import { VGL_ERR_FORECAST_IRREGULAR } from '../errors.js'
import { median } from './stats.js'

export interface RegularSeries {
  /** values on a fixed grid; NaN where a sample was missing */
  readonly values: number[]
  /** sampling interval in seconds, or undefined when the timestamps are only row numbers */
  readonly freqSec: number | undefined
  /** epoch ms of the last sample, for labelling forecasts */
  readonly lastMs: number
  readonly notes: string[]
}

/** How errors name where the samples came from, e.g. a file and its line numbers. */
export interface SampleLabels {
  /** prefixes the message, e.g. the file name */
  readonly source?: string
  /** names sample `i` (default `row i+1`), e.g. the file line it was read from */
  readonly rowName?: (i: number) => string
}

/**
 * Puts samples on a fixed grid. The interval is `freqSec` when given, else the median gap.
 * Gaps that are whole multiples of the interval become missing values (filled later); other
 * gaps, duplicates and unsorted timestamps are VGL_ERR_FORECAST_IRREGULAR errors, naming the
 * samples as `labels` says. Timestamps below one day after the epoch are taken as row numbers: no
 * interval is inferred.
 */
export function regularize(
  timestampsMs: readonly number[],
  values: readonly number[],
  freqSec?: number,
  labels: SampleLabels = {},
): RegularSeries {
  const row = labels.rowName ?? ((i: number) => `row ${i + 1}`)
  const where = labels.source === undefined ? '' : `${labels.source}: `
  const n = timestampsMs.length
  const notes: string[] = []
  if (n < 2) return { values: values.slice(), freqSec, lastMs: timestampsMs[0] ?? 0, notes }
  const gaps: number[] = []
  for (let i = 1; i < n; i++) {
    const g = timestampsMs[i] - timestampsMs[i - 1]
    if (!(g > 0))
      throw VGL_ERR_FORECAST_IRREGULAR(
        `${where}timestamps must increase strictly: ${row(i)} (${timestampsMs[i]}) is not after ${row(i - 1)} (${timestampsMs[i - 1]}); sort the file and drop duplicates`,
      )
    gaps.push(g)
  }
  const indexLike = timestampsMs[0] < 86_400_000 && freqSec === undefined
  const stepMs = freqSec !== undefined ? freqSec * 1000 : median(gaps)
  const out: number[] = [values[0]]
  let filled = 0
  for (let i = 0; i < gaps.length; i++) {
    const k = gaps[i] / stepMs
    const r = Math.round(k)
    if (r < 1 || Math.abs(k - r) > 0.1)
      throw VGL_ERR_FORECAST_IRREGULAR(
        freqSec === undefined
          ? `${where}timestamps are irregular: the gap from ${row(i)} to ${row(i + 1)} is ${gaps[i] / 1000}s, not a multiple of the ${stepMs / 1000}s interval; resample to a fixed interval or pass --freq SECONDS`
          : `${where}the gap from ${row(i)} to ${row(i + 1)} is ${gaps[i] / 1000}s, not a multiple of --freq ${freqSec}; give the interval the rows are written at, or leave --freq out to infer it`,
      )
    for (let j = 1; j < r; j++) {
      out.push(NaN)
      filled++
    }
    out.push(values[i + 1])
  }
  if (filled > 0) notes.push(`${filled} missing sample(s) inside gaps were added as missing values`)
  return { values: out, freqSec: indexLike ? undefined : stepMs / 1000, lastMs: timestampsMs[n - 1], notes }
}

/**
 * Rows in time order with each timestamp once (the finite values of a repeated one averaged):
 * real exports repeat and reorder rows, and refusing them would end an evaluation over one line.
 */
export function inTimeOrder(
  timestamps: readonly number[],
  values: readonly number[],
): {
  times: number[]
  values: number[]
  /** for each of `times`, the index in the input of the first sample at that time */
  rows: number[]
  repeated: number
  outOfOrder: number
} {
  let outOfOrder = 0
  for (let i = 1; i < timestamps.length; i++) if (timestamps[i] < timestamps[i - 1]) outOfOrder++
  const order = timestamps.map((_, i) => i).sort((a, b) => timestamps[a] - timestamps[b] || a - b)
  const times: number[] = []
  const rows: number[] = []
  const sums: number[] = []
  const counts: number[] = []
  for (const i of order) {
    const last = times.length - 1
    if (last < 0 || times[last] !== timestamps[i]) {
      times.push(timestamps[i])
      rows.push(i)
      sums.push(0)
      counts.push(0)
    }
    if (Number.isFinite(values[i])) {
      sums[times.length - 1] += values[i]
      counts[times.length - 1]++
    }
  }
  return {
    times,
    values: sums.map((v, k) => (counts[k] > 0 ? v / counts[k] : NaN)),
    rows,
    repeated: timestamps.length - times.length,
    outOfOrder,
  }
}
