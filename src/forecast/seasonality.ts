/**
 * @module Seasonal periods from the sampling interval and the data: natural cycles (hour, day,
 * week, year) that the interval divides, kept when the autocorrelation at that lag is significant
 * (90% Bartlett limit, the M4 benchmarks' test); an ACF peak search when the interval is unknown.
 */
import { decompose } from './decompose.js'
import { acf, centredMovingAverage, diff, kpss, seasonalStrength } from './stats.js'

const HOUR = 3600
const DAY = 86400
const WEEK = 7 * DAY
const YEAR = 365.25 * DAY

/** Natural cycles (in steps) for a sampling interval in seconds, shortest first. */
export function candidatePeriods(freqSec: number): number[] {
  if (!(freqSec > 0)) return []
  const out: number[] = []
  const add = (p: number): void => {
    if (p >= 2 && !out.includes(p)) out.push(p)
  }
  const month = 30.44 * DAY
  if (freqSec >= 27 * DAY && freqSec <= 32 * DAY) add(12)
  else if (freqSec >= 88 * DAY && freqSec <= 93 * DAY) add(4)
  else if (freqSec >= 6.5 * DAY && freqSec <= 7.5 * DAY) add(52)
  else if (freqSec < month) {
    for (const cycle of [60, HOUR, DAY, WEEK]) {
      const p = cycle / freqSec
      // only cycles the interval divides (nearly) exactly: 7-minute data has no daily period in steps
      if (p >= 2 && Math.abs(p - Math.round(p)) < 0.02 * p) add(Math.round(p))
    }
    if (freqSec >= DAY) add(Math.round(YEAR / freqSec))
  }
  return out.sort((a, b) => a - b)
}

/** True when the autocorrelation of the (trend-removed) series at lag m is significantly positive. */
export function isSeasonal(y: readonly number[], m: number): boolean {
  const n = y.length
  if (m < 2 || n < 2 * m + 1) return false
  const trend = centredMovingAverage(y, m)
  const x: number[] = []
  for (let i = 0; i < n; i++) if (Number.isFinite(trend[i])) x.push(y[i] - trend[i])
  if (x.length < m + 3) return false
  const r = acf(x, m)
  let s = 0
  for (let k = 1; k < m; k++) s += r[k] * r[k]
  const limit = 1.645 * Math.sqrt((1 + 2 * s) / x.length)
  if (r[m] > limit && r[m] > 0.1) return true
  // For long periods (1440 one-minute steps a day) the Bartlett limit sums m-1 squared
  // autocorrelations of a smooth remainder and becomes unreachable; a strong, consistent
  // seasonal profile (Wang–Smith–Hyndman strength) is then evidence enough.
  return m > 52 && r[m] > 0.1 && seasonalStrength(y, m) > 0.5
}

/** The strongest ACF peak in lags 2..maxLag, or 0 when none is clearly there. */
export function acfPeak(y: readonly number[], maxLag: number): number {
  const x = kpss(y) > 0.463 ? diff(y) : y.slice()
  const L = Math.min(maxLag, Math.floor(x.length / 3))
  if (L < 4) return 0
  const r = acf(x, L)
  let best = 0
  let bestR = 0.3
  for (let k = 2; k < L; k++)
    if (r[k] > r[k - 1] && r[k] >= r[k + 1] && r[k] > bestR) [best, bestR] = [k, r[k]]
  return best
}

/**
 * Seasonal periods for a series: the natural cycles of `freqSec` that pass {@link isSeasonal},
 * or an ACF peak when the interval is unknown.
 */
export function detectSeasons(y: readonly number[], freqSec?: number): number[] {
  if (freqSec !== undefined && freqSec > 0) {
    const kept: number[] = []
    for (const m of candidatePeriods(freqSec)) {
      // A daily cycle also repeats at lag 168: test a longer period only on what the accepted
      // shorter ones leave unexplained.
      const z = kept.length > 0 ? decompose(y, kept, false).adjusted : y
      if (isSeasonal(z, m)) kept.push(m)
    }
    return kept
  }
  const peak = acfPeak(y, 400)
  return peak >= 2 && isSeasonal(y, peak) ? [peak] : []
}
