/**
 * @module Per-client windows on the bus. Each gateway publishes every completed window of its
 * limiter's per-client statistics (the heaviest clients, space-saving top-K) once; the control
 * plane merges the windows of all gateways and looks for abusive clients (src/detect
 * ClientOutliers). One small JSON message per gateway per window (default one a minute), never one
 * per request.
 *
 * ```
 * Limiter.clientStats() ─ poll ─▶ completed window? ─▶ bus `vigil.clients` (msgId gateway:window)
 * ```
 */
import type { Bus } from '../bus/bus.js'
import { VGL_ERR_TELEMETRY_DECODE } from '../errors.js'
import type { ClientStatsSnapshot, ClientWindowStats } from './stats.js'

/** One client of one gateway's window. */
export interface ClientWindowRow {
  clientId: string
  tier: string
  /** decisions (admitted or refused) for the client in the window */
  requests: number
  /** 5xx and 429 responses among the admitted */
  errors: number
  /** requests the limiter refused (absent from messages of older gateways: 0) */
  refused?: number
  /**
   * What the client did itself (absent from messages of older gateways, whose `errors` and
   * `refused` are taken instead): refusals by its own configured limit, not by Vigil's tightening
   * (see ClientWindowStats), its 4xx responses other than 429, and its 5xx and 429 responses
   * beyond its peers' on the same routes.
   */
  refusedOwn?: number
  clientErrors?: number
  failedBeyondPeers?: number
  /**
   * admitted requests whose response finished in the window: what `errors`, `meanLatencyMs` and
   * `distinctRoutes` describe (absent from messages of older gateways)
   */
  finished?: number
  meanLatencyMs: number
  distinctRoutes: number
  /** over-estimate bound of `requests` (space-saving top-K; absent from older gateways: 0) */
  overcount?: number
  /** tokens left / burst at the client's last decision on this gateway, 0..1 (absent from older gateways) */
  bucketFill?: number
}

export interface ClientWindowMessage {
  v: 1
  gatewayId: string
  windowStartMs: number
  windowMs: number
  clients: ClientWindowRow[]
}

const enc = new TextEncoder()
const dec = new TextDecoder()

export function encodeClientWindow(m: ClientWindowMessage): Uint8Array {
  return enc.encode(JSON.stringify(m))
}

function fail(what: string): never {
  throw VGL_ERR_TELEMETRY_DECODE('client window', what)
}

const nonNegative = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0

/** Decodes and validates a client window message; a malformed one throws naming the field. */
export function decodeClientWindow(data: Uint8Array): ClientWindowMessage {
  let m: unknown
  try {
    m = JSON.parse(dec.decode(data))
  } catch {
    fail('not JSON')
  }
  const o = m as Partial<ClientWindowMessage> | null
  if (o === null || typeof o !== 'object') fail('not an object')
  if (o.v !== 1) fail(`unknown version ${String(o.v)} (expected 1)`)
  if (typeof o.gatewayId !== 'string' || o.gatewayId === '') fail('gatewayId must be a non-empty string')
  if (!nonNegative(o.windowStartMs)) fail('windowStartMs must be a number ≥ 0')
  if (!nonNegative(o.windowMs) || o.windowMs === 0) fail('windowMs must be a number > 0')
  if (!Array.isArray(o.clients)) fail('clients must be an array')
  o.clients.forEach((c, i) => {
    if (typeof c?.clientId !== 'string' || c.clientId === '')
      fail(`clients[${i}].clientId must be a non-empty string`)
    if (typeof c.tier !== 'string') fail(`clients[${i}].tier must be a string`)
    for (const k of ['requests', 'errors', 'meanLatencyMs', 'distinctRoutes'] as const)
      if (!nonNegative(c[k])) fail(`clients[${i}].${k} must be a number ≥ 0`)
    if (c.refused !== undefined && !nonNegative(c.refused)) fail(`clients[${i}].refused must be a number ≥ 0`)
    for (const k of ['finished', 'refusedOwn', 'clientErrors', 'failedBeyondPeers', 'overcount'] as const)
      if (c[k] !== undefined && !nonNegative(c[k])) fail(`clients[${i}].${k} must be a number ≥ 0`)
    if (c.bucketFill !== undefined && !(nonNegative(c.bucketFill) && c.bucketFill <= 1))
      fail(`clients[${i}].bucketFill must be a number in [0, 1]`)
  })
  return o as ClientWindowMessage
}

/** The message for a limiter window. */
export function clientWindowMessage(gatewayId: string, w: ClientStatsSnapshot): ClientWindowMessage {
  return {
    v: 1,
    gatewayId,
    windowStartMs: w.windowStartMs,
    windowMs: w.windowMs,
    clients: w.clients.map((c) => ({
      clientId: c.clientId,
      tier: c.tier,
      requests: c.requests,
      errors: c.errors,
      refused: c.refused,
      refusedOwn: c.refusedOwn,
      clientErrors: c.clientErrors,
      failedBeyondPeers: c.failedBeyondPeers,
      finished: c.finished,
      meanLatencyMs: c.meanLatencyMs,
      distinctRoutes: c.distinctRoutes,
      overcount: c.overcount,
      bucketFill: c.bucketFill,
    })),
  }
}

/** A window of every gateway's limiter, merged (the control plane's view of the heaviest clients). */
export interface MergedClientStats extends ClientStatsSnapshot {
  /** the gateways whose window was merged */
  gateways: number
}

/**
 * The gateways' rows of one window as one limiter window, as a single limiter would have counted
 * it, for the control plane's Rate limits page and `GET /api/limits/clients`: counts add up, the
 * mean latency is weighted by finished responses, distinct routes is the largest gateway's (the
 * route sets are not shipped) and the bucket fill the lowest any gateway saw (the gateways share
 * one bucket; the emptiest reading is the one that throttles). Heaviest first.
 */
export function mergeClientStats(msgs: readonly ClientWindowMessage[]): ClientWindowStats[] {
  const by = new Map<string, ClientWindowStats & { latencyWeighted: number }>()
  for (const m of msgs)
    for (const c of m.clients) {
      const e = by.get(c.clientId) ?? {
        clientId: c.clientId,
        tier: c.tier,
        requests: 0,
        overcount: 0,
        errors: 0,
        refused: 0,
        refusedOwn: 0,
        clientErrors: 0,
        failedBeyondPeers: 0,
        finished: 0,
        errorRate: 0,
        meanLatencyMs: 0,
        distinctRoutes: 0,
        bucketFill: 1,
        latencyWeighted: 0,
      }
      // an older gateway without `finished` counted its responses as its decisions
      const finished = c.finished ?? c.requests
      e.requests += c.requests
      e.overcount += c.overcount ?? 0
      e.errors += c.errors
      e.refused += c.refused ?? 0
      e.refusedOwn += c.refusedOwn ?? 0
      e.clientErrors += c.clientErrors ?? 0
      e.failedBeyondPeers += c.failedBeyondPeers ?? 0
      e.finished += finished
      e.latencyWeighted += c.meanLatencyMs * finished
      e.distinctRoutes = Math.max(e.distinctRoutes, c.distinctRoutes)
      e.bucketFill = Math.min(e.bucketFill, c.bucketFill ?? 1)
      by.set(c.clientId, e)
    }
  return [...by.values()]
    .map(({ latencyWeighted, ...e }) => ({
      ...e,
      errorRate: e.finished > 0 ? e.errors / e.finished : 0,
      meanLatencyMs: e.finished > 0 ? latencyWeighted / e.finished : 0,
    }))
    .sort((a, b) => b.requests - a.requests)
}

export interface ClientWindowPublisherOptions {
  /** the limiter's statistics (`Limiter.clientStats`) */
  source: () => { last: ClientStatsSnapshot; current: ClientStatsSnapshot }
  bus: Bus
  subject: string
  gatewayId: string
  /**
   * how often to look for a completed window; default 5 s. The limiter keeps only the last
   * completed window, so this must be shorter than its window (the runtime uses a quarter of it).
   */
  pollMs?: number
  onWarn?: (err: Error) => void
}

/**
 * Publishes each completed client window once (its msgId, `gatewayId:windowStartMs`, lets the bus
 * drop a repeat). The window being filled is never published: a window cut short would read as a
 * quiet minute. So at shutdown at most the current window's statistics are not sent.
 */
export class ClientWindowPublisher {
  readonly #o: Required<Omit<ClientWindowPublisherOptions, 'onWarn'>> &
    Pick<ClientWindowPublisherOptions, 'onWarn'>
  #published = -1
  #timer: NodeJS.Timeout | null = null
  readonly stats = { published: 0, errors: 0 }

  constructor(opts: ClientWindowPublisherOptions) {
    this.#o = { pollMs: 5_000, ...opts }
  }

  start(): this {
    this.#timer ??= setInterval(() => void this.poll(), this.#o.pollMs)
    this.#timer.unref()
    return this
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** Publishes the last completed window if it is new; resolves to whether it published. */
  async poll(): Promise<boolean> {
    const { last, current } = this.#o.source()
    // before the first window completes, `last` is the window being filled
    if (last.windowStartMs >= current.windowStartMs || last.windowStartMs <= this.#published) return false
    this.#published = last.windowStartMs
    const m = clientWindowMessage(this.#o.gatewayId, last)
    try {
      await this.#o.bus.publish(this.#o.subject, encodeClientWindow(m), {
        msgId: `${m.gatewayId}:${m.windowStartMs}`,
      })
      this.stats.published++
      return true
    } catch (err) {
      this.stats.errors++
      this.#o.onWarn?.(err as Error)
      return false
    }
  }
}
