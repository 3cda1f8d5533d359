/**
 * @module The live service graph: nodes `{service, env}`, edges = calls from one node to another,
 * each with calls, errors and a latency sketch (DDSketch, 1 % relative accuracy) per window.
 * Built as spans arrive (no batch job); a service nobody declared appears with its first span.
 *
 * ```
 * addCall(from, to, at, ms, error) ─▶ window[at] ─▶ edge stats ──┐
 * addNode(node, at, ms, error)     ─▶ window[at] ─▶ node stats ──┴▶ rows(from, to) ─▶ graphView
 *                                        └─ takeClosed(before): rows of finished windows (to store)
 * ```
 * Windows older than `maxWindows` are forgotten (the store keeps them); a window holds at most
 * `maxEdges` edges and nodes, beyond which new ones are dropped and counted.
 */
import { DDSketch } from '@datadog/sketches-js'
import { parseNodeId } from './span.js'

/** Relative accuracy of every sketch the journeys library makes (the telemetry's too). */
export const SKETCH_ACCURACY = 0.01

export function newSketch(): DDSketch {
  return new DDSketch({ relativeAccuracy: SKETCH_ACCURACY })
}

/** Quantile of a sketch, null when it is empty. */
export function sketchQuantile(s: DDSketch, q: number): number | null {
  return s.count === 0 ? null : s.getValueAtQuantile(q)
}

/**
 * One node or edge of one window. `from` is '' for a node row (the node is `to`): the requests a
 * service served (its server spans), their errors and latency. An edge row counts calls `from`
 * made to `to`, with the latency the caller saw (its client span, else the callee's server span).
 */
export interface GraphRow {
  windowStartMs: number
  windowMs: number
  from: string
  to: string
  calls: number
  errors: number
  latency: DDSketch
}

interface Window {
  rows: Map<string, GraphRow>
  taken: boolean
}

export interface ServiceGraphOptions {
  windowMs: number
  /** windows kept in memory; default 360 (an hour of 10 s windows) */
  maxWindows?: number
  /** nodes + edges per window; default 10,000 */
  maxRows?: number
}

export interface GraphCounters {
  /** calls and node spans counted */
  added: number
  /** dropped: their window was already forgotten */
  late: number
  /** dropped: the window had maxRows nodes and edges */
  overflow: number
}

export class ServiceGraph {
  readonly windowMs: number
  readonly #maxWindows: number
  readonly #maxRows: number
  readonly #windows = new Map<number, Window>()
  #newest = -Infinity
  readonly #firstSeen = new Map<string, number>()
  readonly counters: GraphCounters = { added: 0, late: 0, overflow: 0 }

  constructor(opts: ServiceGraphOptions) {
    if (!(opts.windowMs > 0)) throw new RangeError('windowMs must be > 0')
    this.windowMs = opts.windowMs
    this.#maxWindows = opts.maxWindows ?? 360
    this.#maxRows = opts.maxRows ?? 10_000
  }

  /** A call from node `from` to node `to` that started at `atMs` and took `latencyMs`. */
  addCall(from: string, to: string, atMs: number, latencyMs: number, error: boolean, weight = 1): void {
    this.#add(from, to, atMs, latencyMs, error, weight)
  }

  /** A request node `node` served (a server span, or a root span) at `atMs`. */
  addNode(node: string, atMs: number, latencyMs: number, error: boolean, weight = 1): void {
    this.#add('', node, atMs, latencyMs, error, weight)
  }

  /**
   * Adds a whole row at once (the gateway's rollups for its edges: exact counts and sketch).
   * The sketch is merged, not kept.
   */
  addRow(from: string, to: string, atMs: number, calls: number, errors: number, latency: DDSketch): void {
    const row = this.#row(from, to, atMs)
    if (row === null) return
    row.calls += calls
    row.errors += errors
    if (latency.count > 0) row.latency.merge(latency)
    this.counters.added += calls
  }

  #add(from: string, to: string, atMs: number, latencyMs: number, error: boolean, weight: number): void {
    const row = this.#row(from, to, atMs)
    if (row === null) return
    row.calls += weight
    if (error) row.errors += weight
    row.latency.accept(latencyMs > 0 ? latencyMs : 0, weight)
    this.counters.added++
  }

  #row(from: string, to: string, atMs: number): GraphRow | null {
    const w = this.windowMs
    const start = atMs - (((atMs % w) + w) % w)
    if (start > this.#newest) {
      this.#newest = start
      const oldest = start - (this.#maxWindows - 1) * w
      for (const k of this.#windows.keys()) if (k < oldest) this.#windows.delete(k)
    } else if (start < this.#newest - (this.#maxWindows - 1) * w) {
      this.counters.late++
      return null
    }
    let win = this.#windows.get(start)
    if (win === undefined) {
      win = { rows: new Map(), taken: false }
      this.#windows.set(start, win)
    }
    const key = `${from}\n${to}`
    let row = win.rows.get(key)
    if (row === undefined) {
      if (win.rows.size >= this.#maxRows) {
        this.counters.overflow++
        return null
      }
      row = { windowStartMs: start, windowMs: w, from, to, calls: 0, errors: 0, latency: newSketch() }
      win.rows.set(key, row)
      if (from !== '' && !this.#firstSeen.has(from)) this.#firstSeen.set(from, start)
      if (!this.#firstSeen.has(to)) this.#firstSeen.set(to, start)
    }
    return row
  }

  /** Rows of the windows that start in [fromMs, toMs), oldest first (shared: do not modify). */
  rows(fromMs: number, toMs: number): GraphRow[] {
    const out: GraphRow[] = []
    const starts = [...this.#windows.keys()].filter((s) => s >= fromMs && s < toMs).sort((a, b) => a - b)
    for (const s of starts) for (const r of (this.#windows.get(s) as Window).rows.values()) out.push(r)
    return out
  }

  /** Start of the oldest window in memory (Infinity when none). */
  oldestWindowMs(): number {
    let m = Infinity
    for (const k of this.#windows.keys()) m = Math.min(m, k)
    return m
  }

  /**
   * Rows of the windows that ended at or before `beforeMs` and were not taken yet, to persist.
   * A window is taken once; rows added to it later are still served from memory.
   */
  takeClosed(beforeMs: number): GraphRow[] {
    const out: GraphRow[] = []
    for (const [start, win] of this.#windows) {
      if (win.taken || start + this.windowMs > beforeMs) continue
      win.taken = true
      for (const r of win.rows.values()) out.push(r)
    }
    return out
  }

  /** When each node was first seen (start of its first window in memory). */
  firstSeen(node: string): number | null {
    return this.#firstSeen.get(node) ?? null
  }

  /** Every node id seen since start. */
  nodes(): string[] {
    return [...this.#firstSeen.keys()]
  }
}

export interface GraphNodeView {
  /** `service|env` */
  id: string
  service: string
  env: string
  /** requests the node served (its server spans; for a service that sends no spans, the calls it received) */
  requests: number
  ratePerSec: number
  errorRatio: number
  /** latency of the requests it served, ms (null without data) */
  p50: number | null
  p95: number | null
  p99: number | null
  /** start of the first window the node appeared in, ms since the epoch */
  firstSeenMs: number
  lastSeenMs: number
}

export interface GraphEdgeView {
  /** `from->to` */
  id: string
  from: string
  to: string
  calls: number
  ratePerSec: number
  errorRatio: number
  p50: number | null
  p95: number | null
  p99: number | null
}

export interface GraphView {
  fromMs: number
  toMs: number
  windowMs: number
  nodes: GraphNodeView[]
  edges: GraphEdgeView[]
}

interface Acc {
  calls: number
  errors: number
  latency: DDSketch
  first: number
  last: number
}

/** Merges rows (from memory, the store, or both; duplicates of a window must not be passed twice) over [fromMs, toMs). */
export function graphView(
  rows: readonly GraphRow[],
  fromMs: number,
  toMs: number,
  windowMs: number,
  firstSeen?: (node: string) => number | null,
): GraphView {
  const nodes = new Map<string, Acc>()
  const edges = new Map<string, Acc & { from: string; to: string }>()
  const acc = <T extends Acc>(m: Map<string, T>, key: string, make: () => T, r: GraphRow) => {
    let a = m.get(key)
    if (a === undefined) {
      a = make()
      m.set(key, a)
    }
    a.calls += r.calls
    a.errors += r.errors
    if (r.latency.count > 0) a.latency.merge(r.latency)
    a.first = Math.min(a.first, r.windowStartMs)
    a.last = Math.max(a.last, r.windowStartMs + r.windowMs)
    return a
  }
  const blank = (): Acc => ({ calls: 0, errors: 0, latency: newSketch(), first: Infinity, last: -Infinity })
  const incoming = new Map<string, Acc>()
  for (const r of rows) {
    if (r.windowStartMs < fromMs || r.windowStartMs >= toMs) continue
    if (r.from === '') acc(nodes, r.to, blank, r)
    else {
      acc(edges, `${r.from}->${r.to}`, () => ({ ...blank(), from: r.from, to: r.to }), r)
      acc(incoming, r.to, blank, r)
      if (!nodes.has(r.from))
        nodes.set(r.from, { ...blank(), first: r.windowStartMs, last: r.windowStartMs + r.windowMs })
    }
  }
  for (const [id, a] of incoming) if (!nodes.has(id)) nodes.set(id, a)
  const seconds = Math.max(1e-9, (toMs - fromMs) / 1000)
  const q = (s: DDSketch, p: number) => sketchQuantile(s, p)
  const nodeViews: GraphNodeView[] = [...nodes.entries()].map(([id, a]) => {
    const { service, env } = parseNodeId(id)
    const seen = firstSeen?.(id) ?? null
    return {
      id,
      service,
      env,
      requests: a.calls,
      ratePerSec: a.calls / seconds,
      errorRatio: a.calls > 0 ? a.errors / a.calls : 0,
      p50: q(a.latency, 0.5),
      p95: q(a.latency, 0.95),
      p99: q(a.latency, 0.99),
      firstSeenMs: seen === null ? a.first : Math.min(seen, a.first),
      lastSeenMs: a.last,
    }
  })
  const edgeViews: GraphEdgeView[] = [...edges.entries()].map(([id, a]) => ({
    id,
    from: a.from,
    to: a.to,
    calls: a.calls,
    ratePerSec: a.calls / seconds,
    errorRatio: a.calls > 0 ? a.errors / a.calls : 0,
    p50: q(a.latency, 0.5),
    p95: q(a.latency, 0.95),
    p99: q(a.latency, 0.99),
  }))
  nodeViews.sort((a, b) => (a.id < b.id ? -1 : 1))
  edgeViews.sort((a, b) => (a.id < b.id ? -1 : 1))
  return { fromMs, toMs, windowMs, nodes: nodeViews, edges: edgeViews }
}
