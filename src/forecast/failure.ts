/**
 * @module Failure forecasting: forecasts of an error ratio or a latency p95 and the probability
 * that the series crosses a threshold within the horizon, from the conformal calibration of
 * forecastSeries (the empirical distribution of backtest errors per step). Feeds the
 * "API predicted to fail" alert.
 *
 * An error ratio is a count over a window's requests, so its forecast can be no surer than the
 * binomial noise of that count: given the requests per window, the spread behind the probability
 * and the band is floored at the sampling deviation of the forecast ratio (Jeffreys-corrected, so
 * 1 error in 12 requests reads as weak evidence of anything between ~1 % and ~30 %, not as a
 * certain 8.3 %). Backtest errors on a flat history (all zeros) are all zero and would otherwise
 * make the first error look certain. And each window's ratio is pooled with the windows before it
 * until the pool holds enough requests for a ratio at the threshold to mean a few errors (at most
 * 10 windows): the forecast is of the service's error ratio, not of one window's few requests.
 */
import { VGL_ERR_FORECAST_OPTION } from '../errors.js'
import {
  forecastSeries,
  MAX_MISSING_SHARE,
  MIN_POINTS,
  missingShare,
  type ForecastOptions,
} from './forecaster.js'
import { median, normalQuantile } from './stats.js'
import type { ForecastResult } from './types.js'

export interface FailureOptions extends ForecastOptions {
  /** the level that counts as failing, e.g. 0.05 (error ratio) or 800 (p95 latency in ms) */
  readonly threshold: number
  /** `ratio` keeps forecasts within [0, 1]; `latency` keeps them ≥ 0 */
  readonly kind: 'ratio' | 'latency'
  /**
   * `ratio` only: the requests behind each value (same length as the values). Floors the spread
   * at the binomial noise of a ratio over a window's requests; without it the backtest errors
   * alone set the spread.
   */
  readonly requests?: readonly number[]
  /**
   * When a value of the last this many windows is over the threshold (the pooled ratio, with
   * `requests`), also forecast with every value over it left out: the result's `newCrossing`, the
   * chance of a crossing that the failure under way (or just ended) does not explain. Without it,
   * `newCrossing` is undefined.
   */
  readonly newCrossingWithin?: number
}

/** The chance of a crossing still ahead: the forecast refitted without the values over the threshold. */
export interface NewCrossing {
  readonly probability: number
  readonly perStep: number[]
  readonly firstLikelyStep: number | null
  /** values left out (over the threshold); 0 when none of the last `newCrossingWithin` was */
  readonly leftOut: number
}

export interface FailureForecast {
  /** probability that the series exceeds the threshold at some step within the horizon */
  readonly probability: number
  /** probability of exceeding the threshold at each step */
  readonly perStep: number[]
  /** first step (1-based) whose exceedance probability is at least 0.5, or null */
  readonly firstLikelyStep: number | null
  readonly forecast: ForecastResult
  /**
   * With `newCrossingWithin`: the same forecast of a crossing the history does not already show;
   * null when too many values are over the threshold to forecast without them
   */
  readonly newCrossing?: NewCrossing | null
}

/** Windows whose request counts set the typical window size for the sampling noise. */
const RECENT_WINDOWS = 30
/**
 * A pooled ratio spans enough requests that a ratio at the threshold means at least this many
 * errors: one error among a window's few requests is not a failing service
 */
const POOL_ERRORS_AT_THRESHOLD = 4
/** ... but never more windows than this (a real failure shows within them) */
const POOL_MAX_WINDOWS = 10

/**
 * Each window's error ratio pooled with the windows just before it until the pool holds
 * ⌈POOL_ERRORS_AT_THRESHOLD / threshold⌉ requests (at most POOL_MAX_WINDOWS windows): errors over
 * requests of the pool, and the pool's requests. A window with enough requests of its own stays
 * as it is; a window without requests, or any pool without any, stays NaN.
 */
export function poolRatios(
  values: readonly number[],
  requests: readonly number[],
  threshold: number,
): { values: number[]; requests: number[] } {
  const need = Math.ceil(POOL_ERRORS_AT_THRESHOLD / threshold)
  const out: number[] = []
  const outReq: number[] = []
  for (let i = 0; i < values.length; i++) {
    if (!(requests[i] > 0) || !Number.isFinite(values[i])) {
      out.push(Number.NaN)
      outReq.push(0)
      continue
    }
    let errors = 0
    let n = 0
    for (let j = i; j >= 0 && j > i - POOL_MAX_WINDOWS && n < need; j--)
      if (requests[j] > 0 && Number.isFinite(values[j])) {
        errors += Math.min(1, Math.max(0, values[j])) * requests[j]
        n += requests[j]
      }
    out.push(errors / n)
    outReq.push(n)
  }
  return { values: out, requests: outReq }
}

/**
 * The requests in a typical window: the median over the newest windows that had any (a window
 * without requests has no ratio). Null when no window had requests.
 */
export function typicalRequests(values: readonly number[], requests: readonly number[]): number | null {
  const recent: number[] = []
  for (let i = requests.length - 1; i >= 0 && recent.length < RECENT_WINDOWS; i--)
    if (requests[i] > 0 && Number.isFinite(requests[i]) && Number.isFinite(values[i]))
      recent.push(requests[i])
  return recent.length === 0 ? null : median(recent)
}

/**
 * The binomial standard deviation of an error ratio over `n` requests around `ratio`, with the
 * Jeffreys correction (½ an error and ½ a success added): never zero, and wide for small counts
 * (0 of 12 → 5.6 %, 1 of 12 → 9.2 %; 0 of 10,000 → 0.7 ‰).
 */
export function ratioSamplingSd(ratio: number, n: number): number {
  const p = (Math.min(1, Math.max(0, ratio)) * n + 0.5) / (n + 1)
  return Math.sqrt((p * (1 - p)) / n)
}

/**
 * Per-step exceedance probabilities from a forecast and its calibration. `floorSd[h]` (optional)
 * is the least standard deviation the forecast error at step h can have (the sampling noise of
 * an error ratio): where the backtest errors spread less, the missing variance is added as
 * Gaussian noise, so the total never falls below it and is not inflated where it is above.
 */
export function exceedanceProbabilities(
  fc: ForecastResult,
  threshold: number,
  floorSd?: readonly number[],
): number[] {
  const cal = fc.calibration
  if (cal !== undefined && cal.scores.length > 0) {
    const n = cal.scores.length
    const mean = cal.scores.reduce((a, r) => a + r, 0) / n
    const spread2 = cal.scores.reduce((a, r) => a + (r - mean) ** 2, 0) / n
    return fc.forecast.map((f, h) => {
      const scale = Math.max(cal.scale[h], 1e-12)
      const extra2 = (floorSd?.[h] ?? 0) ** 2 - spread2 * scale * scale
      let c = 0
      if (extra2 > 0) {
        // y_h = f_h + r·s(h) + ε, ε ~ N(0, extra²): each calibration error carries f_h over the
        // line with the chance that the sampling noise makes up the rest
        const sd = Math.sqrt(extra2)
        for (const r of cal.scores) c += 1 - normalCdf((threshold - f - r * scale) / sd)
      } else {
        // y_h = f_h + r·s(h): count calibration errors large enough to carry f_h over the line
        const need = (threshold - f) / scale
        for (const r of cal.scores) if (r > need) c++
      }
      // add-one smoothing: a finite sample never proves a probability of exactly 0 or 1
      return (c + 0.5) / (n + 1)
    })
  }
  // no backtest: treat the interval as Gaussian
  const z = normalQuantile(0.5 + fc.level / 200)
  return fc.forecast.map((f, h) => {
    const sd = Math.max((fc.upper[h] - fc.lower[h]) / (2 * z), floorSd?.[h] ?? 0, 1e-12)
    return 1 - normalCdf((threshold - f) / sd)
  })
}

function normalCdf(x: number): number {
  // Abramowitz & Stegun 7.1.26 via erf
  const t = 1 / (1 + 0.3275911 * (Math.abs(x) / Math.SQRT2))
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-(x * x) / 2)
  return x >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y)
}

/**
 * Forecasts the series and the probability that it crosses `threshold` within the horizon.
 * Forecast errors at successive steps are strongly correlated, so the probability of crossing
 * at some step is taken as the largest per-step probability (exact under perfect correlation;
 * a union bound would overstate it).
 *
 * @example
 * const f = forecastFailure(errorRatio, { horizon: 30, threshold: 0.05, kind: 'ratio', freqSec: 60 })
 * if (f.probability > 0.8) raise('API predicted to fail', f.firstLikelyStep)
 */
export function forecastFailure(values: readonly number[], opts: FailureOptions): FailureForecast {
  if (!Number.isFinite(opts.threshold))
    throw VGL_ERR_FORECAST_OPTION(`threshold: expected a finite number, got ${String(opts.threshold)}`)
  if (opts.kind === 'ratio' && !(opts.threshold > 0 && opts.threshold < 1))
    throw VGL_ERR_FORECAST_OPTION(
      `threshold: an error-ratio threshold must be between 0 and 1, got ${opts.threshold}`,
    )
  const req = opts.requests
  if (req !== undefined && opts.kind !== 'ratio')
    throw VGL_ERR_FORECAST_OPTION('requests: only an error-ratio forecast (kind ratio) takes request counts')
  if (req !== undefined && req.length !== values.length)
    throw VGL_ERR_FORECAST_OPTION(
      `requests: expected one count per value (${values.length}), got ${req.length}`,
    )
  const within = opts.newCrossingWithin
  if (within !== undefined && !(Number.isInteger(within) && within >= 1))
    throw VGL_ERR_FORECAST_OPTION(`newCrossingWithin: expected a whole number of windows ≥ 1, got ${within}`)
  const fit = fitFailure(values, opts)
  if (within === undefined) return fit
  const { probability, perStep, firstLikelyStep } = fit
  // what the model extends: the pooled ratio with counts (a window's lone error is not a crossing)
  const seen = req === undefined ? values : poolRatios(values, req, opts.threshold).values
  const over = seen.map((v) => v > opts.threshold)
  if (!over.slice(-within).includes(true))
    return { ...fit, newCrossing: { probability, perStep, firstLikelyStep, leftOut: 0 } }
  // A failure under way (or just ended) makes its own forecast: a model extends the level it is
  // at, so "P(crossing)" is then the failure continuing, which the live alerts already tell.
  // Left out like missing windows, it leaves the forecast the history would make without it.
  const masked = values.map((v, i) => (over[i] ? Number.NaN : v))
  const gaps = missingShare(masked)
  if (gaps.missing > MAX_MISSING_SHARE * gaps.of || gaps.of - gaps.missing < MIN_POINTS)
    return { ...fit, newCrossing: null }
  const ahead = fitFailure(masked, opts)
  return {
    ...fit,
    newCrossing: {
      probability: ahead.probability,
      perStep: ahead.perStep,
      firstLikelyStep: ahead.firstLikelyStep,
      leftOut: over.filter(Boolean).length,
    },
  }
}

function fitFailure(values: readonly number[], opts: FailureOptions): FailureForecast {
  const req = opts.requests
  // with counts, the series forecast is the pooled ratio: a service's error ratio, not one
  // window's handful of requests (1 error in 16 is 6.25 %, and a naive forecast of it crossed 5 %
  // with near certainty)
  const pooled = req === undefined ? null : poolRatios(values, req, opts.threshold)
  const series = pooled?.values ?? values
  const raw = forecastSeries(series, opts)
  const n = pooled === null ? null : typicalRequests(pooled.values, pooled.requests)
  const floorSd = n === null ? undefined : raw.forecast.map((f) => ratioSamplingSd(f, n))
  const cap = (v: number): number => (opts.kind === 'ratio' ? Math.min(1, Math.max(0, v)) : Math.max(0, v))
  // the band, like the probability, is never narrower than the sampling noise
  const z = normalQuantile(0.5 + raw.level / 200)
  const forecast: ForecastResult = {
    ...raw,
    forecast: raw.forecast.map(cap),
    lower: raw.lower.map((l, h) => cap(Math.min(l, raw.forecast[h] - z * (floorSd?.[h] ?? 0)))),
    upper: raw.upper.map((u, h) => cap(Math.max(u, raw.forecast[h] + z * (floorSd?.[h] ?? 0)))),
  }
  const perStep = exceedanceProbabilities(raw, opts.threshold, floorSd)
  const probability = perStep.reduce((a, b) => Math.max(a, b), 0)
  const idx = perStep.findIndex((p) => p >= 0.5)
  return { probability, perStep, firstLikelyStep: idx < 0 ? null : idx + 1, forecast }
}
