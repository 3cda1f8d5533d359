/**
 * @module Impact of a journey's state over a horizon, and of what-if scenarios: end-to-end success
 * probability, latency percentiles, the chance the SLO is missed over the horizon, expected
 * downtime minutes, expected failed requests and distinct users affected (hit by a request
 * missing the SLO), each with a 90 %
 * interval.
 *
 * Intervals: the journeys are simulated in batches; each batch draws every site's own failure
 * chance from its posterior (so a service seen failing 2 times in 50 is uncertain, one seen
 * 200 times in 10,000 is not; a posterior sized by the traces seen, not by the requests sampled
 * ones stand for: see `ownFailurePosterior`), and the spread of the batches' answers is the
 * interval.
 * Traffic-dependent answers (failed requests, users, downtime) take the forecast's lower and upper
 * rates for the interval's ends.
 *
 * Scenarios with a duration ("down for 10 minutes") hold for that long from now; the horizon is
 * cut into segments at each scenario's end and each segment is simulated with what holds in it.
 * The gateway's breaker cannot be simulated one journey at a time (it depends on the order of
 * failures): its share of time open is computed from the renewal process of its states with the
 * simulated per-attempt failure chance and the forecast rate (documented in docs/journeys.md).
 */
import { VGL_ERR_JOURNEYS_WHATIF } from '../errors.js'
import type { JourneyModel } from './model.js'
import { createRng, type Rng } from './rng.js'
import { JourneySimulator, simulationBuffers, type SimulationResult, type SiteOverride } from './simulate.js'

export type WhatIf =
  | { kind: 'errorRatio'; service: string; env?: string; value: number; durationMs?: number }
  | { kind: 'latency'; service: string; env?: string; factor: number; durationMs?: number }
  | { kind: 'down'; service: string; env?: string; durationMs?: number }
  | {
      kind: 'replicaLoss'
      service: string
      env?: string
      /** replicas before the loss; default: known from config or spans, else 2 */
      replicas?: number
      /** replicas lost; default 1 */
      lost?: number
      /** utilization of the replicas before the loss; default 0.5 */
      utilization?: number
      durationMs?: number
    }

const KINDS = ['errorRatio', 'latency', 'down', 'replicaLoss'] as const

/** The fields a what-if scenario may have, for parsers and query schemas. */
export const WHAT_IF_FIELDS = [
  'kind',
  'service',
  'env',
  'value',
  'factor',
  'durationMs',
  'replicas',
  'lost',
  'utilization',
] as const

/** Validates what-ifs from JSON; every message names the field (`scenarios[1].value`). */
export function parseWhatIfs(raw: unknown, field = 'scenarios'): WhatIf[] {
  const bad = (path: string, msg: string): never => {
    throw VGL_ERR_JOURNEYS_WHATIF(`${path}: ${msg}`)
  }
  if (!Array.isArray(raw)) return bad(field, 'expected an array of scenarios')
  if (raw.length === 0) return bad(field, 'expected at least one scenario')
  if (raw.length > 16) return bad(field, `at most 16 scenarios, got ${raw.length}`)
  return raw.map((r: unknown, i): WhatIf => {
    const p = `${field}[${i}]`
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return bad(p, 'expected an object')
    const o = r as Record<string, unknown>
    const known = new Set<string>(WHAT_IF_FIELDS)
    for (const k of Object.keys(o)) if (!known.has(k)) bad(`${p}.${k}`, 'unknown field; remove it')
    if (o.kind === undefined) bad(`${p}.kind`, `missing; add one of ${KINDS.join(', ')}`)
    if (!KINDS.includes(o.kind as (typeof KINDS)[number]))
      bad(`${p}.kind`, `expected one of ${KINDS.join(', ')}, got ${JSON.stringify(o.kind)}`)
    if (typeof o.service !== 'string' || o.service === '') bad(`${p}.service`, 'expected a service name')
    if (o.env !== undefined && typeof o.env !== 'string') bad(`${p}.env`, 'expected a string')
    const num = (k: string, ok: (v: number) => boolean, rule: string): number | undefined => {
      const v = o[k]
      if (v === undefined) return undefined
      if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v))
        bad(`${p}.${k}`, `expected ${rule}, got ${JSON.stringify(v)}`)
      return v as number
    }
    const durationMs = num('durationMs', (v) => v > 0, 'a duration in ms > 0')
    const base = { service: o.service as string, env: o.env as string | undefined, durationMs }
    switch (o.kind) {
      case 'errorRatio': {
        const value = num('value', (v) => v >= 0 && v <= 1, 'a ratio in [0, 1]')
        if (value === undefined) bad(`${p}.value`, 'required: the error ratio in [0, 1]')
        return { kind: 'errorRatio', ...base, value: value as number }
      }
      case 'latency': {
        const factor = num('factor', (v) => v > 0 && v <= 1000, 'a factor > 0 (at most 1000)')
        if (factor === undefined) bad(`${p}.factor`, 'required: the latency factor, e.g. 3')
        return { kind: 'latency', ...base, factor: factor as number }
      }
      case 'down':
        return { kind: 'down', ...base }
      default: {
        const replicas = num('replicas', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1')
        const lost = num('lost', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1')
        const utilization = num('utilization', (v) => v >= 0 && v <= 1, 'a ratio in [0, 1]')
        if (replicas !== undefined && lost !== undefined && lost > replicas)
          bad(`${p}.lost`, `cannot lose ${lost} of ${replicas} replicas`)
        return { kind: 'replicaLoss', ...base, replicas, lost, utilization }
      }
    }
  })
}

/** A number with its 90 % interval. */
export interface Interval {
  value: number
  low: number
  high: number
}

export interface Outcome {
  /** P(a journey succeeds) while the scenario holds (its first segment) */
  successProbability: Interval
  /** end-to-end latency while the scenario holds, ms */
  latencyMs: { p50: Interval; p95: Interval; p99: Interval }
  /**
   * end-to-end latency of the journeys that succeed while the scenario holds, ms: with a service
   * down most journeys fail at once, and `latencyMs` is then the time to fail; null when none succeed
   */
  succeededLatencyMs: { p50: Interval; p95: Interval; p99: Interval } | null
  /** share of requests that fail or are slower than the SLO's latency, while the scenario holds */
  requestSloMissRatio: Interval
  /** P(the SLO is missed over the horizon: good requests / all < availability) */
  sloBreachProbability: Interval
  /** minutes of the horizon whose failed share exceeds `downtimeErrorRatio` (expected) */
  expectedDowntimeMinutes: Interval
  expectedFailedRequests: Interval
  /**
   * distinct clients with at least one request missing the SLO (failed, or slower than
   * `slo.latencyMs`) over the horizon; null when client ids are unknown
   */
  usersAffected: Interval | null
  /** journeys simulated (all batches and segments) */
  simulatedJourneys: number
}

export interface ImpactOptions {
  horizonMs: number
  /** the traffic forecast for the route: requests/s per step of `stepMs` from now */
  traffic: { stepMs: number; rate: readonly number[]; lower?: readonly number[]; upper?: readonly number[] }
  /** the route's clients with their request rates to it; absent: users cannot be counted */
  clients?: readonly number[]
  slo: { availability: number; latencyMs: number }
  /** a minute with more than this share of failed requests counts as downtime; default 0.05 */
  downtimeErrorRatio?: number
  /** journeys per segment over all batches; default 100,000 */
  journeys?: number
  /** default 20 */
  batches?: number
  seed?: number
  /** replicas of a service when a replicaLoss scenario does not say; default 2 */
  replicas?: (service: string, env: string) => number | null
}

export interface ImpactResult {
  route: string
  horizonMs: number
  /** mean request rate over the horizon (req/s) and its interval */
  trafficPerSec: Interval
  baseline: Outcome
  scenario: Outcome | null
  /** what each scenario changed, per site */
  applied: { scenario: number; site: string; change: string }[]
}

/** Which sites a scenario's service (and env) names; throws naming the field when none. */
function sitesOf(model: JourneyModel, w: WhatIf, field: string): number[] {
  const hits: number[] = []
  model.sites.forEach((s, i) => {
    if (s.service === w.service && (w.env === undefined || s.env === w.env)) hits.push(i)
  })
  if (hits.length === 0) {
    const known = [...new Set(model.sites.map((s) => `${s.service} (${s.env})`))].join(', ')
    throw VGL_ERR_JOURNEYS_WHATIF(
      `${field}.service: the journey of route ${model.route} does not call "${w.service}"${w.env === undefined ? '' : ` in env "${w.env}"`} (it calls: ${known || 'nothing yet'})`,
    )
  }
  return hits
}

/** Checks that every scenario names a service of the journey (throws VGL_ERR_JOURNEYS_WHATIF). */
export function checkWhatIfs(model: JourneyModel, whatIfs: readonly WhatIf[], field = 'scenarios'): void {
  whatIfs.forEach((w, i) => sitesOf(model, w, `${field}[${i}]`))
}

interface Applied {
  overrides: Map<number, SiteOverride>
  notes: { scenario: number; site: string; change: string }[]
}

function applyWhatIfs(
  model: JourneyModel,
  whatIfs: readonly { w: WhatIf; index: number }[],
  replicas: ImpactOptions['replicas'],
): Applied {
  const overrides = new Map<number, SiteOverride>()
  const notes: Applied['notes'] = []
  const get = (i: number) => {
    let o = overrides.get(i)
    if (o === undefined) {
      o = {}
      overrides.set(i, o)
    }
    return o
  }
  for (const { w, index } of whatIfs) {
    for (const i of sitesOf(model, w, `scenarios[${index}]`)) {
      const o = get(i)
      const site = model.sites[i].key
      switch (w.kind) {
        case 'errorRatio':
          o.errorRatio = w.value
          notes.push({ scenario: index, site, change: `own error ratio ${w.value}` })
          break
        case 'latency':
          o.latencyFactor = (o.latencyFactor ?? 1) * w.factor
          notes.push({ scenario: index, site, change: `own time ×${w.factor}` })
          break
        case 'down':
          o.down = true
          notes.push({ scenario: index, site, change: 'down: every call fails' })
          break
        case 'replicaLoss': {
          const s = model.sites[i]
          const r = w.replicas ?? replicas?.(s.service, s.env) ?? 2
          const lost = w.lost ?? 1
          if (lost >= r) {
            o.down = true
            notes.push({ scenario: index, site, change: `all ${r} replicas lost: down` })
            break
          }
          // M/M/1 per replica: response time scales with 1/(1-ρ); beyond saturation the excess is shed
          const rho = w.utilization ?? 0.5
          const rho2 = (rho * r) / (r - lost)
          if (rho2 < 0.95) {
            const f = (1 - rho) / (1 - rho2)
            o.latencyFactor = (o.latencyFactor ?? 1) * f
            notes.push({
              scenario: index,
              site,
              change: `${lost} of ${r} replicas lost: utilization ${rho.toFixed(2)} → ${rho2.toFixed(2)}, own time ×${f.toFixed(2)}`,
            })
          } else {
            const shed = Math.max(0, 1 - 0.95 / rho2)
            const f = (1 - rho) / 0.05
            o.latencyFactor = (o.latencyFactor ?? 1) * f
            o.errorRatio = Math.max(o.errorRatio ?? 0, shed)
            notes.push({
              scenario: index,
              site,
              change: `${lost} of ${r} replicas lost: overloaded (utilization ${rho2.toFixed(2)}), ${(100 * shed).toFixed(0)} % shed, own time ×${f.toFixed(1)}`,
            })
          }
          break
        }
      }
    }
  }
  return { overrides, notes }
}

/** Standard normal CDF (Abramowitz and Stegun 7.1.26 through erf; |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2
  const t = 1 / (1 + 0.3275911 * x)
  const y =
    1 -
    ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) *
      t *
      Math.exp(-x * x)
  return z >= 0 ? 0.5 * (1 + y) : 0.5 * (1 - y)
}

/** P(Binomial(n, p) / n > threshold), normal approximation with continuity correction. */
function exceedProbability(n: number, p: number, threshold: number): number {
  if (n <= 0) return 0
  if (p <= 0) return 0
  if (p >= 1) return threshold < 1 ? 1 : 0
  const sd = Math.sqrt(n * p * (1 - p))
  return 1 - normalCdf((threshold * n + 0.5 - n * p) / sd)
}

/**
 * The breaker's share of time open. Closed periods last until `k` consecutive failures: expected
 * (1 - q^k) / ((1 - q) q^k) attempts at per-attempt failure chance q, taken as exponentially
 * distributed. An ejection lasts min(base × n, max) for the n-th in a row; a failed half-open
 * probe (chance q) ejects again at once with n + 1; n starts over when the closed period before an
 * ejection lasted at least max (chance exp(-max / closed)). A passing health check ends an
 * ejection early. The chain over n is followed cycle by cycle over the duration.
 */
export function breakerOpenShare(
  q: number,
  attemptsPerSec: number,
  durationMs: number,
  b: { consecutiveFailures: number; baseEjectionMs: number; maxEjectionMs: number },
  healthCheckIntervalMs: number | null,
): number {
  if (q <= 0 || attemptsPerSec <= 0 || durationMs <= 0) return 0
  const k = b.consecutiveFailures
  const closedAttempts = q >= 1 ? k : (1 - q ** k) / ((1 - q) * q ** k)
  const closedMs = (1000 * closedAttempts) / attemptsPerSec
  if (!Number.isFinite(closedMs) || closedMs > 1e15) return 0
  const N = Math.ceil(b.maxEjectionMs / b.baseEjectionMs) + 1
  const ejection = (n: number) => {
    const e = Math.min(b.baseEjectionMs * Math.min(n, N), b.maxEjectionMs)
    return healthCheckIntervalMs !== null && q < 1 ? Math.min(e, healthCheckIntervalMs) : e
  }
  const qq = Math.min(q, 0.999_999)
  // open time of a cycle that starts at n = s, and where n ends (geometric failed probes)
  const openFrom = new Float64Array(N + 1)
  for (let s = 0; s <= N; s++) {
    let chance = 1
    for (let m = 0; m < 200 && chance > 1e-9; m++) {
      openFrom[s] += chance * ejection(s + 1 + m)
      chance *= qq
    }
  }
  const reset = Math.exp(-b.maxEjectionMs / closedMs)
  let dist = new Float64Array(N + 1)
  dist[0] = 1
  let t = 0
  let open = 0
  for (let cycle = 0; cycle < 5000 && t < durationMs; cycle++) {
    t += closedMs
    if (t >= durationMs) break
    let eOpen = 0
    for (let s = 0; s <= N; s++) eOpen += dist[s] * openFrom[s]
    const o = Math.min(eOpen, durationMs - t)
    open += o
    t += o
    // where n ends, then the chance it starts over before the next ejection
    const next = new Float64Array(N + 1)
    for (let s = 0; s <= N; s++) {
      if (dist[s] === 0) continue
      let chance = 1 - qq
      for (let g = 0; g < 200 && s + 1 + g <= N + 200; g++) {
        const n = Math.min(s + 1 + g, N)
        next[n] += dist[s] * chance
        chance *= qq
        if (chance < 1e-12) break
      }
    }
    for (let s = 0; s <= N; s++) next[s] *= 1 - reset
    next[0] += reset
    dist = next
  }
  if (t < durationMs && open > 0) {
    // the chain has settled: the rest of the duration runs at the share reached so far
    open += ((durationMs - t) * open) / t
  }
  return Math.min(1, open / durationMs)
}

function quantileOf(sorted: Float64Array | number[], q: number): number {
  const n = sorted.length
  if (n === 0) return Number.NaN
  const x = q * (n - 1)
  const i = Math.floor(x)
  const f = x - i
  return i + 1 < n ? sorted[i] + f * (sorted[i + 1] - sorted[i]) : sorted[i]
}

function spread(values: number[], point: number): Interval {
  const s = [...values].sort((a, b) => a - b)
  return { value: point, low: quantileOf(s, 0.05), high: quantileOf(s, 0.95) }
}

interface SegmentRun {
  startMs: number
  endMs: number
  /** per batch: failure chance, SLO-miss share, p50/p95/p99 */
  pFail: number[]
  pBad: number[]
  p50: number[]
  p95: number[]
  p99: number[]
  pooled: { pFail: number; pBad: number; p50: number; p95: number; p99: number }
  /** the same quantiles over the journeys that succeed: per batch that has any, and pooled (null: none) */
  succeeded: {
    p50: number[]
    p95: number[]
    p99: number[]
    pooled: { p50: number; p95: number; p99: number } | null
  }
  journeys: number
}

function simulateSegment(
  model: JourneyModel,
  overrides: Map<number, SiteOverride>,
  seg: { startMs: number; endMs: number },
  opts: Required<Pick<ImpactOptions, 'journeys' | 'batches'>> & { slo: ImpactOptions['slo'] },
  meanRate: number,
  rng: Rng,
  buf: SimulationResult,
): SegmentRun {
  const sim = new JourneySimulator(model, overrides)
  const per = Math.max(1, Math.floor(opts.journeys / opts.batches))
  const g = model.gateway
  // breaker: the per-attempt failure chance from a pilot run, then its share of time open
  if (g !== null && g.breaker.enabled) {
    sim.drawParameters(null)
    const pilot = sim.run(Math.min(per, 20_000), rng, buf)
    const q = pilot.attempts > 0 ? pilot.breakerFailures / pilot.attempts : 0
    const attemptsPerSec =
      (meanRate * (pilot.attempts / Math.max(1, pilot.journeys))) / Math.max(1, g.targets)
    const f = breakerOpenShare(q, attemptsPerSec, seg.endMs - seg.startMs, g.breaker, g.healthCheckIntervalMs)
    sim.breakerOpen = f ** Math.max(1, g.targets)
  }
  const run: SegmentRun = {
    ...seg,
    pFail: [],
    pBad: [],
    p50: [],
    p95: [],
    p99: [],
    pooled: { pFail: 0, pBad: 0, p50: 0, p95: 0, p99: 0 },
    succeeded: { p50: [], p95: [], p99: [], pooled: null },
    journeys: 0,
  }
  const all = new Float64Array(per * opts.batches)
  const ok = new Float64Array(per * opts.batches)
  let okCount = 0
  let failures = 0
  let bad = 0
  for (let b = 0; b < opts.batches; b++) {
    sim.drawParameters(rng)
    const r = sim.run(per, rng, buf)
    let batchBad = 0
    const okFrom = okCount
    for (let j = 0; j < per; j++) {
      const l = r.latencies[j]
      all[b * per + j] = l
      if (r.failed[j] !== 1) ok[okCount++] = l
      if (r.failed[j] === 1 || l > opts.slo.latencyMs) batchBad++
    }
    if (okCount > okFrom) {
      const okLat = ok.subarray(okFrom, okCount).sort()
      run.succeeded.p50.push(quantileOf(okLat, 0.5))
      run.succeeded.p95.push(quantileOf(okLat, 0.95))
      run.succeeded.p99.push(quantileOf(okLat, 0.99))
    }
    const lat = r.latencies.subarray(0, per).sort()
    run.pFail.push(r.failures / per)
    run.pBad.push(batchBad / per)
    run.p50.push(quantileOf(lat, 0.5))
    run.p95.push(quantileOf(lat, 0.95))
    run.p99.push(quantileOf(lat, 0.99))
    failures += r.failures
    bad += batchBad
  }
  all.sort()
  const n = per * opts.batches
  run.pooled = {
    pFail: failures / n,
    pBad: bad / n,
    p50: quantileOf(all, 0.5),
    p95: quantileOf(all, 0.95),
    p99: quantileOf(all, 0.99),
  }
  if (okCount > 0) {
    const okAll = ok.subarray(0, okCount).sort()
    run.succeeded.pooled = {
      p50: quantileOf(okAll, 0.5),
      p95: quantileOf(okAll, 0.95),
      p99: quantileOf(okAll, 0.99),
    }
  }
  run.journeys = n
  return run
}

/** Requests per segment (from the per-step traffic). */
function requestsIn(rate: readonly number[], stepMs: number, fromMs: number, toMs: number): number {
  let total = 0
  for (let i = 0; i < rate.length; i++) {
    const a = Math.max(fromMs, i * stepMs)
    const b = Math.min(toMs, (i + 1) * stepMs)
    if (b > a) total += (rate[i] * (b - a)) / 1000
  }
  // beyond the forecast's last step, the last rate holds
  const covered = rate.length * stepMs
  if (toMs > covered && rate.length > 0)
    total += (rate[rate.length - 1] * (toMs - Math.max(fromMs, covered))) / 1000
  return total
}

/** Simulates the journey now (baseline) and under the scenarios over the horizon. */
export function simulateImpact(
  model: JourneyModel,
  whatIfs: readonly WhatIf[],
  opts: ImpactOptions,
): ImpactResult {
  const journeys = opts.journeys ?? 100_000
  const batches = Math.max(2, opts.batches ?? 20)
  const H = opts.horizonMs
  const thr = opts.downtimeErrorRatio ?? 0.05
  const rng = createRng(opts.seed ?? 1)
  const buf = simulationBuffers(Math.max(1, Math.floor(journeys / batches), Math.min(20_000, journeys)))
  const traffic = opts.traffic
  const lower = traffic.lower ?? traffic.rate
  const upper = traffic.upper ?? traffic.rate
  const meanRate = requestsIn(traffic.rate, traffic.stepMs, 0, H) / (H / 1000)
  const sim = { journeys, batches, slo: opts.slo }
  checkWhatIfs(model, whatIfs)

  const evaluate = (segments: SegmentRun[]): Outcome => {
    const first = segments[0]
    const perBatch = (trafficRate: readonly number[]) => {
      const failed: number[] = []
      const down: number[] = []
      const users: number[] = []
      const breach: number[] = []
      for (let b = 0; b < batches; b++) {
        let f = 0
        let badMean = 0
        let badVar = 0
        let total = 0
        let downMin = 0
        const survive = opts.clients?.map(() => 1) ?? null
        for (const s of segments) {
          const n = requestsIn(trafficRate, traffic.stepMs, s.startMs, s.endMs)
          const p = s.pFail[b]
          f += n * p
          total += n
          badMean += n * s.pBad[b]
          badVar += n * s.pBad[b] * (1 - s.pBad[b])
          // minutes of the segment: each is down when its failed share passes the threshold
          for (let m = s.startMs; m < s.endMs; m += 60_000) {
            const end = Math.min(s.endMs, m + 60_000)
            const nm = requestsIn(trafficRate, traffic.stepMs, m, end)
            downMin += ((end - m) / 60_000) * exceedProbability(nm, p, thr)
          }
          // a user is affected by a request that misses the SLO, slow as well as failed: the
          // same requests the SLO-miss share counts
          const miss = s.pBad[b]
          if (survive !== null && opts.clients !== undefined)
            opts.clients.forEach((r, c) => {
              survive[c] *= (1 - miss) ** ((r * (s.endMs - s.startMs)) / 1000)
            })
        }
        failed.push(f)
        down.push(downMin)
        if (survive !== null) users.push(survive.reduce((a, s) => a + (1 - s), 0))
        const allowed = (1 - opts.slo.availability) * total
        breach.push(
          total <= 0
            ? 0
            : badVar <= 0
              ? badMean > allowed
                ? 1
                : 0
              : 1 - normalCdf((allowed - badMean) / Math.sqrt(badVar)),
        )
      }
      return { failed, down, users, breach }
    }
    const mid = perBatch(traffic.rate)
    const lo = perBatch(lower)
    const hi = perBatch(upper)
    const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / Math.max(1, v.length)
    // Not every figure grows with traffic: the chance that a minute's failed share passes the
    // downtime threshold falls as the minute holds more requests, so the lower traffic can give
    // the higher downtime. The interval spans all three traffic levels, whichever way they go.
    const withTraffic = (m: number[], l: number[], h: number[]): Interval => {
      const value = mean(m)
      const sorted = [m, l, h].map((v) => [...v].sort((a, b) => a - b))
      return {
        value,
        low: Math.min(value, ...sorted.map((v) => quantileOf(v, 0.05))),
        high: Math.max(value, ...sorted.map((v) => quantileOf(v, 0.95))),
      }
    }
    const p = first.pooled
    return {
      successProbability: spread(
        first.pFail.map((x) => 1 - x),
        1 - p.pFail,
      ),
      latencyMs: {
        p50: spread(first.p50, p.p50),
        p95: spread(first.p95, p.p95),
        p99: spread(first.p99, p.p99),
      },
      succeededLatencyMs:
        first.succeeded.pooled === null
          ? null
          : {
              p50: spread(first.succeeded.p50, first.succeeded.pooled.p50),
              p95: spread(first.succeeded.p95, first.succeeded.pooled.p95),
              p99: spread(first.succeeded.p99, first.succeeded.pooled.p99),
            },
      requestSloMissRatio: spread(first.pBad, p.pBad),
      sloBreachProbability: withTraffic(mid.breach, lo.breach, hi.breach),
      expectedDowntimeMinutes: withTraffic(mid.down, lo.down, hi.down),
      expectedFailedRequests: withTraffic(mid.failed, lo.failed, hi.failed),
      usersAffected: opts.clients === undefined ? null : withTraffic(mid.users, lo.users, hi.users),
      simulatedJourneys: segments.reduce((a, s) => a + s.journeys, 0),
    }
  }

  const baselineRun = simulateSegment(model, new Map(), { startMs: 0, endMs: H }, sim, meanRate, rng, buf)
  const baseline = evaluate([baselineRun])
  let scenario: Outcome | null = null
  const applied: ImpactResult['applied'] = []
  if (whatIfs.length > 0) {
    // segments: cut at each scenario's end
    const cuts = [...new Set([0, H, ...whatIfs.map((w) => Math.min(H, w.durationMs ?? H))])].sort(
      (a, b) => a - b,
    )
    const segments: SegmentRun[] = []
    for (let i = 0; i + 1 < cuts.length; i++) {
      const seg = { startMs: cuts[i], endMs: cuts[i + 1] }
      const active = whatIfs
        .map((w, index) => ({ w, index }))
        .filter(({ w }) => (w.durationMs ?? H) > seg.startMs)
      if (active.length === 0) {
        segments.push({ ...baselineRun, ...seg })
        continue
      }
      const a = applyWhatIfs(model, active, opts.replicas)
      if (i === 0) applied.push(...a.notes)
      segments.push(simulateSegment(model, a.overrides, seg, sim, meanRate, rng, buf))
    }
    scenario = evaluate(segments)
  }
  const lowRate = requestsIn(lower, traffic.stepMs, 0, H) / (H / 1000)
  const highRate = requestsIn(upper, traffic.stepMs, 0, H) / (H / 1000)
  return {
    route: model.route,
    horizonMs: H,
    trafficPerSec: { value: meanRate, low: lowRate, high: highRate },
    baseline,
    scenario,
    applied,
  }
}
