import { describe, expect, it } from 'vitest'
import type { Outcome } from '../lib/types.js'
import { fmtDowntimeMinutes, succeededP95, whatIfRows } from './whatif-rows.js'

const WHATIF_ROWS = whatIfRows({ slo: { availability: 0.999, latencyMs: 1000 }, downtimeErrorRatio: 0.05 })
const point = (value: number) => ({ value, low: value, high: value })
const outcome = (succeeded: Outcome['succeededLatencyMs']): Outcome => ({
  successProbability: point(succeeded === null ? 0 : 0.2),
  // most journeys fail at once: the p95 over all of them is the time to fail
  latencyMs: { p50: point(0.2), p95: point(0.411), p99: point(80) },
  succeededLatencyMs: succeeded,
  requestSloMissRatio: point(0.8),
  sloBreachProbability: point(1),
  expectedDowntimeMinutes: point(10),
  expectedFailedRequests: point(4800),
  usersAffected: null,
  simulatedJourneys: 1000,
})

describe('what-if latency', () => {
  it('shows the p95 of the journeys that succeed, not the time to fail', () => {
    expect(succeededP95(outcome({ p50: point(40), p95: point(120), p99: point(180) }))).toBe('120 ms')
    const [label] = WHATIF_ROWS[1]
    expect(label).toBe('Latency p95 of the journeys that succeed')
  })

  it('says every request failed when none succeeded', () => {
    expect(succeededP95(outcome(null))).toBe('n/a: every request failed')
  })
})

describe('what-if downtime', () => {
  it('gives expected minutes to a hundredth, a trace of one as ≈0', () => {
    const [label, figure] = WHATIF_ROWS[4]
    expect(label).toBe('Minutes with over 5% of requests failing (downtime)')
    const o = { ...outcome(null), expectedDowntimeMinutes: { value: 0.00517, low: 0, high: 0.0728 } }
    expect(figure(o, { usersSeen: null } as never)).toBe('0.01 (0 – 0.07)')
    expect(fmtDowntimeMinutes(0.004)).toBe('≈0')
    expect(fmtDowntimeMinutes(0)).toBe('0')
    expect(fmtDowntimeMinutes(10)).toBe('10')
    expect(fmtDowntimeMinutes(10.05)).toBe('10.1')
  })
})

describe('what-if labels', () => {
  it('name the SLO and the downtime threshold the figures are judged against', () => {
    const labels = whatIfRows({ slo: { availability: 0.98, latencyMs: 800 }, downtimeErrorRatio: 0.1 }).map(
      ([label]) => label,
    )
    expect(labels).toContain('Requests missing the SLO (failed or over 800 ms)')
    expect(labels).toContain(
      'Chance the SLO (98% of requests succeed within 800 ms) is missed over the horizon',
    )
    expect(labels).toContain('Minutes with over 10% of requests failing (downtime)')
    expect(labels).toContain('Users affected (a request failed or over 800 ms)')
  })
})
