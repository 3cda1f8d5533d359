/**
 * Forecast pressure through the real runtime: embedded mode (gateway and limiter on the main
 * thread, control plane in its worker with SQLite), 1 s windows, forecasts refitted every 2
 * windows. A Standard and a Premium client each send 30 requests/s; the service's budget is 100/s
 * and the policy's first step starts at half of it. The forecast's upper band crosses it, the
 * policy lowers Standard clients on that service (through the worker → main thread → limiter
 * path, audited as `control:forecast-pressure`): Standard gets 429s, Premium none. The load then
 * falls and the step is relaxed after the hold. In shadow mode the same load changes nothing
 * and the would-have-done action is in `GET /api/actions?mode=shadow`. A replay of the stored
 * history makes the same decisions as the live run.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import type { ActionRecord } from '../../src/control/actions.js'
import { createPolicy, loadSignals, replayPolicy } from '../../src/control/policies/index.js'
import { loadConfig } from '../../src/config/index.js'
import { runLoad, startMockService, type MockService } from '../../src/sim/index.js'
import { SqliteStore } from '../../src/store/sqlite.js'
import { buildOnce, poll } from './control-support.js'

const STD_KEY = 'std-secret-0001'
const PRM_KEY = 'prm-secret-0001'

function configText(mockUrl: string, dir: string, mode: 'shadow' | 'enforce'): string {
  return [
    'env: adaptive-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    'admin: { host: 127.0.0.1, port: 0 }',
    `services: { shop: { targets: [${mockUrl}] } }`,
    'routes: [ { path: /api, service: shop, limit: { priority: normal } } ]',
    'telemetry: { windowMs: 1000, gatewayId: gw-adaptive, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
    'control: { graceMs: 200 }',
    'detect: { enabled: false }',
    'forecast: { refitEveryWindows: 2, minHistory: 4, horizon: 10, candidates: [naive, drift] }',
    'limits:',
    '  enabled: true',
    `  dataDir: ${JSON.stringify(dir)}`,
    '  tiers: { STD: { ratePerSec: 60, burst: 30 }, PRM: { ratePerSec: 60, burst: 30, rank: 1 } }',
    `  keys: [ { id: std-client, key: ${STD_KEY}, tier: STD }, { id: prm-client, key: ${PRM_KEY}, tier: PRM } ]`,
    '  services: { shop: { ratePerSec: 100, burst: 100 } }',
    'policies:',
    '  anomalyPressure: { enabled: false }',
    '  abusiveClients: { enabled: false }',
    '  forecastPressure:',
    `    mode: ${mode}`,
    '    lookaheadMs: 5s',
    '    steps: [ { above: 0.5, tiers: { STD: 0.2 }, classes: { low: 0.2 } } ]',
    '    holdMs: 2s',
    '    ttlMs: 30s',
    '    staleMs: 4s',
    '',
  ].join('\n')
}

interface Counts {
  std: number
  prm: number
  std429: number
  prm429: number
}

/** Both clients at `rps` each for `ms` (or until `signal`); 429s per tier. */
async function load(gw: string, rps: number, ms: number, signal?: AbortSignal): Promise<Counts> {
  const [s, p] = await Promise.all([
    runLoad({ target: `${gw}/api/x`, rps, durationMs: ms, keys: [STD_KEY], signal }),
    runLoad({ target: `${gw}/api/x`, rps, durationMs: ms, keys: [PRM_KEY], signal }),
  ])
  return {
    std: s.completed,
    prm: p.completed,
    std429: s.statusCounts['429'] ?? 0,
    prm429: p.statusCounts['429'] ?? 0,
  }
}

const json = async <T>(url: string): Promise<T> => (await fetch(url)).json() as Promise<T>

describe('adaptive limits: forecast pressure in embedded mode', { timeout: 180_000 }, () => {
  let dir: string
  let mock: MockService
  let vigil: Vigil | null = null

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'shop', latencyMs: '1-2' })
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
  })

  async function start(mode: 'shadow' | 'enforce'): Promise<{ file: string; gw: string; admin: string }> {
    dir = mkdtempSync(join(tmpdir(), `vigil-adaptive-${mode}-`))
    const file = join(dir, 'vigil.yaml')
    writeFileSync(file, configText(mock.url, dir, mode))
    vigil = await startVigil({
      configFile: file,
      mode: 'embedded',
      logger: pino({ level: 'silent' }),
      env: { ...process.env, VIGIL_ADMIN_TOKEN: 'test-token' },
    })
    return { file, gw: vigil.gatewayUrl, admin: vigil.adminUrl }
  }

  it('lowers Standard before Premium when the forecast passes the budget, relaxes after, and replays the same', async () => {
    const { file, gw, admin } = await start('enforce')
    const t0 = Date.now()
    try {
      // until the policy acts: 30 + 30 requests/s against a first step at 50/s
      const stopHigh = new AbortController()
      const background = load(gw, 30, 40_000, stopHigh.signal)
      const controls = await poll(
        () =>
          json<{ services: Record<string, { tiers: Record<string, number> }> }>(
            `${admin}/api/limits/controls`,
          ),
        (c) => c.services.shop?.tiers.STD === 0.2,
        'the forecast-pressure step applied',
        40_000,
      )
      expect(controls.services.shop).toEqual({ tiers: { STD: 0.2 }, classes: { low: 0.2 }, defensive: false })
      stopHigh.abort()
      await background
      // measured with the step in force: Standard 30/s against 60 × 0.2 = 12/s; Premium untouched
      const during = await load(gw, 30, 3_000)
      expect(during.std429).toBeGreaterThan(during.std * 0.3)
      expect(during.prm429).toBe(0)
      // a 429 names the entry behind it and why it is there (20 at once against a burst of 6)
      const bodies = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${gw}/api/x`, { headers: { 'x-api-key': STD_KEY } }).then(async (r) =>
            r.status === 429 ? ((await r.json()) as { controls?: unknown[] }) : (await r.arrayBuffer(), null),
          ),
        ),
      )
      const refused = bodies.find((b) => b !== null)
      expect(refused?.controls?.[0]).toMatchObject({
        path: 'services.shop.tiers.STD',
        value: 0.2,
        actor: 'control:forecast-pressure',
        reason: expect.stringContaining('vs budget 100 req/s on shop'),
      })
      // the load falls to 2 + 2 requests/s: the forecast follows, the step is relaxed after the hold
      const stopLow = new AbortController()
      const low = load(gw, 2, 30_000, stopLow.signal)
      await poll(
        () => json<{ services: Record<string, unknown> }>(`${admin}/api/limits/controls`),
        (c) => c.services.shop === undefined,
        'the step relaxed',
        30_000,
      )
      stopLow.abort()
      await low
      const { actions } = await json<{ actions: ActionRecord[] }>(
        `${admin}/api/actions?mode=enforce&policy=forecast-pressure&limit=100`,
      )
      // Standard has its whole burst again: 20 at once pass (with the step in force 6 would)
      const burst = await Promise.all(
        Array.from({ length: 20 }, () =>
          fetch(`${gw}/api/x`, { headers: { 'x-api-key': STD_KEY } }).then(
            async (r) => (await r.arrayBuffer(), r.status),
          ),
        ),
      )
      expect(burst.filter((st) => st === 429)).toEqual([])

      const changes = actions.filter((a) => a.kind !== 'limits.renew').reverse()
      expect(changes.map((a) => a.kind)).toEqual(['limits.apply', 'limits.release'])
      expect(changes[0]).toMatchObject({
        mode: 'enforce',
        target: 'service:shop',
        after: { 'services.shop.tiers.STD': 0.2, 'services.shop.classes.low': 0.2 },
        result: { status: 'ok' },
        evidence: { service: 'shop', budgetRatePerSec: 100, step: 1 },
      })
      expect((changes[0].evidence as { pressure: number }).pressure).toBeGreaterThanOrEqual(0.5)
      // the same audited path as an admin change: one audit event per change applied (renewals too)
      const audit = readFileSync(join(dir, 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { actor: string; subject: string; kind: string })
        .filter((e) => e.actor === 'control:forecast-pressure')
      expect(audit).toHaveLength(actions.length)
      expect(new Set(audit.map((e) => `${e.kind} ${e.subject}`))).toEqual(
        new Set(['limits.controls.set controls:shop']),
      )

      // a replay of what the store holds makes the same changes
      await vigil!.stop()
      vigil = null
      const config = loadConfig(file)
      const store = await SqliteStore.open({ path: join(dir, 'vigil.db') })
      try {
        // the live plane ticks on whole windows: replay on the same grid, and one window past the
        // stop, or a release made in the last window before it is cut off on a fast machine
        const fromMs = Math.floor((t0 - 1000) / 1000) * 1000
        const toMs = Date.now() + 1000
        const signals = await loadSignals(store, fromMs, toMs)
        const r = replayPolicy(createPolicy(config, 'forecast-pressure'), signals, {
          fromMs,
          toMs,
          stepMs: 1000,
        })
        const replayed = r.decisions.filter((d) => d.action !== 'renew')
        expect(replayed.map((d) => `limits.${d.action}`)).toEqual(changes.map((a) => a.kind))
        for (let i = 0; i < replayed.length; i++)
          expect(Math.abs(replayed[i].atMs - changes[i].atMs)).toBeLessThanOrEqual(1500)
      } finally {
        await store.close()
      }
    } finally {
      await vigil?.stop()
      vigil = null
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('in shadow mode changes nothing and logs the would-have-done action', async () => {
    const { gw, admin } = await start('shadow')
    try {
      const stop = new AbortController()
      const background = load(gw, 30, 40_000, stop.signal)
      const { actions } = await poll(
        () => json<{ actions: ActionRecord[] }>(`${admin}/api/actions?mode=shadow`),
        (r) => r.actions.some((a) => a.policy === 'forecast-pressure'),
        'the shadow action',
        40_000,
      )
      stop.abort()
      await background
      expect(actions.find((a) => a.policy === 'forecast-pressure')).toMatchObject({
        kind: 'limits.apply',
        mode: 'shadow',
        target: 'service:shop',
        after: { 'services.shop.tiers.STD': 0.2, 'services.shop.classes.low': 0.2 },
        reason: expect.stringContaining('vs budget 100 req/s on shop'),
        result: { status: 'shadow' },
      })
      const during = await load(gw, 30, 3_000)
      expect(during.std429).toBe(0)
      expect(during.prm429).toBe(0)
      const controls = await json<{ services: object; entries: object }>(`${admin}/api/limits/controls`)
      expect(controls).toMatchObject({ services: {}, entries: {} })
      expect((await json<{ actions: ActionRecord[] }>(`${admin}/api/actions?mode=enforce`)).actions).toEqual(
        [],
      )
    } finally {
      await vigil?.stop()
      vigil = null
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
