import { describe, expect, it } from 'vitest'
import type { JourneySpan } from './span.js'
import { buildTree, criticalPath, errorOrigins, readTrace, waterfall } from './trace.js'

let seq = 0
function span(
  p: Partial<JourneySpan> & { spanId: string; startTimeMs: number; durationMs: number },
): JourneySpan {
  seq++
  return {
    traceId: 't1',
    parentSpanId: null,
    service: 'svc',
    env: 'prod',
    route: '',
    name: `op${seq}`,
    kind: 2,
    statusCode: 0,
    httpStatus: 200,
    requestId: null,
    source: 'otlp',
    attributes: {},
    ...p,
  }
}

describe('buildTree', () => {
  it('links parents, orders children by start and counts nothing on clean input', () => {
    const t = buildTree([
      span({ spanId: 'c2', parentSpanId: 'r', startTimeMs: 50, durationMs: 10 }),
      span({ spanId: 'r', startTimeMs: 0, durationMs: 100 }),
      span({ spanId: 'c1', parentSpanId: 'r', startTimeMs: 10, durationMs: 10 }),
    ])
    expect(t.roots).toHaveLength(1)
    expect(t.spans[t.main].spanId).toBe('r')
    expect(t.children[t.main].map((i) => t.spans[i].spanId)).toEqual(['c1', 'c2'])
    expect(t.problems).toEqual({ missingParents: 0, cycles: 0, skewAdjusted: 0, duplicates: 0 })
  })

  it('counts a missing parent and shows the span as a root, unless the caller expects it', () => {
    const spans = [
      span({ spanId: 'r', startTimeMs: 0, durationMs: 100 }),
      span({ spanId: 'x', parentSpanId: 'gone', startTimeMs: 5, durationMs: 1, service: 'shop' }),
    ]
    const t = buildTree(spans)
    expect(t.problems.missingParents).toBe(1)
    expect(t.roots).toHaveLength(2)
    expect(buildTree(spans, (s) => s.service === 'shop').problems.missingParents).toBe(0)
  })

  it('cuts cycles (a span its own parent, a → b → a) without looping', () => {
    const t = buildTree([
      span({ spanId: 'a', parentSpanId: 'b', startTimeMs: 0, durationMs: 10 }),
      span({ spanId: 'b', parentSpanId: 'a', startTimeMs: 1, durationMs: 5 }),
      span({ spanId: 's', parentSpanId: 's', startTimeMs: 2, durationMs: 1 }),
    ])
    expect(t.problems.cycles).toBe(2)
    expect(t.roots.length).toBe(2)
    expect(() => criticalPath(t)).not.toThrow()
  })

  it('keeps the first of duplicate span ids and counts the rest', () => {
    const t = buildTree([
      span({ spanId: 'a', startTimeMs: 0, durationMs: 10 }),
      span({ spanId: 'a', startTimeMs: 0, durationMs: 99 }),
    ])
    expect(t.spans).toHaveLength(1)
    expect(t.spans[0].durationMs).toBe(10)
    expect(t.problems.duplicates).toBe(1)
  })

  it('shifts a child that starts before its parent (clock skew) with its subtree', () => {
    const t = buildTree([
      span({ spanId: 'p', startTimeMs: 1000, durationMs: 100, service: 'a' }),
      span({ spanId: 'c', parentSpanId: 'p', startTimeMs: 900, durationMs: 40, service: 'b' }),
      span({ spanId: 'g', parentSpanId: 'c', startTimeMs: 910, durationMs: 10, service: 'b' }),
    ])
    const at = (id: string) => t.start[t.spans.findIndex((s) => s.spanId === id)]
    expect(t.problems.skewAdjusted).toBe(1)
    expect(at('c')).toBe(1030) // centred: 1000 + (100 - 40) / 2
    expect(at('g')).toBe(1040) // moved along with its parent
  })

  it('survives a 5,000-span chain', () => {
    const spans = [span({ spanId: 's0', startTimeMs: 0, durationMs: 5_000 })]
    for (let i = 1; i < 5_000; i++)
      spans.push(
        span({ spanId: `s${i}`, parentSpanId: `s${i - 1}`, startTimeMs: i / 2, durationMs: 5_000 - i }),
      )
    const w = waterfall('t1', spans)
    expect(w.spans).toHaveLength(5_000)
    expect(w.spans[4_999].depth).toBe(4_999)
    expect(w.criticalPath.length).toBeGreaterThan(0)
  })
})

describe('criticalPath', () => {
  it('follows the last-finishing child and gives the parent its uncovered time', () => {
    // root 0..100: auth 5..15 (sequence), then inventory 20..50 and pricing 20..80 in parallel
    const t = buildTree([
      span({ spanId: 'root', startTimeMs: 0, durationMs: 100, service: 'shop' }),
      span({ spanId: 'auth', parentSpanId: 'root', startTimeMs: 5, durationMs: 10, service: 'auth' }),
      span({ spanId: 'inv', parentSpanId: 'root', startTimeMs: 20, durationMs: 30, service: 'inventory' }),
      span({ spanId: 'pri', parentSpanId: 'root', startTimeMs: 20, durationMs: 60, service: 'pricing' }),
    ])
    const cp = criticalPath(t).map((s) => [t.spans[s.index].service, s.startMs, s.endMs])
    expect(cp).toEqual([
      ['shop', 0, 5],
      ['auth', 5, 15],
      ['shop', 15, 20],
      ['pricing', 20, 80],
      ['shop', 80, 100],
    ])
    const total = criticalPath(t).reduce((a, s) => a + s.endMs - s.startMs, 0)
    expect(total).toBe(100)
  })
})

describe('errorOrigins', () => {
  it('names the deepest failing span of each failing branch', () => {
    const t = buildTree([
      span({ spanId: 'root', startTimeMs: 0, durationMs: 100, statusCode: 2, httpStatus: 502 }),
      span({ spanId: 'mid', parentSpanId: 'root', startTimeMs: 1, durationMs: 50, statusCode: 2 }),
      span({ spanId: 'leaf', parentSpanId: 'mid', startTimeMs: 2, durationMs: 5, httpStatus: 500 }),
      span({ spanId: 'ok', parentSpanId: 'root', startTimeMs: 60, durationMs: 5 }),
    ])
    expect(errorOrigins(t).map((i) => t.spans[i].spanId)).toEqual(['leaf'])
  })
})

describe('waterfall', () => {
  it('lists spans depth first with offsets, the gateway span as vigil, and the critical path', () => {
    const w = waterfall('t1', [
      span({
        spanId: 'gw',
        startTimeMs: 1000,
        durationMs: 50,
        source: 'gateway',
        service: 'shop',
        route: 'shop',
        requestId: 'req-1',
      }),
      span({
        spanId: 'shop',
        parentSpanId: 'gw',
        startTimeMs: 1001,
        durationMs: 48,
        service: 'shop',
        env: 'onprem',
      }),
      span({
        spanId: 'p',
        parentSpanId: 'shop',
        startTimeMs: 1010,
        durationMs: 30,
        service: 'pricing',
        env: 'aws',
        statusCode: 2,
      }),
    ])
    expect(w.spans.map((s) => [s.spanId, s.depth, s.service, s.offsetMs])).toEqual([
      ['gw', 0, 'vigil', 0],
      ['shop', 1, 'shop', 1],
      ['p', 2, 'pricing', 10],
    ])
    expect(w.spans[0].upstream).toBe('shop')
    expect(w.requestId).toBe('req-1')
    expect(w.route).toBe('shop')
    expect(w.envs).toEqual(['aws', 'onprem', 'prod'])
    expect(w.errorCount).toBe(1)
    expect(w.spans.find((s) => s.spanId === 'p')?.status).toBe('error')
    // the client waited: a failure without an HTTP status is the service's own
    expect(w.abandoned).toBe(false)
    expect(w.note).toBeNull()
    expect(w.criticalPath.map((c) => c.service)).toEqual(['vigil', 'shop', 'pricing', 'shop', 'vigil'])
  })
})

describe('waterfall of a request the client abandoned', () => {
  // the client closed its connection: the gateway answered 499 and closed its upstream connection,
  // shop and inventory were still working and ended as errors without an HTTP status; pricing had
  // already answered a 5xx before the client left
  const abandoned = () => [
    span({
      spanId: 'gw',
      startTimeMs: 1000,
      durationMs: 80,
      source: 'gateway',
      service: 'shop',
      route: 'shop',
      requestId: 'req-gone',
      httpStatus: 499,
      attributes: { 'vigil.outcome': 'client_abort', 'vigil.sample_reason': 'abandoned' },
    }),
    span({
      spanId: 'shop',
      parentSpanId: 'gw',
      startTimeMs: 1001,
      durationMs: 79,
      service: 'shop',
      statusCode: 2,
      httpStatus: null,
    }),
    span({
      spanId: 'inv',
      parentSpanId: 'shop',
      startTimeMs: 1010,
      durationMs: 70,
      service: 'inventory',
      statusCode: 2,
      httpStatus: null,
    }),
    span({
      spanId: 'pri',
      parentSpanId: 'shop',
      startTimeMs: 1005,
      durationMs: 10,
      service: 'pricing',
      statusCode: 2,
      httpStatus: 503,
    }),
    span({ spanId: 'auth', parentSpanId: 'shop', startTimeMs: 1002, durationMs: 2, service: 'auth' }),
  ]
  const statusOf = (w: ReturnType<typeof waterfall>, id: string) =>
    w.spans.find((s) => s.spanId === id)?.status

  it('says the client abandoned it, and shows the closed-connection spans as aborted, not as errors', () => {
    const w = waterfall('t1', abandoned())
    expect(w.abandoned).toBe(true)
    expect(w.note).toMatch(/client closed the connection before the answer \(499\)/)
    expect(statusOf(w, 'gw')).toBe('aborted')
    expect(statusOf(w, 'shop')).toBe('aborted')
    expect(statusOf(w, 'inv')).toBe('aborted')
    expect(statusOf(w, 'auth')).toBe('ok')
  })

  it('still counts a 5xx answered before the client left as an error, and only that', () => {
    const w = waterfall('t1', abandoned())
    expect(statusOf(w, 'pri')).toBe('error')
    expect(w.errorCount).toBe(1)
  })

  it('knows the abandonment by the 499 alone (a span without the outcome attribute)', () => {
    const [gw, ...rest] = abandoned()
    const w = waterfall('t1', [{ ...gw, attributes: {} }, ...rest])
    expect(w.abandoned).toBe(true)
    expect(w.errorCount).toBe(1)
  })

  it('does not take a trace whose main span is not the gateway’s for an abandoned one', () => {
    // a service answering 499 itself is its business, not the client leaving the gateway
    const w = waterfall('t1', [
      span({ spanId: 'shop', startTimeMs: 0, durationMs: 10, service: 'shop', httpStatus: 499 }),
      span({
        spanId: 'inv',
        parentSpanId: 'shop',
        startTimeMs: 1,
        durationMs: 5,
        service: 'inventory',
        statusCode: 2,
        httpStatus: null,
      }),
    ])
    expect(w.abandoned).toBe(false)
    expect(w.note).toBeNull()
    expect(statusOf(w, 'inv')).toBe('error')
    expect(w.errorCount).toBe(1)
  })

  it('reads the same for a list of traces (readTrace) as in the waterfall', () => {
    const spans = abandoned()
    const r = readTrace(spans)
    const w = waterfall('t1', spans)
    expect(r.abandoned).toBe(true)
    expect(spans.filter((s) => r.failed(s)).map((s) => s.spanId)).toEqual(
      w.spans.filter((s) => s.status === 'error').map((s) => s.spanId),
    )
    const [gw, ...rest] = spans
    const waited = [{ ...gw, httpStatus: 200, attributes: {} }, ...rest]
    expect(readTrace(waited).abandoned).toBe(false)
    expect(waited.filter((s) => readTrace(waited).failed(s))).toHaveLength(3)
  })
})

describe('waterfall of a request the gateway answered by itself', () => {
  const gateway = (status: number, attempts: number | string | undefined) =>
    span({
      spanId: 'gw',
      startTimeMs: 1000,
      durationMs: 0.2,
      source: 'gateway',
      service: 'shop',
      route: 'shop',
      requestId: 'req-429',
      statusCode: status >= 500 ? 2 : 0,
      httpStatus: status,
      attributes: attempts === undefined ? {} : { 'vigil.attempts': attempts },
    })

  it('says the request was not sent to the service (vigil.attempts 0), and keeps the status as answered', () => {
    const limited = waterfall('t1', [gateway(429, 0)])
    expect(limited.note).toBe('the gateway answered by itself (429) and did not send the request to shop')
    expect(limited.spans[0].status).toBe('ok')
    expect(limited.abandoned).toBe(false)
    const noTarget = waterfall('t1', [gateway(503, '0')])
    expect(noTarget.note).toMatch(/answered by itself \(503\) and did not send the request to shop/)
    expect(noTarget.errorCount).toBe(1)
  })

  it('has no such note for a request sent upstream, or a span that does not say', () => {
    expect(waterfall('t1', [gateway(429, 1)]).note).toBeNull()
    expect(waterfall('t1', [gateway(429, undefined)]).note).toBeNull()
    expect(waterfall('t1', [{ ...gateway(429, 0), source: 'otlp' }]).note).toBeNull()
  })
})
