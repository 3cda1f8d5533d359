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

  #phi(): number {
    const s = this.s
    return s.sw > 5 ? Math.max(1, s.sp / s.sw) : 1
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

  expected(): { value: number; low: number; high: number } {
    const m = this.#mean()
    const sd = Math.sqrt(this.#phi() * m)
    return { value: m, low: Math.max(0, m - 3 * sd), high: m + 3 * sd }
  }

  learn(x: number): void {
    const s = this.s
    const k = Math.max(0, x)
    const decay = 1 - 1 / this.o.horizon
    if (s.n > 0) {
      const m = this.#mean()
      s.sp = s.sp * decay + Math.min(50, ((k - m) * (k - m)) / Math.max(m, 1e-9))
      s.sw = s.sw * decay + 1
    }
    s.sk = s.sk * decay + k
    s.st = s.st * decay + s.trials
    s.n++
  }
}
