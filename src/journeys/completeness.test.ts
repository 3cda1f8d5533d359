import { describe, expect, it } from 'vitest'
import { TraceCompleteness } from './completeness.js'
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
})
