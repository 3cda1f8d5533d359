/**
 * Scaled out, real processes: two `vigil gateway` processes sharing one client's bucket in Redis,
 * and `vigil control`. The control plane's Rate limits page and `GET /api/limits/clients` list the
 * heaviest clients of the gateways' windows merged: one client's requests and refusals on both
 * gateways, as one limiter would have counted them.
 */
import { describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { poll, scaledOut, sleep, stop } from './control-support.js'

const up =
  (await serviceAvailable('nats')) &&
  (await serviceAvailable('postgres')) &&
  (await serviceAvailable('redis'))
const WINDOW_MS = 3000
const KEY = 'acme-secret-0123456789'

interface ClientRow {
  clientId: string
  tier: string
  requests: number
  refused: number
  bucketFill: number
}
interface Window {
  windowStartMs: number
  gateways?: number
  clients: ClientRow[]
}

describe.skipIf(!up)("vigil control's heaviest clients", { timeout: 90_000 }, () => {
  const w = scaledOut({
    name: 'ctlclients',
    config: () => ({
      limits: {
        enabled: true,
        store: 'redis',
        redis: {
          url: 'redis://127.0.0.1:6379',
          keyPrefix: `vigil-it-ctlclients-${process.pid}-${Date.now()}:`,
        },
        tiers: { STD: { ratePerSec: 2, burst: 5 } },
        keys: [{ id: 'acme', key: KEY, tier: 'STD' }],
        stats: { windowMs: WINDOW_MS },
      },
    }),
  })

  it('are every gateway’s window merged: one client’s requests and refusals on both add up', async () => {
    const [control, a, b] = await Promise.all([
      w.startControl(),
      w.startGateway('gw-a'),
      w.startGateway('gw-b'),
    ])
    try {
      // all requests inside one window of the limiter's statistics, well clear of its edges
      while (Date.now() % WINDOW_MS > 200) await sleep(20)
      const windowStartMs = Date.now() - (Date.now() % WINDOW_MS)
      const statuses = await Promise.all(
        [a.url, b.url].flatMap((url) =>
          Array.from({ length: 15 }, () =>
            fetch(`${url}/orders/x`, { headers: { 'x-api-key': KEY } }).then(async (r) => {
              await r.arrayBuffer()
              return r.status
            }),
          ),
        ),
      )
      expect(Date.now()).toBeLessThan(windowStartMs + WINDOW_MS)
      const refused = statuses.filter((s) => s === 429).length
      expect(statuses.length - refused).toBeGreaterThanOrEqual(5) // the shared burst, no more than a few more
      expect(refused).toBeGreaterThan(0)

      const got = await poll(
        async () =>
          (
            (await (await fetch(`${control.url}/api/limits/clients`)).json()) as {
              last: Window | null
            }
          ).last,
        (last) => last !== null && last.windowStartMs === windowStartMs,
        'the merged window of the requests',
        30_000,
      )
      expect(got!.gateways).toBe(2)
      expect(got!.clients).toEqual([
        expect.objectContaining({ clientId: 'acme', tier: 'STD', requests: 30, refused }),
      ])
    } finally {
      await stop(control, a, b)
    }
  })
})
