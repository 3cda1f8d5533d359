/**
 * @module The telemetry records that travel from gateways (and OTLP ingest) over the bus to the
 * control plane and into the store. Shared by telemetry/, bus/, store/ and control/.
 */
import type { SeriesKey } from './recorder.js'

/**
 * One series' counters for one window from one gateway. Identified by
 * (gatewayId, service, route, env, windowStartMs): a redelivered rollup has the same identity,
 * so stores upsert on it and never double count.
 */
export interface Rollup {
  gatewayId: string
  series: SeriesKey
  /** window start, ms since epoch, aligned to windowMs */
  windowStartMs: number
  windowMs: number
  count: number
  /** responses by status class: index 0 = 1xx ... 4 = 5xx */
  statusClass: [number, number, number, number, number]
  /** 429 responses (also counted in 4xx) */
  limited: number
  /**
   * requests the gateway answered by itself without sending them upstream (`sentUpstream` false:
   * a 429 or 401 from the limiter, a 413, a 503 with no healthy target or every breaker open, a
   * client gone before any try), whatever their status; also counted in `count` and `statusClass`
   */
  refused: number
  /** of `refused`, those answered with a 5xx: the gateway's own 503s, not the service's errors */
  refused5xx: number
  timeouts: number
  connectErrors: number
  bytesIn: number
  bytesOut: number
  /** latency in ms as a serialized DDSketch (relative accuracy 1%) */
  latencySketch: Uint8Array
}

/** The counters of a rollup that every record merged from rollups carries (stored and series points). */
export interface RefusalCounts {
  readonly count: number
  /** index 4: 5xx */
  readonly statusClass: readonly number[]
  readonly refused: number
  readonly refused5xx: number
}

/** Requests sent upstream: every request but those the gateway answered by itself. */
export function sentCount(p: RefusalCounts): number {
  return Math.max(0, p.count - p.refused)
}

/** 5xx answers of the upstream: every 5xx but the gateway's own (a 503 with no healthy target). */
export function upstream5xx(p: RefusalCounts): number {
  return Math.max(0, (p.statusClass[4] ?? 0) - p.refused5xx)
}

/** A span kept by the gateway's tail sampler or received over OTLP. */
export interface SpanRecord {
  traceId: string
  spanId: string
  parentSpanId: string | null
  service: string
  env: string
  /** gateway route name, or '' for spans from other services */
  route: string
  name: string
  /** OTLP SpanKind number (0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer) */
  kind: number
  startTimeMs: number
  durationMs: number
  /** OTLP status code: 0 unset, 1 ok, 2 error */
  statusCode: number
  httpStatus: number | null
  requestId: string | null
  source: 'gateway' | 'otlp'
  attributes: Record<string, string | number | boolean>
}
