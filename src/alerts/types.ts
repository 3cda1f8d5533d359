/**
 * @module The records alerting works with: what a rule reads (one window of one series with the
 * detectors' and forecasters' view of it), what it concludes, and the alert itself with its
 * lifecycle, evidence and the extension points other areas fill in (root cause, impact, incident).
 */
import type { AlertRuleConfig } from '../config/alerts-schema.js'

export type RuleKind = AlertRuleConfig['kind']
export type SeriesLevel = 'route' | 'service' | 'global'

export interface AlertSeries {
  service: string
  route: string
  env: string
}

/** One merged window of one series (the control plane's SeriesPoint has these fields). */
export interface AlertPoint {
  startMs: number
  durationMs: number
  count: number
  ratePerSec: number
  /** 5xx / requests, the gateway's own 503s included (what clients saw) */
  errorRatio: number
  /** the upstream's 5xx / requests sent upstream: the service's own error ratio */
  upstreamErrorRatio: number
  /** 429 / requests */
  limitedRatio: number
  /** requests the gateway answered by itself, never sent upstream */
  refused: number
  /** of `refused`, the 5xx answers (503 with no healthy target or every breaker open) */
  refused5xx: number
  timeouts: number
  connectErrors: number
  /** index 0 = 1xx ... 4 = 5xx */
  statusClass: readonly number[]
  p50: number | null
  p95: number | null
  p99: number | null
}

/** The expected value of a metric and its band, as the live detector bank saw this window. */
export interface Band {
  expected: number
  low: number
  high: number
}

/** An anomaly open on the series (src/control/anomalies.ts AnomalyRecord has these fields). */
export interface OpenAnomaly {
  id: string
  metric: string
  score: number
  openedAtMs: number
  observed: number
  expected: number
  low: number
  high: number
  detector: string
  /** a sustained count anomaly: its values are over `windows` windows; one window's band at the open */
  sustained?: { windows: number; expected: number; low: number; high: number }
}

/** One failure forecast: P(the metric crosses `threshold` within the horizon). */
export interface FailureForecast {
  threshold: number
  probability: number
  firstLikelyAtMs: number | null
  model: string
  /**
   * the same forecast with the windows over the threshold left out when one of the newest was
   * over it (a crossing still ahead, not the failure under way or just ended); null when too many
   * were over it; absent from forecasts stored before it was kept (then `probability` stands)
   */
  newCrossing?: { probability: number; firstLikelyAtMs: number | null; leftOut: number } | null
}

/** The newest forecast of a series (the payload of a stored `forecast` event has these fields). */
export interface ForecastView {
  /** start of the newest window the fit saw */
  lastPointMs: number
  failure: { errorRatio: FailureForecast | null; p95: FailureForecast | null }
}

/** Everything the rules read about one window of one series. */
export interface WindowInput {
  series: AlertSeries
  /** `service|route|env` (src/control/series-key.ts) */
  key: string
  level: SeriesLevel
  point: AlertPoint
  /** the live bank's explanation per metric (p50, p95, p99, rate, limitedRatio); null while unknown */
  expected: Readonly<Record<string, Band>> | null
  /** anomalies open on this series after this window was judged */
  anomalies: readonly OpenAnomaly[]
  /** the newest forecast fitted on windows before this one */
  forecast: ForecastView | null
}

/** What a rule concluded about one window. `active: null` is "no data": no evidence either way. */
export interface Condition {
  active: boolean | null
  /**
   * With `active: null`, why: `requests`, too few requests in the window to judge (such windows
   * count toward staleness as if none came); `baseline`, nothing yet to judge them against (no
   * history, band or forecast: the alert keeps its state)
   */
  noData?: 'requests' | 'baseline'
  /** the metric judged: p95, errorRatio, failedRatio, probability, anomaly, limitedRatio, rate */
  metric: string
  observed: number
  expected: number | null
  /** the expected band [low, high], when there is one */
  band: [number, number] | null
  /** the line crossed (or not) */
  threshold: number | null
  /** one line for people: `p95 1,240 ms > 800 ms (2.1× the expected 590 ms at this load)` */
  summary: string
  /** rule-specific numbers: tail probability, requests, the anomaly or forecast behind it */
  details: Record<string, unknown>
}

/** Links to the API resources behind an alert (absolute when alerts.externalUrl is set). */
export interface AlertLinks {
  alert: string
  series: string
  points: string
  anomalies?: string
  forecast?: string
  /** actuator alerts: the service's actions (scaling, failures) */
  actions?: string
}

/** What an alert shows as its reason: the condition at one window, with where to look. */
export interface Evidence extends Condition {
  rule: string
  kind: RuleKind
  key: string
  windowStartMs: number
  windowMs: number
  links: AlertLinks
}

export type AlertState = 'pending' | 'firing' | 'resolved'

/**
 * Why an alert that should page did not. `incident`: it belongs to an incident headed by another
 * alert (its likely root cause), which pages for the incident.
 */
export type Suppression = 'silenced' | 'incident' | null

/** One alert: one rule on one series, from the first window its condition held until it resolved. */
export interface Alert {
  /** stable per (rule, series): silences, acks and dedup key on it */
  fingerprint: string
  rule: string
  kind: RuleKind
  mode: 'shadow' | 'enforce'
  severity: 'info' | 'warning' | 'critical'
  key: string
  series: AlertSeries
  level: SeriesLevel
  /** alertname, severity, kind, service, route, env and the rule's labels */
  labels: Record<string, string>
  state: AlertState
  /** start of the first window of this run (pending from then) */
  activeAtMs: number
  /** start of the window at which it fired */
  firingAtMs: number | null
  /** end of the window at which it resolved */
  resolvedAtMs: number | null
  /** config: a reload removed its rule, or the rule no longer matches its series */
  resolvedBy: 'recovery' | 'stale' | 'config' | null
  /** end of the newest window judged */
  lastEvalMs: number
  /**
   * end of the newest window with enough requests for the rule to judge: staleness counts from it,
   * so a series that only trickles (windows below minRequests) goes stale as a silent one does
   */
  lastTrafficMs: number
  /**
   * earlier runs of this alert [activeAtMs, resolvedAtMs] (newest last, at most 32): the
   * error-ratio rule leaves their windows out of the history it calls normal
   */
  pastRuns: [number, number][]
  trueWindows: number
  falseWindows: number
  /** the condition at the window it fired (then kept), or the newest one while pending */
  evidence: Evidence
  /** the newest window's condition */
  latest: Evidence
  notified: {
    /** this run was sent (or, in shadow mode, recorded as would-have-been-sent) */
    firing: boolean
    resolved: boolean
    repeats: number
    /** last firing or repeat notification of this run: the next repeat is due repeatInterval after it */
    lastAtMs: number | null
    /**
     * notifications of this alert a sink has not taken yet: held after the retries were spent and
     * sent again when the sink answers (src/alerts/undelivered.ts); absent or empty: none
     */
    undelivered?: { sink: string; event: 'firing' | 'repeat' | 'resolved'; sinceMs: number }[]
  }
  suppressed: Suppression
  /** the silence that holds it back, while one does */
  silencedBy: string | null
  ack: { by: string; comment: string; atMs: number } | null
  /** the incident grouping correlated alerts: the fingerprint of its head (set by a correlator) */
  incident: string | null
  /**
   * a member of an incident that pages for itself, being more severe than the incident's head
   * (whose page would not tell what this one says); absent or false: it does not
   */
  escalated?: boolean
  /** extension point: root-cause candidates, user impact, ... (set by enrichers before sending) */
  context: Record<string, unknown>
}

/** A notification to send: one alert's event. `id` is its action id (and idempotency key). */
export interface Notification {
  id: string
  event: 'firing' | 'repeat' | 'resolved'
  alert: Alert
  /** group: `service|env` */
  group: string
  fencingToken: number | null
  atMs: number
}

/**
 * Extension point: called for an alert about to be sent (firing or repeat), may add to
 * `alert.context` (root-cause candidates, user impact). Every enricher of every alert of a flush
 * runs at once against one deadline (`enrichTimeoutMs`): a slow or failing enricher never holds
 * the notifications back longer than that.
 */
export type AlertEnricher = (alert: Readonly<Alert>) => Promise<Record<string, unknown> | null>

/** Alerts one cause explains: the head (its likely root cause) pages for all of them. */
export interface AlertIncident {
  /** fingerprints: the head first */
  members: readonly string[]
  /** why the head leads, in one sentence */
  reason: string
}

/**
 * Extension point: groups the active (pending and firing) alerts into incidents, at every flush.
 * Alerts in no incident of two or more stand alone.
 */
export type AlertCorrelator = (active: readonly Readonly<Alert>[]) => readonly AlertIncident[]
