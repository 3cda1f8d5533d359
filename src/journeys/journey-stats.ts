/**
 * @module What one window of traces says about one entry route's journey: which services it
 * calls from where (call sites), how often, in sequence or in parallel, how long each takes by
 * itself, where failures start and how they travel up, and who sits on the critical path. The
 * root-cause ranking compares two of these; the Monte Carlo model is compiled from them.
 *
 * A trace is first collapsed into service invocations: a maximal group of connected spans of one
 * service in one env (its server span with its internal and client spans) is one invocation; a
 * span of another service under it is a call. A call site is the path of nodes from the entry:
 * `shop|onprem>auth|onprem` is auth as called by shop. A client span with no span under it (the
 * callee sends no spans, or was never reached) is a call to its `peer.service` /
 * `server.address`.
 *
 * ```
 * trace ─▶ tree (trace.ts) ─▶ invocations ─▶ per site: calls, errors, own errors, propagation,
 *                                   │         self time, call time, fan-out, overlap, critical path
 *                                   └▶ per route window: traces, failures, end-to-end latency,
 *                                      gateway overhead and retries (from the gateway's span)
 * ```
 * A journey the client abandoned (the gateway's span: `vigil.outcome` `client_abort`, 499) still
 * feeds the graph but not the route's statistics: it ended neither in success nor in failure. In
 * the graph its requests and calls count, and only its spans answered with a 5xx count as errors
 * (see {@link failedBeforeAbandoned}).
 *
 * A request the gateway answered by itself without sending it upstream (its span's
 * `vigil.attempts` is 0: a 429 or 401 from the limiter, a 413, a 503 with no healthy target or
 * every breaker open) is no journey either: nothing behind the gateway took part. It is counted
 * apart (`refused`) and adds nothing else: no call to the route's service (whose latency, own
 * errors and share of failures would then be the gateway's refusals), no end-to-end latency.
 *
 * Every count and sketch is weighted by how many requests the trace stands for. A trace with a
 * span of a service was seen whatever the gateway's sampler decided (services send every
 * request's spans, and every trace is analysed, kept or not): weight 1. A trace seen only through
 * the gateway's span was seen because the sampler kept it, which it does for every error but only
 * `sampleRate` of the successes: weight 1 / its keep probability (Horvitz–Thompson), so such a
 * route's failure ratio, latency percentiles and model are not those of its errors.
 */
import type { DDSketch } from '@datadog/sketches-js'
import { newSketch } from './graph.js'
import {
  GATEWAY_SERVICE,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  answeredByGateway,
  failedIn,
  keepProbability,
  nodeId,
  spanService,
  type JourneySpan,
} from './span.js'
import { criticalPath, errorOrigins, isAbandonedTrace, type TraceTree } from './trace.js'

/** Fan-out counts above this are counted here (P(k ≥ MAX_FANOUT)). */
export const MAX_FANOUT = 8
/** Deeper call sites are folded into their ancestor (a cap on memory, not on real journeys). */
export const MAX_SITE_DEPTH = 8

/** One call site of one route in one window. */
export interface SiteStats {
  /** `node>node>...` from the entry */
  key: string
  /** '' for the entry site */
  parentKey: string
  service: string
  env: string
  /** invocations of the callee at this site */
  calls: number
  /** invocations that failed (the callee's span, or the caller's client span, is an error) */
  errors: number
  /** failed invocations none of whose own calls failed: the failure started here */
  ownErrors: number
  /**
   * Σ w² over the invocations in `calls`, in `ownErrors`, and in the clean ones (none of whose
   * calls failed): with the sums of weights, how many traces the weighted counts rest on (a
   * sampled span that stands for 20 requests is still one observation)
   */
  callSquares: number
  ownErrorSquares: number
  cleanSquares: number
  /** invocations in which at least one of its calls failed */
  childFailed: number
  /** ...and which then failed themselves */
  propagated: number
  /** share of the trace's failures that began here (deepest failing span), summed over traces */
  origins: number
  /** time the callee spent outside its own calls, ms */
  self: DDSketch
  /** the call as the caller saw it, ms */
  duration: DDSketch
  /** traces in which this site was on the critical path */
  cpTraces: number
  /** time on the critical path, ms, summed over traces */
  cpMs: number
  /** parent invocations with k calls at this site, k = 1..MAX_FANOUT (index k) */
  fanout: Float64Array
  /** parent invocations with ≥ 2 calls here that overlapped in time, and that did not */
  fanParallel: number
  fanSequential: number
  /** start of the call after its parent invocation's start, ms, summed (with calls) */
  offsetMs: number
  /** pairs of sibling sites under this invocation: `a\nb` (a < b) → [together, overlapped] */
  pairs: Map<string, [number, number]>
  /** 5xx status codes of failed invocations, for the retry model (status → count) */
  failStatus: Map<number, number>
}

/** One entry route in one window. */
export interface RouteWindowStats {
  route: string
  windowStartMs: number
  windowMs: number
  /** traces (journeys) that entered by the route, each weighted by the requests it stands for */
  traces: number
  /** of `traces`, those seen only through the gateway's sampled span (estimated, not counted) */
  gatewayOnly: number
  /** journeys that failed end to end */
  failures: number
  /**
   * Σ w² over the traces in `traces` and in `failures`: with the sums of weights, how many traces
   * the weighted counts rest on (one sampled span standing for 10 requests is one observation)
   */
  traceSquares: number
  failureSquares: number
  /** end-to-end latency, ms (the gateway's span when sampled, else the entry invocation) */
  latency: DDSketch
  sites: Map<string, SiteStats>
  /** gateway time around the entry call in unbiased (sampled, single-attempt) traces, ms */
  gatewayOverhead: DDSketch
  /** gateway spans seen and their attempts, summed */
  gatewaySpans: number
  gatewayAttempts: number
  /**
   * the gateway's kept spans of requests it answered by itself (not journeys): every 503 with no
   * healthy target, `sampleRate` of the 429s; a sign, not a rate
   */
  refused: number
}

export function newRouteWindow(route: string, windowStartMs: number, windowMs: number): RouteWindowStats {
  return {
    route,
    windowStartMs,
    windowMs,
    traces: 0,
    gatewayOnly: 0,
    failures: 0,
    traceSquares: 0,
    failureSquares: 0,
    latency: newSketch(),
    sites: new Map(),
    gatewayOverhead: newSketch(),
    gatewaySpans: 0,
    gatewayAttempts: 0,
    refused: 0,
  }
}

function newSite(key: string, parentKey: string, service: string, env: string): SiteStats {
  return {
    key,
    parentKey,
    service,
    env,
    calls: 0,
    errors: 0,
    ownErrors: 0,
    callSquares: 0,
    ownErrorSquares: 0,
    cleanSquares: 0,
    childFailed: 0,
    propagated: 0,
    origins: 0,
    self: newSketch(),
    duration: newSketch(),
    cpTraces: 0,
    cpMs: 0,
    fanout: new Float64Array(MAX_FANOUT + 1),
    fanParallel: 0,
    fanSequential: 0,
    offsetMs: 0,
    pairs: new Map(),
    failStatus: new Map(),
  }
}

/** An invocation: the spans of one service (in one env) that belong together. */
interface Invocation {
  service: string
  env: string
  /** the span that opened it */
  span: number
  start: number
  end: number
  failed: boolean
  /** how the caller saw the call (its client span when there is one) */
  callStart: number
  callEnd: number
  callFailed: boolean
  caller: number
  calls: number[]
  site: string
  /** call sites from the entry (1 for the entry) */
  depth: number
  /** a client span whose callee sent no spans */
  peer: boolean
}

/** The node the callee of a leaf client span is: `peer.service`, else `server.address`. */
function peerService(s: JourneySpan): string | null {
  const a = s.attributes
  const peer = a['peer.service'] ?? a['server.address'] ?? a['net.peer.name']
  return typeof peer === 'string' && peer !== '' ? peer : null
}

export interface AnalyzeOptions {
  /** env of a service the spans do not tell (a gateway upstream or a peer without spans) */
  envOf: (service: string) => string
  /** `telemetry.spans.sampleRate` note: only the gateway's `sampled` spans are unbiased */
  unbiasedGatewaySpan?: (s: JourneySpan) => boolean
  /**
   * the gateway's `telemetry.spans.sampleRate`, for its spans that do not say how likely they
   * were to be kept (see {@link keepProbability}); default 1
   */
  sampleRate?: number
}

/** What analyzing one trace found, besides the stats it added. */
export interface TraceSummary {
  /** entry node and the name of its span (to learn which route an unsampled trace entered by) */
  entryService: string | null
  entryEnv: string | null
  entryName: string | null
  failed: boolean
  /** how many requests the trace stands for (1 / its chance to be seen) */
  weight: number
  /**
   * calls between nodes: caller node, callee node, start, duration as the caller saw it, failed
   * (in an abandoned journey only a 5xx answer is a failure, here and in `served`)
   */
  calls: { from: string; to: string; atMs: number; ms: number; error: boolean; viaGateway: boolean }[]
  /** requests each node served: node, start, duration, failed */
  served: { node: string; atMs: number; ms: number; error: boolean }[]
}

const overlapMs = (a0: number, a1: number, b0: number, b1: number) =>
  Math.max(0, Math.min(a1, b1) - Math.max(a0, b0))

/**
 * Collapses a trace into invocations and adds it to `rw` (when given; a trace whose entry route is
 * not known yet still feeds the graph through the returned calls).
 */
export function analyzeTrace(
  tree: TraceTree,
  rw: RouteWindowStats | null,
  opts: AnalyzeOptions,
): TraceSummary {
  const { spans, parent, start } = tree
  const n = spans.length
  const abandoned = isAbandonedTrace(tree)
  const isError = failedIn(abandoned)
  const invOf = new Int32Array(n).fill(-1)
  const invs: Invocation[] = []
  // tree order (parents before children): iterate roots depth-first
  const order: number[] = []
  const stack: number[] = []
  for (let r = tree.roots.length - 1; r >= 0; r--) stack.push(tree.roots[r])
  while (stack.length > 0) {
    const i = stack.pop() as number
    order.push(i)
    const kids = tree.children[i]
    for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k])
  }
  for (const i of order) {
    const s = spans[i]
    const svc = spanService(s)
    const env = s.env
    const p = parent[i]
    const end = start[i] + s.durationMs
    if (p !== -1) {
      const pi = invOf[p]
      const pInv = invs[pi]
      // same service and env: the same invocation, unless a server span answers a client span
      // (a service calling itself)
      const remoteCall = s.kind === SPAN_KIND_SERVER && spans[p].kind === SPAN_KIND_CLIENT
      if (pInv.service === svc && pInv.env === env && !remoteCall) {
        invOf[i] = pi
        pInv.end = Math.max(pInv.end, end)
        continue
      }
    }
    const callerInv = p === -1 ? -1 : invOf[p]
    const viaClient = p !== -1 && spans[p].kind === SPAN_KIND_CLIENT && tree.children[p].length === 1
    const inv: Invocation = {
      service: svc,
      env,
      span: i,
      start: start[i],
      end,
      failed: isError(s),
      callStart: viaClient ? start[p] : start[i],
      callEnd: viaClient ? start[p] + spans[p].durationMs : end,
      callFailed: isError(s) || (viaClient && isError(spans[p])),
      caller: callerInv,
      calls: [],
      site: '',
      depth: 0,
      peer: false,
    }
    invOf[i] = invs.length
    if (callerInv !== -1) invs[callerInv].calls.push(invs.length)
    invs.push(inv)
  }
  // leaf client spans: calls to a callee that sent nothing
  for (let i = 0; i < n; i++) {
    const s = spans[i]
    if (s.kind !== SPAN_KIND_CLIENT || tree.children[i].length > 0 || s.source === 'gateway') continue
    const peer = peerService(s)
    if (peer === null) continue
    const callerInv = invOf[i]
    const end = start[i] + s.durationMs
    invs[callerInv].calls.push(invs.length)
    invs.push({
      service: peer,
      env: opts.envOf(peer),
      span: i,
      start: start[i],
      end,
      failed: isError(s),
      callStart: start[i],
      callEnd: end,
      callFailed: isError(s),
      caller: callerInv,
      calls: [],
      site: '',
      depth: 0,
      peer: true,
    })
  }

  const summary: TraceSummary = {
    entryService: null,
    entryEnv: null,
    entryName: null,
    failed: false,
    weight: 1,
    calls: [],
    served: [],
  }
  if (invs.length === 0) return summary
  // the main root's invocation is the journey; a gateway span's calls are its entry invocations
  const mainInv = invOf[tree.main]
  const gw = invs[mainInv].service === GATEWAY_SERVICE ? invs[mainInv] : null
  const gwSpan = gw === null ? null : spans[gw.span]
  const refused = gwSpan !== null && answeredByGateway(gwSpan)
  const gatewayOnly = gwSpan !== null && spans.every((s) => s.source === 'gateway')
  const w = gatewayOnly ? 1 / keepProbability(gwSpan, opts.sampleRate) : 1
  summary.weight = w
  if (gw !== null && gwSpan !== null && !refused && !gw.calls.some((c) => !invs[c].peer)) {
    // the upstream sent no span (not instrumented, or never reached): the gateway's span stands for the call
    const upstream = gwSpan.service
    gw.calls.push(invs.length)
    invs.push({
      service: upstream,
      env: opts.envOf(upstream),
      span: gw.span,
      start: gw.start,
      end: gw.end,
      failed: gw.failed,
      callStart: gw.start,
      callEnd: gw.end,
      callFailed: gw.failed,
      caller: mainInv,
      calls: [],
      site: '',
      depth: 0,
      peer: false,
    })
  }
  const entries = gw === null ? [mainInv] : gw.calls.filter((c) => !invs[c].peer)
  const entry = entries.length > 0 ? invs[entries[entries.length - 1]] : null
  if (entry !== null) {
    summary.entryService = entry.service
    summary.entryEnv = entry.env
    summary.entryName = spans[entry.span].name
  }
  summary.failed = gw !== null ? gw.failed : entry !== null ? entry.failed : false

  // graph: every call between nodes, and every invocation as a request its node served
  for (const inv of invs) {
    const node = nodeId(inv.service, inv.env)
    if (!inv.peer && spans[inv.span].source !== 'gateway')
      summary.served.push({ node, atMs: inv.start, ms: inv.end - inv.start, error: inv.failed })
    if (inv.caller === -1) continue
    const c = invs[inv.caller]
    summary.calls.push({
      from: nodeId(c.service, c.env),
      to: node,
      atMs: inv.callStart,
      ms: inv.callEnd - inv.callStart,
      error: inv.callFailed,
      viaGateway: c.service === GATEWAY_SERVICE,
    })
  }
  // A journey the client abandoned (it closed the connection before the answer; the gateway's span
  // says so, and the gateway keeps every such span) has no outcome: the services still working on
  // it see their connection closed and fail without a status, though nobody was answered an error.
  // Counting it would make those services fail "on their own" in the model.
  if (rw === null || abandoned) return summary
  if (refused) {
    rw.refused++
    return summary
  }
  if (entry === null) return summary

  // ---- route stats: sites -----------------------------------------------------------------
  rw.traces += w
  rw.traceSquares += w * w
  if (gatewayOnly) rw.gatewayOnly += w
  if (summary.failed) {
    rw.failures += w
    rw.failureSquares += w * w
  }
  rw.latency.accept(Math.max(0, gw !== null ? gw.end - gw.start : entry.end - entry.start), w)
  if (gwSpan !== null) {
    rw.gatewaySpans += w
    const attempts = Number(gwSpan.attributes['vigil.attempts'] ?? 1)
    rw.gatewayAttempts += w * (Number.isFinite(attempts) && attempts > 0 ? attempts : 1)
    if (entries.length === 1 && (opts.unbiasedGatewaySpan?.(gwSpan) ?? true))
      rw.gatewayOverhead.accept(Math.max(0, gwSpan.durationMs - (entry.callEnd - entry.callStart)), w)
  }
  const siteOf = (key: string, parentKey: string, inv: Invocation): SiteStats => {
    let st = rw.sites.get(key)
    if (st === undefined) {
      st = newSite(key, parentKey, inv.service, inv.env)
      rw.sites.set(key, st)
    }
    return st
  }
  // assign sites top down from the entries
  const visit: number[] = []
  for (const e of entries) {
    invs[e].site = nodeId(invs[e].service, invs[e].env)
    invs[e].depth = 1
    visit.push(e)
  }
  for (let v = 0; v < visit.length; v++) {
    const inv = invs[visit[v]]
    const st = siteOf(inv.site, parentKeyOf(inv.site), inv)
    st.calls += w
    st.callSquares += w * w
    if (inv.callFailed || inv.failed) {
      st.errors += w
      const code = spans[inv.span].httpStatus
      if (code !== null) st.failStatus.set(code, (st.failStatus.get(code) ?? 0) + w)
    }
    st.duration.accept(Math.max(0, inv.callEnd - inv.callStart), w)
    // own time: the invocation minus the union of its calls
    let covered = 0
    const intervals = inv.calls
      .map((c) => [Math.max(inv.start, invs[c].callStart), Math.min(inv.end, invs[c].callEnd)] as const)
      .filter(([a, b]) => b > a)
      .sort((a, b) => a[0] - b[0])
    let cs = -Infinity
    let ce = -Infinity
    for (const [a, b] of intervals) {
      if (a > ce) {
        if (ce > cs) covered += ce - cs
        cs = a
        ce = b
      } else ce = Math.max(ce, b)
    }
    if (ce > cs) covered += ce - cs
    st.self.accept(Math.max(0, inv.end - inv.start - covered), w)
    let anyChildFailed = false
    const byChildSite = new Map<string, number[]>()
    const deep = inv.depth >= MAX_SITE_DEPTH
    for (const c of inv.calls) {
      const child = invs[c]
      if (child.callFailed || child.failed) anyChildFailed = true
      if (deep) continue
      child.site = `${inv.site}>${nodeId(child.service, child.env)}`
      child.depth = inv.depth + 1
      visit.push(c)
      const list = byChildSite.get(child.site)
      if (list === undefined) byChildSite.set(child.site, [c])
      else list.push(c)
    }
    if (anyChildFailed) {
      st.childFailed += w
      if (inv.failed || inv.callFailed) st.propagated += w
    } else {
      st.cleanSquares += w * w
      if (inv.failed || inv.callFailed) {
        st.ownErrors += w
        st.ownErrorSquares += w * w
      }
    }
    // fan-out, overlap within a site, offsets
    const spansOf = new Map<string, [number, number]>()
    for (const [site, list] of byChildSite) {
      const cst = siteOf(site, inv.site, invs[list[0]])
      cst.fanout[Math.min(list.length, MAX_FANOUT)] += w
      let lo = Infinity
      let hi = -Infinity
      for (const c of list) {
        cst.offsetMs += w * (invs[c].callStart - inv.start)
        lo = Math.min(lo, invs[c].callStart)
        hi = Math.max(hi, invs[c].callEnd)
      }
      spansOf.set(site, [lo, hi])
      if (list.length >= 2) {
        const sorted = [...list].sort((a, b) => invs[a].callStart - invs[b].callStart)
        let overlapped = false
        for (let k = 1; k < sorted.length && !overlapped; k++) {
          const prev = invs[sorted[k - 1]]
          const cur = invs[sorted[k]]
          if (
            cur.callStart <
            prev.callEnd - 0.1 * Math.min(prev.callEnd - prev.callStart, cur.callEnd - cur.callStart)
          )
            overlapped = true
        }
        if (overlapped) cst.fanParallel += w
        else cst.fanSequential += w
      }
    }
    const sites = [...spansOf.keys()].sort()
    for (let a = 0; a < sites.length; a++)
      for (let b = a + 1; b < sites.length; b++) {
        const [a0, a1] = spansOf.get(sites[a]) as [number, number]
        const [b0, b1] = spansOf.get(sites[b]) as [number, number]
        const shorter = Math.max(1e-6, Math.min(a1 - a0, b1 - b0))
        const key = `${sites[a]}\n${sites[b]}`
        const pr = st.pairs.get(key) ?? [0, 0]
        pr[0] += w
        if (overlapMs(a0, a1, b0, b1) >= 0.5 * shorter) pr[1] += w
        st.pairs.set(key, pr)
      }
  }
  // where failures began
  if (summary.failed) {
    const origins = errorOrigins(tree)
    const sitesHit: string[] = []
    for (const o of origins) {
      const inv = invs[invOf[o]]
      let site = inv.site
      if (inv.service === GATEWAY_SERVICE) site = entry.site // the upstream did not answer in time
      if (site !== '') sitesHit.push(site)
    }
    // client spans failing with no span under them count at their peer's site
    for (let i = 0; i < sitesHit.length; i++) {
      const st = rw.sites.get(sitesHit[i])
      if (st !== undefined) st.origins += w / sitesHit.length
    }
    if (sitesHit.length === 0) {
      const st = rw.sites.get(entry.site)
      if (st !== undefined) st.origins += w
    }
  }
  // critical path: each site's time on it
  const cp = criticalPath(tree)
  const onPath = new Map<string, number>()
  for (const seg of cp) {
    const inv = invs[invOf[seg.index]]
    const site = inv.service === GATEWAY_SERVICE ? '' : inv.site
    if (site === '') continue
    onPath.set(site, (onPath.get(site) ?? 0) + (seg.endMs - seg.startMs))
  }
  for (const [site, ms] of onPath) {
    const st = rw.sites.get(site)
    if (st === undefined) continue
    st.cpTraces += w
    st.cpMs += w * ms
  }
  return summary
}

/**
 * Kish's effective sample size of weighted observations, (Σw)² / Σw²: the number of equally
 * weighted observations that would be as informative. Every weight is at least 1 (one over a
 * keep probability), so Σw² ≤ Σw only when every weight is 1: then Σw itself, to the bit.
 */
export function effectiveSize(sum: number, squares: number): number {
  if (!(sum > 0) || !(squares > 0)) return 0
  return squares <= sum ? sum : (sum * sum) / squares
}

/**
 * How many equally weighted observations a weighted share (hits / all) is worth: the n whose
 * binomial variance p(1 − p) / n is the share's, each outcome's weighted count taken as a Poisson
 * count scaled by its keep rate (as in the model's own failure posterior):
 * 1 / (p(1 − p)(1 / hits' effective size + 1 / misses' effective size)). `all` itself when every
 * weight is 1; Kish's size of all the observations when one outcome was never seen.
 */
export function effectiveShareSize(
  hits: number,
  hitSquares: number,
  all: number,
  allSquares: number,
): number {
  if (allSquares <= all) return all
  const hitSize = effectiveSize(hits, hitSquares)
  const missSize = effectiveSize(all - hits, allSquares - hitSquares)
  if (hitSize <= 0 || missSize <= 0) return effectiveSize(all, allSquares)
  const p = hits / all
  return Math.min(all, 1 / (p * (1 - p) * (1 / hitSize + 1 / missSize)))
}

function parentKeyOf(site: string): string {
  const i = site.lastIndexOf('>')
  return i < 0 ? '' : site.slice(0, i)
}

/** Merges `src` into `dst` (same route; windows combine). */
export function mergeRouteWindow(dst: RouteWindowStats, src: RouteWindowStats): void {
  dst.traces += src.traces
  dst.gatewayOnly += src.gatewayOnly
  dst.failures += src.failures
  dst.traceSquares += src.traceSquares
  dst.failureSquares += src.failureSquares
  if (src.latency.count > 0) dst.latency.merge(src.latency)
  if (src.gatewayOverhead.count > 0) dst.gatewayOverhead.merge(src.gatewayOverhead)
  dst.gatewaySpans += src.gatewaySpans
  dst.gatewayAttempts += src.gatewayAttempts
  dst.refused += src.refused
  for (const [key, s] of src.sites) {
    let d = dst.sites.get(key)
    if (d === undefined) {
      d = newSite(key, s.parentKey, s.service, s.env)
      dst.sites.set(key, d)
    }
    d.calls += s.calls
    d.errors += s.errors
    d.ownErrors += s.ownErrors
    d.callSquares += s.callSquares
    d.ownErrorSquares += s.ownErrorSquares
    d.cleanSquares += s.cleanSquares
    d.childFailed += s.childFailed
    d.propagated += s.propagated
    d.origins += s.origins
    if (s.self.count > 0) d.self.merge(s.self)
    if (s.duration.count > 0) d.duration.merge(s.duration)
    d.cpTraces += s.cpTraces
    d.cpMs += s.cpMs
    for (let k = 0; k <= MAX_FANOUT; k++) d.fanout[k] += s.fanout[k]
    d.fanParallel += s.fanParallel
    d.fanSequential += s.fanSequential
    d.offsetMs += s.offsetMs
    for (const [pk, [a, b]] of s.pairs) {
      const pr = d.pairs.get(pk) ?? [0, 0]
      pr[0] += a
      pr[1] += b
      d.pairs.set(pk, pr)
    }
    for (const [code, c] of s.failStatus) d.failStatus.set(code, (d.failStatus.get(code) ?? 0) + c)
  }
}

/** The merge of several windows of one route (a new object; the inputs are not changed). */
export function mergeRouteWindows(
  route: string,
  windows: readonly RouteWindowStats[],
  fromMs: number,
  toMs: number,
): RouteWindowStats {
  const out = newRouteWindow(route, fromMs, toMs - fromMs)
  for (const w of windows) mergeRouteWindow(out, w)
  return out
}

/** Per service (node) on a route's critical path: how often it sits on it and its share of the path's time. */
export interface CriticalShare {
  service: string
  env: string
  /** share of the route's traces in which the service was on the critical path */
  onPathRatio: number
  /** share of the critical path's total time that was the service's own work */
  latencyShare: number
  /** mean time on the critical path per trace, ms */
  meanMs: number
}

/**
 * Who sits on a route's critical path (services, most time first). A service never on it is left
 * out: for a route whose services send no spans that is every one (only the gateway's span is
 * seen), and the list is empty rather than naming the service at 0 %.
 */
export function criticalShares(rw: RouteWindowStats): CriticalShare[] {
  const by = new Map<string, { service: string; env: string; traces: number; ms: number }>()
  let total = 0
  for (const s of rw.sites.values()) {
    const id = nodeId(s.service, s.env)
    const e = by.get(id) ?? { service: s.service, env: s.env, traces: 0, ms: 0 }
    e.traces = Math.max(e.traces, s.cpTraces)
    e.ms += s.cpMs
    total += s.cpMs
    by.set(id, e)
  }
  return [...by.values()]
    .filter((e) => e.traces > 0)
    .map((e) => ({
      service: e.service,
      env: e.env,
      onPathRatio: rw.traces > 0 ? Math.min(1, e.traces / rw.traces) : 0,
      latencyShare: total > 0 ? e.ms / total : 0,
      meanMs: rw.traces > 0 ? e.ms / rw.traces : 0,
    }))
    .sort((a, b) => b.latencyShare - a.latencyShare)
}
