/** @module Abusive clients: an Isolation Forest over per-client window features, judged against recent client populations. */
import { Alarm, type AlarmOptions, type AlarmStateData } from './alarm.js'
import { VGL_ERR_DETECT_INPUT, VGL_ERR_DETECT_SNAPSHOT } from '../errors.js'
import { checkInt } from './detector.js'
import { IsolationForest } from './isolation-forest.js'
import { AnomalyLikelihood, type LikelihoodState } from './likelihood.js'
import { logNormalTail } from './stats.js'

/** One client's traffic in one window (e.g. a window of the limiter's per-client statistics). */
export interface ClientWindow {
  readonly clientId: string
  readonly requests: number
  /**
   * the requests among them that failed by the client's own doing (the control plane gives its
   * refusals at its own limit, 4xx answers, and failures beyond its peers' on the same routes)
   */
  readonly errors: number
  readonly meanLatencyMs: number
  readonly distinctRoutes: number
}

/** The features a client is judged on, in the order of the forest's dimensions. */
export const CLIENT_FEATURES = ['requests', 'errorRatio', 'meanLatencyMs', 'distinctRoutes'] as const
export type ClientFeature = (typeof CLIENT_FEATURES)[number]

/** Why a client stands out: a feature far above the typical client's. */
export interface ClientReason {
  readonly feature: ClientFeature
  readonly observed: number
  /** the median client of the reference population */
  readonly typical: number
  /** robust z on the model's scale (log for counts and latency), against the reference population */
  readonly z: number
}

/** A client alarm transition: raised once when a client becomes an outlier, cleared once. */
export interface ClientSignal {
  readonly clientId: string
  readonly state: 'raised' | 'cleared'
  /** in [0,1], on the ensemble's scale: −log10(p)/10 */
  readonly score: number
  /** calibrated −log10 p of the isolation evidence */
  readonly evidence: number
  /** the window that raised or cleared it (cleared for an absent client: zeros) */
  readonly observed: ClientWindow
  /** the features above the typical client's, strongest first */
  readonly reasons: readonly ClientReason[]
}

export interface ClientStep {
  /** every client of the window with its score, in input order */
  readonly scores: readonly { readonly clientId: string; readonly score: number }[]
  readonly signals: readonly ClientSignal[]
}

export interface ClientOutliersOptions {
  readonly seed?: number
  /** client-window rows the forest is fitted on (the most recent); default 2048 */
  readonly referenceSize?: number
  readonly trees?: number
  /** rows per tree; default 128 */
  readonly sampleSize?: number
  /** clients whose alarm state is kept (least recently seen dropped); default 10,000 */
  readonly maxClients?: number
  readonly alarm?: AlarmOptions
}

export interface ClientOutliersSnapshot {
  readonly kind: 'client-outliers'
  /** 1: clients' habits were kept relative to each window's median client (restored as a fresh detector) */
  readonly version: 1 | 2
  readonly options: Required<Omit<ClientOutliersOptions, 'alarm'>> & { alarm: AlarmOptions }
  readonly state: {
    forest: IsolationForest['s']
    lik: LikelihoodState
    ownLik: LikelihoodState
    clients: [string, ClientState][]
    median: number[]
    scale: number[]
  }
}

/** What is kept per client: its own habits (forgetting mean and variance of the features) and its alarm. */
interface ClientState {
  n: number
  mean: number[]
  var: number[]
  alarm: AlarmStateData
}

const LOG10_P_AT_ONE = 10
/** Windows of a client's own history before it is judged against itself. */
const OWN_MIN = 5
/** Forgetting horizon (windows) of a client's own habits. */
const OWN_HORIZON = 30
/** Smallest standard deviation per feature (log scale: ~10%; error ratio: 1 point). */
const OWN_FLOOR = [0.1, 0.01, 0.1, 0.1]
const DIMS = CLIENT_FEATURES.length
/**
 * Fewer clients than this in a window are not judged: a population detector needs peers, and the
 * window's median client (what every client is measured from) is not meaningful below it.
 */
const MIN_PEERS = 8
/**
 * The mean latency's index. A client's mean over a window's few requests is dominated by its
 * slowest one (one request of twenty caught in a 500 ms stall makes it six times the peers'), so
 * latency takes no per-feature tail test (it raised false alarms on a loaded CI machine even with
 * its sampling noise); it enters the forest's joint isolation, where its evidence grows only like a
 * log, and the explanation.
 */
const LATENCY = 2
/** Features that take the per-feature tail tests (population excess, own habits): Bonferroni over these. */
const TAIL_TESTED = DIMS - 1
/** A feature this many robust standard deviations above the typical client is named as a reason. */
const REASON_Z = 3

/** The feature vector: log scales for counts and latency (heavy-tailed across clients), a smoothed error ratio. */
function features(c: ClientWindow, out: Float64Array): Float64Array {
  const n = Math.max(0, c.requests)
  out[0] = Math.log1p(n)
  // Jeffreys-smoothed, so one error out of one request is not a 100% error ratio
  out[1] = (Math.min(Math.max(0, c.errors), n) + 0.5) / (n + 1)
  out[2] = Math.log1p(Math.max(0, c.meanLatencyMs))
  out[3] = Math.log1p(Math.max(0, c.distinctRoutes))
  return out
}

/**
 * The sampling noise of an error ratio near q over n requests: one error more or less among 20
 * requests moves the ratio by 5 points, so a small client is not judged by a ratio of small numbers.
 */
function binomialSd(q: number, n: number): number {
  const p = Math.min(0.5, Math.max(q, 0.5 / (n + 1)))
  return Math.sqrt((p * (1 - p)) / (n + 1))
}

/** Per-feature median over the rows of a window (rows × DIMS, row-major). */
function columnMedians(rows: Float64Array, n: number): Float64Array {
  const out = new Float64Array(DIMS)
  const col = new Float64Array(n)
  for (let d = 0; d < DIMS; d++) {
    for (let i = 0; i < n; i++) col[i] = rows[i * DIMS + d]
    col.sort()
    out[d] = n % 2 === 1 ? col[n >> 1] : 0.5 * (col[(n >> 1) - 1] + col[n >> 1])
  }
  return out
}

/**
 * The sampling noise of a log mean latency over n requests, taking request latencies to vary by
 * as much as their mean (coefficient of variation 1): the explanation's z-score for latency uses
 * it, so a small client's stalled request is not named as what stands out.
 */
function latencySd(n: number): number {
  return 1 / Math.sqrt(Math.max(1, n))
}

function observedValue(c: ClientWindow, f: ClientFeature): number {
  if (f === 'errorRatio') return c.requests > 0 ? c.errors / c.requests : 0
  return c[f]
}

function typicalValue(f: ClientFeature, median: number): number {
  return f === 'errorRatio' ? median : Math.expm1(median)
}

function checkWindow(c: ClientWindow, i: number): void {
  if (typeof c?.clientId !== 'string' || c.clientId === '')
    throw VGL_ERR_DETECT_INPUT(`client-outliers: clients[${i}].clientId must be a non-empty string`)
  for (const k of ['requests', 'errors', 'meanLatencyMs', 'distinctRoutes'] as const)
    if (!Number.isFinite(c[k]) || c[k] < 0)
      throw VGL_ERR_DETECT_INPUT(
        `client-outliers: clients[${i}].${k} must be a finite number ≥ 0 (got ${String(c[k])})`,
      )
}

/**
 * Finds abusive clients among the clients of a window (request count, error ratio, mean latency,
 * distinct routes), each taken relative to the window's median client (abuse is standing out from
 * the peers of the same window; a slow upstream or the daily peak moves everyone at once). Each
 * client is judged two ways:
 *
 * - against the **population**: an Isolation Forest (Liu, Ting & Zhou 2008) fitted on the last
 *   `referenceSize` client-window rows isolates joint oddities, and a robust z-score per feature
 *   (requests, error ratio, routes; not the mean latency, see {@link LATENCY}) against the
 *   reference's median catches a blatant excess (a scraper's 150 routes, a hammering client's
 *   400,000 requests), where the forest's evidence only grows like a log;
 * - against **its own habits** (forgetting mean and variance of the same three features, a Student-t
 *   predictive, one-sided: doing less than usual is not abuse), once it has 5 windows of history.
 *
 * The heaviest legitimate customer is an outlier of the population every window but not of
 * itself; a new client has no habits and is judged by the population alone; an established client
 * that starts scraping is an outlier of both. So the evidence is the population evidence for a new
 * client and the smaller of the two for an established one, each calibrated against its own recent
 * distribution over client-windows (an anomaly likelihood, as in the ensemble): the population
 * evidence against what clients usually show once their habits are accounted for, the own-habits
 * evidence against how often clients deviate from their habits. The error ratio is judged with the
 * client's binomial sampling noise added, so one error among 20 requests is not a 5% error rate.
 *
 * Prequential like every detector here: a window is scored against the models of earlier windows,
 * then learned; the forest is refitted once per window, by `step` (the control plane calls it off
 * the data path). A client whose alarm is active is not learned (not into the reference, its
 * habits or the calibration), so abuse does not become normal, as SPOT keeps flagged values out
 * of its model (Siffer et al. 2017). Each client has an alarm with hysteresis; a client absent
 * from a window counts as a quiet window, so its alarm clears.
 */
export class ClientOutliers {
  readonly o: Required<Omit<ClientOutliersOptions, 'alarm'>> & { alarm: AlarmOptions }
  #forest: IsolationForest
  /**
   * Calibration: `#lik` holds each client-window's evidence after its habits are taken into
   * account (min of population and own evidence; population alone for a client without a
   * history), `#ownLik` the own-habits evidence of clients with a history.
   */
  #lik = new AnomalyLikelihood()
  #ownLik = new AnomalyLikelihood()
  /** insertion order = recency (re-inserted when seen), so the first key is the least recent */
  #clients = new Map<string, { st: ClientState; alarm: Alarm }>()
  /** per feature: median and robust scale of the reference rows at the last fit */
  #median: number[] = new Array<number>(DIMS).fill(0)
  #scale: number[] = new Array<number>(DIMS).fill(1)
  /** the window's median client (raw feature scale) that the current window is centred on */
  #center: Float64Array = new Float64Array(DIMS)

  constructor(options: ClientOutliersOptions = {}) {
    this.o = {
      seed: options.seed ?? 42,
      referenceSize: options.referenceSize ?? 2048,
      trees: options.trees ?? 40,
      sampleSize: options.sampleSize ?? 128,
      maxClients: options.maxClients ?? 10_000,
      alarm: options.alarm ?? {},
    }
    checkInt('client-outliers', 'maxClients', this.o.maxClients, 1, 10_000_000)
    this.#forest = new IsolationForest({
      dims: DIMS,
      seed: this.o.seed,
      trees: this.o.trees,
      sampleSize: this.o.sampleSize,
      windowSize: this.o.referenceSize,
      refitEvery: Number.MAX_SAFE_INTEGER,
    })
  }

  /** Scores one window of clients, learns it, refits the forest, and returns the alarm transitions. */
  step(clients: readonly ClientWindow[]): ClientStep {
    clients.forEach(checkWindow)
    const n = clients.length
    const scores: { clientId: string; score: number }[] = []
    const signals: ClientSignal[] = []
    const surprises = new Float64Array(n)
    const ownSurprises = new Float64Array(n)
    const seen = new Set<string>()
    // Features relative to this window's median client: what is abuse is standing out from the
    // peers of the same window. A slow upstream or a failing service raises every client's latency
    // or errors at once, and the daily cycle moves every client's requests together; judged against
    // earlier windows, every client would be an outlier at once (24 of 30 were, in a loaded CI run).
    const peers = n >= MIN_PEERS
    const raw = new Float64Array(n * DIMS)
    for (let i = 0; i < n; i++) features(clients[i], raw.subarray(i * DIMS, (i + 1) * DIMS))
    const center = peers ? columnMedians(raw, n) : new Float64Array(DIMS)
    const rows = new Float64Array(n * DIMS)
    for (let i = 0; i < n; i++)
      for (let d = 0; d < DIMS; d++) rows[i * DIMS + d] = raw[i * DIMS + d] - center[d]
    this.#center = center
    // the population model needs a reference of at least one tree sample before its evidence means
    // anything: judged against a handful of rows, every client is extreme, and those values would
    // fill the calibration's tail for the next ~1000 client-windows
    const shift = peers ? this.#commonShift(clients, raw) : new Float64Array(DIMS)
    const ready = peers && this.#forest.fitted && this.#forest.s.count >= this.o.sampleSize
    const ramp = ready ? Math.min(1, this.#lik.seen / (2 * this.#lik.o.minHistory)) : 0
    for (let i = 0; i < n; i++) {
      const c = clients[i]
      const x = rows.subarray(i * DIMS, (i + 1) * DIMS)
      const entry = this.#touch(c.clientId)
      // the population: the forest's isolation (joint oddities), or one feature far above the
      // typical client's (a blatant excess, where the forest's evidence grows only like a log)
      const pop = ready ? Math.min(50, Math.max(this.#forest.surprise(x), this.#excess(x, c.requests))) : 0
      surprises[i] = pop
      const own = peers
        ? Math.min(50, this.#own(entry.st, raw.subarray(i * DIMS, (i + 1) * DIMS), shift, c.requests))
        : Number.NaN
      ownSurprises[i] = own
      // an outlier of the population and of its own habits, each calibrated on its own history:
      // the heaviest customer is an outlier of the population every window, but not of itself;
      // a new client has no habits and is judged by the population alone
      const cal = Number.isNaN(own)
        ? this.#lik.calibrate(pop)
        : Math.min(this.#lik.calibrate(Math.min(pop, own)), this.#ownLik.calibrate(own))
      const score = Math.min(1, (cal / Math.LN10 / LOG10_P_AT_ONE) * ramp)
      scores.push({ clientId: c.clientId, score })
      seen.add(c.clientId)
      const t = entry.alarm.step(score)
      if (t !== null)
        signals.push({
          clientId: c.clientId,
          state: t,
          score,
          evidence: cal / Math.LN10,
          observed: { ...c },
          reasons: this.#reasons(c, x),
        })
    }
    // absent clients with an open alarm: a quiet window each
    for (const [id, { alarm }] of this.#clients) {
      if (seen.has(id) || !alarm.active) continue
      if (alarm.step(0) === 'cleared')
        signals.push({
          clientId: id,
          state: 'cleared',
          score: 0,
          evidence: 0,
          observed: { clientId: id, requests: 0, errors: 0, meanLatencyMs: 0, distinctRoutes: 0 },
          reasons: [],
        })
    }
    // learn: the reference and the calibration hold clients behaving as clients do
    for (let i = 0; peers && i < n; i++) {
      const entry = this.#clients.get(clients[i].clientId)
      if (entry === undefined || entry.alarm.active) continue
      const x = rows.subarray(i * DIMS, (i + 1) * DIMS)
      this.#learnOwn(entry.st, raw.subarray(i * DIMS, (i + 1) * DIMS))
      if (ready)
        this.#lik.learn(
          Number.isNaN(ownSurprises[i]) ? surprises[i] : Math.min(surprises[i], ownSurprises[i]),
        )
      if (!Number.isNaN(ownSurprises[i])) this.#ownLik.learn(ownSurprises[i])
      this.#forest.learn(x, false)
    }
    if (peers) this.#refit()
    return { scores, signals }
  }

  #touch(id: string): { st: ClientState; alarm: Alarm } {
    let e = this.#clients.get(id)
    if (e === undefined) {
      const st: ClientState = {
        n: 0,
        mean: new Array<number>(DIMS).fill(0),
        var: new Array<number>(DIMS).fill(0),
        alarm: { active: false, quiet: 0, raisedCount: 0 },
      }
      const alarm = new Alarm(this.o.alarm)
      alarm.s = st.alarm
      e = { st, alarm }
    } else this.#clients.delete(id)
    this.#clients.set(id, e)
    if (this.#clients.size > this.o.maxClients) {
      const oldest = this.#clients.keys().next().value
      if (oldest !== undefined) this.#clients.delete(oldest)
    }
    return e
  }

  /**
   * What moved every established client in this window, per feature: the median of their
   * deviations from their own habits (a slow upstream, a failing service, a traffic peak). NaN
   * (nothing discounted) with fewer than MIN_PEERS clients that have habits.
   */
  #commonShift(clients: readonly ClientWindow[], raw: Float64Array): Float64Array {
    const devs = new Float64Array(clients.length * DIMS)
    let m = 0
    clients.forEach((c, i) => {
      const st = this.#clients.get(c.clientId)?.st
      if (st === undefined || st.n < OWN_MIN) return
      for (let d = 0; d < DIMS; d++) devs[m * DIMS + d] = raw[i * DIMS + d] - st.mean[d]
      m++
    })
    return m < MIN_PEERS ? new Float64Array(DIMS).fill(Number.NaN) : columnMedians(devs, m)
  }

  /**
   * The surprise of x (raw features) against the client's own habits: the largest feature excess
   * over them (one-sided tail, Bonferroni over the features); NaN until the client has a history
   * to be judged by. A feature counts as above its habits only if it is above them both as it is
   * and after the window's common shift is taken out: a closed-loop client's count steps between
   * its usual values as its loop drifts against the window boundaries, and a median over such
   * steps can jump, so the shift alone would call its usual count high; while a shift that moved
   * every client (errors during an outage, the daily peak) would call the heaviest client high
   * on the raw value alone.
   */
  #own(st: ClientState, x: Float64Array, shift: Float64Array, requests: number): number {
    if (st.n < OWN_MIN) return Number.NaN
    // the habits are estimated from few windows: a Student-t predictive (ν = effective windows − 1,
    // scale widened by √(1 + 1/n)), through Wallace's (1959) normal equivalent of a t quantile
    const n = Math.min(st.n, OWN_HORIZON)
    const nu = n - 1
    const widen = Math.sqrt(1 + 1 / n)
    let worst = 0
    for (let d = 0; d < DIMS; d++) {
      if (d === LATENCY) continue
      const sd =
        Math.max(Math.sqrt(st.var[d]), OWN_FLOOR[d], d === 1 ? binomialSd(st.mean[d], requests) : 0) * widen
      const dev = x[d] - st.mean[d]
      const t = (Number.isNaN(shift[d]) ? dev : Math.min(dev, dev - shift[d])) / sd
      // one-sided: doing less than usual is not abuse
      if (!(t > 0)) continue
      const z = Math.sqrt(nu * Math.log1p((t * t) / nu)) * ((8 * nu + 1) / (8 * nu + 3))
      worst = Math.max(worst, -logNormalTail(z))
    }
    return Math.max(0, worst - Math.log(TAIL_TESTED))
  }

  /** The population's spread of feature d; for the error ratio and latency widened by the client's own sampling noise. */
  #popSd(d: number, requests: number): number {
    if (d === 1) return Math.hypot(this.#scale[d], binomialSd(this.#median[d] + this.#center[1], requests))
    if (d === 2) return Math.hypot(this.#scale[d], latencySd(requests))
    return this.#scale[d]
  }

  /** The largest one-sided normal surprise of a feature above the reference population's median (Bonferroni over features). */
  #excess(x: Float64Array, requests: number): number {
    let worst = 0
    for (let d = 0; d < DIMS; d++) {
      if (d === LATENCY) continue
      const z = (x[d] - this.#median[d]) / this.#popSd(d, requests)
      if (z > 0) worst = Math.max(worst, -logNormalTail(z))
    }
    return Math.max(0, worst - Math.log(TAIL_TESTED))
  }

  #learnOwn(st: ClientState, x: Float64Array): void {
    st.n++
    const a = 1 / Math.min(st.n, OWN_HORIZON)
    for (let d = 0; d < DIMS; d++) {
      const dev = x[d] - st.mean[d]
      st.mean[d] += a * dev
      st.var[d] = st.n === 1 ? 0 : (1 - a) * (st.var[d] + a * dev * dev)
    }
  }

  #refit(): void {
    const f = this.#forest
    const n = f.s.count
    if (n < 8) return
    f.fit()
    const col = new Float64Array(n)
    for (let d = 0; d < DIMS; d++) {
      for (let i = 0; i < n; i++) col[i] = f.s.data[i * DIMS + d]
      col.sort()
      const med = col[n >> 1]
      for (let i = 0; i < n; i++) col[i] = Math.abs(col[i] - med)
      col.sort()
      // a floor so a feature every client shares (one route each) still gives finite z-scores
      const floor = d === 1 ? 0.01 : 0.1
      this.#median[d] = med
      this.#scale[d] = Math.max(1.4826 * col[n >> 1], floor)
    }
  }

  #reasons(c: ClientWindow, x: Float64Array): ClientReason[] {
    const out: ClientReason[] = []
    CLIENT_FEATURES.forEach((f, d) => {
      const z = (x[d] - this.#median[d]) / this.#popSd(d, c.requests)
      out.push({
        feature: f,
        observed: observedValue(c, f),
        typical: typicalValue(f, this.#median[d] + this.#center[d]),
        z,
      })
    })
    out.sort((a, b) => b.z - a.z)
    const strong = out.filter((r) => r.z >= REASON_Z)
    return strong.length > 0 ? strong : out.slice(0, 1)
  }

  /** Clients whose alarm is active now. */
  active(): string[] {
    return [...this.#clients].filter(([, e]) => e.alarm.active).map(([id]) => id)
  }

  snapshot(): ClientOutliersSnapshot {
    return {
      kind: 'client-outliers',
      version: 2,
      options: { ...this.o },
      state: {
        forest: structuredClone(this.#forest.s),
        lik: structuredClone(this.#lik.s),
        ownLik: structuredClone(this.#ownLik.s),
        clients: [...this.#clients].map(([id, e]) => [id, structuredClone(e.st)]),
        median: [...this.#median],
        scale: [...this.#scale],
      },
    }
  }

  static restore(snap: ClientOutliersSnapshot): ClientOutliers {
    if (snap?.kind !== 'client-outliers' || (snap.version !== 1 && snap.version !== 2))
      throw VGL_ERR_DETECT_SNAPSHOT('client-outliers: not a client-outliers snapshot (version 1 or 2)')
    const c = new ClientOutliers(snap.options)
    // version 1 kept habits on another scale, and the calibration learned on them: start afresh
    // (a few windows) rather than call every client's usual traffic a change of habits
    if (snap.version === 1) return c
    c.#forest.s = structuredClone(snap.state.forest)
    c.#lik.s = structuredClone(snap.state.lik)
    c.#ownLik.s = structuredClone(snap.state.ownLik)
    for (const [id, st0] of snap.state.clients) {
      const st = structuredClone(st0)
      const alarm = new Alarm(c.o.alarm)
      alarm.s = st.alarm
      c.#clients.set(id, { st, alarm })
    }
    c.#median = [...snap.state.median]
    c.#scale = [...snap.state.scale]
    return c
  }
}
