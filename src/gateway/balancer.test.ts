import { afterEach, describe, expect, it } from 'vitest'
import { validateConfig } from '../config/load.js'
import type { ServiceConfig } from '../config/schema.js'
import { Balancer, weightedOrder } from './balancer.js'
import { TargetState } from './target.js'

const made: TargetState[] = []
function svc(balancer: string): ServiceConfig {
  const r = validateConfig({
    services: { s: { targets: ['http://127.0.0.1:1'], balancer, breaker: { consecutiveFailures: 1 } } },
    routes: [{ path: '/', service: 's' }],
  })
  return r.config!.services.s
}
function targets(n: number, cfg: ServiceConfig, weights: number[] = []): TargetState[] {
  const ts = Array.from(
    { length: n },
    (_, i) => new TargetState('s', `http://127.0.0.1:${1000 + i}`, weights[i] ?? 1, cfg),
  )
  made.push(...ts)
  return ts
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((t) => t.close(false)))
})

describe('weightedOrder', () => {
  it('interleaves targets in proportion to their weights (smooth WRR)', () => {
    expect(weightedOrder([1, 1, 1])).toEqual([0, 1, 2])
    expect(weightedOrder([5, 1, 1])).toEqual([0, 0, 1, 0, 2, 0, 0])
  })
})

describe('Balancer', () => {
  it('round-robin cycles through the targets and skips an ejected one', () => {
    const cfg = svc('round-robin')
    const ts = targets(3, cfg)
    const b = new Balancer('round-robin', ts)
    expect([b.pick(0, null), b.pick(0, null), b.pick(0, null)]).toEqual(ts)
    ts[1].breaker.onFailure(0)
    const picks = Array.from({ length: 4 }, () => b.pick(0, null))
    expect(picks).not.toContain(ts[1])
  })

  it('skips unhealthy targets and answers null when none is left', () => {
    const cfg = svc('round-robin')
    const ts = targets(2, cfg)
    const b = new Balancer('round-robin', ts)
    ts[0].healthy = false
    expect(b.pick(0, null)).toBe(ts[1])
    ts[1].healthy = false
    expect(b.pick(0, null)).toBeNull()
  })

  it('prefers a target other than the one a retry just failed on', () => {
    const cfg = svc('round-robin')
    const ts = targets(2, cfg)
    const b = new Balancer('round-robin', ts)
    for (let i = 0; i < 5; i++) expect(b.pick(0, ts[0])).toBe(ts[1])
  })

  it('least-outstanding picks the less loaded of two random targets', () => {
    const cfg = svc('least-outstanding')
    const ts = targets(2, cfg)
    const b = new Balancer('least-outstanding', ts)
    ts[0].inFlight = 10
    for (let i = 0; i < 20; i++) expect(b.pick(0, null)).toBe(ts[1])
  })

  it('least-outstanding spreads load over many targets', () => {
    const cfg = svc('least-outstanding')
    const ts = targets(4, cfg)
    const b = new Balancer('least-outstanding', ts)
    for (let i = 0; i < 400; i++) b.pick(0, null)!.inFlight++
    for (const t of ts) expect(t.inFlight).toBeGreaterThan(80)
  })

  it('sends a single probe to a half-open target', () => {
    const cfg = svc('round-robin')
    const [t] = targets(1, cfg)
    const b = new Balancer('round-robin', [t])
    t.breaker.onFailure(0)
    expect(b.pick(1, null)).toBeNull()
    expect(b.pick(60_000, null)).toBe(t)
    expect(b.pick(60_000, null)).toBeNull()
  })
})
