/**
 * @module Token-bucket arithmetic in its single-state form, GCRA (the Generic Cell Rate Algorithm,
 * ITU-T I.371 §4.4.2 "virtual scheduling"; the same construction as Brandur Leach's throttled and
 * redis-cell). A bucket of capacity `burst` refilling at `ratePerSec` is one number per key: the
 * theoretical arrival time (TAT). Pure: time comes in as `nowMs`, nothing is stored here.
 *
 * ```
 *   interval T = 1000 / ratePerSec            (ms one token takes to refill)
 *   tolerance  = burst · T                    (how far TAT may run ahead of now)
 *   tat'       = max(tat, now) + cost · T
 *   admitted   ⇔ tat' − now ≤ tolerance − reserve · T
 *   remaining  = ⌊(tolerance − (tat' − now)) / T⌋      reset (time to full) = tat' − now
 * ```
 *
 * `reserve` (tokens a caller may not dig into) is how priority shedding shares one service budget:
 * low classes stop while the bucket still holds tokens that only higher classes may use.
 */

/** One bucket as the stores see it: pure numbers, computed once per rule. */
export interface BucketSpec {
  /** storage key */
  key: string
  /** ms per token (1000 / ratePerSec) */
  intervalMs: number
  /** ms TAT may run ahead of now when admitting this request (burst minus reserve, times interval) */
  toleranceMs: number
}

/** Result of one GCRA step on one bucket. */
export interface GcraStep {
  allowed: boolean
  /** the TAT to store when every bucket of the decision admits */
  tatMs: number
  /** ms until this request could be admitted (0 when admitted; Infinity when it never can) */
  retryAfterMs: number
}

/** ms per token for a rate. */
export function intervalMs(ratePerSec: number): number {
  return 1000 / ratePerSec
}

/**
 * One GCRA step. `storedTatMs` is 0 (or anything ≤ now) for an absent key.
 *
 * @example
 * const t = intervalMs(10) // 100 ms per token, burst 2 → tolerance 200 ms
 * gcraStep(0, 1_000, 1, t, 200) // { allowed: true, tatMs: 1100, retryAfterMs: 0 }
 */
export function gcraStep(
  storedTatMs: number,
  nowMs: number,
  cost: number,
  intervalMsPerToken: number,
  toleranceMs: number,
): GcraStep {
  const out: GcraStep = { allowed: false, tatMs: 0, retryAfterMs: 0 }
  gcraStepInto(out, storedTatMs, nowMs, cost, intervalMsPerToken, toleranceMs)
  return out
}

/** `gcraStep` writing into `out`, so the memory store's hot path allocates nothing. */
export function gcraStepInto(
  out: GcraStep,
  storedTatMs: number,
  nowMs: number,
  cost: number,
  intervalMsPerToken: number,
  toleranceMs: number,
): boolean {
  const tat = storedTatMs > nowMs ? storedTatMs : nowMs
  const next = tat + cost * intervalMsPerToken
  const over = next - nowMs - toleranceMs
  if (over <= 1e-9) {
    out.allowed = true
    out.tatMs = next
    out.retryAfterMs = 0
    return true
  }
  out.allowed = false
  out.tatMs = storedTatMs
  // A cost larger than the whole tolerance can never pass, however long the client waits.
  out.retryAfterMs = cost * intervalMsPerToken > toleranceMs + 1e-9 ? Infinity : over
  return false
}

/** Tokens left in a bucket of `burst` after a decision that left it at `tatMs`. */
export function remainingTokens(
  tatMs: number,
  nowMs: number,
  intervalMsPerToken: number,
  burst: number,
): number {
  const ahead = tatMs > nowMs ? tatMs - nowMs : 0
  const left = Math.floor((burst * intervalMsPerToken - ahead) / intervalMsPerToken + 1e-9)
  return left < 0 ? 0 : left > burst ? burst : left
}

/** ms until the bucket is full again. */
export function msUntilFull(tatMs: number, nowMs: number): number {
  return tatMs > nowMs ? tatMs - nowMs : 0
}
