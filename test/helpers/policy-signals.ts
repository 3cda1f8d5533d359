import type { AnomalyRecord } from '../../src/control/anomalies.js'
import type { PolicySignal } from '../../src/control/policies/policy.js'

/**
 * A rate forecast of a service, fitted at `atMs` in 10 s steps, whose upper band peaks at `upper`
 * 50 s ahead (step 5); later steps (beyond 5 min) are higher still.
 */
export function forecastSignal(service: string, upper: number, atMs: number, env = 'prod'): PolicySignal {
  return {
    kind: 'forecast',
    forecast: {
      key: `${service}|*|${env}`,
      series: { service, route: '*', env },
      fittedAtMs: atMs,
      stepMs: 10_000,
      model: 'ets',
      points: Array.from({ length: 30 }, (_, h) => ({
        atMs: atMs + (h + 1) * 10_000,
        forecast: upper * 0.8,
        lower: 0,
        upper: h === 4 ? upper : h >= 30 ? upper * 10 : upper * 0.9,
      })),
    },
  }
}

/** An open anomaly on `key` (`service|route|env`, or `client:<id>`), 5xx errors unless told. */
export function anomalyRecord(over: Partial<AnomalyRecord> & { key: string }): AnomalyRecord {
  const [service = '*', route = '*', env = '*'] = over.key.split('|')
  return {
    id: `${over.key}#${over.metric ?? 'errors'}#0`,
    series: { service, route, env },
    level: route === '*' ? 'service' : 'route',
    metric: 'errors',
    state: 'open',
    openedAtMs: 0,
    resolvedAtMs: null,
    observed: 0.2,
    expected: 0.01,
    low: 0,
    high: 0.03,
    score: 0.9,
    detector: 'poisson-tail',
    evidence: {},
    children: [],
    ...over,
  }
}
