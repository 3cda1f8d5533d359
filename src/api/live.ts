/**
 * @module The dashboard's live feed: one hub per admin server that reads named sections of live
 * state (services, series, anomalies, limits, ...) once per tick while anyone listens, diffs each
 * against what it sent last, and broadcasts one batched server-sent event per tick to every
 * client (encoded once, whatever the number of clients).
 *
 * ```
 * tick (intervalMs, only with clients) ─▶ read sections ─▶ diff against last ─▶ delta event #seq
 *                                                                                 ├─▶ every client
 *                                                                                 └─▶ ring (replay)
 * connect (Last-Event-ID = <epoch>-<seq>) ─▶ same epoch and seq still in the ring: replay the deltas
 *                                          └ otherwise (new client, restarted server): snapshot
 * ```
 *
 * Event ids are `<epoch>-<seq>`: the epoch changes when the process restarts, so a client that
 * reconnects to a restarted control plane gets a full snapshot instead of deltas it cannot apply.
 */

/** A section sent whole whenever its JSON changes (controls, services, ...). */
export interface ValueSection {
  kind: 'value'
  read: () => unknown
}

/**
 * A section of items with identity (series, open anomalies): only the items whose version
 * changed are sent (`upsert`), and the keys that disappeared (`remove`).
 */
export interface KeyedSection<T = unknown> {
  kind: 'keyed'
  read: () => readonly T[] | Promise<readonly T[]>
  key: (item: T) => string
  /** cheap change detector; default: the item's JSON */
  version?: (item: T) => string | number
}

export type LiveSection = ValueSection | KeyedSection<never>

/** Types a keyed section once, so callers keep their item type. */
export function keyed<T>(section: Omit<KeyedSection<T>, 'kind'>): LiveSection {
  return { kind: 'keyed', ...section } as unknown as LiveSection
}

/** One event's payload. A snapshot replaces everything; a delta patches the client's copy. */
export interface LiveEvent {
  seq: number
  /** server time (epoch ms) when the tick read its sources */
  t: number
  snapshot: boolean
  /** value sections, whole */
  set: Record<string, unknown>
  /** keyed sections: items added or changed */
  upsert: Record<string, unknown[]>
  /** keyed sections: keys gone */
  remove: Record<string, string[]>
  /** sections whose source failed this tick (they keep their last value) */
  errors?: Record<string, string>
}

/** Where a client's bytes go; `write` returns false when the socket's buffer is full. */
export interface LiveClient {
  write(chunk: string): boolean
  /** bytes queued but not yet sent (socket.writableLength) */
  buffered(): number
  close(): void
}

export interface LiveHubOptions {
  sections: Record<string, LiveSection>
  /** ms between reads; default 1000 */
  intervalMs?: number
  /** ms between keep-alive comments; default 15,000 */
  heartbeatMs?: number
  /** deltas kept for replay after a reconnect; default 120 */
  replay?: number
  /** a client more than this many bytes behind is dropped (it reconnects and gets a snapshot); default 8 MiB */
  maxBufferedBytes?: number
  /** server retry hint in ms for EventSource-style clients; default 2000 */
  retryMs?: number
  now?: () => number
  onError?: (err: Error, section: string) => void
}

interface SectionState {
  value?: string
  parsed?: unknown
  items?: Map<string, { version: string | number; item: unknown }>
}

interface Encoded {
  seq: number
  frame: string
}

/** The live feed hub. Register clients with `connect`; it ticks only while any are connected. */
export class LiveHub {
  readonly epoch: string
  readonly #o: Required<Omit<LiveHubOptions, 'onError'>> & Pick<LiveHubOptions, 'onError'>
  readonly #state = new Map<string, SectionState>()
  readonly #clients = new Set<LiveClient>()
  readonly #ring: Encoded[] = []
  #seq = 0
  #lastT = 0
  #lastErrors: Record<string, string> = {}
  #timer: NodeJS.Timeout | null = null
  #heartbeat: NodeJS.Timeout | null = null
  #ticking: Promise<void> | null = null
  #primed = false
  #closed = false
  /** counters for tests, /metrics and the benchmark */
  readonly stats = { ticks: 0, events: 0, bytes: 0, snapshots: 0, replays: 0, dropped: 0 }

  constructor(opts: LiveHubOptions) {
    this.#o = {
      intervalMs: 1_000,
      heartbeatMs: 15_000,
      replay: 120,
      maxBufferedBytes: 8 * 1024 * 1024,
      retryMs: 2_000,
      now: Date.now,
      ...opts,
    }
    this.epoch = this.#o.now().toString(36)
  }

  get clients(): number {
    return this.#clients.size
  }

  /** The newest event id, `<epoch>-<seq>`. */
  get lastEventId(): string {
    return `${this.epoch}-${this.#seq}`
  }

  /**
   * Adds a client: replays the deltas after `lastEventId` when this process still has them,
   * else sends a snapshot. Resolves once the first frame is written.
   */
  async connect(client: LiveClient, lastEventId?: string): Promise<void> {
    if (this.#closed) {
      client.close()
      return
    }
    client.write(`retry: ${this.#o.retryMs}\n\n`)
    // the first client: read the sources once, so the snapshot is current
    if (!this.#primed) await this.tick()
    const from = this.#replayFrom(lastEventId)
    if (from !== null) {
      this.stats.replays++
      for (const e of this.#ring) if (e.seq > from) client.write(e.frame)
    } else {
      this.stats.snapshots++
      client.write(this.#frame(this.#snapshot()))
    }
    this.#clients.add(client)
    this.#start()
  }

  disconnect(client: LiveClient): void {
    this.#clients.delete(client)
    if (this.#clients.size === 0) this.#stop()
  }

  /** Stops ticking and ends every client's stream. */
  close(): void {
    this.#closed = true
    this.#stop()
    for (const c of this.#clients) c.close()
    this.#clients.clear()
  }

  /**
   * Reads every section once and broadcasts what changed (nothing when nothing did). Ticks never
   * overlap: a tick that is still reading makes the next one wait for it.
   */
  tick(): Promise<void> {
    this.#ticking ??= this.#tick().finally(() => (this.#ticking = null))
    return this.#ticking
  }

  async #tick(): Promise<void> {
    this.stats.ticks++
    const t = this.#o.now()
    const delta: LiveEvent = { seq: 0, t, snapshot: false, set: {}, upsert: {}, remove: {} }
    const errors: Record<string, string> = {}
    let changed = false
    await Promise.all(
      Object.entries(this.#o.sections).map(async ([name, section]) => {
        let st = this.#state.get(name)
        if (st === undefined) this.#state.set(name, (st = {}))
        try {
          if (section.kind === 'value') {
            const v = section.read()
            const value = v instanceof Promise ? await (v as Promise<unknown>) : v
            const json = JSON.stringify(value ?? null)
            if (json !== st.value) {
              st.value = json
              st.parsed = value ?? null
              delta.set[name] = value ?? null
              changed = true
            }
            return
          }
          const s = section as unknown as KeyedSection<unknown>
          const items = await s.read()
          const prev = st.items ?? new Map<string, { version: string | number; item: unknown }>()
          const next = new Map<string, { version: string | number; item: unknown }>()
          const up: unknown[] = []
          for (const item of items) {
            const k = s.key(item)
            const version = s.version !== undefined ? s.version(item) : JSON.stringify(item)
            next.set(k, { version, item })
            if (prev.get(k)?.version !== version) up.push(item)
          }
          const gone: string[] = []
          for (const k of prev.keys()) if (!next.has(k)) gone.push(k)
          st.items = next
          if (up.length > 0) delta.upsert[name] = up
          if (gone.length > 0) delta.remove[name] = gone
          if (up.length > 0 || gone.length > 0) changed = true
        } catch (err) {
          errors[name] = (err as Error).message
          this.#o.onError?.(err as Error, name)
        }
      }),
    )
    this.#primed = true
    this.#lastT = t
    const errorsJson = JSON.stringify(errors)
    if (errorsJson !== JSON.stringify(this.#lastErrors)) {
      changed = true
      this.#lastErrors = errors
    }
    if (!changed) return
    delta.seq = ++this.#seq
    if (Object.keys(errors).length > 0) delta.errors = errors
    const frame = this.#frame(delta)
    this.#ring.push({ seq: delta.seq, frame })
    if (this.#ring.length > this.#o.replay) this.#ring.shift()
    this.#broadcast(frame)
  }

  #snapshot(): LiveEvent {
    const ev: LiveEvent = { seq: this.#seq, t: this.#lastT, snapshot: true, set: {}, upsert: {}, remove: {} }
    for (const [name, section] of Object.entries(this.#o.sections)) {
      const st = this.#state.get(name)
      if (section.kind === 'value') ev.set[name] = st?.value !== undefined ? st.parsed : null
      else ev.upsert[name] = [...(st?.items?.values() ?? [])].map((x) => x.item)
    }
    if (Object.keys(this.#lastErrors).length > 0) ev.errors = this.#lastErrors
    return ev
  }

  #replayFrom(lastEventId: string | undefined): number | null {
    if (lastEventId === undefined) return null
    const m = /^([0-9a-z]+)-(\d+)$/.exec(lastEventId.trim())
    if (m === null || m[1] !== this.epoch) return null
    const seq = Number(m[2])
    if (seq > this.#seq) return null
    if (seq === this.#seq) return seq
    const oldest = this.#ring[0]?.seq
    // every delta after `seq` must still be in the ring
    return oldest !== undefined && oldest <= seq + 1 ? seq : null
  }

  #frame(ev: LiveEvent): string {
    const data = JSON.stringify(ev)
    this.stats.events++
    return `id: ${this.epoch}-${ev.seq}\nevent: ${ev.snapshot ? 'snapshot' : 'delta'}\ndata: ${data}\n\n`
  }

  #broadcast(frame: string): void {
    for (const c of this.#clients) {
      if (c.buffered() > this.#o.maxBufferedBytes) {
        // a client this far behind would only fall further; it reconnects and gets a snapshot
        this.stats.dropped++
        this.#clients.delete(c)
        c.close()
        continue
      }
      c.write(frame)
      this.stats.bytes += frame.length
    }
    if (this.#clients.size === 0) this.#stop()
  }

  #start(): void {
    if (this.#timer !== null || this.#closed) return
    this.#timer = setInterval(() => void this.tick(), this.#o.intervalMs)
    this.#heartbeat = setInterval(() => {
      for (const c of this.#clients) c.write(`: ping ${this.#o.now()}\n\n`)
    }, this.#o.heartbeatMs)
    this.#timer.unref()
    this.#heartbeat.unref()
  }

  #stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat)
    this.#timer = null
    this.#heartbeat = null
    // without listeners nothing is diffed: the next client's first tick re-reads everything
    this.#primed = false
  }
}
