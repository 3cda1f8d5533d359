import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRng } from '../journeys/rng.js'
import { fiveServiceTopology, syntheticTrace } from '../journeys/synthetic.js'
import { fillUp } from '../../test/helpers/full-store.js'
import { SqliteStore } from '../store/sqlite.js'
import { emptySketch, encodeSketch } from '../store/sketch.js'
import { traceRatio } from '../telemetry/span-sampler.js'
import type { SpanRecord } from '../telemetry/types.js'
import { LiveJourneys, type GraphAnswer, type JourneyRoute, type LiveJourneysOptions } from './journeys.js'
import { toSeriesPoint } from './points.js'
import { StoreBacklog } from './store-backlog.js'

const W = 1000
const WAIT = 5000
const T0 = 1_700_000_000_000

const route: JourneyRoute = {
  name: 'shop',
  service: 'shop',
  policy: {
    attempts: 1,
    backoffBaseMs: 25,
    backoffMaxMs: 1000,
    retryOn: ['502', '503', '504', 'timeout', 'connect-error'],
    firstByteTimeoutMs: 15_000,
    totalTimeoutMs: 30_000,
    breaker: { enabled: false, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
    healthCheckIntervalMs: null,
    targets: 1,
    idempotentShare: 1,
  },
}

function span(p: Partial<SpanRecord> & { traceId: string; spanId: string }): SpanRecord {
  return {
    parentSpanId: null,
    service: 'svc',
    env: 'prod',
    route: '',
    name: 'op',
    kind: 2,
    startTimeMs: T0,
    durationMs: 10,
    statusCode: 0,
    httpStatus: 200,
    requestId: null,
    source: 'otlp',
    attributes: {},
    ...p,
  }
}

/** The gateway's span of request `requestId` (route shop) and shop's span under it. */
function requestThroughGateway(
  traceId: string,
  requestId: string,
  gw: Partial<SpanRecord> = {},
  shop: Partial<SpanRecord> = {},
): SpanRecord[] {
  return [
    span({
      traceId,
      spanId: 'gw',
      source: 'gateway',
      route: 'shop',
      service: 'shop',
      requestId,
      env: 'edge',
      ...gw,
    }),
    span({ traceId, spanId: 's', parentSpanId: 'gw', service: 'shop', env: 'onprem', ...shop }),
  ]
}

/** A trace id whose sampling draw is below / above `rate`. */
function traceIdWith(sampled: boolean, rate: number, seed: number): string {
  for (let i = seed; ; i++) {
    const id = (BigInt(i) * 0x9e3779b97f4a7c15n).toString(16).padStart(32, '0').slice(-32)
    if (traceRatio(id) < rate === sampled) return id
  }
}

/** 300 traces of the shop's journey from 20 s before `now`, decided at `now`. */
function addRecent(
  j: LiveJourneys,
  topo: ReturnType<typeof fiveServiceTopology>,
  rng: ReturnType<typeof createRng>,
  now: number,
): void {
  for (let i = 0; i < 300; i++)
    j.add(
      syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge', startMs: now - 20_000 + i * 10 }, rng)
        .spans,
      now - 20_000,
    )
  j.take(now)
}

/** The gateway's stored rollup of route shop for one window; the sketch holds the proxied requests' latency. */
function gatewayRollup(
  startMs: number,
  count: number,
  statusClass: [number, number, number, number, number],
  limited: number,
  latencyMs: readonly number[],
  refused = 0,
  refused5xx = 0,
) {
  const sk = emptySketch()
  for (const ms of latencyMs) sk.accept(ms)
  const stored = {
    series: { service: 'shop', route: 'shop', env: 'edge' },
    startMs,
    durationMs: W,
    sources: 1,
    count,
    statusClass,
    limited,
    refused,
    refused5xx,
    timeouts: 0,
    connectErrors: 0,
    bytesIn: 0,
    bytesOut: 0,
    latencySketch: encodeSketch(sk),
  }
  return {
    series: stored.series,
    point: toSeriesPoint(stored),
    ctx: { correction: false, latencySketch: stored.latencySketch },
  }
}

describe('LiveJourneys', () => {
  let store: SqliteStore
  let now = T0
  let j: LiveJourneys
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    now = T0
    j = live()
  })
  /** The journeys of route shop with the test's clock. */
  const live = (over: Partial<LiveJourneysOptions> = {}) =>
    new LiveJourneys({
      store,
      windowMs: W,
      gatewayEnv: 'edge',
      sampleRate: 0.1,
      routes: [route],
      traceWaitMs: WAIT,
      maxBufferedSpans: 10_000,
      now: () => now,
      ...over,
    })
  afterEach(() => store.close())

  it('keeps whole traces: the gateway’s, failing ones and those its sampler draws; drops the rest after the wait', async () => {
    const kept = traceIdWith(false, 0.1, 1)
    const failing = traceIdWith(false, 0.1, 100)
    const sampled = traceIdWith(true, 0.1, 200)
    const dropped = traceIdWith(false, 0.1, 300)
    // OTLP spans first, the gateway's span of `kept` arrives later
    j.add(
      [
        span({ traceId: kept, spanId: 'a1', parentSpanId: 'gw1', service: 'shop' }),
        span({ traceId: failing, spanId: 'b1', statusCode: 2, httpStatus: 500 }),
        span({ traceId: sampled, spanId: 'c1' }),
        span({ traceId: dropped, spanId: 'd1' }),
      ],
      now,
    )
    expect(j.take(now).map((s) => s.spanId)).toEqual(['b1']) // an error is kept at once
    now += 1000
    j.add([span({ traceId: kept, spanId: 'gw1', source: 'gateway', route: 'shop', service: 'shop' })], now)
    expect(
      j
        .take(now)
        .map((s) => s.spanId)
        .sort(),
    ).toEqual(['a1', 'gw1'])
    now += WAIT
    expect(j.take(now).map((s) => s.spanId)).toEqual(['c1'])
    // late spans follow their trace's decision
    j.add(
      [span({ traceId: kept, spanId: 'a2', parentSpanId: 'a1' }), span({ traceId: dropped, spanId: 'd2' })],
      now,
    )
    expect(j.take(now).map((s) => s.spanId)).toEqual(['a2'])
    const st = await j.stats()
    expect(st.traces).toMatchObject({ kept: 3, dropped: 1 })
    expect(st.spans).toMatchObject({ received: 7, late: 2, stored: 5, dropped: 2 })
  })

  it('holds the graph windows a full store refuses and writes them once it takes writes again', async () => {
    const backlog = new StoreBacklog()
    j = live({ backlog })
    const r = gatewayRollup(T0, 3, [0, 2, 0, 0, 1], 0, [10, 20, 30])
    j.hook(r.series, r.point, r.ctx)
    // graph rows of old windows fill the room left in the graph's pages
    await fillUp(store, (i) =>
      store.writeGraphRows([
        {
          windowStartMs: i,
          windowMs: 1,
          from: '',
          to: 'filler',
          calls: 0,
          errors: 0,
          latencySketch: new Uint8Array(),
        },
      ]),
    )
    await j.flush()
    const range = [T0 - 10 * W, T0 + 10 * W] as const
    expect(await store.queryGraphRows(...range)).toEqual([])
    const held = backlog.waiting
    expect(held).toBeGreaterThan(0)
    expect((await j.stats()).graph).toMatchObject({ windowsWritten: 0, writeErrors: 0 })
    store.limitPages(null)
    await backlog.drain()
    const rows = await store.queryGraphRows(...range)
    expect(rows.length).toBe(held)
    expect(backlog.waiting).toBe(0)
    expect(rows.some((x) => x.calls === 3 && x.errors === 1)).toBe(true)
    expect((await j.stats()).graph.windowsWritten).toBe(1)
  })

  it('decides early when the buffer is full, and counts it', async () => {
    const small = new LiveJourneys({
      store,
      windowMs: W,
      gatewayEnv: 'edge',
      sampleRate: 0,
      routes: [route],
      traceWaitMs: WAIT,
      maxBufferedSpans: 1000,
      now: () => now,
    })
    for (let i = 0; i < 1500; i++)
      small.add([span({ traceId: `t${i}`.padStart(32, '0'), spanId: `s${i}` })], now)
    small.take(now)
    const st = await small.stats()
    expect(st.traces.decidedEarly).toBe(500)
    expect(st.spans.buffered).toBe(1000)
  })

  describe('waits for a trace’s root and parents past traceWaitMs', () => {
    /**
     * A request the gateway did not keep (its span never comes): shop's entry span under it,
     * pricing's span under shop's. Services export a span when it ends, so `rootAt` (the slow
     * root's arrival) may come after pricing's.
     */
    function slowRequest(traceId: string, ms: number): { root: SpanRecord; child: SpanRecord } {
      return {
        root: span({
          traceId,
          spanId: 'root',
          parentSpanId: 'unsampled-gw',
          service: 'shop',
          env: 'onprem',
          name: 'GET /shop',
          startTimeMs: T0,
          durationMs: ms,
        }),
        child: span({
          traceId,
          spanId: 'child',
          parentSpanId: 'root',
          service: 'pricing',
          env: 'aws',
          name: 'GET /price',
          startTimeMs: T0 + 1,
          durationMs: 20,
        }),
      }
    }

    it('waits for the caller of a route’s entry service when another route’s service calls it', async () => {
      // route orders → orders, which calls shop (itself the entry of route shop); the gateway did
      // not keep its span, and orders sends its server span alone, when it ends (after shop's)
      const k = live({ routes: [route, { ...route, name: 'orders', service: 'orders' }] })
      const request = (seed: number, ms: number) => {
        const traceId = traceIdWith(false, 0.1, seed)
        const shop = span({
          traceId,
          spanId: 'shop',
          parentSpanId: 'orders',
          service: 'shop',
          env: 'onprem',
          name: 'GET /internal/stock',
          startTimeMs: now + 5,
          durationMs: 20,
        })
        const orders = span({
          traceId,
          spanId: 'orders',
          parentSpanId: 'unsampled-gw',
          service: 'orders',
          env: 'onprem',
          name: 'POST /orders',
          startTimeMs: now,
          durationMs: ms,
        })
        return { shop, orders }
      }
      // a fast order, whole at once, shows shop's operation called by orders
      const fast = request(4000, 50)
      k.add([fast.shop, fast.orders], now)
      now += WAIT
      k.take(now)
      // a slow one: shop's span alone at traceWaitMs, orders' 2 s later
      const slow = request(5000, WAIT + 2000)
      k.add([slow.shop], now)
      now += WAIT
      k.take(now)
      expect((await k.stats()).traces.analyzed).toBe(1)
      now += 2000
      k.add([slow.orders], now)
      k.take(now)
      expect((await k.stats()).traces).toMatchObject({ analyzed: 2, waited: 1, lateAfterAnalysis: 0 })
      expect((await k.journeys(T0 - 60_000, now)).map((x) => [x.route, x.traces])).toEqual([['orders', 2]])
      // shop's own entry operation still stands for the root of a trace the gateway did not keep
      const own = span({
        traceId: traceIdWith(false, 0.1, 6000),
        spanId: 'own',
        parentSpanId: 'unsampled-gw',
        service: 'shop',
        env: 'onprem',
        name: 'GET /shop',
        startTimeMs: now,
      })
      k.add([own], now)
      now += WAIT
      k.take(now)
      expect((await k.stats()).traces).toMatchObject({ analyzed: 3, waited: 1, incomplete: 0 })
    })

    it('analyses a trace with its slow root span that came after traceWaitMs', async () => {
      // 20 requests: 10 fast ones, whole at once; 10 slow ones (2 s) whose root span comes
      // traceWaitMs + 2 s after their child
      const fast = Array.from({ length: 10 }, (_, i) => slowRequest(traceIdWith(false, 0.1, 10 + i * 13), 50))
      const slow = Array.from({ length: 10 }, (_, i) =>
        slowRequest(traceIdWith(false, 0.1, 700 + i * 13), 2000),
      )
      for (const r of fast) j.add([r.child, r.root], now)
      for (const r of slow) j.add([r.child], now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces.analyzed).toBe(10)
      now += 2000
      for (const r of slow) j.add([r.root], now)
      j.take(now)
      const st = await j.stats()
      expect(st.traces).toMatchObject({ analyzed: 20, waited: 10, incomplete: 0, lateAfterAnalysis: 0 })
      expect(st.spans.late).toBe(0)
      const [shop] = await j.journeys(T0 - W, T0 + W)
      expect(shop.traces).toBe(20)
      expect(shop.p95).toBeGreaterThan(1900)
      // the slow root's own time is on the critical path
      const own = shop.criticalPath.find((c) => c.service === 'shop')!
      expect(own.meanMs).toBeGreaterThan(900)
    })

    it('waits for the gateway’s span of a trace its sampler draws', async () => {
      // the gateway keeps a drawn trace's span and publishes it within a telemetry window: the
      // entry span alone is not the whole trace then
      const id = traceIdWith(true, 0.1, 5)
      const [gw, shop] = requestThroughGateway(id, 'rid-drawn', {}, { parentSpanId: 'gw' })
      j.add([shop], now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces.analyzed).toBe(0)
      now += 500
      j.add([gw], now)
      j.take(now)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 1, waited: 1 })
      const [list] = await j.journeys(T0 - W, T0 + W)
      expect(list).toMatchObject({ route: 'shop', traces: 1 })
    })

    it('decides a trace missing a parent for good at maxTraceWaitMs, and counts it', async () => {
      const k = live({ maxTraceWaitMs: 3 * WAIT })
      k.add([span({ traceId: 'a'.repeat(32), spanId: 'x', parentSpanId: 'never-sent' })], now)
      k.take(now + WAIT)
      k.take(now + 3 * WAIT - 1)
      expect((await k.stats()).traces).toMatchObject({ analyzed: 0, incomplete: 0 })
      k.take(now + 3 * WAIT)
      expect((await k.stats()).traces).toMatchObject({ analyzed: 1, incomplete: 1, waited: 0 })
      expect((await k.stats()).spans.buffered).toBe(0)
      expect(k.settleMs).toBe(3 * WAIT + W)
      expect(() => live({ maxTraceWaitMs: WAIT - 1 })).toThrow(
        /maxTraceWaitMs .* must be at least traceWaitMs/,
      )
    })

    it('decides whole traces at traceWaitMs while one before them still waits, and holds only its time back', async () => {
      const t0 = now
      const { child } = slowRequest(traceIdWith(false, 0.1, 900), 2000)
      j.add([child], now)
      now += 100
      const whole = requestThroughGateway(traceIdWith(false, 0.1, 950), 'rid-whole')
      j.add(whole, now)
      now += WAIT
      const out = j.take(now)
      // the gateway's trace is decided (kept: its spans are written) and analysed
      expect(out.map((s) => s.spanId).sort()).toEqual(['gw', 's'])
      expect((await j.stats()).traces).toMatchObject({ kept: 1, analyzed: 1 })
      // the waiting trace can still be read, and holds the statistics' completeness at its arrival
      expect((await j.trace(child.traceId)).spans.map((s) => s.spanId)).toEqual(['child'])
      expect(j.undecidedSinceMs()).toBe(t0)
      expect((await j.graph(T0 - W, now)).completeUntilMs).toBe(t0 - W)
      // the graph's windows wait for it too, but a stop writes them all
      await j.tick(now)
      expect(await store.queryGraphRows(T0 - 10 * W, now)).toEqual([])
      const r = gatewayRollup(T0, 1, [0, 1, 0, 0, 0], 0, [10])
      j.hook(r.series, r.point, r.ctx)
      await j.flush()
      expect((await store.queryGraphRows(T0 - 10 * W, now)).length).toBeGreaterThan(0)
      now = t0 + 4 * WAIT
      j.take(now)
      expect(j.undecidedSinceMs()).toBe(Number.POSITIVE_INFINITY)
      expect((await j.graph(T0 - W, now)).completeUntilMs).toBe(now - WAIT - W)
    })

    it('counts a decided trace that a span reached afterwards, once', async () => {
      j.add(requestThroughGateway(traceIdWith(false, 0.1, 77), 'rid-late'), now)
      now += WAIT
      j.take(now)
      now += 1000
      j.add(
        [
          span({ traceId: traceIdWith(false, 0.1, 77), spanId: 'async-1', parentSpanId: 's' }),
          span({ traceId: traceIdWith(false, 0.1, 77), spanId: 'async-2', parentSpanId: 's' }),
        ],
        now,
      )
      const st = await j.stats()
      expect(st.spans.late).toBe(2)
      expect(st.traces.lateAfterAnalysis).toBe(1)
    })
  })

  describe('learns parents that never come, and stops waiting for them', () => {
    /**
     * A request the gateway did not keep: shop's entry span, and pricing's span under a mesh proxy
     * that passes its own span id on but sends no spans (`mesh` never arrives).
     */
    function throughMesh(seed: number, pricing: Partial<SpanRecord> = {}): SpanRecord[] {
      const traceId = traceIdWith(false, 0.1, seed)
      return [
        shopEntry(traceId, 'root', 'unsampled-gw'),
        span({
          traceId,
          spanId: 'price',
          parentSpanId: 'mesh',
          service: 'pricing',
          env: 'aws',
          name: 'GET /price',
          ...pricing,
        }),
      ]
    }
    /** Shop's entry span. */
    const shopEntry = (traceId: string, spanId: string, parentSpanId: string) =>
      span({ traceId, spanId, parentSpanId, service: 'shop', env: 'onprem', name: 'GET /shop' })
    /** The mesh, instrumented after all: its span of trace `traceId` arrives now. */
    function meshArrives(traceId: string): void {
      j.add([span({ traceId, spanId: 'mesh', parentSpanId: 'root', service: 'mesh', env: 'aws' })], now)
      j.take(now)
    }
    /** Three traces through the mesh, each decided at maxTraceWaitMs still missing its parent. */
    async function learnMesh(k: LiveJourneys): Promise<void> {
      for (let i = 0; i < 3; i++) k.add(throughMesh(1000 + i * 17), now)
      now += WAIT
      k.take(now)
      now += 3 * WAIT
      k.take(now)
      expect((await k.stats()).traces).toMatchObject({ analyzed: 3, incomplete: 3, notAwaited: 0 })
    }

    it('decides a trace at traceWaitMs once its hop’s parents never came in the traces before it', async () => {
      await learnMesh(j)
      const t1 = now
      j.add(throughMesh(2000), now)
      now += WAIT
      j.take(now)
      const st = await j.stats()
      expect(st.traces).toMatchObject({ analyzed: 4, incomplete: 3, notAwaited: 1, waited: 0 })
      expect(st.parentsNeverSent).toEqual([
        { service: 'pricing', env: 'aws', name: 'GET /price', sinceMs: t1, traces: 1, rootsTrace: false },
      ])
      // nothing waits: the statistics are complete up to the usual wait
      expect(j.undecidedSinceMs()).toBe(Number.POSITIVE_INFINITY)
      expect((await j.graph(T0 - W, now)).completeUntilMs).toBe(now - WAIT - W)
    })

    it('stops holding the traces already waiting for a hop’s parents once it is learned', async () => {
      for (let i = 0; i < 3; i++) j.add(throughMesh(1000 + i * 17), now)
      now += 2 * WAIT
      j.add(throughMesh(2000), now)
      now += WAIT
      j.take(now) // the later trace waits too
      now += WAIT
      j.take(now) // the first three are decided at maxTraceWaitMs: the hop is learned, and the later one goes
      expect((await j.stats()).traces).toMatchObject({ analyzed: 4, incomplete: 3, notAwaited: 1, waited: 0 })
      expect(j.undecidedSinceMs()).toBe(Number.POSITIVE_INFINITY)
    })

    it('waits again once a parent under a learned hop arrives after all', async () => {
      await learnMesh(j)
      const early = throughMesh(2000)
      j.add(early, now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces.notAwaited).toBe(1)
      // an instrumented mesh: its span of the trace decided without it comes late
      now += 1000
      meshArrives(early[0].traceId)
      expect((await j.stats()).parentsNeverSent).toEqual([])
      const next = throughMesh(3000)
      j.add(next, now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 4, notAwaited: 1 })
      expect(j.undecidedSinceMs()).toBe(now - WAIT)
      // and its parent arriving while it waits decides it whole
      now += 1000
      meshArrives(next[0].traceId)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 5, waited: 1 })
    })

    it('tells the operator once when a hop is learned, and when a late parent makes it forgotten', async () => {
      const notices: { message: string; fields: Record<string, unknown> }[] = []
      j = live({ onNotice: (message, fields) => notices.push({ message, fields }) })
      await learnMesh(j)
      expect(notices).toEqual([
        {
          message:
            'spans "GET /price" of pricing (aws) name parents that never arrive: an uninstrumented caller or a sampler in front of them; their traces are analysed without waiting for those parents',
          fields: { service: 'pricing', env: 'aws', span: 'GET /price' },
        },
      ])
      // more traces under the learned hop say nothing more
      const early = throughMesh(2000)
      j.add(early, now)
      now += WAIT
      j.take(now)
      expect(notices).toHaveLength(1)
      now += 1000
      meshArrives(early[0].traceId)
      expect(notices).toHaveLength(2)
      expect(notices[1]).toEqual({
        message:
          'spans "GET /price" of pricing (aws) named a parent that arrived late: their caller does send its spans now, so their traces wait for it again',
        fields: { service: 'pricing', env: 'aws', span: 'GET /price' },
      })
    })

    it('learns only from traces in a row: a parent that comes after the usual wait starts the count again', async () => {
      const missForGood = async (seed: number) => {
        j.add(throughMesh(seed), now)
        now += 4 * WAIT
        j.take(now)
      }
      await missForGood(1000)
      await missForGood(1017)
      // the third trace gets the mesh's span, after the usual wait
      const got = throughMesh(1100)
      j.add(got, now)
      now += WAIT
      j.take(now)
      now += 1000
      meshArrives(got[0].traceId)
      await missForGood(1200)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 4, incomplete: 3, waited: 1, notAwaited: 0 })
      expect((await j.stats()).parentsNeverSent).toEqual([])
      j.add(throughMesh(1300), now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces.analyzed).toBe(4)
    })

    it('still waits for a parent under a hop not learned, and for a root that a learned hop does not stand for', async () => {
      await learnMesh(j)
      // inventory's span names a parent never seen missing before
      const other = throughMesh(2000, { service: 'inventory', name: 'GET /stock' })
      j.add(other, now)
      // pricing's span alone: the hop is inside the journey (shop's root came in the traces that
      // taught it), so the trace still waits for its root, a slow shop span that ends last
      const rootless = throughMesh(2100)
      j.add([rootless[1]], now)
      now += WAIT
      j.take(now)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 3, notAwaited: 0 })
      now += 2000
      j.add([rootless[0]], now)
      j.take(now)
      expect((await j.stats()).traces).toMatchObject({ analyzed: 4, waited: 1 })
    })

    it('lets a span under a hop with no root above it stand for the root: a gateway that sends fewer spans than expected', async () => {
      // the control plane expects the gateway's span of every trace drawn below 0.5; this gateway
      // samples less, and shop's entry span names a gateway span that never comes
      const k = live({ sampleRate: 0.5 })
      const request = (seed: number) => [shopEntry(traceIdWith(true, 0.5, seed), 's', 'gw')]
      for (let i = 0; i < 3; i++) k.add(request(10 + i * 31), now)
      now += 4 * WAIT
      k.take(now)
      k.add(request(500), now)
      now += WAIT
      k.take(now)
      const st = await k.stats()
      expect(st.traces).toMatchObject({ analyzed: 4, incomplete: 3, notAwaited: 1 })
      expect(st.parentsNeverSent).toMatchObject([{ service: 'shop', name: 'GET /shop', rootsTrace: true }])
    })
  })

  it('counts broken input (missing parents, cycles, clock skew, duplicates, unknown env) and keeps going', async () => {
    const t = '0'.repeat(31) + '1'
    j.add(
      [
        span({ traceId: t, spanId: 'r', startTimeMs: T0, durationMs: 100 }),
        span({
          traceId: t,
          spanId: 'skew',
          parentSpanId: 'r',
          startTimeMs: T0 - 50,
          durationMs: 10,
          service: 'b',
        }),
        span({ traceId: t, spanId: 'orphan', parentSpanId: 'nowhere', service: 'c' }),
        span({ traceId: t, spanId: 'x', parentSpanId: 'y', service: 'd' }),
        span({ traceId: t, spanId: 'y', parentSpanId: 'x', service: 'e' }),
        span({ traceId: t, spanId: 'r', startTimeMs: T0, durationMs: 100 }),
        span({ traceId: t, spanId: 'u', parentSpanId: 'r', attributes: { 'vigil.env_defaulted': true } }),
      ],
      now,
    )
    // a parent that never comes: the trace waits its longest (4 × traceWaitMs by default)
    now += 4 * WAIT
    j.take(now)
    const st = await j.stats()
    expect(st.problems).toEqual({ missingParents: 1, cycles: 1, clockSkew: 1, duplicates: 1, unknownEnv: 1 })
    const g = await j.graph(T0 - 10_000, T0 + 10_000)
    expect(g.edges.map((e) => e.id)).toContain('svc|prod->b|prod')
  })

  it('gives a node and the gateway edge into it the same rate over a range ending now', async () => {
    // two requests a window for 20 windows: the rollups are in at each window's end, the shop's
    // spans only once their trace is decided, traceWaitMs later
    for (let k = 0; k < 20; k++) {
      for (let i = 0; i < 2; i++) {
        now = T0 + k * W + 10 + i
        j.add(
          requestThroughGateway(
            traceIdWith(false, 0.1, 5000 + k * 10 + i),
            `r-${k}-${i}`,
            { startTimeMs: now },
            { startTimeMs: now },
          ),
          now,
        )
      }
      now = T0 + (k + 1) * W
      const r = gatewayRollup(T0 + k * W, 2, [0, 2, 0, 0, 0], 0, [10, 10])
      j.hook(r.series, r.point, r.ctx)
      j.take(now)
    }
    const rates = (g: GraphAnswer) => ({
      node: g.nodes.find((n) => n.id === 'shop|onprem')?.ratePerSec,
      edge: g.edges.find((e) => e.id === 'vigil|edge->shop|onprem')?.ratePerSec,
    })
    const fresh = rates(await j.graph(now - 10 * W, now))
    // the last seconds' spans are not analysed yet: the node lags the edge
    expect(fresh.node).toBeLessThan(fresh.edge!)
    const g = await j.graph(now - 10 * W, now, { completeOnly: true })
    expect(g.toMs).toBeLessThanOrEqual(g.completeUntilMs)
    expect(g.toMs - g.fromMs).toBe(10 * W)
    expect(rates(g)).toEqual({ node: 2, edge: 2 })
  })

  it('counts on the gateway → service edge only the requests sent to the service, not those the gateway refused', async () => {
    // 300 requests: 100 refused by the limiter (429, no upstream try, so not in the latency
    // sketch), 200 proxied at 40 ms
    const r = gatewayRollup(T0, 300, [0, 200, 0, 100, 0], 100, Array(200).fill(40))
    j.hook(r.series, r.point, r.ctx)
    const g = await j.graph(T0 - W, T0 + 10 * W)
    expect(g.edges.find((e) => e.id === 'vigil|edge->shop|edge')?.calls).toBe(200)
    // a window in which every request was refused adds no call to the service
    const none = gatewayRollup(T0 + W, 50, [0, 0, 0, 50, 0], 50, [])
    j.hook(none.series, none.point, none.ctx)
    const g2 = await j.graph(T0 - W, T0 + 10 * W)
    expect(g2.edges.find((e) => e.id === 'vigil|edge->shop|edge')?.calls).toBe(200)
  })

  it('leaves the requests the gateway answered by itself out of the route’s model and root cause', async () => {
    // 20 requests proxied to shop (GET), and the gateway's kept spans of 30 it answered itself
    // (`vigil.attempts` 0): POSTs refused by the limiter (429) and 503s with no healthy target
    for (let i = 0; i < 20; i++)
      j.add(
        requestThroughGateway(
          traceIdWith(false, 0.1, 1000 + i * 7),
          `ok-${i}`,
          { startTimeMs: T0 + i, attributes: { 'http.request.method': 'GET', 'vigil.attempts': 1 } },
          { startTimeMs: T0 + i },
        ),
        now,
      )
    for (let i = 0; i < 30; i++)
      j.add(
        [
          span({
            traceId: traceIdWith(false, 0.1, 5000 + i * 7),
            spanId: 'gw',
            source: 'gateway',
            route: 'shop',
            service: 'shop',
            env: 'edge',
            startTimeMs: T0 + 2 * W + i,
            durationMs: 0.2,
            statusCode: i % 3 === 0 ? 2 : 0,
            httpStatus: i % 3 === 0 ? 503 : 429,
            attributes: { 'http.request.method': 'POST', 'vigil.attempts': 0 },
          }),
        ],
        now,
      )
    now += WAIT
    j.take(now)
    const detail = await j.journey('shop', T0 - W, T0 + 3 * W)
    expect(detail.traces).toBe(20)
    expect(detail.failureRatio).toBe(0)
    expect(detail.model.sites).toHaveLength(1)
    expect(detail.model.sites[0]).toMatchObject({ service: 'shop', calls: 20 })
    // retries are of requests sent upstream: the refused POSTs say nothing of the route's methods
    expect(detail.model.gateway?.idempotentShare).toBe(1)
    // a window with nothing but refusals: no journey to rank, and the answer says why
    await expect(j.rootCause({ route: 'shop', fromMs: T0 + 2 * W, toMs: T0 + 3 * W })).rejects.toMatchObject({
      code: 'VGL_ERR_JOURNEYS_NO_DATA',
      message: expect.stringMatching(
        /no traces .* reached its service: the gateway answered by itself the 30 /,
      ),
    })
  })

  it("puts on the gateway → service edge and in the service's model its own 5xx, not the gateway's 503s", async () => {
    // 300 requests a window: 100 answered 503 by the gateway with no healthy target (never sent,
    // not in the latency sketch), 200 proxied at 40 ms of which 10 answered 502 by the service
    for (let k = 0; k < 3; k++) {
      const r = gatewayRollup(T0 + k * W, 300, [0, 190, 0, 0, 110], 0, Array(200).fill(40), 100, 100)
      j.hook(r.series, r.point, r.ctx)
    }
    const g = await j.graph(T0 - W, T0 + 10 * W)
    const toShop = g.edges.find((e) => e.id === 'vigil|edge->shop|edge')!
    expect([toShop.calls, toShop.errorRatio]).toEqual([600, 30 / 600])
    // the nodes: the service answered 600 with 5 % failing; the gateway, as the clients saw it,
    // answered every request, the 503s it made itself among its errors
    const node = (id: string) => g.nodes.find((n) => n.id === id)!
    expect([node('shop|edge').requests, node('shop|edge').errorRatio]).toEqual([600, 30 / 600])
    expect([node('vigil|edge').requests, node('vigil|edge').errorRatio]).toEqual([900, 330 / 900])
    const m = j.model('shop', T0, T0 + 3 * W)
    expect(m.sites[0]).toMatchObject({ service: 'shop', calls: 600, ownErrors: 30 })
  })

  it('learns a route whose services send no spans from the requests its rollups say were sent', () => {
    // 300 requests a window: 100 refused by the limiter (429, not in the latency sketch), 200
    // proxied at 40 ms with 10 answered 502
    for (let k = 0; k < 3; k++) {
      const r = gatewayRollup(T0 + k * W, 300, [0, 190, 0, 100, 10], 100, Array(200).fill(40))
      j.hook(r.series, r.point, r.ctx)
    }
    const m = j.model('shop', T0, T0 + 3 * W)
    expect(m.traces).toBe(600)
    expect(m.observed.failureRatio).toBeCloseTo(30 / 600, 9)
    expect(m.sites[0]).toMatchObject({ service: 'shop', calls: 600, ownErrors: 30 })
  })

  it('builds the graph, the route statistics and a model from every trace, stored or not', async () => {
    const rng = createRng(5)
    const topo = fiveServiceTopology()
    for (let i = 0; i < 300; i++) {
      const t = syntheticTrace(
        topo.shop,
        { route: 'shop', gatewayEnv: 'edge', startMs: T0 + i * 10, withGatewaySpan: (f) => f },
        rng,
      )
      j.add(t.spans, now)
    }
    // the gateway's rollup for its own edge
    const rollup = gatewayRollup(T0, 300, [0, 297, 0, 0, 3], 0, Array(300).fill(40))
    // the traces the gateway's sampler drew wait for its span, which this test leaves out
    now += 4 * WAIT
    j.take(now)
    j.hook(rollup.series, rollup.point, rollup.ctx)
    const g = await j.graph(T0 - W, T0 + 10 * W)
    const ids = g.edges.map((e) => e.id)
    expect(ids).toEqual(
      expect.arrayContaining([
        'vigil|edge->shop|onprem',
        'shop|onprem->auth|onprem',
        'shop|onprem->pricing|aws',
        'shop|onprem->reviews|gcp',
        'shop|onprem->inventory|onprem',
      ]),
    )
    expect(g.edges.find((e) => e.id === 'vigil|edge->shop|onprem')!.calls).toBe(300)
    expect(g.edges.find((e) => e.id === 'shop|onprem->pricing|aws')!.calls).toBe(300)
    const list = await j.journeys(T0 - W, T0 + 10 * W)
    expect(list[0]).toMatchObject({ route: 'shop', service: 'shop', traces: 300 })
    expect(list[0].criticalPath[0].service).not.toBe('')
    const detail = await j.journey('shop', T0 - W, T0 + 10 * W)
    expect(detail.model.sites.map((s) => s.service).sort()).toEqual([
      'auth',
      'inventory',
      'pricing',
      'reviews',
      'shop',
    ])
    await expect(j.journey('nope', T0, T0 + W)).rejects.toMatchObject({ code: 'VGL_ERR_JOURNEYS_NO_DATA' })
    // the graph's finished windows reach the store, and are read back from it by a reader
    await j.tick(now + 10 * W)
    const reader = new LiveJourneys({
      store,
      windowMs: W,
      gatewayEnv: 'edge',
      sampleRate: 0.1,
      routes: [route],
    })
    const again = await reader.graph(T0 - W, T0 + 10 * W)
    expect(again.edges.map((e) => e.id).sort()).toEqual(ids.sort())
  })

  it('shows a service once, in the env its spans name, though the gateway’s rollups came first', async () => {
    // the gateway's rollup of a window before the shop's first spans: the shop's env is not known yet
    const early = gatewayRollup(T0 - 5 * W, 50, [0, 50, 0, 0, 0], 0, Array(50).fill(40))
    j.hook(early.series, early.point, early.ctx)
    const rng = createRng(8)
    const topo = fiveServiceTopology()
    for (let i = 0; i < 100; i++) {
      const t = syntheticTrace(
        topo.shop,
        { route: 'shop', gatewayEnv: 'edge', startMs: T0 + i * 10, withGatewaySpan: true },
        rng,
      )
      j.add(t.spans, now)
    }
    now += 4 * WAIT
    j.take(now)
    const later = gatewayRollup(T0, 100, [0, 100, 0, 0, 0], 0, Array(100).fill(40))
    j.hook(later.series, later.point, later.ctx)
    const g = await j.graph(T0 - 10 * W, T0 + 10 * W)
    expect(g.nodes.map((n) => n.id)).not.toContain('shop|edge')
    const toShop = g.edges.filter((e) => e.from === 'vigil|edge')
    expect(toShop.map((e) => [e.to, e.calls])).toEqual([['shop|onprem', 150]])
    expect(j.callEdges(T0 - 10 * W, T0 + 10 * W).filter((e) => e.to.service === 'shop')).toEqual([
      { from: { service: 'vigil', env: 'edge' }, to: { service: 'shop', env: 'onprem' } },
    ])
  })

  it('answers what-ifs, and 400 for an unknown service or a ratio outside [0, 1]', async () => {
    const rng = createRng(6)
    const topo = fiveServiceTopology()
    now = Date.now()
    addRecent(j, topo, rng, now)
    const a = await j.whatIf({
      route: 'shop',
      scenarios: [{ kind: 'errorRatio', service: 'pricing', value: 0.2 }],
      journeys: 10_000,
    })
    expect(1 - a.journeys[0].scenario!.successProbability.value).toBeGreaterThan(0.18)
    expect(a.journeys[0].trafficSource).toBe('observed')
    // the targets the figures are judged against travel with them
    expect(a.slo).toEqual({ availability: 0.999, latencyMs: 1_000 })
    expect(a.downtimeErrorRatio).toBe(0.05)
    await expect(j.whatIf({ scenarios: [{ kind: 'down', service: 'payroll' }] })).rejects.toMatchObject({
      code: 'VGL_ERR_JOURNEYS_WHATIF',
      statusCode: 400,
      message: expect.stringMatching(/^scenarios\[0\]\.service/),
    })
    await expect(
      j.whatIf({ route: 'shop', scenarios: [{ kind: 'errorRatio', service: 'pricing', value: -1 }] }),
    ).rejects.toMatchObject({
      code: 'VGL_ERR_JOURNEYS_WHATIF',
      message: expect.stringMatching(/^scenarios\[0\]\.value/),
    })
  })

  it('bounds the failed requests of an impact by the requests that reach the service, not those refused', async () => {
    // pricing fails 30 % of its calls; the route gets 25 req/s, of which the limiter refuses 20
    // (a scraper far over its limit): the shop is sent 5 req/s, 9,000 in 30 minutes
    const rng = createRng(7)
    const topo = fiveServiceTopology({ pricing: { errorRatio: 0.3 } })
    now = Date.now()
    addRecent(j, topo, rng, now)
    // the sketch holds the latency of the requests let through
    const windowOf = (k: number, limited: number) =>
      gatewayRollup(now - (30 - k) * W, 25, [0, 5, 0, 20, 0], limited, Array(25 - limited).fill(40))
    const horizonMs = 1_800_000
    const feed = (journeys: LiveJourneys, limited: number) => {
      for (let k = 0; k < 30; k++) {
        const w = windowOf(k, limited)
        journeys.hook(w.series, w.point, w.ctx)
      }
    }
    feed(j, 20)
    const r = await j.currentImpact('shop', now - 20_000, horizonMs, 20_000)
    expect(r.trafficPerSec.value).toBeCloseTo(5, 6)
    const failed = r.baseline.expectedFailedRequests
    expect(failed.high).toBeLessThanOrEqual((5 * horizonMs) / 1000)
    expect(failed.value).toBeGreaterThan(0.2 * 9_000)
    expect(failed.value).toBeLessThan(0.45 * 9_000)

    // a traffic forecast of the route counts the refused requests too: scaled to the share let through
    const forecasted = live({
      forecast: async (key, horizon) => ({
        status: 'ok',
        key,
        metric: 'ratePerSec',
        stepMs: W,
        horizon,
        level: 80,
        fittedAtMs: now,
        lastPointMs: now - W,
        historyPoints: 30,
        model: 'naive',
        seasons: [],
        points: Array.from({ length: horizon }, (_, h) => ({
          atMs: now + h * W,
          forecast: 25,
          lower: 20,
          upper: 30,
        })),
        backtest: [],
        notes: [],
        failure: { errorRatio: null, p95: null },
      }),
    })
    addRecent(forecasted, topo, rng, now)
    feed(forecasted, 20)
    const viaForecast = await forecasted.currentImpact('shop', now - 20_000, horizonMs, 20_000)
    expect(viaForecast.trafficSource).toBe('forecast')
    expect(viaForecast.trafficPerSec.value).toBeCloseTo(5, 6)
    expect(viaForecast.trafficPerSec.low).toBeCloseTo(4, 6)
    expect(viaForecast.trafficPerSec.high).toBeCloseTo(6, 6)
    expect(viaForecast.baseline.expectedFailedRequests.high).toBeLessThanOrEqual((6 * horizonMs) / 1000)
  })

  it('finds a trace by request id while it still waits, and after it was stored', async () => {
    j.add(requestThroughGateway(traceIdWith(false, 0.1, 400), 'rid-1'), now)
    const early = await j.traceByRequestId('rid-1')
    expect(early.spans.map((s) => s.spanId)).toEqual(['gw', 's'])
    await store.writeSpans(j.take(now))
    now += WAIT
    await store.writeSpans(j.take(now))
    const later = await j.traceByRequestId('rid-1')
    expect(later.spans.map((s) => s.service)).toEqual(['vigil', 'shop'])
    await expect(j.trace('f'.repeat(32))).rejects.toMatchObject({
      code: 'VGL_ERR_JOURNEYS_TRACE_NOT_FOUND',
      statusCode: 404,
    })
  })

  it('says a request the client abandoned was abandoned, and does not count the closed connections as errors', async () => {
    // the client left: the gateway answered 499 and closed shop's connection under it
    const gw = {
      httpStatus: 499,
      attributes: { 'vigil.outcome': 'client_abort', 'vigil.sample_reason': 'abandoned' },
    }
    j.add(
      requestThroughGateway(traceIdWith(false, 0.1, 500), 'rid-gone', gw, {
        statusCode: 2,
        httpStatus: null,
      }),
      now,
    )
    await store.writeSpans(j.take(now))
    const w = await j.traceByRequestId('rid-gone')
    expect(w).toMatchObject({ abandoned: true, errorCount: 0 })
    expect(w.spans.map((s) => [s.service, s.status])).toEqual([
      ['vigil', 'aborted'],
      ['shop', 'aborted'],
    ])
  })

  describe('a route whose service sends no spans: seen through the gateway’s sampled spans', () => {
    const REQUESTS = 5000
    const ERRORS = 0.05
    /**
     * `REQUESTS` requests to shop over the 20 s before `now`, 5 % failing (slow), kept as the
     * gateway's sampler keeps them: every error, 10 % (the journeys' `sampleRate`) of the rest.
     * Returns the rollup windows of the same requests.
     */
    function sampledRequests(seed: number) {
      const rng = createRng(seed)
      const perWindow = new Map<number, { count: number; errors: number; ms: number[] }>()
      for (let i = 0; i < REQUESTS; i++) {
        const startMs = now - 20_000 + i * (20_000 / REQUESTS)
        const failed = rng.next() < ERRORS
        const ms = failed ? 300 : 20
        const w = startMs - (startMs % W)
        const r = perWindow.get(w) ?? { count: 0, errors: 0, ms: [] }
        r.count++
        if (failed) r.errors++
        r.ms.push(ms)
        perWindow.set(w, r)
        const drawn = rng.next() < 0.1
        if (!failed && !drawn) continue
        const traceId = (seed * 1_000_000 + i).toString(16).padStart(32, '0')
        // the gateway's span alone: shop sends none
        const [gw] = requestThroughGateway(traceId, `r${i}`, {
          startTimeMs: startMs,
          durationMs: ms,
          statusCode: failed ? 2 : 0,
          httpStatus: failed ? 502 : 200,
          attributes: {
            'http.request.method': 'GET',
            'vigil.attempts': 1,
            'vigil.sample_reason': failed ? 'error' : 'sampled',
            'vigil.sample_probability': failed ? 1 : 0.1,
          },
        })
        j.add([gw], now - 20_000)
      }
      j.take(now + WAIT)
      return [...perWindow].map(([startMs, r]) =>
        gatewayRollup(startMs, r.count, [0, r.count - r.errors, 0, 0, r.errors], 0, r.ms),
      )
    }
    const near = (x: number, want: number, tol: number) => expect(Math.abs(x - want)).toBeLessThan(tol)

    it('shows the route’s failed share, learns its failure chance and simulates its impact from every request', async () => {
      now = Date.now()
      sampledRequests(1)
      const [list] = await j.journeys(now - 60_000, now)
      expect(list.route).toBe('shop')
      near(list.traces, REQUESTS, 0.08 * REQUESTS)
      near(list.failureRatio, ERRORS, 0.015)
      expect(list.p50).toBeLessThan(25) // the successes', not the always kept errors' 300 ms
      const detail = await j.journey('shop', now - 60_000, now)
      near(detail.model.sites[0].ownErrorRatio, ERRORS, 0.015)
      const what = await j.whatIf({
        route: 'shop',
        scenarios: [{ kind: 'latency', service: 'shop', factor: 1 }],
        journeys: 20_000,
        seed: 1,
      })
      near(1 - what.journeys[0].baseline.successProbability.value, ERRORS, 0.015)
      // the alert's impact: the requests of the next 30 minutes at the observed rate, 5 % failing
      const impact = await j.currentImpact('shop', now - 20_000, 1_800_000, 20_000)
      const requests = impact.trafficPerSec.value * 1800
      near(impact.baseline.expectedFailedRequests.value / requests, ERRORS, 0.015)
    })

    it('simulates an alert’s impact from the model window when its own windows kept too few sampled spans', async () => {
      // the model window: 5 % of shop's requests fail; since the alert (2 s), three successes were
      // kept at sampleRate 0.1: 30 requests by weight, 3 traces seen, too few to simulate from
      now = Date.now()
      now -= now % W // the alert's windows hold the recent requests alone
      sampledRequests(3)
      for (let i = 0; i < 3; i++) {
        const traceId = (9_000_000 + i).toString(16).padStart(32, '0')
        const [gw] = requestThroughGateway(traceId, `recent${i}`, {
          startTimeMs: now + 100 + i * 100,
          durationMs: 20,
          attributes: {
            'http.request.method': 'GET',
            'vigil.attempts': 1,
            'vigil.sample_reason': 'sampled',
            'vigil.sample_probability': 0.1,
          },
        })
        j.add([gw], now)
      }
      now += 2_000
      j.take(now + WAIT)
      const since = now - 2_000
      const own = j.model('shop', since, now)
      expect(own.traces).toBeCloseTo(30, 9)
      expect(own.tracesSeen).toBeCloseTo(3, 9)
      expect((await j.journey('shop', since, now)).model).toMatchObject({ traces: 30, tracesSeen: 3 })
      const impact = await j.currentImpact('shop', since, 1_800_000, 20_000)
      const requests = impact.trafficPerSec.value * 1800
      near(impact.baseline.expectedFailedRequests.value / requests, ERRORS, 0.015)
    })

    it('takes the counts, failed share and latency from the gateway’s rollups when it has them', async () => {
      now = Date.now()
      const rollups = sampledRequests(2)
      for (const r of rollups) j.hook(r.series, r.point, r.ctx)
      const sent = rollups.reduce((a, r) => a + r.point.count, 0)
      const failed = rollups.reduce((a, r) => a + r.point.statusClass[4], 0)
      const [list] = await j.journeys(now - 60_000, now)
      expect(list.traces).toBe(sent)
      expect(list.failureRatio).toBeCloseTo(failed / sent, 12)
      const m = j.model('shop', now - 60_000, now)
      expect(m.sites[0]).toMatchObject({ service: 'shop', calls: sent, ownErrors: failed })
      expect(m.observed.failureRatio).toBeCloseTo(failed / sent, 12)
    })
  })
})
