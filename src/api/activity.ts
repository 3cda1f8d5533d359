/**
 * @module What the system did lately, in one list for people: anomalies opened and resolved,
 * limit changes by operators or the control plane, and (as those areas land) alerts, scaling and
 * other actions. The dashboard's overview shows it live; `vigil demo` prints one line per entry.
 * It is a bounded in-memory ring: the durable records stay in their own logs (audit log, store).
 */
import { EventEmitter } from 'node:events'
import {
  actionSummary,
  anomalySummary,
  auditSummary,
  type ActionWords,
  type AnomalyWords,
  type AuditWords,
} from './activity-words.js'

export interface ActivityEntry {
  /** unique within the process, increasing */
  id: string
  atMs: number
  /** dotted: `anomaly.opened`, `limits.controls.set`, ... */
  kind: string
  /** who did it: `control`, `admin`, an actor header */
  actor: string
  subject: string
  /** one line for people */
  summary: string
  severity: 'info' | 'warning' | 'critical'
}

export type ActivityInput = Omit<ActivityEntry, 'id'> & {
  /**
   * What ties two records of one change, so the list tells it once, as the copy `told`, and leaves
   * out its `echo`. A policy's limit change is told as its action, which carries the evidence (the
   * audit event the limiter writes is the echo); an operator's scale or restart as its audit event,
   * which names the operator beside the reason and outcome (the action it records is the echo).
   * `anyTime`: the key names one change (an action's id), so the two may be any time apart.
   */
  link?: { role: 'told' | 'echo'; key: string; anyTime?: boolean }
}

/** How far apart in time an action and its audit echo may be: the limiter applies a decision within it. */
const ECHO_WINDOW_MS = 60_000

/**
 * A ring of the newest entries; emits `'entry'` for each one added. An echo (the audit event of a
 * policy's action, the action of an operator's scale) is held back until the copy told arrives,
 * then dropped: a policy's action reaches the list when its outcome is known, after the limiter
 * has audited the change. An echo whose told copy has not come after `echoWaitMs` (a control plane
 * restarting) is added after all, so no change goes untold.
 */
export class ActivityLog extends EventEmitter {
  readonly #entries: ActivityEntry[] = []
  readonly #max: number
  readonly #echoWaitMs: number
  /** audit echoes waiting for their action */
  readonly #held: Array<{ key: string; atMs: number; timer: NodeJS.Timeout }> = []
  /** policy actions whose echo has not come (yet) */
  readonly #unechoed: Array<{ key: string; atMs: number }> = []
  #n = 0

  constructor(max = 200, echoWaitMs = 45_000) {
    super()
    this.#max = max
    this.#echoWaitMs = echoWaitMs
  }

  /** Adds an entry; null when it is an echo, held back or dropped. */
  push(input: ActivityInput): ActivityEntry | null {
    const { link, ...entry } = input
    const within = link?.anyTime === true ? Infinity : ECHO_WINDOW_MS
    if (link?.role === 'echo') {
      if (takeLinked(this.#unechoed, link.key, entry.atMs, within) !== null) return null
      const held = {
        key: link.key,
        atMs: entry.atMs,
        timer: setTimeout(() => {
          this.#held.splice(this.#held.indexOf(held), 1)
          this.#add(entry)
        }, this.#echoWaitMs),
      }
      held.timer.unref()
      this.#held.push(held)
      return null
    }
    if (link?.role === 'told') {
      const held = takeLinked(this.#held, link.key, entry.atMs, within)
      if (held !== null) clearTimeout(held.timer)
      else {
        this.#unechoed.push({ key: link.key, atMs: entry.atMs })
        if (this.#unechoed.length > this.#max) this.#unechoed.shift()
      }
    }
    return this.#add(entry)
  }

  #add(input: Omit<ActivityEntry, 'id'>): ActivityEntry {
    const e: ActivityEntry = { ...input, id: `${input.atMs.toString(36)}-${(++this.#n).toString(36)}` }
    this.#entries.push(e)
    if (this.#entries.length > this.#max) this.#entries.shift()
    this.emit('entry', e)
    return e
  }

  /** The newest `n` entries, newest first. */
  recent(n = 50): ActivityEntry[] {
    return this.#entries.slice(-n).reverse()
  }
}

/** Removes and returns the oldest item with `key` within `withinMs` of `atMs`, if any. */
function takeLinked<T extends { key: string; atMs: number }>(
  list: T[],
  key: string,
  atMs: number,
  withinMs: number,
): T | null {
  const i = list.findIndex((x) => x.key === key && Math.abs(x.atMs - atMs) <= withinMs)
  return i < 0 ? null : list.splice(i, 1)[0]
}

/**
 * The link of a policy's limit change, the same from its action and its audit event: the policy
 * (the audit's actor `control:<policy>`), the service (the audit's subject `controls:<service>`;
 * none for a client, whose limit applies on every service) and the reason, which the policy
 * engine hands the limiter word for word (src/control/policies/engine.ts).
 */
const echoKey = (policy: string, service: string, reason: string) => JSON.stringify([policy, service, reason])

/** An operator's scale or restart (`scale.manual`, `scale.restart`) and the id of the action it recorded. */
const MANUAL = new Set(['scale.manual', 'scale.restart'])
const manualLink = (role: 'told' | 'echo', actionId: string) =>
  ({ link: { role, key: JSON.stringify(['scale', actionId]), anyTime: true } }) as const

/** The activity entry of an anomaly opening or resolving. */
export function anomalyActivity(
  a: AnomalyWords & { openedAtMs: number; resolvedAtMs: number | null },
  transition: 'opened' | 'resolved',
): ActivityInput {
  return {
    atMs: transition === 'opened' ? a.openedAtMs : (a.resolvedAtMs ?? Date.now()),
    kind: `anomaly.${transition}`,
    actor: 'control',
    subject: a.key,
    summary: anomalySummary(a, transition),
    severity: transition === 'resolved' ? 'info' : a.score >= 0.9 ? 'critical' : 'warning',
  }
}

/** The activity entry of an audited change (src/audit.ts). */
export function auditActivity(e: AuditWords & { at: string }): ActivityInput {
  const policy = e.actor.startsWith('control:') ? e.actor.slice('control:'.length) : null
  const after = typeof e.after === 'object' && e.after !== null ? (e.after as Record<string, unknown>) : {}
  // the scaling routes write the outcome and the id of the action the autoscaler recorded
  const manual = MANUAL.has(e.kind) && typeof after.action === 'string' ? after.action : null
  return {
    atMs: Date.parse(e.at) || Date.now(),
    kind: e.kind,
    actor: e.actor,
    subject: e.subject,
    summary: auditSummary(e),
    severity: MANUAL.has(e.kind) && after.status === 'failed' ? 'warning' : 'info',
    ...(policy !== null && e.kind.startsWith('limits.controls.')
      ? { link: { role: 'echo', key: echoKey(policy, e.subject.replace(/^controls:?/, ''), e.reason) } }
      : manual !== null
        ? manualLink('told', manual)
        : {}),
  }
}

/** The activity entry of a control-plane action (the action log, src/control/actions.ts). */
export function actionActivity(a: ActionWords & { atMs: number; id?: string }): ActivityInput {
  return {
    atMs: a.atMs,
    kind: a.kind,
    actor: a.policy,
    subject: a.target,
    summary: actionSummary(a),
    // a scaling alert is settled ok (it was recorded) but tells of an actuator failing
    severity:
      a.kind === 'alert.firing' || a.kind === 'scale.alert' || a.result.status === 'failed'
        ? 'warning'
        : 'info',
    // only an enforced change the limiter took has an audit echo
    ...(a.kind.startsWith('limits.') &&
    a.mode === 'enforce' &&
    (a.result.status === 'ok' || a.result.status === 'pending')
      ? {
          link: {
            role: 'told',
            key: echoKey(
              a.policy,
              a.target.startsWith('service:') ? a.target.slice('service:'.length) : '',
              a.reason,
            ),
          },
        }
      : // an operator's own, told by the audit event the scaling route writes
        MANUAL.has(a.kind) && a.policy === 'admin' && a.id !== undefined
        ? manualLink('echo', a.id)
        : {}),
  }
}

/**
 * Follows an action source (the embedded worker's log, or a control plane's own) and pushes each
 * new action once into the activity list, once it is final (or has been under way for
 * `settleWaitMs`); returns a stop function.
 */
export function followActions(
  source: {
    actions(q: {
      fromMs?: number
      limit?: number
    }): Promise<{ actions: Array<Parameters<typeof actionActivity>[0] & { id: string }> }>
  },
  activity: ActivityLog,
  everyMs = 2_000,
  settleWaitMs = 30_000,
): () => void {
  const seen = new Set<string>()
  let since = Date.now()
  let busy = false
  const poll = async () => {
    if (busy) return
    busy = true
    try {
      // a minute back: an action is recorded at its decision time, which may precede this poll
      const page = await source.actions({ fromMs: since - 60_000, limit: 100 })
      const now = Date.now()
      for (const a of [...page.actions].reverse()) {
        if (seen.has(a.id)) continue
        // an enforced action is recorded before it is applied: its outcome says what happened
        // ("Scaled", "Failed to scale"); one still under way after a while shows as under way
        if (a.result.status === 'pending' && now - a.atMs < settleWaitMs) continue
        seen.add(a.id)
        since = Math.max(since, a.atMs)
        activity.push(actionActivity(a))
      }
      if (seen.size > 2_000) for (const id of [...seen].slice(0, 1_000)) seen.delete(id)
    } catch {
      // the control plane is restarting or busy: the next poll catches up
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void poll(), everyMs)
  timer.unref()
  return () => clearInterval(timer)
}

/** An audit log that also puts every audited change in the activity list. */
export function auditToActivity(
  log: { record(e: AuditInput): void },
  activity: ActivityLog,
): { record(e: AuditInput): void } {
  return {
    record(e) {
      log.record(e)
      activity.push(auditActivity(e))
    },
  }
}

type AuditInput = Parameters<typeof auditActivity>[0] & { before: unknown; after: unknown }

/**
 * Follows the open anomalies of a source that emits no events (a control plane in another
 * process): a new id is an opening, an id gone is a resolution. Returns a stop function.
 */
export function followAnomalies(
  source: {
    anomalies(q: {
      fromMs: number
      toMs: number
      state: 'open'
    }): Promise<Array<Parameters<typeof anomalyActivity>[0] & { id: string }>>
  },
  activity: ActivityLog,
  everyMs = 2_000,
): () => void {
  let open: Map<string, Parameters<typeof anomalyActivity>[0]> | null = null
  let busy = false
  const poll = async () => {
    if (busy) return
    busy = true
    try {
      const now = Date.now()
      const list = await source.anomalies({ fromMs: now - 86_400_000, toMs: now, state: 'open' })
      const next = new Map(list.map((a) => [a.id, a]))
      // the first answer is the state found, not news
      if (open !== null) {
        for (const [id, a] of next) if (!open.has(id)) activity.push(anomalyActivity(a, 'opened'))
        for (const [id, a] of open)
          if (!next.has(id)) activity.push(anomalyActivity({ ...a, resolvedAtMs: now }, 'resolved'))
      }
      open = next
    } catch {
      // not the leader, or restarting: try again at the next poll
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void poll(), everyMs)
  timer.unref()
  void poll()
  return () => clearInterval(timer)
}
