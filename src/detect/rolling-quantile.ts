/** @module Rolling percentile thresholds (p90/p99 of recent history) with a load-dependent threshold for latency. */
import { UnivariateDetector, checkInt } from './detector.js'
import { createWindow, pushWindow, windowQuantile, type RollingWindow } from './window.js'

export interface RollingQuantileOptions {
  /** points of recent history; default 256 */
  readonly windowSize?: number
  /** `upper` for latency and error ratios (only highs are bad), `both` for generic series; default `both` */
  readonly side?: 'upper' | 'both'
  /** forgetting horizon in points of the latency–load regression; default 1000 */
  readonly loadHorizon?: number
  readonly gracePeriod?: number
}

interface State {
  n: number
  win: RollingWindow
  /** exponentially weighted sums for x = a + b·load */
  sw: number
  sl: number
  sx: number
  sll: number
  slx: number
  load: number
}

/**
 * Tail probability of x among the last `windowSize` residuals: empirical rank inside the p10–p90
 * band, and beyond the p99 an exponential tail fitted to the p90→p99 spacing (peaks over threshold
 * with a zero shape parameter), so thresholds extrapolate instead of saturating.
 *
 * For latency, call `observeLoad(requests)` before `score`/`update`: residuals are taken against a
 * weighted least-squares line latency = a + b·load learned from the series itself, so the threshold
 * rises with load when the API is known to slow down under load, and a busy hour is not an alarm.
 */
export class RollingQuantile extends UnivariateDetector<Required<RollingQuantileOptions>, State> {
  readonly name = 'rolling-quantile'

  constructor(options: RollingQuantileOptions = {}) {
    const o: Required<RollingQuantileOptions> = {
      windowSize: options.windowSize ?? 256,
      side: options.side ?? 'both',
      loadHorizon: options.loadHorizon ?? 1000,
      gracePeriod: options.gracePeriod ?? 32,
    }
    checkInt('rolling-quantile', 'windowSize', o.windowSize, 16, 100_000)
    super(o, { n: 0, win: createWindow(o.windowSize), sw: 0, sl: 0, sx: 0, sll: 0, slx: 0, load: NaN })
  }

  /** Sets the load (e.g. request count) that goes with the next point. */
  observeLoad(load: number): void {
    this.s.load = Number.isFinite(load) ? load : NaN
  }

  #fit(): number {
    const s = this.s
    if (Number.isNaN(s.load) || s.sw < 20) return 0
    const ml = s.sl / s.sw
    const vl = s.sll / s.sw - ml * ml
    if (vl <= 1e-12 * (1 + ml * ml)) return 0
    const b = Math.max(0, (s.slx / s.sw - ml * (s.sx / s.sw)) / vl)
    return b * (s.load - ml)
  }

  #tail(r: number, upper: boolean): number {
    const w = this.s.win
    const q50 = windowQuantile(w, 0.5)
    const q90 = windowQuantile(w, upper ? 0.9 : 0.1)
    const q99 = windowQuantile(w, upper ? 0.99 : 0.01)
    const sign = upper ? 1 : -1
    const d = sign * (r - q50)
    if (d <= sign * (q90 - q50)) return 0
    const spread = Math.max(sign * (q99 - q90), 1e-9 * (1 + Math.abs(q50)), sign * (q90 - q50) * 0.1)
    const beta = spread / Math.LN10
    if (sign * (r - q99) > 0) return Math.LN10 * 2 + (sign * (r - q99)) / beta
    // between p90 and p99: interpolate the surprise linearly in x (−ln 0.1 → −ln 0.01)
    return Math.LN10 * (1 + (sign * (r - q90)) / spread)
  }

  surprise(x: number): number {
    const s = this.s
    if (s.n < this.o.gracePeriod) return 0
    const r = x - this.#fit()
    const up = this.#tail(r, true)
    if (this.o.side === 'upper') return up
    // two-sided: the smaller tail probability, doubled
    return Math.max(0, Math.max(up, this.#tail(r, false)) - Math.LN2)
  }

  expected(): { value: number; low: number; high: number } {
    const w = this.s.win
    const f = this.#fit()
    return {
      value: windowQuantile(w, 0.5) + f,
      low: windowQuantile(w, 0.01) + f,
      high: windowQuantile(w, 0.99) + f,
    }
  }

  learn(x: number): void {
    const s = this.s
    const f = this.#fit()
    pushWindow(s.win, x - f)
    s.n++
    if (!Number.isNaN(s.load)) {
      const decay = 1 - 1 / this.o.loadHorizon
      s.sw = s.sw * decay + 1
      s.sl = s.sl * decay + s.load
      s.sx = s.sx * decay + x
      s.sll = s.sll * decay + s.load * s.load
      s.slx = s.slx * decay + s.load * x
    }
  }
}
