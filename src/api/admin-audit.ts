/**
 * @module What every mutating admin route shares: who made the change (`X-Vigil-Actor`, default
 * `admin`), the optional `reason` with one rule and one message everywhere, and the audit event for
 * changes that no lower layer audits (a manual scale, a restart, a config reload, a silence, an
 * acknowledgement). The limiter audits its own changes (src/limits); these go to the same log.
 */
import type { FastifyRequest } from 'fastify'
import type { AuditLog } from '../audit.js'

/** Longest `reason`: one sentence for the audit and action logs, not a document. */
export const MAX_REASON_CHARS = 500

/** The caller's name: `X-Vigil-Actor` (or a name the body gives), else `admin`. */
export function actorOf(req: FastifyRequest, given?: string): string {
  if (given !== undefined && given.trim() !== '') return given.slice(0, 200)
  const h = req.headers['x-vigil-actor']
  return typeof h === 'string' && h.trim() !== '' ? h.slice(0, 200) : 'admin'
}

/**
 * What is wrong with a `reason`, phrased after `reason: `; null when it is fine. A reason is
 * optional on every mutating route (the dashboard and documented calls send none), but when given
 * it must be a string of one sentence.
 */
export function reasonProblem(value: unknown): string | null {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string')
    return `expected a string saying why (one sentence; it goes to the audit log), got ${JSON.stringify(value)}`
  if (value.length > MAX_REASON_CHARS)
    return `at most ${MAX_REASON_CHARS} characters, got ${value.length}; keep it to a sentence`
  return null
}

export interface AdminChange {
  /** dotted: `scale.manual`, `config.reload`, `alerts.silence.create`, ... */
  kind: string
  subject: string
  before: unknown
  after: unknown
  reason: string | undefined
}

/** Records a change made through the admin API, as the caller `req` made it. No log: nothing to do. */
export function recordAdminChange(
  audit: AuditLog | undefined,
  req: FastifyRequest,
  change: AdminChange,
  opts: { actor?: string; now?: () => number } = {},
): void {
  audit?.record({
    at: new Date((opts.now ?? Date.now)()).toISOString(),
    kind: change.kind,
    actor: actorOf(req, opts.actor),
    subject: change.subject,
    before: change.before,
    after: change.after,
    reason: change.reason?.trim() ?? '',
  })
}
