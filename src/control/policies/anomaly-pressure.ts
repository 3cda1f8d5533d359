/**
 * @module Anomaly pressure: an open traffic or error anomaly on a service (or one of its routes)
 * turns defensive mode on for that service, with an expiry renewed while the anomaly stays open.
 * It goes off once no such anomaly has been open for `holdMs` and it has been on for `holdMs`.
 * A rate anomaly counts only when the rate is above its band: a traffic drop needs no defence.
 */
import type { AnomalyPressureConfig } from '../../config/policies-schema.js'
import type { AnomalyRecord } from '../anomalies.js'
import { fmtAnomalyValue, metricName } from '../../format.js'
import { formatMs } from './forecast-pressure.js'
import type { Desired, LimitPolicy, PolicyMode, PolicySignal } from './policy.js'

interface ServiceState {
  on: boolean
  onSinceMs: number
  lastOpenMs: number
}

const round = (x: number) => Math.round(x * 1000) / 1000

/** One line per anomaly: what stood out, where, against what. */
export function describeAnomaly(a: AnomalyRecord): string {
  return `${metricName(a.metric)} anomaly on ${a.key}: ${fmtAnomalyValue(a)}, score ${round(a.score)}, ${a.detector}`
}

export function anomalyEvidence(a: AnomalyRecord): Record<string, unknown> {
  return {
    id: a.id,
    key: a.key,
    metric: a.metric,
    openedAtMs: a.openedAtMs,
    observed: a.observed,
    expected: a.expected,
    low: a.low,
    high: a.high,
    score: a.score,
    detector: a.detector,
    // a sustained count anomaly's values are over this many windows
    ...(a.sustained !== undefined ? { windows: a.sustained.windows } : {}),
  }
}

export class AnomalyPressure implements LimitPolicy {
  readonly name = 'anomaly-pressure'
  readonly mode: PolicyMode
  readonly ttlMs: number
  readonly #cfg: AnomalyPressureConfig
  readonly #metrics: ReadonlySet<string>
  readonly #services: ReadonlySet<string> | null
  readonly #open = new Map<string, AnomalyRecord>()
  readonly #state = new Map<string, ServiceState>()

  constructor(cfg: AnomalyPressureConfig) {
    this.#cfg = cfg
    this.mode = cfg.mode
    this.ttlMs = cfg.ttlMs
    this.#metrics = new Set(cfg.metrics)
    this.#services = cfg.services === undefined ? null : new Set(cfg.services)
  }

  #relevant(a: AnomalyRecord): boolean {
    if (a.level !== 'route' && a.level !== 'service') return false
    if (a.series.service === '*') return false
    if (this.#services !== null && !this.#services.has(a.series.service)) return false
    if (!this.#metrics.has(a.metric)) return false
    return a.metric !== 'rate' || a.observed > a.expected
  }

  observe(signal: PolicySignal, nowMs: number): void {
    if (signal.kind === 'anomaly.opened') {
      if (this.#relevant(signal.anomaly)) this.#open.set(signal.anomaly.id, signal.anomaly)
    } else if (signal.kind === 'anomaly.resolved') {
      const a = this.#open.get(signal.id)
      if (a === undefined) return
      this.#open.delete(signal.id)
      // the hold runs from the resolution, not from the last evaluation before it
      const st = this.#state.get(a.series.service)
      if (st !== undefined) st.lastOpenMs = nowMs
    }
  }

  evaluate(nowMs: number): Desired[] {
    const bySvc = new Map<string, AnomalyRecord[]>()
    for (const a of this.#open.values()) {
      const list = bySvc.get(a.series.service)
      if (list === undefined) bySvc.set(a.series.service, [a])
      else list.push(a)
    }
    const out: Desired[] = []
    const hold = this.#cfg.holdMs
    for (const svc of new Set([...bySvc.keys(), ...this.#state.keys()])) {
      const open = (bySvc.get(svc) ?? []).sort((a, b) => b.score - a.score)
      let st = this.#state.get(svc)
      let reason: string
      if (open.length > 0) {
        if (st === undefined || !st.on) {
          st = { on: true, onSinceMs: nowMs, lastOpenMs: nowMs }
          this.#state.set(svc, st)
        }
        st.lastOpenMs = nowMs
        reason = `${describeAnomaly(open[0])}${open.length > 1 ? ` (and ${open.length - 1} more)` : ''}: defensive mode on ${svc}`
      } else {
        st = st!
        if (nowMs - st.lastOpenMs >= hold && nowMs - st.onSinceMs >= hold) {
          st.on = false
          this.#state.delete(svc)
          reason = `no traffic or error anomaly open on ${svc} for ${formatMs(hold)}: defensive mode off`
        } else
          reason = `anomalies on ${svc} resolved; defensive mode held until ${formatMs(hold)} have passed`
      }
      out.push({
        target: `service:${svc}`,
        entries: st.on ? { [`services.${svc}.defensive`]: true } : {},
        state: st.on ? 'defensive' : 'normal',
        reason,
        evidence: { service: svc, anomalies: open.map(anomalyEvidence) },
      })
    }
    return out
  }
}
