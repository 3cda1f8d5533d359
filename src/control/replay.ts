/**
 * @module Replay of stored history: every series' merged windows in the order the live control
 * plane judged them, each with what the live hooks saw beside it (the anomalies open on the
 * series, from the stored `anomaly.opened` / `anomaly.resolved` events; the newest stored
 * forecast fitted on earlier windows; optionally the detector bank's bands, re-run over the
 * replayed windows). Alert rules replay through it (`vigil simulate alerts`); any policy that
 * judges windows can too:
 *
 * @example
 * for await (const w of replayWindows(store, { fromMs, toMs, windowMs: 10_000 }))
 *   policy.judge(w.series, w.point, w.anomalies, w.forecast)
 *
 * Order: by window start, then route level, `{service, env}` level, global (the order the store
 * derives a window's points in, which the live hooks receive), then key. Per series this is the
 * live order exactly; anomaly events apply as they did live: one opened at a window start is
 * open when that window is judged, one resolved at a window end is gone when it is judged.
 */
import type { DetectConfig } from '../config/control-live-schema.js'
import type { Store, StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { ANOMALY_OPENED, ANOMALY_RESOLVED, LiveAnomalies, type AnomalyRecord } from './anomalies.js'
import { FORECAST_EVENT, type StoredForecast } from './forecasts.js'
import { toSeriesPoint, type SeriesPoint } from './points.js'
import { formatSeriesKey, seriesLevel } from './series-key.js'

export type Level = 'route' | 'service' | 'global'

export interface ReplayWindow {
  series: SeriesKey
  key: string
  level: Level
  point: SeriesPoint
  /** anomalies open on this series when the live plane judged this window */
  anomalies: AnomalyRecord[]
  /** the newest stored forecast of this series fitted on windows before this one */
  forecast: StoredForecast | null
  /** the detector bank's expected value and band per metric (when `detect` is given) */
  expected: Readonly<Record<string, { expected: number; low: number; high: number }>> | null
}

export interface ReplayOptions {
  /** window starts in [fromMs, toMs) */
  fromMs: number
  toMs: number
  /** the telemetry window of the stored data */
  windowMs: number
  /** only series of these levels (default all) */
  levels?: ReadonlySet<Level>
  /** only series for which this is true */
  filter?: (series: SeriesKey, level: Level) => boolean
  /** windows are read this much at a time; default 1 hour */
  chunkMs?: number
  /** anomalies opened this long before `fromMs` may still be open at it; default 1 day */
  lookbackMs?: number
  /** re-run the detector bank over the replayed windows (adaptive latency bands); default off */
  detect?: DetectConfig
}

const LEVEL_ORDER: Record<Level, number> = { route: 0, service: 1, global: 2 }
const MAX_EVENTS = 1_000_000

/** Stored events of one kind in [fromMs, toMs), oldest first. */
async function eventsOf(store: Store, kind: string, fromMs: number, toMs: number): Promise<StoredEvent[]> {
  return (await store.queryEvents({ kind, fromMs, toMs, limit: MAX_EVENTS })).reverse()
}

/** The windows of [fromMs, toMs) in live order, with what the live hooks saw beside each. */
export async function* replayWindows(store: Store, opts: ReplayOptions): AsyncGenerator<ReplayWindow> {
  const chunk = opts.chunkMs ?? 3_600_000
  const lookback = opts.lookbackMs ?? 86_400_000
  const series = (await store.listSeries())
    .map((s) => ({ series: s.series, key: formatSeriesKey(s.series), level: seriesLevel(s.series) }))
    .filter(
      (s) =>
        (opts.levels === undefined || opts.levels.has(s.level)) &&
        (opts.filter === undefined || opts.filter(s.series, s.level)),
    )
  const end = opts.toMs + opts.windowMs
  const opened = (await eventsOf(store, ANOMALY_OPENED, opts.fromMs - lookback, end)).map(
    (e) => e.payload as AnomalyRecord,
  )
  opened.sort((a, b) => a.openedAtMs - b.openedAtMs)
  const resolved = (await eventsOf(store, ANOMALY_RESOLVED, opts.fromMs - lookback, end + opts.windowMs)).map(
    (e) => e.payload as { id: string; resolvedAtMs: number },
  )
  resolved.sort((a, b) => a.resolvedAtMs - b.resolvedAtMs)
  const forecasts = (await eventsOf(store, FORECAST_EVENT, opts.fromMs - lookback, end)).map((e) => ({
    key: e.subject,
    f: e.payload as StoredForecast,
  }))
  forecasts.sort((a, b) => a.f.lastPointMs - b.f.lastPointMs)

  const open = new Map<string, AnomalyRecord>()
  const latest = new Map<string, StoredForecast>()
  let oi = 0
  let ri = 0
  let fi = 0
  const bank =
    opts.detect !== undefined
      ? new LiveAnomalies({
          stepMs: opts.windowMs,
          maxSeries: opts.detect.maxSeries,
          historySize: opts.detect.historySize,
          raiseAt: opts.detect.raiseAt,
          clearAt: opts.detect.clearAt,
          clearAfter: opts.detect.clearAfter,
          minEvents: opts.detect.minEvents,
          acceptAfter: opts.detect.acceptAfter,
        })
      : null

  for (let from = opts.fromMs; from < opts.toMs; from += chunk) {
    const to = Math.min(opts.toMs, from + chunk)
    const points: { s: (typeof series)[number]; p: SeriesPoint }[] = []
    for (const s of series)
      for (const p of await store.queryPoints(s.series, from, to, 'window'))
        points.push({ s, p: toSeriesPoint(p) })
    points.sort(
      (a, b) =>
        a.p.startMs - b.p.startMs ||
        LEVEL_ORDER[a.s.level] - LEVEL_ORDER[b.s.level] ||
        (a.s.key < b.s.key ? -1 : a.s.key > b.s.key ? 1 : 0),
    )
    for (const { s, p } of points) {
      const winEnd = p.startMs + p.durationMs
      while (oi < opened.length && opened[oi].openedAtMs <= p.startMs) {
        const r = opened[oi++]
        open.set(r.id, r)
      }
      while (ri < resolved.length && resolved[ri].resolvedAtMs <= winEnd) open.delete(resolved[ri++].id)
      while (fi < forecasts.length && forecasts[fi].f.lastPointMs < p.startMs) {
        latest.set(forecasts[fi].key, forecasts[fi].f)
        fi++
      }
      bank?.hook(s.series, p, { correction: false })
      const anomalies: AnomalyRecord[] = []
      for (const r of open.values()) if (r.key === s.key) anomalies.push(r)
      yield {
        series: s.series,
        key: s.key,
        level: s.level,
        point: p,
        anomalies,
        forecast: latest.get(s.key) ?? null,
        expected: bank?.explained(s.key) ?? null,
      }
    }
  }
}
