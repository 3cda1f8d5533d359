/** @module Alerting: rules, the alert lifecycle, silences, sinks and their delivery. Wired into the control plane by src/control/alerting.ts. */
export { AlertEngine, alertFingerprint } from './engine.js'
export type {
  ActuatorSignal,
  AlertActionPort,
  AlertEngineOptions,
  AlertQuery,
  AlertStatePort,
} from './engine.js'
export { evaluateRule, holdWindows, quantileSorted, ruleMatches } from './rules.js'
export type { RuleContext } from './rules.js'
export { checkMatcher, parseMatchers, silenceLabels, silencing, unmatchable } from './silences.js'
export type { Silence, SilenceLabels, SilenceMatcher } from './silences.js'
export { createSink, forgetAlert, redactUrl, SinkError } from './sinks.js'
export type { Sink } from './sinks.js'
export { SinkDispatcher } from './dispatcher.js'
export type { DeliveryOutcome, DispatcherOptions } from './dispatcher.js'
export { UndeliveredNotifications } from './undelivered.js'
export type { HeldNotification, HeldStore, UndeliveredOptions } from './undelivered.js'
export {
  alertmanagerAlert,
  alertView,
  contextSummaries,
  slackBody,
  slackEscape,
  webhookBody,
} from './payload.js'
export type { AlertmanagerAlert, AlertView, WebhookBody } from './payload.js'
export { setAlertMetricsProvider } from './metrics.js'
export type { AlertMetricsSnapshot } from './metrics.js'
export type {
  Alert,
  AlertCorrelator,
  AlertEnricher,
  AlertIncident,
  AlertLinks,
  AlertPoint,
  AlertSeries,
  AlertState,
  Band,
  Condition,
  Evidence,
  FailureForecast,
  ForecastView,
  Notification,
  OpenAnomaly,
  RuleKind,
  SeriesLevel,
  Suppression,
  WindowInput,
} from './types.js'
