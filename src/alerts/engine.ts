/**
 * @module The alert engine: rules judge each closed window of each series, alerts move through
 * pending → firing → resolved, and what must be sent is recorded in the action log, persisted,
 * and handed to the sinks' dispatchers.
 *
 * ```
 * evaluate(window input) ─▶ [queue] ─▶ rules ─▶ lifecycle per (rule, series): pending ─for─▶ firing ─resolveFor─▶ resolved
 *                                                                  │ (queue drained)
 *                          owed notifications: firing (once per run, not silenced), repeat (every
 *                          repeatInterval while firing and not acknowledged), resolved (of a replaced run first)
 *                                                                  ▼
 *     record action (fenced; refused ⇒ nothing sent) ─▶ save state (fenced) ─▶ group by service|env ─▶ sinks
 *                                                                                   done ─▶ settle action
 * ```
 *
 * Time inside the engine is data time: the end of the newest window seen. `for`, `resolveFor`,
 * the repeat interval, silences and staleness are judged against it, so a replay of stored
 * windows makes the same decisions as the live run that produced them. Gateways ship a window
 * only when requests arrived in it, so when traffic stops no window moves data time on: the
 * control plane's clock does instead (`tick`), and a firing alert whose series has had no window
 * with enough requests for its rule (a trickle below minRequests is no evidence) for
 * `staleAfterMs` resolves at the moment it went stale, whoever noticed it.
 */
import { createHash } from 'node:crypto'
import type { AlertRuleConfig } from '../config/alerts-schema.js'
import { formatDurationMs } from '../parsing.js'
import type { ActionRecord, StoredAlertAck, StoredSilence } from '../store/index.js'
import type { DeliveryOutcome, SinkDispatcher } from './dispatcher.js'
import { evaluateRule, holdWindows, quickInactive, ruleMatches, type RuleContext } from './rules.js'
import { silencing } from './silences.js'
import { UndeliveredNotifications, type HeldStore } from './undelivered.js'
import type {
  Alert,
  AlertCorrelator,
  AlertEnricher,
  AlertIncident,
  AlertLinks,
  AlertState,
  Evidence,
  Notification,
  WindowInput,
} from './types.js'

/** What the engine records in the action log (ActionLog, src/control/actions.ts, implements it). */
export interface AlertActionPort {
  /** records a decision, fenced; throws when this process must not act (then nothing is sent) */
  record(input: {
    id: string
    kind: string
    policy: string
    mode: 'shadow' | 'enforce'
    target: string
    before: unknown
    after: unknown
    reason: string
    evidence: unknown
    atMs?: number
  }): Promise<ActionRecord>
  settle(
    rec: ActionRecord,
    result: { status: 'ok' | 'failed'; detail?: string; data?: unknown },
  ): Promise<unknown>
}

/** Where alert state lives across restarts and failovers (fenced writes). */
export interface AlertStatePort {
  load(): Promise<Alert[]>
  save(changed: readonly Alert[], deleted: readonly string[]): Promise<void>
}

export interface AlertEngineOptions {
  rules: readonly AlertRuleConfig[]
  windowMs: number
  repeatIntervalMs: number
  /**
   * a firing alert whose series has had no window with enough requests for its rule for this long
   * resolves; a pending one is dropped
   */
  staleAfterMs: number
  keepResolvedMs: number
  /** prefix of the links in each alert: the admin API's URL, or '' for relative links */
  linkBase: string
  context: Omit<RuleContext, 'windowMs'>
  /** null: a dry run (replay): decisions are made and reported, nothing recorded or sent */
  actions?: AlertActionPort | null
  state?: AlertStatePort | null
  dispatchers?: readonly SinkDispatcher[]
  /** where notifications a sink never took are kept until it does (absent: in memory only) */
  held?: HeldStore | null
  /** how often held notifications are tried again (default 5 min) and for how long (default 24 h) */
  resendEveryMs?: number
  holdUndeliveredMs?: number
  /** active silences now (refreshed by the caller) */
  silences?: () => readonly StoredSilence[]
  /** the leader's fencing token, put in every notification */
  fencingToken?: () => number | null
  enrichers?: readonly AlertEnricher[]
  enrichTimeoutMs?: number
  correlate?: AlertCorrelator
  /** every lifecycle change, as it happens */
  onTransition?: (alert: Readonly<Alert>, from: AlertState | 'inactive', to: AlertState | 'inactive') => void
  /** wall clock, for action times */
  now?: () => number
  onError?: (err: Error, what: string) => void
}

export interface AlertQuery {
  state?: AlertState | 'active' | 'all'
  service?: string
  env?: string
  rule?: string
}

/** A service's actuator failing or working again (the autoscaler, through the action log). */
export interface ActuatorSignal {
  actuator: string
  service: string
  env: string
  failing: boolean
  /** wall clock */
  atMs: number
  /** what failed (or that it works again), for people */
  summary: string
  /** the action behind it, the error code, the tries */
  details: Record<string, unknown>
}

/** What a reload may change in a running engine (AlertEngine.reconfigure). */
export type AlertEngineSettings = Pick<
  AlertEngineOptions,
  | 'rules'
  | 'repeatIntervalMs'
  | 'staleAfterMs'
  | 'keepResolvedMs'
  | 'linkBase'
  | 'dispatchers'
  | 'enrichTimeoutMs'
>

interface Reconfigure {
  reconfigure: AlertEngineSettings
}

/** The control plane's clock: every window ending at or before `closedUpToMs` has closed. */
interface Tick {
  closedUpToMs: number
  /** every window before it was seen (a replay of stored history), not only since the first tick */
  complete: boolean
}

const matchAny = (pattern: string | undefined, value: string) =>
  pattern === undefined || pattern === '*' || pattern === value

/** Stable per (rule, series key). */
export function alertFingerprint(rule: string, key: string): string {
  return createHash('sha256').update(`${rule}\u0000${key}`).digest('hex').slice(0, 16)
}

const ORDER: Record<AlertState, number> = { firing: 0, pending: 1, resolved: 2 }

const SEVERITY_RANK: Record<Alert['severity'], number> = { info: 0, warning: 1, critical: 2 }

/**
 * The head of the incident that holds this alert's pages back, or null when it pages itself. A
 * member more severe than its head pages too: the head's page (a warning's error ratio) would
 * not tell the on-call what the member says (the service is down).
 */
function heldBy(a: Alert, head: Alert | undefined): string | null {
  if (a.incident === null || a.incident === a.fingerprint) return null
  if (head !== undefined && SEVERITY_RANK[a.severity] > SEVERITY_RANK[head.severity]) return null
  return a.incident
}

/** The alert's runs, earlier ones and the current (or just resolved) one, as [from, to) ranges. */
function runsOf(a: Alert): [number, number][] {
  return [...(a.pastRuns ?? []), [a.activeAtMs, a.resolvedAtMs ?? Infinity]]
}

export class AlertEngine {
  /** notifications a sink never took, held until it does */
  readonly undelivered: UndeliveredNotifications
  readonly #o: AlertEngineOptions & { now: () => number }
  readonly #ctx: RuleContext
  readonly #alerts = new Map<string, Alert>()
  /** a resolved alert replaced by a new pending run, put back if the run never fires */
  readonly #previous = new Map<string, Alert>()
  /**
   * resolved runs replaced by a new run before their resolution went out (judged in the same
   * batch as the re-fire, or its record refused): it still goes, ahead of the new run's firing
   */
  readonly #unsentResolutions = new Map<string, Alert>()
  readonly #dirty = new Set<string>()
  /** alerts that fired since the last flush: enriched at it */
  readonly #justFired = new Set<Alert>()
  readonly #deleted = new Set<string>()
  readonly #queue: (WindowInput | ActuatorSignal | Tick | Reconfigure)[] = []
  /** fingerprints per series key, one per rule (index as in rules): hashed once, not per window */
  readonly #fingerprints = new Map<string, string[]>()
  /** each rule's place in the config (ties between alerts are broken by it) */
  #ruleIndex: ReadonlyMap<string, number>
  /** rules a reload removed: the resolutions their alerts still owe go to their sinks */
  readonly #retiredRules = new Map<string, AlertRuleConfig>()
  #running: Promise<void> | null = null
  #dataNow = 0
  #lastSweepWindow = -1
  /**
   * Data time of the first clock tick: silence before it was not seen by this process (a
   * restart, a new leader still reading the bus's backlog), so staleness counts from here at the
   * earliest. -Infinity without ticks (a replay).
   */
  #watchingSinceMs = -Infinity
  /**
   * Alerts were loaded from a previous run. Their last traffic is as old as the previous leader
   * last saved them, so their silence counts from the first window or tick this engine sees: a
   * new leader judges the windows the dead one held before its clock first ticks, and a window of
   * another series must not resolve them as silent since the previous leader's last save.
   */
  #restored = false
  readonly stats = {
    windows: 0,
    evaluations: 0,
    notifications: 0,
    refused: 0,
    sendErrors: 0,
    dropped: 0,
    queueDropped: 0,
  }
  static readonly MAX_QUEUE = 200_000
  /** beyond this many active alerts, correlation is skipped (an alert storm pages per alert) */
  static readonly MAX_CORRELATED = 2_000

  constructor(opts: AlertEngineOptions) {
    this.#o = { ...opts, now: opts.now ?? Date.now }
    this.#ctx = { ...opts.context, windowMs: opts.windowMs }
    this.#ruleIndex = new Map(opts.rules.map((r, i) => [r.name, i]))
    this.undelivered = new UndeliveredNotifications({
      dispatchers: opts.dispatchers ?? [],
      store: opts.held,
      settle: (rec, outcomes) => this.#settle(rec, outcomes),
      onChange: (fp) => {
        const a = this.#alerts.get(fp)
        if (a === undefined) return
        a.notified.undelivered = this.undelivered.forAlert(fp)
        this.#dirty.add(fp)
      },
      onWarn: (m) => this.#o.onError?.(new Error(m), 'alert sink'),
      now: this.#o.now,
      retryEveryMs: opts.resendEveryMs,
      maxAgeMs: opts.holdUndeliveredMs,
    })
  }

  /** Loads persisted alerts (firing and recently resolved) so a restart neither forgets nor re-pages them. */
  async start(): Promise<void> {
    const loaded = (await this.#o.state?.load()) ?? []
    const known = new Set(this.#o.rules.map((r) => r.name))
    for (const a of loaded) {
      if (!known.has(a.rule)) {
        this.#deleted.add(a.fingerprint) // its rule was removed from the config
        continue
      }
      // saved by an earlier version: no trickle clock, and a suppression no longer made
      if (typeof a.lastTrafficMs !== 'number') a.lastTrafficMs = a.lastEvalMs
      if ((a.suppressed as string | null) === 'repeat-interval') a.suppressed = null
      this.#alerts.set(a.fingerprint, a)
      this.#dataNow = Math.max(this.#dataNow, a.lastEvalMs)
      this.#restored = true
    }
    // a dry run (replay) sends nothing, so holds nothing; without sinks now, a reload may add some
    if (this.#o.actions !== null && this.#o.actions !== undefined) await this.undelivered.start()
  }

  /** Queues one window of one series; judged in order, in the background. Never blocks. */
  evaluate(input: WindowInput): void {
    if (this.#queue.length >= AlertEngine.MAX_QUEUE) {
      this.#queue.shift()
      if (this.stats.queueDropped++ === 0)
        this.#o.onError?.(
          new Error(`alert evaluation is ${AlertEngine.MAX_QUEUE} windows behind; dropping the oldest`),
          'alerts',
        )
    }
    this.#queue.push(input)
    this.#running ??= this.#drain().finally(() => (this.#running = null))
  }

  /**
   * The autoscaler's word on a service's actuator (not a window): failing fires the `actuator`
   * rules that match the service at once, working resolves them. Judged in order with the
   * windows; a failing actuator already firing is not paged again (repeats as any alert).
   */
  signal(s: ActuatorSignal): void {
    this.#queue.push(s)
    this.#running ??= this.#drain().finally(() => (this.#running = null))
  }

  /**
   * The clock: every window ending at or before `closedUpToMs` has been handed over, so data time
   * is at least that even when no window arrived. Firing alerts whose series went silent for
   * `staleAfterMs` resolve (and their resolution is sent); pending ones are dropped. Judged in
   * order with the windows. Live, silence counts from the first tick (what came before may still
   * be on its way: a new leader reading the bus's backlog); `complete`: the engine has seen every
   * window before it (a replay), so silence counts from the series' last window.
   */
  tick(closedUpToMs: number, opts: { complete?: boolean } = {}): void {
    if (!Number.isFinite(closedUpToMs)) return
    this.#queue.push({ closedUpToMs, complete: opts.complete === true })
    this.#running ??= this.#drain().finally(() => (this.#running = null))
  }

  /**
   * Applies a reloaded config, in order with the windows (a window judged before it uses the old
   * rules, one after it the new). An alert keeps its fingerprint (rule name and series) and its
   * acknowledgement; a changed rule's severity, labels and mode apply to its alerts at once. A
   * firing alert whose rule was removed, or no longer matches its series, resolves now (its
   * resolution goes to the sinks the old rule named); a pending one is dropped.
   */
  reconfigure(settings: AlertEngineSettings): void {
    this.#queue.push({ reconfigure: settings })
    this.#running ??= this.#drain().finally(() => (this.#running = null))
  }

  #reconfigured(next: AlertEngineSettings): void {
    const byName = new Map(next.rules.map((r) => [r.name, r]))
    for (const r of this.#o.rules) if (!byName.has(r.name)) this.#retiredRules.set(r.name, r)
    for (const name of byName.keys()) this.#retiredRules.delete(name)
    Object.assign(this.#o, next)
    if (next.dispatchers !== undefined) this.undelivered.setDispatchers(next.dispatchers)
    this.#ruleIndex = new Map(next.rules.map((r, i) => [r.name, i]))
    // cached per series in rule order: the order may have changed
    this.#fingerprints.clear()
    for (const [fp, a] of this.#alerts) {
      if (a.state === 'resolved') continue
      const rule = byName.get(a.rule)
      const gone =
        rule === undefined
          ? `its rule ${a.rule} was removed from the config`
          : rule.kind !== a.kind
            ? `its rule ${a.rule} changed kind (${a.kind} to ${rule.kind})`
            : rule.kind !== 'actuator' && !ruleMatches(rule, a.series, a.level)
              ? `its rule ${a.rule} no longer matches ${a.key}`
              : null
      if (gone !== null) {
        if (a.state === 'pending') this.#dropPending(fp, a)
        else {
          a.latest = { ...a.latest, active: false, summary: `${gone} (config reload)` }
          this.#resolve(a, this.#dataNow, 'config')
        }
        continue
      }
      if (rule !== undefined) this.#restyled(a, rule)
    }
  }

  /** A live alert takes its changed rule's severity, labels and mode. */
  #restyled(a: Alert, rule: AlertRuleConfig): void {
    const labels = {
      ...rule.labels,
      alertname: rule.name,
      severity: rule.severity,
      kind: rule.kind,
      service: a.series.service,
      route: a.series.route,
      env: a.series.env,
    }
    // a run paged in enforce mode keeps it, so its resolution reaches whoever heard it fire
    const mode = a.mode === 'enforce' && a.notified.firing ? 'enforce' : rule.mode
    const relabelled = JSON.stringify(labels) !== JSON.stringify(a.labels)
    if (!relabelled && mode === a.mode && rule.severity === a.severity) return
    // a paged alert is sent again at once (as a repeat, unless acknowledged or silenced): its
    // receivers learn the new severity and labels; one recorded in shadow is sent for the first time
    if (a.state === 'firing' && a.notified.firing && (relabelled || mode !== a.mode))
      a.notified.lastAtMs = null
    a.labels = labels
    a.severity = rule.severity
    a.mode = mode
    this.#dirty.add(a.fingerprint)
  }

  #ticked(t: Tick): boolean {
    if (this.#watchingSinceMs === -Infinity && !t.complete) this.#watchingSinceMs = t.closedUpToMs
    if (t.closedUpToMs > this.#dataNow) this.#dataNow = t.closedUpToMs
    return this.#sweep()
  }

  #signalled(s: ActuatorSignal): void {
    // wall-clock time: live only (a replay of windows has no signals)
    if (s.atMs > this.#dataNow) this.#dataNow = s.atMs
    const series = { service: s.service, route: '*', env: s.env }
    const key = `${s.service}|*|${s.env}`
    for (const rule of this.#o.rules) {
      if (
        rule.kind !== 'actuator' ||
        !(matchAny(rule.match.service, s.service) && matchAny(rule.match.env, s.env))
      )
        continue
      const fp = alertFingerprint(rule.name, key)
      let a = this.#alerts.get(fp)
      if (!s.failing) {
        if (a !== undefined && a.state === 'firing') {
          a.latest = {
            ...a.latest,
            active: false,
            summary: s.summary,
            details: s.details,
            windowStartMs: s.atMs,
          }
          a.lastEvalMs = a.lastTrafficMs = s.atMs
          this.#resolve(a, s.atMs, 'recovery')
        }
        continue
      }
      const ev: Evidence = {
        active: true,
        metric: 'actuator',
        observed: 1,
        expected: null,
        band: null,
        threshold: null,
        summary: s.summary,
        details: s.details,
        rule: rule.name,
        kind: rule.kind,
        key,
        windowStartMs: s.atMs,
        windowMs: 0,
        links: {
          ...this.#links(key, fp, s.atMs),
          actions: `${this.#o.linkBase}/api/actions?target=${encodeURIComponent(`service:${s.service}`)}`,
        },
      }
      if (a === undefined || a.state === 'resolved') {
        if (a !== undefined) this.#replaced(a)
        a = this.#newAlert(rule, fp, { series, key, level: 'service' }, ev, a)
        this.#alerts.set(fp, a)
        this.#emit(a, 'inactive', 'pending')
        a.state = 'firing'
        a.firingAtMs = s.atMs
        this.#justFired.add(a)
        this.#emit(a, 'pending', 'firing')
      }
      a.trueWindows++
      a.latest = ev
      a.lastEvalMs = a.lastTrafficMs = s.atMs
      this.#dirty.add(fp)
    }
  }

  /**
   * Adds to the context of an alert's run after it was sent (an enrichment that needed data that
   * came later); the API shows it, the page that went out does not change. False when that run
   * is over.
   */
  annotate(fingerprint: string, activeAtMs: number, extra: Record<string, unknown>): boolean {
    const a = this.#alerts.get(fingerprint)
    if (a === undefined || a.activeAtMs !== activeAtMs || a.state === 'resolved') return false
    Object.assign(a.context, extra)
    this.#dirty.add(fingerprint)
    return true
  }

  /** Resolves once every queued window is judged and its notifications handed to the sinks. */
  async idle(): Promise<void> {
    while (this.#running !== null) await this.#running
  }

  async #drain(): Promise<void> {
    // the windows of every series closed in this turn form one batch: correlated alerts fire together
    await new Promise<void>((r) => setImmediate(r))
    while (this.#queue.length > 0) {
      // one batch: the windows that arrived together (a window of every series), grouped on send
      const batch = this.#queue.splice(0)
      // a batch of clock ticks that changed nothing owes nothing: no flush (no correlator call) each second
      let changed = false
      for (const input of batch)
        if ('closedUpToMs' in input) changed = this.#ticked(input) || changed
        else if ('reconfigure' in input) {
          this.#reconfigured(input.reconfigure)
          changed = true
        } else if ('actuator' in input) {
          this.#signalled(input)
          changed = true
        } else {
          changed = true
          await this.#step(input).catch((err: Error) => this.#o.onError?.(err, `alerts ${input.key}`))
        }
      if (changed) await this.#flush().catch((err: Error) => this.#o.onError?.(err, 'alert notifications'))
    }
  }

  #links(key: string, fp: string, startMs: number): AlertLinks {
    const base = this.#o.linkBase
    const enc = encodeURIComponent(key)
    const [service = '*', , env = '*'] = key.split('|')
    return {
      alert: `${base}/api/alerts/${fp}`,
      series: `${base}/api/series`,
      points: `${base}/api/series/${enc}/points?from=${startMs - 30 * this.#o.windowMs}&to=${startMs + 30 * this.#o.windowMs}`,
      anomalies: `${base}/api/anomalies?state=all&service=${encodeURIComponent(service)}&env=${encodeURIComponent(env)}`,
      forecast: `${base}/api/series/${enc}/forecast`,
    }
  }

  async #step(input: WindowInput): Promise<void> {
    this.stats.windows++
    const p = input.point
    const end = p.startMs + p.durationMs
    if (end > this.#dataNow) this.#dataNow = end
    if (this.#restored && this.#watchingSinceMs === -Infinity) this.#watchingSinceMs = p.startMs
    const windowIndex = Math.floor(this.#dataNow / this.#o.windowMs)
    if (windowIndex !== this.#lastSweepWindow) {
      this.#lastSweepWindow = windowIndex
      this.#sweep()
    }
    const rules = this.#o.rules
    for (let r = 0; r < rules.length; r++) {
      const rule = rules[r]
      if (!ruleMatches(rule, input.series, input.level)) continue
      this.stats.evaluations++
      const fp = this.#fingerprint(r, input.key)
      const alert = this.#alerts.get(fp)
      // no alert and certainly inactive: nothing can change (most series, most windows)
      if ((alert === undefined || alert.state === 'resolved') && quickInactive(rule, input, this.#ctx))
        continue
      const live = alert !== undefined && alert.state !== 'resolved'
      const judged = evaluateRule(
        rule,
        input,
        this.#ctx,
        alert === undefined ? [] : runsOf(alert),
        live ? alert.evidence : null,
      )
      const cond = judged instanceof Promise ? await judged : judged
      const ev: Evidence = {
        ...cond,
        rule: rule.name,
        kind: rule.kind,
        key: input.key,
        windowStartMs: p.startMs,
        windowMs: p.durationMs,
        links: this.#links(input.key, fp, p.startMs),
      }
      this.#transition(rule, fp, alert, input, ev, end)
    }
  }

  #fingerprint(ruleIndex: number, key: string): string {
    let fps = this.#fingerprints.get(key)
    if (fps === undefined) {
      if (this.#fingerprints.size >= 200_000) this.#fingerprints.clear()
      fps = this.#o.rules.map((r) => alertFingerprint(r.name, key))
      this.#fingerprints.set(key, fps)
    }
    return fps[ruleIndex]
  }

  #emit(a: Alert, from: AlertState | 'inactive', to: AlertState | 'inactive'): void {
    try {
      this.#o.onTransition?.(a, from, to)
    } catch (err) {
      this.#o.onError?.(err as Error, 'onTransition')
    }
  }

  #transition(
    rule: AlertRuleConfig,
    fp: string,
    current: Alert | undefined,
    input: WindowInput,
    ev: Evidence,
    end: number,
  ): void {
    let a = current
    if (ev.active === null) {
      if (a === undefined || a.state === 'resolved') return
      a.lastEvalMs = end
      if (ev.noData !== 'requests') {
        a.lastTrafficMs = end
        return
      }
      // too few requests is no evidence either way: the stale clock runs on from the last window
      // that had enough; the trickle's start is saved, so a restart knows since when
      if (a.state === 'firing' && a.latest.noData !== 'requests') this.#dirty.add(fp)
      a.latest = ev
      return
    }
    if (ev.active) {
      if (a === undefined || a.state === 'resolved') {
        if (a !== undefined) {
          this.#previous.set(fp, a)
          this.#replaced(a)
        }
        a = this.#newAlert(rule, fp, input, ev, a)
        this.#alerts.set(fp, a)
        this.#emit(a, 'inactive', 'pending')
      }
      a.trueWindows++
      a.falseWindows = 0
      a.latest = ev
      a.lastEvalMs = a.lastTrafficMs = end
      if (a.state === 'pending') {
        a.evidence = ev
        if (a.trueWindows >= holdWindows(rule.for, this.#o.windowMs)) {
          a.state = 'firing'
          a.firingAtMs = ev.windowStartMs
          this.#previous.delete(fp)
          this.#justFired.add(a)
          this.#dirty.add(fp)
          this.#emit(a, 'pending', 'firing')
        }
      }
      return
    }
    if (a === undefined || a.state === 'resolved') return
    a.latest = ev
    a.lastEvalMs = a.lastTrafficMs = end
    if (a.state === 'pending') {
      this.#dropPending(fp, a)
      return
    }
    a.falseWindows++
    a.trueWindows = 0
    if (a.falseWindows >= holdWindows(rule.resolveFor, this.#o.windowMs)) this.#resolve(a, end, 'recovery')
  }

  /**
   * A resolved run a new run replaces: if it was paged and its resolution has not gone out yet,
   * the resolution still goes (else the receivers would hold it firing while the new run, paged
   * anew, is the one they hear about).
   */
  #replaced(old: Alert): void {
    if (old.notified.firing && !old.notified.resolved) this.#unsentResolutions.set(old.fingerprint, old)
  }

  /** A pending run that never fired goes; the resolved run it replaced (if any) comes back. */
  #dropPending(fp: string, a: Alert): void {
    this.#alerts.delete(fp)
    const prev = this.#previous.get(fp)
    this.#previous.delete(fp)
    // back in #alerts: a resolution it still owes is owed from there
    this.#unsentResolutions.delete(fp)
    // a pending alert may have been saved (an incident marks it): the store must not keep it
    if (prev !== undefined) {
      this.#alerts.set(fp, prev)
      this.#dirty.add(fp)
    } else {
      this.#dirty.delete(fp)
      this.#deleted.add(fp)
    }
    this.#emit(a, 'pending', 'inactive')
  }

  #resolve(a: Alert, atMs: number, by: NonNullable<Alert['resolvedBy']>): void {
    a.state = 'resolved'
    a.resolvedAtMs = atMs
    a.resolvedBy = by
    this.#dirty.add(a.fingerprint)
    this.#emit(a, 'firing', 'resolved')
  }

  #newAlert(
    rule: AlertRuleConfig,
    fp: string,
    input: Pick<WindowInput, 'series' | 'key' | 'level'>,
    ev: Evidence,
    previous: Alert | undefined,
  ): Alert {
    const pastRuns: [number, number][] = previous === undefined ? [] : [...(previous.pastRuns ?? [])]
    if (previous?.resolvedAtMs != null) pastRuns.push([previous.activeAtMs, previous.resolvedAtMs])
    return {
      fingerprint: fp,
      rule: rule.name,
      kind: rule.kind,
      mode: rule.mode,
      severity: rule.severity,
      key: input.key,
      series: { ...input.series },
      level: input.level,
      labels: {
        ...rule.labels,
        alertname: rule.name,
        severity: rule.severity,
        kind: rule.kind,
        service: input.series.service,
        route: input.series.route,
        env: input.series.env,
      },
      state: 'pending',
      activeAtMs: ev.windowStartMs,
      firingAtMs: null,
      resolvedAtMs: null,
      resolvedBy: null,
      lastEvalMs: ev.windowStartMs + ev.windowMs,
      lastTrafficMs: ev.windowStartMs + ev.windowMs,
      pastRuns: pastRuns.slice(-32),
      trueWindows: 0,
      falseWindows: 0,
      evidence: ev,
      latest: ev,
      notified: { firing: false, resolved: false, repeats: 0, lastAtMs: null },
      suppressed: null,
      silencedBy: null,
      ack: null,
      incident: null,
      escalated: false,
      context: {},
    }
  }

  /**
   * Stale firing alerts resolve; pending ones vanish; resolved ones are forgotten after
   * keepResolved. True when an alert changed.
   */
  #sweep(): boolean {
    const now = this.#dataNow
    let changed = false
    for (const [fp, a] of this.#alerts) {
      const staleAtMs = Math.max(a.lastTrafficMs, this.#watchingSinceMs) + this.#o.staleAfterMs
      // an actuator alert has no windows to go stale: only the autoscaler resolves it
      if (a.kind === 'actuator' || staleAtMs >= now) {
        if (a.state !== 'resolved') continue
      } else if (a.state === 'firing') {
        this.#resolveStale(a, staleAtMs)
        changed = true
        continue
      } else if (a.state === 'pending') {
        this.#dropPending(fp, a)
        changed = true
        continue
      }
      if (
        a.state === 'resolved' &&
        (a.resolvedAtMs ?? 0) < now - this.#o.keepResolvedMs &&
        (!a.notified.firing || a.notified.resolved)
      ) {
        this.#alerts.delete(fp)
        this.#dirty.delete(fp)
        this.#deleted.add(fp)
        changed = true
      }
    }
    return changed
  }

  /**
   * Resolves a firing alert whose series stopped getting windows with enough requests, at the
   * moment it went stale (the same whether a clock tick or another series' window noticed it, live
   * or in a replay).
   */
  #resolveStale(a: Alert, staleAtMs: number): void {
    const since = a.lastTrafficMs
    const forMs = formatDurationMs(staleAtMs - since)
    // windows after the last one with enough requests were all too thin to judge (#transition)
    const trickle = a.lastEvalMs > since
    a.latest = {
      ...a.latest,
      active: false,
      summary: trickle
        ? `fewer than minRequests ${String(a.latest.details.minRequests)} requests per window since ${new Date(since).toISOString()}: every window of ${a.key} for ${forMs} had too few to judge (the newest: ${a.latest.summary})`
        : `no requests since ${new Date(since).toISOString()}: no window of ${a.key} for ${forMs}`,
      details: {
        ...a.latest.details,
        lastWindowEndMs: a.lastEvalMs,
        lastJudgedWindowEndMs: since,
        staleAfterMs: this.#o.staleAfterMs,
      },
    }
    this.#resolve(a, staleAtMs, 'stale')
  }

  /** Which notification, if any, an alert owes now; sets its suppression for the API. */
  #owed(a: Alert): Notification['event'] | null {
    const now = this.#dataNow
    if (a.state === 'resolved') return a.notified.firing && !a.notified.resolved ? 'resolved' : null
    if (a.state !== 'firing') return null
    const silence = silencing(this.#o.silences?.() ?? [], a.labels, now)
    a.silencedBy = silence?.id ?? null
    const sinceLast = a.notified.lastAtMs === null ? Infinity : now - a.notified.lastAtMs
    const held = heldBy(a, a.incident === null ? undefined : this.#alerts.get(a.incident))
    const escalated = a.incident !== null && a.incident !== a.fingerprint && held === null
    if ((a.escalated ?? false) !== escalated) {
      a.escalated = escalated
      this.#dirty.add(a.fingerprint)
    }
    if (!a.notified.firing) {
      if (silence !== null) return ((a.suppressed = 'silenced'), null)
      // the incident's head pages for it (or will, once it fires: at most its rule's `for` later)
      if (held !== null) return ((a.suppressed = 'incident'), null)
      // every run pages, a re-fire soon after the last page too: what its receivers last heard of
      // this alert is its resolution (a replaced run's goes out first), so it is news to them.
      // Flapping is damped by `for` and `resolveFor`, not by silencing a run that fires.
      a.suppressed = null
      return 'firing'
    }
    if (held !== null) return ((a.suppressed = 'incident'), null)
    a.suppressed = silence !== null ? 'silenced' : null
    if (silence === null && a.ack === null && sinceLast >= this.#o.repeatIntervalMs) return 'repeat'
    return null
  }

  /** True when the alert's own pages would go out: an enforcing rule, not silenced now. */
  #canPage(a: Alert): boolean {
    return a.mode === 'enforce' && silencing(this.#o.silences?.() ?? [], a.labels, this.#dataNow) === null
  }

  /**
   * Groups the active alerts into incidents (the correlator's answer); marks what changed. The
   * correlator sees the alerts in a fixed order (start, then the rule's place in the config, then
   * the series), not the map's: alerts loaded after a restart come in the store's order, and a tie
   * between two members must pick the same head before and after.
   */
  #correlate(): void {
    const correlate = this.#o.correlate
    const active = [...this.#alerts.values()].filter((a) => a.state === 'firing' || a.state === 'pending')
    const headOf = new Map<string, { head: Alert; incident: AlertIncident }>()
    if (correlate !== undefined && active.length >= 2 && active.length <= AlertEngine.MAX_CORRELATED)
      try {
        active.sort(
          (a, b) =>
            a.activeAtMs - b.activeAtMs ||
            (this.#ruleIndex.get(a.rule) ?? 0) - (this.#ruleIndex.get(b.rule) ?? 0) ||
            (a.key < b.key ? -1 : a.key > b.key ? 1 : 0),
        )
        for (const found of correlate(active)) {
          const members = found.members.flatMap((fp) => this.#alerts.get(fp) ?? [])
          if (members.length < 2) continue
          // only the head pages: a head that cannot (silenced, shadow) would swallow the whole
          // incident's page, so the first member that can heads it instead
          const head = members.find((m) => this.#canPage(m)) ?? members[0]
          const incident: AlertIncident =
            head === members[0]
              ? found
              : {
                  members: [head.fingerprint, ...found.members.filter((fp) => fp !== head.fingerprint)],
                  reason: `${found.reason}; it pages for ${members[0].rule} on ${members[0].key}, which is ${members[0].mode === 'shadow' ? 'in shadow mode' : 'silenced'}`,
                }
          for (const fp of incident.members) headOf.set(fp, { head, incident })
        }
      } catch (err) {
        this.#o.onError?.(err as Error, 'alert correlator')
      }
    for (const a of active) {
      const got = headOf.get(a.fingerprint)
      const id = got?.head.fingerprint ?? null
      if (a.incident !== id) this.#dirty.add(a.fingerprint)
      a.incident = id
      if (got !== undefined && got.head === a) {
        a.context.correlated = {
          summary: `heads an incident of ${got.incident.members.length} alerts: ${got.incident.reason}`,
          reason: got.incident.reason,
          alerts: got.incident.members.flatMap((fp) => {
            const m = this.#alerts.get(fp)
            return m === undefined
              ? []
              : [
                  {
                    fingerprint: fp,
                    rule: m.rule,
                    series: m.key,
                    state: m.state,
                    summary: m.evidence.summary,
                  },
                ]
          }),
        }
      } else delete a.context.correlated
    }
  }

  async #flush(): Promise<void> {
    this.#correlate()
    const owed: Notification[] = []
    // replaced runs' resolutions first: sent in one batch with the new run's firing, the later
    // one is what a receiver (Alertmanager) keeps
    for (const a of [...this.#unsentResolutions.values(), ...this.#alerts.values()]) {
      const event = this.#owed(a)
      if (event === null) continue
      const n = event === 'repeat' ? a.notified.repeats + 1 : 0
      owed.push({
        id: `alert:${a.fingerprint}:${a.firingAtMs}:${event}${event === 'repeat' ? `:${n}` : ''}`,
        event,
        alert: a,
        group: `${a.series.service}|${a.series.env}`,
        fencingToken: this.#o.fencingToken?.() ?? null,
        atMs: this.#o.now(),
      })
    }
    // every alert that fired gets its context, paged or not (a member of an incident, a silenced one)
    const enrich = new Set(owed.filter((n) => n.event !== 'resolved').map((n) => n.alert))
    for (const a of this.#justFired) if (a.state === 'firing') enrich.add(a)
    this.#justFired.clear()
    await this.#enrich([...enrich])
    for (const a of enrich) this.#dirty.add(a.fingerprint)
    const toSend: { n: Notification; rec: ActionRecord }[] = []
    let mayAct = true
    for (const n of owed) {
      const a = n.alert
      let rec: ActionRecord | null = null
      if (this.#o.actions !== undefined && this.#o.actions !== null) {
        try {
          rec = await this.#o.actions.record({
            id: n.id,
            kind: `alert.${n.event}`,
            policy: a.rule,
            mode: a.mode,
            target: a.key,
            before: {
              state: n.event === 'resolved' ? 'firing' : n.event === 'repeat' ? 'firing' : 'pending',
            },
            after: structuredClone(a),
            reason: n.event === 'resolved' ? `resolved: ${a.latest.summary}` : a.evidence.summary,
            evidence: a.evidence,
            atMs: n.atMs,
          })
        } catch (err) {
          // not leading, fenced, or the store is down: nothing is sent; the next flush tries again
          this.stats.refused++
          this.#o.onError?.(err as Error, `alert ${a.rule} ${a.key}: not recorded, not sent`)
          const code = (err as { code?: string }).code
          if (code === 'VGL_ERR_STORE_FENCED' || code === 'VGL_ERR_CONTROL_NOT_LEADER') {
            mayAct = false
            break
          }
          continue
        }
      }
      if (n.event === 'resolved') {
        a.notified.resolved = true
        if (this.#unsentResolutions.get(a.fingerprint) === a) this.#unsentResolutions.delete(a.fingerprint)
      } else {
        a.notified.firing = true
        a.notified.lastAtMs = this.#dataNow
        if (n.event === 'repeat') a.notified.repeats++
      }
      this.#dirty.add(a.fingerprint)
      this.stats.notifications++
      if (rec !== null && a.mode === 'enforce') toSend.push({ n: { ...n, alert: structuredClone(a) }, rec })
    }
    if (!mayAct) return
    try {
      await this.#save()
    } catch (err) {
      const code = (err as { code?: string }).code
      this.#o.onError?.(err as Error, 'alert state not saved')
      if (code === 'VGL_ERR_STORE_FENCED' || code === 'VGL_ERR_CONTROL_NOT_LEADER') return
    }
    this.#dispatch(toSend)
  }

  async #save(): Promise<void> {
    if (this.#dirty.size === 0 && this.#deleted.size === 0) return
    const changed = [...this.#dirty].map((fp) => this.#alerts.get(fp)).filter((a) => a !== undefined)
    // a fingerprint deleted and then alive again in the same flush (a new run) is saved, not deleted
    const deleted = [...this.#deleted].filter((fp) => !this.#alerts.has(fp))
    this.#dirty.clear()
    this.#deleted.clear()
    if (this.#o.state === undefined || this.#o.state === null) return
    try {
      await this.#o.state.save(changed, deleted)
    } catch (err) {
      for (const a of changed) this.#dirty.add(a.fingerprint)
      for (const fp of deleted) this.#deleted.add(fp)
      throw err
    }
  }

  /**
   * Every enricher of every alert at once, against one deadline: the notifications wait at most
   * `enrichTimeoutMs` (default 500 ms) however many alerts fire together; what answers later is
   * dropped.
   */
  async #enrich(alerts: readonly Alert[]): Promise<void> {
    const enrichers = this.#o.enrichers ?? []
    if (enrichers.length === 0 || alerts.length === 0) return
    let timer: NodeJS.Timeout | undefined
    let late = false
    const deadline = new Promise<void>((r) => (timer = setTimeout(r, this.#o.enrichTimeoutMs ?? 500)))
    const all = alerts.flatMap((a) =>
      enrichers.map(async (enrich) => {
        try {
          const extra = await enrich(a)
          if (extra !== null && !late) Object.assign(a.context, extra)
        } catch (err) {
          this.#o.onError?.(err as Error, 'alert enricher')
        }
      }),
    )
    await Promise.race([Promise.all(all), deadline])
    late = true
    clearTimeout(timer)
  }

  /** Sends recorded notifications, grouped by service|env per sink, and settles each action when every sink has answered. */
  #dispatch(items: readonly { n: Notification; rec: ActionRecord }[]): void {
    if (items.length === 0) return
    const rules = new Map(this.#o.rules.map((r) => [r.name, r]))
    const pending = new Map<
      string,
      { rec: ActionRecord; n: Notification; left: number; outcomes: DeliveryOutcome[] }
    >()
    const routes = new Map<SinkDispatcher, Map<string, Notification[]>>()
    for (const { n, rec } of items) {
      const sinks = (rules.get(n.alert.rule) ?? this.#retiredRules.get(n.alert.rule))?.sinks
      const targets = (this.#o.dispatchers ?? []).filter(
        (d) => sinks === undefined || sinks.includes(d.sink.name),
      )
      pending.set(n.id, { rec, n, left: targets.length, outcomes: [] })
      if (targets.length === 0) void this.#settle(rec, [])
      for (const d of targets) {
        let groups = routes.get(d)
        if (groups === undefined) routes.set(d, (groups = new Map()))
        const g = groups.get(n.group)
        if (g === undefined) groups.set(n.group, [n])
        else g.push(n)
      }
    }
    for (const [d, groups] of routes)
      for (const batch of groups.values())
        d.enqueue(batch, (outcome) => {
          if (outcome.status !== 'delivered') this.stats.sendErrors += batch.length
          // the sink answers again: what it was given up on goes out now, not at the slow retry
          else this.undelivered.delivered(d.sink.name, batch)
          for (const n of batch) {
            const p = pending.get(n.id)
            if (p === undefined) continue
            p.outcomes.push(outcome)
            if (--p.left > 0) continue
            for (const o of p.outcomes)
              if (o.status !== 'delivered' && o.retryable)
                this.undelivered.hold(o.sink, p.rec, p.n, p.outcomes)
            void this.#settle(p.rec, p.outcomes)
          }
        })
  }

  async #settle(rec: ActionRecord, outcomes: readonly DeliveryOutcome[]): Promise<void> {
    const ok = outcomes.flatMap((o) =>
      o.status !== 'delivered'
        ? []
        : [
            o.heldMs === undefined
              ? o.sink
              : `${o.sink} (re-sent once it answered, ${formatDurationMs(Math.round(o.heldMs / 1000) * 1000)} late)`,
          ],
    )
    const bad = outcomes.flatMap((o) => (o.status === 'delivered' ? [] : [o]))
    const detail =
      outcomes.length === 0
        ? 'no sink takes this rule: recorded only'
        : [
            ok.length > 0 ? `delivered to ${ok.join(', ')}` : '',
            bad.length > 0
              ? `not delivered to ${bad.map((o) => `${o.sink} (${o.detail}${o.retryable ? '; held, sent again when it answers' : ''})`).join(', ')}`
              : '',
          ]
            .filter((s) => s !== '')
            .join('; ')
    await this.#o.actions
      ?.settle(rec, { status: bad.length === 0 ? 'ok' : 'failed', detail, data: { deliveries: outcomes } })
      .catch((err: Error) => this.#o.onError?.(err, `settle ${rec.id}`))
  }

  /**
   * Sends notifications a previous leader recorded but may not have delivered (action status
   * pending): with the same id, so a receiver that saw them already can tell.
   */
  redeliver(records: readonly ActionRecord[]): void {
    const items: { n: Notification; rec: ActionRecord }[] = []
    for (const rec of records) {
      const a = rec.after as Alert | null
      if (rec.mode !== 'enforce' || rec.result.status !== 'pending' || a === null || typeof a !== 'object')
        continue
      const event = rec.kind.slice('alert.'.length) as Notification['event']
      items.push({
        n: {
          id: rec.id,
          event,
          alert: a,
          group: `${a.series.service}|${a.series.env}`,
          fencingToken: this.#o.fencingToken?.() ?? null,
          atMs: rec.atMs,
        },
        rec,
      })
    }
    this.#dispatch(items)
  }

  /** Acknowledges the current firing of an alert: no repeats until it resolves. */
  ack(ack: StoredAlertAck): Alert | null {
    const a = this.#alerts.get(ack.fingerprint)
    if (a === undefined || a.state !== 'firing' || a.firingAtMs !== ack.startsAtMs) return null
    if (a.ack?.atMs === ack.atMs) return a
    a.ack = { by: ack.by, comment: ack.comment, atMs: ack.atMs }
    this.#dirty.add(a.fingerprint)
    return a
  }

  /** Applies acknowledgements made elsewhere (another control plane's API); saved with the next flush. */
  applyAcks(acks: readonly StoredAlertAck[]): void {
    for (const k of acks) this.ack(k)
  }

  get(fingerprint: string): Alert | null {
    return this.#alerts.get(fingerprint) ?? null
  }

  /** Alerts, firing first, then pending, then resolved; newest first within each. */
  alerts(q: AlertQuery = {}): Alert[] {
    const state = q.state ?? 'active'
    return [...this.#alerts.values()]
      .filter(
        (a) =>
          (state === 'all' || (state === 'active' ? a.state !== 'resolved' : a.state === state)) &&
          (q.service === undefined || a.series.service === q.service) &&
          (q.env === undefined || a.series.env === q.env) &&
          (q.rule === undefined || a.rule === q.rule),
      )
      .sort((a, b) => ORDER[a.state] - ORDER[b.state] || b.activeAtMs - a.activeAtMs)
  }

  /** Alerts by state now (metrics). */
  counts(): Record<AlertState, number> {
    const out: Record<AlertState, number> = { pending: 0, firing: 0, resolved: 0 }
    for (const a of this.#alerts.values()) out[a.state]++
    return out
  }

  /** The end of the newest window judged (data time). */
  get dataNow(): number {
    return this.#dataNow
  }

  /** Waits for queued windows, then saves what changed (graceful stop). */
  async close(): Promise<void> {
    this.undelivered.close()
    await this.idle()
    await this.#save().catch((err: Error) => this.#o.onError?.(err, 'alert state not saved'))
  }
}
