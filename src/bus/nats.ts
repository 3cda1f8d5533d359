/**
 * @module NatsBus: the scaled-out bus on NATS JetStream. One stream per kind of record (rollups,
 * spans), file storage, a duplicate window so a re-published rollup (same `Nats-Msg-Id`) is
 * stored once, and durable pull consumers with explicit acks: a control process that dies
 * without acking gets the messages again when it (or a peer on the same durable) comes back.
 * The client reconnects forever; publishes during an outage fail fast instead of queueing without
 * bound (the recorder keeps refused rollups and retries them at each window boundary, inside the
 * duplicate window, then drops and counts them).
 */
import { connect, errors, type NatsConnection } from '@nats-io/transport-node'
import {
  AckPolicy,
  DeliverPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from '@nats-io/jetstream'
import {
  VGL_ERR_BUS_CLOSED,
  VGL_ERR_BUS_CONNECT,
  VGL_ERR_BUS_SETUP,
  VGL_ERR_BUS_NO_STREAM,
  VGL_ERR_BUS_PUBLISH,
} from '../errors.js'
import {
  DEFAULT_ACK_WAIT_MS,
  DEFAULT_MAX_IN_FLIGHT,
  INHERIT_SLACK_MS,
  SUBJECT_AUDIT,
  SUBJECT_CLIENTS,
  SUBJECT_ROLLUPS,
  SUBJECT_SPANS,
  SUBJECT_TARGETS,
  type Bus,
  type BusHandler,
  type BusMessage,
  type DurableSubscription,
  type PublishOptions,
  type SubscribeOptions,
  type Subscription,
} from './bus.js'
import { InheritWatch } from './inherit.js'
import { appliedSubject } from './targets.js'

export interface StreamSpec {
  name: string
  subjects: string[]
}

export interface NatsBusOptions {
  /** host:port, or several comma separated */
  servers: string | string[]
  /** streams to create (or update) on connect */
  streams: StreamSpec[]
  maxAgeMs?: number
  duplicateWindowMs?: number
  /** how long a publish waits for the JetStream ack (default 5 s) */
  publishTimeoutMs?: number
  /** connection name shown by the server */
  name?: string
}

/** The streams for the subjects: `${prefix}_ROLLUPS`, `_SPANS`, `_CLIENTS` and `_AUDIT`. */
export function defaultStreams(
  prefix = 'VIGIL',
  subjects: { rollups: string; spans: string; clients?: string; audit?: string; targets?: string } = {
    rollups: SUBJECT_ROLLUPS,
    spans: SUBJECT_SPANS,
    clients: SUBJECT_CLIENTS,
    audit: SUBJECT_AUDIT,
    targets: SUBJECT_TARGETS,
  },
): StreamSpec[] {
  return [
    { name: `${prefix}_ROLLUPS`, subjects: [subjects.rollups] },
    { name: `${prefix}_SPANS`, subjects: [subjects.spans] },
    ...(subjects.clients !== undefined ? [{ name: `${prefix}_CLIENTS`, subjects: [subjects.clients] }] : []),
    ...(subjects.audit !== undefined ? [{ name: `${prefix}_AUDIT`, subjects: [subjects.audit] }] : []),
    // the gateways' confirmations beside the lists they confirm (targets.ts)
    ...(subjects.targets !== undefined
      ? [{ name: `${prefix}_TARGETS`, subjects: [subjects.targets, appliedSubject(subjects.targets)] }]
      : []),
  ]
}

const nanos = (ms: number) => ms * 1_000_000

class NatsMessage implements BusMessage {
  #m: JsMsg
  #done = false
  readonly #acks: boolean
  readonly subject: string
  readonly data: Uint8Array
  readonly deliveryCount: number
  /** `acks` false: an ordered consumer's message (nothing to acknowledge) */
  constructor(m: JsMsg, acks = true) {
    this.#m = m
    this.#acks = acks
    this.subject = m.subject
    this.data = m.data
    this.deliveryCount = m.info.deliveryCount
  }
  get settled(): boolean {
    return this.#done
  }
  ack(): void {
    if (this.#done) return
    this.#done = true
    if (this.#acks) this.#m.ack()
  }
  nak(delayMs?: number): void {
    if (this.#done) return
    this.#done = true
    if (this.#acks) this.#m.nak(delayMs)
  }
  working(): void {
    if (this.#done || !this.#acks) return
    try {
      this.#m.working()
    } catch {
      // a closed connection: the message comes back after its ack wait, which consumers handle
    }
  }
}

/** What to do about a JetStream stream that could not be created or updated, from the server's reason. */
function streamSetupFix(why: string): string {
  if (/jetstream (is )?not enabled/i.test(why))
    return 'start nats-server with JetStream (nats-server -js, or jetstream {} in its config)'
  if (/subjects overlap/i.test(why))
    return 'another stream already captures these subjects: give each deployment its own bus.subjectPrefix and bus.streamPrefix, or the same pair to share one'
  return "check the server's JetStream limits and the account Vigil connects with"
}

export class NatsBus implements Bus {
  readonly kind = 'nats' as const
  #nc: NatsConnection
  #js: JetStreamClient
  #jsm: JetStreamManager
  #streams: StreamSpec[]
  #subs = new Set<{ iter: ConsumerMessages; loop: Promise<void>; onClose: () => Promise<void> }>()
  #publishTimeoutMs: number
  #closed = false

  private constructor(nc: NatsConnection, jsm: JetStreamManager, opts: NatsBusOptions) {
    this.#nc = nc
    this.#jsm = jsm
    this.#js = jetstream(nc)
    this.#streams = opts.streams
    this.#publishTimeoutMs = opts.publishTimeoutMs ?? 5000
  }

  /** Connects and makes sure the streams exist. */
  static async connect(opts: NatsBusOptions): Promise<NatsBus> {
    const servers =
      typeof opts.servers === 'string' ? opts.servers.split(',').map((s) => s.trim()) : opts.servers
    let nc: NatsConnection
    try {
      nc = await connect({
        servers,
        name: opts.name ?? 'vigil',
        reconnect: true,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 1000,
      })
    } catch (err) {
      throw VGL_ERR_BUS_CONNECT(servers.join(','), (err as Error).message)
    }
    let what = 'its JetStream is not usable'
    try {
      const jsm = await jetstreamManager(nc)
      for (const s of opts.streams) {
        what = `JetStream stream ${s.name} could not be set up`
        const cfg = {
          subjects: s.subjects,
          storage: StorageType.File,
          max_age: nanos(opts.maxAgeMs ?? 24 * 3600_000),
          duplicate_window: nanos(opts.duplicateWindowMs ?? 10 * 60_000),
        }
        try {
          await jsm.streams.info(s.name)
          await jsm.streams.update(s.name, cfg)
        } catch {
          await jsm.streams.add({ name: s.name, ...cfg })
        }
      }
      return new NatsBus(nc, jsm, opts)
    } catch (err) {
      await nc.close()
      const why = (err as Error).message
      throw VGL_ERR_BUS_SETUP(servers.join(','), what, why, streamSetupFix(why))
    }
  }

  async publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`publish to ${subject}`)
    try {
      await this.#js.publish(subject, data, {
        timeout: this.#publishTimeoutMs,
        ...(opts?.msgId !== undefined ? { msgID: opts.msgId } : {}),
      })
    } catch (err) {
      throw VGL_ERR_BUS_PUBLISH(subject, (err as Error).message)
    }
  }

  #streamFor(subject: string): string {
    const s = this.#streams.find((x) => x.subjects.includes(subject))
    if (s === undefined) throw VGL_ERR_BUS_NO_STREAM(subject, this.#streams.map((x) => x.name).join(', '))
    return s.name
  }

  async subscribe(
    subject: string,
    handler: BusHandler,
    opts: SubscribeOptions,
  ): Promise<DurableSubscription> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`subscribe to ${subject}`)
    const stream = this.#streamFor(subject)
    const maxInFlight = opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT
    const ackWaitMs = opts.ackWaitMs ?? DEFAULT_ACK_WAIT_MS
    const cfg = {
      durable_name: opts.durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      filter_subject: subject,
      ack_wait: nanos(ackWaitMs),
      max_ack_pending: Math.max(maxInFlight, 1),
    }
    const existing = await this.#jsm.consumers.info(stream, opts.durable).catch(() => null)
    if (existing === null) await this.#jsm.consumers.add(stream, cfg)
    else if (
      existing.config.ack_wait !== cfg.ack_wait ||
      existing.config.max_ack_pending !== cfg.max_ack_pending
    )
      // a durable made by an earlier version or config keeps its name and its unacked messages;
      // the server applies the new ack wait to those too
      await this.#jsm.consumers.update(stream, opts.durable, {
        ack_wait: cfg.ack_wait,
        max_ack_pending: cfg.max_ack_pending,
      })
    // Read before this subscription pulls anything: every message unacked then was handed to an
    // earlier subscriber, and each lies between the ack floor and the last delivered sequence
    // (that range also holds acked ones, hence the count).
    const floor = existing?.ack_floor.stream_seq ?? 0
    const last = existing?.delivered.stream_seq ?? 0
    const watch = new InheritWatch(
      existing?.num_ack_pending ?? 0,
      (seq) => seq > floor && seq <= last,
      ackWaitMs + INHERIT_SLACK_MS,
    )
    const consumer = await this.#js.consumers.get(stream, opts.durable)
    const iter = await consumer.consume({ max_messages: Math.min(maxInFlight, 1000) })
    const loop = (async () => {
      for await (const m of iter) {
        const msg = new NatsMessage(m)
        try {
          const r = handler(msg)
          // not awaited: a handler may hold acks until its batch is written
          if (r instanceof Promise) r.catch(() => msg.nak())
        } catch {
          msg.nak()
        }
        watch.handed(m.info.streamSequence)
      }
    })()
    const sub = this.#track(iter, loop, async () => watch.settle())
    return { close: sub.close, inherited: watch.inherited }
  }

  async answer(subject: string): Promise<Subscription> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`answer on ${subject}`)
    const sub = this.#nc.subscribe(subject, { callback: (_err, msg) => void msg.respond() })
    return { close: async () => sub.unsubscribe() }
  }

  async probe(subject: string, timeoutMs: number): Promise<'present' | 'absent' | 'unknown'> {
    if (this.#closed) return 'unknown'
    try {
      await this.#nc.request(subject, undefined, { timeout: timeoutMs })
      return 'present'
    } catch (err) {
      const noResponders =
        err instanceof errors.NoRespondersError ||
        (err instanceof errors.RequestError && err.isNoResponders())
      return noResponders ? 'absent' : 'unknown'
    }
  }

  async follow(subject: string, handler: BusHandler): Promise<Subscription> {
    if (this.#closed) throw VGL_ERR_BUS_CLOSED(`follow ${subject}`)
    const stream = this.#streamFor(subject)
    // an ordered consumer: ephemeral (the server deletes it 5 min after its client went away),
    // recreated by the client from the next sequence after a reconnect or a server-side removal
    const consumer = await this.#js.consumers.get(stream, {
      filter_subjects: subject,
      deliver_policy: DeliverPolicy.All,
    })
    const iter = await consumer.consume({ max_messages: 100 })
    const loop = (async () => {
      // one at a time, in order: a follower rebuilds state, a newer message must not be overtaken
      for await (const m of iter) await Promise.resolve(handler(new NatsMessage(m, false))).catch(() => {})
    })()
    const onClose = async () => {
      const name = (await consumer.info(true).catch(() => null))?.name
      if (name !== undefined) await this.#jsm.consumers.delete(stream, name).catch(() => false)
    }
    return this.#track(iter, loop, onClose)
  }

  #track(iter: ConsumerMessages, loop: Promise<void>, onClose: () => Promise<void>): Subscription {
    const entry = { iter, loop, onClose }
    this.#subs.add(entry)
    return {
      close: async () => {
        if (!this.#subs.delete(entry)) return
        await iter.close()
        await loop.catch(() => {})
        await onClose()
      },
    }
  }

  /** Deletes the named streams (tests and `vigil` teardown tooling). */
  async deleteStreams(): Promise<void> {
    for (const s of this.#streams) await this.#jsm.streams.delete(s.name).catch(() => false)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    for (const s of [...this.#subs]) {
      this.#subs.delete(s)
      await s.iter.close().catch(() => {})
      await s.loop.catch(() => {})
      await s.onClose().catch(() => {})
    }
    await this.#nc.drain().catch(() => this.#nc.close())
  }
}
