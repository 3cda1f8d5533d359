/**
 * @module Failure forecasting: forecasts of an error ratio or a latency p95 and the probability
 * that the series crosses a threshold within the horizon, from the conformal calibration of
 * forecastSeries (the empirical distribution of backtest errors per step). Feeds the
 * "API predicted to fail" alert.
 */
import { VGL_ERR_FORECAST_OPTION } from '../errors.js'
import { forecastSeries, type ForecastOptions } from './forecaster.js'
import { normalQuantile } from './stats.js'
import type { ForecastResult } from './types.js'

export interface FailureOptions extends ForecastOptions {
  /** the level that counts as failing, e.g. 0.05 (error ratio) or 800 (p95 latency in ms) */
  readonly threshold: number
  /** `ratio` keeps forecasts within [0, 1]; `latency` keeps them ≥ 0 */
  readonly kind: 'ratio' | 'latency'
}

export interface FailureForecast {
  /** probability that the series exceeds the threshold at some step within the horizon */
  readonly probability: number
  /** probability of exceeding the threshold at each step */
  readonly perStep: number[]
  /** first step (1-based) whose exceedance probability is at least 0.5, or null */
  readonly firstLikelyStep: number | null
  readonly forecast: ForecastResult
}

/** Per-step exceedance probabilities from a forecast and its calibration. */
export function exceedanceProbabilities(fc: ForecastResult, threshold: number): number[] {
  const cal = fc.calibration
  if (cal !== undefined && cal.scores.length > 0) {
    const n = cal.scores.length
    return fc.forecast.map((f, h) => {
      // y_h = f_h + r·s(h): count calibration errors large enough to carry f_h over the line
      const need = (threshold - f) / Math.max(cal.scale[h], 1e-12)
      let c = 0
      for (const r of cal.scores) if (r > need) c++
      // add-one smoothing: a finite sample never proves a probability of exactly 0 or 1
      return (c + 0.5) / (n + 1)
    })
  }
  // no backtest: treat the interval as Gaussian
  const z = normalQuantile(0.5 + fc.level / 200)
  return fc.forecast.map((f, h) => {
    const sd = Math.max((fc.upper[h] - fc.lower[h]) / (2 * z), 1e-12)
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
  const raw = forecastSeries(values, opts)
  const cap = (v: number): number => (opts.kind === 'ratio' ? Math.min(1, Math.max(0, v)) : Math.max(0, v))
  const forecast: ForecastResult = {
    ...raw,
    forecast: raw.forecast.map(cap),
    lower: raw.lower.map(cap),
    upper: raw.upper.map(cap),
  }
  const perStep = exceedanceProbabilities(raw, opts.threshold)
  const probability = perStep.reduce((a, b) => Math.max(a, b), 0)
  const idx = perStep.findIndex((p) => p >= 0.5)
  return { probability, perStep, firstLikelyStep: idx < 0 ? null : idx + 1, forecast }
}
