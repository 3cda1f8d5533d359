/**
 * @module Trace assembly: spans of one trace (from the gateway and from any service over OTLP) into
 * a tree, repaired where the input is broken, with its critical path.
 *
 * Broken input is repaired and counted, never fatal:
 * - a span sent twice (same span id): the first is kept (`duplicates`);
 * - a parent that is not in the trace: the span is shown as a root (`missingParents`);
 * - parent links that loop (a → b → a, or a span its own parent): the loop is cut by making one
 *   span a root (`cycles`);
 * - a child that starts before its parent (clocks of two hosts disagree): the child's subtree is
 *   shifted into the parent, centred when it fits (Jaeger's clock-skew adjuster), else aligned to
 *   the parent's start (`skewAdjusted`; the shift is reported per span).
 *
 * The critical path (the chain of work that decided the trace's end-to-end latency) walks back
 * from the root's end: the child that finished last before the cursor is on the path, the parent's
 * time not covered by it is the parent's own, then the cursor moves to that child's start.
 *
 * A trace whose gateway span says the client abandoned the request (499, `client_abort`) is
 * flagged as such; its spans that failed without an HTTP status are `aborted` (the gateway closed
 * their connection), not errors, and only a 5xx answer counts as an error (see
 * {@link failedBeforeAbandoned}), as in the service graph.
 *
 * A trace whose gateway span says the gateway answered by itself (`vigil.attempts` 0: a 429, a 413,
 * a 503 with no healthy target) carries a note saying the request never reached the service.
 */
import {
  GATEWAY_SERVICE,
  answeredByGateway,
  failedIn,
  isAbandoned,
  isErrorSpan,
  spanService,
  type JourneySpan,
} from './span.js'

export interface TraceProblems {
  /** spans whose parent is not in the trace (shown as roots) */
  missingParents: number
  /** parent links that closed a loop (each cut by making one span a root) */
  cycles: number
  /** children that started before their parent, shifted into it (clock skew) */
  skewAdjusted: number
  /** spans received more than once with the same id (the first is kept) */
  duplicates: number
}

/** A trace as a tree over its distinct spans (index = position in `spans`). */
export interface TraceTree {
  readonly spans: readonly JourneySpan[]
  /** parent index, -1 for a root */
  readonly parent: readonly number[]
  /** children of each span, ordered by (adjusted) start */
  readonly children: readonly (readonly number[])[]
  /** start after the clock-skew adjustment, ms since the epoch */
  readonly start: readonly number[]
  /** roots ordered by start */
  readonly roots: readonly number[]
  /** the root the trace is read from: a span without a parent id, else the longest root */
  readonly main: number
  readonly problems: TraceProblems
}

/** Nesting deeper than this is cut (the critical path stops descending); real traces are far shallower. */
const MAX_DEPTH = 512
/** traces up to this many spans are indexed by scanning */
const SMALL_TRACE = 24

export function emptyProblems(): TraceProblems {
  return { missingParents: 0, cycles: 0, skewAdjusted: 0, duplicates: 0 }
}

/**
 * Builds the tree of one trace's spans.
 * @param isExpectedRoot a span whose parent is missing but expected to be (e.g. the entry
 *   service's span when the gateway's span was not sampled) is a root without counting a problem
 */
export function buildTree(
  input: readonly JourneySpan[],
  isExpectedRoot?: (s: JourneySpan) => boolean,
): TraceTree {
  const problems = emptyProblems()
  const spans: JourneySpan[] = []
  // small traces (most of them) look ids up by a scan; a Map costs more to build than to use there
  const small = input.length <= SMALL_TRACE
  const index = small ? null : new Map<string, number>()
  const find = (id: string): number => {
    if (index !== null) return index.get(id) ?? -1
    for (let k = 0; k < spans.length; k++) if (spans[k].spanId === id) return k
    return -1
  }
  for (const s of input) {
    if (find(s.spanId) !== -1) {
      problems.duplicates++
      continue
    }
    index?.set(s.spanId, spans.length)
    spans.push(s)
  }
  const n = spans.length
  // plain arrays: traces are small, and a typed array costs more to make than to use here
  const parent = new Array<number>(n).fill(-1)
  for (let i = 0; i < n; i++) {
    const pid = spans[i].parentSpanId
    if (pid === null || pid === '') continue
    const p = find(pid)
    if (p === -1) {
      if (isExpectedRoot === undefined || !isExpectedRoot(spans[i])) problems.missingParents++
    } else if (p === i) problems.cycles++
    else parent[i] = p
  }
  // cut loops: walk up from every span; meeting a span of the current walk is a loop
  const state = new Array<number>(n).fill(0) // 0 unvisited, 1 on the current walk, 2 done
  const path: number[] = []
  for (let i = 0; i < n; i++) {
    if (state[i] !== 0) continue
    path.length = 0
    let j = i
    while (j !== -1 && state[j] === 0) {
      state[j] = 1
      path.push(j)
      j = parent[j]
    }
    if (j !== -1 && state[j] === 1) {
      parent[j] = -1
      problems.cycles++
    }
    for (const p of path) state[p] = 2
  }
  const children: number[][] = new Array<number[]>(n)
  for (let i = 0; i < n; i++) children[i] = []
  const roots: number[] = []
  for (let i = 0; i < n; i++) {
    const p = parent[i]
    if (p === -1) roots.push(i)
    else children[p].push(i)
  }
  const start = new Array<number>(n)
  for (let i = 0; i < n; i++) start[i] = spans[i].startTimeMs
  // clock skew, top down: a shifted parent carries its subtree along
  const shift = new Array<number>(n).fill(0)
  const stack: number[] = roots.slice()
  while (stack.length > 0) {
    const p = stack.pop() as number
    const kids = children[p]
    const ps = start[p]
    const pd = spans[p].durationMs
    for (const c of kids) {
      start[c] += shift[p]
      shift[c] = shift[p]
      if (start[c] < ps) {
        const cd = spans[c].durationMs
        const target = cd <= pd ? ps + (pd - cd) / 2 : ps
        shift[c] += target - start[c]
        start[c] = target
        problems.skewAdjusted++
      }
      stack.push(c)
    }
  }
  const byStart = (a: number, b: number) =>
    start[a] - start[b] || (spans[a].spanId < spans[b].spanId ? -1 : 1)
  for (const kids of children) if (kids.length > 1) kids.sort(byStart)
  roots.sort(byStart)
  let main = -1
  for (const r of roots)
    if (spans[r].parentSpanId === null || spans[r].parentSpanId === '') {
      main = r
      break
    }
  if (main === -1)
    for (const r of roots) if (main === -1 || spans[r].durationMs > spans[main].durationMs) main = r
  return { spans, parent, children, start, roots, main, problems }
}

/** One piece of the critical path: span `index` was the work that mattered in [startMs, endMs). */
export interface CriticalSegment {
  index: number
  startMs: number
  endMs: number
}

/** The critical path under `root` (default the main root), in time order. */
export function criticalPath(tree: TraceTree, root = tree.main): CriticalSegment[] {
  const out: CriticalSegment[] = []
  if (root < 0) return out
  const { spans, children, start } = tree
  const walk = (i: number, endBound: number, depth: number): void => {
    const s = start[i]
    let cursor = Math.min(s + spans[i].durationMs, endBound)
    const kids = children[i]
    if (kids.length > 0 && depth < MAX_DEPTH) {
      const byEnd = kids.length === 1 ? kids : [...kids].sort((a, b) => endOf(b) - endOf(a))
      for (const k of byEnd) {
        if (cursor <= s) break
        const ks = start[k]
        if (ks >= cursor) continue
        const kEnd = Math.min(endOf(k), cursor)
        if (kEnd < cursor) out.push({ index: i, startMs: kEnd, endMs: cursor })
        walk(k, kEnd, depth + 1)
        cursor = Math.max(ks, s)
      }
    }
    if (cursor > s) out.push({ index: i, startMs: s, endMs: cursor })
  }
  const endOf = (k: number) => start[k] + spans[k].durationMs
  walk(root, Infinity, 0)
  return out.reverse()
}

/**
 * The spans where the trace's failures began: failing spans none of whose descendants failed
 * (the deepest failing span of each failing branch).
 */
export function errorOrigins(tree: TraceTree): number[] {
  const { spans, parent } = tree
  const n = spans.length
  const failedBelow = new Array<number>(n).fill(0)
  for (let i = 0; i < n; i++) {
    if (!isErrorSpan(spans[i])) continue
    // mark every ancestor: it has a failing descendant, so it is not an origin
    let p = parent[i]
    let guard = 0
    while (p !== -1 && failedBelow[p] === 0 && guard++ < MAX_DEPTH) {
      failedBelow[p] = 1
      p = parent[p]
    }
  }
  const out: number[] = []
  for (let i = 0; i < n; i++) if (failedBelow[i] === 0 && isErrorSpan(spans[i])) out.push(i)
  return out
}

/** The trace's main root is the gateway's span of a request the client abandoned. */
export function isAbandonedTrace(tree: TraceTree): boolean {
  const main = tree.main >= 0 ? tree.spans[tree.main] : null
  return main !== null && spanService(main) === GATEWAY_SERVICE && isAbandoned(main)
}

/**
 * The trace's main root is the gateway's span of a request it answered by itself, without sending
 * it upstream ({@link answeredByGateway}).
 */
export function isAnsweredByGatewayTrace(tree: TraceTree): boolean {
  const main = tree.main >= 0 ? tree.spans[tree.main] : null
  return main !== null && answeredByGateway(main)
}

/** A span as the waterfall shows it. */
export interface WaterfallSpan {
  spanId: string
  parentSpanId: string | null
  /** the service whose work the span is (`vigil` for the gateway's own spans) */
  service: string
  env: string
  /**
   * for the gateway's spans: the service of its route, which it proxied to unless it answered by
   * itself (`vigil.attempts` 0); null for other spans
   */
  upstream: string | null
  name: string
  kind: number
  source: 'gateway' | 'otlp'
  /** start after clock-skew adjustment, ms since the epoch */
  startMs: number
  /** start relative to the trace's start, ms */
  offsetMs: number
  durationMs: number
  /**
   * `aborted`: in a trace the client abandoned, the gateway's span and the spans that failed
   * without an HTTP status (their connection was closed under them); not an error
   */
  status: 'ok' | 'error' | 'unset' | 'aborted'
  httpStatus: number | null
  /** 0 for roots */
  depth: number
  /** how far the span was moved to fit its parent (clock skew), ms; 0 when not */
  skewMs: number
  /** time of this span on the critical path, ms (0 when it is not on it) */
  criticalMs: number
  /** the parent was not in the trace (shown as a root) */
  orphan: boolean
  requestId: string | null
  route: string
  attributes: Readonly<Record<string, string | number | boolean>>
}

export interface Waterfall {
  traceId: string
  requestId: string | null
  /** the gateway route the trace entered by ('' when no gateway span is in it) */
  route: string
  startMs: number
  durationMs: number
  spanCount: number
  /** spans with status `error` (in an abandoned trace: those answered with a 5xx) */
  errorCount: number
  /** the client closed its connection before the answer (the gateway answered 499) */
  abandoned: boolean
  /** how the request ended, for people, when the spans alone would mislead (null otherwise) */
  note: string | null
  services: string[]
  envs: string[]
  problems: TraceProblems
  /** depth-first, children by start */
  spans: WaterfallSpan[]
  /** critical path in time order; `spanId` names the span whose own work it was */
  criticalPath: { spanId: string; service: string; env: string; startMs: number; durationMs: number }[]
}

const ABANDONED_NOTE =
  'the client closed the connection before the answer (499): spans that failed without an HTTP ' +
  'status were cut off by it, not failures of their services'

const answeredNote = (gw: JourneySpan) =>
  `the gateway answered by itself${gw.httpStatus !== null ? ` (${gw.httpStatus})` : ''} and did not ` +
  `send the request to ${gw.service}`

function statusOf(s: JourneySpan, abandoned: boolean): WaterfallSpan['status'] {
  if (failedIn(abandoned)(s)) return 'error'
  // in an abandoned trace, a 4xx with error status was answered, so the closed connection did not
  // end it; by the graph's rule it is no error either
  if (abandoned && ((isErrorSpan(s) && s.httpStatus === null) || (s.source === 'gateway' && isAbandoned(s))))
    return 'aborted'
  return s.statusCode === 1 || (s.httpStatus !== null && s.httpStatus > 0) ? 'ok' : 'unset'
}

/** How a trace reads in a list of traces: the verdicts of its waterfall, without the waterfall. */
export interface TraceReading {
  /** the client closed its connection before the answer ({@link isAbandonedTrace}) */
  abandoned: boolean
  /** a span of the trace failed: the waterfall shows it as `error` and counts it in `errorCount` */
  failed(s: Pick<JourneySpan, 'statusCode' | 'httpStatus'>): boolean
}

/**
 * Reads a trace's spans as {@link waterfall} does: whether the client abandoned it, and which of
 * its spans failed (in an abandoned trace only those answered with a 5xx).
 * @example readTrace(spans).abandoned // true when the main span is the gateway's 499
 */
export function readTrace(spans: readonly JourneySpan[]): TraceReading {
  const abandoned = isAbandonedTrace(buildTree(spans))
  return { abandoned, failed: failedIn(abandoned) }
}

/** The waterfall of one trace (spans of one trace id; empty input gives an empty trace). */
export function waterfall(
  traceId: string,
  input: readonly JourneySpan[],
  isExpectedRoot?: (s: JourneySpan) => boolean,
): Waterfall {
  const tree = buildTree(input, isExpectedRoot)
  const { spans, children, start, roots } = tree
  const critical = criticalPath(tree)
  const abandoned = isAbandonedTrace(tree)
  const criticalMs = new Float64Array(spans.length)
  for (const seg of critical) criticalMs[seg.index] += seg.endMs - seg.startMs
  let t0 = Infinity
  let t1 = -Infinity
  for (let i = 0; i < spans.length; i++) {
    t0 = Math.min(t0, start[i])
    t1 = Math.max(t1, start[i] + spans[i].durationMs)
  }
  if (spans.length === 0) t0 = t1 = 0
  const out: WaterfallSpan[] = []
  const visit = (i: number, depth: number) => {
    const s = spans[i]
    out.push({
      spanId: s.spanId,
      parentSpanId: s.parentSpanId,
      service: spanService(s),
      env: s.env,
      upstream: s.source === 'gateway' ? s.service : null,
      name: s.name,
      kind: s.kind,
      source: s.source,
      startMs: start[i],
      offsetMs: start[i] - t0,
      durationMs: s.durationMs,
      status: statusOf(s, abandoned),
      httpStatus: s.httpStatus,
      depth,
      skewMs: start[i] - s.startTimeMs,
      criticalMs: criticalMs[i],
      orphan: tree.parent[i] === -1 && s.parentSpanId !== null && s.parentSpanId !== '',
      requestId: s.requestId,
      route: s.route,
      attributes: s.attributes,
    })
  }
  // explicit stack: a 10,000-span chain must not overflow the call stack
  const stack: [number, number][] = []
  for (let r = roots.length - 1; r >= 0; r--) stack.push([roots[r], 0])
  while (stack.length > 0) {
    const [i, d] = stack.pop() as [number, number]
    visit(i, d)
    const kids = children[i]
    for (let k = kids.length - 1; k >= 0; k--) stack.push([kids[k], d + 1])
  }
  const gw = spans.find((s) => s.source === 'gateway')
  const rid = gw?.requestId ?? spans.find((s) => s.requestId !== null)?.requestId ?? null
  return {
    traceId,
    requestId: rid,
    route: gw?.route ?? '',
    startMs: t0,
    durationMs: t1 - t0,
    spanCount: spans.length,
    errorCount: out.reduce((n, s) => n + (s.status === 'error' ? 1 : 0), 0),
    abandoned,
    note: abandoned ? ABANDONED_NOTE : isAnsweredByGatewayTrace(tree) ? answeredNote(spans[tree.main]) : null,
    services: [...new Set(spans.map(spanService))].sort(),
    envs: [...new Set(spans.map((s) => s.env))].sort(),
    problems: tree.problems,
    spans: out,
    criticalPath: critical.map((c) => ({
      spanId: spans[c.index].spanId,
      service: spanService(spans[c.index]),
      env: spans[c.index].env,
      startMs: c.startMs,
      durationMs: c.endMs - c.startMs,
    })),
  }
}
