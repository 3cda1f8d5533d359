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
    return 2 ** (-h / averagePathLength(Math.min(this.o.sampleSize, this.s.count)))
  }

  /**
   * Path-length deficit in nats, ln 2 · (c(ψ) − E[h(x)]), floored at 0: each split saved halves the
   * region x shares with the reference sample, so the deficit reads like −ln of a probability.
   */
  surprise(x: ArrayLike<number>): number {
    const h = this.pathLength(x)
    if (Number.isNaN(h)) return 0
    return Math.max(0, Math.LN2 * (averagePathLength(Math.min(this.o.sampleSize, this.s.count)) - h))
  }

  /** Mean path length E[h(x)] over the trees; NaN before the first fit. */
  pathLength(x: ArrayLike<number>): number {
    const s = this.s
    if (!s.fitted) return NaN
    let sum = 0
    for (let t = 0; t < this.o.trees; t++) {
      const base = t * this.#maxNodes
      let node = 0
      let depth = 0
      while (s.feat[base + node] >= 0) {
        node = s.left[base + node] + (x[s.feat[base + node]] < s.val[base + node] ? 0 : 1)
        depth++
      }
      sum += depth + s.val[base + node]
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
