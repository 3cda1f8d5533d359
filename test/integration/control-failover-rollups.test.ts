/**
 * Scaled out, real processes: two `vigil control` over real NATS JetStream and PostgreSQL, one
 * `vigil gateway`. The leader is SIGKILLed while it holds, unacked, the rollups of traffic just
 * sent (their windows still in the grace period); the standby takes the lease and stores those
 * windows within the rollups' short ack wait (10 s) plus the takeover, not after the minute a
 * long ack wait took, with every request counted exactly once. Under steady traffic, the windows
 * after the kill arrive before those held ones come back: the new leader waits for them, and the
 * detectors judge both in window order (their scores list them), none skipped as a late correction.
 * The per-client windows it held (2 s client windows, one in its grace period at the kill) come
 * back the same way, none missing; its /metrics count what it took over.
 */
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import {
  exitOf,
  poll,
  READY,
  scaledOut,
  send,
  sleep,
  storedCount,
  type ScaledOut,
  type Spawned,
} from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const SERIES = { service: 'orders', route: 'orders', env: 'test-env' }

interface LeaderView {
  leading: boolean
  leader: { holder: string; fencingToken: number | null } | null
}

const leaderOf = async (url: string) =>
  (await (await fetch(`${url}/api/control/leader`)).json()) as LeaderView

/** `control-a` and `control-b` (one of them elected) and gateway `gw-1`. */
async function twoControlsAndAGateway(w: ScaledOut) {
  // all three at once: the gateway needs neither control plane to start serving
  const a = w.spawn('control', 'control-a')
  const b = w.spawn('control', 'control-b')
  const [aUrl, bUrl, gw] = await Promise.all([
    a.waitFor(READY.control),
    b.waitFor(READY.control),
    w.startGateway('gw-1'),
  ])
  const controls = [
    { p: a, url: aUrl },
    { p: b, url: bUrl },
  ]
  const state = await poll(
    () => Promise.all(controls.map((c) => leaderOf(c.url))),
    (s) => s.filter((x) => x.leading).length === 1,
    'exactly one leader',
    20_000,
  )
  const leader = controls[state.findIndex((x) => x.leading)]!
  const standby = controls[state.findIndex((x) => !x.leading)]!
  return { gw, leader, standby }
}

/** SIGKILLs the leader and resolves once the standby leads. */
async function failOver(leader: { p: Spawned }, standby: { url: string }): Promise<void> {
  leader.p.child.kill('SIGKILL')
  await exitOf(leader.p.child)
  await poll(
    () => leaderOf(standby.url),
    (s) => s.leading,
    'the standby leading',
    15_000,
  )
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

  it('the standby stores the held windows within seconds, each request once', async () => {
    const { gw, leader, standby } = await twoControlsAndAGateway(w)

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
      await failOver(leader, standby)

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

describe.skipIf(!up)('a failover under steady traffic', { timeout: 180_000 }, () => {
  const w = scaledOut({
    name: 'inherit',
    config: (_id, dir) => ({
      // a short grace: the windows after the kill are due long before the ack wait brings back
      // the ones the dead leader held
      control: { graceMs: 2_000, leader: { ttlMs: 3_000, renewEveryMs: 500 } },
      forecast: { enabled: false },
      // per-client windows of 2 s: the leader holds one in its grace period most of the time
      limits: { enabled: true, dataDir: join(dir, 'data'), stats: { windowMs: 2_000 } },
    }),
  })

  it('hands the windows the dead leader held to the detectors in order with the ones after', async () => {
    const { gw, leader, standby } = await twoControlsAndAGateway(w)

    // about 10 requests a second in every window, through the kill and after it
    let sending = true
    let sent = 0
    const traffic = (async () => {
      while (sending) {
        const res = await fetch(`${gw.url}/orders/x`)
        await res.arrayBuffer()
        if (res.status === 200) sent++
        await sleep(100)
      }
    })()
    const nc = await connect({ servers: '127.0.0.1:4222' })
    const store = await w.openStore()
    try {
      await sleep(5_000)
      const jsm = await jetstreamManager(nc)
      const stream = `${w.streamPrefix}_ROLLUPS`
      await poll(
        async () =>
          Promise.all([
            jsm.consumers.info(stream, 'vigil-control-rollups'),
            jsm.consumers.info(`${w.streamPrefix}_CLIENTS`, 'vigil-control-clients'),
          ]),
        (infos) => infos.every((info) => info.num_ack_pending > 0),
        'the leader holding rollups and client windows in their grace period',
        5_000,
      )
      const killedAt = Date.now()
      await failOver(leader, standby)
      const leadingAt = Date.now()
      await sleep(Math.max(0, killedAt + 8_000 - Date.now()))
      sending = false
      await traffic
      await poll(
        () => storedCount(store, SERIES),
        (n) => n >= sent,
        `${sent} requests stored`,
        40_000,
      )
      expect(await storedCount(store, SERIES)).toBe(sent)

      const windows = (await store.queryPoints(SERIES, killedAt - 3_000, killedAt + 8_000, 'window')).filter(
        (p) => p.count > 0 && p.startMs >= killedAt - 3_000,
      )
      // what the dead leader had received and not written, and what came after the takeover (the
      // window the new leader started in is partial for its detectors, whatever the failover)
      const held = windows.filter((p) => p.startMs + 1_000 <= killedAt).map((p) => p.startMs)
      const after = windows.filter((p) => p.startMs >= leadingAt).map((p) => p.startMs)
      expect(held.length).toBeGreaterThan(0)
      expect(after.length).toBeGreaterThan(0)
      const key = encodeURIComponent('orders|orders|test-env')
      const scores = await poll(
        async () =>
          (await (await fetch(`${standby.url}/api/series/${key}/scores`)).json()) as { t: number[] },
        (s) => after.every((t) => s.t.includes(t)),
        'the windows after the takeover judged',
        15_000,
      )
      // judged by the new leader's detectors as windows, not skipped as late corrections
      expect(held.filter((t) => !scores.t.includes(t))).toEqual([])
      expect(after.filter((t) => !scores.t.includes(t))).toEqual([])
      // in window order
      expect([...scores.t].sort((x, y) => x - y)).toEqual(scores.t)
      // the new leader says what it took over and how long it held the newer windows for it
      const took = JSON.parse(
        `{${await standby.p.waitFor(/"consumer":"rollups",("held":\d+,"missing":\d+,"waitedMs":\d+)[^\n]*"msg":"took over a previous consumer/, 1_000)}}`,
      ) as { held: number; missing: number; waitedMs: number }
      expect(took.held).toBeGreaterThan(0)
      expect(took.missing).toBe(0)
      expect(took.waitedMs).toBeLessThan(12_000)
      // and its /metrics count the same
      const metrics = await (await fetch(`${standby.url}/metrics`)).text()
      const sample = (line: string) => Number(metrics.match(new RegExp(`^${line} (\\S+)$`, 'm'))?.[1])
      expect(sample('vigil_control_inherited_total\\{consumer="rollups",outcome="returned"\\}')).toBe(
        took.held,
      )
      expect(sample('vigil_control_inherited_total\\{consumer="rollups",outcome="missing"\\}')).toBe(0)
      expect(sample('vigil_control_inherited_wait_seconds_count\\{consumer="rollups"\\}')).toBe(1)
      // the client windows it held came back too, and none was judged before them (or after
      // a newer one: then it would be dropped as late)
      const clients = JSON.parse(
        `{${await standby.p.waitFor(/"consumer":"clients",("held":\d+,"missing":\d+,"waitedMs":\d+)[^\n]*"msg":"took over a previous consumer/, 1_000)}}`,
      ) as { held: number; missing: number }
      expect(clients.held).toBeGreaterThan(0)
      expect(clients.missing).toBe(0)
      expect(sample('vigil_control_inherited_total\\{consumer="clients",outcome="returned"\\}')).toBe(
        clients.held,
      )
      const clientsAfter = await jsm.consumers.info(`${w.streamPrefix}_CLIENTS`, 'vigil-control-clients')
      expect(clientsAfter.num_ack_pending).toBeLessThanOrEqual(2) // the windows in their grace now
      console.log(`the new leader held its windows ${took.waitedMs} ms for ${took.held} inherited rollups`)
    } finally {
      sending = false
      await traffic
      await store.close()
      await nc.close()
    }
  })
})
