/**
 * @module Bytes on the bus: rollups and span batches, hand-encoded and versioned. Every message
 * starts with `u8 version | u8 kind` so a consumer rejects a message from a newer release with a
 * clear error instead of misreading it.
 *
 * A field added within a version goes at the end of its message: a reader of the same version
 * that predates it ignores bytes after the fields it knows, and a newer reader takes a message
 * that ends before the field as 0. Gateways and control planes of neighbouring releases can then
 * run side by side during an upgrade (bump the version only for a change old readers would misread).
 *
 * ```
 * rollup (kind 1): str gatewayId | str service | str route | str env | f64 windowStartMs
 *   | uvar windowMs | uvar count | uvar statusClass[5] | uvar limited | uvar timeouts
 *   | uvar connectErrors | uvar bytesIn | uvar bytesOut | bytes latencySketch
 *   | uvar refused | uvar refused5xx                    (absent from older gateways: 0)
 * spans (kind 2): uvar n | span[n]
 * span: str traceId | str spanId | str parentSpanId ('' = none) | str service | str env
 *   | str route | str name | uvar kind | f64 startTimeMs | f64 durationMs | uvar statusCode
 *   | uvar httpStatus+1 (0 = none) | str requestId ('' = none) | u8 source (0 gateway, 1 otlp)
 *   | uvar nAttrs | (str key | u8 type (0 str, 1 number, 2 bool) | value)[nAttrs]
 * ```
 */
import { ByteReader, ByteWriter } from './bytes.js'
import type { Rollup, SpanRecord } from './types.js'

export const CODEC_VERSION = 1
const KIND_ROLLUP = 1
const KIND_SPANS = 2

function header(r: ByteReader, kind: number): void {
  const version = r.u8()
  if (version !== CODEC_VERSION) r.fail(`codec version ${version}, this build reads version ${CODEC_VERSION}`)
  const k = r.u8()
  if (k !== kind) r.fail(`message kind ${k}, expected ${kind}`)
}

/**
 * @example
 * decodeRollup(encodeRollup(rollup)) // deep-equals rollup
 */
export function encodeRollup(r: Rollup): Uint8Array {
  const w = new ByteWriter(128 + r.latencySketch.length)
  w.u8(CODEC_VERSION)
  w.u8(KIND_ROLLUP)
  w.str(r.gatewayId)
  w.str(r.series.service)
  w.str(r.series.route)
  w.str(r.series.env)
  w.f64(r.windowStartMs)
  w.uvar(r.windowMs)
  w.uvar(r.count)
  for (let i = 0; i < 5; i++) w.uvar(r.statusClass[i]!)
  w.uvar(r.limited)
  w.uvar(r.timeouts)
  w.uvar(r.connectErrors)
  w.uvar(r.bytesIn)
  w.uvar(r.bytesOut)
  w.bytes(r.latencySketch)
  w.uvar(r.refused)
  w.uvar(r.refused5xx)
  return w.finish()
}

export function decodeRollup(data: Uint8Array): Rollup {
  const r = new ByteReader(data, 'rollup')
  header(r, KIND_ROLLUP)
  const gatewayId = r.str()
  const service = r.str()
  const route = r.str()
  const env = r.str()
  const windowStartMs = r.f64()
  const windowMs = r.uvar()
  const count = r.uvar()
  const statusClass: Rollup['statusClass'] = [r.uvar(), r.uvar(), r.uvar(), r.uvar(), r.uvar()]
  const limited = r.uvar()
  const timeouts = r.uvar()
  const connectErrors = r.uvar()
  const bytesIn = r.uvar()
  const bytesOut = r.uvar()
  const latencySketch = r.bytes()
  // a rollup from a gateway that predates the refused counters ends here; one that has them has both
  let refused = 0
  let refused5xx = 0
  if (!r.done) {
    refused = r.uvar()
    refused5xx = r.uvar()
  }
  if (refused > count || refused5xx > Math.min(refused, statusClass[4]))
    r.fail(`refused ${refused} (5xx ${refused5xx}) exceeds count ${count} or its 5xx ${statusClass[4]}`)
  return {
    gatewayId,
    series: { service, route, env },
    windowStartMs,
    windowMs,
    count,
    statusClass,
    limited,
    refused,
    refused5xx,
    timeouts,
    connectErrors,
    bytesIn,
    bytesOut,
    latencySketch,
  }
}

/** The rollup identity: equal for a redelivered rollup, used as the NATS `Nats-Msg-Id`. */
export function rollupId(r: Pick<Rollup, 'gatewayId' | 'series' | 'windowStartMs'>): string {
  return `${r.gatewayId}/${r.series.service}/${r.series.route}/${r.series.env}/${r.windowStartMs}`
}

export function encodeSpans(spans: readonly SpanRecord[]): Uint8Array {
  const w = new ByteWriter(256 * spans.length + 16)
  w.u8(CODEC_VERSION)
  w.u8(KIND_SPANS)
  w.uvar(spans.length)
  for (const s of spans) {
    w.str(s.traceId)
    w.str(s.spanId)
    w.str(s.parentSpanId ?? '')
    w.str(s.service)
    w.str(s.env)
    w.str(s.route)
    w.str(s.name)
    w.uvar(s.kind)
    w.f64(s.startTimeMs)
    w.f64(s.durationMs)
    w.uvar(s.statusCode)
    w.uvar(s.httpStatus === null ? 0 : s.httpStatus + 1)
    w.str(s.requestId ?? '')
    w.u8(s.source === 'gateway' ? 0 : 1)
    const keys = Object.keys(s.attributes)
    w.uvar(keys.length)
    for (const k of keys) {
      const v = s.attributes[k]!
      w.str(k)
      if (typeof v === 'string') {
        w.u8(0)
        w.str(v)
      } else if (typeof v === 'number') {
        w.u8(1)
        w.f64(v)
      } else {
        w.u8(2)
        w.u8(v ? 1 : 0)
      }
    }
  }
  return w.finish()
}

export function decodeSpans(data: Uint8Array): SpanRecord[] {
  const r = new ByteReader(data, 'span batch')
  header(r, KIND_SPANS)
  const n = r.uvar()
  const out: SpanRecord[] = []
  for (let i = 0; i < n; i++) {
    const traceId = r.str()
    const spanId = r.str()
    const parent = r.str()
    const service = r.str()
    const env = r.str()
    const route = r.str()
    const name = r.str()
    const kind = r.uvar()
    const startTimeMs = r.f64()
    const durationMs = r.f64()
    const statusCode = r.uvar()
    const http = r.uvar()
    const requestId = r.str()
    const source = r.u8() === 0 ? 'gateway' : 'otlp'
    const nAttrs = r.uvar()
    const attributes: SpanRecord['attributes'] = {}
    for (let j = 0; j < nAttrs; j++) {
      const k = r.str()
      const t = r.u8()
      if (t === 0) attributes[k] = r.str()
      else if (t === 1) attributes[k] = r.f64()
      else if (t === 2) attributes[k] = r.u8() === 1
      else r.fail(`attribute type ${t}`)
    }
    out.push({
      traceId,
      spanId,
      parentSpanId: parent === '' ? null : parent,
      service,
      env,
      route,
      name,
      kind,
      startTimeMs,
      durationMs,
      statusCode,
      httpStatus: http === 0 ? null : http - 1,
      requestId: requestId === '' ? null : requestId,
      source,
      attributes,
    })
  }
  return out
}
