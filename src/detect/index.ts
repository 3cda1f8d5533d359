/** @module Public surface of the pure anomaly-detection library (no I/O): detectors, ensemble, alarms. */
export type { Detector, DetectorSnapshot, SurpriseDetector } from './detector.js'
export { RobustZ, type RobustZOptions } from './robust-z.js'
export { RollingQuantile, type RollingQuantileOptions } from './rolling-quantile.js'
export { PoissonTail, type PoissonTailOptions } from './poisson-tail.js'
export { Cusum, type CusumOptions } from './cusum.js'
export {
  CountCusum,
  type CountCusumOptions,
  type CountCusumSnapshot,
  type CountExcess,
} from './count-cusum.js'
export { HalfSpaceTrees, type HalfSpaceTreesOptions } from './half-space-trees.js'
export { IsolationForest, type IsolationForestOptions } from './isolation-forest.js'
export {
  CLIENT_FEATURES,
  ClientOutliers,
  type ClientFeature,
  type ClientOutliersOptions,
  type ClientOutliersSnapshot,
  type ClientReason,
  type ClientSignal,
  type ClientStep,
  type ClientWindow,
} from './client-outliers.js'
export { HalfSpaceTreesDetector, IsolationForestDetector } from './embedded.js'
export { AnomalyLikelihood, type LikelihoodOptions } from './likelihood.js'
export { Alarm, type AlarmOptions, type AlarmTransition } from './alarm.js'
export {
  Ensemble,
  DEFAULT_MEMBERS,
  MEMBER_NAMES,
  type CombineRule,
  type EnsembleOptions,
  type EnsembleStep,
  type Explanation,
  type MemberName,
} from './ensemble.js'
export { Novelty, type NoveltyOptions } from './novelty.js'
export {
  DEFAULT_DETECTOR,
  DETECTOR_NAMES,
  type StreamingDetector,
  createCalibrated,
  createDetector,
  restoreDetector,
} from './registry.js'
export { medianStepMs, scoreSeries, type ScoreSeriesOptions } from './score-series.js'
export { detectSeason } from './season.js'
export { poissonSurprise } from './stats.js'
export {
  QUANTILE_MIN_REQUESTS,
  SeriesEnsemble,
  type AnomalySignal,
  type ChildContribution,
  type MetricJudgement,
  type MetricPoint,
  type SeriesEnsembleOptions,
  type SeriesStep,
} from './series-ensemble.js'
