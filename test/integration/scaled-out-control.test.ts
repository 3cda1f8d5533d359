/**
 * Scaled out, real processes: three `vigil gateway` processes and one `vigil control` over real
 * NATS JetStream and PostgreSQL. The request counts stored per series equal exactly the requests
 * sent; the merged p99 is within 1% of the exact p99 of the latencies the gateways recorded; and
 * `vigil control` SIGKILLed and restarted mid-run loses nothing and double counts nothing.
 *
 * "Exact" is measured against each gateway's access log: it logs the same `latencyMs` the gateway
 * records into its rollup sketch (rounded to 1 µs), for every request (sampleRate 1). The exact
 * p99 uses the sketch's rank definition, the value at rank floor(0.99 × (n − 1)).
 */
import { describe, expect, it } from 'vitest'
import { decodeSketch } from '../../src/store/index.js'
import { serviceAvailable } from '../helpers/services.js'
import { exitOf, poll, scaledOut, send, sleep, stop, storedCount, type Spawned } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const SERIES = { service: 'orders', route: 'orders', env: 'test-env' }

describe.skipIf(!up)(
  'scaled out: 3 × vigil gateway + vigil control over NATS and PostgreSQL',
  { timeout: 300_000 },
  () => {
    const w = scaledOut({ name: 'scaled', accessLog: true }, 300_000)

    it('stores exact counts and p99, and survives a control-plane SIGKILL', async () => {
      // all four at once: no request is sent before every one of them serves
      const ids = ['gw-1', 'gw-2', 'gw-3']
      const [first, ...started] = await Promise.all([
        w.startControl(),
        ...ids.map((id) => w.startGateway(id)),
      ])
      let control: Spawned = first
      const gateways: { p: Spawned; url: string; id: string }[] = started.map((p, i) => ({
        p,
        url: p.url,
        id: ids[i],
      }))
      let sent = 0
      const round = async (n: number) => {
        const res = await Promise.all(gateways.map((g) => send(`${g.url}/orders/x`, n, 5)))
        sent += res.flat().length
        expect(res.flat().every((s) => s === 200)).toBe(true)
      }
      await round(100)
      await sleep(2_500)
      control.child.kill('SIGKILL')
      await exitOf(control.child)
      await round(100) // published to JetStream while no control plane runs
      control = await w.startControl()
      await round(100)
      await stop(...gateways.map((g) => g.p)) // flushes each gateway's last window

      const store = await w.openStore()
      try {
        const counted = () => storedCount(store, SERIES)
        // rollups the killed control plane had received but not acked come back after the ack
        // wait (10 s from their last keep-alive): wait past it with room for a loaded machine
        const stored = await poll(counted, (n) => n >= sent, `${sent} requests stored`, 60_000)
        await sleep(3_000) // redeliveries, if any, must not add
        expect(await counted()).toBe(sent)
        expect(stored).toBe(sent)
        expect(await storedCount(store, { service: '*', route: '*', env: '*' })).toBe(sent)
        const raw = await store.queryRaw(SERIES, 0, Date.now() + 60_000)
        expect(new Set(raw.map((r) => r.gatewayId))).toEqual(new Set(['gw-1', 'gw-2', 'gw-3']))

        // exact p99 of all recorded latencies vs. the p99 of the merged sketches
        const latencies = gateways
          .flatMap((g) => w.accessLog(g.id))
          .map((l) => JSON.parse(l) as { latencyMs?: number })
          .filter((l) => typeof l.latencyMs === 'number')
          .map((l) => l.latencyMs as number)
          .sort((a, b) => a - b)
        expect(latencies).toHaveLength(sent)
        const exact = latencies[Math.floor(0.99 * (latencies.length - 1))]
        const points = await store.queryPoints(SERIES, 0, Date.now() + 60_000, 'window')
        const merged = decodeSketch(points[0].latencySketch)
        for (const p of points.slice(1)) merged.merge(decodeSketch(p.latencySketch))
        expect(merged.count).toBe(sent)
        const p99 = merged.getValueAtQuantile(0.99)
        expect(Math.abs(p99 - exact)).toBeLessThanOrEqual(0.01 * exact + 0.001)
      } finally {
        await store.close()
        await stop(control)
      }
    })
  },
)
