/**
 * @module Wires one control plane from config: opens the store, builds the ControlPlane on the
 * given bus and starts it. Used by `vigil control` (NATS + PostgreSQL) and by the embedded
 * worker (MemoryBus over a MessagePort + SQLite).
 */
import { existsSync, readFileSync } from 'node:fs' // live detect/forecast
import { hostname } from 'node:os' // actions
import { dirname, join } from 'node:path' // actions
import { rename, writeFile } from 'node:fs/promises' // live detect/forecast
import { serialize } from 'node:v8' // live detect/forecast
import type { Bus } from '../bus/index.js'
import { busSubjects } from '../bus/index.js'
import type { Config } from '../config/index.js'
import { openStore, retentionOf, SqliteStore, type ActionRecord, type Store } from '../store/index.js'
import { ControlPlane } from './control-plane.js'
import { FILE_CHECK_MS, reportedByWatch, StoreWatch, type StoreCondition } from './store-watch.js'
import { StoreBacklog } from './store-backlog.js'
import type { InheritedStats } from './held.js'
import { configRoutesOf, LiveAnomalies, type AnomalyRecord } from './anomalies.js' // live detect/forecast
import type { MergedClientStats } from '../limits/index.js'
import { ClientWindows } from './client-windows.js'
import { LiveForecasts } from './forecasts.js' // live detect/forecast
import { formatSeriesKey } from './series-key.js' // live detect/forecast
import { ActionLog } from './actions.js' // actions
import { AuditIngest, auditSource, type AuditSource } from './audit.js' // audit
import { soleLeadership, type Leadership } from './leadership.js' // actions
import { LiveAlerts } from './alerting.js' // alerts
import type { AlertCorrelator, AlertEnricher } from '../alerts/index.js' // alerts
import { createPolicies, forecastSignal, PolicyEngine, type LimitControls } from './policies/index.js' // adaptive limits
import { LiveJourneys, journeyRoutesOf } from './journeys.js' // journeys
import { warmUpFromStore } from './warm-up.js' // live detect/forecast
import { readStateFile } from './state-file.js' // live detect/forecast
import { AlertJourneys } from './alert-journeys.js' // journeys
import { actuatorSignals, withActuatorRule } from './scale-alerts.js' // scale

export interface RunningControlPlane {
  plane: ControlPlane
  store: Store
  /** whether the store takes writes (GET /health) */
  storeWatch: StoreWatch
  /** live anomaly detection and forecasting (null when disabled in detect: / forecast:) */
  anomalies: LiveAnomalies | null
  forecasts: LiveForecasts | null
  /** the action log: every policy records what it does (or would do) here before acting */
  actions: ActionLog
  leadership: Leadership
  /** alerting (null when alerts.enabled is false) */
  alerts: LiveAlerts | null
  /** the audit trail the gateways send over the bus, stored and paged for GET /api/audit */
  audit: AuditSource
  /** adaptive limits: the policy engine (null when no policy is enabled) */
  policies: PolicyEngine | null
  /** traces, service graph, root cause and impact (null when journeys or telemetry are disabled) */
  journeys: LiveJourneys | null
  /**
   * Applies a reloaded config: detection drops the series of routes it no longer has (their open
   * anomalies resolve), alerting takes the new `alerts` section. The rest waits for a restart.
   */
  reconfigure(config: Config): void
  /**
   * the heaviest clients of the last window every gateway's limiter closed, merged across the
   * gateways (null before the first one closes, or without rate limiting and detection)
   */
  clientStats(): MergedClientStats | null
  /** graceful: writes pending windows, then closes the store unless the caller passed it (the bus belongs to the caller) */
  stop(): Promise<void>
}

export interface StartControlOptions {
  /** overrides control.graceMs (embedded mode uses a short grace: one gateway, in process) */
  graceMs?: number
  /** an open store (the caller closes it); default: opened from config.store and closed by stop() */
  store?: Store
  /** who may act; default: this process alone (a fresh fencing token from the store) */
  leadership?: Leadership
  /** the admin API's URL, the prefix of alert links when alerts.externalUrl is not set */
  adminUrl?: string
  /** extension points of alerting: root cause and impact on alerts, incident correlation */
  alertEnrichers?: readonly AlertEnricher[]
  alertCorrelator?: AlertCorrelator
  /** adaptive limits: the limiter's controls (null: none reachable; enforced decisions fail) */
  limitControls?: LimitControls | null
  onError?: (err: Error, what: string) => void
  /** the store stopped or started taking writes (GET /health shows the condition) */
  onStore?: (condition: StoreCondition) => void
  /** something an operator should know that is no error (LiveJourneysOptions.onNotice) */
  onNotice?: (message: string, fields: Record<string, unknown>) => void
  /**
   * each action this process recorded, once final (a shadow one when recorded, an enforced one
   * when settled, again when settled again): what the operator's log tells of alerts and scaling
   */
  onAction?: (rec: ActionRecord) => void
  /**
   * a consumer took over what a dead predecessor held, and it came back or the wait for it ended:
   * the rollups (ControlPlaneOptions.onInherited) or the client windows (ClientWindowsOptions)
   */
  onInherited?: (consumer: 'rollups' | 'clients', x: InheritedStats) => void
}

/** Where `actions.jsonl` goes: control.actionsFile, else beside the SQLite file (none for :memory:), else ./data. */
export function actionsFileOf(config: Config): string | null {
  const f = config.control.actionsFile
  if (f === false) return null
  if (f !== undefined) return f
  if (config.store.kind === 'postgres') return join('data', 'actions.jsonl')
  return config.store.path === ':memory:' ? null : join(dirname(config.store.path), 'actions.jsonl')
}

/** The NATS KV bucket of the leader lease: control.leader.bucket, else `<bus.streamPrefix>_LEADER`. */
export function leaderBucketOf(config: Config): string {
  if (config.control.leader.bucket !== undefined) return config.control.leader.bucket
  return `${config.bus.kind === 'nats' ? config.bus.streamPrefix : 'VIGIL'}_LEADER`
}

/** This process in leases and logs: `host:pid`. */
export function processHolder(): string {
  return `${hostname()}:${process.pid}`
}

export async function startControlPlane(
  config: Config,
  bus: Bus,
  opts: StartControlOptions = {},
): Promise<RunningControlPlane> {
  const ownStore = opts.store === undefined
  const opened = opts.store ?? (await openStore(config.store))
  // the store's outages (disk full, read-only, file deleted) are reported once by the watch, not
  // once per failed write by everything that writes
  const backlog = new StoreBacklog({
    onDropping: ({ maxRecords }) =>
      opts.onError?.(
        new Error(
          `${maxRecords} records wait for the store to take writes (anomaly, forecast and alert events, service-graph rows): the oldest are dropped from now on, counted in GET /health store.droppedRecords`,
        ),
        'store',
      ),
    onError: (err, what) => opts.onError?.(err, what),
  })
  const watch = new StoreWatch({
    store: opened,
    path: config.store.kind === 'sqlite' ? config.store.path : undefined,
    backlog,
    restoreFile: opened instanceof SqliteStore ? () => opened.restoreFile() : undefined,
    onDown: (err) => {
      opts.onError?.(err, 'store')
      opts.onStore?.(watch.status())
    },
    onUp: ({ downForMs, failedWrites, held, dropped }) => {
      const c = watch.status()
      opts.onNotice?.(
        `the store takes writes again after ${Math.round(downForMs / 1000)} s; ${failedWrites} writes had failed (rollups, spans and audit events are redelivered${held > 0 ? `; the ${held} records held meanwhile are written now` : ''}${dropped > 0 ? `; ${dropped} records were dropped, more than ${backlog.maxRecords} waited` : ''})`,
        { path: c.path, downForMs, failedWrites, held, dropped },
      )
      opts.onStore?.(c)
    },
    onFileBack: ({ restoredBytes, goneForMs }) => {
      const c = watch.status()
      opts.onNotice?.(
        restoredBytes === null
          ? `the SQLite database ${c.path} is back where Vigil opened it; nothing was lost`
          : `the SQLite database ${c.path} was deleted while Vigil had it open; Vigil wrote the open database back to it (${(restoredBytes / 1_048_576).toFixed(1)} MiB) and uses it again: nothing was lost`,
        { path: c.path, restoredBytes, goneForMs },
      )
      opts.onStore?.(c)
    },
  })
  const store = watch.store
  const onError = (err: Error, what: string): void => {
    if (!reportedByWatch(err)) opts.onError?.(err, what)
  }
  const fileTimer = setInterval(() => void watch.checkFile(), FILE_CHECK_MS)
  fileTimer.unref()
  const closeStore = () => {
    clearInterval(fileTimer)
    return ownStore ? opened.close() : Promise.resolve()
  }
  // ---- actions: the leadership and the action log every policy records into ----
  let leadership: Leadership
  try {
    leadership = opts.leadership ?? (await soleLeadership(store, processHolder()))
  } catch (err) {
    await closeStore()
    throw err
  }
  const actions = new ActionLog({ store, leadership, file: actionsFileOf(config), onError })
  if (opts.onAction !== undefined) actions.watch(opts.onAction)
  // ---- journeys: tail sampling of spans into the store, service graph, route statistics ----
  const jc = config.journeys
  let anomaliesRef: LiveAnomalies | null = null
  let forecastsRef: LiveForecasts | null = null
  let policiesRef: PolicyEngine | null = null // adaptive limits: whose 429s are Vigil's own
  const journeys = jc.enabled
    ? new LiveJourneys({
        store,
        backlog,
        windowMs: config.telemetry.windowMs,
        gatewayEnv: config.env,
        sampleRate: config.telemetry.spans.sampleRate,
        spansRetentionMs: retentionOf(config.store).spans,
        routes: journeyRoutesOf(config),
        traceWaitMs: jc.traceWaitMs,
        maxTraceWaitMs: jc.maxTraceWaitMs,
        maxBufferedSpans: jc.maxBufferedSpans,
        windows: jc.windows,
        maxRoutes: jc.maxRoutes,
        modelWindowMs: jc.modelWindowMs,
        slo: jc.slo,
        downtimeErrorRatio: jc.downtimeErrorRatio,
        simulations: jc.simulations,
        horizonMs: jc.horizonMs,
        forecast: (key, horizon) => {
          if (forecastsRef === null) return Promise.reject(new Error('forecasting is off'))
          return forecastsRef.forecast(key, Math.min(horizon, config.forecast.maxHorizon))
        },
        anomalies: (fromMs, toMs) =>
          anomaliesRef === null
            ? Promise.resolve([])
            : anomaliesRef.anomalies({ fromMs, toMs, state: 'all' }),
        onError,
        onNotice: opts.onNotice,
      })
    : null
  const plane = new ControlPlane({
    store,
    bus,
    subjects: busSubjects(config.bus),
    durable: config.control.durable,
    graceMs: opts.graceMs ?? config.control.graceMs,
    historyPoints: config.control.historyPoints,
    maxInFlight: config.control.maxInFlight,
    retention: retentionOf(config.store),
    spanStage: journeys ?? undefined, // journeys
    onError,
    onInherited: (x) => opts.onInherited?.('rollups', x),
  })
  if (journeys !== null) plane.onWindowClosed(journeys.hook) // journeys
  // ---- live detect/forecast (src/control/anomalies.ts, forecasts.ts) ----
  const windowMs = config.telemetry.windowMs
  const startedAtMs = Date.now()
  const anomalies = config.detect.enabled
    ? new LiveAnomalies({
        store,
        backlog,
        stepMs: windowMs,
        startedAtMs,
        maxSeries: config.detect.maxSeries,
        historySize: config.detect.historySize,
        raiseAt: config.detect.raiseAt,
        clearAt: config.detect.clearAt,
        clearAfter: config.detect.clearAfter,
        minEvents: config.detect.minEvents,
        acceptAfter: config.detect.acceptAfter,
        // Vigil's own defensive mode refuses with 429s: they must not open an anomaly that keeps it on
        selfLimited: (s) => policiesRef?.tightens(s.service) ?? false,
        onError,
      })
    : null
  if (anomalies !== null) plane.onWindowClosed(anomalies.hook)
  // abusive clients and the Rate limits page: the gateways' limiter windows, merged across gateways
  let lastClients: MergedClientStats | null = null
  const clientWindows =
    anomalies !== null || journeys !== null || config.limits.enabled
      ? new ClientWindows({
          bus,
          subject: busSubjects(config.bus).clients,
          durable: `${config.control.durable}-clients`,
          graceMs: opts.graceMs ?? config.control.graceMs,
          onWindow: (w) => {
            lastClients = {
              windowStartMs: w.windowStartMs,
              windowMs: w.windowMs,
              gateways: w.gateways,
              clients: w.stats,
            }
            anomalies?.clientWindow(w)
            journeys?.clientWindow(w) // journeys: who the users are
          },
          onError,
          onInherited: (x) => opts.onInherited?.('clients', x),
        })
      : null
  const statePath = config.detect.statePath
  if (anomalies !== null && statePath !== undefined && existsSync(statePath)) {
    try {
      anomalies.restore(readStateFile(readFileSync(statePath)) as ReturnType<LiveAnomalies['snapshot']>)
    } catch (err) {
      // a corrupt or foreign file costs a warm-up, never the start
      onError(err as Error, `detect.statePath ${statePath}: not restored`)
    }
  }
  // a route the config no longer has (the state file or the store still knows it) is no silence
  anomalies?.configRoutes(configRoutesOf(config), startedAtMs)
  // series without restored state learn the stored windows before the start, and restored ones
  // those stored after the state file, alongside the first live windows (the store answers in the
  // background), so detection judges without a warm-up and from what the store holds
  const warming =
    anomalies === null
      ? Promise.resolve()
      : warmUpFromStore(anomalies, store, {
          windowMs,
          untilMs: startedAtMs,
          maxSeries: config.detect.maxSeries,
        }).then(
          (r) =>
            opts.onNotice?.(
              `detection learned ${r.windows} stored windows of ${r.series} series${r.continued > 0 ? ` (${r.continued} of them after the state file)` : ''} in ${Math.round(r.ms)} ms: they judge from the first live window`,
              { ...r },
            ),
          (err: Error) =>
            onError(
              err,
              'detection warm-up: the stored windows could not be read, every series learns from live windows',
            ),
        )
  const fc = config.forecast
  const forecasts = fc.enabled
    ? new LiveForecasts({
        store,
        backlog,
        stepMs: windowMs,
        // the in-memory ring when it is long enough, else the store (after a restart)
        history: async (series) => {
          const recent = plane.recent(series)
          if (recent.length >= fc.minHistory) return recent
          const to = Date.now()
          const from = to - Math.max(config.control.historyPoints, fc.minHistory) * windowMs
          const stored = plane.points(formatSeriesKey(series), from, to, windowMs)
          return recent.length === 0 ? stored : stored.catch(() => recent)
        },
        refitEveryWindows: fc.refitEveryWindows,
        horizon: fc.horizon,
        maxHorizon: fc.maxHorizon,
        level: fc.level,
        minHistory: fc.minHistory,
        maxSeries: fc.maxSeries,
        budgetMsPerTick: fc.budgetMsPerTick,
        candidates: fc.candidates,
        thresholds: fc.thresholds,
        onError,
      })
    : null
  if (forecasts !== null) plane.onWindowClosed(forecasts.hook)
  // ---- end live detect/forecast ----
  // ---- alerts: after detect and forecast, so rules read their view of the same window ----
  // journeys: alerts carry user impact and root cause; alerts on calling services are one incident
  const alertJourneys: AlertJourneys | null =
    config.alerts.enabled && journeys !== null
      ? new AlertJourneys({
          journeys,
          horizonMs: jc.horizonMs,
          correlationWindowMs: jc.correlationWindowMs,
          enrichTimeoutMs: config.alerts.enrichTimeout,
          annotate: (fp, activeAtMs, context): boolean =>
            alerts?.engine.annotate(fp, activeAtMs, context) ?? false,
          onError,
        })
      : null
  const alerts: LiveAlerts | null = config.alerts.enabled
    ? new LiveAlerts({
        config: withActuatorRule(config), // scale: actuator failures page
        store,
        backlog,
        actions,
        leadership,
        anomalies,
        forecasts,
        ...(opts.adminUrl !== undefined ? { adminUrl: opts.adminUrl } : {}),
        enrichers: [
          ...(opts.alertEnrichers ?? []),
          ...(alertJourneys === null ? [] : [alertJourneys.enrich]),
        ],
        correlate: opts.alertCorrelator ?? alertJourneys?.correlate,
        onTransition: (a, _from, to) => {
          if (to === 'pending')
            alertJourneys?.warm(a) // journeys
          else if (to === 'resolved' || to === 'inactive') alertJourneys?.forget(a) // journeys
        },
        onError,
      })
    : null
  if (alerts !== null) plane.onWindowClosed(alerts.hook)
  if (alerts !== null) plane.onTick(alerts.tickHook) // alerts: series that went silent resolve
  if (alerts !== null) actions.watch(actuatorSignals(alerts.engine, config.env)) // scale
  const auditIngest = new AuditIngest({
    store,
    bus,
    subject: busSubjects(config.bus).audit,
    durable: `${config.control.durable}-audit`,
    onError,
  })
  // ---- adaptive limits (src/control/policies): signals in, limit changes out, all recorded ----
  const policyList = createPolicies(config)
  const policies =
    policyList.length > 0
      ? new PolicyEngine({
          policies: policyList,
          controls: opts.limitControls ?? null,
          actions,
          leadership,
          tickMs: config.policies.tickMs,
          onError,
        })
      : null
  if (policies !== null) {
    forecasts?.onForecast((f) => policies.signal({ kind: 'forecast', forecast: forecastSignal(f) }))
    anomalies?.on('anomaly', (r: AnomalyRecord, t: string) =>
      policies.signal(
        t === 'opened' ? { kind: 'anomaly.opened', anomaly: r } : { kind: 'anomaly.resolved', id: r.id },
      ),
    )
    // anomalies restored open from the detector state act as if they had just opened
    for (const a of anomalies?.openAnomalies() ?? []) policies.signal({ kind: 'anomaly.opened', anomaly: a })
  }
  policiesRef = policies
  anomaliesRef = anomalies // journeys: root cause reads anomalies, impact reads forecasts
  forecastsRef = forecasts
  try {
    // alerts first: persisted alerts must be loaded before the first window is judged
    await alerts?.start()
    await plane.start()
  } catch (err) {
    await alerts?.stop()
    await closeStore()
    throw err
  }
  try {
    await clientWindows?.start()
    await auditIngest.start()
  } catch (err) {
    await clientWindows?.stop()
    await plane.stop()
    await closeStore()
    throw err
  }
  forecasts?.start() // live detect/forecast
  policies?.start() // adaptive limits
  // journeys: the graph's finished windows go to the store once per window
  const journeyTimer =
    journeys === null ? null : setInterval(() => void journeys.tick(), config.telemetry.windowMs)
  journeyTimer?.unref()
  let stopping: Promise<void> | null = null
  return {
    plane,
    store,
    storeWatch: watch,
    anomalies,
    forecasts,
    actions,
    leadership,
    alerts,
    audit: auditSource(store),
    policies,
    journeys,
    reconfigure: (next) => {
      anomalies?.configRoutes(configRoutesOf(next))
      alerts?.reconfigure(withActuatorRule(next))
    },
    clientStats: () => lastClients,
    stop: () =>
      (stopping ??= (async () => {
        anomalies?.closing() // live detect/forecast: the windows flushed on the way out are partial
        await warming // live detect/forecast: the snapshot holds what the warm-up learned
        await policies?.stop() // adaptive limits
        if (journeyTimer !== null) clearInterval(journeyTimer)
        await forecasts?.stop() // live detect/forecast
        await clientWindows?.stop()
        await auditIngest.stop()
        await plane.stop()
        await alerts?.stop() // alerts: judges the last windows, delivers within a grace period
        alertJourneys?.close() // journeys
        await anomalies?.flush() // live detect/forecast: events of the last windows
        if (anomalies !== null && statePath !== undefined)
          await writeFile(`${statePath}.tmp`, serialize(anomalies.snapshot()))
            .then(() => rename(`${statePath}.tmp`, statePath))
            .catch((err: Error) => opts.onError?.(err, `detect.statePath ${statePath}: not written`))
        await actions.flush() // actions
        await journeys?.flush() // journeys: the graph's last windows
        await backlog.drain()
        if (backlog.waiting > 0)
          opts.onError?.(
            new Error(
              `${backlog.waiting} records held while the store could not be written (anomaly, forecast and alert events, service-graph rows) are lost: the store still refuses them at the stop`,
            ),
            'store',
          )
        await closeStore()
      })()),
  }
}
