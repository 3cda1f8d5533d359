/** @module Tests of the count CUSUM: evidence that accumulates across windows, and none without an excess. */
import { describe, expect, it } from 'vitest'
import { poisson } from '../../test/helpers/draws.js'
import { CountCusum } from './count-cusum.js'
import { nextRandom } from './stats.js'

describe('CountCusum', () => {
  it('five windows with one event where 0.01 are expected cross the decision interval (the example)', () => {
    const c = new CountCusum()
    let e = c.step(1, 0.01, 1)
    expect(e.statistic).toBeCloseTo(Math.log(101) - 1, 6)
    for (let i = 0; i < 3; i++) e = c.step(1, 0.01, 1)
    expect(e.alarm).toBe(false)
    e = c.step(1, 0.01, 1)
    expect(e).toMatchObject({ alarm: true, windows: 5, observed: 5 })
    expect(e.expected).toBeCloseTo(0.05, 9)
    expect(e.high).toBeCloseTo(0.05 + 3 * Math.sqrt(0.05), 9)
  })

  it('calm windows bring it back to 0 and forget the run; over-dispersion slows it', () => {
    const c = new CountCusum()
    c.step(2, 1, 1)
    expect(c.excess().statistic).toBeGreaterThan(0)
    // (μ₁ − μ₀)/ln(μ₁/μ₀) = 1/ln 2 ≈ 1.44: one event where one is expected is no evidence
    expect(c.alternative(1).evidence).toBeCloseTo(1 / Math.LN2, 9)
    c.step(0, 1, 1)
    expect(c.excess()).toMatchObject({ statistic: 0, windows: 0, observed: 0 })
    const dispersed = new CountCusum()
    expect(dispersed.step(3, 1, 3).statistic).toBeCloseTo(c.step(3, 1, 1).statistic / 3, 9)
  })

  it('raises no alarm over a million in-control Poisson windows, at any expected count', () => {
    const state = { rng: 3 }
    const r = () => nextRandom(state)
    for (const mean of [0.01, 0.3, 4, 40]) {
      const c = new CountCusum()
      let top = 0
      for (let i = 0; i < 250_000; i++) top = Math.max(top, c.step(poisson(r, mean), mean, 1).statistic)
      expect(top, `mean ${mean}`).toBeLessThan(c.threshold)
    }
  })

  it('snapshots and restores; a snapshot that is not its own starts from 0', () => {
    const c = new CountCusum()
    c.step(2, 0.1, 1, 5)
    const d = new CountCusum().restore(structuredClone(c.snapshot()))
    expect(d.step(1, 0.1, 1, 5)).toEqual(c.step(1, 0.1, 1, 5))
    const bad = { ...c.snapshot(), s: Number.NaN }
    expect(new CountCusum().restore(bad).excess().statistic).toBe(0)
    expect(new CountCusum().restore(undefined).excess().windows).toBe(0)
  })
})
