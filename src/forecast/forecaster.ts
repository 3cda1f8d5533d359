/**
 * @module forecastSeries: input repair, seasonality, rolling-origin backtests of every candidate,
 * choice of a model or an inverse-MASE weighted combination, and conformal prediction intervals
 * calibrated per horizon step from the backtest errors.
 */
import { VGL_ERR_FORECAST_INPUT, VGL_ERR_FORECAST_OPTION, VGL_ERR_FORECAST_TOO_SHORT } from '../errors.js'
import { arima, fitArima } from './arima.js'
import { drift, naive, primarySeason, seasonalNaive } from './baselines.js'
import { ets } from './ets.js'
import { prophet } from './prophet.js'
import { detectSeasons } from './seasonality.js'
import { median, normalQuantile, quantile } from './stats.js'
import { theta } from './theta.js'
import type { BacktestScore, Fitted, ForecastResult, ModelFamily, SeasonContext } from './types.js'

/** Model names accepted by `--model` / `options.model` (lstm is served by ./lstm.ts, asynchronously). */
export const MODEL_NAMES = ['auto', 'naive', 'snaive', 'drift', 'ets', 'arima', 'theta', 'prophet'] as const
export type ModelName = (typeof MODEL_NAMES)[number]

export interface ForecastOptions {
  /** steps ahead to forecast (integer ≥ 1) */
  readonly horizon: number
  /** interval level in percent (default 80) */
  readonly level?: number
  /** seasonal period(s) in steps; overrides detection */
  readonly season?: number | readonly number[]
  /** sampling interval in seconds, used to find natural seasonal periods */
  readonly freqSec?: number
  /** `auto` (default) backtests all candidates and picks a model or a combination */
  readonly model?: ModelName
  /** fixed ARIMA order (p,d,q) for `model: 'arima'`, e.g. [3,1,2] */
  readonly order?: readonly [number, number, number]
  /** rolling-origin backtest origins (default 12 up to 200 points, 8 up to 600, else 5) */
  readonly origins?: number
  /**
   * `auto` only: `best` takes the model with the lowest backtest MASE; `combo` always takes the
   * inverse-MASE weighted mean of the best three; `adaptive` takes the combination only when its
   * backtest MASE is lower than the best model's.
   */
  readonly selection?: 'best' | 'combo' | 'adaptive'
  /** `auto` only: restrict the candidate families (by id); for evaluation */
  readonly candidates?: readonly string[]
}

const FAMILIES: Record<string, ModelFamily> = {
  naive,
  snaive: seasonalNaive,
  drift,
  ets,
  arima,
  theta,
  prophet,
}

/** How `auto` chooses; see ForecastOptions.selection and bench/RESULTS.md for the measurements. */
export const DEFAULT_SELECTION: 'best' | 'combo' | 'adaptive' = 'adaptive'

/** Minimum number of points: below this even the naive forecast has no error estimate. */
export const MIN_POINTS = 3

/** The largest share of missing values (after the leading ones) a series may have to be forecast. */
export const MAX_MISSING_SHARE = 0.2

/** How many of the values after the leading missing ones are missing, and of how many. */
export function missingShare(values: readonly number[]): { missing: number; of: number } {
  let start = 0
  while (start < values.length && Number.isNaN(values[start])) start++
  let missing = 0
  for (let i = start; i < values.length; i++) if (Number.isNaN(values[i])) missing++
  return { missing, of: values.length - start }
}

/** Replaces interior NaNs by linear interpolation, drops leading NaNs, carries the last value forward. */
export function repairMissing(values: readonly number[], notes: string[]): number[] {
  for (const v of values)
    if (!Number.isNaN(v) && !Number.isFinite(v))
      throw VGL_ERR_FORECAST_INPUT(
        'the series contains an infinite value; remove it or replace it by an empty cell',
      )
  let start = 0
  while (start < values.length && Number.isNaN(values[start])) start++
  const y = values.slice(start)
  if (start > 0) notes.push(`dropped ${start} leading missing value(s)`)
  let missing = 0
  for (const v of y) if (Number.isNaN(v)) missing++
  if (missing === 0) return y
  if (missing > MAX_MISSING_SHARE * y.length)
    throw VGL_ERR_FORECAST_INPUT(
      `${missing} of ${y.length} values are missing (more than 20%); resample or clean the series first`,
    )
  for (let i = 0; i < y.length; i++) {
    if (!Number.isNaN(y[i])) continue
    let j = i
    while (j < y.length && Number.isNaN(y[j])) j++
    const a = y[i - 1]
    const b = j < y.length ? y[j] : a
    for (let k = i; k < j; k++) y[k] = a + ((b - a) * (k - i + 1)) / (j - i + 1)
    i = j
  }
  notes.push(`filled ${missing} missing value(s) by linear interpolation`)
  return y
}

/** The most steps one forecast gives (`forecastSeries`' `horizon`, `vigil forecast --horizon`). */
export const MAX_HORIZON = 100_000

function validateOptions(opts: ForecastOptions): { horizon: number; level: number } {
  const horizon = opts.horizon
  if (!Number.isInteger(horizon) || horizon < 1 || horizon > MAX_HORIZON)
    throw VGL_ERR_FORECAST_OPTION(
      `horizon: expected an integer from 1 to ${MAX_HORIZON}, got ${String(horizon)}`,
    )
  const level = opts.level ?? 80
  if (!(level > 0 && level < 100))
    throw VGL_ERR_FORECAST_OPTION(
      `level: expected a percentage between 0 and 100 (e.g. 80), got ${String(level)}`,
    )
  const model = opts.model ?? 'auto'
  if (!(MODEL_NAMES as readonly string[]).includes(model))
    throw VGL_ERR_FORECAST_OPTION(
      `model: expected one of ${MODEL_NAMES.join(', ')} (or lstm), got "${model}"`,
    )
  if (opts.freqSec !== undefined && !(opts.freqSec > 0))
    throw VGL_ERR_FORECAST_OPTION(
      `freq: expected a sampling interval in seconds > 0, got ${String(opts.freqSec)}`,
    )
  return { horizon, level }
}

function seasonsFrom(opts: ForecastOptions, y: readonly number[]): number[] {
  if (opts.season === undefined) return detectSeasons(y, opts.freqSec)
  const list = typeof opts.season === 'number' ? [opts.season] : [...opts.season]
  for (const s of list)
    if (!Number.isInteger(s) || s < 1)
      throw VGL_ERR_FORECAST_OPTION(
        `season: expected whole numbers of steps ≥ 1 (e.g. 24,168), got ${String(s)}`,
      )
  return [...new Set(list.filter((s) => s >= 2))].sort((a, b) => a - b)
}

/** In-sample MAE of the seasonal naive (lag m, or 1 when too short): the MASE denominator. */
export function maseScale(y: readonly number[], m: number): number {
  const lag = m > 1 && y.length > m ? m : 1
  let s = 0
  let c = 0
  for (let i = lag; i < y.length; i++) {
    s += Math.abs(y[i] - y[i - lag])
    c++
  }
  const scale = c > 0 ? s / c : 0
  if (scale > 0) return scale
  // a flat history: fall back to the level so MASE stays finite
  return Math.max(1e-9, Math.abs(median(y as number[])) * 0.01)
}

/** A forecast is rejected when it is non-finite or leaves the data's range by more than 10 spans. */
export function isSane(fc: readonly number[], y: readonly number[]): boolean {
  let lo = Infinity
  let hi = -Infinity
  for (const v of y) {
    if (v < lo) lo = v
    if (v > hi) hi = v
  }
  const span = Math.max(hi - lo, Math.abs(hi) * 0.1, 1e-9)
  return fc.every((v) => Number.isFinite(v) && v < hi + 10 * span && v > lo - 10 * span)
}

interface Candidate {
  fitted: Fitted
  fitMs: number
  /** backtest forecasts per origin */
  bt: number[][]
  mase: number
  smape: number
}

interface BacktestPlan {
  origins: number[]
  hb: number
}

/** Rolling origins: the last `k` windows of `hb` steps, each trained on everything before it. */
export function planBacktest(n: number, horizon: number, m: number, k: number): BacktestPlan {
  const minTrain = Math.max(MIN_POINTS + 2, Math.min(Math.floor(n / 2), 2 * m + 2))
  let hb = Math.min(horizon, Math.max(1, Math.floor((n - minTrain) / 2)))
  if (n - hb < minTrain) hb = Math.max(1, n - minTrain)
  const origins: number[] = []
  // windows step back by hb from the end; when the history is too short for k disjoint windows
  // they overlap, spread evenly over what is available
  const stride = Math.max(1, Math.min(hb, Math.floor((n - hb - minTrain) / Math.max(1, k - 1))))
  for (let j = 1; j <= k; j++) {
    const o = n - hb - (j - 1) * stride
    if (o < minTrain) break
    origins.push(o)
  }
  return { origins, hb }
}

function smapeOf(actual: number, f: number): number {
  const d = Math.abs(actual) + Math.abs(f)
  return d === 0 ? 0 : (200 * Math.abs(actual - f)) / d
}

/** Errors of a set of backtest forecasts: mean MASE and sMAPE over origins and steps. */
function scoreBacktest(
  y: readonly number[],
  plan: BacktestPlan,
  bt: number[][],
  m: number,
): { mase: number; smape: number } {
  let mase = 0
  let smape = 0
  let c = 0
  plan.origins.forEach((o, j) => {
    const scale = maseScale(y.slice(0, o), m)
    for (let h = 0; h < plan.hb; h++) {
      mase += Math.abs(y[o + h] - bt[j][h]) / scale
      smape += smapeOf(y[o + h], bt[j][h])
      c++
    }
  })
  return { mase: mase / c, smape: smape / c }
}

/**
 * Per-step error scale s(h) = a·h^b fitted to the mean absolute backtest errors (log-log least
 * squares, b clamped to [0, 1]) so steps beyond the backtest window extrapolate smoothly.
 */
function errorScale(absErr: number[][], hb: number, horizon: number): number[] {
  const meanAbs: number[] = []
  for (let h = 0; h < hb; h++) {
    let s = 0
    for (const row of absErr) s += row[h]
    meanAbs.push(s / absErr.length)
  }
  const pts = meanAbs.map((v, h) => [Math.log(h + 1), Math.log(Math.max(v, 1e-12))])
  let b = 0.5
  let a: number
  if (pts.length >= 3) {
    const mx = pts.reduce((s, p) => s + p[0], 0) / pts.length
    const my = pts.reduce((s, p) => s + p[1], 0) / pts.length
    let sxy = 0
    let sxx = 0
    for (const [x, yv] of pts) {
      sxy += (x - mx) * (yv - my)
      sxx += (x - mx) ** 2
    }
    b = Math.min(1, Math.max(0, sxx > 0 ? sxy / sxx : 0.5))
    a = my - b * mx
  } else {
    a =
      Math.log(Math.max(1e-12, meanAbs.reduce((s, v) => s + v, 0) / meanAbs.length)) -
      b * Math.log((hb + 1) / 2)
  }
  return Array.from({ length: horizon }, (_, h) => Math.exp(a + b * Math.log(h + 1)))
}

/**
 * Cross-conformal level correction: with few origins the pooled quantile under-covers new
 * windows (errors within a window are correlated). Each origin's scores are checked against the
 * quantile of the others; the quantile level is raised (in steps of 0.01, at most to 0.99) until
 * this leave-one-origin-out coverage reaches the nominal level. Returns the level to use and the
 * leave-one-out coverage at the nominal level.
 */
export function crossConformalLevel(
  byOrigin: number[][],
  level: number,
): { level: number; coverage: number } {
  const k = byOrigin.length
  if (k < 3) return { level, coverage: level }
  const others = byOrigin.map((_, j) =>
    byOrigin
      .filter((__, i) => i !== j)
      .flat()
      .sort((a, b) => a - b),
  )
  const looCoverage = (lv: number): number => {
    let inside = 0
    let total = 0
    byOrigin.forEach((row, j) => {
      const s = others[j]
      const q = s[Math.min(s.length - 1, Math.max(0, Math.ceil((s.length + 1) * lv) - 1))]
      for (const v of row) {
        total++
        if (v <= q) inside++
      }
    })
    return total > 0 ? inside / total : lv
  }
  const atNominal = looCoverage(level)
  let lv = level
  let cov = atNominal
  while (cov < level && lv < 0.99) {
    lv = Math.min(0.99, lv + 0.01)
    cov = looCoverage(lv)
  }
  return { level: lv, coverage: atNominal }
}

/** Split-conformal quantile of nonconformity scores at `level` (with the finite-sample correction). */
function conformalQuantile(scores: number[], level: number): number {
  const n = scores.length
  if (n === 0) return NaN
  const s = [...scores].sort((a, b) => a - b)
  const rank = Math.ceil((n + 1) * level)
  if (rank <= n) return s[rank - 1]
  // not enough scores for this level: extrapolate past the largest, as a Gaussian tail would
  return s[n - 1] * (1 + (rank - n) / n)
}

/**
 * How many times wider than a forecast's interval at `from`% its interval at `to`% is: the ratio
 * of the conformal quantiles, at the two levels, of the backtest's errors behind it (its
 * `calibration`), so one fit answers at any level with the error distribution it measured. Without
 * a backtest (no calibration) or with errors all zero at `from`, the ratio of the normal quantiles
 * of the two-sided intervals. Multiply the interval's half-widths by it.
 */
export function intervalWidthRatio(
  calibration: ForecastResult['calibration'],
  from: number,
  to: number,
): number {
  if (from === to) return 1
  const abs = calibration?.scores.filter(Number.isFinite).map(Math.abs) ?? []
  const q0 = conformalQuantile(abs, from / 100)
  if (abs.length > 0 && q0 > 0) return conformalQuantile(abs, to / 100) / q0
  return normalQuantile(0.5 + to / 200) / normalQuantile(0.5 + from / 200)
}

/**
 * Forecasts `values` (equally spaced, NaN = missing) `horizon` steps ahead with intervals at
 * `level`%. Pure and synchronous, so it runs the same in the CLI, tests and a worker.
 *
 * @example
 * const r = forecastSeries(hourly, { horizon: 24, freqSec: 3600 })
 * r.model      // e.g. 'combo(ets(A,A,N)+season[24,168]+theta+season[24,168])'
 * r.forecast   // 24 numbers; r.lower / r.upper hold the 80% interval
 */
export function forecastSeries(values: readonly number[], opts: ForecastOptions): ForecastResult {
  const { horizon, level } = validateOptions(opts)
  const notes: string[] = []
  const y = repairMissing(values, notes)
  if (y.length < MIN_POINTS) throw VGL_ERR_FORECAST_TOO_SHORT(y.length, MIN_POINTS)
  const seasons = seasonsFrom(opts, y)
  const ctx: SeasonContext = { seasons, freqSec: opts.freqSec }
  const m = primarySeason(ctx, y.length)
  const nonNegative = y.every((v) => v >= 0)
  const first = y[0]
  if (y.every((v) => v === first)) {
    notes.push('the series is constant: forecasting the constant with a zero-width interval')
    const f = new Array<number>(horizon).fill(first)
    return {
      model: 'constant',
      forecast: f,
      lower: f.slice(),
      upper: f.slice(),
      level,
      seasons,
      backtest: [],
      notes,
    }
  }

  const model = opts.model ?? 'auto'
  let ids: string[]
  if (model === 'auto') {
    ids = opts.candidates
      ? [...opts.candidates]
      : ['naive', 'snaive', 'drift', 'ets', 'theta', 'arima', 'prophet']
    if (m < 2) ids = ids.filter((id) => id !== 'snaive')
    // prophet needs enough history for its changepoints and Fourier terms to mean anything
    if (y.length < 60) ids = ids.filter((id) => id !== 'prophet')
  } else ids = [model]

  const candidates = new Map<string, Candidate>()
  for (const id of ids) {
    const t0 = performance.now()
    try {
      const fitted =
        id === 'arima' && opts.order !== undefined
          ? fitArima(y, {
              p: opts.order[0],
              d: opts.order[1],
              q: opts.order[2],
              P: 0,
              D: 0,
              Q: 0,
              m: 1,
              constant: false,
            })
          : FAMILIES[id].fit(y, ctx)
      const fc = fitted.forecast(horizon)
      if (!isSane(fc, y)) throw new Error('forecast is non-finite or explosive')
      candidates.set(id, { fitted, fitMs: performance.now() - t0, bt: [], mase: NaN, smape: NaN })
    } catch (err) {
      notes.push(`${id}: ${(err as Error).message}; skipped`)
    }
  }
  if (candidates.size === 0) {
    if (model !== 'auto') notes.push(`falling back from ${model} to ${m > 1 ? 'seasonal naive' : 'naive'}`)
    const fb = m > 1 ? 'snaive' : 'naive'
    const fitted = FAMILIES[fb].fit(y, ctx)
    candidates.set(fb, { fitted, fitMs: 0, bt: [], mase: NaN, smape: NaN })
  }

  // More origins where fits are cheap: short series need them most, as their few windows
  // otherwise give too small a sample of errors for the interval quantile.
  const origins = opts.origins ?? (y.length <= 200 ? 12 : y.length <= 600 ? 8 : 5)
  const plan = planBacktest(y.length, horizon, m, origins)
  if (plan.origins.length === 0) notes.push('series too short for a backtest: intervals are rough')
  for (const [id, c] of candidates) {
    try {
      for (const o of plan.origins) {
        const fc = c.fitted.refit(y.slice(0, o)).forecast(plan.hb)
        if (!isSane(fc, y.slice(0, o))) throw new Error('backtest forecast is non-finite or explosive')
        c.bt.push(fc)
      }
      if (plan.origins.length > 0) Object.assign(c, scoreBacktest(y, plan, c.bt, m))
    } catch (err) {
      if (candidates.size > 1) {
        notes.push(`${id}: backtest failed (${(err as Error).message}); skipped`)
        candidates.delete(id)
      } else {
        c.bt = []
      }
    }
  }

  // choose: best single by backtest MASE, or an inverse-MASE weighted mean of the best three
  const ranked = [...candidates.entries()].sort((a, b) => (a[1].mase || Infinity) - (b[1].mase || Infinity))
  let members: [string, Candidate, number][] = [[ranked[0][0], ranked[0][1], 1]]
  let chosenBt = ranked[0][1].bt
  const selection = opts.selection ?? DEFAULT_SELECTION
  if (model === 'auto' && selection !== 'best' && ranked.length >= 2 && plan.origins.length > 0) {
    const top = ranked.slice(0, 3).filter(([, c]) => Number.isFinite(c.mase))
    if (top.length >= 2) {
      const inv = top.map(([, c]) => 1 / Math.max(c.mase, 1e-9))
      const tot = inv.reduce((s, v) => s + v, 0)
      const weights = inv.map((v) => v / tot)
      const comboBt = plan.origins.map((_, j) =>
        Array.from({ length: plan.hb }, (_, h) =>
          top.reduce((s, [, c], i) => s + weights[i] * c.bt[j][h], 0),
        ),
      )
      const comboScore = scoreBacktest(y, plan, comboBt, m)
      if (selection === 'combo' || comboScore.mase < ranked[0][1].mase) {
        members = top.map(([id, c], i) => [id, c, weights[i]])
        chosenBt = comboBt
      }
    }
  }

  const forecast = new Array<number>(horizon).fill(0)
  for (const [, c, w] of members) {
    const fc = c.fitted.forecast(horizon)
    for (let h = 0; h < horizon; h++) forecast[h] += w * fc[h]
  }
  const chosenName =
    members.length === 1
      ? members[0][1].fitted.name
      : `combo(${members.map(([, c]) => c.fitted.name).join(' + ')})`

  // Conformal intervals: scores |e| / (s(h)·g(f)^κ) pooled over origins and steps, where s(h)
  // carries the growth of errors with the horizon and g(f)^κ their growth with the level (count
  // and traffic data are heteroscedastic: a night-time window must not get a daytime width).
  // Every κ is calibrated on the backtest by construction, so the κ giving the narrowest
  // intervals there is the most efficient normalisation.
  let lower: number[]
  let upper: number[]
  let calibration: ForecastResult['calibration']
  const p = level / 100
  if (plan.origins.length > 0 && chosenBt.length > 0) {
    let absLevel = 0
    for (const v of y) absLevel += Math.abs(v)
    const floor = Math.max(1e-9, (0.1 * absLevel) / y.length)
    const g = (f: number): number => Math.max(Math.abs(f), floor)
    const absErr = plan.origins.map((o, j) => chosenBt[j].map((f, h) => Math.abs(y[o + h] - f)))
    let best: { kappa: number; q: number; scale: number[]; gap: number; width: number } | undefined
    // Strictly positive series (sales, load, latency) have errors that scale with the level:
    // κ = 1. Counts with zeros may be anywhere between (Poisson: ½), so the backtest decides.
    const positive = y.every((v) => v > 0)
    for (const kappa of positive ? [1] : nonNegative ? [0, 0.5, 1] : [0]) {
      const norm = chosenBt.map((row) => row.map((f) => g(f) ** kappa))
      const rel = absErr.map((row, j) => row.map((e, h) => e / norm[j][h]))
      const scale = errorScale(rel, plan.hb, horizon)
      const byOrigin = rel.map((row) => row.map((e, h) => e / Math.max(scale[h], 1e-12)))
      const { level: adjusted, coverage } = crossConformalLevel(byOrigin, p)
      const q = conformalQuantile(byOrigin.flat(), adjusted)
      let width = 0
      norm.forEach((row) => row.forEach((nv, h) => (width += q * scale[h] * nv)))
      // Pick the normalisation whose leave-one-origin-out coverage is nearest the level, then
      // the narrowest: choosing by width alone overfits (every κ is calibrated in-sample).
      const gap = Math.abs(coverage - p)
      if (best === undefined || gap < best.gap - 0.02 || (gap < best.gap + 0.02 && width < best.width))
        best = { kappa, q, scale, gap, width }
    }
    const { kappa, q, scale } = best!
    const stepScale = forecast.map((f, h) => scale[h] * g(f) ** kappa)
    const signed: number[] = []
    plan.origins.forEach((o, j) =>
      chosenBt[j].forEach((f, h) => signed.push((y[o + h] - f) / Math.max(scale[h] * g(f) ** kappa, 1e-12))),
    )
    calibration = { scale: stepScale, scores: signed }
    // A backtest whose windows all happened to be error-free (a step series, a flat stretch)
    // must not yield a zero-width interval for a series that does move: floor the half-width at
    // a tenth of the mean one-step change (constant: growing it with h over-widens noisy counts).
    let moves = 0
    for (let i = 1; i < y.length; i++) moves += Math.abs(y[i] - y[i - 1])
    const minHalf = (0.1 * moves) / Math.max(1, y.length - 1)
    const half = stepScale.map((sc) => Math.max(q * sc, minHalf))
    lower = forecast.map((f, h) => f - half[h])
    upper = forecast.map((f, h) => f + half[h])
  } else {
    // no backtest possible: one-step differences as a random-walk error, widening with sqrt(h)
    const d = y.slice(1).map((v, i) => Math.abs(v - y[i]))
    const q = quantile(d, p)
    lower = forecast.map((f, h) => f - q * Math.sqrt(h + 1))
    upper = forecast.map((f, h) => f + q * Math.sqrt(h + 1))
  }
  if (nonNegative) {
    for (let h = 0; h < horizon; h++) {
      forecast[h] = Math.max(0, forecast[h])
      lower[h] = Math.max(0, lower[h])
      upper[h] = Math.max(0, upper[h])
    }
  }
  const weightOf = new Map(members.map(([id, , w]) => [id, w]))
  const backtest: BacktestScore[] = ranked.map(([id, c]) => ({
    model: c.fitted.name,
    mase: c.mase,
    smape: c.smape,
    weight: weightOf.get(id) ?? 0,
    fitMs: Math.round(c.fitMs * 10) / 10,
  }))
  return { model: chosenName, forecast, lower, upper, level, seasons, backtest, notes, calibration }
}
