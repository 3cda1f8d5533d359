/** @module Adaptive-limit policies: forecast pressure, anomaly pressure, abusive clients; their engine and replay. */
import type { Config } from '../../config/index.js'
import type { ForecastReady } from '../forecasts.js'
import { parseSeriesKey } from '../series-key.js'
import { AbusiveClients } from './abusive-clients.js'
import { AnomalyPressure } from './anomaly-pressure.js'
import { ForecastPressure } from './forecast-pressure.js'
import type { ForecastSignal, LimitPolicy } from './policy.js'

export { AbusiveClients } from './abusive-clients.js'
export { AnomalyPressure } from './anomaly-pressure.js'
export { ForecastPressure } from './forecast-pressure.js'
export { PolicyEngine } from './engine.js'
export type {
  LimitControls,
  PolicyActionInput,
  PolicyActionLog,
  PolicyEngineOptions,
  PolicyLeadership,
} from './engine.js'
export { patchFor, Reconciler } from './policy.js'
export type {
  Desired,
  Entries,
  ForecastSignal,
  LimitPolicy,
  PolicyDecision,
  PolicyMode,
  PolicySignal,
} from './policy.js'
export { loadSignals, replayPolicy, signalOfEvent } from './replay.js'
export type { ReplayOptions, ReplayResult, ReplayStore, SignalTiming, TimedSignal } from './replay.js'

/** The names policies go by (in the action log, `--name`, the actor `control:<name>`). */
export const POLICY_NAMES = ['forecast-pressure', 'anomaly-pressure', 'abusive-clients'] as const
export type PolicyName = (typeof POLICY_NAMES)[number]

/** One policy from config, whether or not it is enabled (replay may ask for a disabled one). */
export function createPolicy(config: Config, name: PolicyName): LimitPolicy {
  const p = config.policies
  switch (name) {
    case 'forecast-pressure':
      return new ForecastPressure(p.forecastPressure, config.limits.services)
    case 'anomaly-pressure':
      return new AnomalyPressure(p.anomalyPressure)
    case 'abusive-clients':
      return new AbusiveClients(p.abusiveClients)
    default: {
      const never: never = name
      throw new Error(`unknown policy ${String(never)}`)
    }
  }
}

/** The enabled policies of a config. */
export function createPolicies(config: Config): LimitPolicy[] {
  const p = config.policies
  const on: PolicyName[] = []
  if (p.forecastPressure.enabled) on.push('forecast-pressure')
  if (p.anomalyPressure.enabled) on.push('anomaly-pressure')
  if (p.abusiveClients.enabled) on.push('abusive-clients')
  return on.map((name) => createPolicy(config, name))
}

/** A live forecast as a policy signal. */
export function forecastSignal(f: ForecastReady): ForecastSignal {
  return {
    key: f.key,
    series: parseSeriesKey(f.key),
    fittedAtMs: f.fittedAtMs,
    stepMs: f.stepMs,
    model: f.model,
    points: f.points,
  }
}
