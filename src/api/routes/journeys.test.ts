/** @module Tests of GET /api/journeys and the what-if over the real journeys and a real store. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { LiveJourneys } from '../../control/journeys.js'
import { createRng } from '../../journeys/rng.js'
import { NO_RETRY_POLICY, fiveServiceTopology, syntheticTrace } from '../../journeys/synthetic.js'
import { SqliteStore } from '../../store/index.js'
import { buildAdminApp } from '../server.js'
import { journeyRoutes } from './journeys.js'

const sources = {
  ready: () => true,
  routes: () => [],
  services: () => [],
  reload: async () => ({ ok: true as const, routes: 0 }),
}

const policy = NO_RETRY_POLICY

describe('GET /api/journeys and the what-if', () => {
  let store: SqliteStore
  let j: LiveJourneys
  let now: number
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    now = Date.now()
    j = new LiveJourneys({
      store,
      windowMs: 1000,
      gatewayEnv: 'edge',
      sampleRate: 1,
      routes: [
        { name: 'shop', service: 'shop', policy },
        { name: 'users', service: 'users', policy },
      ],
      traceWaitMs: 5000,
      maxBufferedSpans: 50_000,
      now: () => now,
    })
    // shop: its services send spans across three envs; users: only the gateway's span
    const rng = createRng(3)
    const topo = fiveServiceTopology()
    for (let i = 0; i < 200; i++) {
      const at = now - 20_000 + i * 50
      j.add(syntheticTrace(topo.shop, { route: 'shop', gatewayEnv: 'edge', startMs: at }, rng).spans, at)
      const traceId = (i + 1).toString(16).padStart(32, '0')
      j.add(
        [
          {
            traceId,
            spanId: 'gw',
            parentSpanId: null,
            service: 'users',
            env: 'edge',
            route: 'users',
            name: 'GET /users',
            kind: 2,
            startTimeMs: at,
            durationMs: 15,
            statusCode: 0,
            httpStatus: 200,
            requestId: `r${i}`,
            source: 'gateway',
            attributes: { 'vigil.attempts': 1, 'vigil.sample_probability': 1 },
          },
        ],
        at,
      )
    }
    j.take(now + 5000)
  })
  afterEach(() => store.close())

  it('lists per route the services its traced journeys reach, and the what-if takes exactly those', async () => {
    const app = await buildAdminApp({ token: 't', sources, env: {}, plugins: [journeyRoutes({ source: j })] })
    try {
      const res = await app.inject('/api/journeys?window=1m')
      expect(res.statusCode).toBe(200)
      const byRoute = new Map(
        (res.json().journeys as { route: string; services: { service: string; env: string }[] }[]).map(
          (x) => [x.route, x.services],
        ),
      )
      expect(byRoute.get('shop')).toEqual([
        { service: 'auth', env: 'onprem' },
        { service: 'inventory', env: 'onprem' },
        { service: 'pricing', env: 'aws' },
        { service: 'reviews', env: 'gcp' },
        { service: 'shop', env: 'onprem' },
      ])
      expect(byRoute.get('users')?.map((s) => s.service)).toEqual(['users'])
      // every service listed for a route is one its what-if simulates
      for (const [route, services] of byRoute)
        for (const s of services) {
          const w = await app.inject(
            `/api/whatif?route=${route}&kind=down&service=${s.service}&env=${s.env}&journeys=1000&seed=1`,
          )
          expect(w.statusCode, `${route} × ${s.service}`).toBe(200)
        }
      // and a service of another route is refused
      const other = await app.inject('/api/whatif?route=users&kind=down&service=pricing&journeys=1000')
      expect(other.statusCode).toBe(400)
    } finally {
      await app.close()
    }
  })

  it('answers a root cause on steady traffic saying that nothing moved, with the ranking still given', async () => {
    const app = await buildAdminApp({ token: 't', sources, env: {}, plugins: [journeyRoutes({ source: j })] })
    try {
      // the traces start in the 10 s before now − 10 s
      const res = await app.inject(`/api/rootcause?route=shop&window=3s&to=${now - 10_000}`)
      expect(res.statusCode, res.body).toBe(200)
      const body = res.json() as { moved: boolean; symptomReason: string; services: unknown[] }
      expect(body.moved).toBe(false)
      expect(body.symptomReason).toMatch(/^nothing moved: error ratio .* → .*, p95 .* → .* ms$/)
      expect(body.services.length).toBeGreaterThan(0)
    } finally {
      await app.close()
    }
  })

  it('names the query parameter and quotes its text when a what-if is asked for badly', async () => {
    const app = await buildAdminApp({ token: 't', sources, env: {}, plugins: [journeyRoutes({ source: j })] })
    try {
      const message = async (query: string) => {
        const r = await app.inject(`/api/whatif?${query}`)
        expect(r.statusCode, query).toBe(400)
        return (r.json() as { message: string }).message
      }
      expect(await message('route=shop&service=pricing')).toBe(
        'kind: expected one of errorRatio, latency, down, replicaLoss, got nothing',
      )
      expect(await message('route=shop&kind=down&service=pricing&seed=abc')).toBe(
        'seed: expected a whole number, got "abc"',
      )
      expect(await message('route=shop&kind=down&service=pricing&journeys=many')).toBe(
        'journeys: expected a whole number from 1000 to 2000000, got "many"',
      )
      // numbers as people write them in a query, not as Number() reads anything
      expect(await message('route=shop&kind=down&service=pricing&journeys=1e3')).toBe(
        'journeys: expected a whole number from 1000 to 2000000, got "1e3"',
      )
      expect(await message('route=shop&kind=down&service=pricing&seed=0x10')).toBe(
        'seed: expected a whole number, got "0x10"',
      )
      expect(await message('route=shop&kind=errorRatio&service=pricing')).toBe(
        'value: expected an error ratio from 0 to 1 (kind=errorRatio needs it), got nothing',
      )
      // a parameter of another kind is refused, not left out of the scenario
      expect(await message('route=shop&kind=down&service=pricing&value=0.5')).toBe(
        'value: kind=down takes no value, got "0.5" (it takes service, env, durationMs)',
      )
      expect(await message('route=shop&kind=down&service=pricing&factor=3')).toBe(
        'factor: kind=down takes no factor, got "3" (it takes service, env, durationMs)',
      )
    } finally {
      await app.close()
    }
  })

  it('names the field, the value as given and the range for every bad limit of a trace search', async () => {
    const app = await buildAdminApp({ token: 't', sources, env: {}, plugins: [journeyRoutes({ source: j })] })
    try {
      for (const v of ['abc', '-1', '0', '1.5', '201', '1e2', '0x10']) {
        const r = await app.inject(`/api/traces?window=1m&limit=${v}`)
        expect(r.statusCode, v).toBe(400)
        expect(r.json(), v).toMatchObject({
          code: 'VGL_ERR_JOURNEYS_QUERY',
          message: `limit: expected a whole number from 1 to 200, got "${v}"`,
          fix: 'send limit as a whole number from 1 to 200 (e.g. limit=20), or leave it out for 20',
        })
      }
      const from = await app.inject('/api/traces?from=yesterday')
      expect(from.json()).toMatchObject({
        code: 'VGL_ERR_JOURNEYS_QUERY',
        message: 'from: expected ms since the epoch or an ISO 8601 time, got "yesterday"',
        fix: 'send from as ms since the epoch (e.g. from=1764000000000) or an ISO 8601 time (e.g. from=2026-01-01T00:00:00Z)',
      })
      const ok = await app.inject('/api/traces?window=1m&limit=3')
      expect(ok.statusCode).toBe(200)
      expect(Array.isArray(ok.json().traces)).toBe(true)
    } finally {
      await app.close()
    }
  })

  it('says how many users were seen, the most users affected can be', async () => {
    j.clientWindow({
      windowStartMs: now - 1000,
      windowMs: 1000,
      gateways: 1,
      clients: ['a', 'b', 'c'].map((clientId) => ({
        clientId,
        requests: 5,
        errors: 0,
        meanLatencyMs: 20,
        distinctRoutes: 2,
      })),
    })
    const a = await j.whatIf({
      route: 'shop',
      scenarios: [{ kind: 'down', service: 'pricing', env: 'aws', durationMs: 600_000 }],
      journeys: 2000,
      seed: 1,
    })
    const [shop] = a.journeys
    expect(shop.usersSeen).toBe(3)
    // down for 10 minutes: every client sends requests then, so all three are hit
    expect(shop.scenario!.usersAffected!.value).toBeCloseTo(3, 6)
  })
})
