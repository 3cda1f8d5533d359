import { describe, expect, it } from 'vitest'
import type { SeriesPoint } from '../control/points.js'
import { observationOf } from './autoscaling.js'

const point = (over: Partial<SeriesPoint>): SeriesPoint => ({
  startMs: 1_000,
  durationMs: 10_000,
  count: 100,
  ratePerSec: 10,
  errorRatio: 0.5,
  upstreamErrorRatio: 0,
  refused: 50,
  refused5xx: 50,
  limitedRatio: 0,
  timeouts: 0,
  connectErrors: 0,
  statusClass: [0, 50, 0, 0, 50],
  bytesIn: 0,
  bytesOut: 0,
  p50: 20,
  p95: 40,
  p99: 60,
  sources: 1,
  ...over,
})

describe('the autoscaler observation of a service window', () => {
  it('learns from the requests that reached a replica, not the 503s the gateway answered itself', () => {
    expect(observationOf(point({}))).toEqual({
      atMs: 1_000,
      ratePerSec: 10,
      requests: 50,
      p95: 40,
      p99: 60,
      errorRatio: 0,
      refusedRatio: 0.5,
    })
  })

  it('a window without requests refuses nothing', () => {
    expect(observationOf(point({ count: 0, refused: 0, refused5xx: 0, ratePerSec: 0 }))).toMatchObject({
      requests: 0,
      refusedRatio: 0,
    })
  })
})
