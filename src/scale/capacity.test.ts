import { describe, expect, it } from 'vitest'
import { gaussian, rng } from '../forecast/stats.js'
import {
  CapacityEstimator,
  capacityOptionsProblem,
  isotonic,
  type CapacityLearningOptions,
  type CapacityWindow,
} from './capacity.js'

const STEP = 10_000
const base: CapacityLearningOptions = { initial: 50, min: 5, max: 500, targetUtilization: 0.8 }

/**
 * Windows at loads drawn log-uniformly in [lo, hi] per replica, latency = curve(load) × lognormal
 * noise (σ), errors from errors(load).
 */
function windows(
  n: number,
  lo: number,
  hi: number,
  curve: (x: number) => number,
  opts: { seed?: number; sigma?: number; errors?: (x: number) => number; outliers?: number } = {},
): CapacityWindow[] {
  const u = rng(opts.seed ?? 1)
  const z = gaussian(u)
  const out: CapacityWindow[] = []
  for (let i = 0; i < n; i++) {
    const x = lo * Math.exp(u() * Math.log(hi / lo))
    let latency = curve(x) * Math.exp((opts.sigma ?? 0.15) * z())
    // a GC pause or a slow dependency: unrelated to load
    if (u() < (opts.outliers ?? 0)) latency *= 8
    out.push({
      atMs: i * STEP,
      perReplica: x,
      latencyMs: latency,
      errorRatio: opts.errors?.(x) ?? 0.001,
      requests: 200,
    })
  }
  return out
}

function learn(ws: CapacityWindow[], o: Partial<CapacityLearningOptions> = {}) {
  const e = new CapacityEstimator({ ...base, ...o })
  for (const w of ws) e.observe(w)
  return e.estimate()
}

/** Flat at 40 ms up to 0.8·k, then a quadratic rise that doubles the latency exactly at k. */
const hockey = (k: number) => (x: number) => 40 * (1 + Math.max(0, (x - 0.8 * k) / (0.2 * k)) ** 2)
/** M/M/1 p95 sojourn time ln(20)/(μ − λ): twice the low-load p95 at λ = μ/2. */
const mm1 = (mu: number) => (x: number) => (1000 * Math.log(20)) / Math.max(mu - x, mu * 0.01)

describe('CapacityEstimator', () => {
  it('finds a known knee on a noisy hockey-stick curve', () => {
    for (const [k, seed] of [
      [40, 1],
      [120, 2],
      [900, 3],
    ]) {
      const e = learn(windows(400, k / 10, k * 1.6, hockey(k), { seed }), {
        initial: k / 3,
        min: k / 10,
        max: k * 10,
      })
      expect(e.source).toBe('knee')
      expect(e.learned).toBe(true)
      expect(e.perReplica / k).toBeGreaterThan(0.9)
      expect(e.perReplica / k).toBeLessThan(1.1)
      expect(e.highestGood!).toBeLessThanOrEqual(e.perReplica)
      expect(e.lowestBad!).toBeGreaterThanOrEqual(e.perReplica)
    }
  })

  it('finds where a queue doubles its low-load latency (M/M/1: half the service rate)', () => {
    const e = learn(windows(600, 2, 95, mm1(100), { seed: 4, sigma: 0.25 }))
    expect(e.source).toBe('knee')
    // the baseline is measured a little above zero load, so the crossing sits a little below 50
    expect(e.perReplica).toBeGreaterThan(42)
    expect(e.perReplica).toBeLessThan(55)
  })

  it('is not thrown by load-unrelated latency spikes (10 % of windows ×8)', () => {
    const e = learn(windows(600, 5, 90, hockey(60), { seed: 5, outliers: 0.1 }))
    expect(e.source).toBe('knee')
    expect(e.perReplica).toBeGreaterThan(54)
    expect(e.perReplica).toBeLessThan(66)
  })

  it('judges against an absolute latency objective when one is configured', () => {
    // hockey(60) reaches 80 ms at 60 and 60 ms at 0.8·60 + 0.2·60·√0.5 ≈ 56.5
    const e = learn(windows(500, 5, 90, hockey(60), { seed: 6, sigma: 0.05 }), { latencyTargetMs: 60 })
    expect(e.targetMs).toBe(60)
    expect(e.perReplica).toBeGreaterThan(53)
    expect(e.perReplica).toBeLessThan(60)
  })

  it('finds the knee from errors when latency stays flat (a replica that sheds load)', () => {
    const e = learn(windows(500, 5, 100, () => 30, { seed: 7, errors: (x) => (x > 70 ? 0.2 : 0.002) }))
    expect(e.source).toBe('knee')
    expect(e.perReplica).toBeGreaterThan(63)
    expect(e.perReplica).toBeLessThan(77)
  })

  it('keeps the initial capacity with too few windows', () => {
    const e = learn(windows(59, 5, 90, hockey(60)), { initial: 33, minWindows: 60 })
    expect(e).toMatchObject({ perReplica: 33, source: 'initial', learned: false, windows: 59 })
    // and windows without requests, load or latency are no evidence
    const est = new CapacityEstimator({ ...base, minWindows: 6 })
    for (let i = 0; i < 20; i++) {
      est.observe({ atMs: i, perReplica: 10, latencyMs: 20, errorRatio: 0, requests: 2 })
      est.observe({ atMs: i, perReplica: 0, latencyMs: 20, errorRatio: 0, requests: 50 })
      est.observe({ atMs: i, perReplica: 10, latencyMs: NaN, errorRatio: 0, requests: 50 })
    }
    expect(est.windows).toBe(0)
    expect(est.estimate().source).toBe('initial')
  })

  it('without saturation seen: never below the initial, above it only to the highest good load ÷ u', () => {
    // the knee is at 200 but nothing above 60 per replica was seen
    const seen = windows(300, 10, 60, hockey(200), { seed: 8 })
    const high = learn(seen, { initial: 100 })
    expect(high).toMatchObject({ perReplica: 100, source: 'unsaturated', learned: false })
    const low = learn(seen, { initial: 20 })
    expect(low.source).toBe('unsaturated')
    expect(low.learned).toBe(true)
    expect(low.perReplica).toBeCloseTo(low.highestGood! / 0.8, 6)
    expect(low.highestGood!).toBeLessThanOrEqual(60)
    expect(low.highestGood!).toBeGreaterThan(50)
  })

  it('does not raise the capacity from a narrow band of load measured against itself', () => {
    // always near 40 per replica, already slow: the baseline is that load; nothing is known above
    const e = learn(
      windows(300, 36, 44, () => 500, { seed: 9 }),
      { initial: 20 },
    )
    expect(e).toMatchObject({ perReplica: 20, source: 'unsaturated', learned: false })
  })

  it('holds a bad estimate to the bounds', () => {
    const ws = windows(400, 50, 1500, hockey(1000), { seed: 10 })
    expect(learn(ws, { initial: 100, max: 300 })).toMatchObject({ perReplica: 300, bounded: 'max' })
    const slow = windows(400, 0.5, 15, hockey(10), { seed: 11 })
    expect(learn(slow, { initial: 100, min: 25 })).toMatchObject({
      perReplica: 25,
      bounded: 'min',
      source: 'knee',
    })
  })

  it('an objective missed at every load seen gives the lowest load seen (within the bounds)', () => {
    const e = learn(
      windows(200, 20, 60, () => 300, { seed: 12 }),
      { latencyTargetMs: 100 },
    )
    expect(e.source).toBe('missed')
    expect(e.perReplica).toBeGreaterThanOrEqual(20)
    expect(e.perReplica).toBeLessThan(24)
  })

  it('forgets evidence older than its memory: a faster release is learned again', () => {
    const e = new CapacityEstimator({ ...base, memoryMs: 3_600_000 })
    for (const w of windows(300, 5, 90, hockey(40), { seed: 13 })) e.observe(w)
    expect(e.estimate().perReplica).toBeLessThan(45)
    // two hours later the service handles 80 per replica
    for (const w of windows(300, 5, 110, hockey(80), { seed: 14 }))
      e.observe({ ...w, atMs: w.atMs + 7_200_000 })
    const after = e.estimate()
    expect(after.windows).toBeLessThanOrEqual(300)
    expect(after.perReplica).toBeGreaterThan(72)
    expect(after.perReplica).toBeLessThan(88)
  })

  it('rejects bad options naming the field', () => {
    expect(capacityOptionsProblem({ ...base, initial: 0 })).toMatch(
      /^initial: expected requests per second > 0/,
    )
    expect(capacityOptionsProblem({ ...base, min: 60 })).toMatch(/^min: 60 is above initial 50/)
    expect(capacityOptionsProblem({ ...base, max: 40 })).toMatch(/^max: 40 is below initial 50/)
    expect(capacityOptionsProblem({ ...base, latencyMultiple: 1 })).toMatch(/^latencyMultiple:/)
    expect(capacityOptionsProblem({ ...base, minWindows: 2 })).toMatch(/^minWindows:/)
    expect(() => new CapacityEstimator({ ...base, initial: NaN })).toThrow(/capacity learning: initial/)
  })
})

describe('isotonic', () => {
  it('pools adjacent violators by weight', () => {
    expect(isotonic([1, 3, 2, 4], [1, 1, 1, 1])).toEqual([1, 2.5, 2.5, 4])
    expect(isotonic([5, 1, 1], [1, 1, 2])).toEqual([2, 2, 2])
    expect(isotonic([], [])).toEqual([])
  })
})
