/**
 * @module What the system did lately, in one list for people: anomalies opened and resolved,
 * limit changes by operators or the control plane, and (as those areas land) alerts, scaling and
 * other actions. The dashboard's overview shows it live; `vigil demo` prints one line per entry.
 * It is a bounded in-memory ring: the durable records stay in their own logs (audit log, store).
 */
import { EventEmitter } from 'node:events'

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

export type ActivityInput = Omit<ActivityEntry, 'id'>

/** A ring of the newest entries; emits `'entry'` for each one pushed. */
export class ActivityLog extends EventEmitter {
  readonly #entries: ActivityEntry[] = []
  readonly #max: number
  #n = 0

  constructor(max = 200) {
    super()
    this.#max = max
  }

  push(input: ActivityInput): ActivityEntry {
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

function num(x: number): string {
  if (!Number.isFinite(x)) return String(x)
  const a = Math.abs(x)
  if (a >= 100) return x.toFixed(0)
  if (a >= 1) return x.toFixed(1)
  if (a === 0) return '0'
  return x.toPrecision(2)
}

const UNITS: Record<string, (x: number) => string> = {
  rate: (x) => `${num(x)} req/s`,
  p50: (x) => `${num(x)} ms`,
  p95: (x) => `${num(x)} ms`,
  p99: (x) => `${num(x)} ms`,
  errors: (x) => `${num(x)} errors`,
  limitedRatio: (x) => `${num(100 * x)}% throttled`,
}

/** The activity entry of an anomaly opening or resolving. */
export function anomalyActivity(
  a: {
    key: string
    metric: string
    observed: number
    expected: number
    low: number
    high: number
    score: number
    openedAtMs: number
    resolvedAtMs: number | null
    level: string
    children?: ReadonlyArray<{ key: string; observed: number; expected: number }>
  },
  transition: 'opened' | 'resolved',
): ActivityInput {
  const unit = UNITS[a.metric] ?? num
  const where = a.level === 'client' ? `client ${a.key.slice('client:'.length)}` : a.key
  const summary =
    transition === 'opened' && a.metric === 'joint'
      ? `anomaly on ${where}: rate, errors and latency together are unusual, score ${a.score.toFixed(2)}`
      : transition === 'opened' && a.level === 'client'
        ? `abusive client ${where.slice('client '.length)}: ${a.children?.[0] !== undefined ? `${a.children[0].key} ${num(a.children[0].observed)} against a typical ${num(a.children[0].expected)}` : 'stands out from its peers'}, score ${a.score.toFixed(2)}`
        : transition === 'opened'
          ? `anomaly on ${where}: ${a.metric} ${unit(a.observed)}, expected ${unit(a.expected)} (band ${unit(a.low)}–${unit(a.high)}), score ${a.score.toFixed(2)}`
          : `resolved: ${a.metric} on ${where} is back in its band`
  return {
    atMs: transition === 'opened' ? a.openedAtMs : (a.resolvedAtMs ?? Date.now()),
    kind: `anomaly.${transition}`,
    actor: 'control',
    subject: a.key,
    summary,
    severity: transition === 'resolved' ? 'info' : a.score >= 0.9 ? 'critical' : 'warning',
  }
}

/** The activity entry of an audited change (src/audit.ts). */
export function auditActivity(e: {
  at: string
  kind: string
  actor: string
  subject: string
  reason: string
}): ActivityInput {
  const what = e.kind.replace(/^limits\./, '').replace(/\./g, ' ')
  return {
    atMs: Date.parse(e.at) || Date.now(),
    kind: e.kind,
    actor: e.actor,
    subject: e.subject,
    summary: `${e.actor}: ${what} ${e.subject}${e.reason !== '' ? ` (${e.reason})` : ''}`,
    severity: 'info',
  }
}
