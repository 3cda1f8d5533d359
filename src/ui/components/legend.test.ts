import { describe, expect, it } from 'vitest'
import { forecastNotYet, legendEntries } from './legend.js'

const insufficient = (have: number, need: number, stepMs: number) =>
  ({ status: 'insufficient_history', key: 'users|*|demo', stepMs, have, need }) as const

describe('legendEntries', () => {
  const series = [
    { label: 'observed' },
    { label: 'forecast', missing: 'forecast: not yet' },
    { label: 'upper', hidden: true },
    { label: 'capacity' },
  ]

  it('lists a series with no point by its missing words, and one without such words not at all', () => {
    const got = legendEntries(series, [
      [1, 2],
      [null, null],
      [null, null],
      [null, undefined],
    ])
    expect(got).toEqual([
      { series: series[0], drawn: true },
      { series: series[1], drawn: false, text: 'forecast: not yet' },
    ])
  })

  it('lists every drawn series with its swatch, never a hidden band edge', () => {
    const got = legendEntries(series, [
      [1, null],
      [null, 3],
      [null, 4],
      [0, 0],
    ])
    expect(got.map((e) => [e.series.label, e.drawn])).toEqual([
      ['observed', true],
      ['forecast', true],
      ['capacity', true],
    ])
  })
})

describe('forecastNotYet', () => {
  it('says how much more history the forecast needs, in minutes or seconds', () => {
    // 30 windows of 10 s needed, 12 there: 3 minutes
    expect(forecastNotYet(insufficient(12, 30, 10_000))).toBe(
      'forecast: not yet, needs 3 more minutes of data',
    )
    expect(forecastNotYet(insufficient(29, 30, 10_000))).toBe(
      'forecast: not yet, needs 10 more seconds of data',
    )
    expect(forecastNotYet(insufficient(0, 31, 2_000))).toBe('forecast: not yet, needs 2 more minutes of data')
    expect(forecastNotYet(insufficient(0, 30, 2_000))).toBe('forecast: not yet, needs 1 more minute of data')
  })

  it('says only "not yet" before the API answered, and that the model is fitting once the history is there', () => {
    expect(forecastNotYet(null)).toBe('forecast: not yet')
    expect(forecastNotYet(insufficient(30, 30, 10_000))).toBe('forecast: not yet, fitting the first model')
  })
})
