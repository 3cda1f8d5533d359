/**
 * @module Response headers and problem bodies for limiter decisions.
 *
 * Rate-limit fields follow draft-ietf-httpapi-ratelimit-headers-10 (structured fields, RFC 9651):
 * - §3 `RateLimit-Policy`: a List of quota policy items, `"std";q=20;w=2` — `q` the quota in
 *   tokens (§3.1.1), `w` the window in seconds (§3.1.3). For a token bucket the quota is the burst
 *   and the window the time an empty bucket takes to fill.
 * - §4 `RateLimit`: service limit items, `"std";r=5;t=1` — `r` remaining tokens (§4.1.1), `t`
 *   seconds until the quota is restored (§4.1.2; here: until the bucket is full again).
 * Refusals carry `Retry-After` (RFC 9110 §10.2.3) and an RFC 9457 `application/problem+json` body.
 */

export type Header = readonly [string, string]

const quoted = new Map<string, string>()

/** Policy names are Strings in the field (§3.1: an item is a Token or a String); quote and escape. */
function sfString(name: string): string {
  let q = quoted.get(name)
  if (q === undefined) {
    q = `"${name.toLowerCase().replace(/[\\"]/g, '\\$&')}"`
    // names are tiers and services: few; the bound only guards against misuse
    if (quoted.size < 10_000) quoted.set(name, q)
  }
  return q
}

const policies = new Map<string, { burst: number; ratePerSec: number; item: string }>()

/** `"std";q=20;w=2` */
export function policyItem(name: string, burst: number, ratePerSec: number): string {
  // The same for every request of a tier until its limit changes: built once, not per response.
  const hit = policies.get(name)
  if (hit !== undefined && hit.burst === burst && hit.ratePerSec === ratePerSec) return hit.item
  const q = Math.max(1, Math.floor(burst + 1e-9))
  const w = Math.max(1, Math.ceil(burst / ratePerSec - 1e-9))
  const item = `${sfString(name)};q=${q};w=${w}`
  if (hit !== undefined) {
    hit.burst = burst
    hit.ratePerSec = ratePerSec
    hit.item = item
  } else if (policies.size < 10_000) policies.set(name, { burst, ratePerSec, item })
  return item
}

/** `"std";r=5;t=1` */
export function limitItem(name: string, remaining: number, resetMs: number): string {
  const t = resetMs <= 0 ? 0 : Math.ceil(resetMs / 1000 - 1e-9)
  return `${sfString(name)};r=${Math.max(0, remaining)};t=${t}`
}

/** Retry-After in whole seconds, at least 1 (a 0 invites an immediate retry storm). */
export function retryAfterSec(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / 1000 - 1e-9))
}

/** Which limit refused a request; the `limit` member of the problem body. */
export type RefusingLimit = 'tier' | 'service-budget' | 'defensive' | 'store-unavailable' | 'unknown-key'

/** RFC 9457 problem type URIs, one per refusing limit (documented in docs/limits.md). */
export const PROBLEM_TYPES: Readonly<Record<RefusingLimit, string>> = {
  tier: 'urn:vigil:problem:rate-limit:tier',
  'service-budget': 'urn:vigil:problem:rate-limit:service-budget',
  defensive: 'urn:vigil:problem:rate-limit:defensive',
  'store-unavailable': 'urn:vigil:problem:rate-limit:store-unavailable',
  'unknown-key': 'urn:vigil:problem:rate-limit:unknown-key',
}
