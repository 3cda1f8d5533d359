/**
 * @module Tail sampling of the gateway's own spans. The decision is made when the request has
 * finished (so errors and slow requests are known) and before any span object exists: a request
 * that is not kept costs one comparison and, at most, one random number.
 *
 * Kept: every error (5xx, timeout, connection error, no healthy target), every request the client
 * abandoned (it closed the connection before the answer: 499), every request slower than its
 * series' p99 of the previous window, and `sampleRate` of the rest. An abandoned request is kept
 * so the journeys can tell it from a failure: the services behind see their connection closed
 * (their spans fail without a status) although nobody was answered an error.
 *
 * Each kept span says how likely it was to be kept (`vigil.sample_probability`: 1 for the kinds
 * always kept, `sampleRate` for a drawn one): the journeys weigh a request seen only through this
 * span by the inverse, so the errors that are always kept do not outnumber the successes.
 */
import type { RequestEvent, SeriesKey } from './recorder.js'
import type { SpanRecord } from './types.js'

export type SampleReason = 'error' | 'abandoned' | 'slow' | 'sampled'

/** OTLP SpanKind SERVER: the gateway serves the client's request */
const SPAN_KIND_SERVER = 2
/** OTLP Status codes */
const STATUS_UNSET = 0
const STATUS_ERROR = 2

export function isErrorEvent(ev: RequestEvent): boolean {
  return (
    ev.status >= 500 ||
    ev.outcome === 'timeout' ||
    ev.outcome === 'connect_error' ||
    ev.outcome === 'no_target'
  )
}

/**
 * A uniform number in [0, 1) from a trace id: its last 13 hex digits (52 bits; W3C trace ids end
 * in random bits). The gateway samples a trace when this is below `sampleRate`, and the control
 * plane keeps the OTLP spans of exactly those traces by the same rule, so a sampled trace is kept
 * whole even when its gateway span arrives after the services' spans (or not at all). An id that
 * does not start its last 13 characters with a hex digit gives a hash of its characters instead.
 */
export function traceRatio(traceId: string): number {
  const n = traceId.length
  if (n >= 13) {
    // The gateway's own ids and a validated traceparent's are lower-case hex: read the digits in
    // place (no slice, no parseInt) and fall back to parseInt's reading for anything else.
    let v = 0
    let i = n - 13
    for (; i < n; i++) {
      const c = traceId.charCodeAt(i)
      const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : -1
      if (d < 0) break
      v = v * 16 + d
    }
    if (i === n) return v / 2 ** 52
    const p = Number.parseInt(traceId.slice(-13), 16)
    if (p >= 0) return p / 2 ** 52
  }
  let h = 0x811c9dc5
  for (let i = 0; i < traceId.length; i++) h = Math.imul(h ^ traceId.charCodeAt(i), 0x01000193)
  return (h >>> 0) / 2 ** 32
}

/**
 * Why the span of `ev` is kept, or null when it is not.
 * @param slowMs the series' recent p99 (Infinity when unknown)
 * @param u a uniform random number in [0, 1)
 */
export function sampleReason(
  ev: RequestEvent,
  slowMs: number,
  sampleRate: number,
  u: number,
): SampleReason | null {
  if (isErrorEvent(ev)) return 'error'
  if (ev.outcome === 'client_abort') return 'abandoned'
  if (ev.latencyMs > slowMs) return 'slow'
  return u < sampleRate ? 'sampled' : null
}

/** How likely a request kept for `reason` was to be kept. */
export function keepProbability(reason: SampleReason, sampleRate: number): number {
  return reason === 'sampled' ? sampleRate : 1
}

/**
 * Builds the gateway's span for a finished request. Copies every field: the gateway reuses
 * the event object once `record` returns.
 * @param sampleRate the rate `reason` was drawn at (recorded as the span's keep probability)
 */
export function gatewaySpan(
  key: SeriesKey,
  ev: RequestEvent,
  reason: SampleReason,
  gatewayId: string,
  sampleRate: number,
): SpanRecord {
  const attributes: SpanRecord['attributes'] = {
    'http.request.method': ev.method,
    'url.path': ev.path,
    'vigil.outcome': ev.outcome,
    'vigil.attempts': ev.attempts,
    'vigil.sample_reason': reason,
    'vigil.sample_probability': keepProbability(reason, sampleRate),
    'vigil.gateway_id': gatewayId,
  }
  if (ev.target !== '') attributes['server.address'] = ev.target
  return {
    traceId: ev.traceId,
    spanId: ev.spanId,
    parentSpanId: ev.parentSpanId,
    service: key.service,
    env: key.env,
    route: key.route,
    name: `${ev.method} ${key.route}`,
    kind: SPAN_KIND_SERVER,
    startTimeMs: ev.startTimeMs,
    durationMs: ev.latencyMs,
    statusCode: reason === 'error' ? STATUS_ERROR : STATUS_UNSET,
    httpStatus: ev.status > 0 ? ev.status : null,
    requestId: ev.requestId === '' ? null : ev.requestId,
    source: 'gateway',
    attributes,
  }
}
