/** Anomalies as people read them: what, where, how far from normal, since when, and why. */
import type { ChartMark } from '../components/chart.js'
import { Badge, Empty } from '../components/ui.js'
import { fmtSince, fmtClientFeature, fmtMetric, keyLabel, METRIC_NAMES } from '../lib/format.js'
import { href } from '../lib/router.js'
import type { Anomaly } from '../lib/types.js'

/**
 * Anomalies as chart marks, labelled with the metric's name as the list below the chart names it
 * ("throttled share", not `limitedRatio`). `withWhere`: a chart of several series (the Overview's)
 * also names the series, or two anomalies on one metric read as the same label twice.
 */
export function anomalyMarks(anomalies: readonly Anomaly[], now: number, withWhere = false): ChartMark[] {
  return anomalies.map((a) => {
    const metric = METRIC_NAMES[a.metric] ?? a.metric
    return {
      from: a.openedAtMs / 1000,
      to: (a.resolvedAtMs ?? now) / 1000,
      label: withWhere ? `${metric}, ${where(a)}` : metric,
      metric: a.metric,
    }
  })
}

/**
 * The anomaly metrics each chart draws; the Overview and a series page have one chart of each, so
 * every metric is marked on one of them. A chart marks only anomalies of what it plots (a p50
 * anomaly on a traffic chart reads as a traffic problem); a joint anomaly is of rate, errors and
 * latency together, so every one of them shows it. A client that stands out (a scraper, a key
 * hammering past its limit) is marked on the traffic chart, whose requests it sends.
 */
export const CHART_METRICS = {
  traffic: ['rate', 'joint', 'client'],
  latency: ['p50', 'p95', 'p99', 'joint'],
  errors: ['errors', 'limitedRatio', 'joint'],
} as const

/** The marks of the anomalies on `metrics` (the ones a chart plots). */
export function marksOn(marks: readonly ChartMark[], metrics: readonly string[]): ChartMark[] {
  return marks.filter((m) => m.metric !== undefined && metrics.includes(m.metric))
}

function where(a: Anomaly): string {
  return a.level === 'client' ? `client ${a.key.slice('client:'.length)}` : keyLabel(a.key)
}

/** Anomalies of one metric opened this close together are taken for one incident's. */
const SAME_INCIDENT_MS = 5 * 60_000

/**
 * Open anomalies of one metric nested under the broadest one open that opened close to them: a
 * route's under its service's, a service's (or a route's) under all services'. One incident slows
 * a route, its service and all services at once, and listing each of them buries the next
 * incident. Returns every head with the anomalies it stands for (none for most).
 */
export function nestAnomalies(list: readonly Anomaly[]): Map<Anomaly, Anomaly[]> {
  const open = list.filter((a) => a.state !== 'resolved')
  const above = (a: Anomaly, level: 'service' | 'global'): Anomaly | undefined =>
    open.find(
      (b) =>
        b.level === level &&
        b.metric === a.metric &&
        Math.abs(b.openedAtMs - a.openedAtMs) <= SAME_INCIDENT_MS &&
        (level === 'global' || (b.series.service === a.series.service && b.series.env === a.series.env)),
    )
  const headOf = (a: Anomaly): Anomaly => {
    if (a.state === 'resolved' || (a.level !== 'route' && a.level !== 'service')) return a
    const service = a.level === 'route' ? above(a, 'service') : undefined
    return (
      (service !== undefined ? above(service, 'global') : undefined) ?? above(a, 'global') ?? service ?? a
    )
  }
  const heads = new Map<Anomaly, Anomaly[]>()
  for (const a of list) {
    const head = headOf(a)
    const nested = heads.get(head) ?? []
    heads.set(head, nested)
    if (head !== a) nested.push(a)
  }
  return heads
}

export function AnomalyList(props: {
  anomalies: readonly Anomaly[]
  now: number
  empty: string
  limit?: number
  /** one row per incident: the anomalies of a metric on a route and its service under all services' */
  nest?: boolean
}) {
  const heads = props.nest === true ? nestAnomalies(props.anomalies) : null
  const list = [...(heads?.keys() ?? props.anomalies)]
    .sort((a, b) => b.openedAtMs - a.openedAtMs)
    .slice(0, props.limit ?? 20)
  if (list.length === 0) return <Empty>{props.empty}</Empty>
  return (
    <ul class="feed anomalies" aria-label="Anomalies">
      {list.map((a) => {
        const also = heads?.get(a) ?? []
        const score = Math.max(a.score, ...also.map((b) => b.score))
        const tone = a.state === 'resolved' ? 'muted' : score >= 0.9 ? 'bad' : 'warn'
        const label = a.state === 'resolved' ? 'resolved' : score >= 0.9 ? 'critical' : 'warning'
        const top = a.children.slice(0, 3)
        return (
          <li key={a.id} style={{ gridTemplateColumns: '90px 1fr' }}>
            <span>
              <Badge tone={tone}>{label}</Badge>
            </span>
            <div>
              <div>
                <strong>{METRIC_NAMES[a.metric] ?? a.metric}</strong> on{' '}
                {a.level === 'client' ? where(a) : <a href={href('series', a.key)}>{where(a)}</a>}
              </div>
              {a.metric !== 'joint' && a.metric !== 'client' && (
                <div class="small">
                  observed <strong>{fmtMetric(a.metric, a.observed)}</strong>
                  {a.sustained !== undefined &&
                    a.sustained.windows > 1 &&
                    ` over the last ${a.sustained.windows} windows`}
                  , expected {fmtMetric(a.metric, a.expected)} (normal band{' '}
                  {fmtMetric(a.metric, Math.max(0, a.low))} –{' '}
                  {fmtMetric(a.metric, /Ratio$/.test(a.metric) ? Math.min(1, a.high) : a.high)})
                </div>
              )}
              {top.length > 0 && (
                <div class="small muted">
                  {a.level === 'client' ? 'stands out in: ' : 'mostly from: '}
                  {top
                    .map((c) =>
                      a.level === 'client'
                        ? fmtClientFeature(c.key, c.observed, c.expected)
                        : `${keyLabel(c.key)} (${Math.round(c.share * 100)}%)`,
                    )
                    .join(' · ')}
                </div>
              )}
              {also.length > 0 && (
                <div class="small">
                  also on:{' '}
                  {also
                    .sort((x, y) => y.score - x.score)
                    .map((b, i) => (
                      <span key={b.id}>
                        {i > 0 && ' · '}
                        <a href={href('series', b.key)}>{where(b)}</a>
                        {b.score >= 0.9 && ' (critical)'}
                      </span>
                    ))}
                </div>
              )}
              <div class="small muted">
                {a.state === 'resolved'
                  ? `from ${fmtSince(a.openedAtMs, props.now)}, resolved ${fmtSince(a.resolvedAtMs, props.now)}${a.resolution !== undefined ? `: ${a.resolution}` : ''}`
                  : `since ${fmtSince(a.openedAtMs, props.now)}`}{' '}
                · score {a.score.toFixed(2)} · strongest evidence: {a.detector}
              </div>
            </div>
          </li>
        )
      })}
    </ul>
  )
}
