import { describe, expect, it } from 'vitest'
import { parsePattern, pickKey, rateAt } from './patterns.js'

describe('traffic patterns', () => {
  it('steady holds the rate', () => {
    expect(rateAt('steady', 100, 0, 60_000)).toBe(100)
    expect(rateAt('steady', 100, 59_000, 60_000)).toBe(100)
  })

  it('diurnal starts at the night trough and peaks at midday', () => {
    expect(rateAt('diurnal', 100, 0, 60_000)).toBeCloseTo(20)
    expect(rateAt('diurnal', 100, 30_000, 60_000)).toBeCloseTo(100)
    expect(rateAt('diurnal', 100, 60_000, 60_000)).toBeCloseTo(20)
  })

  it('spike bursts to five times the rate in the middle only', () => {
    expect(rateAt('spike', 10, 10_000, 100_000)).toBe(10)
    expect(rateAt('spike', 10, 50_000, 100_000)).toBe(50)
    expect(rateAt('spike', 10, 90_000, 100_000)).toBe(10)
  })

  it('abusive gives the first tenth of the keys most of the traffic', () => {
    const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
    const counts = new Map<string, number>()
    for (let i = 0; i < 10_000; i++) {
      const k = pickKey('abusive', keys, i / 10_000)!
      counts.set(k, (counts.get(k) ?? 0) + 1)
    }
    const abusers = (counts.get('k0') ?? 0) + (counts.get('k1') ?? 0)
    expect(abusers / 10_000).toBeCloseTo(0.8, 2)
    expect(counts.size).toBe(20)
  })

  it('spreads keys evenly for other patterns and sends none without keys', () => {
    expect(pickKey('steady', ['a', 'b'], 0.1)).toBe('a')
    expect(pickKey('steady', ['a', 'b'], 0.9)).toBe('b')
    expect(pickKey('steady', [], 0.5)).toBeNull()
  })

  it('names the flag for an unknown pattern', () => {
    expect(parsePattern('spike')).toBe('spike')
    expect(() => parsePattern('flood')).toThrow(
      /--pattern: expected one of steady, diurnal, spike, abusive, got "flood"/,
    )
  })
})
