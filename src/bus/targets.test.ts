import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { freshTargetStreams } from '../../test/helpers/target-streams.js'
import { connect } from '@nats-io/transport-node'
import { jetstreamManager } from '@nats-io/jetstream'
import type { Bus, Subscription } from './bus.js'
import { NatsBus } from './nats.js'
import { BusTargetPool, encodeTargets, followTargets } from './targets.js'

const up = await serviceAvailable('nats')

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!check() && Date.now() < end) await new Promise((ok) => setTimeout(ok, 20))
}

/** A gateway that applies the first list at once and drains each later one when the test says so. */
async function drainingGateway(bus: Bus, subject: string, gatewayId: string) {
  let seen = 0
  let release = () => {}
  await followTargets(
    bus,
    subject,
    async () => {
      if (++seen > 1) await new Promise<void>((ok) => (release = ok))
    },
    undefined,
    gatewayId,
  )
  return { seen: () => seen, drain: () => release() }
}

describe.skipIf(!up)('targets over NATS JetStream', { timeout: 30_000 }, () => {
  it('every gateway applies the newest list per service, a late one too; stale and malformed lists are dropped', async () => {
    const { subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const gw1 = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const gw2 = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    try {
      const applied1 = new Map<string, string[] | null>()
      const bad: string[] = []
      await followTargets(
        gw1,
        subject,
        async (s, urls) => void applied1.set(s, urls === null ? null : [...urls]),
        (w) => bad.push(w),
      )
      const pool = new BusTargetPool(control, subject)
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await pool.setTargets('orders', ['http://10.0.0.2:8080', 'http://10.0.0.3:8080'])
      // null: back to the configured targets (an actuator's replicas left), not an empty list
      await pool.setTargets('payments', ['http://10.0.0.4:8080'])
      await pool.setTargets('payments', null)
      await pool.setTargets('users', [])
      // a list from before the newest one arrives late: ignored
      await control.publish(
        subject,
        encodeTargets({ service: 'orders', urls: ['http://gone:1'], atMs: 1, seq: 99 }),
      )
      await control.publish(subject, new TextEncoder().encode('{"service": 3}'))
      await until(() => bad.length > 0 && applied1.has('users'))
      expect(applied1.get('orders')).toEqual(['http://10.0.0.2:8080', 'http://10.0.0.3:8080'])
      expect(applied1.get('users')).toEqual([])
      expect(applied1.get('payments')).toBeNull()
      expect(bad).toHaveLength(1)

      // a gateway that starts later replays the stream and ends on the same lists
      const applied2 = new Map<string, string[] | null>()
      await followTargets(
        gw2,
        subject,
        async (s, urls) => void applied2.set(s, urls === null ? null : [...urls]),
      )
      await until(() => applied2.has('users'))
      expect(applied2).toEqual(applied1)
    } finally {
      await gw1.close()
      await gw2.close()
      await control.deleteStreams()
      await control.close()
    }
  })

  it('a restarted gateway replays the lists again and no restart leaves a consumer behind', async () => {
    const { tag, subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const nc = await connect({ servers: '127.0.0.1:4222' })
    const jsm = await jetstreamManager(nc)
    const consumers = async () => (await jsm.consumers.list(`T${tag}_TARGETS`).next()).map((c) => c.config)
    try {
      const pool = new BusTargetPool(control, subject)
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await pool.setTargets('orders', ['http://10.0.0.3:8080'])
      for (let run = 0; run < 3; run++) {
        const gw = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
        const applied = new Map<string, string[]>()
        const sub = await followTargets(
          gw,
          subject,
          async (s, urls) => void applied.set(s, [...(urls ?? [])]),
        )
        await until(() => applied.get('orders')?.[0] === 'http://10.0.0.3:8080')
        // each run starts over from the stream: the newest list, not nothing after a restart
        expect(applied.get('orders')).toEqual(['http://10.0.0.3:8080'])
        const live = await consumers()
        expect(live).toHaveLength(1)
        // ephemeral: the server removes it even when the gateway dies without closing it
        expect(live[0].durable_name).toBeUndefined()
        expect(live[0].inactive_threshold).toBeGreaterThan(0)
        if (run === 1) await sub.close()
        await gw.close()
        expect(await consumers()).toEqual([])
      }
    } finally {
      await nc.close()
      await control.deleteStreams()
      await control.close()
    }
  })

  it('the pool resolves once every known gateway applied the list and drained, and stops waiting for a silent one', async () => {
    const { subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const gw = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const warnings: string[] = []
    const pool = new BusTargetPool(control, subject, {
      drainTimeoutMs: 1_000,
      onWarn: (m) => warnings.push(m),
    })
    try {
      await pool.start()
      // the gateway's requests to the dropped targets finish when the test says so
      let drain = () => {}
      const applied: string[][] = []
      const sub = await followTargets(
        gw,
        subject,
        async (_s, urls) => {
          applied.push([...(urls ?? [])])
          if (applied.length > 1) await new Promise<void>((ok) => (drain = ok))
        },
        undefined,
        'gw-a',
      )
      // nobody confirmed anything yet: nothing to wait for
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await until(() => applied.length === 1)
      await new Promise((ok) => setTimeout(ok, 200)) // its confirmation reaches the pool
      let resolved = false
      const swap = pool.setTargets('orders', ['http://10.0.0.3:8080']).then(() => (resolved = true))
      await until(() => applied.length === 2)
      await new Promise((ok) => setTimeout(ok, 300))
      expect(resolved).toBe(false) // applied, not drained
      drain()
      await swap
      expect(warnings).toEqual([])

      // the gateway goes away: the next change waits drainTimeoutMs once, warns, then no more
      await sub.close()
      const t0 = Date.now()
      await pool.setTargets('orders', ['http://10.0.0.4:8080'])
      expect(Date.now() - t0).toBeGreaterThanOrEqual(950)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/gateway gw-a did not confirm the targets of orders within 1000 ms/)
      const t1 = Date.now()
      await pool.setTargets('orders', ['http://10.0.0.5:8080'])
      expect(Date.now() - t1).toBeLessThan(500)
    } finally {
      await pool.close()
      await gw.close()
      await control.deleteStreams()
      await control.close()
    }
  })

  it('a gateway whose connection is gone is forgotten once absent for absentForMs; a slow live one is still waited for', async () => {
    const { subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const slow = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const doomed = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const warnings: string[] = []
    const pool = new BusTargetPool(control, subject, {
      drainTimeoutMs: 15_000,
      probeEveryMs: 200,
      absentForMs: 1_000,
      onWarn: (m) => warnings.push(m),
    })
    let drain = () => {}
    try {
      await pool.start()
      const gwSlow = await drainingGateway(slow, subject, 'gw-slow')
      drain = gwSlow.drain
      let doomedSeen = 0
      await followTargets(doomed, subject, async () => void doomedSeen++, undefined, 'gw-doomed')
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await until(() => gwSlow.seen() === 1 && doomedSeen === 1)
      await new Promise((ok) => setTimeout(ok, 200)) // both confirmations reach the pool

      // gw-doomed's connection goes away without a word (what a SIGKILL leaves); gw-slow is busy
      await doomed.close()
      let resolved = false
      const t0 = Date.now()
      const swap = pool.setTargets('orders', ['http://10.0.0.3:8080']).then(() => (resolved = true))
      await until(() => warnings.length > 0, 5_000)
      // absent from its first probe (one interval in) for absentForMs, not forgotten before
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1_150)
      expect(Date.now() - t0).toBeLessThan(3_000)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(
        /gateway gw-doomed is gone \(nothing answered for it on the bus for [12]\d{3} ms\)/,
      )
      // the live one answers its probes: still waited for, well past absentForMs
      await new Promise((ok) => setTimeout(ok, 2_000))
      expect(resolved).toBe(false)
      drain()
      await swap
      expect(Date.now() - t0).toBeLessThan(6_000)
      expect(warnings).toHaveLength(1)
    } finally {
      drain() // a failed check must not leave the gateway's close waiting on its handler
      await pool.close()
      await slow.close()
      await control.deleteStreams()
      await control.close()
    }
  })

  it('a gateway absent for a blip shorter than absentForMs (a reconnect) is still waited for and confirms', async () => {
    const { subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const conn = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    // the gateway's bus, whose probe answering the test drops and restores: what the server sees
    // of a client that lost its connection and reconnected (its subscriptions sent again)
    let answering: Subscription | null = null
    let aliveAt = ''
    const gw: Bus = {
      kind: conn.kind,
      publish: (s, d, o) => conn.publish(s, d, o),
      subscribe: (s, h, o) => conn.subscribe(s, h, o),
      follow: (s, h) => conn.follow(s, h),
      answer: async (s) => {
        aliveAt = s
        answering = await conn.answer(s)
        return { close: async () => answering?.close() }
      },
      close: () => conn.close(),
    }
    const warnings: string[] = []
    const pool = new BusTargetPool(control, subject, {
      drainTimeoutMs: 10_000,
      probeEveryMs: 100,
      absentForMs: 2_000,
      onWarn: (m) => warnings.push(m),
    })
    let drain = () => {}
    try {
      await pool.start()
      const blip = await drainingGateway(gw, subject, 'gw-blip')
      drain = blip.drain
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await until(() => blip.seen() === 1)
      await new Promise((ok) => setTimeout(ok, 200)) // its confirmation reaches the pool

      let resolved = false
      const t0 = Date.now()
      const swap = pool.setTargets('orders', ['http://10.0.0.3:8080']).then(() => (resolved = true))
      await until(() => blip.seen() === 2)
      // the gateway drops off the server for about 0.8 s: several probes in a row find nobody
      await answering!.close()
      let said = 'unknown' // until the server has the unsubscription
      for (let i = 0; i < 20 && said !== 'absent'; i++) said = await control.probe(aliveAt, 100)
      expect(said).toBe('absent')
      await new Promise((ok) => setTimeout(ok, 800))
      answering = await conn.answer(aliveAt) // back
      await new Promise((ok) => setTimeout(ok, 1_500)) // past absentForMs from the blip's start
      expect(warnings).toEqual([])
      expect(resolved).toBe(false) // still waited for
      drain() // its requests to the dropped target finished: it confirms
      await swap
      expect(Date.now() - t0).toBeLessThan(5_000)
      expect(warnings).toEqual([])
    } finally {
      drain() // a failed check must not leave the gateway's close waiting on its handler
      await pool.close()
      await gw.close()
      await control.deleteStreams()
      await control.close()
    }
  })

  it('a gateway that leaves is forgotten at once, by the running pool and by one that starts later', async () => {
    const { subject, streams } = freshTargetStreams()
    const control = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const gw = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const other = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
    const warnings: string[] = []
    const pool = new BusTargetPool(control, subject, {
      drainTimeoutMs: 3_000,
      onWarn: (m) => warnings.push(m),
    })
    const later = new BusTargetPool(control, subject, {
      drainTimeoutMs: 3_000,
      probeEveryMs: 0, // not probing: a silent gateway is waited for the drain timeout, once
      onWarn: (m) => warnings.push(m),
    })
    try {
      await pool.start()
      const seen = { a: 0, b: 0 }
      const a = await followTargets(gw, subject, async () => void seen.a++, undefined, 'gw-a')
      const b = await followTargets(other, subject, async () => void seen.b++, undefined, 'gw-b')
      await pool.setTargets('orders', ['http://10.0.0.2:8080'])
      await until(() => seen.a === 1 && seen.b === 1)
      await new Promise((ok) => setTimeout(ok, 200)) // both confirmations reach the pool
      // both known: a change waits for both
      await pool.setTargets('orders', ['http://10.0.0.3:8080'])
      expect(seen).toEqual({ a: 2, b: 2 })

      await a.leave()
      await new Promise((ok) => setTimeout(ok, 200))
      const t0 = Date.now()
      await pool.setTargets('orders', ['http://10.0.0.4:8080'])
      expect(Date.now() - t0).toBeLessThan(1_000) // gw-b confirmed; gw-a is not waited for
      expect(seen.b).toBe(3)

      // a pool that starts now replays the history: gw-a applied, then left
      await later.start()
      await new Promise((ok) => setTimeout(ok, 200))
      await b.close() // silent: still waited for, once
      const t1 = Date.now()
      await later.setTargets('orders', ['http://10.0.0.5:8080'])
      const waited = Date.now() - t1
      expect(waited).toBeGreaterThanOrEqual(2_900)
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(/gateway gw-b did not confirm/)
    } finally {
      await pool.close()
      await later.close()
      await gw.close()
      await other.close()
      await control.deleteStreams()
      await control.close()
    }
  })
})
