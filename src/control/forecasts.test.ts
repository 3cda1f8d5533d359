/** @module Tests of live forecasting: scheduled refits spread over windows, stored forecast events, the served answer. */
import { describe, expect, it } from 'vitest'
import { fillUp } from '../../test/helpers/full-store.js'
import { SqliteStore, type StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { LiveForecasts, toGrid, type ForecastReady, type StoredForecast } from './forecasts.js'
import type { SeriesPoint } from './points.js'
import { formatSeriesKey } from './series-key.js'
import { StoreBacklog } from './store-backlog.js'

const STEP = 10_000
const T0 = 1_700_000_000_000

/** `errors`: the upstream's 5xx; `noTarget`: 503s the gateway answered itself (no healthy target). */
function point(i: number, rate: number, errors = 0, p95 = 50, noTarget = 0): SeriesPoint {
  const count = Math.round(rate * 10)
  const sent = count - noTarget
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count,
    ratePerSec: count / 10,
    errorRatio: count > 0 ? (errors + noTarget) / count : 0,
    upstreamErrorRatio: sent > 0 ? errors / sent : 0,
    refused: noTarget,
    refused5xx: noTarget,
    limitedRatio: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, count - errors - noTarget, 0, 0, errors + noTarget],
    bytesIn: 0,
    bytesOut: 0,
    p50: sent > 0 ? p95 / 2 : null,
    p95: sent > 0 ? p95 : null,
    p99: sent > 0 ? p95 * 1.3 : null,
    sources: 1,
  }
}

function setup(n: number, opts: Partial<ConstructorParameters<typeof LiveForecasts>[0]> = {}) {
  const history = new Map<string, SeriesPoint[]>()
  const events: StoredEvent[] = []
  const live = new LiveForecasts({
    stepMs: STEP,
    history: (s: SeriesKey) => Promise.resolve(history.get(formatSeriesKey(s)) ?? []),
    store: { appendEvents: (ev) => (events.push(...ev), Promise.resolve()) },
    refitEveryWindows: 10,
    minHistory: 30,
    now: () => T0 + n * STEP,
    ...opts,
  })
  const add = (s: SeriesKey, p: SeriesPoint) => {
    const k = formatSeriesKey(s)
    history.set(k, [...(history.get(k) ?? []), p])
    live.hook(s, p, { correction: false })
  }
  return { live, events, add }
}

const orders = { service: 'orders', route: '/api/orders', env: 'prod' }
const rateAt = (i: number) => 100 + 20 * Math.sin((2 * Math.PI * i) / 20) + ((i * 7919) % 11) - 5

describe('LiveForecasts', () => {
  it('holds the forecast event a full store refuses and writes it once the store takes writes', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    try {
      const backlog = new StoreBacklog()
      const { live, add } = setup(80, { store, backlog })
      for (let i = 0; i < 80; i++) add(orders, point(i, rateAt(i)))
      await fillUp(store)
      await live.runDue(60_000)
      expect(live.stats.fits).toBe(1)
      expect(backlog.waiting).toBe(1)
      expect(await store.queryEvents({ kind: 'forecast' })).toEqual([])
      store.limitPages(null)
      await backlog.drain()
      const stored = await store.queryEvents({ kind: 'forecast' })
      expect(stored).toHaveLength(1)
      expect(stored[0]).toMatchObject({ subject: 'orders|/api/orders|prod' })
      expect((stored[0]!.payload as StoredForecast).points).toHaveLength(30)
    } finally {
      await store.close()
    }
  })

  it('refits on schedule, stores the forecast with intervals and serves it with the backtest', async () => {
    const { live, events, add } = setup(80)
    for (let i = 0; i < 80; i++) add(orders, point(i, rateAt(i), i % 3 === 0 ? 1 : 0, 50 + (i % 5)))
    expect(live.queued).toBe(1)
    await live.runDue(60_000)
    expect(live.stats.fits).toBe(1)
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      kind: 'forecast',
      subject: 'orders|/api/orders|prod',
      actor: 'control',
    })
    const stored = events[0].payload as StoredForecast
    expect(stored.points).toHaveLength(30)
    expect(stored.lastPointMs).toBe(T0 + 79 * STEP)
    expect(stored.model.length).toBeGreaterThan(0)
    expect(stored.backtest.length).toBeGreaterThanOrEqual(3)
    expect(stored.failure.p95?.threshold).toBe(1_000)
    expect(JSON.stringify(stored).length).toBeLessThan(6_000)

    const f = await live.forecast('orders|/api/orders|prod', 12)
    expect(f.status).toBe('ok')
    const ok = f as ForecastReady
    expect(ok.horizon).toBe(12)
    expect(ok.points).toHaveLength(12)
    ok.points.forEach((p, h) => {
      expect(p.atMs).toBe(T0 + (80 + h) * STEP)
      expect(p.lower).toBeLessThanOrEqual(p.forecast)
      expect(p.upper).toBeGreaterThanOrEqual(p.forecast)
      expect(p.forecast).toBeGreaterThan(60)
      expect(p.forecast).toBeLessThan(140)
    })
    expect(ok.points.some((p) => p.upper > p.lower)).toBe(true)
    expect(ok.level).toBe(80)
    expect(ok.model.length).toBeGreaterThan(0)
    expect(ok.backtest.length).toBeGreaterThanOrEqual(3)
    for (const b of ok.backtest) expect(Number.isFinite(b.mase)).toBe(true)
    // failure forecasts: a 3% error ratio and ~52 ms p95 against 5% and 1 s
    expect(ok.failure.errorRatio).not.toBeNull()
    expect(ok.failure.p95!.probability).toBeLessThan(0.2)
    expect(ok.failure.p95!.threshold).toBe(1_000)
    expect(ok.failure.errorRatio!.perStep).toHaveLength(12)
    // served from the cache: no new fit for a shorter horizon
    expect(live.stats.fits).toBe(1)
    // a longer horizon than cached fits on demand
    const long = (await live.forecast('orders|/api/orders|prod', 60)) as ForecastReady
    expect(long.points).toHaveLength(60)
    expect(live.stats.fits).toBe(2)
  })

  it('a p95 climbing towards its threshold gets a high failure probability', async () => {
    const { live, add } = setup(60, { thresholds: { errorRatio: 0.05, p95Ms: 500 } })
    for (let i = 0; i < 60; i++) add(orders, point(i, 100, 0, 100 + i * 6 + (i % 3)))
    const f = (await live.forecast('orders|/api/orders|prod', 30)) as ForecastReady
    expect(f.failure.p95!.probability).toBeGreaterThan(0.5)
    expect(f.failure.p95!.firstLikelyStep).not.toBeNull()
  })

  it('one error among 12 requests after a history of zeros is not a near-certain failure', async () => {
    const { live, add } = setup(201, { thresholds: { errorRatio: 0.05, p95Ms: 1_000 } })
    for (let i = 0; i < 200; i++) add(orders, point(i, 1.2))
    add(orders, point(200, 1.2, 1))
    const f = (await live.forecast('orders|/api/orders|prod', 30)) as ForecastReady
    const e = f.failure.errorRatio!
    // the ratio forecast is the service's: the error pooled with the windows before it (84 requests)
    expect(e.points[0].forecast).toBeCloseTo(1 / 84, 3)
    expect(e.probability).toBeLessThan(0.2)
    // the band is at least the binomial noise of the pool wide, not zero
    expect(e.points[0].upper - e.points[0].lower).toBeGreaterThan(0.02)
  })

  it('an error burst in its newest windows forecasts a crossing that continues, not a new one; both are stored', async () => {
    const { live, events, add } = setup(130, { horizon: 30 })
    for (let i = 0; i < 120; i++) add(orders, point(i, 2, i % 13 === 0 ? 1 : 0))
    // 60 % of the 20 requests per window fail for ten windows, up to the newest one
    for (let i = 120; i < 130; i++) add(orders, point(i, 2, 12))
    await live.runDue(60_000)
    const e = live.latest('orders|/api/orders|prod')!.failure.errorRatio!
    expect(e.probability).toBeGreaterThan(0.95)
    expect(e.newCrossing!.probability).toBeLessThan(0.5)
    expect(e.newCrossing!.leftOut).toBeGreaterThanOrEqual(10)
    expect(e.newCrossing!.perStep).toHaveLength(30)
    const stored = (events.at(-1)!.payload as StoredForecast).failure.errorRatio!
    expect(stored.newCrossing).toEqual({
      probability: e.newCrossing!.probability,
      firstLikelyAtMs: e.newCrossing!.firstLikelyAtMs,
      leftOut: e.newCrossing!.leftOut,
    })
    // served cut to a shorter horizon, the new crossing's chance is over the shorter span too
    const cut = ((await live.forecast('orders|/api/orders|prod', 5)) as ForecastReady).failure.errorRatio!
    expect(cut.newCrossing!.perStep).toEqual(e.newCrossing!.perStep.slice(0, 5))
  })

  it('a service idle in a third of its windows still gets its rate forecast, without a failure forecast', async () => {
    const { live, add } = setup(60, { thresholds: { errorRatio: 0.05, p95Ms: 500 } })
    for (let i = 0; i < 60; i++) add(orders, point(i, i % 3 === 1 ? 0 : 50))
    const f = (await live.forecast('orders|/api/orders|prod', 10)) as ForecastReady
    expect(f.status).toBe('ok')
    expect(f.points).toHaveLength(10)
    expect(f.failure.errorRatio).toBeNull()
    expect(f.failure.p95).toBeNull()
    expect(f.notes).toContain(
      'no error-ratio failure forecast: 20 of the last 60 windows had no requests to measure it on',
    )
  })

  it('a few idle windows are filled in and the failure forecasts stay', async () => {
    const { live, add } = setup(60, { thresholds: { errorRatio: 0.05, p95Ms: 500 } })
    for (let i = 0; i < 60; i++) add(orders, point(i, i % 10 === 1 ? 0 : 50))
    const f = (await live.forecast('orders|/api/orders|prod', 10)) as ForecastReady
    expect(f.failure.errorRatio).not.toBeNull()
    expect(f.failure.p95).not.toBeNull()
  })

  it("forecasts the service's error ratio: the gateway's 503s with no healthy target are not its failures", async () => {
    const { live, add } = setup(0)
    for (let i = 0; i < 200; i++) add(orders, point(i, 10))
    // the only target went down for the last 10 windows: every request a 503 from the gateway
    for (let i = 200; i < 210; i++) add(orders, point(i, 10, 0, 50, 100))
    const f = (await live.forecast('orders|/api/orders|prod', 30)) as ForecastReady
    expect(f.failure.errorRatio!.probability).toBeLessThan(0.2)
  })

  it('short history answers insufficient_history with how many windows are needed', async () => {
    const { live, add } = setup(10)
    for (let i = 0; i < 10; i++) add(orders, point(i, 100))
    expect(live.queued).toBe(0)
    expect(await live.forecast('orders|/api/orders|prod')).toEqual({
      status: 'insufficient_history',
      key: 'orders|/api/orders|prod',
      stepMs: STEP,
      have: 10,
      need: 30,
    })
  })

  it('answers the rate band at another level from the same fit, wider with the level', async () => {
    const { live, add } = setup(80)
    for (let i = 0; i < 80; i++) add(orders, point(i, rateAt(i)))
    const key = 'orders|/api/orders|prod'
    const at80 = (await live.forecast(key, 12)) as ForecastReady
    const at95 = (await live.forecast(key, 12, 95)) as ForecastReady
    const at50 = (await live.forecast(key, 12, 50)) as ForecastReady
    expect(live.stats.fits).toBe(1)
    expect([at50.level, at80.level, at95.level]).toEqual([50, 80, 95])
    expect((await live.forecast(key, 12, 80)) as ForecastReady).toEqual(at80)
    at80.points.forEach((p, h) => {
      expect(at95.points[h].forecast).toBe(p.forecast)
      expect(at95.points[h].upper).toBeGreaterThan(p.upper)
      expect(at50.points[h].upper).toBeLessThan(p.upper)
      expect(at95.points[h].lower).toBeLessThan(p.lower)
    })
    await expect(live.forecast(key, 12, 100)).rejects.toThrow(/level/)
  })

  it('rejects a bad horizon naming the parameter', async () => {
    const { live } = setup(0)
    await expect(live.forecast('orders|/x|prod', 0)).rejects.toMatchObject({ code: 'VGL_ERR_CONTROL_QUERY' })
    await expect(live.forecast('orders|/x|prod', 100_000)).rejects.toThrow(/horizon/)
    await expect(live.forecast('nokey', 5)).rejects.toMatchObject({ code: 'VGL_ERR_CONTROL_SERIES_KEY' })
  })

  it('spreads the refits of many series over the refit interval and respects the tick budget', async () => {
    const { live, add } = setup(60, { refitEveryWindows: 10, minHistory: 10 })
    const series = Array.from({ length: 200 }, (_, s) => ({ service: 'svc', route: `/r${s}`, env: 'prod' }))
    const perWindow: number[] = []
    for (let i = 0; i < 30; i++) {
      for (const s of series) add(s, point(i, 50))
      perWindow.push(live.queued)
      // a budget of 0 ms still fits one series per tick, then defers the rest
      await live.runDue(0)
      if (i >= 10) expect(live.stats.deferred).toBeGreaterThan(0)
    }
    // 200 series over 10 phases: the first window with enough history makes ~20 due, not 200
    expect(perWindow[8]).toBe(0)
    expect(perWindow[9]).toBeGreaterThan(0)
    expect(perWindow[9]).toBeLessThan(60)
    // one fit per tick (budget 0) from the first due window (i = 9) to the last (i = 29)
    expect(live.stats.fits).toBe(21)
  })

  it('grids the error ratio and its requests from what was sent upstream, the rate from every request', () => {
    const g = toGrid([point(0, 10, 5, 50, 50), point(1, 10, 0, 50, 100)], STEP, 100)
    expect(g.rate).toEqual([10, 10])
    expect(g.requests).toEqual([50, 0])
    expect(g.errorRatio).toEqual([0.1, Number.NaN])
    expect(g.p95).toEqual([50, Number.NaN])
  })

  it('lays points on a regular grid; an empty window is zero traffic', () => {
    const g = toGrid([point(0, 10), point(3, 20)], STEP, 100)
    expect(g.rate).toEqual([10, 0, 0, 20])
    expect(g.requests).toEqual([100, 0, 0, 200])
    expect(g.p95.map(Number.isNaN)).toEqual([false, true, true, false])
    expect(toGrid([point(0, 1), point(9, 1)], STEP, 5).rate).toHaveLength(5)
  })
})
