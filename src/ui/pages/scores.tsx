/** Latency and errors inside the bands the detectors expected, and the anomaly scores over time. */
import type { ScoreHistory } from '../../control/scores.js'
import type { Session } from '../app.js'
import { drawnExpectedBand } from '../components/band.js'
import { Chart, gapSeconds, pctTick, type ChartMark } from '../components/chart.js'
import { Empty, Panel, Problem } from '../components/ui.js'
import { keyPath } from '../lib/api.js'
import { fmtMs, fmtPct } from '../lib/format.js'
import type { HPoint } from '../lib/history.js'
import { useApi } from '../lib/hooks.js'
import { CHART_METRICS, marksOn } from './anomalies.js'

export function ScoresPanel(props: {
  session: Session
  seriesKey: string
  points: readonly HPoint[]
  rangeMs: number
  marks: ChartMark[]
  now: number
}) {
  const { points, session } = props
  const enabled = session.features.includes('scores')
  const from = Math.floor((props.now - props.rangeMs) / 60_000) * 60_000
  const scores = useApi<ScoreHistory>(
    enabled ? `/api/series/${keyPath(props.seriesKey)}/scores?from=${from}` : null,
    Math.max(5_000, session.windowMs),
  )
  const h = scores.data !== null && scores.data.metrics !== null ? scores.data : null
  const at = new Map<number, number>()
  h?.t.forEach((t, i) => at.set(t, i))
  // bands are clipped to what the metric can be (no negative latency, no ratio above 1)
  const col = (
    metric: keyof ScoreHistory['metrics'],
    field: 'low' | 'high' | 'expected',
    scale = 1,
    max = Infinity,
  ) =>
    points.map((p) => {
      const i = at.get(p.t)
      const v = i === undefined || h === null ? null : h.metrics[metric][field][i]
      return v === null || v === undefined ? null : Math.min(max, Math.max(0, v)) * scale
    })
  const x = points.map((p) => p.t / 1000)
  const last = points.at(-1)
  const haveBands = h !== null && h.t.length > 0
  const errors = {
    upstream: points.map((p) => p.uerr * 100),
    all: points.map((p) => p.err * 100),
    throttled: points.map((p) => p.lim * 100),
  }
  const errorBand = drawnExpectedBand(col('errorRatio', 'high', 100, 1), [
    ...errors.upstream,
    ...errors.all,
    ...errors.throttled,
  ])
  return (
    <>
      <div class="grid two">
        <Panel title="Latency">
          {points.length < 2 ? (
            <Empty>Waiting for a few windows…</Empty>
          ) : (
            <Chart
              title="p50 / p95 / p99"
              x={x}
              ys={[
                points.map((p) => p.p50),
                points.map((p) => p.p95),
                points.map((p) => p.p99),
                col('p95', 'high'),
                col('p95', 'low'),
              ]}
              series={[
                { label: 'p50', color: '--series-4', width: 1.2 },
                { label: 'p95', color: '--series-1' },
                { label: 'p99', color: '--series-2', dash: [2, 3] },
                { label: 'p95 high', color: '--band', hidden: true },
                { label: 'p95 low', color: '--band', hidden: true },
              ]}
              bands={haveBands ? [{ upper: 3, lower: 4, fill: '--band', label: 'expected p95 band' }] : []}
              marks={marksOn(props.marks, CHART_METRICS.latency)}
              yFormat={(v) => fmtMs(v)}
              gapS={gapSeconds(session.windowMs)}
              summary={`p95 now ${fmtMs(last?.p95)}${haveBands ? `, expected up to ${fmtMs(col('p95', 'high').at(-1))}` : ''}`}
            />
          )}
        </Panel>
        <Panel title="Errors">
          {points.length < 2 ? (
            <Empty>Waiting for a few windows…</Empty>
          ) : (
            <Chart
              title="5xx error ratio (%)"
              x={x}
              ys={[
                errors.upstream,
                errorBand.highs,
                col('errorRatio', 'low', 100, 1),
                errors.throttled,
                errors.all,
              ]}
              series={[
                // the band is of the upstream's own ratio: the gateway's 503s (no healthy target) are not the service's
                { label: 'upstream errors %', color: '--series-3' },
                { label: 'high', color: '--band', hidden: true },
                { label: 'low', color: '--band', hidden: true },
                { label: 'throttled %', color: '--series-2', dash: [4, 3], width: 1.2 },
                { label: 'all 5xx %', color: '--series-4', dash: [2, 3], width: 1.2 },
              ]}
              bands={
                haveBands
                  ? [
                      {
                        upper: 1,
                        lower: 2,
                        fill: '--band',
                        label: `expected band${errorBand.clipped ? ' (cut at the top)' : ''}`,
                      },
                    ]
                  : []
              }
              marks={marksOn(props.marks, CHART_METRICS.errors)}
              yFormat={pctTick}
              gapS={gapSeconds(session.windowMs)}
              summary={`upstream errors now ${fmtPct(last?.uerr)} (all 5xx ${fmtPct(last?.err)}), throttled ${fmtPct(last?.lim)}`}
            />
          )}
        </Panel>
      </div>
      {enabled && (
        <Panel title="Anomaly scores over time">
          <Problem error={scores.error} title="Scores unavailable" />
          {h === null || h.t.length < 2 ? (
            <Empty>The detectors have not scored this series yet.</Empty>
          ) : (
            <Chart
              title="Score per metric (0 normal … 1 certain anomaly)"
              x={h.t.map((t) => t / 1000)}
              ys={[
                h.metrics.rate.score,
                h.metrics.errorRatio.score,
                h.metrics.p95.score,
                h.metrics.p99.score,
              ]}
              series={[
                { label: 'rate', color: '--series-1', scatter: true },
                { label: 'errors', color: '--series-3', scatter: true },
                { label: 'p95', color: '--series-2', scatter: true },
                { label: 'p99', color: '--series-4', scatter: true },
              ]}
              marks={props.marks}
              yMin={0}
              yMax={1}
              height={180}
              summary={`highest score in the last window ${h.score.at(-1)?.toFixed(2) ?? '–'}`}
            />
          )}
        </Panel>
      )}
    </>
  )
}
