/**
 * @module The control loop, first slice: consume rollups and spans from the bus, merge each
 * series' window across gateways after a grace period, write it (ack only after the commit),
 * keep recent history in memory per series, and call `onWindowClosed` hooks, where detectors and
 * forecasters plug in later.
 *
 * ```
 * bus ─▶ pending[windowStart][rollupId] ──(windowEnd + grace)──▶ store.writeWindow ─▶ ack
 *            │ window already written: late batch (next tick) ──────▲ (a correction)
 *            ▼
 *   merged points ─▶ ring per series ─▶ hooks(series, point, { correction })
 * ```
 *
 * Delivery is at least once, and the store upserts on rollup identity, so a redelivery (after a
 * crash, or a nak on a failed write) never double counts.
 *
 * Held messages are kept alive rather than covered by a long ack wait: the consumers' ack wait is
 * short (10 s) and every message still held is told `working()` once a third of it has passed
 * since the bus last heard of it (half of it at most), so the rollups a killed leader held come
 * back to its successor within 10 s of the kill, not after the longest window plus its grace.
 *
 * A successor does not write any window before those come back: the rollups consumer reports
 * what it inherited (`DurableSubscription.inherited`), and until every inherited message was
 * handed over (or the ack wait passed) windows only accumulate. Then the due ones are written
 * oldest first, so the dead leader's windows reach the detectors as windows, in order, and not
 * as late corrections of the newer windows that arrived first.
 */
import type { Bus, BusMessage, Subscription } from '../bus/index.js'
import { VGL_ERR_CONTROL_DECODE, VGL_ERR_CONTROL_SERIES_NOT_FOUND, type VigilError } from '../errors.js'
import { seriesId } from '../store/internal.js'
import type { Resolution, RetentionMs, SeriesInfo, Store, StoredPoint } from '../store/index.js'
import { decodeRollup, decodeSpans } from '../telemetry/codec.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import type { Rollup, SpanRecord } from '../telemetry/types.js'
import { resample, toSeriesPoint, type SeriesPoint } from './points.js'
import { HeldMessages, whenInherited, type InheritedStats } from './held.js'
import { RedeliveryDelay } from './redelivery.js'
import { Ring } from './ring.js'
import { formatSeriesKey, parseSeriesKey, seriesLevel } from './series-key.js'

export interface WindowClosedContext {
  /** true when this point replaces one already delivered (a late rollup landed), or is older than one */
  correction: boolean
  /** the point's merged latency sketch (serialized DDSketch), for hooks that merge latencies */
  latencySketch?: Uint8Array
}

/**
 * Sits between the span consumer and the store (the journeys' tail sampling): takes every span
 * as it arrives and hands back, at each tick, the spans to store. Span messages are acknowledged
 * only after `holdMs`, once their spans were decided and written.
 */
export interface SpanStage {
  readonly holdMs: number
  /**
   * when the oldest trace not yet decided began arriving (+Infinity: none): a message that came
   * before it holds no span of an undecided trace; one after it waits, however long its hold
   */
  undecidedSinceMs?(): number
  add(spans: readonly SpanRecord[], nowMs: number): void
  /** the spans to write now */
  take(nowMs: number): SpanRecord[]
  /** decides everything held, now (graceful stop): the spans to write */
  drain(): SpanRecord[]
}

/** Called once per series per closed window, after the write committed. Must not throw. */
export type WindowHook = (series: SeriesKey, point: SeriesPoint, ctx: WindowClosedContext) => void

/**
 * Called at every loop step, after the windows due were handed to the window hooks: every window
 * ending at or before `closedUpToMs` has closed (a series with none there had no traffic).
 */
export type TickHook = (closedUpToMs: number) => void

export interface ControlPlaneOptions {
  store: Store
  bus: Bus
  subjects: { rollups: string; spans: string }
  /** durable consumer name prefix; rollups and spans get `<durable>-rollups` / `-spans` */
  durable?: string
  graceMs?: number
  historyPoints?: number
  maxInFlight?: number
  retention: RetentionMs
  /** ms since epoch; tests pass a fake clock */
  now?: () => number
  /** loop period; default 1000 ms */
  tickMs?: number
  /**
   * ack wait of the rollup and span consumers (default max(10 s, 6 × tickMs)): how long the bus
   * waits before a dead control plane's held messages go to its successor
   */
  ackWaitMs?: number
  downsampleEveryMs?: number
  pruneEveryMs?: number
  /** tail sampling of spans before the store (journeys); absent: every span is stored */
  spanStage?: SpanStage
  onError?: (err: Error, what: string) => void
  /** the rollups a previous consumer left unacked came back (or the wait ended): see `stats.inherited` */
  onInherited?: (x: ControlPlaneStats['inherited']) => void
}

export interface SeriesSummary {
  key: string
  series: SeriesKey
  level: 'route' | 'service' | 'global'
  firstSeenMs: number
  lastSeenMs: number
  /** the newest merged point in memory, if any */
  last: SeriesPoint | null
}

/** What the series API asks; implemented by ControlPlane and by the embedded worker's client. */
export interface SeriesSource {
  listSeries(): Promise<SeriesSummary[]>
  points(key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]>
}

interface Pending {
  rollup: Rollup
  msgs: BusMessage[]
}

const SPAN_BATCH = 5_000

export interface ControlPlaneStats {
  rollups: number
  windowsWritten: number
  corrections: number
  spans: number
  writeErrors: number
  decodeErrors: number
  /**
   * the rollups the previous consumer left unacked (`held`), how many never came back
   * (`missing`: they arrive later as corrections) and how long windows were held for them
   */
  inherited: InheritedStats
}

export class ControlPlane implements SeriesSource {
  readonly #o: Required<Omit<ControlPlaneOptions, 'onError' | 'spanStage' | 'onInherited'>> &
    Pick<ControlPlaneOptions, 'onError' | 'spanStage' | 'onInherited'>
  readonly #pending = new Map<number, Map<string, Pending>>()
  #late = new Map<string, Pending>()
  /** window starts already written once; a rollup for them is a correction */
  readonly #written = new Set<number>()
  readonly #rings = new Map<string, Ring<SeriesPoint>>()
  readonly #keys = new Map<string, SeriesKey>()
  /** the newest stored window of series this process has no ring for (see #storedLast) */
  readonly #storedLasts = new Map<
    string,
    { lastSeenMs: number; readAtMs: number; point: SeriesPoint | null }
  >()
  readonly #hooks: WindowHook[] = []
  readonly #tickHooks: TickHook[] = []
  #spans: SpanRecord[] = []
  #spanMsgs: BusMessage[] = []
  /** arrival time of each of #spanMsgs (with a span stage: acked after its hold) */
  #spanMsgAt: number[] = []
  #subs: Subscription[] = []
  #timer: NodeJS.Timeout | null = null
  /** every rollup and span message held unacked (set in the constructor: it needs the ack wait) */
  readonly #held: HeldMessages
  #keepTimer: NodeJS.Timeout | null = null
  /** until the rollups a previous consumer left unacked came back: no window is written */
  #inheriting = false
  /** the end of the windows closed so far (what the tick hooks were last told) */
  #closedUpTo = -Infinity
  /** window starts whose write failed and whose redelivered rollups were not written yet */
  readonly #unwritten = new Set<number>()
  #busy: Promise<void> = Promise.resolve()
  #lastDownsample = 0
  #lastPrune = 0
  #stopped = false
  /**
   * While the store fails, nothing is acked: the bus keeps the messages and redelivers them later
   * (RedeliveryDelay), so the messages held stay bounded by `maxInFlight`; the first write after
   * the store is back rewrites each (series, window) exactly.
   */
  readonly #redelivery: RedeliveryDelay
  /** counters for tests and /metrics */
  readonly stats: ControlPlaneStats = {
    rollups: 0,
    windowsWritten: 0,
    corrections: 0,
    spans: 0,
    writeErrors: 0,
    decodeErrors: 0,
    inherited: { held: 0, missing: 0, waitedMs: 0 },
  }

  constructor(opts: ControlPlaneOptions) {
    this.#o = {
      durable: 'vigil-control',
      graceMs: 5_000,
      historyPoints: 360,
      maxInFlight: 100_000,
      now: Date.now,
      tickMs: 1_000,
      downsampleEveryMs: 30_000,
      pruneEveryMs: 600_000,
      ...opts,
      // Short enough that a successor sees a dead leader's windows within seconds; long enough
      // that the keep-alive (every message touched at most ackWait/2 apart, see HeldMessages.keep) rides
      // out an event loop stalled for seconds, and at least 2 ticks between touches.
      ackWaitMs: opts.ackWaitMs ?? Math.max(10_000, 6 * (opts.tickMs ?? 1_000)),
    }
    this.#redelivery = new RedeliveryDelay(this.#o.now)
    this.#held = new HeldMessages(this.#o.ackWaitMs)
  }

  /** Registers a hook called per series per closed window (detectors, forecasters). */
  onWindowClosed(hook: WindowHook): void {
    this.#hooks.push(hook)
  }

  /** Registers a hook called at every loop step with the end of the closed windows (staleness). */
  onTick(hook: TickHook): void {
    this.#tickHooks.push(hook)
  }

  /** Subscribes to the bus and starts the loop timer. */
  async start(): Promise<void> {
    // Rollups are held unacked until their window is written and span messages for the span
    // stage's hold, both far longer than the ack wait: HeldMessages.keep keeps them alive meanwhile.
    const ackWaitMs = this.#o.ackWaitMs
    this.#inheriting = true
    const subscribedAt = Date.now()
    const rollups = await this.#o.bus.subscribe(this.#o.subjects.rollups, (m) => this.#onRollupMsg(m), {
      durable: `${this.#o.durable}-rollups`,
      maxInFlight: this.#o.maxInFlight,
      ackWaitMs,
    })
    whenInherited(
      rollups,
      ackWaitMs,
      subscribedAt,
      () => (this.#inheriting = false),
      (x) => {
        this.stats.inherited = x
        if (x.held > 0) this.#o.onInherited?.(x)
      },
    )
    this.#subs.push(
      rollups,
      await this.#o.bus.subscribe(this.#o.subjects.spans, (m) => this.#onSpanMsg(m), {
        durable: `${this.#o.durable}-spans`,
        // a span stage holds messages for its hold: enough in flight to keep up meanwhile
        maxInFlight: this.#o.spanStage === undefined ? 1_000 : 20_000,
        ackWaitMs,
      }),
    )
    this.#timer = setInterval(() => void this.tick(), this.#o.tickMs)
    this.#timer.unref()
    // its own timer, outside the serial store work: a slow write must not let the messages it
    // is writing (or the windows waiting behind it) time out and come back as duplicates
    this.#keepTimer = setInterval(() => this.#held.keep(), this.#o.ackWaitMs / 6)
    this.#keepTimer.unref()
  }

  #onRollupMsg(m: BusMessage): void {
    let r: Rollup
    try {
      r = decodeRollup(m.data)
    } catch (err) {
      this.stats.decodeErrors++
      this.#o.onError?.(VGL_ERR_CONTROL_DECODE('rollup', (err as Error).message), 'decode')
      m.ack() // a message that can never decode must not block the stream
      return
    }
    this.ingest(r, m)
  }

  #onSpanMsg(m: BusMessage): void {
    try {
      const spans = decodeSpans(m.data)
      const stage = this.#o.spanStage
      if (stage !== undefined) stage.add(spans, this.#o.now())
      else for (const s of spans) this.#spans.push(s)
      this.#spanMsgs.push(m)
      this.#spanMsgAt.push(this.#o.now())
      this.#held.hold(m)
    } catch (err) {
      this.stats.decodeErrors++
      this.#o.onError?.(VGL_ERR_CONTROL_DECODE('span batch', (err as Error).message), 'decode')
      m.ack()
      return
    }
    if (this.#spans.length >= SPAN_BATCH) void this.#serial(() => this.#flushSpans())
  }

  /** Takes one rollup (with the bus message to ack once it is stored; tests may pass none). */
  ingest(r: Rollup, msg?: BusMessage): void {
    this.stats.rollups++
    const id = `${r.gatewayId}\u0000${seriesId(r.series)}`
    const target = this.#written.has(r.windowStartMs) ? this.#late : this.#windowOf(r.windowStartMs)
    const key = target === this.#late ? `${id}\u0000${r.windowStartMs}` : id
    const prev = target.get(key)
    if (msg !== undefined) this.#held.hold(msg)
    if (prev === undefined) target.set(key, { rollup: r, msgs: msg === undefined ? [] : [msg] })
    else {
      prev.rollup = r
      if (msg !== undefined) prev.msgs.push(msg)
    }
  }

  #windowOf(start: number): Map<string, Pending> {
    let w = this.#pending.get(start)
    if (w === undefined) {
      w = new Map()
      this.#pending.set(start, w)
    }
    return w
  }

  /** Runs one loop step at `nowMs`: writes due windows and late rollups, downsamples, prunes. */
  tick(nowMs = this.#o.now()): Promise<void> {
    return this.#serial(async () => {
      // nothing closes while inherited windows may still come: a series waiting for its windows
      // must not look silent to the tick hooks either
      if (!this.#inheriting) {
        await this.#writeDue(nowMs)
        this.#closedUpTo = Math.max(this.#closedUpTo, nowMs - this.#o.graceMs)
      }
      for (const hook of this.#inheriting ? [] : this.#tickHooks) {
        try {
          hook(nowMs - this.#o.graceMs)
        } catch (err) {
          this.#o.onError?.(err as Error, 'onTick hook')
        }
      }
      await this.#flushSpans()
      this.#forgetOldWindows(nowMs)
      if (nowMs - this.#lastDownsample >= this.#o.downsampleEveryMs) {
        this.#lastDownsample = nowMs
        await this.#o.store
          .downsample(nowMs, this.#o.graceMs)
          .catch((err: Error) => this.#o.onError?.(err, 'downsample'))
      }
      if (nowMs - this.#lastPrune >= this.#o.pruneEveryMs) {
        this.#lastPrune = nowMs
        await this.#o.store
          .prune(nowMs, this.#o.retention)
          .catch((err: Error) => this.#o.onError?.(err, 'prune'))
      }
    })
  }

  async #writeDue(nowMs: number): Promise<void> {
    const due = [...this.#pending.entries()]
      .filter(([start, w]) => start + this.#windowMsOf(w) + this.#o.graceMs <= nowMs)
      .sort((a, b) => a[0] - b[0])
    for (const [start, w] of due) {
      this.#pending.delete(start)
      // a window whose write failed is not written: its redelivered rollups come back as the
      // window itself (seen by the detectors), not as a correction of it
      if (await this.#write([...w.values()], false)) {
        this.#written.add(start)
        this.#unwritten.delete(start)
      } else this.#unwritten.add(start)
    }
    if (this.#late.size > 0) {
      const late = [...this.#late.values()]
      this.#late = new Map()
      await this.#write(late, true)
    }
  }

  /** Writes every pending window and span now, whatever the grace period (graceful stop). */
  flushAll(): Promise<void> {
    return this.#serial(async () => {
      await this.#writeDue(Number.MAX_SAFE_INTEGER / 2)
      await this.#flushSpans(true)
    })
  }

  #windowMsOf(w: Map<string, Pending>): number {
    for (const p of w.values()) return p.rollup.windowMs
    return 0
  }

  #forgetOldWindows(nowMs: number): void {
    // A window is kept in #written as long as a gateway could still plausibly send it; older
    // rollups (a gateway that was down for an hour) go through the pending path, which is exact too.
    for (const start of this.#written) if (start < nowMs - 3_600_000) this.#written.delete(start)
    for (const start of this.#unwritten) if (start < nowMs - 3_600_000) this.#unwritten.delete(start)
  }

  async #write(items: Pending[], correction: boolean): Promise<boolean> {
    let points: StoredPoint[]
    try {
      points = await this.#o.store.writeWindow(items.map((p) => p.rollup))
    } catch (err) {
      this.stats.writeErrors++
      this.#o.onError?.(err as VigilError, 'writeWindow')
      const delay = this.#redelivery.failed()
      for (const p of items) for (const m of p.msgs) this.#held.nak(m, delay)
      return false
    }
    this.#redelivery.ok()
    for (const p of items) for (const m of p.msgs) this.#held.ack(m)
    if (correction) this.stats.corrections += items.length
    else this.stats.windowsWritten++
    for (const sp of points) this.#remember(sp, correction)
    return true
  }

  #remember(sp: StoredPoint, correction: boolean): void {
    const id = seriesId(sp.series)
    let ring = this.#rings.get(id)
    if (ring === undefined) {
      ring = new Ring(this.#o.historyPoints)
      this.#rings.set(id, ring)
      this.#keys.set(id, sp.series)
    }
    const point = toSeriesPoint(sp)
    const replaced = ring.values().some((p) => p.startMs === sp.startMs)
    // older than the newest point: a window redelivered late (after a failover, its first
    // delivery died with the old leader); detectors and rules must not see time go backwards
    const late = (ring.last()?.startMs ?? -Infinity) > sp.startMs
    ring.put(point)
    for (const hook of this.#hooks) {
      try {
        hook(sp.series, point, {
          correction: correction || replaced || late,
          latencySketch: sp.latencySketch,
        })
      } catch (err) {
        this.#o.onError?.(err as Error, 'onWindowClosed hook')
      }
    }
  }

  async #flushSpans(drain = false): Promise<void> {
    const stage = this.#o.spanStage
    const now = this.#o.now()
    let spans = this.#spans
    this.#spans = []
    if (stage !== undefined) spans = spans.concat(stage.take(now), drain ? stage.drain() : [])
    // without a stage every message's spans are in this write; with one, a message is done once
    // its hold is over and no trace that began arriving by then still waits for its spans (its
    // spans were decided, and the kept ones are in this or an earlier write)
    let done = this.#spanMsgs.length
    if (stage !== undefined && !drain) {
      done = 0
      const undecided = stage.undecidedSinceMs?.() ?? Number.POSITIVE_INFINITY
      const at = this.#spanMsgAt
      while (done < at.length && at[done] <= now - stage.holdMs && at[done] < undecided) done++
    }
    const msgs = this.#spanMsgs.slice(0, done)
    if (spans.length === 0) {
      for (const m of msgs) this.#held.ack(m)
      this.#spanMsgs.splice(0, done)
      this.#spanMsgAt.splice(0, done)
      return
    }
    try {
      await this.#o.store.writeSpans(spans)
      this.#redelivery.ok()
      this.stats.spans += spans.length
      for (const m of msgs) this.#held.ack(m)
      this.#spanMsgs.splice(0, done)
      this.#spanMsgAt.splice(0, done)
    } catch (err) {
      this.stats.writeErrors++
      this.#o.onError?.(err as Error, 'writeSpans')
      const delay = this.#redelivery.failed()
      // every held message comes back: the spans of this write may be from any of them
      for (const m of this.#spanMsgs) this.#held.nak(m, delay)
      this.#spanMsgs = []
      this.#spanMsgAt = []
    }
  }

  /** Runs store work one step at a time, so windows are written in order and never concurrently. */
  #serial(fn: () => Promise<void>): Promise<void> {
    const next = this.#busy.then(fn, fn)
    this.#busy = next.catch(() => {})
    return next
  }

  /**
   * Every window ending at or before this has closed, and a series with no point there had no
   * requests in it (-Infinity until windows close: at start, and after a takeover until the
   * rollups the previous leader held came back). A window whose write failed holds it back until
   * its redelivered rollups are written, so it never counts as silent meanwhile. Read it before the
   * series: the windows it covers were written first.
   */
  closedUpToMs(): number {
    let upTo = this.#closedUpTo
    for (const start of this.#unwritten) upTo = Math.min(upTo, start)
    return upTo
  }

  /** Recent points of one series from memory, oldest first. */
  recent(series: SeriesKey): SeriesPoint[] {
    return this.#rings.get(seriesId(series))?.values() ?? []
  }

  async listSeries(): Promise<SeriesSummary[]> {
    const stored: SeriesInfo[] = await this.#o.store.listSeries()
    const byId = new Map(stored.map((s) => [seriesId(s.series), s]))
    for (const [id, key] of this.#keys)
      if (!byId.has(id)) byId.set(id, { series: key, firstSeenMs: 0, lastSeenMs: 0 })
    return Promise.all(
      [...byId.entries()].map(async ([id, s]) => ({
        key: formatSeriesKey(s.series),
        series: s.series,
        level: seriesLevel(s.series),
        firstSeenMs: s.firstSeenMs,
        lastSeenMs: s.lastSeenMs,
        last: this.#rings.get(id)?.last() ?? (await this.#storedLast(id, s)),
      })),
    )
  }

  /**
   * The newest window the store holds for a series this process merged none of: a standby control
   * plane (it consumes nothing), or a new leader before its first windows close. Without it their
   * dashboards read "waiting for the first window" while the leader's shows traffic. Read again
   * when the series gets a newer window, or a window later (a late rollup corrects it in place), so
   * a dashboard's once-a-second feed costs one query per series per window.
   */
  async #storedLast(id: string, s: SeriesInfo): Promise<SeriesPoint | null> {
    if (s.lastSeenMs <= 0) return null
    const now = this.#o.now()
    const cached = this.#storedLasts.get(id)
    if (cached !== undefined && cached.lastSeenMs === s.lastSeenMs && now - cached.readAtMs < 10_000)
      return cached.point
    const [p] = await this.#o.store.queryPoints(s.series, s.lastSeenMs, s.lastSeenMs + 1, 'window')
    const point = p === undefined ? null : toSeriesPoint(p)
    this.#storedLasts.set(id, { lastSeenMs: s.lastSeenMs, readAtMs: now, point })
    return point
  }

  async points(key: string, fromMs: number, toMs: number, stepMs: number): Promise<SeriesPoint[]> {
    const series = parseSeriesKey(key)
    const windows = (toMs - fromMs) / 10_000
    // Merged windows are exact up to the last closed window; the 1 min / 1 h tables lag by
    // their bucket, so they are only used for long ranges where that does not show.
    const resolution: Resolution = windows <= 20_000 ? 'window' : stepMs >= 3_600_000 ? '1h' : '1m'
    const stored = await this.#o.store.queryPoints(series, fromMs, toMs, resolution)
    if (stored.length === 0 && !(await this.#known(series))) throw VGL_ERR_CONTROL_SERIES_NOT_FOUND(key)
    return resample(stored, stepMs).map(toSeriesPoint)
  }

  async #known(series: SeriesKey): Promise<boolean> {
    if (this.#keys.has(seriesId(series))) return true
    const id = seriesId(series)
    return (await this.#o.store.listSeries()).some((s) => seriesId(s.series) === id)
  }

  /** Stops consuming, writes what is pending (graceful stop) and closes subscriptions. */
  async stop(opts: { flush?: boolean } = {}): Promise<void> {
    if (this.#stopped) return
    this.#stopped = true
    if (this.#timer !== null) clearInterval(this.#timer)
    for (const s of this.#subs) await s.close().catch(() => {})
    this.#subs = []
    // the held messages stay alive through the last writes; what is left after them goes back
    // to the bus when its ack wait ends
    if (opts.flush !== false) await this.flushAll()
    else await this.#busy
    if (this.#keepTimer !== null) clearInterval(this.#keepTimer)
    this.#keepTimer = null
    this.#held.clear()
  }
}
