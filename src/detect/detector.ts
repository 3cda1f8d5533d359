/** @module The Detector port: River-style score-then-update streaming anomaly detectors with snapshots. */
import { VGL_ERR_DETECT_INPUT, VGL_ERR_DETECT_OPTIONS, VGL_ERR_DETECT_SNAPSHOT } from '../errors.js'

/**
 * A streaming anomaly detector (River's `AnomalyDetector`): `score(x)` judges x against what was
 * seen before, then `update(x)` learns it, so a point never scores against itself. Scores are in
 * [0,1]; high means anomalous. Memory is bounded, results are deterministic for a given seed, and
 * `snapshot()` captures everything needed to continue elsewhere (`restoreDetector`).
 *
 * Non-finite input (NaN, ±Infinity) throws VGL_ERR_DETECT_INPUT: a detector never guesses. Callers
 * that see gaps (the CLI, the ensemble) skip those points and score them 0.
 */
export interface Detector<X = number> {
  /** registry name, e.g. `robust-z` */
  readonly name: string
  /** anomaly score in [0,1] of x given the past; does not learn */
  score(x: X): number
  /** learns x */
  update(x: X): void
  /** structured-clone-able copy of options and state */
  snapshot(): DetectorSnapshot
}

/**
 * A univariate detector that also reports its evidence as a surprise, -ln p in nats, where p is the
 * detector's own tail probability of x. `score = 1 - exp(-surprise)` = 1 - p. The ensemble calibrates
 * surprises, which keep their resolution where 1 - p rounds to 1.
 */
export interface SurpriseDetector extends Detector<number> {
  surprise(x: number): number
  /** what the detector expected x to be, and a typical band around it, for explanations */
  expected(): { value: number; low: number; high: number }
}

/** A snapshot: plain data (numbers, arrays, typed arrays), safe for postMessage and structuredClone. */
export interface DetectorSnapshot {
  readonly kind: string
  readonly version: 1
  readonly options: Readonly<Record<string, unknown>>
  readonly state: unknown
}

/** Surprises are capped: beyond ~1e-22 a tail probability says nothing more, and caps keep calibration sane. */
export const MAX_SURPRISE = 50

/** Throws VGL_ERR_DETECT_INPUT unless x is a finite number. */
export function checkFinite(name: string, x: number): void {
  if (typeof x !== 'number' || !Number.isFinite(x))
    throw VGL_ERR_DETECT_INPUT(
      `${name}: input must be a finite number, got ${String(x)}; skip missing points (Ensemble.process does) or impute them`,
    )
}

/** Throws VGL_ERR_DETECT_OPTIONS unless `value` is an integer in [min, max]. */
export function checkInt(name: string, option: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw VGL_ERR_DETECT_OPTIONS(
      `${name}: option ${option} must be an integer in [${min}, ${max}], got ${value}`,
    )
}

/**
 * Base for univariate detectors: options `O` and all mutable state `S` are plain data, so snapshot
 * and restore are a structured clone and cannot drift from the fields the algorithm uses.
 */
export abstract class UnivariateDetector<O extends object, S> implements SurpriseDetector {
  abstract readonly name: string
  protected readonly o: O
  protected s: S

  constructor(options: O, state: S) {
    this.o = options
    this.s = state
  }

  abstract surprise(x: number): number
  abstract learn(x: number): void
  abstract expected(): { value: number; low: number; high: number }

  score(x: number): number {
    checkFinite(this.name, x)
    return 1 - Math.exp(-Math.min(MAX_SURPRISE, this.surprise(x)))
  }

  update(x: number): void {
    checkFinite(this.name, x)
    this.learn(x)
  }

  snapshot(): DetectorSnapshot {
    return {
      kind: this.name,
      version: 1,
      options: structuredClone(this.o) as Record<string, unknown>,
      state: structuredClone(this.s),
    }
  }

  /** Replaces the state with a snapshot's; the snapshot must come from the same kind and options. */
  restore(snap: DetectorSnapshot): this {
    if (snap.kind !== this.name || snap.version !== 1)
      throw VGL_ERR_DETECT_SNAPSHOT(
        `cannot restore a ${snap.kind} v${snap.version} snapshot into ${this.name} v1; use restoreDetector(snapshot)`,
      )
    this.s = structuredClone(snap.state) as S
    return this
  }
}
