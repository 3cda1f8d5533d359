/**
 * `vigil simulate alerts` reaches the firings of the live run that produced the history: the real
 * pipeline (ControlPlane → LiveAnomalies → LiveForecasts → LiveAlerts, with their store events)
 * is driven window by window with a fake clock, on SQLite and on PostgreSQL, then the stored
 * history is replayed and its firings compared with the live ones.
 */
import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { MemoryBus } from '../bus/index.js'
import { parseConfigText } from '../config/index.js'
import { PostgresStore, SqliteStore, type Store } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { ActionLog } from './actions.js'
import { ALERT_FIRED, ALERT_RESOLVED, LiveAlerts, type AlertTransitionEvent } from './alerting.js'
import { simulateAlerts } from './alert-replay.js'
import { LiveAnomalies } from './anomalies.js'
import { ControlPlane } from './control-plane.js'
import { LiveForecasts } from './forecasts.js'
import { soleLeadership } from './leadership.js'
import { formatSeriesKey } from './series-key.js'

const root = join(import.meta.dirname, '../..')
const W = 1_000
const GRACE = 200
const T0 = Date.UTC(2026, 5, 1, 0, 0, 0)
const N = 400

const configLines = [
  'env: prod',
  'services: { orders: { targets: [http://127.0.0.1:9001] }, users: { targets: [http://127.0.0.1:9002] } }',
  'routes: [ { path: /orders, service: orders }, { path: /users, service: users } ]',
  'telemetry: { windowMs: 1000 }',
  'detect: { maxSeries: 100, historySize: 128 }',
  'forecast: { minHistory: 20, refitEveryWindows: 10, horizon: 10, candidates: [naive, drift], thresholds: { errorRatio: 0.1, p95Ms: 400 } }',
  'limits: { enabled: false, services: { users: { ratePerSec: 130, burst: 10 } } }',
  'alerts:',
  '  repeatInterval: 60s',
  '  staleAfter: 5 windows',
  '  rules:',
  '    - { name: errs, kind: error-ratio, floor: 0.05, minHistory: 20, historyWindows: 200, for: 1 window, resolveFor: 2 windows }',
  '    - { name: route-down, kind: failure, level: route, ratio: 0.5, for: 2 windows }',
  '    - { name: slow, kind: latency, threshold: 300, for: 2 windows, match: { service: users } }',
  '    - { name: anomalous, kind: anomaly, metrics: [errors, p95, rate], for: 1 window }',
  '    - { name: will-fail, kind: forecast, metric: errorRatio, probability: 0.5, mode: shadow }',
  '    - { name: over-budget, kind: rate-limit, budgetShare: 1, match: { service: users } }',
]
const config = parseConfigText(configLines.join('\n'), 'vigil.yaml', {})

/**
 * Deterministic traffic: steady with noise, bursts of errors and slowness, a traffic spike, and at
 * the end a last orders burst after which its traffic dwindles to a trickle (3 requests a window).
 */
function rollupsAt(i: number) {
  const rnd = (k: number) => {
    const x = Math.sin(i * 12.9898 + k * 78.233) * 43758.5453
    return x - Math.floor(x)
  }
  const out = []
  for (const [service, route] of [
    ['orders', '/orders'],
    ['users', '/users'],
  ] as const) {
    const trickle = service === 'orders' && i >= 385
    const burst =
      service === 'orders' &&
      ((i >= 200 && i < 210) || (i >= 240 && i < 244) || (i >= 330 && i < 345) || (i >= 380 && !trickle))
    const slow = service === 'users' && i >= 280 && i < 295
    const spike = service === 'users' && i >= 360 && i < 368
    const n = trickle ? 3 : (spike ? 160 : 100) + Math.floor(rnd(1) * 20)
    const lat = Array.from({ length: n }, (_, k) => (slow ? 500 : 40) + rnd(k + 3) * 30)
    const errors = burst ? Math.floor(n * 0.6) : rnd(2) < 0.3 ? 1 : 0
    out.push(
      rollupOf('gw-1', { service, route, env: 'prod' }, T0 + i * W, lat, {
        windowMs: W,
        statusClass: [0, n - errors, 0, 0, errors],
      }),
    )
  }
  return out
}

async function liveRun(store: Store): Promise<void> {
  const bus = new MemoryBus()
  const plane = new ControlPlane({
    store,
    bus,
    subjects: { rollups: 'r', spans: 's' },
    graceMs: GRACE,
    retention: {
      raw: 1e12,
      window: 1e12,
      minute: 1e12,
      hour: 1e12,
      spans: 1e12,
      events: 1e12,
      forecasts: 1e12,
      actions: 1e12,
      graph: 1e12,
    },
    now: () => 0,
    downsampleEveryMs: 1e12,
    pruneEveryMs: 1e12,
  })
  const anomalies = new LiveAnomalies({ store, stepMs: W, maxSeries: 100, historySize: 128 })
  let clock = T0
  const forecasts = new LiveForecasts({
    store,
    stepMs: W,
    history: async (s) => plane.recent(s),
    minHistory: 20,
    refitEveryWindows: 10,
    horizon: 10,
    candidates: ['naive', 'drift'],
    thresholds: { errorRatio: 0.1, p95Ms: 400 },
    now: () => clock,
  })
  const leadership = await soleLeadership(store, 'test')
  const actions = new ActionLog({ store, leadership })
  const alerts = new LiveAlerts({
    config,
    store,
    actions,
    leadership,
    anomalies,
    forecasts,
    refreshMs: 3_600_000,
  })
  plane.onWindowClosed(anomalies.hook)
  plane.onWindowClosed(forecasts.hook)
  plane.onWindowClosed(alerts.hook)
  plane.onTick(alerts.tickHook) // as start.ts: the clock must not move a decision the replay makes
  await alerts.start()
  for (let i = 0; i < N; i++) {
    for (const r of rollupsAt(i)) plane.ingest(r)
    clock = T0 + (i + 1) * W + GRACE
    await plane.tick(clock)
    await alerts.engine.idle()
    await forecasts.runDue(1e9)
  }
  await anomalies.flush()
  await alerts.stop()
  await plane.stop({ flush: false })
  await bus.close()
}

async function liveFirings(store: Store) {
  const fired = await store.queryEvents({ kind: ALERT_FIRED, limit: 10_000 })
  const resolved = await store.queryEvents({ kind: ALERT_RESOLVED, limit: 10_000 })
  const ends = new Map(
    resolved.map((e) => {
      const p = e.payload as AlertTransitionEvent
      return [`${p.fingerprint}:${p.firingAtMs}`, p]
    }),
  )
  return fired
    .map((e) => e.payload as AlertTransitionEvent)
    .map((p) => ({
      rule: p.rule,
      key: p.key,
      firingAtMs: p.firingAtMs,
      resolvedAtMs: ends.get(`${p.fingerprint}:${p.firingAtMs}`)?.resolvedAtMs ?? null,
      resolvedBy: ends.get(`${p.fingerprint}:${p.firingAtMs}`)?.resolvedBy ?? null,
      resolvedSummary: ends.get(`${p.fingerprint}:${p.firingAtMs}`)?.summary ?? null,
    }))
    .sort(
      (a, b) => a.firingAtMs! - b.firingAtMs! || a.rule.localeCompare(b.rule) || a.key.localeCompare(b.key),
    )
}

async function check(store: Store): Promise<void> {
  await liveRun(store)
  const live = await liveFirings(store)
  const replay = await simulateAlerts(store, config, { fromMs: T0, toMs: T0 + N * W })
  const replayed = replay.firings
    .map((f) => ({
      rule: f.rule,
      key: f.key,
      firingAtMs: f.firingAtMs,
      resolvedAtMs: f.resolvedAtMs,
      resolvedBy: f.resolvedBy,
    }))
    .sort((a, b) => a.firingAtMs - b.firingAtMs || a.rule.localeCompare(b.rule) || a.key.localeCompare(b.key))
  // the scenario exercises the rules: each kind fires at least once live
  const kinds = new Set(live.map((f) => f.rule))
  for (const rule of ['errs', 'route-down', 'slow', 'anomalous', 'over-budget'])
    expect(kinds, rule).toContain(rule)
  expect(replayed).toEqual(live.map(({ resolvedSummary: _, ...f }) => f))
  // the last orders burst trickles out: stale 5 windows after its last window with enough
  // requests, live and in the replay alike
  const ordersKey = formatSeriesKey({ service: 'orders', route: '*', env: 'prod' })
  const last = live.filter((f) => f.rule === 'errs' && f.key === ordersKey).at(-1)!
  expect(last).toMatchObject({ firingAtMs: T0 + 380 * W, resolvedAtMs: T0 + 390 * W, resolvedBy: 'stale' })
  expect(last.resolvedSummary).toMatch(
    /^fewer than minRequests 10 requests per window since 2026-06-01T00:06:25.000Z: every window of orders\|\*\|prod for 5s had too few to judge \(the newest: 3 requests sent upstream/,
  )
  // pages: the second orders burst comes inside the repeat interval of the first, after its
  // resolution went out: a new run, paged again
  const errs = replay.rules.find((r) => r.rule === 'errs')!
  expect(errs.firings).toBeGreaterThanOrEqual(3)
  expect(
    replay.firings
      .filter(
        (f) => f.rule === 'errs' && f.key === formatSeriesKey({ service: 'orders', route: '*', env: 'prod' }),
      )
      .map((f) => f.paged),
  ).toEqual([true, true, true, true])
  // the notifications the replay would have sent are the ones the live run recorded, rule by rule
  const recorded = new Map<string, number>()
  for (const kind of ['alert.firing', 'alert.repeat', 'alert.resolved'])
    for (const a of await store.queryActions({ kind, limit: 10_000 }))
      recorded.set(a.policy, (recorded.get(a.policy) ?? 0) + 1)
  expect(Object.fromEntries(replay.rules.map((r) => [r.rule, r.pages]))).toEqual(
    Object.fromEntries(replay.rules.map((r) => [r.rule, recorded.get(r.rule) ?? 0])),
  )
  expect(errs.pages).toBe(2 * errs.firings)
  // one rule only
  const one = await simulateAlerts(store, config, { fromMs: T0, toMs: T0 + N * W, rule: 'slow' })
  expect(one.rules.map((r) => r.rule)).toEqual(['slow'])
  expect(one.firings.map((f) => f.firingAtMs)).toEqual(
    live.filter((f) => f.rule === 'slow').map((f) => f.firingAtMs),
  )
  await expect(
    simulateAlerts(store, config, { fromMs: T0, toMs: T0 + W, rule: 'nope' }),
  ).rejects.toMatchObject({
    code: 'VGL_ERR_ALERTS_BAD_INPUT',
    message: expect.stringMatching(/--rule: no rule "nope" in alerts.rules \(known: errs, route-down/),
  })
}

const pgUp = await serviceAvailable('postgres')

describe('simulateAlerts replays the live run', { timeout: 120_000 }, () => {
  const cleanup: (() => Promise<void>)[] = []
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c()
  })

  it('on SQLite, and through the built CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-replay-'))
    const db = join(dir, 'vigil.db')
    const store = await SqliteStore.open({ path: db })
    cleanup.push(async () => {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    })
    await check(store)
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [...configLines, `store: { kind: sqlite, path: ${JSON.stringify(db)} }`, ''].join('\n'),
    )
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, [join(root, 'bin/vigil.js'), 'simulate', 'alerts', ...args], {
        encoding: 'utf8',
      })
    const from = new Date(T0).toISOString()
    const to = String(T0 + N * W)
    const out = cli('--from', from, '--to', to, '--config', file)
    expect(out.status, out.stderr).toBe(0)
    expect(out.stdout).toMatch(
      /alert rules replayed over 2026-06-01T00:00:00.000Z .. 2026-06-01T00:06:40.000Z/,
    )
    expect(out.stdout).toMatch(/^errs\s+error-ratio\s+enforce\s+4\s+8\s+1\s+45s$/m)
    expect(out.stdout).toMatch(
      /^errs {2}orders\|\*\|prod {2}fired 2026-06-01T00:06:20.000Z {2}resolved 2026-06-01T00:06:30.000Z \(10s, stale\)$/m,
    )
    expect(out.stdout).toMatch(
      /^errs {2}orders\|\*\|prod {2}fired 2026-06-01T00:04:00.000Z {2}resolved .*\n {4}error ratio/m,
    )
    expect(out.stdout).not.toMatch(/not paged/)
    const json = JSON.parse(
      cli('--from', from, '--to', to, '--config', file, '--rule', 'slow', '--json').stdout,
    )
    expect(json.rules).toEqual([expect.objectContaining({ rule: 'slow', firings: 1 })])
    const bad = cli('--from', 'yesterday', '--to', to, '--config', file)
    expect(bad.status).toBe(2)
    expect(bad.stderr).toMatch(/--from: expected ISO 8601/)
    const unknown = cli('--from', from, '--to', to, '--config', file, '--rule', 'nope')
    expect(unknown.status).toBe(1)
    expect(unknown.stderr).toMatch(/--rule: no rule "nope"/)
  })

  it.skipIf(!pgUp)('on PostgreSQL', async () => {
    const store = await PostgresStore.open({
      url: process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
      schema: `vigil_test_${randomBytes(6).toString('hex')}`,
    })
    cleanup.push(async () => {
      await store.dropSchema()
      await store.close()
    })
    await check(store)
  })
})
