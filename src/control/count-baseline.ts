/**
 * @module The baseline of one count (5xx errors, 429s) of one series given its requests: a binomial
 * tail that judges and learns only windows outside incidents, beside one that learns every window,
 * and the CUSUM that accumulates a sustained excess against the one that judges.
 */
import {
  CountCusum,
  PoissonTail,
  type CountCusumSnapshot,
  type CountExcess,
  type DetectorSnapshot,
} from '../detect/index.js'

/** Windows a count baseline learns before it judges (the novelty detectors need ~100). */
export const COUNT_GRACE = 64

/**
 * Windows of a CUSUM run the judging baseline waits to learn: beyond it the oldest is learned, so
 * a long run of mild evidence that never becomes an incident is not kept from it for ever.
 */
export const MAX_PENDING = 64

const tail = () => new PoissonTail({ side: 'upper', gracePeriod: COUNT_GRACE })

/** Plain data: structuredClone and v8.serialize safe. */
export interface CountBaselineSnapshot {
  judge: DetectorSnapshot
  /** absent in snapshots from before the two were kept apart: a copy of `judge` */
  all?: DetectorSnapshot
  /**
   * the sustained-excess CUSUM and the windows of its run the judging baseline has not learned
   * yet, `[count, trials]` oldest first (absent in snapshots from before it: starts from 0)
   */
  sustained?: { cusum: CountCusumSnapshot; pending: [number, number][]; settling?: boolean }
}

/**
 * Two binomial tails of the same count. `judge` scores each window and learns it only when the
 * caller says it is outside an incident: an incident's windows would raise the expected count and
 * the over-dispersion φ (each counts up to 50·φ, and φ compounds over a burst of windows), so the
 * next incident of the same size would look ordinary. `all` learns every window and so follows
 * what the series does now: a lasting new level is recognised against it, and once the caller
 * accepts that level (`accept`), `judge` takes over what `all` learned.
 *
 * A CUSUM ({@link CountCusum}) accumulates the excess of each window over `judge`'s expected
 * count. While its statistic is above 0 the windows of its run may be the start of an incident,
 * so `judge` learns them only once the statistic falls back to 0 (they were noise after all); if
 * the run opens an anomaly (`opened`) they are the incident's and `judge` never learns them.
 * Once a lasting new level is accepted, `judge` starts from what `all` learned, whose mean still
 * lags the new level (it forgets over 500 windows): the CUSUM waits for the first window that is
 * no evidence against it, so the accepted level does not open a sustained anomaly straight away.
 */
export class CountBaseline {
  #judge = tail()
  #all = tail()
  #cusum = new CountCusum()
  #pending: [number, number][] = []
  #trials = 1
  /** a new level was accepted and no window since was calm against the baseline that judges */
  #settling = false

  /** Sets the trials (the requests) of the window about to be scored and learned. */
  observeTrials(n: number): void {
    this.#trials = n
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

  /**
   * Adds the window's count to the sustained-excess CUSUM, judged against the baseline outside
   * incidents before it learns the window; null while that baseline is in its grace period.
   */
  sustain(k: number): CountExcess | null {
    const m = this.#judge.model()
    if (!m.ready) return null
    if (this.#settling) {
      if (k > this.#cusum.alternative(m.mean).evidence) return null
      this.#settling = false
    }
    return this.#cusum.step(k, m.mean, m.phi, this.#trials)
  }

  /** Learns k; `held`: the window belongs to an open incident, which only `all` learns. */
  learn(k: number, held: boolean): void {
    this.#all.update(k)
    if (held) return
    if (this.#cusum.excess().statistic > 0) {
      this.#pending.push([k, this.#trials])
      if (this.#pending.length > MAX_PENDING) this.#learnJudge(...(this.#pending.shift() as [number, number]))
      return
    }
    for (const [pk, pn] of this.#pending) this.#learnJudge(pk, pn)
    this.#pending = []
    this.#learnJudge(k, this.#trials)
  }

  #learnJudge(k: number, trials: number): void {
    this.#judge.observeTrials(trials)
    this.#judge.update(k)
    this.#judge.observeTrials(this.#trials)
  }

  /** An anomaly opened on the count: the CUSUM's evidence is spent, and its run is the incident's. */
  opened(): void {
    this.#cusum.reset()
    this.#pending = []
  }

  /** The caller accepted a lasting new level: it becomes the baseline that judges. */
  accept(): void {
    this.#judge.restore(this.#all.snapshot())
    this.opened()
    this.#settling = true
  }

  snapshot(): Required<CountBaselineSnapshot> {
    return {
      judge: this.#judge.snapshot(),
      all: this.#all.snapshot(),
      sustained: {
        cusum: this.#cusum.snapshot(),
        pending: this.#pending.map(([k, n]) => [k, n]),
        settling: this.#settling,
      },
    }
  }

  static restore(snap: CountBaselineSnapshot): CountBaseline {
    const b = new CountBaseline()
    b.#judge.restore(snap.judge)
    b.#all.restore(snap.all ?? snap.judge)
    b.#cusum.restore(snap.sustained?.cusum)
    b.#pending = snap.sustained?.pending.map(([k, n]) => [k, n]) ?? []
    b.#settling = snap.sustained?.settling ?? false
    return b
  }
}
