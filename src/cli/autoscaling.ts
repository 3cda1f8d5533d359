/**
 * @module Starts the autoscaler for the services with a `scale:` block, beside the control plane
 * that feeds it: embedded (`vigil start`: targets straight into the gateway) or scaled out
 * (`vigil control`: targets over the bus to every gateway, acting only while leading).
 */
import type { Logger } from 'pino'
import type { Config } from '../config/index.js'
import type { ScaleConfig } from '../config/scale-schema.js'
import type {
  ActionInput,
  ActionPage,
  ActionPageQuery,
  ActionRecord,
  SettleResult,
} from '../control/actions.js'
import type { SeriesSummary } from '../control/control-plane.js'
import type { ForecastAnswer } from '../control/forecasts.js'
import type { SeriesPoint } from '../control/points.js'
import type { TargetPool } from '../scale/actuator.js'
import { Autoscaler, type CapacityStateStore, type Observation } from '../scale/autoscaler.js'
import type { ControlStateEntry } from '../store/index.js'
import { openActuators } from '../scale/open.js'
import { sentCount } from '../telemetry/index.js'

export interface AutoscalingSource {
  listSeries(): Promise<SeriesSummary[]>
  /** a series' stored windows (SeriesSource.points): replayed into a new term's policy */
  points?(key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]>
  /** the end of the windows the control plane has closed (ControlPlane.closedUpToMs) */
  closedUpTo?(): Promise<number>
  /** with `level`, the rate band at that level (the service's `scale.level`) */
  forecast(key: string, horizon?: number, level?: number): Promise<ForecastAnswer>
  recordAction(input: ActionInput): Promise<ActionRecord>
  /** the action log, newest first: a new term restores the hold of the last manual scale */
  actions?(q: ActionPageQuery): Promise<ActionPage>
  settleAction(rec: ActionRecord, result: SettleResult): Promise<unknown>
  /** false on a standing-by `vigil control`: it observes nothing and so decides nothing */
  leading?(): boolean
  /** the store's control state under {@link CAPACITY_STATE_SCOPE}; writes fenced by the leader's token */
  loadCapacity?(): Promise<ControlStateEntry[]>
  saveCapacity?(entries: ControlStateEntry[]): Promise<void>
}

/** Where learned capacity evidence is kept in the store's control state, one key per service. */
export const CAPACITY_STATE_SCOPE = 'capacity'

function capacityStateOf(source: AutoscalingSource): CapacityStateStore | undefined {
  const { loadCapacity, saveCapacity } = source
  if (loadCapacity === undefined || saveCapacity === undefined) return undefined
  return {
    load: async () => (await loadCapacity()).map((e) => ({ service: e.key, data: e.data })),
    save: (service, data) => saveCapacity([{ key: service, data }]),
  }
}

/**
 * What the autoscaler learns a service's capacity from: its load and behaviour, so the requests
 * sent to it; what the gateway answered itself (429s, 503s with no healthy target) never reached a
 * replica and is neither its load nor its errors.
 */
export function observationOf(p: SeriesPoint): Observation {
  const { startMs: atMs, ratePerSec, count, refused, p95, p99, upstreamErrorRatio } = p
  const refusedRatio = count > 0 ? Math.min(1, refused / count) : 0
  return { atMs, ratePerSec, requests: sentCount(p), p95, p99, errorRatio: upstreamErrorRatio, refusedRatio }
}

/**
 * A service's stored windows for the autoscaler's replay: a series the store never saw (a new
 * service, one never called) has none, which is no error.
 */
function historyOf(
  points: NonNullable<AutoscalingSource['points']>,
  rollup: (service: string) => string,
  windowMs: number,
): (service: string, fromMs: number, toMs: number) => Promise<Observation[]> {
  return async (service, fromMs, toMs) => {
    try {
      return (await points(rollup(service), fromMs, toMs, windowMs)).map(observationOf)
    } catch (err) {
      if ((err as { code?: string }).code === 'VGL_ERR_CONTROL_SERIES_NOT_FOUND') return []
      throw err
    }
  }
}

/**
 * The newest manual scale of a service that succeeded since `sinceMs`, from the action log (its
 * reason without the `manual: ` the autoscaler writes before it).
 */
function lastManualOf(
  actions: NonNullable<AutoscalingSource['actions']>,
): (service: string, sinceMs: number) => Promise<{ count: number; atMs: number; reason: string } | null> {
  return async (service, sinceMs) => {
    const { actions: recs } = await actions({
      kind: 'scale.manual',
      target: `service:${service}`,
      mode: 'enforce',
      fromMs: sinceMs,
      limit: 20,
    })
    const ok = recs.find((r) => r.result.status === 'ok' && Number.isInteger(r.after))
    if (ok === undefined) return null
    return { count: ok.after as number, atMs: ok.atMs, reason: ok.reason.replace(/^manual: /, '') }
  }
}

/** The services of a config with a scale block, and their blocks. */
function scaledOf(config: Config): Record<string, ScaleConfig> {
  return Object.fromEntries(
    Object.entries(config.services).flatMap(([n, s]) => (s.scale !== undefined ? [[n, s.scale]] : [])),
  )
}

export interface RunningAutoscaling {
  autoscaler: Autoscaler
  /** the scaled services, kept current across reloads (the same array) */
  services: string[]
  /**
   * Applies a reloaded config's scale blocks (Autoscaler.reconfigure): services that gained one
   * get their actuator opened here. Logs what it started and stopped scaling.
   */
  reconfigure(config: Config): Promise<void>
  close(): Promise<void>
}

/** Null when no service has a scale block. */
export async function startAutoscaling(
  config: Config,
  source: AutoscalingSource,
  pool: TargetPool,
  logger: Logger,
): Promise<RunningAutoscaling | null> {
  let current = config
  let scaled = scaledOf(config)
  if (Object.keys(scaled).length === 0) return null
  const rollup = (service: string) => `${service}|*|${config.env}`
  const leading = () => source.leading?.() ?? true
  const log = {
    onOutput: (service: string, replica: string, line: string) => logger.info({ service, replica }, line),
    onWarn: (message: string) => logger.warn(message),
  }
  const opened = [await openActuators(config, pool, log)]
  const actuatorFor = (service: string) => {
    for (const o of opened) {
      const a = o.actuatorFor(service)
      if (a !== null) return a
    }
    return null
  }
  const scaler = new Autoscaler({
    services: scaled,
    actuatorFor,
    windowMs: config.telemetry.windowMs,
    leading,
    observe: async (service) => {
      if (!leading()) return null
      const last = (await source.listSeries()).find((x) => x.key === rollup(service))?.last
      return last ? observationOf(last) : null
    },
    closedUpTo: async () => (leading() ? ((await source.closedUpTo?.()) ?? -Infinity) : -Infinity),
    ...(source.points !== undefined
      ? { history: historyOf(source.points, rollup, config.telemetry.windowMs) }
      : {}),
    ...(source.actions !== undefined ? { lastManual: lastManualOf(source.actions) } : {}),
    configuredTargets: (service) => current.services[service]?.targets.length ?? 0,
    forecast: async (service, horizon) => {
      const f = await source.forecast(
        rollup(service),
        horizon === undefined ? undefined : Math.min(horizon, config.forecast.maxHorizon),
        scaled[service]?.level,
      )
      return f.status === 'ok' ? { points: f.points, model: f.model, level: f.level } : null
    },
    record: (input) => source.recordAction(input),
    settle: async (rec, result) => void (await source.settleAction(rec as ActionRecord, result)),
    // logged once per failure streak; the failed action and a scale.alert are in the action log.
    // The error's own fix (the command to check, DOCKER_HOST, the kubeconfig) goes with it: the
    // log is where an operator running `vigil start` looks first
    onFailure: (service, err) => {
      const { code, fix } = err as { code?: string; fix?: unknown }
      logger.error(
        { service, code },
        `autoscaler: ${err.message}${typeof fix === 'string' ? `; ${fix}` : ''}`,
      )
    },
    onError: (err, what) => logger.warn({ err }, what),
    capacityState: capacityStateOf(source),
  })
  await scaler.start()
  const services = Object.keys(scaled)
  return {
    autoscaler: scaler,
    services,
    reconfigure: async (next) => {
      const nextScaled = scaledOf(next)
      // an actuator block is read once (restartRequired): a service that gains one gets its own
      const gained = Object.keys(nextScaled).filter(
        (n) => scaled[n] === undefined && nextScaled[n].actuator !== undefined,
      )
      if (gained.length > 0) {
        const only = Object.fromEntries(gained.map((n) => [n, next.services[n]]))
        opened.push(await openActuators({ ...next, services: only }, pool, log))
      }
      current = next
      scaled = nextScaled
      const r = await scaler.reconfigure(nextScaled, actuatorFor)
      services.splice(0, services.length, ...Object.keys(nextScaled))
      for (const service of r.added)
        logger.info({ service }, 'autoscaler: a reload added its scale block; scaling it')
      for (const service of r.removed)
        logger.warn(
          { service },
          'autoscaler: a reload removed its scale block; no longer scaling it, its replicas are left as they are',
        )
      for (const service of r.changed)
        logger.info({ service }, 'autoscaler: a reload changed its scale block; the next decision uses it')
    },
    close: async () => {
      await scaler.stop()
      await Promise.all(opened.map((o) => o.close()))
    },
  }
}
