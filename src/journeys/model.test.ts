import { describe, expect, it } from 'vitest'
import { analyzeTrace, criticalShares, newRouteWindow, type RouteWindowStats } from './journey-stats.js'
import { learnModel, type GatewayPolicy, type JourneyModel } from './model.js'
import { createRng } from './rng.js'
import { JourneySimulator, simulationBuffers } from './simulate.js'
import {
  fiveServiceTopology,
  NO_RETRY_POLICY,
  refusedGatewaySpan,
  syntheticTrace,
  type SyntheticService,
} from './synthetic.js'
import type { JourneySpan } from './span.js'
import { buildTree } from './trace.js'
import { breakerOpenShare, parseWhatIfs, simulateImpact } from './impact.js'

const NO_RETRY: GatewayPolicy = NO_RETRY_POLICY

function observe(entry: SyntheticService, n: number, seed: number, gatewayKept = 0.2) {
  const rng = createRng(seed)
  const rw = newRouteWindow('shop', 0, 60_000)
  let failed = 0
  const lat: number[] = []
  for (let i = 0; i < n; i++) {
    const t = syntheticTrace(
      entry,
      { route: 'shop', gatewayEnv: 'edge', withGatewaySpan: (f) => f || rng.next() < gatewayKept },
      rng,
    )
    const tree = buildTree(t.spans, (s) => s.service === 'shop')
    analyzeTrace(tree, rw, { envOf: () => 'onprem' })
    if (t.failed) failed++
    lat.push(t.latencyMs)
  }
  lat.sort((a, b) => a - b)
  return { rw, failureRatio: failed / n, p95: lat[Math.floor(0.95 * (n - 1))] }
}

function run(model: JourneyModel, n = 100_000, overrides = new Map()) {
  const sim = new JourneySimulator(model, overrides)
  const out = sim.run(n, createRng(7), simulationBuffers(n))
  const lat = out.latencies.slice(0, n).sort()
  return { failureRatio: out.failures / n, p95: lat[Math.floor(0.95 * (n - 1))] }
}

describe('journey statistics and the learned model', () => {
  const topo = fiveServiceTopology()
  const seen = observe(topo.shop, 4000, 1)
  const model = learnModel(seen.rw, NO_RETRY)

  it('learns the call sites, sequence and parallel stages', () => {
    const site = (svc: string) => model.sites.find((s) => s.service === svc)!
    expect(model.sites[0].service).toBe('shop')
    expect(model.sites.map((s) => s.service).sort()).toEqual([
      'auth',
      'inventory',
      'pricing',
      'reviews',
      'shop',
    ])
    expect(site('auth').stage).toBe(0)
    expect(site('inventory').stage).toBe(1)
    expect(site('pricing').stage).toBe(1)
    expect(site('reviews').stage).toBe(1)
    expect(site('pricing').env).toBe('aws')
    expect(site('reviews').fanout[1]).toBeCloseTo(1, 5)
    // shop's own time excludes its calls: about its 3 ms median, not the ~30 ms of the journey
    expect(model.sites[0].self[128]).toBeGreaterThan(2)
    expect(model.sites[0].self[128]).toBeLessThan(5)
    // failures travel up: learned from the failing traces
    expect(model.sites[0].propagate).toBeGreaterThan(0.9)
  })

  it('puts pricing (the slowest parallel call) on the critical path most', () => {
    const shares = criticalShares(seen.rw)
    const top = shares.filter((s) => s.service !== 'shop')[0]
    expect(top.service).toBe('pricing')
    expect(top.onPathRatio).toBeGreaterThan(0.6)
  })

  it('simulates the failure ratio and p95 the traces showed', () => {
    const sim = run(model)
    expect(sim.failureRatio).toBeGreaterThan(seen.failureRatio * 0.6)
    expect(sim.failureRatio).toBeLessThan(seen.failureRatio * 1.6)
    expect(Math.abs(sim.p95 / seen.p95 - 1)).toBeLessThan(0.1)
  })

  it('predicts a what-if error ratio and latency factor as traces under that fault show', () => {
    const faulty = observe(fiveServiceTopology({ pricing: { errorRatio: 0.2 } }).shop, 3000, 2)
    const predicted = run(
      model,
      100_000,
      new Map([[model.sites.findIndex((s) => s.service === 'pricing'), { errorRatio: 0.2 }]]),
    )
    expect(Math.abs(predicted.failureRatio / faulty.failureRatio - 1)).toBeLessThan(0.12)
    const slow = observe(fiveServiceTopology({ inventory: { factor: 3 } }).shop, 3000, 3)
    const predictedSlow = run(
      model,
      100_000,
      new Map([[model.sites.findIndex((s) => s.service === 'inventory'), { latencyFactor: 3 }]]),
    )
    expect(Math.abs(predictedSlow.p95 / slow.p95 - 1)).toBeLessThan(0.1)
  })

  it('applies the gateway retry policy: three attempts fail together', () => {
    const flaky = observe(fiveServiceTopology({ auth: { errorRatio: 0.3 } }).shop, 1500, 4)
    const once = run(learnModel(flaky.rw, NO_RETRY))
    const thrice = run(learnModel(flaky.rw, { ...NO_RETRY, attempts: 3 }))
    expect(thrice.failureRatio).toBeCloseTo(once.failureRatio ** 3, 2)
  })

  it('times attempts out at firstByteTimeoutMs', () => {
    const m = learnModel(seen.rw, { ...NO_RETRY, firstByteTimeoutMs: 20 })
    const r = run(m, 20_000)
    expect(r.p95).toBeLessThanOrEqual(21) // the timeout plus gateway overhead
    expect(r.failureRatio).toBeGreaterThan(0.5)
  })

  /** Adds one trace of route shop (entered at shop, as the gateway's span or the services' say). */
  const analyze = (spans: JourneySpan[], rw: RouteWindowStats) =>
    analyzeTrace(
      buildTree(spans, (s) => s.service === 'shop'),
      rw,
      { envOf: () => 'onprem' },
    )

  it('leaves journeys the client abandoned out: neither failures nor own errors of the service', () => {
    // The client closed the connection (a load run ending with requests in flight): the gateway
    // answered nobody (499, `client_abort`, its span kept for that), shop saw its connection close
    // and failed without a status, its calls all went well. Counted, shop "fails on its own".
    const rng = createRng(11)
    const answered = newRouteWindow('shop', 0, 60_000)
    const withAbandoned = newRouteWindow('shop', 0, 60_000)
    let abandoned = 0
    for (let i = 0; i < 400; i++) {
      const t = syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge' }, rng)
      if (i % 10 !== 0 || t.failed) {
        analyze(t.spans, answered)
        analyze(t.spans, withAbandoned)
        continue
      }
      abandoned++
      const spans = t.spans.map((s): JourneySpan => {
        if (s.source === 'gateway')
          return {
            ...s,
            httpStatus: 499,
            attributes: {
              ...s.attributes,
              'vigil.outcome': 'client_abort',
              'vigil.sample_reason': 'abandoned',
            },
          }
        if (s.service === 'shop' && s.kind === 2) return { ...s, statusCode: 2, httpStatus: null }
        return s
      })
      analyze(spans, withAbandoned)
    }
    expect(abandoned).toBeGreaterThan(30)
    expect(withAbandoned.traces).toBe(answered.traces)
    expect(withAbandoned.failures).toBe(answered.failures)
    const a = learnModel(answered, NO_RETRY)
    const b = learnModel(withAbandoned, NO_RETRY)
    expect(b.sites[0].ownErrors).toBe(a.sites[0].ownErrors)
    expect(b.sites[0].calls).toBe(a.sites[0].calls)
    const pricing = b.sites.findIndex((s) => s.service === 'pricing')
    const under = run(b, 100_000, new Map([[pricing, { errorRatio: 0.2 }]]))
    const truth = run(a, 100_000, new Map([[pricing, { errorRatio: 0.2 }]]))
    expect(under.failureRatio).toBeCloseTo(truth.failureRatio, 3)
  })

  it('names no service on the critical path of a route whose services send no spans (not one at 0 %)', () => {
    const rng = createRng(5)
    const rw = newRouteWindow('shop', 0, 60_000)
    for (let i = 0; i < 200; i++) {
      const t = syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge' }, rng)
      analyze(
        t.spans.filter((s) => s.source === 'gateway'),
        rw,
      )
    }
    expect(rw.traces).toBe(200)
    expect(rw.sites.size).toBeGreaterThan(0)
    expect(criticalShares(rw)).toEqual([])
    // with the services' spans, everyone listed was on the path at least once
    const full = observe(topo.shop, 300, 6)
    const shares = criticalShares(full.rw)
    expect(shares.length).toBeGreaterThan(1)
    for (const c of shares) expect(c.onPathRatio).toBeGreaterThan(0)
  })

  it('leaves requests the gateway answered by itself out: no call, latency or own error of the service', () => {
    // A scraper over its limit gets fast 429s, and for a while the gateway has no healthy target
    // (503): none of it reached shop (`vigil.attempts` 0). Counted, shop would be called by them,
    // its own time would shrink to the gateway's fraction of a millisecond and the 503s would be
    // failures that began in shop. Both with the services' spans and for a route whose services
    // send none (the gateway's span alone stands for the call).
    const refusal = (i: number, status: 429 | 503) =>
      refusedGatewaySpan({ route: 'shop', service: 'shop', gatewayEnv: 'edge', startMs: i, status }, i)
    for (const spansSent of [true, false]) {
      const rng = createRng(12)
      const served = newRouteWindow('shop', 0, 60_000)
      const withRefused = newRouteWindow('shop', 0, 60_000)
      let refused = 0
      for (let i = 0; i < 600; i++) {
        const t = syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge' }, rng)
        const spans = spansSent ? t.spans : t.spans.filter((s) => s.source === 'gateway')
        analyze(spans, served)
        analyze(spans, withRefused)
        if (i % 3 === 0) {
          refused++
          const summary = analyze([refusal(i, i % 2 === 0 ? 503 : 429)], withRefused)
          // nothing for the graph, nor an entry span to learn the route by
          expect(summary.calls).toEqual([])
          expect(summary.served).toEqual([])
          expect(summary.entryService).toBeNull()
        }
      }
      expect(withRefused.refused).toBe(refused)
      expect(withRefused.traces).toBe(served.traces)
      expect(withRefused.failures).toBe(served.failures)
      expect(withRefused.latency.getValueAtQuantile(0.5)).toBe(served.latency.getValueAtQuantile(0.5))
      expect(withRefused.gatewayOverhead.count).toBe(served.gatewayOverhead.count)
      const a = learnModel(served, NO_RETRY)
      const b = learnModel(withRefused, NO_RETRY)
      expect(b.observed).toEqual(a.observed)
      expect(b.sites[0].service).toBe('shop')
      expect(b.sites[0].calls).toBe(a.sites[0].calls)
      expect(b.sites[0].ownErrors).toBe(a.sites[0].ownErrors)
      expect(b.sites[0].self).toEqual(a.sites[0].self)
      expect(criticalShares(withRefused)).toEqual(criticalShares(served))
    }
  })

  it('reaches 100,000 journeys without allocating per journey (same buffers)', () => {
    const sim = new JourneySimulator(model)
    const buf = simulationBuffers(50_000)
    const rng = createRng(3)
    const a = sim.run(50_000, rng, buf)
    const b = sim.run(50_000, rng, buf)
    expect(a).toBe(b)
    expect(b.journeys).toBe(50_000)
  })
})

describe('impact over a horizon', () => {
  const seen = observe(fiveServiceTopology().shop, 1500, 5)
  const model = learnModel(seen.rw, NO_RETRY)
  const opts = {
    horizonMs: 30 * 60_000,
    traffic: {
      stepMs: 60_000,
      rate: new Array(30).fill(10),
      lower: new Array(30).fill(8),
      upper: new Array(30).fill(12),
    },
    slo: { availability: 0.98, latencyMs: 500 },
    journeys: 20_000,
    batches: 10,
  }

  it('counts a 10-minute outage as about 10 minutes of downtime and its failed requests', () => {
    const r = simulateImpact(
      model,
      parseWhatIfs([{ kind: 'down', service: 'pricing', durationMs: 600_000 }]),
      opts,
    )
    const s = r.scenario!
    expect(s.expectedDowntimeMinutes.value).toBeGreaterThan(9.5)
    expect(s.expectedDowntimeMinutes.value).toBeLessThan(11)
    expect(s.expectedFailedRequests.value).toBeGreaterThan(6000 * 0.98)
    expect(s.expectedFailedRequests.value).toBeLessThan(6000 * 1.05)
    expect(s.expectedFailedRequests.low).toBeLessThan(s.expectedFailedRequests.value)
    expect(s.expectedFailedRequests.high).toBeGreaterThan(s.expectedFailedRequests.value)
    expect(s.sloBreachProbability.value).toBeGreaterThan(0.99)
    expect(r.baseline.sloBreachProbability.value).toBeLessThan(0.5)
    expect(s.successProbability.value).toBeLessThan(0.01)
  })

  it('gives the latency of the journeys that succeed apart from the time to fail, none when all fail', () => {
    // half of auth's calls fail: the journeys that fail stop early, and the latency over all of
    // them drops, while the ones that succeed take as long as they did
    const r = simulateImpact(model, parseWhatIfs([{ kind: 'errorRatio', service: 'auth', value: 0.5 }]), opts)
    const base = r.baseline.succeededLatencyMs!
    const ok = r.scenario!.succeededLatencyMs!
    expect(base.p95.value).toBeCloseTo(r.baseline.latencyMs.p95.value, -1)
    expect(ok.p95.value).toBeGreaterThan(base.p95.value * 0.8)
    expect(ok.p95.value).toBeLessThan(base.p95.value * 1.25)
    expect(ok.p95.low).toBeLessThanOrEqual(ok.p95.value)
    expect(ok.p95.high).toBeGreaterThanOrEqual(ok.p95.value)
    // the entry service down: every journey fails, and no latency of a success is made up
    const down = simulateImpact(model, parseWhatIfs([{ kind: 'down', service: 'shop' }]), opts).scenario!
    expect(down.successProbability.value).toBe(0)
    expect(down.succeededLatencyMs).toBeNull()
    expect(down.latencyMs.p95.value).toBeLessThan(r.baseline.latencyMs.p95.value / 2)
  })

  it('brackets every traffic-dependent figure, also those that fall as traffic rises', () => {
    // at ~1 % failures, a minute of 1 request fails past the 5 % threshold far more often than
    // a minute of 1,000: downtime is highest at the lowest traffic
    const r = simulateImpact(model, [], {
      ...opts,
      traffic: {
        stepMs: 60_000,
        rate: new Array(30).fill(0.5),
        lower: new Array(30).fill(0.01),
        upper: new Array(30).fill(20),
      },
    })
    const b = r.baseline
    for (const [name, x] of Object.entries({
      downtime: b.expectedDowntimeMinutes,
      breach: b.sloBreachProbability,
      failed: b.expectedFailedRequests,
    })) {
      expect(x.low, name).toBeLessThanOrEqual(x.value)
      expect(x.high, name).toBeGreaterThanOrEqual(x.value)
    }
    expect(b.expectedDowntimeMinutes.high).toBeGreaterThan(b.expectedDowntimeMinutes.value)
  })

  it('counts distinct users affected from the clients’ request rates', () => {
    const clients = [1, 0.01, 0.001] // req/s each
    const r = simulateImpact(model, parseWhatIfs([{ kind: 'errorRatio', service: 'auth', value: 0.5 }]), {
      ...opts,
      clients,
    })
    const u = r.scenario!.usersAffected!
    // the first two send hundreds / ~18 requests in 30 minutes: surely hit; the third ~1.8: 1-(1-p)^1.8
    expect(u.value).toBeGreaterThan(2.5)
    expect(u.value).toBeLessThan(3)
  })

  it('counts users hit by slow requests as affected, as the SLO does', () => {
    const clients = new Array(10).fill(0.001) // ~1.8 requests each in 30 minutes
    const r = simulateImpact(model, parseWhatIfs([{ kind: 'latency', service: 'inventory', factor: 50 }]), {
      ...opts,
      clients,
    })
    const s = r.scenario!
    const miss = s.requestSloMissRatio.value
    const failed = 1 - s.successProbability.value
    // slow, not failing: most requests miss the 500 ms SLO, few fail
    expect(miss).toBeGreaterThan(0.5)
    expect(failed).toBeLessThan(0.2)
    const n = 0.001 * 1800
    const expected = 10 * (1 - (1 - miss) ** n)
    expect(s.usersAffected!.value).toBeGreaterThan(0.9 * expected)
    expect(s.usersAffected!.value).toBeGreaterThan(2 * 10 * (1 - (1 - failed) ** n))
  })

  it('turns a replica loss into a latency factor by utilization', () => {
    const r = simulateImpact(
      model,
      parseWhatIfs([{ kind: 'replicaLoss', service: 'pricing', replicas: 2, utilization: 0.4 }]),
      opts,
    )
    expect(r.applied[0].change).toMatch(/utilization 0.40 → 0.80, own time ×3.00/)
    expect(r.scenario!.latencyMs.p95.value).toBeGreaterThan(r.baseline.latencyMs.p95.value * 1.5)
  })

  it('rejects an unknown service and a ratio outside [0, 1], naming the field', () => {
    expect(() =>
      simulateImpact(model, parseWhatIfs([{ kind: 'latency', service: 'nope', factor: 2 }]), opts),
    ).toThrow(/scenarios\[0\]\.service: .*does not call "nope" \(it calls: .*pricing \(aws\)/)
    expect(() => parseWhatIfs([{ kind: 'errorRatio', service: 'auth', value: 1.5 }])).toThrow(
      /scenarios\[0\]\.value: expected a ratio in \[0, 1\], got 1.5/,
    )
    expect(() => parseWhatIfs([{ kind: 'errorRatio', service: 'auth' }])).toThrow(
      /scenarios\[0\]\.value: required/,
    )
    expect(() => parseWhatIfs([{ kind: 'slow', service: 'auth' }])).toThrow(/scenarios\[0\]\.kind/)
    expect(() => parseWhatIfs([{ kind: 'down', service: 'auth', bogus: 1 }])).toThrow(
      /scenarios\[0\]\.bogus: unknown field/,
    )
  })
})

describe('breakerOpenShare', () => {
  /** A direct simulation of the gateway's breaker (breaker.ts semantics) at a fixed attempt rate. */
  function direct(
    q: number,
    perSec: number,
    durationMs: number,
    k: number,
    base: number,
    max: number,
    seed: number,
  ) {
    const rng = createRng(seed)
    let fails = 0
    let ejections = 0
    let openUntil = -1
    let closedAt = 0
    let openMs = 0
    const dt = 1000 / perSec
    for (let t = 0; t < durationMs; t += dt) {
      if (t < openUntil) {
        openMs += dt
        continue
      }
      const failed = rng.next() < q
      const probing = openUntil >= 0
      if (!failed) {
        fails = 0
        if (probing) {
          openUntil = -1
          closedAt = t
        }
        continue
      }
      if (probing || ++fails >= k) {
        if (ejections > 0 && closedAt > 0 && t - closedAt >= max) ejections = 0
        ejections++
        openUntil = t + Math.min(base * ejections, max)
        fails = 0
      }
    }
    return openMs / durationMs
  }

  it('matches a direct simulation of the breaker within a few points', () => {
    const b = { consecutiveFailures: 5, baseEjectionMs: 5000, maxEjectionMs: 60_000 }
    for (const q of [0.05, 0.2, 0.5]) {
      const got = breakerOpenShare(q, 50, 3_600_000, b, null)
      const want =
        [1, 2, 3].map((s) => direct(q, 50, 3_600_000, 5, 5000, 60_000, s)).reduce((a, x) => a + x) / 3
      expect(Math.abs(got - want)).toBeLessThan(0.08)
    }
    expect(breakerOpenShare(0, 50, 60_000, b, null)).toBe(0)
  })
})
