/**
 * @module Errors that arrive slowly: a sustained moderate excess of 5xx (or 429s) on a quiet or
 * medium route opens the errors anomaly a single large burst opens, and hours of calm traffic with
 * realistic, over-dispersed error counts open nothing.
 */
import { describe, expect, it } from 'vitest'
import { gammaUnit, poisson } from '../../test/helpers/draws.js'
import { nextRandom } from '../detect/stats.js'
import { fmtAnomalyValue } from '../format.js'
import { LiveAnomalies, type AnomalyRecord } from './anomalies.js'
import type { SeriesPoint } from './points.js'

const STEP = 10_000
const T0 = 1_700_000_000_000
const route = { service: 'orders', route: '/api/orders', env: 'prod' }
const KEY = 'orders|/api/orders|prod'

/** mulberry32: consecutive draws of a plain LCG are correlated enough to fake heavy tails here */
function rng(seed: number): () => number {
  const state = { rng: seed }
  return () => nextRandom(state)
}

function point(i: number, count: number, errors: number, limited = 0): SeriesPoint {
  const sent = count - limited
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: count > 0 ? errors / count : 0,
    upstreamErrorRatio: sent > 0 ? errors / sent : 0,
    refused: limited,
    refused5xx: 0,
    limitedRatio: count > 0 ? limited / count : 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count - errors - limited, 0, limited, errors],
    bytesIn: 0,
    bytesOut: 0,
    p50: sent > 0 ? 40 : null,
    p95: sent > 0 ? 72 : null,
    p99: sent > 0 ? 100 : null,
    sources: 1,
  }
}

interface Traffic {
  /** requests a window at the day's mean */
  requests: number
  /** the error ratio outside incidents */
  errorRatio: number
  /** the error ratio a window is a Gamma(shape) multiple of the base one: smaller is more over-dispersed */
  shape: number
  /** 429 share of requests (clients at their limits) */
  limitedRatio?: number
}

const QUIET: Traffic = { requests: 4, errorRatio: 0.003, shape: 2 }
const MEDIUM: Traffic = { requests: 200, errorRatio: 0.005, shape: 8, limitedRatio: 0.01 }

/**
 * Feeds windows [from, to): requests follow a daily swing (±60 % over 24 h) and are Poisson; each
 * window's error ratio is the base ratio times a Gamma draw (over-dispersion: some windows are
 * worse than others), or what `incident` says.
 */
function drive(
  live: LiveAnomalies,
  t: Traffic,
  from: number,
  to: number,
  seed: number,
  incident?: (i: number, requests: number, r: () => number) => number | undefined,
): void {
  const r = rng(seed * 7919 + from)
  for (let i = from; i < to; i++) {
    const day = Math.sin((2 * Math.PI * i) / 8640)
    const count = Math.max(1, poisson(r, t.requests * (1 + 0.6 * day)))
    const limited = Math.min(count - 1, poisson(r, count * (t.limitedRatio ?? 0) * gammaUnit(r, t.shape)))
    const sent = count - limited
    const errors =
      incident?.(i, sent, r) ?? Math.min(sent, poisson(r, sent * t.errorRatio * gammaUnit(r, t.shape)))
    live.hook(route, point(i, count, errors, limited), { correction: false })
  }
}

const opened = (live: LiveAnomalies): AnomalyRecord[] => {
  const out: AnomalyRecord[] = []
  live.on('anomaly', (a: AnomalyRecord, t: string) => t === 'opened' && out.push(a))
  return out
}

/** windows of learning before any incident (the count baselines judge after 64, the novelty detectors after ~100) */
const WARM = 400

describe('LiveAnomalies: a sustained excess of errors', () => {
  it('a quiet route failing 1–3 requests a window opens an errors anomaly within a few windows', () => {
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies()
      const seen = opened(live)
      drive(live, QUIET, 0, WARM, seed)
      // the outage: one to three of the route's few requests fail every window
      drive(live, QUIET, WARM, WARM + 30, seed, (_, sent, r) => Math.min(sent, 1 + Math.floor(r() * 3)))
      const errors = seen.filter((a) => a.metric === 'errors' && a.key === KEY)
      expect(errors, `seed ${seed}`).toHaveLength(1)
      const at = (errors[0].openedAtMs - T0) / STEP - WARM
      expect(at, `seed ${seed}: opened ${at} windows in`).toBeLessThan(8)
    }
  })

  it('one or two failed requests a window, never enough for one window to open, open it as sustained, explained over its windows', () => {
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies()
      const seen = opened(live)
      drive(live, QUIET, 0, WARM, seed)
      drive(live, QUIET, WARM, WARM + 30, seed, (_, sent, r) => Math.min(sent, 1 + Math.floor(r() * 2)))
      const errors = seen.filter((a) => a.metric === 'errors' && a.key === KEY)
      expect(errors, `seed ${seed}`).toHaveLength(1)
      const [a] = errors
      const at = (a.openedAtMs - T0) / STEP - WARM
      expect(at, `seed ${seed}: opened ${at} windows in`).toBeLessThan(8)
      expect(a.detector).toBe('count-cusum')
      expect(a.evidence['count-cusum']).toBeGreaterThan(7)
      // explained over the windows of the excess, one window's band beside it
      expect(a.sustained?.windows).toBeGreaterThanOrEqual(2)
      expect(a.observed).toBeGreaterThan(a.high)
      expect(a.observed).toBeGreaterThanOrEqual(3)
      expect(a.sustained!.high).toBeLessThan(1)
      expect(fmtAnomalyValue(a)).toMatch(
        new RegExp(`^${a.observed} errors over the last ${a.sustained!.windows} windows, expected `),
      )
    }
  })

  it('a medium route whose error ratio rises from 0.5 % to 3 % opens within a bounded number of windows', () => {
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies()
      const seen = opened(live)
      drive(live, MEDIUM, 0, WARM, seed)
      drive(live, MEDIUM, WARM, WARM + 60, seed, (_, sent, r) => poisson(r, sent * 0.03))
      const errors = seen.filter((a) => a.metric === 'errors')
      expect(errors.length, `seed ${seed}`).toBeGreaterThanOrEqual(1)
      const at = (errors[0].openedAtMs - T0) / STEP - WARM
      expect(at, `seed ${seed}: opened ${at} windows in`).toBeLessThan(12)
    }
  })

  it('a single large burst still opens on its first window, as one window', () => {
    const live = new LiveAnomalies()
    const seen = opened(live)
    drive(live, QUIET, 0, WARM, 1)
    live.hook(route, point(WARM, 20, 17), { correction: false })
    const [a] = seen.filter((x) => x.metric === 'errors')
    expect(a).toMatchObject({ openedAtMs: T0 + WARM * STEP, detector: 'poisson', observed: 17 })
    expect(a.sustained).toBeUndefined()
  })

  it('stays open while the errors go on, resolves clearAfter windows after they stop, and the next one opens as fast', () => {
    const live = new LiveAnomalies()
    const events: string[] = []
    live.on('anomaly', (a: AnomalyRecord, t: string) => {
      if (a.metric === 'errors') events.push(`${t} ${(t === 'opened' ? a.openedAtMs : a.resolvedAtMs!) - T0}`)
    })
    const seen = opened(live)
    drive(live, QUIET, 0, WARM, 4)
    // 60 windows of one failed request each: under minEvents every window, the incident all along
    drive(live, QUIET, WARM, WARM + 60, 4, () => 1)
    expect(live.openOn(KEY).filter((a) => a.metric === 'errors')).toHaveLength(1)
    expect(events.filter((e) => e.startsWith('resolved'))).toEqual([])
    // the errors stop
    drive(live, QUIET, WARM + 60, WARM + 300, 4, () => 0)
    const first = seen.filter((a) => a.metric === 'errors')[0]
    expect(events).toEqual([`opened ${first.openedAtMs - T0}`, `resolved ${(WARM + 70) * STEP}`])
    // the same incident again: judged against the route's normal, not against the first one
    drive(live, QUIET, WARM + 300, WARM + 330, 4, () => 1)
    const errors = seen.filter((a) => a.metric === 'errors')
    expect(errors).toHaveLength(2)
    const delay = errors.map((a, n) => (a.openedAtMs - T0) / STEP - WARM - 300 * n)
    expect(delay[1]).toBeLessThanOrEqual(delay[0] + 1)
  })

  it('a lasting new level of one error a window is accepted once, and opens nothing after', () => {
    const live = new LiveAnomalies({ acceptAfter: 100 })
    const events: string[] = []
    live.on('anomaly', (a: AnomalyRecord, t: string) => {
      if (a.metric === 'errors') events.push(`${t}${a.resolvedBy !== undefined ? ` ${a.resolvedBy}` : ''}`)
    })
    drive(live, QUIET, 0, WARM, 8)
    drive(live, QUIET, WARM, WARM + 900, 8, () => 1)
    expect(events).toEqual(['opened', 'resolved accepted'])
  })

  it('resolves when the route goes nearly quiet: windows of a request or two without errors are calm', () => {
    const live = new LiveAnomalies()
    drive(live, QUIET, 0, WARM, 5)
    drive(live, QUIET, WARM, WARM + 20, 5, () => 1)
    expect(live.openOn(KEY).filter((a) => a.metric === 'errors')).toHaveLength(1)
    for (let i = WARM + 20; i < WARM + 30; i++) live.hook(route, point(i, 1, 0), { correction: false })
    expect(live.openOn(KEY).filter((a) => a.metric === 'errors')).toEqual([])
  })

  /** every errors or 429 anomaly opened over `hours` of calm traffic, on 3 seeds each */
  function calm(t: Traffic, hours: number): AnomalyRecord[] {
    const out: AnomalyRecord[] = []
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies()
      const seen = opened(live)
      drive(live, t, 0, (hours * 3600_000) / STEP, seed)
      out.push(...seen.filter((a) => a.metric === 'errors' || a.metric === 'limitedRatio'))
    }
    return out
  }
  const describeAll = (as: readonly AnomalyRecord[]) =>
    as.map(
      (a) => `${a.metric} at window ${(a.openedAtMs - T0) / STEP} (${a.detector}: ${fmtAnomalyValue(a)})`,
    )

  it('12 hours of calm traffic with over-dispersed error and 429 counts open no errors or 429 anomaly, quiet or medium, on any seed', () => {
    expect(describeAll(calm(QUIET, 12))).toEqual([])
    expect(describeAll(calm(MEDIUM, 12))).toEqual([])
  })

  it('twice as over-dispersed, the sustained evidence still opens nothing', () => {
    // one window's tail (quasi-Poisson, variance φ·mean) is lighter than a Gamma-mixed count's, so
    // the one-window rule may open here; the CUSUM's windows each add as little as they do there
    const heavy = calm({ ...MEDIUM, shape: MEDIUM.shape / 2 }, 8)
    expect(describeAll(heavy.filter((a) => a.detector === 'count-cusum'))).toEqual([])
  })
})

describe('LiveAnomalies: a sustained excess of 429s', () => {
  it('opens limitedRatio on a slow rise of 429s, but not while Vigil itself limits the service', () => {
    for (const self of [false, true]) {
      const live = new LiveAnomalies({ selfLimited: () => self })
      const seen = opened(live)
      drive(live, MEDIUM, 0, WARM, 6)
      // 2.5 % of the requests refused instead of 1 %: no window alone is improbable enough
      const r = rng(6)
      for (let i = WARM; i < WARM + 40; i++) {
        const count = poisson(r, 200)
        live.hook(route, point(i, count, 1, poisson(r, count * 0.025)), { correction: false })
      }
      const limited = seen.filter((a) => a.metric === 'limitedRatio')
      expect(
        limited.map((a) => a.detector),
        `selfLimited ${self}`,
      ).toEqual(self ? [] : ['count-cusum'])
      for (const a of limited) {
        expect(a.observed).toBeGreaterThan(a.high)
        expect(a.observed).toBeLessThan(0.05)
        expect(fmtAnomalyValue(a)).toMatch(/^throttled [0-9.]+% over the last \d+ windows, expected /)
      }
    }
  })
})

describe('LiveAnomalies: sustained evidence across a restart', () => {
  it('carries the CUSUM in the snapshot, and a snapshot without it starts from 0', () => {
    const a = new LiveAnomalies()
    drive(a, QUIET, 0, WARM, 7)
    drive(a, QUIET, WARM, WARM + 3, 7, () => 1)
    const snap = structuredClone(a.snapshot())
    expect(snap.counts?.[0][1].sustained?.errors.cusum.s).toBeGreaterThan(0)
    const b = new LiveAnomalies()
    b.restore(structuredClone(snap))
    const old = structuredClone(snap)
    for (const [, c] of old.counts ?? []) delete c.sustained
    const c = new LiveAnomalies()
    c.restore(old)
    const at = (live: LiveAnomalies) => {
      const seen = opened(live)
      drive(live, QUIET, WARM + 3, WARM + 30, 7, () => 1)
      return seen.filter((x) => x.metric === 'errors').map((x) => (x.openedAtMs - T0) / STEP)
    }
    const [ra, rb, rc] = [at(a), at(b), at(c)]
    expect(rb).toEqual(ra)
    // without the carried evidence it opens, later
    expect(rc).toHaveLength(1)
    expect(rc[0]).toBeGreaterThan(ra[0])
  })
})
