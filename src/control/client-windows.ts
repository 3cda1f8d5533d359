/**
 * @module The control plane's side of per-client windows: consumes `vigil.clients`, merges the
 * windows of all gateways once the grace period has passed, and hands each merged window to the
 * abusive-client detector (LiveAnomalies.clientWindow).
 *
 * ```
 * bus vigil.clients ─▶ decode ─▶ buffer per window start (one message per gateway, held unacked)
 *                                  └─ tick: window end + grace passed ─▶ merged clients ─▶ onWindow
 *                                                                      └─ ack the window's messages
 * ```
 *
 * Like the rollups (ControlPlane), a message is acked only once its window was handed on, so
 * the windows a killed leader had buffered come back to its successor after the ack wait; and
 * the successor closes no window until they did (`DurableSubscription.inherited`), then closes
 * them oldest first. Acked on arrival, a failover in a window's grace period lost the gateways'
 * messages the dead leader had, and the successor judged that window on the gateways that
 * published after the kill alone: every client's counts a fraction of their usual ones.
 */
import type { Bus, BusMessage, DurableSubscription } from '../bus/index.js'
import type { ClientWindow } from '../detect/index.js'
import {
  decodeClientWindow,
  mergeClientStats,
  type ClientWindowMessage,
  type ClientWindowStats,
} from '../limits/index.js'
import { HeldMessages, whenInherited, type InheritedStats } from './held.js'

export interface MergedClientWindow {
  windowStartMs: number
  windowMs: number
  gateways: number
  clients: ClientWindow[]
  /** the same window as the limiter's statistics (`GET /api/limits/clients`), heaviest first */
  stats: ClientWindowStats[]
}

/**
 * Merges the gateways' windows of one client: counts add up, the mean latency is weighted by
 * responses, distinct routes is the largest gateway's count (a lower bound of the union: the
 * route sets themselves are not shipped). The detector's `requests` are the responses that
 * finished in the window plus the requests the limiter refused: every feature of a row describes
 * the same requests. Its `errors` are what the client did itself: refusals by its own limit, its
 * 4xx answers, and its 5xx and 429 answers beyond its peers' on the same routes; not an upstream
 * that failed every client alike nor the 429s of Vigil's own tightening (defensive mode, adaptive
 * or abusive-client limits), which flagged their victims and kept the tightening on. An older
 * gateway's row, without those counts, gives its error responses and refusals. (Counted when
 * decided, a burst whose responses finish in the next window, as on a loaded machine, showed its
 * requests in one window and their routes, latency and errors in another: a scraper's 40 routes
 * never showed.) A gateway that does not send `finished` is taken by its decisions.
 */
export function mergeClientWindows(msgs: readonly ClientWindowMessage[]): ClientWindow[] {
  const by = new Map<
    string,
    { requests: number; errors: number; responses: number; latencyWeighted: number; routes: number }
  >()
  for (const m of msgs)
    for (const c of m.clients) {
      const e = by.get(c.clientId) ?? {
        requests: 0,
        errors: 0,
        responses: 0,
        latencyWeighted: 0,
        routes: 0,
      }
      const responses = c.finished ?? c.requests
      e.requests += c.finished === undefined ? c.requests : c.finished + (c.refused ?? 0)
      e.errors +=
        c.refusedOwn === undefined
          ? c.errors + (c.refused ?? 0)
          : c.refusedOwn + (c.clientErrors ?? 0) + (c.failedBeyondPeers ?? 0)
      e.responses += responses
      e.latencyWeighted += c.meanLatencyMs * responses
      e.routes = Math.max(e.routes, c.distinctRoutes)
      by.set(c.clientId, e)
    }
  // a client whose requests are all still in flight has nothing in this window to be judged by
  return [...by].flatMap(([clientId, e]) =>
    e.requests === 0
      ? []
      : [
          {
            clientId,
            requests: e.requests,
            errors: e.errors,
            meanLatencyMs: e.responses > 0 ? e.latencyWeighted / e.responses : 0,
            distinctRoutes: e.routes,
          },
        ],
  )
}

export interface ClientWindowsOptions {
  bus: Bus
  subject: string
  /** durable consumer name (the control plane's, with `-clients`) */
  durable: string
  /** how long after a window's end to wait for other gateways; default 5 s */
  graceMs?: number
  /** how often to look for windows to close; default 1 s */
  tickMs?: number
  /** windows kept waiting at most (oldest closed early beyond it); default 8 */
  maxPending?: number
  /**
   * the bus's ack wait for this consumer: how long after a leader's death the windows it held
   * come back to its successor; default 10 s (the rollups' ack wait)
   */
  ackWaitMs?: number
  onWindow: (w: MergedClientWindow) => void
  /** the client windows a previous consumer left unacked came back (or the wait for them ended) */
  onInherited?: (x: InheritedStats) => void
  onError?: (err: Error, what: string) => void
  now?: () => number
}

/**
 * Consumes per-client windows. Each gateway's message is held unacked until its window closed
 * (see the module). A message for a window already closed (a gateway later than the grace
 * period) is dropped and counted; a repeat from the same gateway replaces its earlier copy.
 */
export class ClientWindows {
  readonly #o: Required<Omit<ClientWindowsOptions, 'onError' | 'onInherited'>> &
    Pick<ClientWindowsOptions, 'onError' | 'onInherited'>
  readonly #pending = new Map<number, Map<string, ClientWindowMessage>>()
  /** the bus messages of each pending window, acked when it closes */
  readonly #msgs = new Map<number, BusMessage[]>()
  readonly #held: HeldMessages
  #closedUpTo = -1
  /** until the windows a previous consumer left unacked came back: none is closed */
  #inheriting = false
  #sub: DurableSubscription | null = null
  #timer: NodeJS.Timeout | null = null
  readonly stats = {
    messages: 0,
    windows: 0,
    late: 0,
    decodeErrors: 0,
    /** the messages the previous consumer left unacked, how many never came back, the wait */
    inherited: { held: 0, missing: 0, waitedMs: 0 } as InheritedStats,
  }

  constructor(opts: ClientWindowsOptions) {
    this.#o = { graceMs: 5_000, tickMs: 1_000, maxPending: 8, ackWaitMs: 10_000, now: Date.now, ...opts }
    this.#held = new HeldMessages(this.#o.ackWaitMs)
  }

  async start(): Promise<void> {
    this.#inheriting = true
    const subscribedAt = Date.now()
    const sub = await this.#o.bus.subscribe(this.#o.subject, (m) => this.#onMessage(m), {
      durable: this.#o.durable,
      maxInFlight: 1_000,
      ackWaitMs: this.#o.ackWaitMs,
    })
    this.#sub = sub
    whenInherited(
      sub,
      this.#o.ackWaitMs,
      subscribedAt,
      () => (this.#inheriting = false),
      (x) => {
        this.stats.inherited = x
        if (x.held > 0) this.#o.onInherited?.(x)
      },
    )
    // a window is held for its grace period, which may outlast the ack wait
    this.#timer = setInterval(
      () => {
        this.#held.keep()
        this.tick()
      },
      Math.min(this.#o.tickMs, this.#o.ackWaitMs / 6),
    )
    this.#timer.unref()
  }

  /** Stops consuming; windows still waiting are closed now (their gateways have had their chance). */
  async stop(): Promise<void> {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
    await this.#sub?.close()
    this.#sub = null
    this.#inheriting = false
    this.tick(Number.POSITIVE_INFINITY)
    this.#held.clear()
  }

  #onMessage(m: BusMessage): void {
    let w: ClientWindowMessage
    try {
      w = decodeClientWindow(m.data)
    } catch (err) {
      // a malformed message would fail again on every redelivery: count it and let it go
      this.stats.decodeErrors++
      this.#o.onError?.(err as Error, 'client window')
      m.ack()
      return
    }
    this.add(w, m)
  }

  /**
   * Buffers one gateway's window (also the entry point for tests and in-process use), with the
   * bus message to ack once the window closed.
   */
  add(w: ClientWindowMessage, msg?: BusMessage): void {
    this.stats.messages++
    if (w.windowStartMs <= this.#closedUpTo) {
      this.stats.late++
      msg?.ack()
      return
    }
    let byGateway = this.#pending.get(w.windowStartMs)
    if (byGateway === undefined) {
      byGateway = new Map()
      this.#pending.set(w.windowStartMs, byGateway)
    }
    byGateway.set(w.gatewayId, w)
    if (msg !== undefined) {
      this.#held.hold(msg)
      const msgs = this.#msgs.get(w.windowStartMs)
      if (msgs === undefined) this.#msgs.set(w.windowStartMs, [msg])
      else msgs.push(msg)
    }
    // while inherited windows may still come the wait is bounded by the ack wait, not this
    if (this.#pending.size > this.#o.maxPending && !this.#inheriting)
      this.#close(Math.min(...this.#pending.keys()))
  }

  /**
   * Closes every window whose end plus the grace period has passed, oldest first; none while
   * the windows a previous consumer held may still come back.
   */
  tick(nowMs = this.#o.now()): void {
    if (this.#inheriting) return
    const due = [...this.#pending]
      .filter(([start, gws]) => start + [...gws.values()][0]!.windowMs + this.#o.graceMs <= nowMs)
      .map(([start]) => start)
      .sort((a, b) => a - b)
    for (const start of due) this.#close(start)
  }

  #close(start: number): void {
    const gws = this.#pending.get(start)
    if (gws === undefined) return
    this.#pending.delete(start)
    this.#closedUpTo = Math.max(this.#closedUpTo, start)
    const msgs = [...gws.values()]
    this.stats.windows++
    try {
      this.#o.onWindow({
        windowStartMs: start,
        windowMs: msgs[0]!.windowMs,
        gateways: msgs.length,
        clients: mergeClientWindows(msgs),
        stats: mergeClientStats(msgs),
      })
    } catch (err) {
      // a detector's failure would fail again on redelivery: the window is done either way
      this.#o.onError?.(err as Error, 'client window detection')
    }
    for (const m of this.#msgs.get(start) ?? []) this.#held.ack(m)
    this.#msgs.delete(start)
  }
}
