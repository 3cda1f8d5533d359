/** @module Baseline forecasters: naive, seasonal naive, drift; the yardsticks every other model must beat. */
import type { Fitted, ModelFamily, SeasonContext } from './types.js'

/** Last value repeated. */
export function fitNaive(y: readonly number[]): Fitted {
  const last = y[y.length - 1]
  return {
    name: 'naive',
    forecast: (h) => new Array<number>(h).fill(last),
    refit: (z) => fitNaive(z),
  }
}

/** Value one season ago repeated; falls back to naive when the series is shorter than one season. */
export function fitSeasonalNaive(y: readonly number[], m: number): Fitted {
  if (m < 2 || y.length < m) return fitNaive(y)
  const n = y.length
  const tail = y.slice(n - m)
  return {
    name: `snaive[${m}]`,
    forecast: (h) => Array.from({ length: h }, (_, i) => tail[i % m]),
    refit: (z) => fitSeasonalNaive(z, m),
  }
}

/** Straight line through the first and last observations (random walk with drift). */
export function fitDrift(y: readonly number[]): Fitted {
  const n = y.length
  const slope = n > 1 ? (y[n - 1] - y[0]) / (n - 1) : 0
  const last = y[n - 1]
  return {
    name: 'drift',
    forecast: (h) => Array.from({ length: h }, (_, i) => last + (i + 1) * slope),
    refit: (z) => fitDrift(z),
  }
}

export const naive: ModelFamily = { id: 'naive', fit: (y) => fitNaive(y) }
export const drift: ModelFamily = { id: 'drift', fit: (y) => fitDrift(y) }
export const seasonalNaive: ModelFamily = {
  id: 'snaive',
  fit: (y, ctx: SeasonContext) => fitSeasonalNaive(y, primarySeason(ctx, y.length)),
}

/** The season the seasonal naive and MASE use: the longest detected season the data covers twice. */
export function primarySeason(ctx: SeasonContext, n: number): number {
  let m = 1
  for (const s of ctx.seasons) if (s <= n / 2 && s > m) m = s
  return m
}
