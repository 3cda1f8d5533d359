/**
 * @module The seam between the gateway and the rate limiter. The gateway asks `admit` once per
 * request after routing and before proxying, and reports the outcome with `observe`, so the
 * limiter can keep per-client statistics. `admit` is synchronous for the memory store and a
 * Promise for Redis: the gateway checks `instanceof Promise` so sync decisions stay sync.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** What the gateway knows about a request when it asks for admission. */
export interface AdmissionRequest {
  /** precomputed id of the matched route (stable across reloads for the same route name) */
  routeId: string
  service: string
  /** priority class of the route (`critical`, `high`, `normal`, `low`, or custom) */
  priority: string
  /** tokens this request costs */
  cost: number
  headers: IncomingHttpHeaders
  /** socket peer address (before X-Forwarded-For) */
  remoteAddress: string
  /** the route's `limit.fallback` override; the limiter also looks it up by `routeId` */
  fallback?: 'local' | 'open' | 'closed'
}

/** The limiter's answer. `headers` are added to the response whether or not it is admitted. */
export interface AdmissionDecision {
  allowed: boolean
  /** status for a refusal: 429, or 401 for an unknown API key (absent when allowed) */
  status?: number
  /** client identity the decision was made for (API key id or `ip:...`), for `observe` */
  clientId: string
  /** response headers to set: RateLimit-Policy, RateLimit, Retry-After ... as [name, value] pairs */
  headers: ReadonlyArray<readonly [string, string]>
  /** when refused: the problem+json body fields beyond status (type, title, detail, ...) */
  problem?: Readonly<Record<string, unknown>>
}

export interface Admission {
  admit(req: AdmissionRequest, nowMs: number): AdmissionDecision | Promise<AdmissionDecision>
  /** called once per admitted request when the response has finished */
  observe(clientId: string, routeId: string, status: number, latencyMs: number): void
  close(): Promise<void>
}
