/**
 * @module Online peak forecasting for a lead time: refits `forecastSeries` on a cadence (a fit at
 * every step is far too slow for long series), updates cheaply in between, and calibrates an
 * upper band on the quantity a scaler needs, the peak over the next `lead` steps, conformally from
 * its own realised errors. Strictly online: after `update(y_t)`, `peak()` uses y_0..y_t only.
 *
 * ```
 * update(y) ─▶ history ─(every refitEvery steps)─▶ forecastSeries ─▶ path of refitEvery+lead steps
 *          └▶ residual EWMA of y against the path (the cheap update: re-anchors the level)
 * peak() ─▶ point = max over the next `lead` steps of path + residual
 *        └▶ upper = point + q·max(point, floor), q = conformal quantile of recent (realised − point)/scale
 * ```
 */
import { forecastSeries, type ModelName } from './forecaster.js'
import { SlidingSorted } from './sliding-sorted.js'

export interface OnlineForecasterOptions {
  /** steps whose peak is forecast (≥ 1) */
  readonly lead: number
  /** steps between refits (≥ 1) */
  readonly refitEvery: number
  /** sampling interval, for natural seasons */
  readonly freqSec?: number
  /** default `auto` over `candidates` */
  readonly model?: ModelName
  /** families `auto` may pick from (default naive, snaive, drift, ets, theta: the cheap ones) */
  readonly candidates?: readonly string[]
  /** upper band level in percent (default 90) */
  readonly level?: number
  /** history kept for fits (default 4000 steps) */
  readonly maxHistory?: number
  /** steps before the first fit (default 30) */
  readonly minHistory?: number
  /** realised peaks the band is calibrated on (default 1000, the newest) */
  readonly calibrationSize?: number
  /** weight of the newest residual in the level correction (default 0.3) */
  readonly residualAlpha?: number
}

export interface PeakEstimate {
  /** highest point forecast over the next `lead` steps */
  point: number
  /** conformal upper band of that peak */
  upper: number
  model: string
  level: number
  /** realised peaks behind the band (0 during warm-up, when the band is the fit's own interval) */
  calibratedOn: number
}

const DEFAULT_CANDIDATES = ['naive', 'snaive', 'drift', 'ets', 'theta']
const MIN_SCORES = 20
const ACI_GAMMA = 0.01
const TREND_BETA = 0.3
const TREND_DAMPING = 0.9
/** steps whose median is the level the echo's rise is measured against */
const ECHO_LEVEL_SPAN = 5

/**
 * @example
 * const f = new OnlineForecaster({ lead: 3, refitEvery: 60, freqSec: 60 })
 * for (const y of demand) { f.update(y); const p = f.peak() } // p?.point, p?.upper
 */
export class OnlineForecaster {
  readonly #o: Required<Omit<OnlineForecasterOptions, 'freqSec' | 'model'>> &
    Pick<OnlineForecasterOptions, 'freqSec' | 'model'>
  readonly #history: number[] = []
  /** observations seen in all */
  #n = 0
  #path: number[] = []
  #fitN = 0
  #model = 'none'
  /** the fit's own upper-minus-point per step, used until the conformal band has scores */
  #fitWidth: number[] = []
  #residual = 0
  /** trend of the residual: a ramp the last fit did not see (a flash crowd building up) */
  #residualTrend = 0
  /** the longest season of the last fit, for the recurrence echo (0: none) */
  #season = 0
  /** pending predictions: at n (observations seen), the point peak */
  readonly #pending: { n: number; point: number; scale: number; upper: number }[] = []
  /** the same scores normalised by the mean level instead of the forecast (errors that do not grow with the level: noise) */
  readonly #absScores: SlidingSorted
  /** recent band widths under each normalisation (EWMA): the narrower one is used, both being calibrated */
  #widthRel = 0
  #widthAbs = 0
  /** adaptive conformal inference: the miscoverage aimed at now (Gibbs & Candès 2021) */
  #alpha: number
  readonly #scores: SlidingSorted
  #levelSum = 0
  readonly stats = { fits: 0, fitMs: 0, failures: 0 }

  constructor(opts: OnlineForecasterOptions) {
    if (!Number.isInteger(opts.lead) || opts.lead < 1)
      throw new RangeError('lead: expected a whole number ≥ 1')
    if (!Number.isInteger(opts.refitEvery) || opts.refitEvery < 1)
      throw new RangeError('refitEvery: expected a whole number ≥ 1')
    this.#o = {
      candidates: DEFAULT_CANDIDATES,
      level: 90,
      maxHistory: 4000,
      minHistory: 30,
      calibrationSize: 1000,
      residualAlpha: 0.3,
      ...opts,
    }
    this.#alpha = 1 - this.#o.level / 100
    this.#scores = new SlidingSorted(Math.max(1, this.#o.calibrationSize))
    this.#absScores = new SlidingSorted(Math.max(1, this.#o.calibrationSize))
  }

  /** Observes the next value (NaN counts as missing and is carried from the last value). */
  update(value: number): void {
    const last = this.#history.length > 0 ? this.#history[this.#history.length - 1] : 0
    const y = Number.isFinite(value) ? Math.max(0, value) : last
    this.#history.push(y)
    if (this.#history.length > 2 * this.#o.maxHistory)
      this.#history.splice(0, this.#history.length - this.#o.maxHistory)
    this.#n++
    this.#levelSum += y
    // the cheap update: how far the newest value is from the path the last fit drew
    const i = this.#n - this.#fitN - 1
    if (this.#path.length > 0 && i >= 0 && i < this.#path.length) {
      const a = this.#o.residualAlpha
      const before = this.#residual
      this.#residual = (1 - a) * this.#residual + a * (y - this.#path[i])
      this.#residualTrend = (1 - TREND_BETA) * this.#residualTrend + TREND_BETA * (this.#residual - before)
    }
    this.#resolve()
    const due =
      this.#n >= this.#o.minHistory && (this.#path.length === 0 || this.#n - this.#fitN >= this.#o.refitEvery)
    if (due) this.#refit()
  }

  /** The peak over the next `lead` steps with its upper band; null before the first fit. Ask after each update. */
  peak(): PeakEstimate | null {
    if (this.#path.length === 0) return null
    const start = this.#n - this.#fitN
    let point = -Infinity
    let fitWidth = 0
    // a rising residual is extrapolated (damped); a falling one is not: the policy's reactive
    // floor already covers the observed load
    const trend = Math.max(0, this.#residualTrend)
    let ramp = 0
    let damp = 1
    for (let h = 0; h < this.#o.lead; h++) {
      damp *= TREND_DAMPING
      ramp += damp * trend
      const j = Math.min(start + h, this.#path.length - 1)
      const v = this.#path[j] + this.#residual + ramp
      if (v > point) {
        point = v
        fitWidth = this.#fitWidth[j] ?? 0
      }
    }
    point = Math.max(0, point, this.#echo(), this.#rampPoint())
    const rel = Math.max(point, this.#floor())
    const mean = Math.max(this.#levelSum / Math.max(1, this.#n), 1e-9)
    const qRel = this.#bandScore('rel')
    let upper: number
    if (Number.isNaN(qRel)) upper = point + fitWidth
    else {
      // two normalisations of the same errors (relative to the forecast, for errors that grow
      // with the level; relative to the mean level, for noise that does not), each calibrated:
      // take the one whose bands have been narrower lately (as forecastSeries picks κ)
      const qAbs = this.#bandScore('abs')
      this.#widthRel = 0.99 * this.#widthRel + 0.01 * qRel * rel
      this.#widthAbs = 0.99 * this.#widthAbs + 0.01 * qAbs * mean
      upper = this.#widthAbs < this.#widthRel ? point + qAbs * mean : point + qRel * rel
    }
    // calibrate on one prediction per step, however often peak() is asked
    const prev = this.#pending[this.#pending.length - 1]
    if (prev === undefined || prev.n < this.#n) this.#pending.push({ n: this.#n, point, scale: rel, upper })
    return { point, upper, model: this.#model, level: this.#o.level, calibratedOn: this.#scores.length }
  }

  /**
   * The recurrence echo: the rise over the next `lead` steps (looking up to 2·lead ahead) that the
   * last two seasons both showed at this phase, averaged and applied to the current level. Both
   * must exceed what the band already covers: a scheduled job or a daily rush that happened twice
   * is expected a third time; a one-off spike is not echoed.
   */
  #echo(): number {
    const m = this.#season
    const h = this.#history
    const lead = this.#o.lead
    const last = h.length - 1
    // the window reaches `lead` steps further: a job that ran a minute or two earlier yesterday
    const span = 2 * lead
    if (m < 2 || last - 2 * m - ECHO_LEVEL_SPAN < 0) return 0
    const level = (end: number): number => {
      const w = h.slice(end - ECHO_LEVEL_SPAN + 1, end + 1).sort((a, b) => a - b)
      return w[w.length >> 1]
    }
    let low = Infinity
    let sum = 0
    for (let k = 1; k <= 2; k++) {
      const b = last - k * m
      let peak = 0
      for (let j = b + 1; j <= Math.min(b + span, last); j++) peak = Math.max(peak, h[j])
      const rise = peak / Math.max(level(b), this.#floor())
      low = Math.min(low, rise)
      sum += rise
    }
    // both seasons must show a rise beyond what the band covers already, else it is noise
    return low - 1 > this.#bandScore('rel') ? (sum / 2) * level(last) : 0
  }

  /**
   * A ramp in progress: after two rises in a row, the latest value plus the recent slope,
   * extrapolated (damped) over the lead time. A refit happens far too rarely to see a flash crowd
   * building up; two consecutive rises are rare in noise alone, common at the start of a surge.
   */
  #rampPoint(): number {
    const h = this.#history
    const n = h.length
    if (n < 3 || !(h[n - 1] > h[n - 2] && h[n - 2] > h[n - 3])) return 0
    const slope = (h[n - 1] - h[n - 3]) / 2
    let ramp = 0
    let damp = 1
    for (let k = 0; k < this.#o.lead; k++) {
      damp *= TREND_DAMPING
      ramp += damp * slope
    }
    return h[n - 1] + ramp
  }

  /** The conformal quantile of recent scores at the level ACI aims at now; NaN while warming up. */
  #bandScore(kind: 'rel' | 'abs'): number {
    if (this.#scores.length < MIN_SCORES) return Number.NaN
    const s = kind === 'abs' ? this.#absScores : this.#scores
    const q = Math.min(1, Math.max(0, 1 - this.#alpha))
    const rank = Math.min(s.length, Math.max(1, Math.ceil((s.length + 1) * q)))
    // past the largest score (a run of misses): extend it as the finite-sample correction would
    const beyond = q >= 1 ? -this.#alpha : 0
    return Math.max(0, s.rank(rank) * (1 + beyond))
  }

  /** A tenth of the mean level: keeps scores finite where the forecast is near zero. */
  #floor(): number {
    return Math.max(1e-9, (0.1 * this.#levelSum) / Math.max(1, this.#n))
  }

  /** Scores every prediction whose `lead` steps have all been observed. */
  #resolve(): void {
    const lead = this.#o.lead
    while (this.#pending.length > 0 && this.#n - this.#pending[0].n >= lead) {
      const p = this.#pending.shift()!
      const h = this.#history
      const end = h.length - (this.#n - p.n - lead)
      let peak = -Infinity
      for (let k = end - lead; k < end; k++) if (h[k] > peak) peak = h[k]
      this.#scores.push((peak - p.point) / p.scale)
      this.#absScores.push((peak - p.point) / Math.max(this.#levelSum / Math.max(1, this.#n), 1e-9))
      // ACI: a miss raises the level aimed at, a hit lowers it a little, so the band's coverage
      // holds over time even when volatility comes in bursts
      const miss = peak > p.upper ? 1 : 0
      this.#alpha += ACI_GAMMA * (1 - this.#o.level / 100 - miss)
    }
  }

  #refit(): void {
    const y = this.#history.slice(-this.#o.maxHistory)
    const horizon = this.#o.refitEvery + this.#o.lead
    const t0 = performance.now()
    try {
      const r = forecastSeries(y, {
        horizon,
        level: this.#o.level,
        freqSec: this.#o.freqSec,
        model: this.#o.model ?? 'auto',
        candidates: this.#o.model === undefined || this.#o.model === 'auto' ? this.#o.candidates : undefined,
      })
      this.#path = r.forecast
      this.#fitWidth = r.upper.map((u, h) => Math.max(0, u - r.forecast[h]))
      this.#model = r.model
      this.#season = r.seasons.length > 0 ? r.seasons[r.seasons.length - 1] : 0
    } catch {
      // a failed fit costs its refit: carry the last value (a naive path) until the next one
      this.stats.failures++
      const last = y[y.length - 1] ?? 0
      this.#path = new Array<number>(horizon).fill(last)
      this.#fitWidth = []
      this.#model = 'naive (fit failed)'
    }
    this.stats.fits++
    this.stats.fitMs += performance.now() - t0
    this.#fitN = this.#n
    this.#residual = 0
    this.#residualTrend = 0
  }
}
