/**
 * @module Analog ("nearest neighbour") quantiles of the coming peak (pure): among the recent past's
 * stretches of `context` rows, the `neighbours` closest to the latest one, and what the demand's
 * peak over the `lead` rows after each of them was. Demand whose bursts follow a rhythm no season
 * names (a job every three to five rows, a retry storm after each failure) shows it here: the
 * stretches that looked like now were followed by a burst, or were not.
 */
export class AnalogPeaks {
  readonly #ring: Float64Array
  #seen = 0
  readonly #dist: Float64Array
  readonly #work: Float64Array
  readonly #outcomes: number[] = []

  constructor(
    /** rows compared */
    readonly context: number,
    /** rows ahead whose peak is asked for */
    readonly lead: number,
    /** the past stretches compared: those ending within this many rows */
    readonly window: number,
    readonly neighbours: number,
  ) {
    for (const [k, v] of Object.entries({ context, lead, window, neighbours }))
      if (!Number.isInteger(v) || v < 1) throw new RangeError(`${k}: expected a whole number ≥ 1`)
    this.#ring = new Float64Array(window + context + lead)
    this.#dist = new Float64Array(window)
    this.#work = new Float64Array(window)
  }

  push(v: number): void {
    this.#ring[this.#seen % this.#ring.length] = v
    this.#seen++
  }

  #at(i: number): number {
    return this.#ring[i % this.#ring.length]
  }

  /**
   * The peak over the next `lead` rows at each quantile of `qs`, as the latest value plus how far
   * the peak rose above the last row of each close stretch; null until twice `neighbours` past
   * stretches have a known outcome.
   */
  quantiles(qs: readonly number[]): number[] | null {
    const last = this.#seen - 1
    const m = this.context
    const to = last - this.lead
    const from = Math.max(m - 1, last - this.window + 1, to - this.window + 1)
    const n = to - from + 1
    if (n < 2 * this.neighbours) return null
    const dist = this.#dist
    for (let j = from; j <= to; j++) {
      let d = 0
      for (let i = 0; i < m; i++) {
        const e = this.#at(j - i) - this.#at(last - i)
        d += e * e
      }
      dist[j - from] = d
    }
    const k = this.neighbours
    const cut = kth(dist, n, k, this.#work)
    const out = this.#outcomes
    out.length = 0
    // nearest first, then ties at the cut from the newest back (the recent past is likelier to repeat)
    for (let pass = 0; pass < 2 && out.length < k; pass++)
      for (let j = to; j >= from && out.length < k; j--) {
        const d = dist[j - from]
        if (pass === 0 ? d < cut : d === cut) {
          let peak = -Infinity
          for (let i = 1; i <= this.lead; i++) peak = Math.max(peak, this.#at(j + i))
          out.push(peak - this.#at(j))
        }
      }
    out.sort((a, b) => a - b)
    const now = this.#at(last)
    return qs.map((q) => now + out[Math.min(out.length - 1, Math.max(0, Math.ceil(q * out.length) - 1))])
  }
}

/** The k-th smallest of the first n values (1-based k), by quickselect on a copy in `work`. */
function kth(values: Float64Array, n: number, k: number, work: Float64Array): number {
  work.set(values.subarray(0, n))
  let lo = 0
  let hi = n - 1
  const target = k - 1
  while (lo < hi) {
    const pivot = work[(lo + hi) >>> 1]
    let i = lo
    let j = hi
    while (i <= j) {
      while (work[i] < pivot) i++
      while (work[j] > pivot) j--
      if (i <= j) {
        const t = work[i]
        work[i] = work[j]
        work[j] = t
        i++
        j--
      }
    }
    if (target <= j) hi = j
    else if (target >= i) lo = i
    else return work[target]
  }
  return work[target]
}
