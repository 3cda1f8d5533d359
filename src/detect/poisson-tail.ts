/** @module Poisson / binomial tail test for counts (errors given requests), with over-dispersion. */
import { UnivariateDetector } from './detector.js'
import { poissonSurprise } from './stats.js'

export interface PoissonTailOptions {
  /** forgetting horizon in points of the baseline rate; default 500 */
  readonly horizon?: number
  /** `upper` for error counts (bursts), `both` for traffic counts (collapses too); default `upper` */
  readonly side?: 'upper' | 'both'
  readonly gracePeriod?: number
}

interface State {
  n: number
  /** exponentially weighted count, trials, and squared Pearson residual sums */
  sk: number
  st: number
  sp: number
  sw: number
  trials: number
  /** an externally supplied expected count for the next point (seasonal baseline), or NaN */
  mean: number
  /** false once a learned value is not an integer (absent in old snapshots: counts assumed) */
  integer?: boolean
}

/**
 * The surprise of a count k: P(X ≥ k) for X ~ quasi-Poisson(mean = trials·p₀, variance = φ·mean).
 * p₀ is the baseline ratio (Jeffreys prior: +½ event, +1 trial), φ the over-dispersion learned from
 * Pearson residuals (≥ 1). With `observeTrials(requests)` this is the binomial tail of errors given
 * requests (Poisson approximation), so three errors out of five requests on a quiet route are judged
 * by probability, not by a 60% ratio. Without trials each point is one unit of exposure.
 */
export class PoissonTail extends UnivariateDetector<Required<PoissonTailOptions>, State> {
  readonly name = 'poisson'

  constructor(options: PoissonTailOptions = {}) {
    const o: Required<PoissonTailOptions> = {
      horizon: options.horizon ?? 500,
      side: options.side ?? 'upper',
      gracePeriod: options.gracePeriod ?? 32,
    }
    super(o, { n: 0, sk: 0, st: 0, sp: 0, sw: 0, trials: 1, mean: NaN })
  }

  /** Sets the exposure (e.g. request count) of the next point. */
  observeTrials(trials: number): void {
    this.s.trials = Number.isFinite(trials) && trials >= 0 ? trials : 1
  }

  /**
   * Sets the expected count of the next point from outside (the ensemble passes the seasonal
   * baseline, so the daily peak is expected); NaN returns to the learned rate.
   */
  observeMean(mean: number): void {
    this.s.mean = Number.isFinite(mean) && mean >= 0 ? mean : NaN
  }

  #mean(): number {
    const s = this.s
    if (!Number.isNaN(s.mean)) return s.mean
    return (s.trials * (s.sk + 0.5)) / (s.st + 1)
  }

  /**
   * The dispersion φ. For counts it is at least 1: a Poisson count cannot be less variable than
   * Poisson. For a non-integer series (a rate, a latency) φ carries the units (variance = φ·mean
   * scales as units², the mean as units), so a floor at 1 would make the model depend on the unit:
   * sharp for milliseconds, blind for seconds. There it is only kept positive.
   */
  #phi(): number {
    const s = this.s
    if (s.sw <= 5) return 1
    const r = s.sp / s.sw
    return s.integer === false ? Math.max(r, 1e-9) : Math.max(1, r)
  }

  surprise(x: number): number {
    const s = this.s
    if (s.n < this.o.gracePeriod) return 0
    const k = Math.max(0, x)
    const mean = this.#mean()
    const phi = this.#phi()
    const up = poissonSurprise(k, mean, phi, 'upper')
    if (this.o.side === 'upper') return up
    return Math.max(0, Math.max(up, poissonSurprise(k, mean, phi, 'lower')) - Math.LN2)
  }

  /**
   * The model the next point is judged against: its expected count, the over-dispersion φ, and
   * whether the grace period is over (before it, `surprise` is 0).
   */
  model(): { mean: number; phi: number; ready: boolean } {
    return { mean: this.#mean(), phi: this.#phi(), ready: this.s.n >= this.o.gracePeriod }
  }

  expected(): { value: number; low: number; high: number } {
    const m = this.#mean()
    const sd = Math.sqrt(this.#phi() * m)
    return { value: m, low: Math.max(0, m - 3 * sd), high: m + 3 * sd }
  }

  learn(x: number): void {
    const s = this.s
    const k = Math.max(0, x)
    if (!Number.isInteger(x)) s.integer = false
    const decay = 1 - 1 / this.o.horizon
    if (s.n > 0) {
      const m = this.#mean()
      // one point counts at most 50 times the current dispersion: an outlier cannot inflate φ, and
      // the cap scales with φ (an absolute cap of 50 biased φ low whenever it exceeded ~5, and for
      // a non-integer series it would depend on the unit)
      const cap = 50 * this.#phi()
      s.sp = s.sp * decay + Math.min(cap, ((k - m) * (k - m)) / Math.max(m, 1e-9))
      s.sw = s.sw * decay + 1
    }
    s.sk = s.sk * decay + k
    s.st = s.st * decay + s.trials
    s.n++
  }
}
