import { describe, expect, it } from 'vitest'
import { correlateAlerts } from './correlate.js'
import { ServiceGraph, graphView, newSketch } from './graph.js'
import { nodeId, parseNodeId } from './span.js'

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
