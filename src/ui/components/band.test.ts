import { describe, expect, it } from 'vitest'
import { bandLabel, drawnBand, drawnExpectedBand } from './band.js'

const pt = (forecast: number, lower: number, upper: number) => ({ atMs: 0, forecast, lower, upper })

describe('drawnBand', () => {
  it('keeps a band that fits the data as it is', () => {
    const got = drawnBand([pt(20, 10, 30), pt(21, 8, 34)], [18, 22, 25])
    expect(got).toEqual({ points: [pt(20, 10, 30), pt(21, 8, 34)], clipped: false })
  })

  it('draws no negative rate: the lower band and the forecast stop at 0', () => {
    const got = drawnBand([pt(-3, -40, 12), pt(2, -1, 9)], [5, 6])
    expect(got.points).toEqual([pt(0, 0, 12), pt(2, 0, 9)])
  })

  it('cuts an upper band far above the data after a ramp, and says so', () => {
    const got = drawnBand([pt(30, 0, 45), pt(40, 0, 900)], [2, 3, 25])
    expect(got.points.map((p) => p.upper)).toEqual([45, 80])
    expect(got.clipped).toBe(true)
    expect(bandLabel(80, got.clipped)).toBe('80% interval (cut at the top)')
    expect(bandLabel(undefined, false)).toBe('80% interval')
  })
})

describe('drawnExpectedBand', () => {
  it('cuts the wide band of a detector still learning to the data and the settled band, and says so', () => {
    // a band at 100% for the first windows, then about 2%; spikes to 6% observed later
    const highs = [100, 100, 80, 2, 2.1, 1.9, 2, 2]
    const observed = [0, 0, 0.5, 0, 6, 0, 0.4, 0]
    const got = drawnExpectedBand(highs, observed)
    expect(got.highs).toEqual([12, 12, 12, 2, 2.1, 1.9, 2, 2])
    expect(got.clipped).toBe(true)
  })

  it('keeps a settled band above quiet data, and a band that fits as it is', () => {
    expect(drawnExpectedBand([3, 3, 3, 3], [0, 0, 0, 0])).toEqual({ highs: [3, 3, 3, 3], clipped: false })
    expect(drawnExpectedBand([null, 5, 4], [3, null, 2])).toEqual({ highs: [null, 5, 4], clipped: false })
    expect(drawnExpectedBand([null, null], [0, 0])).toEqual({ highs: [null, null], clipped: false })
  })
})
