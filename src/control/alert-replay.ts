/**
 * @module `simulateAlerts`: stored history through the alert rules, offline: how often each rule
 * would have fired and paged over [from, to), when, and why. The same engine as the live control
 * plane (src/alerts), fed by `replayWindows` (src/control/replay.ts) with the stored windows,
 * anomaly events and forecasts, and the same store for the error-ratio rule's history, so it
 * reaches the firings the live run reached. Nothing is recorded or sent; silences and
 * acknowledgements (operator actions at the time) are not applied.
 */
import {
  AlertEngine,
  ruleMatches,
  type Alert,
  type AlertActionPort,
  type Evidence,
  type SeriesLevel,
} from '../alerts/index.js'
import { holdMs, type Config } from '../config/index.js'
import type { AlertRuleConfig } from '../config/alerts-schema.js'
import { VGL_ERR_ALERTS_BAD_INPUT } from '../errors.js'
import type { ActionRecord, Store } from '../store/index.js'
import { toSeriesPoint } from './points.js'
import { replayWindows } from './replay.js'

/** One run of one alert that fired in the replay. */
export interface ReplayFiring {
  rule: string
  key: string
  fingerprint: string
  activeAtMs: number
  firingAtMs: number
  /** null: still firing at the end of the range */
  resolvedAtMs: number | null
  resolvedBy: Alert['resolvedBy']
  /** the engine would have sent this run's firing notification (every run pages: a replay applies no silences) */
  paged: boolean
  evidence: Evidence
}

export interface ReplayRuleSummary {
  rule: string
  kind: AlertRuleConfig['kind']
  mode: AlertRuleConfig['mode']
  /** runs that reached firing */
  firings: number
  /** notifications that would have been sent: firing, repeat and resolved */
  pages: number
  /** distinct series that fired */
  series: number
  /** total time firing inside the range */
  firingMs: number
}

export interface AlertReplayResult {
  fromMs: number
  toMs: number
  /** windows judged (all series) */
  windows: number
  rules: ReplayRuleSummary[]
  firings: ReplayFiring[]
}

export interface SimulateAlertsOptions {
  fromMs: number
  toMs: number
  /** only this rule (default every rule in config.alerts.rules) */
  rule?: string
}

/** Replays [fromMs, toMs) of `store` through `config.alerts.rules`. */
export async function simulateAlerts(
  store: Store,
  config: Config,
  opts: SimulateAlertsOptions,
): Promise<AlertReplayResult> {
  const all = config.alerts.rules
  const rules = opts.rule === undefined ? all : all.filter((r) => r.name === opts.rule)
  if (rules.length === 0)
    throw VGL_ERR_ALERTS_BAD_INPUT(
      opts.rule === undefined
        ? 'alerts.rules is empty in this config: nothing to replay'
        : `--rule: no rule "${opts.rule}" in alerts.rules (known: ${all.map((r) => r.name).join(', ') || 'none'})`,
    )
  if (!(opts.fromMs < opts.toMs))
    throw VGL_ERR_ALERTS_BAD_INPUT(`--from (${opts.fromMs}) must be before --to (${opts.toMs})`)
  const windowMs = config.telemetry.windowMs
  const pages = new Map<string, number>()
  const paged = new Set<string>()
  const actions: AlertActionPort = {
    record: async (i) => {
      pages.set(i.policy, (pages.get(i.policy) ?? 0) + 1)
      if (i.kind === 'alert.firing') paged.add(i.id)
      return { ...i, atMs: i.atMs ?? 0, result: { status: 'shadow' }, fencingToken: 0 } as ActionRecord
    },
    settle: async () => null,
  }
  const firings: ReplayFiring[] = []
  const open = new Map<string, ReplayFiring>()
  const budgets: Record<string, number> = {}
  for (const [svc, b] of Object.entries(config.limits.services)) budgets[svc] = b.ratePerSec
  const engine = new AlertEngine({
    rules,
    windowMs,
    repeatIntervalMs: config.alerts.repeatInterval,
    staleAfterMs: holdMs(config.alerts.staleAfter, windowMs),
    keepResolvedMs: config.alerts.keepResolved,
    linkBase: config.alerts.externalUrl?.replace(/\/+$/, '') ?? '',
    context: {
      budgets,
      history: async (series, fromMs, toMs) =>
        (await store.queryPoints(series, fromMs, toMs, 'window')).map(toSeriesPoint),
    },
    actions,
    onTransition: (a, _from, to) => {
      if (to === 'firing') {
        const f: ReplayFiring = {
          rule: a.rule,
          key: a.key,
          fingerprint: a.fingerprint,
          activeAtMs: a.activeAtMs,
          firingAtMs: a.firingAtMs ?? a.activeAtMs,
          resolvedAtMs: null,
          resolvedBy: null,
          paged: false,
          evidence: structuredClone(a.evidence),
        }
        firings.push(f)
        open.set(a.fingerprint, f)
      } else if (to === 'resolved') {
        const f = open.get(a.fingerprint)
        if (f !== undefined) {
          f.resolvedAtMs = a.resolvedAtMs
          f.resolvedBy = a.resolvedBy
          open.delete(a.fingerprint)
        }
      }
    },
  })
  const levels = new Set<SeriesLevel>(rules.map((r) => r.level))
  const adaptive = rules.some((r) => r.kind === 'latency' && r.threshold === 'adaptive')
  let windows = 0
  let batchStart = -1
  for await (const w of replayWindows(store, {
    fromMs: opts.fromMs,
    toMs: opts.toMs,
    windowMs,
    levels,
    filter: (s, level) => rules.some((r) => ruleMatches(r, s, level)),
    detect: adaptive ? config.detect : undefined,
  })) {
    windows++
    // live, the engine judges one window of every series at a time and then decides what to
    // send: the same batches here, so notifications (and the repeat interval) match
    if (w.point.startMs !== batchStart) {
      await engine.idle()
      batchStart = w.point.startMs
    }
    engine.evaluate({
      series: w.series,
      key: w.key,
      level: w.level,
      point: w.point,
      expected: w.expected,
      anomalies: w.anomalies,
      forecast: w.forecast,
    })
  }
  // live, the clock resolves an alert whose series went silent even when no window follows
  engine.tick(Math.min(opts.toMs, Date.now()), { complete: true })
  await engine.idle()
  for (const f of firings) f.paged = paged.has(`alert:${f.fingerprint}:${f.firingAtMs}:firing`)
  const summary = rules.map((r): ReplayRuleSummary => {
    const mine = firings.filter((f) => f.rule === r.name)
    return {
      rule: r.name,
      kind: r.kind,
      mode: r.mode,
      firings: mine.length,
      pages: pages.get(r.name) ?? 0,
      series: new Set(mine.map((f) => f.key)).size,
      firingMs: mine.reduce((t, f) => t + ((f.resolvedAtMs ?? opts.toMs) - f.firingAtMs), 0),
    }
  })
  return { fromMs: opts.fromMs, toMs: opts.toMs, windows, rules: summary, firings }
}
