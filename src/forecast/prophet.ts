/**
 * @module Prophet-style regression (Taylor & Letham 2018): a piecewise-linear trend with automatic
 * changepoints (L1 penalty, Prophet's Laplace prior) plus Fourier seasonalities (L2 penalty),
 * fitted with a Huber loss by iteratively reweighted least squares so spikes do not bend it.
 */
import { median, solveSpd } from './stats.js'
import type { Fitted, ModelFamily, SeasonContext } from './types.js'

export interface ProphetOptions {
  /** seasonal periods in steps; each gets Fourier terms */
  readonly seasons: readonly number[]
  /** number of potential changepoints (default min(25, n/10)) */
  readonly changepoints?: number
  /** Laplace prior scale on slope changes in scaled units (Prophet default 0.05) */
  readonly changepointScale?: number
  /** fit on at most this many recent points (default 4000): the cost is O(n·k²) */
  readonly maxPoints?: number
}

/** Fourier order for a period in steps: Prophet uses 4 (daily) and 3 (weekly); we allow up to 6. */
function fourierOrder(p: number): number {
  return Math.max(1, Math.min(Math.floor(p / 2), 6))
}

const HUBER_C = 1.345

/** Fits the regression; throws when the series is too short for the requested terms. */
export function fitProphet(yAll: readonly number[], opts: ProphetOptions, warm?: Float64Array): Fitted {
  const y = yAll.length > (opts.maxPoints ?? 4000) ? yAll.slice(yAll.length - (opts.maxPoints ?? 4000)) : yAll
  const n = y.length
  const offset = yAll.length - n
  const seasons = opts.seasons.filter((p) => p >= 2 && n >= 2 * p)
  const nCp = Math.max(0, Math.min(opts.changepoints ?? 25, Math.floor(n / 10)))
  const tau = opts.changepointScale ?? 0.05
  // changepoints spread over the first 80% of the history, as Prophet does
  const cps: number[] = []
  for (let j = 1; j <= nCp; j++) cps.push((0.8 * j) / (nCp + 1))
  const fourier: [number, number][] = []
  for (const p of seasons) for (let k = 1; k <= fourierOrder(p); k++) fourier.push([p, k])
  const cols = 2 + nCp + 2 * fourier.length
  if (n < cols + 5) throw new Error(`prophet: ${n} points is too few for ${cols} terms`)
  const yMed = median(y as number[])
  const yScale = Math.max(1e-12, median(y.map((v) => Math.abs(v - yMed))) * 1.4826 || Math.abs(yMed) || 1)
  const ys = y.map((v) => (v - yMed) / yScale)
  const denom = Math.max(1, n - 1)
  const row = (i: number, out: Float64Array): void => {
    const t = i / denom
    out[0] = 1
    out[1] = t
    for (let j = 0; j < nCp; j++) out[2 + j] = t > cps[j] ? t - cps[j] : 0
    let c = 2 + nCp
    const pos = i + offset
    for (const [p, k] of fourier) {
      const a = (2 * Math.PI * k * pos) / p
      out[c++] = Math.sin(a)
      out[c++] = Math.cos(a)
    }
  }
  const X = new Float64Array(n * cols)
  const r = new Float64Array(cols)
  for (let i = 0; i < n; i++) {
    row(i, r)
    X.set(r, i * cols)
  }
  const w = new Float64Array(n).fill(1)
  let beta = new Float64Array(cols)
  let sigma2 = 1
  // A backtest refit starts from the full fit's coefficients and weights: a few IRLS steps suffice.
  const warmOk = warm !== undefined && warm.length === cols
  // Huber weights from the robust residual scale
  const reweight = (): void => {
    const res: number[] = new Array(n)
    for (let i = 0; i < n; i++) {
      let f = 0
      for (let a = 0; a < cols; a++) f += X[i * cols + a] * beta[a]
      res[i] = ys[i] - f
    }
    const s = Math.max(1e-9, 1.4826 * median(res.map(Math.abs)))
    sigma2 = s * s
    for (let i = 0; i < n; i++) {
      const z = Math.abs(res[i]) / s
      w[i] = z <= HUBER_C ? 1 : HUBER_C / z
    }
  }
  if (warmOk) {
    beta = Float64Array.from(warm)
    reweight()
  }
  const iters = warmOk ? 3 : 6
  // X'X and X'y once; each IRLS step only subtracts the down-weighted (outlier) rows, which
  // are a few percent under a Huber loss, so a step costs O(outliers·k²) instead of O(n·k²).
  const G = new Float64Array(cols * cols)
  const g0 = new Float64Array(cols)
  const addRow = (A: Float64Array, b: Float64Array, i: number, wt: number): void => {
    const base = i * cols
    for (let a = 0; a < cols; a++) {
      const xa = X[base + a] * wt
      if (xa === 0) continue
      b[a] += xa * ys[i]
      for (let c = 0; c <= a; c++) A[a * cols + c] += xa * X[base + c]
    }
  }
  for (let i = 0; i < n; i++) addRow(G, g0, i, 1)
  for (let iter = 0; iter < iters; iter++) {
    const A = G.slice()
    const b = g0.slice()
    for (let i = 0; i < n; i++) if (w[i] < 1) addRow(A, b, i, w[i] - 1)
    for (let a = 0; a < cols; a++) for (let c = 0; c < a; c++) A[c * cols + a] = A[a * cols + c]
    // penalties: L1 on slope changes by IRLS (kappa / |delta|), light ridge on Fourier terms
    const kappa = sigma2 / tau
    for (let j = 0; j < nCp; j++) {
      const d = Math.abs(beta[2 + j])
      A[(2 + j) * cols + 2 + j] += iter === 0 && !warmOk ? kappa * 20 : kappa / Math.max(d, 1e-3)
    }
    for (let c = 2 + nCp; c < cols; c++) A[c * cols + c] += sigma2 / 100
    beta = solveSpd(A, b, cols) as Float64Array<ArrayBuffer>
    reweight()
  }
  const coef = Array.from(beta)
  if (!coef.every(Number.isFinite)) throw new Error('prophet: the regression did not converge')
  const name = `prophet(cp=${nCp}${seasons.length ? `,season=${seasons.join('+')}` : ''})`
  return {
    name,
    forecast(h) {
      const out: number[] = []
      const rr = new Float64Array(cols)
      for (let s = 1; s <= h; s++) {
        row(n - 1 + s, rr)
        let f = 0
        for (let a = 0; a < cols; a++) f += rr[a] * coef[a]
        out.push(yMed + yScale * f)
      }
      return out
    },
    refit: (z) => fitProphet(z, opts, beta),
  }
}

export const prophet: ModelFamily = {
  id: 'prophet',
  fit: (y: readonly number[], ctx: SeasonContext) => fitProphet(y, { seasons: ctx.seasons }),
}
