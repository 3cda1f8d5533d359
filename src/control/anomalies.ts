/**
 * @module Live anomaly detection: a window hook that runs the detector bank (`SeriesEnsemble`,
 * src/detect) on every series' rate, 5xx errors (binomial tail given the requests), p50/p95/p99
 * and 429 ratio, turns its hysteresis transitions into anomaly records (one incident: one
 * `anomaly.opened`, then one `anomaly.resolved`), emits them in process, stores them as Store
 * events and answers `GET /api/anomalies`.
 *
 * The bank says when something is new; this layer decides when it is an incident. Rate and
 * latencies open while their bank (novelty) alarm is up with a score of at least `raiseAt`; 5xx
 * errors and 429s are scored here by binomial tails of their counts. Either way the window must be
 * evidence: the observed value outside the band the explanation reports (so a reason never quotes
 * a value inside its own band) and, for counts, at least `minEvents` events, 429s not counting
 * while Vigil's own limit controls tighten the service (`selfLimited`). A count's excess too small
 * for any one window accumulates across windows (a CUSUM, `CountBaseline.sustain`) and opens the
 * same anomaly, explained over the windows of its run (`sustained`). It
 * resolves once the value has been back inside the band recorded at the open (the pre-incident
 * baseline, not one that has learnt the incident) for `clearAfter` consecutive windows, or inside
 * the bank's current band for `acceptAfter` windows (a lasting new level, accepted as normal). A
 * latency quantile that a quiet route's windows have too few requests to judge
 * (`QUANTILE_MIN_REQUESTS`) for `clearAfter` consecutive windows resolves as `unjudgeable`: its
 * incident can no longer be confirmed or cleared, and an incident open for hours on a route that
 * went quiet helps nobody (a Prometheus alert whose series vanishes resolves too). A series with
 * no window in a slot other series had theirs in (its traffic stopped: no window is shipped) is
 * judged, `silenceLag` windows later, as a window of 0 requests: the rate anomaly of a silence
 * opens on it, and stays open until traffic returns. Each resolved
 * record says how it resolved (`resolvedBy`) and why, in words (`resolution`).
 *
 * A window of an anomaly open on a metric, or one that opens it, is not learned as normal by the
 * baselines that judge (the metric's novelty detector, the count baselines), so the next incident
 * of the same kind is judged against the series' normal, not against the last incident; the bands
 * that decide `accepted` learn every window, and an accepted level is learned from then on.
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
  Novelty,
  QUANTILE_MIN_REQUESTS,
  SeriesEnsemble,
  type AnomalySignal,
  type ClientOutliersSnapshot,
  type ClientSignal,
  type ClientWindow,
  type ChildContribution,
  type CountExcess,
  type DetectorSnapshot,
  type MetricJudgement,
  type MetricPoint,
  type SeriesStep,
} from '../detect/index.js'
import { NOVELTY_P_AT_ONE } from '../detect/novelty.js'
import { COUNT_GRACE, CountBaseline, type CountBaselineSnapshot } from './count-baseline.js'
import { routeName, type Config } from '../config/schema.js'
import type { EventQuery, StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { sentCount, upstream5xx } from '../telemetry/types.js'
import type { WindowClosedContext } from './control-plane.js'
import type { SeriesPoint } from './points.js'
import { ScoreRing, type ScoreHistory, type ScoreQuery, type ScoreSource } from './scores.js'
import { StoreBacklog, type BacklogSink } from './store-backlog.js'
import { formatSeriesKey, parseSeriesKey, seriesLevel } from './series-key.js'

export const ANOMALY_OPENED = 'anomaly.opened'
export const ANOMALY_RESOLVED = 'anomaly.resolved'

/**
 * How an anomaly resolved: `band`, back inside the band recorded at the open for `clearAfter`
 * windows; `accepted`, a lasting new level inside the bank's current band for `acceptAfter`
 * windows; `alarm`, its alarm's hysteresis cleared (joint, client); `evicted`, its detector state
 * was dropped (beyond `maxSeries`, or its route left the config: `resolution` says which);
 * `unjudgeable`, a latency quantile the windows had too few requests to judge for `clearAfter`
 * windows.
 */
export type AnomalyResolution = 'band' | 'accepted' | 'alarm' | 'evicted' | 'unjudgeable'

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
  /** how it resolved (absent while open, and on records stored before Vigil recorded it) */
  resolvedBy?: AnomalyResolution
  /** why it resolved, in words: `too few requests to judge p99 for 10 windows (12 in the last window; 100 needed)` */
  resolution?: string
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
  /**
   * a sustained excess of a count (errors, limitedRatio; detector `count-cusum`): `observed`,
   * `expected`, `low` and `high` are then over the last `windows` windows, ending with the one that
   * opened it, and `expected`, `low`, `high` here are one window's at the open, what a later window
   * is compared with (absent: a one-window anomaly)
   */
  sustained?: SustainedCount
  /**
   * a rate anomaly opened by a series' silence (no window at all while other series kept closing
   * theirs): how many windows it had no requests and how many requests a window it was expected
   * to have (absent: the window had requests)
   */
  silence?: Silence
}

/** The silence that opened a rate anomaly: windows without a request, and the requests a window expected. */
export interface Silence {
  windows: number
  expectedPerWindow: number
}

/** One window's expected value and band at the open of a sustained count anomaly, and the windows its evidence spans. */
export interface SustainedCount {
  windows: number
  expected: number
  low: number
  high: number
}

export interface AnomalyQuery {
  fromMs: number
  toMs: number
  service?: string
  env?: string
  state: 'open' | 'all'
}

/**
 * How far the live series' detectors are from judging. A series is live while it had a window
 * among the last {@link LIVE_WINDOWS} the detector saw; one is learning until its detectors
 * have learned `windowsNeeded` windows, and nothing on it opens before then.
 */
export interface LearningSummary {
  /** live series */
  series: number
  /** live series still learning */
  learningSeries: number
  /** windows learned by the least advanced learning series (null: none learning) */
  windowsLearned: number | null
  /** windows a series learns before its detectors judge */
  windowsNeeded: number
  /** time until the least advanced learning series judges, at the configured window length (null: none learning) */
  etaMs: number | null
  windowMs: number
  /**
   * per service and environment with a live series still learning (a service or route that
   * appeared after the others learned), the longest wait first; empty once every live series is
   * judged. `service` `*` holds the roll-ups over all services.
   */
  services: LearningService[]
}

/** The live series of one service and environment, while any of them is still learning. */
export interface LearningService {
  service: string
  env: string
  /** its live series (service level and routes) */
  series: number
  /** of those, the ones still learning */
  learningSeries: number
  /** keys of the series still learning, at most {@link MAX_LEARNING_KEYS} */
  keys: string[]
  /** windows learned by its least advanced learning series */
  windowsLearned: number
  /** time until its least advanced learning series judges, at the configured window length */
  etaMs: number
}

/** The routes of a config as their series name them, for {@link LiveAnomalies.configRoutes}. */
export function configRoutesOf(config: Pick<Config, 'routes'>): { service: string; route: string }[] {
  return config.routes.map((r) => ({ service: r.service, route: routeName(r) }))
}

/** What the anomalies API asks; implemented by LiveAnomalies and the embedded worker's client. */
export interface AnomalySource {
  anomalies(q: AnomalyQuery): Promise<AnomalyRecord[]>
  /** absent where the detector's state is not at hand */
  learning?(): Promise<LearningSummary>
}

/** The part of the Store port this module uses. */
export interface AnomalyStore {
  appendEvents(events: readonly StoredEvent[]): Promise<void>
  queryEvents(q?: EventQuery): Promise<StoredEvent[]>
}

export interface LiveAnomaliesOptions {
  store?: AnomalyStore
  /** where events wait while the store cannot be written; default: a backlog of its own */
  backlog?: StoreBacklog
  /** series with detector state (about 1.6 MB each); the least recently seen is evicted beyond it; default 1,000 */
  maxSeries?: number
  /** points of history per metric; default 512 */
  historySize?: number
  /** window length (for season snapping); default 10 s */
  stepMs?: number
  raiseAt?: number
  clearAt?: number
  /**
   * consecutive windows back inside the band recorded at the open before an anomaly resolves, and
   * windows with too few requests to judge its latency quantile before it resolves as unjudgeable; default 10
   */
  clearAfter?: number
  /**
   * 5xx errors or 429s a window needs before it can open an errors or limitedRatio anomaly (a
   * sustained excess: over the windows of its run); default 3
   */
  minEvents?: number
  /** consecutive windows inside the bank's current band after which a lasting shift is accepted (resolves); default 360 */
  acceptAfter?: number
  /**
   * true while Vigil's own limit controls (defensive mode, policy multipliers) tighten the series'
   * service (`*`: any service): its 429s are then self-inflicted and open no limitedRatio anomaly
   */
  selfLimited?: (series: SeriesKey) => boolean
  seed?: number
  /** resolved anomalies kept in memory for queries without a store; default 1,000 */
  keepResolved?: number
  /** windows of scores and bands kept per series for the dashboard (84 bytes each); default 360, 0: none */
  scoreHistory?: number
  /** the process's start (epoch ms): a window it falls inside is partial and is not judged; default now */
  startedAtMs?: number
  /**
   * windows that must close after a window before a series that had none in it is judged
   * silent (a window of 0 requests); default {@link SILENCE_LAG}
   */
  silenceLag?: number
  /** windows of one silence judged as empty before the series is left alone until it has traffic again; default {@link SILENCE_CAP} */
  silenceCap?: number
  onError?: (err: Error, what: string) => void
}

/**
 * Detector input from a merged point. Errors are the service's: its 5xx among the requests sent to
 * it, so the gateway's own 503s (no healthy target, every breaker open) neither raise an errors
 * anomaly nor teach the baseline; the rate and the 429 ratio count every request. A window without
 * requests sent upstream has no latency and no error ratio (NaN: neither judged nor learned).
 */
export function toMetricPoint(p: SeriesPoint): MetricPoint {
  const sent = sentCount(p)
  return {
    rate: p.ratePerSec,
    errorRatio: sent > 0 ? p.upstreamErrorRatio : Number.NaN,
    p50: p.p50 ?? Number.NaN,
    p95: p.p95 ?? Number.NaN,
    p99: p.p99 ?? Number.NaN,
    limitedRatio: p.limitedRatio,
    requests: p.count,
    errors: sent > 0 ? upstream5xx(p) : Number.NaN,
    sent,
  }
}

/** Everything LiveAnomalies learned: plain data, safe for structuredClone and v8.serialize. */
export interface LiveAnomaliesSnapshot {
  version: 1
  /** least recently seen first */
  banks: [string, DetectorSnapshot][]
  open: [string, AnomalyRecord][]
  /**
   * the 5xx and 429 count baselines (absent in snapshots of earlier versions: relearnt): the one
   * that judges, and in `all` the one that learns every window (absent in earlier versions: a copy)
   */
  counts?: [
    string,
    {
      errors: DetectorSnapshot
      limitedRatio: DetectorSnapshot
      all?: { errors: DetectorSnapshot; limitedRatio: DetectorSnapshot }
      /** the sustained-excess CUSUMs (absent in earlier versions: from 0) */
      sustained?: {
        errors: NonNullable<CountBaselineSnapshot['sustained']>
        limitedRatio: NonNullable<CountBaselineSnapshot['sustained']>
      }
    },
  ][]
  /** the abusive-client detector (absent before any client window) */
  clients?: ClientOutliersSnapshot
  /**
   * per series: the end of the newest window it learned (absent in earlier versions: the warm-up
   * then leaves restored series alone, as it cannot tell which stored windows they learned)
   */
  learnedUntil?: [string, number][]
  /**
   * per series: its windows and its empty ones, decayed, as a silence is weighed against them
   * (absent in earlier versions: from the prior)
   */
  empty?: [string, { empty: number; windows: number }][]
}

/**
 * One window's count judgements: −log10 p per count metric, the band learned from every window,
 * the counts, and the sustained excess (in the metric's units) where its CUSUM stepped.
 */
interface CountJudgements {
  lp: Record<string, number>
  current: Record<string, { low: number; high: number }>
  k: Partial<Record<CountMetric, number>>
  excess: Partial<Record<CountMetric, CountExcess>>
}

interface Children {
  startMs: number
  points: Record<string, MetricPoint>
}

/** A window without requests: what a series that had none in a slot others had theirs in is judged as. */
function emptyWindow(startMs: number, durationMs: number): SeriesPoint {
  return {
    startMs,
    durationMs,
    count: 0,
    ratePerSec: 0,
    errorRatio: 0,
    upstreamErrorRatio: 0,
    limitedRatio: 0,
    refused: 0,
    refused5xx: 0,
    timeouts: 0,
    connectErrors: 0,
    statusClass: [0, 0, 0, 0, 0],
    bytesIn: 0,
    bytesOut: 0,
    p50: null,
    p95: null,
    p99: null,
    sources: 0,
  }
}

/** The value of a judged metric in a window (errors: the 5xx count, as the binomial tail judges it). */
function observedOf(metric: string, m: MetricPoint): number {
  const v = (m as unknown as Record<string, number>)[metric]
  return typeof v === 'number' ? v : Number.NaN
}

/** −log10 p at novelty's score 1 */
const NOVELTY_LOG10_P_AT_ONE = -Math.log10(NOVELTY_P_AT_ONE)
/** Latency quantiles: judged only in windows with `QUANTILE_MIN_REQUESTS` requests sent. */
const QUANTILES = ['p50', 'p95', 'p99'] as const
/** Metrics judged as counts by the live layer's binomial tails. */
const COUNTS = ['errors', 'limitedRatio'] as const
type CountMetric = (typeof COUNTS)[number]
/** Windows a new series learns before it is judged: its novelty detectors' warm-up, or the count baselines' grace. */
/** windows a new series learns before it is judged (the novelty detectors' and count baselines' warm-up) */
export const WINDOWS_NEEDED = Math.max(COUNT_GRACE, new Novelty().warmUp)
/** A series whose newest window is older than this many windows is gone (a one-off route), not learning. */
export const LIVE_WINDOWS = 3
/** Keys listed per learning service: enough to tell which routes are new, not a dump of them all. */
export const MAX_LEARNING_KEYS = 20

/**
 * Windows that close after a slot before a series with nothing in it is judged silent there. The
 * control plane writes a window once its grace period (`control.graceMs`) is over, every series
 * of it in one write; a rollup later than that reaches this hook as a window of its own at the
 * next tick (a second or so, well within one window), after the next window of the other series
 * at worst. Two windows leave one spare for a slow write or a stalled tick.
 */
export const SILENCE_LAG = 2
/**
 * Empty windows judged per silence: enough to open the rate anomaly (it takes a few) and to
 * resolve latency ones as unjudgeable (`clearAfter`), short of `acceptAfter`, so that a silence
 * is never accepted as the route's new normal: its anomaly stays open until traffic returns.
 */
export const SILENCE_CAP = 60
/**
 * −log10 p a silence needs to open a rate anomaly by itself: stricter than one window's 5, as the
 * run is tested again every window of every series (1,000 series at 10 s windows test 8.6 million
 * times a day); the CUSUM of counts asks as much (18 nats).
 */
const SILENCE_LOG10_P = 8
/** Windows over which a series' share of empty windows is learned (an hour at 10 s windows). */
const EMPTY_MEMORY = 360

const MAX_QUERY_EVENTS = 10_000
const EVICTED_SERIES = 'its detector state was evicted: more series than detect.maxSeries'
const EVICTED_CLIENT = 'its detector state was evicted: more clients than the detector keeps'
const REMOVED_ROUTE = 'its route was removed from the config'
const REMOVED_SERVICE = 'its service has no route in the config any more'

/** The payload of a stored `anomaly.resolved` event (`resolvedBy` and `resolution` absent on older ones). */
interface ResolvedPayload {
  id: string
  resolvedAtMs: number
  resolvedBy?: AnomalyResolution
  resolution?: string
}
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
  readonly #o: Required<Omit<LiveAnomaliesOptions, 'store' | 'backlog' | 'onError' | 'selfLimited'>> &
    Pick<LiveAnomaliesOptions, 'store' | 'onError' | 'selfLimited'>
  readonly #storeEvents: BacklogSink<StoredEvent> | null
  /** insertion order = recency (re-inserted on each point), so the first key is the LRU */
  readonly #banks = new Map<string, SeriesEnsemble>()
  readonly #scores = new Map<string, ScoreRing>()
  readonly #open = new Map<string, AnomalyRecord>()
  /**
   * per open anomaly: consecutive windows inside its opening band, inside the bank's current band,
   * and (latency quantiles) with too few requests to judge it
   */
  readonly #calm = new Map<string, { inBand: number; accepted: number; unjudged: number }>()
  /** `<series key>#<metric>` whose bank alarm is up (raised, not yet cleared) */
  readonly #alarmed = new Set<string>()
  readonly #resolved: AnomalyRecord[] = []
  readonly #children = new Map<string, Children>()
  /** per series: the baselines of its 5xx and 429 counts given its requests ({@link #countJudgements}) */
  readonly #counts = new Map<string, Record<CountMetric, CountBaseline>>()
  /** per series: the bank's expected value and band of each metric at its newest window (alert rules) */
  readonly #explained = new Map<string, SeriesStep['metrics']>()
  /** per series: the end of its newest window judged */
  readonly #lastEndMs = new Map<string, number>()
  #newestEndMs = -Infinity
  /**
   * ends of recent windows in which some series had a window judged, oldest first: only these
   * slots can be silent for one series (an idle system, a restart or a failed write is no
   * evidence about a route)
   */
  readonly #activeEnds: number[] = []
  /** per series: consecutive windows judged silent (reset by a window with a point) */
  readonly #silent = new Map<string, number>()
  /** per silent series: −log10 of the probability of its silence so far ({@link #silence}) */
  readonly #silentLp = new Map<string, number>()
  /** per series: its windows and its empty ones, both decayed over {@link EMPTY_MEMORY} windows */
  readonly #empty = new Map<string, { empty: number; windows: number }>()
  #clients: ClientOutliers | null = null
  /** whether a series belongs to the config's routes ({@link configRoutes}; before it: all do) */
  #inConfig: (s: SeriesKey) => boolean = () => true
  #pending: StoredEvent[] = []
  #writing: Promise<void> = Promise.resolve()
  /** set by {@link closing}: windows that had not ended by then are partial */
  #closingAtMs = Infinity
  /**
   * `partial`: windows not judged because the process started or stopped inside them;
   * `replayed`: stored windows learned without judging at a start without state ({@link replay})
   */
  readonly stats = {
    windows: 0,
    replayed: 0,
    partial: 0,
    /** windows judged as empty for a series that had none while others had theirs */
    silent: 0,
    /** windows that arrived for a slot already judged (as silent): not judged again */
    late: 0,
    opened: 0,
    resolved: 0,
    evicted: 0,
    /** series dropped as their route (or every route of their service) left the config */
    removed: 0,
    storeErrors: 0,
  }

  constructor(opts: LiveAnomaliesOptions = {}) {
    super()
    this.#o = {
      maxSeries: 1_000,
      historySize: 512,
      stepMs: 10_000,
      raiseAt: 0.5,
      clearAt: 0.3,
      clearAfter: 10,
      minEvents: 3,
      acceptAfter: 360,
      seed: 42,
      silenceLag: SILENCE_LAG,
      silenceCap: SILENCE_CAP,
      keepResolved: 1_000,
      scoreHistory: 360,
      startedAtMs: Date.now(),
      ...opts,
    }
    const store = opts.store
    this.#storeEvents =
      store === undefined
        ? null
        : (opts.backlog ?? new StoreBacklog()).sink('anomaly events', (b: readonly StoredEvent[]) =>
            store.appendEvents(b),
          )
  }

  /**
   * Call when the process begins to stop: the windows its gateways flush on the way out have not
   * ended, so they hold only part of a window's traffic; like the first window after a start,
   * they are not judged (a restart must not look like a traffic drop) and not learned.
   */
  closing(atMs = Date.now()): void {
    this.#closingAtMs = atMs
  }

  /**
   * How far the live series are from judging (see {@link LearningSummary}). The count baselines
   * of 5xx and 429s learn alongside and need fewer windows, so the banks' novelty detectors decide.
   */
  async learning(): Promise<LearningSummary> {
    const windowMs = this.#o.stepMs
    let series = 0
    let learningSeries = 0
    let least = Infinity
    let needed = WINDOWS_NEEDED
    const groups = new Map<string, Omit<LearningService, 'etaMs'>>()
    for (const [key, bank] of this.#banks) {
      const last = this.#lastEndMs.get(key)
      // restored banks count from their first window after the start, live or replayed; windows
      // judged silent keep a series judged, not live
      if (
        last === undefined ||
        this.#newestEndMs === -Infinity ||
        last - (this.#silent.get(key) ?? 0) * windowMs <= this.#newestEndMs - LIVE_WINDOWS * windowMs
      )
        continue
      const l = bank.learning
      needed = Math.max(needed, l.needed)
      series++
      const { service, env } = parseSeriesKey(key)
      const id = `${service}|${env}`
      let g = groups.get(id)
      if (g === undefined)
        groups.set(
          id,
          (g = { service, env, series: 0, learningSeries: 0, keys: [], windowsLearned: Infinity }),
        )
      g.series++
      if (l.learned >= Math.max(l.needed, COUNT_GRACE)) continue
      learningSeries++
      least = Math.min(least, l.learned)
      g.learningSeries++
      if (g.keys.length < MAX_LEARNING_KEYS) g.keys.push(key)
      g.windowsLearned = Math.min(g.windowsLearned, l.learned)
    }
    const learning = learningSeries > 0
    const services = [...groups.values()]
      .filter((g) => g.learningSeries > 0)
      .map((g) => ({ ...g, keys: g.keys.sort(), etaMs: (needed - g.windowsLearned) * windowMs }))
      .sort((a, b) => b.etaMs - a.etaMs || a.service.localeCompare(b.service) || a.env.localeCompare(b.env))
    return {
      series,
      learningSeries,
      windowsLearned: learning ? least : null,
      windowsNeeded: needed,
      etaMs: learning ? (needed - least) * windowMs : null,
      windowMs,
      services,
    }
  }

  /** Series with detector state now. */
  get seriesCount(): number {
    return this.#banks.size
  }

  /**
   * The window hook. Corrections (a late rollup replacing a point) are not fed again: the bank
   * learned the window once; nor is a window for a slot already judged, as silent, for its series.
   * The first window of a newer slot first judges the silence of the series that had no window
   * {@link SILENCE_LAG} slots back ({@link #judgeSilence}).
   */
  readonly hook = (series: SeriesKey, point: SeriesPoint, ctx: WindowClosedContext): void => {
    if (ctx.correction) return
    const endMs = point.startMs + point.durationMs
    if ((point.startMs < this.#o.startedAtMs && endMs > this.#o.startedAtMs) || endMs > this.#closingAtMs) {
      this.stats.partial++
      return
    }
    const key = formatSeriesKey(series)
    if (endMs <= (this.#lastEndMs.get(key) ?? -Infinity)) {
      this.stats.late++
      return
    }
    if (endMs > this.#newestEndMs) this.#judgeSilence(endMs)
    if (this.#activeEnds.at(-1) !== endMs) {
      this.#activeEnds.push(endMs)
      // kept: the slots a silence can still reach
      if (this.#activeEnds.length > this.#o.silenceCap + this.#o.silenceLag + 1) this.#activeEnds.shift()
    }
    this.#silent.delete(key)
    this.#silentLp.delete(key)
    this.#judgeWindow(series, key, point, true)
  }

  /**
   * Learns one stored window of history, as the hook learns a live one, but judges nothing:
   * no anomaly opens, resolves or is emitted (the store already holds what history had), and no
   * silence is judged around it. For a start without detector state (src/control/warm-up.ts).
   * Windows must come oldest first per series; one not newer than the series' newest window
   * learned is skipped, so history never lands after a live window. Returns whether it was learned.
   */
  replay(series: SeriesKey, point: SeriesPoint): boolean {
    if (!this.serves(series)) return false
    const key = formatSeriesKey(series)
    const last = this.#lastEndMs.get(key)
    if (last !== undefined && point.startMs < last) return false
    this.stats.replayed++
    this.#judgeWindow(series, key, point, true, false)
    return true
  }

  /** False for a series of a route the config no longer has ({@link configRoutes}). */
  serves(series: SeriesKey): boolean {
    return this.#inConfig(series)
  }

  /** True when the series has detector state (learned windows, or restored from a snapshot). */
  knows(key: string): boolean {
    return this.#banks.has(key)
  }

  /**
   * The end of the newest window a series learned (live, replayed, or in a restored snapshot that
   * recorded it); undefined when unknown.
   */
  learnedUntil(key: string): number | undefined {
    return this.#banks.has(key) ? this.#lastEndMs.get(key) : undefined
  }

  /**
   * Judges, as windows of 0 requests, the slots a series with detector state had no window in
   * while other
   * series had theirs, up to `silenceLag` slots before `endMs` (the newest window's end), in order,
   * at most `silenceCap` of them per silence.
   */
  #judgeSilence(endMs: number): void {
    const step = this.#o.stepMs
    const upTo = endMs - this.#o.silenceLag * step
    for (const key of [...this.#banks.keys()]) {
      const last = this.#lastEndMs.get(key) ?? -Infinity
      for (const slotEnd of this.#activeEnds) {
        if (slotEnd <= last) continue
        const n = this.#silent.get(key) ?? 0
        if (slotEnd > upTo || n >= this.#o.silenceCap) break
        this.#silent.set(key, n + 1)
        this.stats.silent++
        this.#judgeWindow(parseSeriesKey(key), key, emptyWindow(slotEnd - step, step), false)
        if (!this.#banks.has(key)) break
      }
    }
  }

  /**
   * Judges one window of one series: a point that arrived (`arrived`) or a slot it was silent in;
   * with `judge` false (history, {@link replay}) it is learned only.
   */
  #judgeWindow(series: SeriesKey, key: string, point: SeriesPoint, arrived: boolean, judge = true): void {
    const endMs = point.startMs + point.durationMs
    if (judge) this.stats.windows++
    const level = seriesLevel(series)
    const metrics = toMetricPoint(point)
    // a silent slot is judged after its aggregates' window was: too late to attribute to them
    if (arrived && level === 'route')
      this.#addChild(formatSeriesKey({ ...series, route: '*' }), key, point.startMs, metrics)
    else if (arrived && level === 'service') this.#addChild('*|*|*', key, point.startMs, metrics)
    const kids = this.#children.get(key)
    const children = level !== 'route' && kids?.startMs === point.startMs ? kids.points : undefined
    const self = metrics.limitedRatio > 0 && (this.#o.selfLimited?.(series) ?? false)
    // a window of an anomaly open on the metric, or that is evidence enough to open one, is not
    // taught to the baselines that judge the next one
    const banked = this.#bank(key).step(
      metrics,
      children,
      (metric, j) =>
        this.#open.has(`${key}#${metric}`) ||
        (j.score >= this.#o.raiseAt && !this.#quiet(metric, observedOf(metric, metrics), metrics, j, self)),
      arrived,
    )
    this.#lastEndMs.set(key, endMs)
    if (endMs > this.#newestEndMs) this.#newestEndMs = endMs
    const judged = { ...banked.metrics }
    const counted = this.#countJudgements(key, metrics, judged, self)
    const step = { ...banked, metrics: judged }
    this.#recordScores(key, point, step.score, step.metrics)
    this.#explained.set(key, step.metrics)
    if (judge) this.#judge(key, series, level, point, metrics, step, self, counted)
    this.#learnCounts(key, counted.k, self)
    this.#learnEmpty(key, !arrived)
    if (this.#pending.length > 0) this.#flushSoon()
  }

  /** Opens and resolves this window's anomalies of one series from the bank's step (see the module doc). */
  #judge(
    key: string,
    series: SeriesKey,
    level: AnomalyRecord['level'],
    point: SeriesPoint,
    m: MetricPoint,
    step: SeriesStep,
    self: boolean,
    counted: CountJudgements,
  ): void {
    const { lp, current } = counted
    const raised = new Map<string, AnomalySignal>()
    for (const s of step.signals) {
      const openId = `${key}#${s.metric}`
      if (s.state === 'raised') {
        this.#alarmed.add(openId)
        raised.set(s.metric, s)
      } else {
        this.#alarmed.delete(openId)
        // the joint score has no band to come back into: its alarm's hysteresis decides
        const r = this.#open.get(openId)
        if (s.metric === 'joint' && r !== undefined)
          this.#resolve(openId, r, point.startMs + point.durationMs, 'alarm', 'the joint alarm cleared')
      }
    }
    const joint = raised.get('joint')
    if (joint !== undefined && !this.#open.has(`${key}#joint`))
      this.#openAnomaly(key, series, level, point, joint)
    for (const [metric, j] of Object.entries(step.metrics)) {
      const openId = `${key}#${metric}`
      const x = observedOf(metric, m)
      if (!Number.isFinite(x)) continue
      const silent = metric === 'rate' && m.requests === 0 ? this.#silence(key, point, j) : null
      const r = this.#open.get(openId)
      if (r !== undefined) {
        const calm = this.#calmOf(openId)
        calm.unjudged = 0
        // a silence is no calm, even where the band reaches 0: open until the traffic returns
        if (silent !== null) {
          calm.inBand = calm.accepted = 0
          continue
        }
        // a sustained excess is a few events a window: fewer than minEvents is still the incident
        const few = r.sustained !== undefined ? 0 : this.#o.minEvents
        calm.inBand = this.#quiet(metric, x, m, r.sustained ?? r, self, few) ? calm.inBand + 1 : 0
        // the band that follows what the series does now: the bank's (it learns every window), or
        // for counts the baseline that learns incidents too (the judging one does not)
        calm.accepted = this.#quiet(metric, x, m, current[metric] ?? j, self, few) ? calm.accepted + 1 : 0
        const endMs = point.startMs + point.durationMs
        if (calm.inBand >= this.#o.clearAfter)
          this.#resolve(openId, r, endMs, 'band', `back inside its band for ${calm.inBand} windows`)
        else if (calm.accepted >= this.#o.acceptAfter) {
          this.#resolve(
            openId,
            r,
            endMs,
            'accepted',
            `a lasting new level: inside the current band for ${calm.accepted} windows`,
          )
          if (metric in current) this.#counts.get(key)?.[metric as CountMetric].accept()
        }
        continue
      }
      const count = metric in lp
      const evidence = j.score >= this.#o.raiseAt && !this.#quiet(metric, x, m, j, self)
      if (count && !evidence) {
        const e = counted.excess[metric as CountMetric]
        if (e !== undefined && this.#sustainedEvidence(metric, e, self))
          this.#openSustained(key, series, level, point, metric as CountMetric, e, j)
        continue
      }
      // a silence no window's novelty stands out in is judged by how improbable it is as a whole
      if (silent !== null && !(this.#alarmed.has(openId) && evidence)) {
        if (silent.lp >= SILENCE_LOG10_P && this.#judging(key))
          this.#openAnomaly(
            key,
            series,
            level,
            point,
            {
              metric,
              observed: x,
              expected: j.expected,
              low: j.low,
              high: j.high,
              score: Math.min(1, silent.lp / 10),
              detector: 'silence',
              evidence: { silence: silent.lp },
              state: 'raised',
              children: [],
            },
            { silence: silent.silence },
          )
        continue
      }
      // novelty scores the onset: it opens while the bank's alarm is up; a count on its own tail
      if (!(count || this.#alarmed.has(openId)) || !evidence) continue
      if (count) this.#counts.get(key)?.[metric as CountMetric].opened()
      const s = raised.get(metric)
      const silence = silent !== null ? { silence: silent.silence } : {}
      this.#openAnomaly(
        key,
        series,
        level,
        point,
        {
          metric,
          observed: x,
          expected: j.expected,
          low: j.low,
          high: j.high,
          score: j.score,
          detector: count ? 'poisson' : 'novelty',
          // a later window of the same novelty alarm: its own score, without the onset's attribution
          evidence: count
            ? { poisson: lp[metric] }
            : (s?.evidence ?? { novelty: j.score * NOVELTY_LOG10_P_AT_ONE }),
          state: 'raised',
          children: s?.children ?? [],
        },
        silence,
      )
    }
    this.#resolveUnjudgeable(key, point, m, step)
  }

  /**
   * One more window of a series' silence and how improbable the silence is so far: each window
   * without requests has probability the larger of the Poisson one, e^−(requests expected), and
   * the share of the series' windows that were empty (with one empty in two windows as a prior):
   * bursty traffic has empty windows a Poisson count would not, and a silence must be rarer than
   * those. Windows of a silence its rate anomaly is open on are not learned as empty.
   */
  #silence(key: string, point: SeriesPoint, j: MetricJudgement): { lp: number; silence: Silence } | null {
    const windows = this.#silent.get(key)
    if (windows === undefined) return null
    const e = this.#empty.get(key) ?? { empty: 0, windows: 0 }
    const poisson = (Math.max(0, j.expected) * point.durationMs) / 1000
    const p0 = Math.max(Math.exp(-poisson), (e.empty + 1) / (e.windows + 2))
    const lp = (this.#silentLp.get(key) ?? 0) - Math.log10(p0)
    this.#silentLp.set(key, lp)
    return { lp, silence: { windows, expectedPerWindow: poisson } }
  }

  /** Learns whether a window of a series was empty (a silent one unless its rate anomaly is open). */
  #learnEmpty(key: string, empty: boolean): void {
    if (empty && this.#open.has(`${key}#rate`)) return
    let e = this.#empty.get(key)
    if (e === undefined) this.#empty.set(key, (e = { empty: 0, windows: 0 }))
    const keep = 1 - 1 / EMPTY_MEMORY
    e.empty = e.empty * keep + (empty ? 1 : 0)
    e.windows = e.windows * keep + 1
  }

  /** True once a series' bank judges (its warm-up and the count baselines' grace are over). */
  #judging(key: string): boolean {
    const l = this.#banks.get(key)?.learning
    return l !== undefined && l.learned >= Math.max(l.needed, COUNT_GRACE)
  }

  /**
   * An open latency anomaly whose quantile this window could not judge (too few requests, or none
   * sent, or a slot the series was silent in) counts toward `clearAfter`; a judged window starts
   * the count again.
   */
  #resolveUnjudgeable(key: string, point: SeriesPoint, m: MetricPoint, step: SeriesStep): void {
    for (const q of QUANTILES) {
      const openId = `${key}#${q}`
      const r = this.#open.get(openId)
      if (r === undefined || q in step.metrics) continue
      const calm = this.#calmOf(openId)
      if (++calm.unjudged < this.#o.clearAfter) continue
      const described = m.sent ?? m.requests
      const silent = this.#silent.get(key) ?? 0
      this.#resolve(
        openId,
        r,
        point.startMs + point.durationMs,
        'unjudgeable',
        silent >= calm.unjudged
          ? `no requests for ${silent} windows: ${q} cannot be judged`
          : `too few requests to judge ${q} for ${calm.unjudged} windows (${described} in the last window; ${QUANTILE_MIN_REQUESTS[q]} needed)`,
      )
    }
  }

  #calmOf(openId: string): { inBand: number; accepted: number; unjudged: number } {
    let calm = this.#calm.get(openId)
    if (calm === undefined) this.#calm.set(openId, (calm = { inBand: 0, accepted: 0, unjudged: 0 }))
    return calm
  }

  /**
   * Errors and 429s are counts: judged by the binomial tail of the count given the requests,
   * against the baseline before this window (score −log10 p / 10, so 0.5 is p = 1e-5), with the
   * band (mean ± 3 sd) from the same tail. The bank's own errors score is calibrated against its
   * recent surprises, so one improbable error teaches it that the next incident is ordinary; its
   * 429-ratio band is meaningless for a ratio that is almost always 0. Learning waits for the
   * window's judgement ({@link #learnCounts}).
   */
  #countJudgements(
    key: string,
    m: MetricPoint,
    judged: Record<string, MetricJudgement>,
    self: boolean,
  ): CountJudgements {
    const out: CountJudgements = { lp: {}, current: {}, k: {}, excess: {} }
    if (!(m.requests > 0)) return out
    let t = this.#counts.get(key)
    if (t === undefined)
      this.#counts.set(key, (t = { errors: new CountBaseline(), limitedRatio: new CountBaseline() }))
    for (const metric of COUNTS) {
      // errors among the requests sent to the service; 429s among every request
      const n = metric === 'errors' ? (m.sent ?? m.requests) : m.requests
      if (!(n > 0)) continue
      const k = metric === 'errors' ? m.errors : Math.round(m.limitedRatio * n)
      if (!Number.isFinite(k)) continue
      const b = t[metric]
      b.observeTrials(n)
      const lp = Math.min(50, b.surprise(k)) / Math.LN10
      // errors in counts, as the dashboard converts them; the 429 ratio as a ratio
      const d = metric === 'errors' ? 1 : n
      const inUnits = (e: { value: number; low: number; high: number }) => ({
        expected: e.value / d,
        low: e.low / d,
        high: e.high / d,
      })
      judged[metric] = { score: Math.min(1, lp / 10), ...inUnits(b.expected()) }
      out.lp[metric] = lp
      out.current[metric] = inUnits(b.current())
      out.k[metric] = k
      // an open anomaly needs no more evidence, and self-inflicted 429s are none
      if (!this.#open.has(`${key}#${metric}`) && !(metric === 'limitedRatio' && self)) {
        const e = b.sustain(k)
        if (e !== null) out.excess[metric] = e
      }
    }
    return out
  }

  /**
   * A sustained excess is an incident once its CUSUM crosses the decision interval with at least
   * `minEvents` events over its run, more than the run's band: the same bar as one window's, met
   * by several windows together.
   */
  #sustainedEvidence(metric: string, e: CountExcess, self: boolean): boolean {
    return (
      e.alarm &&
      e.observed >= this.#o.minEvents &&
      e.observed > e.high &&
      !(metric === 'limitedRatio' && self)
    )
  }

  /**
   * Opens a count anomaly on a sustained excess: explained over the windows of the CUSUM's run
   * (errors in counts, the 429 ratio over the run's requests), scored by the statistic (nats, as
   * −log10 p ≤ S / ln 10, by Ville's inequality), with one window's band at the open beside it.
   */
  #openSustained(
    key: string,
    series: SeriesKey,
    level: AnomalyRecord['level'],
    point: SeriesPoint,
    metric: CountMetric,
    e: CountExcess,
    j: MetricJudgement,
  ): void {
    const d = metric === 'errors' ? 1 : e.trials
    const lp = e.statistic / Math.LN10
    this.#openAnomaly(
      key,
      series,
      level,
      point,
      {
        metric,
        observed: e.observed / d,
        expected: e.expected / d,
        low: e.low / d,
        high: e.high / d,
        score: Math.min(1, lp / 10),
        detector: 'count-cusum',
        evidence: { 'count-cusum': lp },
        state: 'raised',
        children: [],
      },
      { sustained: { windows: e.windows, expected: j.expected, low: j.low, high: j.high } },
    )
    this.#counts.get(key)?.[metric].opened()
  }

  /**
   * The count baselines learn the window once it is judged: a window of an anomaly open on the
   * metric (one opened by this window included) is learned only by the baseline that follows every
   * window, not by the one that judges, so a repeat of the incident is judged against the series'
   * normal and not against the last incident. Self-inflicted 429s are not learnt at all: they are
   * not the series' normal.
   */
  #learnCounts(key: string, k: Readonly<Partial<Record<CountMetric, number>>>, self: boolean): void {
    const t = this.#counts.get(key)
    if (t === undefined) return
    for (const metric of COUNTS) {
      const x = k[metric]
      if (x === undefined || (metric === 'limitedRatio' && self)) continue
      t[metric].learn(x, this.#open.has(`${key}#${metric}`))
    }
  }

  /**
   * True when a window is no evidence against `band`: inside it, or (counts) too few events or
   * only self-inflicted 429s. Errors and 429s only count above their band (fewer is no incident).
   */
  #quiet(
    metric: string,
    x: number,
    m: MetricPoint,
    band: { low: number; high: number },
    self: boolean,
    few = this.#o.minEvents,
  ): boolean {
    if (metric === 'errors') return x < few || x <= band.high
    if (metric === 'limitedRatio') return self || Math.round(x * m.requests) < few || x <= band.high
    return x >= band.low && x <= band.high
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
    const n = sentCount(point)
    const e = j.errors
    ring.push(point.startMs, score, {
      rate: j.rate,
      p50: j.p50,
      p95: j.p95,
      p99: j.p99,
      // the binomial tail judges counts; the dashboard draws ratios (of the requests sent upstream)
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
        this.#resolve(id, r, w.windowStartMs + w.windowMs, 'evicted', EVICTED_CLIENT)
    if (this.#pending.length > 0) this.#flushSoon()
  }

  #clientTransition(s: ClientSignal, startMs: number, durationMs: number): void {
    const key = `client:${s.clientId}`
    const openId = `${key}#client`
    if (s.state === 'cleared') {
      const r = this.#open.get(openId)
      if (r !== undefined)
        this.#resolve(openId, r, startMs + durationMs, 'alarm', 'no longer stands out from its peers')
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
      this.#drop(this.#banks.keys().next().value as string, null, EVICTED_SERIES)
      this.stats.evicted++
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

  /**
   * Drops a series' detector state and resolves its open anomalies as `evicted` (they can never
   * clear now: resolved rather than left open forever), at `atMs` (null: at their open).
   */
  #drop(key: string, atMs: number | null, reason: string): void {
    this.#banks.delete(key)
    this.#scores.delete(key)
    this.#explained.delete(key)
    this.#counts.delete(key)
    this.#lastEndMs.delete(key)
    this.#silent.delete(key)
    this.#silentLp.delete(key)
    this.#empty.delete(key)
    this.#children.delete(key)
    for (const [id, r] of this.#open)
      if (r.key === key) this.#resolve(id, r, atMs ?? r.openedAtMs, 'evicted', reason)
    for (const id of this.#alarmed) if (id.startsWith(`${key}#`)) this.#alarmed.delete(id)
  }

  /**
   * The routes the config serves (at the start and after each reload): a route series of a route
   * no longer in it, and a `{service, env}` series of a service without routes in it, has its
   * detector state dropped and its open anomalies (a silence, above all: its traffic stopped for
   * good) resolved as `evicted`, and is not learned from stored history again. Returns how many
   * series were dropped.
   */
  configRoutes(routes: readonly { service: string; route: string }[], atMs = Date.now()): number {
    const served = new Set(
      routes.map((r) => formatSeriesKey({ service: r.service, route: r.route, env: '' })),
    )
    const services = new Set(routes.map((r) => r.service))
    this.#inConfig = (s) => {
      const level = seriesLevel(s)
      if (level === 'global') return true
      if (level === 'service') return services.has(s.service)
      return served.has(formatSeriesKey({ ...s, env: '' }))
    }
    let dropped = 0
    for (const key of [...this.#banks.keys()]) {
      const s = parseSeriesKey(key)
      if (this.#inConfig(s)) continue
      this.#drop(key, atMs, seriesLevel(s) === 'route' ? REMOVED_ROUTE : REMOVED_SERVICE)
      dropped++
    }
    this.stats.removed += dropped
    if (this.#pending.length > 0) this.#flushSoon()
    return dropped
  }

  #openAnomaly(
    key: string,
    series: SeriesKey,
    level: AnomalyRecord['level'],
    point: SeriesPoint,
    s: AnomalySignal,
    extra: Pick<AnomalyRecord, 'sustained' | 'silence'> = {},
  ): void {
    const openId = `${key}#${s.metric}`
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
      ...extra,
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
  }

  #resolve(
    openId: string,
    open: AnomalyRecord,
    atMs: number,
    resolvedBy: AnomalyResolution,
    resolution: string,
  ): void {
    this.#open.delete(openId)
    this.#calm.delete(openId)
    const r: AnomalyRecord = { ...open, state: 'resolved', resolvedAtMs: atMs, resolvedBy, resolution }
    this.#resolved.push(r)
    if (this.#resolved.length > this.#o.keepResolved) this.#resolved.shift()
    this.stats.resolved++
    this.#pending.push({
      atMs,
      kind: ANOMALY_RESOLVED,
      actor: 'control',
      subject: r.key,
      payload: { id: r.id, resolvedAtMs: atMs, resolvedBy, resolution },
    })
    this.emit('anomaly', r, 'resolved')
  }

  #flushSoon(): void {
    const write = this.#storeEvents
    const batch = this.#pending
    this.#pending = []
    if (write === null) return
    this.#writing = this.#writing.then(() =>
      write(batch).then(
        () => {},
        (err: Error) => {
          this.stats.storeErrors++
          this.#o.onError?.(err, 'anomaly events')
        },
      ),
    )
  }

  /** Detector state of every series and the open anomalies, to continue after a restart. */
  snapshot(): LiveAnomaliesSnapshot {
    return {
      version: 1,
      banks: [...this.#banks].map(([k, b]) => [k, b.snapshot()]),
      open: [...this.#open].map(([k, r]) => [k, structuredClone(r)]),
      counts: [...this.#counts].map(([k, t]) => {
        const errors = t.errors.snapshot()
        const limited = t.limitedRatio.snapshot()
        return [
          k,
          {
            errors: errors.judge,
            limitedRatio: limited.judge,
            all: { errors: errors.all, limitedRatio: limited.all },
            sustained: { errors: errors.sustained, limitedRatio: limited.sustained },
          },
        ]
      }),
      ...(this.#clients !== null ? { clients: this.#clients.snapshot() } : {}),
      learnedUntil: [...this.#lastEndMs],
      empty: [...this.#empty].map(([k, e]) => [k, { ...e }]),
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
    for (const [key, t] of snap.counts ?? [])
      if (this.#banks.has(key))
        try {
          this.#counts.set(key, {
            errors: CountBaseline.restore({
              judge: t.errors,
              all: t.all?.errors,
              sustained: t.sustained?.errors,
            }),
            limitedRatio: CountBaseline.restore({
              judge: t.limitedRatio,
              all: t.all?.limitedRatio,
              sustained: t.sustained?.limitedRatio,
            }),
          })
        } catch (err) {
          this.#o.onError?.(err as Error, `restore the error and 429 baselines of ${key}`)
        }
    if (snap.clients !== undefined)
      try {
        this.#clients = ClientOutliers.restore(snap.clients)
      } catch (err) {
        this.#o.onError?.(err as Error, 'restore the abusive-client detector')
      }
    for (const [id, r] of snap.open)
      if (this.#banks.has(r.key) || (r.level === 'client' && this.#clients !== null)) this.#open.set(id, r)
    // what each series learned: the warm-up replays the stored windows after it, and a window
    // from before it delivered again (a durable consumer's redelivery) is not learned twice
    for (const [key, endMs] of snap.learnedUntil ?? [])
      if (this.#banks.has(key) && Number.isFinite(endMs)) this.#lastEndMs.set(key, endMs)
    for (const [key, e] of snap.empty ?? [])
      if (this.#banks.has(key) && e.empty >= 0 && e.windows >= e.empty) this.#empty.set(key, { ...e })
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
        const endOf = new Map<string, ResolvedPayload>()
        for (const e of resolved) {
          const p = e.payload as ResolvedPayload
          endOf.set(p.id, p)
        }
        for (const e of opened) {
          const r = e.payload as AnomalyRecord
          if (!inRange(r) || byId.has(r.id)) continue
          const end = endOf.get(r.id)
          // stored as open but no longer open here and no resolution stored: a restart lost it
          byId.set(r.id, {
            ...r,
            state: 'resolved',
            resolvedAtMs: end?.resolvedAtMs ?? null,
            ...(end?.resolvedBy !== undefined ? { resolvedBy: end.resolvedBy } : {}),
            ...(end?.resolution !== undefined ? { resolution: end.resolution } : {}),
          })
        }
      }
      for (const r of this.#resolved) if (inRange(r)) byId.set(r.id, r)
    }
    return [...byId.values()].sort((a, b) => b.openedAtMs - a.openedAtMs)
  }
}
