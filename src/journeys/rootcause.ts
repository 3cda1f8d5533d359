/**
 * @module Root cause of an entry route's errors or slowness in a window: candidate services and
 * edges (caller → callee), ranked by the share of the evidence that points at each.
 *
 * Evidence, each turned into shares that sum to 1 over the candidates it names:
 * - errors: **where failures began** (the deepest failing span of each failing trace, 50 %),
 *   **which edge's error ratio grew most** against the baseline, in excess failed calls (30 %),
 *   **whose own anomaly started first** (20 %);
 * - slowness: **whose own time on the critical path grew most** against the baseline, per trace
 *   (50 %), **which edge's p95 grew most**, weighted by how often it is on the critical path
 *   (30 %), **whose own anomaly started first** (20 %).
 *
 * A kind of evidence that points nowhere (no failing trace, no edge grew) gives its weight to the
 * others. "Own anomaly": the first window, from two windows before the analysed window, in which a
 * service's own failures (failures that began there) or own time (p95) left its baseline; and the
 * live detector's anomalies (src/control/anomalies.ts) of that service, when it is behind the
 * gateway. A score is the weighted sum of a candidate's shares.
 *
 * Whether the symptom moved, and when a service's own behaviour left its baseline, are judged on
 * the traces seen, not on the requests the gateway's sampled spans stand for: a kept span standing
 * for 10 requests is one observation (see {@link errorsRose}).
 */
import type { DDSketch } from '@datadog/sketches-js'
import { nodeId, parseNodeId } from './span.js'
import { effectiveShareSize, effectiveSize, type RouteWindowStats, type SiteStats } from './journey-stats.js'
import { sketchQuantile } from './graph.js'

export type Symptom = 'errors' | 'latency'

/** An anomaly of a service from the live detector. */
export interface ServiceAnomaly {
  service: string
  /** null when the anomaly is not tied to one env */
  env: string | null
  openedAtMs: number
  metric: string
}

export interface RootCauseInput {
  route: string
  /** the analysed window merged, and the baseline before it merged */
  current: RouteWindowStats
  baseline: RouteWindowStats
  /** the route's windows from a little before the analysed window to its end, oldest first */
  windows: readonly RouteWindowStats[]
  anomalies?: readonly ServiceAnomaly[]
  /** default: the symptom that moved more */
  symptom?: Symptom | 'auto'
}

export interface Candidate {
  /** `service|env`, or `from->to` for an edge */
  id: string
  service: string
  env: string
  /** edges only */
  from?: string
  to?: string
  /** weighted share of all the evidence, 0..1 (scores of one list sum to 1 when any evidence exists) */
  score: number
  /** this candidate's share of each kind of evidence */
  evidence: Record<string, number>
  /** the numbers behind it */
  detail: Record<string, number | null>
}

/** A route's numbers in one stretch of windows. */
export interface RouteNumbers {
  /** the requests its traces stand for (a sampled gateway span stands for 1 / its keep probability) */
  traces: number
  /**
   * how many fully seen traces the figures are as sure as (Kish's effective size): `traces` when
   * every trace was seen in full, fewer on a route seen through the gateway's sampled spans
   */
  observed: number
  errorRatio: number
  p95: number | null
}

export interface RootCause {
  route: string
  /** the symptom ranked for: the one asked for, else the one that rose more (errors when none did) */
  symptom: Symptom
  /**
   * whether the symptom rose against the baseline beyond noise; false: the ranking says where
   * the symptom's evidence lies now, not what changed
   */
  moved: boolean
  /** why this symptom, with the numbers: "latency: p95 120 → 480 ms", "nothing moved: …" */
  symptomReason: string
  windowStartMs: number
  windowMs: number
  baselineStartMs: number
  baselineMs: number
  /** the route now and in the baseline */
  now: RouteNumbers
  before: RouteNumbers
  services: Candidate[]
  edges: Candidate[]
  /** which evidence weighed how much (after redistributing the empty kinds) */
  weights: Record<string, number>
}

interface NodeAgg {
  service: string
  env: string
  calls: number
  errors: number
  own: number
  /** Σ w² of the calls and of the own failures (how many traces the weighted counts rest on) */
  callSquares: number
  ownSquares: number
  origins: number
  cpMs: number
  cpTraces: number
  self: DDSketch | null
}

function byNode(rw: RouteWindowStats): Map<string, NodeAgg> {
  const out = new Map<string, NodeAgg>()
  for (const s of rw.sites.values()) {
    const id = nodeId(s.service, s.env)
    let a = out.get(id)
    if (a === undefined) {
      a = {
        service: s.service,
        env: s.env,
        calls: 0,
        errors: 0,
        own: 0,
        callSquares: 0,
        ownSquares: 0,
        origins: 0,
        cpMs: 0,
        cpTraces: 0,
        self: null,
      }
      out.set(id, a)
    }
    a.calls += s.calls
    a.errors += s.errors
    a.own += s.ownErrors
    a.callSquares += s.callSquares
    a.ownSquares += s.ownErrorSquares
    a.origins += s.origins
    a.cpMs += s.cpMs
    a.cpTraces += s.cpTraces
    if (s.self.count > 0) {
      if (a.self === null) a.self = s.self
      else if (a.self !== s.self) {
        // merge into a private copy, never into the window's sketch
        const copy = cloneSketch(a.self)
        copy.merge(s.self)
        a.self = copy
      }
    }
  }
  return out
}

function cloneSketch(s: DDSketch): DDSketch {
  const C = s.constructor as new (o: { relativeAccuracy: number }) => DDSketch
  const c = new C({ relativeAccuracy: s.mapping.relativeAccuracy })
  c.merge(s)
  return c
}

function edgeOf(s: SiteStats): { from: string; to: string } | null {
  if (s.parentKey === '') return null
  const i = s.parentKey.lastIndexOf('>')
  const from = i < 0 ? s.parentKey : s.parentKey.slice(i + 1)
  return { from, to: nodeId(s.service, s.env) }
}

interface EdgeAgg {
  from: string
  to: string
  calls: number
  errors: number
  cpTraces: number
  duration: DDSketch | null
}

function byEdge(rw: RouteWindowStats): Map<string, EdgeAgg> {
  const out = new Map<string, EdgeAgg>()
  for (const s of rw.sites.values()) {
    const e = edgeOf(s)
    if (e === null) continue
    const id = `${e.from}->${e.to}`
    let a = out.get(id)
    if (a === undefined) {
      a = { ...e, calls: 0, errors: 0, cpTraces: 0, duration: null }
      out.set(id, a)
    }
    a.calls += s.calls
    a.errors += s.errors
    a.cpTraces += s.cpTraces
    if (s.duration.count > 0) {
      if (a.duration === null) a.duration = s.duration
      else {
        const copy = cloneSketch(a.duration)
        copy.merge(s.duration)
        a.duration = copy
      }
    }
  }
  return out
}

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0)

function normalize(m: Map<string, number>): Map<string, number> {
  let total = 0
  for (const v of m.values()) total += v
  const out = new Map<string, number>()
  if (total <= 0) return out
  for (const [k, v] of m) if (v > 0) out.set(k, v / total)
  return out
}

/**
 * When each node's own behaviour first left its baseline: the first of `windows` in which its
 * own failure ratio passed baseline + max(2 %, 3 σ) (errors; σ from the window's effective number
 * of calls, see {@link effectiveShareSize}), or its own p95 passed 1.5 × the
 * baseline's and +5 ms (latency).
 */
function onsets(
  symptom: Symptom,
  windows: readonly RouteWindowStats[],
  base: Map<string, NodeAgg>,
): Map<string, number> {
  const out = new Map<string, number>()
  for (const w of windows) {
    for (const [id, a] of byNode(w)) {
      if (out.has(id) || a.calls === 0) continue
      const b = base.get(id)
      if (symptom === 'errors') {
        const p0 = b === undefined ? 0 : ratio(b.own, b.calls)
        const p = ratio(a.own, a.calls)
        // a sampled span standing for 100 requests is one observation, not 100
        const n = effectiveShareSize(a.own, a.ownSquares, a.calls, a.callSquares)
        const sigma = Math.sqrt(Math.max(p0 * (1 - p0), 1e-4) / n)
        if (a.own >= 2 && p > p0 + Math.max(0.02, 3 * sigma)) out.set(id, w.windowStartMs)
      } else {
        const q0 = b === undefined || b.self === null ? null : sketchQuantile(b.self, 0.95)
        const q = a.self === null ? null : sketchQuantile(a.self, 0.95)
        const n = effectiveSize(a.calls, a.callSquares)
        if (q !== null && q0 !== null && n >= 5 && q > 1.5 * q0 && q > q0 + 5) out.set(id, w.windowStartMs)
      }
    }
  }
  return out
}

function routeNumbers(rw: RouteWindowStats): RouteNumbers {
  return {
    // the weighted estimate of the requests, as whole requests
    traces: Math.round(rw.traces),
    observed: Math.round(effectiveSize(rw.traces, rw.traceSquares)),
    errorRatio: ratio(rw.failures, rw.traces),
    p95: sketchQuantile(rw.latency, 0.95),
  }
}

/**
 * A window's failed and other traces as observations: each outcome's Kish effective size, and the
 * rate it was kept at (effective size over weighted count; null when the outcome was not seen).
 */
function outcomes(rw: RouteWindowStats) {
  const okWeight = rw.traces - rw.failures
  // (summed in another order than the failures: a route that only failed leaves a rounding error)
  const okSeen = okWeight > 1e-9 * rw.traces
  const failed = effectiveSize(rw.failures, rw.failureSquares)
  const ok = okSeen ? effectiveSize(okWeight, rw.traceSquares - rw.failureSquares) : 0
  return {
    failed,
    ok,
    failedRate: rw.failures > 0 ? failed / rw.failures : null,
    okRate: okSeen ? ok / okWeight : null,
  }
}

/**
 * Whether the route's error ratio rose beyond noise: by more than half a point, by half of what it
 * was, and by 3 σ of the traces seen. The σ test is on the share of the analysed window's seen
 * traces that failed, binomial over them: on a route seen through the gateway's sampled spans,
 * which keeps every failure but `sampleRate` of the rest, the baseline's ratio p₀ means a share
 * p₀r_f / (p₀r_f + (1 − p₀)r_ok) of the kept spans failing (r: each outcome's keep rate), and a
 * window whose few kept successes happen to be fewer is tested as the handful of spans it is (a
 * window of 2 errors and no kept success reads 100 %, a 1 σ wobble at r_ok = 0.01, not a rise).
 * Every trace seen in full (weights 1): the binomial over the traces, as it always was.
 */
function errorsRose(
  now: RouteNumbers,
  before: RouteNumbers,
  current: RouteWindowStats,
  baseline: RouteWindowStats,
): boolean {
  const move = now.errorRatio - before.errorRatio
  if (!(current.traces > 0) || !(baseline.traces > 0)) return move > 0.005
  const a = outcomes(current)
  const b = outcomes(baseline)
  // an outcome the analysed window did not see was kept as the baseline's was (the same sampler)
  const rFailed = a.failedRate ?? b.failedRate ?? 1
  const rOk = a.okRate ?? b.okRate ?? 1
  const keptShare = (p: number) => (rFailed === rOk ? p : (p * rFailed) / (p * rFailed + (1 - p) * rOk))
  const p0 = Math.max(before.errorRatio, 1e-4)
  const q0 = keptShare(p0)
  const seen = a.failed + a.ok
  const q = seen > 0 ? a.failed / seen : 0
  // the baseline's own noise, carried onto the kept share by its slope dq/dp
  const slope = rFailed === rOk ? 1 : (q0 * (1 - q0)) / (p0 * (1 - p0))
  const baselineSize = effectiveShareSize(
    baseline.failures,
    baseline.failureSquares,
    baseline.traces,
    baseline.traceSquares,
  )
  const sigma = Math.sqrt((q0 * (1 - q0)) / seen + (slope * slope * (p0 * (1 - p0))) / baselineSize)
  return (
    q - keptShare(before.errorRatio) > 3 * sigma && move > 0.005 && now.errorRatio >= 1.5 * before.errorRatio
  )
}

/** Traces seen (one sampled span standing for 10 requests is one) a p95 needs to be judged. */
const P95_MIN_OBSERVED = 5

/** Whether the route's p95 went up by a fifth and 5 ms, however few traces it rests on. */
function latencyUp(now: RouteNumbers, before: RouteNumbers): boolean {
  if (now.p95 === null || before.p95 === null) return false
  return now.p95 >= 1.2 * before.p95 && now.p95 - before.p95 >= 5
}

/** Whether the route's p95 rose beyond noise: up, over at least P95_MIN_OBSERVED traces seen. */
function latencyRose(now: RouteNumbers, before: RouteNumbers): boolean {
  return now.observed >= P95_MIN_OBSERVED && latencyUp(now, before)
}

/**
 * Why a p95 that went up is not called a rise: too few traces to tell. Without it the answer read
 * "which did not move: p95 347 → 1557 ms" for an alert's first windows of a slow, quiet route.
 */
function tooFewTraces(now: RouteNumbers, before: RouteNumbers): string | null {
  return latencyUp(now, before) && !latencyRose(now, before)
    ? `${now.observed} seen, ${P95_MIN_OBSERVED} needed`
    : null
}

const pct = (x: number) => `${Math.round(x * (x < 0.01 ? 10_000 : 1_000)) / (x < 0.01 ? 100 : 10)}%`
const ms = (x: number | null) => (x === null ? 'n/a' : `${x < 10 ? Math.round(x * 10) / 10 : Math.round(x)}`)

/** The numbers behind a symptom, as a reader compares them: "error ratio 2.1% → 7.4%". */
function describeMove(symptom: Symptom | 'both', now: RouteNumbers, before: RouteNumbers): string {
  const errors = `error ratio ${pct(before.errorRatio)} → ${pct(now.errorRatio)}`
  const latency = `p95 ${ms(before.p95)} → ${ms(now.p95)} ms`
  return symptom === 'errors' ? errors : symptom === 'latency' ? latency : `${errors}, ${latency}`
}

/** Ranks candidate services and edges for the route's errors or slowness in `current`. */
export function rankRootCause(input: RootCauseInput): RootCause {
  const { current, baseline } = input
  const now = routeNumbers(current)
  const before = routeNumbers(baseline)
  const rose = {
    errors: errorsRose(now, before, current, baseline),
    latency: latencyRose(now, before),
  }
  let symptom: Symptom
  let symptomReason: string
  if (input.symptom === 'errors' || input.symptom === 'latency') {
    symptom = input.symptom
    const tooFew = symptom === 'latency' ? tooFewTraces(now, before) : null
    symptomReason = `${symptom} (asked for)${rose[symptom] ? '' : tooFew !== null ? `, too few traces to tell whether it rose (${tooFew})` : ', which did not move'}: ${describeMove(symptom, now, before)}`
  } else {
    const errorMove = now.errorRatio - before.errorRatio
    const latencyMove =
      now.p95 !== null && before.p95 !== null && before.p95 > 0 ? now.p95 / before.p95 - 1 : 0
    // an error ratio up 5 points weighs like a p95 up 50 %; a symptom that rose beyond noise
    // wins over one that did not
    if (rose.errors !== rose.latency) symptom = rose.errors ? 'errors' : 'latency'
    else
      symptom =
        errorMove * 10 >= latencyMove && errorMove > 0 ? 'errors' : latencyMove > 0 ? 'latency' : 'errors'
    const other: Symptom = symptom === 'errors' ? 'latency' : 'errors'
    const tooFew = tooFewTraces(now, before)
    symptomReason = !rose[symptom]
      ? `nothing moved: ${describeMove('both', now, before)}${tooFew !== null ? ` (too few traces to tell whether the p95 rose: ${tooFew})` : ''}`
      : `${symptom}: ${describeMove(symptom, now, before)}${rose[other] ? `; ${other} rose too: ${describeMove(other, now, before)}` : ''}`
  }
  const cur = byNode(current)
  const base = byNode(baseline)
  const curEdges = byEdge(current)
  const baseEdges = byEdge(baseline)

  const nodeEvidence = new Map<string, Map<string, number>>() // kind → node → share
  const edgeEvidence = new Map<string, Map<string, number>>()
  const nodeDetail = new Map<string, Record<string, number | null>>()
  const detailOf = (id: string) => {
    let d = nodeDetail.get(id)
    if (d === undefined) {
      d = {}
      nodeDetail.set(id, d)
    }
    return d
  }
  const edgeDetail = new Map<string, Record<string, number | null>>()

  if (symptom === 'errors') {
    const origin = new Map<string, number>()
    for (const [id, a] of cur) {
      origin.set(id, a.origins)
      const d = detailOf(id)
      d.calls = a.calls
      d.errorRatio = ratio(a.errors, a.calls)
      d.ownErrorRatio = ratio(a.own, a.calls)
      d.baselineOwnErrorRatio = base.has(id)
        ? ratio((base.get(id) as NodeAgg).own, (base.get(id) as NodeAgg).calls)
        : null
      d.failuresBegunHere = a.origins
    }
    nodeEvidence.set('errorOrigin', normalize(origin))
    const growth = new Map<string, number>()
    const growthToNode = new Map<string, number>()
    for (const [id, e] of curEdges) {
      const b = baseEdges.get(id)
      const r0 = b === undefined ? 0 : ratio(b.errors, b.calls)
      const r1 = ratio(e.errors, e.calls)
      const excess = Math.max(0, r1 - r0) * e.calls
      growth.set(id, excess)
      growthToNode.set(e.to, (growthToNode.get(e.to) ?? 0) + excess)
      edgeDetail.set(id, {
        calls: e.calls,
        errorRatio: r1,
        baselineErrorRatio: b === undefined ? null : r0,
        excessFailedCalls: excess,
      })
    }
    edgeEvidence.set('edgeErrorGrowth', normalize(growth))
    nodeEvidence.set('edgeErrorGrowth', normalize(growthToNode))
    // an edge is also where its callee's failures began
    const originEdges = new Map<string, number>()
    for (const [id, e] of curEdges)
      originEdges.set(id, (cur.get(e.to)?.origins ?? 0) * ratio(e.calls, cur.get(e.to)?.calls ?? 0))
    edgeEvidence.set('errorOrigin', normalize(originEdges))
  } else {
    const cp = new Map<string, number>()
    const tn = Math.max(1, current.traces)
    const tb = Math.max(1, baseline.traces)
    for (const [id, a] of cur) {
      const b = base.get(id)
      const m1 = a.cpMs / tn
      const m0 = b === undefined ? 0 : b.cpMs / tb
      cp.set(id, Math.max(0, m1 - m0))
      const d = detailOf(id)
      d.criticalPathMsPerTrace = m1
      d.baselineCriticalPathMsPerTrace = b === undefined ? null : m0
      d.ownP95 = a.self === null ? null : sketchQuantile(a.self, 0.95)
      d.baselineOwnP95 = b === undefined || b.self === null ? null : sketchQuantile(b.self, 0.95)
    }
    nodeEvidence.set('criticalPathGrowth', normalize(cp))
    const growth = new Map<string, number>()
    const growthToNode = new Map<string, number>()
    for (const [id, e] of curEdges) {
      const b = baseEdges.get(id)
      const q1 = e.duration === null ? null : sketchQuantile(e.duration, 0.95)
      const q0 = b === undefined || b.duration === null ? null : sketchQuantile(b.duration, 0.95)
      const onPath = ratio(e.cpTraces, tn)
      const g = q1 === null ? 0 : Math.max(0, q1 - (q0 ?? q1)) * onPath
      growth.set(id, g)
      growthToNode.set(e.to, (growthToNode.get(e.to) ?? 0) + g)
      edgeDetail.set(id, { calls: e.calls, p95: q1, baselineP95: q0, onCriticalPath: onPath })
    }
    edgeEvidence.set('edgeLatencyGrowth', normalize(growth))
    // the edge into a node whose own time grew carries that growth too
    const cpEdges = new Map<string, number>()
    for (const [id, e] of curEdges)
      cpEdges.set(id, (cp.get(e.to) ?? 0) * ratio(e.calls, cur.get(e.to)?.calls ?? 0))
    edgeEvidence.set('criticalPathGrowth', normalize(cpEdges))
  }

  // whose own anomaly began first
  const windowMs = Math.max(1, input.current.windowMs)
  const starts = onsets(symptom, input.windows, base)
  for (const a of input.anomalies ?? []) {
    const metricFits = symptom === 'errors' ? /error|joint/.test(a.metric) : /p5|p9|joint/.test(a.metric)
    if (!metricFits) continue
    for (const [id, n] of cur) {
      if (n.service !== a.service || (a.env !== null && a.env !== n.env)) continue
      const prev = starts.get(id)
      if (prev === undefined || a.openedAtMs < prev) starts.set(id, a.openedAtMs)
    }
  }
  const first = Math.min(...starts.values())
  const step = Math.max(1, input.windows[0]?.windowMs ?? windowMs)
  const anomaly = new Map<string, number>()
  for (const [id, t] of starts) {
    anomaly.set(id, Math.exp(-(t - first) / step))
    detailOf(id).anomalyStartMs = t
  }
  nodeEvidence.set('firstAnomaly', normalize(anomaly))
  const anomalyEdges = new Map<string, number>()
  for (const [id, e] of curEdges) anomalyEdges.set(id, anomaly.get(e.to) ?? 0)
  edgeEvidence.set('firstAnomaly', normalize(anomalyEdges))

  const baseWeights: Record<string, number> =
    symptom === 'errors'
      ? { errorOrigin: 0.5, edgeErrorGrowth: 0.3, firstAnomaly: 0.2 }
      : { criticalPathGrowth: 0.5, edgeLatencyGrowth: 0.3, firstAnomaly: 0.2 }

  const rank = (
    evidence: Map<string, Map<string, number>>,
    describe: (id: string) => Omit<Candidate, 'score' | 'evidence' | 'detail'>,
    details: Map<string, Record<string, number | null>>,
  ): { list: Candidate[]; weights: Record<string, number> } => {
    const present = Object.keys(baseWeights).filter((k) => (evidence.get(k)?.size ?? 0) > 0)
    const total = present.reduce((a, k) => a + baseWeights[k], 0)
    const weights: Record<string, number> = {}
    for (const k of Object.keys(baseWeights)) weights[k] = present.includes(k) ? baseWeights[k] / total : 0
    const ids = new Set<string>()
    for (const m of evidence.values()) for (const id of m.keys()) ids.add(id)
    const list = [...ids].map((id) => {
      const ev: Record<string, number> = {}
      let score = 0
      for (const k of Object.keys(baseWeights)) {
        ev[k] = evidence.get(k)?.get(id) ?? 0
        score += weights[k] * ev[k]
      }
      return { ...describe(id), score, evidence: ev, detail: details.get(id) ?? {} }
    })
    list.sort((a, b) => b.score - a.score || (a.id < b.id ? -1 : 1))
    return { list, weights }
  }
  const services = rank(nodeEvidence, (id) => ({ id, ...parseNodeId(id) }), nodeDetail)
  const edges = rank(
    edgeEvidence,
    (id) => {
      const i = id.indexOf('->')
      const from = id.slice(0, i)
      const to = id.slice(i + 2)
      return { id, ...parseNodeId(to), from, to }
    },
    edgeDetail,
  )
  return {
    route: input.route,
    symptom,
    moved: rose[symptom],
    symptomReason,
    windowStartMs: current.windowStartMs,
    windowMs: current.windowMs,
    baselineStartMs: baseline.windowStartMs,
    baselineMs: baseline.windowMs,
    now,
    before,
    services: services.list,
    edges: edges.list,
    weights: services.weights,
  }
}
