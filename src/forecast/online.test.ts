import { describe, expect, it } from 'vitest'
import { OnlineForecaster } from './online.js'
import { gaussian, rng } from './stats.js'

describe('OnlineForecaster', () => {
  it('gives nothing before its first fit, then a peak with an upper band above it', () => {
    const f = new OnlineForecaster({ lead: 3, refitEvery: 20, minHistory: 30 })
    for (let i = 0; i < 29; i++) {
      f.update(100 + (i % 5))
      expect(f.peak()).toBeNull()
    }
    f.update(100)
    const p = f.peak()!
    expect(p.upper).toBeGreaterThanOrEqual(p.point)
    expect(p.model).not.toBe('none')
  })

  it('calibrates its band: about the nominal share of realised peaks stays under it', () => {
    const u = rng(3)
    const g = gaussian(u)
    const f = new OnlineForecaster({ lead: 3, refitEvery: 50, level: 90 })
    const values = Array.from({ length: 1500 }, () => 200 + 20 * g())
    const uppers: number[] = []
    for (const v of values) {
      f.update(v)
      uppers.push(f.peak()?.upper ?? NaN)
    }
    let inside = 0
    let total = 0
    for (let t = 300; t < values.length - 3; t++) {
      total++
      if (Math.max(values[t + 1], values[t + 2], values[t + 3]) <= uppers[t]) inside++
    }
    expect(inside / total).toBeGreaterThan(0.85)
    expect(inside / total).toBeLessThan(0.96)
  })

  it('extrapolates a ramp the last fit did not see', () => {
    const f = new OnlineForecaster({ lead: 3, refitEvery: 1000, minHistory: 30 })
    for (let i = 0; i < 100; i++) f.update(100)
    for (let k = 1; k <= 3; k++) f.update(100 + 50 * k)
    // 250 now, rising 50 a step: the peak over the next 3 steps is well above the last value
    expect(f.peak()!.point).toBeGreaterThan(300)
  })

  it('expects a rise that recurred at this time in both of the last two seasons', () => {
    const m = 48
    const series = (days: number) =>
      Array.from({ length: days * m }, (_, i) => (i % m >= 30 && i % m < 34 ? 400 : 100))
    const f = new OnlineForecaster({ lead: 3, refitEvery: 24, freqSec: 1800 })
    // 1800 s steps: the natural daily season is 48
    const y = series(4)
    let before = 0
    for (let i = 0; i < 3 * m + 28; i++) f.update(y[i])
    before = f.peak()!.point
    expect(before).toBeGreaterThan(300)
  })

  it('carries the last value over missing input', () => {
    const f = new OnlineForecaster({ lead: 1, refitEvery: 10, minHistory: 5 })
    for (let i = 0; i < 10; i++) f.update(50)
    f.update(NaN)
    expect(f.peak()!.point).toBeCloseTo(50, 6)
  })
})
