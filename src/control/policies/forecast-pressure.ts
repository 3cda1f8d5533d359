/**
 * @module Forecast pressure: when a service's rate forecast (the upper band over the next
 * `lookaheadMs`) reaches its capacity budget, lower Standard clients and low-priority routes on
 * that service, one configured step per pressure level; relax one step at a time once the
 * pressure has stayed low.
 *
 * pressure = Σ over the service's environments of max(upper band over the lookahead) / budget ratePerSec
 *
 * - Up at once: a forecast at or above a step's `above` applies that step (the highest reached).
 * - Down slowly: a step is left only after the pressure has stayed below `above × relaxRatio` for
 *   `holdMs` and the step has held for `holdMs`; then one step down, and the clock starts again.
 *   Between the two thresholds nothing changes, so a pressure hovering at a threshold never flaps.
 * - A forecast older than `staleMs` is no evidence (a service with no traffic is not refitted).
 *
 * The rate the gateway records is the offered load (refused requests count), so lowering limits
 * does not lower the forecast: the step follows the demand, not its own effect.
 */
import type { ForecastPressureConfig } from '../../config/policies-schema.js'
import type { Desired, ForecastSignal, LimitPolicy, PolicyMode, PolicySignal } from './policy.js'
import { fmtApart, fmtNum } from '../../format.js'

interface EnvForecast {
  key: string
  model: string
  fittedAtMs: number
  upper: number
  upperAtMs: number
  forecast: number
}

interface ServiceState {
  level: number
  changedAtMs: number
  lowSinceMs: number | null
}

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d

export function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

export class ForecastPressure implements LimitPolicy {
  readonly name = 'forecast-pressure'
  readonly mode: PolicyMode
  readonly ttlMs: number
  readonly #cfg: ForecastPressureConfig
  readonly #budgets: ReadonlyMap<string, number>
  readonly #latest = new Map<string, Map<string, EnvForecast>>()
  readonly #state = new Map<string, ServiceState>()

  /** `budgets`: the services' capacity budgets (limits.services), requests per second. */
  constructor(cfg: ForecastPressureConfig, budgets: Readonly<Record<string, { ratePerSec: number }>>) {
    this.#cfg = cfg
    this.mode = cfg.mode
    this.ttlMs = cfg.ttlMs
    const only = cfg.services === undefined ? null : new Set(cfg.services)
    const b = new Map<string, number>()
    for (const [svc, budget] of Object.entries(budgets))
      if (only === null || only.has(svc)) b.set(svc, budget.ratePerSec)
    this.#budgets = b
  }

  observe(signal: PolicySignal): void {
    if (signal.kind !== 'forecast') return
    const f = signal.forecast
    if (f.series.route !== '*' || !this.#budgets.has(f.series.service)) return
    const peak = peakOf(f, this.#cfg.lookaheadMs)
    if (peak === null) return
    let envs = this.#latest.get(f.series.service)
    if (envs === undefined) this.#latest.set(f.series.service, (envs = new Map()))
    const prev = envs.get(f.series.env)
    if (prev !== undefined && prev.fittedAtMs > f.fittedAtMs) return
    envs.set(f.series.env, { key: f.key, model: f.model, fittedAtMs: f.fittedAtMs, ...peak })
  }

  evaluate(nowMs: number): Desired[] {
    const out: Desired[] = []
    const steps = this.#cfg.steps
    for (const [svc, budget] of this.#budgets) {
      const envs = this.#latest.get(svc)
      let st = this.#state.get(svc)
      if (envs === undefined && st === undefined) continue
      const fresh = [...(envs?.values() ?? [])].filter((e) => nowMs - e.fittedAtMs <= this.#cfg.staleMs)
      const upper = fresh.reduce((a, e) => a + e.upper, 0)
      const pressure = upper / budget
      let reached = 0
      for (let i = 0; i < steps.length; i++) if (pressure >= steps[i].above) reached = i + 1
      st ??= { level: 0, changedAtMs: nowMs, lowSinceMs: null }
      this.#state.set(svc, st)
      const from = st.level
      let why: string
      // the ratio is what the steps' thresholds are set in: say what it is of, and both numbers
      const ratio = (threshold: number) => {
        const [p, t] = fmtApart(pressure, threshold)
        return [`upper band / budget = ${p}`, t] as const
      }
      if (reached > st.level) {
        st.level = reached
        st.changedAtMs = nowMs
        st.lowSinceMs = null
        const [p, t] = ratio(steps[reached - 1].above)
        why = `${p} ≥ ${t} (step ${reached})`
      } else if (st.level > 0 && pressure < steps[st.level - 1].above * this.#cfg.relaxRatio) {
        st.lowSinceMs ??= nowMs
        const above = steps[st.level - 1].above
        const [p, t] = ratio(above * this.#cfg.relaxRatio)
        const below = `${p} < ${t} (step ${st.level}'s ${above} × relaxRatio ${this.#cfg.relaxRatio})`
        if (nowMs - st.lowSinceMs >= this.#cfg.holdMs && nowMs - st.changedAtMs >= this.#cfg.holdMs) {
          st.level--
          st.changedAtMs = nowMs
          why = `${below} for ${formatMs(this.#cfg.holdMs)}`
        } else why = `${below}, held until ${formatMs(this.#cfg.holdMs)} have passed`
      } else {
        st.lowSinceMs = null
        why = `upper band / budget = ${fmtNum(pressure)}`
      }
      if (st.level === 0 && from === 0) {
        // nothing applied and nothing to apply: forget the service until its next forecast
        this.#state.delete(svc)
        if (fresh.length === 0) this.#latest.delete(svc)
      }
      const step = st.level > 0 ? steps[st.level - 1] : null
      const entries: Record<string, number> = {}
      if (step !== null) {
        for (const [t, m] of Object.entries(step.tiers)) entries[`services.${svc}.tiers.${t}`] = m
        for (const [c, m] of Object.entries(step.classes)) entries[`services.${svc}.classes.${c}`] = m
      }
      const peak = fresh.reduce<EnvForecast | null>((a, e) => (a === null || e.upper > a.upper ? e : a), null)
      const lookahead = formatMs(this.#cfg.lookaheadMs)
      const seen =
        fresh.length === 0
          ? `no forecast of ${svc} newer than ${formatMs(this.#cfg.staleMs)}`
          : `forecast upper band ${fmtApart(upper, budget).join(` req/s within ${lookahead} vs budget `)} req/s on ${svc}`
      const what =
        step === null
          ? 'no reduction'
          : [
              ...Object.entries(step.tiers).map(([t, m]) => `${t} ×${m}`),
              ...Object.entries(step.classes).map(([c, m]) => `${c} ×${m}`),
            ].join(', ')
      out.push({
        target: `service:${svc}`,
        entries,
        state: `step ${st.level} of ${steps.length}`,
        reason: `${seen}; ${why}: step ${st.level} of ${steps.length}, ${what}`,
        evidence: {
          service: svc,
          budgetRatePerSec: budget,
          pressure: round(pressure, 3),
          upperRatePerSec: round(upper, 3),
          lookaheadMs: this.#cfg.lookaheadMs,
          step: st.level,
          steps: steps.length,
          forecasts: fresh.map((e) => ({
            key: e.key,
            model: e.model,
            fittedAtMs: e.fittedAtMs,
            upper: round(e.upper, 3),
            forecast: round(e.forecast, 3),
            atMs: e.upperAtMs,
          })),
          ...(peak !== null ? { peakKey: peak.key } : {}),
        },
      })
    }
    return out
  }
}

/** The highest upper band over the first `lookaheadMs` of a forecast, and where it is. */
export function peakOf(
  f: ForecastSignal,
  lookaheadMs: number,
): { upper: number; upperAtMs: number; forecast: number } | null {
  const n = Math.max(1, Math.ceil(lookaheadMs / f.stepMs))
  let best: { upper: number; upperAtMs: number; forecast: number } | null = null
  for (const p of f.points.slice(0, n)) {
    if (!Number.isFinite(p.upper)) continue
    if (best === null || p.upper > best.upper)
      best = { upper: p.upper, upperAtMs: p.atMs, forecast: p.forecast }
  }
  return best
}
