import { describe, expect, it } from 'vitest'
import { fmtMetricApart } from '../../format.js'
import {
  fmtEvidence,
  fmtAgo,
  fmtClientFeature,
  changedFields,
  extraDigits,
  fmtCount,
  fmtInterval,
  fmtMetric,
  fmtMs,
  fmtNum,
  fmtPct,
  fmtRate,
  fmtSince,
  fmtSloMiss,
  fmtTime,
  fmtWhen,
  keyLabel,
  localTimes,
  parseSeriesKey,
  readableKeys,
  sitePath,
} from './format.js'

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
    // never scientific notation
    expect(fmtNum(7.72e-10)).toBe('≈0')
    expect(fmtNum(0.00011)).toBe('0.00011')
    expect(fmtInterval({ value: 0.03, low: 4.2e-9, high: 0.05 }, (v) => fmtNum(v))).toBe('0.03 (≈0 – 0.05)')
    expect(fmtPct(0.057)).toBe('5.7%')
    // thousands and millions without a padding zero
    expect(fmtNum(200_000)).toBe('200k')
    expect(fmtNum(30_240)).toBe('30.2k')
    expect(fmtNum(2_000_000)).toBe('2M')
  })

  it('never write a share short of all as 100%', () => {
    expect(fmtPct(1)).toBe('100%')
    expect(fmtPct(0.9997)).toBe('99.97%')
    expect(fmtPct(0.996)).toBe('99.6%')
    expect(fmtPct(0.99)).toBe('99%')
    expect(fmtPct(0.99997)).toBe('99.997%')
    // past that the difference is noise of the estimate
    expect(fmtPct(0.9999999)).toBe('100%')
    // a ratio above one (load over budget) is left as it is
    expect(fmtPct(1.31)).toBe('131%')
  })
})

describe('fmtMs', () => {
  it('writes seconds without padding zeros, so an axis reads 1 s, 2 s, 3 s', () => {
    expect(fmtMs(1000)).toBe('1 s')
    expect(fmtMs(3000)).toBe('3 s')
    expect(fmtMs(1500)).toBe('1.5 s')
    expect(fmtMs(12_345)).toBe('12.3 s')
    expect(fmtMs(999)).toBe('999 ms')
    // the digits that tell an observed value from its threshold are still there when asked for
    expect(fmtMs(1720.4, extraDigits(1720.4, 1720.1, fmtMs))).not.toBe(
      fmtMs(1720.1, extraDigits(1720.4, 1720.1, fmtMs)),
    )
  })

  it('gives a time under a millisecond to a hundredth', () => {
    expect(fmtMs(0.0957)).toBe('0.1 ms')
    expect(fmtMs(0.5)).toBe('0.5 ms')
    expect(fmtMs(0.004)).toBe('<0.01 ms')
    expect(fmtMs(0)).toBe('0 ms')
    expect(fmtMs(0.0957, 1)).toBe('0.096 ms')
  })
})

describe('fmtSince, fmtWhen', () => {
  it('a past time a little after the page’s clock reads "just now", never "in 1s"', () => {
    const now = Date.parse('2026-12-06T12:00:00Z')
    expect(fmtSince(now + 1_500, now)).toBe('just now')
    expect(fmtSince(now + 60_000, now)).toBe('just now')
    expect(fmtSince(now - 90_000, now)).toBe('1m 30s ago')
    expect(fmtSince(null, now)).toBe('–')
    // a time ahead (an expiry) keeps reading as one
    expect(fmtAgo(now + 60_000, now)).toBe('in 1m')
  })

  it('gives the date only when it is not today', () => {
    const now = Date.parse('2026-12-06T12:00:00')
    const today = Date.parse('2026-12-06T07:53:10')
    expect(fmtWhen(today, now)).toBe(fmtTime(today))
    const before = Date.parse('2026-12-05T07:53:10')
    expect(fmtWhen(before, now)).not.toBe(fmtTime(before))
    expect(fmtWhen(before, now)).toContain(fmtTime(before))
    expect(fmtWhen(undefined, now)).toBe('–')
  })
})

describe('fmtClientFeature', () => {
  it("names a client's refused-or-failed share as such, each value with its unit", () => {
    // a throttled scraper: its 429s are most of its "error ratio", which is not a 5xx ratio
    expect(fmtClientFeature('errorRatio', 0.85, 0.338)).toBe(
      'refused at its own limit or failed 85% (typical 34%)',
    )
    expect(fmtClientFeature('requests', 40, 3.47)).toBe('40 requests (typical 3.47 requests)')
    expect(fmtClientFeature('distinctRoutes', 12, 3)).toBe('12 routes (typical 3 routes)')
    expect(fmtClientFeature('meanLatencyMs', 478, 40.9)).toBe('mean latency 478 ms (typical 40.9 ms)')
  })
})

describe('fmtInterval', () => {
  it('gives one number when the interval reads as one', () => {
    const whole = (v: number) => String(Math.round(v))
    expect(fmtInterval({ value: 10.1, low: 9.6, high: 10.4 }, whole)).toBe('10')
    expect(fmtInterval({ value: 10, low: 7.6, high: 10.4 }, whole)).toBe('10 (8 – 10)')
    expect(fmtInterval(null, whole)).toBe('unknown')
  })
})

describe('readableKeys', () => {
  it('names the series in a server message as the dashboard does', () => {
    expect(readableKeys('anomaly on *|*|*: throttled 42.6%, expected 0.44%')).toBe(
      'anomaly on all services: throttled 42.6%, expected 0.44%',
    )
    expect(readableKeys('alert.firing payments|*|demo by near-budget: 0% of requests')).toBe(
      'alert.firing payments · demo by near-budget: 0% of requests',
    )
    expect(readableKeys('anomaly on shop|/api/browse|demo: p95 812 ms')).toBe(
      'anomaly on shop /api/browse · demo: p95 812 ms',
    )
  })

  it('leaves other text with bars alone', () => {
    expect(readableKeys('a|b')).toBe('a|b')
    expect(readableKeys('x || y')).toBe('x || y')
    expect(readableKeys('scale.replicas service:users by autoscale')).toBe(
      'scale.replicas service:users by autoscale',
    )
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

describe('changedFields', () => {
  it('lists only the fields an audited change changed, by path, settings first', () => {
    const before = {
      reason: '',
      clients: { 'scraper-std': 0.1 },
      defensive: false,
      updatedAt: '2026-12-06T11:39:35.965Z',
    }
    const after = {
      reason: 'errors anomaly on shop',
      clients: {},
      defensive: true,
      updatedAt: '2026-12-06T11:40:00.000Z',
    }
    expect(changedFields(before, after)).toEqual(['clients.scraper-std: 0.1 → –', 'defensive: false → true'])
    // who, why and when an entry was set are the audit row's columns; alone, they are the change
    const entry = (m: number, actor: string) => ({
      clients: { bot: m },
      entries: { clients: { bot: { actor, reason: `x${m}`, updatedAt: `2026-12-06T11:4${m}:00Z` } } },
    })
    expect(changedFields(entry(1, 'a'), entry(2, 'b'))).toEqual(['clients.bot: 1 → 2'])
    expect(changedFields({ reason: 'a', ratePerSec: 4 }, { reason: 'b', ratePerSec: 4 })).toEqual([
      'reason: a → b',
    ])
    expect(changedFields({ ratePerSec: 4, burst: 8 }, { ratePerSec: 1, burst: 2 })).toEqual([
      'ratePerSec: 4 → 1',
      'burst: 8 → 2',
    ])
  })

  it('says created or removed, and shortens long values', () => {
    expect(changedFields(null, { id: 'k1', tier: 'STD', ratePerSec: 5 })).toEqual([
      'created',
      'ratePerSec: 5',
      'id: k1',
      'tier: STD',
    ])
    expect(changedFields(undefined, 'on')).toEqual(['created: on'])
    expect(changedFields({ tier: 'STD' }, null)).toEqual(['removed'])
    expect(changedFields({ a: 1 }, { a: 1 })).toEqual(['no change'])
    // a list of objects by index, a list of plain values whole
    expect(
      changedFields(null, { matchers: [{ name: 'alertname', value: 'x' }], methods: ['GET', 'POST'] }),
    ).toEqual(['created', 'matchers[0].name: alertname', 'matchers[0].value: x', 'methods: ["GET","POST"]'])
    expect(changedFields({ r: 'x' }, { r: 'y'.repeat(100) })[0]).toBe(`r: x → ${'y'.repeat(60)}…`)
  })
})

describe('fmtSloMiss', () => {
  it("an alert impact's share of requests missing the SLO, its interval and what missing means", () => {
    const sloMissRatio = { value: 0.266, low: 0.235, high: 0.302 }
    expect(fmtSloMiss({ sloMissRatio, sloLatencyMs: 1_000 })).toBe('27% (24% – 30%) fail or take over 1 s')
    expect(fmtSloMiss({ sloMissRatio: null, sloLatencyMs: 1_000 })).toBeNull()
    // an alert recorded before the share was estimated
    expect(fmtSloMiss({})).toBeNull()
  })
})

describe('extraDigits', () => {
  it('gives an observed value and its threshold the digits that tell them apart', () => {
    const f = (x: number, extra: number) => fmtMetric('p95', x, extra)
    expect(f(812.4, 0)).toBe('812 ms')
    expect(extraDigits(812.4, 812.1, f)).toBe(1)
    expect(f(812.4, 1)).toBe('812.4 ms')
    const pct = (x: number, extra: number) => fmtMetric('errorRatio', x, extra)
    expect(extraDigits(0.05002, 0.05, pct)).toBe(2)
    expect([pct(0.05002, 2), pct(0.05, 2)]).toEqual(['5.002%', '5%'])
    expect(extraDigits(1_500.4, 1_500, f)).toBe(2)
    expect(f(1_500.4, 2)).toBe('1.5004 s')
    // already apart, or equal: the usual digits
    expect(extraDigits(900, 800, f)).toBe(0)
    expect(extraDigits(800, 800, f)).toBe(0)
    expect(fmtNum(812.44, 4)).toBe('812.4')
    expect(fmtNum(812, 4)).toBe('812')
  })
})

describe('sitePath', () => {
  it('names a what-if site as the calls from the entry, in words', () => {
    expect(sitePath('shop|onprem>inventory|onprem')).toBe('shop (onprem) → inventory (onprem)')
    expect(sitePath('users|demo')).toBe('users (demo)')
    // a service without an env, and a `|` escaped inside a name
    expect(sitePath('shop>pay%7Cv2|eu')).toBe('shop → pay|v2 (eu)')
  })
})

describe('fmtEvidence', () => {
  it("writes a latency as the alert's summary beside it does: one value, one unit", () => {
    for (const [observed, threshold] of [
      [1557.3, 1500],
      [183.2, 1500],
      [42.17, 40],
      [12_480, 10_000],
    ]) {
      const [o, t] = fmtMetricApart('p95', observed, threshold)
      const extra = extraDigits(observed, threshold, (x, e) => fmtEvidence('p95', x, e))
      expect([fmtEvidence('p95', observed, extra), fmtEvidence('p95', threshold, extra)]).toEqual([o, t])
    }
    expect(fmtEvidence('p95', 1557.3)).toBe('1,557 ms')
    // other metrics as everywhere on the page
    expect(fmtEvidence('rate', 12.5)).toBe(fmtMetric('rate', 12.5))
  })
})
