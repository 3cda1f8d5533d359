/**
 * Abusive clients through the real runtime: embedded mode (limiter, control plane in a
 * worker_thread, MemoryBus, SQLite), a mock upstream, 1 s client windows. Thirty clients (told
 * apart by X-Forwarded-For from a trusted proxy) use one or two routes each; then a new client
 * walks all 40 routes. The limiter's client window travels the bus to the worker, which opens one
 * `client` anomaly (naming distinctRoutes), served by `GET /api/anomalies`; no regular client is
 * flagged in the steady traffic before it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import type { AnomalyRecord } from '../../src/control/anomalies.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { buildOnce, poll } from './control-support.js'

const ROUTES = 40

function configText(mockUrl: string, dir: string): string {
  return [
    'env: abuse-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    'admin: { host: 127.0.0.1, port: 0 }',
    'services:',
    `  shop: { targets: [${mockUrl}] }`,
    'routes:',
    ...Array.from({ length: ROUTES }, (_, i) => `  - { name: r${i}, path: /r${i}, service: shop }`),
    'telemetry: { windowMs: 1000, gatewayId: gw-abuse, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'abuse.db'))} }`,
    'control: { graceMs: 300 }',
    'limits:',
    '  enabled: true',
    `  dataDir: ${JSON.stringify(dir)}`,
    "  identity: { trustedProxies: ['127.0.0.1/32'], unknownKey: anonymous }",
    '  tiers: { STD: { ratePerSec: 1000, burst: 1000 } }',
    '  stats: { windowMs: 1000, topK: 100 }',
    '',
  ].join('\n')
}

describe('abusive clients in embedded mode', { timeout: 180_000 }, () => {
  let dir: string
  let mock: MockService
  let vigil: Vigil | null = null

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'shop', latencyMs: '1-3' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-abuse-'))
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a client walking every route opens a client anomaly; no regular client is flagged before it comes', async () => {
    const file = join(dir, 'abuse.yaml')
    writeFileSync(file, configText(mock.url, dir))
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    const gw = vigil.gatewayUrl
    const admin = vigil.adminUrl
    const get = (ip: string, route: number) =>
      fetch(`${gw}/r${route}/x`, { headers: { 'x-forwarded-for': ip } }).then((r) => r.arrayBuffer())
    let stop = false
    const start = Date.now()
    const traffic = (async () => {
      for (let tick = 0; !stop && Date.now() - start < 120_000; tick++) {
        const calls: Promise<ArrayBuffer>[] = []
        // 30 regular clients: 2-6 requests per 250 ms on their own one or two routes
        for (let c = 0; c < 30; c++)
          for (let k = 0; k < 2 + (c % 5); k++) calls.push(get(`10.0.0.${c + 1}`, (c + (k % 2)) % ROUTES))
        // after ~20 s a new client walks every route
        if (Date.now() - start > 20_000) for (let r = 0; r < ROUTES; r++) calls.push(get('10.9.9.9', r))
        await Promise.all(calls)
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    try {
      const scraperKey = 'client:ip:10.9.9.9'
      const open = await poll(
        async () =>
          ((await (await fetch(`${admin}/api/anomalies`)).json()) as { anomalies: AnomalyRecord[] })
            .anomalies,
        (a) => a.some((r) => r.key === scraperKey),
        'the scraper flagged',
        100_000,
      )
      const clients = open.filter((r) => r.level === 'client')
      // no regular client was flagged in the steady traffic before the scraper came. After it, a
      // loaded CI machine has flagged the heaviest regular clients too, once, in the window its
      // first burst stalled (a known weakness, docs/detection.md): logged, not asserted
      const regular = clients.filter((r) => r.key !== scraperKey)
      expect(regular.filter((r) => r.openedAtMs < start + 20_000)).toEqual([])
      for (const r of regular)
        process.stderr.write(`regular client flagged after the scraper came: ${JSON.stringify(r)}\n`)
      const scraper = clients.find((r) => r.key === scraperKey)!
      expect(scraper.metric).toBe('client')
      expect(scraper.detector).toBe('client-outliers')
      // what stands out in the window that raised it: normally the 40 routes; on a loaded machine
      // its first window can be cut short (routes are counted when responses finish), and then the
      // errors or the latency of its first burst are what stand out
      expect(scraper.children.length).toBeGreaterThan(0)
      const routes = scraper.children.find((c) => c.key === 'distinctRoutes')
      if (routes !== undefined) expect(routes.observed).toBeGreaterThan(2)
      // it was opened after the scraper started, not during warm-up
      expect(scraper.openedAtMs).toBeGreaterThanOrEqual(start + 19_000)
    } finally {
      stop = true
      await traffic
    }
  })
})
