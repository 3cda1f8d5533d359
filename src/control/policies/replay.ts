/**
 * @module Replay of adaptive-limit policies over stored history: the `forecast`,
 * `anomaly.opened` and `anomaly.resolved` events the live control plane stored, fed in time
 * order through the same policy code, evaluated at each event and every `stepMs` between, as the
 * live engine does. Every decision is taken as applied (shadow), so the result is what the policy
 * would have done: how often, when, and why. Works on any Store (SQLite, PostgreSQL).
 *
 * Events from `warmupMs` before `fromMs` rebuild the state in force at `fromMs` (a forecast from
 * a minute earlier, an anomaly still open); decisions in the warm-up are not reported, what they
 * left in force is (`inForceAtStart`).
 */
import type { EventQuery, StoredEvent } from '../../store/index.js'
import { ANOMALY_OPENED, ANOMALY_RESOLVED, type AnomalyRecord } from '../anomalies.js'
import { FORECAST_EVENT, type StoredForecast } from '../forecasts.js'
import { parseSeriesKey } from '../series-key.js'
import {
  Reconciler,
  type Entries,
  type LimitPolicy,
  type PolicyDecision,
  type PolicySignal,
} from './policy.js'

export interface TimedSignal {
  atMs: number
  signal: PolicySignal
}

/**
 * When the live control plane learnt of what a window showed: an anomaly is stored at the start of
 * the window that raised it and resolved at the end of the one that cleared it, but the plane
 * judges a window once it has ended and its `graceMs` has passed. Without these (0), signals are
 * taken at their stored times.
 */
export interface SignalTiming {
  windowMs?: number
  graceMs?: number
}

/** A stored event as a policy signal (null for kinds policies do not read). */
export function signalOfEvent(e: StoredEvent, timing: SignalTiming = {}): TimedSignal | null {
  const grace = timing.graceMs ?? 0
  switch (e.kind) {
    case FORECAST_EVENT: {
      const f = e.payload as StoredForecast
      let series
      try {
        series = parseSeriesKey(e.subject)
      } catch {
        return null
      }
      return {
        atMs: e.atMs,
        signal: {
          kind: 'forecast',
          forecast: {
            key: e.subject,
            series,
            fittedAtMs: e.atMs,
            stepMs: f.stepMs,
            model: f.model,
            points: f.points,
          },
        },
      }
    }
    case ANOMALY_OPENED:
      return {
        atMs: e.atMs + (timing.windowMs ?? 0) + grace,
        signal: { kind: 'anomaly.opened', anomaly: e.payload as AnomalyRecord },
      }
    case ANOMALY_RESOLVED: {
      const p = e.payload as { id: string; resolvedAtMs: number }
      return { atMs: (p.resolvedAtMs ?? e.atMs) + grace, signal: { kind: 'anomaly.resolved', id: p.id } }
    }
    default:
      return null
  }
}

/** The part of the Store port a replay reads. */
export interface ReplayStore {
  queryEvents(q?: EventQuery): Promise<StoredEvent[]>
}

const PAGE = 10_000

/** Every event of the policies' kinds stored with atMs in [fromMs, toMs), oldest first. */
export async function loadSignals(
  store: ReplayStore,
  fromMs: number,
  toMs: number,
  timing: SignalTiming = {},
): Promise<TimedSignal[]> {
  const out: TimedSignal[] = []
  for (const kind of [FORECAST_EVENT, ANOMALY_OPENED, ANOMALY_RESOLVED]) {
    const seen = new Set<number>()
    let to = toMs
    for (;;) {
      const page = await store.queryEvents({ kind, fromMs, toMs: to, limit: PAGE })
      let fresh = 0
      for (const e of page) {
        if (e.id !== undefined) {
          if (seen.has(e.id)) continue
          seen.add(e.id)
        }
        fresh++
        const s = signalOfEvent(e, timing)
        if (s !== null) out.push(s)
      }
      if (page.length < PAGE || fresh === 0) break
      // newest first: continue below the oldest of this page (its equals are deduplicated by id)
      to = page[page.length - 1].atMs + 1
    }
  }
  // stable: at one instant, openings before resolutions in the order stored
  return out.sort((a, b) => a.atMs - b.atMs)
}

export interface ReplayOptions {
  fromMs: number
  toMs: number
  /** evaluate this often between events (the live engine's tick); default 10 s */
  stepMs?: number
  /** signals before fromMs that only rebuild state */
  warmupMs?: number
}

export interface ReplayResult {
  policy: string
  fromMs: number
  toMs: number
  /** what the policy had in force when the range began (from the warm-up) */
  inForceAtStart: { target: string; entries: Entries }[]
  decisions: PolicyDecision[]
  /** decisions by action (apply, tighten, relax, renew, release) */
  counts: Record<string, number>
  /** targets it acted on, with how many changes (renewals not counted) */
  targets: Record<string, number>
}

/**
 * Replays `signals` (oldest first, from `fromMs − warmupMs`) through `policy`.
 * @example
 * const signals = await loadSignals(store, from - 3_600_000, to)
 * const r = replayPolicy(new ForecastPressure(cfg.policies.forecastPressure, cfg.limits.services), signals, { fromMs: from, toMs: to })
 */
export function replayPolicy(
  policy: LimitPolicy,
  signals: readonly TimedSignal[],
  opts: ReplayOptions,
): ReplayResult {
  const step = opts.stepMs ?? 10_000
  const rec = new Reconciler(policy)
  const decisions: PolicyDecision[] = []
  let inForceAtStart: { target: string; entries: Entries }[] | null = null
  const evaluate = (now: number) => {
    if (inForceAtStart === null && now >= opts.fromMs) inForceAtStart = rec.inForce()
    for (const d of rec.plan(policy.evaluate(now), now)) {
      rec.confirm(d, now)
      if (now >= opts.fromMs) decisions.push(d)
    }
  }
  const first = signals.length > 0 ? Math.min(signals[0].atMs, opts.fromMs) : opts.fromMs
  let next = first
  let i = 0
  while (next < opts.toMs) {
    while (i < signals.length && signals[i].atMs <= next) {
      const s = signals[i++]
      if (s.atMs >= opts.toMs) break
      policy.observe(s.signal, s.atMs)
      evaluate(s.atMs)
    }
    evaluate(next)
    next += step
  }
  const counts: Record<string, number> = {}
  const targets: Record<string, number> = {}
  for (const d of decisions) {
    counts[d.action] = (counts[d.action] ?? 0) + 1
    if (d.action !== 'renew') targets[d.target] = (targets[d.target] ?? 0) + 1
  }
  return {
    policy: policy.name,
    fromMs: opts.fromMs,
    toMs: opts.toMs,
    inForceAtStart: inForceAtStart ?? [],
    decisions,
    counts,
    targets,
  }
}
