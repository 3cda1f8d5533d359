/**
 * @module Heavy-tailed latency for mock upstreams: a log-normal body spliced to a Pareto tail,
 * fitted so a range `LO-HI` puts LO near the 5th percentile and HI near the 99th.
 *
 * ```
 *  density
 *    │   ╭─╮            log-normal body (u < 0.95): exp(mu + sigma·Φ⁻¹(u))
 *    │  ╭╯  ╰╮
 *    │ ╭╯     ╰──╮      Pareto tail (u ≥ 0.95): x95 · (0.05 / (1 − u))^(1/alpha)
 *    │╭╯          ╰───────────────────────────────────── … (much longer than a log-normal's)
 *    └┴──┬──────────┬────────┬──────────▶ ms
 *       LO=p5      p95      HI=p99
 * ```
 *
 * Fit: `p5 = LO` gives `mu − 1.645·sigma = ln LO`; `p99 = x95 · 5^(1/alpha) = HI` and
 * `x95 = exp(mu + 1.645·sigma)` give `mu + 1.645·sigma = ln HI − ln 5 / alpha`. With
 * alpha = 2.5 (finite mean, infinite-ish variance, as measured service latencies tend to be) the
 * default range 50-500 gives a median of ~114 ms, p95 ~263 ms, p99 500 ms and p99.9 ~1.25 s.
 * Narrow ranges raise alpha so sigma stays positive. Samples are capped at 20 × HI.
 */
import { VGL_ERR_SIM_LATENCY_RANGE } from '../errors.js'

/** Parameters of the spliced distribution; see the module comment for the fit. */
export interface LatencyModel {
  readonly loMs: number
  readonly hiMs: number
  readonly mu: number
  readonly sigma: number
  readonly alpha: number
  /** value at the splice point (the 95th percentile) */
  readonly x95Ms: number
  readonly capMs: number
}

const Z95 = 1.6448536269514722
const TAIL_Q = 0.95
const DEFAULT_ALPHA = 2.5

/** Parses `50-500` (or a single number for a fixed latency, `0` for none); names the flag on error. */
export function parseLatencyRange(text: string, flag = '--latency-ms'): { loMs: number; hiMs: number } {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*$/.exec(text)
  if (!m) throw VGL_ERR_SIM_LATENCY_RANGE(flag, text)
  const lo = Number(m[1])
  const hi = m[2] === undefined ? lo : Number(m[2])
  if (hi < lo) throw VGL_ERR_SIM_LATENCY_RANGE(flag, text)
  return { loMs: lo, hiMs: hi }
}

/** Fits the body and tail to a range (see the module comment). `lo === hi` gives a fixed latency. */
export function fitLatency(loMs: number, hiMs: number): LatencyModel {
  if (!(loMs >= 0) || !(hiMs >= loMs)) throw VGL_ERR_SIM_LATENCY_RANGE('latencyMs', `${loMs}-${hiMs}`)
  if (loMs === hiMs || loMs === 0) {
    // A log-normal cannot have p5 = 0; `0-HI` is read as "fast, with HI as the rare slow case".
    if (loMs === 0 && hiMs > 0) return fitLatency(Math.max(hiMs / 50, 0.1), hiMs)
    return { loMs, hiMs, mu: 0, sigma: 0, alpha: Infinity, x95Ms: hiMs, capMs: hiMs }
  }
  const span = Math.log(hiMs / loMs)
  // The tail must not eat more than half the log-range, or sigma would go to zero or below.
  const alpha = Math.max(DEFAULT_ALPHA, (2 * Math.log(5)) / span)
  const sigma = (span - Math.log(5) / alpha) / (2 * Z95)
  const mu = Math.log(loMs) + Z95 * sigma
  return { loMs, hiMs, mu, sigma, alpha, x95Ms: Math.exp(mu + Z95 * sigma), capMs: 20 * hiMs }
}

/** The model's quantile function; `sample` is this applied to a uniform draw. */
export function latencyQuantile(model: LatencyModel, u: number): number {
  if (model.sigma === 0) return model.hiMs
  let x: number
  if (u < TAIL_Q) x = Math.exp(model.mu + model.sigma * inverseNormalCdf(u))
  else x = model.x95Ms * Math.pow((1 - TAIL_Q) / Math.max(1 - u, 1e-12), 1 / model.alpha)
  return Math.min(x, model.capMs)
}

/** Draws one latency in ms with `random` in [0, 1). */
export function sampleLatency(model: LatencyModel, random: () => number): number {
  return latencyQuantile(model, random())
}

/** Small seeded PRNG (mulberry32) so tests and demos are reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return function mulberry32() {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Acklam's rational approximation of the normal quantile (relative error < 1.15e-9).
const A = [
  -3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1,
  2.506628277459239,
]
const B = [
  -5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1,
]
const C = [
  -7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968,
  2.938163982698783,
]
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416]

/** Φ⁻¹(p) for p in (0, 1). */
export function inverseNormalCdf(p: number): number {
  const q0 = Math.min(Math.max(p, 1e-15), 1 - 1e-15)
  const pLow = 0.02425
  if (q0 < pLow) {
    const q = Math.sqrt(-2 * Math.log(q0))
    return (
      (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    )
  }
  if (q0 > 1 - pLow) {
    const q = Math.sqrt(-2 * Math.log(1 - q0))
    return (
      -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1)
    )
  }
  const q = q0 - 0.5
  const r = q * q
  return (
    ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1)
  )
}
