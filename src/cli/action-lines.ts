/**
 * @module The operator's log lines of what the control plane does: one line per scaling action
 * (enforced once settled, shadow when recorded) and per alert notification (firing, still firing,
 * resolved), worded as the dashboard's activity list words them (src/api/activity-words.ts), so
 * a log, the dashboard and `vigil demo` tell an event the same way.
 *
 * A shadow decision is logged at info like an enforced one: it is recorded only when the count
 * it asks for changes, so it is as rare, and shadow mode is where an operator reads what the
 * autoscaler would do before letting it act.
 */
import type { Logger } from 'pino'
import { actionSummary } from '../api/activity-words.js'
import type { ActionRecord } from '../store/index.js'

/** Actions remembered as told: a record settled again with the same status is the same event. */
const TOLD_MAX = 1_000

/** The log prefix of an action's area, or null for the areas logged elsewhere. */
function areaOf(rec: ActionRecord): string | null {
  // a failure streak's alert is logged at error level where the autoscaler fails (startAutoscaling)
  if (rec.kind === 'scale.alert') return null
  if (rec.kind.startsWith('scale.')) return 'autoscaler'
  if (rec.kind === 'alert.firing' || rec.kind === 'alert.repeat' || rec.kind === 'alert.resolved')
    return 'alert'
  return null
}

/**
 * A watcher of final actions (StartControlOptions.onAction) that logs each scaling action and
 * alert notification once: a failing decision settled again at each window (src/scale) logs
 * only when its outcome changes.
 * @example
 * startEmbeddedControl({ config, bus, onAction: actionLines(logger) })
 * // {"level":30,…,"msg":"autoscaler: Scaled orders 2 → 3 replicas (forecast: 410 req/s upper band …)"}
 */
export function actionLines(logger: Logger): (rec: ActionRecord) => void {
  const told = new Map<string, string>()
  return function logAction(rec) {
    const area = areaOf(rec)
    if (area === null) return
    const status = rec.result.status
    if (told.get(rec.id) === status) return
    told.delete(rec.id)
    told.set(rec.id, status)
    if (told.size > TOLD_MAX) told.delete(told.keys().next().value as string)
    const alert = rec.kind.startsWith('alert.')
    const fields = {
      action: rec.id,
      kind: rec.kind,
      target: rec.target,
      mode: rec.mode,
      status,
      ...(alert ? { rule: rec.policy } : { before: rec.before, after: rec.after }),
    }
    // an alert's sentence tells the condition; where it was sent (or why not) is its outcome
    const delivery = alert && rec.result.detail ? `; ${rec.result.detail}` : ''
    // `alert: "errors" (critical) fired on …`, not `alert: Alert "errors" …`
    const line = `${area}: ${actionSummary(rec).replace(/^Alert "/, '"')}${delivery}`
    if (status === 'failed') logger.warn(fields, line)
    else logger.info(fields, line)
  }
}
