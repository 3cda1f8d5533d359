/**
 * @module The audit trail in the store: `AuditIngest` consumes the audit events gateways send over
 * the bus (src/audit.ts `BusAuditLog`) and stores them, acking each only once it is written;
 * `auditSource` pages through them for `GET /api/audit`.
 *
 * ```
 * bus `vigil.audit` ─▶ AuditIngest ─▶ store.appendAudit (by id: a redelivery is a no-op) ─▶ ack
 * GET /api/audit ─▶ auditSource ─▶ store.queryAudit (newest first, cursor)
 * ```
 */
import { decodeAuditEvent } from '../audit.js'
import type { Bus, BusMessage, Subscription } from '../bus/index.js'
import { VGL_ERR_CONTROL_DECODE } from '../errors.js'
import type { AuditQuery, Store, StoredAuditEvent } from '../store/index.js'
import { decodeCursor, encodeCursor, unknownCursor } from './actions.js'
import { RedeliveryDelay } from './redelivery.js'

/** One page of the audit trail, newest first; pass `nextCursor` back as `cursor` for the next. */
export interface AuditPage {
  events: StoredAuditEvent[]
  nextCursor: string | null
}

export type AuditPageQuery = AuditQuery & { cursor?: string }

/** What `GET /api/audit` asks; implemented by `auditSource` and the embedded worker's client. */
export interface AuditSource {
  audit(q: AuditPageQuery): Promise<AuditPage>
}

/** Pages through the store's audit table. */
export function auditSource(store: Pick<Store, 'queryAudit'>): AuditSource {
  return {
    async audit(q) {
      const limit = q.limit ?? 100
      const { cursor, ...rest } = q
      let after = q.after
      if (cursor !== undefined) {
        const c = decodeCursor(cursor)
        if (c === null) throw unknownCursor(cursor)
        after = c
      }
      const events = await store.queryAudit({ ...rest, limit, after })
      const last = events[events.length - 1]
      return { events, nextCursor: events.length === limit && last !== undefined ? encodeCursor(last) : null }
    },
  }
}

export interface AuditIngestOptions {
  store: Pick<Store, 'appendAudit'>
  bus: Bus
  subject: string
  /** durable consumer name */
  durable: string
  onError?: (err: Error, what: string) => void
  now?: () => number
  /**
   * ack wait of the consumer (default 10 s): how soon a dead control plane's unwritten events
   * go to its successor; a write that takes longer keeps its events alive with `working()`
   */
  ackWaitMs?: number
}

/**
 * Stores audit events from the bus in batches (whatever arrived while the last write ran). A
 * failed write naks the batch; the bus redelivers it after as long as the store has been failing
 * (1 s to 30 s), so nothing is acked before it is written.
 */
export class AuditIngest {
  readonly #o: AuditIngestOptions & { now: () => number; ackWaitMs: number }
  #sub: Subscription | null = null
  #batch: Array<{ event: StoredAuditEvent; msg: BusMessage }> = []
  #writing: Promise<void> | null = null
  readonly #delay: RedeliveryDelay
  readonly stats = { stored: 0, writeErrors: 0, decodeErrors: 0 }

  constructor(opts: AuditIngestOptions) {
    this.#o = { now: Date.now, ackWaitMs: 10_000, ...opts }
    this.#delay = new RedeliveryDelay(this.#o.now)
  }

  async start(): Promise<void> {
    this.#sub ??= await this.#o.bus.subscribe(this.#o.subject, (m) => this.#onMessage(m), {
      durable: this.#o.durable,
      maxInFlight: 1_000,
      ackWaitMs: this.#o.ackWaitMs,
    })
  }

  #onMessage(m: BusMessage): void {
    let e: ReturnType<typeof decodeAuditEvent>
    try {
      e = decodeAuditEvent(m.data)
    } catch (err) {
      this.stats.decodeErrors++
      this.#o.onError?.(VGL_ERR_CONTROL_DECODE('audit event', (err as Error).message), 'decode')
      m.ack() // a message that can never decode must not block the stream
      return
    }
    const event: StoredAuditEvent = {
      id: e.id,
      atMs: Date.parse(e.at),
      kind: e.kind,
      actor: e.actor,
      subject: e.subject,
      before: e.before,
      after: e.after,
      reason: e.reason,
    }
    this.#batch.push({ event, msg: m })
    this.#writing ??= this.#write()
  }

  async #write(): Promise<void> {
    while (this.#batch.length > 0) {
      const batch = this.#batch
      this.#batch = []
      // one timer for the write, for the events in it and those arriving behind it: a slow
      // database must not send them back as duplicates (harmless, by id, but wasted writes)
      const keep = setInterval(() => {
        for (const b of batch) b.msg.working()
        for (const b of this.#batch) b.msg.working()
      }, this.#o.ackWaitMs / 3)
      keep.unref()
      try {
        await this.#o.store.appendAudit(batch.map((b) => b.event))
        this.#delay.ok()
        this.stats.stored += batch.length
        for (const b of batch) b.msg.ack()
      } catch (err) {
        this.stats.writeErrors++
        this.#o.onError?.(err as Error, 'appendAudit')
        const delay = this.#delay.failed()
        for (const b of batch) b.msg.nak(delay)
      } finally {
        clearInterval(keep)
      }
    }
    this.#writing = null
  }

  /** Stops consuming and finishes the write in progress (unwritten events are redelivered later). */
  async stop(): Promise<void> {
    const sub = this.#sub
    this.#sub = null
    await sub?.close().catch(() => {})
    await this.#writing
  }
}
