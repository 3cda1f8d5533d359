/**
 * @module `StoreAuditLog`: an `AuditLog` (src/audit.ts) sink that lands audit events in the
 * store's events table. `record` is synchronous for callers; events are appended in the
 * background in order, one batch at a time, and `flush()` waits for them.
 */
import type { AuditEvent, AuditLog } from '../audit.js'
import type { Store, StoredEvent } from './store.js'

export class StoreAuditLog implements AuditLog {
  #store: Store
  #queue: StoredEvent[] = []
  #writing: Promise<void> = Promise.resolve()
  #onError: (err: Error) => void

  constructor(store: Store, opts: { onError?: (err: Error) => void } = {}) {
    this.#store = store
    this.#onError = opts.onError ?? (() => {})
  }

  record(event: AuditEvent): void {
    const at = Date.parse(event.at)
    this.#queue.push({
      atMs: Number.isNaN(at) ? Date.now() : at,
      kind: event.kind,
      actor: event.actor,
      subject: event.subject,
      payload: { before: event.before ?? null, after: event.after ?? null, reason: event.reason },
    })
    if (this.#queue.length === 1) this.#writing = this.#writing.then(() => this.#drain())
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue
      this.#queue = []
      await this.#store.appendEvents(batch).catch((err: Error) => this.#onError(err))
    }
  }

  /** Resolves once every recorded event is written. */
  flush(): Promise<void> {
    return this.#writing
  }
}
