/**
 * @module `MemoryLimitStore`: bucket state in a Map, for one process (embedded mode, tests, and
 * the local fallback while Redis is away). Synchronous, so a decision never leaves the event loop.
 */
import { gcraStepInto, type BucketSpec, type GcraStep } from './gcra.js'
import type { LimitStore, TakeOutcome } from './limit-store.js'

export interface MemoryLimitStoreOptions {
  /** once the map holds this many keys, expired entries (full buckets) are swept, a few per take */
  sweepAtKeys?: number
}

/**
 * Entries a charging take inspects for expiry while the map is over `sweepAtKeys`. A charging take
 * adds at most two keys (client and service budget), so the sweep outpaces growth and every
 * expired entry is reclaimed within one pass over the map; the work per take stays constant, with
 * a million live buckets as with a thousand.
 */
const SWEEP_STEP = 8

export class MemoryLimitStore implements LimitStore {
  readonly kind = 'memory' as const
  readonly #tats = new Map<string, number>()
  readonly #sweepAt: number
  readonly #step: GcraStep = { allowed: false, tatMs: 0, retryAfterMs: 0 }
  /** the incremental sweep's position: a live Map iterator (deletions and insertions are safe) */
  #cursor: MapIterator<[string, number]> | null = null

  constructor(opts: MemoryLimitStoreOptions = {}) {
    this.#sweepAt = opts.sweepAtKeys ?? 100_000
  }

  take(buckets: readonly BucketSpec[], cost: number, nowMs: number): TakeOutcome {
    const tats = this.#tats
    if (buckets.length === 1) {
      // The common case (no service budget): one lookup, one step, no loops.
      const b = buckets[0]!
      const step = this.#step
      if (gcraStepInto(step, tats.get(b.key) ?? 0, nowMs, cost, b.intervalMs, b.toleranceMs)) {
        if (tats.size >= this.#sweepAt) this.#sweep(nowMs)
        tats.set(b.key, step.tatMs)
        return { allowed: true, refusedIndex: -1, retryAfterMs: 0, tatsMs: [step.tatMs] }
      }
      return { allowed: false, refusedIndex: 0, retryAfterMs: step.retryAfterMs, tatsMs: [step.tatMs] }
    }
    const out: number[] = new Array<number>(buckets.length)
    let refused = -1
    let retry = 0
    for (let i = 0; i < buckets.length; i++) {
      const b = buckets[i]!
      const step = this.#step
      gcraStepInto(step, tats.get(b.key) ?? 0, nowMs, cost, b.intervalMs, b.toleranceMs)
      out[i] = step.tatMs
      if (!step.allowed) {
        if (refused < 0) refused = i
        if (step.retryAfterMs > retry) retry = step.retryAfterMs
      }
    }
    if (refused >= 0) {
      for (let i = 0; i < buckets.length; i++) out[i] = tats.get(buckets[i]!.key) ?? 0
      return { allowed: false, refusedIndex: refused, retryAfterMs: retry, tatsMs: out }
    }
    if (tats.size >= this.#sweepAt) this.#sweep(nowMs)
    for (let i = 0; i < buckets.length; i++) tats.set(buckets[i]!.key, out[i]!)
    return { allowed: true, refusedIndex: -1, retryAfterMs: 0, tatsMs: out }
  }

  peek(key: string): number {
    return this.#tats.get(key) ?? 0
  }

  reset(key: string): void {
    this.#tats.delete(key)
  }

  /** number of keys held (for tests and metrics) */
  get size(): number {
    return this.#tats.size
  }

  async close(): Promise<void> {
    this.#tats.clear()
    this.#cursor = null
  }

  // A TAT at or before now is a full bucket, the same as no entry; dropping it loses nothing.
  // Inspects SWEEP_STEP entries from where the previous call stopped, starting a new pass at the end.
  #sweep(nowMs: number): void {
    const tats = this.#tats
    let cursor = this.#cursor ?? tats.entries()
    for (let i = 0; i < SWEEP_STEP; i++) {
      const next = cursor.next()
      if (next.done === true) {
        cursor = tats.entries()
        continue
      }
      if (next.value[1] <= nowMs) tats.delete(next.value[0])
    }
    this.#cursor = cursor
  }
}
