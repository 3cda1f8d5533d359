/**
 * @module From stored points (counters + merged sketch) to what people and detectors read: rates,
 * error ratios and latency quantiles, optionally resampled to a coarser step by exact merging.
 */
import { decodeSketch, mergePoints, quantile, type StoredPoint } from '../store/internal.js'

/** One point of one series, ready for the API, the dashboard and the detectors. */
export interface SeriesPoint {
  startMs: number
  durationMs: number
  count: number
  ratePerSec: number
  /** 5xx responses / requests (0 when no requests) */
  errorRatio: number
  /** 429 responses / requests */
  limitedRatio: number
  timeouts: number
  connectErrors: number
  statusClass: [number, number, number, number, number]
  bytesIn: number
  bytesOut: number
  /**
   * latency quantiles in ms from the merged sketch (≤1% relative error) of the requests sent to an
   * upstream; null when there were none (no traffic, or every request refused by the gateway)
   */
  p50: number | null
  p95: number | null
  p99: number | null
  /** gateway rollups merged into this point */
  sources: number
}

export function toSeriesPoint(p: StoredPoint): SeriesPoint {
  const s = decodeSketch(p.latencySketch)
  const n = p.count
  return {
    startMs: p.startMs,
    durationMs: p.durationMs,
    count: n,
    ratePerSec: p.durationMs > 0 ? n / (p.durationMs / 1000) : 0,
    errorRatio: n > 0 ? p.statusClass[4] / n : 0,
    limitedRatio: n > 0 ? p.limited / n : 0,
    timeouts: p.timeouts,
    connectErrors: p.connectErrors,
    statusClass: [...p.statusClass],
    bytesIn: p.bytesIn,
    bytesOut: p.bytesOut,
    p50: quantile(s, 0.5),
    p95: quantile(s, 0.95),
    p99: quantile(s, 0.99),
    sources: p.sources,
  }
}

/**
 * Merges points into buckets of `stepMs` aligned to the epoch; a step at or below the points'
 * own duration returns them unchanged. Buckets without data are left out.
 */
export function resample(points: readonly StoredPoint[], stepMs: number): StoredPoint[] {
  if (points.length === 0 || stepMs <= points[0].durationMs) return [...points]
  const buckets = new Map<number, StoredPoint[]>()
  for (const p of points) {
    const b = p.startMs - (p.startMs % stepMs)
    const list = buckets.get(b)
    if (list === undefined) buckets.set(b, [p])
    else list.push(p)
  }
  return [...buckets.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([start, parts]) => mergePoints(parts[0].series, start, stepMs, parts))
}
