/** @module Small numerical helpers for the forecasters: Nelder–Mead, least squares, ACF, quantiles, tests. */

export function mean(x: ArrayLike<number>, from = 0, to = x.length): number {
  let s = 0
  for (let i = from; i < to; i++) s += x[i]
  return to > from ? s / (to - from) : NaN
}

export function variance(x: ArrayLike<number>): number {
  const m = mean(x)
  let s = 0
  for (let i = 0; i < x.length; i++) s += (x[i] - m) ** 2
  return x.length > 1 ? s / (x.length - 1) : 0
}

/** Empirical quantile with linear interpolation (type 7, as R's default). */
export function quantile(x: readonly number[], p: number): number {
  if (x.length === 0) return NaN
  const s = [...x].sort((a, b) => a - b)
  const h = (s.length - 1) * Math.min(1, Math.max(0, p))
  const lo = Math.floor(h)
  const hi = Math.min(s.length - 1, lo + 1)
  return s[lo] + (h - lo) * (s[hi] - s[lo])
}

export function median(x: readonly number[]): number {
  return quantile(x, 0.5)
}

/** Sample autocorrelation at lags 0..maxLag. */
export function acf(x: ArrayLike<number>, maxLag: number): number[] {
  const n = x.length
  const m = mean(x)
  let c0 = 0
  for (let i = 0; i < n; i++) c0 += (x[i] - m) ** 2
  const out: number[] = [1]
  for (let k = 1; k <= maxLag; k++) {
    let c = 0
    for (let i = k; i < n; i++) c += (x[i] - m) * (x[i - k] - m)
    out.push(c0 > 0 ? c / c0 : 0)
  }
  return out
}

export function diff(x: readonly number[], lag = 1): number[] {
  const out: number[] = []
  for (let i = lag; i < x.length; i++) out.push(x[i] - x[i - lag])
  return out
}

export interface NelderMeadOptions {
  maxIter?: number
  /** relative tolerance on the spread of simplex values */
  tol?: number
  /** absolute tolerance on the spread of simplex values (e.g. 1e-3 for a -2 log-likelihood) */
  absTol?: number
  /**
   * stop when every vertex is within this of the best in every coordinate (relative to
   * 1 + |coordinate|): the simplex has collapsed and no step can change the answer (default 1e-8)
   */
  xTol?: number
  step?: number
}

/** True when every vertex is within `xTol` (relative to 1 + |x|) of the first in every coordinate. */
function collapsed(simplex: readonly number[][], xTol: number): boolean {
  const x0 = simplex[0]
  for (let i = 1; i < simplex.length; i++)
    for (let j = 0; j < x0.length; j++)
      if (Math.abs(simplex[i][j] - x0[j]) > xTol * (1 + Math.abs(x0[j]))) return false
  return true
}

/**
 * Minimises `f` from `x0` with the Nelder–Mead simplex (Nelder & Mead 1965, standard
 * coefficients). Non-finite objective values are treated as +Infinity so callers can reject
 * invalid regions by returning NaN.
 */
export function nelderMead(
  f: (x: number[]) => number,
  x0: readonly number[],
  opts: NelderMeadOptions = {},
): { x: number[]; fx: number } {
  const n = x0.length
  const maxIter = opts.maxIter ?? 200 * Math.max(1, n)
  const tol = opts.tol ?? 1e-8
  const step = opts.step ?? 0.5
  const absTol = opts.absTol ?? 0
  const xTol = opts.xTol ?? 1e-8
  const safe = (x: number[]): number => {
    const v = f(x)
    return Number.isFinite(v) ? v : Infinity
  }
  if (n === 0) return { x: [], fx: safe([]) }
  const simplex: number[][] = [x0.slice()]
  for (let i = 0; i < n; i++) {
    const p = x0.slice()
    p[i] = p[i] !== 0 ? p[i] * (1 + step) : step
    if (p[i] === x0[i]) p[i] += step
    simplex.push(p)
  }
  let values = simplex.map(safe)
  // No feasible vertex: reflections and shrinks of a simplex whose values are all Infinity are a
  // blind search (there is no order to follow), so the start is returned as it is, infeasible.
  if (values.every((v) => v === Infinity)) return { x: x0.slice(), fx: Infinity }
  for (let iter = 0; iter < maxIter; iter++) {
    const order = values.map((_, i) => i).sort((a, b) => values[a] - values[b])
    const s = order.map((i) => simplex[i])
    const v = order.map((i) => values[i])
    for (let i = 0; i <= n; i++) {
      simplex[i] = s[i]
      values[i] = v[i]
    }
    if (Math.abs(values[n] - values[0]) <= tol * (Math.abs(values[0]) + tol) + absTol) break
    // The value test alone never passes while a vertex is infeasible (Infinity): a start with no
    // feasible vertex would otherwise shrink to a point and go on until maxIter, each evaluation
    // as costly as a useful one (an ETS form whose states go invalid late in a long series).
    if (collapsed(simplex, xTol)) break
    const centroid = new Array<number>(n).fill(0)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) centroid[j] += simplex[i][j] / n
    const worst = simplex[n]
    const at = (t: number): number[] => centroid.map((c, j) => c + t * (worst[j] - c))
    const xr = at(-1)
    const fr = safe(xr)
    if (fr < values[0]) {
      const xe = at(-2)
      const fe = safe(xe)
      if (fe < fr) {
        simplex[n] = xe
        values[n] = fe
      } else {
        simplex[n] = xr
        values[n] = fr
      }
    } else if (fr < values[n - 1]) {
      simplex[n] = xr
      values[n] = fr
    } else {
      const outside = fr < values[n]
      const xc = at(outside ? -0.5 : 0.5)
      const fc = safe(xc)
      if (fc < (outside ? fr : values[n])) {
        simplex[n] = xc
        values[n] = fc
      } else {
        for (let i = 1; i <= n; i++) {
          simplex[i] = simplex[i].map((xi, j) => simplex[0][j] + 0.5 * (xi - simplex[0][j]))
          values[i] = safe(simplex[i])
        }
      }
    }
  }
  let best = 0
  for (let i = 1; i <= n; i++) if (values[i] < values[best]) best = i
  values = values.slice()
  return { x: simplex[best], fx: values[best] }
}

/**
 * Solves the symmetric positive-definite system `A x = b` by Cholesky; `A` is row-major n×n.
 * A tiny ridge is added on failure so nearly collinear designs still give an answer.
 */
export function solveSpd(A: Float64Array, b: Float64Array, n: number): Float64Array {
  for (let attempt = 0; attempt < 4; attempt++) {
    const jitter = attempt === 0 ? 0 : 1e-10 * 10 ** (attempt * 3)
    const L = new Float64Array(n * n)
    let ok = true
    for (let i = 0; i < n && ok; i++) {
      for (let j = 0; j <= i; j++) {
        let s = A[i * n + j] + (i === j ? jitter * (1 + Math.abs(A[i * n + i])) : 0)
        for (let k = 0; k < j; k++) s -= L[i * n + k] * L[j * n + k]
        if (i === j) {
          if (!(s > 0)) {
            ok = false
            break
          }
          L[i * n + i] = Math.sqrt(s)
        } else L[i * n + j] = s / L[j * n + j]
      }
    }
    if (!ok) continue
    const z = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      let s = b[i]
      for (let k = 0; k < i; k++) s -= L[i * n + k] * z[k]
      z[i] = s / L[i * n + i]
    }
    const x = new Float64Array(n)
    for (let i = n - 1; i >= 0; i--) {
      let s = z[i]
      for (let k = i + 1; k < n; k++) s -= L[k * n + i] * x[k]
      x[i] = s / L[i * n + i]
    }
    return x
  }
  return new Float64Array(n)
}

/** Ordinary least-squares slope and intercept of y on 0..n-1. */
export function linearFit(y: readonly number[]): { intercept: number; slope: number } {
  const n = y.length
  if (n < 2) return { intercept: y[0] ?? 0, slope: 0 }
  const tm = (n - 1) / 2
  const ym = mean(y)
  let sxy = 0
  let sxx = 0
  for (let i = 0; i < n; i++) {
    sxy += (i - tm) * (y[i] - ym)
    sxx += (i - tm) ** 2
  }
  const slope = sxy / sxx
  return { intercept: ym - slope * tm, slope }
}

/**
 * KPSS level-stationarity statistic (Kwiatkowski et al. 1992) with the Newey–West lag
 * `trunc(4 (n/100)^0.25)`; compare with 0.463 (5%).
 */
export function kpss(y: readonly number[]): number {
  const n = y.length
  if (n < 4) return 0
  const m = mean(y)
  const e = y.map((v) => v - m)
  let s = 0
  let eta = 0
  for (let i = 0; i < n; i++) {
    s += e[i]
    eta += s * s
  }
  eta /= n * n
  const l = Math.trunc(4 * (n / 100) ** 0.25)
  let s2 = 0
  for (let i = 0; i < n; i++) s2 += e[i] * e[i]
  s2 /= n
  for (let k = 1; k <= l; k++) {
    let c = 0
    for (let i = k; i < n; i++) c += e[i] * e[i - k]
    s2 += (2 * (1 - k / (l + 1)) * c) / n
  }
  return s2 > 0 ? eta / s2 : 0
}

/** Number of regular differences (0..2) by repeated KPSS tests at 5%, as auto.arima's default. */
export function ndiffs(y: readonly number[]): number {
  let x = y.slice()
  let d = 0
  while (d < 2 && x.length > 8) {
    if (variance(x) === 0 || kpss(x) < 0.463) break
    x = diff(x)
    d++
  }
  return d
}

/** Centred moving average of even or odd length `m` (2×m MA when m is even); NaN at the ends. */
export function centredMovingAverage(y: readonly number[], m: number): number[] {
  const n = y.length
  const out = new Array<number>(n).fill(NaN)
  if (m % 2 === 1) {
    const h = (m - 1) / 2
    let s = 0
    for (let i = 0; i < m && i < n; i++) s += y[i]
    for (let c = h; c + h < n; c++) {
      out[c] = s / m
      if (c + h + 1 < n) s += y[c + h + 1] - y[c - h]
    }
  } else {
    const h = m / 2
    // sum over [c-h, c+h] with half weights at both ends
    let s = 0
    for (let i = 0; i <= m && i < n; i++) s += y[i]
    for (let c = h; c + h < n; c++) {
      out[c] = (s - 0.5 * y[c - h] - 0.5 * y[c + h]) / m
      if (c + h + 1 < n) s += y[c + h + 1] - y[c - h]
    }
  }
  return out
}

/**
 * Strength of seasonality at period m (Wang, Smith & Hyndman 2006): 1 - var(remainder) /
 * var(seasonal + remainder) after a classical additive decomposition. Above 0.64 is what
 * auto.arima treats as seasonal.
 */
export function seasonalStrength(y: readonly number[], m: number): number {
  if (m < 2 || y.length < 2 * m + 1) return 0
  const trend = centredMovingAverage(y, m)
  const sums = new Array<number>(m).fill(0)
  const counts = new Array<number>(m).fill(0)
  for (let i = 0; i < y.length; i++)
    if (Number.isFinite(trend[i])) {
      sums[i % m] += y[i] - trend[i]
      counts[i % m]++
    }
  const idx = sums.map((s, i) => (counts[i] > 0 ? s / counts[i] : 0))
  const im = mean(idx)
  const detr: number[] = []
  const rem: number[] = []
  for (let i = 0; i < y.length; i++)
    if (Number.isFinite(trend[i])) {
      detr.push(y[i] - trend[i])
      rem.push(y[i] - trend[i] - (idx[i % m] - im))
    }
  const vd = variance(detr)
  return vd > 0 ? Math.max(0, 1 - variance(rem) / vd) : 0
}

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
export function normalQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ]
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572]
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ]
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416]
  const pl = 0.02425
  if (p <= 0) return -Infinity
  if (p >= 1) return Infinity
  if (p < pl) {
    const q = Math.sqrt(-2 * Math.log(p))
    return (
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    )
  }
  if (p > 1 - pl) return -normalQuantile(1 - p)
  const q = p - 0.5
  const r = q * q
  return (
    ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
    (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
  )
}

/** Deterministic pseudo-random generator (mulberry32) for simulations and tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Standard normal draws from a uniform generator (Box–Muller). */
export function gaussian(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(Math.max(1e-300, u()))) * Math.cos(2 * Math.PI * u())
}

/** AICc from a log-likelihood, parameter count and effective sample size. */
export function aicc(logLik: number, k: number, n: number): number {
  const aic = -2 * logLik + 2 * k
  return n - k - 1 > 0 ? aic + (2 * k * (k + 1)) / (n - k - 1) : Infinity
}

/**
 * Minimises the sum of squares of `resid(x)` by Levenberg–Marquardt (Marquardt 1963) with a
 * forward-difference Jacobian. Converges in a handful of iterations where Nelder–Mead needs
 * hundreds of evaluations, which is what keeps the ARIMA order search fast. `resid` returns
 * null for inadmissible points.
 */
export function levenbergMarquardt(
  resid: (x: number[]) => Float64Array | null,
  x0: readonly number[],
  maxIter = 50,
): { x: number[]; sse: number } {
  const k = x0.length
  const ss = (r: Float64Array | null): number => {
    if (r === null) return Infinity
    let s = 0
    for (let i = 0; i < r.length; i++) s += r[i] * r[i]
    return Number.isFinite(s) ? s : Infinity
  }
  let x = x0.slice()
  let r = resid(x)
  let f = ss(r)
  if (k === 0 || r === null || !Number.isFinite(f)) return { x, sse: f }
  let lambda = 1e-3
  for (let iter = 0; iter < maxIter; iter++) {
    const n = r.length
    const J: Float64Array[] = []
    for (let j = 0; j < k; j++) {
      const step = 1e-6 * Math.max(1, Math.abs(x[j]))
      const xp = x.slice()
      xp[j] += step
      const rp = resid(xp)
      const col = new Float64Array(n)
      if (rp !== null) for (let i = 0; i < n; i++) col[i] = (rp[i] - r[i]) / step
      J.push(col)
    }
    const A = new Float64Array(k * k)
    const g = new Float64Array(k)
    for (let a = 0; a < k; a++) {
      const ja = J[a]
      let s = 0
      for (let i = 0; i < n; i++) s += ja[i] * r[i]
      g[a] = -s
      for (let b = 0; b <= a; b++) {
        const jb = J[b]
        let t = 0
        for (let i = 0; i < n; i++) t += ja[i] * jb[i]
        A[a * k + b] = t
        A[b * k + a] = t
      }
    }
    let accepted = false
    while (lambda < 1e10) {
      const M = A.slice()
      for (let a = 0; a < k; a++) M[a * k + a] += lambda * (A[a * k + a] + 1e-12)
      const delta = solveSpd(M, g, k)
      const xn = x.map((v, j) => v + delta[j])
      const rn = resid(xn)
      const fn = ss(rn)
      if (fn < f && rn !== null) {
        const rel = (f - fn) / Math.max(f, 1e-300)
        x = xn
        r = rn
        f = fn
        lambda = Math.max(1e-9, lambda / 10)
        accepted = true
        if (rel < 1e-6) return { x, sse: f }
        break
      }
      lambda *= 10
    }
    if (!accepted) break
  }
  return { x, sse: f }
}
