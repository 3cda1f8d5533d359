import { describe, expect, it } from 'vitest'
import { TraceCompleteness, traceIsWhole, type KnownPhantoms } from './completeness.js'
import { PhantomParents } from './phantom-parents.js'
import type { JourneySpan } from './span.js'

const span = (
  spanId: string,
  parentSpanId: string | null,
  source: 'gateway' | 'otlp' = 'otlp',
  over: Partial<JourneySpan> = {},
): JourneySpan => ({
  traceId: 't',
  spanId,
  parentSpanId,
  service: 'svc',
  env: 'prod',
  route: '',
  name: 'op',
  kind: 2,
  startTimeMs: 0,
  durationMs: 1,
  statusCode: 0,
  httpStatus: 200,
  requestId: null,
  source,
  attributes: {},
  ...over,
})

describe('TraceCompleteness', () => {
  const gatewayRoots = (s: JourneySpan) => s.source === 'gateway'

  it('is whole once the root and every parent a span names have come, in any order', () => {
    const c = new TraceCompleteness([span('c', 'b'), span('d', 'b')], gatewayRoots)
    expect([c.complete, c.missing]).toEqual([false, 1])
    c.add(span('b', 'a'))
    expect([c.complete, c.missing]).toEqual([false, 1])
    c.add(span('a', null))
    expect([c.complete, c.missing]).toEqual([true, 0])
  })

  it('takes a span the caller names a root as one, its parent not awaited', () => {
    const c = new TraceCompleteness([span('s', 'gw'), span('gw', 'client', 'gateway')], gatewayRoots)
    expect(c.complete).toBe(true)
    expect(new TraceCompleteness([span('s', 'gw')], gatewayRoots).complete).toBe(false)
  })

  it('is not whole without a root, even when no parent is missing (a loop)', () => {
    const c = new TraceCompleteness([span('x', 'y'), span('y', 'x'), span('x', 'y')], gatewayRoots)
    expect([c.complete, c.missing]).toEqual([false, 0])
  })

  it('tells the same at once, by a scan for small traces and a set for large ones', () => {
    const chain = (n: number, rootAt: number) =>
      Array.from({ length: n }, (_, i) => span(`s${i}`, i === rootAt ? null : `s${i === 0 ? n - 1 : i - 1}`))
    for (const n of [3, 40]) {
      const whole = chain(n, 0)
      expect(traceIsWhole(whole, gatewayRoots)).toBe(true)
      expect(traceIsWhole(whole.slice(1), gatewayRoots)).toBe(false) // no root
      expect(traceIsWhole(whole.slice(0, -1).concat(span('x', 'gone')), gatewayRoots)).toBe(false)
      expect(traceIsWhole([...whole.slice(1), span('gw', 'client', 'gateway')], gatewayRoots)).toBe(false)
    }
  })

  it('does not await a parent known never to come; a phantom that roots stands for the root', () => {
    const known = (why: 'root' | 'boundary'): KnownPhantoms => ({
      excuse: (s) => (s.spanId === 'p' ? why : null),
    })
    // p's parent (a proxy sending no spans) is not awaited; the trace's own root still is
    const c = new TraceCompleteness([span('p', 'proxy')], gatewayRoots, known('boundary'))
    expect([c.complete, c.missing, c.rooted]).toEqual([false, 0, false])
    expect([...c.excused()].map(([parent, child]) => [parent, child.spanId])).toEqual([['proxy', 'p']])
    c.add(span('r', null))
    expect(c.complete).toBe(true)
    // a phantom with nothing above it roots the trace, though not by a span of its own
    const top = new TraceCompleteness([span('p', 'proxy'), span('q', 'p')], gatewayRoots, known('root'))
    expect([top.complete, top.rooted]).toEqual([true, false])
    // a parent that was not awaited, or was, arriving after all: the span that named it is told
    expect(top.add(span('proxy', 'r'))?.spanId).toBe('p')
    const awaited = new TraceCompleteness([span('q', 'p')], gatewayRoots)
    expect([...awaited.awaiting()].map((s) => s.spanId)).toEqual(['q'])
    expect(awaited.add(span('p', null))?.spanId).toBe('q')
    expect(awaited.add(span('p', null))).toBeUndefined()
  })
})

describe('TraceCompleteness with phantoms learned while it waits', () => {
  it('stops awaiting a parent once its hop is known never to send it', () => {
    const p = new PhantomParents({ learnAfter: 1 })
    const child = span('c', 'proxy', 'otlp', { service: 'shop' })
    const c = new TraceCompleteness([span('r', null), child], () => false, p)
    expect([c.complete, c.recheck()]).toEqual([false, false])
    p.missed([child], true, 1)
    expect([c.recheck(), c.complete, c.missing]).toEqual([true, true, 0])
  })
})

describe('PhantomParents', () => {
  /** A span of `service` naming a parent that does not come. */
  const hop = (service: string, name = 'GET /x', env = 'prod') =>
    span('s', 'never', 'otlp', { service, name, env })

  it('learns a hop after traces in a row miss its parent for good, per service, env and operation', () => {
    const p = new PhantomParents({ learnAfter: 3 })
    const shop = hop('shop')
    p.missed([shop, shop], true, 1) // twice in one trace counts once
    p.missed([shop], true, 2)
    expect(p.excuse(shop)).toBeNull()
    p.missed([shop], true, 3)
    expect(p.excuse(shop)).toBe('boundary')
    expect(p.excuse(hop('shop', 'GET /y'))).toBeNull()
    expect(p.excuse(hop('shop', 'GET /x', 'aws'))).toBeNull()
    p.assumed([shop, shop], 4)
    expect(p.hops()).toEqual([
      { service: 'shop', env: 'prod', name: 'GET /x', sinceMs: 3, traces: 1, rootsTrace: false },
    ])
  })

  it('makes a hop that no trace had a root above stand for the root, until one does', () => {
    const p = new PhantomParents({ learnAfter: 2 })
    const gw = hop('shop')
    p.missed([gw], false, 1)
    p.missed([gw], false, 2)
    expect(p.excuse(gw)).toBe('root')
    p.missed([gw], true, 3)
    expect(p.excuse(gw)).toBe('boundary')
  })

  it('forgets a hop whose parent arrived, and restarts its count', () => {
    const p = new PhantomParents({ learnAfter: 2 })
    const s = hop('shop')
    p.missed([s], true, 1)
    p.missed([s], true, 2)
    p.arrived(s)
    expect(p.excuse(s)).toBeNull()
    expect(p.hops()).toEqual([])
    p.missed([s], true, 3)
    expect(p.excuse(s)).toBeNull()
    p.missed([s], true, 4)
    expect(p.excuse(s)).toBe('boundary')
    p.arrived('shop\u0000prod\u0000GET /x')
    expect(p.excuse(s)).toBeNull()
  })

  it('bounds its memory: the least recently seen hop goes first, and one unseen for ttlMs', () => {
    const p = new PhantomParents({ learnAfter: 1, maxKeys: 2, ttlMs: 100 })
    p.missed([hop('a')], true, 1)
    p.missed([hop('b')], true, 2)
    p.assumed([hop('a')], 3) // a seen more lately than b
    p.missed([hop('c')], true, 4)
    expect(
      p
        .hops()
        .map((h) => h.service)
        .sort(),
    ).toEqual(['a', 'c'])
    p.prune(103)
    expect(p.hops().map((h) => h.service)).toEqual(['c'])
    p.prune(104)
    expect(p.hops()).toEqual([])
    expect(p.excuse(hop('c'))).toBeNull()
  })
})
