/** @module Tests of the policies: config section (defaults, durations, cross-checks that name the field). */
import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const base = [
  'services: { pay: { targets: [http://127.0.0.1:9001] } }',
  'routes: [ { path: /, service: pay } ]',
]
const parse = (...lines: string[]) => parseConfigText([...base, ...lines].join('\n'), 'vigil.yaml', {})

describe('policies: config', () => {
  it('runs every policy in shadow mode by default, Standard and low classes first', () => {
    const cfg = parse()
    expect(cfg.policies.forecastPressure).toMatchObject({
      enabled: true,
      mode: 'shadow',
      lookaheadMs: 300_000,
      relaxRatio: 0.85,
      holdMs: 300_000,
      ttlMs: 900_000,
    })
    expect(cfg.policies.forecastPressure.steps[0]).toEqual({
      above: 1,
      tiers: { STD: 0.5 },
      classes: { low: 0.5 },
    })
    expect(JSON.stringify(cfg.policies.forecastPressure.steps)).not.toMatch(/PRM|critical/)
    expect(cfg.policies.anomalyPressure).toMatchObject({
      mode: 'shadow',
      metrics: ['rate', 'errors'],
    })
    expect(cfg.policies.abusiveClients).toMatchObject({ mode: 'shadow', multiplier: 0.1, exempt: [] })
  })

  it('reads durations as text', () => {
    const cfg = parse('policies: { anomalyPressure: { holdMs: 90s, ttlMs: 10m } }')
    expect(cfg.policies.anomalyPressure).toMatchObject({ holdMs: 90_000, ttlMs: 600_000 })
  })

  it.each([
    [
      'policies: { forecastPressure: { mode: enforced } }',
      'policies.forecastPressure.mode: expected one of "shadow", "enforce", got "enforced"',
    ],
    [
      'policies: { forecastPressure: { steps: [ { above: 1, tiers: { GOLD: 0.5 } } ] } }',
      'policies.forecastPressure.steps[0].tiers.GOLD: unknown tier "GOLD" (known: STD, PRM; more under limits.tiers)',
    ],
    [
      'policies: { forecastPressure: { steps: [ { above: 1, classes: { bulk: 0.5 } } ] } }',
      'policies.forecastPressure.steps[0].classes.bulk: unknown priority class "bulk" (known: low, normal, high, critical; more under limits.classes)',
    ],
    [
      'policies: { forecastPressure: { steps: [ { above: 1.2 }, { above: 1.1 } ] } }',
      'policies.forecastPressure.steps[1].above: 1.1 is not above steps[0].above 1.2; list steps from the lowest pressure up',
    ],
    [
      'policies: { forecastPressure: { steps: [ { above: 1, tiers: { STD: 2 } } ] } }',
      'policies.forecastPressure.steps[0].tiers.STD: must be at most 1, got 2; write 1 or less',
    ],
    [
      'policies: { forecastPressure: { services: [shop] } }',
      'policies.forecastPressure.services[0]: unknown service "shop" (known: pay)',
    ],
    [
      'policies: { forecastPressure: { services: [pay] } }',
      'policies.forecastPressure.services[0]: service "pay" has no capacity budget; add limits.services.pay or remove it here',
    ],
    [
      'policies: { anomalyPressure: { services: [Pay] } }',
      'policies.anomalyPressure.services[0]: unknown service "Pay" (known: pay); did you mean "pay"?',
    ],
    [
      'policies: { forecastPressure: { steps: [ { above: 1, classes: { hihg: 0.5 } } ] } }',
      'policies.forecastPressure.steps[0].classes.hihg: unknown priority class "hihg" (known: low, normal, high, critical; more under limits.classes); did you mean "high"?',
    ],
    [
      'policies: { abusiveClients: { mode: enforce } }',
      'policies.abusiveClients.mode: enforce needs limits.enabled: true; set it, or use mode: shadow (or enabled: false)',
    ],
    [
      'limits: { enabled: true }\npolicies: { forecastPressure: { mode: enforce } }',
      'policies.forecastPressure.mode: enforce needs a capacity budget under limits.services; set it, or use mode: shadow (or enabled: false)',
    ],
    [
      'policies: { anomalyPressure: { holdMs: soon } }',
      'policies.anomalyPressure.holdMs: expected a duration: milliseconds, or text like 90s, 5m, 6h or 14d, got "soon"',
    ],
    ['policies: { abusiveClient: {} }', 'policies.abusiveClient: unknown key "abusiveClient"'],
  ])('names the field: %s', (yaml, message) => {
    expect(() => parse(yaml)).toThrow(message)
  })

  it('accepts enforce when what it needs is there', () => {
    const cfg = parse(
      'limits: { enabled: true, services: { pay: { ratePerSec: 100, burst: 50 } } }',
      'policies: { forecastPressure: { mode: enforce, services: [pay] }, abusiveClients: { mode: enforce } }',
    )
    expect(cfg.policies.forecastPressure.mode).toBe('enforce')
  })
})
