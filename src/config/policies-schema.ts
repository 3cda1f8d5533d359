/**
 * @module The `policies:` section of vigil.yaml: the control plane's adaptive-limit policies
 * (src/control/policies), each `mode: shadow` (record what it would do) or `enforce`.
 */
import { z } from 'zod'
import { knownTiers, unknownTier } from './limits-schema.js'
import { unknownName, type ConfigProblem } from './messages.js'
import { durationMs } from './telemetry-schema.js'

const mode = z.enum(['shadow', 'enforce']).default('shadow')
const multipliers = z.record(z.string(), z.number().positive('a multiplier is a number > 0').max(1))

/** One step of forecast pressure: from `above` × the budget, these scoped multipliers apply. */
export const pressureStepSchema = z.strictObject({
  /** pressure (forecast upper band / the service's budget ratePerSec) from which this step applies */
  above: z.number().positive(),
  tiers: multipliers.default({}),
  classes: multipliers.default({}),
})

// Standard clients and low-priority routes go first; Premium and critical routes are never touched.
const DEFAULT_STEPS: { above: number; tiers: Record<string, number>; classes: Record<string, number> }[] = [
  { above: 1.0, tiers: { STD: 0.5 }, classes: { low: 0.5 } },
  { above: 1.25, tiers: { STD: 0.25 }, classes: { low: 0.25, normal: 0.5 } },
  { above: 1.5, tiers: { STD: 0.1 }, classes: { low: 0.1, normal: 0.25 } },
]

export const forecastPressureSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    mode,
    /** the upper band of the rate forecast over this long ahead (at most the forecast's horizon) is compared with the budget */
    lookaheadMs: durationMs.default(300_000),
    /** from the lowest pressure up; the highest step whose `above` is reached applies */
    steps: z.array(pressureStepSchema).min(1, 'give at least one step').default(DEFAULT_STEPS),
    /** a step is left once the pressure is below its `above` × this (hysteresis) */
    relaxRatio: z.number().gt(0).lt(1).default(0.85),
    /** the pressure must stay low this long, and a step must have held this long, to relax one step */
    holdMs: durationMs.default(300_000),
    /** entries expire this long after they were last set (renewed at half time while needed) */
    ttlMs: durationMs.default(900_000),
    /** a forecast older than this is no evidence (no traffic: no refits) */
    staleMs: durationMs.default(900_000),
    /** only these services (default: every service with a budget in limits.services) */
    services: z.array(z.string().min(1)).optional(),
  })
  .prefault({})

export const anomalyPressureSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    mode,
    /**
     * anomaly metrics that turn defensive mode on (rate only when above its band). `joint` is not
     * a default: it also opens on a slowdown with a traffic drop (a cold first window after a
     * restart), which defensive mode does not help
     */
    metrics: z
      .array(z.enum(['rate', 'errors', 'joint', 'p50', 'p95', 'p99', 'limitedRatio']))
      .min(1)
      .default(['rate', 'errors']),
    /** defensive mode stays on at least this long, and this long after the last anomaly resolved */
    holdMs: durationMs.default(120_000),
    ttlMs: durationMs.default(600_000),
    services: z.array(z.string().min(1)).optional(),
  })
  .prefault({})

export const abusiveClientsSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    mode,
    /** the flagged client's limit is multiplied by this on every service */
    multiplier: z.number().positive().max(1).default(0.1),
    /** kept at least this long, and this long after the client's anomaly resolved */
    holdMs: durationMs.default(120_000),
    ttlMs: durationMs.default(600_000),
    /** clients limited at once (each is an entry in the controls document every gateway reads) */
    maxClients: z.number().int().positive().max(10_000).default(100),
    /** client ids never limited by this policy (API key ids, or ip:ADDR) */
    exempt: z.array(z.string().min(1)).default([]),
  })
  .prefault({})

export const policiesSchema = z
  .strictObject({
    /** how often policies look at time-based conditions (hold times, renewals, stale forecasts) */
    tickMs: z.number().int().min(100).default(1_000),
    forecastPressure: forecastPressureSchema,
    anomalyPressure: anomalyPressureSchema,
    abusiveClients: abusiveClientsSchema,
  })
  .prefault({})

export type PoliciesConfig = z.infer<typeof policiesSchema>
export type ForecastPressureConfig = z.infer<typeof forecastPressureSchema>
export type AnomalyPressureConfig = z.infer<typeof anomalyPressureSchema>
export type AbusiveClientsConfig = z.infer<typeof abusiveClientsSchema>
export type PolicyMode = z.infer<typeof mode>

/** What the cross-checks need from the rest of the config. */
export interface PolicyContext {
  policies: PoliciesConfig
  limits: {
    enabled: boolean
    tiers: Record<string, unknown>
    classes: Record<string, number>
    services: Record<string, unknown>
  }
  services: Record<string, unknown>
  detect: { enabled: boolean }
  forecast: { enabled: boolean }
}

/** Checks that span sections: known tiers, classes and services, ordered steps, what enforce needs. */
export function policyProblems(cfg: PolicyContext): ConfigProblem[] {
  const out: ConfigProblem[] = []
  const p = cfg.policies
  const fp = p.forecastPressure
  const tiers = knownTiers(cfg.limits)
  const classes = Object.keys(cfg.limits.classes)
  const base = 'policies.forecastPressure'
  fp.steps.forEach((s, i) => {
    for (const t of Object.keys(s.tiers))
      if (!tiers.includes(t))
        out.push({ path: `${base}.steps[${i}].tiers.${t}`, message: unknownTier(t, tiers) })
    for (const c of Object.keys(s.classes))
      if (!classes.includes(c))
        out.push({
          path: `${base}.steps[${i}].classes.${c}`,
          message: unknownName('priority class', c, classes, 'more under limits.classes'),
        })
    const prev = fp.steps[i - 1]
    if (prev !== undefined && s.above <= prev.above)
      out.push({
        path: `${base}.steps[${i}].above`,
        message: `${s.above} is not above steps[${i - 1}].above ${prev.above}; list steps from the lowest pressure up`,
      })
  })
  const services = Object.keys(cfg.services)
  fp.services?.forEach((svc, i) => {
    if (cfg.services[svc] === undefined)
      out.push({ path: `${base}.services[${i}]`, message: unknownName('service', svc, services) })
    else if (cfg.limits.services[svc] === undefined)
      out.push({
        path: `${base}.services[${i}]`,
        message: `service "${svc}" has no capacity budget; add limits.services.${svc} or remove it here`,
      })
  })
  p.anomalyPressure.services?.forEach((svc, i) => {
    if (cfg.services[svc] === undefined)
      out.push({
        path: `policies.anomalyPressure.services[${i}]`,
        message: unknownName('service', svc, services),
      })
  })
  const enforce = (name: string, on: { enabled: boolean; mode: PolicyMode }, needs: [boolean, string][]) => {
    if (!on.enabled || on.mode !== 'enforce') return
    for (const [ok, what] of needs)
      if (!ok)
        out.push({
          path: `policies.${name}.mode`,
          message: `enforce needs ${what}; set it, or use mode: shadow (or enabled: false)`,
        })
  }
  enforce('forecastPressure', fp, [
    [cfg.limits.enabled, 'limits.enabled: true'],
    [cfg.forecast.enabled, 'forecast.enabled: true'],
    [Object.keys(cfg.limits.services).length > 0, 'a capacity budget under limits.services'],
  ])
  enforce('anomalyPressure', p.anomalyPressure, [
    [cfg.limits.enabled, 'limits.enabled: true'],
    [cfg.detect.enabled, 'detect.enabled: true'],
  ])
  enforce('abusiveClients', p.abusiveClients, [
    [cfg.limits.enabled, 'limits.enabled: true'],
    [cfg.detect.enabled, 'detect.enabled: true'],
  ])
  return out
}
