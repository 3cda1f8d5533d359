/**
 * @module Offline evaluation of scaling policies on a demand series (pure): replays the series
 * row by row, asks a policy for the replicas it wants after each row (strictly online: the
 * decision after row t sees rows 0..t only), starts replicas that become ready `startupMs` later,
 * and accounts in continuous time for under-provisioned minutes, replica-minutes and actions.
 *
 * ```
 * row t: [t·Δ, (t+1)·Δ) demand d[t] ──(end of row)──▶ decision → desired
 *   up:   new replicas start now, ready at (t+1)·Δ + startup; counted in replica-minutes at once
 *   down: replicas still starting go first, then the newest; gone at once
 * under-provisioned: the time within each row where d[t] > C × ready replicas
 * ```
 */
import { OnlineForecaster } from '../forecast/online.js'
import type { ModelName } from '../forecast/forecaster.js'
import {
  HPA_STABILIZATION_MS,
  HPA_TOLERANCE,
  replicasFor,
  ScalingPolicy,
  type Decision,
  type PeakForecast,
  type ScalingLimits,
} from './policy.js'
import { SelectingPolicy } from './selector.js'

export { HPA_STABILIZATION_MS, HPA_TOLERANCE }

export interface SimulationOptions {
  /** the row interval */
  readonly stepMs: number
  /** from asking for a replica until it serves */
  readonly startupMs: number
  readonly limits: ScalingLimits
}

export interface SimulationResult {
  /** desired replicas decided after each row */
  readonly schedule: number[]
  /** minutes during which demand exceeded the ready replicas' full capacity */
  readonly underProvisionedMinutes: number
  /** replicas running or starting, integrated over time */
  readonly replicaMinutes: number
  /** decisions that changed the desired count */
  readonly actions: number
  /** the largest desired count */
  readonly peakReplicas: number
}

/** Asked after each row: the replicas to run from now on. `t` is the row just observed. */
export type Decide = (t: number, current: number) => number

/** Replicas in a row's accounting: ready since `readyMs`. */
interface Replica {
  readyMs: number
}

/**
 * Replays `demand` under `decide`. The first row starts with the replicas its own demand needs at
 * the target utilisation, all ready (every policy starts from the same place).
 */
export function simulate(
  demand: readonly number[],
  opts: SimulationOptions,
  decide: Decide,
): SimulationResult {
  const { stepMs, startupMs, limits } = opts
  const C = limits.capacityPerReplica
  const clamp = (n: number) => Math.min(limits.max, Math.max(limits.min, n))
  const initial = clamp(replicasFor(demand[0] ?? 0, C * limits.targetUtilization))
  let replicas: Replica[] = Array.from({ length: initial }, () => ({ readyMs: -Infinity }))
  const schedule: number[] = []
  let underMs = 0
  let replicaMs = 0
  let actions = 0
  let peak = initial
  for (let t = 0; t < demand.length; t++) {
    const d = Number.isFinite(demand[t]) ? Math.max(0, demand[t]) : 0
    const rowStart = t * stepMs
    const rowEnd = rowStart + stepMs
    replicaMs += replicas.length * stepMs
    // ready-time changes inside the row split it into pieces of constant capacity
    const cuts = replicas
      .map((r) => r.readyMs)
      .filter((ms) => ms > rowStart && ms < rowEnd)
      .sort((a, b) => a - b)
    let from = rowStart
    let ready = replicas.filter((r) => r.readyMs <= rowStart).length
    for (const cut of [...cuts, rowEnd]) {
      if (d > C * ready + 1e-9) underMs += cut - from
      from = cut
      ready++
    }
    const current = replicas.length
    const desired = clamp(Math.round(decide(t, current)))
    if (desired !== current) actions++
    if (desired > current) {
      for (let k = current; k < desired; k++) replicas.push({ readyMs: rowEnd + startupMs })
    } else if (desired < current) {
      // unready replicas first (as a ReplicaSet deletes them), then the newest
      replicas.sort((a, b) => a.readyMs - b.readyMs)
      replicas = replicas.slice(0, desired)
    }
    peak = Math.max(peak, desired)
    schedule.push(desired)
  }
  return {
    schedule,
    underProvisionedMinutes: underMs / 60_000,
    replicaMinutes: replicaMs / 60_000,
    actions,
    peakReplicas: peak,
  }
}

export interface PolicyRunOptions extends SimulationOptions {
  readonly stabilizationMs: number
  /** predictive only */
  readonly model?: ModelName
  readonly freqSec?: number
  /** steps between forecast refits (default: about 150 fits over the series, at least every 12 steps) */
  readonly refitEvery?: number
  /** predictive upper band level in percent (default 90) */
  readonly level?: number
  /** see SelectingPolicyOptions.budget (default 0.18) */
  readonly headroomBudget?: number
  /** every decision, for the schedule's evidence (off by default: long series) */
  readonly onDecision?: (d: Decision, t: number) => void
}

/** Rows from a decision until replicas it starts serve, plus the row until the next decision. */
export function leadSteps(stepMs: number, startupMs: number): number {
  return 1 + Math.ceil(startupMs / stepMs - 1e-9)
}

export interface PredictiveRun extends SimulationResult {
  readonly fits: number
  readonly fitMs: number
  readonly lastModel: string
  /** rows each candidate policy was followed */
  readonly followed: Record<string, number>
}

/**
 * The predictive policy: the forecast's peak over the lead time with its conformal band feeds the
 * candidate policies a SelectingPolicy replays and chooses from.
 */
export function runPredictive(demand: readonly number[], opts: PolicyRunOptions): PredictiveRun {
  const forecaster = new OnlineForecaster({
    lead: leadSteps(opts.stepMs, opts.startupMs),
    refitEvery: opts.refitEvery ?? Math.max(12, Math.ceil(demand.length / 150)),
    freqSec: opts.freqSec,
    model: opts.model,
    level: opts.level ?? 90,
  })
  let lastModel = 'none'
  const result = runSelecting(demand, opts, (t) => {
    forecaster.update(demand[t])
    const p = forecaster.peak()
    if (p === null) return null
    lastModel = p.model
    return { point: p.point, upper: p.upper, model: p.model, level: p.level }
  })
  return { ...result, fits: forecaster.stats.fits, fitMs: forecaster.stats.fitMs, lastModel }
}

/**
 * The SelectingPolicy on `demand` with the peak forecast `forecastAfter(t)` gives after row t
 * (the peak over the {@link leadSteps} rows after it): another forecaster than OnlineForecaster,
 * such as the live forecast bank's, replayed as the live autoscaler would decide with it.
 */
export function runSelecting(
  demand: readonly number[],
  opts: Omit<PolicyRunOptions, 'model' | 'freqSec' | 'refitEvery' | 'level'>,
  forecastAfter: (t: number) => PeakForecast | null,
): SimulationResult & { followed: Record<string, number> } {
  const policy = new SelectingPolicy({
    limits: opts.limits,
    stabilizationMs: opts.stabilizationMs,
    startupMs: opts.startupMs,
    stepMs: opts.stepMs,
    budget: opts.headroomBudget,
  })
  const followed: Record<string, number> = {}
  const result = simulate(demand, opts, (t, current) => {
    const d = policy.decide({
      atMs: (t + 1) * opts.stepMs,
      observed: demand[t],
      current,
      forecast: forecastAfter(t),
    })
    const name = policy.paced === null ? policy.leader : `${policy.leader} + ${policy.paced}`
    followed[name] = (followed[name] ?? 0) + 1
    opts.onDecision?.(d, t)
    return d.desired
  })
  return { ...result, followed }
}

/**
 * The reactive baseline shaped like the Kubernetes HPA: desired = ⌈load / (C·u)⌉ with its 10%
 * tolerance, scale-up at once, scale-down to the highest recommendation of the last 5 minutes.
 */
export function runReactive(
  demand: readonly number[],
  opts: SimulationOptions & { stabilizationMs?: number; onDecision?: (d: Decision, t: number) => void },
): SimulationResult {
  const policy = new ScalingPolicy({
    kind: 'reactive',
    limits: opts.limits,
    stabilizationMs: opts.stabilizationMs ?? HPA_STABILIZATION_MS,
    tolerance: HPA_TOLERANCE,
  })
  return simulate(demand, opts, (t, current) => {
    const d = policy.decide({ atMs: (t + 1) * opts.stepMs, observed: demand[t], current })
    opts.onDecision?.(d, t)
    return d.desired
  })
}

/**
 * A reference that knows the future: after row t it asks for what the rows starting before its
 * next decision's replicas could serve need, at the target utilisation, and no more.
 */
export function runPerfectForesight(demand: readonly number[], opts: SimulationOptions): SimulationResult {
  const per = opts.limits.capacityPerReplica * opts.limits.targetUtilization
  const lead = leadSteps(opts.stepMs, opts.startupMs)
  const need = demand.map((d) => replicasFor(Number.isFinite(d) ? d : 0, per))
  return simulate(demand, opts, (t) => {
    let n = 0
    for (let r = t + 1; r <= Math.min(need.length - 1, t + lead); r++) n = Math.max(n, need[r])
    return t + 1 < need.length ? n : need[t]
  })
}
