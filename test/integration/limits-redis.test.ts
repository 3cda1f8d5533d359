/**
 * Acceptance, Redis store: four `vigil gateway` processes sharing the Redis on 127.0.0.1:6379
 * limit one client exactly as one would, and a tier update through the admin API reaches all four
 * within a second.
 */
import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import {
  BUILT,
  gatewayConfig,
  hammer,
  spawnGateway,
  startUpstream,
  adminUrlOf,
  calibrateStd,
  writeConfig,
  type GatewayProcess,
} from './limits-support.js'

const redisUp = await serviceAvailable('redis')
if (!BUILT) process.stderr.write('skipping limits-redis: dist/ is missing; run `npm run build` first\n')

describe.skipIf(!redisUp || !BUILT)('rate limits shared through Redis by four gateway processes', () => {
  const prefix = `vigil-it-${randomUUID()}:`
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  let gateways: GatewayProcess[] = []
  const redis = new Redis('redis://127.0.0.1:6379', { lazyConnect: true })

  beforeAll(async () => {
    upstream = await startUpstream()
    const file = writeConfig(
      gatewayConfig(upstream.url, {
        store: 'redis',
        // generous bound: this test is about exactness, not about the fallback under CPU load
        redis: { url: 'redis://127.0.0.1:6379', keyPrefix: prefix, timeoutMs: 2000 },
      }),
    )
    gateways = await Promise.all([1, 2, 3, 4].map(() => spawnGateway(file)))
  })

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await upstream?.close()
    await redis.connect().catch(() => {})
    const keys = await redis.keys(`${prefix}*`)
    if (keys.length > 0) await redis.del(...keys)
    redis.disconnect()
  })

  it('admits between 0.95(B + R·T) and B + R·T + 1 with requests spread over all four', async () => {
    const urls = gateways.map((g) => `${g.url}/x`)
    const { R, B } = await calibrateStd(await adminUrlOf(gateways[0]!), urls, 12)
    const r = await hammer({ urls, durationMs: 4000, concurrency: 12 })
    const Tmax = r.elapsedMs / 1000
    const Tmin = r.decisionSpanMinMs / 1000
    if (!r.statuses.has(429))
      console.log(JSON.stringify({ s: [...r.statuses], Tmin, Tmax }), gateways[0]!.log().slice(0, 3000))
    expect(r.failures).toBe(0)
    expect([...r.statuses.keys()].sort()).toEqual([200, 429])
    expect(r.admitted).toBeLessThanOrEqual(B + R * Tmax + 1)
    expect(r.admitted).toBeGreaterThanOrEqual(0.95 * (B + R * Tmin))
    // no gateway fell back to local limits during the run
    for (const g of gateways) expect(g.log()).not.toContain('Redis unavailable')
  })

  it('applies a tier update made through the admin API on all four gateways within one second', async () => {
    // The admin API starts after the gateway; give it time on a loaded machine.
    const deadline = Date.now() + 30_000
    while (gateways[0]!.adminUrl() === null && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100))
    const admin = gateways[0]!.adminUrl()
    expect(admin, 'gateway 1 never logged "admin API listening"').not.toBeNull()
    const put = await fetch(`${admin}/api/limits/tiers/STD`, {
      method: 'PUT',
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({ ratePerSec: 7, burst: 9, reason: 'acceptance test' }),
    })
    expect(put.status).toBe(200)
    const changedAt = performance.now()
    const seenAfterMs = await Promise.all(
      gateways.map(async (g) => {
        for (;;) {
          const res = await fetch(`${g.url}/x`)
          await res.arrayBuffer()
          if (res.headers.get('ratelimit-policy') === '"std";q=9;w=2') return performance.now() - changedAt
          if (performance.now() - changedAt > 5000) return Infinity
          await new Promise((r) => setTimeout(r, 20))
        }
      }),
    )
    for (const ms of seenAfterMs) expect(ms).toBeLessThan(1000)
  })
})
