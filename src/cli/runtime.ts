/**
 * @module The composition root: loads the config, wires the seams (admission, recorder), starts
 * the gateway and the admin API, and turns SIGHUP into a reload and SIGTERM into a graceful stop.
 * Each area adds its few lines in its own section below.
 */
import { join } from 'node:path' // limits
import type { Logger } from 'pino'
import { processLogger } from './log.js'
import { adminTokenFor, createAdminServer, type AdminSources, type ReloadResult } from '../api/index.js'
import { loadConfig, reloadChanges, type Config } from '../config/index.js'
import { isVigilError } from '../errors.js'
import { createGateway, type Gateway } from '../gateway/index.js'
import type { Admission } from '../limits/admission.js'
import { ClientWindowPublisher, createAdmission } from '../limits/index.js' // limits
import { limitsRoutes } from '../api/routes/limits.js' // limits
import { BusAuditLog, JsonlAuditLog, TeeAuditLog } from '../audit.js' // limits, audit
import { enableProcessMetrics } from '../metrics.js'
import { NOOP_RECORDER, type Recorder } from '../telemetry/recorder.js'
import { busSubjects, followTargets, openBus, type Bus } from '../bus/index.js' // telemetry
import {
  RollupRecorder,
  busSpanSink,
  generateGatewayId,
  startOtlpReceiver,
  type OtlpReceiver,
} from '../telemetry/index.js' // telemetry
import { startEmbeddedControl, type EmbeddedControl } from '../control/index.js' // control
import { seriesRoutes } from '../api/routes/series.js' // control
import { anomalyRoutes } from '../api/routes/anomalies.js' // live detect/forecast
import { forecastRoutes } from '../api/routes/forecasts.js' // live detect/forecast
import { journeyRoutes } from '../api/routes/journeys.js' // journeys
import { MemoryBus } from '../bus/index.js' // control
import { actionRoutes } from '../api/routes/actions.js' // actions
import { auditRoutes } from '../api/routes/audit.js' // audit
import { ActivityLog, anomalyActivity, auditActivity, followActions } from '../api/activity.js' // dashboard
import { LiveHub } from '../api/live.js' // dashboard
import { liveSections } from '../api/live-sections.js' // dashboard
import { dashboardRoutes } from '../api/routes/dashboard.js' // dashboard
import { scoreRoutes } from '../api/routes/scores.js' // dashboard
import { uiAssetsRoutes } from '../api/ui-assets.js' // dashboard
import { VERSION } from '../version.js' // dashboard
import { alertRoutes } from '../api/routes/alerts.js' // alerts
import { setAlertMetricsProvider, silenceLabels } from '../alerts/index.js' // alerts
import type { Autoscaler } from '../scale/autoscaler.js' // scale
import { actionLines } from './action-lines.js'
import { CAPACITY_STATE_SCOPE, startAutoscaling, type RunningAutoscaling } from './autoscaling.js' // scale
import { scalingRoutes } from '../api/routes/scaling.js' // scale
import { exposeControlMetrics } from '../api/control-metrics.js' // deploy: findings at /metrics
import { listenAddress, localUrl } from '../listen-address.js' // gateway/admin/OTLP addresses in the log

export interface StartOptions {
  configFile: string
  /** embedded: gateway + control plane in one process; gateway: data plane only (scaled out) */
  mode: 'embedded' | 'gateway'
  env?: NodeJS.ProcessEnv
  logger?: Logger
  /** install SIGHUP (reload) and SIGTERM/SIGINT (graceful stop, then exit 0) handlers */
  handleSignals?: boolean
}

export interface Vigil {
  gatewayUrl: string
  adminUrl: string
  gateway: Gateway
  /** what the system did lately (anomalies, limit changes, actions): the dashboard's feed and the demo's lines */
  activity: ActivityLog
  /** re-reads the config file and swaps the route table; the old one keeps serving on failure */
  reload(): Promise<ReloadResult>
  /** stops accepting, drains in-flight requests up to `gateway.shutdownGraceMs`, closes everything */
  stop(): Promise<void>
}

/**
 * Starts Vigil from a config file. A start that fails part way (a port in use, a store that will
 * not open) closes what it had opened before it throws: an open bus, Redis client or timer would
 * keep the process alive after the error was printed.
 */
export async function startVigil(opts: StartOptions): Promise<Vigil> {
  return closeOnFailure((undo) => startVigilWith(opts, undo))
}

/**
 * Runs a start that registers a closer in `undo` for each thing it opens; when the start throws,
 * runs them newest first (their own errors ignored) and rethrows.
 */
export async function closeOnFailure<T>(start: (undo: Array<() => unknown>) => Promise<T>): Promise<T> {
  const undo: Array<() => unknown> = []
  try {
    return await start(undo)
  } catch (err) {
    for (const close of undo.reverse())
      await Promise.resolve()
        .then(close)
        .catch(() => {})
    throw err
  }
}

async function startVigilWith(opts: StartOptions, undo: Array<() => unknown>): Promise<Vigil> {
  const env = opts.env ?? process.env
  const logger = opts.logger ?? processLogger('vigil')
  const closers: Array<() => Promise<void>> = []

  // ---- config ----------------------------------------------------------------------------
  let config: Config = loadConfig(opts.configFile, env)
  // judged before anything listens: a guessable token on a reachable admin API stops the start
  const token = adminTokenFor({
    configured: config.admin.token,
    host: config.admin.host,
    hostField: 'admin.host',
    env,
    onWarn: (message) => logger.warn(message),
  })
  enableProcessMetrics()
  const activity = new ActivityLog() // dashboard

  // ---- limits: pass an Admission to the gateway (src/limits) ---------------------------------
  // The limiter when limits.enabled; its admin routes go to the admin API; stop() closes it.
  // Every admin change goes to audit.jsonl at once, to the dashboard's feed and, once the bus is
  // open, to the control plane, which stores it for GET /api/audit.
  const auditFile = new JsonlAuditLog(join(config.limits.dataDir, 'audit.jsonl'), {
    onWarn: (err) =>
      logger.error(
        { code: err.code },
        `${err.message}; fix: free space on the disk that holds limits.dataDir (${config.limits.dataDir}) or make it writable; the changes themselves are saved, and their audit lines are kept (up to 10,000) and appended once the file takes them`,
      ),
    onRecovered: (message) => logger.info(message),
  })
  const audit = new TeeAuditLog([
    auditFile,
    { record: (e) => activity.push(auditActivity(e)) }, // dashboard
  ])
  const limiter = config.limits.enabled ? await createAdmission(config, { logger, audit }) : null
  if (limiter !== null) undo.push(() => limiter.close())
  const admission: Admission | undefined = limiter ?? undefined

  // ---- telemetry: pass a Recorder to the gateway (src/telemetry) -----------------------------
  // One bus per process, chosen by bus.kind in openBus. The recorder publishes one rollup per
  // series per window and sampled spans to it; the OTLP receiver publishes ingested spans.
  // The control plane consumes `bus` (embedded: MemoryBus `bus.serve(port)` to its worker).
  // stop(): OTLP closes, the recorder flushes the current window, then the bus closes.
  const bus: Bus = await openBus(config.bus, { name: `vigil-${opts.mode}` })
  undo.push(() => bus.close())
  undo.push(async () => {
    for (const close of [...closers].reverse()) await close().catch(() => {})
  })
  const subjects = busSubjects(config.bus)
  const tcfg = config.telemetry
  // audit: whoever keeps the store consumes the events (the embedded worker, or vigil control on NATS)
  if (opts.mode === 'embedded' ? tcfg.enabled : config.bus.kind === 'nats') {
    const busAudit = new BusAuditLog({
      bus,
      subject: subjects.audit,
      onWarn: (message) => logger.warn(message),
    })
    audit.add(busAudit)
    closers.push(() => busAudit.close())
  }
  const rollups = tcfg.enabled
    ? new RollupRecorder({
        bus,
        gatewayId: tcfg.gatewayId,
        windowMs: tcfg.windowMs,
        maxSeries: tcfg.maxSeries,
        maxQueueSize: tcfg.maxQueueSize,
        spans: tcfg.spans,
        // a retried rollup must still fall inside the bus's duplicate window, or one that did
        // reach the stream before its ack timed out would be stored twice
        retryForMs:
          config.bus.kind === 'nats' ? Math.min(300_000, config.bus.duplicateWindowMs / 2) : 300_000,
        rollupSubject: subjects.rollups,
        spanSubject: subjects.spans,
        onWarn: (err) => logger.warn({ code: err.code }, err.message),
      })
    : null
  const recorder: Recorder = rollups ?? NOOP_RECORDER
  undo.push(() => recorder.close())
  // the limiter's completed per-client windows go to the control plane (abusive clients)
  const clientWindows =
    rollups !== null && limiter !== null
      ? new ClientWindowPublisher({
          source: () => limiter.clientStats(),
          bus,
          subject: subjects.clients,
          gatewayId: rollups.gatewayId,
          // the limiter keeps one completed window: look several times per window so none is missed
          pollMs: Math.max(100, Math.min(5_000, config.limits.stats.windowMs / 4)),
          onWarn: (err) => logger.warn({ err }, 'client window not published'),
        }).start()
      : null
  if (clientWindows !== null) undo.push(() => clientWindows.stop())
  let otlp: OtlpReceiver | null = null
  if (tcfg.enabled && tcfg.otlp.enabled) {
    // a busy OTLP port fails the start like a busy gateway port: running on without the receiver
    // would drop every span sent to it with nothing but a log line to say so (two gateways on one
    // host need a port each, or the receiver off)
    otlp = await startOtlpReceiver(
      {
        host: tcfg.otlp.host,
        port: tcfg.otlp.port,
        maxBodyBytes: tcfg.otlp.maxBodyBytes,
        decodeWorkers: tcfg.otlp.decodeWorkers,
        decodeQueue: tcfg.otlp.decodeQueue,
        defaultEnv: config.env,
      },
      busSpanSink(bus, { subject: subjects.spans, maxBatchSize: tcfg.spans.maxBatchSize }),
    )
    logger.info(
      { listen: `${otlp.listen} /v1/traces`, url: `${otlp.url}/v1/traces` },
      'OTLP/HTTP receiver listening',
    )
    const receiver = otlp
    undo.push(() => receiver.close())
  }

  // ---- gateway ---------------------------------------------------------------------------
  const gateway = createGateway(config, { admission, recorder, logger })
  undo.push(() => gateway.close(0))
  const { port } = await gateway.listen()
  const gatewayUrl = localUrl(config.gateway.host, port)
  logger.info(
    {
      listen: listenAddress(config.gateway.host, port),
      url: gatewayUrl,
      routes: config.routes.length,
      mode: opts.mode,
    },
    'gateway listening',
  )
  // the mirror of `vigil control`'s warning: alone, this gateway's telemetry reaches no one
  if (opts.mode === 'gateway' && config.bus.kind === 'memory')
    logger.warn(
      "bus.kind is memory: no control plane receives this gateway's telemetry (no detection, forecasts or alerts); use bus.kind: nats with `vigil control`, or `vigil start` for one process",
    )
  // scaled out: the control plane's autoscaler sets the services' run-time targets over the bus;
  // each gateway replays them on a consumer of its own that its exit removes (a list for an
  // unknown service is logged)
  if (opts.mode === 'gateway' && config.bus.kind === 'nats') {
    const follow = await followTargets(
      bus,
      subjects.targets,
      (service, urls) =>
        gateway.setTargets(service, urls).catch((err: Error) => logger.warn({ service }, err.message)),
      (why) => logger.warn(why),
      rollups?.gatewayId ?? tcfg.gatewayId ?? generateGatewayId(),
    )
    // runs after the gateway drained: nothing it sent is in flight, so the control plane may stop
    // waiting for this gateway's confirmations at once
    closers.push(() => follow.leave())
  }

  // ---- shutdown and signals (installed as soon as there is something to drain) ---------------
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await gateway.close(config.gateway.shutdownGraceMs)
      for (const close of closers.reverse())
        await close().catch((err: unknown) => logger.warn({ err }, 'close failed'))
      clientWindows?.stop()
      await admission?.close()
      auditFile.close() // the audit lines a full disk kept: one last try
      await otlp?.close() // telemetry
      await recorder.close()
      await control?.stop() // control: writes the last windows before the bus closes
      await bus.close() // telemetry
      logger.info('stopped')
      logger.flush()
    })()
    return stopping
  }

  if (opts.handleSignals === true) {
    process.on('SIGHUP', () => void reload())
    const onStop = (signal: string) => {
      logger.info({ signal, inFlight: gateway.inFlight() }, 'draining in-flight requests')
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.once('SIGTERM', onStop)
    process.once('SIGINT', onStop)
  }

  // Loading and swapping are synchronous, so two reloads can never interleave.
  const reload = async (): Promise<ReloadResult> => {
    try {
      const next = loadConfig(opts.configFile, env)
      const { changed, restartRequired } = reloadChanges(config, next)
      if (restartRequired.length > 0)
        logger.warn(
          { restartRequired },
          `${restartRequired.join(', ')}: changed in the file, applied only after a restart; the rest of the new config applies`,
        )
      gateway.swap(next)
      config = next
      // detection: a route the config no longer has is no silence (its open anomalies resolve);
      // alerting takes the new rules, sinks and routing
      control
        ?.reconfigure(next)
        .catch((err: Error) =>
          logger.warn(
            { err: err.message },
            'config reload: the control plane did not take the new config (detection keeps the removed routes until evicted, alerting its old rules and sinks)',
          ),
        )
      // scale: the services' scale blocks (the autoscaler runs beside the gateway)
      autoscaling
        ?.reconfigure(next)
        .catch((err: Error) =>
          logger.warn({ err: err.message }, 'config reload: the autoscaler keeps its old scale blocks'),
        )
      logger.info({ routes: next.routes.length, changed }, 'config reloaded')
      return { ok: true, routes: next.routes.length, changed, restartRequired }
    } catch (err) {
      const problems = (isVigilError(err) ? err.message : String(err)).split('\n')
      logger.error(
        { file: opts.configFile, problems },
        'config reload rejected; the old config keeps serving',
      )
      return { ok: false, problems }
    }
  }

  let autoscaling: RunningAutoscaling | null = null // scale
  // ---- control plane (embedded mode): a worker_thread fed by the MemoryBus (src/control) ------
  // The series API below asks the worker over a MessagePort; the worker owns the SQLite store.
  let control: EmbeddedControl | null = null
  if (opts.mode === 'embedded' && tcfg.enabled && bus instanceof MemoryBus) {
    // Without its control plane the gateway still proxies: log loudly and carry on.
    control = await startEmbeddedControl({
      config,
      bus,
      // alert links: the admin API's address when its port is fixed (alerts.externalUrl overrides)
      adminUrl: config.admin.port !== 0 ? localUrl(config.admin.host, config.admin.port) : undefined,
      ...(limiter !== null ? { limits: limiter } : {}), // adaptive limits: policies act through it
      onError: (what, message, { code, fix }) =>
        logger.error(
          { what, ...(code !== undefined ? { code } : {}) },
          `control plane: ${message}${fix !== undefined ? `; fix: ${fix}` : ''}`,
        ),
      // dashboard: the feed says when the store stops and starts taking writes
      onStore: (c, previous) => {
        // written back: one line says so, and that the store is fine again if it had been reported
        if (c.ok && c.restored !== null && c.restored.atMs !== previous.restored?.atMs)
          activity.push({
            atMs: c.restored.atMs,
            kind: 'store.restored',
            actor: 'control',
            subject: c.path,
            summary: `${c.path} was deleted while Vigil had it open; Vigil wrote the open database back to it: nothing was lost`,
            severity: 'warning',
          })
        else if (c.ok !== previous.ok || c.code !== previous.code)
          activity.push({
            atMs: Date.now(),
            kind: c.ok ? 'store.writable' : 'store.unwritable',
            actor: 'control',
            subject: c.path,
            summary: c.ok
              ? `the store takes writes again (${c.path})`
              : `${c.message ?? 'the store cannot be written'}; ${c.fix ?? ''}`,
            severity: c.ok ? 'info' : 'critical',
          })
      },
      onNotice: (message, fields) => logger.info(fields, `control plane: ${message}`),
      onAction: actionLines(logger),
      // live detect/forecast: one log line per anomaly opened / resolved (alerting forwards later)
      onAnomaly: (a, t) => {
        activity.push(anomalyActivity(a, t)) // dashboard
        logger.warn(
          {
            anomaly: a.id,
            key: a.key,
            metric: a.metric,
            observed: a.observed,
            expected: a.expected,
            low: a.low,
            high: a.high,
            ...(a.resolvedBy !== undefined ? { resolvedBy: a.resolvedBy, resolution: a.resolution } : {}),
          },
          `anomaly ${t}`,
        )
      },
    }).catch((err: unknown) => (logger.error({ err }, 'control plane not started'), null))
    const started = control
    if (started !== null) undo.push(() => started.stop())
  }
  if (control !== null) {
    const c = control
    setAlertMetricsProvider(() => c.alertMetrics()) // alerts
  }
  // The in-process bus caps what waits for the control plane (a store that cannot be written, a
  // worker that cannot keep up) and drops the oldest beyond: say how many, when it happens.
  if (control !== null && bus instanceof MemoryBus) {
    const memoryBus = bus
    let dropped = memoryBus.dropped()
    const watchDrops = setInterval(() => {
      const now = memoryBus.dropped()
      if (now === dropped) return
      logger.warn(
        { dropped: now - dropped, droppedTotal: now, store: control?.storeCondition().code ?? null },
        `the in-process bus dropped ${now - dropped} telemetry messages (the oldest) waiting for the control plane; their requests are missing from the stored series`,
      )
      dropped = now
    }, 10_000)
    watchDrops.unref()
    closers.push(async () => clearInterval(watchDrops))
  }
  const controlPlugins =
    control !== null
      ? [
          seriesRoutes({ source: control, windowMs: tcfg.windowMs }), // control
          anomalyRoutes({ source: control }), // live detect/forecast
          forecastRoutes({ source: control }), // live detect/forecast
          ...(config.journeys.enabled ? [journeyRoutes({ source: control.journeys })] : []), // journeys
          actionRoutes({ source: control }), // actions
          auditRoutes({ source: control }), // audit
          scoreRoutes({ source: control }), // dashboard
          // the current config: a service a reload added can be silenced at once
          alertRoutes({ source: control, audit, labels: () => silenceLabels(config) }), // alerts
        ]
      : []

  // ---- scale: the autoscaler beside the gateway; decisions go to the control plane's action log ----
  let autoscaler: Autoscaler | null = null
  /** the scaled services, kept current by reloads */
  let scaled: string[] = []
  if (control !== null) {
    const c = control
    const started = await startAutoscaling(
      config,
      {
        listSeries: () => c.listSeries(),
        points: (key, fromMs, toMs, stepMs) => c.points(key, fromMs, toMs, stepMs),
        closedUpTo: () => c.closedUpToMs(),
        forecast: (key, horizon, level) => c.forecast(key, horizon, level),
        recordAction: (input) => c.recordAction(input),
        settleAction: (rec, result) => c.settleAction(rec, result),
        actions: (q) => c.actions(q),
        loadCapacity: () => c.loadState(CAPACITY_STATE_SCOPE),
        saveCapacity: (entries) => c.saveState(CAPACITY_STATE_SCOPE, entries),
      },
      { setTargets: (service, urls) => gateway.setTargets(service, urls) },
      logger,
    )
    if (started !== null) {
      autoscaler = started.autoscaler
      scaled = started.services
      autoscaling = started
      closers.push(() => started.close())
    }
  }

  if (control !== null) {
    const c = control
    const a = autoscaler
    const scaling = a !== null ? { services: scaled, scaling: (n: string) => a.scaling(n) } : undefined
    exposeControlMetrics(() => ({
      series: c,
      anomalies: c,
      forecasts: c,
      ...(scaling !== undefined ? { scaling } : {}),
    }))
    closers.push(async () => exposeControlMetrics(null))
  }

  // ---- admin API ---------------------------------------------------------------------------
  const sources: AdminSources = {
    ready: () => true,
    ...(control !== null ? { store: control.storeCondition } : {}),
    routes: () => gateway.routes(),
    services: () => gateway.services(),
    reload,
  }
  // ---- dashboard: the live feed and the page (src/api/live.ts, src/ui) ------------------------
  // the control plane's actions join the activity list (the overview's feed, the demo's lines)
  if (control !== null) {
    const stopFollowing = followActions(control, activity)
    closers.push(async () => stopFollowing())
  }
  const hub = new LiveHub({
    sections: liveSections({
      services: () => gateway.services(),
      ...(control !== null ? { series: control, anomalies: control, alerts: control } : {}),
      ...(limiter !== null ? { limiter } : {}),
      ...(autoscaler !== null ? { scaling: { autoscaler, services: scaled } } : {}),
      activity,
    }),
    onError: (err, section) => logger.debug({ err, section }, 'live feed section unavailable'),
  })
  const dashboardPlugins = [
    uiAssetsRoutes(),
    dashboardRoutes({
      hub,
      token,
      info: { mode: opts.mode, env: config.env, windowMs: tcfg.windowMs, gatewayUrl, version: VERSION },
      reload: sources.reload !== undefined,
      // their routes answer VGL_ERR_CONTROL_DISABLED (naming the setting) for API callers
      off: [
        ...(config.forecast.enabled ? [] : ['forecasts']),
        ...(config.detect.enabled ? [] : ['anomalies']),
      ],
    }),
  ]
  const admin = await createAdminServer({
    host: config.admin.host,
    port: config.admin.port,
    token,
    env,
    sources,
    audit,
    plugins: [
      ...(limiter !== null ? [limitsRoutes({ limiter, token })] : []), // limits
      ...controlPlugins, // control
      ...dashboardPlugins, // dashboard
      ...(autoscaler !== null && control !== null
        ? [scalingRoutes({ autoscaler, services: scaled, actions: control, audit })]
        : []), // scale
    ],
    logger,
  })
  const adminUrl = admin.url
  closers.push(() => admin.close())
  logger.info({ listen: admin.listen, url: adminUrl }, 'admin API listening')

  // ---- control plane (embedded mode): start the worker here (src/control) -------------------

  logger.info({ gatewayUrl, adminUrl, mode: opts.mode }, 'vigil ready')
  return { gatewayUrl, adminUrl, gateway, activity, reload, stop }
}
