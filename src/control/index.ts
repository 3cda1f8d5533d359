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
export type { EmbeddedControl, EmbeddedControlOptions } from './embedded.js'
export { formatSeriesKey, parseSeriesKey, seriesLevel } from './series-key.js'
export { resample, toSeriesPoint } from './points.js'
export type { SeriesPoint } from './points.js'
