import { afterEach, describe, expect, it } from 'vitest'
import type { AnomalyRecord } from '../control/anomalies.js'
import type { SeriesSummary } from '../control/control-plane.js'
import type { ForecastAnswer } from '../control/forecasts.js'
import { registry } from '../metrics.js'
import {
  exposeControlMetrics,
  exposeInheritedMetrics,
  recordInherited,
  type ControlMetricSources,
} from './control-metrics.js'

const series = (service: string, route: string, env: string) => ({ service, route, env })

function anomaly(service: string, route: string, metric: string): AnomalyRecord {
  return {
    id: `${service}|${route}|prod#${metric}#1`,
    key: `${service}|${route}|prod`,
    series: series(service, route, 'prod'),
    level: route === '*' ? 'service' : 'route',
    metric,
    state: 'open',
    openedAtMs: 1,
  } as AnomalyRecord
}

function summary(service: string, route: string): SeriesSummary {
  return {
    key: `${service}|${route}|prod`,
    series: series(service, route, 'prod'),
    level: route === '*' ? (service === '*' ? 'global' : 'service') : 'route',
    firstSeenMs: 0,
    lastSeenMs: 0,
    last: null,
  }
}

function forecast(key: string): ForecastAnswer {
  const point = (atMs: number, f: number) => ({ atMs, forecast: f, lower: f - 5, upper: f + 5 })
  return {
    status: 'ok',
    key,
    points: [point(0, 100), point(10_000, 140), point(20_000, 120)],
    failure: { errorRatio: { probability: 0.25 }, p95: null },
  } as unknown as ForecastAnswer
}

/** The samples of one metric in the registry's text, as `labels value` lines. */
async function samples(name: string): Promise<string[]> {
  const text = await registry.metrics()
  return text
    .split('\n')
    .filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `))
    .map((l) => l.slice(name.length))
}

const sources: ControlMetricSources = {
  series: {
    listSeries: async () => [summary('orders', '*'), summary('orders', 'create'), summary('*', '*')],
    points: async () => [],
  },
  anomalies: {
    anomalies: async (q) => {
      expect(q.state).toBe('open')
      return [
        anomaly('orders', 'create', 'p95'),
        anomaly('orders', 'create', 'p95'),
        anomaly('orders', '*', 'rate'),
      ]
    },
  },
  forecasts: {
    forecast: async (key) =>
      key === 'orders|*|prod'
        ? forecast(key)
        : { status: 'insufficient_history', key, stepMs: 10_000, have: 3, need: 30 },
  },
  scaling: {
    services: ['orders', 'gone'],
    scaling: async (n) => {
      if (n === 'gone') throw new Error('unknown service')
      return { current: 3, desired: 4, min: 1, max: 4 }
    },
  },
}

describe('control-plane findings at /metrics', () => {
  afterEach(() => exposeControlMetrics(null))

  it('exports open anomalies, service forecasts and replica counts from the live sources', async () => {
    exposeControlMetrics(() => sources)
    expect(await samples('vigil_anomalies_open')).toEqual(
      expect.arrayContaining([
        '{level="route",service="orders",route="create",env="prod",metric="p95"} 2',
        '{level="service",service="orders",route="*",env="prod",metric="rate"} 1',
      ]),
    )
    expect(await samples('vigil_forecast_requests_per_second')).toEqual([
      '{service="orders",env="prod",bound="forecast"} 100',
      '{service="orders",env="prod",bound="lower"} 95',
      '{service="orders",env="prod",bound="upper"} 105',
    ])
    expect(await samples('vigil_forecast_peak_requests_per_second')).toEqual([
      '{service="orders",env="prod"} 145',
    ])
    expect(await samples('vigil_forecast_failure_probability')).toEqual([
      '{service="orders",env="prod",metric="errorRatio"} 0.25',
    ])
    expect(await samples('vigil_scale_replicas')).toEqual(['{service="orders"} 3'])
    expect(await samples('vigil_scale_replicas_desired')).toEqual(['{service="orders"} 4'])
    expect(await samples('vigil_scale_replicas_max')).toEqual(['{service="orders"} 4'])
  })

  it('keeps exporting the other findings when one source fails, and drops every sample when detached', async () => {
    exposeControlMetrics(() => ({
      ...sources,
      anomalies: {
        anomalies: async () => {
          throw new Error('not the leader')
        },
      },
    }))
    expect(await samples('vigil_anomalies_open')).toEqual([])
    expect(await samples('vigil_scale_replicas')).toEqual(['{service="orders"} 3'])
    await new Promise((r) => setTimeout(r, 150)) // the next scrape reads again
    exposeControlMetrics(() => null) // a standby control plane
    expect(await samples('vigil_scale_replicas')).toEqual([])
    expect(await samples('vigil_forecast_requests_per_second')).toEqual([])
  })

  it('counts what a new leader took over, returned and missing, and how long it held its windows', async () => {
    exposeInheritedMetrics()
    const before = await samples('vigil_control_inherited_total')
    expect(before).toContain('{consumer="rollups",outcome="missing"} 0')
    expect(before).toContain('{consumer="clients",outcome="returned"} 0')
    recordInherited('rollups', { held: 7, missing: 2, waitedMs: 11_000 })
    recordInherited('clients', { held: 0, missing: 0, waitedMs: 0 }) // nothing inherited: no takeover to count
    recordInherited('clients', { held: 3, missing: 0, waitedMs: 1_500 })
    expect(await samples('vigil_control_inherited_total')).toEqual([
      '{consumer="rollups",outcome="returned"} 5',
      '{consumer="rollups",outcome="missing"} 2',
      '{consumer="clients",outcome="returned"} 3',
      '{consumer="clients",outcome="missing"} 0',
    ])
    expect(await samples('vigil_control_inherited_wait_seconds_count')).toEqual([
      '{consumer="rollups"} 1',
      '{consumer="clients"} 1',
    ])
    expect(await samples('vigil_control_inherited_wait_seconds_sum')).toEqual([
      '{consumer="rollups"} 11',
      '{consumer="clients"} 1.5',
    ])
    const buckets = await samples('vigil_control_inherited_wait_seconds_bucket')
    expect(buckets).toContain('{le="10",consumer="rollups"} 0')
    expect(buckets).toContain('{le="12",consumer="rollups"} 1')
  })
})
