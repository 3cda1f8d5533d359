/**
 * @module Circuit breaker per target (outlier ejection in Envoy's terms): `consecutiveFailures`
 * failures in a row open it for an ejection time that grows with each repeat ejection
 * (base × n, capped at max); when the time is up the next request is a single half-open probe
 * whose success closes the breaker and whose failure opens it again for longer.
 *
 * ```
 *   closed ──N failures──▶ open ──ejection time over──▶ half-open ──probe ok──▶ closed
 *      ▲                    ▲                               │
 *      └── success resets   └──────── probe failed ─────────┘
 * ```
 * Time is passed in (`nowMs`) so the state machine is tested without timers.
 */

export type BreakerState = 'closed' | 'open' | 'half-open'

export interface BreakerOptions {
  enabled: boolean
  consecutiveFailures: number
  baseEjectionMs: number
  maxEjectionMs: number
}

export class CircuitBreaker {
  #opts: BreakerOptions
  state: BreakerState = 'closed'
  consecutiveFailures = 0
  /** ejections since the target last stayed healthy for maxEjectionMs; scales the next ejection */
  ejections = 0
  openUntilMs = 0
  #probeInFlight = false
  #closedAtMs = 0
  /** called on every state change (metrics) */
  onChange: ((state: BreakerState) => void) | null = null

  constructor(opts: BreakerOptions) {
    this.#opts = opts
  }

  /** Applies new options from a reloaded config; the current state is kept. */
  configure(opts: BreakerOptions): void {
    this.#opts = opts
  }

  /**
   * Whether a request may go to this target now. In half-open state exactly one caller gets
   * true (the probe) until it reports back; a `true` answer must be followed by
   * `onSuccess`/`onFailure`/`onAbandon`.
   */
  allow(nowMs: number): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open') {
      if (nowMs < this.openUntilMs) return false
      this.#set('half-open')
    }
    if (this.#probeInFlight) return false
    this.#probeInFlight = true
    return true
  }

  /** Cheap check without claiming the probe slot (balancers filter with it). */
  available(nowMs: number): boolean {
    if (this.state === 'closed') return true
    if (this.state === 'open') return nowMs >= this.openUntilMs
    return !this.#probeInFlight
  }

  onSuccess(nowMs: number): void {
    this.consecutiveFailures = 0
    if (this.state !== 'closed') {
      this.#probeInFlight = false
      this.#closedAtMs = nowMs
      this.#set('closed')
    }
  }

  onFailure(nowMs: number): void {
    if (!this.#opts.enabled) return
    if (this.state === 'half-open') {
      this.#probeInFlight = false
      this.#eject(nowMs)
      return
    }
    if (this.state === 'open') return
    this.consecutiveFailures++
    if (this.consecutiveFailures >= this.#opts.consecutiveFailures) this.#eject(nowMs)
  }

  /** The probe ended without a verdict (client went away): let another request probe. */
  onAbandon(): void {
    if (this.state === 'half-open') this.#probeInFlight = false
  }

  /** An active health check passed: un-eject at once (Envoy's successful_active_health_check_uneject_host). */
  forceClose(nowMs: number): void {
    this.consecutiveFailures = 0
    if (this.state !== 'closed') {
      this.#probeInFlight = false
      this.#closedAtMs = nowMs
      this.#set('closed')
    }
  }

  #eject(nowMs: number): void {
    // A target that stayed closed for a full max ejection time starts over at the base time.
    if (this.ejections > 0 && this.#closedAtMs > 0 && nowMs - this.#closedAtMs >= this.#opts.maxEjectionMs) {
      this.ejections = 0
    }
    this.ejections++
    const ms = Math.min(this.#opts.baseEjectionMs * this.ejections, this.#opts.maxEjectionMs)
    this.openUntilMs = nowMs + ms
    this.consecutiveFailures = 0
    this.#set('open')
  }

  #set(state: BreakerState): void {
    if (this.state === state) return
    this.state = state
    if (this.onChange !== null) this.onChange(state)
  }
}
