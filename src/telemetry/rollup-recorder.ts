/**
 * @module RollupRecorder: the gateway's telemetry capture. Per series `{service, route, env}` and
 * per aligned window it keeps counters and a DDSketch of the latency of the requests sent to an
 * upstream (`sentUpstream`); at each window boundary it
 * turns every live series into one `Rollup`, queues it and publishes it to the bus. Gateway spans
 * are tail-sampled (span-sampler.ts) and published in batches.
 *
 * Shape after OpenTelemetry's BatchSpanProcessor (sdk-trace `BatchSpanProcessorBase.ts`): the
 * timer is `unref`ed, the queue is bounded (drop, count and warn once when full), one flush is
 * in flight at a time, a failing bus costs a counter and never a slow request, and `close()` is
 * idempotent and flushes the current, partial window.
 *
 * Hot path: a `SeriesRecorder` handle caches its window's accumulator and checks one epoch
 * number per request; the only map lookup happens once per series per window.
 *
 * ```
 *  record(ev) ──▶ handle.acc (this window) ──┐   every windowMs (aligned, unref'd timer)
 *                                            ├──▶ rotate: swap accs → queue ──▶ flush: encode in chunks ──▶ bus
 *  kept span ──▶ span buffer (bounded) ──────┘                       (one in flight, yields between chunks)
 * ```
 */
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { Bus } from '../bus/bus.js'
import { SUBJECT_ROLLUPS, SUBJECT_SPANS } from '../bus/bus.js'
import {
  VGL_ERR_BUS_PUBLISH,
  VGL_ERR_TELEMETRY_DROPPED,
  VGL_ERR_TELEMETRY_SERIES_CAP,
  type VigilError,
} from '../errors.js'
import { encodeRollup, encodeSpans, rollupId } from './codec.js'
import { droppedTotal, liveSeries, publishedTotal, seriesOverflowTotal, spansKeptTotal } from './metrics.js'
import {
  sentUpstream,
  type Recorder,
  type RequestEvent,
  type SeriesKey,
  type SeriesRecorder,
} from './recorder.js'
import { createLatencySketch, encodeSketch, type DDSketch } from './sketch.js'
import { gatewaySpan, sampleReason, traceRatio, type SampleReason } from './span-sampler.js'
import type { Rollup, SpanRecord } from './types.js'

/** What the recorder needs of a bus: only publishing. */
export type Publisher = Pick<Bus, 'publish'>

export interface RollupRecorderOptions {
  bus: Publisher
  /** identity in every rollup; generated (host-pid-random) when omitted */
  gatewayId?: string
  windowMs?: number
  maxSeries?: number
  /** closed series windows waiting for the bus (about 1-2 KB each) */
  maxQueueSize?: number
  spans?: { sampleRate?: number; maxQueueSize?: number; maxBatchSize?: number }
  /** rollups published concurrently during a flush */
  publishConcurrency?: number
  /**
   * how long a rollup the bus refused is kept and retried (at each window boundary) before it is
   * dropped; default 5 minutes, inside NATS's default duplicate window (10 minutes), so a retry of
   * a publish that did reach the stream is still recognised by its msgId; 0 drops at once
   */
  retryForMs?: number
  rollupSubject?: string
  spanSubject?: string
  /** called once per kind of trouble (drops, series cap); defaults to process.emitWarning */
  onWarn?: (err: VigilError) => void
  now?: () => number
  /** the sampling draw of a trace in [0, 1); default traceRatio (the control plane applies the same rule) */
  random?: (traceId: string) => number
}

/** Counters of one recorder (the Prometheus metrics add up all recorders of the process). */
export interface RecorderStats {
  windowsClosed: number
  rollupsPublished: number
  /** rollups the bus refused and that were queued again for the next flush */
  rollupsRetried: number
  rollupsDropped: number
  spansKept: number
  spansPublished: number
  spansDropped: number
  seriesOverflowed: number
  queued: number
}

/** The series that takes the traffic of series beyond `maxSeries` in a window. */
export const OVERFLOW_SERIES: SeriesKey = Object.freeze({
  service: '_overflow',
  route: '_overflow',
  env: '_overflow',
})

/** Generates a gateway id unique per process: `host-pid-random`. */
export function generateGatewayId(): string {
  const host = hostname()
    .replace(/[^A-Za-z0-9_.-]/g, '_')
    .slice(0, 40)
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`
}

/** One series' counters for the current window. */
class SeriesWindow {
  count = 0
  c1 = 0
  c2 = 0
  c3 = 0
  c4 = 0
  c5 = 0
  limited = 0
  refused = 0
  refused5xx = 0
  timeouts = 0
  connectErrors = 0
  bytesIn = 0
  bytesOut = 0
  readonly sketch: DDSketch = createLatencySketch()
  constructor(
    readonly key: SeriesKey,
    readonly keyStr: string,
    /** the series' p99 of the previous window: slower requests keep their span */
    readonly slowMs: number,
  ) {}

  toRollup(gatewayId: string, windowStartMs: number, windowMs: number): Rollup {
    return {
      gatewayId,
      series: { service: this.key.service, route: this.key.route, env: this.key.env },
      windowStartMs,
      windowMs,
      count: this.count,
      statusClass: [this.c1, this.c2, this.c3, this.c4, this.c5],
      limited: this.limited,
      refused: this.refused,
      refused5xx: this.refused5xx,
      timeouts: this.timeouts,
      connectErrors: this.connectErrors,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      latencySketch: encodeSketch(this.sketch),
    }
  }
}

/** A closed window of one series, encoded only when its flush chunk comes up. */
interface Queued {
  acc: SeriesWindow
  windowStartMs: number
  /** the window's p99 per series, filled as its rollups are encoded */
  p99: Map<string, number>
  /** the window's last rollup: its p99 map becomes the slow threshold */
  last: boolean
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Shared state the handles read on the hot path (plain fields: faster than #private across classes). */
class Core {
  epoch = 0
  live = new Map<string, SeriesWindow>()
  p99 = new Map<string, number>()
  overflow: SeriesWindow | null = null
  spansOn: boolean
  sampleRate: number
  spanBuf: SpanRecord[] = []
  constructor(
    readonly owner: RollupRecorder,
    readonly maxSeries: number,
    sampleRate: number,
    readonly random: (traceId: string) => number,
  ) {
    this.sampleRate = sampleRate
    this.spansOn = true
  }

  acquire(key: SeriesKey, keyStr: string): SeriesWindow {
    let acc = this.live.get(keyStr)
    if (acc !== undefined) return acc
    if (this.live.size >= this.maxSeries) {
      this.owner._overflowed()
      if (this.overflow === null) this.overflow = new SeriesWindow(OVERFLOW_SERIES, '', Infinity)
      return this.overflow
    }
    acc = new SeriesWindow(key, keyStr, this.p99.get(keyStr) ?? Infinity)
    this.live.set(keyStr, acc)
    return acc
  }
}

class SeriesHandle implements SeriesRecorder {
  readonly #core: Core
  readonly #key: SeriesKey
  readonly #keyStr: string
  #epoch = -1
  #acc: SeriesWindow | null = null

  constructor(core: Core, key: SeriesKey) {
    this.#core = core
    this.#key = { service: key.service, route: key.route, env: key.env }
    this.#keyStr = `${key.service}\u0000${key.route}\u0000${key.env}`
  }

  record(ev: RequestEvent): void {
    const core = this.#core
    let a = this.#acc
    if (this.#epoch !== core.epoch || a === null) {
      a = this.#acc = core.acquire(this.#key, this.#keyStr)
      this.#epoch = core.epoch
    }
    a.count++
    const st = ev.status
    if (st >= 500) a.c5++
    else if (st >= 400) {
      a.c4++
      if (st === 429) a.limited++
    } else if (st >= 300) a.c3++
    else if (st >= 200) a.c2++
    else if (st >= 100) a.c1++
    const out = ev.outcome
    if (out !== 'ok') {
      if (out === 'timeout') a.timeouts++
      else if (out === 'connect_error') a.connectErrors++
      else if (out === 'limited' && st !== 429) a.limited++
    }
    a.bytesIn += ev.bytesIn
    a.bytesOut += ev.bytesOut
    if (sentUpstream(ev)) {
      const lat = ev.latencyMs
      a.sketch.accept(lat > 0 ? lat : 0)
    } else {
      a.refused++
      if (st >= 500) a.refused5xx++
    }
    if (core.spansOn) {
      const reason = sampleReason(
        ev,
        a.slowMs,
        core.sampleRate,
        core.sampleRate > 0 ? core.random(ev.traceId) : 1,
      )
      if (reason !== null) core.owner._keepSpan(this.#key, ev, reason)
    }
  }
}

export class RollupRecorder implements Recorder {
  readonly gatewayId: string
  readonly windowMs: number
  readonly #core: Core
  readonly #bus: Publisher
  readonly #maxQueue: number
  readonly #maxSpanQueue: number
  readonly #maxSpanBatch: number
  readonly #concurrency: number
  readonly #rollupSubject: string
  readonly #spanSubject: string
  readonly #onWarn: (err: VigilError) => void
  readonly #now: () => number
  #queue: Queued[] = []
  #windowStartMs: number
  #timer: NodeJS.Timeout | null = null
  #flushing: Promise<void> | null = null
  #flushAgain = false
  readonly #retryForMs: number
  #closed: Promise<void> | null = null
  #warned = new Set<string>()
  #stats: RecorderStats = {
    windowsClosed: 0,
    rollupsPublished: 0,
    rollupsRetried: 0,
    rollupsDropped: 0,
    spansKept: 0,
    spansPublished: 0,
    spansDropped: 0,
    seriesOverflowed: 0,
    queued: 0,
  }
  readonly #keptBy = {
    error: spansKeptTotal.labels('error'),
    abandoned: spansKeptTotal.labels('abandoned'),
    slow: spansKeptTotal.labels('slow'),
    sampled: spansKeptTotal.labels('sampled'),
  }

  constructor(opts: RollupRecorderOptions) {
    this.#bus = opts.bus
    this.gatewayId = opts.gatewayId ?? generateGatewayId()
    this.windowMs = opts.windowMs ?? 10_000
    this.#maxQueue = opts.maxQueueSize ?? 20_000
    this.#maxSpanQueue = opts.spans?.maxQueueSize ?? 4096
    this.#maxSpanBatch = Math.min(opts.spans?.maxBatchSize ?? 512, this.#maxSpanQueue)
    this.#concurrency = opts.publishConcurrency ?? 256
    this.#retryForMs = opts.retryForMs ?? 300_000
    this.#rollupSubject = opts.rollupSubject ?? SUBJECT_ROLLUPS
    this.#spanSubject = opts.spanSubject ?? SUBJECT_SPANS
    this.#onWarn =
      opts.onWarn ?? ((err) => process.emitWarning(err.message, { code: err.code, type: 'VigilWarning' }))
    this.#now = opts.now ?? (() => Date.now())
    this.#core = new Core(
      this,
      opts.maxSeries ?? 10_000,
      opts.spans?.sampleRate ?? 0.01,
      opts.random ?? traceRatio,
    )
    this.#windowStartMs = this.#align(this.#now())
    this.#schedule()
  }

  /** Resolve once per route; the handle is cheap and safe to keep for the recorder's life. */
  series(key: SeriesKey): SeriesRecorder {
    return new SeriesHandle(this.#core, key)
  }

  stats(): Readonly<RecorderStats> {
    return { ...this.#stats, queued: this.#queue.length }
  }

  /** start of the window currently being filled */
  get windowStartMs(): number {
    return this.#windowStartMs
  }

  #align(t: number): number {
    return t - (t % this.windowMs)
  }

  #schedule(): void {
    const delay = Math.max(0, this.#windowStartMs + this.windowMs - this.#now())
    this.#timer = setTimeout(() => {
      this.#timer = null
      this.#rotate()
      void this.flush()
      this.#schedule()
    }, delay)
    this.#timer.unref()
  }

  /** Closes the current window: one rollup per live series goes to the queue. */
  #rotate(): void {
    const core = this.#core
    const windowStartMs = this.#windowStartMs
    const live = core.live
    const overflow = core.overflow
    core.live = new Map()
    core.overflow = null
    core.epoch++
    // The boundary timer can fire while the clock still reads up to a millisecond before the
    // boundary (libuv's loop time runs ahead of Date.now()), and a clock can step back: the next
    // window always starts at least one window later, so a window id is never published twice.
    this.#windowStartMs = Math.max(this.#align(this.#now()), windowStartMs + this.windowMs)
    const p99 = new Map<string, number>()
    let lastQ: Queued | null = null
    for (const acc of live.values()) {
      if (acc.count === 0) continue
      this.#enqueue((lastQ = { acc, windowStartMs, p99, last: false }))
    }
    if (overflow !== null && overflow.count > 0)
      this.#enqueue((lastQ = { acc: overflow, windowStartMs, p99, last: false }))
    if (lastQ !== null) lastQ.last = true
    else core.p99 = p99
    liveSeries.set(live.size)
    this.#stats.windowsClosed++
  }

  #enqueue(q: Queued): void {
    if (this.#queue.length >= this.#maxQueue) {
      this.#drop('rollups', 'queue_full', 1)
      return
    }
    this.#queue.push(q)
  }

  #drop(kind: 'rollups' | 'spans', reason: 'queue_full' | 'bus_error', n: number, cause?: string): void {
    if (n <= 0) return
    droppedTotal.labels(kind, reason).inc(n)
    if (kind === 'rollups') this.#stats.rollupsDropped += n
    else this.#stats.spansDropped += n
    this.#warnOnce(
      `${kind}:${reason}`,
      VGL_ERR_TELEMETRY_DROPPED(
        n,
        kind,
        reason === 'queue_full' ? 'the send queue is full' : `the bus failed (${cause ?? 'unknown'})`,
        'vigil_telemetry_dropped_total',
      ),
    )
  }

  #warnOnce(key: string, err: VigilError): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    try {
      this.#onWarn(err)
    } catch {
      // a warning sink must never break telemetry
    }
  }

  /** @internal called by a handle when its series does not fit under maxSeries */
  _overflowed(): void {
    this.#stats.seriesOverflowed++
    seriesOverflowTotal.inc()
    this.#warnOnce(
      'series_cap',
      VGL_ERR_TELEMETRY_SERIES_CAP(this.#core.maxSeries, 'vigil_telemetry_series_overflow_total'),
    )
  }

  /** @internal called by a handle when the sampler keeps a span */
  _keepSpan(key: SeriesKey, ev: RequestEvent, reason: SampleReason): void {
    const buf = this.#core.spanBuf
    if (buf.length >= this.#maxSpanQueue) {
      this.#drop('spans', 'queue_full', 1)
      return
    }
    buf.push(gatewaySpan(key, ev, reason, this.gatewayId, this.#core.sampleRate))
    this.#stats.spansKept++
    this.#keptBy[reason].inc()
    if (buf.length === this.#maxSpanBatch) void this.flush()
  }

  /**
   * Publishes what is queued. One flush runs at a time; a call during a flush makes that flush
   * go round once more. Never rejects.
   */
  flush(): Promise<void> {
    if (this.#flushing !== null) {
      this.#flushAgain = true
      return this.#flushing
    }
    this.#flushing = (async () => {
      do {
        this.#flushAgain = false
        // a bus that refused rollups is tried again at the next window boundary, not in a loop
        if (!(await this.#publishRollups())) break
        await this.#publishSpans()
      } while (this.#flushAgain || this.#queue.length > 0)
    })().finally(() => {
      this.#flushing = null
    })
    return this.#flushing
  }

  /** Publishes the queue; false when the bus refused some (they are queued again or dropped). */
  async #publishRollups(): Promise<boolean> {
    const batch = this.#queue
    this.#queue = []
    for (let i = 0; i < batch.length; i += this.#concurrency) {
      // encoding 10k series takes a while: let requests in between chunks
      if (i > 0) await yieldToEventLoop()
      const chunk = batch.slice(i, i + this.#concurrency)
      const results = await Promise.allSettled(
        chunk.map((q) => {
          const r = q.acc.toRollup(this.gatewayId, q.windowStartMs, this.windowMs)
          if (q.acc.keyStr !== '') q.p99.set(q.acc.keyStr, q.acc.sketch.getValueAtQuantile(0.99))
          if (q.last) this.#core.p99 = q.p99
          return this.#bus.publish(this.#rollupSubject, encodeRollup(r), { msgId: rollupId(r) })
        }),
      )
      const refused: Queued[] = []
      let cause: string | undefined
      results.forEach((r, j) => {
        if (r.status === 'rejected') {
          refused.push(chunk[j])
          cause ??= (r.reason as Error)?.message
        }
      })
      this.#stats.rollupsPublished += chunk.length - refused.length
      publishedTotal.labels('rollups').inc(chunk.length - refused.length)
      if (refused.length > 0) {
        // the bus is down or slow: stop here rather than wait out a timeout per chunk, and keep
        // the refused and the untried for the next flush
        this.#requeue(refused.concat(batch.slice(i + chunk.length)), cause)
        // said once per outage, when it starts: a drop is told only after retryForMs (minutes)
        this.#warnOnce(
          'rollups:refused',
          VGL_ERR_BUS_PUBLISH(
            this.#rollupSubject,
            // the NATS bus's own error already says which publish failed
            `${cause?.replace(/^publish to \S+ failed: /, '') ?? 'unknown'}; the rollups are kept and sent again at each window boundary for up to ${Math.round(this.#retryForMs / 1000)} s, then dropped`,
          ),
        )
        return false
      }
    }
    if (batch.length > 0) this.#warned.delete('rollups:refused')
    return true
  }

  /**
   * Puts rollups the bus refused back at the head of the queue. A publish that timed out may
   * still have reached the stream; its retry carries the same msgId, so the bus stores it once.
   * Rollups older than `retryForMs`, and any beyond the queue's bound (oldest first), are dropped.
   */
  #requeue(items: Queued[], cause: string | undefined): void {
    const oldest = this.#now() - this.#retryForMs
    const keep = items.filter((q) => q.windowStartMs + this.windowMs > oldest)
    this.#drop('rollups', 'bus_error', items.length - keep.length, cause)
    const all = keep.concat(this.#queue)
    const over = all.length - this.#maxQueue
    if (over > 0) this.#drop('rollups', 'queue_full', over)
    this.#queue = over > 0 ? all.slice(over) : all
    this.#stats.rollupsRetried += keep.length - Math.min(Math.max(over, 0), keep.length)
  }

  async #publishSpans(): Promise<void> {
    const buf = this.#core.spanBuf
    if (buf.length === 0) return
    this.#core.spanBuf = []
    for (let i = 0; i < buf.length; i += this.#maxSpanBatch) {
      const batch = buf.slice(i, i + this.#maxSpanBatch)
      try {
        await this.#bus.publish(this.#spanSubject, encodeSpans(batch))
        this.#stats.spansPublished += batch.length
        publishedTotal.labels('spans').inc(batch.length)
      } catch (err) {
        this.#drop('spans', 'bus_error', buf.length - i, (err as Error).message)
        return
      }
    }
  }

  /** Flushes the current (partial) window and everything queued; idempotent. Leaves the bus open. */
  close(): Promise<void> {
    if (this.#closed !== null) return this.#closed
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#core.spansOn = false
    this.#rotate()
    this.#closed = (async () => {
      await this.flush()
      // one more try for what the bus refused (a publish that timed out on a loaded machine), then
      // whatever is left is dropped and counted: shutdown must end
      if (this.#queue.length > 0) await this.flush()
      if (this.#queue.length > 0) {
        this.#drop('rollups', 'bus_error', this.#queue.length, 'still refused at shutdown')
        this.#queue = []
      }
    })()
    return this.#closed
  }
}
