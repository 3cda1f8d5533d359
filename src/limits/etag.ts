/**
 * @module Versions of the limiter's admin resources (a tier, a key, the controls) for optimistic
 * concurrency on the admin API: `ETag` on reads, `If-Match` / `If-None-Match` on writes
 * (RFC 9110 §13.1). The entity tag is a hash of the resource as `GET` returns it, so it changes
 * exactly when the resource does, whatever changed it (an admin, the control plane, a config seed).
 */
import { createHash } from 'node:crypto'
import { VGL_ERR_LIMITS_PRECONDITION_FAILED } from '../errors.js'

/** What a conditional write requires of the resource; the limiter fills `etag` once it commits. */
export interface WriteCondition {
  /** `If-Match`: one or more entity tags (`"…"`, comma separated) or `*` (the resource exists) */
  ifMatch?: string
  /** `If-None-Match`: `*` (the resource must not exist yet) */
  ifNoneMatch?: string
  /** set by the write: the entity tag of the resource as committed */
  etag?: string
}

/** JSON with object keys sorted, so equal values hash equally whatever built them. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null'
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`
  const o = v as Record<string, unknown>
  const keys = Object.keys(o)
    .filter((k) => o[k] !== undefined)
    .sort()
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`
}

/** The strong entity tag of a resource representation. */
export function etagOf(resource: unknown): string {
  return `"${createHash('sha256').update(canonical(resource)).digest('base64url').slice(0, 22)}"`
}

/** The entity tags listed in an `If-Match` value; weak tags never match (strong comparison). */
function listed(header: string): string[] {
  return header
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== '')
}

/**
 * Throws VGL_ERR_LIMITS_PRECONDITION_FAILED (412) when `cond` does not hold for `current`
 * (undefined: the resource does not exist). `what` names the resource in the message.
 */
export function checkCondition(cond: WriteCondition | undefined, what: string, current: unknown): void {
  if (cond === undefined) return
  if (cond.ifNoneMatch !== undefined) {
    if (cond.ifNoneMatch.trim() !== '*')
      throw VGL_ERR_LIMITS_PRECONDITION_FAILED(what, 'If-None-Match on a write must be *')
    if (current !== undefined) throw VGL_ERR_LIMITS_PRECONDITION_FAILED(what, 'it exists already')
  }
  if (cond.ifMatch !== undefined) {
    const tags = listed(cond.ifMatch)
    if (current === undefined) throw VGL_ERR_LIMITS_PRECONDITION_FAILED(what, 'it does not exist')
    if (tags.includes('*')) return
    const now = etagOf(current)
    if (!tags.includes(now))
      throw VGL_ERR_LIMITS_PRECONDITION_FAILED(
        what,
        `it changed since you read it (your version ${tags.join(', ')}, current ${now})`,
      )
  }
}
