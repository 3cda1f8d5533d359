/**
 * @module `StoreBacklog`: the records the control plane derives itself (anomaly, forecast and
 * alert events, service-graph rows) exist nowhere else, so when the store cannot be written they
 * are held here, in order and bounded, and written once it takes writes again. (Rollups, spans and
 * audit events need none of this: the bus redelivers them.)
 *
 * ```
 * sink(records) ─▶ store ── ok ─────────────────────────▶ written
 *       │            └─ unwritable ─▶ held [oldest … newest] ≤ maxRecords (oldest dropped, counted)
 *       └─ records already held: join the end, in order          │
 *                    drain(): the store's next success, or a sink's next write ─▶ store, oldest first
 * ```
 */
import { isVigilError, VGL_ERR_STORE_UNWRITABLE } from '../errors.js'
import { isUnwritable } from './store-watch.js'

export interface StoreBacklogOptions {
  /** records held at most; beyond, the oldest are dropped and counted; default 10,000 */
  maxRecords?: number
  /** the first record dropped since the backlog was last empty */
  onDropping?: (x: { maxRecords: number }) => void
  /** held records the store refused for another reason (a bug, a fence): dropped, not retried */
  onError?: (err: Error, what: string) => void
}

/**
 * Writes records to the store, or holds them while it cannot take them.
 * Resolves true once written, false once held; rejects, holding nothing, on any other error.
 */
export type BacklogSink<T> = (records: readonly T[]) => Promise<boolean>

interface Sink {
  what: string
  write: (records: readonly unknown[]) => Promise<void>
}

interface Held {
  sink: Sink
  record: unknown
}

/** Records of one sink written in one call while draining (one transaction). */
const DRAIN_BATCH = 500

/** True for a store error that says the disk or file refuses writes, raw or as the watch reports it. */
export function refusedByStore(err: unknown): boolean {
  return isUnwritable(err) || (isVigilError(err) && err.code === VGL_ERR_STORE_UNWRITABLE.code)
}

export class StoreBacklog {
  readonly maxRecords: number
  readonly #o: StoreBacklogOptions
  /** held records, oldest at `#head` (a ring would save little at this size) */
  #held: Held[] = []
  #head = 0
  #dropped = 0
  #dropping = false
  #draining: Promise<void> | null = null
  #again = false

  constructor(opts: StoreBacklogOptions = {}) {
    this.#o = opts
    this.maxRecords = opts.maxRecords ?? 10_000
    if (!Number.isInteger(this.maxRecords) || this.maxRecords < 1)
      throw new RangeError(`StoreBacklog maxRecords must be a positive integer, got ${opts.maxRecords}`)
  }

  /** records waiting to be written */
  get waiting(): number {
    return this.#held.length - this.#head
  }

  /** records dropped since the start because more than maxRecords waited */
  get dropped(): number {
    return this.#dropped
  }

  /** A writer of one kind of record (`what` names it in errors) through this backlog. */
  sink<T>(what: string, write: (records: readonly T[]) => Promise<void>): BacklogSink<T> {
    const sink: Sink = { what, write: write as Sink['write'] }
    return async (records) => {
      if (records.length === 0) return true
      // behind records already held: theirs is the older place in the store
      if (this.waiting > 0) {
        this.#hold(sink, records)
        void this.drain()
        return false
      }
      try {
        await write(records)
        return true
      } catch (err) {
        if (!refusedByStore(err)) throw err
        this.#hold(sink, records)
        return false
      }
    }
  }

  /** Writes the held records, oldest first, until none is left or the store refuses again. */
  drain(): Promise<void> {
    if (this.#draining !== null) {
      // asked while one runs (the store back, a new record): that one may have begun too early
      this.#again = true
      return this.#draining
    }
    this.#draining = (async () => {
      do {
        this.#again = false
        await this.#drain()
      } while (this.#again)
    })().finally(() => (this.#draining = null))
    return this.#draining
  }

  async #drain(): Promise<void> {
    while (this.waiting > 0) {
      const sink = this.#held[this.#head]!.sink
      const batch: Held[] = []
      for (let i = this.#head; i < this.#held.length && batch.length < DRAIN_BATCH; i++) {
        if (this.#held[i]!.sink !== sink) break
        batch.push(this.#held[i]!)
      }
      const { done, refused } = await this.#write(sink, batch)
      // off the head; those the backlog dropped while the write ran (it overflowed) are gone already
      for (const h of batch.slice(0, done)) if (this.#held[this.#head] === h) this.#head++
      this.#compact()
      if (refused) return
    }
  }

  /** How many records of the batch, from its start, are done with (written, or dropped as bad). */
  async #write(sink: Sink, batch: readonly Held[]): Promise<{ done: number; refused: boolean }> {
    const what = `${sink.what} held while the store could not be written`
    try {
      await sink.write(batch.map((h) => h.record))
      return { done: batch.length, refused: false }
    } catch (err) {
      if (refusedByStore(err)) return { done: 0, refused: true }
      if (batch.length === 1) {
        this.#o.onError?.(err as Error, what)
        return { done: 1, refused: false }
      }
    }
    // one bad record must not cost the others of its batch: each on its own, the bad ones dropped
    for (let i = 0; i < batch.length; i++) {
      try {
        await sink.write([batch[i]!.record])
      } catch (err) {
        if (refusedByStore(err)) return { done: i, refused: true }
        this.#o.onError?.(err as Error, what)
      }
    }
    return { done: batch.length, refused: false }
  }

  #hold(sink: Sink, records: readonly unknown[]): void {
    for (const record of records) this.#held.push({ sink, record })
    while (this.waiting > this.maxRecords) {
      this.#head++
      this.#dropped++
      if (!this.#dropping) {
        this.#dropping = true
        this.#o.onDropping?.({ maxRecords: this.maxRecords })
      }
    }
    this.#compact()
  }

  #compact(): void {
    if (this.waiting === 0) {
      this.#held = []
      this.#head = 0
      this.#dropping = false
    } else if (this.#head > 1_024 && this.#head * 2 > this.#held.length) {
      this.#held = this.#held.slice(this.#head)
      this.#head = 0
    }
  }
}
