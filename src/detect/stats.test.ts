import { describe, expect, it } from 'vitest'
import { logGammaPQ, lnGamma } from './stats.js'
// reference: the series / continued fraction of Numerical Recipes §6.2 without an iteration cap
// (capped at 500 terms, the series gave P(1e6, 1e6) = 0.19 instead of 0.5)
function ref(a: number, x: number): [number, number] {
  const lnPre = -x + a * Math.log(x) - lnGamma(a)
  if (x < a + 1) {
    let sum = 1 / a,
      del = sum,
      ap = a
    for (let n = 0; n < 1e7; n++) {
      ap += 1
      del *= x / ap
      sum += del
      if (Math.abs(del) < Math.abs(sum) * 1e-15) break
    }
    const lnP = lnPre + Math.log(sum)
    return [lnP, Math.log1p(-Math.exp(lnP))]
  }
  const tiny = 1e-300
  let b = x + 1 - a,
    c = 1 / tiny,
    d = 1 / b,
    h = d
  for (let i = 1; i < 1e7; i++) {
    const an = -i * (i - a)
    b += 2
    d = an * d + b
    if (Math.abs(d) < tiny) d = tiny
    c = b + an / c
    if (Math.abs(c) < tiny) c = tiny
    d = 1 / d
    const del = d * c
    h *= del
    if (Math.abs(del - 1) < 1e-15) break
  }
  const lnQ = lnPre + Math.log(h)
  return [Math.log1p(-Math.exp(lnQ)), lnQ]
}
describe('incomplete gamma', () => {
  it('the uniform expansion from a = 500 on, and the series below, match an uncapped series / continued fraction to 1e-6 (relative ln)', () => {
    let worst = 0
    let where = ''
    for (const a of [20, 100, 499, 500, 501.5, 800, 1000, 3000, 1e4, 1e5, 1e6]) {
      for (const zz of [
        -12, -8, -5, -3, -2, -1, -0.5, -0.1, -0.01, -0.001, 0, 0.001, 0.01, 0.1, 0.5, 1, 2, 3, 5, 8, 12, 20,
      ]) {
        const x = a + zz * Math.sqrt(a)
        if (x <= 0) continue
        const [p1, q1] = [...logGammaPQ(a, x)]
        const [p0, q0] = ref(a, x)
        const e = Math.max(
          Math.abs(p1 - p0) / Math.max(1, Math.abs(p0)),
          Math.abs(q1 - q0) / Math.max(1, Math.abs(q0)),
        )
        if (e > worst) {
          worst = e
          where = `a=${a} z=${zz} P ${p0} vs ${p1} Q ${q0} vs ${q1}`
        }
      }
    }
    expect(worst, where).toBeLessThan(1e-6)
  })
})
