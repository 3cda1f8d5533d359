/**
 * @module The sections of the dashboard's live feed, read from whatever this process runs: the
 * gateway (services, limiter) and the control plane (series, anomalies). Each section is compact
 * on purpose: with 1,000 series a tick's delta is one small line per series that closed a window.
 */
import type { Alert } from '../alerts/types.js'
import type { AlertSource } from '../control/alerting.js'
import type { AnomalySource } from '../control/anomalies.js'
import type { SeriesSource, SeriesSummary } from '../control/control-plane.js'
import type { ServiceView } from '../gateway/views.js'
import type { Limiter, MergedClientStats } from '../limits/index.js'
import type { Autoscaler } from '../scale/autoscaler.js'
import { registry } from '../metrics.js'
import type { ActivityLog } from './activity.js'
import { keyed, type LiveSection } from './live.js'

/** The newest closed window of one series, as the live feed sends it. */
export interface LiveSeries {
  key: string
  level: 'route' | 'service' | 'global'
  service: string
  route: string
  env: string
  /** window start (epoch ms) and length */
  t: number
  d: number
  /** requests, request rate (req/s), 5xx ratio, 429 ratio, latency quantiles (ms; null: no requests) */
  n: number
  rate: number
  err: number
  /** the upstream's 5xx ratio over the requests sent to it (without the gateway's own 503s): what the detectors judge */
  uerr: number
  lim: number
  p50: number | null
  p95: number | null
  p99: number | null
}

export function liveSeries(s: SeriesSummary): LiveSeries | null {
  const p = s.last
  if (p === null) return null
  const r3 = (x: number) => Math.round(x * 1000) / 1000
  const ms = (x: number | null) => (x === null ? null : Math.round(x * 10) / 10)
  return {
    key: s.key,
    level: s.level,
    service: s.series.service,
    route: s.series.route,
    env: s.series.env,
    t: p.startMs,
    d: p.durationMs,
    n: p.count,
    rate: r3(p.ratePerSec),
    err: r3(p.errorRatio),
    uerr: r3(p.upstreamErrorRatio),
    lim: r3(p.limitedRatio),
    p50: ms(p.p50),
    p95: ms(p.p95),
    p99: ms(p.p99),
  }
}

/** An active alert as the live feed sends it (the Alerts page reads the whole one from the API). */
export interface LiveAlert {
  /** the alert's fingerprint */
  id: string
  rule: string
  kind: string
  severity: string
  mode: string
  state: string
  /** the series key `service|route|env` */
  series: string
  service: string
  env: string
  summary: string
  activeAtMs: number
  firingAtMs: number | null
  ackBy: string | null
  suppressed: string | null
}

/**
 * The newest window's conclusion; while the newest window could not be judged (too few requests,
 * no baseline) an active alert would read only "0 requests, fewer than minRequests 10", which says
 * nothing of why it is active: the evidence it went active on, then what the newest window shows.
 */
function summaryOf(a: Alert): string {
  if (a.state === 'resolved' || a.latest.active !== null || a.latest === a.evidence) return a.latest.summary
  return `${a.evidence.summary} (newest window not judged: ${a.latest.summary})`
}

export function liveAlert(a: Alert): LiveAlert {
  return {
    id: a.fingerprint,
    rule: a.rule,
    kind: a.kind,
    severity: a.severity,
    mode: a.mode,
    state: a.state,
    series: a.key,
    service: a.series.service,
    env: a.series.env,
    summary: summaryOf(a),
    activeAtMs: a.activeAtMs,
    firingAtMs: a.firingAtMs,
    ackBy: a.ack?.by ?? null,
    suppressed: a.suppressed,
  }
}

/** One scaled service's replica counts as the live feed sends it. */
export interface LiveScaling {
  /** the service */
  id: string
  mode: string
  current: number
  desired: number | null
  ready: number
  min: number
  max: number
  capacityPerReplica: number | null
  /** the newest decision that changed the count: when, which way, why */
  lastChange: { atMs: number; direction: string; reason: string } | null
  lastError: string | null
}

export interface LiveSources {
  services?: () => readonly ServiceView[]
  series?: SeriesSource
  anomalies?: AnomalySource
  limiter?: Limiter
  /**
   * the heaviest clients when this process's limiter decides no request (a control plane): the
   * gateways' last window, merged; null until one closed
   */
  clients?: () => MergedClientStats | null
  activity?: ActivityLog
  alerts?: Pick<AlertSource, 'listAlerts'>
  /** the autoscaler and the services it scales */
  scaling?: { autoscaler: Pick<Autoscaler, 'scaling'>; services: readonly string[] }
  /** the heaviest clients listed; default 20 */
  topClients?: number
  now?: () => number
}

/** Limiter decisions since start by tier, route class and outcome (the counters behind /metrics). */
export async function decisionTotals(): Promise<
  Array<{ tier: string; class: string; outcome: string; total: number }>
> {
  const m = registry.getSingleMetric('vigil_limits_decisions_total')
  if (m === undefined) return []
  const got = await m.get()
  return got.values.map((v) => ({
    tier: String(v.labels.tier ?? ''),
    class: String(v.labels.class ?? ''),
    outcome: String(v.labels.outcome ?? ''),
    total: v.value,
  }))
}

/** Builds the feed's sections from the parts this process has; absent parts give no section. */
export function liveSections(src: LiveSources): Record<string, LiveSection> {
  const now = src.now ?? Date.now
  const sections: Record<string, LiveSection> = {}
  if (src.services !== undefined) {
    const services = src.services
    sections.services = { kind: 'value', read: () => services() }
  }
  if (src.series !== undefined) {
    const series = src.series
    sections.series = keyed<LiveSeries>({
      read: async () => {
        const out: LiveSeries[] = []
        for (const s of await series.listSeries()) {
          const l = liveSeries(s)
          if (l !== null) out.push(l)
        }
        return out
      },
      key: (s) => s.key,
      // a late rollup corrects a window in place: the count changes
      version: (s) => `${s.t}:${s.n}`,
    })
  }
  if (src.anomalies !== undefined) {
    const anomalies = src.anomalies
    sections.anomalies = keyed<{ id: string }>({
      read: () => anomalies.anomalies({ fromMs: now() - 86_400_000, toMs: now(), state: 'open' }),
      key: (a) => a.id,
      version: (a) => a.id,
    })
    if (anomalies.learning !== undefined) {
      const learning = anomalies.learning.bind(anomalies)
      sections.learning = { kind: 'value', read: () => learning() }
    }
  }
  if (src.limiter !== undefined) {
    const limiter = src.limiter
    const top = src.topClients ?? 20
    sections.limits = {
      kind: 'value',
      read: () => ({
        tiers: limiter.tiers(),
        controls: limiter.controls(),
        fallback: limiter.fallbackState(),
      }),
    }
    const merged = src.clients
    sections.clients = {
      kind: 'value',
      read: () => {
        const last = merged !== undefined ? merged() : limiter.clientStats().last
        if (last === null) return null
        return {
          windowStartMs: last.windowStartMs,
          windowMs: last.windowMs,
          ...('gateways' in last ? { gateways: last.gateways } : {}),
          clients: [...last.clients].sort((a, b) => b.requests - a.requests).slice(0, top),
        }
      },
    }
    sections.decisions = { kind: 'value', read: decisionTotals }
  }
  if (src.alerts !== undefined) {
    const alerts = src.alerts
    sections.alerts = keyed<LiveAlert>({
      read: async () => (await alerts.listAlerts({ state: 'active' })).map(liveAlert),
      key: (a) => a.id,
      version: (a) => `${a.state}:${a.ackBy}:${a.suppressed}:${a.summary}`,
    })
  }
  if (src.scaling !== undefined && src.scaling.services.length > 0) {
    const { autoscaler, services } = src.scaling
    sections.scaling = keyed<LiveScaling>({
      read: () =>
        Promise.all(
          services.map(async (name): Promise<LiveScaling> => {
            const s = await autoscaler.scaling(name)
            const change = s.decisions.find((d) => d.direction !== 'hold')
            return {
              id: name,
              mode: s.mode,
              current: s.current,
              desired: s.desired,
              ready: s.replicas.filter((r) => r.ready).length,
              min: s.min,
              max: s.max,
              capacityPerReplica: s.capacityPerReplica,
              lastChange:
                change === undefined
                  ? null
                  : { atMs: change.atMs, direction: change.direction, reason: change.reason },
              lastError: s.lastError,
            }
          }),
        ),
      key: (s) => s.id,
      version: (s) => JSON.stringify(s),
    })
  }
  if (src.activity !== undefined) {
    const activity = src.activity
    sections.activity = keyed<{ id: string }>({
      read: () => activity.recent(50),
      key: (e) => e.id,
      version: (e) => e.id,
    })
  }
  return sections
}
