/**
 * Alerting end to end in embedded mode (control plane in its worker, SQLite, 1 s windows): an
 * error burst injected on a mock service pages a local webhook receiver within two windows and
 * resolves after recovery; a silenced rule is not sent; a restart of Vigil while the alert fires
 * neither loses nor repeats it; a second burst inside the repeat interval, after the first was
 * paged as resolved, is a new run and is paged again (its receivers were told it was over);
 * a dead webhook sink (connection refused) and a stuck one (accepts, never answers) next to the
 * live one cost nothing but counted failures: pages arrive on time and every window is judged on
 * time; every page is an action.
 */
import { createServer, type Server } from 'node:http'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { buildOnce, poll, startWebhookReceiver, type WebhookReceiver } from './control-support.js'

const W = 1_000
const TOKEN = 'alerts-test-token'

interface PagedAlert {
  rule: string
  event: string
  status: string
  id: string
  fingerprint: string
  evidence: { observed: number; windowStartMs: number }
}

describe('alerts end to end (embedded)', { timeout: 180_000 }, () => {
  let dir: string
  let mock: MockService
  let hook: WebhookReceiver<PagedAlert>
  // a sink that takes the request and never answers
  let stuck: Server
  let stuckUrl: string
  let vigil: Vigil | null = null
  let stopTraffic = false
  let traffic: Promise<void> | null = null

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'orders', latencyMs: '2-6' })
    hook = await startWebhookReceiver<PagedAlert>()
    stuck = createServer(() => undefined)
    await new Promise<void>((r) => stuck.listen(0, '127.0.0.1', r))
    stuckUrl = `http://127.0.0.1:${(stuck.address() as { port: number }).port}/hook`
    dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-'))
  }, 300_000)
  afterAll(async () => {
    stopTraffic = true
    await traffic
    await vigil?.stop()
    await mock?.close()
    await hook?.close()
    stuck?.closeAllConnections()
    await new Promise((r) => stuck?.close(r))
    rmSync(dir, { recursive: true, force: true })
  })

  const config = () =>
    [
      'env: alert-env',
      'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
      `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
      'services:',
      `  orders: { targets: [${mock.url}] }`,
      'routes:',
      '  - { name: orders, path: /orders, service: orders, retry: { attempts: 1 } }',
      'telemetry: { windowMs: 1000, gatewayId: gw-alerts, otlp: { enabled: false } }',
      `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
      `control: { graceMs: 300, actionsFile: ${JSON.stringify(join(dir, 'actions.jsonl'))} }`,
      'detect: { enabled: false }',
      'forecast: { enabled: false }',
      'alerts:',
      '  repeatInterval: 10m',
      '  rules:',
      '    - { name: orders-errors, kind: error-ratio, match: { service: orders }, floor: 0.05, minHistory: 4, minRequests: 5, for: 1 window, resolveFor: 2 windows }',
      '    - { name: orders-failing, kind: failure, match: { service: orders }, ratio: 0.5, minRequests: 5, for: 1 window, resolveFor: 2 windows }',
      '  sinks:',
      `    - { name: hook, kind: webhook, url: "${hook.url}?token=s3cret" }`,
      '    - { name: dead, kind: webhook, url: "http://127.0.0.1:9/x", maxAttempts: 2, backoffMs: 50, timeoutMs: 500 }',
      `    - { name: stuck, kind: webhook, url: "${stuckUrl}", maxAttempts: 2, backoffMs: 50, timeoutMs: 2000 }`,
      '',
    ].join('\n')

  const start = async () => {
    const file = join(dir, 'vigil.yaml')
    writeFileSync(file, config())
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    return vigil
  }
  const api = async <T>(path: string, init?: RequestInit): Promise<T> => {
    const res = await fetch(`${vigil!.adminUrl}${path}`, {
      ...init,
      headers: {
        authorization: `Bearer ${TOKEN}`,
        'content-type': 'application/json',
        ...(init?.headers ?? {}),
      },
    })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (res.status === 204 ? null : await res.json()) as T
  }
  const pagesOf = (rule: string) =>
    hook.pages.flatMap((p) =>
      p.body.alerts.filter((a) => a.rule === rule).map((a) => ({ ...a, atMs: p.atMs })),
    )

  it('pages a burst within two windows, silences, survives a restart, and pages a second burst after the first resolved', async () => {
    await start()
    // steady traffic, ~40 req/s, following the gateway across the restart
    traffic = (async () => {
      const until = Date.now() + 150_000
      while (!stopTraffic && Date.now() < until) {
        const gw = vigil?.gatewayUrl
        if (gw !== undefined)
          await Promise.all(
            Array.from({ length: 10 }, () =>
              fetch(`${gw}/orders/x`)
                .then((r) => r.arrayBuffer())
                .catch(() => null),
            ),
          )
        await new Promise((r) => setTimeout(r, 250))
      }
    })()
    const silence = await api<{ id: string }>('/api/alerts/silences', {
      method: 'POST',
      body: JSON.stringify({
        matchers: 'alertname="orders-failing"',
        duration: '1h',
        comment: 'known flaky',
      }),
    })
    expect(silence.id).toMatch(/^[0-9a-f-]{36}$/)
    // history for the rule (minHistory 4 windows)
    await new Promise((r) => setTimeout(r, 7_000))
    expect(hook.pages).toEqual([])

    // ---- burst 1 ----
    const t1 = Date.now()
    mock.injectIncident({ kind: 'errors', durationMs: 7_000, errorRate: 0.8 })
    const [first] = await poll(
      async () => pagesOf('orders-errors'),
      (p) => p.length >= 1,
      'the first page',
      20_000,
    )
    expect(first).toMatchObject({ event: 'firing', status: 'firing' })
    const burstWindow = Math.floor(t1 / W) * W
    expect(first.evidence.windowStartMs - burstWindow).toBeLessThanOrEqual(W) // fired on the 1st or 2nd window
    expect(first.atMs - t1).toBeLessThan(2 * W + 2_000)
    expect(first.evidence.observed).toBeGreaterThan(0.05) // above the floor (a burst starting mid-window shows partly)
    // while the stuck sink holds its copy for 2 × 2 s, every window around the burst was judged
    const key = encodeURIComponent('orders|orders|alert-env')
    const { points } = await api<{ points: { startMs: number }[] }>(
      `/api/series/${key}/points?step=1s&from=${burstWindow - 3 * W}&to=${first.evidence.windowStartMs + W}`,
    )
    const starts = points.map((p) => p.startMs)
    expect(starts).toEqual(starts.map((_, i) => burstWindow - 3 * W + i * W))
    expect(starts.length).toBeGreaterThanOrEqual(4)
    // the silenced rule fires but is not sent
    const failing = await poll(
      () =>
        api<{
          alerts: { rule: string; state: string; suppressed: string | null; silencedBy: string | null }[]
        }>('/api/alerts?service=orders'),
      (r) => r.alerts.some((a) => a.rule === 'orders-failing' && a.state === 'firing'),
      'orders-failing firing',
      10_000,
    )
    expect(failing.alerts.find((a) => a.rule === 'orders-failing')).toMatchObject({
      suppressed: 'silenced',
      silencedBy: silence.id,
    })

    // ---- restart while it fires ----
    await vigil!.stop()
    vigil = null
    await start()
    const after = await api<{ alerts: { rule: string; state: string; notified: { firing: boolean } }[] }>(
      '/api/alerts',
    )
    expect(after.alerts.find((a) => a.rule === 'orders-errors')).toMatchObject({
      state: 'firing',
      notified: { firing: true },
    })

    // recovery: resolved exactly once, the firing never repeated
    await poll(
      async () => pagesOf('orders-errors'),
      (p) => p.some((a) => a.event === 'resolved'),
      'the resolved page',
      30_000,
    )
    expect(pagesOf('orders-errors').map((a) => a.event)).toEqual(['firing', 'resolved'])
    expect(pagesOf('orders-failing')).toEqual([])

    // ---- burst 2, inside the repeat interval but after "resolved" went out: paged again ----
    // every request fails: the first burst's partly bad edge windows stay in the rule's history
    // (only its pending/firing run is left out), and one of them can reach 0.8. Both rules fire,
    // usually in the same window, as one incident: its head must be orders-errors (orders-failing
    // is silenced and cannot page for it), also after the restart loaded both alerts in the
    // store's order
    mock.injectIncident({ kind: 'errors', durationMs: 4_000, errorRate: 1 })
    const t2 = Date.now()
    const second = await poll(
      async () => pagesOf('orders-errors'),
      (p) => p.length >= 3,
      'the second burst paged',
      20_000,
    )
    expect(second[2]).toMatchObject({ event: 'firing', status: 'firing' })
    expect(second[2].id).not.toBe(first.id) // a new run: its own action
    expect(second[2].atMs - t2).toBeLessThan(2 * W + 2_000)
    await poll(
      async () => pagesOf('orders-errors'),
      (p) => p.length >= 4,
      'the second burst resolved',
      20_000,
    )
    await new Promise((r) => setTimeout(r, 1_500))
    expect(pagesOf('orders-errors').map((a) => a.event)).toEqual(['firing', 'resolved', 'firing', 'resolved'])

    // ---- the action log: one action per page, with the dead and stuck sinks' failures recorded ----
    // settled once every sink answered: the stuck one takes 2 tries of 2 s each
    const log = await poll(
      () =>
        api<{
          actions: { kind: string; policy: string; result: { status: string; detail?: string }; id: string }[]
        }>('/api/actions?policy=orders-errors'),
      (r) => r.actions.length >= 4 && r.actions.every((a) => a.result.status !== 'pending'),
      'every page of orders-errors settled',
      20_000,
    )
    expect(log.actions.map((a) => a.kind).sort()).toEqual([
      'alert.firing',
      'alert.firing',
      'alert.resolved',
      'alert.resolved',
    ])
    for (const a of log.actions) {
      expect(a.result.status).toBe('failed') // delivered to hook, not to dead
      expect(a.result.detail).toMatch(/delivered to hook; not delivered to dead \(.*\), stuck \(.*\)/)
      expect(hook.pages.some((p) => p.body.alerts.some((x) => x.id === a.id))).toBe(true)
    }
    expect((await api<{ actions: unknown[] }>('/api/actions?policy=orders-failing')).actions).toEqual([])
    // failures are counted; the sink URL's secret is nowhere in the API or the metrics
    const metrics = await (await fetch(`${vigil!.adminUrl}/metrics`)).text()
    expect(metrics).toMatch(/vigil_alert_notifications_total\{sink="hook",outcome="delivered"\} [1-9]/)
    expect(metrics).toMatch(/vigil_alert_notifications_total\{sink="dead",outcome="failed"\} [1-9]/)
    expect(metrics).toMatch(/vigil_alert_notifications_total\{sink="stuck",outcome="failed"\} [1-9]/)
    expect(metrics).toMatch(/vigil_alerts\{state="resolved"\} [1-9]/)
    const everything =
      JSON.stringify(await api('/api/alerts?state=all')) +
      JSON.stringify(await api('/api/actions?limit=1000')) +
      metrics
    expect(everything).not.toContain('s3cret')
  })
})
