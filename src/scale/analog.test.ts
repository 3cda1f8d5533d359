import { describe, expect, it } from 'vitest'
import { rng } from '../forecast/stats.js'
import { AnalogPeaks } from './analog.js'

describe('AnalogPeaks', () => {
  it('learns a rhythm no season names: after three quiet rows a burst, after a burst quiet', () => {
    const a = new AnalogPeaks(6, 1, 500, 8)
    // a burst every fourth row
    for (let i = 0; i < 200; i++) a.push(i % 4 === 3 ? 300 : 100)
    // row 199 was a burst: the next row is quiet
    expect(a.quantiles([0.5, 0.9])).toEqual([100, 100])
    for (let i = 200; i < 203; i++) a.push(100)
    // three quiet rows since: the next one bursts
    expect(a.quantiles([0.5])).toEqual([300])
  })

  it('gives the peak over the lead, relative to the newest value', () => {
    const a = new AnalogPeaks(4, 3, 400, 10)
    // a ramp that rises 10 a row: the peak three rows ahead is 30 above the newest value
    for (let i = 0; i < 100; i++) a.push(1000 + 10 * i)
    expect(a.quantiles([0.5])![0]).toBeCloseTo(1000 + 10 * 99 + 30, 9)
  })

  it('on independent rows, gives about the quantiles of the values themselves', () => {
    const u = rng(5)
    const a = new AnalogPeaks(6, 1, 2000, 200)
    for (let i = 0; i < 2000; i++) a.push(100 * u())
    const [q1, q9] = a.quantiles([0.1, 0.9])!
    // the newest value plus the rise of the close stretches: centred on the newest, not learned
    // level, so only the spread is checked loosely
    expect(q9 - q1).toBeGreaterThan(40)
    expect(q9 - q1).toBeLessThan(140)
  })

  it('has no answer until twice the neighbours have a known outcome', () => {
    const a = new AnalogPeaks(6, 2, 100, 10)
    for (let i = 0; i < 6 + 2 + 18; i++) a.push(i)
    expect(a.quantiles([0.5])).toBeNull()
    a.push(1)
    expect(a.quantiles([0.5])).not.toBeNull()
  })

  it('rejects sizes that are not whole numbers ≥ 1, naming them', () => {
    expect(() => new AnalogPeaks(0, 1, 10, 1)).toThrow(/context: expected a whole number ≥ 1/)
    expect(() => new AnalogPeaks(6, 1.5, 10, 1)).toThrow(/lead: expected/)
    expect(() => new AnalogPeaks(6, 1, 10, Number.NaN)).toThrow(/neighbours: expected/)
  })
})
