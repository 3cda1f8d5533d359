import { describe, expect, it } from 'vitest'
import { logGammaPQ, logGammaPQSeries } from './stats.js'

describe('incomplete gamma', () => {
  it('the uniform expansion from a = 500 on, and the series below, match an uncapped series / continued fraction to 1e-6 (relative ln)', () => {
    // the reference is the series / continued fraction of Numerical Recipes §6.2 without a
    // practical term cap (capped at 500 terms it gave P(1e6, 1e6) = 0.19 instead of 0.5)
    const ref = (a: number, x: number) => [...logGammaPQSeries(a, x, 10_000_000)]
    let worst = 0
    let where = ''
    for (const a of [20, 100, 499, 500, 501.5, 800, 1000, 3000, 1e4, 1e5, 1e6]) {
      for (const z of [
        -12, -8, -5, -3, -2, -1, -0.5, -0.1, -0.01, -0.001, 0, 0.001, 0.01, 0.1, 0.5, 1, 2, 3, 5, 8, 12, 20,
      ]) {
        const x = a + z * Math.sqrt(a)
        if (x <= 0) continue
        const [p1, q1] = [...logGammaPQ(a, x)]
        const [p0, q0] = ref(a, x)
        const e = Math.max(
          Math.abs(p1 - p0) / Math.max(1, Math.abs(p0)),
          Math.abs(q1 - q0) / Math.max(1, Math.abs(q0)),
        )
        if (e > worst) {
          worst = e
          where = `a=${a} z=${z} P ${p0} vs ${p1} Q ${q0} vs ${q1}`
        }
      }
    }
    expect(worst, where).toBeLessThan(1e-6)
    // what the cap did: at a = 1e6 the capped series is far from P(a, a) ≈ ½
    expect(Math.exp(logGammaPQSeries(1e6, 1e6)[0])).toBeLessThan(0.3)
    expect(Math.exp(logGammaPQ(1e6, 1e6)[0])).toBeCloseTo(0.5, 3)
  })
})
