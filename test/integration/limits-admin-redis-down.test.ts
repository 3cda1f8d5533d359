/**
 * The limits admin API while Redis is down: a private redis-server (never the machine's :6379) is
 * killed under a limiter built as `vigil gateway` builds it. Every call that needs Redis answers
 * one stable 503 naming Redis (without its password) and what to check, never the Redis client's
 * own words; those are logged once per outage, and the calls work again once Redis is back.
 */
import { randomUUID } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { limitsRoutes } from '../../src/api/routes/limits.js'
import { parseConfigText } from '../../src/config/index.js'
import { createAdmission } from '../../src/limits/index.js'
import type { Limiter } from '../../src/limits/limiter.js'
import { freePort, startRedisServer, type RedisServer } from './limits-support.js'

const haveRedisServer = spawnSync('redis-server', ['--version']).status === 0
if (process.env.CI === 'true' && !haveRedisServer)
  throw new Error(
    'limits-admin-redis-down: redis-server is not on PATH (apt-get install redis-server); CI=true requires it',
  )
if (!haveRedisServer) process.stderr.write('skipping limits-admin-redis-down: redis-server is not on PATH\n')

const TOKEN = 's3cret'

describe.skipIf(!haveRedisServer)('limits admin API while Redis is down', () => {
  let port: number
  let redis: RedisServer | null = null
  let limiter: Limiter
  let app: FastifyInstance
  const logs: { level: 'info' | 'warn'; obj: Record<string, unknown>; msg: string }[] = []

  beforeAll(async () => {
    port = await freePort()
    redis = await startRedisServer(port)
    const config = parseConfigText(
      [
        'services: { api: { targets: [http://127.0.0.1:9] } }',
        'routes: [{ path: /, service: api }]',
        'limits:',
        '  enabled: true',
        '  store: redis',
        // the password is ignored by a redis-server without one, and must never be shown
        `  redis: { url: "redis://:hunter2@127.0.0.1:${port}", keyPrefix: "vigil-it-${randomUUID()}:", timeoutMs: 200 }`,
      ].join('\n'),
      'vigil.yaml',
      {},
    )
    limiter = await createAdmission(config, {
      logger: {
        info: (obj, msg = '') => logs.push({ level: 'info', obj: obj as Record<string, unknown>, msg }),
        warn: (obj, msg = '') => logs.push({ level: 'warn', obj: obj as Record<string, unknown>, msg }),
      },
    })
    app = Fastify()
    await app.register(limitsRoutes({ limiter, token: TOKEN }))
  }, 60_000)

  afterAll(async () => {
    await app?.close()
    await limiter?.close()
    await redis?.kill()
  })

  const putTier = (ratePerSec: number) =>
    app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/GOLD',
      headers: { authorization: `Bearer ${TOKEN}` },
      payload: { ratePerSec, burst: 10 },
    })
  const outageWarnings = () => logs.filter((l) => l.level === 'warn' && l.msg.includes('fails admin calls'))

  it('answers a stable 503 naming Redis without its password, logs the cause once, and recovers', async () => {
    expect((await putTier(5)).statusCode).toBe(200)

    await redis!.kill()
    const url = `redis://:***@127.0.0.1:${port}`
    for (let i = 0; i < 3; i++) {
      const r = await putTier(6 + i)
      expect(r.statusCode).toBe(503)
      expect(r.json()).toEqual({
        title: 'Service Unavailable',
        status: 503,
        code: 'VGL_ERR_LIMITS_REDIS_UNAVAILABLE',
        message: `cannot read the limits state: Redis at ${url} is unreachable; check that Redis runs there and that limits.redis.url points at it, then send the request again`,
        fix: 'check that Redis runs at the address named and that limits.redis.url (host, port, password) points at it; the gateway log has the Redis client error. Then send the request again; rate-limit decisions follow limits.fallback meanwhile',
      })
    }
    const buckets = await app.inject({ method: 'GET', url: '/api/limits/buckets/ip:10.0.0.1' })
    expect(buckets.statusCode).toBe(503)
    expect(buckets.json().message).toBe(
      `cannot read the buckets: Redis at ${url} is unreachable; check that Redis runs there and that limits.redis.url points at it, then send the request again`,
    )
    expect(JSON.stringify([buckets.json(), logs])).not.toContain('hunter2')

    // the Redis client's words are in the log, once for the whole outage
    expect(outageWarnings()).toHaveLength(1)
    expect(outageWarnings()[0]!.obj).toEqual({ url, err: expect.any(String) })
    expect(outageWarnings()[0]!.obj.err).not.toBe('')

    redis = await startRedisServer(port)
    const deadline = Date.now() + 20_000
    let status = 0
    while (Date.now() < deadline && (status = (await putTier(9)).statusCode) !== 200)
      await new Promise((r) => setTimeout(r, 100))
    expect(status).toBe(200)
    expect(
      logs.filter((l) => l.level === 'info' && l.msg === 'limits: Redis answers admin calls again'),
    ).toHaveLength(1)

    // a second outage is logged again
    await redis.kill()
    expect((await putTier(10)).statusCode).toBe(503)
    expect(outageWarnings()).toHaveLength(2)
  })
})
