import { describe, expect, it } from 'vitest'
import type { DecisionTotal } from '../lib/types.js'
import { abusiveVerdict, byTierAndClass, limiterElsewhere, servedLatency } from './limits-rows.js'

const decisions: DecisionTotal[] = [
  { tier: 'free', class: 'read', outcome: 'allowed', total: 100 },
  { tier: 'free', class: 'read', outcome: 'refused_rate', total: 4 },
  // never throttled: no refused outcome at all
  { tier: 'pro', class: 'read', outcome: 'allowed', total: 50 },
]

describe('byTierAndClass', () => {
  it('reads 0 throttled/s for a pair never throttled once rates are known, as for one not throttled now', () => {
    const perSec: Record<string, number> = {
      'free\u0000read\u0000allowed': 5,
      'pro\u0000read\u0000allowed': 2,
    }
    const rows = byTierAndClass(decisions, (id) => perSec[id] ?? 0)
    expect(rows.map((r) => [r.tier, r.allowedRate, r.refusedRate])).toEqual([
      ['free', 5, 0],
      ['pro', 2, 0],
    ])
    expect(rows[0].reasons).toEqual(new Map([['rate', 4]]))
  })

  it('leaves every rate unknown until two snapshots give one', () => {
    const rows = byTierAndClass(decisions, null)
    expect(rows.map((r) => [r.allowedRate, r.refusedRate])).toEqual([
      [null, null],
      [null, null],
    ])
    expect(rows.map((r) => [r.allowed, r.refused])).toEqual([
      [100, 4],
      [50, 0],
    ])
  })
})

describe('servedLatency', () => {
  it('says none served for a client whose every request was throttled, not 0 ms', () => {
    expect(servedLatency({ finished: 0, meanLatencyMs: 0, requests: 40, refused: 40 })).toBe('none served')
    expect(servedLatency({ finished: 3, meanLatencyMs: 12, requests: 3, refused: 0 })).toBe('12 ms')
  })

  it('says none finished for a client admitted but still waiting on its response when the window closed', () => {
    // the demo's mobile-std: 1 request, 0 throttled, its response finished in the next window
    expect(servedLatency({ finished: 0, meanLatencyMs: 0, requests: 1, refused: 0 })).toBe('none finished')
  })
})

describe('abusiveVerdict', () => {
  it('says what stands out in words, not by the field name', () => {
    const ch = (key: string, observed: number, expected: number) => ({ key, observed, expected, share: 0.5 })
    const v = abusiveVerdict({ children: [ch('errorRatio', 0.925, 0.116), ch('requests', 40, 6)] })
    expect(v.text).toBe('abusive: refused at its own limit or failed 93% (typical 12%)')
    expect(v.title.split('\n').slice(0, 2)).toEqual([
      'refused at its own limit or failed 93% (typical 12%)',
      '40 requests (typical 6 requests)',
    ])
    // the share is not the 5xx/429 column's: the tooltip says what it counts
    expect(v.title).toContain('not refusals of defensive mode or a lowered limit')
    expect(abusiveVerdict({ children: [ch('requests', 40, 6)] }).title).toBe(
      '40 requests (typical 6 requests)',
    )
    expect(abusiveVerdict({ children: [] }).text).toBe('abusive: outlier')
  })
})

describe('limiterElsewhere', () => {
  it("on a control plane, says the decisions are each gateway's, and when the merged clients come", () => {
    const e = limiterElsewhere('control')
    expect(e?.decisions).toMatch(/each gateway's limiter counts its decisions/)
    expect(e?.decisions).toMatch(/gateway's dashboard/)
    expect(e?.clients).toMatch(/each gateway sends its heaviest clients when its window closes/)
    expect(`${e?.decisions} ${e?.clients}`).not.toMatch(/no limiter decisions|no clients/i)
  })

  it('says nothing where the limiter decides: a gateway, embedded', () => {
    expect(limiterElsewhere('gateway')).toBeNull()
    expect(limiterElsewhere('embedded')).toBeNull()
  })
})
