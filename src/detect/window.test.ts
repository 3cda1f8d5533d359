import { describe, expect, it } from 'vitest'
import { testRng } from './detector.contract.js'
import { createWindow, pushWindow, windowLag, windowQuantile } from './window.js'

describe('rolling window', () => {
  it('keeps the last `size` values sorted, with ties and repeats, whatever their order', () => {
    const rng = testRng(3)
    for (const size of [1, 2, 7, 64]) {
      const w = createWindow(size)
      const all: number[] = []
      for (let k = 0; k < 2000; k++) {
        // few distinct values, so evicted and inserted values are often equal
        const x = k % 3 === 0 ? Math.floor(rng() * 5) : rng() * 10 - 5
        pushWindow(w, x)
        all.push(x)
        const last = all.slice(-size).sort((a, b) => a - b)
        expect(Array.from(w.sorted.subarray(0, w.count))).toEqual(last)
      }
      expect(windowLag(w, 1)).toBe(all.at(-1))
      expect(windowQuantile(w, 0)).toBe(Math.min(...all.slice(-size)))
    }
  })
})
