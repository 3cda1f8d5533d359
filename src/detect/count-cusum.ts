/**
 * @module A one-sided CUSUM of the quasi-Poisson log-likelihood ratio of counts (Page 1954; for
 * Poisson counts, Lucas 1985): evidence of a sustained moderate excess that accumulates across
 * windows, where each window alone is too little to judge.
 */

export interface CountCusumOptions {
  /**
   * decision interval h in nats; default 18: the in-control average run length of a CUSUM of
   * log-likelihood ratios is at least e^h (Lorden 1971), 6.6·10⁷ windows, 21 years of 10 s windows
   */
  readonly threshold?: number
  /** the elevated rate it is tuned to catch, as a multiple of the expected count; default 2 */
  readonly ratio?: number
  /** ... or the expected count plus this many events a window, whichever is more; default 1 */
  readonly minShift?: number
}

/** Plain data: structuredClone and v8.serialize safe. */
export interface CountCusumSnapshot {
  /** the statistic, nats (≥ 0) */
  s: number
  /** the run since the statistic last left 0: windows, events, expected events, their variance, trials */
  windows: number
  k: number
  mean: number
  variance: number
  trials: number
}

/** The excess the statistic has accumulated: the run of windows since it last left 0, summed. */
export interface CountExcess {
  /** the statistic, nats */
  statistic: number
  /** true once the statistic crosses the decision interval */
  alarm: boolean
  windows: number
  /** events over the run */
  observed: number
  /** expected events over the run, and their band (mean ± 3 sd under the over-dispersion φ) */
  expected: number
  low: number
  high: number
  /** trials (requests) over the run */
  trials: number
}

const fresh = (): CountCusumSnapshot => ({ s: 0, windows: 0, k: 0, mean: 0, variance: 0, trials: 0 })

/**
 * S = max(0, S + (k·ln(μ₁/μ₀) − (μ₁ − μ₀)) / φ), with μ₀ the expected count of the window, φ its
 * over-dispersion and μ₁ = max(ratio·μ₀, μ₀ + minShift). For a scaled Poisson (k/φ ~ Poisson(μ/φ),
 * the model `PoissonTail` judges one window with) the increment is the exact log-likelihood ratio
 * of μ₁ against μ₀, so the in-control run length bound e^h holds as it does for Poisson counts.
 * The run since S last left 0 is the CUSUM's estimate of when the excess began (Page 1954): its
 * sums are what an explanation quotes. A window with k ≤ (μ₁ − μ₀)/ln(μ₁/μ₀) lowers S, so calm
 * windows bring it back to 0.
 *
 * @example
 * const c = new CountCusum()
 * let e = c.step(1, 0.01, 1) // one error where 0.01 are expected: +3.6 nats
 * for (let i = 0; i < 4; i++) e = c.step(1, 0.01, 1)
 * e.alarm // true: five windows with one error each, 18 nats
 */
export class CountCusum {
  readonly #o: Required<CountCusumOptions>
  #s: CountCusumSnapshot = fresh()

  constructor(options: CountCusumOptions = {}) {
    this.#o = {
      threshold: options.threshold ?? 18,
      ratio: options.ratio ?? 2,
      minShift: options.minShift ?? 1,
    }
  }

  get threshold(): number {
    return this.#o.threshold
  }

  /**
   * The elevated count per window the statistic tests against μ₀, and the count above which a
   * window adds evidence: (μ₁ − μ₀)/ln(μ₁/μ₀).
   */
  alternative(mean: number): { mean: number; evidence: number } {
    const m0 = Math.max(mean, 1e-9)
    const m1 = Math.max(this.#o.ratio * m0, m0 + this.#o.minShift)
    return { mean: m1, evidence: (m1 - m0) / Math.log(m1 / m0) }
  }

  /** Adds one window: `k` events among `trials`, `mean` expected with over-dispersion `phi` (≥ 1). */
  step(k: number, mean: number, phi: number, trials = 0): CountExcess {
    const m0 = Math.max(mean, 1e-9)
    const f = Number.isFinite(phi) && phi > 0 ? phi : 1
    const m1 = this.alternative(m0).mean
    const inc = (k * Math.log(m1 / m0) - (m1 - m0)) / f
    const s = this.#s
    if (s.s + inc <= 0) this.#s = fresh()
    else {
      s.s += inc
      s.windows++
      s.k += k
      s.mean += m0
      s.variance += f * m0
      s.trials += trials
    }
    return this.excess()
  }

  /** What the statistic holds now. */
  excess(): CountExcess {
    const s = this.#s
    const sd = Math.sqrt(s.variance)
    return {
      statistic: s.s,
      alarm: s.s > this.#o.threshold,
      windows: s.windows,
      observed: s.k,
      expected: s.mean,
      low: Math.max(0, s.mean - 3 * sd),
      high: s.mean + 3 * sd,
      trials: s.trials,
    }
  }

  /** Back to 0: an anomaly opened (its evidence is spent), or the baseline changed. */
  reset(): void {
    this.#s = fresh()
  }

  snapshot(): CountCusumSnapshot {
    return { ...this.#s }
  }

  /** Continues from a snapshot; one that is not a CountCusum snapshot starts from 0. */
  restore(snap: CountCusumSnapshot | undefined): this {
    const ok =
      snap !== undefined &&
      [snap.s, snap.windows, snap.k, snap.mean, snap.variance, snap.trials].every(
        (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0,
      )
    this.#s = ok ? { ...snap } : fresh()
    return this
  }
}
