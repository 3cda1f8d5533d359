import { describe, expect, it } from 'vitest'
import { LstmCache, forecastLstm, predictLstm, trainLstm } from './lstm.js'

// Kept tiny (window 8, 6 units, 3 epochs, 120 windows): the point is the API and its contract,
// not accuracy; training cost is measured in bench/, not here.
const y = Array.from({ length: 160 }, (_, i) => 10 + 3 * Math.sin((2 * Math.PI * i) / 12) + 0.01 * i)
const small = { horizon: 6, window: 8, units: 6, epochs: 3, maxWindows: 120, season: 12 }

describe('LSTM (TensorFlow.js)', () => {
  it('trains, forecasts finite values with an interval, and restores from its state', async () => {
    const state = await trainLstm(y, small)
    const r = await predictLstm(state, y, 6)
    expect(r.model).toMatch(/^lstm/)
    expect(r.forecast).toHaveLength(6)
    expect(r.forecast.every(Number.isFinite)).toBe(true)
    r.forecast.forEach((f, h) => {
      expect(r.lower[h]).toBeLessThanOrEqual(f)
      expect(r.upper[h]).toBeGreaterThanOrEqual(f)
    })
    // the seasonal profile is adjusted out, so even a barely trained net lands near the truth
    const truth = Array.from(
      { length: 6 },
      (_, h) => 10 + 3 * Math.sin((2 * Math.PI * (160 + h)) / 12) + 0.01 * (160 + h),
    )
    const maeOf = (f: (h: number) => number) => truth.reduce((a, t, h) => a + Math.abs(f(h) - t), 0) / 6
    const mae = maeOf((h) => r.forecast[h])
    // Against naive baselines, so a flat or lagging forecast cannot pass: the last value repeated,
    // and the best constant there is (the median of the truth minimises the absolute error).
    const sorted = [...truth].sort((a, b) => a - b)
    const bestConstant = maeOf(() => (sorted[2] + sorted[3]) / 2)
    const lastValue = maeOf(() => y[y.length - 1])
    expect(mae).toBeLessThan(0.6 * bestConstant)
    expect(mae).toBeLessThan(0.5 * lastValue)

    // a worker would postMessage the state: a structured clone must forecast identically
    const b = await predictLstm(structuredClone(state), y, 6)
    expect(b.forecast).toEqual(r.forecast)
  }, 120_000)

  it('leaves the global console alone while tfjs loads and trains', async () => {
    // Every assignment to a console method is recorded, however quickly training finishes (a
    // timer probe saw nothing on a fast machine).
    const names = ['log', 'warn', 'info', 'error', 'debug'] as const
    const writes: string[] = []
    const saved = names.map((k) => [k, Object.getOwnPropertyDescriptor(console, k)] as const)
    for (const [k, d] of saved) {
      let v: unknown = d?.value
      Object.defineProperty(console, k, {
        configurable: true,
        enumerable: d?.enumerable ?? true,
        get: () => v,
        set: (next: unknown) => {
          writes.push(k)
          v = next
        },
      })
    }
    try {
      await trainLstm(y, { ...small, epochs: 2, seed: 7 })
    } finally {
      for (const [k, d] of saved) if (d) Object.defineProperty(console, k, d)
    }
    expect(writes).toEqual([])
  }, 120_000)

  it('refuses a series too short for its window', async () => {
    await expect(forecastLstm(y.slice(0, 20), small)).rejects.toMatchObject({
      code: 'VGL_ERR_FORECAST_TOO_SHORT',
    })
  })

  it('caches a state per series until it has grown enough', () => {
    const cache = new LstmCache(10)
    const state = { trainedOn: 100 } as Parameters<LstmCache['set']>[1]
    cache.set('svc/a', state)
    expect(cache.get('svc/a', 105)).toBe(state)
    expect(cache.get('svc/a', 111)).toBeUndefined()
    expect(cache.get('svc/b', 100)).toBeUndefined()
  })
})
