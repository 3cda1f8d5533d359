/**
 * @module Delivery to one sink: a bounded queue, one send in flight, retries with exponential
 * backoff and full jitter. A slow or dead sink costs its own queue, never the control loop (which
 * only enqueues) and never another sink. Nothing is lost silently: a notification that is dropped
 * (queue full) or given up (attempts spent, or a 4xx that will not change) is reported to its
 * callback, counted, and logged once per sink, kind of failure and outage (a delivery ends one).
 *
 * ```
 * enqueue(batch, done) ─▶ [queue ≤ maxQueue] ─▶ send ─ ok ─────────────────▶ done(delivered)
 *        │ full: done(dropped)                    └ retryable, tries left ─▶ wait backoff, send again
 *                                                 └ else ──────────────────▶ done(failed, why)
 * ```
 */
import type { AlertSinkConfig } from '../config/alerts-schema.js'
import { carryOver, SinkError, type Sink } from './sinks.js'
import type { Notification } from './types.js'

export type DeliveryOutcome =
  /** `heldMs`: delivered on a later try, after the sink was given up on for that long (src/alerts/undelivered.ts) */
  | { sink: string; status: 'delivered'; attempts: number; heldMs?: number }
  /** `retryable`: a later try may deliver it (false: the sink refused the payload) */
  | { sink: string; status: 'failed' | 'dropped'; attempts: number; detail: string; retryable: boolean }

interface Item {
  batch: readonly Notification[]
  done: (o: DeliveryOutcome) => void
}

export interface DispatcherOptions {
  maxQueue: number
  maxAttempts: number
  backoffMs: number
  maxBackoffMs: number
  /** called once per kind of failure until a delivery succeeds (the rest are only counted) */
  onWarn?: (message: string) => void
  /** jitter source in [0, 1); tests pass a constant */
  random?: () => number
}

export class SinkDispatcher {
  readonly sink: Sink
  readonly #o: DispatcherOptions
  readonly #queue: Item[] = []
  #running: Promise<void> | null = null
  #closed = false
  /** a reload removed or replaced the sink: it takes nothing new, but delivers what it holds */
  #retiring = false
  #warned = new Set<string>()
  #wake: (() => void) | null = null
  readonly stats = { delivered: 0, failed: 0, dropped: 0, retries: 0 }

  constructor(sink: Sink, opts: DispatcherOptions) {
    this.sink = sink
    this.#o = opts
  }

  static fromConfig(sink: Sink, cfg: AlertSinkConfig, onWarn?: (m: string) => void): SinkDispatcher {
    return new SinkDispatcher(sink, {
      maxQueue: cfg.maxQueue,
      maxAttempts: cfg.maxAttempts,
      backoffMs: cfg.backoffMs,
      maxBackoffMs: cfg.maxBackoffMs,
      onWarn,
    })
  }

  /** Notifications waiting (not counting the one being sent). */
  get queued(): number {
    return this.#queue.length
  }

  /** Queues a batch; `done` is called exactly once with its outcome. Never blocks, never throws. */
  enqueue(batch: readonly Notification[], done: (o: DeliveryOutcome) => void): void {
    if (this.#closed || this.#retiring || this.#queue.length >= this.#o.maxQueue) {
      this.stats.dropped += batch.length
      const detail =
        this.#closed || this.#retiring
          ? 'the dispatcher is closed'
          : `queue full (${this.#o.maxQueue} waiting; the sink is slow or down)`
      this.#warnOnce(
        'dropped',
        `alert sink ${this.sink.name} (${this.sink.describe}): dropped notifications: ${detail}`,
      )
      done({ sink: this.sink.name, status: 'dropped', attempts: 0, detail, retryable: true })
      return
    }
    this.#queue.push({ batch, done })
    this.#running ??= this.#drain().finally(() => (this.#running = null))
  }

  async #drain(): Promise<void> {
    // once closed, only the item in flight gets its last try; close() reports the rest as dropped
    while (!this.#closed) {
      const item = this.#queue.shift()
      if (item === undefined) return
      await this.#deliver(item)
    }
  }

  async #deliver(item: Item): Promise<void> {
    const name = this.sink.name
    for (let attempt = 1; ; attempt++) {
      try {
        await this.sink.send(item.batch)
        this.stats.delivered += item.batch.length
        // the outage is over: the next one is news to whoever reads the log
        this.#warned.clear()
        item.done({ sink: name, status: 'delivered', attempts: attempt })
        return
      } catch (err) {
        const retryable = err instanceof SinkError ? err.retryable : true
        const message = (err as Error).message
        if (!retryable || attempt >= this.#o.maxAttempts || this.#closed) {
          this.stats.failed += item.batch.length
          const why = retryable
            ? `${message} after ${attempt} tries`
            : `${message} (not retried: the sink refused it)`
          this.#warnOnce(
            retryable ? 'failed' : 'refused',
            `alert sink ${name}: notification not delivered: ${why}`,
          )
          item.done({ sink: name, status: 'failed', attempts: attempt, detail: why, retryable })
          return
        }
        this.stats.retries++
        this.#warnOnce('retrying', `alert sink ${name}: ${message}; retrying with backoff`)
        await this.#sleep(this.#backoff(attempt))
      }
    }
  }

  #backoff(attempt: number): number {
    const cap = Math.min(this.#o.maxBackoffMs, this.#o.backoffMs * 2 ** (attempt - 1))
    // "equal jitter" (AWS architecture blog, "Exponential Backoff and Jitter"): at least half the cap,
    // so the default tries span a receiver's restart rather than a few seconds
    return cap / 2 + (cap / 2) * (this.#o.random ?? Math.random)()
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => ((this.#wake = null), resolve()), ms)
      t.unref()
      this.#wake = () => (clearTimeout(t), (this.#wake = null), resolve())
    })
  }

  #warnOnce(kind: string, message: string): void {
    if (this.#warned.has(kind)) return
    this.#warned.add(kind)
    this.#o.onWarn?.(message)
  }

  /**
   * A reload removed the sink: it takes nothing new but keeps delivering what it holds (retries
   * and backoff as usual) for up to `graceMs`, then closes; what is left is reported as dropped,
   * each to its callback (the alert's action says so).
   */
  async retire(graceMs: number): Promise<void> {
    this.#retiring = true
    const running = this.#running
    if (running !== null) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))])
      clearTimeout(timer)
    }
    await this.close(0, 'the sink was removed from the config before delivery')
  }

  /**
   * A reload changed the sink's settings: `next` (built from the new ones) takes the waiting
   * notifications and the keepalives; the one in flight finishes here.
   */
  handOver(next: SinkDispatcher, graceMs: number): Promise<void> {
    this.#retiring = true
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift())
      next.enqueue(item.batch, item.done)
    carryOver(this.sink, next.sink)
    return this.retire(graceMs)
  }

  /**
   * Stops accepting; waits up to `graceMs` for the queue to drain (a backoff wait is cut short,
   * giving the item one last try), then reports what is left as dropped.
   */
  async close(graceMs = 2_000, why = 'shut down before delivery'): Promise<void> {
    this.#closed = true
    this.#wake?.()
    const running = this.#running
    if (running !== null) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([running, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))])
      clearTimeout(timer)
    }
    for (let item = this.#queue.shift(); item !== undefined; item = this.#queue.shift()) {
      this.stats.dropped += item.batch.length
      item.done({ sink: this.sink.name, status: 'dropped', attempts: 0, detail: why, retryable: true })
    }
    await this.sink.close()
  }
}
