/**
 * @module One upstream target: its keep-alive connection pool, circuit breaker, active health
 * verdict, in-flight count and a two-bucket recent error rate for passive health views. Target
 * state survives config reloads when the service keeps the same URL.
 */
import type { ServiceConfig } from '../config/schema.js'
import { CircuitBreaker } from './breaker.js'
import { UpstreamPool, type UpstreamHandler } from './upstream-pool.js'
import type { TargetView } from './views.js'

const RECENT_WINDOW_MS = 10_000

/** Hears a target's active health verdict flip; `status` is the last check's, 0 when it got no answer. */
export type HealthChangeListener = (target: TargetState, healthy: boolean, status: number) => void

export class TargetState {
  readonly url: string
  readonly origin: string
  readonly service: string
  /** base path of the target URL, prepended to proxied paths ('' for none) */
  readonly basePath: string
  weight: number
  readonly pool: UpstreamPool
  /** health checks get a connection of their own, so a saturated pool cannot fail them */
  #healthPool: UpstreamPool | null = null
  readonly breaker: CircuitBreaker
  /** active health verdict; true when checks are off */
  healthy = true
  inFlight = 0
  #healthOk = 0
  #healthFail = 0
  #healthTimer: NodeJS.Timeout | null = null
  #healthKey = ''
  #healthRunning = false
  #bucketStartMs = 0
  #cur = 0
  #curErr = 0
  #prev = 0
  #prevErr = 0
  /** how many route tables use this target; released pools close when it reaches 0 */
  refs = 0
  /** told when the active health verdict flips, with the last check's status (0: no answer) */
  onHealthChange: HealthChangeListener | null = null

  constructor(service: string, url: string, weight: number, cfg: ServiceConfig) {
    const u = new URL(url)
    this.url = url
    this.service = service
    this.origin = u.origin
    this.basePath = u.pathname === '/' ? '' : u.pathname.replace(/\/$/, '')
    this.weight = weight
    this.pool = new UpstreamPool(this.origin, {
      connections: cfg.connectionsPerTarget,
      keepAliveTimeoutMs: cfg.keepAliveTimeoutMs,
      connectTimeoutMs: cfg.socketConnectTimeoutMs,
    })
    this.breaker = new CircuitBreaker(cfg.breaker)
  }

  /** True when the target may take traffic now (healthy and breaker not open). */
  available(nowMs: number): boolean {
    return this.healthy && this.breaker.available(nowMs)
  }

  /** Counts one finished attempt for the recent error rate. */
  count(nowMs: number, failed: boolean): void {
    if (nowMs - this.#bucketStartMs >= RECENT_WINDOW_MS) {
      const stale = nowMs - this.#bucketStartMs >= 2 * RECENT_WINDOW_MS
      this.#prev = stale ? 0 : this.#cur
      this.#prevErr = stale ? 0 : this.#curErr
      this.#cur = 0
      this.#curErr = 0
      this.#bucketStartMs = nowMs
    }
    this.#cur++
    if (failed) this.#curErr++
  }

  view(nowMs: number): TargetView {
    const fresh = nowMs - this.#bucketStartMs < 2 * RECENT_WINDOW_MS
    const n = fresh ? this.#cur + this.#prev : 0
    const e = fresh ? this.#curErr + this.#prevErr : 0
    const b = this.breaker
    const state = b.state === 'open' && nowMs >= b.openUntilMs ? 'half-open' : b.state
    return {
      url: this.url,
      healthy: this.healthy,
      breaker: state,
      ejectedUntilMs: b.state === 'open' ? b.openUntilMs : null,
      inFlight: this.inFlight,
      recentErrorRate: n === 0 ? 0 : e / n,
      recentRequests: n,
    }
  }

  /** (Re)starts or stops active health checks to match the service config. */
  configureHealth(cfg: ServiceConfig): void {
    const hc = cfg.healthCheck
    const key = hc === undefined ? '' : JSON.stringify(hc)
    if (key === this.#healthKey) return
    this.#healthKey = key
    this.stopHealth()
    if (hc === undefined) {
      this.healthy = true
      return
    }
    this.#healthOk = 0
    this.#healthFail = 0
    this.#healthTimer = setInterval(() => void this.#check(hc), hc.intervalMs)
    this.#healthTimer.unref()
    void this.#check(hc)
  }

  stopHealth(): void {
    if (this.#healthTimer !== null) clearInterval(this.#healthTimer)
    this.#healthTimer = null
  }

  async #check(hc: NonNullable<ServiceConfig['healthCheck']>): Promise<void> {
    if (this.#healthRunning) return
    this.#healthRunning = true
    this.#healthPool ??= new UpstreamPool(this.origin, {
      connections: 1,
      keepAliveTimeoutMs: Math.max(hc.intervalMs * 2, 1000),
      connectTimeoutMs: hc.timeoutMs,
    })
    let status: number
    try {
      status = await probe(this.#healthPool, this.basePath + hc.path, hc.timeoutMs)
    } finally {
      this.#healthRunning = false
    }
    if (this.#healthTimer === null) return
    if (status >= 200 && status < 300) {
      this.#healthFail = 0
      this.#healthOk++
      if (!this.healthy && this.#healthOk >= hc.healthyThreshold) {
        this.healthy = true
        this.onHealthChange?.(this, true, status)
      }
      if (this.healthy && this.breaker.state !== 'closed') this.breaker.forceClose(Date.now())
    } else {
      this.#healthOk = 0
      this.#healthFail++
      if (this.healthy && this.#healthFail >= hc.unhealthyThreshold) {
        this.healthy = false
        this.onHealthChange?.(this, false, status)
      }
    }
  }

  async close(graceful: boolean): Promise<void> {
    this.stopHealth()
    const health = this.#healthPool
    this.#healthPool = null
    await Promise.all([graceful ? this.pool.close() : this.pool.destroy(), health?.destroy()])
  }
}

/** One health-check GET: its status once the body is read, 0 when it fails or takes over `timeoutMs`. */
function probe(pool: UpstreamPool, path: string, timeoutMs: number): Promise<number> {
  return new Promise((resolve) => {
    let status = 0
    let abort: ((err?: Error) => void) | null = null
    const timer = setTimeout(() => {
      if (abort !== null) abort()
      else resolve(0)
    }, timeoutMs)
    const handler: UpstreamHandler = {
      onConnect(a) {
        abort = a
      },
      onHeaders(s) {
        status = s
        return true
      },
      onData: () => true,
      onComplete() {
        clearTimeout(timer)
        resolve(status)
      },
      onError() {
        clearTimeout(timer)
        resolve(0)
      },
    }
    pool.dispatch(
      {
        method: 'GET',
        path,
        headers: [],
        body: null,
        bodyLength: 0,
        headersTimeoutMs: timeoutMs,
        bodyTimeoutMs: timeoutMs,
      },
      handler,
    )
  })
}
