/**
 * @module Live anomaly detection: a window hook that runs the detector bank (`SeriesEnsemble`,
 * src/detect) on every series' rate, 5xx errors (binomial tail given the requests), p50/p95/p99
 * and 429 ratio, turns its hysteresis transitions into anomaly records (one incident: one
 * `anomaly.opened`, then one `anomaly.resolved`), emits them in process, stores them as Store
 * events and answers `GET /api/anomalies`.
 *
 * ```
 * window hook ─▶ bank per series (LRU, maxSeries) ─▶ raised / cleared
 *                  ▲ children: route points of this window (for {service, env}),      │
 *                  │           service points (for global)                             ▼
 *                                          open map ─▶ emitter 'anomaly' + store events (batched)
 * ```
 */
import { EventEmitter } from 'node:events'
import {
  ClientOutliers,
  SeriesEnsemble,
  type AnomalySignal,
  type ClientOutliersSnapshot,
  type ClientSignal,
  type ClientWindow,
  type ChildContribution,
  type DetectorSnapshot,
  type MetricPoint,
  type SeriesStep,
} from '../detect/index.js'
import type { EventQuery, StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import type { WindowClosedContext } from './control-plane.js'
import type { SeriesPoint } from './points.js'
import { ScoreRing, type ScoreHistory, type ScoreQuery, type ScoreSource } from './scores.js'
import { formatSeriesKey, seriesLevel } from './series-key.js'

export const ANOMALY_OPENED = 'anomaly.opened'
export const ANOMALY_RESOLVED = 'anomaly.resolved'

/** One anomaly (one incident on one metric of one series), as the API serves it. */
export interface AnomalyRecord {
  /** `<series key>#<metric>#<openedAtMs>` */
  id: string
  key: string
  series: SeriesKey
  /** `client`: an abusive client (key `client:<id>`, series `*|*|*`), from the limiters' client windows */
  level: 'route' | 'service' | 'global' | 'client'
  /**
   * rate, errors, p50, p95, p99, limitedRatio, joint (rate, error ratio and p95 together), or
   * client (observed/expected: the feature that stands out most; children: every such feature)
   */
  metric: string
  state: 'open' | 'resolved'
  /** start of the window that raised it */
  openedAtMs: number
  /** end of the window that cleared it */
  resolvedAtMs: number | null
  /** the explanation at the window that raised it */
  observed: number
  expected: number
  /** the expected band [low, high] */
  low: number
  high: number
  score: number
  /** the detector with the strongest evidence */
  detector: string
  /** calibrated −log10 p per detector */
  evidence: Readonly<Record<string, number>>
  /** for aggregate series: the children (routes, or {service, env} series) that contributed most */
  children: readonly ChildContribution[]
}

export interface AnomalyQuery {
  fromMs: number
  toMs: number
  service?: string
  env?: string
  state: 'open' | 'all'
}

/** What the anomalies API asks; implemented by LiveAnomalies and the embedded worker's client. */
export interface AnomalySource {
  anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]>
}

/** The part of the Store port this module uses. */
export interface AnomalyStore {
  appendEvents(events: readonly StoredEvent[]): Promise<void>
  queryEvents(q?: EventQuery): Promise<StoredEvent[]>
}

export interface LiveAnomaliesOptions {
  store?: AnomalyStore
  /** series with detector state (about 1.6 MB each); the least recently seen is evicted beyond it; default 1,000 */
  maxSeries?: number
  /** points of history per metric; default 512 */
  historySize?: number
  /** window length (for season snapping); default 10 s */
  stepMs?: number
  raiseAt?: number
  clearAt?: number
  clearAfter?: number
  seed?: number
  /** resolved anomalies kept in memory for queries without a store; default 1,000 */
  keepResolved?: number
  /** windows of scores and bands kept per series for the dashboard (84 bytes each); default 360, 0: none */
  scoreHistory?: number
  /** the process's start (epoch ms): a window it falls inside is partial and is not judged; default now */
  startedAtMs?: number
  onError?: (err: Error, what: string) => void
}

/** Detector input from a merged point; a window without requests sent upstream has no latency (NaN: not learned). */
export function toMetricPoint(p: SeriesPoint): MetricPoint {
  return {
    rate: p.ratePerSec,
    errorRatio: p.errorRatio,
    p50: p.p50 ?? Number.NaN,
    p95: p.p95 ?? Number.NaN,
    p99: p.p99 ?? Number.NaN,
    limitedRatio: p.limitedRatio,
    requests: p.count,
    errors: p.statusClass[4],
  }
}

/** Everything LiveAnomalies learned: plain data, safe for structuredClone and v8.serialize. */
export interface LiveAnomaliesSnapshot {
  version: 1
  /** least recently seen first */
  banks: [string, DetectorSnapshot][]
  open: [string, AnomalyRecord][]
  /** the abusive-client detector (absent before any client window) */
  clients?: ClientOutliersSnapshot
}

interface Children {
  startMs: number
  points: Record<string, MetricPoint>
}

const MAX_QUERY_EVENTS = 10_000
/** Clients with detector state at least (ClientOutliers evicts the least recently seen beyond it). */
const MAX_CLIENTS = 10_000

/**
 * Register `hook` with `ControlPlane.onWindowClosed`. Listen to `'anomaly'` events
 * (`(record, transition: 'opened' | 'resolved')`) to forward signals (the bus, alerts).
 *
 * The store writes route-level points of a window before their `{service, env}` and global
 * roll-ups (src/store/merge.ts), so when an aggregate point arrives its children of the same
 * window are already here for attribution.
 */
export class LiveAnomalies extends EventEmitter implements ScoreSource {
  readonly #o: Required<Omit<LiveAnomaliesOptions, 'store' | 'onError'>> &
    Pick<LiveAnomaliesOptions, 'store' | 'onError'>
  /** insertion order = recency (re-inserted on each point), so the first key is the LRU */
  readonly #banks = new Map<string, SeriesEnsemble>()
  readonly #scores = new Map<string, ScoreRing>()
  readonly #open = new Map<string, AnomalyRecord>()
  readonly #resolved: AnomalyRecord[] = []
  readonly #children = new Map<string, Children>()
  /** per series: the bank's expected value and band of each metric at its newest window (alert rules) */
  readonly #explained = new Map<string, SeriesStep['metrics']>()
  #clients: ClientOutliers | null = null
  #pending: StoredEvent[] = []
  #writing: Promise<void> = Promise.resolve()
  /** set by {@link closing}: windows that had not ended by then are partial */
  #closingAtMs = Infinity
  /** windows not judged because the process started or stopped inside them (`partial`) */
  readonly stats = { windows: 0, partial: 0, opened: 0, resolved: 0, evicted: 0, storeErrors: 0 }

  constructor(opts: LiveAnomaliesOptions = {}) {
    super()
    this.#o = {
      maxSeries: 1_000,
      historySize: 512,
      stepMs: 10_000,
      raiseAt: 0.5,
      clearAt: 0.3,
      clearAfter: 10,
      seed: 42,
      keepResolved: 1_000,
      scoreHistory: 360,
      startedAtMs: Date.now(),
      ...opts,
    }
  }

  /**
   * Call when the process begins to stop: the windows its gateways flush on the way out have not
   * ended, so they hold only part of a window's traffic; like the first window after a start,
   * they are not judged (a restart must not look like a traffic drop) and not learned.
   */
  closing(atMs = Date.now()): void {
    this.#closingAtMs = atMs
  }

  /** Series with detector state now. */
  get seriesCount(): number {
    return this.#banks.size
  }

  /** The window hook. Corrections (a late rollup replacing a point) are not fed again: the bank learned the window once. */
  readonly hook = (series: SeriesKey, point: SeriesPoint, ctx: WindowClosedContext): void => {
    if (ctx.correction) return
    const endMs = point.startMs + point.durationMs
    if ((point.startMs < this.#o.startedAtMs && endMs > this.#o.startedAtMs) || endMs > this.#closingAtMs) {
      this.stats.partial++
      return
    }
    this.stats.windows++
    const key = formatSeriesKey(series)
    const level = seriesLevel(series)
    const metrics = toMetricPoint(point)
    if (level === 'route')
      this.#addChild(formatSeriesKey({ ...series, route: '*' }), key, point.startMs, metrics)
    else if (level === 'service') this.#addChild('*|*|*', key, point.startMs, metrics)
    const kids = this.#children.get(key)
    const children = level !== 'route' && kids?.startMs === point.startMs ? kids.points : undefined
    const step = this.#bank(key).step(metrics, children)
    this.#recordScores(key, point, step.score, step.metrics)
    this.#explained.set(key, step.metrics)
    for (const s of step.signals) this.#transition(key, series, level, point, s)
    if (this.#pending.length > 0) this.#flushSoon()
  }

  #recordScores(
    key: string,
    point: SeriesPoint,
    score: number,
    j: Readonly<Record<string, { score: number; expected: number; low: number; high: number }>>,
  ): void {
    const cap = this.#o.scoreHistory
    if (cap <= 0) return
    let ring = this.#scores.get(key)
    if (ring === undefined) this.#scores.set(key, (ring = new ScoreRing(cap)))
    const n = point.count
    const e = j.errors
    ring.push(point.startMs, score, {
      rate: j.rate,
      p50: j.p50,
      p95: j.p95,
      p99: j.p99,
      // the binomial tail judges counts; the dashboard draws ratios
      errorRatio:
        e !== undefined && n > 0
          ? { score: e.score, expected: e.expected / n, low: e.low / n, high: e.high / n }
          : undefined,
    })
  }

  /** Scores and bands of one series' recent windows (null: no detector state for it). */
  async scores(q: ScoreQuery): Promise<ScoreHistory | null> {
    return this.#scores.get(q.key)?.read(q.key, q.fromMs, q.toMs) ?? null
  }

  /**
   * One merged window of the limiters' per-client statistics (src/control/client-windows.ts):
   * scores every client against the client population and its own habits (ClientOutliers) and
   * opens or resolves `client` anomalies, stored and served like the series' ones.
   */
  clientWindow(w: { windowStartMs: number; windowMs: number; clients: readonly ClientWindow[] }): void {
    this.#clients ??= new ClientOutliers({
      seed: this.#o.seed,
      // a client's state is small (a few numbers): keep as many as series were ever allowed
      maxClients: Math.max(this.#o.maxSeries, MAX_CLIENTS),
      alarm: { raiseAt: this.#o.raiseAt, clearAt: this.#o.clearAt, clearAfter: this.#o.clearAfter },
    })
    const step = this.#clients.step(w.clients)
    for (const s of step.signals) this.#clientTransition(s, w.windowStartMs, w.windowMs)
    // a client dropped from the detector's state (beyond maxSeries clients) can no longer clear
    const active = new Set(this.#clients.active())
    for (const [id, r] of this.#open)
      if (r.level === 'client' && !active.has(r.key.slice('client:'.length)))
        this.#resolve(id, r, w.windowStartMs + w.windowMs)
    if (this.#pending.length > 0) this.#flushSoon()
  }

  #clientTransition(s: ClientSignal, startMs: number, durationMs: number): void {
    const key = `client:${s.clientId}`
    const openId = `${key}#client`
    if (s.state === 'cleared') {
      const r = this.#open.get(openId)
      if (r !== undefined) this.#resolve(openId, r, startMs + durationMs)
      return
    }
    const top = s.reasons[0]
    const total = s.reasons.reduce((a, r) => a + Math.max(0, r.z), 0)
    const r: AnomalyRecord = {
      id: `${openId}#${startMs}`,
      key,
      series: { service: '*', route: '*', env: '*' },
      level: 'client',
      metric: 'client',
      state: 'open',
      openedAtMs: startMs,
      resolvedAtMs: null,
      observed: top?.observed ?? 0,
      expected: top?.typical ?? 0,
      low: 0,
      high: top?.typical ?? 0,
      score: s.score,
      detector: 'client-outliers',
      evidence: { 'client-outliers': s.evidence },
      children: s.reasons.map((x) => ({
        key: x.feature,
        share: total > 0 ? Math.max(0, x.z) / total : 0,
        observed: x.observed,
        expected: x.typical,
      })),
    }
    this.#open.set(openId, r)
    this.stats.opened++
    this.#pending.push({ atMs: startMs, kind: ANOMALY_OPENED, actor: 'control', subject: key, payload: r })
    this.emit('anomaly', r, 'opened')
  }

  #addChild(parent: string, child: string, startMs: number, m: MetricPoint): void {
    let c = this.#children.get(parent)
    if (c === undefined || c.startMs !== startMs) {
      if (c === undefined && this.#children.size >= this.#o.maxSeries) {
        const oldest = this.#children.keys().next().value as string
        this.#children.delete(oldest)
      }
      c = { startMs, points: {} }
      this.#children.set(parent, c)
    }
    c.points[child] = m
  }

  #bank(key: string): SeriesEnsemble {
    let b = this.#banks.get(key)
    if (b !== undefined) {
      this.#banks.delete(key)
      this.#banks.set(key, b)
      return b
    }
    if (this.#banks.size >= this.#o.maxSeries) {
      const lru = this.#banks.keys().next().value as string
      this.#banks.delete(lru)
      this.#scores.delete(lru)
      this.#explained.delete(lru)
      this.stats.evicted++
      // its open anomalies can never clear now: resolve them rather than leave them open forever
      for (const [id, r] of this.#open) if (r.key === lru) this.#resolve(id, r, r.openedAtMs)
    }
    b = new SeriesEnsemble({
      seed: this.#o.seed,
      historySize: this.#o.historySize,
      stepMs: this.#o.stepMs,
      alarm: { raiseAt: this.#o.raiseAt, clearAt: this.#o.clearAt, clearAfter: this.#o.clearAfter },
    })
    this.#banks.set(key, b)
    return b
  }

  #transition(
    key: string,
    series: SeriesKey,
    level: AnomalyRecord['level'],
    point: SeriesPoint,
    s: AnomalySignal,
  ): void {
    const openId = `${key}#${s.metric}`
    if (s.state === 'raised') {
      const r: AnomalyRecord = {
        id: `${openId}#${point.startMs}`,
        key,
        series,
        level,
        metric: s.metric,
        state: 'open',
        openedAtMs: point.startMs,
        resolvedAtMs: null,
        observed: s.observed,
        expected: s.expected,
        low: s.low,
        high: s.high,
        score: s.score,
        detector: s.detector,
        evidence: s.evidence,
        children: s.children,
      }
      this.#open.set(openId, r)
      this.stats.opened++
      this.#pending.push({
        atMs: r.openedAtMs,
        kind: ANOMALY_OPENED,
        actor: 'control',
        subject: key,
        payload: r,
      })
      this.emit('anomaly', r, 'opened')
      return
    }
    const r = this.#open.get(openId)
    if (r !== undefined) this.#resolve(openId, r, point.startMs + point.durationMs)
  }

  #resolve(openId: string, open: AnomalyRecord, atMs: number): void {
    this.#open.delete(openId)
    const r: AnomalyRecord = { ...open, state: 'resolved', resolvedAtMs: atMs }
    this.#resolved.push(r)
    if (this.#resolved.length > this.#o.keepResolved) this.#resolved.shift()
    this.stats.resolved++
    this.#pending.push({
      atMs,
      kind: ANOMALY_RESOLVED,
      actor: 'control',
      subject: r.key,
      payload: { id: r.id, resolvedAtMs: atMs },
    })
    this.emit('anomaly', r, 'resolved')
  }

  #flushSoon(): void {
    const store = this.#o.store
    if (store === undefined) {
      this.#pending = []
      return
    }
    const batch = this.#pending
    this.#pending = []
    this.#writing = this.#writing.then(() =>
      store.appendEvents(batch).catch((err: Error) => {
        this.stats.storeErrors++
        this.#o.onError?.(err, 'anomaly events')
      }),
    )
  }

  /** Detector state of every series and the open anomalies, to continue after a restart. */
  snapshot(): LiveAnomaliesSnapshot {
    return {
      version: 1,
      banks: [...this.#banks].map(([k, b]) => [k, b.snapshot()]),
      open: [...this.#open].map(([k, r]) => [k, structuredClone(r)]),
      ...(this.#clients !== null ? { clients: this.#clients.snapshot() } : {}),
    }
  }

  /**
   * Continues from `snapshot()`: banks come back as they were (so no new warm-up), anomalies open
   * at the snapshot stay open and resolve once. Returns how many series were restored; a bank that
   * does not restore (another library version) is dropped and relearns.
   */
  restore(snap: LiveAnomaliesSnapshot): number {
    if (snap.version !== 1) return 0
    let n = 0
    for (const [key, b] of snap.banks.slice(-this.#o.maxSeries)) {
      try {
        this.#banks.set(key, SeriesEnsemble.restore(b))
        n++
      } catch (err) {
        this.#o.onError?.(err as Error, `restore detector state of ${key}`)
      }
    }
    if (snap.clients !== undefined)
      try {
        this.#clients = ClientOutliers.restore(snap.clients)
      } catch (err) {
        this.#o.onError?.(err as Error, 'restore the abusive-client detector')
      }
    for (const [id, r] of snap.open)
      if (this.#banks.has(r.key) || (r.level === 'client' && this.#clients !== null)) this.#open.set(id, r)
    return n
  }

  /** Resolves once the events emitted so far are stored. */
  flush(): Promise<void> {
    return this.#writing
  }

  /**
   * The bank's expected value and band of each metric of a series at its newest window (latency
   * at the load it saw), or null before the series was seen. Read it in a window hook registered
   * after this one's, for the same window.
   */
  explained(key: string): SeriesStep['metrics'] | null {
    return this.#explained.get(key) ?? null
  }

  /** Anomalies open now on one series (its key as formatSeriesKey writes it). */
  openOn(key: string): AnomalyRecord[] {
    const out: AnomalyRecord[] = []
    for (const r of this.#open.values()) if (r.key === key) out.push(r)
    return out
  }

  /** Anomalies open now, newest first. */
  openAnomalies(): AnomalyRecord[] {
    return [...this.#open.values()].sort((a, b) => b.openedAtMs - a.openedAtMs)
  }

  /**
   * Anomalies opened in [fromMs, toMs) (plus, for `state: 'all'`, their resolution), and every
   * anomaly open now whatever its start; newest first. Reads the store when there is one, so
   * history survives a restart; otherwise the last `keepResolved` in memory.
   */
  async anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]> {
    await this.#writing
    const match = (r: AnomalyRecord) =>
      (q.service === undefined || r.series.service === q.service) &&
      (q.env === undefined || r.series.env === q.env)
    const byId = new Map<string, AnomalyRecord>()
    for (const r of this.#open.values()) if (match(r)) byId.set(r.id, r)
    if (q.state === 'all') {
      const inRange = (r: AnomalyRecord) => r.openedAtMs >= q.fromMs && r.openedAtMs < q.toMs && match(r)
      const store = this.#o.store
      if (store !== undefined) {
        const opened = await store.queryEvents({
          kind: ANOMALY_OPENED,
          fromMs: q.fromMs,
          toMs: q.toMs,
          limit: MAX_QUERY_EVENTS,
        })
        const resolved = await store.queryEvents({
          kind: ANOMALY_RESOLVED,
          fromMs: q.fromMs,
          limit: MAX_QUERY_EVENTS,
        })
        const endOf = new Map<string, number>()
        for (const e of resolved) {
          const p = e.payload as { id: string; resolvedAtMs: number }
          endOf.set(p.id, p.resolvedAtMs)
        }
        for (const e of opened) {
          const r = e.payload as AnomalyRecord
          if (!inRange(r) || byId.has(r.id)) continue
          const end = endOf.get(r.id)
          // stored as open but no longer open here and no resolution stored: a restart lost it
          byId.set(r.id, { ...r, state: 'resolved', resolvedAtMs: end ?? null })
        }
      }
      for (const r of this.#resolved) if (inRange(r)) byId.set(r.id, r)
    }
    return [...byId.values()].sort((a, b) => b.openedAtMs - a.openedAtMs)
  }
}
