import { describe, expect, it } from 'vitest'
import {
  fitLatency,
  inverseNormalCdf,
  latencyQuantile,
  parseLatencyRange,
  sampleLatency,
  seededRandom,
} from './latency.js'

describe('latency model', () => {
  it('puts the low end of the range at p5 and the high end at p99', () => {
    const m = fitLatency(50, 500)
    expect(latencyQuantile(m, 0.05)).toBeCloseTo(50, 3)
    expect(latencyQuantile(m, 0.99)).toBeCloseTo(500, 3)
    expect(latencyQuantile(m, 0.5)).toBeGreaterThan(90)
    expect(latencyQuantile(m, 0.5)).toBeLessThan(140)
  })

  it('has a tail heavier than the range: p99.9 well above the high end', () => {
    const m = fitLatency(50, 500)
    expect(latencyQuantile(m, 0.999)).toBeGreaterThan(1000)
    expect(latencyQuantile(m, 0.9999999)).toBe(m.capMs)
  })

  it('is continuous at the splice between body and tail', () => {
    const m = fitLatency(20, 300)
    expect(latencyQuantile(m, 0.95 - 1e-9)).toBeCloseTo(latencyQuantile(m, 0.95), 3)
  })

  it('keeps a positive spread for narrow ranges', () => {
    const m = fitLatency(100, 120)
    expect(m.sigma).toBeGreaterThan(0)
    expect(latencyQuantile(m, 0.05)).toBeCloseTo(100, 3)
    expect(latencyQuantile(m, 0.99)).toBeCloseTo(120, 3)
  })

  it('sampled quantiles match the fitted ones', () => {
    const m = fitLatency(50, 500)
    const rnd = seededRandom(42)
    const xs = Array.from({ length: 50_000 }, () => sampleLatency(m, rnd)).sort((a, b) => a - b)
    const q = (p: number) => xs[Math.floor(p * xs.length)]
    expect(q(0.05)).toBeGreaterThan(45)
    expect(q(0.05)).toBeLessThan(55)
    expect(q(0.99)).toBeGreaterThan(430)
    expect(q(0.99)).toBeLessThan(580)
  })

  it('gives a fixed latency for a single number and none for 0', () => {
    expect(sampleLatency(fitLatency(30, 30), Math.random)).toBe(30)
    expect(sampleLatency(fitLatency(0, 0), Math.random)).toBe(0)
  })

  it('parses ranges and names the flag on bad input', () => {
    expect(parseLatencyRange('50-500')).toEqual({ loMs: 50, hiMs: 500 })
    expect(parseLatencyRange('7')).toEqual({ loMs: 7, hiMs: 7 })
    expect(() => parseLatencyRange('500-50')).toThrow(/--latency-ms: expected a latency range/)
    expect(() => parseLatencyRange('fast', '--latency-ms')).toThrow(/got "fast"/)
  })

  it('inverts the normal CDF', () => {
    expect(inverseNormalCdf(0.5)).toBeCloseTo(0, 9)
    expect(inverseNormalCdf(0.975)).toBeCloseTo(1.959964, 5)
    expect(inverseNormalCdf(0.001)).toBeCloseTo(-3.090232, 5)
  })
})
