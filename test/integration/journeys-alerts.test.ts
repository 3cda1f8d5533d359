/**
 * Alerts with journeys, end to end: Vigil embedded in front of the demo topology, with one route to
 * the aggregator (`shop`, which calls `pricing`) and one straight to `pricing`. When pricing fails,
 * the failure rule alerts on both routes; the two alerts become one incident headed by pricing, the
 * dependency, which pages once, with the users affected and the root-cause candidates on the page.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { runLoad, startDemoTopology, type DemoTopology } from '../../src/sim/index.js'
import { buildOnce, poll, startWebhookReceiver, type WebhookReceiver } from './control-support.js'

const W = 1_000

interface PagedAlert {
  event: string
  series: string
  fingerprint: string
  incident: string | null
  context: {
    impact?: { summary: string; usersAffected: { value: number } | null }
    rootCause?: { summary: string; candidates: { service: string; env: string }[] }
    correlated?: { alerts: { series: string }[] }
  }
}

interface ApiAlert {
  fingerprint: string
  key: string
  state: string
  incident: string | null
  suppressed: string | null
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
  )
}

describe('alerts on a caller and its failing dependency', { timeout: 120_000 }, () => {
  let dir: string
  let topo: DemoTopology
  let vigil: Vigil
  let hook: WebhookReceiver<PagedAlert>

  beforeAll(async () => {
    buildOnce()
    dir = mkdtempSync(join(tmpdir(), 'vigil-journey-alerts-'))
    hook = await startWebhookReceiver<PagedAlert>()
    const probe = createServer()
    const otlpPort = await listen(probe)
    await new Promise((r) => probe.close(r))
    topo = await startDemoTopology({ otlpUrl: `http://127.0.0.1:${otlpPort}`, exportEveryMs: 250, seed: 5 })
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'env: edge',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0, token: t }',
        'services:',
        `  shop: { targets: [${topo.aggregator.url}], breaker: { enabled: false } }`,
        `  pricing: { targets: [${topo.service('pricing').url}], breaker: { enabled: false } }`,
        'routes:',
        '  - { name: shop, path: /shop, service: shop, retry: { attempts: 1 } }',
        '  - { name: pricing, path: /pricing, service: pricing, retry: { attempts: 1 } }',
        `telemetry: { windowMs: ${W}, spans: { sampleRate: 0.2 }, otlp: { host: 127.0.0.1, port: ${otlpPort} } }`,
        `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
        'control: { graceMs: 300 }',
        'detect: { enabled: false }',
        'forecast: { enabled: false }',
        'journeys: { traceWaitMs: 1000, modelWindowMs: 30000, simulations: 20000 }',
        'alerts:',
        // generous: this machine may be loaded; the bound itself is tested in src/alerts
        '  enrichTimeout: 5s',
        `  sinks: [{ name: ops, kind: webhook, url: "${hook.url}" }]`,
        '  rules:',
        "    - { name: failing, kind: failure, level: route, ratio: 0.08, minRequests: 5, for: '2 windows' }",
        '',
      ].join('\n'),
    )
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
  }, 60_000)

  // Each step is bounded (the gateway's 10 s drain, the control worker's 30 s answer, the
  // topology's export timeouts), but on a loaded machine they add up past the default 60 s; the
  // timings say which one to look at when this is slow.
  afterAll(async () => {
    const t0 = Date.now()
    await vigil?.stop()
    const t1 = Date.now()
    await topo?.close()
    const t2 = Date.now()
    await hook?.close()
    if (t2 - t0 > 10_000)
      console.warn(`slow teardown: vigil.stop ${t1 - t0} ms, topology.close ${t2 - t1} ms`)
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true })
  }, 120_000)

  it('become one incident headed by the dependency, paged once with users affected and root cause', async () => {
    const load = (path: string, rps: number, seconds: number, seed: number) =>
      runLoad({ target: vigil.gatewayUrl, paths: [path], rps, durationMs: seconds * 1000, seed })
    // the graph learns who calls whom
    await Promise.all([load('/shop/a', 30, 4, 1), load('/pricing/quote', 10, 4, 2)])
    expect(hook.alerts()).toEqual([])
    topo.service('pricing').mock.injectIncident({ kind: 'errors', errorRate: 0.5, durationMs: 60_000 })
    await Promise.all([load('/shop/a', 30, 6, 3), load('/pricing/quote', 30, 6, 4)])
    const { alerts } = await poll(
      async () => {
        const r = await fetch(`${vigil.adminUrl}/api/alerts?state=all`)
        return (await r.json()) as { alerts: ApiAlert[] }
      },
      (b) =>
        ['shop|shop|edge', 'pricing|pricing|edge'].every((k) =>
          b.alerts.some((a) => a.key === k && a.state === 'firing'),
        ),
      'firing alerts on shop and on pricing',
      20_000,
    )
    topo.service('pricing').mock.clearIncident()
    const dep = alerts.find((a) => a.key === 'pricing|pricing|edge')!
    const caller = alerts.find((a) => a.key === 'shop|shop|edge')!
    expect(dep.incident).toBe(dep.fingerprint)
    expect(caller).toMatchObject({ incident: dep.fingerprint, suppressed: 'incident' })
    await poll(
      async () => hook.alerts().length,
      (n) => n > 0,
      'the page',
      10_000,
    )
    const paged = hook.alerts()
    const firing = paged.filter((a) => a.event === 'firing')
    process.stdout.write(
      `journeys alerts: pages: ${firing.map((a) => `${a.series}: ${a.context.impact?.summary ?? 'no impact'}; ${a.context.rootCause?.summary ?? 'no root cause'}`).join(' | ')}\n`,
    )
    expect(firing.map((a) => a.series)).toEqual(['pricing|pricing|edge'])
    const page = firing[0]
    expect(page.incident).toBe(dep.fingerprint)
    expect(page.context.correlated!.alerts.map((a) => a.series)).toEqual([
      'pricing|pricing|edge',
      'shop|shop|edge',
    ])
    expect(page.context.impact!.summary).toMatch(
      /^≈[\d,]+ (users affected \(a request missing the SLO\)|failed requests) in the next 30 minutes(?: \(90% interval [\d,]+–[\d,]+\))?; [\d.]+% of requests miss the SLO \(fail or take over [\d,]+ ms(?:; 90% interval [\d.]+–[\d.]+%)?\) on pricing/,
    )
    // the page has the root cause, or says it comes once the alert's traces are in
    const cause = page.context.rootCause!
    if (cause.candidates.length > 0) expect(cause.candidates[0]).toMatchObject({ service: 'pricing' })
    else expect(cause.summary).toMatch(/^root cause not known yet/)
    // every firing alert carries impact and cause in the API, the caller's (not paged) too,
    // complete once the traces of their windows are decided
    for (const [fp, route] of [
      [dep.fingerprint, 'pricing'],
      [caller.fingerprint, 'shop'],
    ]) {
      const now = await poll(
        async () =>
          (await (await fetch(`${vigil.adminUrl}/api/alerts/${fp}`)).json()) as {
            context: PagedAlert['context']
          },
        (a) => (a.context.rootCause?.candidates.length ?? 0) > 0,
        `the root cause on the alert of ${route}`,
        15_000,
      )
      expect(now.context.impact!.summary).toMatch(
        new RegExp(` in the next 30 minutes.*; [\\d.]+% of requests miss the SLO \\(.*\\) on ${route}`),
      )
      expect(now.context.rootCause!.candidates[0]).toMatchObject({ service: 'pricing', env: 'aws' })
    }
  })
})
