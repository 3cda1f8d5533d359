/**
 * @module The embedded control plane's worker_thread entry: consumes the main thread's MemoryBus
 * over a MessagePort, stores in SQLite, and answers series queries over a second port, so model
 * fitting and store writes never block proxying.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads'
import { MemoryBus } from '../bus/index.js'
import type { Config } from '../config/index.js'
import { isVigilError, VGL_ERR_CONTROL_DISABLED } from '../errors.js'
import type { LiveAlerts } from './alerting.js'
import type { LimitsReply, RpcRequest, RpcResponse } from './embedded.js'
import type { LimitControls } from './policies/index.js' // adaptive limits
import { startControlPlane } from './start.js'

interface Data {
  config: Config
  busPort: MessagePort
  rpcPort: MessagePort
  graceMs: number
  adminUrl?: string
  /** adaptive limits: the limiter lives on the main thread */
  limitsOnMain: boolean
}

const { config, busPort, rpcPort, graceMs, adminUrl, limitsOnMain } = workerData as Data
const bus = MemoryBus.overPort(busPort)

// ---- adaptive limits: policies change the main thread's limiter, and wait for its answer ----
const waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>()
let nextLimitsId = 1
parentPort?.on('message', (m: LimitsReply) => {
  if (m.type !== 'limits-result') return
  const w = waiting.get(m.id)
  waiting.delete(m.id)
  if (m.error === undefined) w?.resolve()
  else w?.reject(new Error(m.error))
})
const limitControls: LimitControls | null = limitsOnMain
  ? {
      setControls: (patch, meta) =>
        new Promise<void>((resolve, reject) => {
          const id = nextLimitsId++
          waiting.set(id, { resolve, reject })
          parentPort?.postMessage({ type: 'limits', id, patch, meta })
        }),
    }
  : null

const cp = await startControlPlane(config, bus, {
  graceMs,
  adminUrl,
  limitControls,
  onError: (err, what) =>
    parentPort?.postMessage({
      type: 'error',
      what,
      message: err.message,
      ...(isVigilError(err) ? { code: err.code, ...(err.fix !== undefined ? { fix: err.fix } : {}) } : {}),
    }),
  onStore: (condition) => parentPort?.postMessage({ type: 'store', condition }),
  onNotice: (message, fields) => parentPort?.postMessage({ type: 'notice', message, fields }),
  onAction: (action) => parentPort?.postMessage({ type: 'action', action }),
})

const alertsOf = (): LiveAlerts => {
  if (cp.alerts === null) throw VGL_ERR_CONTROL_DISABLED('alerting', 'alerts')
  return cp.alerts
}

rpcPort.on('message', (req: RpcRequest) => {
  const reply = (res: RpcResponse) => rpcPort.postMessage(res)
  const run = async (): Promise<unknown> => {
    switch (req.op) {
      case 'listSeries':
        return cp.plane.listSeries()
      case 'closedUpTo': // scale
        return cp.plane.closedUpToMs()
      case 'points':
        return cp.plane.points(req.key, req.fromMs, req.toMs, req.stepMs)
      // live detect/forecast
      case 'anomalies':
        if (cp.anomalies === null) throw VGL_ERR_CONTROL_DISABLED('anomaly detection', 'detect')
        return cp.anomalies.anomalies(req.query)
      case 'learning':
        if (cp.anomalies === null) throw VGL_ERR_CONTROL_DISABLED('anomaly detection', 'detect')
        return cp.anomalies.learning()
      case 'reconfigure':
        cp.reconfigure(req.config)
        return undefined
      case 'forecast':
        if (cp.forecasts === null) throw VGL_ERR_CONTROL_DISABLED('forecasting', 'forecast')
        return cp.forecasts.forecast(req.key, req.horizon, req.level)
      case 'actions':
        return cp.actions.actions(req.query)
      case 'audit':
        return cp.audit.audit(req.query)
      case 'recordAction': // scale
        return cp.actions.record(req.input)
      case 'settleAction': // scale
        return cp.actions.settle(req.rec, req.result)
      case 'loadState': // scale
        return cp.store.getControlState(req.scope)
      case 'saveState': // scale
        return cp.store.putControlState(req.scope, req.entries, cp.leadership.token())
      case 'scores': // dashboard
        return cp.anomalies === null ? null : cp.anomalies.scores(req.query)
      // alerts
      case 'listAlerts':
        return alertsOf().listAlerts(req.query)
      case 'getAlert':
        return alertsOf().getAlert(req.fingerprint)
      case 'ackAlert':
        return alertsOf().ackAlert(req.fingerprint, req.by, req.comment)
      case 'listSilences':
        return alertsOf().listSilences(req.all)
      case 'createSilence':
        return alertsOf().createSilence(req.input)
      case 'deleteSilence':
        return alertsOf().deleteSilence(req.silenceId)
      case 'alertMetrics':
        return cp.alerts?.metrics() ?? null
      case 'journeys': {
        if (cp.journeys === null) throw VGL_ERR_CONTROL_DISABLED('journeys', 'journeys')
        const fn = cp.journeys[req.method] as (...args: unknown[]) => Promise<unknown>
        return fn.apply(cp.journeys, req.args)
      }
      case 'stop':
        await cp.stop()
        await bus.close()
        return null
    }
  }
  run().then(
    (value) => {
      reply({ id: req.id, ok: true, value })
      if (req.op === 'stop') rpcPort.close()
    },
    (err: Error) =>
      reply({
        id: req.id,
        ok: false,
        error: {
          code: isVigilError(err) ? err.code : 'VGL_ERR_CONTROL_UNAVAILABLE',
          message: err.message,
          statusCode: isVigilError(err) ? err.statusCode : 503,
          ...(isVigilError(err) && typeof err.fix === 'string' ? { fix: err.fix } : {}),
        },
      }),
  )
})
// the main thread's GET /health follows the counts of failed writes and of held records
let lastCounts = '0 0 0'
setInterval(() => {
  const c = cp.storeWatch.status()
  const counts = `${c.failedWrites} ${c.waiting} ${c.droppedRecords}`
  if (counts === lastCounts) return
  lastCounts = counts
  parentPort?.postMessage({ type: 'store', condition: c })
}, 1_000).unref()
// live detect/forecast: anomaly transitions go to the main thread, which logs or forwards them
cp.anomalies?.on('anomaly', (record: unknown, transition: string) =>
  parentPort?.postMessage({ type: 'anomaly', record, transition }),
)
parentPort?.postMessage({ type: 'ready' })
