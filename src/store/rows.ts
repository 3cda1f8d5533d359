/** @module Row ↔ record mapping shared by the SQL adapters (column names are the same in both). */
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import type { PointCounters, StoredEvent, StoredPoint } from './store.js'

export const COUNTER_COLUMNS =
  'count, s1xx, s2xx, s3xx, s4xx, s5xx, limited, timeouts, connect_errors, bytes_in, bytes_out, sketch'

export interface CounterRow {
  service: string
  route: string
  env: string
  start_ms: number | string
  duration_ms: number | string
  count: number | string
  s1xx: number | string
  s2xx: number | string
  s3xx: number | string
  s4xx: number | string
  s5xx: number | string
  limited: number | string
  timeouts: number | string
  connect_errors: number | string
  bytes_in: number | string
  bytes_out: number | string
  sketch: Uint8Array
}

export interface RawRow extends CounterRow {
  gateway_id: string
}

export interface PointRow extends CounterRow {
  sources: number | string
}

/** The counter columns both rollup rows and point rows carry (drivers return bigints as strings). */
function counters(r: CounterRow): PointCounters {
  return {
    count: Number(r.count),
    statusClass: [Number(r.s1xx), Number(r.s2xx), Number(r.s3xx), Number(r.s4xx), Number(r.s5xx)],
    limited: Number(r.limited),
    timeouts: Number(r.timeouts),
    connectErrors: Number(r.connect_errors),
    bytesIn: Number(r.bytes_in),
    bytesOut: Number(r.bytes_out),
    latencySketch: new Uint8Array(r.sketch),
  }
}

export function rowToRollup(r: RawRow): Rollup {
  return {
    gatewayId: r.gateway_id,
    series: { service: r.service, route: r.route, env: r.env },
    windowStartMs: Number(r.start_ms),
    windowMs: Number(r.duration_ms),
    ...counters(r),
  }
}

export function rowToPoint(r: PointRow): StoredPoint {
  return {
    series: { service: r.service, route: r.route, env: r.env },
    startMs: Number(r.start_ms),
    durationMs: Number(r.duration_ms),
    sources: Number(r.sources),
    ...counters(r),
  }
}

export interface SpanRow {
  trace_id: string
  span_id: string
  parent_span_id: string | null
  service: string
  env: string
  route: string
  name: string
  kind: number
  start_ms: number
  duration_ms: number
  status_code: number
  http_status: number | null
  request_id: string | null
  source: string
  attributes: string | Record<string, string | number | boolean>
}

export function rowToSpan(r: SpanRow): SpanRecord {
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    service: r.service,
    env: r.env,
    route: r.route,
    name: r.name,
    kind: Number(r.kind),
    startTimeMs: Number(r.start_ms),
    durationMs: Number(r.duration_ms),
    statusCode: Number(r.status_code),
    httpStatus: r.http_status === null ? null : Number(r.http_status),
    requestId: r.request_id,
    source: r.source === 'otlp' ? 'otlp' : 'gateway',
    attributes: typeof r.attributes === 'string' ? JSON.parse(r.attributes) : r.attributes,
  }
}

export interface EventRow {
  id: number | string
  at_ms: number | string
  kind: string
  actor: string
  subject: string
  payload: unknown
}

export function rowToEvent(r: EventRow): StoredEvent {
  return {
    id: Number(r.id),
    atMs: Number(r.at_ms),
    kind: r.kind,
    actor: r.actor,
    subject: r.subject,
    payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
  }
}

/** Tables and the column holding each row's time, for prune. */
export const RETENTION_TABLES = [
  ['raw', 'rollups_raw', 'start_ms', ''],
  ['window', 'series_window', 'start_ms', ''],
  ['minute', 'series_1m', 'start_ms', ''],
  ['hour', 'series_1h', 'start_ms', ''],
  ['spans', 'spans', 'start_ms', ''],
  ['events', 'events', 'at_ms', ''],
  // Forecast events are written per series per refit (hundreds of thousands a day), far more than
  // the audit events they share the table with, so they get their own, shorter retention.
  ['forecasts', 'events', 'at_ms', " AND kind = 'forecast'"],
] as const
