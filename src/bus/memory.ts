/**
 * @module MemoryBus: the embedded bus. Durable consumers live in the bus, so a subscriber that
 * goes away without acking leaves its messages for the next subscriber of the same durable
 * name, as with JetStream. Messages published to a subject before any durable consumer exists
 * wait in a bounded backlog and go to the first durable that subscribes (the control-plane
 * worker may start after the gateway's first window).
 *
 * Across a worker_thread boundary: the thread that owns the bus calls `bus.serve(port1)`; the
 * other thread uses `MemoryBus.overPort(port2)`, a full `Bus` whose calls travel over the port.
 *
 * ```
 *  main thread                                   worker thread
 *  MemoryBus ── serve(port1) ◀── MessageChannel ──▶ MemoryBus.overPort(port2) ─▶ subscribe(...)
 *     ▲ publish (RollupRecorder, OTLP)
 * ```
 *
 * Nothing here survives the process: on a crash, unacked and undelivered messages are lost.
 */
import type { MessagePort } from 'node:worker_threads'
import { VGL_ERR_BUS_CLOSED } from '../errors.js'
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  INHERIT_SLACK_MS,
  type Bus,
  type BusHandler,
  type BusMessage,
  type DurableSubscription,
  type Inherited,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus.js'
import { InheritWatch } from './inherit.js'

export interface MemoryBusOptions {
  /** messages kept per subject while no durable consumer exists (oldest dropped beyond) */
  maxBacklog?: number
  /**
   * bytes of undelivered messages kept per subject backlog and per durable consumer (default
   * 256 MiB); beyond it the oldest undelivered messages are dropped and counted (`dropped()`).
   * An embedded process must not grow without bound behind a stalled consumer.
   */
  maxQueueBytes?: number
  /** window in which a repeated msgId is dropped (default 2 min) */
  duplicateWindowMs?: number
  now?: () => number
}

interface Entry {
  seq: number
  subject: string
  data: Uint8Array
  deliveries: number
  /** when the current delivery's ack wait ends; 0 while queued */
  deadline: number
  sub: Sub | null
}

class Sub {
  inFlight = 0
  closed = false
  watch: InheritWatch | null = null
  constructor(
    readonly durable: Durable,
    readonly handler: BusHandler,
    readonly maxInFlight: number,
    readonly ackWaitMs: number,
  ) {}
}

class Durable {
  queue: Entry[] = []
  /** bytes of `queue` (undelivered), for the byte cap */
  bytes = 0
  pending = new Map<number, Entry>()
  subs: Sub[] = []
  rr = 0
  constructor(
    readonly name: string,
    readonly subject: string,
  ) {}
}

class Delivery implements BusMessage {
  #bus: MemoryBus
  #entry: Entry
  #done = false
  readonly subject: string
  readonly data: Uint8Array
  readonly deliveryCount: number
  constructor(bus: MemoryBus, entry: Entry) {
    this.#bus = bus
    this.#entry = entry
    this.subject = entry.subject
    this.data = entry.data
    this.deliveryCount = entry.deliveries
  }
  get settled(): boolean {
    return this.#done
  }
  ack(): void {
    if (this.#done) return
    this.#done = true
    this.#bus._settle(this.#entry, this.deliveryCount, true, 0)
  }
  nak(delayMs = 0): void {
    if (this.#done) return
    this.#done = true
    this.#bus._settle(this.#entry, this.deliveryCount, false, delayMs)
  }
  working(): void {
    if (!this.#done) this.#bus._extend(this.#entry, this.deliveryCount)
  }
}

export class MemoryBus implements Bus {
  readonly kind = 'memory' as const
  #durables = new Map<string, Durable[]>()
  #backlog = new Map<string, Entry[]>()
  #backlogBytes = new Map<string, number>()
  #dropped = 0
  readonly #maxQueueBytes: number
  #seen = new Map<string, number>()
  #seq = 0
  #closed = false
  #drainScheduled = false
  #sweep: NodeJS.Timeout | null = null
  readonly #maxBacklog: number
  readonly #dupWindowMs: number
  readonly #now: () => number

  constructor(opts: MemoryBusOptions = {}) {
    this.#maxBacklog = opts.maxBacklog ?? 100_000
    this.#maxQueueBytes = opts.maxQueueBytes ?? 256 * 1024 * 1024
    this.#dupWindowMs = opts.duplicateWindowMs ?? 120_000
    this.#now = opts.now ?? Date.now
  }

  /**
   * A `Bus` that talks over a MessagePort to a MemoryBus that called `serve` on the other end.
   * @example
   * const { port1, port2 } = new MessageChannel()
   * bus.serve(port1)                             // owner thread
   * const remote = MemoryBus.overPort(port2)     // other thread (pass port2 in workerData + transferList)
   */
  static overPort(port: MessagePort): Bus {
    return new PortBus(port)
  }

  async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
    this.publishSync(subject, data, opts?.msgId)
  }

  /** publish without a promise; returns false for a duplicate */
  publishSync(subject: string, data: Uint8Array, msgId?: string): boolean {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`publish to ${subject}`)
    if (msgId !== undefined) {
      const now = this.#now()
      this.#pruneSeen(now)
      if (this.#seen.has(msgId)) return false
      this.#seen.set(msgId, now)
    }
    const durables = this.#durables.get(subject)
    if (durables === undefined || durables.length === 0) {
      let backlog = this.#backlog.get(subject)
      if (backlog === undefined) this.#backlog.set(subject, (backlog = []))
      backlog.push(this.#entry(subject, data))
      let bytes = (this.#backlogBytes.get(subject) ?? 0) + data.byteLength
      while (backlog.length > 1 && (backlog.length > this.#maxBacklog || bytes > this.#maxQueueBytes)) {
        bytes -= backlog.shift()!.data.byteLength
        this.#dropped++
      }
      this.#backlogBytes.set(subject, bytes)
      return true
    }
    for (let i = 0; i < durables.length; i++) {
      // one entry per durable: each consumer acks its own copy
      const d = durables[i]!
      d.queue.push(this.#entry(subject, data))
      d.bytes += data.byteLength
      while (d.queue.length > 1 && d.bytes > this.#maxQueueBytes) {
        d.bytes -= d.queue.shift()!.data.byteLength
        this.#dropped++
      }
    }
    this.#scheduleDrain()
    return true
  }

  #entry(subject: string, data: Uint8Array): Entry {
    return { seq: ++this.#seq, subject, data, deliveries: 0, deadline: 0, sub: null }
  }

  #pruneSeen(now: number): void {
    // Map iterates in insertion order, which is time order here
    for (const [id, t] of this.#seen) {
      if (now - t < this.#dupWindowMs) break
      this.#seen.delete(id)
    }
  }

  async subscribe(
    subject: string,
    handler: BusHandler,
    opts: SubscribeOptions,
  ): Promise<DurableSubscription> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`subscribe to ${subject}`)
    let list = this.#durables.get(subject)
    if (list === undefined) this.#durables.set(subject, (list = []))
    let durable = list.find((d) => d.name === opts.durable)
    if (durable === undefined) {
      durable = new Durable(opts.durable, subject)
      list.push(durable)
      const backlog = this.#backlog.get(subject)
      if (backlog !== undefined) {
        durable.queue.push(...backlog)
        durable.bytes += this.#backlogBytes.get(subject) ?? 0
        this.#backlog.delete(subject)
        this.#backlogBytes.delete(subject)
      }
    }
    const sub = new Sub(
      durable,
      handler,
      opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT,
      opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS,
    )
    // a subscriber that went away left its unacked messages at the head of the queue: they come
    // back at once, ahead of newer ones
    const back = new Set(durable.queue.filter((e) => e.deliveries > 0).map((e) => e.seq))
    sub.watch = new InheritWatch(back.size, (seq) => back.has(seq), sub.ackWaitMs + INHERIT_SLACK_MS)
    durable.subs.push(sub)
    this.#ensureSweep(sub.ackWaitMs)
    this.#scheduleDrain()
    return { close: async () => this.#closeSub(sub), inherited: sub.watch.inherited }
  }

  #closeSub(sub: Sub): void {
    if (sub.closed) return
    sub.closed = true
    sub.watch?.settle()
    const d = sub.durable
    d.subs = d.subs.filter((s) => s !== sub)
    const back: Entry[] = []
    for (const e of d.pending.values()) if (e.sub === sub) back.push(e)
    back.sort((a, b) => a.seq - b.seq)
    for (const e of back) {
      d.pending.delete(e.seq)
      e.sub = null
      e.deadline = 0
    }
    this.#requeue(d, back)
    this.#scheduleDrain()
  }

  #requeue(d: Durable, entries: Entry[]): void {
    d.queue.unshift(...entries)
    for (const e of entries) d.bytes += e.data.byteLength
  }

  /** Messages dropped by the backlog and byte caps since the bus was created. */
  dropped(): number {
    return this.#dropped
  }

  /** @internal called by a delivered message: its ack wait starts over */
  _extend(entry: Entry, deliveryCount: number): void {
    // an expired delivery that already went back to the queue stays there
    if (entry.sub === null || entry.deliveries !== deliveryCount) return
    entry.deadline = this.#now() + entry.sub.ackWaitMs
  }

  /** @internal called by a delivered message */
  _settle(entry: Entry, deliveryCount: number, ack: boolean, delayMs: number): void {
    const sub = entry.sub
    // a late ack of a delivery that already expired and went back to the queue is ignored
    if (sub === null || entry.deliveries !== deliveryCount) return
    const d = sub.durable
    d.pending.delete(entry.seq)
    sub.inFlight--
    entry.sub = null
    entry.deadline = 0
    if (!ack) {
      if (delayMs > 0 && !this.#closed) {
        setTimeout(() => {
          this.#requeue(d, [entry])
          this.#scheduleDrain()
        }, delayMs).unref()
      } else {
        this.#requeue(d, [entry])
      }
    }
    this.#scheduleDrain()
  }

  #scheduleDrain(): void {
    if (this.#drainScheduled || this.#closed) return
    this.#drainScheduled = true
    setImmediate(() => {
      this.#drainScheduled = false
      this.#drain()
    })
  }

  #drain(): void {
    const now = this.#now()
    for (const list of this.#durables.values()) {
      for (const d of list) {
        while (d.queue.length > 0 && d.subs.length > 0) {
          const sub = this.#pick(d)
          if (sub === null) break
          const e = d.queue.shift()!
          d.bytes -= e.data.byteLength
          e.deliveries++
          e.sub = sub
          e.deadline = now + sub.ackWaitMs
          d.pending.set(e.seq, e)
          sub.inFlight++
          this.#deliver(sub, e)
        }
      }
    }
  }

  #pick(d: Durable): Sub | null {
    for (let i = 0; i < d.subs.length; i++) {
      const s = d.subs[(d.rr + i) % d.subs.length]!
      if (s.inFlight < s.maxInFlight) {
        d.rr = (d.rr + i + 1) % d.subs.length
        return s
      }
    }
    return null
  }

  #deliver(sub: Sub, e: Entry): void {
    const msg = new Delivery(this, e)
    try {
      const r = sub.handler(msg)
      if (r instanceof Promise) r.catch(() => msg.nak())
    } catch {
      msg.nak()
    }
    sub.watch?.handed(e.seq)
  }

  #ensureSweep(ackWaitMs: number): void {
    if (this.#sweep !== null) return
    const every = Math.max(50, Math.min(1000, Math.floor(ackWaitMs / 4)))
    this.#sweep = setInterval(() => this.#expire(), every)
    this.#sweep.unref()
  }

  #expire(): void {
    const now = this.#now()
    for (const list of this.#durables.values()) {
      for (const d of list) {
        const back: Entry[] = []
        for (const e of d.pending.values()) if (e.deadline <= now) back.push(e)
        if (back.length === 0) continue
        back.sort((a, b) => a.seq - b.seq)
        for (const e of back) {
          d.pending.delete(e.seq)
          e.sub!.inFlight--
          e.sub = null
          e.deadline = 0
        }
        this.#requeue(d, back)
        this.#scheduleDrain()
      }
    }
  }

  /** Messages queued or unacked for a durable consumer (for metrics and tests). */
  depth(subject: string, durable: string): number {
    const d = this.#durables.get(subject)?.find((x) => x.name === durable)
    if (d === undefined) return this.#backlog.get(subject)?.length ?? 0
    return d.queue.length + d.pending.size
  }

  /**
   * Serves this bus to a `MemoryBus.overPort` client on the other end of `port`. Returns a
   * function that stops serving (its subscriptions close, unacked messages are kept).
   */
  serve(port: MessagePort): () => void {
    const subs = new Map<number, Subscription>()
    const inflight = new Map<number, BusMessage>()
    let nextToken = 0
    let stopped = false
    const stop = () => {
      if (stopped) return
      stopped = true
      port.off('message', onMessage)
      for (const s of subs.values()) void s.close()
      subs.clear()
      inflight.clear()
    }
    const onMessage = (m: PortRequest) => {
      try {
        switch (m.t) {
          case 'pub':
            if (!this.#closed) this.publishSync(m.subject, m.data, m.msgId)
            break
          case 'sub':
            void this.subscribe(
              m.subject,
              (msg) => {
                const token = ++nextToken
                inflight.set(token, msg)
                port.postMessage({
                  t: 'msg',
                  id: m.id,
                  token,
                  subject: msg.subject,
                  data: msg.data,
                  deliveryCount: msg.deliveryCount,
                } satisfies PortEvent)
              },
              { durable: m.durable, maxInFlight: m.maxInFlight, ackWaitMs: m.ackWaitMs },
            ).then((s) => {
              if (stopped) return void s.close()
              subs.set(m.id, s)
              // after the messages it counts: the port keeps their order
              void s.inherited.then((x) => {
                if (!stopped) port.postMessage({ t: 'inherited', id: m.id, ...x } satisfies PortEvent)
              })
            })
            break
          case 'working':
            inflight.get(m.token)?.working()
            break
          case 'ack':
          case 'nak': {
            const msg = inflight.get(m.token)
            inflight.delete(m.token)
            if (m.t === 'ack') msg?.ack()
            else msg?.nak(m.delayMs)
            break
          }
          case 'unsub':
            void subs.get(m.id)?.close()
            subs.delete(m.id)
            break
          case 'close':
            stop()
            break
        }
      } catch {
        // a closed bus: the client sees it through its own close; nothing to answer
      }
    }
    port.on('message', onMessage)
    port.once('close', stop)
    return stop
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#sweep !== null) clearInterval(this.#sweep)
    this.#sweep = null
    for (const list of this.#durables.values())
      for (const d of list) for (const s of [...d.subs]) this.#closeSub(s)
  }
}

type PortRequest =
  | { t: 'pub'; subject: string; data: Uint8Array; msgId?: string }
  | { t: 'sub'; id: number; subject: string; durable: string; maxInFlight?: number; ackWaitMs?: number }
  | { t: 'ack'; token: number }
  | { t: 'nak'; token: number; delayMs?: number }
  | { t: 'working'; token: number }
  | { t: 'unsub'; id: number }
  | { t: 'close' }

type PortEvent =
  | {
      t: 'msg'
      id: number
      token: number
      subject: string
      data: Uint8Array
      deliveryCount: number
    }
  | ({ t: 'inherited'; id: number } & Inherited)

class PortMessage implements BusMessage {
  #port: MessagePort
  #token: number
  #done = false
  readonly subject: string
  readonly data: Uint8Array
  readonly deliveryCount: number
  constructor(port: MessagePort, ev: PortEvent & { t: 'msg' }) {
    this.#port = port
    this.#token = ev.token
    this.subject = ev.subject
    this.data = ev.data
    this.deliveryCount = ev.deliveryCount
  }
  ack(): void {
    if (this.#done) return
    this.#done = true
    this.#port.postMessage({ t: 'ack', token: this.#token } satisfies PortRequest)
  }
  nak(delayMs?: number): void {
    if (this.#done) return
    this.#done = true
    this.#port.postMessage({ t: 'nak', token: this.#token, delayMs } satisfies PortRequest)
  }
  working(): void {
    if (this.#done) return
    try {
      this.#port.postMessage({ t: 'working', token: this.#token } satisfies PortRequest)
    } catch {
      // the port closed with the bus: the message comes back after its ack wait
    }
  }
}

/** The client end of `MemoryBus.serve`: a Bus whose calls travel over a MessagePort. */
class PortBus implements Bus {
  readonly kind = 'memory' as const
  #port: MessagePort
  #handlers = new Map<number, BusHandler>()
  #inherited = new Map<number, (x: Inherited) => void>()
  #nextId = 0
  #closed = false

  constructor(port: MessagePort) {
    this.#port = port
    port.on('message', (ev: PortEvent) => {
      if (ev.t === 'inherited') {
        const { id, t: _t, ...x } = ev
        this.#settleInherited(id, x)
        return
      }
      const handler = this.#handlers.get(ev.id)
      const msg = new PortMessage(port, ev)
      if (handler === undefined) return msg.nak()
      try {
        const r = handler(msg)
        if (r instanceof Promise) r.catch(() => msg.nak())
      } catch {
        msg.nak()
      }
    })
  }

  async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`publish to ${subject}`)
    this.#port.postMessage({ t: 'pub', subject, data, msgId: opts?.msgId } satisfies PortRequest)
  }

  #settleInherited(id: number, x: Inherited): void {
    this.#inherited.get(id)?.(x)
    this.#inherited.delete(id)
  }

  async subscribe(
    subject: string,
    handler: BusHandler,
    opts: SubscribeOptions,
  ): Promise<DurableSubscription> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`subscribe to ${subject}`)
    const id = ++this.#nextId
    this.#handlers.set(id, handler)
    const inherited = new Promise<Inherited>((r) => this.#inherited.set(id, r))
    this.#port.postMessage({
      t: 'sub',
      id,
      subject,
      durable: opts.durable,
      maxInFlight: opts.maxInFlight,
      ackWaitMs: opts.ackWaitMs,
    } satisfies PortRequest)
    return {
      close: async () => {
        // what came back so far is all this subscription will see
        this.#settleInherited(id, { held: 0, missing: 0 })
        if (!this.#handlers.delete(id) || this.#closed) return
        this.#port.postMessage({ t: 'unsub', id } satisfies PortRequest)
      },
      inherited,
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    this.#handlers.clear()
    for (const id of [...this.#inherited.keys()]) this.#settleInherited(id, { held: 0, missing: 0 })
    this.#port.postMessage({ t: 'close' } satisfies PortRequest)
    this.#port.close()
  }
}
