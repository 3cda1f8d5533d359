/**
 * @module `vigil demo`: the README's main job. Starts three mock services (orders, users,
 * payments), Vigil in front of them from `examples/demo.yaml`, diurnal traffic through the gateway
 * and an injected incident every few minutes, prints a status line every few seconds, and stops
 * everything cleanly on Ctrl-C or after `--duration`. Nothing external is needed.
 */
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import pino from 'pino'
import type { ServiceView } from '../../gateway/index.js'
import {
  runLoad,
  startMockService,
  type IncidentKind,
  type LoadProgress,
  type MockService,
  type MockServiceOptions,
} from '../../sim/index.js'
import { parseDurationMs, parseFlags, parsePositive } from '../args.js'
import type { Command } from '../command.js'
import { startVigil, type Vigil } from '../runtime.js'

const usage = `usage: vigil demo [--duration 10m] [--rps 30] [--gateway-port 8080] [--admin-port 8081]
                  [--incident-every 2m] [--incident-for 20s] [--day 10m] [--status-every 5s]
                  [--mock-port-base 9001] [--config examples/demo.yaml] [--verbose]

Runs everything in one process: mock services orders, users and payments (ports 9001-9003, or
free ports when taken; --mock-port-base 0 always picks free ones), Vigil in front of them (gateway :8080 and admin API :8081, or free ports),
diurnal traffic through the gateway peaking at --rps (one compressed day per --day), and an
incident (latency spike, error burst, outage) on one service every --incident-every, lasting
--incident-for. A status line every --status-every. Ctrl-C, or --duration of traffic
(counted once Vigil is up), stops it all.

The admin token is $VIGIL_ADMIN_TOKEN, or a random one printed at start. Vigil's own logs go to
stderr (warnings only unless --verbose); the access log goes to a file named at start.`

const MOCKS: ReadonlyArray<{ name: string; latencyMs: string; errorRate: number }> = [
  { name: 'orders', latencyMs: '20-250', errorRate: 0.002 },
  { name: 'users', latencyMs: '5-80', errorRate: 0.001 },
  { name: 'payments', latencyMs: '40-600', errorRate: 0.005 },
]
const PATHS = ['/orders', '/orders/1042', '/users', '/users/7', '/payments', '/payments/authorize']
const KEYS = ['demo-web', 'demo-mobile', 'demo-partner']
const INCIDENTS: readonly IncidentKind[] = ['latency', 'errors', 'outage']

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

export const command: Command = {
  summary: 'run the gateway in front of mock services with generated traffic and incidents',
  usage,
  async run(argv) {
    const { values } = parseFlags(
      argv,
      {
        duration: { type: 'string' },
        rps: { type: 'string' },
        'gateway-port': { type: 'string' },
        'admin-port': { type: 'string' },
        'incident-every': { type: 'string' },
        'incident-for': { type: 'string' },
        day: { type: 'string' },
        'status-every': { type: 'string' },
        config: { type: 'string' },
        'mock-port-base': { type: 'string' },
        verbose: { type: 'boolean' },
      },
      usage,
    )
    const durationMs =
      values.duration === undefined ? Infinity : parseDurationMs(values.duration, '--duration')
    const rps = parsePositive(values.rps, '--rps', 30)
    const incidentEveryMs = parseDurationMs(values['incident-every'] ?? '2m', '--incident-every')
    const incidentForMs = parseDurationMs(values['incident-for'] ?? '20s', '--incident-for')
    const dayMs = parseDurationMs(values.day ?? '10m', '--day')
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
    let vigil: Vigil | null = null
    let incidentTimer: NodeJS.Timeout | null = null
    let durationTimer: NodeJS.Timeout | null = null
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
      const token = process.env.VIGIL_ADMIN_TOKEN || randomBytes(12).toString('hex')
      const accessLog = join(tmpdir(), `vigil-demo-access-${process.pid}.log`)
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        VIGIL_ADMIN_TOKEN: token,
        VIGIL_DEMO_GATEWAY_PORT: String(gatewayPort),
        VIGIL_DEMO_ADMIN_PORT: String(adminPort),
        VIGIL_DEMO_ACCESS_LOG: accessLog,
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
      out(`vigil demo: gateway ${vigil.gatewayUrl}  admin ${admin ?? '(not started)'}`)
      out(`  mocks      ${mocks.map((m) => `${m.name} ${m.url}`).join('  ')}`)
      if (admin !== null) {
        out(
          `  try        curl ${vigil.gatewayUrl}/orders/1   ·   curl ${admin}/api/services   ·   ${admin}/docs   ·   ${admin}/metrics`,
        )
        out(`  reload     curl -X POST -H "Authorization: Bearer ${token}" ${admin}/api/config/reload`)
      }
      out(`  access log ${accessLog}`)
      out(
        `  traffic    diurnal, peak ${rps} req/s, one day per ${dayMs / 1000}s; an incident every ${incidentEveryMs / 1000}s for ${incidentForMs / 1000}s${Number.isFinite(durationMs) ? `; stops after ${durationMs / 1000}s` : '; Ctrl-C stops'}`,
      )

      startedAt = Date.now()
      if (Number.isFinite(durationMs)) durationTimer = setTimeout(stop, durationMs)
      let incidents = 0
      const inject = () => {
        const mock = mocks[(incidents + 2) % mocks.length]
        const kind = INCIDENTS[incidents % INCIDENTS.length]
        incidents++
        mock.injectIncident({ kind, durationMs: incidentForMs, factor: 8, errorRate: 0.6 })
        out(`  incident   ${mock.name}: ${kind} for ${incidentForMs / 1000}s`)
        incidentTimer = setTimeout(inject, incidentEveryMs)
      }
      // The first incident comes half an interval in, so a short demo still shows one.
      incidentTimer = setTimeout(inject, incidentEveryMs / 2)

      const gateway = vigil.gateway
      let prevCounts: Readonly<Record<string, number>> = {}
      const status = (p: LoadProgress) => {
        let total = 0
        let s2 = 0
        let s4 = 0
        let s5 = 0
        for (const [code, n] of Object.entries(p.statusCounts)) {
          const d = n - (prevCounts[code] ?? 0)
          total += d
          if (code.startsWith('2')) s2 += d
          else if (code.startsWith('4')) s4 += d
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
          `[${String(t).padStart(5)}s] ${p.currentRps.toFixed(1).padStart(6)} req/s  2xx ${pct(s2, total)}  4xx ${pct(s4, total)}  5xx ${pct(s5, total)}  p50 ${p.intervalLatencyMs.p50.toFixed(0).padStart(4)}ms  p99 ${p.intervalLatencyMs.p99.toFixed(0).padStart(5)}ms | ${services}`,
        )
      }

      const totals = {
        sent: 0,
        completed: 0,
        failed: 0,
        dropped: 0,
        statusCounts: {} as Record<string, number>,
      }
      while (!ac.signal.aborted) {
        const left = durationMs - (Date.now() - startedAt)
        if (left <= 0) break
        prevCounts = {}
        const s = await runLoad({
          target: vigil.gatewayUrl,
          paths: PATHS,
          keys: KEYS,
          pattern: 'diurnal',
          rps,
          durationMs: Math.min(dayMs, left),
          signal: ac.signal,
          progressIntervalMs: statusEveryMs,
          onProgress: status,
        })
        totals.sent += s.sent
        totals.completed += s.completed
        totals.failed += s.failed
        totals.dropped += s.dropped
        for (const [k, v] of Object.entries(s.statusCounts))
          totals.statusCounts[k] = (totals.statusCounts[k] ?? 0) + v
      }
      const codes = Object.entries(totals.statusCounts)
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([k, v]) => `${k}: ${v}`)
        .join(', ')
      out(
        `vigil demo: served ${totals.completed} requests in ${((Date.now() - startedAt) / 1000).toFixed(0)}s (${codes || 'none'}; failed ${totals.failed}, dropped ${totals.dropped}); ${incidents} incident(s) injected`,
      )
      return 0
    } finally {
      if (incidentTimer !== null) clearTimeout(incidentTimer)
      if (durationTimer !== null) clearTimeout(durationTimer)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      out('vigil demo: stopping')
      if (vigil !== null) await vigil.stop()
      await Promise.all(mocks.map((m) => m.close()))
    }
  },
}
