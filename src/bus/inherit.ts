/**
 * @module How an adapter keeps `DurableSubscription.inherited` (bus.ts): it says how many messages
 * a new subscription inherited and how to tell one by its sequence in the bus, and reports each
 * message handed to the handler; the promise resolves when the last inherited one was, or once the
 * wait is over.
 */
import type { Inherited } from './bus.js'

export class InheritWatch {
  readonly inherited: Promise<Inherited>
  readonly #held: number
  readonly #isInherited: (seq: number) => boolean
  readonly #back = new Set<number>()
  #resolve!: (x: Inherited) => void
  #timer: NodeJS.Timeout | null = null
  #done = false

  /**
   * `held` messages were inherited, each one a sequence `isInherited` accepts (a range may hold
   * more sequences than that: acked ones); `waitMs`: how long they may take to come back at most.
   */
  constructor(held: number, isInherited: (seq: number) => boolean, waitMs: number) {
    this.#held = held
    this.#isInherited = isInherited
    this.inherited = new Promise((r) => (this.#resolve = r))
    if (held <= 0) this.settle()
    else {
      this.#timer = setTimeout(() => this.settle(), waitMs)
      this.#timer.unref()
    }
  }

  /** Call after the handler was given the message with this sequence. */
  handed(seq: number): void {
    if (this.#done || !this.#isInherited(seq)) return
    this.#back.add(seq)
    if (this.#back.size >= this.#held) this.settle()
  }

  /** Resolves now with what is still missing (the wait ended, or the subscription closed). */
  settle(): void {
    if (this.#done) return
    this.#done = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#resolve({ held: Math.max(0, this.#held), missing: Math.max(0, this.#held - this.#back.size) })
    this.#back.clear()
  }
}
