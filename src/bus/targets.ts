/**
 * @module Run-time targets over the bus (scaled out): the control plane's autoscaler publishes a
 * service's healthy replicas; every gateway follows the subject (`Bus.follow`: from the oldest
 * list the stream keeps, on a consumer of its own that leaves nothing behind) and applies the
 * newest list per service with `setTargets`. A gateway that starts (or restarts) replays the
 * stream and ends on the newest lists; an older message arriving late is ignored by its publish
 * time and sequence.
 */
import type { Bus, BusMessage, Subscription } from './bus.js'

export interface TargetsMessage {
  service: string
  urls: string[]
  /** publish time, then a per-publisher sequence: which list is newer */
  atMs: number
  seq: number
}

export function encodeTargets(m: TargetsMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m))
}

/** Null for a message that is not a targets list (logged by the caller, acked: it never will be). */
export function decodeTargets(data: Uint8Array): TargetsMessage | null {
  try {
    const m = JSON.parse(new TextDecoder().decode(data)) as Partial<TargetsMessage>
    if (
      typeof m.service !== 'string' ||
      !Array.isArray(m.urls) ||
      !m.urls.every((u) => typeof u === 'string') ||
      typeof m.atMs !== 'number' ||
      typeof m.seq !== 'number'
    )
      return null
    return { service: m.service, urls: m.urls, atMs: m.atMs, seq: m.seq }
  } catch {
    return null
  }
}

/** The actuators' TargetPool in `vigil control`: resolves once the bus stored the list. */
export class BusTargetPool {
  #seq = 0
  constructor(
    private readonly bus: Bus,
    private readonly subject: string,
    private readonly now: () => number = Date.now,
  ) {}

  setTargets(service: string, urls: readonly string[]): Promise<void> {
    return this.bus.publish(
      this.subject,
      encodeTargets({ service, urls: [...urls], atMs: this.now(), seq: ++this.#seq }),
    )
  }
}

/**
 * Applies every newer list to `apply` (a gateway's setTargets), from the oldest list the bus
 * keeps: a gateway (re)starts on its configured targets and ends on the control plane's.
 */
export async function followTargets(
  bus: Bus,
  subject: string,
  apply: (service: string, urls: readonly string[]) => Promise<void>,
  onBad?: (why: string) => void,
): Promise<Subscription> {
  if (bus.follow === undefined)
    throw new Error(`the ${bus.kind} bus keeps no history to follow ${subject} from: use bus.kind nats`)
  const newest = new Map<string, { atMs: number; seq: number }>()
  return bus.follow(subject, async (msg: BusMessage) => {
    const m = decodeTargets(msg.data)
    if (m === null) {
      onBad?.(`${subject}: a message that is not a targets list was dropped`)
      return
    }
    const prev = newest.get(m.service)
    if (prev !== undefined && (prev.atMs > m.atMs || (prev.atMs === m.atMs && prev.seq >= m.seq))) return
    await apply(m.service, m.urls)
    newest.set(m.service, { atMs: m.atMs, seq: m.seq })
  })
}
