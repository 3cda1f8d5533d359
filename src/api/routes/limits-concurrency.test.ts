import { randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis } from 'ioredis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../../test/helpers/services.js'
import { limitsSchema } from '../../config/limits-schema.js'
import { Limiter } from '../../limits/limiter.js'
import { MemoryLimitStore } from '../../limits/memory.js'
import { redisClientOptions } from '../../limits/redis.js'
import { FileStateBackend, RedisStateBackend, type StateBackend } from '../../limits/state.js'
import { limitsRoutes } from './limits.js'

const redisUp = await serviceAvailable('redis')
const auth = { authorization: 'Bearer s3cret' }

interface Backend {
  name: string
  skip: boolean
  /** a state backend per admin server, all on the same document */
  open(): Promise<{ state: StateBackend; close(): Promise<void> }>
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-cas-'))
const prefix = `vigil-test:${randomUUID()}:`
const backends: Backend[] = [
  {
    name: 'file (embedded)',
    skip: false,
    open: async () => ({
      state: new FileStateBackend(join(dir, 'limits-state.json')),
      close: async () => {},
    }),
  },
  {
    name: 'Redis (scaled out)',
    skip: !redisUp,
    open: async () => {
      const client = new Redis('redis://127.0.0.1:6379', redisClientOptions(2000))
      await new Promise((r) => client.once('ready', r)) // no offline queue: wait as the gateway does
      const state = new RedisStateBackend(client, prefix)
      await state.subscribed()
      return {
        state,
        close: async () => {
          await client.del(`${prefix}state`)
          client.disconnect()
        },
      }
    },
  },
]

/** Retries `check` until it passes: another gateway applies a change when its publish arrives. */
async function eventually(check: () => Promise<void>, timeoutMs = 3_000): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    try {
      return await check()
    } catch (err) {
      if (Date.now() > until) throw err
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}

describe.each(backends)('concurrent admins on the $name state', (b) => {
  // two gateways' admin APIs (or two limiters in one process) on the same state document
  const apps: FastifyInstance[] = []
  const closers: Array<() => Promise<void>> = []
  beforeAll(async () => {
    if (b.skip) return
    for (let i = 0; i < 2; i++) {
      const { state, close } = await b.open()
      const limiter = new Limiter(
        { limits: limitsSchema.parse({ enabled: true, dataDir: dir }), services: ['api'], keyPrefix: 'rl:' },
        { store: new MemoryLimitStore(), state },
      )
      await limiter.start()
      const app = Fastify()
      await app.register(limitsRoutes({ limiter, token: 's3cret' }))
      apps.push(app)
      closers.push(async () => (await app.close(), await limiter.close(), await close()))
    }
  })
  afterAll(async () => {
    for (const c of closers) await c()
  })

  const put = (app: FastifyInstance, url: string, payload: object, headers: Record<string, string> = {}) =>
    app.inject({ method: 'PUT', url, headers: { ...auth, ...headers }, payload })

  it.skipIf(b.skip)('loses no change when admins write different tiers at the same time', async () => {
    const writes = Array.from({ length: 16 }, (_, i) =>
      put(apps[i % 2]!, `/api/limits/tiers/T${i}`, { ratePerSec: i + 1, burst: 10 }),
    )
    expect((await Promise.all(writes)).map((r) => r.statusCode)).toEqual(Array(16).fill(200))
    for (const app of apps)
      await eventually(async () => {
        const tiers = (await app.inject({ method: 'GET', url: '/api/limits/tiers' })).json()
        for (let i = 0; i < 16; i++) expect(tiers[`T${i}`], `T${i}`).toMatchObject({ ratePerSec: i + 1 })
      })
  })

  it.skipIf(b.skip)('lets one of two writers holding the same ETag win; the other gets 412', async () => {
    const [a, c] = apps as [FastifyInstance, FastifyInstance]
    await put(a, '/api/limits/tiers/GOLD', { ratePerSec: 50, burst: 60 })
    let etag = ''
    await eventually(async () => {
      const read = await c.inject({ method: 'GET', url: '/api/limits/tiers/GOLD' })
      expect(read.json()).toMatchObject({ ratePerSec: 50 })
      etag = read.headers.etag as string
    })
    expect(etag).toMatch(/^"[\w-]+"$/)
    const [r1, r2] = await Promise.all([
      put(a, '/api/limits/tiers/GOLD', { ratePerSec: 51, burst: 60 }, { 'if-match': etag }),
      put(c, '/api/limits/tiers/GOLD', { ratePerSec: 52, burst: 60 }, { 'if-match': etag }),
    ])
    expect([r1.statusCode, r2.statusCode].sort()).toEqual([200, 412])
    const lost = r1.statusCode === 412 ? r1 : r2
    const won = r1.statusCode === 200 ? r1 : r2
    expect(lost.headers['content-type']).toContain('application/problem+json')
    expect(lost.json()).toMatchObject({ code: 'VGL_ERR_LIMITS_PRECONDITION_FAILED', status: 412 })
    expect(lost.json().fix).toContain('If-Match')
    // the winner's answer carries the new version, which a GET on either gateway agrees with
    expect(won.headers.etag).not.toBe(etag)
    for (const app of apps)
      await eventually(async () => {
        const again = await app.inject({ method: 'GET', url: '/api/limits/tiers/GOLD' })
        expect(again.headers.etag).toBe(won.headers.etag)
      })
    // the loser retries with the new version and succeeds
    const retry = await put(
      r1.statusCode === 412 ? a : c,
      '/api/limits/tiers/GOLD',
      { ratePerSec: 53, burst: 60 },
      { 'if-match': won.headers.etag as string },
    )
    expect(retry.statusCode).toBe(200)
  })

  it.skipIf(b.skip)('checks If-Match on keys and controls, and If-None-Match: * on create', async () => {
    const [a, c] = apps as [FastifyInstance, FastifyInstance]
    const created = await a.inject({
      method: 'POST',
      url: '/api/limits/keys',
      headers: auth,
      payload: { id: `k-${randomUUID()}`, tier: 'STD' },
    })
    const id = created.json().id as string
    const etag = created.headers.etag as string
    await eventually(async () => {
      expect((await c.inject({ method: 'GET', url: `/api/limits/keys/${id}` })).headers.etag).toBe(etag)
    })
    const patch = (app: FastifyInstance, tag: string, burst: number) =>
      app.inject({
        method: 'PATCH',
        url: `/api/limits/keys/${id}`,
        headers: { ...auth, 'if-match': tag },
        payload: { burst },
      })
    expect((await patch(c, etag, 5)).statusCode).toBe(200)
    expect((await patch(a, etag, 6)).statusCode).toBe(412)
    const revoke = await a.inject({
      method: 'DELETE',
      url: `/api/limits/keys/${id}`,
      headers: { ...auth, 'if-match': etag },
    })
    expect(revoke.statusCode).toBe(412)
    expect((await c.inject({ method: 'GET', url: `/api/limits/keys/${id}` })).json()).toMatchObject({
      burst: 5,
      revoked: false,
    })
    await eventually(async () => {
      expect((await a.inject({ method: 'GET', url: `/api/limits/keys/${id}` })).json()).toMatchObject({
        burst: 5,
      })
    })

    const controls = await a.inject({ method: 'GET', url: '/api/limits/controls' })
    const ok = await c.inject({
      method: 'PUT',
      url: '/api/limits/controls',
      headers: { ...auth, 'if-match': controls.headers.etag as string },
      payload: { tiers: { STD: 0.5 } },
    })
    expect(ok.statusCode).toBe(200)
    const stale = await a.inject({
      method: 'DELETE',
      url: '/api/limits/controls',
      headers: { ...auth, 'if-match': controls.headers.etag as string },
    })
    expect(stale.statusCode).toBe(412)

    expect(
      (await put(a, '/api/limits/tiers/GOLD', { ratePerSec: 1, burst: 1 }, { 'if-none-match': '*' }))
        .statusCode,
    ).toBe(412)
    expect(
      (await put(a, '/api/limits/tiers/NEW', { ratePerSec: 1, burst: 1 }, { 'if-none-match': '*' }))
        .statusCode,
    ).toBe(200)
    expect(
      (await put(a, '/api/limits/tiers/NONE', { ratePerSec: 1, burst: 1 }, { 'if-match': '*' })).statusCode,
    ).toBe(412)
  })
})
