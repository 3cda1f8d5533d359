import { describe, expect, it } from 'vitest'
import type { RequestEvent } from './recorder.js'
import { gatewaySpan, sampleReason, traceRatio } from './span-sampler.js'

describe('traceRatio', () => {
  it('maps the random tail of a trace id to [0, 1) the same way every time', () => {
    expect(traceRatio('0af7651916cd43dd8448eb211c80319c')).toBe(
      traceRatio('0af7651916cd43dd8448eb211c80319c'),
    )
    expect(traceRatio('00000000000000000000000000000000')).toBe(0)
    expect(traceRatio('0000000000000000000fffffffffffff')).toBeCloseTo(1, 12)
    expect(traceRatio('fffffffffffffffffff8000000000000')).toBe(0.5)
    expect(traceRatio('not-hex-at-all-zz')).toBeGreaterThanOrEqual(0)
    expect(traceRatio('x')).toBeLessThan(1)
  })

  it('reads the last 13 hex digits exactly as parseInt does, whatever the case or stray characters', () => {
    const viaParse = (id: string): number => Number.parseInt(id.slice(-13), 16) / 2 ** 52
    for (const id of [
      '0af7651916cd43dd8448eb211c80319c',
      '0AF7651916CD43DD8448EB211C80319C',
      '0af7651916cd43dd8448eB211c80319c',
      'aaaaaaaaaaaaaaaaaaaf3-zz0000000',
      'abcdef0123456789',
    ])
      expect(traceRatio(id)).toBe(viaParse(id))
    // not a hex digit where the 13 start: a hash of the whole id, still in [0, 1)
    const hashed = traceRatio('0af7651916cd43dd844-zz211c80319c')
    expect(hashed).toBeGreaterThanOrEqual(0)
    expect(hashed).toBeLessThan(1)
  })

  it('samples about the configured share of random ids', () => {
    let kept = 0
    for (let i = 0; i < 20_000; i++) {
      const id = Array.from({ length: 32 }, () => Math.floor(Math.random() * 16).toString(16)).join('')
      if (traceRatio(id) < 0.1) kept++
    }
    expect(kept / 20_000).toBeGreaterThan(0.09)
    expect(kept / 20_000).toBeLessThan(0.11)
  })
})

describe('sampleReason', () => {
  const ev = (status: number, outcome: RequestEvent['outcome'], latencyMs = 10): RequestEvent => ({
    status,
    outcome,
    latencyMs,
    bytesIn: 0,
    bytesOut: 0,
    traceId: '0af7651916cd43dd8448eb211c80319c',
    spanId: '00f067aa0ba902b7',
    parentSpanId: null,
    requestId: 'r1',
    method: 'GET',
    path: '/shop',
    target: 'http://127.0.0.1:1',
    attempts: 1,
    startTimeMs: 0,
  })

  it('keeps every error and every request the client abandoned, whatever the rate', () => {
    expect(sampleReason(ev(502, 'ok'), Infinity, 0, 0.5)).toBe('error')
    expect(sampleReason(ev(0, 'timeout'), Infinity, 0, 0.5)).toBe('error')
    // the journeys must tell an abandoned request (its services fail without a status) from a failure
    const abandoned = sampleReason(ev(499, 'client_abort'), Infinity, 0, 0.5)
    expect(abandoned).toBe('abandoned')
    const span = gatewaySpan(
      { service: 'shop', route: 'shop', env: 'edge' },
      ev(499, 'client_abort'),
      'abandoned',
      'g1',
      0.1,
    )
    expect(span.statusCode).toBe(0) // not an error of the gateway's
    expect(span.httpStatus).toBe(499)
    expect(span.attributes['vigil.outcome']).toBe('client_abort')
    expect(span.attributes['vigil.sample_probability']).toBe(1)
    expect(sampleReason(ev(200, 'ok', 50), 20, 0, 0.5)).toBe('slow')
    expect(sampleReason(ev(200, 'ok'), Infinity, 0.1, 0.5)).toBeNull()
    expect(sampleReason(ev(200, 'ok'), Infinity, 0.6, 0.5)).toBe('sampled')
  })

  it('says in the span of a request the gateway answered by itself that it was not sent upstream', () => {
    // the journeys leave such requests out of the service's model by `vigil.attempts` 0 (a 413 has
    // outcome `ok`, so the outcome alone does not tell)
    const key = { service: 'shop', route: 'shop', env: 'edge' }
    for (const [status, outcome] of [
      [429, 'limited'],
      [413, 'ok'],
      [503, 'no_target'],
    ] as const) {
      const refused = { ...ev(status, outcome, 0.2), attempts: 0, target: '' }
      const span = gatewaySpan(key, refused, status === 503 ? 'error' : 'sampled', 'g1', 0.1)
      expect(span.attributes['vigil.attempts']).toBe(0)
      expect(span.attributes).not.toHaveProperty('server.address')
      expect(span.httpStatus).toBe(status)
    }
    expect(gatewaySpan(key, ev(200, 'ok'), 'sampled', 'g1', 0.1).attributes).toMatchObject({
      'vigil.attempts': 1,
      'server.address': 'http://127.0.0.1:1',
    })
  })

  it('records how likely the span was to be kept: the rate for a drawn one, 1 for those always kept', () => {
    // the journeys weigh a request seen only through this span by the inverse
    const key = { service: 'shop', route: 'shop', env: 'edge' }
    const prob = (e: ReturnType<typeof ev>, reason: Parameters<typeof gatewaySpan>[2]) =>
      gatewaySpan(key, e, reason, 'g1', 0.05).attributes['vigil.sample_probability']
    expect(prob(ev(200, 'ok'), 'sampled')).toBe(0.05)
    expect(prob(ev(502, 'ok'), 'error')).toBe(1)
    expect(prob(ev(200, 'ok', 50), 'slow')).toBe(1)
    expect(prob(ev(499, 'client_abort'), 'abandoned')).toBe(1)
  })
})
