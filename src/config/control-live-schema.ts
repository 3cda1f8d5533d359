/** @module The `detect:` and `forecast:` sections of vigil.yaml: live anomaly detection and forecasting in the control plane (src/control/anomalies.ts, src/control/forecasts.ts). */
import { z } from 'zod'

/** The `detect:` section: the detector bank run on every series each closed window. */
export const detectSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** series with detector state at once (about 1.6 MB each); the least recently seen is evicted beyond it */
    maxSeries: z.number().int().min(1).default(1_000),
    /** points of history per metric per series (memory: ~ 6 metrics × this × 8 bytes × a few) */
    historySize: z.number().int().min(64).max(8192).default(512),
    /** hysteresis: raise at this score, clear after `clearAfter` windows below `clearAt` */
    raiseAt: z.number().min(0).max(1).default(0.5),
    clearAt: z.number().min(0).max(1).default(0.3),
    /** an anomaly resolves after this many consecutive windows back inside the band recorded at its open */
    clearAfter: z.number().int().min(1).default(10),
    /**
     * 5xx errors or 429s a window needs before it opens an errors or limitedRatio anomaly, however
     * improbable the count: one error is no incident (a sustained excess needs as many over the
     * windows of its run)
     */
    minEvents: z.number().int().min(1).default(3),
    /** a lasting new level: an anomaly also resolves after this many windows inside the bank's current band */
    acceptAfter: z.number().int().min(1).default(360),
    /**
     * file for the detector state: written on a graceful stop, read on start, so a restart does
     * not relearn (~130 windows of warm-up); absent: no snapshot
     */
    statePath: z.string().min(1).optional(),
  })
  .prefault({})

/** The `forecast:` section: scheduled refits per series and failure thresholds. */
export const forecastSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** each series is refitted every this many of its windows (spread by a hash of the key) */
    refitEveryWindows: z.number().int().min(1).default(30),
    /** default horizon in windows; `?horizon=` may ask up to maxHorizon */
    horizon: z.number().int().min(1).default(30),
    maxHorizon: z.number().int().min(1).max(10_000).default(360),
    /** interval level in percent */
    level: z.number().min(50).max(99).default(80),
    /**
     * model families backtested per series; arima and prophet are far costlier (~10x per fit),
     * add them for few series only
     */
    candidates: z
      .array(z.enum(['naive', 'snaive', 'drift', 'ets', 'theta', 'arima', 'prophet']))
      .min(1)
      .default(['naive', 'snaive', 'drift', 'ets', 'theta']),
    /** windows of history needed before a series is forecast */
    minHistory: z.number().int().min(3).default(30),
    /** series whose latest forecast is kept in memory (least recently fitted evicted) */
    maxSeries: z.number().int().min(1).default(2_000),
    /** fitting time per loop tick; due refits beyond it wait for the next tick */
    budgetMsPerTick: z.number().int().min(1).default(200),
    /** failure forecasts: P(error ratio / p95 crosses these within the horizon) */
    thresholds: z
      .strictObject({
        errorRatio: z.number().gt(0).lt(1).default(0.05),
        p95Ms: z.number().positive().default(1_000),
      })
      .prefault({}),
  })
  .prefault({})

export type DetectConfig = z.infer<typeof detectSchema>
export type ForecastConfig = z.infer<typeof forecastSchema>
