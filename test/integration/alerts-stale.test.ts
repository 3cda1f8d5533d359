/**
 * Alerts on series that stop getting traffic, end to end in embedded mode (control plane in its
 * worker, SQLite, 1 s windows, staleAfter 3 windows): gateways ship no window for a series with
 * no requests, so only the control plane's clock can notice. A latency alert on a service whose
 * traffic stops resolves as stale ("no requests since …"), paged once as resolved and recorded
 * in the action log; the same rule on a service that keeps its traffic keeps firing; one whose
 * traffic dwindles to a request a second (windows keep coming, each below minRequests) resolves
 * as stale too ("fewer than minRequests … since …"); when the traffic of every service stops (no
 * window arrives at all), its alert resolves as well.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { buildOnce, poll, startWebhookReceiver, type WebhookReceiver } from './control-support.js'

const TOKEN = 'alerts-stale-token'

interface PagedAlert {
  rule: string
  event: string
  status: string
  summary: string
  series: string
  fingerprint: string
}

describe('alerts on series that go silent (embedded)', { timeout: 120_000 }, () => {
  let dir: string
  let orders: MockService
  let users: MockService
  let search: MockService
  let hook: WebhookReceiver<PagedAlert>
  let vigil: Vigil | null = null
  let stopped = false
  const quiet = new Set<string>()
  /** services sent one request a second instead of the steady traffic */
  const trickling = new Set<string>()
  let lastTrickleMs = 0
  let traffic: Promise<void> | null = null

  beforeAll(async () => {
    buildOnce()
    orders = await startMockService({ name: 'orders', latencyMs: '20-30' })
    users = await startMockService({ name: 'users', latencyMs: '20-30' })
    search = await startMockService({ name: 'search', latencyMs: '20-30' })
    hook = await startWebhookReceiver<PagedAlert>()
    dir = mkdtempSync(join(tmpdir(), 'vigil-alerts-stale-'))
  }, 300_000)
  afterAll(async () => {
    stopped = true
    await traffic
    await vigil?.stop()
    await orders?.close()
    await users?.close()
    await search?.close()
    await hook?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${vigil!.adminUrl}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })
    if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`)
    return (await res.json()) as T
  }
  const pages = (service: string) =>
    hook.pages.flatMap((p) =>
      p.body.alerts.filter((a) => a.series.startsWith(`${service}|`)).map((a) => ({ ...a, atMs: p.atMs })),
    )

  it('resolves the alert of a service whose traffic stopped or dwindled, once, and keeps the one that still gets requests', async () => {
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'env: stale-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'services:',
        `  orders: { targets: [${orders.url}] }`,
        `  users: { targets: [${users.url}] }`,
        `  search: { targets: [${search.url}] }`,
        'routes:',
        '  - { name: orders, path: /orders, service: orders, retry: { attempts: 1 } }',
        '  - { name: users, path: /users, service: users, retry: { attempts: 1 } }',
        '  - { name: search, path: /search, service: search, retry: { attempts: 1 } }',
        'telemetry: { windowMs: 1000, gatewayId: gw-stale, otlp: { enabled: false } }',
        `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
        `control: { graceMs: 300, actionsFile: ${JSON.stringify(join(dir, 'actions.jsonl'))} }`,
        'detect: { enabled: false }',
        'forecast: { enabled: false }',
        'journeys: { enabled: false }',
        'alerts:',
        '  staleAfter: 3 windows',
        '  rules:',
        '    - { name: slow, kind: latency, threshold: 5, minRequests: 3, for: 1 window, resolveFor: 2 windows }',
        '  sinks:',
        `    - { name: hook, kind: webhook, url: "${hook.url}" }`,
        '',
      ].join('\n'),
    )
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    traffic = (async () => {
      while (!stopped) {
        const gw = vigil!.gatewayUrl
        const paths = ['orders', 'users', 'search'].filter((s) => !quiet.has(s))
        const trickleNow = Date.now() - lastTrickleMs >= 1_000
        if (trickleNow) lastTrickleMs = Date.now()
        await Promise.all(
          paths.flatMap((p) =>
            Array.from({ length: trickling.has(p) ? (trickleNow ? 1 : 0) : 5 }, () =>
              fetch(`${gw}/${p}/x`)
                .then((r) => r.arrayBuffer())
                .catch(() => null),
            ),
          ),
        )
        await new Promise((r) => setTimeout(r, 150))
      }
    })()
    await poll(
      async () => [pages('orders'), pages('users'), pages('search')],
      ([o, u, s]) => o.length >= 1 && u.length >= 1 && s.length >= 1,
      'every service paged as slow',
      20_000,
    )
    expect([pages('orders')[0].event, pages('users')[0].event, pages('search')[0].event]).toEqual([
      'firing',
      'firing',
      'firing',
    ])

    // search's traffic dwindles to a request a second: its windows keep coming, none with the
    // 3 requests the rule needs to judge, so they are no evidence that it is still slow
    trickling.add('search')
    const trickleAt = Date.now()
    const [thin] = await poll(
      async () => pages('search').filter((p) => p.event === 'resolved'),
      (r) => r.length >= 1,
      'the stale resolve of search, whose windows still come',
      15_000,
    )
    expect(thin.summary).toMatch(
      /^resolved: fewer than minRequests 3 requests per window since \S+Z: every window of search\|\*\|stale-env for 3s had too few to judge \(the newest: [0-2] requests, fewer than minRequests 3\)$/,
    )
    expect(thin.atMs - trickleAt).toBeGreaterThanOrEqual(2_000)
    const windows = await api<{ points: { startMs: number; count: number }[] }>(
      `/api/series/${encodeURIComponent('search|*|stale-env')}/points?step=1s&from=${trickleAt + 1_000}&to=${thin.atMs}`,
    )
    expect(windows.points.length).toBeGreaterThanOrEqual(1) // not silent: windows of 1 or 2 requests

    // orders' traffic stops; users' goes on
    quiet.add('orders')
    const stopAt = Date.now()
    const [resolved] = await poll(
      async () => pages('orders').filter((p) => p.event === 'resolved'),
      (r) => r.length >= 1,
      'the stale resolve of orders',
      15_000,
    )
    expect(resolved.status).toBe('resolved')
    expect(resolved.summary).toMatch(
      /^resolved: no requests since \S+Z: no window of orders\|\*\|stale-env for 3s$/,
    )
    // not before the series had been silent for 3 windows (the last window may end up to 1 s after the stop)
    expect(resolved.atMs - stopAt).toBeGreaterThanOrEqual(2_000)

    // long after (over twice staleAfter): users still fires and was never resolved; orders paged once
    await new Promise((r) => setTimeout(r, 7_000))
    expect(pages('orders').map((p) => p.event)).toEqual(['firing', 'resolved'])
    expect(pages('users').map((p) => p.event)).toEqual(['firing'])
    expect(pages('search').map((p) => p.event)).toEqual(['firing', 'resolved'])
    const { alerts } = await api<{ alerts: { key: string; state: string; resolvedBy: string | null }[] }>(
      '/api/alerts?state=all&rule=slow',
    )
    expect(alerts.find((a) => a.key === 'orders|*|stale-env')).toMatchObject({
      state: 'resolved',
      resolvedBy: 'stale',
    })
    expect(alerts.find((a) => a.key === 'users|*|stale-env')).toMatchObject({ state: 'firing' })
    const log = await api<{
      actions: { kind: string; target: string; reason: string; result: { status: string } }[]
    }>('/api/actions?policy=slow&kind=alert.resolved')
    const byTarget = Object.fromEntries(log.actions.map((a) => [a.target, a]))
    expect(Object.keys(byTarget).sort()).toEqual(['orders|*|stale-env', 'search|*|stale-env'])
    expect(byTarget['orders|*|stale-env']).toMatchObject({ result: { status: 'ok' } })
    expect(byTarget['orders|*|stale-env'].reason).toMatch(/^resolved: no requests since /)
    expect(byTarget['search|*|stale-env'].reason).toMatch(/^resolved: fewer than minRequests 3 /)

    // now users' traffic stops too: no window of any series arrives, only the clock notices
    quiet.add('users')
    await poll(
      async () => pages('users').filter((p) => p.event === 'resolved'),
      (r) => r.length >= 1,
      'the stale resolve of users, with no window arriving at all',
      15_000,
    )
    await new Promise((r) => setTimeout(r, 2_000))
    expect(pages('users').map((p) => p.event)).toEqual(['firing', 'resolved'])
    expect(pages('users')[1].summary).toMatch(/^resolved: no requests since /)
    expect(pages('orders').map((p) => p.event)).toEqual(['firing', 'resolved'])
  })
})
