import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { JsonlAuditLog, MemoryAuditLog, TeeAuditLog, type AuditLog } from '../audit.js'
import { limitsSchema } from '../config/limits-schema.js'
import type { AdmissionDecision, AdmissionRequest } from './admission.js'
import { Limiter } from './limiter.js'
import type { BucketSpec } from './gcra.js'
import type { LimitStore, TakeOutcome } from './limit-store.js'
import { MemoryLimitStore } from './memory.js'
import { FileStateBackend } from './state.js'

const open: Limiter[] = []
afterEach(async () => {
  await Promise.all(open.splice(0).map((l) => l.close()))
})

function make(limits: unknown, dir = mkdtempSync(join(tmpdir(), 'vigil-limits-')), clock = () => 0) {
  const cfg = limitsSchema.parse({ enabled: true, dataDir: dir, ...(limits as object) })
  const audit = new MemoryAuditLog()
  const l = new Limiter(
    { limits: cfg, services: ['api'], keyPrefix: 'rl:' },
    {
      store: new MemoryLimitStore(),
      state: new FileStateBackend(join(dir, 'limits-state.json')),
      audit,
      clock,
    },
  )
  open.push(l)
  return { l, audit, dir }
}

function req(over: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    routeId: 'r',
    service: 'api',
    priority: 'normal',
    cost: 1,
    headers: {},
    remoteAddress: '192.0.2.1',
    ...over,
  }
}

function sync(d: AdmissionDecision | Promise<AdmissionDecision>): AdmissionDecision {
  if (d instanceof Promise) throw new Error('memory store must decide synchronously')
  return d
}

const header = (d: AdmissionDecision, name: string) => d.headers.find(([n]) => n === name)?.[1]
const KEYS = [
  { id: 'alice', key: 'alice-secret-1', tier: 'STD' },
  { id: 'bob', key: 'bob-secret-123', tier: 'PRM' },
]

describe('Limiter', () => {
  it('sends the IETF policy and remaining quota on admitted responses', () => {
    const { l } = make({ tiers: { STD: { ratePerSec: 10, burst: 20 } } })
    const d = sync(l.admit(req(), 1000))
    expect(d.allowed).toBe(true)
    expect(d.clientId).toBe('ip:192.0.2.1')
    expect(header(d, 'RateLimit-Policy')).toBe('"std";q=20;w=2')
    expect(header(d, 'RateLimit')).toBe('"std";r=19;t=1')
  })

  it('refuses past the burst with 429 problem+json naming the tier bucket, and Retry-After', () => {
    const { l } = make({ tiers: { STD: { ratePerSec: 1, burst: 2 } } })
    sync(l.admit(req(), 0))
    sync(l.admit(req(), 0))
    const d = sync(l.admit(req(), 0))
    expect(d.allowed).toBe(false)
    expect(d.status).toBe(429)
    expect(header(d, 'Retry-After')).toBe('1')
    expect(header(d, 'RateLimit')).toBe('"std";r=0;t=1')
    expect(d.problem).toMatchObject({
      status: 429,
      limit: 'tier',
      tier: 'STD',
      client: 'ip:192.0.2.1',
      retryAfter: 1,
    })
    expect(String(d.problem!.reason)).toContain('tier STD allows 1 requests/s with bursts of 2')
  })

  it('identifies clients by API key, applies their tier and per-key overrides', () => {
    const { l } = make({ keys: [...KEYS, { id: 'carol', key: 'carol-secret-1', tier: 'STD', burst: 1 }] })
    const bob = sync(l.admit(req({ headers: { 'x-api-key': 'bob-secret-123' } }), 0))
    expect(bob.clientId).toBe('bob')
    expect(header(bob, 'RateLimit-Policy')).toBe('"prm";q=200;w=2')
    const carol = req({ headers: { authorization: 'Bearer carol-secret-1' } })
    expect(sync(l.admit(carol, 0)).allowed).toBe(true)
    expect(sync(l.admit(carol, 0)).allowed).toBe(false)
  })

  it('refuses unknown keys with 401 by default, or limits them by IP when configured', () => {
    const strict = make({ keys: KEYS }).l
    const d = sync(strict.admit(req({ headers: { 'x-api-key': 'nope-nope' } }), 0))
    expect(d).toMatchObject({ allowed: false, status: 401, problem: { limit: 'unknown-key' } })
    const lax = make({ keys: KEYS, identity: { unknownKey: 'anonymous' } }).l
    expect(sync(lax.admit(req({ headers: { 'x-api-key': 'nope-nope' } }), 0))).toMatchObject({
      allowed: true,
      clientId: 'ip:192.0.2.1',
    })
  })

  it('sheds low-priority Standard traffic before critical Premium when a service is over budget', () => {
    const { l } = make({
      keys: KEYS,
      tiers: { STD: { ratePerSec: 1000, burst: 1000 }, PRM: { ratePerSec: 1000, burst: 1000, rank: 1 } },
      services: { api: { ratePerSec: 100, burst: 80 } },
    })
    const kinds = [
      { name: 'low/STD', r: req({ priority: 'low', headers: { 'x-api-key': 'alice-secret-1' } }) },
      { name: 'low/PRM', r: req({ priority: 'low', headers: { 'x-api-key': 'bob-secret-123' } }) },
      { name: 'critical/STD', r: req({ priority: 'critical', headers: { 'x-api-key': 'alice-secret-1' } }) },
      { name: 'critical/PRM', r: req({ priority: 'critical', headers: { 'x-api-key': 'bob-secret-123' } }) },
    ]
    const admitted = new Map(kinds.map((k) => [k.name, 0]))
    let firstRefusal: Record<string, unknown> | undefined
    // 4 × 100 requests/s offered against a 100/s budget for 5 s of simulated time
    for (let t = 0; t < 5000; t += 10) {
      for (const k of kinds) {
        const d = sync(l.admit(k.r, t))
        if (d.allowed) admitted.set(k.name, admitted.get(k.name)! + 1)
        else firstRefusal ??= d.problem
      }
    }
    expect(admitted.get('critical/PRM')).toBeGreaterThan(450)
    expect(admitted.get('critical/PRM')!).toBeGreaterThan(admitted.get('critical/STD')!)
    expect(admitted.get('critical/STD')!).toBeGreaterThan(admitted.get('low/PRM')!)
    expect(admitted.get('low/PRM')!).toBeGreaterThanOrEqual(admitted.get('low/STD')!)
    expect(firstRefusal).toMatchObject({ limit: 'service-budget', priority: 'low', tier: 'STD' })
  })

  it('admits every rank on an idle service whose budget burst is smaller than the number of ranks', () => {
    // 4 classes × 2 tiers = 8 ranks, burst 4: uncapped, low/STD would have to leave 3.5 of 4 tokens
    const { l } = make({
      keys: KEYS,
      tiers: { STD: { ratePerSec: 1000, burst: 1000 }, PRM: { ratePerSec: 1000, burst: 1000, rank: 1 } },
      services: { api: { ratePerSec: 6, burst: 4 } },
    })
    const low = req({ priority: 'low', headers: { 'x-api-key': 'alice-secret-1' } })
    expect(sync(l.admit(low, 1000)).allowed).toBe(true)
    // the bucket is no longer full: the lowest rank now waits, critical Premium still passes
    expect(sync(l.admit(low, 1000)).allowed).toBe(false)
    const top = req({ priority: 'critical', headers: { 'x-api-key': 'bob-secret-123' } })
    expect(sync(l.admit(top, 1000)).allowed).toBe(true)
    // once the bucket has refilled, the lowest rank passes again
    expect(sync(l.admit(low, 1000 + 2000)).allowed).toBe(true)
  })

  it('admits between 0.95(B + RT) and B + RT + 1 for one client hammering (memory store)', () => {
    const { l } = make({ tiers: { STD: { ratePerSec: 200, burst: 50 } } })
    let admitted = 0
    for (let t = 0; t <= 3000; t += 0.5) if (sync(l.admit(req(), 10_000 + t)).allowed) admitted++
    const bound = 50 + 200 * 3
    expect(admitted).toBeGreaterThanOrEqual(0.95 * bound)
    expect(admitted).toBeLessThanOrEqual(bound + 1)
  })

  it('follows multipliers as they are set, expire and are cleared, in the limit and its headers', async () => {
    let now = 1_000_000
    const { l } = make({ tiers: { STD: { ratePerSec: 10, burst: 20 } } }, undefined, () => now)
    const client = (ip: string) => req({ remoteAddress: ip })
    expect(header(sync(l.admit(client('192.0.2.1'), now)), 'RateLimit-Policy')).toBe('"std";q=20;w=2')
    await l.setControls({ tiers: { STD: 0.5 }, ttlMs: 60_000 }, { actor: 'a', reason: 'r' })
    expect(header(sync(l.admit(client('192.0.2.2'), now)), 'RateLimit-Policy')).toBe('"std";q=10;w=2')
    let admitted = 0
    for (let i = 0; i < 30; i++) if (sync(l.admit(client('192.0.2.3'), now)).allowed) admitted++
    expect(admitted).toBe(10)
    // past the ttl the tier's own limit is back, without any change being saved
    now += 60_001
    expect(header(sync(l.admit(client('192.0.2.4'), now)), 'RateLimit-Policy')).toBe('"std";q=20;w=2')
    admitted = 0
    for (let i = 0; i < 30; i++) if (sync(l.admit(client('192.0.2.5'), now)).allowed) admitted++
    expect(admitted).toBe(20)
    await l.setControls({ clients: { 'ip:192.0.2.6': 0.25 } }, { actor: 'a', reason: 'r' })
    expect(header(sync(l.admit(client('192.0.2.6'), now)), 'RateLimit-Policy')).toBe('"std";q=5;w=2')
    expect(header(sync(l.admit(client('192.0.2.7'), now)), 'RateLimit-Policy')).toBe('"std";q=20;w=2')
    await l.clearControls({ actor: 'a', reason: 'over' })
    expect(header(sync(l.admit(client('192.0.2.6'), now)), 'RateLimit-Policy')).toBe('"std";q=20;w=2')
  })

  it('applies defensive mode and multipliers at once and explains the refusal', async () => {
    const { l, audit } = make({ tiers: { STD: { ratePerSec: 10, burst: 10 } } })
    await l.setControls({ defensive: true }, { actor: 'control-plane', reason: 'error spike on api' })
    let admitted = 0
    let last: AdmissionDecision | undefined
    for (let i = 0; i < 10; i++) {
      last = sync(l.admit(req(), 0))
      if (last.allowed) admitted++
    }
    expect(admitted).toBe(3) // STD ×0.3 of a burst of 10
    expect(last!.problem).toMatchObject({ limit: 'defensive' })
    expect(String(last!.problem!.reason)).toContain('error spike on api')
    await l.setControls(
      { defensive: false, classes: { low: 0.5 } },
      { actor: 'admin', reason: 'browse is cheap' },
    )
    expect(l.controls()).toMatchObject({ defensive: false, classes: { low: 0.5 } })
    await expect(l.setControls({ tiers: { STD: 0 } }, { actor: 'a', reason: 'r' })).rejects.toMatchObject({
      code: 'VGL_ERR_LIMITS_BAD_INPUT',
    })
    expect(audit.events.map((e) => e.kind)).toEqual(['limits.controls.set', 'limits.controls.set'])
  })

  it("counts a refusal as the client's own only at its own limit, not at Vigil's tightening of it", async () => {
    let now = 0
    const { l } = make({ tiers: { STD: { ratePerSec: 1, burst: 5 } } }, undefined, () => now)
    const from = (ip: string) => req({ remoteAddress: ip })
    const hammer = (ip: string) => {
      for (let i = 0; i < 10; i++) sync(l.admit(from(ip), now))
    }
    hammer('192.0.2.1') // 5 admitted, 5 refused at its own limit
    await l.setControls({ defensive: true }, { actor: 'control-plane', reason: 'errors on api' })
    hammer('192.0.2.2') // refused by defensive mode
    await l.setControls(
      { defensive: false, clients: { 'ip:192.0.2.3': 0.2 } },
      { actor: 'control:abusive-clients', reason: 'flagged' },
    )
    hammer('192.0.2.3') // refused by its abusive-client limit
    await l.setControls({ tiers: { STD: 2 } }, { actor: 'admin', reason: 'campaign' })
    for (let i = 0; i < 12; i++) sync(l.admit(from('192.0.2.4'), now)) // a raised limit is still its own
    now = 1
    const rows = new Map(l.clientStats().current.clients.map((c) => [c.clientId, c]))
    expect(rows.get('ip:192.0.2.1')).toMatchObject({ refused: 5, refusedOwn: 5 })
    expect(rows.get('ip:192.0.2.2')).toMatchObject({ refused: 9, refusedOwn: 0 })
    expect(rows.get('ip:192.0.2.3')).toMatchObject({ refused: 9, refusedOwn: 0 })
    expect(rows.get('ip:192.0.2.4')).toMatchObject({ refused: 2, refusedOwn: 2 })
  })

  it('scopes multipliers and defensive mode to one service and names the entries in the 429', async () => {
    const now = 1_000_000
    const { l } = make({ keys: KEYS, tiers: { STD: { ratePerSec: 10, burst: 10 } } }, undefined, () => now)
    await l.setControls(
      { service: 'api', tiers: { STD: 0.5 }, classes: { low: 0.5 } },
      { actor: 'control:forecast-pressure', reason: 'forecast 260/s over budget 200/s' },
    )
    const alice = (service: string, priority = 'normal') =>
      req({ service, priority, headers: { 'x-api-key': 'alice-secret-1' } })
    const admitted = (r: AdmissionRequest) => {
      let n = 0
      let last: AdmissionDecision | undefined
      for (let i = 0; i < 20; i++) {
        last = sync(l.admit(r, now))
        if (last.allowed) n++
      }
      return { n, last: last! }
    }
    const api = admitted(alice('api'))
    expect(api.n).toBe(5) // STD ×0.5 on api only
    expect(admitted(alice('web')).n).toBe(10)
    expect(api.last.problem).toMatchObject({
      limit: 'tier',
      controls: [
        {
          path: 'services.api.tiers.STD',
          value: 0.5,
          actor: 'control:forecast-pressure',
          reason: 'forecast 260/s over budget 200/s',
        },
      ],
    })
    expect(String(api.last.problem!.reason)).toContain(
      'set by control:forecast-pressure: forecast 260/s over budget 200/s',
    )
    // Premium on the same service is untouched
    const bob = req({ service: 'api', headers: { 'x-api-key': 'bob-secret-123' } })
    expect(sync(l.admit(bob, now)).headers.find(([n]) => n === 'RateLimit-Policy')?.[1]).toBe(
      '"prm";q=200;w=2',
    )
    expect(l.controls().services).toEqual({
      api: { tiers: { STD: 0.5 }, classes: { low: 0.5 }, defensive: false },
    })
    // removing the last scoped entry removes the service's section
    await l.setControls(
      { service: 'api', tiers: { STD: null }, classes: { low: null } },
      { actor: 'a', reason: 'over' },
    )
    expect(l.controls().services).toEqual({})
    expect(l.controls().entries).toEqual({})
    await expect(
      l.setControls({ service: 'api', clients: { alice: 0.5 } }, { actor: 'a', reason: 'r' }),
    ).rejects.toThrow('clients: client multipliers apply to every service')
  })

  it('lets entries expire at their time on every limiter, without a write', async () => {
    let now = 1_000_000
    const a = make({ keys: KEYS, tiers: { STD: { ratePerSec: 10, burst: 10 } } }, undefined, () => now)
    const b = make({ keys: KEYS, tiers: { STD: { ratePerSec: 10, burst: 10 } } }, a.dir, () => now)
    await a.l.setControls(
      { service: 'api', defensive: true, ttlMs: 60_000 },
      { actor: 'control:anomaly-pressure', reason: 'error anomaly on api' },
    )
    await a.l.setControls(
      { clients: { alice: 0.2 }, ttlMs: 30_000 },
      { actor: 'control:abusive-clients', reason: 'client alice stands out' },
    )
    const alice = req({ headers: { 'x-api-key': 'alice-secret-1' } })
    let n = 0
    let last: AdmissionDecision | undefined
    for (let i = 0; i < 10; i++) {
      last = sync(b.l.admit(alice, now))
      if (last.allowed) n++
    }
    expect(n).toBe(1) // 10 × 0.3 (defensive STD) × 0.2 = 0.6, at least 1
    expect(last!.problem).toMatchObject({ limit: 'defensive' })
    expect(String(last!.problem!.reason)).toContain('defensive mode is on for service "api"')
    expect(String(last!.problem!.reason)).toContain('control:abusive-clients: client alice stands out')
    expect(b.l.controls().entries['clients.alice']).toMatchObject({
      actor: 'control:abusive-clients',
      expiresAt: new Date(1_030_000).toISOString(),
    })
    now = 1_030_000 // the client multiplier lapses; defensive mode is still on
    expect(b.l.controls().clients).toEqual({})
    n = 0
    for (let i = 0; i < 10; i++) if (sync(b.l.admit(alice, now + 5_000)).allowed) n++
    expect(n).toBe(3)
    now = 1_060_000
    n = 0
    for (let i = 0; i < 20; i++) if (sync(b.l.admit(alice, now + 10_000)).allowed) n++
    expect(n).toBe(10)
    expect(b.l.controls().services).toEqual({})
    // the next change drops the expired entries from the document
    await a.l.setControls({ classes: { low: 0.5 } }, { actor: 'admin', reason: 'r' })
    const doc = JSON.parse(readFileSync(join(a.dir, 'limits-state.json'), 'utf8')) as {
      controls: { entries: Record<string, unknown>; services: object }
    }
    expect(Object.keys(doc.controls.entries)).toEqual(['classes.low'])
    expect(doc.controls.services).toEqual({})
  })

  it('reads a controls document written before scoped controls existed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-'))
    writeFileSync(
      join(dir, 'limits-state.json'),
      JSON.stringify({
        version: 3,
        tiers: {},
        keys: {},
        controls: {
          tiers: { STD: 0.5 },
          classes: {},
          clients: {},
          defensive: false,
          reason: 'old reason',
          actor: 'admin',
          updatedAt: '2026-01-01T00:00:00.000Z',
        },
      }),
    )
    const { l } = make({ tiers: { STD: { ratePerSec: 10, burst: 10 } } }, dir)
    await l.start()
    let n = 0
    let last: AdmissionDecision | undefined
    for (let i = 0; i < 10; i++) {
      last = sync(l.admit(req(), 0))
      if (last.allowed) n++
    }
    expect(n).toBe(5)
    expect(String(last!.problem!.reason)).toContain('set by admin: old reason')
    expect(l.controls()).toMatchObject({ services: {}, entries: {}, tiers: { STD: 0.5 } })
    await l.setControls({ service: 'api', defensive: true }, { actor: 'admin', reason: 'now scoped' })
    expect(l.controls()).toMatchObject({ tiers: { STD: 0.5 }, services: { api: { defensive: true } } })
  })

  it('persists tier and key changes, records them, and shares them with other limiters on the same data dir', async () => {
    const a = make({ keys: KEYS })
    const b = make({ keys: KEYS }, a.dir)
    await a.l.setTier('STD', { ratePerSec: 1, burst: 1 }, { actor: 'admin', reason: 'tighten' })
    const alice = req({ headers: { 'x-api-key': 'alice-secret-1' } })
    expect(sync(b.l.admit(alice, 0)).allowed).toBe(true)
    expect(sync(b.l.admit(alice, 0)).allowed).toBe(false)
    const created = await a.l.createKey(
      { id: 'dave', tier: 'PRM' },
      { actor: 'admin', reason: 'new customer' },
    )
    expect(sync(b.l.admit(req({ headers: { 'x-api-key': created.key } }), 0)).clientId).toBe('dave')
    await a.l.revokeKey('dave', { actor: 'admin', reason: 'churned' })
    expect(sync(b.l.admit(req({ headers: { 'x-api-key': created.key } }), 0)).status).toBe(401)
    await expect(
      a.l.updateKey('alice', { tier: 'GOLD' }, { actor: 'admin', reason: 'x' }),
    ).rejects.toMatchObject({ code: 'VGL_ERR_LIMITS_UNKNOWN_TIER' })
    await a.l.updateKey('alice', { tier: 'PRM' }, { actor: 'admin', reason: 'upgrade' })
    expect(a.audit.events.map((e) => [e.kind, e.subject])).toEqual([
      ['limits.tier.update', 'STD'],
      ['limits.key.create', 'dave'],
      ['limits.key.revoke', 'dave'],
      ['limits.key.update', 'alice'],
    ])
    // the secret itself is never persisted
    expect(readFileSync(join(a.dir, 'limits-state.json'), 'utf8')).not.toContain(created.key)
    // a restart reads the persisted state
    const c = make({ keys: KEYS }, a.dir)
    await c.l.start()
    expect(c.l.tiers().STD).toEqual({ ratePerSec: 1, burst: 1, rank: 0 })
    expect(c.l.keys().find((k) => k.id === 'alice')!.tier).toBe('PRM')
  })

  it('reports a client bucket and the heaviest clients', async () => {
    let now = 0
    const { l } = make({ keys: KEYS, tiers: { STD: { ratePerSec: 10, burst: 10 } } }, undefined, () => now)
    const alice = req({ headers: { 'x-api-key': 'alice-secret-1' } })
    for (let i = 0; i < 4; i++) {
      const d = sync(l.admit(alice, 0))
      l.observe(d.clientId, 'r', i === 0 ? 500 : 200, 10)
    }
    const [bucket] = await l.buckets('alice')
    expect(bucket).toMatchObject({ service: 'api', tier: 'STD', remaining: 6, msUntilFull: 400 })
    now = 1
    const top = l.clientStats().current.clients[0]!
    expect(top).toMatchObject({ clientId: 'alice', requests: 4, errorRate: 0.25, meanLatencyMs: 10 })
  })

  it('names the bad field when a key uses an unknown tier, in the words of vigil check-config', () => {
    expect(() => make({ keys: [{ id: 'x', key: 'xxxxxxxxxx', tier: 'prm' }] })).toThrow(
      'limits.keys[0].tier: unknown tier "prm" (known: STD, PRM; more under limits.tiers); did you mean "PRM"?',
    )
  })
})

describe('key creation times', () => {
  it('a key from the config file has none (null), one made through the API has its own', async () => {
    const { l } = make(
      { keys: [{ id: 'cfg', key: 'cfg-secret-123', tier: 'STD' }] },
      undefined,
      () => 1_700_000_000_000,
    )
    expect(l.key('cfg')?.createdAt).toBeNull()
    await l.createKey({ id: 'api', tier: 'STD' }, { actor: 'ops', reason: '' })
    expect(l.key('api')?.createdAt).toBe(new Date(1_700_000_000_000).toISOString())
    // a config key changed since is persisted with the state; it still has no creation time
    await l.updateKey('cfg', { burst: 3 }, { actor: 'ops', reason: '' })
    expect(l.key('cfg')?.createdAt).toBeNull()
  })

  it('reads a config key persisted with the epoch by earlier versions as null', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-'))
    const { l } = make({}, dir)
    await l.createKey({ id: 'old', tier: 'STD' }, { actor: 'ops', reason: '' }) // clock 0: the epoch
    expect(l.key('old')?.createdAt).toBeNull()
  })
})

describe('limits admin changes on a disk that refuses writes', () => {
  // /dev/full answers every write with ENOSPC, as a full disk does
  const limiterIn = (dir: string, audit: AuditLog) => {
    const l = new Limiter(
      { limits: limitsSchema.parse({ enabled: true, dataDir: dir }), services: ['api'], keyPrefix: 'rl:' },
      { store: new MemoryLimitStore(), state: new FileStateBackend(join(dir, 'limits-state.json')), audit },
    )
    open.push(l)
    return l
  }

  it.skipIf(!existsSync('/dev/full'))(
    'refuses a change the state file cannot take with 503 naming the file, and changes nothing',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-'))
      const tmp = join(dir, `limits-state.json.${process.pid}.tmp`)
      symlinkSync('/dev/full', tmp)
      const audit = new MemoryAuditLog()
      const l = limiterIn(dir, audit)
      await expect(
        l.setTier('GOLD', { ratePerSec: 5, burst: 5 }, { actor: 'admin', reason: 'new tier' }),
      ).rejects.toMatchObject({
        code: 'VGL_ERR_LIMITS_STATE_UNAVAILABLE',
        statusCode: 503,
        message: expect.stringContaining(
          `ENOSPC: no space left on device, write (writing ${join(dir, 'limits-state.json')})`,
        ) as string,
      })
      expect(l.tier('GOLD')).toBeUndefined()
      expect(audit.events).toEqual([]) // nothing happened, so nothing is audited
      // a half-written temporary file would hold the very space that is missing
      expect(existsSync(tmp)).toBe(false)
      // space is back: the same change goes through
      await l.setTier('GOLD', { ratePerSec: 5, burst: 5 }, { actor: 'admin', reason: 'new tier' })
      expect(l.tier('GOLD')).toMatchObject({ ratePerSec: 5 })
    },
  )

  it.skipIf(!existsSync('/dev/full'))(
    'saves and answers a change whose audit line the disk refuses, and still hands it to the other sinks',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-'))
      const file = join(dir, 'audit.jsonl')
      symlinkSync('/dev/full', file)
      const warnings: string[] = []
      const jsonl = new JsonlAuditLog(file, { onWarn: (e) => warnings.push(e.code) })
      const store = new MemoryAuditLog() // stands for the bus to the store and the dashboard feed
      const l = limiterIn(dir, new TeeAuditLog([jsonl, store]))
      const tier = await l.setTier('GOLD', { ratePerSec: 5, burst: 5 }, { actor: 'admin', reason: 'r' })
      expect(tier).toMatchObject({ ratePerSec: 5 })
      expect(JSON.parse(readFileSync(join(dir, 'limits-state.json'), 'utf8'))).toMatchObject({
        tiers: { GOLD: { ratePerSec: 5 } },
      })
      expect(store.events.map((e) => e.subject)).toEqual(['GOLD'])
      expect(warnings).toEqual(['VGL_ERR_AUDIT_UNWRITABLE'])
      expect(jsonl.pending).toBe(1)
      rmSync(file) // space is back: the next change appends both lines
      await l.setTier('SILVER', { ratePerSec: 2, burst: 2 }, { actor: 'admin', reason: 'r' })
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
      expect(lines.map((x) => (JSON.parse(x) as { subject: string }).subject)).toEqual(['GOLD', 'SILVER'])
      jsonl.close()
    },
  )
})

/** A shared store that answers like the memory one while `down` is false, and fails like a cut Redis. */
class FlakyStore implements LimitStore {
  readonly kind = 'redis' as const
  readonly up = true
  down = false
  error = new Error('Connection is closed.')
  readonly #inner = new MemoryLimitStore()
  take(buckets: readonly BucketSpec[], cost: number, nowMs: number): Promise<TakeOutcome> {
    if (this.down) return Promise.reject(this.error)
    return Promise.resolve(this.#inner.take(buckets, cost, nowMs))
  }
  peek(): number {
    return 0
  }
  reset(): void {}
  async close(): Promise<void> {}
}

describe('the limiter log while Redis flaps', () => {
  /** A limiter on a FlakyStore, its clock and its log lines as `level message`. */
  function flaky(settleMs: number, startMs: number) {
    const t = { now: startMs }
    const store = new FlakyStore()
    const lines: Array<{ text: string; obj: unknown }> = []
    const dir = mkdtempSync(join(tmpdir(), 'vigil-limits-'))
    const l = new Limiter(
      {
        limits: limitsSchema.parse({ enabled: true, dataDir: dir, fallback: { settleMs } }),
        services: ['api'],
        keyPrefix: 'rl:',
      },
      {
        store,
        state: new FileStateBackend(join(dir, 'limits-state.json')),
        clock: () => t.now,
        logger: {
          info: (obj, msg = '') => lines.push({ text: `info ${msg}`, obj }),
          warn: (obj, msg = '') => lines.push({ text: `warn ${msg}`, obj }),
        },
      },
    )
    open.push(l)
    /** one failed decision now, then one answered at `upAtMs` */
    const failThenAnswer = async (upAtMs: number) => {
      store.down = true
      await l.admit(req(), t.now)
      store.down = false
      t.now = upAtMs
      await l.admit(req(), t.now)
    }
    return { l, t, store, lines, failThenAnswer, texts: () => lines.map((x) => x.text) }
  }

  it('tells of one outage in one pair of lines, however often Redis answers and fails again', async () => {
    const { l, t, store, lines, texts } = flaky(5000, 1_000_000)
    const decide = async () => {
      await l.admit(req(), t.now)
      t.now += 100
    }
    // down and up every 400 ms for 3.6 s, ending down: every decision sees the state of the moment
    for (let i = 0; i < 36; i++) {
      store.down = Math.floor(i / 4) % 2 === 0
      await decide()
    }
    expect(l.fallbackState().active).toBe(true)
    store.down = false
    while (l.fallbackState().active) await decide()
    const recoveredAt = t.now - 100
    for (let i = 0; i < 60; i++) await decide() // 6 s of answers

    expect(texts()).toEqual([
      'warn limits: Redis unavailable, deciding by the fallback policy until it is back',
      'info limits: Redis is back; shared limits resumed (it answered and failed again 4 times during the outage)',
    ])
    expect(lines[1]!.obj).toEqual({ fallbackForMs: recoveredAt - 1_000_000, relapses: 4 })
  })

  it('says why in an operator’s words, naming Redis, not in the client library’s', async () => {
    const { l, t, store, lines } = flaky(10_000, 0)
    store.error = new Error("Stream isn't writeable and enableOfflineQueue options is false")
    store.down = true
    await l.admit(req(), t.now)
    const reason = 'Redis at redis://127.0.0.1:6379 is unreachable'
    expect(l.fallbackState()).toMatchObject({ active: true, reason })
    // the library's words stay in the log line, for whoever debugs the client
    expect(lines[0]!.obj).toMatchObject({ reason, err: store.error.message })
  })

  it('logs the end when Redis has held for settleMs, without waiting for the next request', async () => {
    const { failThenAnswer, texts } = flaky(30, 0)
    await failThenAnswer(100)
    await vi.waitFor(() => expect(texts()).toHaveLength(2), { timeout: 2000, interval: 10 })
    expect(texts()[1]).toBe('info limits: Redis is back; shared limits resumed')
  })

  it('logs the end of a clean outage once Redis has answered for settleMs', async () => {
    const { l, t, failThenAnswer, texts } = flaky(10_000, 0)
    await failThenAnswer(3000)
    expect(l.fallbackState().active).toBe(false) // shared limits apply at once …
    expect(texts()).toHaveLength(1) // … and the line waits until Redis has held
    t.now = 12_999
    await l.admit(req(), t.now)
    expect(texts()).toHaveLength(1)
    t.now = 13_000
    await l.admit(req(), t.now)
    expect(texts()).toEqual([
      'warn limits: Redis unavailable, deciding by the fallback policy until it is back',
      'info limits: Redis is back; shared limits resumed',
    ])
  })
})
