/**
 * @module Journey models learned from observed traces: for one entry route, the call sites (which
 * services it calls, from where), whether sibling calls run in sequence or in parallel, fan-out
 * counts, each callee's own time (a quantile table from its DDSketch) and its own failure
 * chance, how failures travel up, and the gateway's retry, timeout and breaker policy in front.
 * Plain data (JSON-able): the API serves it and the simulator compiles it.
 */
import type { DDSketch } from '@datadog/sketches-js'
import { sketchQuantile } from './graph.js'
import { effectiveSize, MAX_FANOUT, type RouteWindowStats, type SiteStats } from './journey-stats.js'

/** Quantile tables have this many points, at q = i / (QUANTILE_POINTS - 1). */
export const QUANTILE_POINTS = 257

export type RetryOn = 'connect-error' | 'timeout' | '502' | '503' | '504'

/** The gateway's policy for the route (from its config). */
export interface GatewayPolicy {
  /** total tries including the first */
  attempts: number
  backoffBaseMs: number
  backoffMaxMs: number
  retryOn: readonly RetryOn[]
  /** per attempt, until the response starts */
  firstByteTimeoutMs: number
  /** across all attempts and backoffs */
  totalTimeoutMs: number
  breaker: { enabled: boolean; consecutiveFailures: number; baseEjectionMs: number; maxEjectionMs: number }
  /** active health checks close an open breaker at the next passing check; null: none */
  healthCheckIntervalMs: number | null
  /** targets of the route's service */
  targets: number
  /** share of requests whose method is idempotent (retried after reaching the upstream) */
  idempotentShare: number
}

export interface ModelSite {
  key: string
  /** index of the calling site, -1 for the entry */
  parent: number
  service: string
  env: string
  /** sibling sites with the same stage run in parallel; stages run one after the other */
  stage: number
  /** P(k calls at this site per call of the parent), k = 0..MAX_FANOUT */
  fanout: number[]
  /** several calls at this site from one parent call run in parallel (else one after another) */
  parallel: boolean
  /** calls observed */
  calls: number
  /** failures that began here, and calls in which no call below failed (requests they stand for) */
  ownErrors: number
  cleanCalls: number
  /**
   * the observations behind `ownErrors` and behind the other clean calls: the same numbers when
   * every trace counts once (rollups, traces with the services' spans), fewer when sampled gateway
   * spans each stand for several requests (Kish's effective size of each, (Σw)² / Σw²). They size
   * the posterior of the own failure chance ({@link ownFailurePosterior}).
   */
  effectiveOwnErrors: number
  effectiveCleanOk: number
  /** P(the call fails | one of its own calls failed), with one prior observation of "it does" */
  propagate: number
  /** share of this site's failures answered 502/503/504 (retryable by the gateway) */
  retryableShare: number
  /** own time (outside its calls) at q = i/(QUANTILE_POINTS-1), ms */
  self: number[]
  /** the call as its caller saw it, ms (for display) */
  p50: number | null
  p95: number | null
}

export interface JourneyModel {
  route: string
  fromMs: number
  toMs: number
  /** traces learned from, each weighted by the requests it stands for */
  traces: number
  /**
   * how many traces `traces` rests on: Kish's effective size, (Σw)² / Σw² (`traces` itself when
   * every trace counts once; three sampled gateway spans kept at 0.1 stand for 30 requests but
   * are 3 observations). What a "too few traces" check compares.
   */
  tracesSeen: number
  /** what the traces showed end to end */
  observed: { failureRatio: number; p50: number | null; p95: number | null; p99: number | null }
  gateway: GatewayPolicy | null
  /** gateway time around the entry call, quantile table (ms); zeros when unknown */
  overhead: number[]
  /** parents before children; sites[0] is the entry */
  sites: ModelSite[]
}

/** A quantile table of a sketch (all zeros when empty). */
export function quantileTable(s: DDSketch): number[] {
  const out = new Array<number>(QUANTILE_POINTS).fill(0)
  if (s.count === 0) return out
  for (let i = 0; i < QUANTILE_POINTS; i++) {
    const q = i / (QUANTILE_POINTS - 1)
    out[i] = Math.max(0, q === 1 ? s.max : q === 0 ? s.min : s.getValueAtQuantile(q))
  }
  // a sketch answers within 1 %: keep the table monotone for interpolation
  for (let i = 1; i < QUANTILE_POINTS; i++) if (out[i] < out[i - 1]) out[i] = out[i - 1]
  return out
}

/**
 * The posterior of a site's own failure chance θ: θ's odds are `oddsFactor` times the odds of a
 * Beta(a, b) draw.
 *
 * Sampled traces keep the two outcomes at different rates (the gateway keeps every error and
 * `sampleRate` of the successes), so the weighted counts are not as many observations as the
 * requests they stand for, and the share of failures among the kept ones is not θ. Each
 * outcome's weighted count is taken as a Poisson count scaled by its keep rate (its effective
 * size over its weighted count, 1/w for a fixed weight w): the share ψ of failures among the
 * effective observations then has the usual Beta(effective own errors + ½, effective other clean
 * calls + ½) posterior, and θ's odds are ψ's times the ratio of the keep rates (successes' over
 * failures'). Its most likely value is the weighted ratio; its spread is that of the kept
 * traces: 3 successes kept at p = 0.01 are 3 observations, not 300. An outcome never seen counts
 * as kept every time (the gateway keeps every error). With every trace counted once the factor
 * is 1 and this is Beta(own + ½, ok + ½) of the counts.
 */
export function ownFailurePosterior(
  site: Pick<ModelSite, 'ownErrors' | 'cleanCalls' | 'effectiveOwnErrors' | 'effectiveCleanOk'>,
): { a: number; b: number; oddsFactor: number } {
  const ok = Math.max(0, site.cleanCalls - site.ownErrors)
  const keepRate = (effective: number, weighted: number) =>
    weighted > 0 && effective > 0 ? Math.min(1, effective / weighted) : 1
  return {
    a: site.effectiveOwnErrors + 0.5,
    b: site.effectiveCleanOk + 0.5,
    oddsFactor: keepRate(site.effectiveCleanOk, ok) / keepRate(site.effectiveOwnErrors, site.ownErrors),
  }
}

/** θ from a draw `x` of the Beta of {@link ownFailurePosterior} (x itself when the factor is 1). */
export function ownFailureChance(x: number, oddsFactor: number): number {
  return oddsFactor === 1 ? x : (oddsFactor * x) / (oddsFactor * x + 1 - x)
}

const RETRYABLE_STATUS = new Set([502, 503, 504])

function retryableShare(s: SiteStats): number {
  let all = 0
  let retryable = 0
  for (const [code, n] of s.failStatus) {
    all += n
    if (RETRYABLE_STATUS.has(code)) retryable += n
  }
  // failures without a status (timeouts, resets) are retryable too; with no evidence assume a 502
  const noStatus = Math.max(0, s.errors - all)
  return s.errors === 0 ? 1 : (retryable + noStatus) / s.errors
}

/**
 * The model of one route from the merged stats of the windows it is learned from.
 * @param fallback the route's rollup (count, 5xx, latency), used when its services send no spans
 *   (no trace had a span of theirs): the journey is then one site, the route's upstream, with the
 *   gateway's view of it. The rollup counts every request; the gateway's spans, the only other
 *   view of such a route, are a sample (weighted back, but noisy when the sample is small).
 */
export function learnModel(
  stats: RouteWindowStats,
  gateway: GatewayPolicy | null,
  fallback?: { service: string; env: string; calls: number; errors: number; latency: DDSketch },
): JourneyModel {
  const observed = {
    failureRatio: stats.traces > 0 ? stats.failures / stats.traces : 0,
    p50: sketchQuantile(stats.latency, 0.5),
    p95: sketchQuantile(stats.latency, 0.95),
    p99: sketchQuantile(stats.latency, 0.99),
  }
  const base = {
    route: stats.route,
    fromMs: stats.windowStartMs,
    toMs: stats.windowStartMs + stats.windowMs,
    gateway,
    overhead: quantileTable(stats.gatewayOverhead),
  }
  const tracesSeen = effectiveSize(stats.traces, stats.traceSquares)
  const raw = [...stats.sites.values()]
  const entryKeys = raw.filter((s) => s.parentKey === '').sort((a, b) => b.calls - a.calls)
  // (the same weights summed in the same order: equal when every trace was the gateway's alone)
  const gatewayOnly = stats.traces > 0 && stats.gatewayOnly >= stats.traces * (1 - 1e-9)
  const useRollup = fallback !== undefined && fallback.calls > 0 && (entryKeys.length === 0 || gatewayOnly)
  if (entryKeys.length === 0 || useRollup) {
    if (fallback === undefined || !useRollup)
      return { ...base, traces: stats.traces, tracesSeen, observed, sites: [] }
    const fanout = new Array<number>(MAX_FANOUT + 1).fill(0)
    fanout[1] = 1
    return {
      ...base,
      traces: fallback.calls,
      tracesSeen: fallback.calls,
      observed: {
        failureRatio: fallback.errors / fallback.calls,
        p50: sketchQuantile(fallback.latency, 0.5),
        p95: sketchQuantile(fallback.latency, 0.95),
        p99: sketchQuantile(fallback.latency, 0.99),
      },
      sites: [
        {
          key: `${fallback.service}|${fallback.env}`,
          parent: -1,
          service: fallback.service,
          env: fallback.env,
          stage: 0,
          fanout,
          parallel: false,
          calls: fallback.calls,
          ownErrors: fallback.errors,
          cleanCalls: fallback.calls,
          effectiveOwnErrors: fallback.errors,
          effectiveCleanOk: Math.max(0, fallback.calls - fallback.errors),
          propagate: 1,
          retryableShare: 1,
          self: quantileTable(fallback.latency),
          p50: sketchQuantile(fallback.latency, 0.5),
          p95: sketchQuantile(fallback.latency, 0.95),
        },
      ],
    }
  }
  // the entry is the busiest entry site; keep its subtree (another entry would be another journey)
  const entry = entryKeys[0]
  const children = new Map<string, SiteStats[]>()
  for (const s of raw) {
    if (s.parentKey === '') continue
    const list = children.get(s.parentKey)
    if (list === undefined) children.set(s.parentKey, [s])
    else list.push(s)
  }
  const sites: ModelSite[] = []
  const add = (s: SiteStats, parent: number, parentCalls: number, stage: number) => {
    const fanout = new Array<number>(MAX_FANOUT + 1).fill(0)
    if (parent === -1) fanout[1] = 1
    else {
      let called = 0
      for (let k = 1; k <= MAX_FANOUT; k++) {
        fanout[k] = parentCalls > 0 ? s.fanout[k] / parentCalls : 0
        called += fanout[k]
      }
      if (called > 1) for (let k = 1; k <= MAX_FANOUT; k++) fanout[k] /= called
      fanout[0] = Math.max(0, 1 - Math.min(1, called))
    }
    const idx = sites.length
    sites.push({
      key: s.key,
      parent,
      service: s.service,
      env: s.env,
      stage,
      fanout,
      parallel: s.fanParallel >= s.fanSequential,
      calls: s.calls,
      ownErrors: s.ownErrors,
      cleanCalls: Math.max(0, s.calls - s.childFailed),
      effectiveOwnErrors: effectiveSize(s.ownErrors, s.ownErrorSquares),
      effectiveCleanOk: effectiveSize(
        Math.max(0, s.calls - s.childFailed - s.ownErrors),
        Math.max(0, s.cleanSquares - s.ownErrorSquares),
      ),
      propagate: (s.propagated + 1) / (s.childFailed + 1),
      retryableShare: retryableShare(s),
      self: quantileTable(s.self),
      p50: sketchQuantile(s.duration, 0.5),
      p95: sketchQuantile(s.duration, 0.95),
    })
    const kids = children.get(s.key) ?? []
    const stages = stagesOf(s, kids)
    for (const k of kids) add(k, idx, s.calls, stages.get(k.key) ?? 0)
  }
  add(entry, -1, 0, 0)
  return { ...base, traces: stats.traces, tracesSeen, observed, sites }
}

/**
 * Stages of a site's calls: sites whose calls overlapped in at least half of the parent calls
 * that made both run in parallel (one stage); stages are ordered by mean start offset.
 */
function stagesOf(parent: SiteStats, kids: readonly SiteStats[]): Map<string, number> {
  const group = new Map<string, string>(kids.map((k) => [k.key, k.key]))
  const find = (k: string): string => {
    let r = k
    while (group.get(r) !== r) r = group.get(r) as string
    group.set(k, r)
    return r
  }
  for (const [pair, [together, overlapped]] of parent.pairs) {
    if (together === 0 || overlapped / together < 0.5) continue
    const [a, b] = pair.split('\n')
    if (!group.has(a) || !group.has(b)) continue
    const ra = find(a)
    const rb = find(b)
    if (ra !== rb) group.set(ra, rb)
  }
  const offset = (k: SiteStats) => (k.calls > 0 ? k.offsetMs / k.calls : 0)
  const groups = new Map<string, { offset: number; n: number; members: string[] }>()
  for (const k of kids) {
    const r = find(k.key)
    const g = groups.get(r) ?? { offset: 0, n: 0, members: [] }
    g.offset += offset(k)
    g.n++
    g.members.push(k.key)
    groups.set(r, g)
  }
  const ordered = [...groups.values()].sort((a, b) => a.offset / a.n - b.offset / b.n)
  const out = new Map<string, number>()
  ordered.forEach((g, i) => {
    for (const m of g.members) out.set(m, i)
  })
  return out
}
