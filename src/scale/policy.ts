/**
 * @module The scaling policy (pure, no I/O): from the observed load and, for the predictive
 * policy, a forecast of the peak over the lead time, the number of replicas to ask for now. The
 * live control plane and `vigil simulate autoscale` call the same code.
 *
 * ```
 * observed load ──▶ reactive need  = ⌈observed / (C·u)⌉                     (HPA's rule)
 * forecast peak ──▶ predictive need = ⌈max(point / (C·u), upper / C)⌉         (predictive only)
 *                    raw = clamp(max(needs), min, max)
 *   raw > current ─▶ scale up now, at most maxStepUp (with upTolerance, a scale-up the forecast
 *                    alone asks for waits until its need exceeds current × (1 + upTolerance))
 *   raw < current ─▶ scale down only to the largest need the observed load showed during the
 *                    stabilisation window (and at most maxStepDown); with downTolerance, not
 *                    at all when that removes no more than current × downTolerance
 * ```
 *
 * The point forecast is sized at the target utilisation like the observed load; the upper band
 * only has to fit under full capacity: the band already is the headroom, so volatile demand buys
 * more replicas and calm demand none.
 */

import type { CapacityEvidence } from './capacity.js'

/** Kubernetes HPA defaults: scale-down stabilisation 5 minutes, tolerance 0.1. */
export const HPA_STABILIZATION_MS = 300_000
export const HPA_TOLERANCE = 0.1

/** Bounds and sizing shared by every policy. */
export interface ScalingLimits {
  /** fewest replicas (≥ 0) */
  readonly min: number
  /** most replicas (≥ min, ≥ 1) */
  readonly max: number
  /** requests per second one replica serves at full utilisation (> 0) */
  readonly capacityPerReplica: number
  /** utilisation to size for, in (0, 1] */
  readonly targetUtilization: number
  /** most replicas added by one decision (default unlimited) */
  readonly maxStepUp?: number
  /** most replicas removed by one decision (default unlimited) */
  readonly maxStepDown?: number
}

export type PolicyKind = 'predictive' | 'reactive'

export interface PolicyOptions {
  readonly kind: PolicyKind
  readonly limits: ScalingLimits
  /** a scale-down waits until the load of this long a window needed fewer replicas */
  readonly stabilizationMs: number
  /**
   * Reactive only: ignore a change while observed/(current·C·u) stays within 1 ± tolerance, as the
   * Kubernetes HPA does (its default 0.1). Default 0 (the predictive policy has no dead band).
   */
  readonly tolerance?: number
  /**
   * Predictive only: the most extra replica-time the forecast may buy, as a fraction of what
   * sizing to the observed load (HPA-like) costs over the last hours (default 0.15). When the
   * forecast's headroom costs more, it is scaled back until it fits; 0 turns the forecast off.
   */
  readonly headroomBudget?: number
  /**
   * Predictive only: a scale-up the forecast alone asks for (the observed load fits the current
   * replicas at the target utilisation) waits while the forecast's need, in fractional replicas,
   * stays within (1 + upTolerance) × current. The band's upper edge crosses a whole replica back
   * and forth as it moves; each crossing would start a replica and stop it minutes later. A
   * scale-up the observed load asks for is never held. Default 0.
   */
  readonly upTolerance?: number
  /**
   * Ignore a scale-down that removes no more than this fraction of the current replicas (the
   * HPA's tolerance, downward only): a decline seen a replica at a time would otherwise remove one
   * at every decision. Below 1/downTolerance replicas it never binds. Default 0.
   */
  readonly downTolerance?: number
}

/** Time constant of the spend averages the headroom budget compares. */
const SPEND_TAU_MS = 6 * 3_600_000
/** How fast the share of forecast headroom used follows the budget (per decision). */
const BUDGET_GAIN = 0.05

/** The forecast of the demand peak over the lead time (requests per second). */
export interface PeakForecast {
  /** highest point forecast over the lead time */
  readonly point: number
  /** highest upper band over the lead time */
  readonly upper: number
  /** the model that made it, e.g. `ets(A,A,N)` */
  readonly model: string
  /** the band's level in percent */
  readonly level: number
}

export interface DecisionInput {
  readonly atMs: number
  /** demand observed now (requests per second) */
  readonly observed: number
  /** replicas asked for by the previous decision (running or starting) */
  readonly current: number
  /** predictive only; without one (warm-up, fit failed) the decision is reactive */
  readonly forecast?: PeakForecast | null
}

/** What drove a decision; the action log stores it as evidence. */
export interface DecisionEvidence {
  observed: number
  /** replicas the observed load needs at the target utilisation */
  reactiveNeed: number
  /** replicas the forecast needs (null without a forecast) */
  predictiveNeed: number | null
  forecast: number | null
  upper: number | null
  model: string | null
  level: number | null
  /** the largest need the observed load showed in the stabilisation window (bounds a scale-down) */
  windowNeed: number
  /** share of the forecast's extra replicas the headroom budget allowed (predictive only) */
  headroomShare: number | null
  /** how far ahead the forecast peak was looked for (the live autoscaler: lead time plus a window) */
  aheadMs?: number
  /** the candidate policy followed, when a SelectingPolicy decided */
  candidate?: string | null
  /** the capacity per replica used and whether it was learned (the live autoscaler adds it) */
  capacity?: CapacityEvidence
  /**
   * the live autoscaler after a (re)start or takeover: the demand seen since (ms), the
   * stabilisation window a scale-down below the replicas running then waits for, and that count
   */
  startup?: { seenMs: number; neededMs: number; count: number }
}

export interface Decision {
  atMs: number
  current: number
  desired: number
  /** up, down or hold (desired equals current) */
  direction: 'up' | 'down' | 'hold'
  /** which rule set `desired`: reactive (observed load), predictive (forecast), stabilization, bounds */
  driver: 'reactive' | 'predictive' | 'stabilization' | 'min' | 'max' | 'step' | 'tolerance'
  /** one sentence a person reads */
  reason: string
  evidence: DecisionEvidence
}

/** ⌈load / per⌉ with a relative epsilon, so 80.0000001 req/s at 80 per replica stays 1 replica. */
export function replicasFor(load: number, per: number): number {
  if (!(load > 0)) return 0
  return Math.ceil(load / per - 1e-9)
}

/** Checks limits; returns the first problem as `field: message`, or null. */
export function limitsProblem(l: ScalingLimits): string | null {
  if (!Number.isInteger(l.min) || l.min < 0) return `min: expected a whole number ≥ 0, got ${l.min}`
  if (!Number.isInteger(l.max) || l.max < 1) return `max: expected a whole number ≥ 1, got ${l.max}`
  if (l.min > l.max) return `min: ${l.min} is above max ${l.max}; lower min or raise max`
  if (!(l.capacityPerReplica > 0) || !Number.isFinite(l.capacityPerReplica))
    return `capacityPerReplica: expected requests per second > 0, got ${l.capacityPerReplica}`
  if (!(l.targetUtilization > 0 && l.targetUtilization <= 1))
    return `targetUtilization: expected a fraction in (0, 1], got ${l.targetUtilization}`
  for (const k of ['maxStepUp', 'maxStepDown'] as const) {
    const v = l[k]
    if (v !== undefined && (!Number.isInteger(v) || v < 1))
      return `${k}: expected a whole number ≥ 1, got ${v}`
  }
  return null
}

const fmt = (v: number): string => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2))

/**
 * The largest value pushed within the last `windowMs` (0 when none): keeps only the values no
 * later one outranks, decreasing from the head, so a long window costs no scan per push.
 */
export class WindowMax {
  readonly #items: { atMs: number; value: number }[] = []
  #head = 0

  /** Adds `value` at `atMs` and returns the largest value of (atMs − windowMs, atMs]. */
  push(atMs: number, value: number, windowMs: number): number {
    const items = this.#items
    while (items.length > this.#head && items[items.length - 1].value <= value) items.pop()
    items.push({ atMs, value })
    while (this.#head < items.length && items[this.#head].atMs <= atMs - windowMs) this.#head++
    if (this.#head > 1024) {
      items.splice(0, this.#head)
      this.#head = 0
    }
    return this.#head < items.length ? items[this.#head].value : 0
  }
}

/**
 * One service's scaling policy: call {@link ScalingPolicy.decide} at each decision time with what
 * is known then. Keeps only the recent needs for the stabilisation window.
 *
 * @example
 * const p = new ScalingPolicy({ kind: 'predictive', stabilizationMs: 1_800_000,
 *   limits: { min: 1, max: 20, capacityPerReplica: 100, targetUtilization: 0.8 } })
 * const d = p.decide({ atMs: Date.now(), observed: 240, current: 2,
 *   forecast: { point: 300, upper: 420, model: 'ets(A,A,N)', level: 90 } })
 * d.desired // 5: ⌈max(300/80, 420/100)⌉
 */
export class ScalingPolicy {
  #o: PolicyOptions
  /** the reactive needs the observed load showed within the stabilisation window */
  readonly #needs = new WindowMax()
  /** share of the forecast's extra replicas taken (1: all), steered by the headroom budget */
  #share = 1
  #spend = 0
  #baseline = 0
  #lastMs: number | null = null

  constructor(opts: PolicyOptions) {
    const problem = limitsProblem(opts.limits)
    if (problem !== null) throw new RangeError(`scaling limits: ${problem}`)
    if (!(opts.stabilizationMs >= 0)) throw new RangeError('stabilizationMs: expected ≥ 0')
    this.#o = opts
  }

  get options(): PolicyOptions {
    return this.#o
  }

  /**
   * Sizes the following decisions with another capacity per replica (a learned one). The needs the
   * stabilisation window holds stay as they were counted: a scale-down still waits for them.
   */
  setCapacity(capacityPerReplica: number): void {
    const limits = { ...this.#o.limits, capacityPerReplica }
    const problem = limitsProblem(limits)
    if (problem !== null) throw new RangeError(`scaling limits: ${problem}`)
    this.#o = { ...this.#o, limits }
  }

  decide(input: DecisionInput): Decision {
    const { limits: l, kind } = this.#o
    const perTarget = l.capacityPerReplica * l.targetUtilization
    const observed = Math.max(0, Number.isFinite(input.observed) ? input.observed : 0)
    const current = input.current
    const reactiveNeed = replicasFor(observed, perTarget)
    const fc = kind === 'predictive' ? (input.forecast ?? null) : null
    const fullNeed =
      fc === null
        ? null
        : Math.max(replicasFor(fc.point, perTarget), replicasFor(fc.upper, l.capacityPerReplica))

    // the stabilisation window: needs the observed load showed, newest last
    const windowNeed = this.#needs.push(input.atMs, reactiveNeed, this.#o.stabilizationMs)
    // the headroom budget: forecast replicas beyond the observed need are taken in the share the
    // recent spend allows
    const share = this.#share
    const predictiveNeed =
      fullNeed === null || fullNeed <= reactiveNeed
        ? fullNeed
        : reactiveNeed + Math.ceil(share * (fullNeed - reactiveNeed) - 1e-9)

    let raw = Math.max(reactiveNeed, predictiveNeed ?? 0)
    let driver: Decision['driver'] =
      predictiveNeed !== null && predictiveNeed > reactiveNeed ? 'predictive' : 'reactive'
    const tol = this.#o.tolerance ?? 0
    if (tol > 0 && current > 0) {
      const ratio = observed / (current * perTarget)
      if (Math.abs(ratio - 1) <= tol) {
        raw = current
        driver = 'tolerance'
      }
    }
    const upTol = this.#o.upTolerance ?? 0
    if (upTol > 0 && fc !== null && raw > current && current > 0 && reactiveNeed <= current) {
      // the forecast's need before rounding up, with the share of headroom the budget allows
      const full = Math.max(fc.point / perTarget, fc.upper / l.capacityPerReplica)
      const need = full <= reactiveNeed ? full : reactiveNeed + share * (full - reactiveNeed)
      if (Math.max(observed / perTarget, need) <= current * (1 + upTol)) {
        raw = current
        driver = 'tolerance'
      }
    }
    if (raw < l.min) {
      raw = l.min
      driver = 'min'
    }
    if (raw > l.max) {
      raw = l.max
      driver = 'max'
    }

    let desired = raw
    if (raw > current) {
      if (l.maxStepUp !== undefined && raw - current > l.maxStepUp) {
        desired = current + l.maxStepUp
        driver = 'step'
      }
    } else if (raw < current) {
      // never below what the observed load needed at some point in the window
      const floor = Math.min(current, Math.max(raw, Math.min(windowNeed, l.max)))
      if (floor > raw) {
        desired = floor
        driver = 'stabilization'
      }
      const downTol = this.#o.downTolerance ?? 0
      if (downTol > 0 && desired < current && desired >= (1 - downTol) * current - 1e-9) {
        desired = current
        driver = 'tolerance'
      }
      if (l.maxStepDown !== undefined && current - desired > l.maxStepDown) {
        desired = current - l.maxStepDown
        driver = 'step'
      }
    }
    if (kind === 'predictive')
      this.#account(input.atMs, desired, Math.min(l.max, Math.max(reactiveNeed, windowNeed, l.min)))
    const direction = desired > current ? 'up' : desired < current ? 'down' : 'hold'
    const evidence: DecisionEvidence = {
      observed,
      reactiveNeed,
      predictiveNeed,
      forecast: fc?.point ?? null,
      upper: fc?.upper ?? null,
      model: fc?.model ?? null,
      level: fc?.level ?? null,
      windowNeed,
      headroomShare: kind === 'predictive' ? share : null,
      candidate: null,
    }
    return {
      atMs: input.atMs,
      current,
      desired,
      direction,
      driver,
      reason: reasonOf(direction, driver, evidence, current, desired, l),
      evidence,
    }
  }

  /**
   * Compares what the policy runs with what sizing to the observed load would run (both as
   * exponentially weighted replica-time over ~6 h) and steers the share of forecast headroom
   * so the ratio stays within 1 + headroomBudget.
   */
  #account(atMs: number, desired: number, baseline: number): void {
    const dt = this.#lastMs === null ? 0 : Math.max(0, atMs - this.#lastMs)
    this.#lastMs = atMs
    const w = dt === 0 ? 0.01 : 1 - Math.exp(-dt / SPEND_TAU_MS)
    this.#spend += w * (desired - this.#spend)
    this.#baseline += w * (baseline - this.#baseline)
    if (this.#baseline <= 0) return
    const budget = this.#o.headroomBudget ?? 0.15
    const over = this.#spend / this.#baseline - (1 + budget)
    this.#share = Math.min(
      1,
      Math.max(0, this.#share * Math.exp(-BUDGET_GAIN * Math.sign(over) * Math.min(1, Math.abs(over) * 10))),
    )
    if (budget <= 0) this.#share = 0
  }
}

/** Whether a decision's forecast came with an interval: a level above 0 and an upper end above the point. */
function hasBand(e: Pick<DecisionEvidence, 'forecast' | 'upper' | 'level'>): boolean {
  return e.level !== null && e.level > 0 && e.upper !== null && e.forecast !== null && e.upper > e.forecast
}

/** The one-sentence reason of a decision. */
export function reasonOf(
  direction: Decision['direction'],
  driver: Decision['driver'],
  e: DecisionEvidence,
  current: number,
  desired: number,
  l: ScalingLimits,
  /** what made it, when the driver alone does not say (a candidate's own sizing) */
  because?: string,
): string {
  const load = `observed ${fmt(e.observed)} req/s`
  // a rule that projects one value (momentum, a surge's echo) has no band: "0% band up to" the
  // same number read as a broken interval
  const band =
    e.forecast === null || e.upper === null
      ? ''
      : hasBand(e)
        ? `, forecast peak ${fmt(e.forecast)} req/s (${e.level}% band up to ${fmt(e.upper)} req/s, ${e.model})`
        : `, forecast peak ${fmt(e.forecast)} req/s (${e.model})`
  const cap = `${fmt(l.capacityPerReplica)} req/s per replica at ${Math.round(l.targetUtilization * 100)}%`
  if (direction === 'hold')
    return driver === 'stabilization'
      ? `hold ${current}: the stabilisation window still shows load needing ${e.windowNeed} (${load})`
      : `hold ${current}: ${load}${band}; ${cap}`
  const verb = direction === 'up' ? 'scale up' : 'scale down'
  const why =
    because !== undefined
      ? because
      : driver === 'predictive'
        ? `the forecast over the lead time needs ${e.predictiveNeed}`
        : driver === 'reactive'
          ? `the observed load needs ${e.reactiveNeed}`
          : driver === 'stabilization'
            ? `the stabilisation window still shows load needing ${e.windowNeed}`
            : driver === 'step'
              ? 'bounded by the step limit'
              : driver === 'min'
                ? `min is ${l.min}`
                : driver === 'max'
                  ? `max is ${l.max}`
                  : 'within tolerance'
  return `${verb} ${current} → ${desired}: ${why} (${load}${band}; ${cap})`
}
