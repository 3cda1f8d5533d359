/**
 * @module Request ids and W3C trace context (https://www.w3.org/TR/trace-context/#traceparent-header):
 * ids come from a pooled random buffer so a request costs no crypto call of its own.
 */
import { randomFillSync } from 'node:crypto'

const POOL_BYTES = 8192
const pool = Buffer.allocUnsafe(POOL_BYTES)
let offset = POOL_BYTES

function take(bytes: number): number {
  if (offset + bytes > POOL_BYTES) {
    randomFillSync(pool)
    offset = 0
  }
  const at = offset
  offset += bytes
  return at
}

/** 16 random bytes as 32 hex characters (a trace id, also used as request id). */
export function randomId128(): string {
  const at = take(16)
  return pool.toString('hex', at, at + 16)
}

/** 8 random bytes as 16 hex characters (a span id). */
export function randomId64(): string {
  const at = take(8)
  return pool.toString('hex', at, at + 8)
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/
const ZERO_TRACE = '00000000000000000000000000000000'
const ZERO_SPAN = '0000000000000000'

/** Parsed incoming `traceparent`, or null when absent or invalid (then a new trace starts). */
export interface TraceParent {
  traceId: string
  parentSpanId: string
  flags: string
}

/** Parses a traceparent header; version ff and all-zero ids are invalid (§3.2.2). */
export function parseTraceParent(value: string | undefined): TraceParent | null {
  if (value === undefined || value.length < 55) return null
  const m = TRACEPARENT.exec(value.length === 55 ? value : value.trim().slice(0, 55))
  if (m === null || m[1] === 'ff' || m[2] === ZERO_TRACE || m[3] === ZERO_SPAN) return null
  return { traceId: m[2], parentSpanId: m[3], flags: m[4] }
}
