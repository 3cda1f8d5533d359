/**
 * @module Notifications a sink never took, kept until it does: once a dispatcher has spent its
 * retries (or dropped one: queue full, shut down), the newest notification of each alert for
 * that sink is held (saved through the injected store, so a restart keeps it) and sent again
 * when the sink answers: right after a later delivery to it, else at start and at a slow retry
 * (default every 5 min), for up to `maxAgeMs` (default 24 h). One held notification is sent at a time, oldest
 * first, each only once the one before it was delivered.
 *
 * A notification never goes out after a newer one of the same alert: holding one replaces the
 * older one held for that sink (a `firing` then its `resolved`: only the `resolved` is kept), and
 * a newer one delivered drops it. Alertmanager and a webhook receiver both take the newest state
 * of an alert as its state, so the older one would only undo it.
 *
 * ```
 * dispatcher gave up ─▶ hold(sink, rec, n) ─▶ [held: sink × alert, newest only] ─▶ save
 * delivered to sink ─▶ drop the older ones of what it delivered ─▶ send the oldest held ─┐
 * every retryEveryMs ─▶ expire past maxAgeMs ─▶ send the oldest held                     │
 *                       delivered: settle the action again, save, send the next one ◀───┘
 * ```
 */
import type { ActionRecord } from '../store/index.js'
import type { DeliveryOutcome, SinkDispatcher } from './dispatcher.js'
import type { Alert, Notification } from './types.js'

/** A notification held for one sink, as saved. */
export interface HeldNotification {
  sink: string
  /** the notification's action (its `after` is the alert as it was sent) */
  rec: ActionRecord
  event: Notification['event']
  /** when it was first sent (the notification's time) */
  atMs: number
  /** when the sink was given up on */
  heldAtMs: number
  /** every sink's outcome so far: the action is settled again with them once this sink takes it */
  outcomes: DeliveryOutcome[]
  /** re-sends that failed */
  tries: number
}

export interface HeldStore {
  load(): Promise<HeldNotification[]>
  /** upserts, or with data null deletes, by key (throws when this process may not write: fenced) */
  save(entries: { key: string; data: HeldNotification | null }[]): Promise<void>
}

export interface UndeliveredOptions {
  dispatchers: readonly SinkDispatcher[]
  store?: HeldStore | null
  /** settles the notification's action again with its sinks' outcomes */
  settle(rec: ActionRecord, outcomes: readonly DeliveryOutcome[]): Promise<void>
  /** the alerts whose held notifications changed (their `notified.undelivered` is to be saved) */
  onChange?(fingerprint: string): void
  onWarn?(message: string): void
  now?: () => number
  /** default 5 min */
  retryEveryMs?: number
  /** default 24 h */
  maxAgeMs?: number
  /** held per sink at most (the oldest goes first); default 1,000 */
  maxPerSink?: number
}

const keyOf = (sink: string, fingerprint: string) => JSON.stringify([sink, fingerprint])
const fingerprintOf = (h: HeldNotification) => (h.rec.after as Alert).fingerprint

/** The notification a held one is sent as: its id, so a receiver that saw it already can tell. */
export function heldNotification(h: HeldNotification, fencingToken: number | null): Notification {
  const a = h.rec.after as Alert
  return {
    id: h.rec.id,
    event: h.event,
    alert: a,
    group: `${a.series.service}|${a.series.env}`,
    fencingToken,
    atMs: h.atMs,
  }
}

export class UndeliveredNotifications {
  readonly #o: UndeliveredOptions
  readonly #held = new Map<string, HeldNotification>()
  /** sinks with a held notification in flight */
  readonly #sending = new Set<string>()
  #timer: NodeJS.Timeout | null = null
  /** for /metrics: held now is `count()`; these only grow */
  readonly stats = { redelivered: 0, superseded: 0, expired: 0 }
  /** the sinks now: a reload replaces them */
  #dispatchers: readonly SinkDispatcher[]

  constructor(opts: UndeliveredOptions) {
    this.#o = opts
    this.#dispatchers = opts.dispatchers
  }

  /**
   * A reload changed the sinks: a kept or changed sink gets what is held for it through its new
   * dispatcher; what is held for a removed one has nowhere to go, so it is given up (logged).
   */
  setDispatchers(dispatchers: readonly SinkDispatcher[]): void {
    this.#dispatchers = dispatchers
    this.#forgetRemovedSinks()
  }

  #forgetRemovedSinks(): void {
    const names = new Set(this.#dispatchers.map((d) => d.sink.name))
    const gone: { key: string; data: null }[] = []
    for (const [key, h] of this.#held)
      if (!names.has(h.sink)) {
        this.#drop(key, 'given up: its sink was removed from the config')
        gone.push({ key, data: null })
      }
    if (gone.length > 0) this.#save(gone)
  }

  #now(): number {
    return (this.#o.now ?? Date.now)()
  }

  /** Loads what a previous process held and starts the slow retry. */
  async start(): Promise<void> {
    try {
      for (const h of (await this.#o.store?.load()) ?? []) {
        this.#held.set(keyOf(h.sink, fingerprintOf(h)), h)
        this.#o.onChange?.(fingerprintOf(h))
      }
    } catch (err) {
      this.#o.onWarn?.(`undelivered alert notifications not restored: ${(err as Error).message}`)
    }
    this.#forgetRemovedSinks()
    this.#timer = setInterval(() => this.retry(), this.#o.retryEveryMs ?? 300_000)
    this.#timer.unref()
    // what a previous process held may have waited long already: try at once
    this.retry()
  }

  close(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  /** Held notifications, per sink when asked. */
  count(sink?: string): number {
    let n = 0
    for (const h of this.#held.values()) if (sink === undefined || h.sink === sink) n++
    return n
  }

  /** What is held for an alert: the sinks, the event and since when. */
  forAlert(fingerprint: string): { sink: string; event: Notification['event']; sinceMs: number }[] {
    return [...this.#held.values()]
      .filter((h) => fingerprintOf(h) === fingerprint)
      .map((h) => ({ sink: h.sink, event: h.event, sinceMs: h.heldAtMs }))
  }

  /** A sink gave up on `n`: hold it, unless a newer notification of its alert is held already. */
  hold(sink: string, rec: ActionRecord, n: Notification, outcomes: readonly DeliveryOutcome[]): void {
    // a sink a reload removed reports what it could not deliver before closing: nowhere to re-send it
    if (!this.#dispatchers.some((d) => d.sink.name === sink)) return
    const key = keyOf(sink, n.alert.fingerprint)
    const had = this.#held.get(key)
    if (had !== undefined && had.atMs > n.atMs) return
    if (had !== undefined) this.stats.superseded++
    const h: HeldNotification = {
      sink,
      rec: { ...rec, after: n.alert },
      event: n.event,
      atMs: n.atMs,
      heldAtMs: this.#now(),
      outcomes: [...outcomes],
      tries: 0,
    }
    this.#held.delete(key)
    this.#held.set(key, h)
    const changes: { key: string; data: HeldNotification | null }[] = [{ key, data: h }]
    const max = this.#o.maxPerSink ?? 1_000
    if (this.count(sink) > max) {
      const oldest = [...this.#held.entries()].find(([, x]) => x.sink === sink)!
      this.#drop(oldest[0], `more than ${max} held for sink ${sink}: the oldest is given up`)
      changes.push({ key: oldest[0], data: null })
    }
    this.#save(changes)
    this.#o.onChange?.(n.alert.fingerprint)
  }

  /** A sink took `batch`: the older notifications held of its alerts are superseded; send the next held. */
  delivered(sink: string, batch: readonly Notification[]): void {
    const gone: { key: string; data: null }[] = []
    for (const n of batch) {
      const key = keyOf(sink, n.alert.fingerprint)
      const h = this.#held.get(key)
      // one in flight was queued before `n`, so the sink gets it first: in order
      if (h === undefined || h.atMs > n.atMs) continue
      this.#held.delete(key)
      this.stats.superseded++
      gone.push({ key, data: null })
      this.#o.onChange?.(n.alert.fingerprint)
    }
    if (gone.length > 0) this.#save(gone)
    this.#sendNext(sink)
  }

  /** The slow retry: gives up what is past `maxAgeMs`, then sends the oldest held of each sink. */
  retry(): void {
    const maxAgeMs = this.#o.maxAgeMs ?? 86_400_000
    const now = this.#now()
    const gone: { key: string; data: null }[] = []
    for (const [key, h] of this.#held)
      if (now - h.heldAtMs > maxAgeMs) {
        this.#drop(key, `held longer than ${Math.round(maxAgeMs / 60_000)} min: given up`)
        gone.push({ key, data: null })
      }
    if (gone.length > 0) this.#save(gone)
    for (const d of this.#dispatchers) this.#sendNext(d.sink.name)
  }

  #drop(key: string, why: string): void {
    const h = this.#held.get(key)
    if (h === undefined) return
    this.#held.delete(key)
    this.stats.expired++
    this.#o.onWarn?.(
      `alert sink ${h.sink}: ${h.event} notification of ${h.rec.policy} ${h.rec.target} ${why}`,
    )
    this.#o.onChange?.(fingerprintOf(h))
  }

  #sendNext(sink: string): void {
    const d = this.#dispatchers.find((x) => x.sink.name === sink)
    if (d === undefined || this.#sending.has(sink)) return
    let key: string | null = null
    let first: HeldNotification | null = null
    for (const [k, x] of this.#held)
      if (x.sink === sink && (first === null || x.atMs < first.atMs)) [key, first] = [k, x]
    if (key === null || first === null) return
    const [k, h] = [key, first]
    this.#sending.add(sink)
    d.enqueue([heldNotification(h, h.rec.fencingToken)], (o) => {
      this.#sending.delete(sink)
      if (o.status !== 'delivered') {
        h.tries++
        return
      }
      this.stats.redelivered++
      if (this.#held.get(k) === h) {
        this.#held.delete(k)
        this.#save([{ key: k, data: null }])
        this.#o.onChange?.(fingerprintOf(h))
      }
      const outcomes = h.outcomes.map((x) =>
        x.sink === sink ? { ...o, heldMs: this.#now() - h.heldAtMs } : x,
      )
      // the same action held for another sink goes out with this sink's delivery in its outcomes
      for (const other of this.#held.values())
        if (other.rec.id === h.rec.id) other.outcomes = other.outcomes.map((x) => (x.sink === sink ? o : x))
      void this.#o.settle(h.rec, outcomes)
      this.#sendNext(sink)
    })
  }

  #save(entries: { key: string; data: HeldNotification | null }[]): void {
    this.#o.store
      ?.save(entries)
      .catch((err: Error) =>
        this.#o.onWarn?.(`undelivered alert notifications not saved (kept in memory): ${err.message}`),
      )
  }
}
