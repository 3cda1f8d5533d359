import { describe, expect, it } from 'vitest'
import type { Anomaly } from '../lib/types.js'
import { anomalyMarks, CHART_METRICS, marksOn } from './anomalies.js'

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
