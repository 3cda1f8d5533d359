/**
 * @module Repeated incidents of the same kind, as `vigil demo` injects them: every repeat must open
 * an anomaly, not only the first.
 */
import { describe, expect, it } from 'vitest'
import { poisson } from '../../test/helpers/draws.js'
import { LiveAnomalies, type AnomalyRecord } from './anomalies.js'
import type { SeriesPoint } from './points.js'
import type { SeriesKey } from '../telemetry/recorder.js'

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

function quantileOf(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

interface Window {
  count: number
  errors: number
  noTarget: number
  /** 429s */
  limited: number
  latencies: number[]
}

function toPoint(startMs: number, durationMs: number, w: Window): SeriesPoint {
  const sent = w.count - w.noTarget - w.limited
  const lat = [...w.latencies].sort((a, b) => a - b)
  return {
    startMs,
    durationMs,
    count: w.count,
    ratePerSec: w.count / (durationMs / 1000),
    errorRatio: w.count > 0 ? (w.errors + w.noTarget) / w.count : 0,
    upstreamErrorRatio: sent > 0 ? w.errors / sent : 0,
    refused: w.noTarget + w.limited,
    refused5xx: w.noTarget,
    limitedRatio: w.count > 0 ? w.limited / w.count : 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, w.count - w.errors - w.noTarget - w.limited, 0, w.limited, w.errors + w.noTarget],
    bytesIn: 0,
    bytesOut: 0,
    p50: lat.length > 0 ? quantileOf(lat, 0.5) : null,
    p95: lat.length > 0 ? quantileOf(lat, 0.95) : null,
    p99: lat.length > 0 ? quantileOf(lat, 0.99) : null,
    sources: 1,
  }
}

const merge = (ws: readonly Window[]): Window => ({
  count: ws.reduce((a, w) => a + w.count, 0),
  errors: ws.reduce((a, w) => a + w.errors, 0),
  noTarget: ws.reduce((a, w) => a + w.noTarget, 0),
  limited: ws.reduce((a, w) => a + w.limited, 0),
  latencies: ws.flatMap((w) => w.latencies),
})

/**
 * The demo's shape (src/cli/commands/demo.ts, examples/demo.yaml, src/sim): 2 s windows, diurnal
 * traffic peaking at 30 req/s over a 10-minute day, split evenly over three routes (the shop's
 * browse, users' test, payments); from window 150 (5 min) an incident every 60 windows (2 min)
 * lasting 15 (30 s), cycling pricing errors at 60% (the shop answers 502), payments latency ×8,
 * a surge (steady extra traffic at twice the peak rate), and a users outage (503s until the health check ejects the target, then
 * the gateway's own 503s). So each kind repeats every 240 windows (8 min).
 */
const STEP = 2_000
const T0 = 1_800_000_000_000
const PEAK_RPS = 30
const SCRAPER_RPS = 20
const FIRST = 150
const EVERY = 60
const LASTS = 15
const KINDS = ['errors', 'latency', 'surge', 'outage'] as const
type Kind = (typeof KINDS)[number]

function incidentAt(i: number): Kind | null {
  if (i < FIRST) return null
  const k = Math.floor((i - FIRST) / EVERY)
  return i - FIRST - k * EVERY < LASTS ? KINDS[k % KINDS.length] : null
}

const SERVICES = {
  shop: { route: 'browse', errorRate: 1 - 0.998 ** 4 },
  users: { route: 'test', errorRate: 0.001 },
  payments: { route: 'payment-gateway', errorRate: 0.005 },
} as const
type Service = keyof typeof SERVICES

function latencyOf(r: () => number, s: Service, kind: Kind | null): number {
  const u = (lo: number, hi: number) => lo + (hi - lo) * r()
  if (s === 'shop') return u(2, 15) + Math.max(u(20, 120), u(8, 60), u(6, 50))
  if (s === 'users') return u(5, 80)
  return u(40, 600) * (kind === 'latency' ? 8 : 1)
}

function windowOf(r: () => number, s: Service, i: number): Window {
  const kind = incidentAt(i)
  // the diurnal mean: every repeat is then the size of the first (at the trough of the day an
  // error burst of a few requests is a smaller incident, whatever was learned)
  const rps = PEAK_RPS * 0.6
  // a surge is steady extra traffic at twice the peak rate, whatever the time of day
  const count = poisson(r, ((kind === 'surge' ? rps + 2 * PEAK_RPS : rps) * STEP) / 1000 / 3)
  const w: Window = { count, errors: 0, noTarget: 0, limited: 0, latencies: [] }
  const since = i - FIRST - Math.floor((i - FIRST) / EVERY) * EVERY
  for (let n = 0; n < count; n++) {
    if (s === 'users' && kind === 'outage' && since >= 2) {
      w.noTarget++
      continue
    }
    w.latencies.push(latencyOf(r, s, kind))
    const errorRate =
      s === 'shop' && kind === 'errors' ? 0.6 : s === 'users' && kind === 'outage' ? 1 : SERVICES[s].errorRate
    if (r() < errorRate) w.errors++
  }
  // the scraper: 20 req/s on the catalogue from the first incident on, held to its Standard limit
  // (4 req/s) and then to a tenth of it once flagged as abusive
  if (s === 'shop' && i >= FIRST) {
    const scraped = poisson(r, (SCRAPER_RPS * STEP) / 1000)
    const allowed = Math.min(scraped, i < FIRST + 30 ? 8 : 1)
    w.count += scraped
    w.limited += scraped - allowed
    for (let n = 0; n < allowed; n++) {
      w.latencies.push(latencyOf(r, s, kind))
      if (r() < (kind === 'errors' ? 0.6 : SERVICES.shop.errorRate)) w.errors++
    }
  }
  return w
}

/** Feeds `windows` windows of the demo: routes, then services, then global, as the store orders them. */
function runDemo(live: LiveAnomalies, windows: number, seed = 1): void {
  const r = rng(seed)
  for (let i = 0; i < windows; i++) {
    const startMs = T0 + i * STEP
    const all: Window[] = []
    const at = (series: SeriesKey, w: Window) =>
      live.hook(series, toPoint(startMs, STEP, w), { correction: false })
    const byService: [Service, Window][] = (Object.keys(SERVICES) as Service[]).map((s) => [
      s,
      windowOf(r, s, i),
    ])
    for (const [s, w] of byService) at({ service: s, route: SERVICES[s].route, env: 'demo' }, w)
    for (const [s, w] of byService) {
      at({ service: s, route: '*', env: 'demo' }, w)
      all.push(w)
    }
    at({ service: '*', route: '*', env: '*' }, merge(all))
  }
}

/** Where each kind of incident shows: the series and the metrics that count as detecting it. */
const EXPECTED: Record<Kind, { keys: readonly string[]; metrics: readonly string[] }> = {
  errors: { keys: ['shop|browse|demo'], metrics: ['errors'] },
  latency: { keys: ['payments|payment-gateway|demo'], metrics: ['p50', 'p95', 'p99'] },
  // everyone's traffic: the rate of any route, or of all of them
  surge: {
    keys: ['shop|browse|demo', 'users|test|demo', 'payments|payment-gateway|demo', '*|*|*'],
    metrics: ['rate'],
  },
  outage: { keys: ['users|test|demo'], metrics: ['errors'] },
}

describe('LiveAnomalies: repeated incidents of the same kind', () => {
  it('opens an anomaly for every repeat of every kind of demo incident, not only the first', () => {
    const live = new LiveAnomalies({ stepMs: STEP, startedAtMs: T0 })
    const opened: AnomalyRecord[] = []
    live.on('anomaly', (a: AnomalyRecord, t: string) => t === 'opened' && opened.push(a))
    const cycles = 4
    const windows = FIRST + cycles * KINDS.length * EVERY
    runDemo(live, windows)
    const missed: string[] = []
    for (let k = 0; FIRST + k * EVERY < windows; k++) {
      const kind = KINDS[k % KINDS.length]
      const from = T0 + (FIRST + k * EVERY) * STEP
      const to = from + LASTS * STEP
      const want = EXPECTED[kind]
      const hit = opened.some(
        (a) =>
          want.keys.includes(a.key) &&
          want.metrics.includes(a.metric) &&
          a.openedAtMs >= from &&
          a.openedAtMs < to,
      )
      if (!hit) missed.push(`${kind} #${Math.floor(k / KINDS.length) + 1} at window ${FIRST + k * EVERY}`)
    }
    expect(missed).toEqual([])
    // and the calm windows between the incidents open nothing
    const calm = opened.filter((a) => incidentAt((a.openedAtMs - T0) / STEP) === null)
    expect(calm.map((a) => `${a.key} ${a.metric} at window ${(a.openedAtMs - T0) / STEP}`)).toEqual([])
  })
})
