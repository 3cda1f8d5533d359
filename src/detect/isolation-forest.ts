/** @module Isolation Forest (Liu, Ting & Zhou 2008) fitted on a rolling reference window and refitted periodically. */
import { checkInt } from './detector.js'
import { nextRandom } from './stats.js'

export interface IsolationForestOptions {
  /** number of trees; default 40 (scores of 3-feature shingles settle well before the paper's 100) */
  readonly trees?: number
  /** subsample size ψ per tree; default 64 (few features; the paper's 256 costs 4× per refit) */
  readonly sampleSize?: number
  /** rolling reference window (points kept for fitting); default 256 */
  readonly windowSize?: number
  /** refit after this many new points; default 256 */
  readonly refitEvery?: number
  readonly dims: number
  readonly seed?: number
}

interface State {
  rng: number
  /** reference window, row-major windowSize × dims, ring */
  data: Float64Array
  head: number
  count: number
  sinceFit: number
  fitted: boolean
  /** per tree: split feature (−1 = leaf), split value (or a leaf's c(size)), left child index */
  feat: Int16Array
  val: Float64Array
  left: Int32Array
  /** per split node: the range of the node's sample on the split feature (for points outside it) */
  lo: Float64Array
  hi: Float64Array
  /** per tree and feature: the range of the tree's whole sample */
  boxLo: Float64Array
  boxHi: Float64Array
  depthCap: number
}

/** Average path length of an unsuccessful BST search among n points: c(n) = 2H(n−1) − 2(n−1)/n. */
export function averagePathLength(n: number): number {
  if (n <= 1) return 0
  if (n === 2) return 1
  return 2 * (Math.log(n - 1) + 0.5772156649) - (2 * (n - 1)) / n
}

/**
 * Liu, F.T., Ting, K.M. & Zhou, Z.-H. (2008), "Isolation Forest", ICDM. Anomalies are isolated by
 * fewer random axis-parallel splits: s(x) = 2^(−E[h(x)]/c(ψ)), about 0.5 for ordinary points and
 * close to 1 for isolated ones. The forest is fitted on the last `windowSize` points and refitted
 * every `refitEvery` points, so it describes recent normal behaviour; `fit()` can also be called
 * from outside the hot path (the control loop does this between windows).
 */
export class IsolationForest {
  readonly o: Required<IsolationForestOptions>
  s: State
  readonly #maxNodes: number

  constructor(options: IsolationForestOptions) {
    this.o = {
      trees: options.trees ?? 40,
      sampleSize: options.sampleSize ?? 64,
      windowSize: options.windowSize ?? 256,
      refitEvery: options.refitEvery ?? 256,
      dims: options.dims,
      seed: options.seed ?? 42,
    }
    checkInt('iforest', 'trees', this.o.trees, 1, 1000)
    checkInt('iforest', 'sampleSize', this.o.sampleSize, 4, 4096)
    checkInt('iforest', 'windowSize', this.o.windowSize, this.o.sampleSize, 1_000_000)
    checkInt('iforest', 'dims', this.o.dims, 1, 1000)
    // empty children can appear, so size by the depth cap, not by 2ψ − 1
    this.#maxNodes = 2 ** (Math.ceil(Math.log2(this.o.sampleSize)) + 1) - 1
    const total = this.#maxNodes * this.o.trees
    this.s = {
      rng: this.o.seed | 0,
      data: new Float64Array(this.o.windowSize * this.o.dims),
      head: 0,
      count: 0,
      sinceFit: 0,
      fitted: false,
      feat: new Int16Array(total),
      val: new Float64Array(total),
      left: new Int32Array(total),
      lo: new Float64Array(total),
      hi: new Float64Array(total),
      boxLo: new Float64Array(this.o.trees * this.o.dims),
      boxHi: new Float64Array(this.o.trees * this.o.dims),
      depthCap: Math.ceil(Math.log2(this.o.sampleSize)),
    }
  }

  get fitted(): boolean {
    return this.s.fitted
  }

  /** Fits every tree on a fresh subsample of the reference window. */
  fit(): void {
    const s = this.s
    const d = this.o.dims
    const psi = Math.min(this.o.sampleSize, s.count)
    if (psi < 4) return
    const idx = new Int32Array(psi)
    const lo = new Float64Array(d)
    const hi = new Float64Array(d)
    for (let t = 0; t < this.o.trees; t++) {
      // sample ψ rows without replacement (partial Fisher–Yates over row ids)
      const ids = new Int32Array(s.count)
      for (let i = 0; i < s.count; i++) ids[i] = i
      for (let i = 0; i < psi; i++) {
        const j = i + Math.floor(nextRandom(s) * (s.count - i))
        const tmp = ids[i]
        ids[i] = ids[j]
        ids[j] = tmp
        idx[i] = ids[i]
      }
      const base = t * this.#maxNodes
      let next = 1
      // iterative build: (node, start, end, depth)
      const stack: number[] = [0, 0, psi, 0]
      while (stack.length > 0) {
        const depth = stack.pop() as number
        const end = stack.pop() as number
        const start = stack.pop() as number
        const node = stack.pop() as number
        const n = end - start
        let splitFeat = -1
        if (n > 1 && depth < s.depthCap) {
          for (let k = 0; k < d; k++) {
            lo[k] = Infinity
            hi[k] = -Infinity
          }
          for (let i = start; i < end; i++) {
            const row = idx[i] * d
            for (let k = 0; k < d; k++) {
              const v = s.data[row + k]
              if (v < lo[k]) lo[k] = v
              if (v > hi[k]) hi[k] = v
            }
          }
          if (node === 0)
            for (let k = 0; k < d; k++) {
              s.boxLo[t * d + k] = lo[k]
              s.boxHi[t * d + k] = hi[k]
            }
          // pick a random feature that still varies
          const first = Math.floor(nextRandom(s) * d)
          for (let k = 0; k < d; k++) {
            const q = (first + k) % d
            if (hi[q] > lo[q]) {
              splitFeat = q
              break
            }
          }
        }
        if (splitFeat < 0) {
          s.feat[base + node] = -1
          // a leaf stores its path-length correction c(n) so scoring needs no logarithm
          s.val[base + node] = averagePathLength(n)
          continue
        }
        const v = lo[splitFeat] + nextRandom(s) * (hi[splitFeat] - lo[splitFeat])
        let i = start
        let j = end - 1
        while (i <= j) {
          if (s.data[idx[i] * d + splitFeat] < v) i++
          else {
            const tmp = idx[i]
            idx[i] = idx[j]
            idx[j] = tmp
            j--
          }
        }
        const l = next
        next += 2
        s.feat[base + node] = splitFeat
        s.val[base + node] = v
        s.left[base + node] = l
        s.lo[base + node] = lo[splitFeat]
        s.hi[base + node] = hi[splitFeat]
        stack.push(l + 1, i, end, depth + 1, l, start, i, depth + 1)
      }
    }
    s.fitted = true
    s.sinceFit = 0
  }

  /** The isolation score s(x) in (0,1]; 0 before the first fit. */
  anomaly(x: ArrayLike<number>): number {
    const h = this.pathLength(x)
    if (Number.isNaN(h)) return 0
    return Math.min(1, 2 ** (-h / averagePathLength(Math.min(this.o.sampleSize, this.s.count))))
  }

  /**
   * Path-length deficit in nats, ln 2 · (c(ψ) − E[h(x)]), floored at 0: each split saved halves the
   * region x shares with the reference sample, so the deficit reads like −ln of a probability.
   * Unbounded for points outside the sample's range ({@link IsolationForest.pathLength}).
   */
  surprise(x: ArrayLike<number>): number {
    const h = this.pathLength(x)
    if (Number.isNaN(h)) return 0
    return Math.max(0, Math.LN2 * (averagePathLength(Math.min(this.o.sampleSize, this.s.count)) - h))
  }

  /**
   * Mean path length E[h(x)] over the trees; NaN before the first fit. Can be negative for a point
   * far outside the reference sample.
   *
   * A point outside the tree's sample range on a feature is the case the plain path length gets
   * wrong: it follows the outermost branch and inherits the depth of the most extreme sample point,
   * so a spike ten ranges out scores like the largest normal point, the score is bounded (by
   * ln 2 · c(ψ) nats) and no calibration can give it a tail probability below one over its history.
   * For such a point every node splitting on that feature subtracts log2(1 + d / r) splits, d the
   * distance outside the node's range r on it: had x been in the node's sample, the range to cut
   * would have been (d + r) / r times wider, and each halving of it is a split that x, alone in the
   * widened part, did not need. Inside the sample's box this is the paper's path length; outside it
   * grows with the log of the distance, so the surprise extrapolates instead of saturating (slowly:
   * a spike's evidence grows like ln d, a normal tail's like d²/2).
   */
  pathLength(x: ArrayLike<number>): number {
    const s = this.s
    if (!s.fitted) return NaN
    const dims = this.o.dims
    let sum = 0
    for (let t = 0; t < this.o.trees; t++) {
      const base = t * this.#maxNodes
      let node = 0
      let depth = 0
      let saved = 0
      while (s.feat[base + node] >= 0) {
        const q = s.feat[base + node]
        const xq = x[q]
        const lo = s.lo[base + node]
        const hi = s.hi[base + node]
        const bl = s.boxLo[t * dims + q]
        const bh = s.boxHi[t * dims + q]
        const dg = xq > bh ? xq - bh : xq < bl ? bl - xq : 0
        if (dg > 0) {
          const d = xq > hi ? xq - hi : xq < lo ? lo - xq : 0
          // the widened range is (d + r) / r times the node's: log2 of that many halvings saved
          saved += Math.log2(1 + d / Math.max(hi - lo, 1e-12))
        }
        node = s.left[base + node] + (xq < s.val[base + node] ? 0 : 1)
        depth++
      }
      sum += depth + s.val[base + node] - saved
    }
    return sum / this.o.trees
  }

  /** Adds x to the reference window; refits when `refitEvery` points have arrived (or at the first full sample). */
  learn(x: ArrayLike<number>, autoFit = true): void {
    const s = this.s
    const d = this.o.dims
    const row = s.head * d
    for (let k = 0; k < d; k++) s.data[row + k] = x[k]
    s.head = (s.head + 1) % this.o.windowSize
    if (s.count < this.o.windowSize) s.count++
    s.sinceFit++
    if (autoFit && (s.sinceFit >= this.o.refitEvery || (!s.fitted && s.count >= this.o.sampleSize)))
      this.fit()
  }
}
