/** @module Univariate adapters for the multivariate Half-Space Trees and Isolation Forest: a normalised shingle of recent values. */
import { UnivariateDetector } from './detector.js'
import { HalfSpaceTrees } from './half-space-trees.js'
import { IsolationForest } from './isolation-forest.js'
import { createWindow, pushWindow, windowLag, windowQuantile, type RollingWindow } from './window.js'

/** Shingle length: the value and the two before it, so both level and shape (jumps, dips) show. */
const SHINGLE = 3
/** Points between refreshes of the normalisation range (one Half-Space Trees mass window). */
const BLOCK = 256

export interface EmbeddedOptions {
  readonly seed?: number
  readonly gracePeriod?: number
}

interface State<M> {
  n: number
  recent: RollingWindow
  block: RollingWindow
  lo: number
  hi: number
  model: M
}

/**
 * Maps x to the shingle (x_t, x_t−1, x_t−2) scaled by the p1–p99 range of the previous block and
 * centred at 0.5, so the range fills about half of [0,1] and excursions still fall inside the
 * trees' work space. The range is refreshed once per block so the mass profile stays comparable.
 */
abstract class Embedded<M extends { s: unknown }> extends UnivariateDetector<
  Required<EmbeddedOptions>,
  State<M>
> {
  #vec = new Float64Array(SHINGLE)
  /**
   * false: the model sees (x_t, x_t − x_t−1, x_t − x_t−2) in the series' units (it must be
   * scale-invariant per feature)
   */
  protected scaled = true

  constructor(options: EmbeddedOptions, model: M) {
    super(
      { seed: options.seed ?? 42, gracePeriod: options.gracePeriod ?? 32 },
      { n: 0, recent: createWindow(SHINGLE), block: createWindow(BLOCK), lo: 0, hi: 0, model },
    )
  }

  protected features(x: number): Float64Array {
    const s = this.s
    const v = this.#vec
    if (!this.scaled) {
      v[0] = x
      for (let k = 1; k < SHINGLE; k++) {
        const p = windowLag(s.recent, k)
        v[k] = Number.isNaN(p) ? 0 : x - p
      }
      return v
    }
    const span = s.hi - s.lo > 0 ? s.hi - s.lo : Math.max(1e-9, Math.abs(s.hi) * 1e-6)
    v[0] = 0.25 + (0.5 * (x - s.lo)) / span
    for (let k = 1; k < SHINGLE; k++) {
      const p = windowLag(s.recent, k)
      v[k] = Number.isNaN(p) ? v[0] : 0.25 + (0.5 * (p - s.lo)) / span
    }
    return v
  }

  protected refresh(x: number): void {
    const s = this.s
    pushWindow(s.recent, x)
    pushWindow(s.block, x)
    s.n++
    if (s.n === this.o.gracePeriod || s.n % BLOCK === 0) {
      s.lo = windowQuantile(s.block, 0.01)
      s.hi = windowQuantile(s.block, 0.99)
    }
  }

  expected(): { value: number; low: number; high: number } {
    const b = this.s.block
    return { value: windowQuantile(b, 0.5), low: windowQuantile(b, 0.01), high: windowQuantile(b, 0.99) }
  }
}

/** Half-Space Trees on a univariate series (see {@link HalfSpaceTrees}). */
export class HalfSpaceTreesDetector extends Embedded<HalfSpaceTrees> {
  readonly name = 'hst'
  constructor(options: EmbeddedOptions = {}) {
    super(options, new HalfSpaceTrees({ dims: SHINGLE, seed: options.seed ?? 42 }))
  }
  surprise(x: number): number {
    if (this.s.n < this.o.gracePeriod) return 0
    return this.s.model.anomaly(this.features(x))
  }
  learn(x: number): void {
    if (this.s.n >= this.o.gracePeriod) this.s.model.learn(this.features(x))
    this.refresh(x)
  }
  override restore(snap: Parameters<Embedded<HalfSpaceTrees>['restore']>[0]): this {
    super.restore(snap)
    // structuredClone drops the class; rebuild the model around the cloned state
    const m = new HalfSpaceTrees({ dims: SHINGLE, seed: this.o.seed })
    m.s = (this.s.model as unknown as { s: HalfSpaceTrees['s'] }).s
    this.s.model = m
    return this
  }
}

/** Isolation Forest on a univariate series (see {@link IsolationForest}). */
export class IsolationForestDetector extends Embedded<IsolationForest> {
  readonly name = 'iforest'
  constructor(options: EmbeddedOptions = {}) {
    super(options, new IsolationForest({ dims: SHINGLE, seed: options.seed ?? 42 }))
    // Random cuts uniform between a node's min and max do not depend on a feature's scale (the
    // block-wise range only made the fitted window and the scored point disagree), but axis-
    // parallel cuts do depend on the basis: in (x_t, x_t−1, x_t−2) a spike moves one coordinate of
    // three; in the level and its two differences it moves all three, and a step moves the level
    // and, at the step, the differences. Same information, axes aligned with jumps.
    this.scaled = false
  }
  surprise(x: number): number {
    if (this.s.n < this.o.gracePeriod) return 0
    return this.s.model.surprise(this.features(x))
  }
  learn(x: number): void {
    if (this.s.n >= this.o.gracePeriod) this.s.model.learn(this.features(x))
    this.refresh(x)
  }
  override restore(snap: Parameters<Embedded<IsolationForest>['restore']>[0]): this {
    super.restore(snap)
    const m = new IsolationForest({ dims: SHINGLE, seed: this.o.seed })
    const restored = (this.s.model as unknown as { s: IsolationForest['s'] }).s
    // a snapshot from before node ranges were stored holds points in another embedding (the
    // scaled shingle): start the forest afresh rather than mix the two
    if (restored.lo !== undefined) m.s = restored
    this.s.model = m
    return this
  }
}
