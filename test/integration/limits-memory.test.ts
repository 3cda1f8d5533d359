/**
 * Acceptance, memory store, through a real `vigil gateway` process: exactness for one hammering
 * client, and priority shedding against a service budget.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  BUILT,
  gatewayConfig,
  hammer,
  adminUrlOf,
  calibrateStd,
  spawnGateway,
  startUpstream,
  writeConfig,
  type GatewayProcess,
} from './limits-support.js'

if (!BUILT) process.stderr.write('skipping limits-memory: dist/ is missing; run `npm run build` first\n')

describe.skipIf(!BUILT)('rate limits, memory store, one gateway process', () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>
  const gateways: GatewayProcess[] = []

  beforeAll(async () => {
    upstream = await startUpstream()
  })
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await upstream.close()
  })

  it('admits between 0.95(B + R·T) and B + R·T + 1 for one client hammering', async () => {
    const file = writeConfig(gatewayConfig(upstream.url, {}))
    const gw = await spawnGateway(file)
    gateways.push(gw)
    const { R, B } = await calibrateStd(await adminUrlOf(gw), [`${gw.url}/x`], 12)
    const r = await hammer({ urls: [`${gw.url}/x`], durationMs: 4000, concurrency: 12 })
    // The server decided within [decisionSpanMin, elapsed]: the bound uses the side that is fair.
    const Tmax = r.elapsedMs / 1000
    const Tmin = r.decisionSpanMinMs / 1000
    expect(r.failures).toBe(0)
    expect([...r.statuses.keys()].sort()).toEqual([200, 429])
    expect(r.admitted).toBeLessThanOrEqual(B + R * Tmax + 1)
    expect(r.admitted).toBeGreaterThanOrEqual(0.95 * (B + R * Tmin))

    // the refusal explains itself: problem+json naming the tier bucket, Retry-After, IETF fields
    let refused: Response | null = null
    for (let i = 0; i < 10 * B && refused === null; i++) {
      const res = await fetch(`${gw.url}/x`)
      if (res.status === 429) refused = res
      else await res.arrayBuffer()
    }
    expect(refused).not.toBeNull()
    expect(refused!.headers.get('content-type')).toContain('application/problem+json')
    expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(refused!.headers.get('ratelimit-policy')).toMatch(/^"std";q=\d+;w=\d+$/)
    expect(refused!.headers.get('ratelimit')).toMatch(/^"std";r=0;t=\d+$/)
    expect(await refused!.json()).toMatchObject({
      status: 429,
      limit: 'tier',
      tier: 'STD',
      client: 'ip:127.0.0.1',
    })
  })

  it('refuses low routes and Standard clients before critical routes and Premium clients', async () => {
    const file = writeConfig(
      gatewayConfig(
        upstream.url,
        {
          tiers: {
            STD: { ratePerSec: 10_000, burst: 10_000 },
            PRM: { ratePerSec: 10_000, burst: 10_000, rank: 1 },
          },
          keys: [
            { id: 'std-client', key: 'std-secret-1', tier: 'STD' },
            { id: 'prm-client', key: 'prm-secret-1', tier: 'PRM' },
          ],
          services: { api: { ratePerSec: 6, burst: 4 } },
        },
        [
          { name: 'pay', path: '/pay', service: 'api', limit: { priority: 'critical' } },
          { name: 'browse', path: '/browse', service: 'api', limit: { priority: 'low' } },
        ],
      ),
    )
    const gw = await spawnGateway(file)
    gateways.push(gw)
    const combos = [
      { name: 'low/STD', url: `${gw.url}/browse`, key: 'std-secret-1' },
      { name: 'low/PRM', url: `${gw.url}/browse`, key: 'prm-secret-1' },
      { name: 'critical/STD', url: `${gw.url}/pay`, key: 'std-secret-1' },
      { name: 'critical/PRM', url: `${gw.url}/pay`, key: 'prm-secret-1' },
    ]
    // Equal offered load from each of the four, together well over the 6/s budget.
    const results = await Promise.all(
      combos.map((c) =>
        hammer({ urls: [c.url], durationMs: 4000, concurrency: 3, headers: { 'x-api-key': c.key } }),
      ),
    )
    const share = new Map(
      combos.map((c, i) => {
        const r = results[i]!
        const total = [...r.statuses.values()].reduce((a, b) => a + b, 0)
        return [c.name, r.admitted / total]
      }),
    )
    for (const r of results) for (const s of r.statuses.keys()) expect([200, 429]).toContain(s)
    // an unknown key is refused with 401 (identity.unknownKey defaults to reject)
    const bogus = await fetch(`${gw.url}/pay`, { headers: { 'x-api-key': 'not-a-known-key' } })
    expect(bogus.status).toBe(401)
    expect(await bogus.json()).toMatchObject({ code: 'VGL_ERR_LIMITS_UNKNOWN_API_KEY', limit: 'unknown-key' })
    expect(share.get('critical/PRM')!).toBeGreaterThan(share.get('critical/STD')!)
    expect(share.get('critical/STD')!).toBeGreaterThan(share.get('low/PRM')!)
    expect(share.get('low/PRM')!).toBeGreaterThanOrEqual(share.get('low/STD')!)
    expect(share.get('low/STD')!).toBeLessThan(0.5 * share.get('critical/PRM')!)
  })
})
