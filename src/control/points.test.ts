import { describe, expect, it } from 'vitest'
import type { StoredPoint } from '../store/index.js'
import { emptySketch, encodeSketch } from '../store/sketch.js'
import { resample, toSeriesPoint } from './points.js'

const W = 10_000

/** A route point: `sent` requests proxied (`upstream5xx` of them failed), `noTarget` 503s the gateway answered itself. */
function stored(startMs: number, sent: number, upstream5xx: number, noTarget: number): StoredPoint {
  const sk = emptySketch()
  for (let i = 0; i < sent; i++) sk.accept(40)
  return {
    series: { service: 'shop', route: 'shop', env: 'prod' },
    startMs,
    durationMs: W,
    sources: 1,
    count: sent + noTarget,
    statusClass: [0, sent - upstream5xx, 0, 0, upstream5xx + noTarget],
    limited: 0,
    refused: noTarget,
    refused5xx: noTarget,
    timeouts: 0,
    connectErrors: 0,
    bytesIn: 0,
    bytesOut: 0,
    latencySketch: encodeSketch(sk),
  }
}

describe('series points', () => {
  it("gives what the clients saw and the upstream's own error ratio side by side", () => {
    const p = toSeriesPoint(stored(0, 40, 4, 60))
    expect(p).toMatchObject({
      count: 100,
      errorRatio: 0.64,
      upstreamErrorRatio: 0.1,
      refused: 60,
      refused5xx: 60,
    })
    expect(p.statusClass[4]).toBe(64)
  })

  it('has no upstream error ratio to speak of when nothing was sent: 0, with null latency', () => {
    const p = toSeriesPoint(stored(0, 0, 0, 50))
    expect([p.errorRatio, p.upstreamErrorRatio, p.p95]).toEqual([1, 0, null])
  })

  it('reads a point from before the refused counters (0) as every request sent', () => {
    const p = toSeriesPoint({ ...stored(0, 10, 2, 0), refused: 0, refused5xx: 0 })
    expect([p.errorRatio, p.upstreamErrorRatio]).toEqual([0.2, 0.2])
  })

  it('resamples the refused counters exactly with the rest', () => {
    const [m] = resample([stored(0, 40, 4, 60), stored(W, 60, 6, 0)], 6 * W)
    expect([m.count, m.refused, m.refused5xx]).toEqual([160, 60, 60])
    expect(toSeriesPoint(m).upstreamErrorRatio).toBe(0.1)
  })
})
