/**
 * @module Exponential smoothing in state-space form, ETS(E,T,S) with additive or multiplicative
 * error, none/additive/damped trend and none/additive/multiplicative season (Hyndman, Koehler,
 * Ord & Snyder 2008, Table 2.3). Parameters and initial level/trend are fitted by maximum
 * likelihood with Nelder–Mead; the form is chosen by AICc as in R's forecast::ets.
 */
import { decompose } from './decompose.js'
import type { Fitted, ModelFamily, SeasonContext } from './types.js'
import { aicc, linearFit, mean, nelderMead } from './stats.js'

export type ErrorType = 'A' | 'M'
export type TrendType = 'N' | 'A' | 'Ad'
export type SeasonType = 'N' | 'A' | 'M'

export interface EtsForm {
  readonly error: ErrorType
  readonly trend: TrendType
  readonly season: SeasonType
  /** seasonal period in steps (ignored when season is N) */
  readonly m: number
}

export interface EtsParams {
  alpha: number
  beta: number
  gamma: number
  phi: number
  l0: number
  b0: number
  /** initial seasonal states s_{1-m}..s_0 */
  s0: number[]
}

/** A fitted ETS model. */
export interface EtsFit extends Fitted {
  readonly form: EtsForm
  readonly params: EtsParams
  readonly aicc: number
  /** one-step-ahead in-sample errors (relative for multiplicative error) */
  readonly sse: number
}

/** ETS refuses seasonal periods above this (as R does): the state would dominate the parameters. */
export const ETS_MAX_SEASON = 52

function formName(f: EtsForm): string {
  return `ets(${f.error},${f.trend},${f.season})${f.season === 'N' ? '' : `[${f.m}]`}`
}

interface RunOut {
  lik: number
  l: number
  b: number
  s: number[]
  sse: number
}

/** The divergence bound of {@link run}: a level a million times the data's magnitude. */
function divergenceBound(y: readonly number[]): number {
  let bound = 0
  for (const v of y) bound = Math.max(bound, Math.abs(v))
  return 1e6 * (bound + 1e-9)
}

/**
 * Runs the filter; returns -2 log-likelihood (up to a constant) or NaN when states go invalid.
 * The optimiser calls it hundreds of times per form on up to thousands of points, so the form's
 * branches are decided once, outside the loop, and `bound` (see {@link divergenceBound}) is passed in.
 */
function run(y: readonly number[], f: EtsForm, p: EtsParams, bound = divergenceBound(y)): RunOut {
  const { alpha, beta, gamma, phi } = p
  const hasT = f.trend !== 'N'
  const damp = f.trend === 'Ad' ? phi : 1
  const hasS = f.season !== 'N'
  const mulS = f.season === 'M'
  const mulE = f.error === 'M'
  const positiveOnly = mulE || mulS
  const m = hasS ? f.m : 1
  const s = hasS ? p.s0.slice() : [0]
  let l = p.l0
  let b = hasT ? p.b0 : 0
  let sse = 0
  let logMu = 0
  const n = y.length
  for (let t = 0; t < n; t++) {
    const si = t % m
    const sv = hasS ? s[si] : 0
    const lb = l + damp * b
    const mu = mulS ? lb * sv : lb + sv
    if (positiveOnly) {
      if (!(mu > 0) || !(lb > 0)) return { lik: NaN, l, b, s, sse: NaN }
    }
    let e: number
    if (!mulE) {
      e = y[t] - mu
      sse += e * e
      if (mulS) {
        l = lb + (alpha * e) / sv
        b = damp * b + (beta * e) / sv
        s[si] = sv + (gamma * e) / lb
      } else {
        l = lb + alpha * e
        b = damp * b + beta * e
        if (hasS) s[si] = sv + gamma * e
      }
    } else {
      e = (y[t] - mu) / mu
      sse += e * e
      logMu += Math.log(Math.abs(mu))
      if (mulS) {
        l = lb * (1 + alpha * e)
        b = damp * b + beta * lb * e
        s[si] = sv * (1 + gamma * e)
      } else {
        l = lb + alpha * mu * e
        b = damp * b + beta * mu * e
        if (hasS) s[si] = sv + gamma * mu * e
      }
    }
    if (!Number.isFinite(l) || Math.abs(l) > bound) return { lik: NaN, l, b, s, sse: NaN }
  }
  const lik = n * Math.log(Math.max(sse, 1e-300) / n) + 2 * logMu
  // rotate so s[0] is the state for the next step's phase
  const phase = n % m
  const sNext = hasS ? [...s.slice(phase), ...s.slice(0, phase)] : s
  return { lik, l, b, s: sNext, sse }
}

function initialStates(y: readonly number[], f: EtsForm): { l0: number; b0: number; s0: number[] } {
  const hasS = f.season !== 'N'
  const m = f.m
  let s0: number[] = []
  let base = y.slice(0, Math.min(y.length, 10))
  if (hasS) {
    const k = Math.min(y.length, Math.max(2 * m, Math.min(y.length, 4 * m)))
    const head = y.slice(0, k)
    const dec = decompose(head, [m], f.season === 'M')
    const idx = dec.indices[0] ?? new Array<number>(m).fill(0)
    s0 = f.season === 'M' ? idx.map((v) => Math.exp(v)) : idx.slice()
    base = dec.adjusted.slice(0, Math.min(dec.adjusted.length, Math.max(10, m)))
  }
  const lf = linearFit(base)
  return { l0: lf.intercept, b0: f.trend === 'N' ? 0 : lf.slope, s0 }
}

const sig = (u: number): number => 1 / (1 + Math.exp(-u))
const logit = (p: number): number => Math.log(p / (1 - p))

/** Number of estimated parameters, counting initial states as R does. */
function paramCount(f: EtsForm): number {
  let k = 2 // alpha, l0
  if (f.trend !== 'N') k += 2
  if (f.trend === 'Ad') k += 1
  if (f.season !== 'N') k += f.m // gamma + m-1 free seasonal states
  return k + 1 // sigma
}

/** Fits one ETS form by maximum likelihood. Throws when the form is invalid for the data. */
export function fitEtsForm(y: readonly number[], form: EtsForm, start?: EtsParams): EtsFit {
  const init = start ?? { alpha: 0.3, beta: 0.05, gamma: 0.05, phi: 0.95, ...initialStates(y, form) }
  const hasT = form.trend !== 'N'
  const hasS = form.season !== 'N'
  const damped = form.trend === 'Ad'
  const scale = Math.max(1e-9, Math.abs(mean(y)) * 0.1, Math.abs(init.l0) * 0.01)
  // Unconstrained coordinates: alpha = sig(u0); beta = alpha sig(u1); gamma = (1-alpha) sig(u2);
  // phi = 0.8 + 0.18 sig(u3) (R's bounds); l0, b0 shifted and scaled around their starts.
  const decode = (u: number[]): EtsParams => {
    let i = 0
    const alpha = 0.0001 + 0.9998 * sig(u[i++])
    const beta = hasT ? alpha * 0.9999 * sig(u[i++]) : 0
    const gamma = hasS ? (1 - alpha) * 0.9999 * sig(u[i++]) : 0
    const phi = damped ? 0.8 + 0.18 * sig(u[i++]) : 1
    const l0 = init.l0 + scale * u[i++]
    const b0 = hasT ? init.b0 + (scale / 10) * u[i++] : 0
    return { alpha, beta, gamma, phi, l0, b0, s0: init.s0 }
  }
  const clamp = (p: number): number => Math.min(0.999, Math.max(0.001, p))
  const u0: number[] = [logit(clamp(init.alpha))]
  if (hasT) u0.push(logit(clamp(init.beta / init.alpha)))
  if (hasS) u0.push(logit(clamp(init.gamma / (1 - init.alpha))))
  if (damped) u0.push(logit(clamp((init.phi - 0.8) / 0.18)))
  u0.push(0)
  if (hasT) u0.push(0)
  const bound = divergenceBound(y)
  const best = nelderMead((u) => run(y, form, decode(u), bound).lik, u0, {
    maxIter: (start ? 50 : 100) * u0.length,
    step: start ? 0.2 : 0.5,
    tol: 1e-6,
    absTol: 1e-3,
  })
  const params = decode(best.x)
  const out = run(y, form, params)
  if (!Number.isFinite(out.lik)) throw new Error(`${formName(form)} does not fit this series`)
  const n = y.length
  // -2 log L = n log(2 pi sigma^2) + n + 2 sum log|mu|: the constants keep AICc comparable across forms
  const ll = -0.5 * (out.lik + n * (Math.log(2 * Math.PI) + 1))
  return makeFit(y, form, params, out, aicc(ll, paramCount(form), n))
}

function makeFit(y: readonly number[], form: EtsForm, params: EtsParams, out: RunOut, score: number): EtsFit {
  const damp = form.trend === 'Ad' ? params.phi : 1
  return {
    name: formName(form),
    form,
    params,
    aicc: score,
    sse: out.sse,
    forecast(h) {
      const res: number[] = []
      let cum = 0
      for (let i = 1; i <= h; i++) {
        cum += damp ** i
        const trend = form.trend === 'N' ? 0 : form.trend === 'Ad' ? cum * out.b : i * out.b
        const lb = out.l + trend
        const sv = form.season === 'N' ? 0 : out.s[(i - 1) % form.m]
        res.push(form.season === 'M' ? lb * sv : lb + sv)
      }
      return res
    },
    refit(z) {
      try {
        // warm start: a backtest refit on a prefix starts from the full-data parameters
        return fitEtsForm(z, form, params)
      } catch {
        return fitEtsForm(z, { error: 'A', trend: 'N', season: 'N', m: 1 })
      }
    },
  }
}

/** Every ETS form R's ets() would consider for this data (restricted set, no multiplicative trend). */
export function etsForms(y: readonly number[], m: number): EtsForm[] {
  const positive = y.every((v) => v > 0)
  const n = y.length
  const seasonal = m >= 2 && m <= ETS_MAX_SEASON && n >= 2 * m + 2
  const forms: EtsForm[] = []
  for (const error of (positive ? ['A', 'M'] : ['A']) as ErrorType[])
    for (const trend of ['N', 'A', 'Ad'] as TrendType[])
      for (const season of (seasonal ? (positive ? ['N', 'A', 'M'] : ['N', 'A']) : ['N']) as SeasonType[]) {
        // ETS(A,*,M) has infinite-variance forecasts (Hyndman et al. 2008 §15.3), as R excludes.
        if (error === 'A' && season === 'M') continue
        // Multiplicative error changes the intervals far more than the point forecast, and our
        // intervals are conformal, so only the forms where it matters (with M season) are kept:
        // this halves the fitting time.
        if (error === 'M' && season !== 'M') continue
        const form: EtsForm = { error, trend, season, m: season === 'N' ? 1 : m }
        // need more observations than parameters plus a margin, or AICc is meaningless
        if (n <= paramCount(form) + 4) continue
        forms.push(form)
      }
  if (forms.length === 0) forms.push({ error: 'A', trend: 'N', season: 'N', m: 1 })
  return forms
}

/** Fits every admissible form and returns the one with the lowest AICc. */
export function autoEts(y: readonly number[], m: number): EtsFit {
  let best: EtsFit | undefined
  for (const form of etsForms(y, m)) {
    try {
      const fit = fitEtsForm(y, form)
      if (best === undefined || fit.aicc < best.aicc) best = fit
    } catch {
      // a form that cannot fit (states went non-positive) is simply not a candidate
    }
  }
  return best ?? fitEtsForm(y, { error: 'A', trend: 'N', season: 'N', m: 1 })
}

/**
 * Wraps a non-seasonal fit in a seasonal adjustment for periods ETS cannot carry as states
 * (above {@link ETS_MAX_SEASON}) or when there are several seasons.
 */
export function withDecomposition(
  y: readonly number[],
  periods: readonly number[],
  label: string,
  fitAdjusted: (adj: readonly number[]) => Fitted,
): Fitted {
  const positive = y.every((v) => v > 0)
  const dec = decompose(y, periods, positive)
  const inner = fitAdjusted(dec.adjusted)
  const rebuild = (innerFit: Fitted, d: typeof dec): Fitted => ({
    name: `${label}${innerFit.name}+season[${periods.join(',')}]`,
    forecast: (h) => d.reseasonalize(innerFit.forecast(h)),
    refit: (z) => {
      const d2 = decompose(
        z,
        periods,
        z.every((v) => v > 0),
      )
      return rebuild(innerFit.refit(d2.adjusted), d2)
    },
  })
  return rebuild(inner, dec)
}

export const ets: ModelFamily = {
  id: 'ets',
  fit(y: readonly number[], ctx: SeasonContext): Fitted {
    const usable = ctx.seasons.filter((s) => y.length >= 2 * s + 2)
    if (usable.length === 1 && usable[0] <= ETS_MAX_SEASON) return autoEts(y, usable[0])
    if (usable.length === 0) return autoEts(y, 1)
    return withDecomposition(y, usable, '', (adj) => autoEts(adj, 1))
  },
}
