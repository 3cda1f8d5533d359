/**
 * @module What the journeys add to alerts: each alert's user impact ("≈N users affected (a request missing the SLO) in the next
 * 30 minutes (90 % interval …)") and root-cause candidates (the enricher), and the incidents that
 * group alerts on services calling each other, headed by the likely root cause (the correlator).
 *
 * Off the hot path: the work starts when an alert turns pending (`warm`), in the background, so it
 * is usually done when the alert fires; the engine waits at most `alerts.enrichTimeoutMs` for it
 * and pages without it after that. A fresh answer is computed at each page; when it is late, the
 * one from when the alert turned pending is sent instead (its `atMs` says when).
 *
 * A trace is analysed once it is decided (`journeys.traceWaitMs` after its spans arrive, up to
 * `maxTraceWaitMs` when its root or a parent span is late), so when an alert fires its own
 * windows' traces may not all be in yet: the page says so, and the context is computed again once
 * they are and added to the alert (`annotate`), where the API shows it.
 */
import type { Alert, AlertCorrelator, AlertEnricher, AlertIncident } from '../alerts/index.js'
import { correlateAlerts, type Interval, type Symptom } from '../journeys/index.js'
import type { LiveJourneys } from './journeys.js'
import { fmtNum, fmtPct, fmtPctRange } from '../format.js'

export interface AlertJourneysOptions {
  journeys: LiveJourneys
  /** how far ahead the impact looks (journeys.horizonMs) */
  horizonMs: number
  /** alerts on services that call each other and start this close together are one incident */
  correlationWindowMs: number
  /** how long the engine waits for an enrichment: a late fresh answer falls back before it */
  enrichTimeoutMs: number
  /** journeys simulated per route for an alert; default 20,000 (tens of ms of CPU) */
  simulations?: number
  /** routes looked at per alert, busiest first; default 3 */
  maxRoutes?: number
  /** adds a later, complete answer to the alert's run (AlertEngine.annotate) */
  annotate?: (fingerprint: string, activeAtMs: number, context: Record<string, unknown>) => boolean
  now?: () => number
  onError?: (err: Error, what: string) => void
}

/** `alert.context.impact`: the alert's state lasting the horizon, over the routes it concerns. */
export interface AlertImpact {
  summary: string
  atMs: number
  horizonMs: number
  /** null when the clients are unknown (no client ids) */
  usersAffected: Interval | null
  failedRequests: Interval
  /**
   * share of requests missing the journeys' SLO (failed, or slower than `sloLatencyMs`) while the
   * alert's state lasts, over its routes weighted by their traffic; null without a simulated route
   */
  sloMissRatio: Interval | null
  sloLatencyMs: number
  routes: {
    route: string
    usersAffected: Interval | null
    failedRequests: Interval
    sloMissRatio: Interval
    trafficPerSec: number
    successProbability: number
    /** p95 of the journeys that succeed; null when none does (a failed one's time to fail is no latency) */
    p95Ms: number | null
  }[]
}

/** `alert.context.rootCause`: candidates per route the alert concerns (the first route's lead). */
export interface AlertRootCause {
  summary: string
  atMs: number
  symptom: Symptom | null
  /**
   * whether the symptom rose against the baseline on the first route ranked; false: the
   * candidates say where its evidence lies now, not what changed (null: no route ranked)
   */
  moved: boolean | null
  /** the first route's reason for the symptom, with its numbers ("errors: error ratio 2.1% → 7.4%") */
  symptomReason: string | null
  candidates: { route: string; service: string; env: string; score: number }[]
  edges: { route: string; from: string; to: string; score: number }[]
}

const SYMPTOMS: Record<string, Symptom> = {
  errorRatio: 'errors',
  failedRatio: 'errors',
  p50: 'latency',
  p95: 'latency',
  p99: 'latency',
}

/** how often a pending recomputation asks whether the alert's traces are all analysed */
const RECHECK_MS = 1_000
const yieldTurn = () => new Promise<void>((r) => setImmediate(r))
const isNoData = (err: unknown) => (err as { code?: string } | null)?.code === 'VGL_ERR_JOURNEYS_NO_DATA'
const round = (x: number) => Math.round(x).toLocaleString('en-US')
const sum = (xs: readonly Interval[]): Interval => ({
  value: xs.reduce((a, x) => a + x.value, 0),
  low: xs.reduce((a, x) => a + x.low, 0),
  high: xs.reduce((a, x) => a + x.high, 0),
})

/** The routes' SLO-miss shares weighted by their traffic (plainly averaged when none has any). */
function trafficWeighted(routes: AlertImpact['routes']): Interval | null {
  if (routes.length === 0) return null
  const total = routes.reduce((a, r) => a + r.trafficPerSec, 0)
  const w = (r: AlertImpact['routes'][number]) => (total > 0 ? r.trafficPerSec / total : 1 / routes.length)
  const mean = (f: (x: Interval) => number) => routes.reduce((a, r) => a + w(r) * f(r.sloMissRatio), 0)
  return { value: mean((x) => x.value), low: mean((x) => x.low), high: mean((x) => x.high) }
}

/**
 * The impact in one line, as chat and Alertmanager show it: the users (or, without client ids,
 * the failed requests) and the share of requests missing the SLO, each with its 90 % interval.
 */
export function impactSummary(impact: Omit<AlertImpact, 'summary'>, usersKnown: boolean): string {
  if (impact.routes.length === 0) return 'impact unknown: too few traces to simulate'
  const minutes = Math.round(impact.horizonMs / 60_000)
  const on = impact.routes.map((r) => r.route).join(', ')
  const whole = (x: Interval) => {
    const [low, high] = [round(x.low), round(x.high)]
    return low === high ? '' : ` (90% interval ${low}–${high})`
  }
  const head =
    usersKnown && impact.usersAffected !== null
      ? `≈${round(impact.usersAffected.value)} users affected (a request missing the SLO) in the next ${minutes} minutes${whole(impact.usersAffected)}`
      : `≈${round(impact.failedRequests.value)} failed requests in the next ${minutes} minutes${whole(impact.failedRequests)}`
  const m = impact.sloMissRatio
  const slo =
    m === null
      ? ''
      : `; ${fmtPct(m.value)} of requests miss the SLO (fail or take over ${fmtNum(impact.sloLatencyMs)} ms${m.low === m.high ? '' : `; 90% interval ${fmtPctRange(m.low, m.high)}`})`
  return `${head}${slo} on ${on}${usersKnown ? '' : '; users not counted (no client ids)'}`
}

/**
 * The leading candidates with what their score is, their share of the route's evidence (a bare
 * `1.00` reads as a confidence, or as nothing): `pricing (aws, 71% of the evidence), shop (onprem, 21%)`.
 */
function evidenceShares(
  lead: readonly { service: string; env: string; score: number }[],
  first: string,
): string {
  return lead
    .map((c, i) => `${c.service} (${c.env}, ${Math.round(100 * c.score)}%${i === 0 ? ` ${first}` : ''})`)
    .join(', ')
}

interface Cached {
  atMs: number
  pending: Promise<Record<string, unknown> | null>
  value: Record<string, unknown> | null
}

export class AlertJourneys {
  readonly #o: AlertJourneysOptions & { now: () => number }
  /** per fingerprint and run: the newest enrichment, done or under way */
  readonly #cache = new Map<string, Cached>()
  /** computations at once; more wait in line, up to MAX_WAITING */
  static readonly PARALLEL = 2
  static readonly MAX_WAITING = 50
  #running = 0
  readonly #waiting: (() => void)[] = []
  /** enrichments not computed because too many were waiting (an alert storm) */
  skipped = 0
  /** per fingerprint: the timer that computes the context again once the alert's traces are in */
  readonly #later = new Map<string, NodeJS.Timeout>()

  constructor(opts: AlertJourneysOptions) {
    this.#o = { ...opts, now: opts.now ?? Date.now }
  }

  /** Starts an alert's enrichment in the background (call as it turns pending). */
  warm(alert: Readonly<Alert>): void {
    if (this.#cache.size >= 1_000) this.#cache.clear()
    this.#start(alert)
  }

  /** Forgets a resolved alert's enrichment. */
  forget(alert: Readonly<Alert>): void {
    this.#cache.delete(alert.fingerprint)
    clearTimeout(this.#later.get(alert.fingerprint))
    this.#later.delete(alert.fingerprint)
  }

  /** Stops the pending recomputations. */
  close(): void {
    for (const t of this.#later.values()) clearTimeout(t)
    this.#later.clear()
  }

  readonly enrich: AlertEnricher = async (alert) => {
    this.#recomputeLater(alert)
    const prev = this.#cache.get(alert.fingerprint)
    const now = this.#o.now()
    // under way or just done: use it
    if (prev !== undefined && now - prev.atMs < 1_000) return prev.pending
    const fresh = this.#start(alert).pending
    if (prev?.value === undefined || prev.value === null) return fresh
    // the earlier answer, shortly before the engine would give up on the fresh one
    let timer: NodeJS.Timeout | undefined
    const fallback = new Promise<Record<string, unknown>>(
      (r) =>
        (timer = setTimeout(() => r(prev.value as Record<string, unknown>), this.#o.enrichTimeoutMs * 0.8)),
    )
    try {
      return await Promise.race([fresh, fallback])
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * Computes the context again once the traces of the alert's windows so far are all decided and
   * analysed: usually a traceWaitMs and a window after them, but a trace still waiting for its
   * root or a parent span holds them up to settleMs, so the journeys are asked each second.
   */
  #recomputeLater(alert: Readonly<Alert>): void {
    const annotate = this.#o.annotate
    const j = this.#o.journeys
    const until = Math.max(alert.lastEvalMs, alert.activeAtMs + 1)
    const latest = until + j.settleMs
    if (annotate === undefined || latest <= this.#o.now() || this.#later.has(alert.fingerprint)) return
    const snapshot = structuredClone(alert) as Alert
    const check = () => {
      const now = this.#o.now()
      if (j.completeUntilMs(now) < until && now < latest) {
        arm(Math.min(RECHECK_MS, latest - now))
        return
      }
      this.#later.delete(snapshot.fingerprint)
      this.context(snapshot)
        .then((ctx) => annotate(snapshot.fingerprint, snapshot.activeAtMs, { ...ctx }))
        .catch((err: Error) =>
          this.#o.onError?.(err, `alert ${snapshot.rule} ${snapshot.key}: impact and root cause`),
        )
    }
    const arm = (ms: number) => {
      const timer = setTimeout(check, ms)
      timer.unref()
      this.#later.set(alert.fingerprint, timer)
    }
    arm(RECHECK_MS)
  }

  #start(alert: Readonly<Alert>): Cached {
    const entry: Cached = { atMs: this.#o.now(), pending: Promise.resolve(null), value: null }
    const prev = this.#cache.get(alert.fingerprint)
    // an earlier answer stays the fallback until this one is done
    if (prev?.value !== undefined) entry.value = prev.value
    const snapshot = structuredClone(alert) as Alert
    entry.pending = (async () => {
      await yieldTurn() // never inside the caller's turn (the engine's window step)
      // an alert storm queues its work instead of running it all at once; past the queue's
      // bound an alert goes without (its page is never held: the engine's deadline)
      if (this.#running >= AlertJourneys.PARALLEL) {
        if (this.#waiting.length >= AlertJourneys.MAX_WAITING) {
          this.skipped++
          return null
        }
        await new Promise<void>((r) => this.#waiting.push(r))
      }
      this.#running++
      try {
        const got = await this.context(snapshot)
        entry.value = got
        return got
      } catch (err) {
        this.#o.onError?.(err as Error, `alert ${alert.rule} ${alert.key}: impact and root cause`)
        return null
      } finally {
        this.#running--
        this.#waiting.shift()?.()
      }
    })()
    this.#cache.set(alert.fingerprint, entry)
    return entry
  }

  /** The impact and root cause of an alert now (no cache). */
  async context(alert: Readonly<Alert>): Promise<{ impact: AlertImpact; rootCause: AlertRootCause }> {
    const j = this.#o.journeys
    const now = this.#o.now()
    const service = alert.series.service === '*' ? null : alert.series.service
    const routes = j.routesOf(service, alert.series.route).slice(0, this.#o.maxRoutes ?? 3)
    const symptom = SYMPTOMS[alert.evidence.metric] ?? null
    const rootCause: AlertRootCause = {
      summary: '',
      atMs: now,
      symptom,
      moved: null,
      symptomReason: null,
      candidates: [],
      edges: [],
    }
    const impact: AlertImpact = {
      summary: '',
      atMs: now,
      horizonMs: this.#o.horizonMs,
      usersAffected: null,
      failedRequests: { value: 0, low: 0, high: 0 },
      sloMissRatio: null,
      sloLatencyMs: j.slo.latencyMs,
      routes: [],
    }
    if (routes.length === 0) {
      const what = service === null ? 'any service' : `"${service}"`
      impact.summary = `impact unknown: no traced journey reaches ${what} yet`
      rootCause.summary = `root cause unknown: no traced journey reaches ${what} yet`
      return { impact, rootCause }
    }
    const users: Interval[] = []
    let usersKnown = true
    for (const route of routes) {
      await yieldTurn()
      // the alert's windows once their traces are decided, else the newest decided ones
      const toMs = Math.max(alert.lastEvalMs, alert.activeAtMs + 1)
      const settled = j.completeUntilMs(now)
      try {
        const rc = await j
          .rootCause({ route, fromMs: alert.activeAtMs, toMs, symptom: symptom ?? 'auto' })
          .catch(() =>
            j.rootCause({ route, fromMs: Math.min(alert.activeAtMs, 2 * settled - now), toMs: now }),
          )
        rootCause.symptom ??= rc.symptom
        rootCause.moved ??= rc.moved
        rootCause.symptomReason ??= rc.symptomReason
        for (const c of rc.services.slice(0, 3))
          rootCause.candidates.push({ route, service: c.service, env: c.env, score: c.score })
        const e = rc.edges[0]
        if (e !== undefined && e.from !== undefined && e.to !== undefined)
          rootCause.edges.push({ route, from: e.from, to: e.to, score: e.score })
      } catch (err) {
        // a route without traces in the alert's windows is no fault: the summary says it is unknown
        if (!isNoData(err)) this.#o.onError?.(err as Error, `alert root cause on route ${route}`)
      }
      await yieldTurn()
      try {
        const r = await j.currentImpact(
          route,
          alert.activeAtMs,
          this.#o.horizonMs,
          this.#o.simulations ?? 20_000,
        )
        const o = r.baseline
        impact.routes.push({
          route,
          usersAffected: o.usersAffected,
          failedRequests: o.expectedFailedRequests,
          sloMissRatio: o.requestSloMissRatio,
          trafficPerSec: r.trafficPerSec.value,
          successProbability: o.successProbability.value,
          p95Ms: o.succeededLatencyMs?.p95.value ?? null,
        })
        if (o.usersAffected === null) usersKnown = false
        else users.push(o.usersAffected)
      } catch (err) {
        if (!isNoData(err)) this.#o.onError?.(err as Error, `alert impact on route ${route}`)
      }
    }
    impact.failedRequests = sum(impact.routes.map((r) => r.failedRequests))
    impact.sloMissRatio = trafficWeighted(impact.routes)
    if (usersKnown && impact.routes.length > 0) impact.usersAffected = sum(users) // a client on two routes counts twice: an upper bound
    impact.summary = impactSummary(impact, usersKnown)
    rootCause.candidates.sort((a, b) => b.score - a.score)
    const lead = [...new Map(rootCause.candidates.map((c) => [`${c.service}|${c.env}`, c])).values()].slice(
      0,
      3,
    )
    // the traces of the alert's windows still waiting: usually a traceWaitMs, at most settleMs
    const incomplete = j.completeUntilMs(now) < Math.max(alert.lastEvalMs, alert.activeAtMs + 1)
    rootCause.summary =
      lead.length === 0
        ? incomplete
          ? "root cause not known yet: the traces of the alert's windows are still coming in (the alert in the API gets it)"
          : 'root cause unknown: no evidence in the traces'
        : rootCause.moved === false
          ? `no root cause of a change: against the baseline, ${rootCause.symptomReason ?? 'nothing moved'}; the evidence now lies with ${evidenceShares(lead, 'of it')}`
          : `likely root cause${rootCause.symptom === null ? '' : ` of the ${rootCause.symptom}`}: ${evidenceShares(lead, 'of the evidence')}`
    return { impact, rootCause }
  }

  /**
   * Incidents from the service graph: alerts whose services call each other (seen in the graph's
   * last `correlationWindowMs` plus five minutes) and that turned active within
   * `correlationWindowMs`, headed by the deepest dependency, then by the root-cause scores the
   * enrichments gave.
   */
  readonly correlate: AlertCorrelator = (active) => {
    const now = this.#o.now()
    const edges = this.#o.journeys.callEdges(now - this.#o.correlationWindowMs - 300_000, now)
    if (edges.length === 0) return []
    const best = new Map<string, number>()
    for (const a of active) {
      const rc = a.context.rootCause as AlertRootCause | undefined
      for (const c of rc?.candidates ?? []) best.set(c.service, Math.max(best.get(c.service) ?? 0, c.score))
    }
    const alerts = active
      .filter((a) => a.series.service !== '*')
      // a gateway series' env is the gateway's, not the service's: any env of the service
      .map((a) => ({ id: a.fingerprint, service: a.series.service, env: null, startsAtMs: a.activeAtMs }))
    return correlateAlerts(alerts, edges, this.#o.correlationWindowMs, (s) => best.get(s) ?? 0)
      .filter((i) => i.alerts.length > 1)
      .map((i): AlertIncident => ({ members: i.alerts.map((a) => a.id), reason: i.reason }))
  }
}
