/** @module Half-Space Trees (Tan, Ting & Liu 2011): streaming mass-based anomaly detection on feature vectors. */
import { checkInt } from './detector.js'
import { nextRandom } from './stats.js'

export interface HalfSpaceTreesOptions {
  /** number of trees; default 25 (the paper's value) */
  readonly trees?: number
  /** tree depth; default 8 (with sizeLimit = 0.1·window the search rarely goes deeper than ~4) */
  readonly height?: number
  /** points per mass window ψ; default 256 (paper: 250) */
  readonly windowSize?: number
  /** number of features */
  readonly dims: number
  readonly seed?: number
}

interface State {
  rng: number
  built: boolean
  /** per node, trees × (2^(height+1) − 1), breadth-first: node i has children 2i+1, 2i+2 */
  splitDim: Uint8Array
  splitVal: Float64Array
  ref: Float64Array
  latest: Float64Array
  inWindow: number
  windows: number
  /** exponentially weighted mean of ln(mass score) of learned points: the typical score */
  typical: number
}

/**
 * Tan, S.C., Ting, K.M. & Liu, T.F. (2011), "Fast anomaly detection for streaming data", IJCAI.
 * Each tree halves a random work space (around [0,1] per feature) at random features; a point's
 * score sums, over trees, the reference-window mass of the deepest node it reaches whose mass is at
 * least sizeLimit, times 2^depth. Masses swap every ψ points, so the model follows drift. Features
 * should be roughly in [0,1]; values outside land in empty space and score as anomalous.
 *
 * `anomaly(x)` returns −ln(score / (trees·ψ)) ≥ 0: about 0 for dense regions, large for empty ones.
 */
export class HalfSpaceTrees {
  readonly o: Required<HalfSpaceTreesOptions>
  s: State
  readonly #nodes: number
  // the last logMass computed, so learn() after anomaly() on the same x does not descend twice
  #memoX = new Float64Array(0)
  #memoLm = NaN

  constructor(options: HalfSpaceTreesOptions) {
    this.o = {
      trees: options.trees ?? 25,
      height: options.height ?? 8,
      windowSize: options.windowSize ?? 256,
      dims: options.dims,
      seed: options.seed ?? 42,
    }
    checkInt('hst', 'trees', this.o.trees, 1, 1000)
    checkInt('hst', 'height', this.o.height, 1, 20)
    checkInt('hst', 'dims', this.o.dims, 1, 255)
    this.#nodes = (1 << (this.o.height + 1)) - 1
    const total = this.#nodes * this.o.trees
    this.s = {
      rng: this.o.seed | 0,
      built: false,
      splitDim: new Uint8Array(total),
      splitVal: new Float64Array(total),
      ref: new Float64Array(total),
      latest: new Float64Array(total),
      inWindow: 0,
      windows: 0,
      typical: NaN,
    }
  }

  #build(): void {
    const s = this.s
    const d = this.o.dims
    const lo = new Float64Array(d)
    const hi = new Float64Array(d)
    const internal = (1 << this.o.height) - 1
    for (let t = 0; t < this.o.trees; t++) {
      for (let k = 0; k < d; k++) {
        const sq = nextRandom(s)
        const ws = 2 * Math.max(sq, 1 - sq)
        lo[k] = sq - ws
        hi[k] = sq + ws
      }
      // breadth-first: recompute each node's box by walking from the root
      const base = t * this.#nodes
      for (let i = 0; i < internal; i++) {
        const boxLo = Float64Array.from(lo)
        const boxHi = Float64Array.from(hi)
        let path = i
        const stack: number[] = []
        while (path > 0) {
          stack.push(path)
          path = (path - 1) >> 1
        }
        let node = 0
        for (let j = stack.length - 1; j >= 0; j--) {
          const child = stack[j]
          const q = s.splitDim[base + node]
          const v = s.splitVal[base + node]
          if (child === 2 * node + 1) boxHi[q] = v
          else boxLo[q] = v
          node = child
        }
        const q = Math.floor(nextRandom(s) * d)
        s.splitDim[base + i] = q
        s.splitVal[base + i] = (boxLo[q] + boxHi[q]) / 2
      }
    }
    s.built = true
  }

  /** ln of the mass score Σ r·2^depth (high = dense = normal); NaN until one full window has been seen. */
  logMass(x: ArrayLike<number>): number {
    const s = this.s
    if (s.windows === 0) return NaN
    const memo = this.#memoX
    if (memo.length === x.length && !Number.isNaN(this.#memoLm)) {
      let same = true
      for (let k = 0; k < memo.length; k++) if (memo[k] !== x[k]) same = false
      if (same) return this.#memoLm
    }
    const H = this.o.height
    const limit = 0.1 * this.o.windowSize
    let total = 0
    for (let t = 0; t < this.o.trees; t++) {
      const base = t * this.#nodes
      let node = 0
      let depth = 0
      while (depth < H && s.ref[base + node] >= limit) {
        node = x[s.splitDim[base + node]] < s.splitVal[base + node] ? 2 * node + 1 : 2 * node + 2
        depth++
      }
      total += s.ref[base + node] * 2 ** depth
    }
    const lm = Math.log(total + 1)
    if (memo.length !== x.length) this.#memoX = new Float64Array(x.length)
    for (let k = 0; k < x.length; k++) this.#memoX[k] = x[k]
    this.#memoLm = lm
    return lm
  }

  /**
   * How much less mass x has than the points learned recently, in nats: max(0, typical − ln score).
   * Raw mass scores have no fixed scale (a split that separates no data still doubles 2^depth),
   * so they are measured against their own running mean.
   */
  anomaly(x: ArrayLike<number>): number {
    const lm = this.logMass(x)
    if (Number.isNaN(lm) || Number.isNaN(this.s.typical)) return 0
    return Math.max(0, this.s.typical - lm)
  }

  learn(x: ArrayLike<number>): void {
    const s = this.s
    if (!s.built) this.#build()
    const lm = this.logMass(x)
    if (!Number.isNaN(lm))
      s.typical = Number.isNaN(s.typical) ? lm : s.typical + (lm - s.typical) / this.o.windowSize
    const H = this.o.height
    for (let t = 0; t < this.o.trees; t++) {
      const base = t * this.#nodes
      let node = 0
      s.latest[base]++
      for (let depth = 0; depth < H; depth++) {
        node = x[s.splitDim[base + node]] < s.splitVal[base + node] ? 2 * node + 1 : 2 * node + 2
        s.latest[base + node]++
      }
    }
    this.#memoLm = NaN
    if (++s.inWindow === this.o.windowSize) {
      const tmp = s.ref
      s.ref = s.latest
      s.latest = tmp
      s.latest.fill(0)
      s.inWindow = 0
      s.windows++
    }
  }
}
