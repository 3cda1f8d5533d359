/** @module Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015). */

/**
 * Delay before retry number `retry` (1 = first retry): uniform in [0, min(maxMs, baseMs * 2^(retry-1))].
 * Full jitter spreads retries of many clients so they do not hit a recovering upstream in lockstep.
 *
 * @example
 * backoffMs(3, 25, 1000, () => 0.5) // 50: half of min(1000, 25 * 4)
 */
export function backoffMs(
  retry: number,
  baseMs: number,
  maxMs: number,
  random: () => number = Math.random,
): number {
  const exp = baseMs * 2 ** Math.min(retry - 1, 30)
  const cap = exp < maxMs ? exp : maxMs
  return Math.floor(random() * cap)
}
