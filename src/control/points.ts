/**
 * @module From stored points (counters + merged sketch) to what people and detectors read: rates,
 * error ratios and latency quantiles, optionally resampled to a coarser step by exact merging.
 */
import { decodeSketch, mergePoints, quantile, type StoredPoint } from '../store/internal.js'
import { sentCount, upstream5xx } from '../telemetry/types.js'

/** One point of one series, ready for the API, the dashboard and the detectors. */
export interface SeriesPoint {
  startMs: number
  durationMs: number
  count: number
  ratePerSec: number
  /** 5xx responses / requests (0 when no requests): what the clients saw, the gateway's own 503s included */
  errorRatio: number
  /**
   * the upstream's 5xx / the requests sent upstream (0 when none were sent): the service's own
   * error ratio, without the answers the gateway made itself (a 503 with no healthy target or
   * every breaker open). What the detectors, the error-ratio alert rule and failure forecasts judge.
   */
  upstreamErrorRatio: number
  /** 429 responses / requests */
  limitedRatio: number
  /** requests the gateway answered by itself, never sent upstream (429, 401, 413, 503 with no target, …) */
  refused: number
  /** of `refused`, the 5xx answers */
  refused5xx: number
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
  const sent = sentCount(p)
  return {
    startMs: p.startMs,
    durationMs: p.durationMs,
    count: n,
    ratePerSec: p.durationMs > 0 ? n / (p.durationMs / 1000) : 0,
    errorRatio: n > 0 ? p.statusClass[4] / n : 0,
    upstreamErrorRatio: sent > 0 ? Math.min(1, upstream5xx(p) / sent) : 0,
    limitedRatio: n > 0 ? p.limited / n : 0,
    refused: p.refused,
    refused5xx: p.refused5xx,
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
