/** @module Tests of the per-series score history: the ring, and what the live detectors record in it. */
import { describe, expect, it } from 'vitest'
import { LiveAnomalies } from './anomalies.js'
import type { SeriesPoint } from './points.js'
import { ScoreRing } from './scores.js'

const STEP = 10_000
const T0 = 1_700_000_000_000

function point(i: number, count: number, p50: number, errors = 0): SeriesPoint {
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: count > 0 ? errors / count : 0,
    upstreamErrorRatio: count > 0 ? errors / count : 0,
    refused: 0,
    refused5xx: 0,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count - errors, 0, 0, errors],
    bytesIn: 0,
    bytesOut: 0,
    p50: count > 0 ? p50 : null,
    p95: count > 0 ? p50 * 1.8 : null,
    p99: count > 0 ? p50 * 2.5 : null,
    sources: 1,
  }
}

describe('ScoreRing', () => {
  it('keeps the last capacity windows, oldest first, unjudged metrics as null', () => {
    const ring = new ScoreRing(3)
    for (let i = 0; i < 5; i++)
      ring.push(T0 + i, i / 10, { rate: { score: i / 10, expected: 10 + i, low: 5, high: 15 } })
    const h = ring.read('k', 0, Infinity)
    expect(h.t).toEqual([T0 + 2, T0 + 3, T0 + 4])
    expect(h.score).toEqual([0.2, 0.3, 0.4])
    expect(h.metrics.rate.expected).toEqual([12, 13, 14])
    expect(h.metrics.p95.score).toEqual([null, null, null])
    expect(ring.read('k', T0 + 3, T0 + 4).t).toEqual([T0 + 3])
  })
})

describe('LiveAnomalies score history', () => {
  it('records every window with bands, error bands as ratios; evicted series go with their banks', async () => {
    const live = new LiveAnomalies({ stepMs: STEP, maxSeries: 2, scoreHistory: 50 })
    const series = { service: 'orders', route: '/o', env: 'prod' }
    for (let i = 0; i < 80; i++)
      live.hook(series, point(i, 100, 50 + (i % 5), i % 7 === 0 ? 1 : 0), { correction: false })
    const h = (await live.scores({ key: 'orders|/o|prod', fromMs: 0, toMs: Infinity }))!
    expect(h.t).toHaveLength(50)
    expect(h.t.at(-1)).toBe(T0 + 79 * STEP)
    const last = h.t.length - 1
    const p95 = h.metrics.p95
    expect(p95.low[last]!).toBeLessThanOrEqual(p95.expected[last]!)
    expect(p95.high[last]!).toBeGreaterThanOrEqual(p95.expected[last]!)
    expect(p95.expected[last]!).toBeGreaterThan(50)
    expect(p95.expected[last]!).toBeLessThan(150)
    const err = h.metrics.errorRatio
    expect(err.high[last]!).toBeGreaterThan(0)
    expect(err.high[last]!).toBeLessThan(1)
    expect(h.score.every((s) => s >= 0 && s <= 1)).toBe(true)

    // a window without requests has no latency judgement
    live.hook(series, point(80, 0, 0), { correction: false })
    const after = (await live.scores({ key: 'orders|/o|prod', fromMs: T0 + 80 * STEP, toMs: Infinity }))!
    expect(after.metrics.p95.score).toEqual([null])

    // two more series evict the first (maxSeries 2): its history goes too
    live.hook({ ...series, route: '/a' }, point(0, 10, 5), { correction: false })
    live.hook({ ...series, route: '/b' }, point(0, 10, 5), { correction: false })
    expect(await live.scores({ key: 'orders|/o|prod', fromMs: 0, toMs: Infinity })).toBeNull()
  })

  it('keeps none with scoreHistory 0', async () => {
    const live = new LiveAnomalies({ stepMs: STEP, scoreHistory: 0 })
    live.hook({ service: 's', route: '/r', env: 'e' }, point(0, 10, 5), { correction: false })
    expect(await live.scores({ key: 's|/r|e', fromMs: 0, toMs: Infinity })).toBeNull()
  })
})
