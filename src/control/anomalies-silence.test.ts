/**
 * @module A route whose traffic stops altogether ships no window: while other series keep closing
 * theirs, the live layer judges its missing windows as windows of 0 requests, so a busy route that
 * goes silent opens a rate anomaly and its latency anomalies resolve as unjudgeable; a quiet route
 * whose empty windows are normal, an idle system, a late window and a restart open nothing.
 */
import { describe, expect, it } from 'vitest'
import { poisson } from '../../test/helpers/draws.js'
import { nextRandom } from '../detect/stats.js'
import { fmtAnomalyValue } from '../format.js'
import { LiveAnomalies, SILENCE_LAG, type AnomalyRecord } from './anomalies.js'
import type { SeriesPoint } from './points.js'

const STEP = 10_000
const T0 = 1_700_000_000_000
const BUSY = { service: 'shop', route: '/api/cart', env: 'prod' }
const OTHER = { service: 'shop', route: '/api/search', env: 'prod' }
const QUIET = { service: 'shop', route: '/api/returns', env: 'prod' }
const BUSY_KEY = 'shop|/api/cart|prod'
const QUIET_KEY = 'shop|/api/returns|prod'
/** windows of learning before the silence (the bank judges after ~100) */
const WARM = 400

function rng(seed: number): () => number {
  const state = { rng: seed }
  return () => nextRandom(state)
}

function point(i: number, count: number, p95 = 72): SeriesPoint {
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: 0,
    upstreamErrorRatio: 0,
    refused: 0,
    refused5xx: 0,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count, 0, 0, 0],
    bytesIn: 0,
    bytesOut: 0,
    p50: count > 0 ? 40 : null,
    p95: count > 0 ? p95 : null,
    p99: count > 0 ? 100 : null,
    sources: 1,
  }
}

/** A window as the control plane delivers it: a series with no requests ships none. */
function ship(live: LiveAnomalies, series: typeof BUSY, i: number, count: number, p95?: number): void {
  if (count > 0) live.hook(series, point(i, count, p95), { correction: false })
}

interface Plan {
  /** requests of the busy route in window i (0: silent) */
  busy?: (i: number, r: () => number) => number
  /** its p95 in window i */
  p95?: (i: number) => number
  /** requests of the other route (0: silent) */
  other?: (i: number, r: () => number) => number
}

function drive(live: LiveAnomalies, from: number, to: number, seed: number, plan: Plan = {}): void {
  const r = rng(seed * 7919 + from)
  for (let i = from; i < to; i++) {
    ship(live, BUSY, i, plan.busy?.(i, r) ?? poisson(r, 120), plan.p95?.(i) ?? 70 + 4 * r())
    ship(live, OTHER, i, plan.other?.(i, r) ?? poisson(r, 60))
  }
}

function record(live: LiveAnomalies): { opened: AnomalyRecord[]; resolved: AnomalyRecord[] } {
  const out = { opened: [] as AnomalyRecord[], resolved: [] as AnomalyRecord[] }
  live.on('anomaly', (a: AnomalyRecord, t: 'opened' | 'resolved') => out[t].push(a))
  return out
}

const windowOf = (ms: number) => (ms - T0) / STEP

describe('LiveAnomalies: a series that goes silent', () => {
  it('a busy route among others that stops altogether opens a rate anomaly that names the silence, and resolves once traffic returns', () => {
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies({ startedAtMs: T0 })
      const seen = record(live)
      drive(live, 0, WARM, seed)
      drive(live, WARM, WARM + 30, seed, { busy: () => 0 })
      const rate = seen.opened.filter((a) => a.key === BUSY_KEY && a.metric === 'rate')
      expect(rate, `seed ${seed}`).toHaveLength(1)
      const [a] = rate
      const at = windowOf(a.openedAtMs) - WARM
      expect(at, `seed ${seed}: opened ${at} windows in`).toBeLessThan(6)
      expect(a.observed).toBe(0)
      expect(a.silence?.windows).toBe(at + 1)
      expect(a.silence!.expectedPerWindow).toBeGreaterThan(90)
      expect(a.silence!.expectedPerWindow).toBeLessThan(150)
      expect(fmtAnomalyValue(a)).toMatch(
        /^no requests for \d+ windows?, expected about 1\d\d requests a window/,
      )
      // it stays open through the silence (not accepted as a new normal) ...
      expect(live.openOn(BUSY_KEY).map((x) => x.metric)).toContain('rate')
      expect(live.stats.silent).toBeGreaterThanOrEqual(30 - SILENCE_LAG)
      // ... and resolves by band once the traffic is back
      drive(live, WARM + 30, WARM + 60, seed)
      const back = seen.resolved.filter((x) => x.id === a.id)
      expect(back, `seed ${seed}`).toHaveLength(1)
      expect(back[0].resolvedBy).toBe('band')
      // nothing else on the routes that kept their traffic
      expect(seen.opened.filter((x) => x.key !== BUSY_KEY && x.level === 'route')).toEqual([])
    }
  })

  it('a route of 2 requests a window that goes silent opens once the silence is improbable as a whole', () => {
    for (const seed of [1, 2, 3]) {
      const live = new LiveAnomalies({ startedAtMs: T0 })
      const seen = record(live)
      drive(live, 0, WARM, seed, { busy: (_, r) => poisson(r, 2) })
      drive(live, WARM, WARM + 30, seed, { busy: () => 0 })
      const rate = seen.opened.filter(
        (a) => a.key === BUSY_KEY && a.metric === 'rate' && windowOf(a.openedAtMs) >= WARM,
      )
      expect(rate, `seed ${seed}`).toHaveLength(1)
      expect(rate[0].detector).toBe('silence')
      // no request in 10 windows where about 2 a window are expected: p ≈ e^−20
      expect(windowOf(rate[0].openedAtMs) - WARM, `seed ${seed}`).toBeLessThan(12)
      expect(rate[0].evidence.silence).toBeGreaterThanOrEqual(8)
      expect(fmtAnomalyValue(rate[0])).toMatch(
        /^no requests for \d+ windows, expected about 2(\.\d+)? requests a window/,
      )
    }
  })

  it('an open p95 anomaly on a route that goes silent resolves as unjudgeable: no requests for N windows', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    const seen = record(live)
    drive(live, 0, WARM, 1)
    drive(live, WARM, WARM + 5, 1, { p95: () => 900 })
    const p95 = seen.opened.filter((a) => a.key === BUSY_KEY && a.metric === 'p95')
    expect(p95).toHaveLength(1)
    drive(live, WARM + 5, WARM + 40, 1, { busy: () => 0 })
    const gone = seen.resolved.filter((a) => a.id === p95[0].id)
    expect(gone).toHaveLength(1)
    expect(gone[0].resolvedBy).toBe('unjudgeable')
    expect(gone[0].resolution).toBe('no requests for 10 windows: p95 cannot be judged')
    expect(windowOf(gone[0].resolvedAtMs!)).toBeLessThanOrEqual(WARM + 5 + 10 + SILENCE_LAG + 1)
  })

  it('a low-traffic route whose empty windows are normal opens nothing over many hours', () => {
    /** 6 hours: about one request every 4 windows, with a daily swing, beside a busy route */
    const run = (seed: number, silenceLag: number) => {
      const live = new LiveAnomalies({ startedAtMs: T0, silenceLag })
      const seen = record(live)
      const r = rng(seed)
      for (let i = 0; i < 2160; i++) {
        ship(live, BUSY, i, poisson(r, 120), 70 + 4 * r())
        ship(live, QUIET, i, poisson(r, 0.25 * (1 + 0.5 * Math.sin((2 * Math.PI * i) / 8640))))
      }
      return { live, quiet: seen.opened.filter((a) => a.key === QUIET_KEY) }
    }
    for (const seed of [1, 2, 3, 4, 5]) {
      const { live, quiet } = run(seed, SILENCE_LAG)
      expect(live.stats.silent, `seed ${seed}: its empty windows were judged`).toBeGreaterThan(500)
      // nothing on its rate, latency or errors; the joint score's rare false alarms on such a
      // route are older than the silence and about as frequent with it (bench/RESULTS.md)
      expect(
        quiet.filter((a) => a.metric !== 'joint'),
        `seed ${seed}`,
      ).toEqual([])
      expect(quiet.length, `seed ${seed}`).toBeLessThanOrEqual(3)
    }
  })

  it('a whole system going idle opens nothing: silence everywhere is no evidence about one route', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    const seen = record(live)
    drive(live, 0, WARM, 1)
    // an hour without any window, then traffic again as before
    drive(live, WARM + 360, WARM + 400, 1)
    expect(seen.opened).toEqual([])
    expect(live.stats.silent).toBe(0)
  })

  it('a window late by less than the lag is judged as it is, not as a silence', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    const seen = record(live)
    const r = rng(9)
    drive(live, 0, WARM, 1)
    // the busy route's rollups reach the hook one window after the others' (a late rollup each time)
    for (let i = WARM; i < WARM + 60; i++) {
      ship(live, OTHER, i, poisson(r, 60))
      if (i > WARM) ship(live, BUSY, i - 1, poisson(r, 120))
    }
    expect(live.stats.silent).toBe(0)
    expect(seen.opened).toEqual([])
  })

  it('a window arriving for a slot already judged silent is not judged again', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    drive(live, 0, WARM, 1)
    drive(live, WARM, WARM + 10, 1, { busy: () => 0 })
    const before = live.stats.windows
    // the busy route's rollup for the first silent slot, very late
    ship(live, BUSY, WARM, 120)
    expect(live.stats.late).toBe(1)
    expect(live.stats.windows).toBe(before)
  })

  it('a series still learning learns its silence but opens nothing; no silence across a restart', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    const early = record(live)
    drive(live, 0, 50, 1)
    drive(live, 50, 80, 1, { busy: () => 0 })
    expect(live.stats.silent).toBe(30 - SILENCE_LAG)
    expect(early.opened).toEqual([])

    const before = new LiveAnomalies({ startedAtMs: T0 })
    drive(before, 0, WARM, 1)
    const snap = before.snapshot()
    // down for an hour: the first windows after the start are the only ones a silence can be in
    const after = new LiveAnomalies({ startedAtMs: T0 + (WARM + 360) * STEP })
    expect(after.restore(snap)).toBe(2)
    const seen = record(after)
    drive(after, WARM + 360, WARM + 400, 1, { busy: (i) => (i < WARM + 370 ? poisson(rng(i), 120) : 0) })
    expect(after.stats.silent).toBe(30 - SILENCE_LAG)
    const rate = seen.opened.filter((a) => a.key === BUSY_KEY && a.metric === 'rate')
    expect(rate).toHaveLength(1)
    expect(windowOf(rate[0].openedAtMs)).toBeGreaterThanOrEqual(WARM + 370)
  })

  it('a bursty route keeps its share of empty windows across a restart: a silence is weighed as before it', () => {
    /** 36 windows of traffic, then 12 without: a quarter of its windows are empty */
    const bursty = { busy: (i: number, r: () => number) => (i % 48 < 36 ? poisson(r, 10) : 0) }
    const before = new LiveAnomalies({ startedAtMs: T0 })
    // stopped at the end of a burst, started at the next one's start
    drive(before, 0, 612, 1, bursty)
    const restart = 960
    const after = new LiveAnomalies({ startedAtMs: T0 + restart * STEP })
    expect(after.restore(structuredClone(before.snapshot()))).toBe(2)
    const seen = { before: record(before), after: record(after) }
    // two cycles of traffic and gaps, as before the restart, and for one that never stopped
    for (const live of [before, after]) drive(live, restart, restart + 96 + SILENCE_LAG, 1, bursty)
    expect(after.stats.silent).toBeGreaterThanOrEqual(15)
    expect(after.snapshot().empty).toEqual(before.snapshot().empty)
    expect(seen.after.opened).toEqual(seen.before.opened)
  })

  it('a route removed from the config resolves its silence at once and is no longer judged or replayed', () => {
    const live = new LiveAnomalies({ startedAtMs: T0 })
    const seen = record(live)
    drive(live, 0, WARM, 1)
    drive(live, WARM, WARM + 20, 1, { busy: () => 0 })
    const [silence] = seen.opened.filter((a) => a.key === BUSY_KEY && a.metric === 'rate')
    expect(silence?.silence).toBeDefined()
    const at = T0 + (WARM + 20) * STEP
    // the reloaded config keeps the other route (and so the service)
    expect(live.configRoutes([{ service: 'shop', route: '/api/search' }], at)).toBe(1)
    const gone = seen.resolved.filter((a) => a.id === silence.id)
    expect(gone).toHaveLength(1)
    expect(gone[0]).toMatchObject({
      resolvedBy: 'evicted',
      resolvedAtMs: at,
      resolution: 'its route was removed from the config',
    })
    expect(live.openOn(BUSY_KEY)).toEqual([])
    expect(live.knows(BUSY_KEY)).toBe(false)
    expect(live.knows('shop|/api/search|prod')).toBe(true)
    const silent = live.stats.silent
    drive(live, WARM + 20, WARM + 40, 1, { busy: () => 0 })
    expect(live.stats.silent).toBe(silent)
    expect(live.replay(BUSY, point(WARM + 41, 100))).toBe(false)
    expect(live.stats).toMatchObject({ removed: 1, evicted: 0 })
  })
})
