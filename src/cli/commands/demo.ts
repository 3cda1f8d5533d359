/**
 * @module `vigil demo`: the README's main job. Starts the shop journey (an aggregator fanning out
 * to services in three environments, traced with OpenTelemetry), two mock services (users, scaled
 * with local replica processes, and payments), Vigil in front of them from `examples/demo.yaml`
 * (rate limits with Standard and Premium clients, live detection and forecasting on a compressed
 * clock, alerts, adaptive limits and autoscaling that act, the dashboard), diurnal traffic from
 * ten clients, one abusive client, and an injected incident every few minutes; prints the
 * dashboard's login link, a status line every few seconds and one line per thing the control plane
 * does, and stops everything (replica processes too) on Ctrl-C or after `--duration`. Nothing
 * external is needed.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { processLogger } from '../log.js'
import type { ActivityEntry } from '../../api/activity.js'
import type { ServedCounts, ServiceView } from '../../gateway/index.js'
import {
  DEMO_SERVICES,
  runLoad,
  startDemoTopology,
  startMockService,
  type DemoTopology,
  type Incident,
  type IncidentKind,
  type LoadProgress,
  type LoadSummary,
  type MockService,
  type MockServiceOptions,
} from '../../sim/index.js'
import { parseFlags, parsePort, parsePositive, parseTimerMs } from '../args.js'
import type { Command } from '../command.js'
import { startVigil, type Vigil } from '../runtime.js'
import {
  VGL_ERR_API_LISTEN,
  VGL_ERR_GATEWAY_LISTEN,
  VGL_ERR_OTLP_LISTEN,
  type VigilError,
} from '../../errors.js'
import { listenProblem } from '../../listen-error.js'
import type { Logger } from 'pino'

const usage = `usage: vigil demo [--duration 10m] [--rps 30] [--gateway-port 8080] [--admin-port 8081]
                  [--otlp-port 4318] [--first-incident 5m] [--incident-every 2m] [--incident-for 30s]
                  [--day 10m] [--abuse-rps 20] [--status-every 5s] [--mock-port-base 9001]
                  [--config examples/demo.yaml] [--keep-data] [--verbose]

Runs Vigil (gateway :8080, admin API and dashboard :8081, OTLP/HTTP receiver :4318, or free
ports when those are taken, said at start; a port named with --gateway-port, --admin-port or
--otlp-port is used or the start fails with one line naming the flag) in front of mock
services on ports 9001+ (free ports when taken; --mock-port-base 0 always picks free ones): the
shop aggregator behind /api/browse, whose services in three environments (auth, inventory
on-prem, pricing on AWS, reviews on GCP) send OpenTelemetry spans to Vigil; users behind
/api/test, scaled between 1 and 4 local replica processes; payments behind /api/payment-gateway.
Diurnal traffic through the gateway from nine Standard and Premium clients peaks at --rps (one
compressed day per --day); from --first-incident on, an abusive client scrapes at --abuse-rps
(0: none) and an incident every --incident-every lasts --incident-for, cycling error burst
(pricing, AWS), latency spike (payments), traffic surge (everyone, x3) and outage (users). The
detectors learn for about four minutes first. A status line every --status-every and one line
per anomaly, alert, limit change or scaling action. Ctrl-C, or --duration of traffic (counted
once Vigil is up), stops it all, replica processes included.

The dashboard's login link is printed at start; the admin token is $VIGIL_ADMIN_TOKEN, or a random
one per run. Each run stores its data in a fresh temporary directory, removed at the end unless
--keep-data. Vigil's own logs go to stderr (errors only unless --verbose); the access log goes
to a file named at start.`

/** the in-process mocks; the users replicas the autoscaler starts run the same settings */
export const MOCKS: ReadonlyArray<{ name: string; latencyMs: string; errorRate: number }> = [
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
  // a service of the shop's journey (AWS): the shop answers 502, the journeys name the cause
  { kind: 'errors', service: 'pricing' },
  { kind: 'latency', service: 'payments' },
  { kind: 'surge' },
  { kind: 'outage', service: 'users' },
]
const SURGE_FACTOR = 3
/** the service examples/demo.yaml scales with local replica processes */
const SCALED = 'users'
/** the CLI the replicas run (`vigil mock`), found from this file in src/ or dist/ */
const CLI = fileURLToPath(new URL('../../../bin/vigil.js', import.meta.url))

const pctOf = (ratio: number) => `${Number((100 * ratio).toPrecision(2))}%`

/**
 * The banner's `baseline` line: the share of requests each mock fails with no incident (the shop
 * answers 502 when any of its services fails). A newcomer sees these as small 5xx spikes from
 * the first minute (one error in a 2 s window of a dozen requests reads as several percent) and
 * should know they are the service's normal, which the detectors learn and do not flag.
 */
export function baselineLine(): string {
  const journey = DEMO_SERVICES.map((s) => s.errorRate)
  const shop = 1 - journey.reduce((ok, r) => ok * (1 - r), 1)
  const each = journey.every((r) => r === journey[0])
    ? `${pctOf(journey[0])} each`
    : DEMO_SERVICES.map((s) => `${s.name} ${pctOf(s.errorRate)}`).join(', ')
  return (
    `  baseline   with no incident the mocks still fail a few requests, as real services do: ` +
    `${MOCKS.map((m) => `${m.name} ${pctOf(m.errorRate)}`).join(', ')}, shop ${pctOf(shop)} (502 when one of its ${DEMO_SERVICES.length} services fails, ${each}); ` +
    `one in a window of a few requests shows as a small 5xx spike, the normal the detectors learn and do not flag`
  )
}

/** `port` bound and released on `host`: the port it got (a free one for 0), or why it could not. */
function probePort(port: number, host: string): Promise<number | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', (err) => resolve(err))
    srv.listen(port, host, () => {
      const addr = srv.address()
      srv.close(() => resolve(typeof addr === 'object' && addr !== null ? addr.port : port))
    })
  })
}

/** A listener of Vigil's whose port the demo chooses and hands to examples/demo.yaml. */
export interface DemoListener {
  /** what the banner calls it: `gateway`, `admin`, `OTLP` */
  readonly name: string
  readonly host: string
  /** the port to take when it is free (0: any free port) */
  readonly preferred: number
  /** the flag that names the port */
  readonly flag: string
  /** whether the user named the port with `flag`: then that port or an error naming the flag */
  readonly asked: boolean
  /** the code Vigil's start fails with when this listener cannot bind */
  readonly listenCode: string
  readonly error: (line: string) => VigilError
}

/**
 * Resolves `l.preferred` when it can be bound on its host, else a free port. A port the user asked
 * for is that port or an error naming the flag: another one, announced only in the banner, would
 * leave them looking for Vigil where they said it would be.
 */
async function choosePort(l: DemoListener, preferred = l.preferred): Promise<number> {
  const got = await probePort(preferred, l.host)
  if (typeof got === 'number') return got
  if (l.asked) throw l.error(flagProblem(l, preferred, got))
  const free = await probePort(0, l.host)
  return typeof free === 'number' ? free : 0
}

function flagProblem(l: DemoListener, port: number, err: NodeJS.ErrnoException): string {
  return listenProblem(
    {
      block: 'demo',
      host: l.host,
      port,
      names: { host: l.host, port: l.flag },
      orElse: 'or leave it out for a free one',
    },
    err,
  )
}

/**
 * Chooses a port for each listener, then runs `start` with them. A port is chosen by binding it
 * and letting it go, so another process (a second demo started at the same moment) can take it
 * before Vigil binds it; the start then fails on a listener, and this starts once more, up to
 * `attempts` times, on a fresh free port for that listener and for every other port taken
 * meanwhile. A port the user named is kept: when another process holds it, the error names its
 * flag. Resolves what `start` resolved and the ports used, by listener name.
 */
export async function startOnFreePorts<T>(
  listeners: readonly DemoListener[],
  start: (ports: ReadonlyMap<string, number>) => Promise<T>,
  attempts = 3,
): Promise<{ started: T; ports: ReadonlyMap<string, number> }> {
  const ports = new Map<string, number>()
  for (const l of listeners) ports.set(l.name, await choosePort(l))
  for (let attempt = 1; ; attempt++) {
    try {
      return { started: await start(ports), ports }
    } catch (err) {
      const failed = listeners.find((l) => l.listenCode === (err as { code?: unknown }).code)
      if (failed === undefined) throw err
      for (const l of listeners) {
        const chosen = ports.get(l.name) ?? l.preferred
        const now = await probePort(chosen, l.host)
        if (typeof now !== 'number' && l.asked) throw l.error(flagProblem(l, chosen, now))
        // both demos of a race may have let go of their ports by now: the failed one moves anyway
        if (!l.asked && (typeof now !== 'number' || l === failed)) ports.set(l.name, await choosePort(l, 0))
      }
      if (attempt >= attempts) throw err
    }
  }
}

/** The banner's line for default ports that were taken, or null when every one was free. */
export function movedPortsLine(
  listeners: readonly DemoListener[],
  ports: ReadonlyMap<string, number>,
): string | null {
  const moved = listeners.filter((l) => !l.asked && l.preferred !== 0 && ports.get(l.name) !== l.preferred)
  if (moved.length === 0) return null
  const what = moved.map((l) => `${l.preferred} (${l.name}, now :${ports.get(l.name)})`).join(', ')
  const flags = moved.map((l) => l.flag).join(', ')
  return `  ports      in use by another process: ${what}; ${flags} name${moved.length === 1 ? 's' : ''} a port to use instead`
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

async function startTopology(otlpUrl: string, basePort: number): Promise<DemoTopology> {
  try {
    return await startDemoTopology({ otlpUrl, basePort })
  } catch (err) {
    if ((err as { code?: string }).code !== 'VGL_ERR_SIM_LISTEN' || basePort === 0) throw err
    return startDemoTopology({ otlpUrl, basePort: 0 })
  }
}

/**
 * Injects an incident where `service` runs: a service of the shop's journey, an in-process mock,
 * and every replica process the gateway sends the service's traffic to (through the replica's
 * `POST /_mock/incident`). Returns where it went, for the terminal line.
 */
function injectIncident(
  service: string,
  incident: Incident,
  mocks: readonly MockService[],
  topology: DemoTopology,
  gateway: Vigil['gateway'],
  logger: Logger,
): string {
  const journey = topology.services.find((s) => s.name === service)
  if (journey !== undefined) {
    journey.mock.injectIncident(incident)
    return ` (${journey.env})`
  }
  const local = mocks.find((m) => m.name === service)
  local?.injectIncident(incident)
  const replicas = (gateway.services().find((s) => s.name === service)?.targets ?? [])
    .map((t) => t.url.replace(/\/$/, ''))
    .filter((url) => url !== local?.url.replace(/\/$/, ''))
  for (const url of replicas)
    void fetch(`${url}/_mock/incident`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(incident),
      signal: AbortSignal.timeout(2_000),
    })
      .then((r) => r.body?.cancel())
      .catch((err: unknown) => logger.warn({ err, url }, 'could not inject the incident into a replica'))
  return replicas.length > 0 ? ` (${replicas.length} replica${replicas.length === 1 ? '' : 's'})` : ''
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

/**
 * The status line's traffic: what the gateway answered in the last `ms`, from every client (the
 * diurnal ones, the scraper, a surge), so the rate is the one the global series `*|*|*` shows.
 */
export function servedSummary(prev: ServedCounts, now: ServedCounts, ms: number): string {
  const n = now.requests - prev.requests
  const rate = ms > 0 ? (1000 * n) / ms : 0
  const cls = (i: number) => now.statusClass[i] - prev.statusClass[i]
  return `gateway ${rate.toFixed(1).padStart(6)} req/s  2xx ${pct(cls(1), n)}  429 ${pct(now.limited - prev.limited, n)}  5xx ${pct(cls(4), n)}`
}

/**
 * The status line from its parts (elapsed time and traffic, client latency, services, anomalies and
 * alerts), fitted to a terminal `width` columns wide. The anomaly and alert counts are what a
 * newcomer watches for, and they come last: cutting the line at the edge hid them on any terminal
 * narrower than the whole line (about 160 columns). So the alignment padding goes first, then the
 * client latency, then the services; the traffic is cut before the counts are.
 */
export function fitStatus(parts: readonly string[], width: number): string {
  const join = (ps: readonly string[]) => ps.join(' | ')
  if (join(parts).length <= width) return join(parts)
  const kept = parts.map((p) => p.replace(/ {2,}/g, ' ').replace(/^\[ +/, '['))
  // the middle parts, least telling first: the client latency, then the services
  while (kept.length > 2 && join(kept).length > width) kept.splice(1, 1)
  if (join(kept).length <= width) return join(kept)
  const tail = kept.length > 1 ? ` | ${kept[kept.length - 1]}` : ''
  const head = kept.length > 1 ? join(kept.slice(0, -1)) : join(kept)
  const room = width - tail.length - 1
  return room > 0 ? `${head.slice(0, room)}…${tail}` : `${join(kept).slice(0, Math.max(0, width - 1))}…`
}

/** One terminal line per activity entry: `  anomaly    …`, `  limits     …`, `  action     …`. */
export function activityLine(e: ActivityEntry): string {
  // a resolution says so itself: `anomaly    Resolved: 5xx errors on shop (demo) are back in their band`
  const tag = e.kind.split('.')[0] ?? 'action'
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
        'otlp-port': { type: 'string' },
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
      values.duration === undefined ? Infinity : parseTimerMs(values.duration, '--duration', '')
    const rps = parsePositive(values.rps, '--rps', 30)
    const firstIncidentMs = parseTimerMs(values['first-incident'] ?? '5m', '--first-incident', '')
    const incidentEveryMs = parseTimerMs(
      values['incident-every'] ?? '2m',
      '--incident-every',
      'the time from one incident to the next; to run without incidents, set --first-incident beyond --duration',
    )
    const incidentForMs = parseTimerMs(
      values['incident-for'] ?? '30s',
      '--incident-for',
      'how long each incident lasts',
    )
    const dayMs = parseTimerMs(values.day ?? '10m', '--day', 'the length of one compressed day of traffic')
    const abuseRps = values['abuse-rps'] === '0' ? 0 : parsePositive(values['abuse-rps'], '--abuse-rps', 20)
    const statusEveryMs = parseTimerMs(
      values['status-every'] ?? '5s',
      '--status-every',
      'the time between status lines',
    )
    const configFile = values.config ?? fileURLToPath(new URL('../../../examples/demo.yaml', import.meta.url))
    const gatewayPortFlag = parsePort(values['gateway-port'], '--gateway-port', 8080)
    const adminPortFlag = parsePort(values['admin-port'], '--admin-port', 8081)
    const otlpPortFlag = parsePort(values['otlp-port'], '--otlp-port', 4318)
    // the mocks and the shop's services listen on the ports from the base on
    const base = parsePort(values['mock-port-base'], '--mock-port-base', 9001, {
      max: 65535 - MOCKS.length - DEMO_SERVICES.length,
    })
    // on a terminal the status line stays at the bottom, rewritten in place, with every other line
    // printed above it; into a file or a pipe each status is a line of its own
    const tty = process.stdout.isTTY === true
    let statusShown = ''
    const out = (line: string) =>
      process.stdout.write(tty && statusShown !== '' ? `\r\x1b[K${line}\n${statusShown}` : `${line}\n`)
    const showStatus = (parts: readonly string[]) => {
      if (!tty) return out(parts.join(' | '))
      statusShown = fitStatus(parts, process.stdout.columns || 200)
      process.stdout.write(`\r\x1b[K${statusShown}`)
    }
    /** leaves the last status line where it is */
    const keepStatus = () => {
      if (statusShown !== '') process.stdout.write('\n')
      statusShown = ''
    }

    const ac = new AbortController()
    const stop = () => ac.abort()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)

    const mocks: MockService[] = []
    let topology: DemoTopology | null = null
    const timers: NodeJS.Timeout[] = []
    const side: Array<Promise<LoadSummary | null>> = []
    let vigil: Vigil | null = null
    const dataDir = mkdtempSync(join(tmpdir(), 'vigil-demo-'))
    // --duration counts from when traffic starts, not from process start (startup takes seconds).
    let startedAt = Date.now()
    try {
      for (const [i, m] of MOCKS.entries()) mocks.push(await startMock(m, base === 0 ? 0 : base + i))
      const listeners: DemoListener[] = [
        {
          name: 'gateway',
          host: '0.0.0.0',
          preferred: gatewayPortFlag,
          flag: '--gateway-port',
          asked: values['gateway-port'] !== undefined,
          listenCode: VGL_ERR_GATEWAY_LISTEN.code,
          error: VGL_ERR_GATEWAY_LISTEN,
        },
        {
          name: 'admin',
          host: '127.0.0.1',
          preferred: adminPortFlag,
          flag: '--admin-port',
          asked: values['admin-port'] !== undefined,
          listenCode: VGL_ERR_API_LISTEN.code,
          error: VGL_ERR_API_LISTEN,
        },
        {
          name: 'OTLP',
          host: '0.0.0.0',
          preferred: otlpPortFlag,
          flag: '--otlp-port',
          asked: values['otlp-port'] !== undefined,
          listenCode: VGL_ERR_OTLP_LISTEN.code,
          error: VGL_ERR_OTLP_LISTEN,
        },
      ]
      const token = process.env.VIGIL_ADMIN_TOKEN || randomBytes(12).toString('hex')
      // the terminal already has a line per anomaly and action; their warnings would repeat them
      const logger = processLogger('vigil', values.verbose === true ? 'info' : 'error')
      const up = await startOnFreePorts(listeners, async (chosen) => {
        const otlpPort = chosen.get('OTLP') ?? 0
        // the shop's services export their spans to Vigil's OTLP receiver (up before any request)
        const shop = await startTopology(`http://127.0.0.1:${otlpPort}`, base === 0 ? 0 : base + MOCKS.length)
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          VIGIL_ADMIN_TOKEN: token,
          VIGIL_DEMO_GATEWAY_PORT: String(chosen.get('gateway')),
          VIGIL_DEMO_ADMIN_PORT: String(chosen.get('admin')),
          VIGIL_DEMO_OTLP_PORT: String(otlpPort),
          VIGIL_DEMO_ACCESS_LOG: join(dataDir, 'access.log'),
          VIGIL_DEMO_DATA: dataDir,
          VIGIL_DEMO_SHOP_PORT: String(shop.aggregator.port),
          VIGIL_DEMO_USERS_PORT: String(mocks[0].port),
          VIGIL_DEMO_PAYMENTS_PORT: String(mocks[1].port),
          // the users replicas: this Node and this CLI, whatever the working directory
          VIGIL_DEMO_NODE: process.execPath,
          VIGIL_DEMO_CLI: CLI,
        }
        try {
          return {
            topology: shop,
            vigil: await startVigil({ configFile, mode: 'embedded', env, logger, handleSignals: false }),
          }
        } catch (err) {
          await shop.close()
          throw err
        }
      })
      topology = up.started.topology
      vigil = up.started.vigil
      const ports = up.ports
      const otlpPort = ports.get('OTLP')
      const admin = vigil.adminUrl
      const readyS = ((performance.now() - t0) / 1000).toFixed(1)
      out(`vigil demo: gateway ${vigil.gatewayUrl}  admin ${admin} (ready in ${readyS}s)`)
      out(`  dashboard  ${admin}/#token=${token}`)
      out(`             (the link logs you in; the admin token is ${token})`)
      out(
        `  mocks      ${mocks.map((m) => `${m.name} ${m.url}`).join('  ')}  shop ${topology.aggregator.url}`,
      )
      out(
        `  journey    /api/browse -> shop (onprem) -> auth, inventory (onprem), pricing (aws), reviews (gcp); spans to OTLP :${otlpPort}`,
      )
      out(
        `  try        curl -H 'X-API-Key: ${DEMO_CLIENTS[6].key}' ${vigil.gatewayUrl}/api/payment-gateway   ·   ${admin}/docs   ·   ${admin}/metrics`,
      )
      out(
        `  tier edit  curl -X PUT -H "Authorization: Bearer ${token}" -H 'content-type: application/json' -d '{"ratePerSec":1,"burst":2,"reason":"walkthrough"}' ${admin}/api/limits/tiers/STD`,
      )
      const moved = movedPortsLine(listeners, ports)
      if (moved !== null) out(moved)
      out(`  data       ${dataDir}${values['keep-data'] === true ? ' (kept)' : ' (removed at the end)'}`)
      out(
        `  traffic    diurnal, peak ${rps} req/s from ${DEMO_CLIENTS.length} clients, one day per ${dayMs / 1000}s; from ${firstIncidentMs / 1000}s: ${abuseRps > 0 ? `a scraper at ${abuseRps} req/s and ` : ''}an incident every ${incidentEveryMs / 1000}s for ${incidentForMs / 1000}s${Number.isFinite(durationMs) ? `; stops after ${durationMs / 1000}s` : '; Ctrl-C stops'}`,
      )
      out(baselineLine())
      let openAnomalies = 0
      const firing = new Set<string>()
      vigil.activity.on('entry', (e: ActivityEntry) => {
        if (e.kind === 'anomaly.opened') openAnomalies++
        else if (e.kind === 'anomaly.resolved') openAnomalies = Math.max(0, openAnomalies - 1)
        else if (e.kind === 'alert.firing') firing.add(`${e.actor} ${e.subject}`)
        else if (e.kind === 'alert.resolved') firing.delete(`${e.actor} ${e.subject}`)
        out(activityLine(e))
      })

      startedAt = Date.now()
      const gateway = vigil.gateway
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
          const incident = { kind: inc.kind, durationMs: incidentForMs, factor: 8, errorRate: 0.6 }
          const where = injectIncident(inc.service, incident, mocks, topology!, gateway, logger)
          out(`  incident   ${inc.service}${where}: ${inc.kind} for ${incidentForMs / 1000}s`)
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

      let prevServed = gateway.served()
      let prevServedAt = performance.now()
      const status = (p: LoadProgress) => {
        const served = gateway.served()
        const now = performance.now()
        const traffic = servedSummary(prevServed, served, now - prevServedAt)
        prevServed = served
        prevServedAt = now
        const services = gateway
          .services()
          .map((s) => {
            const inc =
              s.name === topology?.aggregator.name
                ? topology.services.map((t) => t.mock.activeIncident()).find((i) => i !== null)
                : mocks.find((m) => m.name === s.name)?.activeIncident()
            const replicas = s.name === SCALED ? ` x${s.targets.length}` : ''
            return `${s.name}${replicas} ${serviceState(s)}${inc ? ` (${inc.kind})` : ''}`
          })
          .join(' · ')
        const t = Math.round((Date.now() - startedAt) / 1000)
        showStatus([
          `[${String(t).padStart(5)}s] ${traffic}`,
          `clients p50 ${p.intervalLatencyMs.p50.toFixed(0).padStart(4)}ms  p99 ${p.intervalLatencyMs.p99.toFixed(0).padStart(5)}ms`,
          services,
          `anomalies ${openAnomalies} · alerts ${firing.size}`,
        ])
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
      keepStatus()
      out(
        `vigil demo: served ${totals.completed} requests in ${((Date.now() - startedAt) / 1000).toFixed(0)}s (${codes || 'none'}; failed ${totals.failed}, dropped ${totals.dropped}); ${incidents} incident(s) injected`,
      )
      return 0
    } finally {
      for (const t of timers) clearTimeout(t)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
      keepStatus()
      out('vigil demo: stopping')
      ac.abort()
      await Promise.all(side)
      // stops the autoscaler's replica processes too
      if (vigil !== null) await vigil.stop()
      await Promise.all(mocks.map((m) => m.close()))
      await topology?.close()
      if (values['keep-data'] !== true) rmSync(dataDir, { recursive: true, force: true })
    }
  },
}
