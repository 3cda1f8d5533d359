import { describe, expect, it } from 'vitest'
import { forecastFailure, poolRatios, ratioSamplingSd, typicalRequests } from './failure.js'
import { gaussian, rng } from './stats.js'

const opts = { horizon: 30, threshold: 0.05, kind: 'ratio' as const, freqSec: 2 }

/** 200 windows without an error, then one error among `n` requests (or `errors` of them). */
function firstError(n: number, errors = 1) {
  const values = [...Array.from({ length: 200 }, () => 0), errors / n]
  return { values, requests: values.map(() => n) }
}

describe('forecastFailure: the sampling noise of an error ratio', () => {
  it('one error in 12 requests after a history of zeros is weak evidence, not a certain 8.3 %', () => {
    const { values, requests } = firstError(12)
    const f = forecastFailure(values, { ...opts, requests })
    // pooled with the windows before it until a ratio of 5 % means 4 errors: 1 in 84
    expect(f.forecast.forecast[0]).toBeCloseTo(1 / 84, 3)
    expect(f.probability).toBeLessThan(0.2)
    // the band around the forecast is at least the binomial noise of the pool wide
    expect(f.forecast.upper[0] - f.forecast.lower[0]).toBeGreaterThan(0.02)
  })

  it('sporadic single errors among a few requests per window are not a failing service', () => {
    // the demo's shop: ~16 requests per 2-s window, a 1 % error ratio; the newest window has one
    const n = 16
    const values = Array.from({ length: 60 }, (_, i) => ([31, 35, 47, 59].includes(i) ? 1 / n : 0))
    const f = forecastFailure(values, { ...opts, horizon: 60, requests: values.map(() => n) })
    // before pooling: naive forecast 6.25 % for the whole horizon, P = 0.99
    expect(f.probability).toBeLessThan(0.5)
  })

  it('a sustained 20 % error ratio over a few requests per window is near-certain within a few windows', () => {
    const n = 16
    const errors = [4, 3, 3, 4, 3] // 17 of 80
    const values = [...Array.from({ length: 200 }, () => 0), ...errors.map((e) => e / n)]
    const f = forecastFailure(values, { ...opts, requests: values.map(() => n) })
    expect(f.forecast.forecast[0]).toBeGreaterThan(0.15)
    expect(f.probability).toBeGreaterThan(0.95)
  })

  it('pools a window with the ones before it until the pool holds enough requests, at most 10 windows', () => {
    // threshold 5 %: 80 requests
    const p = poolRatios([0.5, 0, 0.1, Number.NaN, 0.2], [2, 30, 50, 0, 100], 0.05)
    expect(p.values[0]).toBe(0.5)
    expect(p.values[1]).toBeCloseTo(1 / 32, 6) // 0 of 30 + 1 of 2
    expect(p.values[2]).toBeCloseTo(5 / 80, 6) // 5 of 50 + 0 of 30: 80 reached
    expect(p.values[3]).toBeNaN() // no requests: no ratio
    expect(p.requests[3]).toBe(0)
    expect(p.values[4]).toBe(0.2) // 100 requests of its own
    const sparse = poolRatios(
      Array.from({ length: 20 }, () => 0.1),
      Array.from({ length: 20 }, () => 1),
      0.05,
    )
    expect(sparse.requests[19]).toBe(10)
  })

  it('the same ratio over 1,200 requests per window is strong evidence', () => {
    const { values, requests } = firstError(1_200, 100)
    const f = forecastFailure(values, { ...opts, requests })
    expect(f.probability).toBeGreaterThan(0.95)
  })

  it('a flat history of zeros gives a band wider than zero and a low probability', () => {
    const values = Array.from({ length: 200 }, () => 0)
    const f = forecastFailure(values, { ...opts, requests: values.map(() => 12) })
    expect(f.forecast.upper[0]).toBeGreaterThan(0.01)
    expect(f.forecast.lower[0]).toBe(0)
    expect(f.probability).toBeLessThan(0.3)
    // with many requests per window, no error in any of them leaves no doubt
    const many = forecastFailure(values, { ...opts, requests: values.map(() => 10_000) })
    expect(many.probability).toBeLessThan(0.01)
  })

  it('leaves point forecasts alone, and a noisy series whose errors already cover the noise unchanged', () => {
    const g = gaussian(rng(3))
    const values = Array.from({ length: 300 }, () => Math.max(0, 0.02 + 0.01 * g()))
    const without = forecastFailure(values, opts)
    const withCounts = forecastFailure(values, { ...opts, requests: values.map(() => 5_000) })
    expect(withCounts.forecast.forecast).toEqual(without.forecast.forecast)
    expect(withCounts.forecast.model).toBe(without.forecast.model)
    expect(withCounts.perStep).toEqual(without.perStep)
  })

  it('ignores windows without requests when it sizes a window', () => {
    expect(typicalRequests([0.1, Number.NaN, 0.2, 0], [10, 0, 30, 20])).toBe(20)
    expect(typicalRequests([Number.NaN], [0])).toBeNull()
    expect(ratioSamplingSd(0, 12)).toBeCloseTo(0.0555, 3)
    expect(ratioSamplingSd(1 / 12, 12)).toBeCloseTo(0.0922, 3)
    expect(ratioSamplingSd(2, 12)).toBe(ratioSamplingSd(1, 12))
  })

  it('rejects request counts that do not match the values or a latency forecast, naming the field', () => {
    const { values, requests } = firstError(12)
    const code = { code: 'VGL_ERR_FORECAST_OPTION' }
    expect(() => forecastFailure(values, { ...opts, requests: requests.slice(1) })).toThrow(
      expect.objectContaining({
        ...code,
        message: expect.stringMatching(/^requests: expected one count per value \(201\), got 200/),
      }),
    )
    expect(() => forecastFailure(values, { ...opts, threshold: 800, kind: 'latency', requests })).toThrow(
      expect.objectContaining({ ...code, message: expect.stringMatching(/^requests: only an error-ratio/) }),
    )
    expect(() => forecastFailure(values, { ...opts, requests, newCrossingWithin: 0 })).toThrow(
      expect.objectContaining({
        ...code,
        message: 'newCrossingWithin: expected a whole number of windows ≥ 1, got 0',
      }),
    )
  })
})

describe('forecastFailure: a crossing still ahead (newCrossing)', () => {
  const n = 16
  /** 200 windows of a ~0.8 % error ratio (single errors), a 60 % burst of 15 windows, then `after` clean ones */
  function burst(after: number) {
    const r = rng(7)
    const values = [
      ...Array.from({ length: 200 }, () => (r() < 0.13 ? 1 / n : 0)),
      ...Array.from({ length: 15 }, () => 10 / n),
      ...Array.from({ length: after }, () => 0),
    ]
    return forecastFailure(values, {
      ...opts,
      horizon: 60,
      requests: values.map(() => n),
      newCrossingWithin: 60,
    })
  }

  it('during an error burst and just after it, the fit extends the burst; without its windows no crossing is likely', () => {
    for (const after of [0, 3]) {
      const f = burst(after)
      // the pooled ratio is still over 5 %: the model carries it on (the live alerts' news)
      expect(f.probability).toBeGreaterThan(0.95)
      expect(f.newCrossing?.probability).toBeLessThan(0.1)
      expect(f.newCrossing?.firstLikelyStep).toBe(null)
      // the burst's windows and the clean ones whose pool still holds its errors
      expect(f.newCrossing?.leftOut).toBeGreaterThanOrEqual(15)
    }
  })

  it('a rise that has not crossed yet keeps its probability, nothing left out', () => {
    const rise = Array.from({ length: 200 }, (_, i) => 0.0002 * i)
    const f = forecastFailure(rise, { ...opts, horizon: 60, newCrossingWithin: 60 })
    expect(f.probability).toBeGreaterThan(0.95)
    expect(f.newCrossing).toEqual({
      probability: f.probability,
      perStep: f.perStep,
      firstLikelyStep: f.firstLikelyStep,
      leftOut: 0,
    })
  })

  it('is null when too many windows are over the threshold to forecast without them, undefined unless asked', () => {
    const chronic = [...Array.from({ length: 100 }, () => 0), ...Array.from({ length: 100 }, () => 0.3)]
    const req = chronic.map(() => n)
    expect(forecastFailure(chronic, { ...opts, requests: req, newCrossingWithin: 30 }).newCrossing).toBe(null)
    expect(forecastFailure(chronic, { ...opts, requests: req }).newCrossing).toBe(undefined)
  })
})
