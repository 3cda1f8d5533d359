/**
 * Scaled out, real processes: two `vigil control` over real NATS JetStream and PostgreSQL, one
 * `vigil gateway`. The leader is SIGKILLed while it holds, unacked, the rollups of traffic just
 * sent (their windows still in the grace period); the standby takes the lease and stores those
 * windows within the rollups' short ack wait (10 s) plus the takeover, not after the minute a
 * long ack wait took, with every request counted exactly once.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { exitOf, poll, READY, scaledOut, send, sleep, storedCount } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const SERIES = { service: 'orders', route: 'orders', env: 'test-env' }

interface LeaderView {
  leading: boolean
  leader: { holder: string; fencingToken: number | null } | null
}

describe.skipIf(!up)('SIGKILL the leading vigil control while it holds rollups', { timeout: 180_000 }, () => {
  const w = scaledOut({
    name: 'ackwait',
    config: () => ({
      // a grace period long enough that the leader surely still holds the windows when it dies
      control: { graceMs: 8_000, leader: { ttlMs: 3_000, renewEveryMs: 500 } },
      detect: { enabled: false },
      forecast: { enabled: false },
    }),
  })
  const leaderOf = async (url: string) =>
    (await (await fetch(`${url}/api/control/leader`)).json()) as LeaderView

  it('the standby stores the held windows within seconds, each request once', async () => {
    const a = w.spawn('control', 'control-a')
    const b = w.spawn('control', 'control-b')
    const controls = [
      { p: a, url: await a.waitFor(READY.control) },
      { p: b, url: await b.waitFor(READY.control) },
    ]
    const gw = await w.startGateway('gw-1')
    const state = await poll(
      () => Promise.all(controls.map((c) => leaderOf(c.url))),
      (s) => s.filter((x) => x.leading).length === 1,
      'exactly one leader',
      20_000,
    )
    const leader = controls[state.findIndex((x) => x.leading)]!
    const standby = controls[state.findIndex((x) => !x.leading)]!

    const nc = await connect({ servers: '127.0.0.1:4222' })
    const store = await w.openStore()
    try {
      const statuses = await send(`${gw.url}/orders/x`, 200, 10)
      expect(statuses.every((s) => s === 200)).toBe(true)
      const sent = statuses.length
      // the last window with traffic closes within a window (1 s) and is published at once
      await sleep(1_500)
      const jsm = await jetstreamManager(nc)
      const stream = `${w.streamPrefix}_ROLLUPS`
      const consumer = await poll(
        async () => {
          const last = (await jsm.streams.info(stream)).state.last_seq
          return { last, info: await jsm.consumers.info(stream, 'vigil-control-rollups') }
        },
        ({ last, info }) => last > 0 && info.delivered.stream_seq === last && info.num_pending === 0,
        'every rollup delivered to the leader',
        10_000,
      )
      // delivered, held for the grace period, neither written nor acked
      expect(consumer.info.num_ack_pending).toBeGreaterThan(0)
      expect(await storedCount(store, SERIES)).toBe(0)

      const killedAt = Date.now()
      leader.p.child.kill('SIGKILL')
      await exitOf(leader.p.child)
      await poll(
        () => leaderOf(standby.url),
        (s) => s.leading,
        'the standby leading',
        15_000,
      )

      const counted = () => storedCount(store, SERIES)
      // the old 60 s ack wait fails this poll: the bound is the ack wait, the takeover and a write
      await poll(counted, (n) => n >= sent, `${sent} requests stored by the standby`, 30_000)
      const tookMs = Date.now() - killedAt
      expect(tookMs).toBeLessThan(30_000)
      await sleep(3_000) // a second delivery of any rollup must not add
      expect(await counted()).toBe(sent)
      expect(await storedCount(store, { service: '*', route: '*', env: '*' })).toBe(sent)
      const after = await jsm.consumers.info(stream, 'vigil-control-rollups')
      expect(after.num_ack_pending + after.num_pending).toBe(0)
      console.log(`held windows stored ${tookMs} ms after the leader's SIGKILL`)
    } finally {
      await store.close()
      await nc.close()
    }
  })
})
