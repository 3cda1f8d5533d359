/**
 * @module How long a message the store could not take waits before the bus redelivers it: as long
 * as the store has been failing, at least 1 s and at most 30 s. A short hiccup retries at once; a
 * long outage costs a retry every 30 s instead of a storm of redeliveries.
 */
export class RedeliveryDelay {
  #failingSinceMs: number | null = null
  constructor(readonly now: () => number) {}

  /** a write failed: the delay for its messages */
  failed(): number {
    const now = this.now()
    this.#failingSinceMs ??= now
    return Math.min(Math.max(now - this.#failingSinceMs, 1_000), 30_000)
  }

  /** a write succeeded: the store is back */
  ok(): void {
    this.#failingSinceMs = null
  }
}
