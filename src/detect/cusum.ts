/** @module Two-sided CUSUM change-point detector (Page 1954) that accepts a detected shift as the new normal. */
import { UnivariateDetector, checkInt } from './detector.js'
import {
  createWindow,
  pushWindow,
  robustScale,
  windowLag,
  windowMedian,
  windowQuantile,
  type RollingWindow,
} from './window.js'

export interface CusumOptions {
  /** reference window for the in-control mean (median) and scale (MAD); default 128 */
  readonly windowSize?: number
  /** allowance k in standard deviations: half the smallest shift worth catching (1σ); default 0.5 */
  readonly drift?: number
  /** decision interval h in nats; default 20: in-control run length > 1e7 points (Siegmund), so only certain shifts are accepted */
  readonly threshold?: number
  /** standardised residuals are clipped to ±clip so one spike cannot fake a shift; default 4 */
  readonly clip?: number
  /** points after a declared shift used as the new reference; default 16 */
  readonly adoptPoints?: number
  readonly gracePeriod?: number
}

interface State {
  n: number
  ref: RollingWindow
  recent: RollingWindow
  up: number
  down: number
  shifts: number
}

/**
 * With standardised residual e and allowance k = δ/2 for a shift of δ = 1σ, the statistics
 * S⁺ = max(0, S⁺ + e − k) and S⁻ = max(0, S⁻ − e − k) are log-likelihood ratios (in nats) of
 * "shifted by ±δ" against "in control"; by Ville's inequality a pure-noise series exceeds s with
 * probability ≤ e^−s, so the surprise is max(S⁺, S⁻). When one exceeds the threshold the shift is
 * declared and accepted: the reference window restarts from the last `adoptPoints` values.
 */
export class Cusum extends UnivariateDetector<Required<CusumOptions>, State> {
  readonly name = 'cusum'

  constructor(options: CusumOptions = {}) {
    const o: Required<CusumOptions> = {
      windowSize: options.windowSize ?? 128,
      drift: options.drift ?? 0.5,
      threshold: options.threshold ?? 20,
      clip: options.clip ?? 4,
      adoptPoints: options.adoptPoints ?? 16,
      gracePeriod: options.gracePeriod ?? 32,
    }
    checkInt('cusum', 'windowSize', o.windowSize, 8, 100_000)
    checkInt('cusum', 'adoptPoints', o.adoptPoints, 2, o.windowSize)
    super(o, {
      n: 0,
      ref: createWindow(o.windowSize),
      recent: createWindow(o.adoptPoints),
      up: 0,
      down: 0,
      shifts: 0,
    })
  }

  /** Number of level shifts declared (and accepted) so far. */
  get shifts(): number {
    return this.s.shifts
  }

  // score then update on the same x: reuse the standardised residual (median/MAD cost O(window))
  #memoX = NaN
  #memoE = 0
  #memoN = -1

  #e(x: number): number {
    if (x === this.#memoX && this.#memoN === this.s.n) return this.#memoE
    const m = windowMedian(this.s.ref)
    // IQR/1.349 rather than MAD: as robust for a reference window, and O(1) on the sorted window
    const iqr = (windowQuantile(this.s.ref, 0.75) - windowQuantile(this.s.ref, 0.25)) / 1.349
    const e = (x - m) / (iqr > 0 ? iqr : robustScale(this.s.ref, m))
    this.#memoX = x
    this.#memoN = this.s.n
    this.#memoE = Math.max(-this.o.clip, Math.min(this.o.clip, e))
    return this.#memoE
  }

  surprise(x: number): number {
    const s = this.s
    if (s.n < this.o.gracePeriod || s.ref.count < this.o.gracePeriod) return 0
    const e = this.#e(x)
    return Math.max(0, s.up + e - this.o.drift, s.down - e - this.o.drift)
  }

  expected(): { value: number; low: number; high: number } {
    const m = windowMedian(this.s.ref)
    const sc = this.s.ref.count > 0 ? robustScale(this.s.ref, m) : NaN
    return { value: m, low: m - 3 * sc, high: m + 3 * sc }
  }

  learn(x: number): void {
    const s = this.s
    const e = s.ref.count >= this.o.gracePeriod ? this.#e(x) : 0
    s.n++
    pushWindow(s.recent, x)
    if (s.ref.count >= this.o.gracePeriod) {
      s.up = Math.max(0, s.up + e - this.o.drift)
      s.down = Math.max(0, s.down - e - this.o.drift)
      if (s.up > this.o.threshold || s.down > this.o.threshold) {
        s.shifts++
        s.up = 0
        s.down = 0
        s.ref = createWindow(this.o.windowSize)
        for (let lag = s.recent.count; lag >= 1; lag--) pushWindow(s.ref, windowLag(s.recent, lag))
        return
      }
    }
    pushWindow(s.ref, x)
  }
}
