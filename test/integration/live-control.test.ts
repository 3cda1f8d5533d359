/**
 * Live detection and forecasting through the real runtime: embedded mode (control plane in a
 * worker_thread, MemoryBus, SQLite), a mock upstream from src/sim, 1 s windows. Shows that
 * `GET /api/anomalies` and `GET /api/series/:key/forecast` answer from the worker, that a young
 * series answers `insufficient_history` and then a forecast with intervals, that the
 * forecast is stored as an event, and that a reload whose config no longer has a route resolves
 * that route's open anomaly at once ("its route was removed from the config").
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { SqliteStore } from '../../src/store/index.js'
import { ensureBuilt } from '../helpers/build.js'
import { poll as pollFor, writeWarmDetectorState } from './control-support.js'

const poll = <T>(fn: () => Promise<T>, ok: (v: T) => boolean, what: string, timeoutMs = 90_000): Promise<T> =>
  pollFor(fn, ok, what, timeoutMs)

const root = join(import.meta.dirname, '../..')
const KEY = 'orders|orders|live-env'
const enc = encodeURIComponent

/** The worker runs compiled code (dist/control/worker.js), built once per run by the vitest globalSetup. */
function build(): void {
  ensureBuilt()
  if (!existsSync(join(root, 'dist/control/worker.js')))
    throw new Error('build failed: dist/control/worker.js missing')
}

function configText(mockUrl: string, dbPath: string, statePath: string, route = 'orders'): string {
  return [
    'env: live-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    'admin: { host: 127.0.0.1, port: 0 }',
    'services:',
    `  orders: { targets: [${mockUrl}] }`,
    'routes:',
    `  - { name: ${route}, path: /${route}, service: orders }`,
    'telemetry: { windowMs: 1000, gatewayId: gw-live, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(dbPath)} }`,
    'control: { graceMs: 300 }',
    `detect: { maxSeries: 100, statePath: ${JSON.stringify(statePath)} }`,
    'forecast: { minHistory: 6, refitEveryWindows: 3, horizon: 8, thresholds: { p95Ms: 500 } }',
    '',
  ].join('\n')
}

interface Forecast {
  status: string
  have?: number
  need?: number
  horizon?: number
  model?: string
  points?: { atMs: number; forecast: number; lower: number; upper: number }[]
  backtest?: { model: string; mase: number }[]
  failure?: { p95: { threshold: number; probability: number } | null }
}

describe('live anomalies and forecasts in embedded mode', { timeout: 240_000 }, () => {
  let dir: string
  let mock: MockService
  let vigil: Vigil | null = null
  let traffic: Promise<void> | null = null
  let stopTraffic = false
  beforeAll(async () => {
    build()
    mock = await startMockService({ name: 'orders', latencyMs: '2-8' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-live-'))
  }, 300_000)
  afterAll(async () => {
    stopTraffic = true
    await traffic
    await vigil?.stop()
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('serves /api/anomalies and /api/series/:key/forecast from the worker', async () => {
    const file = join(dir, 'live.yaml')
    const db = join(dir, 'live.db')
    const state = join(dir, 'detect.state')
    writeFileSync(file, configText(mock.url, db, state))
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    const gw = vigil.gatewayUrl
    const admin = vigil.adminUrl
    // steady traffic, bounded: ~20 requests/s for at most 60 s, stopped by the test
    traffic = (async () => {
      const until = Date.now() + 60_000
      while (!stopTraffic && Date.now() < until) {
        await Promise.all(
          Array.from({ length: 5 }, () => fetch(`${gw}/orders/x`).then((r) => r.arrayBuffer())),
        )
        await new Promise((r) => setTimeout(r, 250))
      }
    })()

    // a young series: 200 with insufficient_history and how many windows are needed
    const young = await poll(
      async () => (await fetch(`${admin}/api/series/${enc(KEY)}/forecast`)).json() as Promise<Forecast>,
      (b) => b.status === 'insufficient_history',
      'insufficient_history',
    )
    expect(young.need).toBe(6)
    expect(young.have).toBeLessThan(6)

    const fc = await poll(
      async () =>
        (await fetch(`${admin}/api/series/${enc(KEY)}/forecast?horizon=5`)).json() as Promise<Forecast>,
      (b) => b.status === 'ok',
      'a forecast',
    )
    expect(fc.horizon).toBe(5)
    expect(fc.points).toHaveLength(5)
    for (const p of fc.points!) {
      expect(p.lower).toBeLessThanOrEqual(p.forecast)
      expect(p.upper).toBeGreaterThanOrEqual(p.forecast)
    }
    expect(fc.points![1].atMs - fc.points![0].atMs).toBe(1000)
    expect(typeof fc.model).toBe('string')
    expect(fc.backtest!.length).toBeGreaterThan(0)
    expect(fc.failure!.p95?.threshold).toBe(500)

    // the service roll-up and global series are forecast too (same key format)
    const svc = await fetch(`${admin}/api/series/${enc('orders|*|live-env')}/forecast?horizon=3`)
    expect(svc.status).toBe(200)

    const anomalies = await fetch(`${admin}/api/anomalies`)
    expect(anomalies.status).toBe(200)
    const body = (await anomalies.json()) as { state: string; anomalies: unknown[] }
    expect(body.state).toBe('open')
    expect(Array.isArray(body.anomalies)).toBe(true)
    const all = await fetch(`${admin}/api/anomalies?state=all&service=orders&env=live-env&from=0`)
    expect(all.status).toBe(200)

    // errors name the parameter
    const bad = await fetch(`${admin}/api/anomalies?state=closed`)
    expect(bad.status).toBe(400)
    expect(((await bad.json()) as { message: string }).message).toMatch(/state/)
    const badH = await fetch(`${admin}/api/series/${enc(KEY)}/forecast?horizon=abc`)
    expect(badH.status).toBe(400)
    const unknown = await fetch(`${admin}/api/series/${enc('nope|x|live-env')}/forecast`)
    expect(unknown.status).toBe(404)

    // scheduled refits store forecast events
    stopTraffic = true
    await traffic
    await vigil.stop()
    vigil = null
    // the detector state was written on the graceful stop, for the next start to restore
    expect(existsSync(state)).toBe(true)
    const store = await SqliteStore.open({ path: db })
    try {
      const events = await store.queryEvents({ kind: 'forecast', limit: 1000 })
      expect(events.length).toBeGreaterThan(0)
      expect(events.some((e) => e.subject === KEY)).toBe(true)
    } finally {
      await store.close()
    }
  })

  it('a latency incident opens an explained anomaly, served by /api/anomalies (detector state restored from detect.statePath); a reload without its route resolves it', async () => {
    // ~130 windows of warm-up would take minutes at 1 s windows: a bank warmed offline on windows
    // like the ones this test sends (~18 requests/s at ~20 ms) is handed over through statePath
    const state = join(dir, 'incident.state')
    writeWarmDetectorState(state, { service: 'orders', route: 'orders', env: 'live-env' })
    const file = join(dir, 'incident.yaml')
    writeFileSync(file, configText(mock.url, join(dir, 'incident.db'), state))
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    const gw = vigil.gatewayUrl
    const admin = vigil.adminUrl
    let sleepMs = 20
    let stop = false
    const load = (async () => {
      const until = Date.now() + 60_000
      while (!stop && Date.now() < until) {
        await Promise.all(
          Array.from({ length: 5 }, () =>
            fetch(`${gw}/orders/x?sleep=${sleepMs}`).then((r) => r.arrayBuffer()),
          ),
        )
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    try {
      await new Promise((r) => setTimeout(r, 4_000))
      const incidentAt = Date.now() - 1_000
      sleepMs = 400
      interface Anomaly {
        key: string
        metric: string
        openedAtMs: number
        observed: number
        expected: number
        high: number
        state: string
      }
      // the incident's anomaly: a blip before it, on a loaded CI machine, may have opened one too,
      // and the window the incident began in (fast and slow requests mixed) may open a quantile's
      // at a fraction of the slowdown; some latency quantile's shows the slowdown itself
      const clear = (x: Anomaly) =>
        x.key === KEY &&
        ['p50', 'p95', 'p99'].includes(x.metric) &&
        x.openedAtMs >= incidentAt &&
        x.observed > 3 * x.expected
      const body = await poll(
        async () =>
          (await fetch(`${admin}/api/anomalies?state=open&service=orders`)).json() as Promise<{
            anomalies: Anomaly[]
          }>,
        (b) => b.anomalies.some(clear),
        'a latency anomaly',
        45_000,
      )
      const a = body.anomalies.find(clear)!
      expect(a.state).toBe('open')
      expect(a.observed).toBeGreaterThan(a.high)

      // the route goes from the config: its series is no silence, its anomalies resolve at once
      stop = true
      await load
      writeFileSync(file, configText(mock.url, join(dir, 'incident.db'), state, 'checkout'))
      expect(await vigil.reload()).toMatchObject({ ok: true, restartRequired: [] })
      const resolved = await poll(
        async () =>
          (await fetch(`${admin}/api/anomalies?state=all&service=orders&from=0`)).json() as Promise<{
            anomalies: (Anomaly & { id: string; resolvedBy?: string; resolution?: string })[]
          }>,
        (b) => b.anomalies.some((x) => x.key === KEY && x.state === 'open') === false,
        'the removed route’s anomalies resolved',
        10_000,
      )
      const gone = resolved.anomalies.find(
        (x) => x.key === a.key && x.openedAtMs === a.openedAtMs && x.metric === a.metric,
      )
      expect(gone).toMatchObject({
        state: 'resolved',
        resolvedBy: 'evicted',
        resolution: 'its route was removed from the config',
      })
    } finally {
      stop = true
      await load
    }
  })
})
