/**
 * @module The Theta method (Assimakopoulos & Nikolopoulos 2000) in its SES-with-drift form
 * (Hyndman & Billah 2003), on seasonally adjusted data: the M3 winner and the M4 benchmark.
 */
import { withDecomposition } from './ets.js'
import { linearFit, nelderMead } from './stats.js'
import type { Fitted, ModelFamily, SeasonContext } from './types.js'

function sesSse(y: readonly number[], alpha: number, l0: number): { sse: number; level: number } {
  let l = l0
  let sse = 0
  for (const v of y) {
    const e = v - l
    sse += e * e
    l += alpha * e
  }
  return { sse, level: l }
}

/** Theta on a non-seasonal series: SES level plus half the OLS slope, adjusted for alpha. */
export function fitThetaPlain(y: readonly number[]): Fitted {
  const n = y.length
  const { slope: b } = linearFit(y)
  const sig = (u: number): number => 0.001 + 0.998 / (1 + Math.exp(-u))
  const best = nelderMead((u) => sesSse(y, sig(u[0]), y[0] + u[1]).sse, [0, 0], { maxIter: 200 })
  const alpha = sig(best.x[0])
  const { level } = sesSse(y, alpha, y[0] + best.x[1])
  return {
    name: 'theta',
    forecast: (h) =>
      Array.from({ length: h }, (_, i) => level + 0.5 * b * (i + 1 / alpha - (1 - alpha) ** n / alpha)),
    refit: (z) => fitThetaPlain(z),
  }
}

export const theta: ModelFamily = {
  id: 'theta',
  fit(y: readonly number[], ctx: SeasonContext): Fitted {
    const usable = ctx.seasons.filter((s) => y.length >= 2 * s)
    if (usable.length === 0) return fitThetaPlain(y)
    return withDecomposition(y, usable, '', fitThetaPlain)
  },
}
