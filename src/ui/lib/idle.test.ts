import { describe, expect, it } from 'vitest'
import { IDLE_SLACK_MS, IDLE_WINDOWS, seriesNow } from './idle.js'

const w = { t: 100_000, d: 2_000, rate: 8, err: 0.05, uerr: 0.04, lim: 0.1, p50: 10, p95: 40, p99: 90 }
const end = w.t + w.d

describe('seriesNow', () => {
  it('shows the newest window as it is while the next ones may still come', () => {
    for (const late of [0, 1, IDLE_WINDOWS * w.d + IDLE_SLACK_MS])
      expect(seriesNow(w, end + late)).toEqual({ ...w, t: undefined, d: undefined, idleSince: null })
  })

  it('reads a series without a window for a few windows as idle: 0 req/s, no figures, since its last window ended', () => {
    expect(seriesNow(w, end + IDLE_WINDOWS * w.d + IDLE_SLACK_MS + 1)).toEqual({
      rate: 0,
      err: null,
      uerr: null,
      lim: null,
      p50: null,
      p95: null,
      p99: null,
      idleSince: end,
    })
  })

  it('waits in proportion to the window: a 60 s window is not idle after 30 s', () => {
    const long = { ...w, d: 60_000 }
    expect(seriesNow(long, long.t + long.d + 30_000).idleSince).toBeNull()
    expect(seriesNow(long, long.t + long.d + 4 * 60_000).idleSince).toBe(long.t + long.d)
  })

  it('a server clock behind the window (a browser clock ahead) is not idle', () => {
    expect(seriesNow(w, w.t - 10_000).idleSince).toBeNull()
  })
})
