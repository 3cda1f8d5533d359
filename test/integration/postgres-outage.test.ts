/**
 * PostgreSQL going away under `vigil control`, black box. The control plane reaches PostgreSQL
 * through a TCP proxy the test cuts (the shared server keeps running for everyone else) while a
 * gateway sends 30 series a window over NATS. During the cut nothing is acked (the consumer's ack
 * floor stands still), the control plane holds no more than `control.maxInFlight` unacked rollups
 * and stays up; once PostgreSQL is reachable again every request is stored exactly once.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { poll, scaledOut, sleep, stop, storedCount } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const PG = { host: '127.0.0.1', port: 5432 }
const ROUTES = 30
const MAX_IN_FLIGHT = 100

describe.skipIf(!up)('PostgreSQL cut off under vigil control', () => {
  let proxy: TcpProxy
  let nc: NatsConnection
  const w = scaledOut({
    name: 'pgout',
    config: () => ({
      routes: Array.from({ length: ROUTES }, (_, i) => ({
        name: `r${i}`,
        path: `/r${i}`,
        service: 'orders',
      })),
      telemetry: { spans: { sampleRate: 0 } },
      store: { url: `postgres://postgres@127.0.0.1:${proxy.port}/test` },
      control: { maxInFlight: MAX_IN_FLIGHT },
      detect: { enabled: false },
      forecast: { enabled: false },
    }),
  })

  beforeAll(async () => {
    proxy = await startTcpProxy(PG)
    nc = await connect({ servers: '127.0.0.1:4222' })
  }, 120_000)
  afterAll(async () => {
    await proxy?.close()
    await nc?.close()
  })

  it(
    'acks nothing while PostgreSQL is away, holds at most maxInFlight, and stores everything after',
    { timeout: 240_000 },
    async () => {
      // both at once: the traffic starts once both serve
      const [control, gw] = await Promise.all([w.startControl(), w.startGateway('gw-1')])
      const jsm = await jetstreamManager(nc)
      const consumer = () => jsm.consumers.info(`${w.streamPrefix}_ROLLUPS`, 'vigil-control-rollups')

      let sent = 0
      let failed = 0
      let stopped = false
      const load = (async () => {
        while (!stopped) {
          const batch = Array.from({ length: ROUTES }, (_, i) =>
            fetch(`${gw.url}/r${i}`).then(
              async (r) => (await r.arrayBuffer(), r.status === 200 ? sent++ : failed++),
              () => failed++,
            ),
          )
          await Promise.all(batch)
          await sleep(250)
        }
      })()

      await sleep(3_000)
      await proxy.cut()
      await sleep(2_500) // windows closed before the cut are written and acked by now, or naked
      const atCut = await consumer()
      await sleep(6_000)
      const late = await consumer()
      // nothing acked while the store is away, and the control plane holds no more than its bound
      expect(late.ack_floor.stream_seq).toBe(atCut.ack_floor.stream_seq)
      expect(late.num_ack_pending).toBeLessThanOrEqual(MAX_IN_FLIGHT)
      // the gateway kept publishing: rollups wait in the stream beyond what is held
      expect(late.num_pending + late.num_ack_pending).toBeGreaterThan(MAX_IN_FLIGHT)
      expect(control.child.exitCode, control.log().slice(-3000)).toBeNull()

      await proxy.restore()
      await sleep(2_000)
      stopped = true
      await load
      expect(failed).toBe(0)
      await stop(gw)

      const store = await w.openStore()
      try {
        const counted = () => storedCount(store, { service: 'orders', route: '*', env: 'test-env' })
        // redelivered within the outage's length (at most 30 s) after the store is back
        await poll(counted, (n) => n >= sent, `${sent} requests stored`, 90_000).catch(() => undefined)
        await sleep(1_500)
        expect(await counted()).toBe(sent)
        const info = await poll(
          consumer,
          (c) => c.num_ack_pending === 0 && c.num_pending === 0,
          'all acked',
          30_000,
        )
        expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq)
      } finally {
        await store.close()
        await stop(control)
      }
    },
  )
})
