import { describe, expect, it } from 'vitest'
import { analyzeTrace, mergeRouteWindows, newRouteWindow, type RouteWindowStats } from './journey-stats.js'
import { createRng } from './rng.js'
import { rankRootCause, type RootCauseInput } from './rootcause.js'
import { fiveServiceTopology, refusedGatewaySpan, syntheticTrace } from './synthetic.js'
import type { JourneySpan } from './span.js'
import { buildTree } from './trace.js'

const W = 10_000

/** `windows` windows of traces; from window `faultFrom` on, the faults apply. */
function windows(
  count: number,
  faultFrom: number,
  faults: Parameters<typeof fiveServiceTopology>[0],
  perWindow = 250,
  /** extra traces of window w (requests the gateway answered by itself, say) */
  extra: (w: number) => JourneySpan[][] = () => [],
): RouteWindowStats[] {
  const rng = createRng(11)
  const healthy = fiveServiceTopology()
  const faulty = fiveServiceTopology(faults)
  const out: RouteWindowStats[] = []
  for (let w = 0; w < count; w++) {
    const rw = newRouteWindow('shop', w * W, W)
    const topo = w >= faultFrom ? faulty : healthy
    for (let i = 0; i < perWindow; i++) {
      const t = syntheticTrace(
        topo.shop,
        { route: 'shop', gatewayEnv: 'edge', startMs: w * W + i, withGatewaySpan: (f) => f },
        rng,
      )
      analyzeTrace(
        buildTree(t.spans, (s) => s.service === 'shop'),
        rw,
        { envOf: () => 'onprem' },
      )
    }
    for (const spans of extra(w))
      analyzeTrace(
        buildTree(spans, (s) => s.service === 'shop'),
        rw,
        { envOf: () => 'onprem' },
      )
    out.push(rw)
  }
  return out
}

/** The last `analysed` windows against the ones before them. */
function rankInput(ws: RouteWindowStats[], analysed: number): RootCauseInput {
  const cur = ws.slice(ws.length - analysed)
  const base = ws.slice(0, ws.length - analysed)
  return {
    route: 'shop',
    current: mergeRouteWindows('shop', cur, cur[0].windowStartMs, cur[cur.length - 1].windowStartMs + W),
    baseline: mergeRouteWindows('shop', base, base[0].windowStartMs, base[base.length - 1].windowStartMs + W),
    windows: ws.slice(Math.max(0, ws.length - analysed - 2)),
  }
}

const rank = (ws: RouteWindowStats[], analysed: number) => rankRootCause(rankInput(ws, analysed))

describe('rankRootCause', () => {
  it('puts the service with an injected 20 % error ratio first, within one window of the fault', () => {
    const r = rank(windows(7, 6, { reviews: { errorRatio: 0.2 } }), 1)
    expect(r.symptom).toBe('errors')
    expect(r.services[0].service).toBe('reviews')
    expect(r.services[0].env).toBe('gcp')
    expect(r.services[0].score).toBeGreaterThan(0.6)
    expect(r.services[0].evidence.errorOrigin).toBeGreaterThan(0.8)
    expect(r.edges[0].to).toBe('reviews|gcp')
    expect(r.edges[0].from).toBe('shop|onprem')
    const total = r.services.reduce((a, c) => a + c.score, 0)
    expect(total).toBeCloseTo(1, 6)
  })

  it('puts the service with a latency fault first (critical path growth)', () => {
    const r = rank(windows(8, 6, { inventory: { factor: 3 } }), 2)
    expect(r.symptom).toBe('latency')
    expect(r.services[0].service).toBe('inventory')
    expect(r.services[0].evidence.criticalPathGrowth).toBeGreaterThan(0.6)
    expect(r.edges[0].to).toBe('inventory|onprem')
  })

  it('uses a live anomaly of a service as first-anomaly evidence', () => {
    const ws = windows(7, 6, { auth: { errorRatio: 0.1 } })
    const cur = ws[6]
    const r = rankRootCause({
      route: 'shop',
      current: cur,
      baseline: mergeRouteWindows('shop', ws.slice(0, 6), 0, 6 * W),
      windows: ws.slice(4),
      anomalies: [{ service: 'auth', env: null, openedAtMs: 6 * W - 1000, metric: 'errors' }],
    })
    expect(r.services[0].service).toBe('auth')
    expect(r.services[0].detail.anomalyStartMs).toBe(6 * W - 1000)
  })

  it('does not blame the route’s service for the requests the gateway answered by itself', () => {
    // In the analysed window the gateway also answered 120 requests by itself (`vigil.attempts`
    // 0): 503s while it had no healthy target, and a burst of fast 429s. None reached shop.
    const refusal = (w: number, i: number, status: 429 | 503) => [
      refusedGatewaySpan(
        { route: 'shop', service: 'shop', gatewayEnv: 'edge', startMs: w * W + i, status },
        w * 1000 + i,
      ),
    ]
    const burst = (status: 429 | 503) => (w: number) =>
      w === 6 ? Array.from({ length: 120 }, (_, i) => refusal(w, i, status)) : []
    const faulty = windows(7, 6, { reviews: { errorRatio: 0.2 } }, 250, burst(503))
    const r = rank(faulty, 1)
    expect(r.symptom).toBe('errors')
    expect(r.services[0].service).toBe('reviews')
    expect(r.services[0].evidence.errorOrigin).toBeGreaterThan(0.8)
    expect(r.now.traces).toBe(250)
    // every trace seen in full: the figures rest on as many traces as they stand for
    expect(r.now.observed).toBe(250)
    expect(r.before.observed).toBe(r.before.traces)
    expect(faulty[6].refused).toBe(120)
    // fast 429s neither make the route look faster nor move its error ratio
    const slow = windows(8, 6, { inventory: { factor: 3 } }, 250, burst(429))
    const plain = windows(8, 6, { inventory: { factor: 3 } })
    const a = rank(slow, 2)
    const b = rank(plain, 2)
    expect(a.now).toEqual(b.now)
    expect(a.symptom).toBe('latency')
    expect(a.services[0].service).toBe('inventory')
  })

  it('says that nothing moved when neither the error ratio nor the p95 rose, and still ranks', () => {
    const r = rank(windows(4, 99, {}), 1)
    expect(r.services.every((c) => Number.isFinite(c.score))).toBe(true)
    expect(r.moved).toBe(false)
    expect(r.symptomReason).toMatch(/^nothing moved: error ratio [\d.]+% → [\d.]+%, p95 [\d.]+ → [\d.]+ ms$/)
    // a service failing 1 % of the time all along: the window's share differs from the
    // baseline's by noise only, which is no rise
    const steady = rank(windows(8, 0, { reviews: { errorRatio: 0.01 } }), 1)
    expect(steady.moved).toBe(false)
    expect(steady.symptomReason).toMatch(/^nothing moved: /)
    expect(steady.services.length).toBeGreaterThan(0)
    // asked for a symptom that did not move: ranked for it, and said so
    const asked = rankRootCause({ ...rankInput(windows(4, 99, {}), 1), symptom: 'latency' })
    expect(asked).toMatchObject({ symptom: 'latency', moved: false })
    expect(asked.symptomReason).toMatch(/^latency \(asked for\), which did not move: p95 [\d.]+ → [\d.]+ ms$/)
  })

  it('says which symptom rose, with its numbers', () => {
    const errors = rank(windows(7, 6, { reviews: { errorRatio: 0.2 } }), 1)
    expect(errors.moved).toBe(true)
    expect(errors.symptomReason).toMatch(/^errors: error ratio [\d.]+% → [\d.]+%$/)
    const [, from, to] = /error ratio ([\d.]+)% → ([\d.]+)%/.exec(errors.symptomReason)!
    expect(Number(from)).toBeCloseTo(errors.before.errorRatio * 100, 1)
    expect(Number(to)).toBeCloseTo(errors.now.errorRatio * 100, 1)
    const latency = rank(windows(8, 6, { inventory: { factor: 3 } }), 2)
    expect(latency.moved).toBe(true)
    expect(latency.symptomReason).toMatch(/^latency: p95 \d+ → \d+ ms/)
  })
})
