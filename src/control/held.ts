/**
 * @module What the control plane's consumers share about the messages they hold unacked until
 * the window they belong to is done (rollups, client windows, span batches): keeping them alive
 * past the ack wait, and, after a takeover, waiting for the ones a dead predecessor held
 * (`DurableSubscription.inherited`) before closing any window, so windows close in order.
 */
import { INHERIT_SLACK_MS, type BusMessage, type DurableSubscription } from '../bus/index.js'

/** What a consumer took over from the one before it (see `Inherited` in the bus port). */
export interface InheritedStats {
  /** messages the previous consumer had been handed and not settled */
  held: number
  /** of those, how many had not come back when the wait ended (0 normally) */
  missing: number
  /** how long windows were held for them (0 when there were none) */
  waitedMs: number
}

/**
 * Messages held unacked, with when the bus last heard of each (delivery or `working()`), on the
 * real clock: ack waits run on the bus's clock, not on a consumer's `now`.
 */
export class HeldMessages {
  readonly #at = new Map<BusMessage, number>()
  readonly #ackWaitMs: number

  constructor(ackWaitMs: number) {
    this.#ackWaitMs = ackWaitMs
  }

  hold(m: BusMessage): void {
    this.#at.set(m, Date.now())
  }

  ack(m: BusMessage): void {
    this.#at.delete(m)
    m.ack()
  }

  nak(m: BusMessage, delayMs: number): void {
    this.#at.delete(m)
    m.nak(delayMs)
  }

  /**
   * Tells the bus every message held for a third of the ack wait since it last heard of it that
   * it is still being worked on. Called every sixth of the ack wait, no message goes more than
   * half of it untouched; one pass for all, not a timer per message.
   */
  keep(): void {
    const now = Date.now()
    const due = now - this.#ackWaitMs / 3
    for (const [m, at] of this.#at)
      if (at <= due) {
        m.working()
        this.#at.set(m, now)
      }
  }

  /** Forgets them all: what is left goes back to the bus when its ack wait ends. */
  clear(): void {
    this.#at.clear()
  }
}

/**
 * Calls `release` once the messages `sub` inherited from a previous consumer came back (the bus
 * ends that wait itself, a little after the ack wait), then `done` with what it took over,
 * `waitedMs` counted from `subscribedAt`. Calls `release` after twice that wait at the latest, so
 * a bus that never answers cannot hold every window forever.
 */
export function whenInherited(
  sub: DurableSubscription,
  ackWaitMs: number,
  subscribedAt: number,
  release: () => void,
  done: (x: InheritedStats) => void,
): void {
  const bound = setTimeout(release, 2 * (ackWaitMs + INHERIT_SLACK_MS))
  bound.unref()
  void sub.inherited.then((x) => {
    clearTimeout(bound)
    release()
    done({ ...x, waitedMs: x.held === 0 ? 0 : Date.now() - subscribedAt })
  })
}
