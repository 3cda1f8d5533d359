/**
 * @module The newest `capacity` values of a stream, kept sorted as they arrive: a conformal band
 * asks for a quantile of its recent scores at every step, and re-sorting a thousand scores per
 * step was most of a long replay's time. Insertion and eviction are a binary search and one
 * splice each.
 */
export class SlidingSorted {
  readonly #fifo: number[] = []
  #head = 0
  readonly #sorted: number[] = []

  constructor(private readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError('capacity: expected a whole number ≥ 1')
  }

  get length(): number {
    return this.#sorted.length
  }

  push(v: number): void {
    this.#fifo.push(v)
    this.#sorted.splice(this.#lowerBound(v), 0, v)
    if (this.#sorted.length > this.capacity) {
      const old = this.#fifo[this.#head++]
      let i = this.#lowerBound(old)
      // NaN never compares equal: fall back to a scan for it (it sorts nowhere in particular)
      if (!(this.#sorted[i] === old)) i = this.#sorted.findIndex((x) => Object.is(x, old))
      this.#sorted.splice(i, 1)
      if (this.#head > 4096) {
        this.#fifo.splice(0, this.#head)
        this.#head = 0
      }
    }
  }

  /** The value of rank `r` (1: the smallest), r in 1..length. */
  rank(r: number): number {
    return this.#sorted[r - 1]
  }

  #lowerBound(v: number): number {
    let lo = 0
    let hi = this.#sorted.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (this.#sorted[mid] < v) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
