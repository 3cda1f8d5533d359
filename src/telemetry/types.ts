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
  timeouts: number
  connectErrors: number
  bytesIn: number
  bytesOut: number
  /** latency in ms as a serialized DDSketch (relative accuracy 1%) */
  latencySketch: Uint8Array
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
