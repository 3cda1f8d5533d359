import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INHERIT_SLACK_MS, type BusMessage } from '../../src/bus/bus.js'
import { serviceAvailable } from '../helpers/services.js'
import { busContract } from '../../src/bus/bus.contract.js'
import { NatsBus } from '../../src/bus/nats.js'

async function poll(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const up = await serviceAvailable('nats')

if (up) {
  // unique streams and subjects per run, deleted afterwards: runs never see each other's data
  const run = randomBytes(4).toString('hex')
  const subjects = Array.from({ length: 12 }, (_, i) => `vigiltest.${run}.s${i}`)
  const streams = [{ name: `VIGILTEST_${run}`, subjects }]

  busContract('NatsBus', async () => {
    const opened: NatsBus[] = []
    return {
      open: async () => {
        const b = await NatsBus.connect({ servers: '127.0.0.1:4222', streams, duplicateWindowMs: 60_000 })
        opened.push(b)
        return b
      },
      subjects,
      ackWaitMs: 1000,
      cleanup: async () => {
        const admin = await NatsBus.connect({ servers: '127.0.0.1:4222', streams })
        await admin.deleteStreams()
        await admin.close()
        for (const b of opened) await b.close()
      },
    }
  })

  describe('NatsBus: a durable that exists with another ack wait', () => {
    const drift = randomBytes(4).toString('hex')
    const subject = `vigiltest.${drift}.rollups`
    const driftStreams = [{ name: `VIGILTEST_DRIFT_${drift}`, subjects: [subject] }]
    let bus: NatsBus
    beforeAll(async () => {
      bus = await NatsBus.connect({ servers: '127.0.0.1:4222', streams: driftStreams })
    })
    afterAll(async () => {
      await bus?.deleteStreams()
      await bus?.close()
    })

    it('takes the ack wait it is subscribed with, for the messages the old one holds too', async () => {
      const nc = await connect({ servers: '127.0.0.1:4222' })
      const jsm = await jetstreamManager(nc)
      const name = `d-${drift}`
      // as a deployment's earlier version left it: a minute's ack wait, one message unacked
      const held: BusMessage[] = []
      const old = await bus.subscribe(subject, (m) => void held.push(m), { durable: name, ackWaitMs: 60_000 })
      await bus.publish(subject, new TextEncoder().encode('held by the old one'))
      await poll(() => held.length === 1, 'the first delivery')
      await old.close() // "dies" without acking
      expect((await jsm.consumers.info(driftStreams[0]!.name, name)).config.ack_wait).toBe(60_000 * 1e6)

      const closedAt = Date.now()
      const again: number[] = []
      const sub = await bus.subscribe(subject, (m) => (again.push(m.deliveryCount), m.ack()), {
        durable: name,
        ackWaitMs: 1_000,
      })
      expect((await jsm.consumers.info(driftStreams[0]!.name, name)).config.ack_wait).toBe(1_000 * 1e6)
      await poll(() => again.length === 1, 'the redelivery under the new ack wait', 20_000)
      expect(again).toEqual([2])
      expect(Date.now() - closedAt).toBeLessThan(20_000) // not the minute the old consumer had
      await sub.close()
      await nc.close()
    })

    it('stops waiting for inherited messages a live predecessor keeps, after the ack wait', async () => {
      const name = `alive-${drift}`
      const held: BusMessage[] = []
      const old = await bus.subscribe(subject, (m) => void held.push(m), { durable: name, ackWaitMs: 1_000 })
      for (const v of ['a', 'b']) await bus.publish(subject, new TextEncoder().encode(v))
      // (with the earlier test's message on this subject: every one there is delivered to a new durable)
      await poll(() => held.length >= 2, 'the first deliveries')
      await new Promise((r) => setTimeout(r, 200))
      // alive (its lease lost, say): it keeps what it holds
      const keep = setInterval(() => held.forEach((m) => m.working()), 200)
      const other = await NatsBus.connect({ servers: '127.0.0.1:4222', streams: driftStreams })
      try {
        const startedAt = Date.now()
        const seen: string[] = []
        const sub = await other.subscribe(subject, (m) => void seen.push(new TextDecoder().decode(m.data)), {
          durable: name,
          ackWaitMs: 1_000,
        })
        expect(await sub.inherited).toEqual({ held: held.length, missing: held.length })
        const waited = Date.now() - startedAt
        expect(waited).toBeGreaterThanOrEqual(1_000)
        expect(waited).toBeLessThan(1_000 + INHERIT_SLACK_MS + 1_500)
        expect(seen).toEqual([])
        await sub.close()
      } finally {
        clearInterval(keep)
        held.forEach((m) => m.ack())
        await old.close()
        await other.close()
      }
    })
  })
} else {
  it.skip('NatsBus contract: NATS is not reachable on 127.0.0.1:4222', () => {})
}
