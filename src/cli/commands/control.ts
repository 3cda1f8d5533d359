/**
 * @module `vigil control --config FILE`: the control plane alone (scaled-out mode): consumes
 * rollups and spans from the bus (NATS JetStream), stores them (PostgreSQL), and serves the
 * series API on its own admin port (`control.admin`).
 */
import { processLogger } from '../log.js'
import { adminTokenFor, createAdminServer, type AdminSources } from '../../api/index.js'
import { seriesRoutes } from '../../api/routes/series.js'
import { anomalyRoutes } from '../../api/routes/anomalies.js' // live detect/forecast
import { forecastRoutes } from '../../api/routes/forecasts.js' // live detect/forecast
import { BusTargetPool, busSubjects, openBus } from '../../bus/index.js'
import { actionLines } from '../action-lines.js'
import { CAPACITY_STATE_SCOPE, startAutoscaling } from '../autoscaling.js' // scale
import { VGL_ERR_CONTROL_NOT_LEADER } from '../../errors.js' // scale
import type { ScaledControl } from '../../control/index.js' // scale
import { loadConfig, type Config } from '../../config/index.js'
import { actionRoutes } from '../../api/routes/actions.js' // actions
import { auditRoutes } from '../../api/routes/audit.js' // audit
import { leaderRoutes } from '../../api/routes/leader.js' // actions
import { alertRoutes } from '../../api/routes/alerts.js' // alerts
import { setAlertMetricsProvider, silenceLabels } from '../../alerts/index.js' // alerts
import { journeyRoutes } from '../../api/routes/journeys.js' // journeys
import { scalingRoutes } from '../../api/routes/scaling.js' // scale
import type { Autoscaler } from '../../scale/autoscaler.js' // scale
import { describeLeader, logLeadership } from '../../control/index.js' // scale
import { startScaledControl } from '../../control/index.js'
import { join } from 'node:path' // adaptive limits
import { BusAuditLog, JsonlAuditLog, TeeAuditLog } from '../../audit.js' // adaptive limits, audit
import { createAdmission, type Limiter } from '../../limits/index.js' // adaptive limits
import { ActivityLog, auditToActivity, followActions, followAnomalies } from '../../api/activity.js' // dashboard
import { LiveHub } from '../../api/live.js' // dashboard
import { liveSections } from '../../api/live-sections.js' // dashboard
import { dashboardRoutes } from '../../api/routes/dashboard.js' // dashboard
import { limitsRoutes } from '../../api/routes/limits.js' // dashboard
import { scoreRoutes } from '../../api/routes/scores.js' // dashboard
import { uiAssetsRoutes } from '../../api/ui-assets.js' // dashboard
import { VERSION } from '../../version.js' // dashboard
import { enableProcessMetrics } from '../../metrics.js'
import { exposeControlMetrics, exposeInheritedMetrics, recordInherited } from '../../api/control-metrics.js' // deploy: findings at /metrics
import { parseConfigFlag } from '../args.js'
import { closeOnFailure } from '../runtime.js'
import type { Command } from '../command.js'

const usage = `usage: vigil control [--config vigil.yaml]

Runs the control plane for scaled-out deployments: consumes the rollups and spans that
\`vigil gateway\` processes publish on the bus (bus.kind: nats), merges each series' window across
gateways, stores it (store.kind: postgres) and serves GET /api/series and
GET /api/series/:key/points on control.admin (default 127.0.0.1:8082).
Several may run against one store: one leads (a lease in NATS KV, control.leader) and does all
the work; the others stand by, answer the store-backed routes and take over within
control.leader.ttlMs of the leader dying. GET /api/control/leader says who leads.
It also serves the dashboard at / (with the rate-limit pages when limits.store is redis, whose
state every gateway shares).
SIGTERM writes the pending windows, acks them, gives the lease back and exits 0; after a crash the
bus redelivers whatever was not yet written, and writes are idempotent, so nothing is lost or
double counted. The config is read once: SIGHUP is logged and ignored, restart to apply a change.`

export const command: Command = {
  summary: 'run the control plane only (scaled-out mode)',
  usage,
  async run(argv) {
    // A start that fails part way (a store that will not open, a port in use) closes what it had
    // opened: the bus, Redis or the lease would otherwise keep the process alive after the error.
    return closeOnFailure((undo) => runControl(argv, undo))
  },
}

async function runControl(argv: string[], undo: Array<() => unknown>): Promise<number> {
  const configFile = parseConfigFlag(argv, usage)
  const logger = processLogger('vigil-control')
  const config = loadConfig(configFile)
  // judged before anything listens: a guessable token on a reachable admin API stops the start
  const token = adminTokenFor({
    configured: config.admin.token,
    host: config.control.admin.host,
    hostField: 'control.admin.host',
    onWarn: (message) => logger.warn(message),
  })
  enableProcessMetrics()
  if (config.bus.kind === 'memory')
    logger.warn('bus.kind is memory: a separate `vigil control` receives nothing; use bus.kind: nats')
  const bus = await openBus(config.bus, { name: 'vigil-control' })
  undo.push(() => bus.close())
  // adaptive limits: policies change the gateways' limits through the shared Redis state, the
  // same audited path as an admin change on a gateway (a file-backed limiter is per process)
  const activity = new ActivityLog() // dashboard: what Vigil did lately
  // admin changes made here (limits, scale, silences) go where a gateway's go: audit.jsonl, the
  // dashboard's feed, and over the bus to the store behind GET /api/audit
  const busAudit = new BusAuditLog({
    bus,
    subject: busSubjects(config.bus).audit,
    onWarn: (message) => logger.warn(message),
  })
  undo.push(() => busAudit.close())
  const audit = new TeeAuditLog([
    auditToActivity(
      new JsonlAuditLog(join(config.limits.dataDir, 'audit.jsonl'), {
        onWarn: (err) =>
          logger.error(
            { code: err.code },
            `${err.message}; fix: free space on the disk that holds limits.dataDir or make it writable`,
          ),
        onRecovered: (message) => logger.info(message),
      }),
      activity,
    ), // dashboard
    busAudit,
  ])
  let limiter: Limiter | null = null
  if (config.limits.enabled && config.limits.store === 'redis')
    limiter = await createAdmission(config, { logger, audit })
  else if (config.limits.enabled)
    logger.warn(
      'limits.store is memory: policies in enforce mode cannot reach the gateways from vigil control; use limits.store: redis',
    )
  const opened = limiter
  if (opened !== null) undo.push(() => opened.close())
  exposeInheritedMetrics()
  const cp = await startScaledControl(config, bus, {
    limitControls: limiter,
    onError: (err, what) => logger.error({ err, what }, 'control plane error'),
    onNotice: (message, fields) => logger.info(fields, message),
    onAction: actionLines(logger),
    onLeadership: (leading, leader, reason) => logLeadership(logger, leading, leader, reason),
    onInherited: (consumer, x) => {
      recordInherited(consumer, x)
      const what = consumer === 'rollups' ? 'rollups' : 'client windows'
      if (x.missing === 0)
        logger.info(
          { consumer, ...x },
          `took over a previous consumer: its held ${what} came back, windows ${consumer === 'rollups' ? 'written' : 'judged'} in order`,
        )
      else
        logger.warn(
          { consumer, ...x },
          `took over a previous consumer: some of its held ${what} did not come back within the ack wait; ${consumer === 'rollups' ? 'they land as corrections when they do' : 'their windows were judged without them'}`,
        )
    },
  })
  // ---- scale: the leader's autoscaler; replicas' targets go to every gateway over the bus, and
  // a removed replica is stopped once every gateway confirmed its requests to it finished
  const pool = new BusTargetPool(bus, busSubjects(config.bus).targets, {
    drainTimeoutMs: drainTimeoutOf(config),
    onWarn: (message) => logger.warn(message),
  })
  undo.push(() => cp.stop())
  await pool.start()
  undo.push(() => pool.close())
  const scaling = await startAutoscaling(
    config,
    {
      listSeries: () => cp.series.listSeries(),
      points: (key, fromMs, toMs, stepMs) => cp.series.points(key, fromMs, toMs, stepMs),
      closedUpTo: async () => cp.current()?.plane.closedUpToMs() ?? -Infinity,
      forecast: (key, horizon, level) => cp.forecasts.forecast(key, horizon, level),
      recordAction: async (input) => leaderOf(cp).actions.record(input),
      settleAction: async (rec, result) => leaderOf(cp).actions.settle(rec, result),
      actions: (q) => cp.actions.actions(q),
      leading: () => cp.current() !== null,
      loadCapacity: () => cp.store.getControlState(CAPACITY_STATE_SCOPE),
      saveCapacity: async (entries) => {
        const leader = leaderOf(cp)
        await leader.store.putControlState(CAPACITY_STATE_SCOPE, entries, leader.leadership.token())
      },
    },
    pool,
    logger,
  )
  if (scaling !== null) undo.push(() => scaling.close())
  const sources: AdminSources = {
    ready: () => true,
    store: () => cp.current()?.storeWatch.status(), // the leader's; a standby writes nothing
    name: 'vigil control',
  }
  // ---- dashboard: served here, where the learned state is (series, anomalies, forecasts,
  // actions); the shared Redis limit state is read and changed through the limiter above
  const stopFollowing = [
    followActions(cp.actions, activity),
    ...(config.detect.enabled ? [followAnomalies(cp.anomalies, activity)] : []),
  ]
  // the limiter here decides no request: its heaviest clients are the gateways' (the leader merges them)
  const mergedClients = () => cp.current()?.clientStats() ?? null
  const hub = new LiveHub({
    sections: liveSections({
      series: cp.series,
      ...(config.detect.enabled ? { anomalies: cp.anomalies } : {}),
      ...(limiter !== null ? { limiter, clients: mergedClients } : {}),
      alerts: cp.alerts,
      activity,
    }),
  })
  const admin = await createAdminServer({
    host: config.control.admin.host,
    port: config.control.admin.port,
    configBlock: 'control.admin',
    token,
    sources,
    audit,
    plugins: [
      seriesRoutes({ source: cp.series, windowMs: config.telemetry.windowMs }),
      // live detect/forecast (routes absent when the section is disabled)
      ...(config.detect.enabled ? [anomalyRoutes({ source: cp.anomalies })] : []),
      ...(config.forecast.enabled ? [forecastRoutes({ source: cp.forecasts })] : []),
      actionRoutes({ source: cp.actions }), // actions
      auditRoutes({ source: cp.audit }), // audit
      leaderRoutes({ holder: cp.holder, leadership: cp.leadership }), // actions
      alertRoutes({ source: cp.alerts, audit, labels: () => silenceLabels(config) }), // alerts
      // dashboard
      scoreRoutes({ source: cp.scores }),
      ...(limiter !== null ? [limitsRoutes({ limiter, token, clients: mergedClients })] : []),
      uiAssetsRoutes(),
      dashboardRoutes({
        hub,
        token,
        info: { mode: 'control', env: config.env, windowMs: config.telemetry.windowMs, version: VERSION },
        reload: sources.reload !== undefined,
      }),
      ...(config.journeys.enabled ? [journeyRoutes({ source: cp.journeys })] : []), // journeys
      ...(scaling !== null
        ? [
            scalingRoutes({
              autoscaler: leaderScaling(cp, scaling.autoscaler),
              services: Object.keys(config.services).filter((n) => config.services[n]?.scale !== undefined),
              actions: cp.actions,
              audit,
            }),
          ]
        : []), // scale
    ],
    logger,
  })
  cp.setAdminUrl(admin.url)
  setAlertMetricsProvider(() => cp.alertMetrics()) // alerts
  // only the leader's findings: a standby exports none, so sums over control planes stay right
  exposeControlMetrics(() => {
    const r = cp.current()
    if (r === null) return null
    return {
      series: r.plane,
      ...(r.anomalies !== null ? { anomalies: r.anomalies } : {}),
      ...(r.forecasts !== null ? { forecasts: r.forecasts } : {}),
    }
  })
  logger.info(
    {
      adminListen: admin.listen,
      adminUrl: admin.url,
      store: config.store.kind,
      bus: config.bus.kind,
      holder: cp.holder,
    },
    'vigil control ready',
  )
  // without this a standby's log ends at "ready" and says nothing until it leads, if ever
  if (!cp.leadership.leading) {
    const leader = cp.leadership.leader()
    logger.info(
      { leading: false, leader },
      `standing by: ${describeLeader(leader?.holder === cp.holder ? null : leader)}; this control plane acts once it wins the lease`,
    )
  }
  const stop = async (signal: string) => {
    logger.info({ signal }, 'stopping: writing pending windows')
    try {
      await admin.close()
      for (const f of stopFollowing) f() // dashboard
      await scaling?.close()
      await pool.close()
      await cp.stop()
      await limiter?.close() // adaptive limits
      await busAudit.close()
      await bus.close()
      logger.info('stopped')
      process.exit(0)
    } catch (err) {
      logger.error({ err }, 'shutdown failed')
      process.exit(1)
    }
  }
  process.once('SIGTERM', (s) => void stop(s))
  process.once('SIGINT', (s) => void stop(s))
  // `kill -HUP` reloads a gateway; unhandled here it would end this process without a word
  process.on('SIGHUP', () =>
    logger.warn(
      'SIGHUP: vigil control does not reload its config; restart it (SIGTERM, then start) to apply changes',
    ),
  )
  return new Promise<number>(() => {})
}

/**
 * How long a gateway may take to confirm a list: its slowest route's deadline, the longest a
 * request to a dropped target can still run, plus time for the bus.
 */
function drainTimeoutOf(config: Config): number {
  return Math.max(0, ...config.routes.map((r) => r.totalTimeoutMs)) + 5_000
}

/** The running control plane; a standing-by process must not act. */
function leaderOf(cp: ScaledControl) {
  const r = cp.current()
  if (r === null) throw VGL_ERR_CONTROL_NOT_LEADER(describeLeader(cp.leadership.leader()))
  return r
}

/**
 * The scaling API on a control plane that may stand by: only the leader's autoscaler acts and
 * knows the replicas it started, so a standby answers 503 naming the leader and its admin API
 * instead of starting replicas on its own host or showing an empty fleet.
 */
function leaderScaling(
  cp: ScaledControl,
  autoscaler: Autoscaler,
): Pick<Autoscaler, 'scale' | 'restart' | 'scaling'> {
  return {
    scale: async (name, replicas, reason) => {
      leaderOf(cp)
      return autoscaler.scale(name, replicas, reason)
    },
    restart: async (name, reason) => {
      leaderOf(cp)
      return autoscaler.restart(name, reason)
    },
    scaling: async (name) => {
      leaderOf(cp)
      return autoscaler.scaling(name)
    },
  }
}
