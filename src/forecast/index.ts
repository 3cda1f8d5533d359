/** @module Public surface of the forecasting library (pure: no I/O). */
export {
  forecastSeries,
  intervalWidthRatio,
  MODEL_NAMES,
  maseScale,
  MAX_MISSING_SHARE,
  missingShare,
} from './forecaster.js'
export type { ForecastOptions, ModelName } from './forecaster.js'
export { forecastFailure, exceedanceProbabilities } from './failure.js'
export type { FailureForecast, FailureOptions } from './failure.js'
export { OnlineForecaster } from './online.js'
export type { OnlineForecasterOptions, PeakEstimate } from './online.js'
export { regularize } from './series.js'
export type { RegularSeries } from './series.js'
export { detectSeasons, candidatePeriods } from './seasonality.js'
export { autoArima, fitArima } from './arima.js'
export type { ArimaFit, ArimaOrder } from './arima.js'
export { autoEts, fitEtsForm } from './ets.js'
export type { EtsFit, EtsForm } from './ets.js'
export { fitProphet } from './prophet.js'
export { fitThetaPlain } from './theta.js'
export { fitNaive, fitSeasonalNaive, fitDrift } from './baselines.js'
export type { BacktestScore, Fitted, ForecastResult, ModelFamily, SeasonContext } from './types.js'
// LSTM lives in ./lstm.js and is imported on demand: it pulls in TensorFlow.js.
export type { LstmOptions, LstmState } from './lstm.js'
