/** @module Scores a whole series online, point by point, exactly as `vigil detect` does. */
import { DEFAULT_DETECTOR, createCalibrated } from './registry.js'

/** The median positive step between consecutive timestamps (0 when unknown): lets seasons snap to a day or week. */
export function medianStepMs(times: readonly number[]): number {
  const steps: number[] = []
  for (let i = 1; i < times.length && steps.length < 5000; i++) {
    const d = times[i] - times[i - 1]
    if (d > 0) steps.push(d)
  }
  if (steps.length === 0) return 0
  steps.sort((a, b) => a - b)
  return steps[steps.length >> 1]
}

export interface ScoreSeriesOptions {
  /** registry name; default {@link DEFAULT_DETECTOR} */
  readonly detector?: string
  readonly seed?: number
}

/**
 * Anomaly scores in [0,1], one per value; each depends on that value and the earlier ones only.
 * Non-finite values (gaps) score 0 and are not learned. `timesMs` (epoch ms, NaN when unreadable)
 * only supply the sampling step.
 */
export function scoreSeries(
  values: readonly number[],
  timesMs: readonly number[],
  options: ScoreSeriesOptions = {},
): Float64Array {
  const detector = createCalibrated(options.detector ?? DEFAULT_DETECTOR, {
    seed: options.seed ?? 42,
    stepMs: medianStepMs(timesMs),
  })
  const out = new Float64Array(values.length)
  for (let i = 0; i < values.length; i++) out[i] = detector.process(values[i]).score
  return out
}
