import { describe, expect, it } from 'vitest'
import { SlidingSorted } from './sliding-sorted.js'

describe('SlidingSorted', () => {
  it('keeps the newest values sorted, evicting the oldest, as a re-sort of the window would', () => {
    const s = new SlidingSorted(50)
    const all: number[] = []
    let x = 7
    for (let i = 0; i < 500; i++) {
      x = (x * 48271) % 2147483647
      const v = (x % 41) - 20 // many ties
      s.push(v)
      all.push(v)
      const want = all.slice(-50).sort((a, b) => a - b)
      expect(s.length).toBe(want.length)
      for (const r of [1, Math.ceil(want.length / 2), want.length]) expect(s.rank(r)).toBe(want[r - 1])
    }
  })

  it('evicts a NaN it was given instead of a real value', () => {
    const s = new SlidingSorted(2)
    s.push(Number.NaN)
    s.push(3)
    s.push(1)
    expect([s.rank(1), s.rank(2)]).toEqual([1, 3])
  })

  it('rejects a capacity below 1', () => {
    expect(() => new SlidingSorted(0)).toThrow(/capacity/)
  })
})
