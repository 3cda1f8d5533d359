/**
 * The gateway's rollup recorder against real NATS JetStream whose stream goes away and comes back:
 * rollups the bus refused meanwhile are kept, retried at the next window boundaries and stored
 * exactly once; nothing is dropped.
 */
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { NatsBus } from '../../src/bus/nats.js'
import { decodeRollup } from '../../src/telemetry/codec.js'
import { RollupRecorder } from '../../src/telemetry/rollup-recorder.js'
import type { Rollup } from '../../src/telemetry/types.js'
import { serviceAvailable } from '../helpers/services.js'

const up = await serviceAvailable('nats')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!up)('RollupRecorder over NATS JetStream: a stream that goes away and comes back', () => {
  it(
    'keeps the refused rollups and stores each once when the stream is back',
    { timeout: 60_000 },
    async () => {
      const run = randomBytes(4).toString('hex')
      const subject = `vigiltest.${run}.rollups`
      const streams = [{ name: `VIGILTEST_RETRY_${run}`, subjects: [subject] }]
      const opts = { servers: '127.0.0.1:4222', streams, publishTimeoutMs: 1000 }
      const bus = await NatsBus.connect(opts)
      const warnings: string[] = []
      const rec = new RollupRecorder({
        bus,
        gatewayId: 'gw-retry',
        windowMs: 300,
        rollupSubject: subject,
        onWarn: (e) => warnings.push(e.message),
      })
      try {
        const orders = rec.series({ service: 'orders', route: 'orders', env: 'test' })
        const ev = { status: 200, outcome: 'ok' as const, latencyMs: 5, bytesIn: 0, bytesOut: 10 }
        const record = (n: number) => {
          for (let i = 0; i < n; i++)
            orders.record({
              ...ev,
              traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
              spanId: '00f067aa0ba902b7',
              parentSpanId: null,
              requestId: `r${i}`,
              method: 'GET',
              path: '/orders',
              target: 'http://127.0.0.1:1',
              attempts: 1,
              startTimeMs: Date.now(),
            })
        }
        record(5)
        await sleep(400) // one window published normally
        await bus.deleteStreams() // the stream is gone: publishes get no JetStream ack
        let sent = 5
        for (let w = 0; w < 4; w++) {
          record(7)
          sent += 7
          await sleep(300)
        }
        await sleep(1500) // the last refusals (ack timeouts of 1 s) come in
        expect(rec.stats().rollupsRetried).toBeGreaterThan(0)
        expect(rec.stats().rollupsDropped).toBe(0)
        // the stream comes back (a new connection creates it); the next boundaries retry
        const again = await NatsBus.connect(opts)
        await again.close()
        await sleep(2500)
        await rec.close()
        expect(rec.stats()).toMatchObject({ rollupsDropped: 0, queued: 0 })
        // the outage is told once when it starts; nothing was dropped, so nothing more
        expect(warnings).toEqual([
          expect.stringMatching(new RegExp(`^publish to ${subject.replace(/\./g, '\\.')} failed: `)),
        ])
        expect(warnings[0]).not.toMatch(/failed: publish to/)

        const got: Rollup[] = []
        const reader = await NatsBus.connect(opts)
        const sub = await reader.subscribe(
          subject,
          (m) => {
            got.push(decodeRollup(m.data))
            m.ack()
          },
          { durable: `reader_${run}` },
        )
        await sleep(1500)
        await sub.close()
        await reader.deleteStreams()
        await reader.close()
        // the first window went to the deleted stream; every later request is stored exactly once
        const after = got.reduce((n, r) => n + r.count, 0)
        expect(after).toBe(sent - 5)
        expect(new Set(got.map((r) => r.windowStartMs)).size).toBe(got.length)
      } finally {
        await rec.close()
        await bus.close()
      }
    },
  )
})
