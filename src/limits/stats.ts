/**
 * @module Per-client statistics for abuse detection, for the heaviest clients only: a space-saving
 * top-K (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and Top-k Elements in
 * Data Streams", ICDT 2005). K counters in a min-heap; a new client takes over the smallest counter and inherits
 * its count as an over-estimate bound, so any client with more than N/K requests is guaranteed to
 * be tracked. Windows are tumbling; the last complete one is what the control plane reads.
 */

export interface ClientWindowStats {
  clientId: string
  tier: string
  /** estimated requests in the window (an over-estimate by at most `overcount`) */
  requests: number
  overcount: number
  errors: number
  /** requests the limiter refused (429 before proxying; not among `errors`, which are responses) */
  refused: number
  /**
   * the refusals by the client's own limit, as configured (its tier or key): not those of
   * Vigil's own tightening (defensive mode, a runtime multiplier below 1 such as an adaptive or
   * abusive-client limit, a service's capacity budget, the local share while Redis is away)
   */
  refusedOwn: number
  /** 4xx responses other than 429 (bad requests, failed authentication, unknown paths): the client's own */
  clientErrors: number
  /**
   * 5xx and 429 responses beyond what the client's peers on the same routes got in the window: a
   * failing upstream fails every client of its routes alike, which is nobody's doing (a route no
   * other client used tells nothing, so its failures are not counted)
   */
  failedBeyondPeers: number
  /**
   * admitted requests whose response finished in this window, whatever window they were decided
   * in: `errors`, `meanLatencyMs` and `distinctRoutes` describe these responses
   */
  finished: number
  /** errors / observed responses (5xx and 429 count as errors) */
  errorRate: number
  meanLatencyMs: number
  /** distinct routes seen (capped at `MAX_ROUTES`) */
  distinctRoutes: number
  /** tokens left / burst at the last decision, 0..1 */
  bucketFill: number
}

export interface ClientStatsSnapshot {
  windowStartMs: number
  windowMs: number
  clients: ClientWindowStats[]
}

const MAX_ROUTES = 256

/** Responses on one route in a window, and how many of them failed (5xx or 429). */
interface RouteCounts {
  n: number
  failed: number
}

const isFailure = (status: number) => status >= 500 || status === 429
/** Sampling noise allowed before a client's failures count as beyond its peers' (standard deviations). */
const NOISE_SD = 3

class Entry {
  /** position in the min-heap */
  idx = 0
  requests = 0
  overcount = 0
  refused = 0
  refusedOwn = 0
  observed = 0
  errors = 0
  clientErrors = 0
  latencySumMs = 0
  /** allocated on the first observed response: most evicted entries never need it */
  routes: Map<string, RouteCounts> | null = null
  fill = 1
  tier = ''
  constructor(readonly clientId: string) {}
}

export class ClientStats {
  readonly #k: number
  readonly #windowMs: number
  #entries = new Map<string, Entry>()
  /** the previous window's counters (a response finishing now may have been decided there) */
  #previous = new Map<string, Entry>()
  /** min-heap on `requests`: the root is the counter a new client takes over, in O(log K) */
  #heap: Entry[] = []
  /**
   * every client's responses by route in the window: the peers a client's failures are judged
   * against (route ids are the configured routes', so this stays small)
   */
  #routeTotals = new Map<string, RouteCounts>()
  #windowStart = -1
  #last: ClientStatsSnapshot | null = null

  constructor(k: number, windowMs: number) {
    this.#k = k
    this.#windowMs = windowMs
  }

  /**
   * Counts one decision for a client (admitted or refused) and remembers its bucket fill; `own`:
   * a refusal by the client's own configured limit, not by a tightening of it.
   */
  count(clientId: string, tier: string, fill: number, nowMs: number, refused = false, own = refused): void {
    this.#roll(nowMs)
    const e = this.#entries.get(clientId) ?? this.#track(clientId)
    e.requests++
    if (refused) {
      e.refused++
      if (own) e.refusedOwn++
    }
    e.fill = fill
    e.tier = tier
    this.#down(e.idx)
  }

  /** A counter for a client not tracked in this window: a free one, or the smallest taken over. */
  #track(clientId: string): Entry {
    const e = new Entry(clientId)
    e.tier = this.#previous.get(clientId)?.tier ?? ''
    if (this.#heap.length >= this.#k) {
      const min = this.#heap[0]!
      this.#entries.delete(min.clientId)
      e.requests = min.requests
      e.overcount = min.requests
      e.idx = 0
      this.#heap[0] = e
    } else {
      e.idx = this.#heap.length
      this.#heap.push(e)
      this.#up(e.idx)
    }
    this.#entries.set(clientId, e)
    return e
  }

  #swap(i: number, j: number): void {
    const h = this.#heap
    const a = h[i]!
    const b = h[j]!
    h[i] = b
    h[j] = a
    b.idx = i
    a.idx = j
  }

  #up(i: number): void {
    const h = this.#heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (h[parent]!.requests <= h[i]!.requests) return
      this.#swap(i, parent)
      i = parent
    }
  }

  // A count only grows, so an entry only ever moves down.
  #down(i: number): void {
    const h = this.#heap
    const n = h.length
    for (;;) {
      const l = 2 * i + 1
      if (l >= n) return
      const r = l + 1
      const c = r < n && h[r]!.requests < h[l]!.requests ? r : l
      if (h[i]!.requests <= h[c]!.requests) return
      this.#swap(i, c)
      i = c
    }
  }

  /**
   * Records a finished response in the window it finishes in. A client that made no decision in
   * this window yet (its request was decided in an earlier one: slow responses, a loaded machine)
   * is tracked from here, as a new client would be: dropping the response would leave a window
   * with its requests and none of their routes, latency or errors, and the next window with
   * neither.
   */
  observe(clientId: string, routeId: string, status: number, latencyMs: number, nowMs: number): void {
    this.#roll(nowMs)
    const e = this.#entries.get(clientId) ?? this.#track(clientId)
    e.observed++
    const failed = isFailure(status)
    if (failed) e.errors++
    else if (status >= 400) e.clientErrors++
    e.latencySumMs += latencyMs
    e.routes ??= new Map()
    let own = e.routes.get(routeId)
    if (own === undefined && e.routes.size < MAX_ROUTES) {
      own = { n: 0, failed: 0 }
      e.routes.set(routeId, own)
    }
    let all = this.#routeTotals.get(routeId)
    if (all === undefined) {
      all = { n: 0, failed: 0 }
      this.#routeTotals.set(routeId, all)
    }
    all.n++
    if (own !== undefined) own.n++
    if (failed) {
      all.failed++
      if (own !== undefined) own.failed++
    }
  }

  /**
   * The client's failures beyond its peers': on each route, those above what the other clients'
   * failure ratio on that route would give its responses, less three standard deviations of
   * sampling noise (a route nobody else used: none). Without the noise allowance, a client
   * carrying most of a failing route's traffic showed a few failures "beyond" its peers by chance
   * (8.6 of 98 in one window of an 80% outage), enough to flag it against its clean habits.
   */
  #failedBeyondPeers(e: Entry): number {
    let out = 0
    if (e.routes === null) return 0
    for (const [routeId, own] of e.routes) {
      if (own.failed === 0) continue
      const all = this.#routeTotals.get(routeId)!
      const peers = all.n - own.n
      if (peers <= 0) continue
      const peerFailed = all.failed - own.failed
      // the variance of the client's count less its expectation from the peers' ratio, which is
      // itself estimated from `peers` responses (Jeffreys-smoothed, so it is never zero)
      const q = (peerFailed + 0.5) / (peers + 1)
      const sd = Math.sqrt(own.n * q * (1 - q) * (1 + own.n / peers))
      out += Math.max(0, own.failed - (own.n * peerFailed) / peers - NOISE_SD * sd)
    }
    return Math.round(out * 1000) / 1000
  }

  /** the last complete window, or the current one when none has completed yet */
  snapshot(nowMs: number): ClientStatsSnapshot {
    this.#roll(nowMs)
    return this.#last ?? this.#build()
  }

  /** the window being filled now */
  current(nowMs: number): ClientStatsSnapshot {
    this.#roll(nowMs)
    return this.#build()
  }

  #build(): ClientStatsSnapshot {
    const clients: ClientWindowStats[] = []
    for (const e of this.#entries.values()) {
      clients.push({
        clientId: e.clientId,
        tier: e.tier,
        requests: e.requests,
        overcount: e.overcount,
        errors: e.errors,
        refused: e.refused,
        refusedOwn: e.refusedOwn,
        clientErrors: e.clientErrors,
        failedBeyondPeers: this.#failedBeyondPeers(e),
        finished: e.observed,
        errorRate: e.observed === 0 ? 0 : e.errors / e.observed,
        meanLatencyMs: e.observed === 0 ? 0 : e.latencySumMs / e.observed,
        distinctRoutes: e.routes?.size ?? 0,
        bucketFill: e.fill,
      })
    }
    clients.sort((a, b) => b.requests - a.requests)
    return { windowStartMs: this.#windowStart, windowMs: this.#windowMs, clients }
  }

  #roll(nowMs: number): void {
    if (this.#windowStart < 0) {
      this.#windowStart = nowMs - (nowMs % this.#windowMs)
      return
    }
    if (nowMs < this.#windowStart + this.#windowMs) return
    const elapsedWindows = Math.floor((nowMs - this.#windowStart) / this.#windowMs)
    // A gap of more than one window means the last complete window was empty.
    this.#last =
      elapsedWindows === 1
        ? this.#build()
        : {
            windowStartMs: nowMs - (nowMs % this.#windowMs) - this.#windowMs,
            windowMs: this.#windowMs,
            clients: [],
          }
    this.#previous = elapsedWindows === 1 ? this.#entries : new Map()
    this.#entries = new Map()
    this.#routeTotals = new Map()
    this.#heap = []
    this.#windowStart = nowMs - (nowMs % this.#windowMs)
  }
}
