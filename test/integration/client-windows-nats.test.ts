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
    refusedOwn: clientId === 'k1' ? 3 : 0,
    clientErrors: 0,
    failedBeyondPeers: 1,
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
    await buses.at(-1)?.deleteStreams()
    for (const b of buses) await b.close()
  })

  const connect = async (prefix = streamPrefix, subs = subjects) => {
    const b = await NatsBus.connect({
      servers: '127.0.0.1:4222',
      streams: defaultStreams(prefix, subs),
    })
    buses.push(b)
    return b
  }

  it('merges two gateways, each window stored once', async () => {
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
      errors: 8, // failures beyond peers plus refusals at the client's own limit, both gateways
      meanLatencyMs: 20,
      distinctRoutes: 2,
    })
  })

  it('a leader that dies holding a window hands it to its successor, judged whole and before the newer one', async () => {
    // streams of its own: none of the other test's windows
    const own = {
      rollups: `${subjects.rollups}-f`,
      spans: `${subjects.spans}-f`,
      clients: `${subjects.clients}-f`,
    }
    const connectOwn = () => connect(`${streamPrefix}_F`, own)
    const [gwA, gwB, dyingBus, nextBus] = [
      await connectOwn(),
      await connectOwn(),
      await connectOwn(),
      await connectOwn(),
    ]
    const T = 1_700_000_040_000 - (1_700_000_040_000 % 60_000) + 600_000
    const publish = (bus: NatsBus, id: string, start: number, requests: number) =>
      new ClientWindowPublisher({
        source: () => ({ last: stats(start, requests), current: stats(start + 60_000, 0) }),
        bus,
        subject: own.clients,
        gatewayId: id,
      }).poll()
    const durable = `failover-${run}`
    // a short ack wait, so the dead leader's window comes back within the test
    const opts = { subject: own.clients, durable, graceMs: 1_000, ackWaitMs: 2_000 }
    const dying = new ClientWindows({ ...opts, bus: dyingBus, now: () => T, onWindow: () => {} })
    await dying.start()
    expect(await publish(gwA, 'gw-a', T, 100)).toBe(true)
    const until = Date.now() + 10_000
    while (dying.stats.messages < 1 && Date.now() < until) await new Promise((r) => setTimeout(r, 20))
    expect(dying.stats.messages).toBe(1)
    // killed in the window's grace period: its connection goes, the window neither closed nor acked
    await dyingBus.close()
    // gw-b's part of that window and the next window of both arrive after the kill
    expect(await publish(gwB, 'gw-b', T, 300)).toBe(true)
    expect(await publish(gwA, 'gw-a', T + 60_000, 100)).toBe(true)
    expect(await publish(gwB, 'gw-b', T + 60_000, 300)).toBe(true)

    const out: MergedClientWindow[] = []
    // both windows due at once: only the inherited hold keeps the newer one from closing first
    const next = new ClientWindows({
      ...opts,
      bus: nextBus,
      now: () => T + 2 * 60_000 + 1_000,
      onWindow: (w) => out.push(w),
    })
    await next.start()
    const by = Date.now() + 10_000
    while (out.length < 2 && Date.now() < by) await new Promise((r) => setTimeout(r, 50))
    await next.stop()
    expect(
      out.map((w) => [w.windowStartMs - T, w.gateways, w.clients.find((c) => c.clientId === 'k2')?.requests]),
    ).toEqual([
      [0, 2, 20],
      [60_000, 2, 20],
    ])
    expect(next.stats.late).toBe(0)
    expect(next.stats.inherited).toMatchObject({ held: 1, missing: 0 })
  })
})
