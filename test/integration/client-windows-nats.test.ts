/**
 * Per-client windows over real NATS JetStream: two gateways' publishers and the control plane's
 * consumer on separate connections. The clients stream captures the subject, a window published
 * twice by one gateway (a restart, a retry) is stored once, and the consumer merges the gateways.
 */
import { randomBytes } from 'node:crypto'
import { afterAll, describe, expect, it } from 'vitest'
import { NatsBus, defaultStreams } from '../../src/bus/nats.js'
import { ClientWindows, type MergedClientWindow } from '../../src/control/client-windows.js'
import { ClientWindowPublisher, type ClientStatsSnapshot } from '../../src/limits/index.js'
import { serviceAvailable } from '../helpers/services.js'

const up = await serviceAvailable('nats')

function stats(startMs: number, requests: number): ClientStatsSnapshot {
  const row = (clientId: string, n: number) => ({
    clientId,
    tier: 'STD',
    requests: n,
    overcount: 0,
    errors: 1,
    refused: clientId === 'k1' ? 3 : 0,
    finished: n - (clientId === 'k1' ? 3 : 0),
    errorRate: 1 / n,
    meanLatencyMs: 20,
    distinctRoutes: 2,
    bucketFill: 1,
  })
  return { windowStartMs: startMs, windowMs: 60_000, clients: [row('k1', requests), row('k2', 10)] }
}

describe.skipIf(!up)('client windows over NATS JetStream', () => {
  const run = randomBytes(4).toString('hex')
  const subjects = {
    rollups: `vigiltest.${run}.rollups`,
    spans: `vigiltest.${run}.spans`,
    clients: `vigiltest.${run}.clients`,
  }
  const streamPrefix = `VIGILTEST_CW_${run}`
  const buses: NatsBus[] = []

  afterAll(async () => {
    await buses[0]?.deleteStreams()
    for (const b of buses) await b.close()
  })

  it('merges two gateways, each window stored once', async () => {
    const connect = async () => {
      const b = await NatsBus.connect({
        servers: '127.0.0.1:4222',
        streams: defaultStreams(streamPrefix, subjects),
      })
      buses.push(b)
      return b
    }
    const [gwA, gwB, control] = [await connect(), await connect(), await connect()]
    const T = 1_700_000_040_000 - (1_700_000_040_000 % 60_000)
    const pub = (bus: NatsBus, id: string, requests: number) =>
      new ClientWindowPublisher({
        source: () => ({ last: stats(T, requests), current: stats(T + 60_000, 0) }),
        bus,
        subject: subjects.clients,
        gatewayId: id,
      })
    expect(await pub(gwA, 'gw-a', 100).poll()).toBe(true)
    // a restarted gateway publishes the same window again: the duplicate window drops it
    expect(await pub(gwA, 'gw-a', 100).poll()).toBe(true)
    expect(await pub(gwB, 'gw-b', 300).poll()).toBe(true)

    const out: MergedClientWindow[] = []
    let now = T
    const cw = new ClientWindows({
      bus: control,
      subject: subjects.clients,
      durable: `control-${run}`,
      graceMs: 1_000,
      now: () => now,
      onWindow: (w) => out.push(w),
    })
    await cw.start()
    const until = Date.now() + 15_000
    while (cw.stats.messages < 2 && Date.now() < until) await new Promise((r) => setTimeout(r, 50))
    await new Promise((r) => setTimeout(r, 300))
    now = T + 61_000
    cw.tick()
    await cw.stop()
    expect(cw.stats.messages).toBe(2)
    expect(out).toHaveLength(1)
    expect(out[0]!.gateways).toBe(2)
    expect(out[0]!.clients.find((c) => c.clientId === 'k1')).toEqual({
      clientId: 'k1',
      requests: 400,
      errors: 8, // error responses plus the limiter's refusals, both gateways
      meanLatencyMs: 20,
      distinctRoutes: 2,
    })
  })
})
