/**
 * @module A small LSTM forecaster on TensorFlow.js (WASM backend, pure-JS `cpu` fallback), loaded
 * only when asked for. Training is slow (seconds), so it is never part of `auto`: it is meant to
 * be trained in a worker, its state (plain Float32Arrays, transferable) cached per series, and
 * reused for forecasts until the next scheduled refit. Seasonal profiles are adjusted out first
 * (see decompose.ts) so the window only has to learn the remaining dynamics.
 */
import type * as TF from '@tensorflow/tfjs'
import {
  VGL_ERR_FORECAST_LSTM_UNAVAILABLE,
  VGL_ERR_FORECAST_MODEL,
  VGL_ERR_FORECAST_TOO_SHORT,
} from '../errors.js'
import { primarySeason } from './baselines.js'
import { decompose } from './decompose.js'
import { repairMissing } from './forecaster.js'
import { detectSeasons } from './seasonality.js'
import { mean, variance } from './stats.js'
import type { ForecastResult } from './types.js'

export interface LstmOptions {
  readonly horizon: number
  readonly level?: number
  readonly season?: number | readonly number[]
  readonly freqSec?: number
  /** input window in steps (default 24) */
  readonly window?: number
  /** LSTM units (default 16) */
  readonly units?: number
  /** training epochs (default 15) */
  readonly epochs?: number
  /** at most this many training windows, the most recent (default 800) */
  readonly maxWindows?: number
  readonly seed?: number
}

/** Everything needed to forecast again without retraining; safe to postMessage (transferable arrays). */
export interface LstmState {
  readonly window: number
  readonly units: number
  readonly seasons: number[]
  /** normalisation of the adjusted series */
  readonly mu: number
  readonly sd: number
  readonly weights: Float32Array[]
  readonly shapes: number[][]
  /** calibration: |holdout error| per step, from the last `hb` points held out in training */
  readonly holdoutAbsErr: number[]
  /** number of points the model was trained on (a cache key part: retrain when it grows enough) */
  readonly trainedOn: number
}

let tfPromise: Promise<typeof TF> | undefined

/**
 * Loads tfjs once, preferring the WASM backend. tfjs is an optional dependency: without it this
 * model alone is unavailable, with an error saying how to install it.
 */
async function loadTf(): Promise<typeof TF> {
  tfPromise ??= (async () => {
    let tf: typeof TF
    try {
      tf = await import('@tensorflow/tfjs')
    } catch (err) {
      throw VGL_ERR_FORECAST_LSTM_UNAVAILABLE(err instanceof Error ? err.message : String(err))
    }
    // tfjs's production mode turns off its own console messages (the cpu backend's "install
    // tfjs-node" banner) and debug checks; it is tfjs's setting, so no global state is touched.
    tf.enableProdMode()
    try {
      await import('@tensorflow/tfjs-backend-wasm')
      if (!(await tf.setBackend('wasm'))) throw new Error('setBackend returned false')
    } catch {
      await tf.setBackend('cpu')
    }
    await tf.ready()
    return tf
  })()
  // a failed load is not cached, so installing tfjs into a running process is picked up
  return tfPromise.catch((err: unknown) => {
    tfPromise = undefined
    throw err
  })
}

function buildModel(tf: typeof TF, window: number, units: number, seed: number): TF.Sequential {
  const model = tf.sequential()
  model.add(
    tf.layers.lstm({
      units,
      inputShape: [window, 1],
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
      recurrentInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  )
  model.add(
    tf.layers.dense({ units: 1, kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 2 }) }),
  )
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'meanSquaredError' })
  return model
}

function recursive(
  tf: typeof TF,
  model: TF.Sequential,
  hist: readonly number[],
  window: number,
  h: number,
): number[] {
  const buf = hist.slice(hist.length - window)
  const out: number[] = []
  for (let i = 0; i < h; i++) {
    const next = tf.tidy(() => {
      const x = tf.tensor3d(Float32Array.from(buf.slice(buf.length - window)), [1, window, 1])
      return (model.predict(x) as TF.Tensor).dataSync()[0]
    })
    out.push(next)
    buf.push(next)
  }
  return out
}

/**
 * Trains an LSTM on `values` (NaN = missing), holding out the last `hb` points to measure its
 * errors for the intervals. Returns a serialisable state.
 */
export async function trainLstm(values: readonly number[], opts: LstmOptions): Promise<LstmState> {
  const notes: string[] = []
  const y = repairMissing(values, notes)
  const window = opts.window ?? 24
  const units = opts.units ?? 16
  const hb = Math.min(opts.horizon, Math.max(1, Math.floor(y.length / 5)))
  if (y.length < window + hb + 20) throw VGL_ERR_FORECAST_TOO_SHORT(y.length, window + hb + 20)
  const seasons =
    opts.season !== undefined
      ? (typeof opts.season === 'number' ? [opts.season] : [...opts.season]).filter((s) => s >= 2)
      : detectSeasons(y, opts.freqSec)
  const dec = decompose(y, seasons, false)
  const adj = dec.adjusted
  const mu = mean(adj)
  const sd = Math.sqrt(variance(adj)) || 1
  const z = adj.map((v) => (v - mu) / sd)
  const tf = await loadTf()
  const train = z.slice(0, z.length - hb)
  const maxW = opts.maxWindows ?? 800
  const first = Math.max(0, train.length - window - maxW)
  const xs: number[] = []
  const ys: number[] = []
  for (let i = first; i + window < train.length; i++) {
    for (let j = 0; j < window; j++) xs.push(train[i + j])
    ys.push(train[i + window])
  }
  const count = ys.length
  const model = buildModel(tf, window, units, opts.seed ?? 42)
  const X = tf.tensor3d(Float32Array.from(xs), [count, window, 1])
  const Y = tf.tensor2d(Float32Array.from(ys), [count, 1])
  try {
    await model.fit(X, Y, { epochs: opts.epochs ?? 15, batchSize: 32, shuffle: false, verbose: 0 })
  } finally {
    X.dispose()
    Y.dispose()
  }
  const hold = recursive(tf, model, train, window, hb)
  const holdoutAbsErr = hold.map((f, i) => Math.abs(z[train.length + i] - f) * sd)
  const weights = model.getWeights().map((w) => Float32Array.from(w.dataSync()))
  const shapes = model.getWeights().map((w) => w.shape.slice())
  model.dispose()
  return { window, units, seasons, mu, sd, weights, shapes, holdoutAbsErr, trainedOn: y.length }
}

/** Forecasts from a trained state (no training), with intervals from its holdout errors. */
export async function predictLstm(
  state: LstmState,
  values: readonly number[],
  horizon: number,
  level = 80,
): Promise<ForecastResult> {
  const notes: string[] = []
  const y = repairMissing(values, notes)
  const dec = decompose(y, state.seasons, false)
  const z = dec.adjusted.map((v) => (v - state.mu) / state.sd)
  const tf = await loadTf()
  const model = buildModel(tf, state.window, state.units, 1)
  model.setWeights(state.weights.map((w, i) => tf.tensor(w, state.shapes[i])))
  const fc = recursive(tf, model, z, state.window, horizon)
  model.dispose()
  const forecast = dec.reseasonalize(fc.map((v) => v * state.sd + state.mu))
  if (!forecast.every(Number.isFinite)) throw VGL_ERR_FORECAST_MODEL('lstm', 'non-finite forecast')
  // interval: holdout errors scaled by sqrt(h) beyond the holdout window; a rough calibration
  const errs = state.holdoutAbsErr
  const sorted = [...errs].sort((a, b) => a - b)
  const q = sorted[Math.min(sorted.length - 1, Math.ceil((sorted.length + 1) * (level / 100)) - 1)] ?? 0
  const hb = errs.length
  const width = (h: number): number => q * Math.sqrt(Math.max(1, (h + 1) / Math.max(1, hb / 2)))
  const nonNegative = y.every((v) => v >= 0)
  const clamp = (v: number): number => (nonNegative ? Math.max(0, v) : v)
  return {
    model: `lstm(window=${state.window},units=${state.units})`,
    forecast: forecast.map(clamp),
    lower: forecast.map((f, h) => clamp(f - width(h))),
    upper: forecast.map((f, h) => clamp(f + width(h))),
    level,
    seasons: state.seasons,
    backtest: [],
    notes,
  }
}

/** Trains and forecasts in one call (the CLI's `--model lstm`). */
export async function forecastLstm(values: readonly number[], opts: LstmOptions): Promise<ForecastResult> {
  let state: LstmState
  try {
    state = await trainLstm(values, opts)
  } catch (err) {
    const code = (err as { code?: string }).code
    if (code === VGL_ERR_FORECAST_TOO_SHORT.code || code === VGL_ERR_FORECAST_LSTM_UNAVAILABLE.code) throw err
    throw VGL_ERR_FORECAST_MODEL('lstm', (err as Error).message)
  }
  const res = await predictLstm(state, values, opts.horizon, opts.level)
  const m = primarySeason({ seasons: state.seasons }, values.length)
  return { ...res, notes: [...res.notes, `lstm trained on ${state.trainedOn} points (season ${m})`] }
}

/**
 * Per-series cache of trained states for the live control plane: `get` returns a state while the
 * series has grown by less than `retrainAfter` points since training.
 */
export class LstmCache {
  readonly #states = new Map<string, LstmState>()
  readonly #retrainAfter: number
  constructor(retrainAfter = 288) {
    this.#retrainAfter = retrainAfter
  }
  get(key: string, length: number): LstmState | undefined {
    const s = this.#states.get(key)
    return s !== undefined && length - s.trainedOn < this.#retrainAfter ? s : undefined
  }
  set(key: string, state: LstmState): void {
    this.#states.set(key, state)
  }
}
