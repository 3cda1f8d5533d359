import { describe, expect, it } from 'vitest'
import { analyzeTrace, newRouteWindow, type RouteWindowStats } from './journey-stats.js'
import { simulateImpact } from './impact.js'
import { learnModel } from './model.js'
import { createRng, type Rng } from './rng.js'
import { rankRootCause } from './rootcause.js'
import { keepProbability, type JourneySpan } from './span.js'
import { NO_RETRY_POLICY } from './synthetic.js'
import { buildTree } from './trace.js'

const T0 = 1_700_000_000_000
const SAMPLE_RATE = 0.1
const ERROR_RATIO = 0.05

/** The gateway's span of one request to `payments`, a service that sends no spans of its own. */
function gatewaySpan(
  i: number,
  failed: boolean,
  ms: number,
  attributes: JourneySpan['attributes'],
): JourneySpan {
  return {
    traceId: i.toString(16).padStart(32, '0'),
    spanId: i.toString(16).padStart(16, '0'),
    parentSpanId: null,
    service: 'payments',
    env: 'edge',
    route: 'payments',
    name: 'GET payments',
    kind: 2,
    startTimeMs: T0 + i,
    durationMs: ms,
    statusCode: failed ? 2 : 0,
    httpStatus: failed ? 502 : 200,
    requestId: null,
    source: 'gateway',
    attributes: { 'vigil.attempts': 1, 'vigil.outcome': 'ok', ...attributes },
  }
}

/**
 * `n` requests with a 5 % error ratio, failures slow (300 ms) and successes about 20 ms, as the
 * gateway's tail sampler keeps them: every error, `SAMPLE_RATE` of the successes.
 * @param said how the kept span records its keep probability
 */
function sampledRequests(
  n: number,
  rng: Rng,
  said: 'probability' | 'reason only' = 'probability',
): { kept: JourneySpan[]; latencies: number[] } {
  const kept: JourneySpan[] = []
  const latencies: number[] = []
  for (let i = 0; i < n; i++) {
    const failed = rng.next() < ERROR_RATIO
    const ms = failed ? 300 : 15 + 10 * rng.next()
    latencies.push(ms)
    const reason = failed ? 'error' : rng.next() < SAMPLE_RATE ? 'sampled' : null
    if (reason === null) continue
    const attributes: Record<string, string | number> = { 'vigil.sample_reason': reason }
    if (said === 'probability') attributes['vigil.sample_probability'] = failed ? 1 : SAMPLE_RATE
    kept.push(gatewaySpan(i, failed, ms, attributes))
  }
  latencies.sort((a, b) => a - b)
  return { kept, latencies }
}

function analyze(spans: readonly JourneySpan[], rw: RouteWindowStats, sampleRate?: number): void {
  for (const s of spans) analyzeTrace(buildTree([s]), rw, { envOf: () => 'onprem', sampleRate })
}

const quantile = (sorted: readonly number[], q: number) => sorted[Math.floor(q * (sorted.length - 1))]

describe('journeys of a route seen only through the gateway’s sampled spans', () => {
  const N = 20_000
  const { kept, latencies } = sampledRequests(N, createRng(11))
  const rw = newRouteWindow('payments', T0, 60_000)
  analyze(kept, rw)

  it('counts the route’s requests and failures as the sampler’s inverse weights say, not as kept', () => {
    // kept: ~1,000 errors and ~1,900 successes, a third failing; the requests: 5 % failing
    expect(kept.length).toBeLessThan(0.2 * N)
    expect(rw.traces).toBeGreaterThan(0.93 * N)
    expect(rw.traces).toBeLessThan(1.07 * N)
    expect(rw.gatewayOnly).toBe(rw.traces)
    expect(rw.failures / rw.traces).toBeGreaterThan(ERROR_RATIO - 0.01)
    expect(rw.failures / rw.traces).toBeLessThan(ERROR_RATIO + 0.01)
  })

  it('keeps the latency percentiles of the requests, not of the errors the sampler always keeps', () => {
    for (const q of [0.5, 0.9]) {
      const seen = rw.latency.getValueAtQuantile(q) as number
      expect(Math.abs(seen - quantile(latencies, q)) / quantile(latencies, q)).toBeLessThan(0.05)
    }
  })

  it('learns the service’s failure chance, and simulates the success and failed requests it implies', () => {
    const model = learnModel(rw, NO_RETRY_POLICY)
    expect(model.observed.failureRatio).toBeCloseTo(ERROR_RATIO, 1)
    const site = model.sites[0]
    expect(site.service).toBe('payments')
    const own = (site.ownErrors + 0.5) / (site.cleanCalls + 1)
    expect(Math.abs(own - ERROR_RATIO)).toBeLessThan(0.01)
    const r = simulateImpact(model, [], {
      horizonMs: 600_000,
      traffic: { stepMs: 60_000, rate: [10] },
      clients: Array(100).fill(0.1),
      slo: { availability: 0.999, latencyMs: 1_000 },
      journeys: 20_000,
      seed: 3,
    })
    expect(Math.abs(1 - r.baseline.successProbability.value - ERROR_RATIO)).toBeLessThan(0.01)
    // 6,000 requests in the horizon, 5 % failing
    expect(r.baseline.expectedFailedRequests.value).toBeGreaterThan(0.04 * 6_000)
    expect(r.baseline.expectedFailedRequests.value).toBeLessThan(0.06 * 6_000)
  })

  it('gives root cause the route’s error ratio, not the share of errors among kept spans', () => {
    const rc = rankRootCause({ route: 'payments', current: rw, baseline: rw, windows: [rw], anomalies: [] })
    expect(Math.abs(rc.now.errorRatio - ERROR_RATIO)).toBeLessThan(0.01)
    expect(Number.isInteger(rc.now.traces)).toBe(true)
  })

  it('takes the configured rate for a span from an older gateway that says only why it was kept', () => {
    const old = sampledRequests(N, createRng(11), 'reason only').kept
    const withRate = newRouteWindow('payments', T0, 60_000)
    analyze(old, withRate, SAMPLE_RATE)
    expect(withRate.traces).toBeGreaterThan(0.93 * N)
    expect(withRate.traces).toBeCloseTo(rw.traces, 6)
    expect(withRate.failures).toBe(rw.failures)
    // without a rate every kept span counts once: the bias this weighting removes
    const unweighted = newRouteWindow('payments', T0, 60_000)
    analyze(old, unweighted)
    expect(unweighted.traces).toBe(old.length)
  })

  it('weighs a trace with a service’s span by 1: the services send every request’s spans', () => {
    const gw = gatewaySpan(1, false, 20, {
      'vigil.sample_reason': 'sampled',
      'vigil.sample_probability': 0.1,
    })
    const shop: JourneySpan = {
      ...gw,
      spanId: 'b'.repeat(16),
      parentSpanId: gw.spanId,
      source: 'otlp',
      route: '',
    }
    const mixed = newRouteWindow('payments', T0, 60_000)
    const summary = analyzeTrace(buildTree([gw, shop]), mixed, { envOf: () => 'onprem' })
    expect([summary.weight, mixed.traces, mixed.gatewayOnly]).toEqual([1, 1, 0])
  })
})

describe('keepProbability', () => {
  const gw = (attributes: JourneySpan['attributes']) => ({ source: 'gateway' as const, attributes })
  it('reads the probability the span records, else the rate for a drawn span, else 1', () => {
    expect(keepProbability(gw({ 'vigil.sample_probability': 0.25 }), 0.5)).toBe(0.25)
    expect(keepProbability(gw({ 'vigil.sample_probability': '0.25' }), 0.5)).toBe(0.25)
    expect(keepProbability(gw({ 'vigil.sample_reason': 'sampled' }), 0.5)).toBe(0.5)
    expect(keepProbability(gw({ 'vigil.sample_reason': 'sampled' }), undefined)).toBe(1)
    expect(keepProbability(gw({ 'vigil.sample_reason': 'error' }), 0.5)).toBe(1)
    expect(keepProbability(gw({}), 0.5)).toBe(1)
  })

  it('counts a span once when its probability is not one in (0, 1], or it is not the gateway’s', () => {
    for (const bad of [0, -0.1, 1.5, 'often', '', true, Number.NaN])
      expect(keepProbability(gw({ 'vigil.sample_probability': bad }), 0.5)).toBe(1)
    expect(keepProbability(gw({ 'vigil.sample_reason': 'sampled' }), 0)).toBe(1)
    expect(keepProbability({ source: 'otlp', attributes: { 'vigil.sample_probability': 0.1 } }, 0.1)).toBe(1)
  })
})
