import { describe, expect, it } from 'vitest'
import { backoffMs } from './backoff.js'

describe('backoffMs (exponential, full jitter)', () => {
  it('scales the cap by 2^(retry-1) and draws uniformly below it', () => {
    expect(backoffMs(1, 25, 1000, () => 0.999)).toBe(24)
    expect(backoffMs(2, 25, 1000, () => 0.999)).toBe(49)
    expect(backoffMs(3, 25, 1000, () => 0.5)).toBe(50)
    expect(backoffMs(3, 25, 1000, () => 0)).toBe(0)
  })

  it('never exceeds the maximum, even for huge retry numbers', () => {
    for (const retry of [6, 10, 40, 1000]) expect(backoffMs(retry, 25, 1000, () => 0.9999)).toBeLessThan(1000)
  })

  it('spreads delays over the whole range (jitter, not a fixed step)', () => {
    const seen = new Set<number>()
    for (let i = 0; i < 200; i++) seen.add(Math.floor(backoffMs(4, 100, 10_000) / 100))
    expect(seen.size).toBeGreaterThanOrEqual(7)
  })
})
