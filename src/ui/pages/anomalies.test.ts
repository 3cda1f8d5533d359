import { describe, expect, it } from 'vitest'
import type { Anomaly } from '../lib/types.js'
import { anomalyMarks, CHART_METRICS, marksOn, nestAnomalies } from './anomalies.js'

const anomaly = (key: string, metric: string, level: Anomaly['level']): Anomaly => {
  const [service, route, env] = key.split('|')
  return {
    id: `${key}#${metric}#1000`,
    key,
    series: { service, route, env },
    level,
    metric,
    state: 'open',
    openedAtMs: 1_000_000,
    resolvedAtMs: null,
    observed: 0.77,
    expected: 0.012,
    low: 0,
    high: 0.078,
    score: 1,
    detector: 'poisson',
    evidence: {},
    children: [],
  }
}

describe('anomalyMarks', () => {
  it('labels a mark with the metric as the anomaly list names it', () => {
    const marks = anomalyMarks([anomaly('shop|*|demo', 'limitedRatio', 'service')], 2_000_000)
    expect(marks).toEqual([{ from: 1000, to: 2000, label: 'throttled share', metric: 'limitedRatio' }])
  })

  it('names the series too on a chart of several, so two anomalies on one metric read apart', () => {
    const marks = anomalyMarks(
      [anomaly('*|*|*', 'limitedRatio', 'global'), anomaly('shop|*|demo', 'limitedRatio', 'service')],
      2_000_000,
      true,
    )
    expect(marks.map((m) => m.label)).toEqual([
      'throttled share, all services',
      'throttled share, shop · demo',
    ])
  })
})

describe('marksOn', () => {
  const marks = anomalyMarks(
    ['rate', 'p50', 'p95', 'p99', 'errors', 'limitedRatio', 'joint'].map((m) =>
      anomaly('*|*|*', m, 'global'),
    ),
    2_000_000,
    true,
  )
  const on = (metrics: readonly string[]) => marksOn(marks, metrics).map((m) => m.metric)

  it("marks on the traffic chart (the Overview's and a series') only request rate", () => {
    expect(on(CHART_METRICS.traffic)).toEqual(['rate', 'joint'])
  })

  it('marks a client that stands out on the traffic chart only, named', () => {
    const client = anomalyMarks([anomaly('client:scraper', 'client', 'client')], 2_000_000, true)
    expect(client.map((m) => m.label)).toEqual(['client behaviour, client scraper'])
    expect(Object.values(CHART_METRICS).map((metrics) => marksOn(client, metrics).length)).toEqual([1, 0, 0])
  })

  it('marks on the latency and errors charts their own metrics', () => {
    expect(on(CHART_METRICS.latency)).toEqual(['p50', 'p95', 'p99', 'joint'])
    expect(on(CHART_METRICS.errors)).toEqual(['errors', 'limitedRatio', 'joint'])
  })

  it('marks every metric on one of the three charts the Overview and a series page both draw', () => {
    expect(Object.keys(CHART_METRICS)).toEqual(['traffic', 'latency', 'errors'])
    const shown = new Set(Object.values(CHART_METRICS).flatMap((metrics) => on(metrics)))
    expect(shown.size).toBe(marks.length)
  })
})

describe('nestAnomalies', () => {
  const at = (a: Anomaly, openedAtMs: number, extra: Partial<Anomaly> = {}): Anomaly => ({
    ...a,
    id: `${a.id}@${openedAtMs}`,
    openedAtMs,
    ...extra,
  })
  const heads = (list: Anomaly[]) =>
    [...nestAnomalies(list)].map(([h, also]) => [h.id, also.map((b) => b.id).sort()])

  it("puts one incident's route and service anomalies of a metric under all services'", () => {
    const route = at(anomaly('shop|browse|demo', 'p95', 'route'), 1_000)
    const service = at(anomaly('shop|*|demo', 'p95', 'service'), 1_000)
    const users = at(anomaly('users|test|demo', 'p95', 'route'), 3_000)
    const global = at(anomaly('*|*|*', 'p95', 'global'), 2_000)
    const p50 = at(anomaly('shop|*|demo', 'p50', 'service'), 1_000)
    expect(heads([route, service, users, global, p50])).toEqual([
      [global.id, [route.id, service.id, users.id].sort()],
      [p50.id, []],
    ])
    // without an anomaly of all services, a route's goes under its service's
    expect(heads([route, service, users])).toEqual([
      [service.id, [route.id]],
      [users.id, []],
    ])
  })

  it('keeps apart what opened far apart, what is resolved, and clients', () => {
    const global = at(anomaly('*|*|*', 'p95', 'global'), 0)
    const later = at(anomaly('shop|*|demo', 'p95', 'service'), 10 * 60_000)
    const resolved = at(anomaly('users|*|demo', 'p95', 'service'), 1_000, {
      state: 'resolved',
      resolvedAtMs: 2_000,
    })
    const client = at(anomaly('client:bot', 'client', 'client'), 0)
    expect(heads([global, later, resolved, client])).toEqual([
      [global.id, []],
      [later.id, []],
      [resolved.id, []],
      [client.id, []],
    ])
  })
})
