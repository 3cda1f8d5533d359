import { describe, expect, it } from 'vitest'
import { forecastFailure } from './failure.js'
import { forecastSeries, intervalWidthRatio } from './forecaster.js'
import { inTimeOrder, regularize } from './series.js'
import { gaussian, rng } from './stats.js'

const sine = (i: number): number => 10 + 5 * Math.sin((2 * Math.PI * i) / 24)

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    return (err as { code?: string }).code
  }
  return undefined
}

describe('forecastSeries', () => {
  it('forecasts a pure sine nearly exactly', () => {
    const y = Array.from({ length: 240 }, (_, i) => sine(i))
    const r = forecastSeries(y, { horizon: 48, freqSec: 3600 })
    expect(r.seasons).toContain(24)
    r.forecast.forEach((f, h) => expect(Math.abs(f - sine(240 + h))).toBeLessThan(0.05))
    expect(r.forecast).toHaveLength(48)
    expect(r.lower.every((l, h) => l <= r.forecast[h] && r.forecast[h] <= r.upper[h])).toBe(true)
  })

  it('reports backtest scores for every candidate and which were used', () => {
    const g = gaussian(rng(1))
    const y = Array.from(
      { length: 400 },
      (_, i) => 100 + 0.1 * i + 10 * Math.sin((2 * Math.PI * i) / 24) + g(),
    )
    const r = forecastSeries(y, { horizon: 24, freqSec: 3600 })
    const names = r.backtest.map((b) => b.model).join(' ')
    for (const m of ['naive', 'snaive', 'ets', 'theta', 'arima', 'prophet']) expect(names).toContain(m)
    expect(r.backtest.reduce((s, b) => s + b.weight, 0)).toBeCloseTo(1, 6)
    // sorted best first, and the chosen model beats the seasonal naive in the backtest
    const snaive = r.backtest.find((b) => b.model.startsWith('snaive'))!
    expect(r.backtest[0].mase).toBeLessThan(snaive.mase)
  })

  it('keeps 80% intervals near 80% coverage on random walks with drift', () => {
    let covered = 0
    let total = 0
    for (let s = 0; s < 24; s++) {
      const g = gaussian(rng(100 + s))
      const y = [50]
      for (let i = 1; i < 212; i++) y.push(y[i - 1] + 0.1 + g())
      const r = forecastSeries(y.slice(0, 200), {
        horizon: 12,
        candidates: ['naive', 'drift', 'ets', 'theta'],
      })
      for (let h = 0; h < 12; h++) {
        total++
        if (y[200 + h] >= r.lower[h] && y[200 + h] <= r.upper[h]) covered++
      }
    }
    const coverage = covered / total
    expect(coverage).toBeGreaterThan(0.66)
    expect(coverage).toBeLessThan(0.94)
  })

  it('serves every explicit model and the fixed ARIMA(3,1,2)', () => {
    const g = gaussian(rng(2))
    const y = Array.from(
      { length: 300 },
      (_, i) => 20 + 0.05 * i + 3 * Math.sin((2 * Math.PI * i) / 24) + 0.5 * g(),
    )
    for (const model of ['naive', 'snaive', 'drift', 'ets', 'arima', 'theta', 'prophet'] as const) {
      const r = forecastSeries(y, { horizon: 12, freqSec: 3600, model })
      expect(r.forecast.every(Number.isFinite)).toBe(true)
      expect(r.backtest).toHaveLength(1)
    }
    const fixed = forecastSeries(y, { horizon: 12, model: 'arima', order: [3, 1, 2] })
    expect(fixed.model).toBe('arima(3,1,2)')
  })

  it('keeps forecasts and bounds of count data non-negative', () => {
    const u = rng(3)
    const y = Array.from({ length: 200 }, (_, i) => (i % 24 < 6 ? 0 : Math.floor(u() * 3)))
    const r = forecastSeries(y, { horizon: 24, freqSec: 3600 })
    expect(r.lower.every((v) => v >= 0)).toBe(true)
    expect(r.forecast.every((v) => v >= 0)).toBe(true)
  })

  it('handles very short series with a documented rough interval', () => {
    const r = forecastSeries([5, 6, 7, 8], { horizon: 3 })
    expect(r.forecast).toHaveLength(3)
    expect(r.forecast.every(Number.isFinite)).toBe(true)
  })
})

describe('bad input', () => {
  it('rejects a series that is too short', () => {
    expect(codeOf(() => forecastSeries([1, 2], { horizon: 3 }))).toBe('VGL_ERR_FORECAST_TOO_SHORT')
  })

  it('forecasts a constant series as that constant with a zero-width interval', () => {
    const r = forecastSeries(new Array(50).fill(7), { horizon: 5 })
    expect(r.model).toBe('constant')
    expect(r.forecast).toEqual([7, 7, 7, 7, 7])
    expect(r.upper).toEqual(r.lower)
    expect(r.notes.join(' ')).toMatch(/constant/)
  })

  it('fills a few missing values by interpolation and says so; refuses a mostly missing series', () => {
    const y = Array.from({ length: 100 }, (_, i) => (i % 10 === 5 ? NaN : sine(i)))
    const r = forecastSeries(y, { horizon: 4, season: 24 })
    expect(r.notes.join(' ')).toMatch(/filled 10 missing value/)
    const bad = Array.from({ length: 100 }, (_, i) => (i % 3 === 0 ? NaN : i))
    expect(codeOf(() => forecastSeries(bad, { horizon: 4 }))).toBe('VGL_ERR_FORECAST_INPUT')
    expect(codeOf(() => forecastSeries([1, 2, Infinity, 4], { horizon: 4 }))).toBe('VGL_ERR_FORECAST_INPUT')
  })

  it('names the option that is out of range', () => {
    const y = [1, 2, 3, 4, 5]
    expect(() => forecastSeries(y, { horizon: 0 })).toThrow(/horizon/)
    expect(() => forecastSeries(y, { horizon: 2, level: 100 })).toThrow(/level/)
    expect(() => forecastSeries(y, { horizon: 2, season: [0.5] })).toThrow(/season/)
  })
})

describe('regularize', () => {
  const t0 = Date.UTC(2026, 0, 1)
  it('infers the interval and fills whole missing intervals', () => {
    const ts = [0, 60, 120, 240, 300].map((s) => t0 + s * 1000)
    const r = regularize(ts, [1, 2, 3, 5, 6])
    expect(r.freqSec).toBe(60)
    expect(r.values.length).toBe(6)
    expect(Number.isNaN(r.values[3])).toBe(true)
  })

  it('rejects irregular and unsorted timestamps with a clear error', () => {
    const irregular = [0, 60, 150, 180].map((s) => t0 + s * 1000)
    expect(codeOf(() => regularize(irregular, [1, 2, 3, 4]))).toBe('VGL_ERR_FORECAST_IRREGULAR')
    const unsorted = [0, 60, 30].map((s) => t0 + s * 1000)
    expect(() => regularize(unsorted, [1, 2, 3])).toThrow(/increase strictly/)
    expect(() => regularize(irregular, [1, 2, 3, 4])).toThrow(/the gap from row 2 to row 3 is 90s/)
  })

  it('names the samples of an irregular gap as the caller labels them', () => {
    const irregular = [0, 60, 150, 180].map((s) => t0 + s * 1000)
    const labels = { source: 'in.csv', rowName: (i: number) => `line ${[2, 5, 3, 4][i]}` }
    expect(() => regularize(irregular, [1, 2, 3, 4], undefined, labels)).toThrow(
      /^in\.csv: timestamps are irregular: the gap from line 5 to line 3 is 90s, not a multiple of the 60s interval/,
    )
  })

  it('treats small integer timestamps as row numbers with no interval', () => {
    expect(regularize([1000, 2000, 3000], [1, 2, 3]).freqSec).toBeUndefined()
  })
})

describe('inTimeOrder', () => {
  it('sorts rows by time, keeps each timestamp once with its finite values averaged, and counts what it fixed', () => {
    const r = inTimeOrder([0, 120, 60, 120, 180, 180], [1, 4, 2, 6, NaN, 7])
    expect(r.times).toEqual([0, 60, 120, 180])
    expect(r.values).toEqual([1, 2, 5, 7])
    expect(r.repeated).toBe(2)
    expect(r.outOfOrder).toBe(1)
    // the first input row at each time, so errors can name the row as the file has it
    expect(r.rows).toEqual([0, 2, 1, 4])
    const missing = inTimeOrder([0, 60, 60], [1, NaN, NaN])
    expect(missing.values[1]).toBeNaN()
    expect(inTimeOrder([0, 60], [1, 2])).toEqual({
      times: [0, 60],
      values: [1, 2],
      rows: [0, 1],
      repeated: 0,
      outOfOrder: 0,
    })
  })
})

describe('failure forecasting', () => {
  it('gives a high crossing probability to a rising error ratio and a low one to a flat ratio', () => {
    const g = gaussian(rng(6))
    const rising = Array.from({ length: 300 }, (_, i) => Math.max(0, 0.01 + 0.0002 * i + 0.002 * g()))
    const flat = Array.from({ length: 300 }, () => Math.max(0, 0.01 + 0.002 * g()))
    const up = forecastFailure(rising, { horizon: 60, threshold: 0.07, kind: 'ratio' })
    const calm = forecastFailure(flat, { horizon: 60, threshold: 0.07, kind: 'ratio' })
    expect(up.probability).toBeGreaterThan(0.5)
    expect(up.firstLikelyStep).not.toBeNull()
    expect(calm.probability).toBeLessThan(0.1)
    expect(calm.forecast.forecast.every((v) => v >= 0 && v <= 1)).toBe(true)
  })

  it('rejects a ratio threshold outside (0, 1)', () => {
    expect(
      codeOf(() => forecastFailure([0.1, 0.2, 0.1, 0.2], { horizon: 2, threshold: 5, kind: 'ratio' })),
    ).toBe('VGL_ERR_FORECAST_OPTION')
  })
})

describe('intervalWidthRatio', () => {
  it("rescales a fit's interval to another level from the quantiles of its own backtest errors", () => {
    const g = gaussian(rng(5))
    const y = Array.from({ length: 300 }, () => 100 + 10 * g())
    const fit = forecastSeries(y, { horizon: 30, level: 80, freqSec: 60, candidates: ['naive', 'ets'] })
    expect(intervalWidthRatio(fit.calibration, 80, 80)).toBe(1)
    const to95 = intervalWidthRatio(fit.calibration, 80, 95)
    expect(to95).toBeGreaterThan(1.2)
    expect(intervalWidthRatio(fit.calibration, 80, 50)).toBeLessThan(0.7)
    // Gaussian errors: about the ratio of the normal quantiles (1.96 / 1.28)
    expect(to95).toBeGreaterThan(1.35)
    expect(to95).toBeLessThan(1.75)
  })

  it('without a backtest, the ratio of the normal quantiles', () => {
    expect(intervalWidthRatio(undefined, 80, 95)).toBeCloseTo(1.959964 / 1.281552, 4)
    expect(intervalWidthRatio({ scale: [1], scores: [0, 0, 0] }, 80, 95)).toBeCloseTo(1.529, 3)
  })
})
