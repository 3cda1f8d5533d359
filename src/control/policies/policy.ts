/**
 * @module What every adaptive-limit policy shares: the signals it reads, the limit-control
 * entries it wants per target, and the reconciler that turns "wanted" into decisions (set,
 * change, renew before expiry, release) against what was last applied.
 *
 * ```
 * signals ─▶ policy.observe ──▶ policy.evaluate(now) ─▶ Desired per target ─▶ Reconciler.plan
 *                                                                              │ differs from applied, or renewal due
 *                                                                              ▼
 *                                                     PolicyDecision { before, after, patch, reason, evidence }
 *                                                                              │ engine applies (enforce) or not (shadow)
 *                                                                              ▼
 *                                                                  Reconciler.confirm / fail (retry later)
 * ```
 *
 * A policy is a deterministic function of its signals and the times it is evaluated at, so the
 * live engine and the replay of stored history make the same decisions from the same input.
 */
import type { PolicyMode } from '../../config/policies-schema.js'
import type { ControlsPatch } from '../../limits/index.js'
import type { SeriesKey } from '../../telemetry/recorder.js'
import type { AnomalyRecord } from '../anomalies.js'
import type { ForecastPoint } from '../forecasts.js'

export type { PolicyMode }

/** A rate forecast of one series, live (LiveForecasts) or stored (a `forecast` event). */
export interface ForecastSignal {
  key: string
  series: SeriesKey
  fittedAtMs: number
  stepMs: number
  model: string
  points: readonly ForecastPoint[]
}

export type PolicySignal =
  | { kind: 'forecast'; forecast: ForecastSignal }
  | { kind: 'anomaly.opened'; anomaly: AnomalyRecord }
  | { kind: 'anomaly.resolved'; id: string }

/** Limit-control entries by path (`services.payments.tiers.STD`, `clients.acme`): a multiplier, or true for defensive mode. */
export type Entries = Readonly<Record<string, number | true>>

/** What a policy wants for one target now. */
export interface Desired {
  /** `service:payments`, `client:acme` */
  target: string
  /** empty: nothing (the policy's earlier entries are removed) */
  entries: Entries
  /** the step or state this is, e.g. `step 2 of 3`, `defensive`, `limited` */
  state: string
  reason: string
  evidence: Readonly<Record<string, unknown>>
}

/** One change a policy decided, with its evidence; applied (enforce) or only recorded (shadow). */
export interface PolicyDecision {
  policy: string
  mode: PolicyMode
  atMs: number
  target: string
  /** `apply` (from nothing), `tighten`, `relax`, `renew` (same entries, new expiry), `release` (to nothing) */
  action: 'apply' | 'tighten' | 'relax' | 'renew' | 'release'
  state: string
  before: Entries
  after: Entries
  /** what goes to the limiter (`setControls`), with the expiry */
  patch: ControlsPatch
  reason: string
  evidence: Readonly<Record<string, unknown>>
}

/** An adaptive-limit policy: reads signals, says what it wants per target. */
export interface LimitPolicy {
  /** `forecast-pressure`, `anomaly-pressure`, `abusive-clients`; the actor is `control:<name>` */
  readonly name: string
  readonly mode: PolicyMode
  /** how long the entries it sets last unless renewed */
  readonly ttlMs: number
  observe(signal: PolicySignal, nowMs: number): void
  /** every target it has an opinion on, including those it wants cleared */
  evaluate(nowMs: number): Desired[]
}

/** The limiter patch that turns `before` into `after` for one target, expiring after `ttlMs`. */
export function patchFor(before: Entries, after: Entries, ttlMs: number): ControlsPatch {
  const patch: {
    service?: string
    tiers?: Record<string, number | null>
    classes?: Record<string, number | null>
    clients?: Record<string, number | null>
    defensive?: boolean
    ttlMs: number
  } = { ttlMs }
  const put = (path: string, value: number | true | null) => {
    let rest = path
    if (rest.startsWith('services.')) {
      rest = rest.slice('services.'.length)
      const dot = rest.indexOf('.')
      patch.service = rest.slice(0, dot)
      rest = rest.slice(dot + 1)
    }
    if (rest === 'defensive') {
      patch.defensive = value !== null
      return
    }
    const dot = rest.indexOf('.')
    const group = rest.slice(0, dot) as 'tiers' | 'classes' | 'clients'
    const name = rest.slice(dot + 1)
    ;(patch[group] ??= {})[name] = value === true ? 1 : value
  }
  for (const path of Object.keys(before)) if (!(path in after)) put(path, null)
  for (const [path, v] of Object.entries(after)) put(path, v)
  return patch
}

const sameEntries = (a: Entries, b: Entries) => {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => b[k] === a[k])
}

/** Product of the multipliers (defensive counts as 0.5): lower is tighter. */
function strength(e: Entries): number {
  let p = 1
  for (const v of Object.values(e)) p *= v === true ? 0.5 : v
  return p
}

interface Applied {
  entries: Entries
  expiresAtMs: number
}

/**
 * Keeps what a policy last applied per target and plans the decisions that bring each target to
 * what the policy wants: a change when the entries differ, a renewal once half the expiry has
 * passed, nothing otherwise. A failed apply is retried after `retryMs`.
 */
export class Reconciler {
  readonly #policy: LimitPolicy
  readonly #retryMs: number
  readonly #applied = new Map<string, Applied>()
  readonly #retryAt = new Map<string, number>()

  constructor(policy: LimitPolicy, opts: { retryMs?: number } = {}) {
    this.#policy = policy
    this.#retryMs = opts.retryMs ?? 5_000
  }

  /** What was last applied to a target (empty when nothing). */
  applied(target: string): Entries {
    return this.#applied.get(target)?.entries ?? {}
  }

  /** Every target with entries applied now. */
  inForce(): { target: string; entries: Entries }[] {
    return [...this.#applied].map(([target, a]) => ({ target, entries: a.entries }))
  }

  plan(desired: readonly Desired[], nowMs: number): PolicyDecision[] {
    const out: PolicyDecision[] = []
    const p = this.#policy
    for (const d of desired) {
      const retry = this.#retryAt.get(d.target)
      if (retry !== undefined && nowMs < retry) continue
      const prev = this.#applied.get(d.target)
      const before = prev?.entries ?? {}
      const empty = Object.keys(d.entries).length === 0
      let action: PolicyDecision['action']
      if (!sameEntries(before, d.entries)) {
        if (empty) action = 'release'
        else if (Object.keys(before).length === 0) action = 'apply'
        else action = strength(d.entries) < strength(before) ? 'tighten' : 'relax'
      } else if (!empty && prev !== undefined && nowMs >= prev.expiresAtMs - p.ttlMs / 2) action = 'renew'
      else continue
      out.push({
        policy: p.name,
        mode: p.mode,
        atMs: nowMs,
        target: d.target,
        action,
        state: d.state,
        before,
        after: d.entries,
        patch: patchFor(before, d.entries, p.ttlMs),
        reason: d.reason,
        evidence: d.evidence,
      })
    }
    return out
  }

  /** The decision took effect (or, in shadow mode, is taken to have). */
  confirm(d: PolicyDecision, nowMs: number): void {
    this.#retryAt.delete(d.target)
    if (Object.keys(d.after).length === 0) this.#applied.delete(d.target)
    else this.#applied.set(d.target, { entries: d.after, expiresAtMs: nowMs + this.#policy.ttlMs })
  }

  fail(d: PolicyDecision, nowMs: number): void {
    this.#retryAt.set(d.target, nowMs + this.#retryMs)
  }

  /** Forgets what was applied (a new leader starts from what its policies want). */
  reset(): void {
    this.#applied.clear()
    this.#retryAt.clear()
  }
}
