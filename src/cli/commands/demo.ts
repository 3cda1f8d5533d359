/**
 * @module `vigil demo`: the README's main job. Starts three mock services (orders, users,
 * payments), Vigil in front of them from `examples/demo.yaml` (rate limits with Standard and
 * Premium clients, live detection and forecasting on a compressed clock, the dashboard), diurnal
 * traffic from ten clients, one abusive client, and an injected incident every few minutes; prints
 * the dashboard's login link, a status line every few seconds and one line per thing the control
 * plane does, and stops everything cleanly on Ctrl-C or after `--duration`. Nothing external is
 * needed.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import type { ActivityEntry } from '../../api/activity.js'
import type { ServiceView } from '../../gateway/index.js'
import {
  runLoad,
  startMockService,
  type IncidentKind,
  type LoadProgress,
  type LoadSummary,
  type MockService,
  type MockServiceOptions,
} from '../../sim/index.js'
import { parseDurationMs, parseFlags, parsePositive } from '../args.js'
import type { Command } from '../command.js'
import { startVigil, type Vigil } from '../runtime.js'

const usage = `usage: vigil demo [--duration 10m] [--rps 30] [--gateway-port 8080] [--admin-port 8081]
                  [--first-incident 5m] [--incident-every 2m] [--incident-for 30s] [--day 10m]
                  [--abuse-rps 20] [--status-every 5s] [--mock-port-base 9001]
                  [--config examples/demo.yaml] [--keep-data] [--verbose]

Runs everything in one process: mock services orders, users and payments (ports 9001-9003, or
free ports when taken; --mock-port-base 0 always picks free ones), Vigil in front of them (gateway
:8080, admin API and dashboard :8081, or free ports), diurnal traffic through the gateway from nine
Standard and Premium clients peaking at --rps (one compressed day per --day), and from
--first-incident on an abusive client scraping at --abuse-rps (0: none) and an incident every
--incident-every lasting --incident-for, cycling error burst (orders), latency spike (payments),
traffic surge (everyone) and outage (users). The detectors learn for about four minutes first. A status line every --status-every and one line per
anomaly, limit change or action. Ctrl-C, or --duration of traffic (counted once Vigil is up),
stops it all.

The dashboard's login link is printed at start; the admin token is $VIGIL_ADMIN_TOKEN, or a random
one per run. Each run stores its data in a fresh temporary directory, removed at the end unless
--keep-data. Vigil's own logs go to stderr (warnings only unless --verbose); the access log goes
to a file named at start.`

const MOCKS: ReadonlyArray<{ name: string; latencyMs: string; errorRate: number }> = [
  { name: 'orders', latencyMs: '20-250', errorRate: 0.002 },
  { name: 'users', latencyMs: '5-80', errorRate: 0.001 },
  { name: 'payments', latencyMs: '40-600', errorRate: 0.005 },
]
/** The clients of examples/demo.yaml (id, the X-API-Key they send, tier). */
export const DEMO_CLIENTS: ReadonlyArray<{ id: string; key: string; tier: 'STD' | 'PRM' }> = [
  { id: 'web-std', key: 'demo-web-std-key', tier: 'STD' },
  { id: 'mobile-std', key: 'demo-mobile-std-key', tier: 'STD' },
  { id: 'partner-std', key: 'demo-partner-std-key', tier: 'STD' },
  { id: 'kiosk-std', key: 'demo-kiosk-std-key', tier: 'STD' },
  { id: 'batch-std', key: 'demo-batch-std-key', tier: 'STD' },
  { id: 'tools-std', key: 'demo-tools-std-key', tier: 'STD' },
  { id: 'acme-prm', key: 'demo-acme-prm-key', tier: 'PRM' },
  { id: 'globex-prm', key: 'demo-globex-prm-key', tier: 'PRM' },
  { id: 'initech-prm', key: 'demo-initech-prm-key', tier: 'PRM' },
]
export const DEMO_SCRAPER = { id: 'scraper-std', key: 'demo-scraper-std-key', tier: 'STD' } as const
const PATHS = [
  '/api/browse',
  '/api/browse/items/42',
  '/api/test',
  '/api/test/ping',
  '/api/payment-gateway',
  '/api/payment-gateway/authorize',
]
/** the scraper walks the catalogue item by item */
const SCRAPE_PATHS = Array.from({ length: 60 }, (_, i) => `/api/browse/items/${i + 1}`)

type DemoIncident = { kind: IncidentKind; service: string } | { kind: 'surge' }
const INCIDENTS: readonly DemoIncident[] = [
  { kind: 'errors', service: 'orders' },
  { kind: 'latency', service: 'payments' },
  { kind: 'surge' },
  { kind: 'outage', service: 'users' },
]
const SURGE_FACTOR = 3

/** Resolves `preferred` when it can be bound on `host`, else a free port. */
function choosePort(preferred: number, host: string): Promise<number> {
  const probe = (port: number) =>
    new Promise<number | null>((resolve) => {
      const srv = createServer()
      srv.once('error', () => resolve(null))
      srv.listen(port, host, () => {
        const addr = srv.address()
        const got = typeof addr === 'object' && addr !== null ? addr.port : null
        srv.close(() => resolve(got))
      })
    })
  return probe(preferred).then(async (p) => p ?? (await probe(0)) ?? 0)
}

async function startMock(m: (typeof MOCKS)[number], port: number): Promise<MockService> {
  const opts: MockServiceOptions = {
    name: m.name,
    latencyMs: m.latencyMs,
    errorRate: m.errorRate,
    slowRate: 0.002,
  }
  try {
    return await startMockService({ ...opts, port })
  } catch (err) {
    if ((err as { code?: string }).code !== 'VGL_ERR_SIM_LISTEN') throw err
    return startMockService({ ...opts, port: 0 })
  }
}

function serviceState(s: ServiceView): string {
  let open = 0
  let probing = 0
  let down = 0
  for (const t of s.targets) {
    if (t.breaker === 'open') open++
    else if (t.breaker === 'half-open') probing++
    if (!t.healthy) down++
  }
  if (open > 0) return 'ejected'
  if (down > 0) return 'unhealthy'
  if (probing > 0) return 'probing'
  return 'ok'
}

function pct(part: number, total: number): string {
  return total === 0 ? '  -  ' : `${((100 * part) / total).toFixed(1).padStart(5)}%`
}

function mergeSummaries(a: LoadSummary, b: LoadSummary): LoadSummary {
  const statusCounts = { ...a.statusCounts }
  for (const [k, v] of Object.entries(b.statusCounts)) statusCounts[k] = (statusCounts[k] ?? 0) + v
  return {
    ...b,
    sent: a.sent + b.sent,
    completed: a.completed + b.completed,
    failed: a.failed + b.failed,
    dropped: a.dropped + b.dropped,
    statusCounts,
  }
}

/** One terminal line per activity entry: `  anomaly    …`, `  limits     …`, `  action     …`. */
export function activityLine(e: ActivityEntry): string {
  const tag = e.kind.startsWith('anomaly.opened')
    ? 'anomaly'
    : e.kind.startsWith('anomaly.')
      ? 'resolved'
      : (e.kind.split('.')[0] ?? 'action')
  return `  ${tag.padEnd(10)} ${e.summary}`
}

export const command: Command = {
  summary: 'run the gateway and dashboard in front of mock services with generated traffic and incidents',
  usage,
  async run(argv) {
    const t0 = performance.now()
    const { values } = parseFlags(
      argv,
      {
        duration: { type: 'string' },
        rps: { type: 'string' },
        'gateway-port': { type: 'string' },
        'admin-port': { type: 'string' },
        'first-incident': { type: 'string' },
        'incident-every': { type: 'string' },
        'incident-for': { type: 'string' },
        day: { type: 'string' },
        'abuse-rps': { type: 'string' },
        'status-every': { type: 'string' },
        config: { type: 'string' },
        'mock-port-base': { type: 'string' },
        'keep-data': { type: 'boolean' },
        verbose: { type: 'boolean' },
      },
      usage,
    )
    const durationMs =
      values.duration === undefined ? Infinity : parseDurationMs(values.duration, '--duration')
    const rps = parsePositive(values.rps, '--rps', 30)
    const firstIncidentMs = parseDurationMs(values['first-incident'] ?? '5m', '--first-incident')
    const incidentEveryMs = parseDurationMs(values['incident-every'] ?? '2m', '--incident-every')
    const incidentForMs = parseDurationMs(values['incident-for'] ?? '30s', '--incident-for')
    const dayMs = parseDurationMs(values.day ?? '10m', '--day')
    const abuseRps = values['abuse-rps'] === '0' ? 0 : parsePositive(values['abuse-rps'], '--abuse-rps', 20)
    const statusEveryMs = parseDurationMs(values['status-every'] ?? '5s', '--status-every')
    const configFile = values.config ?? fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url))
    const portFlag = (v: string | undefined, flag: string, dflt: number) =>
      v === undefined ? dflt : v === '0' ? 0 : parsePositive(v, flag, dflt)
    const out = (line: string) => process.stdout.write(`${line}\n`)

    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)

    const mocks: MockService[] = []
    const timers: NodeJS.Timeout[] = []
    const side: Array<Promise<LoadSummary | null>> = []
    let vigil: Vigil | null = null
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-demo-'))
    // --duration counts from when traffic starts, not from process start (startup takes seconds).
    let startedAt = Date.now()
    try {
      const base = portFlag(values['mock-port-base'], '--mock-port-base', 9001)
      for (const [i, m] of MOCKS.entries()) mocks.push(await startMock(m, base === 0 ? 0 : base + i))
      const gatewayPort = await choosePort(
        portFlag(values['gateway-port'], '--gateway-port', 8080),
        '0.0.0.0',
      )
      const adminPort = await choosePort(portFlag(values['admin-port'], '--admin-port', 8081), '127.0.0.1')
      const otlpPort = await choosePort(4318, '0.0.0.0')
      const token = process.env.VIGIL_ADMIN_TOKEN || randomBytes(12).toString('hex')
      const accessLog = join(dataDir, 'access.log')
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        VIGIL_ADMIN_TOKEN: token,
        VIGIL_DEMO_GATEWAY_PORT: String(gatewayPort),
        VIGIL_DEMO_ADMIN_PORT: String(adminPort),
        VIGIL_DEMO_OTLP_PORT: String(otlpPort),
        VIGIL_DEMO_ACCESS_LOG: accessLog,
        VIGIL_DEMO_DATA: dataDir,
        VIGIL_DEMO_ORDERS_PORT: String(mocks[0].port),
        VIGIL_DEMO_USERS_PORT: String(mocks[1].port),
        VIGIL_DEMO_PAYMENTS_PORT: String(mocks[2].port),
      }
      const logger = pino(
        { name: 'vigil', level: values.verbose === true ? 'info' : 'warn' },
        pino.destination({ dest: 2, sync: true }),
      )
      vigil = await startVigil({ configFile, mode: 'embedded', env, logger, handleSignals: false })
      const admin = vigil.adminUrl
      const readyS = ((performance.now() - t0) / 1000).toFixed(1)
      out(`vigil demo: gateway ${vigil.gatewayUrl}  admin ${admin} (ready in ${readyS}s)`)
      out(`  dashboard  ${admin}/#token=${token}`)
      out(`             (the link logs you in; the admin token is ${token})`)
      out(`  mocks      ${mocks.map((m) => `${m.name} ${m.url}`).join('  ')}`)
      out(
        `  try        curl -H 'X-API-Key: ${DEMO_CLIENTS[6].key}' ${vigil.gatewayUrl}/api/payment-gateway   ·   ${admin}/docs   ·   ${admin}/metrics`,
      )
      out(
        `  tier edit  curl -X PUT -H "Authorization: Bearer ${token}" -H 'content-type: application/json' -d '{"ratePerSec":1,"burst":2,"reason":"walkthrough"}' ${admin}/api/limits/tiers/STD`,
      )
      out(`  data       ${dataDir}${values['keep-data'] === true ? ' (kept)' : ' (removed at the end)'}`)
      out(
        `  traffic    diurnal, peak ${rps} req/s from ${DEMO_CLIENTS.length} clients, one day per ${dayMs / 1000}s; from ${firstIncidentMs / 1000}s: ${abuseRps > 0 ? `a scraper at ${abuseRps} req/s and ` : ''}an incident every ${incidentEveryMs / 1000}s for ${incidentForMs / 1000}s${Number.isFinite(durationMs) ? `; stops after ${durationMs / 1000}s` : '; Ctrl-C stops'}`,
      )
      let openAnomalies = 0
      vigil.activity.on('entry', (e: ActivityEntry) => {
        if (e.kind === 'anomaly.opened') openAnomalies++
        else if (e.kind === 'anomaly.resolved') openAnomalies = Math.max(0, openAnomalies - 1)
        out(activityLine(e))
      })

      startedAt = Date.now()
      const gw = vigil.gatewayUrl
      const sideLoad = (opts: Parameters<typeof runLoad>[0]) =>
        side.push(
          runLoad(opts).catch((err: unknown) => {
            logger.warn({ err }, 'side traffic failed')
            return null
          }),
        )
      if (Number.isFinite(durationMs)) timers.push(setTimeout(stop, durationMs))
      let incidents = 0
      const inject = () => {
        const inc = INCIDENTS[incidents % INCIDENTS.length]
        incidents++
        if (inc.kind === 'surge') {
          out(`  incident   traffic surge: ${SURGE_FACTOR}x for ${incidentForMs / 1000}s`)
          sideLoad({
            target: gw,
            paths: PATHS,
            keys: DEMO_CLIENTS.map((c) => c.key),
            pattern: 'steady',
            rps: rps * (SURGE_FACTOR - 1),
            durationMs: incidentForMs,
            signal: ac.signal,
          })
        } else {
          const mock = mocks.find((m) => m.name === inc.service) ?? mocks[0]
          mock.injectIncident({ kind: inc.kind, durationMs: incidentForMs, factor: 8, errorRate: 0.6 })
          out(`  incident   ${mock.name}: ${inc.kind} for ${incidentForMs / 1000}s`)
        }
        timers.push(setTimeout(inject, incidentEveryMs))
      }
      timers.push(
        setTimeout(() => {
          if (abuseRps > 0 && !ac.signal.aborted) {
            out(`  abuse      client ${DEMO_SCRAPER.id} starts scraping /api/browse at ${abuseRps} req/s`)
            // in runs of an hour at most: a timer longer than 2^31 ms would fire at once
            side.push(
              (async () => {
                let last: LoadSummary | null = null
                while (!ac.signal.aborted) {
                  const s = await runLoad({
                    target: gw,
                    paths: SCRAPE_PATHS,
                    keys: [DEMO_SCRAPER.key],
                    pattern: 'steady',
                    rps: abuseRps,
                    durationMs: 3_600_000,
                    signal: ac.signal,
                  }).catch((err: unknown) => (logger.warn({ err }, 'scraper traffic failed'), null))
                  if (s === null) break
                  last = last === null ? s : mergeSummaries(last, s)
                }
                return last
              })(),
            )
          }
          inject()
        }, firstIncidentMs),
      )

      const gateway = vigil.gateway
      let prevCounts: Readonly<Record<string, number>> = {}
      const status = (p: LoadProgress) => {
        let total = 0
        let s2 = 0
        let s429 = 0
        let s5 = 0
        for (const [code, n] of Object.entries(p.statusCounts)) {
          const d = n - (prevCounts[code] ?? 0)
          total += d
          if (code.startsWith('2')) s2 += d
          else if (code === '429') s429 += d
          else if (code.startsWith('5')) s5 += d
        }
        prevCounts = p.statusCounts
        const services = gateway
          .services()
          .map((s) => {
            const inc = mocks.find((m) => m.name === s.name)?.activeIncident()
            return `${s.name} ${serviceState(s)}${inc ? ` (${inc.kind})` : ''}`
          })
          .join(' · ')
        const t = Math.round((Date.now() - startedAt) / 1000)
        out(
          `[${String(t).padStart(5)}s] ${p.currentRps.toFixed(1).padStart(6)} req/s  2xx ${pct(s2, total)}  429 ${pct(s429, total)}  5xx ${pct(s5, total)}  p50 ${p.intervalLatencyMs.p50.toFixed(0).padStart(4)}ms  p99 ${p.intervalLatencyMs.p99.toFixed(0).padStart(5)}ms | ${services} | anomalies ${openAnomalies}`,
        )
      }

      const totals = {
        sent: 0,
        completed: 0,
        failed: 0,
        dropped: 0,
        statusCounts: {} as Record<string, number>,
      }
      const add = (s: LoadSummary | null) => {
        if (s === null) return
        totals.sent += s.sent
        totals.completed += s.completed
        totals.failed += s.failed
        totals.dropped += s.dropped
        for (const [k, v] of Object.entries(s.statusCounts))
          totals.statusCounts[k] = (totals.statusCounts[k] ?? 0) + v
      }
      while (!ac.signal.aborted) {
        const left = durationMs - (Date.now() - startedAt)
        if (left <= 0) break
        prevCounts = {}
        add(
          await runLoad({
            target: gw,
            paths: PATHS,
            keys: DEMO_CLIENTS.map((c) => c.key),
            pattern: 'diurnal',
            rps,
            durationMs: Math.min(dayMs, left),
            signal: ac.signal,
            progressIntervalMs: statusEveryMs,
            onProgress: status,
          }),
        )
      }
      ac.abort()
      for (const s of await Promise.all(side)) add(s)
      const codes = Object.entries(totals.statusCounts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
      out(
        `vigil demo: served ${totals.completed} requests in ${((Date.now() - startedAt) / 1000).toFixed(0)}s (${codes || 'none'}; failed ${totals.failed}, dropped ${totals.dropped}); ${incidents} incident(s) injected`,
      )
      return 0
    } finally {
      for (const t of timers) clearTimeout(t)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      out('vigil demo: stopping')
      ac.abort()
      await Promise.all(side)
      if (vigil !== null) await vigil.stop()
      await Promise.all(mocks.map((m) => m.close()))
      if (values['keep-data'] !== true) rmSync(dataDir, { recursive: true, force: true })
    }
  },
}
