/** @module Query-string parsing shared by the admin routes: times, limits and enums, with errors naming the parameter. */
import { VGL_ERR_CONTROL_QUERY, withFix, type ErrorFactory } from '../errors.js'
import { formatDurationMs } from '../parsing.js'

/**
 * The error of a bad query parameter, carrying the fix for this parameter (the problem body's
 * `fix`), so a caller is told what to send instead of being pointed at the docs.
 */
export function badParam(fail: ErrorFactory, message: string, fix: string) {
  return withFix(fail(message), fix)
}
const bad = badParam

/** ms since the epoch or an ISO 8601 time; `fallback` when absent. */
export function timeParam(
  name: string,
  v: string | undefined,
  fallback: number,
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
): number {
  if (v === undefined || v === '') return fallback
  if (/^\d+$/.test(v)) return Number(v)
  const t = Date.parse(v)
  if (Number.isNaN(t))
    throw bad(
      fail,
      `${name}: expected ms since the epoch or an ISO 8601 time, got "${v}"`,
      `send ${name} as ms since the epoch (e.g. ${name}=1764000000000) or an ISO 8601 time (e.g. ${name}=2026-01-01T00:00:00Z)`,
    )
  return t
}

/**
 * A whole number in [min, max]; `fallback` when absent. Every bad value (not a number, a fraction,
 * out of range) gets the same message, so a caller learns the range from the first mistake.
 * `fail` is the error of the route's area (journeys, alerts); the control API's by default.
 */
export function intParam(
  name: string,
  v: string | undefined,
  fallback: number,
  min: number,
  max: number,
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
): number {
  if (v === undefined || v === '') return fallback
  const n = /^[+-]?\d+$/.test(v.trim()) ? Number(v) : NaN
  if (!Number.isInteger(n) || n < min || n > max)
    throw bad(
      fail,
      `${name}: expected a whole number from ${min} to ${max}, got "${v}"`,
      `send ${name} as a whole number from ${min} to ${max} (e.g. ${name}=${fallback}), or leave it out for ${fallback}`,
    )
  return n
}

/**
 * `true` or `false`; `fallback` when absent. Anything else is refused rather than read as false,
 * so `all=yes` does not quietly answer as if it had not been asked.
 */
export function boolParam(
  name: string,
  v: string | undefined,
  fallback: boolean,
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
): boolean {
  if (v === undefined || v === '') return fallback
  if (v === 'true') return true
  if (v === 'false') return false
  throw bad(
    fail,
    `${name}: expected true or false, got "${v}"`,
    `send ${name}=true or ${name}=false, or leave it out for ${fallback}`,
  )
}

/** One of `allowed`; undefined when absent. */
export function enumParam<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
): T | undefined {
  if (v === undefined || v === '') return undefined
  if (!(allowed as readonly string[]).includes(v))
    throw bad(
      fail,
      `${name}: expected ${allowed.join(' or ')}, got "${v}"`,
      `send ${name} as one of ${allowed.join(', ')}, or leave it out`,
    )
  return v as T
}

/**
 * The range [from, to) of a query: `to` defaults to now, `from` to `defaultSpanMs` before `to`;
 * a `from` not before its `to` is refused.
 */
export function rangeParams(
  q: { from?: string; to?: string },
  nowMs: number,
  defaultSpanMs: number,
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
): { from: number; to: number } {
  const to = timeParam('to', q.to, nowMs, fail)
  const from = timeParam('from', q.from, to - defaultSpanMs, fail)
  if (from >= to)
    throw misorderedRange(
      from,
      to,
      `leave from out for the ${formatDurationMs(defaultSpanMs)} before to`,
      fail,
    )
  return { from, to }
}

/** `from` at or after `to`: both shown as ISO times too, since a caller mixing ms and ISO 8601 cannot tell. */
export function misorderedRange(
  from: number,
  to: number,
  orElse: string,
  fail: ErrorFactory = VGL_ERR_CONTROL_QUERY,
) {
  const iso = (t: number) =>
    Number.isFinite(t) && Math.abs(t) <= 8.64e15 ? ` (${new Date(t).toISOString()})` : ''
  return bad(
    fail,
    `from (${from}${iso(from)}) must be before to (${to}${iso(to)})`,
    `send a from earlier than to (ms since the epoch or ISO 8601), or ${orElse}`,
  )
}

/** A non-empty string, or undefined. */
export function textParam(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}

/** The query of a log read a page at a time, newest first: an optional time range, a page size, a cursor. */
export interface PageQuery {
  from?: string
  to?: string
  limit?: string
  cursor?: string
}

/** The schema of {@link PageQuery}, to spread into a route's querystring properties. */
export const pageQueryProperties = {
  from: { type: 'string', description: 'ms since the epoch or ISO 8601; default: no bound' },
  to: {
    type: 'string',
    description: 'ms since the epoch or ISO 8601 (exclusive); default: no bound',
  },
  limit: { type: 'string', description: '1-1000, default 100' },
  cursor: { type: 'string', description: 'nextCursor of the previous page' },
} as const

/** Parses a {@link PageQuery}; a range whose `from` is not before its `to` is refused. */
export function pageParams(q: PageQuery): {
  fromMs: number | undefined
  toMs: number | undefined
  limit: number
  cursor: string | undefined
} {
  const from = q.from === undefined || q.from === '' ? undefined : timeParam('from', q.from, 0)
  const to = q.to === undefined || q.to === '' ? undefined : timeParam('to', q.to, 0)
  if (from !== undefined && to !== undefined && from >= to)
    throw misorderedRange(from, to, 'leave one of them out')
  return {
    fromMs: from,
    toMs: to,
    limit: intParam('limit', q.limit, 100, 1, 1000),
    cursor: textParam(q.cursor),
  }
}
