/**
 * @module The `LimitStore` port: where bucket state (one GCRA TAT per key) lives. Stores only store
 * and count; tiers, priorities, multipliers and fallback live once, in `limiter.ts`.
 *
 * A decision takes one or more buckets at once (the client's bucket and the service budget) and is
 * atomic across them: either every bucket admits and all are charged, or none is charged. A store
 * may answer synchronously (memory) or with a Promise (Redis); callers branch on `instanceof Promise`
 * so the memory path never pays for a microtask.
 */
import type { BucketSpec } from './gcra.js'

export interface TakeOutcome {
  allowed: boolean
  /** index into the buckets of the first one that refused; -1 when admitted */
  refusedIndex: number
  /** ms until the request could pass every refusing bucket (0 when admitted, Infinity if never) */
  retryAfterMs: number
  /** TAT of each bucket after the decision (charged when admitted, as stored when refused) */
  tatsMs: number[]
}

export interface LimitStore {
  readonly kind: 'memory' | 'redis'
  /**
   * Charges `cost` tokens to every bucket if all of them admit, else to none.
   * Buckets of one call must share a Redis Cluster hash slot (see `keys.ts`).
   */
  take(buckets: readonly BucketSpec[], cost: number, nowMs: number): TakeOutcome | Promise<TakeOutcome>
  /** stored TAT of a key, 0 when the key holds no state (a full bucket) */
  peek(key: string): number | Promise<number>
  /** forgets a key (a full bucket again) */
  reset(key: string): void | Promise<void>
  close(): Promise<void>
}
