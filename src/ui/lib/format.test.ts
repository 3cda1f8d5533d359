import { describe, expect, it } from 'vitest'
import { fmtCount, fmtMs, fmtPct, fmtRate, fmtTime, keyLabel, localTimes, parseSeriesKey } from './format.js'

describe('fmtRate, fmtMs, fmtPct', () => {
  it('show a value with its unit, and a bare dash when there is none (not "– req/s")', () => {
    expect(fmtRate(7.5)).toBe('7.5 req/s')
    expect(fmtRate(0)).toBe('0 req/s')
    for (const x of [undefined, null, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(fmtRate(x)).toBe('–')
      expect(fmtMs(x)).toBe('–')
      expect(fmtPct(x)).toBe('–')
    }
    expect(fmtMs(1234)).toBe('1.23 s')
    expect(fmtPct(0.057)).toBe('5.7%')
  })
})

describe('fmtCount', () => {
  it('says one of a thing in the singular and every other count in the plural', () => {
    expect(fmtCount(1, 'service')).toBe('1 service')
    expect(fmtCount(0, 'service')).toBe('0 services')
    expect(fmtCount(2, 'span')).toBe('2 spans')
    expect(fmtCount(1, 'anomaly', 'anomalies')).toBe('1 anomaly')
    expect(fmtCount(3, 'anomaly', 'anomalies')).toBe('3 anomalies')
  })
})

describe('keyLabel', () => {
  it('names every part in words: "*" is all services or all environments, never a bare star', () => {
    expect(keyLabel('*|*|*')).toBe('all services')
    expect(keyLabel('*|*|demo')).toBe('all services · demo')
    expect(keyLabel('shop|*|demo')).toBe('shop · demo')
    expect(keyLabel('shop|*|*')).toBe('shop · all environments')
    expect(keyLabel('shop|browse|demo')).toBe('shop browse · demo')
    expect(keyLabel('shop|browse|*')).toBe('shop browse · all environments')
  })
})

describe('parseSeriesKey', () => {
  it('reads service|route|env and refuses anything else (a hand-typed link)', () => {
    expect(parseSeriesKey('shop|*|demo')).toEqual({ service: 'shop', route: '*', env: 'demo' })
    for (const bad of ['shop', 'shop|demo', 'shop||demo', '|*|demo', 'a|b|c|d', ''])
      expect(parseSeriesKey(bad)).toBeNull()
  })
})

describe('localTimes', () => {
  it('shows the server’s UTC instants in the local clock, with the date when not today', () => {
    const now = Date.parse('2026-12-06T12:00:00Z')
    const at = Date.parse('2026-12-06T10:15:30.123Z')
    const text = localTimes('no requests since 2026-12-06T10:15:30.123Z: no window for 10m', now)
    expect(text).toBe(`no requests since ${fmtTime(at)}: no window for 10m`)
    expect(text).not.toContain('T10:15')
    const earlier = localTimes('held until 2026-11-30T08:00:00Z', now)
    expect(earlier).toContain(fmtTime(Date.parse('2026-11-30T08:00:00Z')))
    expect(earlier).not.toBe(`held until ${fmtTime(Date.parse('2026-11-30T08:00:00Z'))}`)
  })

  it('leaves text without instants, dates alone and impossible instants as they are', () => {
    expect(localTimes('p95 812 ms over 800 ms')).toBe('p95 812 ms over 800 ms')
    expect(localTimes('deployed on 2026-12-06')).toBe('deployed on 2026-12-06')
    expect(localTimes('at 2026-13-45T99:99:99Z')).toBe('at 2026-13-45T99:99:99Z')
  })
})
