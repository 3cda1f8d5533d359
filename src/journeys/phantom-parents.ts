/**
 * @module Parents that never come. A caller that passes its own span id on without exporting its
 * spans (an uninstrumented proxy or sidecar, a service that samples its own spans out, a gateway
 * with another sampleRate than the control plane) leaves the spans it calls naming a parent that
 * never arrives, and every trace through it would wait its longest for nothing. This learns such
 * hops, keyed by the child span's service, env and operation (span name): after `learnAfter`
 * traces in a row decided at their longest wait still missing a parent named under a key, later
 * traces do not wait for parents named under it (see {@link KnownPhantoms}). A parent under a key
 * that arrives after the usual wait (the wait would have been worth it: an instrumented caller
 * deployed since) forgets the key at once. A parent that arrives in time does not: the trace was
 * whole at the usual wait anyway, so a caller that sends its spans for some requests only (a
 * gateway keeps its errors and slow ones) stays learned. Pure: time comes in as arguments.
 */
import type { KnownPhantoms } from './completeness.js'
import type { JourneySpan } from './span.js'

/** A hop learned to name parents that never come, as the journeys' stats show it. */
export interface PhantomHop {
  /** the service, env and operation of the spans that name the parents */
  service: string
  env: string
  name: string
  /** when it was learned */
  sinceMs: number
  /** traces decided at the usual wait since, without waiting for its parents */
  traces: number
  /**
   * the traces that taught it had no root either: the missing caller is their top (a gateway or
   * client whose spans do not come), so the span under it stands for the trace's root
   */
  rootsTrace: boolean
}

export interface PhantomParentsOptions {
  /** traces in a row decided at their longest wait still missing a parent under a key, to learn it (3) */
  learnAfter?: number
  /** keys remembered, learned or being learned; the least recently seen goes first (1000) */
  maxKeys?: number
  /** a key not seen in a trace for this long is forgotten (1 h) */
  ttlMs?: number
  /**
   * a hop was learned, or forgotten because a parent under it arrived after the usual wait (not
   * when it is pruned or evicted: nothing changed about it then)
   */
  onChange?: (change: 'learned' | 'forgotten', hop: PhantomHop) => void
}

interface Entry {
  readonly key: string
  readonly service: string
  readonly env: string
  readonly name: string
  /** traces in a row decided at their longest wait still missing a parent named under the key */
  streak: number
  /** none of them had its root: the missing parent is the trace's top */
  top: boolean
  learnedAtMs: number | null
  traces: number
  lastSeenMs: number
}

const hopOf = (e: Entry, sinceMs: number): PhantomHop => ({
  service: e.service,
  env: e.env,
  name: e.name,
  sinceMs,
  traces: e.traces,
  rootsTrace: e.top,
})

/** The key of the hop under which `s` names its parent. */
export const phantomKey = (s: JourneySpan): string => `${s.service}\u0000${s.env}\u0000${s.name}`

export class PhantomParents implements KnownPhantoms {
  readonly #learnAfter: number
  readonly #maxKeys: number
  readonly #ttlMs: number
  readonly #onChange: PhantomParentsOptions['onChange']
  /** in order of when each was last seen, oldest first */
  readonly #entries = new Map<string, Entry>()
  /** keys per service: a span of a service without one is answered without building its key */
  readonly #services = new Map<string, number>()
  #learned = 0

  constructor(opts: PhantomParentsOptions = {}) {
    this.#learnAfter = opts.learnAfter ?? 3
    this.#maxKeys = opts.maxKeys ?? 1000
    this.#ttlMs = opts.ttlMs ?? 3_600_000
    this.#onChange = opts.onChange
  }

  #get(s: JourneySpan): Entry | undefined {
    return this.#services.has(s.service) ? this.#entries.get(phantomKey(s)) : undefined
  }

  excuse(s: JourneySpan): 'root' | 'boundary' | null {
    if (this.#learned === 0) return null
    const e = this.#get(s)
    if (e === undefined || e.learnedAtMs === null) return null
    return e.top ? 'root' : 'boundary'
  }

  /**
   * A trace decided at its longest wait: `children` name the parents it still lacks; `rooted`: it
   * had its root. Each key counts once per trace. Returns whether a hop was learned by it.
   */
  missed(children: Iterable<JourneySpan>, rooted: boolean, nowMs: number): boolean {
    let learned = false
    const seen = new Set<Entry>()
    for (const s of children) {
      const key = phantomKey(s)
      let e = this.#entries.get(key)
      if (e === undefined) {
        e = {
          key,
          service: s.service,
          env: s.env,
          name: s.name,
          streak: 0,
          top: true,
          learnedAtMs: null,
          traces: 0,
          lastSeenMs: nowMs,
        }
        this.#add(e)
      }
      if (seen.has(e)) continue
      seen.add(e)
      e.streak++
      if (rooted) e.top = false
      if (e.learnedAtMs === null && e.streak >= this.#learnAfter) {
        e.learnedAtMs = nowMs
        this.#learned++
        learned = true
        this.#onChange?.('learned', hopOf(e, nowMs))
      }
      this.#touch(e, nowMs)
    }
    return learned
  }

  /** A trace decided at the usual wait without the parents `children` name (under learned keys). */
  assumed(children: Iterable<JourneySpan>, nowMs: number): void {
    const seen = new Set<Entry>()
    for (const s of children) {
      const e = this.#get(s)
      if (e === undefined || seen.has(e)) continue
      seen.add(e)
      e.traces++
      this.#touch(e, nowMs)
    }
  }

  /**
   * A parent named under `key` (or by span `child`) arrived after the usual wait: the hop's
   * parents do come, and its traces wait for them again.
   */
  arrived(child: JourneySpan | string): void {
    if (typeof child !== 'string' && !this.#services.has(child.service)) return
    const e = this.#entries.get(typeof child === 'string' ? child : phantomKey(child))
    if (e === undefined) return
    this.#delete(e)
    if (e.learnedAtMs !== null) this.#onChange?.('forgotten', hopOf(e, e.learnedAtMs))
  }

  /** Forgets the keys not seen in a trace for ttlMs. */
  prune(nowMs: number): void {
    for (const e of this.#entries.values()) {
      if (e.lastSeenMs + this.#ttlMs > nowMs) break
      this.#delete(e)
    }
  }

  /** The hops learned, most traces first. */
  hops(): PhantomHop[] {
    const out: PhantomHop[] = []
    for (const e of this.#entries.values()) if (e.learnedAtMs !== null) out.push(hopOf(e, e.learnedAtMs))
    return out.sort((a, b) => b.traces - a.traces || a.service.localeCompare(b.service))
  }

  #touch(e: Entry, nowMs: number): void {
    e.lastSeenMs = Math.max(e.lastSeenMs, nowMs)
    this.#entries.delete(e.key)
    this.#entries.set(e.key, e)
  }

  #add(e: Entry): void {
    if (this.#entries.size >= this.#maxKeys) {
      const oldest = this.#entries.values().next().value
      if (oldest !== undefined) this.#delete(oldest)
    }
    this.#entries.set(e.key, e)
    this.#services.set(e.service, (this.#services.get(e.service) ?? 0) + 1)
  }

  #delete(e: Entry): void {
    if (this.#entries.get(e.key) !== e) return
    this.#entries.delete(e.key)
    if (e.learnedAtMs !== null) this.#learned--
    const n = (this.#services.get(e.service) ?? 1) - 1
    if (n <= 0) this.#services.delete(e.service)
    else this.#services.set(e.service, n)
  }
}
