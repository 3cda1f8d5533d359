import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import { afterAll, describe, expect, it } from 'vitest'
import { JsonlAuditLog } from '../../audit.js'
import { limitsSchema } from '../../config/limits-schema.js'
import { Limiter } from '../../limits/limiter.js'
import { MemoryLimitStore } from '../../limits/memory.js'
import { FileStateBackend } from '../../limits/state.js'
import { limitsRoutes } from './limits.js'

const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-api-'))
const limiter = new Limiter(
  { limits: limitsSchema.parse({ enabled: true, dataDir: dir }), services: ['api'], keyPrefix: 'rl:' },
  {
    store: new MemoryLimitStore(),
    state: new FileStateBackend(join(dir, 'limits-state.json')),
    audit: new JsonlAuditLog(join(dir, 'audit.jsonl')),
  },
)
const app = Fastify()
await app.register(limitsRoutes({ limiter, token: 's3cret' }))
const auth = { authorization: 'Bearer s3cret', 'x-vigil-actor': 'ops' }

afterAll(async () => {
  await app.close()
  await limiter.close()
})

describe('limits admin API', () => {
  it('lists the built-in tiers', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/limits/tiers' })
    expect(r.statusCode).toBe(200)
    expect(r.json()).toMatchObject({ STD: { ratePerSec: 10, burst: 20 }, PRM: { ratePerSec: 100 } })
  })

  it('quotes a number too large for JSON as Infinity, not null', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/STD',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"ratePerSec":1e999,"burst":2}',
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toMatch(/^ratePerSec: expected a number, got Infinity;/)
  })

  it('refuses mutating calls without the token', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/STD',
      payload: { ratePerSec: 1, burst: 1 },
    })
    expect(r.statusCode).toBe(401)
    expect(r.json().code).toBe('VGL_ERR_API_UNAUTHORIZED')
  })

  it('answers 404 for a tier that does not exist, and 400 for a key naming one', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/limits/tiers/NOPE' })
    expect(r.statusCode).toBe(404)
    expect(r.json()).toMatchObject({ code: 'VGL_ERR_LIMITS_TIER_NOT_FOUND' })
    expect(r.json().message).toMatch(/^no tier "NOPE" \(known: STD, PRM/)
    const key = await app.inject({
      method: 'POST',
      url: '/api/limits/keys',
      headers: auth,
      payload: { tier: 'NOPE' },
    })
    expect(key.statusCode).toBe(400)
    expect(key.json().code).toBe('VGL_ERR_LIMITS_UNKNOWN_TIER')
  })

  it('updates a tier and records who and why in the audit log', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/GOLD',
      headers: auth,
      payload: { ratePerSec: 50, burst: 60, rank: 2, reason: 'new plan' },
    })
    expect(r.statusCode).toBe(200)
    expect(limiter.tiers().GOLD).toEqual({ ratePerSec: 50, burst: 60, rank: 2 })
    const events = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(events.at(-1)).toMatchObject({
      kind: 'limits.tier.update',
      actor: 'ops',
      subject: 'GOLD',
      before: null,
      reason: 'new plan',
    })
  })

  it('creates, re-tiers and revokes a key; the secret is returned once', async () => {
    const c = await app.inject({
      method: 'POST',
      url: '/api/limits/keys',
      headers: auth,
      payload: { id: 'acme', tier: 'STD' },
    })
    expect(c.statusCode).toBe(201)
    expect(c.json().key).toMatch(/^vgl_/)
    const dup = await app.inject({
      method: 'POST',
      url: '/api/limits/keys',
      headers: auth,
      payload: { id: 'acme', tier: 'STD' },
    })
    expect(dup.statusCode).toBe(409)
    const p = await app.inject({
      method: 'PATCH',
      url: '/api/limits/keys/acme',
      headers: auth,
      payload: { tier: 'GOLD' },
    })
    expect(p.json()).toMatchObject({ id: 'acme', tier: 'GOLD' })
    const list = await app.inject({ method: 'GET', url: '/api/limits/keys' })
    expect(JSON.stringify(list.json())).not.toContain(c.json().key)
    const d = await app.inject({ method: 'DELETE', url: '/api/limits/keys/acme', headers: auth })
    expect(d.json()).toMatchObject({ revoked: true })
    const missing = await app.inject({ method: 'DELETE', url: '/api/limits/keys/nobody', headers: auth })
    expect(missing.statusCode).toBe(404)
  })

  it('names the bad field', async () => {
    const r = await app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/STD',
      headers: auth,
      payload: { ratePerSec: -1, burst: 1 },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json().message).toContain('ratePerSec')
  })

  it('takes an optional reason with the rule and message of every admin route', async () => {
    const none = await app.inject({
      method: 'PUT',
      url: '/api/limits/tiers/NOREASON',
      headers: auth,
      payload: { ratePerSec: 1, burst: 1 },
    })
    expect(none.statusCode).toBe(200)
    for (const [reason, message] of [
      [5, 'reason: expected a string saying why (one sentence; it goes to the audit log), got 5'],
      ['x'.repeat(501), 'reason: at most 500 characters, got 501; keep it to a sentence'],
    ] as const) {
      const r = await app.inject({
        method: 'PUT',
        url: '/api/limits/tiers/NOREASON',
        headers: auth,
        payload: { ratePerSec: 1, burst: 1, reason },
      })
      expect(r.statusCode).toBe(400)
      expect(r.json()).toMatchObject({ code: 'VGL_ERR_LIMITS_BAD_INPUT', message })
    }
  })

  it('sets and clears multipliers and defensive mode', async () => {
    const s = await app.inject({
      method: 'PUT',
      url: '/api/limits/controls',
      headers: auth,
      payload: { defensive: true, tiers: { STD: 0.5 }, reason: 'spike' },
    })
    expect(s.json()).toMatchObject({ defensive: true, tiers: { STD: 0.5 }, reason: 'spike', actor: 'ops' })
    const c = await app.inject({ method: 'DELETE', url: '/api/limits/controls', headers: auth })
    expect(c.json()).toMatchObject({ defensive: false, tiers: {} })
  })

  it('sets multipliers for one service with an expiry, and names a bad ttl', async () => {
    const s = await app.inject({
      method: 'PUT',
      url: '/api/limits/controls',
      headers: auth,
      payload: { service: 'api', tiers: { STD: 0.5 }, defensive: true, ttlMs: 60_000, reason: 'forecast' },
    })
    expect(s.statusCode).toBe(200)
    expect(s.json()).toMatchObject({
      services: { api: { tiers: { STD: 0.5 }, defensive: true } },
      entries: { 'services.api.tiers.STD': { actor: 'ops', reason: 'forecast' } },
    })
    expect(s.json().entries['services.api.defensive'].expiresAt).toEqual(expect.any(String))
    const bad = await app.inject({
      method: 'PUT',
      url: '/api/limits/controls',
      headers: auth,
      payload: { service: 'api', defensive: true, ttlMs: -5 },
    })
    expect(bad.statusCode).toBe(400)
    expect(bad.json().message).toContain('ttlMs')
    await app.inject({ method: 'DELETE', url: '/api/limits/controls', headers: auth })
  })

  it('refuses a tier, class, client or service that does not exist, naming the field and the known names', async () => {
    const put = (payload: Record<string, unknown>) =>
      app.inject({ method: 'PUT', url: '/api/limits/controls', headers: auth, payload })
    const cases: Array<[Record<string, unknown>, string, string]> = [
      [
        { tiers: { XXX: 0.5 } },
        'VGL_ERR_LIMITS_UNKNOWN_TIER',
        // earlier tests created GOLD and NOREASON
        'tiers.XXX: unknown tier "XXX" (known: GOLD, NOREASON, PRM, STD); create it first with PUT /api/limits/tiers/XXX',
      ],
      [
        { service: 'nope', defensive: true },
        'VGL_ERR_LIMITS_BAD_INPUT',
        'service: unknown service "nope" (known: api)',
      ],
      [
        { service: 'api', tiers: { STD: 0.5, GLOD: 0.5 } },
        'VGL_ERR_LIMITS_UNKNOWN_TIER',
        'tiers.GLOD: unknown tier "GLOD"',
      ],
      [
        { classes: { hihg: 2 } },
        'VGL_ERR_LIMITS_BAD_INPUT',
        'classes.hihg: unknown priority class "hihg" (known: critical, high, low, normal); classes are limits.classes in the config',
      ],
      [
        { clients: { 'no-such-key': 0.1 } },
        'VGL_ERR_LIMITS_BAD_INPUT',
        'clients.no-such-key: unknown client "no-such-key"; a client is an API key id (known: ',
      ],
      [
        { clients: { 'ip:not-an-ip': 0.1 } },
        'VGL_ERR_LIMITS_BAD_INPUT',
        'clients.ip:not-an-ip: unknown client',
      ],
      [{ tiers: { XXX: null } }, 'VGL_ERR_LIMITS_UNKNOWN_TIER', 'tiers.XXX: unknown tier "XXX"'],
    ]
    for (const [payload, code, message] of cases) {
      const r = await put(payload)
      expect(r.statusCode, JSON.stringify(payload)).toBe(400)
      expect(r.json().code).toBe(code)
      expect(r.json().message).toContain(message)
    }
    expect(limiter.controls()).toMatchObject({ tiers: {}, classes: {}, clients: {}, services: {} })

    const ok = await put({ tiers: { STD: 0.5 }, classes: { low: 0.5 }, clients: { 'ip:192.0.2.9': 0.5 } })
    expect(ok.statusCode).toBe(200)
    expect(ok.json()).toMatchObject({
      tiers: { STD: 0.5 },
      classes: { low: 0.5 },
      clients: { 'ip:192.0.2.9': 0.5 },
    })
    await app.inject({ method: 'DELETE', url: '/api/limits/controls', headers: auth })
  })

  it('still removes an entry in force whose name is no longer known', async () => {
    // set as the control plane does, with a service this process does not know
    await limiter.setControls(
      { service: 'elsewhere', tiers: { STD: 0.5 } },
      { actor: 'control:x', reason: 'r' },
    )
    const r = await app.inject({
      method: 'PUT',
      url: '/api/limits/controls',
      headers: auth,
      payload: { service: 'elsewhere', tiers: { STD: null } },
    })
    expect(r.statusCode).toBe(200)
    expect(r.json().services).toEqual({})
  })

  it('tells a new key sent with its own secret that Vigil makes the secret, and creates nothing', async () => {
    const before = limiter.keys()
    const r = await app.inject({
      method: 'POST',
      url: '/api/limits/keys',
      headers: auth,
      payload: { id: 'mine', tier: 'STD', key: 'my-own-secret' },
    })
    expect(r.statusCode).toBe(400)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_LIMITS_BAD_INPUT',
      message:
        'key: the secret is generated by Vigil and returned once, in the answer to this call; remove "key" and send { "tier": "...", "id"?: "..." }',
    })
    expect(limiter.keys()).toEqual(before)
    expect(limiter.key('mine')).toBeUndefined()
  })

  it('phrases body problems as the config loader does, every one, with the same code', async () => {
    const cases: Array<[url: string, payload: unknown, message: string]> = [
      ['/api/limits/tiers/X', { ratePerSec: 1 }, 'burst: missing; add it (a number)'],
      [
        '/api/limits/tiers/X',
        { ratePerSec: 1, burst: 2, bogus: 1 },
        'bogus: unknown key "bogus"; remove it or check its spelling',
      ],
      [
        '/api/limits/tiers/X',
        { ratePerSec: -1, burst: '2' },
        'ratePerSec: must be more than 0, got -1; send a number above 0; burst: expected a number, got "2"; send a JSON number without quotes, e.g. 5 or 0.5',
      ],
      [
        '/api/limits/tiers/X',
        { ratePerSec: 1, burst: 2, rank: 1.5 },
        'rank: expected a whole number, got 1.5; send 1 or 2',
      ],
      ['/api/limits/tiers/X', [1], 'body: expected a JSON object, got [1]; send an object: { "key": value }'],
      [
        '/api/limits/controls',
        { tiers: [1], defensive: 'yes' },
        'tiers: expected a JSON object, got [1]; send an object: { "key": value }; defensive: expected true or false, got "yes"; send true or false without quotes',
      ],
    ]
    for (const [url, payload, message] of cases) {
      const r = await app.inject({ method: 'PUT', url, headers: auth, payload: payload as object })
      expect(r.statusCode, JSON.stringify(payload)).toBe(400)
      expect(r.json()).toMatchObject({ code: 'VGL_ERR_LIMITS_BAD_INPUT', message })
    }
    expect(limiter.tier('X')).toBeUndefined()
  })

  it('reads bucket state, heaviest clients and fallback state', async () => {
    limiter.admit(
      { routeId: 'r', service: 'api', priority: 'normal', cost: 3, headers: {}, remoteAddress: '192.0.2.7' },
      Date.now(),
    )
    const b = await app.inject({ method: 'GET', url: '/api/limits/buckets/ip:192.0.2.7' })
    expect(b.json()[0]).toMatchObject({ service: 'api', tier: 'STD', burst: 20 })
    expect(b.json()[0].remaining).toBeLessThanOrEqual(17)
    const clients = await app.inject({ method: 'GET', url: '/api/limits/clients' })
    expect(clients.json().current.clients[0]).toMatchObject({ clientId: 'ip:192.0.2.7', requests: 1 })
    const fb = await app.inject({ method: 'GET', url: '/api/limits/fallback' })
    expect(fb.json()).toMatchObject({ store: 'memory', active: false })
  })
})
