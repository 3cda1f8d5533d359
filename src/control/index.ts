/** @module The control plane's public surface. */
export { ControlPlane } from './control-plane.js'
export type {
  ControlPlaneOptions,
  SeriesSource,
  SeriesSummary,
  WindowClosedContext,
  WindowHook,
} from './control-plane.js'
export { startControlPlane } from './start.js'
export type { RunningControlPlane, StartControlOptions } from './start.js'
export { startEmbeddedControl } from './embedded.js'
export { configRoutesOf } from './anomalies.js'
export type { EmbeddedControl, EmbeddedControlOptions } from './embedded.js'
export { formatSeriesKey, parseSeriesKey, seriesLevel } from './series-key.js'
export { resample, toSeriesPoint } from './points.js'
export type { SeriesPoint } from './points.js'
export { startScaledControl } from './scaled.js'
export type { ScaledControl, ScaledControlOptions } from './scaled.js'
export { ActionLog, decodeCursor, encodeCursor } from './actions.js'
export type {
  ActionInput,
  ActionLogOptions,
  ActionMode,
  ActionPage,
  ActionPageQuery,
  ActionQuery,
  ActionRecord,
  ActionResult,
  ActionSource,
  ActionStatus,
  ActionStore,
} from './actions.js'
export { FencedLeadership, describeLeader, logLeadership, soleLeadership } from './leadership.js'
export type { LeaderInfo, Leadership, LeadershipLogger } from './leadership.js'
export { actionsFileOf, leaderBucketOf } from './start.js'
export { SCORED_METRICS, ScoreRing } from './scores.js'
export type { ScoreHistory, ScoreQuery, ScoreSource, ScoredMetric } from './scores.js'
export { AuditIngest, auditSource } from './audit.js'
export type { AuditIngestOptions, AuditPage, AuditPageQuery, AuditSource } from './audit.js'
