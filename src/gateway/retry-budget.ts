/**
 * @module Envoy-style retry budget: retries in flight may be at most `ratio` of the requests in
 * flight, but `minRetries` are always allowed so a quiet service can still retry. During an outage
 * every request fails, so without a budget each one would multiply into `attempts` upstream calls.
 */

export class RetryBudget {
  readonly ratio: number
  readonly minRetries: number
  /** requests in flight for the service (first attempts and retries alike) */
  requests = 0
  /** retries (and their backoff waits) in flight */
  retries = 0
  /** retries refused because the budget was spent */
  refused = 0

  constructor(ratio: number, minRetries: number) {
    this.ratio = ratio
    this.minRetries = minRetries
  }

  /** Takes one retry slot when the budget allows; the caller must `release()` it when the retry ends. */
  tryAcquire(): boolean {
    const allowed = Math.max(this.minRetries, Math.floor(this.requests * this.ratio))
    if (this.retries >= allowed) {
      this.refused++
      return false
    }
    this.retries++
    return true
  }

  release(): void {
    this.retries--
  }
}
