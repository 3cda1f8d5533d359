/**
 * @module The one behaviour suite every Bus adapter passes (undici `cacheStoreTests` style):
 * call `busContract(name, makeFixture)` from each adapter's test file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { INHERIT_SLACK_MS, type Bus, type BusMessage } from './bus.js'

export interface BusFixture {
  /** a bus connected to the shared backend; call it twice to simulate a second process */
  open(): Promise<Bus>
  /** distinct subjects for this run, each captured by the adapter (NATS: by a stream) */
  subjects: string[]
  /** ack wait to use in redelivery tests, short enough to keep tests quick */
  ackWaitMs: number
  cleanup(): Promise<void>
}

const enc = (s: string) => new TextEncoder().encode(s)
const dec = (b: Uint8Array) => new TextDecoder().decode(b)

async function waitFor(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export function busContract(name: string, make: () => Promise<BusFixture>): void {
  describe(`Bus contract: ${name}`, () => {
    let fx: BusFixture
    let bus: Bus
    let next = 0
    // every test gets its own subject so leftovers of one never reach another
    const subject = () => fx.subjects[next++]!
    const durable = () => `d${next}-${Math.random().toString(36).slice(2, 8)}`

    beforeAll(async () => {
      fx = await make()
      bus = await fx.open()
    })
    afterAll(async () => {
      await bus?.close()
      await fx?.cleanup()
    })

    it('matches interface', () => {
      expect(typeof bus.publish).toBe('function')
      expect(typeof bus.subscribe).toBe('function')
      expect(typeof bus.close).toBe('function')
      expect(['memory', 'nats']).toContain(bus.kind)
    })

    it('delivers messages published before and after subscribing, in order, once each when acked', async () => {
      const s = subject()
      await bus.publish(s, enc('a'))
      const got: string[] = []
      const sub = await bus.subscribe(
        s,
        (m) => {
          got.push(dec(m.data))
          m.ack()
        },
        { durable: durable() },
      )
      await bus.publish(s, enc('b'))
      await bus.publish(s, enc('c'))
      await waitFor(() => got.length >= 3, '3 messages')
      await sleep(300)
      expect(got).toEqual(['a', 'b', 'c'])
      await sub.close()
    })

    it('redelivers a nak-ed message with a higher delivery count', async () => {
      const s = subject()
      const seen: number[] = []
      const sub = await bus.subscribe(
        s,
        (m) => {
          seen.push(m.deliveryCount)
          if (m.deliveryCount === 1) m.nak()
          else m.ack()
        },
        { durable: durable() },
      )
      await bus.publish(s, enc('x'))
      await waitFor(() => seen.length >= 2, 'redelivery')
      expect(seen.slice(0, 2)).toEqual([1, 2])
      await sub.close()
    })

    it('redelivers when the handler throws', async () => {
      const s = subject()
      const seen: number[] = []
      const sub = await bus.subscribe(
        s,
        async (m) => {
          seen.push(m.deliveryCount)
          if (m.deliveryCount === 1) throw new Error('store is down')
          m.ack()
        },
        { durable: durable() },
      )
      await bus.publish(s, enc('x'))
      await waitFor(() => seen.length >= 2, 'redelivery after throw')
      expect(seen[1]).toBe(2)
      await sub.close()
    })

    it('redelivers unacked messages to the next consumer on the same durable after a restart', async () => {
      const s = subject()
      const d = durable()
      const first: BusMessage[] = []
      const sub1 = await bus.subscribe(s, (m) => void first.push(m), { durable: d, ackWaitMs: fx.ackWaitMs })
      for (const v of ['1', '2', '3']) await bus.publish(s, enc(v))
      await waitFor(() => first.length >= 3, 'first delivery')
      await sub1.close() // "crash": nothing acked
      await sleep(100) // over a MessagePort the close travels on another channel than the next subscribe

      const other = await fx.open() // a new process
      const second: string[] = []
      const counts: number[] = []
      const startedAt = Date.now()
      const sub2 = await other.subscribe(
        s,
        (m) => {
          second.push(dec(m.data))
          counts.push(m.deliveryCount)
          m.ack()
        },
        { durable: d, ackWaitMs: fx.ackWaitMs },
      )
      await bus.publish(s, enc('4')) // newer than what the crash left
      // resolves only once the three came back, and no later than about the ack wait
      expect(await sub2.inherited).toEqual({ held: 3, missing: 0 })
      expect(Date.now() - startedAt).toBeLessThan(fx.ackWaitMs + INHERIT_SLACK_MS + 2_000)
      expect(second.filter((v) => v !== '4').sort()).toEqual(['1', '2', '3'])
      await waitFor(() => second.length >= 4, 'the newer message')
      expect(Math.min(...counts.filter((_, i) => second[i] !== '4'))).toBeGreaterThanOrEqual(2)
      await sub2.close()
      await other.close()
    })

    it('inherits nothing on a fresh durable or one whose subscriber settled everything', async () => {
      const s = subject()
      const d = durable()
      let acked = 0
      const sub1 = await bus.subscribe(s, (m) => void (m.ack(), acked++), {
        durable: d,
        ackWaitMs: fx.ackWaitMs,
      })
      expect(await sub1.inherited).toEqual({ held: 0, missing: 0 })
      await bus.publish(s, enc('a'))
      await waitFor(() => acked >= 1, 'delivery')
      await sleep(100) // the ack reaches the bus
      await sub1.close()
      await sleep(100)
      const sub3 = await bus.subscribe(s, (m) => m.ack(), { durable: d, ackWaitMs: fx.ackWaitMs })
      const startedAt = Date.now()
      expect(await sub3.inherited).toEqual({ held: 0, missing: 0 })
      expect(Date.now() - startedAt).toBeLessThan(fx.ackWaitMs / 2)
      await sub3.close()
    })

    it('keeps a message that its consumer says it is still working on past the ack wait', async () => {
      const s = subject()
      // twice the fixture's wait, touched five times per wait: a loaded machine's timer lag
      // stays far inside it
      const ackWaitMs = 2 * fx.ackWaitMs
      const seen: BusMessage[] = []
      const sub = await bus.subscribe(s, (m) => void seen.push(m), { durable: durable(), ackWaitMs })
      await bus.publish(s, enc('held'))
      await waitFor(() => seen.length >= 1, 'first delivery')
      const keep = setInterval(() => seen[0]!.working(), ackWaitMs / 5)
      try {
        await sleep(3 * ackWaitMs)
      } finally {
        clearInterval(keep)
      }
      expect(seen.map((m) => m.deliveryCount)).toEqual([1])
      seen[0]!.ack()
      seen[0]!.working() // after the ack: nothing, and it stays acked
      await sleep(2 * ackWaitMs)
      expect(seen).toHaveLength(1)
      await sub.close()
    })

    it('redelivers a message held without ack or working() once its ack wait ends', async () => {
      const s = subject()
      const seen: { count: number; atMs: number }[] = []
      const sub = await bus.subscribe(
        s,
        (m) => {
          seen.push({ count: m.deliveryCount, atMs: Date.now() })
          if (m.deliveryCount > 1) m.ack()
        },
        { durable: durable(), ackWaitMs: fx.ackWaitMs },
      )
      await bus.publish(s, enc('forgotten'))
      await waitFor(() => seen.length >= 2, 'redelivery after the ack wait', 30_000)
      expect(seen.map((x) => x.count).slice(0, 2)).toEqual([1, 2])
      // not before the wait: a timer may fire a little early, never a whole tenth
      expect(seen[1]!.atMs - seen[0]!.atMs).toBeGreaterThanOrEqual(0.9 * fx.ackWaitMs)
      await sub.close()
    })

    it('drops a second publish with the same msgId', async () => {
      const s = subject()
      const got: string[] = []
      const sub = await bus.subscribe(
        s,
        (m) => {
          got.push(dec(m.data))
          m.ack()
        },
        { durable: durable() },
      )
      await bus.publish(s, enc('once'), { msgId: `${s}/r1` })
      await bus.publish(s, enc('once'), { msgId: `${s}/r1` })
      await bus.publish(s, enc('other'), { msgId: `${s}/r2` })
      await waitFor(() => got.length >= 2, 'two messages')
      await sleep(300)
      expect(got).toEqual(['once', 'other'])
      await sub.close()
    })

    it('gives every durable consumer its own copy', async () => {
      const s = subject()
      const a: string[] = []
      const b: string[] = []
      const subA = await bus.subscribe(s, (m) => (a.push(dec(m.data)), m.ack()), { durable: durable() })
      const subB = await bus.subscribe(s, (m) => (b.push(dec(m.data)), m.ack()), { durable: durable() })
      await bus.publish(s, enc('m'))
      await waitFor(() => a.length === 1 && b.length === 1, 'both consumers')
      await subA.close()
      await subB.close()
    })

    it('carries binary payloads unchanged', async () => {
      const s = subject()
      const payload = new Uint8Array(70_000).map((_, i) => (i * 31) & 0xff)
      let got: Uint8Array | null = null
      const sub = await bus.subscribe(s, (m) => ((got = m.data), m.ack()), { durable: durable() })
      await bus.publish(s, payload)
      await waitFor(() => got !== null, 'payload')
      expect(Buffer.from(got!).equals(Buffer.from(payload))).toBe(true)
      await sub.close()
    })

    it('rejects publish after close with VGL_ERR_BUS_CLOSED', async () => {
      const b = await fx.open()
      await b.close()
      await b.close() // idempotent
      await expect(b.publish(fx.subjects[0]!, enc('late'))).rejects.toMatchObject({
        code: 'VGL_ERR_BUS_CLOSED',
      })
    })
  })
}
