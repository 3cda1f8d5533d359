/**
 * @module The audit log: every change an operator or the control plane makes (a tier edited, a key
 * revoked, defensive mode switched on) as one event with who, what, before, after and why.
 * `JsonlAuditLog` appends one JSON object per line to a file; the store adds a database sink later.
 */
import { appendFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

export interface AuditEvent {
  /** ISO 8601 time of the change */
  at: string
  /** what happened, dotted: `limits.tier.update`, `limits.key.revoke`, ... */
  kind: string
  /** who did it: `admin`, `control-plane`, a token name */
  actor: string
  /** what it was done to: a tier name, a key id */
  subject: string
  before: unknown
  after: unknown
  reason: string
}

export interface AuditLog {
  record(event: AuditEvent): void
}

/** Appends events to a JSONL file, synchronously: admin changes are rare and must not be lost. */
export class JsonlAuditLog implements AuditLog {
  readonly path: string

  constructor(path: string) {
    this.path = path
    mkdirSync(dirname(path), { recursive: true })
  }

  record(event: AuditEvent): void {
    const line = JSON.stringify({
      at: event.at,
      kind: event.kind,
      actor: event.actor,
      subject: event.subject,
      before: event.before ?? null,
      after: event.after ?? null,
      reason: event.reason,
    })
    appendFileSync(this.path, `${line}\n`, { mode: 0o600 })
  }
}

/** Keeps events in memory (tests, and processes without a data dir). */
export class MemoryAuditLog implements AuditLog {
  readonly events: AuditEvent[] = []
  record(event: AuditEvent): void {
    this.events.push(event)
  }
}
