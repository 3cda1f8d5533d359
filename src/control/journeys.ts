/**
 * @module Request journeys, live: the control plane's span stage (tail sampling that keeps whole
 * traces), the service graph built as spans arrive, per-route journey statistics, and the answers
 * of the journeys API (traces, graph, critical paths, root cause, what-if impact).
 *
 * Tail sampling keeps whole traces. The gateway decides after the response whether to keep its
 * span (every error, every request the client abandoned, every slow request,
 * `telemetry.spans.sampleRate` of the rest, drawn from the trace id: `traceRatio`). The services behind it send their spans over OTLP for every request,
 * before or after the gateway's span arrives. So spans wait here, per trace, for `traceWaitMs`:
 *
 * ```
 * span ─▶ decided already? ── kept ─▶ store          (a late span of a decided trace: counted,
 *   │                      └─ dropped ─▶ counted       and its trace as analysed without it)
 *   └─▶ buffer[trace] ── a gateway span or an error span arrives ─▶ kept: its spans go to the store
 *          │                                                          at the next tick, and later ones too
 *          └─ traceWaitMs after its first span: whole (root, every parent)? ── no ─▶ waiting[trace]
 *                 │ yes                                  whole, or maxTraceWaitMs after its first span
 *                 ▼                                                       │
 *               decide ◀───────────────────────────────────────────────────┘
 *                 ├─▶ kept if marked, or traceRatio < sampleRate (the gateway's own rule: its
 *                 │   sampled traces are kept even if its span never comes)
 *                 └─▶ analyze every trace, kept or not: graph calls and nodes, route statistics
 * ```
 * Services export a span when it ends, so the last spans of a trace are its slowest calls and the
 * root that encloses them: a trace decided without them would bias the statistics fast exactly
 * when a latency fault needs them. Hence the wait for a whole trace, bounded by maxTraceWaitMs.
 * A service that sends no spans but passes its own span id on leaves a parent missing forever, in
 * every trace through it: the hops whose parents were still missing at maxTraceWaitMs in a few
 * traces in a row are learned (PhantomParents), and later traces are not held for parents named
 * under them, until one such parent does arrive after traceWaitMs.
 * Every trace feeds the graph and the statistics whether it is stored or not, so rates and error
 * ratios are not biased by sampling. A trace seen only through the gateway's span (a route whose
 * services send no spans) was seen because the gateway's sampler kept it, and is weighted by the
 * inverse of that chance (journey-stats.ts); for such a route the journey list and the model take
 * the gateway's rollups, which count every request exactly. The gateway's own edges (gateway →
 * upstream) come from its rollups too.
 */
import type { DDSketch } from '@datadog/sketches-js'
import {
  EntryRoutes,
  GATEWAY_SERVICE,
  ServiceGraph,
  SPAN_KIND_SERVER,
  analyzeTrace,
  answeredByGateway,
  buildTree,
  criticalShares,
  graphView,
  isErrorSpan,
  learnModel,
  mergeRouteWindows,
  newRouteWindow,
  newSketch,
  nodeId,
  parseNodeId,
  parseWhatIfs,
  rankRootCause,
  readTrace,
  PhantomParents,
  phantomKey,
  TraceCompleteness,
  traceIsWhole,
  simulateImpact,
  sketchQuantile,
  waterfall,
  type CriticalShare,
  type GatewayPolicy,
  type GraphRow,
  type GraphView,
  type ImpactResult,
  type JourneyModel,
  type JourneySpan,
  type PhantomHop,
  type RootCause,
  type RouteWindowStats,
  type TraceTree,
  type ServiceEdge,
  type ServiceAnomaly,
  type Symptom,
  type TraceProblems,
  type Waterfall,
  type WhatIf,
} from '../journeys/index.js'
import {
  VGL_ERR_JOURNEYS_NO_DATA,
  VGL_ERR_JOURNEYS_TRACE_NOT_FOUND,
  VGL_ERR_JOURNEYS_WHATIF,
  withFix,
  type VigilError,
} from '../errors.js'
import { routeName, type Config } from '../config/schema.js'
import type { StoredGraphRow, TraceListItem, TraceQuery, TraceReader } from '../store/index.js'
import { decodeSketch, encodeSketch } from '../telemetry/sketch.js'
import { traceRatio } from '../telemetry/span-sampler.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { sentCount, upstream5xx, type SpanRecord } from '../telemetry/types.js'
import type { AnomalyRecord } from './anomalies.js'
import type { MergedClientWindow } from './client-windows.js'
import type { SpanStage, WindowClosedContext } from './control-plane.js'
import type { ForecastAnswer } from './forecasts.js'
import type { SeriesPoint } from './points.js'
import { formatSeriesKey } from './series-key.js'
import { StoreBacklog, type BacklogSink } from './store-backlog.js'

/** A gateway route as the journeys see it: its upstream service and the policy in front of it. */
export interface JourneyRoute {
  name: string
  service: string
  policy: GatewayPolicy
}

/** The part of the Store port the journeys use. */
export interface JourneyStore {
  spansByTrace(traceId: string): Promise<SpanRecord[]>
  spansByRequestId(requestId: string): Promise<SpanRecord[]>
  searchTraces(q: TraceQuery, read: TraceReader): Promise<TraceListItem[]>
  writeGraphRows(rows: readonly StoredGraphRow[]): Promise<void>
  queryGraphRows(fromMs: number, toMs: number): Promise<StoredGraphRow[]>
}

export interface LiveJourneysOptions {
  store: JourneyStore
  /** where graph rows wait while the store cannot be written; default: a backlog of its own */
  backlog?: StoreBacklog
  /** the telemetry window: graph and statistics windows are aligned to it */
  windowMs: number
  /** the gateway's env (its node in the graph) */
  gatewayEnv: string
  /** telemetry.spans.sampleRate: the gateway's share of sampled traces */
  sampleRate: number
  /** store.retention.spans: how long stored spans are kept (named when a trace is not found) */
  spansRetentionMs?: number
  routes: readonly JourneyRoute[]
  traceWaitMs?: number
  /**
   * how long a trace that is not whole (its root, or a parent one of its spans names, has not
   * arrived) waits past traceWaitMs, from its first span; default 4 × traceWaitMs
   */
  maxTraceWaitMs?: number
  maxBufferedSpans?: number
  windows?: number
  maxRoutes?: number
  modelWindowMs?: number
  slo?: { availability: number; latencyMs: number }
  downtimeErrorRatio?: number
  simulations?: number
  horizonMs?: number
  /** the route's request-rate forecast (LiveForecasts), `horizon` windows ahead */
  forecast?: (key: string, horizon: number) => Promise<ForecastAnswer>
  /** live anomalies opened in [fromMs, toMs) and open now (LiveAnomalies) */
  anomalies?: (fromMs: number, toMs: number) => Promise<AnomalyRecord[]>
  now?: () => number
  onError?: (err: Error, what: string) => void
  /** something an operator should know that is no error (a hop learned to name parents that never come) */
  onNotice?: (message: string, fields: Record<string, unknown>) => void
}

/** Counters of the journeys pipeline (served at /metrics and as `pipeline` in GET /api/graph). */
export interface JourneyStats {
  spans: { received: number; stored: number; dropped: number; late: number; buffered: number }
  traces: {
    kept: number
    dropped: number
    decidedEarly: number
    analyzed: number
    /** decided after traceWaitMs, once the root or parents they waited for arrived */
    waited: number
    /** decided at maxTraceWaitMs still missing their root or a parent */
    incomplete: number
    /** decided traces a span reached afterwards: their analysis lacks it (traceWaitMs too short) */
    lateAfterAnalysis: number
    /**
     * decided without waiting (on) for the parents they lack, named under a hop learned to name
     * parents that never come (`parentsNeverSent`): at traceWaitMs, or once the hop was learned
     */
    notAwaited: number
  }
  /**
   * hops (the service, env and operation of the spans) that name parents that never arrive: an
   * uninstrumented caller, a proxy or sidecar passing its own span id on, a caller that samples
   * its spans out; their traces are no longer held for those parents
   */
  parentsNeverSent: PhantomHop[]
  problems: {
    missingParents: number
    cycles: number
    clockSkew: number
    duplicates: number
    unknownEnv: number
  }
  graph: {
    nodes: number
    rowsLate: number
    rowsOverflow: number
    windowsWritten: number
    writeErrors: number
  }
  routes: { tracked: number; untracked: number }
}

interface Pending {
  traceId: string
  firstMs: number
  spans: SpanRecord[]
  /** spans [0, stored) were handed to the store */
  stored: number
  keep: boolean
  /** set once the trace waits for its root or parents past traceWaitMs */
  completeness: TraceCompleteness | null
}

interface RouteRollup {
  startMs: number
  count: number
  /** requests sent to the service (the rest the gateway answered itself) */
  sent: number
  /** the service's 5xx answers, of `sent` */
  errors: number
  /** requests the gateway refused (429): they never reach the service */
  limited: number
  sketch: DDSketch
}

export interface TraceSearch {
  fromMs: number
  toMs: number
  service?: string
  env?: string
  route?: string
  status?: 'error' | 'ok'
  minDurationMs?: number
  maxDurationMs?: number
  limit: number
}

export interface GraphQuery {
  /**
   * Move the range back to end where every window has all its traces (`completeUntilMs`),
   * keeping its length. A node's requests come from its services' spans, analysed once their
   * trace is decided (`traceWaitMs` on), a gateway edge's from its rollups, in at once: a range
   * ending now would hold seconds of the edge that the node has not yet counted, and the two rates
   * would disagree by that share (1.98/s into a node that serves 1.78/s).
   */
  completeOnly?: boolean
}

export interface GraphAnswer extends GraphView {
  /** windows up to this time have all their traces (later ones may still grow) */
  completeUntilMs: number
}

export interface JourneySummary {
  route: string
  service: string
  traces: number
  failureRatio: number
  p50: number | null
  p95: number | null
  p99: number | null
  /** services on the route's critical path, most time first */
  criticalPath: CriticalShare[]
  /**
   * every service its traced journeys reached in the window, by name then env: the services a
   * what-if on this route can change (the route's own service alone when only the gateway traces it)
   */
  services: { service: string; env: string }[]
}

export interface JourneyDetail extends JourneySummary {
  fromMs: number
  toMs: number
  /** the learned model the what-if engine simulates (quantile tables left out: see `sites[].ownMs`) */
  model: {
    /** the requests the traces learned from stand for */
    traces: number
    /**
     * the traces behind them (Kish's effective size: fewer than `traces` when sampled gateway
     * spans each stand for several requests)
     */
    tracesSeen: number
    gateway: GatewayPolicy | null
    overheadMs: { p50: number; p95: number }
    sites: {
      key: string
      service: string
      env: string
      parent: string | null
      stage: number
      callProbability: number
      meanCalls: number
      parallel: boolean
      calls: number
      ownErrorRatio: number
      propagation: number
      ownMs: { p50: number; p95: number; p99: number }
      callMs: { p50: number | null; p95: number | null }
    }[]
  }
}

export interface RootCauseQuery {
  route: string
  fromMs: number
  toMs: number
  /** baseline length before fromMs; default 10 × (toMs − fromMs), at most what memory holds */
  baselineMs?: number
  symptom?: Symptom | 'auto'
}

export interface WhatIfQuery {
  /** default: every route with a model */
  route?: string
  horizonMs?: number
  scenarios: readonly WhatIf[]
  /** the model learns from the traces of this long before now; default journeys.modelWindowMs */
  modelWindowMs?: number
  journeys?: number
  seed?: number
}

export interface WhatIfAnswer {
  atMs: number
  horizonMs: number
  scenarios: readonly WhatIf[]
  /** the SLO the answers judge against (`journeys.slo`): a figure about it means little without it */
  slo: { availability: number; latencyMs: number }
  /** a minute with more than this share of failed requests counts as downtime */
  downtimeErrorRatio: number
  /** per journey (entry route) */
  journeys: (ImpactResult & {
    trafficSource: 'forecast' | 'observed'
    users: 'clients' | 'unknown'
    /**
     * the clients (API keys, else addresses) the limiter saw in its latest window: the most
     * `usersAffected` can be; null when unknown
     */
    usersSeen: number | null
  })[]
}

/** What the journeys API asks; implemented by LiveJourneys and by the embedded worker's client. */
export interface JourneySource {
  trace(traceId: string): Promise<Waterfall>
  traceByRequestId(requestId: string): Promise<Waterfall>
  searchTraces(q: TraceSearch): Promise<TraceListItem[]>
  graph(fromMs: number, toMs: number, opts?: GraphQuery): Promise<GraphAnswer>
  journeys(fromMs: number, toMs: number): Promise<JourneySummary[]>
  journey(route: string, fromMs: number, toMs: number): Promise<JourneyDetail>
  rootCause(q: RootCauseQuery): Promise<RootCause>
  whatIf(q: WhatIfQuery): Promise<WhatIfAnswer>
  stats(): Promise<JourneyStats>
}

/** The journeys' methods, for RPC dispatch (the embedded worker). */
export const JOURNEY_METHODS = [
  'trace',
  'traceByRequestId',
  'searchTraces',
  'graph',
  'journeys',
  'journey',
  'rootCause',
  'whatIf',
  'stats',
] as const satisfies readonly (keyof JourneySource)[]

/** A duration in the largest whole unit: `2 d`, `15 s`, `1500 ms`. */
function fmtSpan(ms: number): string {
  for (const [unit, size] of [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['min', 60_000],
    ['s', 1_000],
  ] as const)
    if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`
  return ms >= 1_000 ? `${Math.round(ms / 100) / 10} s` : `${ms} ms`
}

/** A share as a percentage: `10%`, `0.5%`. */
const fmtShare = (x: number) => `${Math.round(x * 1000) / 10}%`

/** an alert's own windows give its impact when they saw this many traces; else the model window does */
const MIN_IMPACT_TRACES = 20
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

export class LiveJourneys implements SpanStage, JourneySource {
  readonly holdMs: number
  readonly #o: Required<
    Omit<
      LiveJourneysOptions,
      'forecast' | 'anomalies' | 'onError' | 'onNotice' | 'spansRetentionMs' | 'backlog'
    >
  > &
    Pick<LiveJourneysOptions, 'forecast' | 'anomalies' | 'onError' | 'onNotice' | 'spansRetentionMs'>
  /** traces within traceWaitMs of their first span, in arrival order */
  readonly #buffer = new Map<string, Pending>()
  /**
   * traces past traceWaitMs that are not whole, in arrival order (so in order of their deadline,
   * firstMs + maxTraceWaitMs): kept apart so they never hold up the whole ones behind them
   */
  readonly #waiting = new Map<string, Pending>()
  /** waiting traces that became whole since the last take */
  readonly #ready = new Set<Pending>()
  /** traces with kept spans not yet handed to the store */
  readonly #dirty = new Set<Pending>()
  /** decided traces → kept, until when a late span is judged by the decision */
  readonly #decided = new Map<string, { kept: boolean; untilMs: number; late: boolean }>()
  readonly #byRequest = new Map<string, string>()
  /** hops whose spans name parents that never come: their traces are not held for those */
  readonly #phantoms: PhantomParents
  /**
   * traces decided without parents under learned hops → until when (their longest wait) a parent
   * arriving is told to the learner (parent id → its hop's key), in order of decision
   */
  readonly #assumed = new Map<string, { untilMs: number; parents: Map<string, string> }>()
  #buffered = 0
  #out: SpanRecord[] = []
  readonly #graph: ServiceGraph
  readonly #routes = new Map<string, Map<number, RouteWindowStats>>()
  readonly #rollups = new Map<string, RouteRollup[]>()
  readonly #routeInfo: Map<string, JourneyRoute>
  readonly #entry: EntryRoutes
  /** env of each service behind the gateway, as its own spans say */
  readonly #upstreamEnv = new Map<string, string>()
  /**
   * service → the env its own spans first named, and when: until then the gateway's edges to it
   * (from its rollups) carried a guess, the gateway's env, and are read as the env learned
   */
  readonly #envLearned = new Map<string, { env: string; atMs: number }>()
  /** replicas seen per node (service.instance.id) */
  readonly #instances = new Map<string, Set<string>>()
  readonly #methods = new Map<string, { idempotent: number; total: number }>()
  #clients: { windowMs: number; total: number; rates: number[] } | null = null
  #newestRouteWindow = -Infinity
  #graphWriting: Promise<void> = Promise.resolve()
  readonly #storeGraph: BacklogSink<StoredGraphRow>
  readonly #stats: JourneyStats = {
    spans: { received: 0, stored: 0, dropped: 0, late: 0, buffered: 0 },
    traces: {
      kept: 0,
      dropped: 0,
      decidedEarly: 0,
      analyzed: 0,
      waited: 0,
      incomplete: 0,
      lateAfterAnalysis: 0,
      notAwaited: 0,
    },
    parentsNeverSent: [],
    problems: { missingParents: 0, cycles: 0, clockSkew: 0, duplicates: 0, unknownEnv: 0 },
    graph: { nodes: 0, rowsLate: 0, rowsOverflow: 0, windowsWritten: 0, writeErrors: 0 },
    routes: { tracked: 0, untracked: 0 },
  }

  constructor(opts: LiveJourneysOptions) {
    this.#o = {
      traceWaitMs: 15_000,
      maxBufferedSpans: 200_000,
      windows: 360,
      maxRoutes: 200,
      modelWindowMs: 300_000,
      slo: { availability: 0.999, latencyMs: 1_000 },
      downtimeErrorRatio: 0.05,
      simulations: 100_000,
      horizonMs: 1_800_000,
      now: Date.now,
      ...opts,
      maxTraceWaitMs: opts.maxTraceWaitMs ?? 4 * (opts.traceWaitMs ?? 15_000),
    }
    if (this.#o.maxTraceWaitMs < this.#o.traceWaitMs)
      throw new RangeError(
        `LiveJourneys options.maxTraceWaitMs (${this.#o.maxTraceWaitMs}) must be at least traceWaitMs (${this.#o.traceWaitMs})`,
      )
    this.holdMs = this.#o.traceWaitMs
    const store = opts.store
    // counted as written when they are: at once, or after an outage of the store
    this.#storeGraph = (opts.backlog ?? new StoreBacklog()).sink(
      'service-graph rows',
      async (rows: readonly StoredGraphRow[]) => {
        await store.writeGraphRows(rows)
        this.#stats.graph.windowsWritten += new Set(rows.map((r) => r.windowStartMs)).size
      },
    )
    this.#graph = new ServiceGraph({ windowMs: opts.windowMs, maxWindows: this.#o.windows })
    this.#routeInfo = new Map(opts.routes.map((r) => [r.name, r]))
    const byService = new Map<string, string[]>()
    for (const r of opts.routes) byService.set(r.service, [...(byService.get(r.service) ?? []), r.name])
    this.#entry = new EntryRoutes(byService)
    this.#phantoms = new PhantomParents({
      onChange: (change, hop) =>
        this.#o.onNotice?.(parentsNeverSentNotice(change, hop), {
          service: hop.service,
          env: hop.env,
          span: hop.name,
        }),
    })
  }

  // ---- span stage --------------------------------------------------------------------------

  add(spans: readonly SpanRecord[], nowMs: number): void {
    for (const s of spans) {
      this.#stats.spans.received++
      if (s.attributes['vigil.env_defaulted'] === true) this.#stats.problems.unknownEnv++
      if (this.#assumed.size > 0) this.#arrivedAfterAssumed(s)
      const d = this.#decided.get(s.traceId)
      if (d !== undefined) {
        this.#stats.spans.late++
        if (!d.late) {
          d.late = true
          this.#stats.traces.lateAfterAnalysis++
        }
        if (d.kept) this.#out.push(s)
        else this.#stats.spans.dropped++
        continue
      }
      let p = this.#buffer.get(s.traceId) ?? this.#waiting.get(s.traceId)
      if (p === undefined) {
        p = { traceId: s.traceId, firstMs: nowMs, spans: [], stored: 0, keep: false, completeness: null }
        this.#buffer.set(s.traceId, p)
      }
      p.spans.push(s)
      this.#buffered++
      if (p.completeness !== null) {
        // a parent that came after traceWaitMs: waiting for its hop's parents pays
        const child = p.completeness.add(s)
        if (child !== undefined) this.#phantoms.arrived(child)
        if (p.completeness.complete) this.#ready.add(p)
      }
      if (s.requestId !== null && s.source === 'gateway') this.#byRequest.set(s.requestId, s.traceId)
      // the gateway keeps what it published; errors are always kept
      if (s.source === 'gateway' || isErrorSpan(s)) p.keep = true
      if (p.keep) this.#dirty.add(p)
    }
    this.#stats.spans.buffered = this.#buffered
  }

  take(nowMs: number): SpanRecord[] {
    const out = this.#out
    this.#out = []
    // waiting traces that became whole
    for (const p of this.#ready) {
      this.#stats.traces.waited++
      if (p.completeness !== null) this.#assume(p, p.completeness, nowMs)
      this.#decide(p, nowMs, out)
    }
    let learned = false
    // waiting traces whose longest wait is over (in order of it), and the oldest while the
    // buffer is over its bound
    for (const p of this.#waiting.values()) {
      const due = p.firstMs + this.#o.maxTraceWaitMs <= nowMs
      if (!due && this.#buffered <= this.#o.maxBufferedSpans) break
      if (!due) this.#stats.traces.decidedEarly++
      else if (p.completeness !== null) learned = this.#incomplete(p.completeness, nowMs) || learned
      this.#decide(p, nowMs, out)
    }
    // traces whose wait is over (the buffer is in arrival order): whole ones are decided, the
    // others wait for their root and parents; and more while the buffer is over its bound
    for (const p of this.#buffer.values()) {
      const due = p.firstMs + this.#o.traceWaitMs <= nowMs
      const over = this.#buffered > this.#o.maxBufferedSpans
      if (!due && !over) break
      if (!due || over) {
        if (!due) this.#stats.traces.decidedEarly++
        this.#decide(p, nowMs, out)
        continue
      }
      const isRoot = this.#rootsTrace(p)
      if (traceIsWhole(p.spans, isRoot)) {
        this.#decide(p, nowMs, out)
        continue
      }
      const c = new TraceCompleteness(p.spans, isRoot, this.#phantoms)
      if (c.complete) {
        // whole but for parents its hops never send
        this.#stats.traces.notAwaited++
        this.#assume(p, c, nowMs)
        this.#decide(p, nowMs, out)
        continue
      }
      if (p.firstMs + this.#o.maxTraceWaitMs <= nowMs) {
        learned = this.#incomplete(c, nowMs) || learned
        this.#decide(p, nowMs, out)
        continue
      }
      p.completeness = c
      this.#buffer.delete(p.traceId)
      this.#waiting.set(p.traceId, p)
    }
    // the traces already waiting for the parents of a hop just learned wait no longer (a scan of
    // the waiting traces, as rare as a hop is learned)
    if (learned)
      for (const p of this.#waiting.values())
        if (p.completeness?.recheck() === true && p.completeness.complete) {
          this.#stats.traces.notAwaited++
          this.#assume(p, p.completeness, nowMs)
          this.#decide(p, nowMs, out)
        }
    for (const p of this.#dirty) {
      for (let i = p.stored; i < p.spans.length; i++) out.push(p.spans[i])
      p.stored = p.spans.length
    }
    this.#dirty.clear()
    for (const [id, d] of this.#decided) {
      if (d.untilMs > nowMs) break
      this.#decided.delete(id)
    }
    for (const [id, a] of this.#assumed) {
      if (a.untilMs > nowMs) break
      this.#assumed.delete(id)
    }
    this.#phantoms.prune(nowMs)
    this.#stats.spans.stored += out.length
    this.#stats.spans.buffered = this.#buffered
    return out
  }

  /**
   * A trace decided at maxTraceWaitMs still missing parents: the learner hears whose. Returns
   * whether a hop was learned by it.
   */
  #incomplete(c: TraceCompleteness, nowMs: number): boolean {
    this.#stats.traces.incomplete++
    const children = [...c.awaiting()]
    for (const [, child] of c.excused()) children.push(child)
    return this.#phantoms.missed(children, c.rooted, nowMs)
  }

  /**
   * A trace decided without the parents its learned hops never send: until its longest wait is
   * over, one of them arriving after all unlearns its hop.
   */
  #assume(p: Pending, c: TraceCompleteness, nowMs: number): void {
    const excused = [...c.excused()]
    if (excused.length === 0) return
    this.#phantoms.assumed(
      excused.map(([, child]) => child),
      nowMs,
    )
    const parents = new Map(excused.map(([parent, child]) => [parent, phantomKey(child)]))
    this.#assumed.set(p.traceId, { untilMs: p.firstMs + this.#o.maxTraceWaitMs, parents })
  }

  /** A span of a trace decided without it, as a parent never sent: its hop's parents do come. */
  #arrivedAfterAssumed(s: SpanRecord): void {
    const a = this.#assumed.get(s.traceId)
    const key = a?.parents.get(s.spanId)
    if (a === undefined || key === undefined) return
    a.parents.delete(s.spanId)
    this.#phantoms.arrived(key)
  }

  /**
   * Which spans root trace `p` although they name a parent: the gateway's (its parent is the
   * client's), and the entry service's span unless the gateway's own span is sure to come (the
   * trace draws below sampleRate). Else the gateway kept its span only if the request failed or
   * was slow, which a service's spans cannot tell for sure (a retry may have succeeded); waiting
   * for a span that does not come would cost maxTraceWaitMs each time.
   */
  #rootsTrace(p: Pending): (s: JourneySpan) => boolean {
    const gatewaySpanComes = traceRatio(p.traceId) < this.#o.sampleRate
    return (s) => s.source === 'gateway' || (!gatewaySpanComes && this.#mayRootTrace(s))
  }

  /**
   * Traces that began arriving before this are all decided (ms since the epoch; +Infinity when
   * none waits): the bus messages before it can be acknowledged, the statistics of windows
   * before it minus one window are complete.
   */
  undecidedSinceMs(): number {
    const first = (m: Map<string, Pending>) => {
      for (const p of m.values()) return p.firstMs
      return Number.POSITIVE_INFINITY
    }
    return Math.min(first(this.#waiting), first(this.#buffer))
  }

  /** Windows starting before this have all their traces analysed (later ones may still grow). */
  completeUntilMs(nowMs = this.#o.now()): number {
    return Math.min(nowMs - this.#o.traceWaitMs, this.undecidedSinceMs()) - this.#o.windowMs
  }

  #decide(p: Pending, nowMs: number, out: SpanRecord[]): void {
    this.#buffer.delete(p.traceId)
    this.#waiting.delete(p.traceId)
    this.#ready.delete(p)
    this.#dirty.delete(p)
    this.#buffered -= p.spans.length
    const kept = p.keep || traceRatio(p.traceId) < this.#o.sampleRate
    if (kept) {
      this.#stats.traces.kept++
      for (let i = p.stored; i < p.spans.length; i++) out.push(p.spans[i])
    } else {
      this.#stats.traces.dropped++
      this.#stats.spans.dropped += p.spans.length
    }
    this.#decided.set(p.traceId, { kept, untilMs: nowMs + this.#o.traceWaitMs, late: false })
    for (const s of p.spans)
      if (s.requestId !== null && s.source === 'gateway') this.#byRequest.delete(s.requestId)
    try {
      this.#analyze(p.spans)
    } catch (err) {
      this.#o.onError?.(err as Error, 'journeys: analyze trace')
    }
  }

  /** Decides every buffered trace now (graceful stop): kept spans are returned to be written. */
  drain(): SpanRecord[] {
    const out = this.#out
    this.#out = []
    const now = this.#o.now()
    for (const p of [...this.#waiting.values(), ...this.#buffer.values()]) this.#decide(p, now, out)
    return out
  }

  // ---- analysis: graph and route statistics ------------------------------------------------

  #isExpectedRoot = (s: JourneySpan): boolean =>
    s.source === 'otlp' && s.kind === SPAN_KIND_SERVER && this.#entry.isUpstream(s.service)

  /** the live stage's test: as above, but not an operation learned to be called by other services */
  #mayRootTrace = (s: JourneySpan): boolean =>
    s.source === 'otlp' && s.kind === SPAN_KIND_SERVER && this.#entry.mayEnter(s.service, s.name)

  /** Learns the operations of services behind the gateway that this trace shows called by another service. */
  #learnInner(tree: TraceTree): void {
    const { spans, parent } = tree
    for (let i = 0; i < spans.length; i++) {
      const s = spans[i]
      const p = parent[i]
      if (p < 0 || s.source !== 'otlp' || s.kind !== SPAN_KIND_SERVER) continue
      const caller = spans[p]
      if (caller.source === 'otlp' && caller.service !== s.service && this.#entry.isUpstream(s.service))
        this.#entry.learnInner(s.service, s.name)
    }
  }

  #envOf = (service: string): string => this.#upstreamEnv.get(service) ?? this.#o.gatewayEnv

  #analyze(spans: readonly SpanRecord[]): void {
    const tree = buildTree(spans, this.#isExpectedRoot)
    this.#count(tree.problems)
    this.#stats.traces.analyzed++
    this.#learnInner(tree)
    const main = tree.main >= 0 ? tree.spans[tree.main] : null
    if (main === null) return
    // which route: the gateway's span says; else the entry span, as learned from traces that had both
    let route: string | null = null
    const gw = main.source === 'gateway' ? main : null
    if (gw !== null) route = gw.route
    else if (main.kind === SPAN_KIND_SERVER) route = this.#entry.resolve(main.service, main.name)
    const startMs = tree.start[tree.main]
    const rw = route === null ? null : this.#routeWindow(route, startMs)
    const summary = analyzeTrace(tree, rw, {
      envOf: this.#envOf,
      unbiasedGatewaySpan: (s) => s.attributes['vigil.sample_reason'] === 'sampled',
      sampleRate: this.#o.sampleRate,
    })
    const method = gw?.attributes['http.request.method']
    // the idempotent share models retries of requests sent upstream; a refused one is not. Weighted:
    // the gateway keeps every failed request's span, only a share of the others
    if (gw !== null && typeof method === 'string' && !answeredByGateway(gw)) {
      const m = this.#methods.get(gw.route) ?? { idempotent: 0, total: 0 }
      m.total += summary.weight
      if (IDEMPOTENT.has(method)) m.idempotent += summary.weight
      this.#methods.set(gw.route, m)
    }
    if (gw !== null && summary.entryService !== null && summary.entryName !== null)
      this.#entry.learn(summary.entryService, summary.entryName, gw.route)
    for (const c of summary.calls) {
      if (c.viaGateway) {
        // the gateway's edges come from its rollups; its spans only tell where the upstream runs
        const to = c.to.slice(0, c.to.indexOf('|'))
        if (spans.some((s) => s.source === 'otlp' && s.service === to)) {
          const env = c.to.slice(c.to.indexOf('|') + 1)
          if (this.#upstreamEnv.get(to) !== env) {
            this.#upstreamEnv.set(to, env)
            if (!this.#envLearned.has(to)) this.#envLearned.set(to, { env, atMs: this.#o.now() })
          }
        }
        continue
      }
      this.#graph.addCall(c.from, c.to, c.atMs, c.ms, c.error)
    }
    for (const n of summary.served) this.#graph.addNode(n.node, n.atMs, n.ms, n.error)
    for (const s of spans) {
      const inst = s.attributes['service.instance.id']
      if (typeof inst !== 'string') continue
      const id = nodeId(s.service, s.env)
      let set = this.#instances.get(id)
      if (set === undefined) this.#instances.set(id, (set = new Set()))
      if (set.size < 1000) set.add(inst)
    }
  }

  #count(p: TraceProblems): void {
    const c = this.#stats.problems
    c.missingParents += p.missingParents
    c.cycles += p.cycles
    c.clockSkew += p.skewAdjusted
    c.duplicates += p.duplicates
  }

  #routeWindow(route: string, atMs: number): RouteWindowStats | null {
    const w = this.#o.windowMs
    const start = atMs - (((atMs % w) + w) % w)
    let windows = this.#routes.get(route)
    if (windows === undefined) {
      if (this.#routes.size >= this.#o.maxRoutes) {
        this.#stats.routes.untracked++
        return null
      }
      windows = new Map()
      this.#routes.set(route, windows)
      this.#stats.routes.tracked = this.#routes.size
    }
    if (start > this.#newestRouteWindow) {
      this.#newestRouteWindow = start
      const oldest = start - (this.#o.windows - 1) * w
      for (const ws of this.#routes.values()) for (const k of ws.keys()) if (k < oldest) ws.delete(k)
    } else if (start < this.#newestRouteWindow - (this.#o.windows - 1) * w) return null
    let rw = windows.get(start)
    if (rw === undefined) {
      rw = newRouteWindow(route, start, w)
      windows.set(start, rw)
    }
    return rw
  }

  /** Window hook: the gateway's rollups give its own edges (exact counts) and each route's traffic. */
  readonly hook = (series: SeriesKey, point: SeriesPoint, ctx: WindowClosedContext): void => {
    if (ctx.correction || ctx.latencySketch === undefined) return
    if (series.route === '*' || series.service === '*' || point.count === 0) return
    const sketch = decodeSketch(ctx.latencySketch)
    const gw = nodeId(GATEWAY_SERVICE, series.env)
    // The gateway → service edge counts the requests sent to an upstream and the service's own
    // 5xx among them, not what the gateway answered itself (429, 401, 413, a 503 with no healthy
    // target), which never reached the service; the clients → gateway edge counts every request
    // and every 5xx the clients saw. The latency sketch holds exactly the requests sent: it bounds
    // `sent` for a rollup from a gateway that predates the refused counters (they read 0).
    const sent = Math.min(sentCount(point), Math.round(sketch.count))
    const errors = Math.min(upstream5xx(point), sent)
    if (sent > 0)
      this.#graph.addRow(
        gw,
        nodeId(series.service, this.#envOf(series.service)),
        point.startMs,
        sent,
        errors,
        sketch,
      )
    this.#graph.addRow('', gw, point.startMs, point.count, point.statusClass[4], sketch)
    let list = this.#rollups.get(series.route)
    if (list === undefined) {
      if (this.#rollups.size >= this.#o.maxRoutes) return
      this.#rollups.set(series.route, (list = []))
    }
    const limited = Math.min(point.count, Math.round(point.limitedRatio * point.count))
    list.push({ startMs: point.startMs, count: point.count, sent, errors, limited, sketch })
    while (list.length > this.#o.windows) list.shift()
  }

  /** The limiter's merged client windows: who the users are, and how much each sends. */
  clientWindow(w: Omit<MergedClientWindow, 'stats'>): void {
    const rates = w.clients.map((c) => (1000 * c.requests) / w.windowMs)
    this.#clients = { windowMs: w.windowMs, total: w.clients.reduce((a, c) => a + c.requests, 0), rates }
  }

  /**
   * Writes the graph's finished windows to the store (called from the control plane's tick); all
   * of them with `all` (a stop: no trace is left to decide).
   */
  tick(nowMs = this.#o.now(), all = false): Promise<void> {
    // a window is finished once its traces were decided and the gateway's rollup arrived
    const rows = this.#graph.takeClosed(all ? nowMs : this.completeUntilMs(nowMs) - this.#o.windowMs)
    const c = this.#graph.counters
    this.#stats.graph.rowsLate = c.late
    this.#stats.graph.rowsOverflow = c.overflow
    this.#stats.graph.nodes = this.#graph.nodes().length
    if (rows.length === 0) return this.#graphWriting
    const stored: StoredGraphRow[] = rows.map(({ latency, ...r }) => ({
      ...r,
      latencySketch: encodeSketch(latency),
    }))
    this.#graphWriting = this.#graphWriting.then(() =>
      this.#storeGraph(stored).then(
        () => {},
        (err: Error) => {
          this.#stats.graph.writeErrors++
          this.#o.onError?.(err, 'journeys: write graph windows')
        },
      ),
    )
    return this.#graphWriting
  }

  // ---- queries -------------------------------------------------------------------------------

  async trace(traceId: string): Promise<Waterfall> {
    const id = traceId.toLowerCase()
    const stored = await this.#o.store.spansByTrace(id)
    const spans = this.#withBuffered(id, stored)
    if (spans.length === 0)
      throw withFix(
        VGL_ERR_JOURNEYS_TRACE_NOT_FOUND(`with trace id ${traceId}`),
        `${this.#keptTraces()}; the id is the 32 hex digits after the version in the traceparent header ` +
          '(00-<trace id>-<span id>-01); find kept traces with GET /api/traces?service=NAME&window=1h, ' +
          "or a request's trace by its X-Request-Id with GET /api/traces/by-request/ID",
      )
    return waterfall(id, spans, this.#isExpectedRoot)
  }

  async traceByRequestId(requestId: string): Promise<Waterfall> {
    const stored = await this.#o.store.spansByRequestId(requestId)
    let traceId = stored[0]?.traceId ?? this.#byRequest.get(requestId)
    if (traceId === undefined)
      for (const p of [...this.#buffer.values(), ...this.#waiting.values()])
        if (p.spans.some((s) => s.requestId === requestId)) {
          traceId = p.traceId
          break
        }
    if (traceId === undefined)
      throw withFix(
        VGL_ERR_JOURNEYS_TRACE_NOT_FOUND(`for request id ${requestId}`),
        `${this.#keptTraces()}; the id is the X-Request-Id the gateway answered with (the client's own, ` +
          'or one the gateway made); find kept traces with GET /api/traces?service=NAME&window=1h',
      )
    return waterfall(traceId, this.#withBuffered(traceId, stored), this.#isExpectedRoot)
  }

  /** Which traces can be found, for the fix of one that is not. */
  #keptTraces(): string {
    const r = this.#o.spansRetentionMs
    const rate = this.#o.sampleRate
    return (
      `a trace is kept when it failed or was slow, else ${rate >= 1 ? 'always' : `for ${fmtShare(rate)} of requests (telemetry.spans.sampleRate)`}` +
      `${r === undefined ? '' : `, for ${fmtSpan(r)} (store.retention.spans)`}, and can be found ${fmtSpan(this.#o.traceWaitMs)} after its request (journeys.traceWaitMs)`
    )
  }

  /** No traces of `route` in the window asked for: which routes there are, or how to get traces of this one. */
  #noData(route: string, message: string): VigilError {
    const known = [...new Set([...this.#routes.keys(), ...this.#rollups.keys()])]
    const fix = known.includes(route)
      ? `route ${route} had no traced requests in that window: ask for a window that had traffic ` +
        `(window=1h, or from/to around it, ms since the epoch or ISO 8601), or send requests through the gateway ` +
        `to ${route} and ask again in ${fmtSpan(this.#o.traceWaitMs + this.#o.windowMs)} (journeys.traceWaitMs plus one telemetry window)`
      : this.#routeInfo.has(route)
        ? `route ${route} has had no traced traffic yet: send requests through the gateway to it and ask again in ` +
          `${fmtSpan(this.#o.traceWaitMs + this.#o.windowMs)} (journeys.traceWaitMs plus one telemetry window)`
        : `${route} is not an entry route; GET /api/journeys lists those with traffic (${known.join(', ') || 'none yet'}), ` +
          `and the config's routes are ${[...this.#routeInfo.keys()].join(', ') || 'none'}`
    return withFix(VGL_ERR_JOURNEYS_NO_DATA(message), fix)
  }

  /** Stored spans plus those of the trace still waiting here (a request seconds old). */
  #withBuffered(traceId: string, stored: readonly SpanRecord[]): SpanRecord[] {
    const p = this.#buffer.get(traceId) ?? this.#waiting.get(traceId)
    if (p === undefined) return [...stored]
    const have = new Set(stored.map((s) => s.spanId))
    return [...stored, ...p.spans.filter((s) => !have.has(s.spanId))]
  }

  /** The store's search, read by the waterfall's rule: its error counts and abandoned flags agree. */
  searchTraces(q: TraceSearch): Promise<TraceListItem[]> {
    return this.#o.store.searchTraces(q, readTrace)
  }

  /**
   * A gateway edge hooked before the upstream's own spans named its env, read with that env: else
   * a service in another env than the gateway's shows twice on the map, once under the guess.
   */
  #withLearnedEnv = (r: GraphRow): GraphRow => {
    if (r.from === '' || parseNodeId(r.from).service !== GATEWAY_SERVICE) return r
    const { service, env } = parseNodeId(r.to)
    const learned = this.#envLearned.get(service)
    if (learned === undefined || env !== this.#o.gatewayEnv || learned.env === env) return r
    return r.windowStartMs < learned.atMs ? { ...r, to: nodeId(service, learned.env) } : r
  }

  async graph(fromMs: number, toMs: number, opts: GraphQuery = {}): Promise<GraphAnswer> {
    if (opts.completeOnly === true) {
      const w = this.#o.windowMs
      const end = Math.floor(Math.min(toMs, this.completeUntilMs()) / w) * w
      fromMs = end - Math.max(w, Math.round((toMs - fromMs) / w) * w)
      toMs = end
    }
    const oldest = this.#graph.oldestWindowMs()
    const rows: GraphRow[] = this.#graph.rows(fromMs, toMs).map(this.#withLearnedEnv)
    if (fromMs < oldest) {
      const stored = await this.#o.store.queryGraphRows(fromMs, Math.min(toMs, oldest))
      for (const { latencySketch, ...r } of stored)
        rows.push(this.#withLearnedEnv({ ...r, latency: decodeSketch(latencySketch) }))
    }
    const view = graphView(rows, fromMs, toMs, this.#o.windowMs, (n) => this.#graph.firstSeen(n))
    return { ...view, completeUntilMs: this.completeUntilMs() }
  }

  #merged(
    route: string,
    fromMs: number,
    toMs: number,
  ): { stats: RouteWindowStats; windows: RouteWindowStats[] } {
    const all = this.#routes.get(route)
    const windows =
      all === undefined
        ? []
        : [...all.values()].filter((w) => w.windowStartMs >= fromMs && w.windowStartMs < toMs)
    windows.sort((a, b) => a.windowStartMs - b.windowStartMs)
    return { stats: mergeRouteWindows(route, windows, fromMs, toMs), windows }
  }

  /** The route's rollups in [fromMs, toMs): the requests sent to its service, their 5xx and latency. */
  #sent(
    route: string,
    fromMs: number,
    toMs: number,
  ): { calls: number; errors: number; latency: DDSketch } | null {
    const rollups = this.#rollups.get(route)?.filter((r) => r.startMs >= fromMs && r.startMs < toMs) ?? []
    if (rollups.length === 0) return null
    const latency = newSketch()
    let calls = 0
    let errors = 0
    // the requests sent to the service (the sketch holds exactly those), not the ones the gateway
    // answered itself (429, 413, no healthy target), as on the gateway → service edge
    for (const r of rollups) {
      calls += r.sent
      errors += r.errors
      latency.merge(r.sketch)
    }
    return { calls, errors, latency }
  }

  #summary(route: string, stats: RouteWindowStats, fromMs: number, toMs: number): JourneySummary {
    // a route whose traces are the gateway's sampled spans alone: its rollups count every request
    const sent = stats.gatewayOnly >= stats.traces * (1 - 1e-9) ? this.#sent(route, fromMs, toMs) : null
    const exact = sent !== null && sent.calls > 0 ? sent : null
    const traces = exact?.calls ?? stats.traces
    const failures = exact?.errors ?? stats.failures
    const latency = exact?.latency ?? stats.latency
    return {
      route,
      service: this.#routeInfo.get(route)?.service ?? stats.sites.values().next().value?.service ?? '',
      traces: Math.round(traces),
      failureRatio: traces > 0 ? failures / traces : 0,
      p50: sketchQuantile(latency, 0.5),
      p95: sketchQuantile(latency, 0.95),
      p99: sketchQuantile(latency, 0.99),
      criticalPath: criticalShares(stats),
      services: this.#reached(route, stats),
    }
  }

  /** The services a route's journeys call, as the model a what-if simulates will have them. */
  #reached(route: string, stats: RouteWindowStats): { service: string; env: string }[] {
    const by = new Map<string, { service: string; env: string }>()
    for (const s of stats.sites.values())
      if (s.service !== GATEWAY_SERVICE) by.set(nodeId(s.service, s.env), { service: s.service, env: s.env })
    const info = this.#routeInfo.get(route)
    // a service that sends no spans: the model stands it in from the gateway's rollups
    if (by.size === 0 && info !== undefined)
      by.set(nodeId(info.service, ''), { service: info.service, env: this.#envOf(info.service) })
    return [...by.values()].sort((a, b) => a.service.localeCompare(b.service) || a.env.localeCompare(b.env))
  }

  async journeys(fromMs: number, toMs: number): Promise<JourneySummary[]> {
    const out: JourneySummary[] = []
    for (const route of this.#routes.keys()) {
      const { stats } = this.#merged(route, fromMs, toMs)
      if (stats.traces > 0) out.push(this.#summary(route, stats, fromMs, toMs))
    }
    return out.sort((a, b) => b.traces - a.traces)
  }

  #policy(route: string): GatewayPolicy | null {
    const info = this.#routeInfo.get(route)
    if (info === undefined) return null
    const m = this.#methods.get(route)
    return { ...info.policy, idempotentShare: m === undefined || m.total === 0 ? 1 : m.idempotent / m.total }
  }

  /** The journey model of a route from [fromMs, toMs) (throws NO_DATA when there is nothing to learn). */
  model(route: string, fromMs: number, toMs: number): JourneyModel {
    const { stats } = this.#merged(route, fromMs, toMs)
    const info = this.#routeInfo.get(route)
    const sent = info === undefined ? null : this.#sent(route, fromMs, toMs)
    const fallback =
      info === undefined || sent === null
        ? undefined
        : { service: info.service, env: this.#envOf(info.service), ...sent }
    const model = learnModel(stats, this.#policy(route), fallback)
    if (model.sites.length === 0)
      throw this.#noData(
        route,
        `route ${route} has no traces between ${new Date(fromMs).toISOString()} and ${new Date(toMs).toISOString()}${this.#routes.has(route) || this.#rollups.has(route) ? '' : ` (known routes: ${[...new Set([...this.#routes.keys(), ...this.#rollups.keys()])].join(', ') || 'none yet'})`}`,
      )
    return model
  }

  async journey(route: string, fromMs: number, toMs: number): Promise<JourneyDetail> {
    const model = this.model(route, fromMs, toMs)
    const { stats } = this.#merged(route, fromMs, toMs)
    const q = (t: readonly number[], p: number) => t[Math.round(p * (t.length - 1))]
    return {
      ...this.#summary(route, stats, fromMs, toMs),
      fromMs,
      toMs,
      model: {
        traces: Math.round(model.traces),
        tracesSeen: Math.round(model.tracesSeen),
        gateway: model.gateway,
        overheadMs: { p50: q(model.overhead, 0.5), p95: q(model.overhead, 0.95) },
        sites: model.sites.map((s) => ({
          key: s.key,
          service: s.service,
          env: s.env,
          parent: s.parent < 0 ? null : model.sites[s.parent].key,
          stage: s.stage,
          callProbability: 1 - s.fanout[0],
          meanCalls: s.fanout.reduce((a, p, k) => a + p * k, 0),
          parallel: s.parallel,
          calls: Math.round(s.calls),
          ownErrorRatio: (s.ownErrors + 0.5) / (s.cleanCalls + 1),
          propagation: s.propagate,
          ownMs: { p50: q(s.self, 0.5), p95: q(s.self, 0.95), p99: q(s.self, 0.99) },
          callMs: { p50: s.p50, p95: s.p95 },
        })),
      },
    }
  }

  async rootCause(q: RootCauseQuery): Promise<RootCause> {
    const w = this.#o.windowMs
    const span = Math.max(w, q.toMs - q.fromMs)
    const baselineMs = q.baselineMs ?? 10 * span
    const current = this.#merged(q.route, q.fromMs, q.toMs)
    if (current.stats.traces === 0 && current.stats.refused > 0)
      throw withFix(
        VGL_ERR_JOURNEYS_NO_DATA(
          `route ${q.route} has no traces in the window asked for that reached its service: the gateway answered by itself the ${current.stats.refused} requests it kept spans of (429, 401, 413, or 503 with no healthy target or every breaker open)`,
        ),
        `nothing behind route ${q.route} failed: the gateway refused the requests; GET /api/limits/keys and the 429s' ` +
          'RateLimit headers show who was limited, GET /api/services which targets are down or ejected',
      )
    if (current.stats.traces === 0)
      throw this.#noData(q.route, `route ${q.route} has no traces in the window asked for`)
    const baseline = this.#merged(q.route, q.fromMs - baselineMs, q.fromMs)
    const lead = this.#merged(q.route, q.fromMs - 2 * w, q.toMs)
    let anomalies: ServiceAnomaly[] = []
    if (this.#o.anomalies !== undefined) {
      try {
        const list = await this.#o.anomalies(q.fromMs - 2 * w, q.toMs)
        anomalies = list
          .filter((a) => a.level === 'route' || a.level === 'service')
          .map((a) => ({ service: a.series.service, env: null, openedAtMs: a.openedAtMs, metric: a.metric }))
      } catch (err) {
        this.#o.onError?.(err as Error, 'journeys: anomalies for root cause')
      }
    }
    return rankRootCause({
      route: q.route,
      current: current.stats,
      baseline: baseline.stats,
      windows: lead.windows,
      anomalies,
      symptom: q.symptom,
    })
  }

  /** Requests per second of a route: the forecast's, else the recent rollups' as a flat line. */
  async #traffic(
    route: string,
    horizonMs: number,
  ): Promise<{
    stepMs: number
    rate: number[]
    lower: number[]
    upper: number[]
    source: 'forecast' | 'observed'
  }> {
    const w = this.#o.windowMs
    const steps = Math.max(1, Math.ceil(horizonMs / w))
    const info = this.#routeInfo.get(route)
    const recent = (this.#rollups.get(route) ?? []).slice(-30)
    // the journeys simulate requests that reach the service: the ones the limiter refuses (a
    // client far over its limit) neither reach it nor fail there, and would multiply the failed
    // requests past what the service could ever be sent
    const total = recent.reduce((a, r) => a + r.count, 0)
    const passed = total > 0 ? recent.reduce((a, r) => a + r.count - r.limited, 0) / total : 1
    if (info !== undefined && this.#o.forecast !== undefined) {
      try {
        const key = formatSeriesKey({ service: info.service, route, env: this.#o.gatewayEnv })
        const f = await this.#o.forecast(key, steps)
        // the route's forecast counts refused requests too: the share that got through lately
        if (f.status === 'ok' && f.points.length > 0)
          return {
            stepMs: f.stepMs,
            rate: f.points.map((p) => passed * Math.max(0, p.forecast)),
            lower: f.points.map((p) => passed * Math.max(0, p.lower)),
            upper: f.points.map((p) => passed * Math.max(0, p.upper)),
            source: 'forecast',
          }
      } catch {
        // too little history, or forecasting is off: the observed rate below
      }
    }
    let rates = recent.map((r) => (1000 * (r.count - r.limited)) / w)
    if (rates.length === 0) {
      // no rollups (a route that only OTLP traces show): its traces per second
      const { stats } = this.#merged(route, this.#o.now() - this.#o.modelWindowMs, this.#o.now())
      rates = [(1000 * stats.traces) / this.#o.modelWindowMs]
    }
    const mean = rates.reduce((a, x) => a + x, 0) / rates.length
    const sd = Math.sqrt(rates.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, rates.length - 1))
    return {
      stepMs: w,
      rate: [mean],
      lower: [Math.max(0, mean - 1.645 * sd)],
      upper: [mean + 1.645 * sd],
      source: 'observed',
    }
  }

  async whatIf(q: WhatIfQuery): Promise<WhatIfAnswer> {
    const now = this.#o.now()
    const horizonMs = q.horizonMs ?? this.#o.horizonMs
    const scenarios = parseWhatIfs(q.scenarios)
    const from = now - (q.modelWindowMs ?? this.#o.modelWindowMs)
    const models: JourneyModel[] = []
    if (q.route !== undefined) models.push(this.model(q.route, from, now))
    else {
      for (const route of new Set([...this.#routes.keys(), ...this.#rollups.keys()]))
        try {
          models.push(this.model(route, from, now))
        } catch {
          // a route without traces in the model window
        }
      // every scenario must name a service some journey calls
      const known = new Set(models.flatMap((m) => m.sites.map((s) => `${s.service}\n${s.env}`)))
      scenarios.forEach((s, i) => {
        const hit = [...known].some(
          (k) => k.startsWith(`${s.service}\n`) && (s.env === undefined || k === `${s.service}\n${s.env}`),
        )
        if (!hit)
          throw VGL_ERR_JOURNEYS_WHATIF(
            `scenarios[${i}].service: no journey calls "${s.service}"${s.env === undefined ? '' : ` in env "${s.env}"`} (services in journeys: ${[...new Set(models.flatMap((m) => m.sites.map((x) => x.service)))].sort().join(', ') || 'none yet'})`,
          )
      })
    }
    const out: WhatIfAnswer['journeys'] = []
    for (const model of models) {
      // with no route named, a journey gets the scenarios that touch it
      const relevant =
        q.route !== undefined
          ? scenarios
          : scenarios.filter((s) =>
              model.sites.some((m) => m.service === s.service && (s.env === undefined || m.env === s.env)),
            )
      if (q.route === undefined && relevant.length === 0) continue
      out.push(await this.#simulate(model, relevant, horizonMs, q.journeys ?? this.#o.simulations, q.seed))
    }
    return {
      atMs: now,
      horizonMs,
      scenarios,
      slo: this.#o.slo,
      downtimeErrorRatio: this.#o.downtimeErrorRatio,
      journeys: out,
    }
  }

  /** One journey's impact over the horizon: its traffic forecast, its share of the clients. */
  async #simulate(
    model: JourneyModel,
    scenarios: readonly WhatIf[],
    horizonMs: number,
    journeys: number,
    seed: number | undefined,
  ): Promise<WhatIfAnswer['journeys'][number]> {
    const totalRate =
      [...this.#rollups.values()].reduce((a, l) => a + (l.at(-1)?.count ?? 0), 0) / (this.#o.windowMs / 1000)
    const traffic = await this.#traffic(model.route, horizonMs)
    const routeRate = traffic.rate.reduce((a, x) => a + x, 0) / traffic.rate.length
    const share = totalRate > 0 ? Math.min(1, routeRate / totalRate) : 1
    const clients = this.#clients === null ? undefined : this.#clients.rates.map((r) => r * share)
    const result = simulateImpact(model, scenarios, {
      horizonMs,
      traffic,
      clients,
      slo: this.#o.slo,
      downtimeErrorRatio: this.#o.downtimeErrorRatio,
      journeys,
      seed,
      replicas: (service, env) => this.#replicas(service, env),
    })
    return {
      ...result,
      trafficSource: traffic.source,
      users: clients === undefined ? 'unknown' : 'clients',
      usersSeen: clients === undefined ? null : clients.length,
    }
  }

  /**
   * The entry routes an alert on `service` (null: any) concerns, busiest first: the routes the
   * gateway sends to it, else the routes whose journeys call it.
   */
  routesOf(service: string | null, route: string | null): string[] {
    const now = this.#o.now()
    const traffic = (r: string) => this.#merged(r, now - this.#o.modelWindowMs, now).stats.traces
    const known = [...new Set([...this.#routes.keys(), ...this.#rollups.keys()])]
    if (route !== null && route !== '*') return known.includes(route) ? [route] : []
    let hits = known.filter((r) => service === null || this.#routeInfo.get(r)?.service === service)
    if (hits.length === 0 && service !== null)
      hits = known.filter((r) => {
        const { stats } = this.#merged(r, now - this.#o.modelWindowMs, now)
        return [...stats.sites.values()].some((x) => x.service === service)
      })
    return hits.sort((a, b) => traffic(b) - traffic(a))
  }

  /**
   * The impact of a journey's state in [fromMs, now) lasting the horizon: the model learned from
   * those traces (from the model window when fewer than 20 were seen: sampled gateway spans count
   * once each, not as the requests they stand for), simulated without a scenario.
   */
  async currentImpact(
    route: string,
    fromMs: number,
    horizonMs: number,
    journeys: number,
  ): Promise<WhatIfAnswer['journeys'][number]> {
    const now = this.#o.now()
    let model: JourneyModel
    try {
      model = this.model(route, Math.max(fromMs, now - this.#o.modelWindowMs), now)
      // the traces seen, not the requests they stand for: 3 sampled gateway spans are no 30 traces
      if (model.tracesSeen < MIN_IMPACT_TRACES)
        throw VGL_ERR_JOURNEYS_NO_DATA(
          `too few traces seen on route ${route}: ${Math.round(model.tracesSeen)} (standing for ${Math.round(model.traces)} requests), at least ${MIN_IMPACT_TRACES} needed`,
        )
    } catch {
      model = this.model(route, now - this.#o.modelWindowMs, now)
    }
    return this.#simulate(model, [], horizonMs, journeys, 1)
  }

  /** Calls between services seen in [fromMs, toMs) (the in-memory graph; for alert correlation). */
  callEdges(fromMs: number, toMs: number): ServiceEdge[] {
    const seen = new Map<string, ServiceEdge>()
    for (const r of this.#graph.rows(fromMs, toMs).map(this.#withLearnedEnv))
      if (r.from !== '' && r.from !== r.to && r.calls > 0)
        seen.set(`${r.from}->${r.to}`, { from: parseNodeId(r.from), to: parseNodeId(r.to) })
    return [...seen.values()]
  }

  /** The journeys' SLO: what a request must meet to count as good (the impact's SLO-miss share). */
  get slo(): { availability: number; latencyMs: number } {
    return this.#o.slo
  }

  /**
   * The longest a trace takes to be decided and counted (the journeys' statistics lag): a trace
   * that is not whole waits up to maxTraceWaitMs. `completeUntilMs()` says how far they are now.
   */
  get settleMs(): number {
    return this.#o.maxTraceWaitMs + this.#o.windowMs
  }

  #replicas(service: string, env: string): number | null {
    const seen = this.#instances.get(nodeId(service, env))?.size ?? 0
    if (seen > 0) return seen
    const info = [...this.#routeInfo.values()].find((r) => r.service === service)
    return info === undefined ? null : info.policy.targets
  }

  async stats(): Promise<JourneyStats> {
    return { ...structuredClone(this.#stats), parentsNeverSent: this.#phantoms.hops() }
  }

  /** Waits for pending graph writes (graceful stop). */
  async flush(): Promise<void> {
    await this.tick(Number.MAX_SAFE_INTEGER / 2, true)
  }
}

/** The gateway's routes with the policy in front of each (from the config). */
export function journeyRoutesOf(config: Config): JourneyRoute[] {
  return config.routes.map((r) => {
    const svc = config.services[r.service]
    return {
      name: routeName(r),
      service: r.service,
      policy: {
        attempts: r.retry.attempts,
        backoffBaseMs: r.retry.backoffBaseMs,
        backoffMaxMs: r.retry.backoffMaxMs,
        retryOn: r.retry.on,
        firstByteTimeoutMs: r.firstByteTimeoutMs,
        totalTimeoutMs: r.totalTimeoutMs,
        breaker: {
          enabled: svc?.breaker.enabled ?? false,
          consecutiveFailures: svc?.breaker.consecutiveFailures ?? 5,
          baseEjectionMs: svc?.breaker.baseEjectionMs ?? 30_000,
          maxEjectionMs: svc?.breaker.maxEjectionMs ?? 300_000,
        },
        healthCheckIntervalMs: svc?.healthCheck?.intervalMs ?? null,
        targets: svc?.targets.length ?? 1,
        idempotentShare: 1,
      },
    }
  })
}

/** The log line of a hop learned to name parents that never come, or forgotten when one came late. */
export function parentsNeverSentNotice(change: 'learned' | 'forgotten', hop: PhantomHop): string {
  const who = `spans "${hop.name}" of ${hop.service}${hop.env === '' ? '' : ` (${hop.env})`}`
  return change === 'learned'
    ? `${who} name parents that never arrive: an uninstrumented caller or a sampler in front of them; their traces are analysed without waiting for those parents`
    : `${who} named a parent that arrived late: their caller does send its spans now, so their traces wait for it again`
}
