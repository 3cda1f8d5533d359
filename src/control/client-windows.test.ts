/** @module Tests of per-client windows in the control plane: merging gateways, grace, and abusive-client anomalies. */
import { describe, expect, it } from 'vitest'
import { MemoryBus, type Bus, type Inherited, type Subscription } from '../bus/index.js'
import { encodeClientWindow, type ClientWindowMessage, type ClientWindowRow } from '../limits/index.js'
import { LiveAnomalies, type AnomalyRecord } from './anomalies.js'
import { ClientWindows, mergeClientWindows, type MergedClientWindow } from './client-windows.js'

const MIN = 60_000
const T0 = 1_700_000_040_000 - (1_700_000_040_000 % MIN)

function msg(gatewayId: string, i: number, clients: ClientWindowRow[]): ClientWindowMessage {
  return { v: 1, gatewayId, windowStartMs: T0 + i * MIN, windowMs: MIN, clients }
}

const row = (clientId: string, o: Partial<ClientWindowRow> = {}): ClientWindowRow => ({
  clientId,
  tier: 'standard',
  requests: 100,
  errors: 1,
  meanLatencyMs: 50,
  distinctRoutes: 3,
  ...o,
})

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 5))
}

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

/** 40 clients with stable habits; window i. */
function population(r: () => number): (i: number) => ClientWindowRow[] {
  const habits = Array.from({ length: 40 }, (_, k) => ({
    rate: k === 0 ? 30_000 : Math.exp(3 + 2 * r()),
    latency: 40 + 60 * r(),
    routes: 1 + Math.floor(6 * r()),
  }))
  return () =>
    habits.map((h, k) => {
      const requests = Math.max(1, Math.round(h.rate * (0.8 + 0.4 * r())))
      return row(`key-${k}`, {
        requests,
        errors: Math.round(requests * 0.01 * r()),
        meanLatencyMs: h.latency * (0.9 + 0.2 * r()),
        distinctRoutes: h.routes,
      })
    })
}

describe('per-client windows in the control plane', () => {
  it('merges the gateways of a window: counts add up (refusals count as errors), latency weighted by requests, routes the largest', () => {
    const merged = mergeClientWindows([
      msg('gw-a', 0, [
        row('k1', { requests: 100, errors: 2, refused: 4, meanLatencyMs: 10, distinctRoutes: 3 }),
      ]),
      msg('gw-b', 0, [
        row('k1', { requests: 300, errors: 1, meanLatencyMs: 30, distinctRoutes: 5 }),
        row('k2', { requests: 7 }),
      ]),
    ])
    expect(merged).toEqual([
      { clientId: 'k1', requests: 400, errors: 7, meanLatencyMs: 25, distinctRoutes: 5 },
      { clientId: 'k2', requests: 7, errors: 1, meanLatencyMs: 50, distinctRoutes: 3 },
    ])
  })

  it('takes a row by its finished responses and refusals when the gateway sends them', () => {
    // gw-a decided 100 and refused 4; 60 responses finished in this window (the rest in the next)
    const merged = mergeClientWindows([
      msg('gw-a', 0, [row('k1', { requests: 104, refused: 4, finished: 60, errors: 3, meanLatencyMs: 10 })]),
      msg('gw-b', 0, [row('k1', { requests: 5, finished: 20, errors: 0, meanLatencyMs: 50 })]),
      // k2's requests are all still in flight: no row
      msg('gw-c', 0, [row('k2', { requests: 30, finished: 0, errors: 0 })]),
    ])
    expect(merged).toEqual([
      { clientId: 'k1', requests: 84, errors: 7, meanLatencyMs: 20, distinctRoutes: 3 },
    ])
  })

  it("counts as errors what the client did itself: refusals at its own limit, 4xx, failures beyond its peers'", () => {
    const merged = mergeClientWindows([
      // 60 refused, 8 of them at its own limit (the rest by defensive mode and its abusive-client
      // limit); 30 of its 40 answers failed, 2 beyond what its peers on the same routes got
      msg('gw-a', 0, [
        row('k1', {
          requests: 100,
          refused: 60,
          refusedOwn: 8,
          finished: 40,
          errors: 30,
          clientErrors: 1,
          failedBeyondPeers: 2,
        }),
      ]),
      // a gateway from before these counts: its error responses and refusals, as they were
      msg('gw-b', 0, [row('k1', { requests: 10, refused: 1, finished: 9, errors: 1 })]),
    ])
    expect(merged).toEqual([
      { clientId: 'k1', requests: 110, errors: 8 + 1 + 2 + (1 + 1), meanLatencyMs: 50, distinctRoutes: 3 },
    ])
  })

  it('closes a window once its grace has passed, oldest first; a late gateway is counted, a repeat replaces', () => {
    let now = T0
    const out: MergedClientWindow[] = []
    const bus = new MemoryBus()
    const cw = new ClientWindows({
      bus,
      subject: 's',
      durable: 'd',
      graceMs: 5_000,
      now: () => now,
      onWindow: (w) => out.push(w),
    })
    cw.add(msg('gw-a', 1, [row('k1')]))
    cw.add(msg('gw-a', 0, [row('k1', { requests: 1 })]))
    cw.add(msg('gw-a', 0, [row('k1', { requests: 2 })])) // a redelivery: replaces
    cw.add(msg('gw-b', 0, [row('k1', { requests: 3 })]))
    now = T0 + MIN + 4_999
    cw.tick()
    expect(out).toEqual([])
    now = T0 + 2 * MIN + 5_000
    cw.tick()
    expect(out.map((w) => [w.windowStartMs - T0, w.gateways, w.clients[0]!.requests])).toEqual([
      [0, 2, 5],
      [MIN, 1, 100],
    ])
    cw.add(msg('gw-c', 0, [row('k1')]))
    expect(cw.stats.late).toBe(1)
  })

  it('a successor gets the windows a dead consumer had buffered: they are acked only once closed', async () => {
    const bus = new MemoryBus()
    const enc = (gw: string, i: number, requests: number) =>
      encodeClientWindow(msg(gw, i, [row('k1', { requests })]))
    const opts = { bus, subject: 'vigil.clients', durable: 'ctl-clients', graceMs: 5_000 }
    // the leader buffers gw-a's window 0 and dies in its grace period: its subscription goes,
    // nothing is closed or acked
    const subs: Subscription[] = []
    const dying: Bus = {
      ...bus,
      kind: 'memory',
      publish: (s, d, o) => bus.publish(s, d, o),
      close: () => bus.close(),
      subscribe: async (s, h, o) => {
        const sub = await bus.subscribe(s, h, o)
        subs.push(sub)
        return sub
      },
    }
    const dead = new ClientWindows({ ...opts, bus: dying, now: () => T0, onWindow: () => {} })
    await dead.start()
    await bus.publish('vigil.clients', enc('gw-a', 0, 100))
    await until(() => dead.stats.messages === 1)
    await subs[0]!.close()
    // gw-b publishes the same window after the kill
    await bus.publish('vigil.clients', enc('gw-b', 0, 300))
    const out: MergedClientWindow[] = []
    const next = new ClientWindows({ ...opts, now: () => T0 + MIN + 5_000, onWindow: (w) => out.push(w) })
    await next.start()
    await until(() => next.stats.messages === 2)
    next.tick()
    // both gateways, not gw-b's quarter of k1's requests alone
    expect(out.map((w) => [w.gateways, w.clients[0]!.requests])).toEqual([[2, 400]])
    expect(next.stats.inherited).toMatchObject({ held: 1, missing: 0 })
    await next.stop()
    await bus.close()
  })

  it('after a takeover closes no window until the inherited ones came back, then all in window order', async () => {
    const bus = new MemoryBus()
    let release!: (x: Inherited) => void
    const inherited = new Promise<Inherited>((r) => (release = r))
    const taking: Bus = {
      kind: 'memory',
      publish: (s, d, o) => bus.publish(s, d, o),
      close: () => bus.close(),
      subscribe: async (s, h, o) => ({ close: (await bus.subscribe(s, h, o)).close, inherited }),
    }
    const out: MergedClientWindow[] = []
    const cw = new ClientWindows({
      bus: taking,
      subject: 'vigil.clients',
      durable: 'ctl-clients',
      graceMs: 5_000,
      now: () => T0 + 2 * MIN + 5_000,
      onWindow: (w) => out.push(w),
    })
    await cw.start()
    // the window after the dead leader's comes first, and is due
    cw.add(msg('gw-a', 1, [row('k1')]))
    cw.tick()
    expect(out).toEqual([])
    // the dead leader's window comes back, and with it the last inherited message
    cw.add(msg('gw-a', 0, [row('k1')]))
    release({ held: 1, missing: 0 })
    await inherited
    cw.tick()
    expect(out.map((w) => w.windowStartMs - T0)).toEqual([0, MIN])
    expect(cw.stats.late).toBe(0)
    await cw.stop()
    await bus.close()
  })

  it('consumes the bus: a malformed message is acked and counted, a good one is merged', async () => {
    const bus = new MemoryBus()
    const out: MergedClientWindow[] = []
    const errors: string[] = []
    const cw = new ClientWindows({
      bus,
      subject: 'vigil.clients',
      durable: 'ctl-clients',
      graceMs: 0,
      now: () => T0 + 10 * MIN,
      onWindow: (w) => out.push(w),
      onError: (e) => errors.push(e.message),
    })
    await cw.start()
    await bus.publish('vigil.clients', new TextEncoder().encode('not json'))
    await bus.publish('vigil.clients', encodeClientWindow(msg('gw-a', 0, [row('k1')])))
    await new Promise((r) => setTimeout(r, 20))
    cw.tick()
    expect(errors).toEqual(['cannot decode client window: not JSON'])
    expect(cw.stats.decodeErrors).toBe(1)
    expect(out.map((w) => w.clients.map((c) => c.clientId))).toEqual([['k1']])
    await cw.stop()
    await bus.close()
  })

  it('LiveAnomalies opens one explained client anomaly for a scraper, resolves it when it leaves, and survives a restore', () => {
    const live = new LiveAnomalies({ clearAfter: 3 })
    const seen: string[] = []
    live.on('anomaly', (r: AnomalyRecord, t: string) => seen.push(`${t}:${r.key}`))
    const next = population(rng(3))
    const windows = Array.from({ length: 90 }, (_, i) => {
      const clients = next(i)
      if (i >= 70 && i < 75) clients.push(row('scraper', { requests: 400, distinctRoutes: 200 }))
      return clients
    })
    windows
      .slice(0, 72)
      .forEach((clients, i) => live.clientWindow({ windowStartMs: T0 + i * MIN, windowMs: MIN, clients }))
    const open = live.openAnomalies()
    expect(open.map((r) => [r.key, r.level, r.metric, r.openedAtMs - T0])).toEqual([
      ['client:scraper', 'client', 'client', 70 * MIN],
    ])
    expect(open[0]!.children.map((c) => c.key)).toContain('distinctRoutes')
    expect(open[0]!.children.find((c) => c.key === 'distinctRoutes')?.observed).toBe(200)
    const restored = new LiveAnomalies({ clearAfter: 3 })
    restored.restore(structuredClone(live.snapshot()))
    expect(restored.openAnomalies()).toEqual(open)
    const again: string[] = []
    restored.on('anomaly', (r: AnomalyRecord, t: string) => again.push(`${t}:${r.key}`))
    windows.slice(72).forEach((clients, k) => {
      const w = { windowStartMs: T0 + (72 + k) * MIN, windowMs: MIN, clients }
      live.clientWindow(w)
      restored.clientWindow(w)
    })
    expect(seen).toEqual(['opened:client:scraper', 'resolved:client:scraper'])
    expect(again).toEqual(['resolved:client:scraper'])
    expect(live.openAnomalies()).toEqual([])
  })
})
