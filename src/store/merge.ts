/**
 * @module Exact merging of rollups into points, shared by both store adapters so they derive the
 * same numbers. Counters are summed; sketches are merged (see sketch.ts).
 */
import type { Rollup } from '../telemetry/types.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { decodeSketch, emptySketch, encodeSketch, mergeInto } from './sketch.js'
import { ALL, type PointCounters, type StoredPoint } from './store.js'

/** Series identity as a map key; parts are joined by NUL, which no config value contains. */
export function seriesId(s: SeriesKey): string {
  return `${s.service}\u0000${s.route}\u0000${s.env}`
}

export function rawId(r: Rollup): string {
  return `${r.gatewayId}\u0000${seriesId(r.series)}\u0000${r.windowStartMs}`
}

export function serviceKey(s: SeriesKey): SeriesKey {
  return { service: s.service, route: ALL, env: s.env }
}

export const GLOBAL_KEY: SeriesKey = Object.freeze({ service: ALL, route: ALL, env: ALL })

/** The merge of counter-and-sketch records into one point of `series` starting at `startMs`. */
export function mergePoints(
  series: SeriesKey,
  startMs: number,
  durationMs: number,
  parts: readonly (PointCounters & Pick<StoredPoint, 'sources'>)[],
): StoredPoint {
  const sc: [number, number, number, number, number] = [0, 0, 0, 0, 0]
  let sources = 0
  let count = 0
  let limited = 0
  let refused = 0
  let refused5xx = 0
  let timeouts = 0
  let connectErrors = 0
  let bytesIn = 0
  let bytesOut = 0
  const sketch = emptySketch()
  for (const p of parts) {
    sources += p.sources
    count += p.count
    for (let i = 0; i < 5; i++) sc[i] += p.statusClass[i]
    limited += p.limited
    refused += p.refused
    refused5xx += p.refused5xx
    timeouts += p.timeouts
    connectErrors += p.connectErrors
    bytesIn += p.bytesIn
    bytesOut += p.bytesOut
    if (p.latencySketch.byteLength > 0) mergeInto(sketch, decodeSketch(p.latencySketch))
  }
  return {
    series,
    startMs,
    durationMs,
    sources,
    count,
    statusClass: sc,
    limited,
    refused,
    refused5xx,
    timeouts,
    connectErrors,
    bytesIn,
    bytesOut,
    latencySketch: encodeSketch(sketch),
  }
}

/** A raw rollup seen as a one-source point. */
export function rollupAsPart(r: Rollup): StoredPoint {
  return {
    series: r.series,
    startMs: r.windowStartMs,
    durationMs: r.windowMs,
    sources: 1,
    count: r.count,
    statusClass: r.statusClass,
    limited: r.limited,
    refused: r.refused,
    refused5xx: r.refused5xx,
    timeouts: r.timeouts,
    connectErrors: r.connectErrors,
    bytesIn: r.bytesIn,
    bytesOut: r.bytesOut,
    latencySketch: r.latencySketch,
  }
}

/** Drops earlier duplicates of the same rollup identity within one batch (the last one wins). */
export function dedupeRollups(rollups: readonly Rollup[]): Rollup[] {
  const byId = new Map<string, Rollup>()
  for (const r of rollups) byId.set(rawId(r), r)
  return [...byId.values()]
}

/** Groups items by a string key, keeping insertion order. */
export function groupBy<T>(items: Iterable<T>, key: (t: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>()
  for (const it of items) {
    const k = key(it)
    const list = out.get(k)
    if (list === undefined) out.set(k, [it])
    else list.push(it)
  }
  return out
}

export const MINUTE_MS = 60_000
export const HOUR_MS = 3_600_000

/** What `deriveWindow` needs to know about rows already stored, read before writing the batch. */
export interface ExistingRows {
  /** stored raw rollups of the batch's (series, window) pairs */
  raw: readonly Rollup[]
  /** stored route-level points of the batch's ({service, env}, window) pairs */
  routeLevel: readonly StoredPoint[]
  /** stored service-level points of the batch's windows */
  serviceLevel: readonly StoredPoint[]
}

/** The keys a batch touches, so adapters can read exactly the rows `deriveWindow` needs. */
export interface Touched {
  routeKeys: { series: SeriesKey; startMs: number }[]
  serviceKeys: { series: SeriesKey; startMs: number }[]
  windows: number[]
}

export function touched(batch: readonly Rollup[]): Touched {
  const route = new Map<string, { series: SeriesKey; startMs: number }>()
  const service = new Map<string, { series: SeriesKey; startMs: number }>()
  const windows = new Set<number>()
  for (const r of batch) {
    route.set(`${seriesId(r.series)}\u0000${r.windowStartMs}`, { series: r.series, startMs: r.windowStartMs })
    const sk = serviceKey(r.series)
    service.set(`${seriesId(sk)}\u0000${r.windowStartMs}`, { series: sk, startMs: r.windowStartMs })
    windows.add(r.windowStartMs)
  }
  return { routeKeys: [...route.values()], serviceKeys: [...service.values()], windows: [...windows] }
}

/**
 * Derives, exactly, every merged point a batch of (deduplicated) rollups changes: route level from
 * the raw rollups of each (series, window), then `{service, env}` from route-level points, then
 * global from service-level points. Stored rows that the batch replaces are ignored, so a replay
 * of the same batch gives identical points.
 */
export function deriveWindow(batch: readonly Rollup[], existing: ExistingRows): StoredPoint[] {
  const batchIds = new Set(batch.map(rawId))
  const windowMs = new Map<number, number>()
  for (const r of batch) windowMs.set(r.windowStartMs, r.windowMs)
  const at = (p: { series: SeriesKey; startMs: number }) => `${seriesId(p.series)}\u0000${p.startMs}`

  const rawParts = groupBy(
    [...batch.map(rollupAsPart), ...existing.raw.filter((r) => !batchIds.has(rawId(r))).map(rollupAsPart)],
    at,
  )
  const routePoints: StoredPoint[] = []
  for (const parts of rawParts.values()) {
    const p = parts[0]
    routePoints.push(mergePoints(p.series, p.startMs, windowMs.get(p.startMs) ?? p.durationMs, parts))
  }
  const fresh = new Set(routePoints.map(at))
  const routeByService = groupBy(
    [...routePoints, ...existing.routeLevel.filter((p) => !fresh.has(at(p)))],
    (p) => at({ series: serviceKey(p.series), startMs: p.startMs }),
  )
  const servicePoints: StoredPoint[] = []
  for (const parts of routeByService.values()) {
    const p = parts[0]
    servicePoints.push(
      mergePoints(serviceKey(p.series), p.startMs, windowMs.get(p.startMs) ?? p.durationMs, parts),
    )
  }
  const freshService = new Set(servicePoints.map(at))
  const byWindow = groupBy(
    [...servicePoints, ...existing.serviceLevel.filter((p) => !freshService.has(at(p)))],
    (p) => String(p.startMs),
  )
  const globalPoints: StoredPoint[] = []
  for (const parts of byWindow.values()) {
    const p = parts[0]
    globalPoints.push(mergePoints(GLOBAL_KEY, p.startMs, windowMs.get(p.startMs) ?? p.durationMs, parts))
  }
  return [...routePoints, ...servicePoints, ...globalPoints]
}
