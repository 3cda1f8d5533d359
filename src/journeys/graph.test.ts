import { describe, expect, it } from 'vitest'
import { correlateAlerts } from './correlate.js'
import { ServiceGraph, graphView, newSketch, type GraphView } from './graph.js'
import { analyzeTrace } from './journey-stats.js'
import { nodeId, parseNodeId, type JourneySpan } from './span.js'
import { buildTree } from './trace.js'

describe('ServiceGraph', () => {
  it('counts calls per window with error ratio and latency, and discovers nodes', () => {
    const g = new ServiceGraph({ windowMs: 1000 })
    for (let i = 0; i < 100; i++) g.addCall('shop|onprem', 'pricing|aws', 10_000 + i, 20 + (i % 10), i < 5)
    g.addNode('pricing|aws', 10_500, 18, false)
    g.addCall('shop|onprem', 'pricing|aws', 11_200, 30, false)
    const v = graphView(g.rows(10_000, 12_000), 10_000, 12_000, 1000, (n) => g.firstSeen(n))
    const e = v.edges[0]
    expect(e.id).toBe('shop|onprem->pricing|aws')
    expect(e.calls).toBe(101)
    expect(e.ratePerSec).toBeCloseTo(50.5)
    expect(e.errorRatio).toBeCloseTo(5 / 101)
    expect(e.p50).toBeGreaterThan(23)
    expect(e.p50).toBeLessThan(26)
    expect(v.nodes.map((n) => n.id)).toEqual(['pricing|aws', 'shop|onprem'])
    expect(v.nodes[0].firstSeenMs).toBe(10_000)
    // only the second window
    expect(graphView(g.rows(11_000, 12_000), 11_000, 12_000, 1000).edges[0].calls).toBe(1)
  })

  it('forgets old windows, counts late and overflowing rows, hands closed windows out once', () => {
    const g = new ServiceGraph({ windowMs: 1000, maxWindows: 3, maxRows: 2 })
    g.addCall('a|x', 'b|x', 0, 1, false)
    g.addCall('a|x', 'b|x', 5_000, 1, false)
    expect(g.rows(0, 1000)).toEqual([])
    g.addCall('a|x', 'b|x', 100, 1, false)
    expect(g.counters.late).toBe(1)
    g.addCall('a|x', 'c|x', 5_000, 1, false)
    g.addCall('a|x', 'd|x', 5_000, 1, false)
    expect(g.counters.overflow).toBe(1)
    expect(g.takeClosed(6_000).length).toBe(2)
    expect(g.takeClosed(6_000).length).toBe(0)
  })

  it('merges stored rows with a node that sends no spans (requests = calls it got)', () => {
    const s = newSketch()
    s.accept(10)
    const v = graphView(
      [{ windowStartMs: 0, windowMs: 1000, from: 'a|x', to: 'legacy|', calls: 4, errors: 1, latency: s }],
      0,
      1000,
      1000,
    )
    expect(v.nodes.find((n) => n.service === 'legacy')?.requests).toBe(4)
  })
})

describe('the service graph of journeys the client abandoned', () => {
  const T0 = 1_700_000_000_000
  const span = (over: Partial<JourneySpan> & Pick<JourneySpan, 'spanId' | 'service'>): JourneySpan => ({
    traceId: 'a'.repeat(32),
    parentSpanId: null,
    env: 'onprem',
    route: '',
    name: 'GET /',
    kind: 2,
    startTimeMs: T0,
    durationMs: 100,
    statusCode: 0,
    httpStatus: 200,
    requestId: null,
    source: 'otlp',
    attributes: {},
    ...over,
  })
  /**
   * gateway → shop, shop → pricing (client span, pricing's server span) and shop → db (a client
   * span to a peer that sends no spans); `abandoned`: the client closed its connection first.
   */
  const trace = (o: {
    abandoned: boolean
    shop: Pick<JourneySpan, 'statusCode' | 'httpStatus'>
    pricing: Pick<JourneySpan, 'statusCode' | 'httpStatus'>
    db: Pick<JourneySpan, 'statusCode' | 'httpStatus'>
  }): JourneySpan[] => [
    span({
      spanId: 'g1',
      service: 'shop',
      env: 'edge',
      route: 'shop',
      source: 'gateway',
      durationMs: 120,
      httpStatus: o.abandoned ? 499 : (o.shop.httpStatus ?? 502),
      attributes: o.abandoned ? { 'vigil.outcome': 'client_abort', 'vigil.sample_reason': 'abandoned' } : {},
    }),
    span({
      spanId: 's1',
      parentSpanId: 'g1',
      service: 'shop',
      startTimeMs: T0 + 1,
      durationMs: 110,
      ...o.shop,
    }),
    span({
      spanId: 'c1',
      parentSpanId: 's1',
      service: 'shop',
      kind: 3,
      startTimeMs: T0 + 5,
      durationMs: 50,
      ...o.pricing,
    }),
    span({
      spanId: 'p1',
      parentSpanId: 'c1',
      service: 'pricing',
      env: 'aws',
      startTimeMs: T0 + 6,
      durationMs: 48,
      ...o.pricing,
    }),
    span({
      spanId: 'c2',
      parentSpanId: 's1',
      service: 'shop',
      kind: 3,
      startTimeMs: T0 + 60,
      durationMs: 50,
      attributes: { 'peer.service': 'db' },
      ...o.db,
    }),
  ]
  /** What the live journeys do with a decided trace (the gateway's own edges come from its rollups). */
  const graphOf = (traces: JourneySpan[][]): GraphView => {
    const g = new ServiceGraph({ windowMs: 10_000 })
    for (const spans of traces) {
      const summary = analyzeTrace(buildTree(spans), null, { envOf: () => 'onprem' })
      for (const c of summary.calls) if (!c.viaGateway) g.addCall(c.from, c.to, c.atMs, c.ms, c.error)
      for (const n of summary.served) g.addNode(n.node, n.atMs, n.ms, n.error)
    }
    const from = T0 - (T0 % 10_000)
    return graphView(g.rows(from, from + 10_000), from, from + 10_000, 10_000)
  }
  const node = (v: GraphView, id: string) => v.nodes.find((n) => n.id === id)
  const edge = (v: GraphView, id: string) => v.edges.find((e) => e.id === id)
  const closed = { statusCode: 2, httpStatus: null }
  const ok = { statusCode: 0, httpStatus: 200 }

  it('counts the spans the abort failed (error, no HTTP status) as requests, not as errors', () => {
    const v = graphOf([trace({ abandoned: true, shop: closed, pricing: closed, db: closed })])
    expect(node(v, 'shop|onprem')).toMatchObject({ requests: 1, errorRatio: 0 })
    expect(node(v, 'pricing|aws')).toMatchObject({ requests: 1, errorRatio: 0 })
    expect(edge(v, 'shop|onprem->pricing|aws')).toMatchObject({ calls: 1, errorRatio: 0 })
    expect(edge(v, 'shop|onprem->db|onprem')).toMatchObject({ calls: 1, errorRatio: 0 })
  })

  it('still counts a 5xx answered before the client left as an error, not the closed connection above it', () => {
    const upstream500 = { statusCode: 2, httpStatus: 500 }
    const v = graphOf([
      trace({ abandoned: true, shop: closed, pricing: upstream500, db: ok }),
      trace({ abandoned: true, shop: closed, pricing: ok, db: { statusCode: 2, httpStatus: 503 } }),
    ])
    expect(node(v, 'pricing|aws')).toMatchObject({ requests: 2, errorRatio: 0.5 })
    expect(edge(v, 'shop|onprem->pricing|aws')).toMatchObject({ calls: 2, errorRatio: 0.5 })
    expect(edge(v, 'shop|onprem->db|onprem')).toMatchObject({ calls: 2, errorRatio: 0.5 })
    // shop's own request ended with the closed connection, whatever its calls did
    expect(node(v, 'shop|onprem')).toMatchObject({ requests: 2, errorRatio: 0 })
  })

  it('keeps counting a failure without an HTTP status as an error when the client waited', () => {
    const v = graphOf([trace({ abandoned: false, shop: closed, pricing: closed, db: ok })])
    expect(node(v, 'shop|onprem')?.errorRatio).toBe(1)
    expect(node(v, 'pricing|aws')?.errorRatio).toBe(1)
    expect(edge(v, 'shop|onprem->pricing|aws')?.errorRatio).toBe(1)
  })
})

describe('node ids', () => {
  it('round-trip services and envs with | and %', () => {
    const id = nodeId('a|b', 'x%y')
    expect(parseNodeId(id)).toEqual({ service: 'a|b', env: 'x%y' })
  })
})

describe('correlateAlerts', () => {
  const edges = [
    { from: { service: 'shop', env: 'onprem' }, to: { service: 'pricing', env: 'aws' } },
    { from: { service: 'vigil', env: 'edge' }, to: { service: 'shop', env: 'onprem' } },
  ]
  it('makes one incident of a caller and its failing dependency, headed by the dependency', () => {
    const inc = correlateAlerts(
      [
        { id: 'a1', service: 'shop', startsAtMs: 1000 },
        { id: 'a2', service: 'pricing', env: 'aws', startsAtMs: 3000 },
      ],
      edges,
      60_000,
    )
    expect(inc).toHaveLength(1)
    expect(inc[0].head.id).toBe('a2')
    expect(inc[0].alerts.map((a) => a.id)).toEqual(['a2', 'a1'])
    expect(inc[0].reason).toMatch(/pricing is called by shop/)
  })

  it('keeps alerts apart when the services do not call each other or start far apart', () => {
    expect(
      correlateAlerts(
        [
          { id: 'a1', service: 'shop', startsAtMs: 0 },
          { id: 'a2', service: 'pricing', startsAtMs: 600_000 },
          { id: 'a3', service: 'billing', startsAtMs: 0 },
        ],
        edges,
        60_000,
      ),
    ).toHaveLength(3)
  })

  it('heads a chain with the deepest dependency, and uses the root-cause score among equals', () => {
    const chain = correlateAlerts(
      [
        { id: 'gw', service: 'vigil', startsAtMs: 0 },
        { id: 's', service: 'shop', startsAtMs: 100 },
        { id: 'p', service: 'pricing', startsAtMs: 200 },
      ],
      edges,
      60_000,
    )
    expect(chain).toHaveLength(1)
    expect(chain[0].head.id).toBe('p')
  })
})
