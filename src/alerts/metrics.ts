/**
 * @module Alerting's Prometheus metrics on the shared registry, read when scraped from whoever
 * runs the alert engine: the engine itself (`vigil control`), or the control-plane worker over
 * its message port (embedded mode), so the numbers are the engine's own, not a copy.
 *
 * - `vigil_alerts{state}`: alerts pending, firing, resolved (kept) now
 * - `vigil_alert_notifications_total{sink, outcome}`: notifications delivered, failed, dropped
 * - `vigil_alert_sink_retries_total{sink}`, `vigil_alert_sink_queue{sink}`
 * - `vigil_alert_notifications_undelivered{sink}`: notifications held after the retries were spent,
 *   sent again when the sink answers
 */
import { Counter, Gauge } from 'prom-client'
import { registry } from '../metrics.js'

export interface AlertMetricsSnapshot {
  states: { pending: number; firing: number; resolved: number }
  sinks: {
    sink: string
    delivered: number
    failed: number
    dropped: number
    retries: number
    queued: number
    /** held after the retries were spent (absent: none) */
    undelivered?: number
  }[]
}

let provider: (() => Promise<AlertMetricsSnapshot | null>) | null = null
let last: Promise<AlertMetricsSnapshot | null> | null = null

/** One read per scrape, shared by the metrics below. */
function snapshot(): Promise<AlertMetricsSnapshot | null> {
  if (last === null) {
    last = (provider?.() ?? Promise.resolve(null)).catch(() => null)
    setTimeout(() => (last = null), 100).unref()
  }
  return last
}

const states = new Gauge({
  name: 'vigil_alerts',
  help: 'Alerts by state (pending, firing, resolved and still kept)',
  labelNames: ['state'],
  registers: [registry],
  async collect() {
    const s = await snapshot()
    if (s === null) return
    for (const [state, n] of Object.entries(s.states)) this.set({ state }, n)
  },
})

const notifications = new Counter({
  name: 'vigil_alert_notifications_total',
  help: 'Alert notifications per sink by outcome: delivered, failed (after retries, or refused with a 4xx), dropped (queue full)',
  labelNames: ['sink', 'outcome'],
  registers: [registry],
  async collect() {
    const s = await snapshot()
    if (s === null) return
    this.reset()
    for (const k of s.sinks) {
      this.inc({ sink: k.sink, outcome: 'delivered' }, k.delivered)
      this.inc({ sink: k.sink, outcome: 'failed' }, k.failed)
      this.inc({ sink: k.sink, outcome: 'dropped' }, k.dropped)
    }
  },
})

const retries = new Counter({
  name: 'vigil_alert_sink_retries_total',
  help: 'Notification sends retried after a failure, per sink',
  labelNames: ['sink'],
  registers: [registry],
  async collect() {
    const s = await snapshot()
    if (s === null) return
    this.reset()
    for (const k of s.sinks) this.inc({ sink: k.sink }, k.retries)
  },
})

/** A gauge of one number per sink, read from the engine at each scrape. */
function sinkGauge(name: string, help: string, value: (k: AlertMetricsSnapshot['sinks'][number]) => number) {
  return new Gauge({
    name,
    help,
    labelNames: ['sink'],
    registers: [registry],
    async collect() {
      const s = await snapshot()
      if (s === null) return
      for (const k of s.sinks) this.set({ sink: k.sink }, value(k))
    },
  })
}

const queued = sinkGauge('vigil_alert_sink_queue', 'Notifications waiting per sink', (k) => k.queued)

const undelivered = sinkGauge(
  'vigil_alert_notifications_undelivered',
  'Alert notifications a sink has not taken after the retries were spent, held and sent again when it answers (kept up to 24 h)',
  (k) => k.undelivered ?? 0,
)

/** Points the alert metrics at the running engine (or the worker that runs it); null detaches. */
export function setAlertMetricsProvider(p: (() => Promise<AlertMetricsSnapshot | null>) | null): void {
  provider = p
  last = null
  if (p === null) for (const m of [states, notifications, retries, queued, undelivered]) m.reset()
}
