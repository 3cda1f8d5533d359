/** @module Row ↔ record mapping shared by the SQL adapters (column names are the same in both). */
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import type {
  ActionQuery,
  ActionRecord,
  AuditQuery,
  StoredAuditEvent,
  PointCounters,
  StoredAlertAck,
  StoredEvent,
  StoredPoint,
  StoredSilence,
} from './store.js'

export const COUNTER_COLUMNS =
  'count, s1xx, s2xx, s3xx, s4xx, s5xx, limited, refused, refused_5xx, timeouts, connect_errors, bytes_in, bytes_out, sketch'

/** How many columns COUNTER_COLUMNS names. */
export const COUNTER_WIDTH = COUNTER_COLUMNS.split(', ').length

/** The SET list of an upsert that replaces every counter column. */
export const UPDATE_COUNTERS = COUNTER_COLUMNS.split(', ')
  .map((c) => `${c}=excluded.${c}`)
  .join(', ')

/** Column values in COUNTER_COLUMNS order; the sketch as a Buffer over the same bytes (both drivers bind it). */
export function counterValues(p: PointCounters): unknown[] {
  const sk = p.latencySketch
  return [
    p.count,
    ...p.statusClass,
    p.limited,
    p.refused,
    p.refused5xx,
    p.timeouts,
    p.connectErrors,
    p.bytesIn,
    p.bytesOut,
    Buffer.from(sk.buffer, sk.byteOffset, sk.byteLength),
  ]
}

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
  refused: number | string
  refused_5xx: number | string
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
    refused: Number(r.refused),
    refused5xx: Number(r.refused_5xx),
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

const json = (v: unknown): unknown => (typeof v === 'string' ? JSON.parse(v) : v)

export const ACTION_COLUMNS =
  'id, at_ms, kind, policy, mode, target, before, after, reason, evidence, result, fencing_token'

export interface ActionRow {
  id: string
  at_ms: number | string
  kind: string
  policy: string
  mode: string
  target: string
  before: unknown
  after: unknown
  reason: string
  evidence: unknown
  result: unknown
  fencing_token: number | string
}

/** Column values in ACTION_COLUMNS order; JSON columns as text (both adapters cast or store it). */
export function actionValues(a: ActionRecord): unknown[] {
  return [
    a.id,
    a.atMs,
    a.kind,
    a.policy,
    a.mode,
    a.target,
    JSON.stringify(a.before ?? null),
    JSON.stringify(a.after ?? null),
    a.reason,
    JSON.stringify(a.evidence ?? null),
    JSON.stringify(a.result),
    a.fencingToken,
  ]
}

export function rowToAction(r: ActionRow): ActionRecord {
  return {
    id: r.id,
    atMs: Number(r.at_ms),
    kind: r.kind,
    policy: r.policy,
    mode: r.mode as ActionRecord['mode'],
    target: r.target,
    before: json(r.before),
    after: json(r.after),
    reason: r.reason,
    evidence: json(r.evidence),
    result: json(r.result) as ActionRecord['result'],
    fencingToken: Number(r.fencing_token),
  }
}

export interface SilenceRow {
  id: string
  matchers: unknown
  starts_ms: number | string
  ends_ms: number | string
  created_by: string
  comment: string
  created_ms: number | string
}

export function rowToSilence(r: SilenceRow): StoredSilence {
  return {
    id: r.id,
    matchers: json(r.matchers) as StoredSilence['matchers'],
    startsAtMs: Number(r.starts_ms),
    endsAtMs: Number(r.ends_ms),
    createdBy: r.created_by,
    comment: r.comment,
    createdAtMs: Number(r.created_ms),
  }
}

export interface AckRow {
  fingerprint: string
  starts_ms: number | string
  by_name: string
  comment: string
  at_ms: number | string
}

export function rowToAck(r: AckRow): StoredAlertAck {
  return {
    fingerprint: r.fingerprint,
    startsAtMs: Number(r.starts_ms),
    by: r.by_name,
    comment: r.comment,
    atMs: Number(r.at_ms),
  }
}

/**
 * The WHERE clause of an action query; `param(n)` writes the n-th placeholder (`?` or `$n`).
 * `args` comes back with the values in order, so the caller can append its LIMIT.
 */
export function actionFilter(
  q: ActionQuery,
  param: (n: number) => string,
): { where: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  const p = (v: unknown) => {
    args.push(v)
    return param(args.length)
  }
  if (q.mode !== undefined) where.push(`mode = ${p(q.mode)}`)
  if (q.policy !== undefined) where.push(`policy = ${p(q.policy)}`)
  if (q.target !== undefined) where.push(`target = ${p(q.target)}`)
  if (q.kind !== undefined) where.push(`kind = ${p(q.kind)}`)
  if (q.fromMs !== undefined) where.push(`at_ms >= ${p(q.fromMs)}`)
  if (q.toMs !== undefined) where.push(`at_ms < ${p(q.toMs)}`)
  if (q.after !== undefined) {
    const at = q.after.atMs
    where.push(`(at_ms < ${p(at)} OR (at_ms = ${p(at)} AND id < ${p(q.after.id)}))`)
  }
  return { where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args }
}

export const AUDIT_COLUMNS = 'id, at_ms, kind, actor, subject, before, after, reason'

export interface AuditRow {
  id: string
  at_ms: number | string
  kind: string
  actor: string
  subject: string
  before: unknown
  after: unknown
  reason: string
}

/** Column values in AUDIT_COLUMNS order; JSON columns as text. */
export function auditValues(e: StoredAuditEvent): unknown[] {
  return [
    e.id,
    e.atMs,
    e.kind,
    e.actor,
    e.subject,
    JSON.stringify(e.before ?? null),
    JSON.stringify(e.after ?? null),
    e.reason,
  ]
}

export function rowToAudit(r: AuditRow): StoredAuditEvent {
  return {
    id: r.id,
    atMs: Number(r.at_ms),
    kind: r.kind,
    actor: r.actor,
    subject: r.subject,
    before: json(r.before),
    after: json(r.after),
    reason: r.reason,
  }
}

/** The WHERE clause of an audit query, as `actionFilter` builds it for actions. */
export function auditFilter(q: AuditQuery, param: (n: number) => string): { where: string; args: unknown[] } {
  const where: string[] = []
  const args: unknown[] = []
  const p = (v: unknown) => {
    args.push(v)
    return param(args.length)
  }
  if (q.actor !== undefined) where.push(`actor = ${p(q.actor)}`)
  if (q.kind !== undefined && q.kind.endsWith('*')) {
    const prefix = q.kind.slice(0, -1)
    where.push(`substr(kind, 1, ${p(prefix.length)}) = ${p(prefix)}`)
  } else if (q.kind !== undefined) where.push(`kind = ${p(q.kind)}`)
  if (q.fromMs !== undefined) where.push(`at_ms >= ${p(q.fromMs)}`)
  if (q.toMs !== undefined) where.push(`at_ms < ${p(q.toMs)}`)
  if (q.after !== undefined) {
    const at = q.after.atMs
    where.push(`(at_ms < ${p(at)} OR (at_ms = ${p(at)} AND id < ${p(q.after.id)}))`)
  }
  return { where: where.length > 0 ? `WHERE ${where.join(' AND ')}` : '', args }
}

/** Tables and the column holding each row's time, for prune. */
export const RETENTION_TABLES = [
  ['raw', 'rollups_raw', 'start_ms', ''],
  ['window', 'series_window', 'start_ms', ''],
  ['minute', 'series_1m', 'start_ms', ''],
  ['hour', 'series_1h', 'start_ms', ''],
  ['spans', 'spans', 'start_ms', ''],
  ['events', 'events', 'at_ms', ''],
  ['graph', 'graph_edges', 'start_ms', ''],
  // Forecast events are written per series per refit (hundreds of thousands a day), far more than
  // the audit events they share the table with, so they get their own, shorter retention.
  ['forecasts', 'events', 'at_ms', " AND kind = 'forecast'"],
  ['actions', 'actions', 'at_ms', ''],
  // admin changes are kept as long as the other events
  ['events', 'audit', 'at_ms', ''],
  // operator data that ended long ago goes with the action log it explains
  ['actions', 'silences', 'ends_ms', ''],
  ['actions', 'alert_acks', 'at_ms', ''],
] as const
