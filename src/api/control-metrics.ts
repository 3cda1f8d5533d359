/**
 * @module Prometheus metrics of what the control plane concluded: open anomalies, each service's
 * forecast and the autoscaler's replica counts, so a Prometheus/Grafana/Alertmanager stack sees
 * the same findings as the dashboard. They are read from the live sources at scrape time (the
 * control plane may run in a worker thread, or lead in another process), once per scrape, and
 * only where the control plane acts: a standby `vigil control` exports none of them, so summing
 * over every control plane never counts a finding twice.
 *
 * - `vigil_anomalies_open{level, service, route, env, metric}`: anomalies open now
 * - `vigil_forecast_requests_per_second{service, env, bound}`: the next window's forecast rate
 *   (`bound`: forecast, lower, upper)
 * - `vigil_forecast_peak_requests_per_second{service, env}`: the highest upper bound over the horizon
 * - `vigil_forecast_failure_probability{service, env, metric}`: P(error ratio or p95 crosses its
 *   threshold within the horizon)
 * - `vigil_scale_replicas{service}`, `vigil_scale_replicas_desired`, `_min`, `_max`: the autoscaler
 *
 * And what a control plane took over on taking the lead (`vigil control`, recorded as it happens
 * by the process that took over, so sums over control planes count each takeover once):
 *
 * - `vigil_control_inherited_total{consumer, outcome}`: messages a dead leader held unacked
 *   (`consumer`: rollups, clients) that came back to the new one (`outcome="returned"`) or did
 *   not within the ack wait (`"missing"`: they land as late corrections, or not at all)
 * - `vigil_control_inherited_wait_seconds{consumer}`: how long the new leader held its windows
 *   for them, one observation per takeover that inherited any
 */
import { Counter, Gauge, Histogram } from 'prom-client'
import type { AnomalySource } from '../control/anomalies.js'
import type { SeriesSource } from '../control/control-plane.js'
import type { ForecastSource } from '../control/forecasts.js'
import type { InheritedStats } from '../control/held.js'
import { registry } from '../metrics.js'

/** The autoscaler's counts of one service (what `Autoscaler.scaling` answers, in part). */
export interface ReplicaCounts {
  current: number
  desired: number | null
  min: number
  max: number
}

/** Where the findings are read; each part is optional (its section disabled or not here). */
export interface ControlMetricSources {
  series?: SeriesSource
  anomalies?: AnomalySource
  forecasts?: ForecastSource
  scaling?: { services: readonly string[]; scaling(service: string): Promise<ReplicaCounts> }
}

/** Forecasts read per scrape at most: each is a cache hit once the live forecaster fitted it. */
const MAX_FORECAST_SERVICES = 200

interface Snapshot {
  anomalies: { level: string; service: string; route: string; env: string; metric: string }[]
  forecasts: {
    service: string
    env: string
    next: { forecast: number; lower: number; upper: number }
    peak: number
    errorRatio: number | null
    p95: number | null
  }[]
  replicas: ({ service: string } & ReplicaCounts)[]
}

let provider: (() => ControlMetricSources | null) | null = null
let pending: Promise<Snapshot | null> | null = null

const ignore = () => null

async function read(s: ControlMetricSources): Promise<Snapshot> {
  const out: Snapshot = { anomalies: [], forecasts: [], replicas: [] }
  const open = await s.anomalies?.anomalies({ fromMs: 0, toMs: Date.now(), state: 'open' }).catch(ignore)
  for (const a of open ?? []) out.anomalies.push({ level: a.level, ...a.series, metric: a.metric })
  if (s.series !== undefined && s.forecasts !== undefined) {
    const forecasts = s.forecasts
    const services = ((await s.series.listSeries().catch(ignore)) ?? [])
      .filter((x) => x.level === 'service')
      .slice(0, MAX_FORECAST_SERVICES)
    const answers = await Promise.all(services.map((x) => forecasts.forecast(x.key).catch(ignore)))
    answers.forEach((f, i) => {
      if (f === null || f.status !== 'ok' || f.points.length === 0) return
      const { service, env } = services[i].series
      const [first] = f.points
      out.forecasts.push({
        service,
        env,
        next: { forecast: first.forecast, lower: first.lower, upper: first.upper },
        peak: Math.max(...f.points.map((p) => p.upper)),
        errorRatio: f.failure.errorRatio?.probability ?? null,
        p95: f.failure.p95?.probability ?? null,
      })
    })
  }
  if (s.scaling !== undefined) {
    const scaling = s.scaling
    const counts = await Promise.all(scaling.services.map((n) => scaling.scaling(n).catch(ignore)))
    counts.forEach((c, i) => {
      if (c !== null) out.replicas.push({ service: scaling.services[i], ...c })
    })
  }
  return out
}

/** One read per scrape, shared by every metric below. */
function snapshot(): Promise<Snapshot | null> {
  const sources = provider?.() ?? null
  if (sources === null) return Promise.resolve(null)
  pending ??= read(sources).finally(() => setTimeout(() => (pending = null), 100).unref())
  return pending
}

/** A gauge rebuilt from the snapshot at each scrape, so series that went away disappear. */
function gauge<L extends string>(
  name: string,
  help: string,
  labelNames: readonly L[],
  fill: (set: (labels: Record<L, string>, value: number) => void, s: Snapshot) => void,
): Gauge<L> {
  return new Gauge<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    async collect() {
      const s = await snapshot()
      this.reset()
      if (s !== null) fill((labels, value) => this.set(labels, value), s)
    },
  })
}

gauge(
  'vigil_anomalies_open',
  'Anomalies open now, by series and metric (route, service, global and client level)',
  ['level', 'service', 'route', 'env', 'metric'],
  (set, s) => {
    const counts = new Map<string, { labels: Snapshot['anomalies'][number]; n: number }>()
    for (const a of s.anomalies) {
      const id = `${a.level}|${a.service}|${a.route}|${a.env}|${a.metric}`
      const c = counts.get(id) ?? { labels: a, n: 0 }
      c.n++
      counts.set(id, c)
    }
    for (const { labels, n } of counts.values()) set(labels, n)
  },
)
gauge(
  'vigil_forecast_requests_per_second',
  "A service's forecast request rate for the next telemetry window, with its interval (bound: forecast, lower, upper)",
  ['service', 'env', 'bound'],
  (set, s) => {
    for (const f of s.forecasts)
      for (const bound of ['forecast', 'lower', 'upper'] as const)
        set({ service: f.service, env: f.env, bound }, f.next[bound])
  },
)
gauge(
  'vigil_forecast_peak_requests_per_second',
  "The highest upper bound of a service's rate forecast over the forecast horizon (what the autoscaler plans for)",
  ['service', 'env'],
  (set, s) => {
    for (const f of s.forecasts) set({ service: f.service, env: f.env }, f.peak)
  },
)
gauge(
  'vigil_forecast_failure_probability',
  "Probability that a service's error ratio or p95 crosses its threshold within the forecast horizon",
  ['service', 'env', 'metric'],
  (set, s) => {
    for (const f of s.forecasts) {
      if (f.errorRatio !== null) set({ service: f.service, env: f.env, metric: 'errorRatio' }, f.errorRatio)
      if (f.p95 !== null) set({ service: f.service, env: f.env, metric: 'p95' }, f.p95)
    }
  },
)
const replicaGauge = (name: string, help: string, pick: (r: Snapshot['replicas'][number]) => number | null) =>
  gauge(name, help, ['service'], (set, s) => {
    for (const r of s.replicas) {
      const v = pick(r)
      if (v !== null) set({ service: r.service }, v)
    }
  })
replicaGauge(
  'vigil_scale_replicas',
  'Replicas of a service running or starting (the shadow count in shadow mode)',
  (r) => r.current,
)
replicaGauge(
  'vigil_scale_replicas_desired',
  "The autoscaler's newest decision for a service",
  (r) => r.desired,
)
replicaGauge('vigil_scale_replicas_min', 'The fewest replicas the autoscaler keeps (scale.min)', (r) => r.min)
replicaGauge('vigil_scale_replicas_max', 'The most replicas the autoscaler starts (scale.max)', (r) => r.max)

/** Serves the control plane's findings at /metrics from `sources` (null while this process does not act). */
export function exposeControlMetrics(sources: (() => ControlMetricSources | null) | null): void {
  provider = sources
  pending = null
}

type InheritingConsumer = 'rollups' | 'clients'
const INHERITING: readonly InheritingConsumer[] = ['rollups', 'clients']

const inheritedTotal = new Counter<'consumer' | 'outcome'>({
  name: 'vigil_control_inherited_total',
  help: 'Messages a dead leader held unacked that came back to the new leader (outcome=returned) or not within the ack wait (missing)',
  labelNames: ['consumer', 'outcome'],
  registers: [registry],
})
const inheritedWait = new Histogram<'consumer'>({
  name: 'vigil_control_inherited_wait_seconds',
  help: 'How long a new leader held its windows for the messages the dead leader held, per takeover',
  labelNames: ['consumer'],
  // the wait ends a little after the ack wait (10 s by default) at the latest
  buckets: [0.5, 1, 2, 5, 10, 12, 15, 20, 30, 60],
  registers: [registry],
})

/**
 * Exports the takeover metrics at 0 from now on, so the first takeover shows as an increase
 * (a counter that appears at 1 has none); called where a control plane may take the lead.
 */
export function exposeInheritedMetrics(): void {
  for (const consumer of INHERITING) {
    for (const outcome of ['returned', 'missing']) inheritedTotal.inc({ consumer, outcome }, 0)
    inheritedWait.zero({ consumer })
  }
}

/** Records what a consumer took over from a dead predecessor (nothing when it held none). */
export function recordInherited(consumer: InheritingConsumer, x: InheritedStats): void {
  if (x.held <= 0) return
  inheritedTotal.inc({ consumer, outcome: 'returned' }, x.held - x.missing)
  inheritedTotal.inc({ consumer, outcome: 'missing' }, x.missing)
  inheritedWait.observe({ consumer }, x.waitedMs / 1000)
}
