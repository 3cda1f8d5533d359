import { describe, expect, it } from 'vitest'
import { AnomalyLikelihood } from './likelihood.js'

function learned(values: readonly number[]): AnomalyLikelihood {
  const lik = new AnomalyLikelihood()
  for (const v of values) lik.learn(v)
  return lik
}

describe('AnomalyLikelihood', () => {
  it('gives 0 until it has seen minHistory surprises', () => {
    const lik = learned(Array.from({ length: 99 }, (_, i) => i / 99))
    expect(lik.calibrate(50)).toBe(0)
    lik.learn(0.5)
    expect(lik.calibrate(50)).toBeGreaterThan(10)
  })

  it('returns about the true −ln p of a calibrated surprise, in the body and in the tail', () => {
    // −ln p of uniform p: exponential with mean 1, at its quantiles
    const lik = learned(Array.from({ length: 1000 }, (_, i) => -Math.log(1 - (i + 0.5) / 1000)))
    expect(lik.calibrate(-Math.log(0.5))).toBeCloseTo(-Math.log(0.5), 1)
    expect(lik.calibrate(6)).toBeCloseTo(6, 0)
    expect(lik.calibrate(12)).toBeCloseTo(12, 0)
  })

  it('estimates the tail from the surprises above the p95, not from ties at it: a one-sided test that is mostly exactly 0', () => {
    // 995 of 1000 surprises are 0; five are positive with a mean of 1
    const lik = learned([...Array.from({ length: 995 }, () => 0), 0.2, 0.5, 1, 1.3, 2])
    // P(X > 0) = 0.005, then an exponential tail of mean 1: −ln(0.005) + 1.5 ≈ 6.8, not 18
    expect(lik.calibrate(1.5)).toBeCloseTo(-Math.log(0.005) + 1.5, 5)
  })

  it('calls any rise above a flat history extreme', () => {
    const lik = learned(Array.from({ length: 200 }, () => 0.3))
    expect(lik.calibrate(0.3)).toBeCloseTo(0, 1)
    expect(lik.calibrate(1.3)).toBeGreaterThan(10)
  })
})
