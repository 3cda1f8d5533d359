/** @module Anomaly likelihood: calibrates a detector's surprises against its own recent distribution. */
import { createWindow, pushWindow, windowQuantile, type RollingWindow } from './window.js'

export interface LikelihoodOptions {
  /** raw surprises averaged before calibration (Numenta's averaging window is 10); default 1, see below */
  readonly averageOver?: number
  /** history of averages the tail is estimated from; default 1000 */
  readonly historySize?: number
  /** averages needed before any p-value below 1; default 100 (a p99 needs ~100 samples) */
  readonly minHistory?: number
}

export interface LikelihoodState {
  recent: Float64Array
  recentHead: number
  recentSum: number
  recentCount: number
  history: RollingWindow
}

/** Below this spread (nats) differences in surprise are noise; it also keeps flat series finite. */
const MIN_TAIL_SCALE = 0.1
/** Fraction of the history treated as the tail (peaks over the p95). */
const TAIL = 0.05

/**
 * Turns a stream of surprises (−ln p from one detector) into calibrated tail probabilities.
 *
 * As in Numenta's anomaly likelihood (Ahmad et al. 2017, "Unsupervised real-time anomaly detection
 * for streaming data", Neurocomputing), the short-term mean of the last `averageOver` surprises is
 * compared with the long-run distribution of that mean, so a detector that is noisy on this series
 * is discounted and a sustained moderate deviation adds up. Instead of Numenta's Gaussian tail we
 * use the empirical distribution of the history and, above its p95, an exponential tail whose scale
 * is the mean excess over the p95 (peaks over threshold with shape 0, as in SPOT: Siffer et al.
 * 2017, KDD): surprises are right-skewed and often heavy-tailed, and a Gaussian tail would call
 * ordinary peaks of a bursty series extreme.
 *
 * The default averages over 1 point: a mean over k points divides a single spike's evidence by k,
 * and sustained moderate evidence is what the CUSUM detector accumulates.
 *
 * Returns −ln p of the current average (0 while warming up).
 */
export class AnomalyLikelihood {
  readonly o: Required<LikelihoodOptions>
  s: LikelihoodState

  constructor(options: LikelihoodOptions = {}) {
    this.o = {
      averageOver: options.averageOver ?? 1,
      historySize: options.historySize ?? 1000,
      minHistory: options.minHistory ?? 100,
    }
    this.s = {
      recent: new Float64Array(this.o.averageOver),
      recentHead: 0,
      recentSum: 0,
      recentCount: 0,
      history: createWindow(this.o.historySize),
    }
  }

  /** Number of averages in the history (for warm-up ramps). */
  get seen(): number {
    return this.s.history.count
  }

  /** The calibrated surprise −ln p of `surprise` (not learned; call `learn` after). */
  calibrate(surprise: number): number {
    const s = this.s
    const k = this.o.averageOver
    const n = Math.min(s.recentCount + 1, k)
    const dropped = s.recentCount >= k ? s.recent[s.recentHead] : 0
    const avg = (s.recentSum - dropped + surprise) / n
    const h = s.history
    if (h.count < this.o.minHistory) return 0
    const sorted = h.sorted
    const c = h.count
    const u = windowQuantile(h, 1 - TAIL)
    if (avg > u) {
      // exponential tail above the p95 with the mean excess as scale (its maximum-likelihood
      // estimate), over the values strictly above it: a detector whose surprise is mostly exactly
      // 0 (a one-sided test) has its p95 at 0, and counting those zeros as the tail would shrink
      // the scale to nothing and call an everyday surprise of 1.5 nats a one-in-a-million event
      let above = 0
      let excess = 0
      for (let i = c - 1; i >= 0 && sorted[i] > u; i--) {
        above++
        excess += sorted[i] - u
      }
      if (above === 0) return -Math.log(TAIL) + (avg - u) / MIN_TAIL_SCALE
      const beta = Math.max(MIN_TAIL_SCALE, excess / above)
      return -Math.log(above / c) + (avg - u) / beta
    }
    // empirical: fraction of history at or above avg (binary search)
    let lo = 0
    let hi = c
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (sorted[mid] < avg) lo = mid + 1
      else hi = mid
    }
    return -Math.log((c - lo + 1) / (c + 1))
  }

  learn(surprise: number): void {
    const s = this.s
    const k = this.o.averageOver
    if (s.recentCount >= k) s.recentSum -= s.recent[s.recentHead]
    else s.recentCount++
    s.recent[s.recentHead] = surprise
    s.recentSum += surprise
    s.recentHead = (s.recentHead + 1) % k
    pushWindow(s.history, s.recentSum / s.recentCount)
  }
}
