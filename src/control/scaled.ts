/**
 * @module The scaled-out control plane (`vigil control`) with leader election. Several processes
 * may run against one store; the one holding the lease (src/control/lease.ts) runs the whole
 * control plane, the others stand by and answer the store-backed admin routes.
 *
 * Why everything runs on the leader, ingest included: the JetStream durable consumers are shared,
 * so two consuming processes would each get part of a window's rollups (and part of the gateways'
 * client windows). The store would still merge them exactly, but each process's detectors,
 * forecasters, rules and policies would see partial windows, and each would raise its own
 * anomalies and alerts: doubled results. With one consumer, each window is merged, judged and
 * acted on once. Followers hold connections and take over within the lease ttl; the rollups a
 * dead leader had received but not acked come back to the new leader after the bus's ack wait,
 * and the new leader writes no window before they did (ControlPlane), so they are judged in
 * order with the windows after them.
 *
 * ```
 *                  ┌ leader:   startControlPlane (bus consumers, store writes, detect, forecast,
 * NatsLease ───────┤            alerts, policies; every action fenced by the token)
 *                  └ follower: store reads for /api/series, /api/actions, /api/audit, alerts,
 *                              traces and the graph; 503 + leader URL for live state (anomalies,
 *                              scores, forecasts, journeys, root cause, what-if)
 * ```
 */
import type { Bus } from '../bus/index.js'
import { busSubjects } from '../bus/index.js'
import type { Config } from '../config/index.js'
import { VGL_ERR_CONTROL_DISABLED, VGL_ERR_CONTROL_NOT_LEADER } from '../errors.js'
import { openStore, retentionOf, type Store } from '../store/index.js'
import { ActionLog, type ActionSource } from './actions.js'
import { StoredAlerts, type AlertSource } from './alerting.js'
import type { AlertMetricsSnapshot } from '../alerts/index.js'
import { auditSource, type AuditSource } from './audit.js'
import type { AnomalySource } from './anomalies.js'
import { ControlPlane, type SeriesSource } from './control-plane.js'
import type { ForecastSource } from './forecasts.js'
import type { ScoreSource } from './scores.js'
import { describeLeader, soleLeadership, type LeaderInfo, type Leadership } from './leadership.js'
import {
  leaderBucketOf,
  processHolder,
  startControlPlane,
  type RunningControlPlane,
  type StartControlOptions,
} from './start.js'
import type { LimitControls } from './policies/index.js'
import { LiveJourneys, journeyRoutesOf, type JourneySource } from './journeys.js' // journeys

export interface ScaledControl {
  /** this process in the lease */
  readonly holder: string
  readonly leadership: Leadership
  /** the running control plane while this process leads, else null */
  current(): RunningControlPlane | null
  /** series list and points from the store (any process) */
  readonly series: SeriesSource
  /** the action log from the store (any process) */
  readonly actions: ActionSource
  /** the audit trail from the store (any process) */
  readonly audit: AuditSource
  /** live anomalies, their scores and forecasts: the leader's (a follower answers VGL_ERR_CONTROL_NOT_LEADER) */
  readonly anomalies: AnomalySource
  readonly scores: ScoreSource
  readonly forecasts: ForecastSource
  /** alerts: the leader's engine, or the store on a follower (acks and silences work on both) */
  readonly alerts: AlertSource
  /** alerting's numbers for /metrics while leading, else null */
  alertMetrics(): Promise<AlertMetricsSnapshot | null>
  /** journeys: traces and stored graph windows from the store (any process); live state from the leader */
  readonly journeys: JourneySource
  readonly store: Store
  /** published with the lease so followers can name the leader's admin API */
  setAdminUrl(url: string): void
  /** stops acting, gives the lease back, closes the store (the bus belongs to the caller) */
  stop(): Promise<void>
}

export interface ScaledControlOptions {
  /** adaptive limits: the gateways' limiter controls (a Limiter over the shared Redis state) */
  limitControls?: LimitControls | null
  onError?: (err: Error, what: string) => void
  onNotice?: StartControlOptions['onNotice']
  onAction?: StartControlOptions['onAction']
  /** on taking over, the rollups the previous leader held came back (or the wait for them ended) */
  onInherited?: StartControlOptions['onInherited']
  /** this process started or stopped leading */
  onLeadership?: (leading: boolean, info: LeaderInfo | null, reason: string) => void
}

/** Opens the store, campaigns for the lease (NATS bus) or leads alone (memory bus), and runs the control plane while leading. */
export async function startScaledControl(
  config: Config,
  bus: Bus,
  opts: ScaledControlOptions = {},
): Promise<ScaledControl> {
  const store = await openStore(config.store)
  let running: RunningControlPlane | null = null
  let stopLease: () => Promise<void> = async () => {}
  let setAdminUrl: (url: string) => void = () => {}
  let leadership: Leadership
  let holder = processHolder()

  const a = config.control.admin
  // known up front unless the port is picked at start (then set once the admin API listens)
  let adminUrl: string | undefined = a.port !== 0 ? `http://${hostOf(a.host)}:${a.port}` : undefined
  const lead = async () => {
    running = await startControlPlane(config, bus, {
      store,
      leadership,
      adminUrl,
      limitControls: opts.limitControls ?? null,
      onError: opts.onError,
      onNotice: opts.onNotice,
      onAction: opts.onAction,
      onInherited: opts.onInherited,
    })
  }
  const standDown = async () => {
    const r = running
    running = null
    await r?.stop()
  }

  try {
    if (config.bus.kind === 'nats') {
      const { NatsLease } = await import('./lease.js')
      const lease = await NatsLease.connect({
        servers: config.bus.servers,
        bucket: leaderBucketOf(config),
        ttlMs: config.control.leader.ttlMs,
        renewEveryMs: config.control.leader.renewEveryMs,
        fence: () => store.advanceFence(),
        onElected: async () => {
          await lead()
          opts.onLeadership?.(true, lease.leadership.leader(), 'elected')
        },
        onDeposed: async (reason) => {
          await standDown()
          opts.onLeadership?.(false, lease.leadership.leader(), reason)
        },
        onError: opts.onError,
      })
      leadership = lease.leadership
      holder = lease.holder
      setAdminUrl = (url) => {
        adminUrl = url
        lease.setAdminUrl(url)
      }
      stopLease = () => lease.stop()
      if (adminUrl !== undefined) lease.setAdminUrl(adminUrl)
      lease.start()
    } else {
      // one control plane on an in-process bus: nobody to elect
      leadership = await soleLeadership(store, holder)
      await lead()
      opts.onLeadership?.(true, leadership.leader(), 'sole control plane')
    }
  } catch (err) {
    await store.close()
    throw err
  }

  const reads = new ControlPlane({
    store,
    bus,
    subjects: busSubjects(config.bus),
    retention: retentionOf(config.store),
  })
  const log = new ActionLog({ store, leadership })
  const stored = new StoredAlerts(store)
  const alertSource = (): AlertSource => running?.alerts ?? stored
  const leader = (): RunningControlPlane => {
    const r = running
    if (r === null || !leadership.leading)
      throw VGL_ERR_CONTROL_NOT_LEADER(describeLeader(leadership.leader()))
    return r
  }
  // journeys: a follower answers what the store holds (traces, the graph's stored windows)
  const journeyReads = new LiveJourneys({
    store,
    windowMs: config.telemetry.windowMs,
    gatewayEnv: config.env,
    sampleRate: config.telemetry.spans.sampleRate,
    spansRetentionMs: retentionOf(config.store).spans,
    routes: journeyRoutesOf(config),
  })
  const liveJourneys = (): LiveJourneys => {
    const j = leader().journeys
    if (j === null) throw VGL_ERR_CONTROL_DISABLED('journeys', 'journeys')
    return j
  }
  const readJourneys = (): LiveJourneys => running?.journeys ?? journeyReads
  let stopping: Promise<void> | null = null
  return {
    holder,
    leadership,
    store,
    current: () => running,
    series: {
      listSeries: () => (running?.plane ?? reads).listSeries(),
      points: (key, fromMs, toMs, stepMs) => (running?.plane ?? reads).points(key, fromMs, toMs, stepMs),
    },
    actions: log,
    audit: auditSource(store),
    anomalies: {
      anomalies: async (q) => {
        const a = leader().anomalies
        if (a === null) throw VGL_ERR_CONTROL_DISABLED('anomaly detection', 'detect')
        return a.anomalies(q)
      },
      learning: async () => {
        const a = leader().anomalies
        if (a === null) throw VGL_ERR_CONTROL_DISABLED('anomaly detection', 'detect')
        return a.learning()
      },
    },
    // a follower has no detector state: an empty history would read as a series with no scores
    // (with detection off, none: as embedded, an empty history)
    scores: { scores: async (q) => (await leader().anomalies?.scores(q)) ?? null },
    forecasts: {
      forecast: async (key, horizon, level) => {
        const f = leader().forecasts
        if (f === null) throw VGL_ERR_CONTROL_DISABLED('forecasting', 'forecast')
        return f.forecast(key, horizon, level)
      },
    },
    alerts: {
      listAlerts: (q) => alertSource().listAlerts(q),
      getAlert: (fp) => alertSource().getAlert(fp),
      ackAlert: (fp, by, comment) => alertSource().ackAlert(fp, by, comment),
      listSilences: (all) => alertSource().listSilences(all),
      createSilence: (input) => alertSource().createSilence(input),
      deleteSilence: (id) => alertSource().deleteSilence(id),
    },
    alertMetrics: async () => running?.alerts?.metrics() ?? null,
    journeys: {
      trace: (id) => readJourneys().trace(id),
      traceByRequestId: (id) => readJourneys().traceByRequestId(id),
      searchTraces: (q) => readJourneys().searchTraces(q),
      graph: (fromMs, toMs, opts) => readJourneys().graph(fromMs, toMs, opts),
      journeys: async (fromMs, toMs) => liveJourneys().journeys(fromMs, toMs),
      journey: async (route, fromMs, toMs) => liveJourneys().journey(route, fromMs, toMs),
      rootCause: async (q) => liveJourneys().rootCause(q),
      whatIf: async (q) => liveJourneys().whatIf(q),
      stats: async () => liveJourneys().stats(),
    },
    setAdminUrl: (url) => setAdminUrl(url),
    stop: () =>
      (stopping ??= (async () => {
        await stopLease()
        await standDown()
        await store.close()
      })()),
  }
}

function hostOf(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
}
