import { describe, expect, it } from 'vitest'
import { ClientStats } from './stats.js'

describe('ClientStats (space-saving top-K)', () => {
  it('keeps the heavy hitters when many light clients pass through', () => {
    const s = new ClientStats(5, 60_000)
    for (let i = 0; i < 2000; i++) {
      s.count('heavy-a', 'STD', 1, 1000)
      if (i % 2 === 0) s.count('heavy-b', 'PRM', 1, 1000)
      s.count(`light-${i}`, 'STD', 1, 1000)
    }
    const ids = s.current(1000).clients.map((c) => c.clientId)
    expect(ids.slice(0, 2)).toEqual(['heavy-a', 'heavy-b'])
    expect(s.current(1000).clients).toHaveLength(5)
  })

  it('reports refusals, error rate, mean latency and distinct routes per client', () => {
    const s = new ClientStats(10, 60_000)
    for (let i = 0; i < 4; i++) s.count('c', 'STD', 0.5, 10)
    s.count('c', 'STD', 0, 10, true) // refused by the limiter: a decision, never observed
    s.observe('c', 'r1', 200, 10, 10)
    s.observe('c', 'r2', 500, 30, 10)
    s.observe('c', 'r2', 429, 20, 10)
    s.observe('c', 'r1', 200, 20, 10)
    const [c] = s.current(10).clients
    expect(c).toMatchObject({
      clientId: 'c',
      requests: 5,
      errors: 2,
      refused: 1,
      errorRate: 0.5,
      meanLatencyMs: 20,
      distinctRoutes: 2,
      bucketFill: 0,
    })
  })

  it("separates what a client did from what happened to it: own refusals, 4xx, failures beyond its peers' on the same routes", () => {
    const s = new ClientStats(10, 60_000)
    s.count('c', 'STD', 0, 10, true) // refused at its own limit
    s.count('c', 'STD', 0, 10, true, false) // refused by defensive mode: not its doing
    // pricing fails half the time for everyone: c's share is its peers'
    for (let i = 0; i < 10; i++) {
      s.observe('c', 'pricing', i % 2 === 0 ? 503 : 200, 10, 10)
      s.observe('d', 'pricing', i % 2 === 0 ? 502 : 200, 10, 10)
      s.observe('e', 'pricing', i % 2 === 0 ? 504 : 200, 10, 10)
    }
    // orders fails for c alone (4 of 4), never for its peers (0 of 20)
    for (let i = 0; i < 4; i++) s.observe('c', 'orders', 500, 10, 10)
    for (let i = 0; i < 20; i++) s.observe(i % 2 === 0 ? 'd' : 'e', 'orders', 200, 10, 10)
    // a route nobody else used tells nothing about whose failure it was
    s.observe('c', 'admin', 500, 10, 10)
    s.observe('c', 'login', 401, 10, 10)
    s.observe('c', 'login', 403, 10, 10)
    s.observe('c', 'login', 404, 10, 10)
    const row = (id: string, nowMs = 10) => s.current(nowMs).clients.find((x) => x.clientId === id)!
    expect(row('c')).toMatchObject({
      refused: 2,
      refusedOwn: 1,
      clientErrors: 3,
      errors: 10, // every 5xx and 429 answer, as the dashboard's column shows it
    })
    // the 4 on orders, less the sampling noise of 4 answers against 20 of the peers'
    expect(row('c').failedBeyondPeers).toBeGreaterThan(2.5)
    expect(row('c').failedBeyondPeers).toBeLessThan(4)
    expect(row('d').failedBeyondPeers).toBe(0)
    // the route totals start afresh with the window: e's failures of the last one excuse nobody now
    for (let i = 0; i < 100; i++) s.observe('e', 'payments', 503, 10, 20)
    for (let i = 0; i < 10; i++) s.observe('d', 'payments', 500, 10, 60_010)
    for (let i = 0; i < 10; i++) s.observe('e', 'payments', 200, 10, 60_010)
    expect(row('d', 60_010).failedBeyondPeers).toBeGreaterThan(6)
  })

  it('counts a response in the window it finishes in, also for a client that decided nothing there', () => {
    const s = new ClientStats(10, 1000)
    // a burst of 40 decided in window 0, finishing in window 1 (a loaded machine, slow upstream)
    for (let r = 0; r < 40; r++) s.count('scraper', 'STD', 1, 900)
    s.count('regular', 'STD', 1, 900)
    s.observe('regular', 'r0', 200, 5, 905)
    const w0 = s.snapshot(1100)
    for (let r = 0; r < 40; r++) s.observe('scraper', `r${r}`, r < 4 ? 500 : 200, 300, 1200)
    expect(w0.windowStartMs).toBe(0)
    expect(w0.clients.find((c) => c.clientId === 'scraper')).toMatchObject({
      requests: 40,
      finished: 0,
      distinctRoutes: 0,
    })
    const w1 = s.snapshot(2000)
    expect(w1.windowStartMs).toBe(1000)
    // its routes, latency and errors arrive with its responses, not dropped
    expect(w1.clients).toEqual([
      expect.objectContaining({
        clientId: 'scraper',
        tier: 'STD',
        requests: 0,
        finished: 40,
        errors: 4,
        meanLatencyMs: 300,
        distinctRoutes: 40,
      }),
    ])
  })

  it('exports the last complete window once a window has passed', () => {
    const s = new ClientStats(10, 1000)
    s.count('a', 'STD', 1, 100)
    s.count('b', 'STD', 1, 1100)
    expect(s.snapshot(1200).clients.map((c) => c.clientId)).toEqual(['a'])
    expect(s.snapshot(1200).windowStartMs).toBe(0)
    expect(s.snapshot(5000).clients).toEqual([])
  })

  it('counts a decision at every millisecond around the boundaries once, even when the clock steps back', () => {
    // windows roll on the decision's own time (no timer), so a request can neither be counted twice
    // nor fall between two windows; a decision stamped before the current window counts in it
    const s = new ClientStats(10, 1000)
    const windows = new Map<number, number>()
    let counted = 0
    for (let w = 1; w <= 50; w++) {
      for (const t of [w * 1000 - 2, w * 1000 - 1, w * 1000, w * 1000 - 1, w * 1000 + 1, w * 1000 + 500]) {
        s.count('a', 'STD', 1, t)
        counted++
      }
      const last = s.snapshot(w * 1000 + 600)
      windows.set(last.windowStartMs, last.clients[0]?.requests ?? 0)
    }
    const current = s.current(50_600)
    const total = [...windows.values()].reduce((a, b) => a + b, 0) + current.clients[0]!.requests
    expect(total).toBe(counted)
    expect([...windows.keys()]).toEqual(Array.from({ length: 50 }, (_, i) => i * 1000))
  })
})
