/**
 * @module Run-time targets over the bus (scaled out): the control plane's autoscaler publishes a
 * service's healthy replicas; every gateway follows the subject (`Bus.follow`: from the oldest
 * list the stream keeps, on a consumer of its own that leaves nothing behind) and applies the
 * newest list per service with `setTargets`. A gateway that starts (or restarts) replays the
 * stream and ends on the newest lists; an older message arriving late is ignored by its publish
 * time and sequence.
 *
 * Once a gateway routes by a list and the requests it had sent to targets the list dropped have
 * finished, it says so on `<targets>.applied`. The pool waits for that word from every gateway
 * it knows routes the service before it resolves, so an actuator stops a removed replica only
 * once no gateway sends it anything: the same promise `setTargets` keeps in embedded mode.
 *
 * ```
 * control: setTargets ─▶ publish list (atMs, seq) ─▶ wait: every known gateway applied ≥ it ─▶ resolve
 *                                                     └ one silent past drainTimeoutMs: forgotten, warned
 * gateway: follow ─▶ apply (resolves once the old lists' requests finished) ─▶ publish applied
 * ```
 * A gateway is known from its first `applied`: one that starts replays every list and confirms
 * each; one that never confirmed (started before any list) still routes the configured targets,
 * which no actuator stops. A gateway forgotten after a silence is known again at its next word.
 * A gateway that stops gracefully says it left (after its last requests finished), so the pool
 * forgets it at once instead of waiting out its silence. Each gateway also answers probes on a
 * subject of its own (core NATS, nothing stored) that its confirmations name: while the pool waits,
 * it asks every second, and a gateway the server has said nobody answers for (its connection is
 * gone: it crashed or was killed) on every probe for `absentForMs` (10 s) is forgotten then, not
 * after the drain timeout; one that answers again meanwhile (a reconnect) is still waited for.
 */
import type { Bus, BusMessage, Subscription } from './bus.js'

/** Where gateways confirm the lists they apply: beside the lists, in the same stream. */
export function appliedSubject(targets: string): string {
  return `${targets}.applied`
}

export interface TargetsMessage {
  service: string
  /** null: the targets the gateway's config lists (the actuator's replicas left) */
  urls: string[] | null
  /** publish time, then a per-publisher sequence: which list is newer */
  atMs: number
  seq: number
}

const encodeJson = (m: object): Uint8Array => new TextEncoder().encode(JSON.stringify(m))

/** The message's JSON with a service and a list's (atMs, seq), or null. */
function decodeListRef(data: Uint8Array): (Record<string, unknown> & ListRef) | null {
  try {
    const m = JSON.parse(new TextDecoder().decode(data)) as Record<string, unknown> | null
    if (
      m === null ||
      typeof m.service !== 'string' ||
      typeof m.atMs !== 'number' ||
      typeof m.seq !== 'number'
    )
      return null
    return m as Record<string, unknown> & ListRef
  } catch {
    return null
  }
}

interface ListRef {
  service: string
  atMs: number
  seq: number
}

export const encodeTargets = (m: TargetsMessage): Uint8Array => encodeJson(m)

/** Null for a message that is not a targets list (logged by the caller, acked: it never will be). */
export function decodeTargets(data: Uint8Array): TargetsMessage | null {
  const m = decodeListRef(data)
  if (m === null) return null
  if (m.urls === null) return { service: m.service, urls: null, atMs: m.atMs, seq: m.seq }
  if (!Array.isArray(m.urls) || !m.urls.every((u) => typeof u === 'string')) return null
  return { service: m.service, urls: m.urls as string[], atMs: m.atMs, seq: m.seq }
}

/** A gateway's word: it routes `service` by the list (atMs, seq) or a newer one, and the older lists' requests finished. */
export interface TargetsApplied extends ListRef {
  gatewayId: string
  /** where the gateway answers probes while it is connected (absent: it cannot be probed) */
  probe?: string
}

/** A gateway's probe subject: beside the lists, one token per gateway (its id hex-encoded, so any id is a valid token). */
export function aliveSubject(targets: string, gatewayId: string): string {
  return `${targets}.alive.${Buffer.from(gatewayId, 'utf8').toString('hex')}`
}

export const encodeApplied = (m: TargetsApplied): Uint8Array => encodeJson(m)

export function decodeApplied(data: Uint8Array): TargetsApplied | null {
  const m = decodeListRef(data)
  if (m === null || typeof m.gatewayId !== 'string') return null
  const a: TargetsApplied = { gatewayId: m.gatewayId, service: m.service, atMs: m.atMs, seq: m.seq }
  if (typeof m.probe === 'string') a.probe = m.probe
  return a
}

/** A gateway's last word: it stopped, and no request it sent is still in flight. */
export interface GatewayLeft {
  gatewayId: string
  left: true
  atMs: number
}

export const encodeLeft = (m: GatewayLeft): Uint8Array => encodeJson(m)

export function decodeLeft(data: Uint8Array): GatewayLeft | null {
  try {
    const m = JSON.parse(new TextDecoder().decode(data)) as Partial<GatewayLeft> | null
    if (m === null || m.left !== true || typeof m.gatewayId !== 'string' || typeof m.atMs !== 'number')
      return null
    return { gatewayId: m.gatewayId, left: true, atMs: m.atMs }
  } catch {
    return null
  }
}

const older = (a: { atMs: number; seq: number }, b: { atMs: number; seq: number }) =>
  a.atMs < b.atMs || (a.atMs === b.atMs && a.seq < b.seq)

export interface BusTargetPoolOptions {
  /** longest wait for a gateway to confirm a list (its requests to dropped targets finished); default 30 s */
  drainTimeoutMs?: number
  /** a gateway that stayed silent past drainTimeoutMs, and confirmations that cannot be read */
  onWarn?: (message: string) => void
  now?: () => number
  /** how often a waited-for gateway is probed (default 1 s); 0: never */
  probeEveryMs?: number
  /**
   * How long the server must keep saying nobody answers for a waited-for gateway (every probe
   * since the first such answer) before it is forgotten as gone; default 10 s. A gateway that
   * lost its NATS connection for a moment is absent until its client reconnects, which waits
   * between tries (2 s by default in NATS clients, 1 s in Vigil's), so a shorter time would
   * forget a live gateway and let a replica it still routes to be stopped. The cost: a gateway
   * that crashed without saying it left delays the scale-down this long (never past
   * drainTimeoutMs). Any other answer (present, or no answer at all) starts the time over.
   */
  absentForMs?: number
}

/**
 * The actuators' TargetPool in `vigil control`: resolves once every gateway known to route the
 * service confirmed the list (after `start`; before it, or on a bus without history, once the bus
 * stored the list).
 */
export class BusTargetPool {
  #seq = 0
  /** service → gateway → the newest list it confirmed */
  readonly #applied = new Map<string, Map<string, { atMs: number; seq: number }>>()
  /** gateway → where it answers probes */
  readonly #probes = new Map<string, string>()
  readonly #changed = new Set<() => void>()
  #sub: Subscription | null = null

  constructor(
    private readonly bus: Bus,
    private readonly subject: string,
    private readonly opts: BusTargetPoolOptions = {},
  ) {}

  /** Follows the gateways' confirmations (from the oldest the bus keeps: which gateways route what). */
  async start(): Promise<void> {
    if (this.bus.follow === undefined || this.#sub !== null) return
    this.#sub = await this.bus.follow(appliedSubject(this.subject), (msg) => {
      const left = decodeLeft(msg.data)
      if (left !== null) {
        for (const gateways of this.#applied.values()) gateways.delete(left.gatewayId)
        for (const wake of this.#changed) wake()
        return
      }
      const a = decodeApplied(msg.data)
      if (a === null) {
        this.opts.onWarn?.(
          `${appliedSubject(this.subject)}: a message that is not a confirmation was dropped`,
        )
        return
      }
      if (a.probe !== undefined) this.#probes.set(a.gatewayId, a.probe)
      let gateways = this.#applied.get(a.service)
      if (gateways === undefined) this.#applied.set(a.service, (gateways = new Map()))
      const prev = gateways.get(a.gatewayId)
      if (prev === undefined || older(prev, a)) gateways.set(a.gatewayId, { atMs: a.atMs, seq: a.seq })
      for (const wake of this.#changed) wake()
    })
  }

  /** `null`: every gateway goes back to the targets its config lists for the service */
  async setTargets(service: string, urls: readonly string[] | null): Promise<void> {
    const list = {
      service,
      urls: urls === null ? null : [...urls],
      atMs: (this.opts.now ?? Date.now)(),
      seq: ++this.#seq,
    }
    // the gateways routing the service now: a gateway that starts later replays this very list
    const expected = [...(this.#applied.get(service)?.keys() ?? [])]
    await this.bus.publish(this.subject, encodeTargets(list))
    if (this.#sub !== null && expected.length > 0) await this.#confirmed(list, expected)
  }

  async #confirmed(list: TargetsMessage, expected: readonly string[]): Promise<void> {
    const gateways = this.#applied.get(list.service)!
    // a gateway forgotten meanwhile (it left, or went silent on another list) is not waited for
    const pending = () =>
      expected.filter((g) => {
        const a = gateways.get(g)
        return a !== undefined && older(a, list)
      })
    const timeoutMs = this.opts.drainTimeoutMs ?? 30_000
    let timer: NodeJS.Timeout | undefined
    let wake = () => {}
    let done = false
    try {
      await new Promise<void>((resolve) => {
        wake = () => {
          if (pending().length === 0 || this.#sub === null) resolve()
        }
        this.#changed.add(wake)
        timer = setTimeout(resolve, timeoutMs)
        wake()
        void this.#probeWhile(pending, () => done, wake, list.service)
      })
    } finally {
      done = true
      clearTimeout(timer)
      this.#changed.delete(wake)
    }
    for (const g of pending()) {
      // most likely stopped: not waited for again until it confirms a list
      gateways.delete(g)
      this.opts.onWarn?.(
        `gateway ${g} did not confirm the targets of ${list.service} within ${timeoutMs} ms; going on without it (it may have stopped)`,
      )
    }
  }

  /** Probes the pending gateways until the wait ends; forgets one the server says is not connected for absentForMs. */
  async #probeWhile(
    pending: () => string[],
    ended: () => boolean,
    wake: () => void,
    service: string,
  ): Promise<void> {
    const every = this.opts.probeEveryMs ?? 1_000
    const probe = this.bus.probe?.bind(this.bus)
    if (probe === undefined || !(every > 0)) return
    const now = this.opts.now ?? Date.now
    const absentForMs = this.opts.absentForMs ?? 10_000
    /** gateway → when the server first said nobody answers for it, since its last other answer */
    const absentSince = new Map<string, number>()
    while (!ended()) {
      await new Promise((r) => setTimeout(r, every))
      if (ended()) return
      for (const g of pending()) {
        const subject = this.#probes.get(g)
        if (subject === undefined) continue
        const r = await probe(subject, Math.min(every, 1_000))
        if (r !== 'absent') {
          absentSince.delete(g)
          continue
        }
        const since = absentSince.get(g) ?? now()
        absentSince.set(g, since)
        if (now() - since < absentForMs || ended()) continue
        absentSince.delete(g)
        for (const gateways of this.#applied.values()) gateways.delete(g)
        this.opts.onWarn?.(
          `gateway ${g} is gone (nothing answered for it on the bus for ${now() - since} ms) while the targets of ${service} changed; going on without it`,
        )
        wake()
      }
    }
  }

  async close(): Promise<void> {
    const sub = this.#sub
    this.#sub = null
    for (const wake of this.#changed) wake()
    await sub?.close()
  }
}

/** A gateway's following of the lists: `close` goes silently, `leave` says so first. */
export interface TargetsFollower extends Subscription {
  /**
   * Says this gateway left (when it confirms lists), then closes. Call it once the gateway sends
   * nothing more to any target: the control plane stops waiting for it at once.
   */
  leave(): Promise<void>
}

/**
 * Applies every newer list to `apply` (a gateway's setTargets), from the oldest list the bus
 * keeps: a gateway (re)starts on its configured targets and ends on the control plane's.
 */
export async function followTargets(
  bus: Bus,
  subject: string,
  apply: (service: string, urls: readonly string[] | null) => Promise<void>,
  onBad?: (why: string) => void,
  /** confirms each list applied (and drained) as this gateway, for the pool's wait */
  gatewayId?: string,
): Promise<TargetsFollower> {
  if (bus.follow === undefined)
    throw new Error(`the ${bus.kind} bus keeps no history to follow ${subject} from: use bus.kind nats`)
  const newest = new Map<string, { atMs: number; seq: number }>()
  // answering before following: the first confirmation already names a live probe subject
  const probe =
    gatewayId !== undefined && bus.answer !== undefined ? aliveSubject(subject, gatewayId) : undefined
  const answering = probe !== undefined ? await bus.answer!(probe) : null
  const sub = await bus.follow(subject, async (msg: BusMessage) => {
    const m = decodeTargets(msg.data)
    if (m === null) {
      onBad?.(`${subject}: a message that is not a targets list was dropped`)
      return
    }
    const prev = newest.get(m.service)
    if (prev !== undefined && (prev.atMs > m.atMs || (prev.atMs === m.atMs && prev.seq >= m.seq))) return
    await apply(m.service, m.urls)
    newest.set(m.service, { atMs: m.atMs, seq: m.seq })
    if (gatewayId !== undefined)
      await bus
        .publish(
          appliedSubject(subject),
          encodeApplied({ gatewayId, service: m.service, atMs: m.atMs, seq: m.seq, probe }),
        )
        .catch((err: Error) => onBad?.(`${appliedSubject(subject)}: not confirmed: ${err.message}`))
  })
  return {
    close: async () => {
      await sub.close()
      await answering?.close()
    },
    leave: async () => {
      await sub.close()
      if (gatewayId !== undefined)
        await bus
          .publish(appliedSubject(subject), encodeLeft({ gatewayId, left: true, atMs: Date.now() }))
          .catch((err: Error) => onBad?.(`${appliedSubject(subject)}: leaving not said: ${err.message}`))
      await answering?.close()
    },
  }
}
