import { describe, expect, it } from 'vitest'
import { decodeRollup, decodeSpans, encodeRollup, encodeSpans, rollupId } from './codec.js'
import { createLatencySketch, decodeSketch, encodeSketch } from './sketch.js'
import type { Rollup, SpanRecord } from './types.js'

function rollup(): Rollup {
  const s = createLatencySketch()
  s.accept(12)
  s.accept(40)
  return {
    gatewayId: 'gw-1',
    series: { service: 'orders', route: 'GET /orders/:id', env: 'prod-eu' },
    windowStartMs: 1_764_000_000_000,
    windowMs: 10_000,
    count: 2,
    statusClass: [0, 1, 0, 0, 1],
    limited: 0,
    refused: 1,
    refused5xx: 1,
    timeouts: 1,
    connectErrors: 0,
    bytesIn: 2 ** 40 + 3,
    bytesOut: 512,
    latencySketch: encodeSketch(s),
  }
}

const span: SpanRecord = {
  traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
  spanId: '00f067aa0ba902b7',
  parentSpanId: null,
  service: 'päyments',
  env: 'staging',
  route: '',
  name: 'charge card',
  kind: 3,
  startTimeMs: 1_764_000_000_123.5,
  durationMs: 12.75,
  statusCode: 2,
  httpStatus: null,
  requestId: 'req-1',
  source: 'otlp',
  attributes: { 'http.method': 'POST', retries: 2, cached: false },
}

describe('telemetry codec', () => {
  it('round-trips a rollup, large byte counters included', () => {
    const r = rollup()
    const back = decodeRollup(encodeRollup(r))
    expect(back).toEqual(r)
    expect(decodeSketch(back.latencySketch).count).toBe(2)
  })

  it('reads a rollup from a gateway that predates the refused counters as 0 refused', () => {
    const r = rollup()
    const now = encodeRollup(r)
    // an older gateway wrote the same fields up to the sketch and nothing after it
    const older = now.subarray(0, now.length - 2)
    expect(decodeRollup(older)).toEqual({ ...r, refused: 0, refused5xx: 0 })
    // and an older control plane, reading up to the sketch, finds every field it knows where it was
    expect(decodeSketch(decodeRollup(older).latencySketch).count).toBe(2)
  })

  it('refuses refused counters cut short or larger than the requests and 5xx they are part of', () => {
    const r = rollup()
    const bytes = encodeRollup(r)
    expect(() => decodeRollup(bytes.subarray(0, bytes.length - 1))).toThrow(/truncated/)
    expect(() => decodeRollup(encodeRollup({ ...r, refused: 3, refused5xx: 0 }))).toThrow(
      /refused 3 \(5xx 0\) exceeds count 2/,
    )
    expect(() => decodeRollup(encodeRollup({ ...r, statusClass: [0, 2, 0, 0, 0], refused5xx: 1 }))).toThrow(
      expect.objectContaining({ code: 'VGL_ERR_TELEMETRY_DECODE' }),
    )
    expect(() => decodeRollup(encodeRollup({ ...r, refused: 0, refused5xx: 1 }))).toThrow(/exceeds/)
  })

  it('round-trips span batches with attributes, null fields and non-ASCII text', () => {
    const other: SpanRecord = {
      ...span,
      parentSpanId: 'aaaaaaaaaaaaaaaa',
      httpStatus: 200,
      requestId: null,
      source: 'gateway',
    }
    expect(decodeSpans(encodeSpans([span, other]))).toEqual([span, other])
    expect(decodeSpans(encodeSpans([]))).toEqual([])
  })

  it('names the rollup identity gateway/service/route/env/windowStart', () => {
    expect(rollupId(rollup())).toBe('gw-1/orders/GET /orders/:id/prod-eu/1764000000000')
  })

  it('refuses a message from another version or of another kind', () => {
    const bytes = encodeRollup(rollup())
    bytes[0] = 2
    expect(() => decodeRollup(bytes)).toThrow(/codec version 2/)
    expect(() => decodeSpans(encodeRollup(rollup()))).toThrow(
      expect.objectContaining({ code: 'VGL_ERR_TELEMETRY_DECODE' }),
    )
  })
})
