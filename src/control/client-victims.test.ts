/**
 * @module A demo-shaped run through the real pieces: the limiter and its per-client windows, the
 * bus message, the control plane's merge, the abusive-client detector and policy (whose limits go
 * back into the limiter). An upstream failing for every client of its route, with defensive mode
 * on for its service, flags none of its victims; a credential stuffer, a client hammering past its
 * limit and a scraper still are.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { abusiveClientsSchema } from '../config/policies-schema.js'
import { limitsSchema } from '../config/limits-schema.js'
import { clientWindowMessage, Limiter, MemoryLimitStore, type AdmissionDecision } from '../limits/index.js'
import { FileStateBackend } from '../limits/state.js'
import { LiveAnomalies, type AnomalyRecord } from './anomalies.js'
import { mergeClientWindows } from './client-windows.js'
import { AbusiveClients } from './policies/abusive-clients.js'

const WINDOW = 10_000
const T0 = 1_700_000_000_000
/** the pricing error burst: the shop route answers 502 to most requests of every client */
const OUTAGE = { from: 60, to: 70 }
const STUFFER = { from: 64, to: 70 }
const SCRAPER = { from: 84, to: 88 }
const WINDOWS = 100

/** The demo's clients: requests per second and the routes they use (initech-prm lives on the shop). */
const CLIENTS: { id: string; tier: 'STD' | 'PRM'; rps: number; routes: string[] }[] = [
  { id: 'web-std', tier: 'STD', rps: 1.2, routes: ['browse', 'shop', 'test'] },
  { id: 'mobile-std', tier: 'STD', rps: 1, routes: ['browse', 'shop'] },
  { id: 'partner-std', tier: 'STD', rps: 0.8, routes: ['payment-gateway', 'shop'] },
  { id: 'kiosk-std', tier: 'STD', rps: 0.5, routes: ['browse'] },
  { id: 'batch-std', tier: 'STD', rps: 1.5, routes: ['test', 'browse'] },
  { id: 'tools-std', tier: 'STD', rps: 0.6, routes: ['test'] },
  { id: 'acme-prm', tier: 'PRM', rps: 5, routes: ['browse', 'shop', 'payment-gateway'] },
  { id: 'globex-prm', tier: 'PRM', rps: 4, routes: ['browse', 'test'] },
  { id: 'initech-prm', tier: 'PRM', rps: 9, routes: ['shop', 'shop', 'shop', 'shop', 'browse'] },
]

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

const dirs: string[] = []
const limiters: Limiter[] = []
afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.close()))
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
})

function sync(d: AdmissionDecision | Promise<AdmissionDecision>): AdmissionDecision {
  if (d instanceof Promise) throw new Error('the memory store decides synchronously')
  return d
}

interface Request {
  client: string
  /** an API key's id, or null for an anonymous client (by its address) */
  key: string | null
  route: string
  status: (win: number) => number
}

/**
 * Runs the demo-shaped windows; `hammer`: the windows batch-std sends ten times its limit to
 * `route`. Returns the clients flagged, as `id@window`, and those the policy limited.
 */
async function run(hammer: { from: number; to: number; route: string }): Promise<{
  flagged: string[]
  limited: Set<string>
}> {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-victims-'))
  dirs.push(dir)
  let now = T0
  const keys = CLIENTS.map((c) => ({ id: c.id, key: `demo-${c.id}-key`, tier: c.tier }))
  const limits = limitsSchema.parse({
    enabled: true,
    dataDir: dir,
    keys,
    tiers: { STD: { ratePerSec: 2, burst: 10 }, PRM: { ratePerSec: 10, burst: 30 } },
    stats: { windowMs: WINDOW },
  })
  const services = ['browse', 'shop', 'test', 'payment-gateway', 'login']
  const l = new Limiter(
    { limits, services, keyPrefix: 'rl:' },
    {
      store: new MemoryLimitStore(),
      state: new FileStateBackend(join(dir, 'state.json')),
      clock: () => now,
    },
  )
  limiters.push(l)
  const cfg = abusiveClientsSchema.parse({ mode: 'enforce' })
  const policy = new AbusiveClients(cfg)
  const live = new LiveAnomalies({ clearAfter: 3 })
  const flagged: string[] = []
  const limited = new Set<string>()
  live.on('anomaly', (r: AnomalyRecord, t: string) => {
    if (r.level !== 'client') return
    if (t === 'opened') {
      flagged.push(`${r.key.slice('client:'.length)}@${(r.openedAtMs - T0) / WINDOW}`)
      policy.observe({ kind: 'anomaly.opened', anomaly: r }, now)
    } else policy.observe({ kind: 'anomaly.resolved', id: r.id }, now)
  })
  const r = rng(7)
  const ok = () => (r() < 0.005 ? 500 : 200)
  const shop = (win: number) => (win >= OUTAGE.from && win < OUTAGE.to && r() < 0.8 ? 502 : ok())

  for (let win = 0; win < WINDOWS; win++) {
    const start = T0 + win * WINDOW
    // defensive mode on the failing service, as anomaly pressure turns it on a window later
    if (win === OUTAGE.from + 1)
      await l.setControls({ service: 'shop', defensive: true }, { actor: 'control', reason: 'pricing 5xx' })
    if (win === OUTAGE.to)
      await l.setControls({ service: 'shop', defensive: false }, { actor: 'control', reason: 'over' })
    const reqs: Request[] = []
    for (const c of CLIENTS) {
      const n = Math.round(c.rps * (WINDOW / 1000) * (0.8 + 0.4 * r()))
      for (let k = 0; k < n; k++) {
        const route = c.routes[Math.floor(r() * c.routes.length)]!
        reqs.push({ client: c.id, key: c.id, route, status: route === 'shop' ? shop : ok })
      }
    }
    // a credential stuffer: anonymous, a login attempt a second, nearly every one refused
    if (win >= STUFFER.from && win < STUFFER.to)
      for (let k = 0; k < 12; k++)
        reqs.push({
          client: 'ip:203.0.113.9',
          key: null,
          route: 'login',
          status: () => (r() < 0.9 ? 401 : 200),
        })
    // batch-std hammers ten times its limit
    if (win >= hammer.from && win < hammer.to)
      for (let k = 0; k < 200; k++) {
        const status = hammer.route === 'shop' ? shop : ok
        reqs.push({ client: 'batch-std', key: 'batch-std', route: hammer.route, status })
      }
    // a new client walks the catalogue, one route after another, within its limit
    if (win >= SCRAPER.from && win < SCRAPER.to)
      for (let k = 0; k < 18; k++)
        reqs.push({
          client: 'scraper',
          key: null,
          route: `browse-item-${k + 18 * (win - SCRAPER.from)}`,
          status: ok,
        })
    // interleaved over the window, as clients send concurrently
    reqs.sort(() => r() - 0.5)
    reqs.forEach((q, k) => {
      now = start + Math.floor(((k + 0.5) * WINDOW) / reqs.length)
      const headers: Record<string, string> = q.key === null ? {} : { 'x-api-key': `demo-${q.key}-key` }
      const remoteAddress = q.client === 'scraper' ? '198.51.100.4' : '203.0.113.9'
      const service = q.route.startsWith('browse') ? 'browse' : q.route
      const d = sync(
        l.admit({ routeId: q.route, service, priority: 'normal', cost: 1, headers, remoteAddress }, now),
      )
      if (d.allowed) l.observe(d.clientId, q.route, q.status(win), 20 + 60 * r())
    })
    // the window closes: the gateway publishes it, the control plane merges and judges it
    now = start + WINDOW
    const last = l.clientStats().last
    expect(last.windowStartMs).toBe(start)
    live.clientWindow({
      windowStartMs: start,
      windowMs: WINDOW,
      clients: mergeClientWindows([clientWindowMessage('gw-1', last)]),
    })
    for (const d of policy.evaluate(now)) {
      const client = d.target.slice('client:'.length)
      if (d.state === 'limited') limited.add(client)
      await l.setControls(
        { clients: { [client]: d.state === 'limited' ? cfg.multiplier : null } },
        { actor: 'control:abusive-clients', reason: d.reason },
      )
    }
  }
  return { flagged, limited }
}

describe('abusive clients in a demo-shaped run', () => {
  it('flags none of the victims of an upstream failing for everyone under defensive mode, and still flags the abusive ones', async () => {
    const HAMMER = { from: 76, to: 80, route: 'test' }
    const { flagged, limited } = await run(HAMMER)
    const who = (x: string) => x.split('@')[0]
    // the victims: every client of the shop route, refused by defensive mode or answered 502
    expect(flagged.map(who)).not.toContain('initech-prm')
    expect(limited.has('initech-prm')).toBe(false)
    // the abusive ones, each flagged while it abuses, and only they
    expect(flagged.map(who).sort()).toEqual(['batch-std', 'ip:203.0.113.9', 'ip:198.51.100.4'].sort())
    const at = new Map(flagged.map((x) => [who(x), Number(x.split('@')[1])]))
    expect(at.get('ip:203.0.113.9')).toBeGreaterThanOrEqual(STUFFER.from)
    expect(at.get('ip:203.0.113.9')).toBeLessThan(STUFFER.to)
    expect(at.get('batch-std')).toBeGreaterThanOrEqual(HAMMER.from)
    expect(at.get('batch-std')).toBeLessThan(HAMMER.to)
    expect(at.get('ip:198.51.100.4')).toBeGreaterThanOrEqual(SCRAPER.from)
    expect(at.get('ip:198.51.100.4')).toBeLessThan(SCRAPER.to)
  })

  it('flags a client hammering the failing route while defensive mode is on: its request count stands out', async () => {
    const HAMMER = { from: OUTAGE.from + 2, to: OUTAGE.from + 6, route: 'shop' }
    const { flagged } = await run(HAMMER)
    const who = (x: string) => x.split('@')[0]
    expect(flagged.map(who)).not.toContain('initech-prm')
    const at = Number(flagged.find((x) => who(x) === 'batch-std')?.split('@')[1])
    expect(at).toBeGreaterThanOrEqual(HAMMER.from)
    expect(at).toBeLessThan(HAMMER.to)
  })
})
