import { describe, expect, it } from 'vitest'
import {
  analyzeTrace,
  effectiveShareSize,
  mergeRouteWindows,
  newRouteWindow,
  type RouteWindowStats,
} from './journey-stats.js'
import { simulateImpact } from './impact.js'
import { learnModel, ownFailureChance, ownFailurePosterior } from './model.js'
import { beta, createRng, type Rng } from './rng.js'
import { rankRootCause } from './rootcause.js'
import { keepProbability, type JourneySpan } from './span.js'
import { fiveServiceTopology, NO_RETRY_POLICY, syntheticTrace } from './synthetic.js'
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
  sampleRate = SAMPLE_RATE,
  errorRatio = ERROR_RATIO,
): { kept: JourneySpan[]; latencies: number[] } {
  const kept: JourneySpan[] = []
  const latencies: number[] = []
  for (let i = 0; i < n; i++) {
    const failed = rng.next() < errorRatio
    const ms = failed ? 300 : 15 + 10 * rng.next()
    latencies.push(ms)
    const reason = failed ? 'error' : rng.next() < sampleRate ? 'sampled' : null
    if (reason === null) continue
    const attributes: Record<string, string | number> = { 'vigil.sample_reason': reason }
    if (said === 'probability') attributes['vigil.sample_probability'] = failed ? 1 : sampleRate
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

describe('intervals of a route seen only through few sampled spans', () => {
  // 2,000 requests at 5 %: ~100 errors, all kept, and ~19 of the 1,900 successes at p = 0.01
  const REQUESTS = 2_000
  const LOW_RATE = 0.01
  const REPETITIONS = 100
  const HORIZON_REQUESTS = 10 * 600
  const impactOptions = (seed: number, journeys: number) => ({
    horizonMs: 600_000,
    traffic: { stepMs: 60_000, rate: [10] },
    slo: { availability: 0.99, latencyMs: 1_000 },
    journeys,
    seed,
  })
  const sampledModel = (seed: number, sampleRate: number) => {
    const rw = newRouteWindow('payments', T0, 60_000)
    analyze(sampledRequests(REQUESTS, createRng(seed), 'probability', sampleRate).kept, rw)
    return learnModel(rw, NO_RETRY_POLICY)
  }

  it('sizes the failure chance’s posterior by the traces kept: its 90 % interval covers the true chance', () => {
    let covered = 0
    let halfWidth = 0
    for (let r = 0; r < REPETITIONS; r++) {
      const site = sampledModel(1_000 + r, LOW_RATE).sites[0]
      const post = ownFailurePosterior(site)
      const rng = createRng(r)
      const draws = Array.from({ length: 4_000 }, () =>
        ownFailureChance(beta(rng, post.a, post.b), post.oddsFactor),
      ).sort((a, b) => a - b)
      const [low, high] = [quantile(draws, 0.05), quantile(draws, 0.95)]
      if (low <= ERROR_RATIO && ERROR_RATIO <= high) covered++
      halfWidth += (high - low) / 2 / ERROR_RATIO / REPETITIONS
    }
    // sized by the ~2,000 requests the weighted counts stand for, it covered about half the time
    expect(covered).toBeGreaterThanOrEqual(80)
    expect(covered).toBeLessThanOrEqual(99)
    // ~100 errors and ~19 successes: the estimate's relative error is about √(1/100 + 1/19) ≈ 25 %
    expect(halfWidth).toBeGreaterThan(0.3)
    expect(halfWidth).toBeLessThan(0.6)
  })

  it('gives what-if failed requests an interval that covers the true count', () => {
    let covered = 0
    for (let r = 0; r < REPETITIONS; r++) {
      const result = simulateImpact(
        sampledModel(2_000 + r, LOW_RATE),
        [{ kind: 'latency', service: 'payments', factor: 2 }],
        impactOptions(r, 40_000),
      )
      const failed = (result.scenario as NonNullable<typeof result.scenario>).expectedFailedRequests
      if (failed.low <= ERROR_RATIO * HORIZON_REQUESTS && ERROR_RATIO * HORIZON_REQUESTS <= failed.high)
        covered++
    }
    expect(covered).toBeGreaterThanOrEqual(80)
  })

  it('keeps the weighted ratio as the most likely failure chance', () => {
    const site = sampledModel(7, LOW_RATE).sites[0]
    const post = ownFailurePosterior(site)
    // the Beta's mode, through the odds factor
    const mode = ownFailureChance((post.a - 1) / (post.a + post.b - 2), post.oddsFactor)
    const weighted = site.ownErrors / site.cleanCalls
    // (the ½ of the prior on each side moves it a little)
    expect(Math.abs(mode - weighted) / weighted).toBeLessThan(0.05)
    expect(site.effectiveCleanOk).toBeLessThan(40)
    expect(site.cleanCalls).toBeGreaterThan(1_500)
  })

  it('takes a site that saw no failure as seeing none in every request, not in the few kept', () => {
    const rw = newRouteWindow('payments', T0, 60_000)
    // 300 requests without an error, 3 of them kept
    for (let i = 0; i < 3; i++)
      analyze(
        [gatewaySpan(i, false, 20, { 'vigil.sample_reason': 'sampled', 'vigil.sample_probability': 0.01 })],
        rw,
      )
    const post = ownFailurePosterior(learnModel(rw, NO_RETRY_POLICY).sites[0])
    const mean = ownFailureChance(post.a / (post.a + post.b), post.oddsFactor)
    expect(mean).toBeLessThan(0.005)
  })

  it('gives every trace counted once (p = 1) exactly the answers it gave before', () => {
    const gatewayOnly = newRouteWindow('payments', T0, 60_000)
    analyze(sampledRequests(3_000, createRng(5), 'probability', 1).kept, gatewayOnly)
    const topo = fiveServiceTopology({ pricing: { errorRatio: 0.03 } })
    const rng = createRng(9)
    const instrumented = newRouteWindow('shop', T0, 60_000)
    for (let i = 0; i < 2_000; i++) {
      const t = syntheticTrace(
        topo.shop,
        { route: 'shop', gatewayEnv: 'edge', withGatewaySpan: (f) => f || rng.next() < 0.2 },
        rng,
      )
      analyzeTrace(
        buildTree(t.spans, (s) => s.service === 'shop'),
        instrumented,
        { envOf: () => 'onprem' },
      )
    }
    for (const rw of [gatewayOnly, instrumented])
      for (const s of learnModel(rw, NO_RETRY_POLICY).sites) {
        expect(s.effectiveOwnErrors).toBe(s.ownErrors)
        expect(s.effectiveCleanOk).toBe(s.cleanCalls - s.ownErrors)
        expect(ownFailurePosterior(s).oddsFactor).toBe(1)
      }
    const clients = { clients: Array(20).fill(0.5) }
    const a = simulateImpact(learnModel(gatewayOnly, NO_RETRY_POLICY), [], {
      ...impactOptions(4, 20_000),
      ...clients,
    })
    const b = simulateImpact(
      learnModel(instrumented, NO_RETRY_POLICY),
      [{ kind: 'errorRatio', service: 'auth', value: 0.1, durationMs: 120_000 }],
      { ...impactOptions(6, 20_000), ...clients, slo: { availability: 0.99, latencyMs: 100 } },
    )
    // the answers of the version that sized every posterior by the weighted counts (figures added
    // since, such as the latency of the journeys that succeed, are not in it)
    expect({ a: a.baseline, b: b.scenario }).toMatchObject(BEFORE)
  })
})

describe('root cause of a route seen only through few sampled spans', () => {
  const WINDOW_MS = 10_000
  /**
   * 10 + `analysed` windows of `requests` each kept at p = 0.01, failing `errorRatio` of the time
   * and `errorRatioFrom10` from the eleventh window on; the last `analysed` windows against the 10
   * before them
   */
  const rootCause = (
    seed: number,
    errorRatioFrom10: number,
    { requests = 2_000, errorRatio = ERROR_RATIO, analysed = 2 } = {},
  ) => {
    const rng = createRng(seed)
    const windows = Array.from({ length: 10 + analysed }, (_, w) => {
      const rw = newRouteWindow('payments', T0 + w * WINDOW_MS, WINDOW_MS)
      const ratio = w >= 10 ? errorRatioFrom10 : errorRatio
      analyze(sampledRequests(requests, rng, 'probability', 0.01, ratio).kept, rw)
      return rw
    })
    const merged = (from: number, to: number) =>
      mergeRouteWindows('payments', windows.slice(from, to), T0 + from * WINDOW_MS, T0 + to * WINDOW_MS)
    return rankRootCause({
      route: 'payments',
      current: merged(10, 10 + analysed),
      baseline: merged(0, 10),
      windows: windows.slice(8),
      symptom: 'errors',
    })
  }

  it('does not date an own-failure onset from the noise of a few kept successes', () => {
    let onsets = 0
    for (let seed = 0; seed < 40; seed++) {
      const rc = rootCause(seed, ERROR_RATIO)
      if (rc.services[0].detail.anomalyStartMs !== undefined) onsets++
    }
    // with σ from the weighted calls (2,000 a window) it dated one in 11 of these 40 runs
    expect(onsets).toBeLessThanOrEqual(1)
  })

  it('still dates a real one: 5 % → 20 % from the analysed window on', () => {
    for (let seed = 0; seed < 10; seed++) {
      const rc = rootCause(seed, 0.2)
      expect(rc.services[0].detail.anomalyStartMs).toBe(T0 + 10 * WINDOW_MS)
      expect(rc.weights.firstAnomaly).toBeGreaterThan(0)
      expect(rc.moved).toBe(true)
    }
  })

  it('does not read the noise of a few kept successes as the route’s error ratio moving', () => {
    // 300 requests a window, a fifth failing all along: ~60 errors kept and ~2 of the 240
    // successes, each standing for 100 requests; one window analysed
    let moved = 0
    for (let seed = 0; seed < 40; seed++) {
      const rc = rootCause(seed, 0.2, { requests: 300, errorRatio: 0.2, analysed: 1 })
      if (rc.moved) moved++
    }
    // with σ from the weighted traces (300 requests) it read a rise in 12 of these 40 runs
    expect(moved).toBe(0)
    // 100 requests a window at 5 %: a window with no success kept reads 100 % failing (5 errors,
    // 0 of ~95 successes kept at 0.01: as likely as not), which is no rise either
    let sparse = 0
    for (let seed = 0; seed < 40; seed++)
      if (rootCause(seed, ERROR_RATIO, { requests: 100, analysed: 1 }).moved) sparse++
    expect(sparse).toBe(0)
  })
})

describe('the moved test of a route seen through the gateway’s sampled spans', () => {
  const WINDOW_MS = 60_000
  let next = 0
  /** `n` of the gateway's spans, each kept with probability `p` (1: every request seen) */
  const spans = (n: number, failed: boolean, p: number, ms = 20) =>
    Array.from({ length: n }, () =>
      gatewaySpan(next++, failed, failed ? 300 : ms, {
        'vigil.sample_reason': failed ? 'error' : p < 1 ? 'sampled' : 'slow',
        'vigil.sample_probability': p,
      }),
    )
  const windowOf = (startMs: number, ...groups: JourneySpan[][]) => {
    const rw = newRouteWindow('payments', startMs, WINDOW_MS)
    for (const g of groups) analyze(g, rw)
    return rw
  }
  const rank = (baseline: RouteWindowStats, current: RouteWindowStats, symptom?: 'errors' | 'latency') =>
    rankRootCause({ route: 'payments', current, baseline, windows: [baseline, current], symptom })

  it('holds a wobble of a handful of kept spans at sampleRate 0.1 within noise, and not the same wobble seen in full', () => {
    // baseline: 1,000 requests, a fifth failing. Now: 30 errors and 50 successes, 37.5 % failing.
    // Seen through the sampler (5 successes kept for 50): 5 kept where the baseline's ratio
    // expects ~12, a 2 σ wobble. Every request seen: 3.8 σ over 80 traces, a rise.
    const sampledBase = windowOf(T0, spans(200, true, 1), spans(80, false, 0.1))
    const sampledNow = windowOf(T0 + WINDOW_MS, spans(30, true, 1), spans(5, false, 0.1))
    const sampled = rank(sampledBase, sampledNow, 'errors')
    expect(sampled.now).toMatchObject({ traces: 80, errorRatio: 0.375 })
    expect(sampled.before).toMatchObject({ traces: 1_000, errorRatio: 0.2 })
    expect(sampled.moved).toBe(false)
    expect(sampled.symptomReason).toBe('errors (asked for), which did not move: error ratio 20% → 37.5%')
    // the requests the traces stand for, and the traces the figures rest on
    expect(sampled.now.observed).toBeLessThan(20)

    const fullBase = windowOf(T0, spans(200, true, 1), spans(800, false, 1))
    const fullNow = windowOf(T0 + WINDOW_MS, spans(30, true, 1), spans(50, false, 1))
    const full = rank(fullBase, fullNow)
    expect(full.now).toEqual({ ...sampled.now, observed: 80, p95: full.now.p95 })
    expect(full.moved).toBe(true)
    expect(full.symptomReason).toBe('errors: error ratio 20% → 37.5%')
  })

  it('needs 5 traces seen for a p95 that rose, not one sampled span standing for 10', () => {
    const base = windowOf(T0, spans(50, false, 1, 20))
    const one = windowOf(T0 + WINDOW_MS, spans(1, false, 0.1, 80))
    const rc = rank(base, one)
    expect(rc.moved).toBe(false)
    expect(rc.now).toMatchObject({ traces: 10, observed: 1 })
    // and says so, rather than call a p95 four times the baseline's no move
    expect(rc.symptomReason).toMatch(
      /^nothing moved: .*p95 2\d → 8\d ms \(too few traces to tell whether the p95 rose: 1 seen, 5 needed\)$/,
    )
    // an alert's root cause asks for its symptom: the same, not "which did not move"
    expect(rank(base, one, 'latency').symptomReason).toMatch(
      /^latency \(asked for\), too few traces to tell whether it rose \(1 seen, 5 needed\): p95 2\d → 8\d ms$/,
    )
    // nor is the service's own time dated as having left its baseline from that one span
    expect(rc.services.filter((c) => c.detail.anomalyStartMs !== undefined)).toEqual([])

    const five = rank(base, windowOf(T0 + WINDOW_MS, spans(5, false, 1, 80)))
    expect(five.now).toMatchObject({ traces: 5, observed: 5 })
    expect(five.moved).toBe(true)
    expect(five.symptomReason).toMatch(/^latency: p95 2\d → 8\d ms$/)
    expect(five.services[0].detail.anomalyStartMs).toBe(T0 + WINDOW_MS)
  })

  it('carries the squares of the weights through a merge of windows', () => {
    const a = windowOf(T0, spans(3, true, 1), spans(2, false, 0.1))
    const b = windowOf(T0 + WINDOW_MS, spans(1, true, 1), spans(4, false, 0.25))
    const merged = mergeRouteWindows('payments', [a, b], T0, T0 + 2 * WINDOW_MS)
    expect(merged).toMatchObject({ traces: 4 + 20 + 16, failures: 4 })
    expect(merged.traceSquares).toBeCloseTo(4 + 2 * 100 + 4 * 16, 9)
    expect(merged.failureSquares).toBe(4)
  })
})

describe('effectiveShareSize', () => {
  it('is the count itself when every weight is 1', () => {
    expect(effectiveShareSize(30, 30, 600, 600)).toBe(600)
    expect(effectiveShareSize(0, 0, 7, 7)).toBe(7)
  })

  it('counts 100 errors kept always and 19 successes kept at p = 0.01 as far fewer than 2,000', () => {
    // var(log odds) = 1/100 + 1/19: about 16 % of 2,000 unweighted calls at p = 0.05
    const n = effectiveShareSize(100, 100, 2_000, 100 + 19 * 100 ** 2)
    expect(n).toBeGreaterThan(0.1 * 2_000)
    expect(n).toBeLessThan(0.2 * 2_000)
    // an outcome never seen: Kish's size of all (19 successes at weight 100)
    expect(effectiveShareSize(0, 0, 1_900, 19 * 100 ** 2)).toBeCloseTo(19, 9)
    expect(effectiveShareSize(0, 0, 0, 0)).toBe(0)
  })
})

/** What the version that sized every posterior by the weighted counts answered (recorded from it). */
const BEFORE = {
  a: {
    successProbability: { value: 0.9483, low: 0.9348500000000001, high: 0.95715 },
    latencyMs: {
      p50: { value: 20.288421154823364, low: 19.886786087581605, high: 20.315392832737608 },
      p95: { value: 301.9134365218829, low: 24.78061572340125, high: 301.9134365218829 },
      p99: { value: 301.91349775518876, low: 301.91347319054415, high: 301.91351758964896 },
    },
    requestSloMissRatio: { value: 0.0517, low: 0.04285, high: 0.06515 },
    sloBreachProbability: { value: 1, low: 1, high: 1 },
    expectedDowntimeMinutes: { value: 5.033198219515016, low: 1.6789383977965915, high: 9.219857154789068 },
    expectedFailedRequests: { value: 310.2, low: 257.1, high: 390.90000000000003 },
    usersAffected: { value: 19.999985845283014, low: 19.999959525963668, high: 19.999999966047902 },
    simulatedJourneys: 20000,
  },
  b: {
    successProbability: { value: 0.8691, low: 0.84795, high: 0.8901 },
    latencyMs: {
      p50: { value: 29.77216281942153, low: 29.35366439650283, high: 30.250043964493706 },
      p95: { value: 44.42550840348918, low: 43.25753188727336, high: 45.31763343811121 },
      p99: { value: 53.403487316217756, low: 50.15559232665601, high: 57.79989931623118 },
    },
    requestSloMissRatio: { value: 0.1309, low: 0.1099, high: 0.15205 },
    sloBreachProbability: { value: 1, low: 1, high: 1 },
    expectedDowntimeMinutes: { value: 2.5805073581384868, low: 2.011105253813131, high: 4.981741925146614 },
    expectedFailedRequests: { value: 331.80000000000007, low: 292.2, high: 390.06 },
    usersAffected: { value: 19.999998415861135, low: 19.999994563875656, high: 19.99999997062138 },
    simulatedJourneys: 40000,
  },
}
