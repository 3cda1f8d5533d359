import { describe, expect, it } from 'vitest'
import { TraceCompleteness, traceIsWhole } from './completeness.js'
import type { JourneySpan } from './span.js'

const span = (
  spanId: string,
  parentSpanId: string | null,
  source: 'gateway' | 'otlp' = 'otlp',
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
})
