import { describe, expect, it } from 'vitest'
import { testRng } from './detector.contract.js'
import { createWindow, pushWindow, windowLag, windowMad, windowQuantile } from './window.js'

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

  it('MAD is the lower median of |x − m| for any centre, counts, ties and one-sided windows', () => {
    const rng = testRng(4)
    const brute = (xs: number[], m: number) => {
      const d = xs.map((x) => Math.abs(x - m)).sort((a, b) => a - b)
      return d[(d.length - 1) >> 1]
    }
    for (const size of [1, 2, 3, 8, 33, 128]) {
      const w = createWindow(size)
      const all: number[] = []
      for (let k = 0; k < 600; k++) {
        const x = k % 4 === 0 ? Math.round(rng() * 3) : rng() * 20
        pushWindow(w, x)
        all.push(x)
        const xs = all.slice(-size)
        // centres: the median, a point of the window, and points left and right of all of it
        for (const m of [windowQuantile(w, 0.5), xs[0]!, -5, 30, rng() * 20])
          expect(windowMad(w, m)).toBe(brute(xs, m))
      }
    }
  })
})
