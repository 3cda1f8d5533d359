/** @module Shapes shared by the forecasters: a fitted model, the fitting context and the result of forecastSeries. */

/** What a model knows about the series besides its values. */
export interface SeasonContext {
  /** seasonal periods in steps that passed the seasonality test, shortest first (may be empty) */
  readonly seasons: readonly number[]
  /** sampling interval in seconds when known (from timestamps or --freq) */
  readonly freqSec?: number
}

/** A model fitted to one series: it forecasts and can be re-estimated with the same structure. */
export interface Fitted {
  /** e.g. `ets(M,Ad,N)`, `arima(2,1,1)(0,1,1)[24]`, `snaive[168]` */
  readonly name: string
  /** point forecasts for steps 1..h after the last observation */
  forecast(h: number): number[]
  /**
   * The same model form (orders, components, changepoint count) re-estimated on `y`: used by the
   * rolling-origin backtests, where reselecting the form at each origin would cost too much.
   */
  refit(y: readonly number[]): Fitted
}

/** A candidate model family: builds a fitted model, choosing its own form (e.g. by AICc). */
export interface ModelFamily {
  /** the `--model` name: naive, snaive, drift, ets, arima, theta, prophet, lstm */
  readonly id: string
  fit(y: readonly number[], ctx: SeasonContext): Fitted
}

/** Backtest scores of one candidate (rolling origin, errors on the held-out windows). */
export interface BacktestScore {
  readonly model: string
  /** mean absolute scaled error against the in-sample seasonal naive */
  readonly mase: number
  /** symmetric MAPE in percent (0..200) */
  readonly smape: number
  /** weight in the chosen combination (0 when not used) */
  readonly weight: number
  /** fit time in milliseconds on the full series */
  readonly fitMs: number
}

/** The answer of {@link forecastSeries}. */
export interface ForecastResult {
  /** chosen model, or `combo(a+b+c)` for a weighted combination */
  readonly model: string
  readonly forecast: number[]
  readonly lower: number[]
  readonly upper: number[]
  /** interval level in percent */
  readonly level: number
  /** seasonal periods used, in steps */
  readonly seasons: number[]
  /** per-candidate backtest scores, best first */
  readonly backtest: BacktestScore[]
  /** fallbacks and repairs applied, one sentence each (the CLI prints them on stderr) */
  readonly notes: string[]
  /**
   * The conformal calibration behind the intervals: per-step error scale s(h) and the signed
   * backtest errors divided by s(h). Absent when no backtest was possible.
   */
  readonly calibration?: { readonly scale: number[]; readonly scores: number[] }
}
