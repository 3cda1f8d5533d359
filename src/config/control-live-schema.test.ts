/** @module Tests of the detect: and forecast: config sections (defaults, nested defaults, messages). */
import { describe, expect, it } from 'vitest'
import { parseConfigText } from './load.js'

const base = [
  'services: { orders: { targets: [http://127.0.0.1:9001] } }',
  'routes: [ { path: /, service: orders } ]',
]
const parse = (...lines: string[]) => parseConfigText([...base, ...lines].join('\n'), 'vigil.yaml', {})

describe('detect: and forecast: config', () => {
  it('fills every default when the sections are absent', () => {
    const cfg = parse()
    expect(cfg.detect).toEqual({
      enabled: true,
      maxSeries: 1_000,
      historySize: 512,
      raiseAt: 0.5,
      clearAt: 0.3,
      clearAfter: 10,
      minEvents: 3,
      acceptAfter: 360,
    })
    expect(cfg.forecast).toEqual({
      enabled: true,
      refitEveryWindows: 30,
      horizon: 30,
      maxHorizon: 360,
      level: 80,
      candidates: ['naive', 'snaive', 'drift', 'ets', 'theta'],
      minHistory: 30,
      maxSeries: 2_000,
      budgetMsPerTick: 200,
      thresholds: { errorRatio: 0.05, p95Ms: 1_000 },
    })
  })

  it('fills nested defaults next to the keys that are set', () => {
    const cfg = parse('forecast: { horizon: 12, thresholds: { p95Ms: 300 } }', 'detect: { enabled: false }')
    expect(cfg.forecast.horizon).toBe(12)
    expect(cfg.forecast.thresholds).toEqual({ errorRatio: 0.05, p95Ms: 300 })
    expect(cfg.detect.enabled).toBe(false)
    expect(cfg.detect.maxSeries).toBe(1_000)
  })

  it('names the field of a bad value', () => {
    expect(() => parse('forecast: { thresholds: { errorRatio: 2 } }')).toThrow(
      /forecast\.thresholds\.errorRatio/,
    )
    expect(() => parse('detect: { maxSerie: 5 }')).toThrow(/detect/)
  })
})
