/**
 * @module Seasonal adjustment for one or several periods (an MSTL-like backfitting of classical
 * decompositions), so non-seasonal models can forecast series with long or multiple seasons.
 */
import { centredMovingAverage, mean } from './stats.js'

export interface Decomposition {
  /** the series with every seasonal component removed (divided out when multiplicative) */
  readonly adjusted: number[]
  /** true when the decomposition was made on log(y) */
  readonly multiplicative: boolean
  /** adds the seasonal components back to forecasts of `adjusted` for steps 1..h */
  reseasonalize(forecast: readonly number[]): number[]
  /** the seasonal index table per period (zero-mean), for inspection */
  readonly indices: number[][]
}

function robustMean(x: number[]): number {
  if (x.length < 4) return mean(x)
  // A 20% trimmed mean: spikes in a few cycles should not bend the seasonal profile.
  const s = x.slice().sort((a, b) => a - b)
  const k = Math.floor(s.length * 0.2)
  return mean(s, k, s.length - k)
}

/**
 * Removes seasonal components with periods `periods` from `y`. With `multiplicative` (only valid
 * for positive data) the components are estimated on log(y), which makes them multiplicative.
 * Two backfitting passes: each period's profile is estimated after removing the others.
 */
export function decompose(
  y: readonly number[],
  periods: readonly number[],
  multiplicative: boolean,
): Decomposition {
  const n = y.length
  const z = multiplicative ? y.map((v) => Math.log(v)) : y.slice()
  const usable = periods.filter((p) => p >= 2 && n >= 2 * p).sort((a, b) => a - b)
  const comps = usable.map(() => new Array<number>(n).fill(0))
  const indices: number[][] = usable.map((p) => new Array<number>(p).fill(0))
  const passes = usable.length > 1 ? 2 : 1
  for (let pass = 0; pass < passes; pass++) {
    for (let k = 0; k < usable.length; k++) {
      const p = usable[k]
      const w = z.map((v, i) => {
        let s = v
        for (let j = 0; j < usable.length; j++) if (j !== k) s -= comps[j][i]
        return s
      })
      const trend = centredMovingAverage(w, p)
      const buckets: number[][] = Array.from({ length: p }, () => [])
      for (let i = 0; i < n; i++) if (Number.isFinite(trend[i])) buckets[i % p].push(w[i] - trend[i])
      const idx = buckets.map((b) => (b.length > 0 ? robustMean(b) : 0))
      const c = mean(idx)
      for (let i = 0; i < p; i++) idx[i] -= c
      indices[k] = idx
      for (let i = 0; i < n; i++) comps[k][i] = idx[i % p]
    }
  }
  // The profile is estimated on log(y) when multiplicative, but the adjusted series stays on the
  // original scale (y / exp(S)) so the downstream model is not silently a log model.
  const adjusted = y.map((v, i) => {
    let s = 0
    for (const c of comps) s += c[i]
    return multiplicative ? v / Math.exp(s) : v - s
  })
  return {
    adjusted,
    multiplicative,
    indices,
    reseasonalize(forecast) {
      return forecast.map((f, h) => {
        let s = 0
        for (let k = 0; k < usable.length; k++) s += indices[k][(n + h) % usable[k]]
        return multiplicative ? f * Math.exp(s) : f + s
      })
    },
  }
}
