/**
 * @module Embedded mode, main-thread side: starts the control plane in a worker_thread, feeds it
 * the process's MemoryBus over a MessagePort, and answers the series API by asking the worker
 * (request/response over a second port). The worker owns the SQLite store; the main thread never
 * opens it, so there is one writer and no lock contention.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { MessageChannel, Worker } from 'node:worker_threads'
import type { MemoryBus } from '../bus/index.js'
import type { Config } from '../config/index.js'
import { VGL_ERR_CONTROL_UNAVAILABLE, VigilError } from '../errors.js'
import type { SeriesSource, SeriesSummary } from './control-plane.js'
import type { SeriesPoint } from './points.js'
import type { StoreCondition } from './store-watch.js'
import type { ControlStateEntry } from '../store/index.js' // scale
import type { AnomalyQuery, AnomalyRecord, AnomalySource, LearningSummary } from './anomalies.js' // live detect/forecast
import type { ForecastAnswer, ForecastSource } from './forecasts.js' // live detect/forecast
import type { AuditPage, AuditPageQuery, AuditSource } from './audit.js' // audit
import type {
  ActionInput,
  ActionPage,
  ActionPageQuery,
  ActionRecord,
  ActionSource,
  SettleResult,
} from './actions.js' // actions
import type { ScoreHistory, ScoreQuery, ScoreSource } from './scores.js' // dashboard
import type { AlertSource, SilenceInput } from './alerting.js' // alerts
import type { Alert, AlertMetricsSnapshot, AlertQuery, Silence } from '../alerts/index.js' // alerts
import type { LimitControls } from './policies/index.js' // adaptive limits
import { JOURNEY_METHODS, type JourneySource } from './journeys.js' // journeys

type RpcCall =
  | { op: 'listSeries' }
  | { op: 'closedUpTo' } // scale
  | { op: 'points'; key: string; fromMs: number; toMs: number; stepMs: number }
  | { op: 'anomalies'; query: AnomalyQuery } // live detect/forecast
  | { op: 'learning' } // live detect/forecast
  | { op: 'reconfigure'; config: Config } // reload
  | { op: 'forecast'; key: string; horizon?: number; level?: number } // live detect/forecast
  | { op: 'actions'; query: ActionPageQuery } // actions
  | { op: 'audit'; query: AuditPageQuery } // audit
  | { op: 'recordAction'; input: ActionInput } // scale
  | { op: 'settleAction'; rec: ActionRecord; result: SettleResult } // scale
  | { op: 'loadState'; scope: string } // scale
  | { op: 'saveState'; scope: string; entries: ControlStateEntry[] } // scale
  | { op: 'scores'; query: ScoreQuery } // dashboard
  | { op: 'listAlerts'; query: AlertQuery } // alerts
  | { op: 'getAlert'; fingerprint: string }
  | { op: 'ackAlert'; fingerprint: string; by: string; comment: string }
  | { op: 'listSilences'; all: boolean }
  | { op: 'createSilence'; input: SilenceInput }
  // not `id`: the request's own id (RpcRequest) would overwrite it
  | { op: 'deleteSilence'; silenceId: string }
  | { op: 'alertMetrics' }
  | { op: 'journeys'; method: (typeof JOURNEY_METHODS)[number]; args: unknown[] } // journeys
  | { op: 'stop' }

export type RpcRequest = RpcCall & { id: number }

/** Worker → main thread notices (anomaly: live detect/forecast; limits: adaptive limits). */
interface WorkerMessage {
  type: 'ready' | 'error' | 'notice' | 'anomaly' | 'limits' | 'store' | 'action'
  what?: string
  message?: string
  /** error: its VGL_ERR_* code and what to do about it, when known */
  code?: string
  fix?: string
  /** store: the store started or stopped taking writes */
  condition?: StoreCondition
  /** notice: what the message is about */
  fields?: Record<string, unknown>
  record?: AnomalyRecord
  transition?: string
  /** action: one the worker recorded, once final */
  action?: ActionRecord
  /** limits: a controls change the worker's policies ask the main thread's limiter to make */
  id?: number
  patch?: Parameters<LimitControls['setControls']>[0]
  meta?: Parameters<LimitControls['setControls']>[1]
}

/** Main thread → worker: the outcome of a `limits` request. */
export interface LimitsReply {
  type: 'limits-result'
  id: number
  error?: string
}

export type RpcResponse =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: { code: string; message: string; statusCode: number; fix?: string } }

export interface EmbeddedControl
  extends SeriesSource, AnomalySource, ForecastSource, ActionSource, ScoreSource, AlertSource, AuditSource {
  /** alerting's numbers for /metrics (null when alerting is off) */
  alertMetrics(): Promise<AlertMetricsSnapshot | null>
  /** scale: the end of the windows the control plane has closed (ControlPlane.closedUpToMs) */
  closedUpToMs(): Promise<number>
  /** scale: records an action in the leader's fenced action log (the autoscaler runs beside the gateway) */
  recordAction(input: ActionInput): Promise<ActionRecord>
  settleAction(rec: ActionRecord, result: SettleResult): Promise<ActionRecord>
  /** scale: the store's control state of a scope (learned capacity), written with the leader's fencing token */
  loadState(scope: string): Promise<ControlStateEntry[]>
  saveState(scope: string, entries: ControlStateEntry[]): Promise<void>
  /** a reloaded config (RunningControlPlane.reconfigure): routes for detection, alerting */
  reconfigure(config: Config): Promise<void>
  /** journeys: traces, graph, root cause, what-if (asked of the worker) */
  readonly journeys: JourneySource
  /** whether the worker's store takes writes, as it last said (GET /health) */
  storeCondition(): StoreCondition
  /** graceful: the worker writes its pending windows, closes the store and exits */
  stop(): Promise<void>
}

export interface EmbeddedControlOptions {
  config: Config
  bus: MemoryBus
  onError?: (what: string, message: string, detail: { code?: string; fix?: string }) => void
  /**
   * the store stopped or started taking writes, or its deleted file was written back (not called
   * for mere counts of failed writes or held records); `previous`: the condition before
   */
  onStore?: (condition: StoreCondition, previous: StoreCondition) => void
  /** something an operator should know that is no error (LiveJourneysOptions.onNotice) */
  onNotice?: (message: string, fields: Record<string, unknown>) => void
  /** each action the worker recorded, once final (StartControlOptions.onAction) */
  onAction?: (rec: ActionRecord) => void
  /** live detect/forecast: each anomaly opened or resolved in the worker */
  onAnomaly?: (record: AnomalyRecord, transition: 'opened' | 'resolved') => void
  /**
   * adaptive limits: the limiter on this thread; the worker's policies change its controls
   * through it, the same audited path as the admin API (absent: policies cannot enforce)
   */
  limits?: LimitControls
  /** worker grace period; default min(control.graceMs, 1000): one gateway, in process, nothing arrives late */
  graceMs?: number
  /** the admin API's URL (alert links) */
  adminUrl?: string
  timeoutMs?: number
}

/** Starts the worker and resolves once it consumes the bus. */
export async function startEmbeddedControl(opts: EmbeddedControlOptions): Promise<EmbeddedControl> {
  const busChannel = new MessageChannel()
  const rpc = new MessageChannel()
  const stopServing = opts.bus.serve(busChannel.port1)
  const worker = new Worker(workerUrl(), {
    workerData: {
      config: opts.config,
      busPort: busChannel.port2,
      rpcPort: rpc.port2,
      graceMs: opts.graceMs ?? Math.min(opts.config.control.graceMs, 1_000),
      adminUrl: opts.adminUrl,
      limitsOnMain: opts.limits !== undefined, // adaptive limits
    },
    transferList: [busChannel.port2, rpc.port2],
  })
  const timeoutMs = opts.timeoutMs ?? 30_000
  let nextId = 1
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  let dead: Error | null = null
  let storeCondition: StoreCondition = {
    ok: true,
    kind: opts.config.store.kind,
    path: opts.config.store.kind === 'sqlite' ? opts.config.store.path : 'postgres',
    code: null,
    message: null,
    fix: null,
    sinceMs: null,
    failedWrites: 0,
    waiting: 0,
    droppedRecords: 0,
    restored: null,
  }
  const failAll = (err: Error) => {
    dead = err
    for (const w of waiting.values()) w.reject(err)
    waiting.clear()
  }
  rpc.port1.on('message', (res: RpcResponse) => {
    const w = waiting.get(res.id)
    if (w === undefined) return
    waiting.delete(res.id)
    if (res.ok) w.resolve(res.value)
    else {
      const err = new VigilError(res.error.code, res.error.message, res.error.statusCode)
      // the fix made where the error was raised (the route, the trace id) is what the API answers
      if (res.error.fix !== undefined) err.fix = res.error.fix
      w.reject(err)
    }
  })
  await new Promise<void>((resolve, reject) => {
    worker.on('message', (m: WorkerMessage) => {
      if (m.type === 'ready') resolve()
      else if (m.type === 'error')
        opts.onError?.(m.what ?? '', m.message ?? '', {
          ...(m.code !== undefined ? { code: m.code } : {}),
          ...(m.fix !== undefined ? { fix: m.fix } : {}),
        })
      else if (m.type === 'store' && m.condition !== undefined) {
        const previous = storeCondition
        storeCondition = m.condition
        if (
          m.condition.ok !== previous.ok ||
          m.condition.code !== previous.code ||
          m.condition.restored?.atMs !== previous.restored?.atMs
        )
          opts.onStore?.(m.condition, previous)
      } else if (m.type === 'notice') opts.onNotice?.(m.message ?? '', m.fields ?? {})
      else if (m.type === 'action' && m.action !== undefined) opts.onAction?.(m.action)
      // live detect/forecast
      else if (m.type === 'anomaly' && m.record !== undefined)
        opts.onAnomaly?.(m.record, m.transition === 'resolved' ? 'resolved' : 'opened')
      // adaptive limits: a policy's change, made by the limiter here and answered to the worker
      else if (m.type === 'limits' && m.id !== undefined && m.patch !== undefined && m.meta !== undefined) {
        const id = m.id
        const done = (error?: string) =>
          worker.postMessage({
            type: 'limits-result',
            id,
            ...(error !== undefined ? { error } : {}),
          } satisfies LimitsReply)
        if (opts.limits === undefined) done('limits are not enabled in this process (limits.enabled)')
        else
          opts.limits.setControls(m.patch, m.meta).then(
            () => done(),
            (err: Error) => done(err.message),
          )
      }
    })
    worker.once('error', (err) => {
      failAll(VGL_ERR_CONTROL_UNAVAILABLE(err.message))
      reject(err)
    })
    worker.once('exit', (code) => {
      failAll(VGL_ERR_CONTROL_UNAVAILABLE(`the control-plane worker exited with code ${code}`))
      reject(VGL_ERR_CONTROL_UNAVAILABLE(`the control-plane worker exited with code ${code}`))
    })
  })
  worker.unref()
  rpc.port1.unref()

  const call = <T>(req: RpcCall): Promise<T> => {
    if (dead !== null) return Promise.reject(dead)
    const id = nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id)
        reject(VGL_ERR_CONTROL_UNAVAILABLE(`no answer within ${timeoutMs} ms`))
      }, timeoutMs)
      waiting.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      })
      rpc.port1.postMessage({ ...req, id })
    })
  }

  let stopping: Promise<void> | null = null
  return {
    listSeries: () => call<SeriesSummary[]>({ op: 'listSeries' }),
    closedUpToMs: () => call<number>({ op: 'closedUpTo' }), // scale
    points: (key, fromMs, toMs, stepMs) => call<SeriesPoint[]>({ op: 'points', key, fromMs, toMs, stepMs }),
    anomalies: (query) => call<AnomalyRecord[]>({ op: 'anomalies', query }), // live detect/forecast
    learning: () => call<LearningSummary>({ op: 'learning' }), // live detect/forecast
    reconfigure: (config) => call<void>({ op: 'reconfigure', config }), // reload
    forecast: (key, horizon, level) => call<ForecastAnswer>({ op: 'forecast', key, horizon, level }), // live detect/forecast
    actions: (query) => call<ActionPage>({ op: 'actions', query }), // actions
    audit: (query) => call<AuditPage>({ op: 'audit', query }), // audit
    recordAction: (input) => call<ActionRecord>({ op: 'recordAction', input }), // scale
    settleAction: (rec, result) => call<ActionRecord>({ op: 'settleAction', rec, result }), // scale
    loadState: (scope) => call<ControlStateEntry[]>({ op: 'loadState', scope }), // scale
    saveState: (scope, entries) => call<void>({ op: 'saveState', scope, entries }), // scale
    scores: (query) => call<ScoreHistory | null>({ op: 'scores', query }), // dashboard
    // alerts
    listAlerts: (query) => call<Alert[]>({ op: 'listAlerts', query }),
    getAlert: (fingerprint) => call<Alert>({ op: 'getAlert', fingerprint }),
    ackAlert: (fingerprint, by, comment) => call<Alert>({ op: 'ackAlert', fingerprint, by, comment }),
    listSilences: (all) => call<Silence[]>({ op: 'listSilences', all }),
    createSilence: (input) => call<Silence>({ op: 'createSilence', input }),
    deleteSilence: (id) => call<void>({ op: 'deleteSilence', silenceId: id }),
    alertMetrics: () => call<AlertMetricsSnapshot | null>({ op: 'alertMetrics' }),
    storeCondition: () => storeCondition,
    // journeys: every method is one RPC
    journeys: Object.fromEntries(
      JOURNEY_METHODS.map((method) => [
        method,
        (...args: unknown[]) => call({ op: 'journeys', method, args }),
      ]),
    ) as unknown as JourneySource,
    stop: () =>
      (stopping ??= (async () => {
        // The recorder's last rollups travel on the bus port, the stop request on another;
        // ports do not order against each other, so give the bus a moment to deliver first.
        await new Promise((r) => setTimeout(r, 200))
        if (dead === null) await call({ op: 'stop' }).catch(() => {})
        stopServing()
        rpc.port1.close()
        await worker.terminate()
      })()),
  }
}

/**
 * The compiled worker script. Under a TypeScript test runner this module is `src/control/*.ts`
 * and Node cannot start a .ts worker, so it falls back to the build in `dist/`.
 */
function workerUrl(): URL {
  const here = new URL('./worker.js', import.meta.url)
  if (!import.meta.url.endsWith('.ts')) return here
  const built = new URL(import.meta.url.replace(/\/src\/control\/[^/]+\.ts$/, '/dist/control/worker.js'))
  if (!existsSync(fileURLToPath(built)))
    throw VGL_ERR_CONTROL_UNAVAILABLE(`the worker is not built (${fileURLToPath(built)}); run npm run build`)
  return built
}
