/**
 * @module The baseline of one count (5xx errors, 429s) of one series given its requests: a binomial
 * tail that judges and learns only windows outside incidents, beside one that learns every window.
 */
import { PoissonTail, type DetectorSnapshot } from '../detect/index.js'

/** Windows a count baseline learns before it judges (the novelty detectors need ~100). */
export const COUNT_GRACE = 64

const tail = () => new PoissonTail({ side: 'upper', gracePeriod: COUNT_GRACE })

/** Plain data: structuredClone and v8.serialize safe. */
export interface CountBaselineSnapshot {
  judge: DetectorSnapshot
  /** absent in snapshots from before the two were kept apart: a copy of `judge` */
  all?: DetectorSnapshot
}

/**
 * Two binomial tails of the same count. `judge` scores each window and learns it only when the
 * caller says it is outside an incident: an incident's windows would raise the expected count and
 * the over-dispersion φ (each counts up to 50·φ, and φ compounds over a burst of windows), so the
 * next incident of the same size would look ordinary. `all` learns every window and so follows
 * what the series does now: a lasting new level is recognised against it, and once the caller
 * accepts that level (`accept`), `judge` takes over what `all` learned.
 */
export class CountBaseline {
  #judge = tail()
  #all = tail()

  /** Sets the trials (the requests) of the window about to be scored and learned. */
  observeTrials(n: number): void {
    this.#judge.observeTrials(n)
    this.#all.observeTrials(n)
  }

  /** −ln P(X ≥ k) under the baseline of windows outside incidents. */
  surprise(k: number): number {
    return this.#judge.surprise(k)
  }

  /** The expected count and its band (mean ± 3 sd) outside incidents. */
  expected(): { value: number; low: number; high: number } {
    return this.#judge.expected()
  }

  /** The expected count and band learned from every window, incidents included. */
  current(): { value: number; low: number; high: number } {
    return this.#all.expected()
  }

  /** Learns k; `held`: the window belongs to an open incident, which only `all` learns. */
  learn(k: number, held: boolean): void {
    this.#all.update(k)
    if (!held) this.#judge.update(k)
  }

  /** The caller accepted a lasting new level: it becomes the baseline that judges. */
  accept(): void {
    this.#judge.restore(this.#all.snapshot())
  }

  snapshot(): Required<CountBaselineSnapshot> {
    return { judge: this.#judge.snapshot(), all: this.#all.snapshot() }
  }

  static restore(snap: CountBaselineSnapshot): CountBaseline {
    const b = new CountBaseline()
    b.#judge.restore(snap.judge)
    b.#all.restore(snap.all ?? snap.judge)
    return b
  }
}
