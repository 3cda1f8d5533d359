import { describe, expect, it } from 'vitest'
import { MemoryBus, type Bus } from '../bus/index.js'
import {
  ClientWindowPublisher,
  decodeClientWindow,
  encodeClientWindow,
  mergeClientStats,
  type ClientWindowMessage,
} from './client-windows.js'
import type { ClientStatsSnapshot } from './stats.js'

const enc = new TextEncoder()

function window(startMs: number, clients = 1): ClientStatsSnapshot {
  return {
    windowStartMs: startMs,
    windowMs: 60_000,
    clients: Array.from({ length: clients }, (_, i) => ({
      clientId: `key-${i}`,
      tier: 'standard',
      requests: 10 + i,
      overcount: 0,
      errors: i,
      refused: 2 * i,
      refusedOwn: i,
      clientErrors: 0,
      failedBeyondPeers: i / 2,
      finished: 10 - i,
      errorRate: i / (10 + i),
      meanLatencyMs: 12.5,
      distinctRoutes: 2,
      bucketFill: 0.5,
    })),
  }
}

describe('client windows on the bus', () => {
  it('round-trips a message and rejects malformed ones naming the field', () => {
    const m: ClientWindowMessage = {
      v: 1,
      gatewayId: 'gw-1',
      windowStartMs: 60_000,
      windowMs: 60_000,
      clients: [{ clientId: 'k', tier: 't', requests: 3, errors: 1, meanLatencyMs: 4, distinctRoutes: 1 }],
    }
    expect(decodeClientWindow(encodeClientWindow(m))).toEqual(m)
    expect(() => decodeClientWindow(enc.encode('{'))).toThrow(/client window: not JSON/)
    expect(() => decodeClientWindow(enc.encode(JSON.stringify({ ...m, v: 2 })))).toThrow(/unknown version 2/)
    expect(() => decodeClientWindow(enc.encode(JSON.stringify({ ...m, gatewayId: '' })))).toThrow(/gatewayId/)
    const noFinished = { ...m, clients: [{ ...m.clients[0], finished: -2 }] }
    expect(() => decodeClientWindow(enc.encode(JSON.stringify(noFinished)))).toThrow(
      /clients\[0\]\.finished must be a number ≥ 0/,
    )
    const ownRefusals = { ...m, clients: [{ ...m.clients[0], refusedOwn: 'many' }] }
    expect(() => decodeClientWindow(enc.encode(JSON.stringify(ownRefusals)))).toThrow(
      /clients\[0\]\.refusedOwn must be a number ≥ 0/,
    )
    const peers = { ...m, clients: [{ ...m.clients[0], failedBeyondPeers: Number.NaN }] }
    expect(() => decodeClientWindow(enc.encode(JSON.stringify(peers)))).toThrow(
      /clients\[0\]\.failedBeyondPeers must be a number ≥ 0/,
    )
    const overfull = { ...m, clients: [{ ...m.clients[0], bucketFill: 1.5 }] }
    expect(() => decodeClientWindow(enc.encode(JSON.stringify(overfull)))).toThrow(
      /clients\[0\]\.bucketFill must be a number in \[0, 1\]/,
    )
    const bad = { ...m, clients: [{ ...m.clients[0], requests: -1 }] }
    expect(() => decodeClientWindow(enc.encode(JSON.stringify(bad)))).toThrow(
      /clients\[0\]\.requests must be a number ≥ 0/,
    )
  })

  it('publishes each completed window once, never the window being filled', async () => {
    const bus = new MemoryBus()
    const got: ClientWindowMessage[] = []
    await bus.subscribe('vigil.clients', (m) => (got.push(decodeClientWindow(m.data)), m.ack()), {
      durable: 't',
    })
    let stats = { last: window(0), current: window(0) } // before the first window completes
    const p = new ClientWindowPublisher({
      source: () => stats,
      bus,
      subject: 'vigil.clients',
      gatewayId: 'gw-a',
    })
    expect(await p.poll()).toBe(false)
    stats = { last: window(0, 3), current: window(60_000) }
    expect(await p.poll()).toBe(true)
    expect(await p.poll()).toBe(false)
    stats = { last: window(60_000, 2), current: window(120_000) }
    expect(await p.poll()).toBe(true)
    await new Promise((r) => setTimeout(r, 20))
    expect(got.map((m) => [m.gatewayId, m.windowStartMs, m.clients.length])).toEqual([
      ['gw-a', 0, 3],
      ['gw-a', 60_000, 2],
    ])
    expect(got[0]!.clients[1]).toEqual({
      clientId: 'key-1',
      tier: 'standard',
      requests: 11,
      errors: 1,
      refused: 2,
      refusedOwn: 1,
      clientErrors: 0,
      failedBeyondPeers: 0.5,
      finished: 9,
      meanLatencyMs: 12.5,
      distinctRoutes: 2,
      overcount: 0,
      bucketFill: 0.5,
    })
    await bus.close()
  })

  it('a bus that refuses the message is reported, not thrown', async () => {
    const warnings: string[] = []
    const dead = { kind: 'memory', publish: () => Promise.reject(new Error('bus closed')) } as unknown as Bus
    const p = new ClientWindowPublisher({
      source: () => ({ last: window(0), current: window(60_000) }),
      bus: dead,
      subject: 'vigil.clients',
      gatewayId: 'gw-a',
      onWarn: (e) => warnings.push(e.message),
    })
    expect(await p.poll()).toBe(false)
    expect(warnings).toEqual(['bus closed'])
    expect(p.stats.errors).toBe(1)
  })
})

describe('the gateways’ client windows merged for the Rate limits page', () => {
  const row = (over: Partial<ClientWindowMessage['clients'][number]>) => ({
    clientId: 'acme',
    tier: 'PRM',
    requests: 0,
    errors: 0,
    meanLatencyMs: 0,
    distinctRoutes: 1,
    ...over,
  })
  const from = (gatewayId: string, clients: ClientWindowMessage['clients']): ClientWindowMessage => ({
    v: 1,
    gatewayId,
    windowStartMs: 60_000,
    windowMs: 60_000,
    clients,
  })

  it('reads as one limiter would have counted the window: counts add up, the shared bucket at its emptiest', () => {
    const merged = mergeClientStats([
      from('gw-a', [
        row({
          requests: 30,
          refused: 10,
          refusedOwn: 10,
          finished: 20,
          errors: 2,
          meanLatencyMs: 10,
          distinctRoutes: 3,
          bucketFill: 0.4,
        }),
        row({ clientId: 'quiet', tier: 'STD', requests: 5, finished: 5, meanLatencyMs: 4, bucketFill: 0.9 }),
      ]),
      from('gw-b', [
        row({
          requests: 50,
          refused: 20,
          refusedOwn: 15,
          finished: 30,
          errors: 1,
          meanLatencyMs: 20,
          distinctRoutes: 2,
          bucketFill: 0.1,
          overcount: 3,
        }),
      ]),
    ])
    expect(merged.map((c) => c.clientId)).toEqual(['acme', 'quiet']) // heaviest first
    expect(merged[0]).toEqual({
      clientId: 'acme',
      tier: 'PRM',
      requests: 80,
      overcount: 3,
      errors: 3,
      refused: 30,
      refusedOwn: 25,
      clientErrors: 0,
      failedBeyondPeers: 0,
      finished: 50,
      errorRate: 3 / 50,
      meanLatencyMs: (20 * 10 + 30 * 20) / 50,
      distinctRoutes: 3,
      bucketFill: 0.1,
    })
  })

  it('takes an older gateway’s row (no finished, no bucket fill) by its decisions, with a full bucket', () => {
    const [c] = mergeClientStats([from('old', [row({ requests: 8, errors: 2, meanLatencyMs: 5 })])])
    expect(c).toMatchObject({ requests: 8, finished: 8, errorRate: 0.25, meanLatencyMs: 5, bucketFill: 1 })
  })
})
