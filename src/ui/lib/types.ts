/** The server's answers as the dashboard reads them (types only: nothing of the server is bundled). */
import type { ClientWindowStats } from '../../limits/stats.js'
import type { Controls, TierState } from '../../limits/state.js'
import type { FallbackView, KeyView } from '../../limits/limiter.js'

export type { AnomalyRecord as Anomaly, LearningSummary } from '../../control/anomalies.js'
export type { ForecastAnswer, ForecastReady } from '../../control/forecasts.js'
export type { ServiceView, RouteView } from '../../gateway/views.js'
export type { SeriesSummary } from '../../control/control-plane.js'
export type { StoredAuditEvent as AuditEvent } from '../../store/store.js'
export type { Alert, Evidence } from '../../alerts/types.js'
export type { Silence } from '../../alerts/silences.js'
export type { AlertImpact, AlertRootCause } from '../../control/alert-journeys.js'
export type { LiveAlert, LiveScaling } from '../../api/live-sections.js'
export type { ServiceScaling } from '../../scale/autoscaler.js'
export type { Decision } from '../../scale/policy.js'
export type { GraphAnswer, JourneyStats, WhatIfAnswer, JourneySummary } from '../../control/journeys.js'
export type { PhantomHop } from '../../journeys/phantom-parents.js'
export type { Waterfall, WaterfallSpan } from '../../journeys/trace.js'
export type { Interval, Outcome } from '../../journeys/impact.js'
export type { ActionRecord, TraceListItem } from '../../store/store.js'
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
  /** on a control plane: the gateways whose windows were merged */
  gateways?: number
  clients: ClientWindowStats[]
}

/** One row of the feed's `decisions` section: limiter decisions since start. */
export interface DecisionTotal {
  tier: string
  class: string
  outcome: string
  total: number
}
