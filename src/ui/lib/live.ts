/**
 * The live feed client: reads `GET /api/live` (server-sent events) with fetch, so the admin token
 * travels in a header and never in a URL, and keeps the dashboard's copy of the live state.
 *
 * Resilience: a dropped stream reconnects with backoff and `Last-Event-ID`, so the server replays
 * the deltas missed or, after a restart, sends a fresh snapshot. A stream that stays silent past
 * three heartbeats (a sleeping laptop, a proxy that lost the connection) is abandoned and
 * reopened; waking up, coming back online or showing the tab again checks at once.
 */
import type { LiveEvent } from '../../api/live.js'
import { getToken, logout } from './api.js'
import { SseParser } from './sse.js'

export type LiveStatus = 'connecting' | 'live' | 'reconnecting' | 'offline'

type Listener = () => void
type Item = Record<string, unknown>

const STALE_MS = 45_000
const MAX_BACKOFF_MS = 15_000

/**
 * Keyed items carry their key as `id`, or `key` when they have no `id` (a series), as the server's
 * key function reads it. An anomaly has both, and `key` is its series': keyed by that, the anomalies
 * open on one series replaced each other and a removal (by id) found none.
 */
export function itemKey(item: Item): string {
  return String(item.id ?? item.key)
}

export class LiveStore {
  readonly values = new Map<string, unknown>()
  readonly keyed = new Map<string, Map<string, Item>>()
  status: LiveStatus = 'connecting'
  /** server time of the newest event, and local time it arrived */
  serverT = 0
  receivedAt = 0
  errors: Record<string, string> = {}
  /** bumps on every applied event */
  version = 0
  lastEventId: string | null = null
  readonly #listeners = new Set<Listener>()
  readonly #eventListeners = new Set<(ev: LiveEvent) => void>()
  #scheduled = false

  subscribe(f: Listener): () => void {
    this.#listeners.add(f)
    return () => this.#listeners.delete(f)
  }

  /** Called with every applied event, before listeners re-render (history uses it). */
  onEvent(f: (ev: LiveEvent) => void): () => void {
    this.#eventListeners.add(f)
    return () => this.#eventListeners.delete(f)
  }

  /** The server's clock now, from the newest event's time and when it arrived (the browser's may be off). */
  serverNow(): number {
    return this.receivedAt === 0 ? Date.now() : Date.now() + (this.serverT - this.receivedAt)
  }

  /**
   * A section's value, or undefined when it has none: the server sends null for a section that
   * could not be read (a standby control plane has no learning summary), and pages test for
   * undefined.
   */
  value<T>(name: string): T | undefined {
    return (this.values.get(name) ?? undefined) as T | undefined
  }

  items<T>(name: string): T[] {
    return [...(this.keyed.get(name)?.values() ?? [])] as T[]
  }

  apply(ev: LiveEvent): void {
    if (ev.snapshot) {
      this.values.clear()
      this.keyed.clear()
    }
    for (const [name, v] of Object.entries(ev.set)) this.values.set(name, v)
    for (const [name, items] of Object.entries(ev.upsert)) {
      let m = this.keyed.get(name)
      if (m === undefined) this.keyed.set(name, (m = new Map()))
      for (const it of items as Item[]) m.set(itemKey(it), it)
    }
    for (const [name, keys] of Object.entries(ev.remove)) {
      const m = this.keyed.get(name)
      if (m !== undefined) for (const k of keys) m.delete(k)
    }
    // every event carries the sections failing when it was made, and none when all read: a standby
    // that took the lead clears its "unavailable" badge with its first delta, not at a reconnect
    this.errors = ev.errors ?? {}
    this.serverT = ev.t
    this.receivedAt = Date.now()
    this.version++
    for (const f of this.#eventListeners) f(ev)
    this.changed()
  }

  setStatus(s: LiveStatus): void {
    if (s === this.status) return
    this.status = s
    this.changed()
  }

  /** Re-renders at most once per frame however many events arrive. */
  changed(): void {
    if (this.#scheduled) return
    this.#scheduled = true
    const run = () => {
      this.#scheduled = false
      for (const f of this.#listeners) f()
    }
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible')
      requestAnimationFrame(run)
    else setTimeout(run, 250)
  }
}

/** Keeps one live stream open while started. */
export class LiveConnection {
  readonly store: LiveStore
  #ac: AbortController | null = null
  #timer: ReturnType<typeof setTimeout> | null = null
  #watchdog: ReturnType<typeof setInterval> | null = null
  #attempt = 0
  #lastByteAt = 0
  #running = false
  #retryMs = 2_000
  readonly #wake = () => this.#checkNow()

  constructor(store: LiveStore) {
    this.store = store
  }

  start(): void {
    if (this.#running) return
    this.#running = true
    this.#attempt = 0
    this.#open()
    this.#watchdog = setInterval(() => this.#checkStale(), 5_000)
    window.addEventListener('online', this.#wake)
    document.addEventListener('visibilitychange', this.#wake)
  }

  stop(): void {
    this.#running = false
    this.#ac?.abort()
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (this.#watchdog !== null) clearInterval(this.#watchdog)
    window.removeEventListener('online', this.#wake)
    document.removeEventListener('visibilitychange', this.#wake)
  }

  #checkNow(): void {
    if (!this.#running || document.visibilityState !== 'visible') return
    if (this.store.status !== 'live' || Date.now() - this.#lastByteAt > STALE_MS) this.#restart(0)
  }

  #checkStale(): void {
    // after a sleep the clock jumps: the stream is silent for longer than any heartbeat gap
    if (this.store.status === 'live' && Date.now() - this.#lastByteAt > STALE_MS) this.#restart(0)
  }

  #restart(delayMs: number): void {
    this.#ac?.abort()
    this.#ac = null
    if (this.#timer !== null) clearTimeout(this.#timer)
    if (!this.#running) return
    this.store.setStatus(this.#attempt >= 3 ? 'offline' : 'reconnecting')
    this.#timer = setTimeout(() => this.#open(), delayMs)
  }

  #backoff(): number {
    const base = Math.min(MAX_BACKOFF_MS, Math.max(this.#retryMs, 500 * 2 ** this.#attempt))
    this.#attempt++
    return base / 2 + Math.random() * (base / 2)
  }

  async #open(): Promise<void> {
    this.#timer = null
    const token = getToken()
    if (token === null) return
    const ac = new AbortController()
    this.#ac = ac
    const headers: Record<string, string> = {
      accept: 'text/event-stream',
      authorization: `Bearer ${token}`,
    }
    if (this.store.lastEventId !== null) headers['last-event-id'] = this.store.lastEventId
    try {
      const res = await fetch('/api/live', { headers, signal: ac.signal, cache: 'no-store' })
      if (res.status === 401 || res.status === 403) {
        // read the server's reason before stop(): it aborts this response's body too
        const body = (await res.json().catch(() => null)) as { message?: string } | null
        this.stop()
        logout(
          `Your session was refused${body?.message !== undefined ? ` (${body.message})` : ''}: log in again.`,
        )
        return
      }
      if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`)
      this.#lastByteAt = Date.now()
      const parser = new SseParser(
        (event, data, id) => {
          if (event !== 'snapshot' && event !== 'delta') return
          const ev = JSON.parse(data) as LiveEvent
          if (id !== null) this.store.lastEventId = id
          this.#attempt = 0
          this.store.apply(ev)
          this.store.setStatus('live')
        },
        (ms) => (this.#retryMs = ms),
      )
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
      for (;;) {
        const { value, done } = await reader.read()
        if (done) break
        this.#lastByteAt = Date.now()
        parser.push(value)
      }
      if (this.#ac === ac) this.#restart(this.#backoff())
    } catch {
      if (this.#ac === ac) this.#restart(this.#backoff())
    }
  }
}

export const liveStore = new LiveStore()
export const live = new LiveConnection(liveStore)
