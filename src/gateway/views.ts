/** @module Read-only views of the gateway's live state, served by the admin API. */

export interface RouteView {
  name: string
  path: string
  match: 'prefix' | 'exact' | 'param'
  methods: readonly string[] | null
  service: string
  priority: string
}

export interface TargetView {
  url: string
  /** active health check verdict (true when checks are off) */
  healthy: boolean
  /** circuit breaker state */
  breaker: 'closed' | 'open' | 'half-open'
  /** when the breaker is open: epoch ms when a probe may be tried */
  ejectedUntilMs: number | null
  inFlight: number
  /** error ratio over the recent window (0..1), passive health */
  recentErrorRate: number
  recentRequests: number
}

export interface ServiceView {
  name: string
  balancer: string
  targets: readonly TargetView[]
}
