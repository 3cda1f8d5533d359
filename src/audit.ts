/**
 * @module The audit log: every change an operator or the control plane makes (a tier edited, a key
 * revoked, defensive mode switched on) as one event with who, what, before, after and why.
 * Where a change is made, `TeeAuditLog` gives each event an id and hands it to every sink:
 * `JsonlAuditLog` appends it to `audit.jsonl` at once, `BusAuditLog` sends it over the bus to the
 * control plane, which stores it with the rest (src/control/audit.ts) for `GET /api/audit`.
 *
 * ```
 * limiter ─▶ TeeAuditLog ─┬─▶ JsonlAuditLog ─▶ <dataDir>/audit.jsonl
 *                         └─▶ BusAuditLog ─▶ bus `vigil.audit` ─▶ control plane ─▶ store (audit table)
 * ```
 */
import { randomUUID } from 'node:crypto'
import { closeSync, fstatSync, ftruncateSync, mkdirSync, openSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { VGL_ERR_AUDIT_UNWRITABLE, VGL_ERR_TELEMETRY_DECODE, type VigilError } from './errors.js'

export interface AuditEvent {
  /** unique; set by TeeAuditLog when the event is recorded, so every sink carries the same one */
  id?: string
  /** ISO 8601 time of the change */
  at: string
  /** what happened, dotted: `limits.tier.update`, `limits.key.revoke`, ... */
  kind: string
  /** who did it: `admin`, `control-plane`, a token name */
  actor: string
  /** what it was done to: a tier name, a key id */
  subject: string
  before: unknown
  after: unknown
  reason: string
}

export interface AuditLog {
  record(event: AuditEvent): void
}

export interface JsonlAuditLogOptions {
  /** lines kept while the file cannot be written; beyond it the oldest is dropped and counted (default 10,000) */
  maxPending?: number
  /** how often lines kept are retried when no new event comes (default 5 s) */
  retryEveryMs?: number
  /** the file stopped taking lines (once per outage), lines were dropped, or it stopped with lines kept */
  onWarn?: (err: VigilError) => void
  /** the file takes lines again */
  onRecovered?: (message: string) => void
}

/**
 * Appends events to a JSONL file, synchronously: admin changes are rare and must not be lost.
 * The change an event describes is already saved when it is recorded, so a file that cannot be
 * written (a full disk, a read-only data dir) never fails the change: its lines are kept, in
 * order, and appended once the file takes them (at the next event, or every `retryEveryMs`).
 */
export class JsonlAuditLog implements AuditLog {
  readonly path: string
  readonly #o: JsonlAuditLogOptions
  #pending: string[] = []
  #timer: NodeJS.Timeout | null = null
  #failing = false
  #dropped = 0
  readonly stats = { appended: 0, appendedLate: 0, dropped: 0 }

  constructor(path: string, opts: JsonlAuditLogOptions = {}) {
    this.path = path
    this.#o = opts
    mkdirSync(dirname(path), { recursive: true })
  }

  record(event: AuditEvent): void {
    const line = JSON.stringify({
      ...(event.id !== undefined ? { id: event.id } : {}),
      at: event.at,
      kind: event.kind,
      actor: event.actor,
      subject: event.subject,
      before: event.before ?? null,
      after: event.after ?? null,
      reason: event.reason,
    })
    this.#pending.push(`${line}\n`)
    if (this.#pending.length > (this.#o.maxPending ?? 10_000)) {
      this.#pending.shift()
      this.#dropped++
      this.stats.dropped++
    }
    this.#flush()
  }

  /** events recorded and not yet in the file */
  get pending(): number {
    return this.#pending.length
  }

  #flush(): void {
    if (this.#pending.length === 0) return
    const late = this.#failing
    try {
      appendWhole(this.path, this.#pending.join(''))
    } catch (err) {
      if (!this.#failing) {
        this.#failing = true
        const e = err as NodeJS.ErrnoException
        this.#o.onWarn?.(
          VGL_ERR_AUDIT_UNWRITABLE(this.path, `${e.message}${e.code !== undefined ? ` (${e.code})` : ''}`),
        )
      }
      this.#timer ??= setTimeout(() => {
        this.#timer = null
        this.#flush()
      }, this.#o.retryEveryMs ?? 5_000)
      this.#timer.unref()
      return
    }
    const n = this.#pending.length
    this.#pending = []
    this.stats.appended += n
    if (!late) return
    this.#failing = false
    this.stats.appendedLate += n
    const dropped = this.#dropped
    this.#dropped = 0
    this.#o.onRecovered?.(
      `${this.path} takes audit events again: ${n} appended late${dropped > 0 ? `, ${dropped} dropped (the oldest, beyond the ${this.#o.maxPending ?? 10_000} kept)` : ''}`,
    )
  }

  /** Tries once more to append what is kept; says how many events are lost if that fails. */
  close(): void {
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    this.#flush()
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    if (this.#pending.length > 0)
      this.#o.onWarn?.(
        VGL_ERR_AUDIT_UNWRITABLE(
          this.path,
          `${this.#pending.length} events recorded since it failed are not in it (the store has them if it could write)`,
        ),
      )
  }
}

/**
 * Appends `text` whole or not at all: a write cut short by a full disk is truncated away, so a
 * retry never leaves half a JSON line in front of the whole one.
 */
function appendWhole(path: string, text: string): void {
  const fd = openSync(path, 'a', 0o600)
  try {
    const size = fstatSync(fd).size
    const bytes = Buffer.from(text)
    try {
      // a write may take part of the bytes and refuse the rest only on the next call
      for (let at = 0; at < bytes.length;) at += writeSync(fd, bytes, at)
    } catch (err) {
      try {
        ftruncateSync(fd, size)
      } catch {
        // the partial line stays; the retry still appends whole lines after it
      }
      throw err
    }
  } finally {
    closeSync(fd)
  }
}

/** Keeps events in memory (tests, and processes without a data dir). */
export class MemoryAuditLog implements AuditLog {
  readonly events: AuditEvent[] = []
  record(event: AuditEvent): void {
    this.events.push(event)
  }
}

/** Gives each event an id (when it has none) and records it in every sink, in order. */
export class TeeAuditLog implements AuditLog {
  readonly #sinks: AuditLog[]
  constructor(sinks: readonly AuditLog[]) {
    this.#sinks = [...sinks]
  }
  /** adds a sink for the events recorded from now on */
  add(sink: AuditLog): void {
    this.#sinks.push(sink)
  }
  record(event: AuditEvent): void {
    const e = event.id !== undefined ? event : { ...event, id: randomUUID() }
    for (const sink of this.#sinks) sink.record(e)
  }
}

const enc = new TextEncoder()
const dec = new TextDecoder()

export function encodeAuditEvent(e: AuditEvent & { id: string }): Uint8Array {
  return enc.encode(
    JSON.stringify({
      v: 1,
      id: e.id,
      at: e.at,
      kind: e.kind,
      actor: e.actor,
      subject: e.subject,
      before: e.before ?? null,
      after: e.after ?? null,
      reason: e.reason,
    }),
  )
}

/** Decodes and checks an audit event from the bus; a malformed one throws naming the field. */
export function decodeAuditEvent(data: Uint8Array): AuditEvent & { id: string } {
  const fail = (what: string): never => {
    throw VGL_ERR_TELEMETRY_DECODE('audit event', what)
  }
  let o: Record<string, unknown> = {}
  try {
    o = JSON.parse(dec.decode(data)) as Record<string, unknown>
  } catch {
    fail('not JSON')
  }
  if (o === null || typeof o !== 'object') fail('not an object')
  if (o.v !== 1) fail(`unknown version ${String(o.v)} (expected 1)`)
  for (const k of ['id', 'at', 'kind', 'actor', 'subject', 'reason'] as const)
    if (typeof o[k] !== 'string') fail(`${k} must be a string`)
  if (Number.isNaN(Date.parse(o.at as string))) fail('at must be an ISO 8601 time')
  return {
    id: o.id as string,
    at: o.at as string,
    kind: o.kind as string,
    actor: o.actor as string,
    subject: o.subject as string,
    before: o.before ?? null,
    after: o.after ?? null,
    reason: o.reason as string,
  }
}

/** The part of a Bus (src/bus) the audit log needs; spelled out so this shared file stays a leaf. */
export interface AuditPublisher {
  publish(subject: string, data: Uint8Array, opts?: { msgId?: string }): Promise<void>
}

export interface BusAuditLogOptions {
  bus: AuditPublisher
  subject: string
  /** events waiting for the bus; beyond it the oldest is dropped and counted (default 10,000) */
  maxQueue?: number
  /** told once per kind of trouble (the bus refusing, the queue overflowing) */
  onWarn?: (message: string) => void
}

/**
 * Sends audit events to the control plane over the bus, in order, with the event id as msgId (a
 * retried publish is stored once). A bus that refuses is retried after a delay that grows to
 * 30 s; `record` never waits and never throws. The JSONL file beside it is the local record if
 * the bus stays away.
 */
export class BusAuditLog implements AuditLog {
  readonly #o: BusAuditLogOptions
  #queue: Array<AuditEvent & { id: string }> = []
  #sending: Promise<void> | null = null
  #timer: NodeJS.Timeout | null = null
  #failures = 0
  #warned = new Set<string>()
  readonly stats = { published: 0, retried: 0, dropped: 0 }

  constructor(opts: BusAuditLogOptions) {
    this.#o = opts
  }

  record(event: AuditEvent): void {
    this.#queue.push({ ...event, id: event.id ?? randomUUID() })
    if (this.#queue.length > (this.#o.maxQueue ?? 10_000)) {
      this.#queue.shift()
      this.stats.dropped++
      this.#warnOnce('full', 'audit events dropped: the queue for the bus is full (the JSONL file has them)')
    }
    if (this.#timer === null) this.#sending ??= this.#send()
  }

  async #send(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const e = this.#queue[0]!
        try {
          await this.#o.bus.publish(this.#o.subject, encodeAuditEvent(e), { msgId: `audit/${e.id}` })
        } catch (err) {
          this.#failures++
          this.stats.retried++
          this.#warnOnce('bus', `audit events wait for the bus: ${(err as Error).message}`)
          const delay = Math.min(500 * 2 ** (this.#failures - 1), 30_000)
          this.#timer = setTimeout(() => {
            this.#timer = null
            this.#sending ??= this.#send()
          }, delay)
          this.#timer.unref()
          return
        }
        if (this.#queue[0] === e) this.#queue.shift()
        this.#failures = 0
        this.stats.published++
      }
    } finally {
      this.#sending = null
    }
  }

  #warnOnce(key: string, message: string): void {
    if (this.#warned.has(key)) return
    this.#warned.add(key)
    this.#o.onWarn?.(message)
  }

  /** events not yet accepted by the bus */
  get pending(): number {
    return this.#queue.length
  }

  /** Tries to send what is queued, for up to `timeoutMs`; stops retrying. */
  async close(timeoutMs = 2_000): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer)
      this.#timer = null
      this.#sending ??= this.#send()
    }
    const sending = this.#sending
    if (sending !== null) await Promise.race([sending, new Promise((r) => setTimeout(r, timeoutMs).unref())])
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
  }
}
