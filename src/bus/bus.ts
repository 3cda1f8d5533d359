/**
 * @module The Bus port: how rollups and spans travel from gateways and OTLP ingest to the control
 * plane. At-least-once: a message stays pending on its durable consumer until the handler acks
 * it; a nak, a handler that throws, an expired ack wait or a consumer that goes away without
 * acking all lead to redelivery. Consumers must therefore be idempotent (rollups carry their
 * identity; see `rollupId` in telemetry/codec.ts).
 *
 * Adapters: `MemoryBus` (embedded, in process, also across a worker_thread MessagePort) and
 * `NatsBus` (NATS JetStream). Both pass `busContract` (bus.contract.ts).
 */

/** Subject of rollup messages (one rollup per message, `msgId` = rollup identity). */
export const SUBJECT_ROLLUPS = 'vigil.rollups'
/** Subject of span batch messages (`encodeSpans`). */
export const SUBJECT_SPANS = 'vigil.spans'
/** Subject of per-client window statistics from each gateway's limiter (`encodeClientWindow`). */
export const SUBJECT_CLIENTS = 'vigil.clients'
/** Subject of admin audit events (`encodeAuditEvent` in src/audit.ts, `msgId` = `audit/<id>`). */
export const SUBJECT_AUDIT = 'vigil.audit'
/** Subject of a service's run-time targets the autoscaler sets (`encodeTargets` in targets.ts). */
export const SUBJECT_TARGETS = 'vigil.targets'

export interface PublishOptions {
  /**
   * Deduplication id: a second publish with the same id inside the bus's duplicate window is
   * dropped (JetStream `Nats-Msg-Id`). Use the rollup identity for rollups.
   */
  msgId?: string
}

export interface BusMessage {
  readonly subject: string
  readonly data: Uint8Array
  /** 1 on first delivery, 2+ on redelivery */
  readonly deliveryCount: number
  /** done with the message: it will not be delivered again */
  ack(): void
  /** not done: deliver again (after `delayMs`, default 0) */
  nak(delayMs?: number): void
  /**
   * Still working on it: the ack wait starts over from now (JetStream's in-progress ack, `+WPI`).
   * A consumer that holds messages longer than its ack wait calls this on each before the wait
   * runs out, so a short ack wait brings a dead consumer's messages back soon while a live one
   * keeps them. Nothing after `ack` or `nak`.
   */
  working(): void
}

/** A handler that throws or rejects before acking naks the message. */
export type BusHandler = (msg: BusMessage) => void | Promise<void>

export interface SubscribeOptions {
  /** durable consumer name: unacked messages survive the subscriber and go to its successor */
  durable: string
  /** most unacked messages handed to this subscriber at once (default 1000) */
  maxInFlight?: number
  /**
   * an unacked message is redelivered after this long (default 30 s) since its delivery or its
   * last `working()`
   */
  ackWaitMs?: number
}

export interface Subscription {
  /** stop receiving; unacked messages stay with the durable consumer for redelivery */
  close(): Promise<void>
}

/** What a durable subscription took over from the subscribers of its durable before it. */
export interface Inherited {
  /**
   * messages earlier subscribers had been handed and had not settled when this subscription
   * started: a dead predecessor's, which come back only once their ack wait ends
   */
  held: number
  /**
   * how many of them had not been handed to this subscription when `inherited` resolved: a
   * predecessor still alive kept them, or they left the bus (age limit); 0 normally
   */
  missing: number
}

export interface DurableSubscription extends Subscription {
  /**
   * Resolves once every message in {@link Inherited.held} has been handed to this subscription's
   * handler again, at once when there are none, and at the latest a little after the ack wait
   * (with `missing` > 0). Messages published since keep coming meanwhile, often before the
   * inherited ones: a consumer that needs its input in order (the control plane's windows)
   * holds back what depends on order until this resolves. Resolves on close too.
   */
  readonly inherited: Promise<Inherited>
}

export interface Bus {
  readonly kind: 'memory' | 'nats'
  /** resolves when the bus has accepted the message (JetStream: stored) */
  publish(subject: string, data: Uint8Array, opts?: PublishOptions): Promise<void>
  subscribe(subject: string, handler: BusHandler, opts: SubscribeOptions): Promise<DurableSubscription>
  /**
   * Every message the bus still holds on the subject, oldest first, then each new one, handed to
   * the handler one at a time, in order, on a consumer of this subscriber alone that leaves
   * nothing behind (deleted on close; by the bus a while after a subscriber that died). Nothing
   * is redelivered: ack and nak do nothing. For state every process rebuilds whole on start (the
   * run-time targets), where a named durable would resume after what a previous run acked and
   * skip the state to rebuild. Only adapters that keep history (NATS JetStream) have it.
   */
  follow?(subject: string, handler: BusHandler): Promise<Subscription>
  /**
   * Answers every {@link probe} on `subject` while the subscription lives: nothing is stored, so
   * an answer means the process is connected now. Only adapters with a server between processes
   * (NATS) have it.
   */
  answer?(subject: string): Promise<Subscription>
  /**
   * Whether a process answers on `subject` now: `present`; `absent` when the server knows nobody
   * listens there (it says so at once); `unknown` on a timeout or any other failure.
   */
  probe?(subject: string, timeoutMs: number): Promise<'present' | 'absent' | 'unknown'>
  /** idempotent; closes subscriptions first */
  close(): Promise<void>
}

export const DEFAULT_MAX_IN_FLIGHT = 1000
export const DEFAULT_ACK_WAIT_MS = 30_000
/**
 * How long after its ack wait a subscription still waits for an inherited message: the server
 * notices the expiry on its own timer and the message then travels to the new subscriber.
 */
export const INHERIT_SLACK_MS = 1_000
