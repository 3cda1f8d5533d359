/** @module Robust z-score against a seasonal baseline: rolling median/MAD, season found by autocorrelation. */
import { UnivariateDetector, checkInt } from './detector.js'
import { detectSeason } from './season.js'
import { zSurprise } from './stats.js'
import { createWindow, pushWindow, robustScale, windowMedian, type RollingWindow } from './window.js'

export interface RobustZOptions {
  /** points in the rolling median/MAD window; default 128 (MAD's standard error ≈ 15% at 128) */
  readonly windowSize?: number
  /** points of raw history kept for the season search and seasonal lookback; default 4096 */
  readonly historySize?: number
  /** seasons looked back for the seasonal offset (their median); default 5 */
  readonly seasons?: number
  /**
   * earlier levels (1..K seasons back, same phase) also accepted as the baseline when closer to x;
   * 0 turns the rule off; default 7 (a week of daily seasons)
   */
  readonly recall?: number
  /** fixed season length in points (0 = none); default: found from the data */
  readonly season?: number
  /** points before any score; default 32 */
  readonly gracePeriod?: number
  /**
   * sampling interval in ms when known (the CLI takes the median timestamp step); a season found
   * within 5% of one day or one week is snapped to it, so 281 does not stand in for 288
   */
  readonly stepMs?: number
}

interface State {
  n: number
  period: number
  nextSeasonCheck: number
  /** x − offset: the deseasonalised series, whose median is the level */
  level: RollingWindow
  /** transformed values (raw until the transform is chosen), newest at head−1 */
  raw: Float64Array
  /** x − (mean of the season ending at x): seasonal offset samples, independent of level shifts */
  dev: Float64Array
  head: number
  /** running sum of the last `period` transformed values */
  seasonSum: number
  /** the level (median of the deseasonalised window) in force at each point, same ring as `raw` */
  lv: Float64Array
  /** asinh(x / c) scale once the series proved non-negative; 0 = identity; NaN = undecided */
  c: number
}

/**
 * Scores |x − expected| / robust scale, where expected = level + seasonal offset. The level is the
 * rolling median of the deseasonalised series; the offset for the current phase is the median of
 * the offsets seen 1..K seasons ago, so one odd day cannot move it. A level shift therefore moves
 * only the level and is accepted after about windowSize/2 points. The season length comes from the
 * autocorrelation of the raw history (checked every 256 points up to 1024, then every 4096).
 */
export class RobustZ extends UnivariateDetector<Required<RobustZOptions>, State> {
  readonly name = 'robust-z'
  #scratch = new Float64Array(16)

  constructor(options: RobustZOptions = {}) {
    const o: Required<RobustZOptions> = {
      windowSize: options.windowSize ?? 128,
      historySize: options.historySize ?? 4096,
      seasons: options.seasons ?? 5,
      recall: options.recall ?? 7,
      season: options.season ?? -1,
      gracePeriod: options.gracePeriod ?? 32,
      stepMs: options.stepMs ?? 0,
    }
    checkInt('robust-z', 'windowSize', o.windowSize, 8, 100_000)
    checkInt('robust-z', 'historySize', o.historySize, 16, 1_000_000)
    checkInt('robust-z', 'seasons', o.seasons, 1, 16)
    checkInt('robust-z', 'recall', o.recall, 0, 64)
    checkInt('robust-z', 'gracePeriod', o.gracePeriod, 1, 1_000_000)
    super(o, {
      n: 0,
      period: 0,
      nextSeasonCheck: o.season >= 0 ? Infinity : 256,
      level: createWindow(o.windowSize),
      raw: new Float64Array(o.historySize),
      dev: new Float64Array(o.historySize),
      lv: new Float64Array(o.historySize),
      head: 0,
      seasonSum: 0,
      c: NaN,
    })
  }

  /** The variance-stabilising transform: asinh(x/c) for non-negative series, identity otherwise. */
  #t(x: number): number {
    const c = this.s.c
    return c > 0 ? Math.asinh(x / c) : x
  }

  #inv(y: number): number {
    const c = this.s.c
    return c > 0 ? c * Math.sinh(y) : y
  }

  /**
   * Chooses the transform at the end of the grace period. API metrics (rates, latencies, counts)
   * are non-negative with noise and seasonal swings proportional to the level, so a weekend at 60%
   * traffic is a multiplicative change; asinh(x/c) with c = a tenth of the median is logarithmic
   * above c and linear near 0 (zeros stay finite), which turns those into additive shifts. A series
   * that goes negative keeps the identity.
   */
  #chooseTransform(): void {
    const s = this.s
    const H = this.o.historySize
    const len = Math.min(s.n, H)
    const w = Array.from({ length: len }, (_, i) => s.raw[(s.head - len + i + H) % H]).sort((a, b) => a - b)
    const med = w[len >> 1]
    s.c = w[0] >= 0 && med > 0 ? 0.1 * med : 0
    if (s.c > 0)
      for (let i = 0; i < len; i++)
        s.raw[(s.head - len + i + H) % H] = this.#t(s.raw[(s.head - len + i + H) % H])
    s.level = createWindow(this.o.windowSize)
    for (let lag = Math.min(len, this.o.windowSize); lag >= 1; lag--)
      pushWindow(s.level, s.raw[(s.head - lag + H) % H])
  }

  /** True once the transform is chosen (after the grace period): deseasonalised values are stable from then on. */
  get ready(): boolean {
    return !Number.isNaN(this.s.c)
  }

  /** The season length in use (0 = none). */
  get season(): number {
    return this.s.period
  }

  // offset(0), median and scale change only in learn(); score, deseasonalize and learn of the same
  // point reuse them (keyed by the point count, so a restored state recomputes)
  #memoN = -1
  #memoOff = 0
  #memoM = 0
  #memoSc = 0

  #cached(): void {
    if (this.#memoN === this.s.n) return
    this.#memoOff = this.#offset(0)
    this.#memoM = windowMedian(this.s.level)
    this.#memoSc = this.s.level.count > 0 ? robustScale(this.s.level, this.#memoM) : NaN
    this.#memoN = this.s.n
  }

  #offset0(): number {
    this.#cached()
    return this.#memoOff
  }

  #offset(lagBase: number): number {
    const s = this.s
    const p = s.period
    if (p === 0) return 0
    const H = this.o.historySize
    let k = 0
    for (let j = 1; j <= this.o.seasons; j++) {
      const lag = j * p + lagBase
      if (lag > s.n || lag > H) break
      const v = s.dev[(s.head - lag + H * 4) % H]
      // insertion sort into scratch: K ≤ 16 values
      let i = k++
      while (i > 0 && this.#scratch[i - 1] > v) {
        this.#scratch[i] = this.#scratch[i - 1]
        i--
      }
      this.#scratch[i] = v
    }
    if (k === 0) return 0
    return k % 2 === 1 ? this.#scratch[k >> 1] : 0.5 * (this.#scratch[(k >> 1) - 1] + this.#scratch[k >> 1])
  }

  /**
   * The baseline level for a deseasonalised value y: the current level, or the level in force at
   * the same phase 1..K seasons ago if y is closer to it ("min over plausible baselines"). A series
   * that returns to a regime it has been in before (Monday after a weekend, the day after a
   * holiday, a weekly peak seen a week ago) is judged against that regime, not against the level of
   * the last few hours, which a rolling median needs half a window to leave. A new regime (a level
   * shift, an outage, a dip below anything seen) is still judged against the nearest level seen.
   * Why seasons: the phase matches, so a level recorded then is a like-for-like baseline now.
   */
  #baseline(y: number): number {
    const s = this.s
    const m = this.#memoM
    const p = s.period
    if (p === 0 || this.o.recall === 0) return m
    const H = this.o.historySize
    let best = m
    let dist = Math.abs(y - m)
    for (let k = 1; k <= this.o.recall; k++) {
      const lag = k * p
      if (lag > s.n || lag > H) break
      const l = s.lv[(s.head - lag + H) % H]
      const d = Math.abs(y - l)
      if (d < dist) {
        dist = d
        best = l
      }
    }
    return best
  }

  /**
   * x minus the seasonal offset of the current phase: the series other detectors should see. When
   * an earlier level explains x better ({@link RobustZ.baseline}), the value is moved by the gap
   * between that level and the current one, so the members judge (and learn) it as a normal point.
   */
  deseasonalize(x: number): number {
    this.#cached()
    const y = this.#t(x) - this.#memoOff
    return y - this.#baseline(y)
  }

  /**
   * The expected value in the series' own units (the inverse transform of level + offset); with x,
   * against the baseline that explains x best.
   */
  expectedValue(x?: number): number {
    if (this.s.level.count === 0) return NaN
    this.#cached()
    if (x === undefined || !this.ready) return this.#inv(this.#memoM + this.#memoOff)
    const y = this.#t(x) - this.#memoOff
    return this.#inv(this.#baseline(y) + this.#memoOff)
  }

  surprise(x: number): number {
    const s = this.s
    if (s.n < this.o.gracePeriod) return 0
    this.#cached()
    const y = this.#t(x) - this.#memoOff
    return zSurprise((y - this.#baseline(y)) / this.#memoSc)
  }

  expected(): { value: number; low: number; high: number } {
    const s = this.s
    if (s.level.count === 0) return { value: NaN, low: NaN, high: NaN }
    const m = windowMedian(s.level)
    const sc = robustScale(s.level, m)
    const v = m + this.#offset(0)
    return { value: this.#inv(v), low: this.#inv(v - 3 * sc), high: this.#inv(v + 3 * sc) }
  }

  learn(raw: number): void {
    const s = this.s
    const H = this.o.historySize
    const p = s.period
    const x = Number.isNaN(s.c) ? raw : this.#t(raw)
    // a level recorded under another season (or none) is not a like-for-like baseline
    if (Number.isNaN(s.c) || p === 0) s.lv[s.head] = NaN
    else {
      this.#cached()
      s.lv[s.head] = this.#memoM
    }
    pushWindow(s.level, x - (Number.isNaN(s.c) ? this.#offset(0) : this.#offset0()))
    s.raw[s.head] = x
    if (p > 0) {
      // the mean of one whole season has no seasonal component: deviations from it are the profile
      s.seasonSum += x - (s.n >= p ? s.raw[(s.head - p + H) % H] : 0)
      s.dev[s.head] = x - s.seasonSum / Math.min(s.n + 1, p)
    }
    s.head = (s.head + 1) % H
    s.n++
    if (Number.isNaN(s.c) && s.n >= this.o.gracePeriod) this.#chooseTransform()
    if (s.n >= s.nextSeasonCheck) {
      s.nextSeasonCheck = s.n < 1024 ? s.n + 256 : s.n + 4096
      const len = Math.min(s.n, H)
      const y = new Float64Array(len)
      for (let i = 0; i < len; i++) y[i] = s.raw[(s.head - len + i + H) % H]
      const found = this.#snap(detectSeason(y))
      if (found !== s.period) this.#setSeason(found, y)
    }
  }

  #snap(p: number): number {
    const step = this.o.stepMs
    if (p === 0 || !(step > 0)) return p
    for (const cal of [86_400_000 / step, 604_800_000 / step]) {
      if (Math.abs(p - cal) <= 0.05 * cal && Number.isInteger(Math.round(cal))) return Math.round(cal)
    }
    return p
  }

  /** Recomputes the seasonal profile and the level window under a new season length. */
  #setSeason(p: number, y: Float64Array): void {
    const s = this.s
    const H = this.o.historySize
    const len = y.length
    s.period = p
    s.lv.fill(NaN)
    s.seasonSum = 0
    if (p > 0) {
      for (let i = 0; i < len; i++) {
        s.seasonSum += y[i] - (i >= p ? y[i - p] : 0)
        s.dev[(s.head - len + i + H) % H] = y[i] - s.seasonSum / Math.min(i + 1, p)
      }
    }
    const w = Math.min(this.o.windowSize, len)
    s.level = createWindow(this.o.windowSize)
    for (let lag = w; lag >= 1; lag--) pushWindow(s.level, s.raw[(s.head - lag + H) % H] - this.#offset(lag))
  }
}
