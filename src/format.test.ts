import { describe, expect, it } from 'vitest'
import {
  digitsApart,
  fmtApart,
  fmtChance,
  fmtMetric,
  fmtMetricAgainstBand,
  fmtMetricApart,
  fmtMetricRange,
  fmtNum,
  fmtPct,
  fmtPctApart,
} from './format.js'

describe('fmtNum', () => {
  it('keeps three significant digits, and whole grouped numbers from 100 up', () => {
    expect(fmtNum(0.051234)).toBe('0.0512')
    expect(fmtNum(5)).toBe('5')
    expect(fmtNum(812.4)).toBe('812')
    expect(fmtNum(12_345.6)).toBe('12,346')
    expect(fmtNum(812.44, 4)).toBe('812.4')
    expect(fmtNum(-0.5)).toBe('-0.5')
    expect(fmtNum(Number.NaN)).toBe('NaN')
  })
})

describe('fmtApart', () => {
  it('adds digits until two different numbers print differently', () => {
    expect(fmtApart(0.05012, 0.05)).toEqual(['0.0501', '0.05'])
    expect(fmtApart(0.050004, 0.05)).toEqual(['0.050004', '0.05'])
    expect(fmtApart(812.4, 812.1)).toEqual(['812.4', '812.1'])
    expect(fmtApart(812.44, 812.36)).toEqual(['812.44', '812.36'])
    expect(fmtApart(1_234.6, 1_234.9)).toEqual(['1,234.6', '1,234.9'])
    expect(digitsApart(812.4, 812.1)).toBe(4)
  })

  it('leaves numbers that already differ, and equal numbers, at three digits', () => {
    expect(fmtApart(0.3, 0.05)).toEqual(['0.3', '0.05'])
    expect(fmtApart(812, 812)).toEqual(['812', '812'])
  })

  it('stops at six digits: beyond, the difference is float noise', () => {
    expect(fmtApart(0.07, 0.07000000000000001)).toEqual(['0.07', '0.07'])
  })

  it('percentages: the ratios scaled, then told apart', () => {
    expect(fmtPct(0.0512)).toBe('5.12%')
    expect(fmtPctApart(0.05002, 0.05)).toEqual(['5.002%', '5%'])
  })
})

describe('metric values', () => {
  it('carry their unit, and ratios read as percentages', () => {
    expect(fmtMetric('p95', 812.4)).toBe('812 ms')
    expect(fmtMetric('rate', 12.34)).toBe('12.3 req/s')
    expect(fmtMetric('errorRatio', 0.895)).toBe('89.5%')
    expect(fmtMetric('limitedRatio', 0.1)).toBe('10%')
    expect(fmtMetric('errors', 19)).toBe('19 errors')
    expect(fmtMetric('errors', 1)).toBe('1 error')
    expect(fmtMetricApart('requests', 1, 2)).toEqual(['1 request', '2 requests'])
    expect(fmtMetric('joint', 0.8)).toBe('0.8')
  })

  it('a range writes the unit once, and one number when both ends print alike', () => {
    expect(fmtMetricRange('p95', 120, 340)).toBe('120–340 ms')
    expect(fmtMetricRange('errors', 0, 2.981)).toBe('0–2.98 errors')
    expect(fmtMetricRange('limitedRatio', 0.01, 0.1)).toBe('1–10%')
    expect(fmtMetricRange('rate', 5, 5)).toBe('5 req/s')
  })

  it('a value against its band: told apart from the edge it crossed, the band with the same digits', () => {
    expect(fmtMetricAgainstBand('p95', 812.4, 400, 812.1)).toEqual(['812.4 ms', '400–812.1 ms'])
    expect(fmtMetricAgainstBand('rate', 3.001, 3.004, 9)).toEqual(['3.001 req/s', '3.004–9 req/s'])
    expect(fmtMetricAgainstBand('errors', 19, 0, 2.981)).toEqual(['19 errors', '0–2.98 errors'])
  })
})

describe('fmtChance', () => {
  it('reads a small probability as a percentage, then 1 in N, never in exponent notation', () => {
    expect(fmtChance(0.25)).toBe('25%')
    expect(fmtChance(0.001)).toBe('1 in 1,000')
    expect(fmtChance(3.5e-5)).toBe('1 in 29,000')
    expect(fmtChance(3.1e-120)).toBe('under 1 in a billion')
    expect(fmtChance(0)).toBe('under 1 in a billion')
  })
})
