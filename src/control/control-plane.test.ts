import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Bus, BusMessage, Inherited } from '../bus/index.js'
import { MemoryBus } from '../bus/index.js'
import { DEFAULT_RETENTION_MS, SqliteStore, type Store } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { encodeRollup, encodeSpans } from '../telemetry/codec.js'
import type { SpanRecord } from '../telemetry/types.js'
import { ControlPlane, type ControlPlaneOptions, type WindowClosedContext } from './control-plane.js'
import { LiveJourneys } from './journeys.js'
import type { SeriesPoint } from './points.js'

const W = 10_000
const GRACE = 2_000
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const orders = { service: 'orders', route: '/api/orders', env: 'prod' }
const subjects = { rollups: 'test.rollups', spans: 'test.spans' }

function fakeMsg(): BusMessage & { acked: number; naked: number; worked: number; delays: number[] } {
  const m = {
    subject: subjects.rollups,
    data: new Uint8Array(),
    deliveryCount: 1,
    acked: 0,
    naked: 0,
    worked: 0,
    delays: [] as number[],
    ack: () => void m.acked++,
    nak: (delayMs?: number) => void (m.naked++, m.delays.push(delayMs ?? 0)),
    working: () => void m.worked++,
  }
  return m
}

describe('ControlPlane', () => {
  let store: Store
  let bus: MemoryBus
  let cp: ControlPlane
  let seen: { key: string; point: SeriesPoint; ctx: WindowClosedContext }[]
  /** a control plane on this test's store and bus, with the options that differ */
  const plane = (over: Partial<ControlPlaneOptions>) =>
    new ControlPlane({ store, bus, subjects, graceMs: GRACE, retention: DEFAULT_RETENTION_MS, ...over })
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    bus = new MemoryBus()
    cp = plane({ now: () => T0 })
    seen = []
    cp.onWindowClosed((s, point, ctx) => seen.push({ key: `${s.service}|${s.route}|${s.env}`, point, ctx }))
  })
  afterEach(async () => {
    await cp.stop({ flush: false })
    await bus.close()
    await store.close()
  })

  it('tells the tick hooks, after the windows due, up to where every window has closed', async () => {
    const order: string[] = []
    cp.onWindowClosed((_s, p) => order.push(`window ${(p.startMs - T0) / W}`))
    cp.onTick((closedUpToMs) => order.push(`tick ${closedUpToMs - T0}`))
    cp.onTick(() => {
      throw new Error('a broken hook stops no other')
    })
    cp.onTick(() => order.push('after the broken one'))
    cp.ingest(rollupOf('gw-a', orders, T0, [1, 2, 3]))
    await cp.tick(T0 + W + GRACE - 1)
    expect(order).toEqual([`tick ${W - 1}`, 'after the broken one'])
    await cp.tick(T0 + W + GRACE)
    // the window of every series level (route, service, global) first, then the clock
    const next = order.slice(2)
    expect(next.slice(-2)).toEqual([`tick ${W}`, 'after the broken one'])
    expect(new Set(next.slice(0, -2))).toEqual(new Set(['window 0']))
    expect(next.length).toBeGreaterThan(2)
  })

  it('waits for the grace period, then merges every gateway exactly and acks after the write', async () => {
    const msgs = [fakeMsg(), fakeMsg(), fakeMsg()]
    cp.ingest(rollupOf('gw-a', orders, T0, [1, 2, 3]), msgs[0])
    cp.ingest(rollupOf('gw-b', orders, T0, [4, 5]), msgs[1])
    await cp.tick(T0 + W + GRACE - 1)
    expect(seen).toHaveLength(0)
    expect(msgs[0].acked).toBe(0)
    cp.ingest(rollupOf('gw-c', orders, T0, [100]), msgs[2])
    await cp.tick(T0 + W + GRACE)
    expect(msgs.map((m) => m.acked)).toEqual([1, 1, 1])
    const route = seen.find((s) => s.key === 'orders|/api/orders|prod')!
    expect(route.point).toMatchObject({ count: 6, sources: 3, ratePerSec: 0.6 })
    expect(route.ctx.correction).toBe(false)
    expect(seen.map((s) => s.key).sort()).toEqual(['*|*|*', 'orders|*|prod', 'orders|/api/orders|prod'])
    expect(cp.recent(orders)).toHaveLength(1)
    expect((await store.queryPoints(orders, T0, T0 + W, 'window'))[0].count).toBe(6)
  })

  it('after a takeover writes nothing until the inherited rollups came back, then every window in order', async () => {
    // the rollups consumer inherited unacked messages from a dead predecessor, still on their way
    let release!: (x: Inherited) => void
    const inherited = new Promise<Inherited>((r) => (release = r))
    const taking: Bus = {
      kind: 'memory',
      publish: (s, d, o) => bus.publish(s, d, o),
      subscribe: async (s, h, o) => {
        const sub = await bus.subscribe(s, h, o)
        return s === subjects.rollups ? { close: sub.close, inherited } : sub
      },
      close: () => bus.close(),
    }
    const next = plane({ bus: taking, now: () => T0 })
    const order: { startMs: number; correction: boolean; count: number }[] = []
    next.onWindowClosed(
      (s, p, ctx) =>
        void (s.route === orders.route && order.push({ startMs: p.startMs, ...ctx, count: p.count })),
    )
    const ticks: number[] = []
    next.onTick((upTo) => ticks.push(upTo))
    await next.start()
    try {
      // the window after the dead leader's comes first, and is due
      next.ingest(rollupOf('gw-a', orders, T0 + W, [4, 5]), fakeMsg())
      await next.tick(T0 + 2 * W + GRACE)
      expect(order).toEqual([])
      expect(ticks).toEqual([]) // nor does the series look silent meanwhile
      expect(next.closedUpToMs()).toBe(-Infinity)
      expect(await store.queryPoints(orders, T0, T0 + 2 * W, 'window')).toEqual([])
      // the dead leader's window comes back, and with it the last inherited message
      next.ingest(rollupOf('gw-a', orders, T0, [1, 2, 3]), fakeMsg())
      release({ held: 1, missing: 0 })
      await inherited
      await next.tick(T0 + 2 * W + GRACE + 1_000)
      expect(order.map(({ startMs, correction, count }) => ({ startMs, correction, count }))).toEqual([
        { startMs: T0, correction: false, count: 3 },
        { startMs: T0 + W, correction: false, count: 2 },
      ])
      expect(ticks).toHaveLength(1)
      expect(next.closedUpToMs()).toBe(ticks[0])
      expect(next.stats.inherited).toMatchObject({ held: 1, missing: 0 })
    } finally {
      await next.stop({ flush: false })
    }
  })

  it('lands a rollup that comes after the grace period as a correction, never lost', async () => {
    cp.ingest(rollupOf('gw-a', orders, T0, [1, 2, 3]))
    await cp.tick(T0 + W + GRACE)
    const late = fakeMsg()
    cp.ingest(rollupOf('gw-b', orders, T0, [7, 8]), late)
    await cp.tick(T0 + W + GRACE + 1_000)
    expect(late.acked).toBe(1)
    const corrections = seen.filter((s) => s.ctx.correction)
    expect(corrections.find((s) => s.key === 'orders|/api/orders|prod')!.point.count).toBe(5)
    expect(cp.recent(orders).map((p) => p.count)).toEqual([5])
    expect((await store.queryPoints(orders, T0, T0 + W, 'window'))[0].count).toBe(5)
  })

  it('never double counts a redelivered rollup, before or after its window is written', async () => {
    const r = rollupOf('gw-a', orders, T0, [1, 2, 3])
    cp.ingest(r, fakeMsg())
    cp.ingest(r, fakeMsg())
    await cp.tick(T0 + W + GRACE)
    cp.ingest(r, fakeMsg())
    await cp.tick(T0 + W + GRACE + 1_000)
    expect((await store.queryPoints(orders, T0, T0 + W, 'window'))[0].count).toBe(3)
    expect(cp.recent(orders).map((p) => p.count)).toEqual([3])
  })

  it('naks when the write fails, redelivering later the longer it fails, so the bus redelivers and nothing is lost', async () => {
    const real = store.writeWindow.bind(store)
    let fail = true
    store.writeWindow = async (rs) => {
      if (fail) throw new Error('disk full')
      return real(rs)
    }
    const errors: string[] = []
    let now = T0 + W + GRACE
    const cp2 = plane({ onError: (e) => errors.push(e.message), now: () => now })
    const closed: WindowClosedContext[] = []
    cp2.onWindowClosed((s, _p, ctx) => s.route === orders.route && closed.push(ctx))
    const m = fakeMsg()
    cp2.ingest(rollupOf('gw-a', orders, T0, [1]), m)
    await cp2.tick(T0 + W + GRACE)
    expect([m.acked, m.naked]).toEqual([0, 1])
    expect(errors).toContain('disk full')
    // the window whose write failed is not closed: a series without a point there is not silent
    expect(cp2.closedUpToMs()).toBe(T0)
    // the store stays down: a redelivery waits as long as the outage has lasted, 1 s to 30 s
    for (const after of [1_000, 3_000, 7_000, 20_000, 45_000]) {
      now = T0 + W + GRACE + after
      cp2.ingest(rollupOf('gw-a', orders, T0, [1]), m)
      await cp2.tick(now)
    }
    expect(m.delays).toEqual([1_000, 1_000, 3_000, 7_000, 20_000, 30_000])
    expect(m.acked).toBe(0)
    fail = false
    now += 30_000
    cp2.ingest(rollupOf('gw-a', orders, T0, [1]), m)
    await cp2.tick(now)
    expect(m.acked).toBe(1)
    expect(cp2.closedUpToMs()).toBe(now - GRACE)
    expect((await store.queryPoints(orders, T0, T0 + W, 'window'))[0].count).toBe(1)
    // the window was never written before: the detectors see it as a window, not a correction
    expect(closed).toEqual([{ correction: false, latencySketch: expect.any(Uint8Array) }])
    await cp2.stop({ flush: false })
  })

  it('keeps the rollups it holds alive past a short ack wait and through a slow write: each is handled once', async () => {
    const ACK_WAIT = 300
    const real = store.writeWindow.bind(store)
    let writes = 0
    store.writeWindow = async (rs) => {
      writes++
      await new Promise((r) => setTimeout(r, 4 * ACK_WAIT)) // a database that takes its time
      return real(rs)
    }
    let now = T0
    const cp2 = plane({ ackWaitMs: ACK_WAIT, tickMs: 50, now: () => now })
    await cp2.start()
    try {
      await bus.publish(subjects.rollups, encodeRollup(rollupOf('gw-a', orders, T0, [1, 2])))
      await bus.publish(subjects.rollups, encodeRollup(rollupOf('gw-b', orders, T0, [3])))
      const until = Date.now() + 10_000
      while (cp2.stats.rollups < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 10))
      // held for its grace period, many ack waits long: no redelivery meanwhile
      await new Promise((r) => setTimeout(r, 5 * ACK_WAIT))
      expect(cp2.stats.rollups).toBe(2)
      expect(bus.depth(subjects.rollups, 'vigil-control-rollups')).toBe(2)
      now = T0 + W + GRACE
      while (cp2.stats.windowsWritten < 1 && Date.now() < until + 10_000)
        await new Promise((r) => setTimeout(r, 10))
      await new Promise((r) => setTimeout(r, 3 * ACK_WAIT)) // a redelivery would show by now
      expect(cp2.stats).toMatchObject({ rollups: 2, windowsWritten: 1, corrections: 0 })
      expect(writes).toBe(1)
      expect(bus.depth(subjects.rollups, 'vigil-control-rollups')).toBe(0)
      expect((await store.queryPoints(orders, T0, T0 + W, 'window'))[0].count).toBe(3)
    } finally {
      await cp2.stop({ flush: false })
    }
  })

  it('consumes rollups and spans from the bus and discovers new series by itself', async () => {
    await cp.start()
    const users = { service: 'users', route: '/u', env: 'staging' }
    await bus.publish(subjects.rollups, encodeRollup(rollupOf('gw-a', orders, T0, [10, 20])))
    await bus.publish(subjects.rollups, encodeRollup(rollupOf('gw-a', users, T0, [5])))
    const span: SpanRecord = {
      traceId: 'a'.repeat(32),
      spanId: 'b'.repeat(16),
      parentSpanId: null,
      service: 'orders',
      env: 'prod',
      route: '/api/orders',
      name: 'GET /api/orders',
      kind: 2,
      startTimeMs: T0,
      durationMs: 3,
      statusCode: 0,
      httpStatus: 200,
      requestId: 'req-9',
      source: 'gateway',
      attributes: {},
    }
    await bus.publish(subjects.spans, encodeSpans([span]))
    await new Promise((r) => setTimeout(r, 50))
    await cp.tick(T0 + W + GRACE)
    const keys = (await cp.listSeries()).map((s) => s.key).sort()
    expect(keys).toEqual([
      '*|*|*',
      'orders|*|prod',
      'orders|/api/orders|prod',
      'users|*|staging',
      'users|/u|staging',
    ])
    expect((await store.spansByRequestId('req-9')).map((s) => s.spanId)).toEqual(['b'.repeat(16)])
    expect(bus.depth(subjects.rollups, 'vigil-control-rollups')).toBe(0)
  })

  it('acks a span message once every trace it has spans of was decided, however long one waits for its parents', async () => {
    let clock = T0
    const journeys = new LiveJourneys({
      store,
      windowMs: W,
      gatewayEnv: 'prod',
      sampleRate: 0,
      routes: [],
      traceWaitMs: 5_000,
      now: () => clock,
    })
    const withStage = plane({ now: () => clock, spanStage: journeys })
    await withStage.start()
    const child: SpanRecord = {
      traceId: 'c'.repeat(32),
      spanId: 'd'.repeat(16),
      parentSpanId: 'e'.repeat(16), // its parent's span has not come
      service: 'orders',
      env: 'prod',
      route: '',
      name: 'SELECT',
      kind: 3,
      startTimeMs: T0,
      durationMs: 3,
      statusCode: 0,
      httpStatus: null,
      requestId: null,
      source: 'otlp',
      attributes: {},
    }
    await bus.publish(subjects.spans, encodeSpans([child]))
    await new Promise((r) => setTimeout(r, 50))
    clock += 5_000
    await withStage.tick(clock)
    // past its hold, but its trace still waits: a crash now must redeliver it
    expect(bus.depth(subjects.spans, 'vigil-control-spans')).toBe(1)
    clock += 15_000
    await withStage.tick(clock)
    expect(bus.depth(subjects.spans, 'vigil-control-spans')).toBe(0)
    await withStage.stop({ flush: false })
  })

  it('serves points with rates, error ratios and quantiles, resampled by step', async () => {
    for (let i = 0; i < 6; i++)
      cp.ingest(rollupOf('gw-a', orders, T0 + i * W, [10, 20, 30, 40], { statusClass: [0, 3, 0, 0, 1] }))
    await cp.tick(T0 + 7 * W + GRACE)
    const key = 'orders|/api/orders|prod'
    const pts = await cp.points(key, T0, T0 + 6 * W, W)
    expect(pts).toHaveLength(6)
    expect(pts[0]).toMatchObject({ count: 4, errorRatio: 0.25, ratePerSec: 0.4 })
    expect(pts[0].p50).toBeGreaterThan(19)
    expect(pts[0].p99).toBeGreaterThanOrEqual(pts[0].p50!)
    const minute = await cp.points(key, T0, T0 + 6 * W, 60_000)
    expect(minute).toHaveLength(1)
    expect(minute[0]).toMatchObject({ count: 24, durationMs: 60_000, sources: 6 })
    await expect(cp.points('nope|/x|prod', T0, T0 + W, W)).rejects.toMatchObject({
      code: 'VGL_ERR_CONTROL_SERIES_NOT_FOUND',
    })
    await expect(cp.points('bad', T0, T0 + W, W)).rejects.toMatchObject({
      code: 'VGL_ERR_CONTROL_SERIES_KEY',
    })
  })
})
