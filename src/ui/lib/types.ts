/** The server's answers as the dashboard reads them (types only: nothing of the server is bundled). */
import type { ClientWindowStats } from '../../limits/stats.js'
import type { Controls, TierState } from '../../limits/state.js'
import type { FallbackView, KeyView } from '../../limits/limiter.js'

export type { AnomalyRecord as Anomaly } from '../../control/anomalies.js'
export type { ForecastAnswer, ForecastReady } from '../../control/forecasts.js'
export type { ServiceView, RouteView } from '../../gateway/views.js'
export type { SeriesSummary } from '../../control/control-plane.js'
export type { AuditEvent } from '../../audit.js'
export type { Controls, TierState, KeyView, FallbackView, ClientWindowStats }

/** The feed's `limits` section. */
export interface LimitsLive {
  tiers: Record<string, TierState>
  controls: Controls & { expiresAt?: string | number | null }
  fallback: FallbackView
}

/** The feed's `clients` section: the heaviest clients of the last complete window. */
export interface ClientsLive {
  windowStartMs: number
  windowMs: number
  clients: ClientWindowStats[]
}

/** One row of the feed's `decisions` section: limiter decisions since start. */
export interface DecisionTotal {
  tier: string
  class: string
  outcome: string
  total: number
}
