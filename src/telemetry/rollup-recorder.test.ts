import * as FakeTimers from '@sinonjs/fake-timers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { VigilError } from '../errors.js'
import { decodeRollup, decodeSpans } from './codec.js'
import type { RequestEvent, SeriesKey } from './recorder.js'
import { OVERFLOW_SERIES, RollupRecorder, type Publisher } from './rollup-recorder.js'
import { decodeSketch } from './sketch.js'

const T0 = 1_764_000_003_000 // 3 s into a 10 s window
const W = 10_000
const WINDOW0 = 1_764_000_000_000

function ev(over: Partial<RequestEvent> = {}): RequestEvent {
  return {
    status: 200,
    outcome: 'ok',
    latencyMs: 10,
    bytesIn: 100,
    bytesOut: 1000,
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: '00f067aa0ba902b7',
    parentSpanId: null,
    requestId: 'req-1',
    method: 'GET',
    path: '/orders/1',
    target: 'http://127.0.0.1:9001',
    attempts: 1,
    startTimeMs: T0,
    ...over,
  }
}

const key = (service: string, route = 'r', env = 'prod'): SeriesKey => ({ service, route, env })

/** A bus that records what is published; `fail` makes it reject, `hold` keeps publishes pending. */
class FakeBus implements Publisher {
  sent: Array<{ subject: string; data: Uint8Array; msgId?: string }> = []
  calls = 0
  fail = false
  hold = false
  #waiting: Array<() => void> = []
  async publish(subject: string, data: Uint8Array, opts?: { msgId?: string }): Promise<void> {
    this.calls++
    if (this.hold) await new Promise<void>((r) => this.#waiting.push(r))
    if (this.fail) throw new Error('nats: connection closed')
    this.sent.push({ subject, data, msgId: opts?.msgId })
  }
  release(): void {
    this.hold = false
    for (const r of this.#waiting.splice(0)) r()
  }
  rollups() {
    return this.sent.filter((m) => m.subject === 'vigil.rollups').map((m) => decodeRollup(m.data))
  }
  spans() {
    return this.sent.filter((m) => m.subject === 'vigil.spans').flatMap((m) => decodeSpans(m.data))
  }
}

describe('RollupRecorder', () => {
  let clock: ReturnType<typeof FakeTimers.install>
  let bus: FakeBus
  let warnings: VigilError[]
  let rec: RollupRecorder | null

  beforeEach(() => {
    clock = FakeTimers.install({ now: T0, toFake: ['setTimeout', 'clearTimeout', 'Date'] })
    bus = new FakeBus()
    warnings = []
    rec = null
  })
  afterEach(async () => {
    bus.release() // a failed assertion must not leave close() waiting on held publishes
    await rec?.close()
    clock.uninstall()
  })

  const make = (over: Partial<ConstructorParameters<typeof RollupRecorder>[0]> = {}) =>
    (rec = new RollupRecorder({
      bus,
      gatewayId: 'gw-a',
      windowMs: W,
      onWarn: (e) => warnings.push(e),
      spans: { sampleRate: 0 },
      ...over,
    }))

  it('flushes one rollup per series at the aligned window boundary, with its identity as msgId', async () => {
    const r = make()
    const a = r.series(key('orders'))
    const b = r.series(key('users'))
    for (let i = 0; i < 3; i++) a.record(ev())
    b.record(ev())
    b.record(ev())
    await clock.tickAsync(W - 3000 - 1)
    expect(bus.rollups()).toHaveLength(0)
    await clock.tickAsync(1)
    const got = bus.rollups().sort((x, y) => x.series.service.localeCompare(y.series.service))
    expect(got.map((x) => [x.series.service, x.count, x.windowStartMs, x.windowMs, x.gatewayId])).toEqual([
      ['orders', 3, WINDOW0, W, 'gw-a'],
      ['users', 2, WINDOW0, W, 'gw-a'],
    ])
    expect(bus.sent.map((m) => m.msgId).sort()).toEqual([
      `gw-a/orders/r/prod/${WINDOW0}`,
      `gw-a/users/r/prod/${WINDOW0}`,
    ])
  })

  it('counts status classes, 429s, timeouts, connection errors and bytes, and sketches latency', async () => {
    const r = make()
    const s = r.series(key('orders'))
    s.record(ev({ status: 200, latencyMs: 10 }))
    s.record(ev({ status: 301, latencyMs: 20 }))
    s.record(ev({ status: 429, outcome: 'limited', latencyMs: 0.1, attempts: 0, target: '' }))
    s.record(ev({ status: 504, outcome: 'timeout', latencyMs: 3000 }))
    s.record(ev({ status: 502, outcome: 'connect_error', latencyMs: 5 }))
    s.record(ev({ status: 101, latencyMs: 1 }))
    await clock.tickAsync(W)
    const [roll] = bus.rollups()
    expect(roll).toMatchObject({
      count: 6,
      statusClass: [1, 1, 1, 1, 2],
      limited: 1,
      refused: 1,
      refused5xx: 0,
      timeouts: 1,
      connectErrors: 1,
      bytesIn: 600,
      bytesOut: 6000,
    })
    const sk = decodeSketch(roll!.latencySketch)
    expect(sk.count).toBe(5) // the 429 was never sent upstream: no latency
    expect(sk.max).toBe(3000)
    expect(Math.abs(sk.getValueAtQuantile(1) - 3000) / 3000).toBeLessThanOrEqual(0.01)
  })

  it('keeps requests the gateway answered itself out of the latency sketch, and counts them everywhere else', async () => {
    const r = make()
    const s = r.series(key('shop'))
    const local = { attempts: 0, target: '' }
    // a throttling episode: four refusals for every request served
    for (let i = 0; i < 20; i++) {
      s.record(ev({ status: 200, latencyMs: 40 + i / 10 }))
      for (let j = 0; j < 4; j++) s.record(ev({ status: 429, outcome: 'limited', latencyMs: 0.2, ...local }))
    }
    s.record(ev({ status: 401, outcome: 'limited', latencyMs: 0.1, ...local })) // unknown API key
    s.record(ev({ status: 503, outcome: 'no_target', latencyMs: 0.1, ...local })) // every breaker open
    s.record(ev({ status: 413, latencyMs: 0.1, ...local })) // body over the limit
    s.record(ev({ status: 499, outcome: 'client_abort', latencyMs: 3, ...local })) // gone before a try
    // sent upstream and failed or given up on: their latency is the upstream's
    s.record(ev({ status: 502, outcome: 'connect_error', latencyMs: 30, attempts: 2 }))
    s.record(ev({ status: 499, outcome: 'client_abort', latencyMs: 45 }))
    await clock.tickAsync(W)
    const [roll] = bus.rollups()
    expect(roll).toMatchObject({
      count: 106,
      statusClass: [0, 20, 0, 84, 2],
      limited: 81,
      connectErrors: 1,
      // the 80 429s, the 401, the 503, the 413 and the client gone before a try; not the 502 or
      // the 499 after a try
      refused: 84,
      refused5xx: 1,
    })
    const sk = decodeSketch(roll!.latencySketch)
    expect(sk.count).toBe(22)
    expect(sk.min).toBe(30)
    expect(Math.abs(sk.getValueAtQuantile(0.5) - 41) / 41).toBeLessThanOrEqual(0.02)
  })

  it("counts the gateway's own 503s apart from the upstream's 5xx", async () => {
    const r = make()
    const s = r.series(key('shop'))
    // no healthy target, every breaker open: answered before any try
    for (let i = 0; i < 3; i++)
      s.record(ev({ status: 503, outcome: 'no_target', latencyMs: 0.1, attempts: 0, target: '' }))
    // the upstream's own 503, and a retry that found no target left after a failed try: the service's
    s.record(ev({ status: 503, latencyMs: 12 }))
    s.record(ev({ status: 503, outcome: 'no_target', latencyMs: 30, attempts: 1 }))
    s.record(ev({ status: 500, latencyMs: 8, attempts: 2 }))
    s.record(ev({ status: 200, latencyMs: 9 }))
    await clock.tickAsync(W)
    const [roll] = bus.rollups()
    expect(roll).toMatchObject({ count: 7, statusClass: [0, 1, 0, 0, 6], refused: 3, refused5xx: 3 })
    expect(decodeSketch(roll!.latencySketch).count).toBe(4)
  })

  it('sends a window in which every request was refused with its counts and an empty sketch', async () => {
    const r = make()
    const s = r.series(key('shop'))
    for (let i = 0; i < 5; i++)
      s.record(ev({ status: 429, outcome: 'limited', latencyMs: 0.2, attempts: 0, target: '' }))
    await clock.tickAsync(W)
    const [roll] = bus.rollups()
    expect(roll).toMatchObject({
      count: 5,
      limited: 5,
      statusClass: [0, 0, 0, 5, 0],
      refused: 5,
      refused5xx: 0,
    })
    expect(decodeSketch(roll!.latencySketch).count).toBe(0)
  })

  it('starts every window afresh and sends nothing for a series without traffic', async () => {
    const r = make()
    const a = r.series(key('orders'))
    const b = r.series(key('users'))
    a.record(ev())
    b.record(ev())
    await clock.tickAsync(W)
    a.record(ev())
    a.record(ev())
    await clock.tickAsync(W)
    const second = bus.rollups().filter((x) => x.windowStartMs === WINDOW0 + W)
    expect(second.map((x) => [x.series.service, x.count])).toEqual([['orders', 2]])
  })

  it('never reuses a window id when the boundary timer fires before the clock reaches the boundary', async () => {
    // libuv fires a timer by its cached loop time, which can run up to 1 ms ahead of Date.now():
    // modelled by a clock that reads 0 or 1 ms ahead at random, so the delay computed at one
    // boundary is sometimes a millisecond short and the timer fires before the next boundary.
    let seed = 7
    const skew = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) >> 16) & 1
    const r = make({ windowMs: 1000, now: () => Date.now() + skew() })
    const s = r.series(key('orders'))
    let recorded = 0
    for (let w = 0; w < 400; w++) {
      // a request in every millisecond around the boundary, where an early rotation lands
      for (let t = 0; t < 1000; t += t < 995 ? 199 : 1) {
        s.record(ev())
        recorded++
        await clock.tickAsync(t < 995 ? 199 : 1)
      }
    }
    await r.close()
    const ids = bus.sent.map((m) => m.msgId)
    // a repeated id is dropped by JetStream and the memory bus as a duplicate, with its requests
    expect(new Set(ids).size).toBe(ids.length)
    const starts = bus.rollups().map((x) => x.windowStartMs)
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(1000)
    expect(bus.rollups().reduce((n, x) => n + x.count, 0)).toBe(recorded)
  })

  it('shares one accumulator between handles of the same series (one rollup, not two)', async () => {
    const r = make()
    r.series(key('orders')).record(ev())
    r.series(key('orders')).record(ev())
    await clock.tickAsync(W)
    expect(bus.rollups().map((x) => x.count)).toEqual([2])
  })

  it('caps live series: the rest go to the overflow series, counted and warned once', async () => {
    const r = make({ maxSeries: 2 })
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      r.series(key(name)).record(ev())
      r.series(key(name)).record(ev())
    }
    await clock.tickAsync(W)
    const got = bus.rollups()
    expect(got).toHaveLength(3)
    const overflow = got.find((x) => x.series.service === OVERFLOW_SERIES.service)
    expect(overflow?.count).toBe(6)
    expect(got.reduce((n, x) => n + x.count, 0)).toBe(10)
    expect(r.stats().seriesOverflowed).toBe(6)
    expect(warnings.map((w) => w.code)).toEqual(['VGL_ERR_TELEMETRY_SERIES_CAP'])
  })

  it('keeps the rollups a down bus refused and publishes them once it is back, without a retry loop', async () => {
    bus.fail = true
    const r = make()
    const a = r.series(key('orders'))
    const b = r.series(key('users'))
    a.record(ev())
    b.record(ev())
    await clock.tickAsync(W)
    a.record(ev())
    await clock.tickAsync(W)
    // one attempt per window boundary: the first refusal stops the flush
    expect(bus.calls).toBeLessThanOrEqual(3 + 2)
    expect(r.stats()).toMatchObject({ rollupsPublished: 0, rollupsDropped: 0, queued: 3 })
    expect(r.stats().rollupsRetried).toBeGreaterThanOrEqual(3)
    // said once when the outage starts, not at every boundary, and not only once rollups drop
    expect(warnings.map((w) => w.code)).toEqual(['VGL_ERR_BUS_PUBLISH'])
    expect(warnings[0]!.message).toMatch(
      /^publish to vigil\.rollups failed: .*; the rollups are kept and sent again at each window boundary for up to 300 s, then dropped$/,
    )
    bus.fail = false
    a.record(ev())
    await clock.tickAsync(W)
    const got = bus.rollups()
    expect(got.map((x) => [x.series.service, x.windowStartMs, x.count])).toEqual([
      ['orders', WINDOW0, 1],
      ['users', WINDOW0, 1],
      ['orders', WINDOW0 + W, 1],
      ['orders', WINDOW0 + 2 * W, 1],
    ])
    // each carries its msgId, so a retry of a publish that did reach the stream is stored once
    expect(new Set(bus.sent.map((m) => m.msgId)).size).toBe(4)
    expect(r.stats().rollupsDropped).toBe(0)
    // the next outage is told again
    bus.fail = true
    a.record(ev())
    await clock.tickAsync(W)
    expect(warnings.map((w) => w.code)).toEqual(['VGL_ERR_BUS_PUBLISH', 'VGL_ERR_BUS_PUBLISH'])
  })

  it('drops and counts refused rollups older than retryForMs, warning once, and never throws into record', async () => {
    bus.fail = true
    const r = make({ retryForMs: 2 * W })
    const a = r.series(key('orders'))
    a.record(ev())
    await clock.tickAsync(W)
    expect(() => a.record(ev())).not.toThrow()
    await clock.tickAsync(W)
    await clock.tickAsync(W)
    await clock.tickAsync(W)
    // window 0 ended 3 W ago: dropped; window 1 ended 2 W ago: dropped at this boundary
    expect(r.stats().rollupsDropped).toBe(2)
    expect(r.stats().rollupsPublished).toBe(0)
    expect(warnings.map((w) => w.code)).toEqual(['VGL_ERR_BUS_PUBLISH', 'VGL_ERR_TELEMETRY_DROPPED'])
    expect(warnings[1]!.message).toMatch(/connection closed/)
    bus.fail = false
    a.record(ev())
    await clock.tickAsync(W)
    expect(bus.rollups().map((x) => x.count)).toEqual([1])
  })

  it('at shutdown tries a refused rollup once more, then drops and counts it', async () => {
    const r = make()
    r.series(key('orders')).record(ev())
    bus.fail = true
    await r.close()
    expect(bus.calls).toBe(2)
    expect(r.stats()).toMatchObject({ rollupsDropped: 1, queued: 0 })
  })

  it('keeps one flush in flight and bounds the queue, dropping what does not fit', async () => {
    bus.hold = true
    const r = make({ maxQueueSize: 2, publishConcurrency: 10 })
    for (const n of ['a', 'b']) r.series(key(n)).record(ev())
    await clock.tickAsync(W) // window 1: 2 rollups in flight, queue empty
    expect(bus.calls).toBe(2)
    for (const n of ['a', 'b', 'c']) r.series(key(n)).record(ev())
    await clock.tickAsync(W) // window 2: queue holds 2, one dropped; no second flush started
    expect(bus.calls).toBe(2)
    expect(r.stats()).toMatchObject({ rollupsDropped: 1, queued: 2 })
    bus.release()
    await clock.tickAsync(1)
    expect(bus.rollups()).toHaveLength(4)
    expect(bus.calls).toBe(4)
  })

  it('flushes the current partial window on close, once', async () => {
    const r = make()
    r.series(key('orders')).record(ev())
    await clock.tickAsync(2000)
    await Promise.all([r.close(), r.close()])
    await r.close()
    expect(bus.rollups().map((x) => [x.count, x.windowStartMs])).toEqual([[1, WINDOW0]])
    await clock.tickAsync(5 * W)
    expect(bus.rollups()).toHaveLength(1)
  })

  it('generates a distinct gateway id per recorder when none is configured', async () => {
    const a = new RollupRecorder({ bus })
    const b = new RollupRecorder({ bus })
    expect(a.gatewayId).not.toBe(b.gatewayId)
    expect(a.gatewayId).toMatch(/^[A-Za-z0-9_.-]+-\d+-[0-9a-f]{6}$/)
    await a.close()
    await b.close()
  })

  describe('tail sampling of gateway spans', () => {
    it('keeps every error and every request slower than the previous window p99, and samples none of the rest at rate 0', async () => {
      const r = make()
      const s = r.series(key('orders'))
      for (let i = 1; i <= 1000; i++) s.record(ev({ latencyMs: i / 10, spanId: `ok${i}` })) // p99 ≈ 99 ms
      s.record(ev({ status: 503, latencyMs: 1, spanId: 'err1', requestId: 'req-err' }))
      s.record(ev({ status: 200, outcome: 'timeout', latencyMs: 1, spanId: 'err2' }))
      await clock.tickAsync(W)
      expect(bus.spans().map((x) => x.spanId)).toEqual(['err1', 'err2'])
      s.record(ev({ latencyMs: 50, spanId: 'fast' }))
      s.record(ev({ latencyMs: 500, spanId: 'slow' }))
      await clock.tickAsync(W)
      const spans = bus.spans()
      expect(spans.map((x) => x.spanId)).toEqual(['err1', 'err2', 'slow'])
      expect(spans[2]!.attributes['vigil.sample_reason']).toBe('slow')
    })

    it('samples the rest at the configured rate', async () => {
      let i = 0
      const r = make({ spans: { sampleRate: 0.25 }, random: () => (i++ % 4) / 4 }) // 0, .25, .5, .75
      const s = r.series(key('orders'))
      for (let j = 0; j < 100; j++) s.record(ev({ spanId: `s${j}` }))
      await clock.tickAsync(W)
      expect(bus.spans()).toHaveLength(25)
    })

    it('stores trace id, parent, request id and status with the span so either id finds the trace', async () => {
      const r = make()
      r.series(key('orders', 'GET /orders', 'prod')).record(
        ev({ status: 500, parentSpanId: 'b7ad6b7169203331', requestId: 'rid-42', latencyMs: 12.5 }),
      )
      await clock.tickAsync(W)
      expect(bus.spans()[0]).toMatchObject({
        traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
        spanId: '00f067aa0ba902b7',
        parentSpanId: 'b7ad6b7169203331',
        requestId: 'rid-42',
        service: 'orders',
        route: 'GET /orders',
        env: 'prod',
        name: 'GET GET /orders',
        statusCode: 2,
        httpStatus: 500,
        durationMs: 12.5,
        source: 'gateway',
      })
    })

    it('publishes a full span batch without waiting for the window, and bounds the span queue', async () => {
      bus.hold = true
      const r = make({ spans: { sampleRate: 1, maxBatchSize: 10, maxQueueSize: 20 } })
      const s = r.series(key('orders'))
      for (let j = 0; j < 10; j++) s.record(ev())
      await clock.tickAsync(1)
      expect(bus.calls).toBe(1) // a batch went out at 10 spans
      for (let j = 0; j < 25; j++) s.record(ev())
      expect(r.stats().spansDropped).toBe(5)
      bus.release()
    })
  })
})
