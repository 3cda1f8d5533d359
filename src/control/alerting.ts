/**
 * @module Alerting in the control plane: a window hook that hands each closed window, with the
 * detector bank's bands, the anomalies open on the series and its newest forecast, to the alert
 * engine (src/alerts); the engine's state, action records, silences and acknowledgements live in
 * the store. Also the alerts API's source: `LiveAlerts` on the leader (embedded: in the worker),
 * `StoredAlerts` on a follower `vigil control` (store reads; acks and silences written to the
 * store, where the leader picks them up within a second).
 *
 * ```
 * window hook (after detect) ─▶ WindowInput ─▶ AlertEngine ─▶ action log (fenced) ─▶ sinks
 *                                                  ▲ silences, acks (store, refreshed every second)
 * ```
 */
import { randomUUID } from 'node:crypto'
import { z } from 'zod'
import {
  AlertEngine,
  checkMatcher,
  createSink,
  parseMatchers,
  SinkDispatcher,
  unmatchable,
  type Alert,
  type AlertCorrelator,
  type AlertEnricher,
  type AlertMetricsSnapshot,
  type AlertQuery,
  type HeldNotification,
  type Silence,
  type SilenceLabels,
  type SilenceMatcher,
  type WindowInput,
} from '../alerts/index.js'
import { holdMs, issueProblems, jsonIssueMessage, type Config } from '../config/index.js'
import type { AlertSinkConfig } from '../config/alerts-schema.js'
import {
  isVigilError,
  VGL_ERR_ALERTS_BAD_INPUT,
  VGL_ERR_ALERTS_NOT_FIRING,
  VGL_ERR_ALERTS_NOT_FOUND,
} from '../errors.js'
import type { ActionRecord, Store, StoredAlertAck, StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import type { ActionLog } from './actions.js'
import type { LiveAnomalies } from './anomalies.js'
import type { WindowClosedContext } from './control-plane.js'
import type { LiveForecasts } from './forecasts.js'
import type { Leadership } from './leadership.js'
import { toSeriesPoint, type SeriesPoint } from './points.js'
import { formatSeriesKey, seriesLevel } from './series-key.js'
import { StoreBacklog, type BacklogSink } from './store-backlog.js'

/** The scope of alert state in the store's fenced control state. */
export const ALERT_STATE_SCOPE = 'alerts'
/** The scope of notifications a sink never took (src/alerts/undelivered.ts), one per sink and alert. */
export const UNDELIVERED_SCOPE = 'alerts.undelivered'
/** Store events of each alert that fired and resolved: the history a replay is compared with. */
export const ALERT_FIRED = 'alert.fired'
export const ALERT_RESOLVED = 'alert.resolved'

/** The payload of an `alert.fired` / `alert.resolved` event. */
export interface AlertTransitionEvent {
  rule: string
  fingerprint: string
  key: string
  mode: 'shadow' | 'enforce'
  activeAtMs: number
  firingAtMs: number | null
  resolvedAtMs: number | null
  resolvedBy: Alert['resolvedBy']
  summary: string
}

export function transitionEvent(a: Readonly<Alert>): AlertTransitionEvent {
  return {
    rule: a.rule,
    fingerprint: a.fingerprint,
    key: a.key,
    mode: a.mode,
    activeAtMs: a.activeAtMs,
    firingAtMs: a.firingAtMs,
    resolvedAtMs: a.resolvedAtMs,
    resolvedBy: a.resolvedBy,
    summary: a.state === 'resolved' ? a.latest.summary : a.evidence.summary,
  }
}

export interface SilenceInput {
  /** `service="orders", env=~"prod|staging"`, or matcher objects */
  matchers: string | SilenceMatcher[]
  /** default now */
  startsAtMs?: number
  endsAtMs: number
  createdBy: string
  comment: string
  /**
   * The values the caller's config fixes per label (`silenceLabels(config)`): an exact matcher on
   * such a label must name one. The admin API passes its process's current config, so a service
   * added by a reload can be silenced at once.
   */
  labels?: SilenceLabels
}

/** What the alerts API asks; implemented by LiveAlerts, StoredAlerts and the embedded worker's client. */
export interface AlertSource {
  listAlerts(q: AlertQuery): Promise<Alert[]>
  getAlert(fingerprint: string): Promise<Alert>
  ackAlert(fingerprint: string, by: string, comment: string): Promise<Alert>
  listSilences(all: boolean): Promise<Silence[]>
  createSilence(input: SilenceInput): Promise<Silence>
  deleteSilence(id: string): Promise<void>
}

const matcherSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'label names are letters, digits and _'),
  value: z.string(),
  isRegex: z.boolean().default(false),
  isEqual: z.boolean().default(true),
})

/** Validates a silence and fills id and times; throws VGL_ERR_ALERTS_BAD_INPUT naming the field. */
export function buildSilence(input: SilenceInput, nowMs: number): Silence {
  let matchers: SilenceMatcher[]
  try {
    matchers =
      typeof input.matchers === 'string'
        ? parseMatchers(input.matchers)
        : input.matchers.map((m, i) => {
            const r = matcherSchema.safeParse(m, { reportInput: true, error: jsonIssueMessage })
            if (!r.success)
              throw VGL_ERR_ALERTS_BAD_INPUT(
                issueProblems(r.error, { under: ['matchers', i], schema: matcherSchema })
                  .map((p) => `${p.path}: ${p.message}`)
                  .join('; '),
              )
            return checkMatcher(r.data)
          })
  } catch (err) {
    if (isVigilError(err)) throw err
    throw VGL_ERR_ALERTS_BAD_INPUT(`matchers: ${(err as Error).message}`)
  }
  if (matchers.length === 0)
    throw VGL_ERR_ALERTS_BAD_INPUT('matchers: give at least one, e.g. service="orders"')
  matchers.forEach((m, i) => {
    const why = unmatchable(m, input.labels ?? {})
    if (why !== null) throw VGL_ERR_ALERTS_BAD_INPUT(`matchers[${i}]: ${why}`)
  })
  const startsAtMs = input.startsAtMs ?? nowMs
  if (!(input.endsAtMs > startsAtMs))
    throw VGL_ERR_ALERTS_BAD_INPUT(`endsAt (${input.endsAtMs}) must be after startsAt (${startsAtMs})`)
  if (input.createdBy.trim() === '') throw VGL_ERR_ALERTS_BAD_INPUT('createdBy: say who silences')
  return {
    id: randomUUID(),
    matchers,
    startsAtMs,
    endsAtMs: input.endsAtMs,
    createdBy: input.createdBy.slice(0, 200),
    comment: input.comment.slice(0, 2_000),
    createdAtMs: nowMs,
  }
}

/** The alerts API over the store alone: followers in scaled-out mode (and the base of LiveAlerts). */
export class StoredAlerts implements AlertSource {
  protected readonly store: Store
  protected readonly now: () => number

  constructor(store: Store, now: () => number = Date.now) {
    this.store = store
    this.now = now
  }

  protected async stored(): Promise<Alert[]> {
    return (await this.store.getControlState(ALERT_STATE_SCOPE)).map((e) => e.data as Alert)
  }

  async listAlerts(q: AlertQuery): Promise<Alert[]> {
    const state = q.state ?? 'active'
    return (await this.stored())
      .filter(
        (a) =>
          (state === 'all' || (state === 'active' ? a.state !== 'resolved' : a.state === state)) &&
          (q.service === undefined || a.series.service === q.service) &&
          (q.env === undefined || a.series.env === q.env) &&
          (q.rule === undefined || a.rule === q.rule),
      )
      .sort((a, b) => b.activeAtMs - a.activeAtMs)
  }

  async getAlert(fingerprint: string): Promise<Alert> {
    const a = (await this.stored()).find((x) => x.fingerprint === fingerprint)
    if (a === undefined) throw VGL_ERR_ALERTS_NOT_FOUND('alert', fingerprint)
    return a
  }

  async ackAlert(fingerprint: string, by: string, comment: string): Promise<Alert> {
    const a = await this.getAlert(fingerprint)
    if (a.state !== 'firing' || a.firingAtMs === null) throw VGL_ERR_ALERTS_NOT_FIRING(fingerprint, a.state)
    const ack: StoredAlertAck = { fingerprint, startsAtMs: a.firingAtMs, by, comment, atMs: this.now() }
    await this.store.putAlertAck(ack)
    return { ...a, ack: { by, comment, atMs: ack.atMs } }
  }

  async listSilences(all: boolean): Promise<Silence[]> {
    return this.store.listSilences(all ? undefined : this.now())
  }

  async createSilence(input: SilenceInput): Promise<Silence> {
    const s = buildSilence(input, this.now())
    await this.store.putSilence(s)
    return s
  }

  async deleteSilence(id: string): Promise<void> {
    if (!(await this.store.deleteSilence(id))) throw VGL_ERR_ALERTS_NOT_FOUND('silence', id)
  }
}

export interface LiveAlertsOptions {
  config: Config
  store: Store
  /** where alert events wait while the store cannot be written; default: a backlog of its own */
  backlog?: StoreBacklog
  actions: ActionLog
  leadership: Leadership
  anomalies: LiveAnomalies | null
  forecasts: LiveForecasts | null
  /** prefix of alert links: default alerts.externalUrl, else `adminUrl` */
  linkBase?: string
  /** the admin API's URL when known: the links' prefix when alerts.externalUrl is not set */
  adminUrl?: string
  /** how often silences and acknowledgements are re-read from the store; default 1 s */
  refreshMs?: number
  /** how often notifications a sink never took are tried again; default 5 min */
  resendEveryMs?: number
  enrichers?: readonly AlertEnricher[]
  correlate?: AlertCorrelator
  onTransition?: ConstructorParameters<typeof AlertEngine>[0]['onTransition']
  onError?: (err: Error, what: string) => void
  now?: () => number
}

/** The leader's alerting: the window hook, the engine, sinks, and the API over both. */
export class LiveAlerts extends StoredAlerts {
  readonly engine: AlertEngine
  #dispatchers: SinkDispatcher[]
  #o: LiveAlertsOptions
  #levels: Set<string>
  /** sinks a reload removed or replaced, delivering what they still hold */
  readonly #retiring = new Set<Promise<void>>()
  #silences: Silence[] = []
  #events: Promise<void> = Promise.resolve()
  readonly #storeEvents: BacklogSink<StoredEvent>
  #timer: NodeJS.Timeout | null = null
  #refreshing: Promise<void> | null = null

  constructor(opts: LiveAlertsOptions) {
    super(opts.store, opts.now)
    this.#o = opts
    const a = opts.config.alerts
    this.#dispatchers = a.sinks.map((s) => this.#dispatcherOf(s))
    this.#levels = new Set(a.rules.map((r) => r.level))
    const budgets: Record<string, number> = {}
    for (const [svc, b] of Object.entries(opts.config.limits.services)) budgets[svc] = b.ratePerSec
    const store = opts.store
    this.#storeEvents = (opts.backlog ?? new StoreBacklog()).sink(
      'alert events',
      (b: readonly StoredEvent[]) => store.appendEvents(b),
    )
    this.engine = new AlertEngine({
      rules: a.rules,
      windowMs: opts.config.telemetry.windowMs,
      repeatIntervalMs: a.repeatInterval,
      staleAfterMs: holdMs(a.staleAfter, opts.config.telemetry.windowMs),
      keepResolvedMs: a.keepResolved,
      linkBase: opts.linkBase ?? a.externalUrl?.replace(/\/+$/, '') ?? opts.adminUrl ?? '',
      context: {
        budgets,
        history: async (series, fromMs, toMs) =>
          (await store.queryPoints(series, fromMs, toMs, 'window')).map(toSeriesPoint),
      },
      actions: opts.actions,
      state: {
        load: async () => (await store.getControlState(ALERT_STATE_SCOPE)).map((e) => e.data as Alert),
        save: (changed, deleted) =>
          store.putControlState(
            ALERT_STATE_SCOPE,
            [
              ...changed.map((x) => ({ key: x.fingerprint, data: x })),
              ...deleted.map((k) => ({ key: k, data: null })),
            ],
            opts.leadership.token(),
          ),
      },
      dispatchers: this.#dispatchers,
      held: {
        load: async () =>
          (await store.getControlState(UNDELIVERED_SCOPE)).map((e) => e.data as HeldNotification),
        save: (entries) => store.putControlState(UNDELIVERED_SCOPE, entries, opts.leadership.token()),
      },
      resendEveryMs: opts.resendEveryMs,
      silences: () => this.#silences,
      fencingToken: () => (opts.leadership.leading ? opts.leadership.token() : null),
      enrichers: opts.enrichers,
      enrichTimeoutMs: a.enrichTimeout,
      correlate: opts.correlate,
      onTransition: (alert, from, to) => {
        if (to === 'firing' || to === 'resolved') this.#recordTransition(alert, to)
        opts.onTransition?.(alert, from, to)
      },
      onError: opts.onError,
      now: opts.now,
    })
  }

  get dispatchers(): readonly SinkDispatcher[] {
    return this.#dispatchers
  }

  #dispatcherOf(s: AlertSinkConfig): SinkDispatcher {
    return SinkDispatcher.fromConfig(createSink(s), s, (m) => this.#o.onError?.(new Error(m), 'alert sink'))
  }

  /**
   * Applies a reloaded config's `alerts` (rules, sinks, routing, repeatInterval, staleAfter,
   * keepResolved, enrichTimeout, externalUrl) without losing state: alerts keep their fingerprints
   * and acknowledgements, silences stay in the store. An unchanged sink keeps its queue; a changed
   * one hands its waiting notifications to its replacement; a removed one delivers what it holds
   * for up to `graceMs`, then reports the rest as dropped in their alerts' actions.
   */
  reconfigure(config: Config, graceMs = 10_000): void {
    const before = new Map(this.#o.config.alerts.sinks.map((s) => [s.name, JSON.stringify(s)]))
    const old = new Map(this.#dispatchers.map((d) => [d.sink.name, d]))
    const retire = (p: Promise<void>) => {
      this.#retiring.add(p)
      void p.finally(() => this.#retiring.delete(p))
    }
    const a = config.alerts
    this.#o = { ...this.#o, config }
    this.#dispatchers = a.sinks.map((s) => {
      const d = old.get(s.name)
      old.delete(s.name)
      if (d !== undefined && before.get(s.name) === JSON.stringify(s)) return d
      const fresh = this.#dispatcherOf(s)
      if (d !== undefined) retire(d.handOver(fresh, graceMs))
      return fresh
    })
    for (const d of old.values()) retire(d.retire(graceMs))
    this.#levels = new Set(a.rules.map((r) => r.level))
    this.engine.reconfigure({
      rules: a.rules,
      repeatIntervalMs: a.repeatInterval,
      staleAfterMs: holdMs(a.staleAfter, config.telemetry.windowMs),
      keepResolvedMs: a.keepResolved,
      linkBase: this.#o.linkBase ?? a.externalUrl?.replace(/\/+$/, '') ?? this.#o.adminUrl ?? '',
      enrichTimeoutMs: a.enrichTimeout,
      dispatchers: this.#dispatchers,
    })
  }

  /** History of firings, in order (not fenced: a record of what was judged, not an action). */
  #recordTransition(a: Readonly<Alert>, to: 'firing' | 'resolved'): void {
    const event: StoredEvent = {
      atMs: (to === 'firing' ? a.firingAtMs : a.resolvedAtMs) ?? a.lastEvalMs,
      kind: to === 'firing' ? ALERT_FIRED : ALERT_RESOLVED,
      actor: 'control',
      subject: a.key,
      payload: transitionEvent(a),
    }
    this.#events = this.#events.then(() =>
      this.#storeEvents([event]).then(
        () => {},
        (err: Error) => this.#o.onError?.(err, 'alert transition event'),
      ),
    )
  }

  /**
   * The window hook: register it with `ControlPlane.onWindowClosed` after the anomaly and
   * forecast hooks, so it reads their view of the same window. Corrections are not judged again.
   */
  readonly hook = (series: SeriesKey, point: SeriesPoint, ctx: WindowClosedContext): void => {
    if (ctx.correction) return
    const level = seriesLevel(series)
    if (!this.#levels.has(level)) return
    const key = formatSeriesKey(series)
    const f = this.#o.forecasts?.latest(key) ?? null
    const input: WindowInput = {
      series,
      key,
      level,
      point,
      expected: this.#o.anomalies?.explained(key) ?? null,
      anomalies: this.#o.anomalies?.openOn(key) ?? [],
      // a fit applies from the window after the newest one it saw (as in a replay)
      forecast: f !== null && f.lastPointMs < point.startMs ? f : null,
    }
    this.engine.evaluate(input)
  }

  /**
   * The clock hook: register it with `ControlPlane.onTick`, so a firing alert whose series stopped
   * getting windows resolves as stale even when no window of any series arrives.
   */
  readonly tickHook = (closedUpToMs: number): void => {
    this.engine.tick(closedUpToMs)
  }

  /**
   * Loads persisted alerts, silences and acknowledgements, re-sends what a previous leader
   * recorded but may not have delivered, and starts refreshing silences and acks.
   */
  async start(): Promise<void> {
    await this.engine.start()
    await this.#refresh()
    const since = this.now() - Math.max(this.#o.config.alerts.repeatInterval, 3_600_000)
    const token = this.#o.leadership.token()
    const pending: ActionRecord[] = []
    for (const kind of ['alert.firing', 'alert.repeat', 'alert.resolved'])
      for (const r of await this.store.queryActions({ kind, mode: 'enforce', fromMs: since, limit: 1_000 }))
        if (r.result.status === 'pending' && r.fencingToken < token) pending.push(r)
    this.engine.redeliver(pending)
    this.#timer = setInterval(() => void this.#refresh(), this.#o.refreshMs ?? 1_000)
    this.#timer.unref()
  }

  #refresh(): Promise<void> {
    this.#refreshing ??= (async () => {
      try {
        this.#silences = await this.store.listSilences(this.now() - 60_000)
        this.engine.applyAcks(await this.store.listAlertAcks(this.now() - this.#o.config.alerts.keepResolved))
      } catch (err) {
        this.#o.onError?.(err as Error, 'alerts: silences and acknowledgements not refreshed')
      }
    })().finally(() => (this.#refreshing = null))
    return this.#refreshing
  }

  override async listAlerts(q: AlertQuery): Promise<Alert[]> {
    return this.engine.alerts(q)
  }

  override async getAlert(fingerprint: string): Promise<Alert> {
    const a = this.engine.get(fingerprint)
    if (a === null) throw VGL_ERR_ALERTS_NOT_FOUND('alert', fingerprint)
    return a
  }

  override async ackAlert(fingerprint: string, by: string, comment: string): Promise<Alert> {
    const a = await this.getAlert(fingerprint)
    if (a.state !== 'firing' || a.firingAtMs === null) throw VGL_ERR_ALERTS_NOT_FIRING(fingerprint, a.state)
    const ack: StoredAlertAck = { fingerprint, startsAtMs: a.firingAtMs, by, comment, atMs: this.now() }
    await this.store.putAlertAck(ack)
    return this.engine.ack(ack) ?? a
  }

  override async createSilence(input: SilenceInput): Promise<Silence> {
    const s = await super.createSilence(input)
    await this.#refresh()
    return s
  }

  override async deleteSilence(id: string): Promise<void> {
    await super.deleteSilence(id)
    await this.#refresh()
  }

  /** For /metrics. */
  metrics(): AlertMetricsSnapshot {
    return {
      states: this.engine.counts(),
      sinks: this.dispatchers.map((d) => ({
        sink: d.sink.name,
        queued: d.queued,
        undelivered: this.engine.undelivered.count(d.sink.name),
        ...d.stats,
      })),
    }
  }

  /** Judges what is queued, saves state, gives the sinks a moment to deliver, then closes them. */
  async stop(graceMs = 2_000): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.engine.close()
    await Promise.all(this.#dispatchers.map((d) => d.close(graceMs)))
    await Promise.all(this.#retiring)
    await this.#events
  }
}
