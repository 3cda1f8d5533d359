/** @module Tests of live anomaly detection: synthetic windows through the hook, events stored and queried. */
import { describe, expect, it } from 'vitest'
import { fillUp } from '../../test/helpers/full-store.js'
import { SqliteStore, type EventQuery, type StoredEvent } from '../store/index.js'
import { LIVE_WINDOWS, LiveAnomalies, toMetricPoint, type AnomalyRecord } from './anomalies.js'
import type { SeriesPoint } from './points.js'
import { StoreBacklog } from './store-backlog.js'

const STEP = 10_000
const T0 = 1_700_000_000_000

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

/** `errors`: the upstream's 5xx; `noTarget`: the gateway's own 503s; both among `count`, as the 429s are. */
function point(
  i: number,
  o: { count: number; p50: number; errors?: number; limited?: number; noTarget?: number },
): SeriesPoint {
  const errors = o.errors ?? 0
  const limited = o.limited ?? 0
  const noTarget = o.noTarget ?? 0
  const refused = limited + noTarget
  const sent = o.count - refused
  return {
    startMs: T0 + i * STEP,
    durationMs: STEP,
    count: o.count,
    ratePerSec: o.count / 10,
    errorRatio: (errors + noTarget) / o.count,
    upstreamErrorRatio: sent > 0 ? errors / sent : 0,
    refused,
    refused5xx: noTarget,
    limitedRatio: limited / o.count,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, o.count - errors - limited - noTarget, 0, limited, errors + noTarget],
    bytesIn: 0,
    bytesOut: 0,
    // a window in which nothing was sent upstream has no latency
    p50: sent > 0 ? o.p50 : null,
    p95: sent > 0 ? o.p50 * 1.8 : null,
    p99: sent > 0 ? o.p50 * 2.5 : null,
    sources: 1,
  }
}

/** An in-memory Store events table with the port's semantics (newest first, kind and range filters). */
function memoryEvents() {
  const rows: StoredEvent[] = []
  return {
    rows,
    appendEvents: (ev: readonly StoredEvent[]) => {
      for (const e of ev) rows.push({ ...e, id: rows.length + 1, payload: structuredClone(e.payload) })
      return Promise.resolve()
    },
    queryEvents: (q: EventQuery = {}) =>
      Promise.resolve(
        rows
          .filter(
            (e) =>
              (q.kind === undefined || e.kind === q.kind) &&
              (q.fromMs === undefined || e.atMs >= q.fromMs) &&
              (q.toMs === undefined || e.atMs < q.toMs),
          )
          .reverse()
          .slice(0, q.limit ?? 100),
      ),
  }
}

const route = { service: 'orders', route: '/api/orders', env: 'prod' }

function feed(live: LiveAnomalies, n: number, spikeAt: number[] = [], seed = 7): void {
  const r = rng(seed)
  for (let i = 0; i < n; i++) {
    const count = Math.round(1000 + (r() - 0.5) * 60)
    const p50 = spikeAt.includes(i) ? 400 : 40 + (r() - 0.5) * 4
    live.hook(route, point(i, { count, p50, errors: r() < 0.5 ? 1 : 0 }), { correction: false })
  }
}

describe('LiveAnomalies', () => {
  it('a stable series opens no anomaly', async () => {
    const store = memoryEvents()
    const live = new LiveAnomalies({ store })
    feed(live, 700)
    await live.flush()
    expect(live.stats.opened).toBe(0)
    expect(store.rows).toHaveLength(0)
    expect(await live.anomalies({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, state: 'all' })).toEqual([])
  })

  it('holds the events of a full store and writes them, in order, once it takes writes again', async () => {
    const store = await SqliteStore.open({ path: ':memory:' })
    try {
      const backlog = new StoreBacklog()
      const live = new LiveAnomalies({ store, backlog })
      feed(live, 500)
      await fillUp(store) // the disk fills just before the spike
      const r = rng(99)
      for (let i = 500; i < 560; i++) {
        const p50 = i < 503 ? 400 : 40 + (r() - 0.5) * 4
        live.hook(route, point(i, { count: 1000, p50 }), { correction: false })
      }
      await live.flush()
      const all = await live.anomalies({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, state: 'all' })
      expect(all.length).toBeGreaterThanOrEqual(1)
      expect(live.stats.storeErrors).toBe(0)
      expect(backlog.waiting).toBe(2 * all.length) // opened and resolved
      expect(await store.queryEvents({ kind: 'anomaly.opened' })).toEqual([])
      store.limitPages(null)
      await backlog.drain()
      const events = (await store.queryEvents({ limit: 1_000 })).filter((e) => e.kind !== 'filler').reverse()
      expect(events.map((e) => e.kind)).toEqual([
        ...all.map(() => 'anomaly.opened'),
        ...all.map(() => 'anomaly.resolved'),
      ])
      // a fresh instance reads the anomalies of the outage from the store
      const again = new LiveAnomalies({ store })
      expect(
        (await again.anomalies({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, state: 'all' }))
          .map((a) => a.id)
          .sort(),
      ).toEqual(all.map((a) => a.id).sort())
    } finally {
      await store.close()
    }
  })

  it('a latency spike opens one anomaly per latency metric, explained, and it resolves', async () => {
    const store = memoryEvents()
    const live = new LiveAnomalies({ store })
    const events: [AnomalyRecord, string][] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) => events.push([r, t]))
    const spike = [500, 501, 502]
    feed(live, 503, spike)
    await live.flush()
    const open = await live.anomalies({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, state: 'open' })
    const latency = open.filter((a) => ['p50', 'p95', 'p99'].includes(a.metric))
    expect(latency.length).toBeGreaterThanOrEqual(1)
    const p = latency[0]
    expect(p.key).toBe('orders|/api/orders|prod')
    expect(p.openedAtMs).toBe(T0 + 500 * STEP)
    expect(p.observed).toBeGreaterThan(p.high)
    expect(p.expected).toBeLessThan(p.observed / 3)
    // hysteresis: three anomalous windows, one record per metric
    const metrics = open.map((a) => a.metric)
    expect(new Set(metrics).size).toBe(metrics.length)
    expect(store.rows.filter((e) => e.kind === 'anomaly.opened')).toHaveLength(open.length)

    // back to normal: every open anomaly resolves once, after the quiet period
    const r = rng(99)
    for (let i = 503; i < 560; i++)
      live.hook(route, point(i, { count: 1000, p50: 40 + (r() - 0.5) * 4 }), { correction: false })
    await live.flush()
    expect(await live.anomalies({ fromMs: 0, toMs: Number.MAX_SAFE_INTEGER, state: 'open' })).toEqual([])
    const all = await live.anomalies({ fromMs: T0, toMs: T0 + 1000 * STEP, state: 'all' })
    expect(all.length).toBe(open.length)
    for (const a of all) {
      expect(a.state).toBe('resolved')
      expect(a.resolvedAtMs).toBeGreaterThan(a.openedAtMs)
    }
    expect(store.rows.filter((e) => e.kind === 'anomaly.resolved')).toHaveLength(open.length)
    expect(events.filter(([, t]) => t === 'opened')).toHaveLength(open.length)
    expect(events.filter(([, t]) => t === 'resolved')).toHaveLength(open.length)

    // a fresh instance on the same store still answers from the events table
    const again = new LiveAnomalies({ store })
    const stored = await again.anomalies({
      fromMs: T0,
      toMs: T0 + 1000 * STEP,
      service: 'orders',
      state: 'all',
    })
    expect(stored.map((a) => a.id).sort()).toEqual(all.map((a) => a.id).sort())
    expect(stored.every((a) => a.state === 'resolved' && a.resolvedAtMs !== null)).toBe(true)
    expect(
      await again.anomalies({ fromMs: T0, toMs: T0 + 1000 * STEP, service: 'other', state: 'all' }),
    ).toEqual([])
  })

  it('a latency anomaly on a route gone quiet resolves as unjudgeable after clearAfter windows too few to judge it', async () => {
    const store = memoryEvents()
    const live = new LiveAnomalies({ store })
    feed(live, 503, [500, 501, 502])
    expect(live.openOn('orders|/api/orders|prod').map((a) => a.metric)).toContain('p99')
    // a trickle: 12 requests a window judge p50 (2 needed), not p95 (20) nor p99 (100)
    const trickle = (from: number, to: number, count = 12) => {
      for (let i = from; i < to; i++) live.hook(route, point(i, { count, p50: 40 }), { correction: false })
    }
    trickle(503, 511)
    // one window with enough requests to judge p99, still slow: the count starts again
    live.hook(route, point(511, { count: 1000, p50: 400 }), { correction: false })
    trickle(512, 521)
    expect(live.openOn('orders|/api/orders|prod').map((a) => a.metric)).toContain('p99')
    trickle(521, 522)
    await live.flush()
    const all = await live.anomalies({ fromMs: T0, toMs: T0 + 1000 * STEP, state: 'all' })
    const p99 = all.find((a) => a.metric === 'p99')
    expect(p99).toMatchObject({
      state: 'resolved',
      resolvedAtMs: T0 + 522 * STEP,
      resolvedBy: 'unjudgeable',
      resolution: 'too few requests to judge p99 for 10 windows (12 in the last window; 100 needed)',
    })
    // the reason survives a restart: it is stored with the resolution
    const again = new LiveAnomalies({ store })
    const stored = await again.anomalies({ fromMs: T0, toMs: T0 + 1000 * STEP, state: 'all' })
    expect(stored.find((a) => a.metric === 'p99')).toMatchObject({
      resolvedBy: 'unjudgeable',
      resolution: p99?.resolution,
    })
  })

  it('a latency anomaly back in its band resolves by band, and says so', () => {
    const live = new LiveAnomalies()
    const resolved: AnomalyRecord[] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) => t === 'resolved' && resolved.push(r))
    feed(live, 503, [500, 501, 502])
    const r = rng(99)
    for (let i = 503; i < 560; i++)
      live.hook(route, point(i, { count: 1000, p50: 40 + (r() - 0.5) * 4 }), { correction: false })
    const p99 = resolved.find((a) => a.metric === 'p99')
    expect(p99).toMatchObject({ resolvedBy: 'band', resolution: 'back inside its band for 10 windows' })
  })

  it('an aggregate anomaly names the child route that caused it', async () => {
    const live = new LiveAnomalies()
    const r = rng(3)
    const a = { service: 'orders', route: '/a', env: 'prod' }
    const b = { service: 'orders', route: '/b', env: 'prod' }
    const svc = { service: 'orders', route: '*', env: 'prod' }
    for (let i = 0; i < 503; i++) {
      const ca = Math.round(500 + (r() - 0.5) * 40)
      const cb = i >= 500 ? 5000 : Math.round(500 + (r() - 0.5) * 40)
      const pa = point(i, { count: ca, p50: 40 })
      const pb = point(i, { count: cb, p50: 40 })
      live.hook(a, pa, { correction: false })
      live.hook(b, pb, { correction: false })
      live.hook(svc, point(i, { count: ca + cb, p50: 40 }), { correction: false })
    }
    const rate = live.openAnomalies().find((x) => x.key === 'orders|*|prod' && x.metric === 'rate')
    expect(rate).toBeDefined()
    expect(rate!.level).toBe('service')
    expect(rate!.children[0].key).toBe('orders|/b|prod')
    expect(rate!.children[0].share).toBeGreaterThan(0.8)
  })

  it('keeps detector state for at most maxSeries series, evicting the least recently seen', () => {
    const live = new LiveAnomalies({ maxSeries: 3 })
    for (let s = 0; s < 5; s++)
      live.hook({ service: `s${s}`, route: '/x', env: 'e' }, point(0, { count: 10, p50: 5 }), {
        correction: false,
      })
    expect(live.seriesCount).toBe(3)
    expect(live.stats.evicted).toBe(2)
  })

  it('does not feed corrections to the detectors again', () => {
    const live = new LiveAnomalies()
    live.hook(route, point(0, { count: 10, p50: 5 }), { correction: true })
    expect(live.stats.windows).toBe(0)
    expect(live.seriesCount).toBe(0)
  })
})

describe('LiveAnomalies: when a detector score is an incident', () => {
  /** a quiet low-error series (users at --error-rate 0.001), then `windows` of it from `from` on */
  function quiet(
    live: LiveAnomalies,
    from: number,
    to: number,
    over: (i: number) => {
      errors?: number
      limited?: number
      noTarget?: number
      count?: number
    } = () => ({}),
  ) {
    const r = rng(11)
    for (let i = from; i < to; i++)
      live.hook(
        route,
        point(i, { count: Math.round(60 + (r() - 0.5) * 10), p50: 40 + (r() - 0.5) * 4, ...over(i) }),
        {
          correction: false,
        },
      )
  }
  const KEY = 'orders|/api/orders|prod'

  it('one or two 5xx in a quiet series open no anomaly, however improbable; an incident of 17 per window does', () => {
    const live = new LiveAnomalies()
    quiet(live, 0, 400)
    quiet(live, 400, 401, () => ({ errors: 2 }))
    // two errors against a baseline of ~0.002 a window: p < 1e-5, but two events
    expect(live.explained(KEY)!.errors.score).toBeGreaterThanOrEqual(0.5)
    quiet(live, 401, 402, () => ({ errors: 1 }))
    expect(live.openAnomalies()).toEqual([])
    // the incident: it opens at once, explained by the band of the tail that scored it
    quiet(live, 402, 403, () => ({ errors: 17 }))
    const open = live.openOn(KEY).filter((a) => a.metric === 'errors')
    expect(open).toHaveLength(1)
    expect(open[0]).toMatchObject({ observed: 17, openedAtMs: T0 + 402 * STEP, detector: 'poisson' })
    expect(open[0].observed).toBeGreaterThan(open[0].high)
  })

  it("a route whose only target is down: the gateway's 503s open no errors anomaly and teach the baseline nothing", () => {
    const live = new LiveAnomalies()
    const events: string[] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) => events.push(`${r.metric} ${t}`))
    quiet(live, 0, 400)
    // 20 windows in which every request is a 503 from the gateway: no healthy target
    quiet(live, 400, 420, () => ({ count: 60, noTarget: 60 }))
    expect(events.filter((e) => e.startsWith('errors'))).toEqual([])
    expect(live.openOn(KEY).filter((a) => a.metric === 'errors')).toEqual([])
    // the service is back: its baseline is the quiet one, so a real incident still opens at once
    quiet(live, 420, 425)
    quiet(live, 425, 426, () => ({ errors: 17 }))
    expect(events.filter((e) => e.startsWith('errors'))).toEqual(['errors opened'])
    // the same outage as the service's own 5xx opens an errors anomaly at its first window
    const own = new LiveAnomalies()
    quiet(own, 0, 400)
    quiet(own, 400, 401, () => ({ count: 60, errors: 60 }))
    expect(own.openOn(KEY).filter((a) => a.metric === 'errors')).toHaveLength(1)
  })

  it("judges errors among the requests sent upstream: the upstream's 5xx, NaN when none was sent", () => {
    expect(toMetricPoint(point(0, { count: 60, p50: 40, errors: 6, noTarget: 30 }))).toMatchObject({
      requests: 60,
      sent: 30,
      errors: 6,
      errorRatio: 0.2,
    })
    const down = toMetricPoint(point(0, { count: 60, p50: 40, noTarget: 60 }))
    expect([down.sent, down.errors, down.errorRatio]).toEqual([0, Number.NaN, Number.NaN])
    // 429s count among every request, however many reached the service
    expect(toMetricPoint(point(0, { count: 60, p50: 40, limited: 30 })).limitedRatio).toBe(0.5)
  })

  it('an error incident stays open while it lasts, and resolves clearAfter windows after the errors return to their band', () => {
    const live = new LiveAnomalies()
    const events: [AnomalyRecord, string][] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) => events.push([r, t]))
    quiet(live, 0, 400)
    quiet(live, 400, 460, () => ({ errors: 17 }))
    expect(events.map(([r, t]) => `${r.metric} ${t}`).filter((e) => e.startsWith('errors'))).toEqual([
      'errors opened',
    ])
    expect(live.openOn(KEY).map((a) => a.metric)).toContain('errors')
    quiet(live, 460, 469)
    expect(live.openOn(KEY).map((a) => a.metric)).toContain('errors')
    quiet(live, 469, 470)
    const resolved = events.filter(([r, t]) => r.metric === 'errors' && t === 'resolved')
    expect(resolved).toHaveLength(1)
    expect(resolved[0][0].resolvedAtMs).toBe(T0 + 470 * STEP)
  })

  it('a second error incident of the same size opens as the first did: incident windows do not teach the baseline', () => {
    const live = new LiveAnomalies()
    const opened: AnomalyRecord[] = []
    live.on(
      'anomaly',
      (r: AnomalyRecord, t: string) => t === 'opened' && r.metric === 'errors' && opened.push(r),
    )
    quiet(live, 0, 400)
    for (const from of [400, 640, 880]) {
      quiet(live, from, from + 15, () => ({ errors: 6 }))
      quiet(live, from + 15, from + 240)
    }
    expect(opened.map((r) => (r.openedAtMs - T0) / STEP)).toEqual([400, 640, 880])
    // judged against the series' normal every time, not against the incidents before
    for (const r of opened) {
      expect(r.high).toBeLessThan(opened[0].high * 1.5)
      expect(r.score).toBeGreaterThanOrEqual(opened[0].score * 0.9)
    }
  })

  it('a lasting new level is accepted after acceptAfter windows inside the current band', () => {
    const live = new LiveAnomalies({ acceptAfter: 40 })
    quiet(live, 0, 400)
    quiet(live, 400, 700, () => ({ errors: 17 }))
    expect(live.openOn(KEY).filter((a) => a.metric === 'errors')).toEqual([])
    expect(live.stats.resolved).toBeGreaterThanOrEqual(1)
    // once accepted, the new level is the baseline that judges: it opens nothing more
    const opened = live.stats.opened
    quiet(live, 700, 800, () => ({ errors: 17 }))
    expect(live.stats.opened).toBe(opened)
  })

  it('a lasting rate shift opens once, is accepted, and is learned: nothing opens after it', () => {
    const live = new LiveAnomalies({ acceptAfter: 100 })
    const events: string[] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) =>
      events.push(`${r.metric} ${t}${r.resolvedBy ? ` ${r.resolvedBy}` : ''}`),
    )
    quiet(live, 0, 400)
    quiet(live, 400, 1000, () => ({ count: 300 }))
    expect(events.filter((e) => e.startsWith('rate'))).toEqual(['rate opened', 'rate resolved accepted'])
  })

  it('429s: one of 60 opens nothing; a burst opens limitedRatio, unless Vigil itself is limiting the service', () => {
    for (const self of [false, true]) {
      const live = new LiveAnomalies({
        selfLimited: (s) => self && (s.service === 'orders' || s.service === '*'),
      })
      quiet(live, 0, 400)
      quiet(live, 400, 401, () => ({ limited: 1 }))
      quiet(live, 401, 420)
      expect(live.openAnomalies()).toEqual([])
      quiet(live, 420, 425, () => ({ limited: 20 }))
      const limited = live.openOn(KEY).filter((a) => a.metric === 'limitedRatio')
      expect(limited, `selfLimited ${self}`).toHaveLength(self ? 0 : 1)
      for (const a of limited) expect(a.observed).toBeGreaterThan(a.high)
    }
  })

  it('a 429 burst is explained by the band of the tail that scored it, not a band it sits inside', () => {
    const live = new LiveAnomalies()
    quiet(live, 0, 400)
    quiet(live, 400, 405, () => ({ limited: 20 }))
    const [a] = live.openOn(KEY).filter((x) => x.metric === 'limitedRatio')
    expect(a).toMatchObject({ detector: 'poisson', openedAtMs: T0 + 400 * STEP })
    expect(a.observed).toBeCloseTo(20 / 60, 1)
    expect(a.high).toBeLessThan(0.01)
    expect(a.low).toBeGreaterThanOrEqual(0)
    expect(a.evidence.poisson).toBeGreaterThan(5)
  })

  it('every anomaly it opens reports a value outside the band it quotes', () => {
    // heavy-tailed latency and noisy traffic, with shifts inside and outside the usual range
    const live = new LiveAnomalies()
    const r = rng(5)
    const opened: AnomalyRecord[] = []
    live.on('anomaly', (a: AnomalyRecord, t: string) => t === 'opened' && opened.push(a))
    for (let i = 0; i < 1500; i++) {
      const phase = Math.floor(i / 150) % 4
      const count = Math.round(phase === 1 ? 60 : 40 + r() * 40)
      const p50 = phase === 3 ? 60 : 20 + 80 * Math.pow(r(), 4)
      live.hook(route, point(i, { count, p50 }), { correction: false })
    }
    expect(opened.length).toBeGreaterThan(0)
    for (const a of opened.filter((x) => x.metric !== 'joint'))
      expect(
        a.observed < a.low || a.observed > a.high,
        `${a.metric} ${a.observed} in ${a.low}–${a.high}`,
      ).toBe(true)
  })
})

describe('LiveAnomalies snapshot/restore', () => {
  it('a restored instance continues exactly: same signals, and an open anomaly resolves once', () => {
    const a = new LiveAnomalies()
    feed(a, 503, [500, 501, 502])
    const openBefore = a.openAnomalies()
    expect(openBefore.length).toBeGreaterThan(0)
    const snap = structuredClone(a.snapshot())
    const b = new LiveAnomalies()
    expect(b.restore(snap)).toBe(1)
    expect(b.openAnomalies()).toEqual(openBefore)
    const seen = { a: [] as string[], b: [] as string[] }
    a.on('anomaly', (r: AnomalyRecord, t: string) => seen.a.push(`${t}:${r.id}`))
    b.on('anomaly', (r: AnomalyRecord, t: string) => seen.b.push(`${t}:${r.id}`))
    const r = rng(5)
    for (let i = 503; i < 600; i++) {
      const p = point(i, { count: 1000, p50: 40 + (r() - 0.5) * 4 })
      a.hook(route, p, { correction: false })
      b.hook(route, p, { correction: false })
    }
    expect(seen.b).toEqual(seen.a)
    expect(seen.b.filter((s) => s.startsWith('resolved:'))).toHaveLength(openBefore.length)
    expect(b.openAnomalies()).toEqual([])
  })
  it('restores count baselines from a snapshot that kept only the judging one', () => {
    const a = new LiveAnomalies()
    const r = rng(8)
    for (let i = 0; i < 400; i++)
      a.hook(route, point(i, { count: 60, p50: 40 + (r() - 0.5) * 4 }), { correction: false })
    const snap = structuredClone(a.snapshot())
    for (const [, c] of snap.counts ?? []) delete c.all
    const b = new LiveAnomalies()
    expect(b.restore(snap)).toBe(1)
    // no relearning: the first burst after the restart opens at once
    b.hook(route, point(400, { count: 60, p50: 40, errors: 17 }), { correction: false })
    expect(b.openOn('orders|/api/orders|prod').map((x) => x.metric)).toContain('errors')
  })
  it('does not judge the partial windows of a restart: the one flushed while stopping and the one the start falls in', async () => {
    const partial = (i: number) => point(i, { count: 300, p50: 40 }) // 3 s of a 10 s window
    // without knowing about the restart, a window with 30% of the traffic is a rate anomaly
    const naive = new LiveAnomalies({ startedAtMs: T0 })
    feed(naive, 700)
    naive.hook(route, partial(700), { correction: false })
    expect(naive.openAnomalies().map((a) => a.metric)).toContain('rate')

    const before = new LiveAnomalies({ startedAtMs: T0 })
    feed(before, 700)
    before.closing(T0 + 700 * STEP + 3_000)
    before.hook(route, partial(700), { correction: false })
    expect(before.stats).toMatchObject({ windows: 700, partial: 1, opened: 0 })
    const after = new LiveAnomalies({ startedAtMs: T0 + 701 * STEP + 7_000 })
    expect(after.restore(structuredClone(before.snapshot()))).toBe(1)
    after.hook(route, partial(701), { correction: false })
    after.hook(route, point(702, { count: 1000, p50: 40 }), { correction: false })
    expect(after.stats).toMatchObject({ windows: 1, partial: 1, opened: 0 })
  })
})

describe('LiveAnomalies: how far detection is from judging', () => {
  const quiet = (i: number) => point(i, { count: 1000, p50: 40 })

  it('counts the windows each live series learned, and the time left at the window length', async () => {
    const live = new LiveAnomalies({ stepMs: 1_000 })
    expect(await live.learning()).toEqual({
      series: 0,
      learningSeries: 0,
      windowsLearned: null,
      windowsNeeded: 91,
      etaMs: null,
      windowMs: 1_000,
      services: [],
    })
    for (let i = 0; i < 40; i++) live.hook(route, quiet(i), { correction: false })
    const other = { ...route, route: '/api/cart' }
    for (let i = 30; i < 40; i++) live.hook(other, quiet(i), { correction: false })
    // the least advanced series decides when detection starts
    expect(await live.learning()).toEqual({
      series: 2,
      learningSeries: 2,
      windowsLearned: 10,
      windowsNeeded: 91,
      etaMs: 81 * 1_000,
      windowMs: 1_000,
      services: [
        {
          service: 'orders',
          env: 'prod',
          series: 2,
          learningSeries: 2,
          keys: ['orders|/api/cart|prod', 'orders|/api/orders|prod'],
          windowsLearned: 10,
          etaMs: 81 * 1_000,
        },
      ],
    })
    for (let i = 40; i < 91; i++) live.hook(route, quiet(i), { correction: false })
    // the cart route sent nothing for more than LIVE_WINDOWS windows: gone, not learning
    expect(91 - 40).toBeGreaterThan(LIVE_WINDOWS)
    expect(await live.learning()).toMatchObject({
      series: 1,
      learningSeries: 0,
      windowsLearned: null,
      etaMs: null,
    })
  })

  it('names each service still learning with its own time left, apart from those already judged', async () => {
    const live = new LiveAnomalies({ stepMs: 1_000 })
    const orders = { service: 'orders', route: '*', env: 'prod' }
    const cart = { ...route, route: '/api/cart' }
    const users = { service: 'users', route: '/api/users', env: 'prod' }
    const usersStaging = { ...users, env: 'staging' }
    for (let i = 0; i < 120; i++) {
      live.hook(route, quiet(i), { correction: false })
      live.hook(orders, quiet(i), { correction: false })
      // a route of a judged service, and a service in two environments, appear later
      if (i >= 100) live.hook(cart, quiet(i), { correction: false })
      if (i >= 60) live.hook(users, quiet(i), { correction: false })
      if (i >= 110) live.hook(usersStaging, quiet(i), { correction: false })
    }
    const l = await live.learning()
    // the aggregate stays what it was: the least advanced series decides
    expect(l).toMatchObject({ series: 5, learningSeries: 3, windowsLearned: 10, etaMs: 81_000 })
    expect(l.services).toEqual([
      {
        service: 'users',
        env: 'staging',
        series: 1,
        learningSeries: 1,
        keys: ['users|/api/users|staging'],
        windowsLearned: 10,
        etaMs: 81_000,
      },
      {
        service: 'orders',
        env: 'prod',
        series: 3,
        learningSeries: 1,
        keys: ['orders|/api/cart|prod'],
        windowsLearned: 20,
        etaMs: 71_000,
      },
      {
        service: 'users',
        env: 'prod',
        series: 1,
        learningSeries: 1,
        keys: ['users|/api/users|prod'],
        windowsLearned: 60,
        etaMs: 31_000,
      },
    ])
  })

  it('a series still learning opens nothing, even on a spike', async () => {
    const live = new LiveAnomalies()
    feed(live, 80, [70, 71, 72])
    expect(await live.anomalies({ fromMs: 0, toMs: Infinity, state: 'all' })).toEqual([])
    expect((await live.learning()).learningSeries).toBe(1)
  })

  it('a restored series continues from the windows it had learned', async () => {
    const live = new LiveAnomalies()
    for (let i = 0; i < 95; i++) live.hook(route, quiet(i), { correction: false })
    const next = new LiveAnomalies()
    next.restore(structuredClone(live.snapshot()))
    // not live until it has a window after the start
    expect((await next.learning()).series).toBe(0)
    next.hook(route, quiet(95), { correction: false })
    expect(await next.learning()).toMatchObject({ series: 1, learningSeries: 0 })
  })

  it('a window the state file learned, delivered again after the restore, is not learned twice', () => {
    const live = new LiveAnomalies()
    for (let i = 0; i < 95; i++) live.hook(route, quiet(i), { correction: false })
    const next = new LiveAnomalies()
    next.restore(structuredClone(live.snapshot()))
    next.hook(route, quiet(94), { correction: false })
    expect(next.stats).toMatchObject({ windows: 0, late: 1 })
    expect(next.snapshot()).toEqual(live.snapshot())
  })
})
