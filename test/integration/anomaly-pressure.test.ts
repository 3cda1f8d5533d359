/**
 * Anomaly pressure through the real runtime: embedded mode (gateway and limiter on the main
 * thread, control plane in its worker with SQLite, detector bank warmed offline and restored from
 * detect.statePath), 1 s windows. A Standard client sends ~18 requests/s, well within its limit;
 * an error burst injected on the mock upstream opens an error anomaly on the service, the policy
 * turns defensive mode on for that service with an expiry (audited as `control:anomaly-pressure`)
 * and the same client is now refused; once the burst is over and the anomaly resolves, defensive
 * mode goes off after the hold and the client has its rate again. `vigil simulate policy` on the
 * stored history makes the same changes at the same times.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { run } from '../../src/cli/main.js'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import type { ActionRecord } from '../../src/control/actions.js'
import type { AnomalyRecord } from '../../src/control/anomalies.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { buildOnce, poll, writeWarmDetectorState } from './control-support.js'

const KEY = 'std-secret-0001'
const TTL_MS = 20_000

function configText(mockUrl: string, dir: string, statePath: string): string {
  return [
    'env: ap-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    'admin: { host: 127.0.0.1, port: 0 }',
    `services: { orders: { targets: [${mockUrl}] } }`,
    'routes: [ { name: orders, path: /orders, service: orders, retry: { attempts: 1 } } ]',
    'telemetry: { windowMs: 1000, gatewayId: gw-ap, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
    'control: { graceMs: 300 }',
    `detect: { maxSeries: 100, clearAfter: 3, statePath: ${JSON.stringify(statePath)} }`,
    'forecast: { enabled: false }',
    'limits:',
    '  enabled: true',
    `  dataDir: ${JSON.stringify(dir)}`,
    '  tiers: { STD: { ratePerSec: 40, burst: 20 } }',
    `  keys: [ { id: std-client, key: ${KEY}, tier: STD } ]`,
    '  defensive: { STD: 0.1 }',
    'policies:',
    '  forecastPressure: { enabled: false }',
    '  abusiveClients: { enabled: false }',
    `  anomalyPressure: { mode: enforce, holdMs: 2s, ttlMs: ${TTL_MS / 1000}s }`,
    // an alert rule in shadow on the same anomaly: would-have-paged beside what was done
    'alerts:',
    '  rules: [ { name: orders-anomaly, kind: anomaly, mode: shadow, level: route, match: { service: orders }, metrics: [errors] } ]',
    `  sinks: [ { name: file, kind: file, path: ${JSON.stringify(join(dir, 'alerts.jsonl'))} } ]`,
    '',
  ].join('\n')
}

interface Controls {
  services: Record<string, { defensive: boolean }>
  entries: Record<string, { actor: string; reason: string; setAt: string; expiresAt?: string }>
}

describe('adaptive limits: anomaly pressure in embedded mode', { timeout: 120_000 }, () => {
  let dir: string
  let mock: MockService
  let vigil: Vigil | null = null

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'orders', latencyMs: '16-30' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-anomaly-pressure-'))
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('an error anomaly on a service turns defensive mode on for it with an expiry, and off after it resolves', async () => {
    const state = join(dir, 'detect.state')
    writeWarmDetectorState(state, { service: 'orders', route: 'orders', env: 'ap-env' })
    const file = join(dir, 'vigil.yaml')
    writeFileSync(file, configText(mock.url, dir, state))
    const t0 = Date.now()
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    const gw = vigil.gatewayUrl
    const admin = vigil.adminUrl
    const json = async <T>(path: string): Promise<T> => (await fetch(`${admin}${path}`)).json() as Promise<T>

    // ~18 requests/s, 5 at a time: within 40/s, far over the 4/s defensive mode leaves
    type Phase = 'steady' | 'burst' | 'after'
    let phase = 'steady' as Phase
    const statuses: Record<Phase, number[]> = { steady: [], burst: [], after: [] }
    let stop = false
    const traffic = (async () => {
      while (!stop) {
        const now = phase
        const got = await Promise.all(
          Array.from({ length: 5 }, () =>
            fetch(`${gw}/orders/x`, { headers: { 'x-api-key': KEY } }).then(
              async (r) => (await r.arrayBuffer(), r.status),
            ),
          ),
        )
        statuses[now].push(...got)
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    try {
      await new Promise((r) => setTimeout(r, 4_000))
      const burstAt = Date.now() - 1_000
      phase = 'burst'
      mock.injectIncident({ kind: 'errors', durationMs: 60_000, errorRate: 0.9 })
      const controls = await poll(
        () => json<Controls>('/api/limits/controls'),
        (c) => c.services.orders?.defensive === true,
        'defensive mode on orders',
        30_000,
      )
      // the anomaly behind it is open on the service, opened by the burst
      const { anomalies } = await json<{ anomalies: AnomalyRecord[] }>(
        '/api/anomalies?state=open&service=orders',
      )
      const cause = anomalies.find((a) => ['errors', 'joint'].includes(a.metric) && a.openedAtMs >= burstAt)
      expect(cause, JSON.stringify(anomalies)).toBeDefined()
      // only this service, with an expiry, by the policy, with the anomaly as the reason
      expect(Object.keys(controls.services)).toEqual(['orders'])
      const entry = controls.entries['services.orders.defensive']
      expect(entry).toMatchObject({
        actor: 'control:anomaly-pressure',
        reason: expect.stringMatching(/anomaly on orders\|orders\|ap-env: .*defensive mode on orders/),
      })
      expect(Date.parse(entry.expiresAt!) - Date.parse(entry.setAt)).toBe(TTL_MS)
      // the client that was served is now refused, and the 429 says why
      const refused = await poll(
        () =>
          fetch(`${gw}/orders/x`, { headers: { 'x-api-key': KEY } }).then(async (r) =>
            r.status === 429 ? ((await r.json()) as { controls?: { path: string; actor: string }[] }) : null,
          ),
        (b) => b !== null,
        'a 429 in defensive mode',
        10_000,
      )
      expect(refused?.controls).toContainEqual(
        expect.objectContaining({ path: 'services.orders.defensive', actor: 'control:anomaly-pressure' }),
      )
      // the steady client's loop (a round every 250 ms) must see defensive mode too before the
      // incident ends: the check above can get its 429 before that loop's next round
      await poll(
        async () => statuses.burst.filter((s) => s === 429).length,
        (n) => n > 0,
        'a 429 in the steady client’s traffic during the burst',
        10_000,
      )
      mock.clearIncident()
      const before429 = statuses.burst.filter((s) => s === 429).length
      expect(statuses.steady.length).toBeGreaterThan(20)
      expect(statuses.steady.filter((s) => s === 429)).toEqual([])

      // the burst is over: the anomaly resolves, defensive mode goes off after the 2 s hold
      phase = 'after'
      const off = await poll(
        () => json<Controls>('/api/limits/controls'),
        (c) => c.services.orders === undefined,
        'defensive mode off',
        45_000,
      )
      expect(off.entries['services.orders.defensive']).toBeUndefined()
      expect(before429).toBeGreaterThan(0)
      const { actions } = await json<{ actions: ActionRecord[] }>(
        '/api/actions?policy=anomaly-pressure&mode=enforce&limit=100',
      )
      const changes = actions.filter((a) => a.kind !== 'limits.renew').reverse()
      expect(changes.map((a) => a.kind)).toEqual(['limits.apply', 'limits.release'])
      expect(changes[0]).toMatchObject({
        target: 'service:orders',
        after: { 'services.orders.defensive': true },
        result: { status: 'ok' },
        evidence: {
          service: 'orders',
          anomalies: expect.arrayContaining([
            expect.objectContaining({
              key: 'orders|orders|ap-env',
              metric: expect.stringMatching(/^(errors|joint)$/),
            }),
          ]),
        },
      })
      expect(changes[1]).toMatchObject({ before: { 'services.orders.defensive': true }, after: {} })
      // GET /api/actions shows what was done beside what would have been: the limit changes
      // (enforce) and the shadow rule's page, which went nowhere
      const all = await json<{ actions: ActionRecord[] }>('/api/actions?limit=100')
      expect(new Set(all.actions.map((x) => `${x.mode} ${x.policy}`))).toEqual(
        new Set(['enforce anomaly-pressure', 'shadow orders-anomaly']),
      )
      const shadow = await json<{ actions: ActionRecord[] }>('/api/actions?mode=shadow')
      expect(shadow.actions.length).toBeGreaterThan(0)
      expect(shadow.actions.find((x) => x.kind === 'alert.firing')).toMatchObject({
        policy: 'orders-anomaly',
        mode: 'shadow',
        result: { status: 'shadow' },
        reason: expect.stringContaining('errors'),
      })
      expect(existsSync(join(dir, 'alerts.jsonl'))).toBe(false)
      // served again at its own rate: nothing refused in the next 2 s
      const mark = statuses.after.length
      await new Promise((r) => setTimeout(r, 2_000))
      const since = statuses.after.slice(mark)
      expect(since.length).toBeGreaterThan(10)
      expect(since.filter((s) => s === 429)).toEqual([])

      // `vigil simulate policy` on what the store holds makes the same changes at the same times
      stop = true
      await traffic
      await vigil.stop()
      vigil = null
      const out: string[] = []
      const spy = vi
        .spyOn(process.stdout, 'write')
        .mockImplementation((c: string | Uint8Array) => (out.push(String(c)), true))
      const code = await run([
        'simulate',
        'policy',
        '--name',
        'anomaly-pressure',
        '--config',
        file,
        '--from',
        String(t0),
        '--to',
        'now',
        '--json',
      ]).finally(() => spy.mockRestore())
      expect(code).toBe(0)
      const replayed = (
        JSON.parse(out.join('')) as { decisions: { atMs: number; action: string }[] }
      ).decisions.filter((d) => d.action !== 'renew')
      expect(replayed.map((d) => `limits.${d.action}`)).toEqual(changes.map((a) => a.kind))
      // the live change lands after its window's close by however long the control plane took
      // (1.5 s seen on a loaded machine); the replay's is at the close
      for (let i = 0; i < replayed.length; i++)
        expect(Math.abs(replayed[i].atMs - changes[i].atMs)).toBeLessThanOrEqual(2500)
    } finally {
      stop = true
      await traffic
    }
  })
})
