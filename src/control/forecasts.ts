/**
 * @module Live forecasting: each series is refitted every `refitEveryWindows` of its windows, at
 * a phase set by a hash of its key so 1,000 series do not refit in the same window; due refits
 * run from a timer within a time budget per tick (the control plane runs in a worker in
 * embedded mode, so the gateway's event loop never waits on a fit). Each fit forecasts the
 * request rate (src/forecast `forecastSeries`, backtested model choice, conformal intervals)
 * and the failure forecasts of error ratio and p95 (`forecastFailure`: P(cross the threshold
 * within the horizon)), keeps the newest per series in memory, and stores it as a Store event
 * of kind `forecast` so forecast and actual can be compared later.
 *
 * ```
 * window hook ─▶ windows seen per series ─(due: (n + phase) % every == 0)─▶ queue
 * timer tick ─▶ fit queued series until budgetMsPerTick ─▶ cache (LRU) + store event 'forecast'
 * GET …/forecast?horizon= ─▶ cache (slice) │ fit on demand when the horizon is longer or none yet
 * ```
 */
import {
  forecastFailure,
  forecastSeries,
  intervalWidthRatio,
  MAX_MISSING_SHARE,
  missingShare,
  type BacktestScore,
  type ForecastOptions,
  type ForecastResult,
} from '../forecast/index.js'
import { VGL_ERR_CONTROL_QUERY, withFix } from '../errors.js'
import type { StoredEvent } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { sentCount } from '../telemetry/types.js'
import type { WindowClosedContext } from './control-plane.js'
import type { SeriesPoint } from './points.js'
import { formatSeriesKey, parseSeriesKey } from './series-key.js'
import { StoreBacklog, type BacklogSink } from './store-backlog.js'

export const FORECAST_EVENT = 'forecast'

export interface ForecastPoint {
  /** start of the forecast window, ms since the epoch */
  atMs: number
  forecast: number
  lower: number
  upper: number
}

/** P(the series crosses `threshold` within the horizon), with the forecast behind it. */
export interface FailureSummary {
  threshold: number
  probability: number
  /** P(above the threshold) at each step */
  perStep: number[]
  /** first step whose exceedance probability is ≥ 0.5, and its time */
  firstLikelyStep: number | null
  firstLikelyAtMs: number | null
  model: string
  points: ForecastPoint[]
  /**
   * P(a crossing still ahead): the same forecast with the windows over the threshold left out
   * when one of the last `forecast.horizon` was over it, so a failure under way or just ended does not
   * forecast itself (the probability above, then); null when too many windows were over it
   */
  newCrossing: NewCrossingSummary | null
}

/** The failure forecast of a crossing the history does not already show. */
export interface NewCrossingSummary {
  probability: number
  perStep: number[]
  firstLikelyAtMs: number | null
  /** windows left out (over the threshold); 0 when none of the last `forecast.horizon` was */
  leftOut: number
}

export interface ForecastReady {
  status: 'ok'
  key: string
  metric: 'ratePerSec'
  stepMs: number
  horizon: number
  /** interval level in percent */
  level: number
  fittedAtMs: number
  /** start of the newest window the fit saw */
  lastPointMs: number
  historyPoints: number
  /** chosen model, or `combo(a+b+c)` for a weighted combination */
  model: string
  seasons: number[]
  points: ForecastPoint[]
  /** per-candidate backtest scores (MASE, sMAPE, weight in the combination), best first */
  backtest: BacktestScore[]
  notes: string[]
  failure: { errorRatio: FailureSummary | null; p95: FailureSummary | null }
}

export interface ForecastInsufficient {
  status: 'insufficient_history'
  key: string
  stepMs: number
  /** windows of history the series has, and how many a forecast needs */
  have: number
  need: number
}

export type ForecastAnswer = ForecastReady | ForecastInsufficient

/** What the forecast API asks; implemented by LiveForecasts and the embedded worker's client. */
export interface ForecastSource {
  /**
   * with `level`, the rate band at that level (percent) instead of `forecast.level` (the failure
   * forecasts keep theirs)
   */
  forecast(key: string, horizon?: number, level?: number): Promise<ForecastAnswer>
}

export interface LiveForecastsOptions {
  /** merged history of a series, oldest first (the control plane's ring, else the store) */
  history: (series: SeriesKey) => Promise<SeriesPoint[]>
  store?: { appendEvents(events: readonly StoredEvent[]): Promise<void> }
  /** where forecast events wait while the store cannot be written; default: a backlog of its own */
  backlog?: StoreBacklog
  /** the telemetry window */
  stepMs: number
  refitEveryWindows?: number
  horizon?: number
  maxHorizon?: number
  level?: number
  minHistory?: number
  maxSeries?: number
  budgetMsPerTick?: number
  tickMs?: number
  candidates?: readonly string[]
  thresholds?: { errorRatio: number; p95Ms: number }
  now?: () => number
  onError?: (err: Error, what: string) => void
}

interface Seen {
  series: SeriesKey
  windows: number
  phase: number
}

/** FNV-1a: a stable phase per key, so restarts keep the spread. */
function hash(s: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * Lays points on a regular grid of `stepMs`: a window without a point had no requests. `rate` counts
 * every request; `errorRatio`, `p95` and `requests` are of those sent upstream.
 */
export function toGrid(
  points: readonly SeriesPoint[],
  stepMs: number,
  maxPoints: number,
): { startMs: number; rate: number[]; errorRatio: number[]; p95: number[]; requests: number[] } {
  const empty = { startMs: 0, rate: [], errorRatio: [], p95: [], requests: [] }
  if (points.length === 0) return empty
  const last = points[points.length - 1].startMs
  const first = Math.max(points[0].startMs, last - (maxPoints - 1) * stepMs)
  const n = Math.floor((last - first) / stepMs) + 1
  const rate = new Array<number>(n).fill(0)
  const errorRatio = new Array<number>(n).fill(Number.NaN)
  const p95 = new Array<number>(n).fill(Number.NaN)
  const requests = new Array<number>(n).fill(0)
  for (const p of points) {
    const i = Math.round((p.startMs - first) / stepMs)
    if (i < 0 || i >= n) continue
    rate[i] = p.ratePerSec
    // the failure forecasts are of the service: its error ratio over the requests sent to it (the
    // gateway's own 503s with no healthy target are not its errors) and their p95
    const sent = sentCount(p)
    requests[i] = sent
    if (sent > 0) {
      errorRatio[i] = p.upstreamErrorRatio
      p95[i] = p.p95 ?? Number.NaN
    }
  }
  return { startMs: first, rate, errorRatio, p95, requests }
}

const HISTORY_CAP = 4_000

export class LiveForecasts implements ForecastSource {
  readonly #o: Required<Omit<LiveForecastsOptions, 'store' | 'backlog' | 'onError'>> &
    Pick<LiveForecastsOptions, 'onError'>
  readonly #storeEvents: BacklogSink<StoredEvent> | null
  readonly #seen = new Map<string, Seen>()
  readonly #queue = new Map<string, SeriesKey>()
  readonly #cache = new Map<string, ForecastReady>()
  /** the backtest errors behind each cached rate band: it answers at any level from them */
  readonly #calibration = new Map<string, ForecastResult['calibration']>()
  readonly #listeners: ((f: ForecastReady) => void)[] = []
  #timer: NodeJS.Timeout | null = null
  #running: Promise<void> | null = null
  readonly stats = { fits: 0, fitMs: 0, insufficient: 0, errors: 0, deferred: 0 }

  constructor(opts: LiveForecastsOptions) {
    this.#o = {
      refitEveryWindows: 30,
      horizon: 30,
      maxHorizon: 360,
      level: 80,
      minHistory: 30,
      maxSeries: 2_000,
      budgetMsPerTick: 200,
      tickMs: 1_000,
      candidates: ['naive', 'snaive', 'drift', 'ets', 'theta'],
      thresholds: { errorRatio: 0.05, p95Ms: 1_000 },
      now: Date.now,
      ...opts,
    }
    const store = opts.store
    this.#storeEvents =
      store === undefined
        ? null
        : (opts.backlog ?? new StoreBacklog()).sink('forecast events', (b: readonly StoredEvent[]) =>
            store.appendEvents(b),
          )
  }

  /** The window hook: counts windows per series and queues the ones whose refit is due. */
  readonly hook = (series: SeriesKey, _point: SeriesPoint, ctx: WindowClosedContext): void => {
    if (ctx.correction) return
    const key = formatSeriesKey(series)
    let s = this.#seen.get(key)
    if (s === undefined) {
      if (this.#seen.size >= this.#o.maxSeries * 4)
        this.#seen.delete(this.#seen.keys().next().value as string)
      s = { series, windows: 0, phase: hash(key) % this.#o.refitEveryWindows }
    } else this.#seen.delete(key)
    this.#seen.set(key, s)
    s.windows++
    // the phase also spreads first fits: series that appear together (a start) are not all
    // fitted in the window they reach minHistory; the API fits on demand meanwhile
    if ((s.windows + s.phase) % this.#o.refitEveryWindows === 0 && s.windows >= this.#o.minHistory)
      this.#queue.set(key, series)
  }

  /** Calls `listener` with every new forecast (scheduled refits and fits on demand); it must not throw. */
  onForecast(listener: (f: ForecastReady) => void): void {
    this.#listeners.push(listener)
  }

  /** Series waiting for a refit. */
  get queued(): number {
    return this.#queue.size
  }

  /** Starts the refit timer. */
  start(): void {
    if (this.#timer !== null) return
    this.#timer = setInterval(() => void this.runDue(), this.#o.tickMs)
    this.#timer.unref()
  }

  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#running
  }

  /** Fits queued series until the budget is spent (at least one); the rest wait for the next tick. */
  runDue(budgetMs = this.#o.budgetMsPerTick): Promise<void> {
    if (this.#running !== null) return this.#running
    this.#running = (async () => {
      const t0 = performance.now()
      let fitted = 0
      for (const [key, series] of this.#queue) {
        if (fitted++ > 0 && performance.now() - t0 >= budgetMs) {
          this.stats.deferred += this.#queue.size
          break
        }
        this.#queue.delete(key)
        await this.#fit(key, series, this.#o.horizon).catch((err: Error) => {
          this.stats.errors++
          this.#o.onError?.(err, `forecast ${key}`)
        })
      }
    })().finally(() => (this.#running = null))
    return this.#running
  }

  async #fit(key: string, series: SeriesKey, horizon: number): Promise<ForecastAnswer> {
    const points = await this.#o.history(series)
    const stepMs = this.#o.stepMs
    const grid = toGrid(points, stepMs, HISTORY_CAP)
    const have = grid.rate.length
    if (have < this.#o.minHistory) {
      this.stats.insufficient++
      return { status: 'insufficient_history', key, stepMs, have, need: this.#o.minHistory }
    }
    const t0 = performance.now()
    const base: ForecastOptions = {
      horizon,
      level: this.#o.level,
      freqSec: stepMs / 1000,
      candidates: this.#o.candidates,
    }
    const lastPointMs = grid.startMs + (have - 1) * stepMs
    const at = (h: number) => lastPointMs + (h + 1) * stepMs
    const toPoints = (r: ForecastResult): ForecastPoint[] =>
      r.forecast.map((f, h) => ({ atMs: at(h), forecast: f, lower: r.lower[h], upper: r.upper[h] }))
    const rate = forecastSeries(grid.rate, base)
    const notes = [...rate.notes]
    const failure = (
      values: number[],
      threshold: number,
      kind: 'ratio' | 'latency',
    ): FailureSummary | null => {
      // a series that is mostly idle has no failure trend worth fitting
      if (values.filter(Number.isFinite).length < this.#o.minHistory) return null
      // Windows with no requests (sent upstream, for the p95) have no ratio or latency. Too many of
      // them (an idle night, an outage the gateway answered itself) leave nothing to interpolate
      // from: no failure forecast, and the rate forecast still stands.
      const gaps = missingShare(values)
      if (gaps.missing > MAX_MISSING_SHARE * gaps.of) {
        notes.push(
          `no ${kind === 'ratio' ? 'error-ratio' : 'p95'} failure forecast: ${gaps.missing} of the last ${gaps.of} windows had no requests to measure it on`,
        )
        return null
      }
      // an error ratio over few requests is noisy: the counts floor its spread
      const requests = kind === 'ratio' ? grid.requests : undefined
      const f = forecastFailure(values, {
        ...base,
        threshold,
        kind,
        requests,
        newCrossingWithin: this.#o.horizon,
      })
      const ahead = f.newCrossing ?? null
      return {
        threshold,
        probability: f.probability,
        perStep: f.perStep,
        firstLikelyStep: f.firstLikelyStep,
        firstLikelyAtMs: f.firstLikelyStep === null ? null : at(f.firstLikelyStep - 1),
        model: f.forecast.model,
        points: toPoints(f.forecast),
        newCrossing:
          ahead === null
            ? null
            : {
                probability: ahead.probability,
                perStep: ahead.perStep,
                firstLikelyAtMs: ahead.firstLikelyStep === null ? null : at(ahead.firstLikelyStep - 1),
                leftOut: ahead.leftOut,
              },
      }
    }
    const answer: ForecastReady = {
      status: 'ok',
      key,
      metric: 'ratePerSec',
      stepMs,
      horizon,
      level: rate.level,
      fittedAtMs: this.#o.now(),
      lastPointMs,
      historyPoints: have,
      model: rate.model,
      seasons: rate.seasons,
      points: toPoints(rate),
      backtest: rate.backtest,
      notes,
      failure: {
        errorRatio: failure(grid.errorRatio, this.#o.thresholds.errorRatio, 'ratio'),
        p95: failure(grid.p95, this.#o.thresholds.p95Ms, 'latency'),
      },
    }
    this.stats.fits++
    this.stats.fitMs += performance.now() - t0
    this.#cache.delete(key)
    if (this.#cache.size >= this.#o.maxSeries) {
      const oldest = this.#cache.keys().next().value as string
      this.#cache.delete(oldest)
      this.#calibration.delete(oldest)
    }
    this.#cache.set(key, answer)
    this.#calibration.set(key, rate.calibration)
    for (const l of this.#listeners) {
      try {
        l(answer)
      } catch (err) {
        this.#o.onError?.(err as Error, 'forecast listener')
      }
    }
    if (this.#storeEvents !== null)
      await this.#storeEvents([
        {
          atMs: answer.fittedAtMs,
          kind: FORECAST_EVENT,
          actor: 'control',
          subject: key,
          payload: stored(answer),
        },
      ]).catch((err: Error) => this.#o.onError?.(err, 'forecast event'))
    return answer
  }

  /** The newest scheduled fit of a series in memory (no fit on demand), or null. */
  latest(key: string): ForecastReady | null {
    return this.#cache.get(key) ?? null
  }

  /**
   * The newest forecast of a series, cut to `horizon` windows; fitted now when there is none or
   * the cached one is shorter. `key` is `service|route|env` (see series-key.ts). With `level`, the
   * rate band is at that level: the fit's half-widths times {@link intervalWidthRatio} (the same
   * fit, its backtest errors' quantile at `level` over the one at `forecast.level`).
   */
  async forecast(key: string, horizon = this.#o.horizon, level?: number): Promise<ForecastAnswer> {
    if (!Number.isInteger(horizon) || horizon < 1 || horizon > this.#o.maxHorizon)
      throw withFix(
        VGL_ERR_CONTROL_QUERY(
          `horizon: expected a whole number of windows from 1 to ${this.#o.maxHorizon} (forecast.maxHorizon), got ${horizon}`,
        ),
        `send horizon from 1 to ${this.#o.maxHorizon} (e.g. horizon=${this.#o.horizon}), or leave it out for ${this.#o.horizon} (forecast.horizon); raise forecast.maxHorizon in vigil.yaml to look further`,
      )
    if (level !== undefined && !(level > 0 && level < 100))
      throw withFix(
        VGL_ERR_CONTROL_QUERY(`level: expected a percentage between 0 and 100 (e.g. 90), got ${level}`),
        'send level as a percentage above 0 and below 100, e.g. level=90, or leave it out for forecast.level',
      )
    const series = parseSeriesKey(key)
    const canonical = formatSeriesKey(series)
    const cached = this.#cache.get(canonical)
    const answer =
      cached !== undefined && cached.horizon >= horizon
        ? cut(cached, horizon)
        : await this.#fit(canonical, series, Math.max(horizon, this.#o.horizon))
    if (answer.status !== 'ok') return answer
    const f = cut(answer, horizon)
    return level === undefined ? f : atLevel(f, this.#calibration.get(canonical), level)
  }
}

/**
 * What a `forecast` event keeps: the rate forecast with its intervals, the model and the backtest
 * MASE per candidate, and the failure probabilities (not their per-step paths): ~2 KB at 30 steps,
 * since every refit of every series is one row.
 */
export function stored(f: ForecastReady): StoredForecast {
  const fail = (s: FailureSummary | null) =>
    s === null
      ? null
      : {
          threshold: s.threshold,
          probability: s.probability,
          firstLikelyAtMs: s.firstLikelyAtMs,
          model: s.model,
          newCrossing:
            s.newCrossing === null
              ? null
              : {
                  probability: s.newCrossing.probability,
                  firstLikelyAtMs: s.newCrossing.firstLikelyAtMs,
                  leftOut: s.newCrossing.leftOut,
                },
        }
  return {
    model: f.model,
    stepMs: f.stepMs,
    horizon: f.horizon,
    level: f.level,
    lastPointMs: f.lastPointMs,
    points: f.points,
    backtest: f.backtest.map((b) => ({ model: b.model, mase: b.mase, weight: b.weight })),
    failure: { errorRatio: fail(f.failure.errorRatio), p95: fail(f.failure.p95) },
  }
}

/** The payload of a `forecast` Store event. */
export interface StoredForecast {
  model: string
  stepMs: number
  horizon: number
  level: number
  lastPointMs: number
  points: ForecastPoint[]
  backtest: { model: string; mase: number; weight: number }[]
  failure: { errorRatio: StoredFailure | null; p95: StoredFailure | null }
}

/** A failure forecast as a `forecast` event keeps it (no per-step paths). */
export interface StoredFailure {
  threshold: number
  probability: number
  firstLikelyAtMs: number | null
  model: string
  /** absent in events stored before it was kept */
  newCrossing?: Omit<NewCrossingSummary, 'perStep'> | null
}

/** The rate band of `f` at `level`: each half-width times the ratio of the interval widths. */
function atLevel(f: ForecastReady, calibration: ForecastResult['calibration'], level: number): ForecastReady {
  if (level === f.level) return f
  const r = intervalWidthRatio(calibration, f.level, level)
  // a rate is never negative: the fit clipped its lower bounds at zero, and so does this
  const clip = f.points.every((p) => p.lower >= 0)
  return {
    ...f,
    level,
    points: f.points.map((p) => {
      const lower = p.forecast - (p.forecast - p.lower) * r
      return {
        ...p,
        lower: clip ? Math.max(0, lower) : lower,
        upper: p.forecast + (p.upper - p.forecast) * r,
      }
    }),
  }
}

function cut(f: ForecastReady, horizon: number): ForecastReady {
  if (f.horizon === horizon) return f
  const fail = (s: FailureSummary | null): FailureSummary | null => {
    if (s === null) return null
    const points = s.points.slice(0, horizon)
    const perStep = s.perStep.slice(0, horizon)
    // as forecastFailure: crossing at some step is the largest per-step probability
    const probability = perStep.reduce((a, b) => Math.max(a, b), 0)
    const i = perStep.findIndex((p) => p >= 0.5)
    const ahead = s.newCrossing
    const aheadStep = ahead?.perStep.slice(0, horizon) ?? []
    const j = aheadStep.findIndex((p) => p >= 0.5)
    return {
      ...s,
      probability,
      perStep,
      points,
      firstLikelyStep: i < 0 ? null : i + 1,
      firstLikelyAtMs: i < 0 ? null : points[i].atMs,
      newCrossing:
        ahead === null
          ? null
          : {
              ...ahead,
              probability: aheadStep.reduce((a, b) => Math.max(a, b), 0),
              perStep: aheadStep,
              firstLikelyAtMs: j < 0 ? null : points[j].atMs,
            },
    }
  }
  return {
    ...f,
    horizon,
    points: f.points.slice(0, horizon),
    failure: { errorRatio: fail(f.failure.errorRatio), p95: fail(f.failure.p95) },
  }
}
