/**
 * @module ARIMA and seasonal ARIMA fitted by conditional sum of squares (Box & Jenkins), with
 * stationarity and invertibility enforced through the partial-autocorrelation transform (Jones
 * 1980), and automatic order selection by AICc with the Hyndman–Khandakar (2008) stepwise search:
 * d by repeated KPSS tests, D by seasonal strength, as R's forecast::auto.arima does by default.
 *
 * Written here rather than using the `arima` npm package: that package's default (exact ML)
 * produced explosive forecasts on this project's test series (see LIBRARIES.md), and a pure
 * TypeScript fit needs no WASM memory management and runs inside a worker unchanged.
 */
import { withDecomposition } from './ets.js'
import type { Fitted, ModelFamily, SeasonContext } from './types.js'
import { aicc, diff, levenbergMarquardt, mean, ndiffs, seasonalStrength, variance } from './stats.js'

export interface ArimaOrder {
  readonly p: number
  readonly d: number
  readonly q: number
  readonly P: number
  readonly D: number
  readonly Q: number
  /** seasonal period (1 = non-seasonal) */
  readonly m: number
  /** include a mean (d+D = 0) or drift (d+D = 1); ignored when d+D >= 2 */
  readonly constant: boolean
}

/** A fitted ARIMA model. */
export interface ArimaFit extends Fitted {
  readonly order: ArimaOrder
  /** AR coefficients phi_1..phi_p (sign convention: w_t = sum phi_i w_{t-i} + ...) */
  readonly ar: number[]
  /** MA coefficients theta_1..theta_q (w_t = ... + e_t + sum theta_i e_{t-i}) */
  readonly ma: number[]
  readonly sar: number[]
  readonly sma: number[]
  /** mean (or drift) of the differenced series */
  readonly mu: number
  readonly sigma2: number
  readonly aicc: number
}

/** Seasonal ARIMA is fitted directly only up to this period; longer seasons are adjusted out first. */
export const ARIMA_MAX_SEASON = 52

/** Maps unconstrained reals to coefficients of a stationary AR polynomial via PACF (Durbin–Levinson). */
function pacfToAr(u: readonly number[]): number[] {
  const phi: number[] = []
  for (let k = 0; k < u.length; k++) {
    const r = 0.995 * Math.tanh(u[k])
    const prev = phi.slice()
    for (let j = 0; j < k; j++) phi[j] = prev[j] - r * prev[k - 1 - j]
    phi[k] = r
  }
  return phi
}

function orderName(o: ArimaOrder): string {
  const s = o.P + o.D + o.Q > 0 && o.m > 1 ? `(${o.P},${o.D},${o.Q})[${o.m}]` : ''
  const c = o.constant && o.d + o.D <= 1 ? (o.d + o.D === 0 ? ' mean' : ' drift') : ''
  return `arima(${o.p},${o.d},${o.q})${s}${c}`
}

/** Expands (1 - sum a_i B^i)(1 - sum A_j B^{jm}) into sparse lag/coefficient lists (sign: +). */
function expand(a: readonly number[], A: readonly number[], m: number, sign: 1 | -1): Map<number, number> {
  // AR convention: poly = 1 - sum; MA convention: poly = 1 + sum. We return coefficients c_k so
  // that poly = 1 - sign*... is handled by callers: for AR, w_t = sum c_k w_{t-k}; for MA,
  // e-part = sum c_k e_{t-k}.
  const out = new Map<number, number>()
  const add = (lag: number, v: number): void => {
    if (v !== 0) out.set(lag, (out.get(lag) ?? 0) + v)
  }
  for (let i = 0; i < a.length; i++) add(i + 1, a[i])
  for (let j = 0; j < A.length; j++) add((j + 1) * m, A[j])
  // cross terms: (-a_i B^i)(-A_j B^{jm}) = +a_i A_j for AR (sign -1 per factor → product +, then
  // moved to the right-hand side gives -a_i A_j); for MA both + gives +a_i A_j.
  for (let i = 0; i < a.length; i++)
    for (let j = 0; j < A.length; j++) add(i + 1 + (j + 1) * m, sign === 1 ? -a[i] * A[j] : a[i] * A[j])
  return out
}

interface Core {
  arLags: number[]
  arCoef: number[]
  maLags: number[]
  maCoef: number[]
  mu: number
}

function css(w: readonly number[], c: Core, start: number, resid?: number[] | Float64Array): number {
  const n = w.length
  const e = resid ?? new Array<number>(n)
  let sse = 0
  for (let t = 0; t < n; t++) {
    if (t < start) {
      e[t] = 0
      continue
    }
    let pred = c.mu
    for (let k = 0; k < c.arLags.length; k++) pred += c.arCoef[k] * (w[t - c.arLags[k]] - c.mu)
    for (let k = 0; k < c.maLags.length; k++) {
      const lag = c.maLags[k]
      if (t - lag >= 0) pred += c.maCoef[k] * e[t - lag]
    }
    const r = w[t] - pred
    e[t] = r
    sse += r * r
    if (!Number.isFinite(sse)) return NaN
  }
  return sse
}

function differenceLevels(
  y: readonly number[],
  d: number,
  D: number,
  m: number,
): { levels: number[][]; lags: number[] } {
  const levels: number[][] = [y.slice()]
  const lags: number[] = []
  for (let i = 0; i < D; i++) {
    levels.push(diff(levels[levels.length - 1], m))
    lags.push(m)
  }
  for (let i = 0; i < d; i++) {
    levels.push(diff(levels[levels.length - 1], 1))
    lags.push(1)
  }
  return { levels, lags }
}

/** Fits ARIMA with a given order by CSS. Throws when too few observations remain after differencing. */
export function fitArima(y: readonly number[], order: ArimaOrder, start0?: readonly number[]): ArimaFit {
  const { P, D, Q } = order
  const m = P + D + Q > 0 ? order.m : 1
  const o: ArimaOrder = { ...order, m, P: m > 1 ? P : 0, D: m > 1 ? D : 0, Q: m > 1 ? Q : 0 }
  const { levels, lags } = differenceLevels(y, o.d, o.D, m)
  const w = levels[levels.length - 1]
  const start = o.p + o.P * m
  const nParams = o.p + o.q + o.P + o.Q
  const withConst = o.constant && o.d + o.D <= 1
  if (w.length - start < nParams + (withConst ? 1 : 0) + 3)
    throw new Error(`${orderName(o)}: too few observations after differencing`)
  const wm = mean(w)
  const ws = Math.sqrt(variance(w)) || 1
  const decode = (u: number[]): Core & { ar: number[]; ma: number[]; sar: number[]; sma: number[] } => {
    let i = 0
    const ar = pacfToAr(u.slice(i, (i += o.p)))
    const ma = pacfToAr(u.slice(i, (i += o.q))).map((v) => -v)
    const sar = pacfToAr(u.slice(i, (i += o.P)))
    const sma = pacfToAr(u.slice(i, (i += o.Q))).map((v) => -v)
    const mu = withConst ? wm + (ws / 4) * u[i] : 0
    const arMap = expand(ar, sar, m, 1)
    const maMap = expand(ma, sma, m, -1)
    return {
      ar,
      ma,
      sar,
      sma,
      mu,
      arLags: [...arMap.keys()],
      arCoef: [...arMap.values()],
      maLags: [...maMap.keys()],
      maCoef: [...maMap.values()],
    }
  }
  const u0 =
    start0 !== undefined && start0.length === nParams + (withConst ? 1 : 0)
      ? start0.slice()
      : new Array<number>(nParams + (withConst ? 1 : 0)).fill(0)
  const residBuf = new Float64Array(w.length)
  const best = levenbergMarquardt(
    (u) => {
      const sse = css(w, decode(u), start, residBuf)
      return Number.isFinite(sse) ? residBuf.slice(start) : null
    },
    u0,
    start0 !== undefined ? 15 : 30,
  )
  const core = decode(best.x)
  const resid = new Array<number>(w.length)
  const sse = css(w, core, start, resid)
  const neff = w.length - start
  const sigma2 = sse / neff
  // The likelihood is scaled to the whole differenced length so models with different
  // conditioning lags compare on the same footing in AICc.
  const ll = -0.5 * w.length * (Math.log(2 * Math.PI * Math.max(sigma2, 1e-300)) + 1)
  const k = u0.length + 1
  return {
    name: orderName(o),
    order: o,
    ar: core.ar,
    ma: core.ma,
    sar: core.sar,
    sma: core.sma,
    mu: core.mu,
    sigma2,
    aicc: aicc(ll, k, w.length),
    forecast(h) {
      const ext = w.slice()
      const e = resid.slice()
      for (let t = 0; t < h; t++) {
        const idx = ext.length
        let pred = core.mu
        for (let k2 = 0; k2 < core.arLags.length; k2++) {
          const j = idx - core.arLags[k2]
          pred += core.arCoef[k2] * ((j >= 0 ? ext[j] : core.mu) - core.mu)
        }
        for (let k2 = 0; k2 < core.maLags.length; k2++) {
          const j = idx - core.maLags[k2]
          if (j >= 0) pred += core.maCoef[k2] * e[j]
        }
        ext.push(pred)
        e.push(0)
      }
      // integrate back through each differencing level
      let fc = ext.slice(w.length)
      for (let lv = levels.length - 2; lv >= 0; lv--) {
        const base = levels[lv].slice()
        const lag = lags[lv]
        const next: number[] = []
        for (let t = 0; t < h; t++) {
          const v = fc[t] + base[base.length - lag]
          base.push(v)
          next.push(v)
        }
        fc = next
      }
      return fc
    },
    // warm start from this fit's parameters: backtest refits converge in a few iterations
    refit: (z) => fitArima(z, o, best.x),
  }
}

/** Chooses d (KPSS) and D (seasonal strength > 0.64) as auto.arima does. */
export function chooseDifferencing(y: readonly number[], m: number): { d: number; D: number } {
  let D = 0
  if (m > 1 && y.length >= 3 * m && seasonalStrength(y, m) > 0.64) D = 1
  const x = D === 1 ? diff(y, m) : y
  return { d: ndiffs(x), D }
}

/**
 * Automatic ARIMA by the Hyndman–Khandakar stepwise search over (p,q,P,Q) and the constant,
 * minimising AICc; at most `maxModels` fits.
 */
export function autoArima(yFull: readonly number[], m: number, maxModels = 16): ArimaFit {
  // The order search runs on the most recent SEARCH_POINTS points (plus whole seasons) and the
  // chosen order is refitted on everything: recent dynamics matter most and it bounds the cost.
  const keep = Math.max(SEARCH_POINTS, m > 1 ? 6 * m : 0)
  const y = yFull.length > keep ? yFull.slice(yFull.length - keep) : yFull
  const seasonal = m > 1 && m <= ARIMA_MAX_SEASON && y.length >= 2 * m + 4
  const mm = seasonal ? m : 1
  const { d, D } = chooseDifferencing(y, mm)
  const allowConst = d + D <= 1
  const seen = new Map<string, ArimaFit | null>()
  let fits = 0
  const tryOrder = (p: number, q: number, P: number, Q: number, constant: boolean): ArimaFit | null => {
    if (p < 0 || q < 0 || P < 0 || Q < 0 || p > 4 || q > 4 || P > 1 || Q > 1 || p + q > 5) return null
    if (!seasonal && (P > 0 || Q > 0)) return null
    const c = allowConst && constant
    const key = `${p},${q},${P},${Q},${c}`
    if (seen.has(key)) return seen.get(key) ?? null
    if (fits >= maxModels) return null
    fits++
    let fit: ArimaFit | null = null
    try {
      fit = fitArima(y, { p, d, q, P, D, Q, m: mm, constant: c })
      if (!Number.isFinite(fit.aicc)) fit = null
    } catch {
      fit = null
    }
    seen.set(key, fit)
    return fit
  }
  const starts: [number, number, number, number][] = seasonal
    ? [
        [2, 2, 1, 1],
        [0, 0, 0, 0],
        [1, 0, 1, 0],
        [0, 1, 0, 1],
      ]
    : [
        [2, 2, 0, 0],
        [0, 0, 0, 0],
        [1, 0, 0, 0],
        [0, 1, 0, 0],
      ]
  let best: ArimaFit | null = null
  for (const [p, q, P, Q] of starts) {
    const f = tryOrder(p, q, P, Q, true)
    if (f && (best === null || f.aicc < best.aicc)) best = f
  }
  if (best === null) return fitArima(yFull, { p: 0, d, q: 0, P: 0, D, Q: 0, m: mm, constant: allowConst })
  let improved = true
  while (improved && fits < maxModels) {
    improved = false
    const o: ArimaOrder = best.order
    const cur: boolean = o.constant
    const moves: [number, number, number, number, boolean][] = [
      [o.p - 1, o.q, o.P, o.Q, cur],
      [o.p + 1, o.q, o.P, o.Q, cur],
      [o.p, o.q - 1, o.P, o.Q, cur],
      [o.p, o.q + 1, o.P, o.Q, cur],
      [o.p - 1, o.q - 1, o.P, o.Q, cur],
      [o.p + 1, o.q + 1, o.P, o.Q, cur],
      [o.p, o.q, o.P - 1, o.Q, cur],
      [o.p, o.q, o.P + 1, o.Q, cur],
      [o.p, o.q, o.P, o.Q - 1, cur],
      [o.p, o.q, o.P, o.Q + 1, cur],
      [o.p, o.q, o.P, o.Q, !cur],
    ]
    for (const [p, q, P, Q, c] of moves) {
      const f = tryOrder(p, q, P, Q, c)
      if (f && f.aicc < best.aicc - 1e-9) {
        best = f
        improved = true
        break
      }
    }
  }
  if (y === yFull) return best
  try {
    return fitArima(yFull, best.order)
  } catch {
    return best
  }
}

/** Points the stepwise order search looks at (see autoArima). */
export const SEARCH_POINTS = 300

export const arima: ModelFamily = {
  id: 'arima',
  fit(y: readonly number[], ctx: SeasonContext): Fitted {
    const usable = ctx.seasons.filter((s) => y.length >= 2 * s + 4)
    if (usable.length === 0) return autoArima(y, 1)
    // Seasonal ARIMA costs O(n·m) per likelihood evaluation; on long series with a long season
    // the seasonal profile is adjusted out instead, which keeps `auto` within its time budget.
    if (usable.length === 1 && usable[0] <= ARIMA_MAX_SEASON && (y.length <= 400 || usable[0] <= 12))
      return autoArima(y, usable[0])
    return withDecomposition(y, usable, '', (adj) => autoArima(adj, 1))
  },
}
