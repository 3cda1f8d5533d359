import { describe, expect, it } from 'vitest'
import type { ServedCounts } from '../../gateway/index.js'
import { servedSummary } from './demo.js'

const counts = (requests: number, statusClass: ServedCounts['statusClass'], limited: number) => ({
  requests,
  statusClass,
  limited,
})

describe('servedSummary (the demo status line)', () => {
  it("shows the gateway's rate and status shares over the interval, refusals included", () => {
    const prev = counts(1000, [0, 900, 0, 80, 20], 70)
    // 5 s: 300 served, 120 throttled, 30 failed
    const now = counts(1450, [0, 1200, 0, 200, 50], 190)
    expect(servedSummary(prev, now, 5000)).toBe('gateway   90.0 req/s  2xx  66.7%  429  26.7%  5xx   6.7%')
  })

  it('shows no shares for an interval without requests, and no rate for an empty interval', () => {
    const c = counts(10, [0, 10, 0, 0, 0], 0)
    expect(servedSummary(c, c, 2000)).toBe('gateway    0.0 req/s  2xx   -    429   -    5xx   -  ')
    expect(servedSummary(counts(0, [0, 0, 0, 0, 0], 0), c, 0)).toMatch(
      /^gateway {4}0\.0 req\/s {2}2xx 100\.0%/,
    )
  })
})
