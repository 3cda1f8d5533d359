/** @module Query-string parsing shared by the admin routes: times, limits and enums, with errors naming the parameter. */
import { VGL_ERR_CONTROL_QUERY } from '../errors.js'

/** ms since the epoch or an ISO 8601 time; `fallback` when absent. */
export function timeParam(name: string, v: string | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback
  if (/^\d+$/.test(v)) return Number(v)
  const t = Date.parse(v)
  if (Number.isNaN(t))
    throw VGL_ERR_CONTROL_QUERY(`${name}: expected ms since the epoch or an ISO 8601 time, got "${v}"`)
  return t
}

/** A whole number in [min, max]; `fallback` when absent. */
export function intParam(
  name: string,
  v: string | undefined,
  fallback: number,
  min: number,
  max: number,
): number {
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isInteger(n) || n < min || n > max)
    throw VGL_ERR_CONTROL_QUERY(`${name}: expected a whole number from ${min} to ${max}, got "${v}"`)
  return n
}

/** One of `allowed`; undefined when absent. */
export function enumParam<T extends string>(
  name: string,
  v: string | undefined,
  allowed: readonly T[],
): T | undefined {
  if (v === undefined || v === '') return undefined
  if (!(allowed as readonly string[]).includes(v))
    throw VGL_ERR_CONTROL_QUERY(`${name}: expected ${allowed.join(' or ')}, got "${v}"`)
  return v as T
}

/** A non-empty string, or undefined. */
export function textParam(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v
}
