/**
 * @module A fixed-size ring of the most recent points of one series, ordered by start time.
 * A correction (same start) replaces in place; appends overwrite the oldest slot.
 *
 * ```
 *   head ─▶ [p7][p8][p3][p4][p5][p6]     capacity 6, size 6: oldest p3 at head, newest p8
 *                    ▲ next write
 * ```
 */
export class Ring<T extends { startMs: number }> {
  #slots: (T | undefined)[]
  #head = 0
  #size = 0

  constructor(readonly capacity: number) {
    this.#slots = new Array(capacity)
  }

  get size(): number {
    return this.#size
  }

  /** Adds a point; replaces the one with the same start; ignores one older than everything kept when full. */
  put(p: T): void {
    const cap = this.capacity
    for (let i = this.#size - 1; i >= 0; i--) {
      const idx = (this.#head + i) % cap
      const cur = this.#slots[idx] as T
      if (cur.startMs === p.startMs) {
        this.#slots[idx] = p
        return
      }
      if (cur.startMs < p.startMs) {
        if (i === this.#size - 1) return this.#append(p)
        // out of order but inside the ring: rare (late window); rebuild sorted
        const all = [...this.values(), p].sort((a, b) => a.startMs - b.startMs).slice(-cap)
        this.#slots = new Array(cap)
        all.forEach((v, j) => (this.#slots[j] = v))
        this.#head = 0
        this.#size = all.length
        return
      }
    }
    if (this.#size < cap) {
      const all = [p, ...this.values()]
      this.#slots = new Array(cap)
      all.forEach((v, j) => (this.#slots[j] = v))
      this.#head = 0
      this.#size = all.length
    }
  }

  #append(p: T): void {
    const cap = this.capacity
    if (this.#size < cap) {
      this.#slots[(this.#head + this.#size) % cap] = p
      this.#size++
    } else {
      this.#slots[this.#head] = p
      this.#head = (this.#head + 1) % cap
    }
  }

  /** Oldest first. */
  values(): T[] {
    const out: T[] = []
    for (let i = 0; i < this.#size; i++) out.push(this.#slots[(this.#head + i) % this.capacity] as T)
    return out
  }

  last(): T | undefined {
    return this.#size === 0 ? undefined : this.#slots[(this.#head + this.#size - 1) % this.capacity]
  }
}
