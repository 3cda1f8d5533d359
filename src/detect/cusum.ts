/** @module Two-sided Shewhart–CUSUM change detector (Page 1954, Lucas 1982) that accepts a detected shift as the new normal. */
import { UnivariateDetector, checkInt } from './detector.js'
import { zSurprise } from './stats.js'
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
  /** reference window for the in-control mean (median) and scale (IQR); default 128 */
  readonly windowSize?: number
  /** allowance k in long-run standard deviations: half the smallest shift worth catching (1σ); default 0.5 */
  readonly drift?: number
  /** decision interval h in nats; default 20: in-control run length > 1e7 points (Siegmund), so only certain shifts are accepted */
  readonly threshold?: number
  /** standardised residuals are clipped to ±clip in the CUSUM so one spike cannot fake a shift; default 4 */
  readonly clip?: number
  /** points after a declared shift used as the new reference; default 16 */
  readonly adoptPoints?: number
  /** points per batch for the long-run variance (batch means); default 16 */
  readonly batchSize?: number
  readonly gracePeriod?: number
}

interface State {
  n: number
  ref: RollingWindow
  recent: RollingWindow
  up: number
  down: number
  shifts: number
  /** sum and count of the standardised residuals in the current batch */
  batchSum: number
  batchN: number
  /** means of the last 64 batches (in standardised units) */
  batches: RollingWindow
  /** long-run / marginal standard deviation (≥ 1), recomputed when a batch completes */
  lrf: number
}

/** Batches kept for the long-run scale: 64 batch means, MAD standard error ≈ 12%. */
const BATCHES = 64

/**
 * A CUSUM for sustained shifts combined with a Shewhart limit for single large deviations, as
 * Lucas (1982, "Combined Shewhart–CUSUM quality control schemes", J. Quality Technology) proposed:
 * the CUSUM alone reacts slowly to a large jump and not at all to a spike (its residuals are clipped).
 *
 * With standardised residual e and allowance k = δ/2 for a shift of δ = 1σ, the statistics
 * S⁺ = max(0, S⁺ + e − k) and S⁻ = max(0, S⁻ − e − k) are log-likelihood ratios (in nats) of
 * "shifted by ±δ" against "in control"; by Ville's inequality an in-control series exceeds s with
 * probability ≤ e^−s. That holds for independent residuals only: the residuals of a seasonal
 * baseline wander slowly (an offset estimated from five days, a level that lags), and a small
 * persistent correlation makes the variance of a sum many times the sum of the variances, so a
 * CUSUM scaled by the marginal σ declares "shifts" every day. The CUSUM therefore uses residuals
 * in units of the **long-run** standard deviation, estimated by batch means (the variance of
 * means of `batchSize` consecutive residuals times `batchSize`; Runger & Willemain 1995), robustly
 * (MAD of the last 64 batch means) and never below the marginal σ.
 *
 * The surprise is the larger of max(S⁺, S⁻) and the two-sided normal tail of the unclipped marginal
 * residual, minus ln 2 for asking two questions. When the CUSUM exceeds the threshold the shift is
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
      batchSize: options.batchSize ?? 16,
      gracePeriod: options.gracePeriod ?? 32,
    }
    checkInt('cusum', 'windowSize', o.windowSize, 8, 100_000)
    checkInt('cusum', 'adoptPoints', o.adoptPoints, 2, o.windowSize)
    checkInt('cusum', 'batchSize', o.batchSize, 1, 10_000)
    super(o, {
      n: 0,
      ref: createWindow(o.windowSize),
      recent: createWindow(o.adoptPoints),
      up: 0,
      down: 0,
      shifts: 0,
      batchSum: 0,
      batchN: 0,
      batches: createWindow(BATCHES),
      lrf: 1,
    })
  }

  /** Number of level shifts declared (and accepted) so far. */
  get shifts(): number {
    return this.s.shifts
  }

  // score then update on the same x: reuse the standardised residual (median/IQR cost O(window))
  #memoX = NaN
  #memoE = 0
  #memoN = -1

  /** The marginal standardised residual (unclipped). */
  #e(x: number): number {
    if (x === this.#memoX && this.#memoN === this.s.n) return this.#memoE
    const m = windowMedian(this.s.ref)
    // IQR/1.349 rather than MAD: as robust for a reference window, and O(1) on the sorted window
    const iqr = (windowQuantile(this.s.ref, 0.75) - windowQuantile(this.s.ref, 0.25)) / 1.349
    this.#memoX = x
    this.#memoN = this.s.n
    this.#memoE = (x - m) / (iqr > 0 ? iqr : robustScale(this.s.ref, m))
    return this.#memoE
  }

  /** Long-run / marginal standard deviation ratio (≥ 1) from the batch means. */
  #lrf(): number {
    const b = this.s.batches
    if (b.count < 8) return 1
    const sd = Math.sqrt(this.o.batchSize) * robustScale(b, windowMedian(b))
    return sd > 1 ? sd : 1
  }

  /** The CUSUM increment's residual: clipped, in long-run units. */
  #c(e: number): number {
    const c = Math.max(-this.o.clip, Math.min(this.o.clip, e))
    return c / this.s.lrf
  }

  surprise(x: number): number {
    const s = this.s
    if (s.n < this.o.gracePeriod || s.ref.count < this.o.gracePeriod) return 0
    const e = this.#e(x)
    const c = this.#c(e)
    const cusum = Math.max(s.up + c - this.o.drift, s.down - c - this.o.drift)
    return Math.max(0, Math.max(cusum, zSurprise(e)) - Math.LN2)
  }

  expected(): { value: number; low: number; high: number } {
    const m = windowMedian(this.s.ref)
    const sc = this.s.ref.count > 0 ? robustScale(this.s.ref, m) : NaN
    return { value: m, low: m - 3 * sc, high: m + 3 * sc }
  }

  /** Restores a snapshot; one taken before the long-run scale existed starts that scale afresh. */
  override restore(snap: Parameters<UnivariateDetector<Required<CusumOptions>, State>['restore']>[0]): this {
    super.restore(snap)
    const s = this.s as Partial<State> & State
    if (s.batches === undefined) {
      s.batchSum = 0
      s.batchN = 0
      s.batches = createWindow(BATCHES)
      s.lrf = 1
    }
    return this
  }

  learn(x: number): void {
    const s = this.s
    const ready = s.ref.count >= this.o.gracePeriod
    const e = ready ? this.#e(x) : 0
    s.n++
    pushWindow(s.recent, x)
    if (ready) {
      const c = this.#c(e)
      s.up = Math.max(0, s.up + c - this.o.drift)
      s.down = Math.max(0, s.down - c - this.o.drift)
      s.batchSum += Math.max(-this.o.clip, Math.min(this.o.clip, e))
      if (++s.batchN === this.o.batchSize) {
        pushWindow(s.batches, s.batchSum / s.batchN)
        s.batchSum = 0
        s.batchN = 0
        s.lrf = this.#lrf()
      }
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
