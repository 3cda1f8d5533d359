import { describe, expect, it } from 'vitest'
import { limitsProblem, reasonOf, ScalingPolicy, type ScalingLimits } from './policy.js'

const limits: ScalingLimits = { min: 1, max: 20, capacityPerReplica: 100, targetUtilization: 0.8 }
const MIN = 60_000

describe('ScalingPolicy (reactive, HPA-shaped)', () => {
  it('scales up at once to ⌈load / (C·u)⌉', () => {
    const p = new ScalingPolicy({ kind: 'reactive', limits, stabilizationMs: 5 * MIN, tolerance: 0.1 })
    const d = p.decide({ atMs: MIN, observed: 500, current: 2 })
    expect(d.desired).toBe(7) // 500 / 80 = 6.25
    expect(d.direction).toBe('up')
    expect(d.driver).toBe('reactive')
    expect(d.reason).toMatch(/scale up 2 → 7/)
  })

  it('the reason gives the forecast band its unit and says what the level is of', () => {
    const e = {
      observed: 412,
      reactiveNeed: 6,
      predictiveNeed: 7,
      forecast: 530,
      upper: 610,
      model: 'ets(A,A,N)',
      level: 90,
      windowNeed: 6,
      headroomShare: 1,
    }
    expect(reasonOf('up', 'predictive', e, 4, 7, limits)).toBe(
      'scale up 4 → 7: the forecast over the lead time needs 7 (observed 412 req/s, forecast peak 530 req/s (90% band up to 610 req/s, ets(A,A,N)); 100 req/s per replica at 80%)',
    )
  })

  it('the reason of a rule that projects one value (momentum) names no band', () => {
    const e = {
      observed: 10.5,
      reactiveNeed: 2,
      predictiveNeed: 3,
      forecast: 17.5,
      upper: 17.5,
      model: 'momentum',
      level: 0,
      windowNeed: 2,
      headroomShare: null,
    }
    expect(reasonOf('up', 'predictive', e, 2, 3, limits)).toBe(
      'scale up 2 → 3: the forecast over the lead time needs 3 (observed 10.5 req/s, forecast peak 17.5 req/s (momentum); 100 req/s per replica at 80%)',
    )
  })

  it('ignores changes inside the tolerance band', () => {
    const p = new ScalingPolicy({ kind: 'reactive', limits, stabilizationMs: 5 * MIN, tolerance: 0.1 })
    // 5 replicas at 80 req/s each = 400; 430 is 7.5% above
    const d = p.decide({ atMs: MIN, observed: 430, current: 5 })
    expect(d.desired).toBe(5)
    expect(d.driver).toBe('tolerance')
  })

  it('scales down only once the whole stabilisation window needed fewer replicas', () => {
    const p = new ScalingPolicy({ kind: 'reactive', limits, stabilizationMs: 5 * MIN })
    let current = p.decide({ atMs: 0, observed: 800, current: 10 }).desired
    expect(current).toBe(10)
    const seen: number[] = []
    for (let m = 1; m <= 7; m++) {
      current = p.decide({ atMs: m * MIN, observed: 160, current }).desired
      seen.push(current)
    }
    // the 800 req/s point stays in the 5-minute window until minute 5
    expect(seen).toEqual([10, 10, 10, 10, 2, 2, 2])
  })

  it('downTolerance ignores a scale-down of no more than that fraction of the replicas', () => {
    const wide: ScalingLimits = { ...limits, max: 50 }
    const decide = (downTolerance: number | undefined, current: number, observed: number) =>
      new ScalingPolicy({ kind: 'reactive', limits: wide, stabilizationMs: 0, downTolerance }).decide({
        atMs: 0,
        observed,
        current,
      })
    // 1,520 req/s needs 19 of 20 replicas: 5 % fewer
    expect(decide(undefined, 20, 1520).desired).toBe(19)
    expect(decide(0.1, 20, 1520)).toMatchObject({ desired: 20, direction: 'hold', driver: 'tolerance' })
    // 17 of 20 is beyond 10 %: scales down, all the way
    expect(decide(0.1, 20, 1360)).toMatchObject({ desired: 17, direction: 'down' })
    // below 10 replicas one replica is more than 10 %: never binds
    expect(decide(0.1, 5, 320).desired).toBe(4)
    // scale-ups are untouched
    expect(decide(0.1, 20, 1700).desired).toBe(22)
  })

  it('keeps min and max', () => {
    const p = new ScalingPolicy({ kind: 'reactive', limits, stabilizationMs: 0 })
    expect(p.decide({ atMs: 0, observed: 0, current: 3 }).desired).toBe(1)
    const d = p.decide({ atMs: 1, observed: 1e6, current: 3 })
    expect(d.desired).toBe(20)
    expect(d.driver).toBe('max')
  })

  it('bounds each step by maxStepUp and maxStepDown', () => {
    const p = new ScalingPolicy({
      kind: 'reactive',
      limits: { ...limits, maxStepUp: 2, maxStepDown: 1 },
      stabilizationMs: 0,
    })
    const up = p.decide({ atMs: 0, observed: 1000, current: 2 })
    expect(up.desired).toBe(4)
    expect(up.driver).toBe('step')
    expect(p.decide({ atMs: 1, observed: 0, current: 10 }).desired).toBe(9)
  })
})

describe('ScalingPolicy (predictive)', () => {
  it('sizes the point forecast at the target utilisation and the upper band at full capacity', () => {
    const p = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 30 * MIN })
    const byPoint = p.decide({
      atMs: 0,
      observed: 100,
      current: 2,
      forecast: { point: 300, upper: 320, model: 'ets', level: 90 },
    })
    expect(byPoint.desired).toBe(4) // 300/80 = 3.75 > 320/100
    expect(byPoint.driver).toBe('predictive')
    expect(byPoint.evidence).toMatchObject({
      observed: 100,
      reactiveNeed: 2,
      predictiveNeed: 4,
      forecast: 300,
      upper: 320,
      model: 'ets',
      level: 90,
    })
    const p2 = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 30 * MIN })
    expect(
      p2.decide({
        atMs: 0,
        observed: 100,
        current: 2,
        forecast: { point: 300, upper: 610, model: 'ets', level: 90 },
      }).desired,
    ).toBe(7)
  })

  it('reacts to observed load the forecast missed (reactive override)', () => {
    const p = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 30 * MIN })
    const d = p.decide({
      atMs: 0,
      observed: 900,
      current: 2,
      forecast: { point: 100, upper: 150, model: 'theta', level: 90 },
    })
    expect(d.desired).toBe(12)
    expect(d.driver).toBe('reactive')
  })

  it('is reactive without a forecast', () => {
    const p = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 0 })
    expect(p.decide({ atMs: 0, observed: 400, current: 1, forecast: null }).desired).toBe(5)
  })

  it('scales the forecast headroom back when it costs more than the budget', () => {
    const p = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 0, headroomBudget: 0.1 })
    let current = 2
    const shares: number[] = []
    for (let m = 0; m < 600; m++) {
      // a forecast that always asks for three times what the load needs
      const d = p.decide({
        atMs: m * MIN,
        observed: 160,
        current,
        forecast: { point: 480, upper: 600, model: 'x', level: 90 },
      })
      current = d.desired
      shares.push(d.evidence.headroomShare!)
    }
    expect(shares[0]).toBe(1)
    // 2 replicas needed, 6 asked: the spend settles near 1.1 × 2
    expect(current).toBeLessThanOrEqual(3)
    expect(shares[599]).toBeLessThan(0.5)
  })

  it('upTolerance holds a scale-up the forecast alone asks for until its need exceeds current × (1 + upTolerance)', () => {
    const fc = (point: number) => ({ point, upper: 450, model: 'x', level: 90 })
    const decide = (upTolerance: number | undefined, observed: number, point: number) =>
      new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 5 * MIN, upTolerance }).decide({
        atMs: 0,
        observed,
        current: 5,
        forecast: fc(point),
      })
    // 420 / 80 = 5.25 replicas: within 20 % of 5
    expect(decide(undefined, 300, 420).desired).toBe(6)
    const held = decide(0.2, 300, 420)
    expect(held).toMatchObject({ desired: 5, direction: 'hold', driver: 'tolerance' })
    expect(held.evidence.predictiveNeed).toBe(6)
    // 500 / 80 = 6.25 > 6: beyond the tolerance, the forecast scales up as before
    expect(decide(0.2, 300, 500)).toMatchObject({ desired: 7, driver: 'predictive' })
    // the observed load needing 6 (450 / 80 = 5.6) is never held: the reactive override stays immediate
    expect(decide(0.2, 450, 420)).toMatchObject({ desired: 6, driver: 'reactive' })
    // and a scale-down is not affected
    const down = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 0, upTolerance: 0.2 })
    expect(
      down.decide({
        atMs: 0,
        observed: 100,
        current: 5,
        forecast: { point: 100, upper: 150, model: 'x', level: 90 },
      }).desired,
    ).toBe(2)
  })

  it('headroomBudget 0 turns the forecast off', () => {
    const p = new ScalingPolicy({ kind: 'predictive', limits, stabilizationMs: 0, headroomBudget: 0 })
    p.decide({
      atMs: 0,
      observed: 160,
      current: 2,
      forecast: { point: 480, upper: 600, model: 'x', level: 90 },
    })
    expect(
      p.decide({
        atMs: MIN,
        observed: 160,
        current: 2,
        forecast: { point: 480, upper: 600, model: 'x', level: 90 },
      }).desired,
    ).toBe(2)
  })
})

describe('limitsProblem', () => {
  it('names the field and the fix', () => {
    expect(limitsProblem(limits)).toBeNull()
    expect(limitsProblem({ ...limits, min: 5, max: 2 })).toBe('min: 5 is above max 2; lower min or raise max')
    expect(limitsProblem({ ...limits, capacityPerReplica: 0 })).toMatch(
      /^capacityPerReplica: expected requests per second > 0/,
    )
    expect(limitsProblem({ ...limits, targetUtilization: 1.5 })).toMatch(/^targetUtilization:/)
    expect(limitsProblem({ ...limits, maxStepUp: 0 })).toMatch(/^maxStepUp:/)
    expect(
      () =>
        new ScalingPolicy({ kind: 'reactive', limits: { ...limits, min: 3, max: 1 }, stabilizationMs: 0 }),
    ).toThrow(/min: 3 is above max 1/)
  })
})
