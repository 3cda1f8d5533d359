/**
 * @module Traffic shapes for the load generator: the request rate at each moment of a run, and
 * which API key sends each request. Pure functions of elapsed time, so tests need no clock.
 *
 * - `steady`: `rps` throughout.
 * - `diurnal`: one compressed day over the run: midnight trough at 20 % of `rps` at the start and
 *   end, midday peak at `rps` halfway: `rps · (0.6 − 0.4·cos(2πt/T))`.
 * - `spike`: `rps`, and 5 × `rps` for the middle 10 % of the run (from 45 % to 55 %).
 * - `abusive`: `rps` throughout, but the first 10 % of the keys (at least one) send 80 % of it.
 */
import { VGL_ERR_SIM_PATTERN } from '../errors.js'

export type LoadPattern = 'steady' | 'diurnal' | 'spike' | 'abusive'

export const LOAD_PATTERNS: readonly LoadPattern[] = ['steady', 'diurnal', 'spike', 'abusive']

const SPIKE_FACTOR = 5
const SPIKE_START = 0.45
const SPIKE_END = 0.55
const ABUSER_SHARE = 0.8
const ABUSER_FRACTION = 0.1

/** Checks a `--pattern` value, naming the flag on error. */
export function parsePattern(text: string, flag = '--pattern'): LoadPattern {
  if ((LOAD_PATTERNS as readonly string[]).includes(text)) return text as LoadPattern
  throw VGL_ERR_SIM_PATTERN(flag, text)
}

/** Requests per second the pattern asks for `elapsedMs` into a run of `durationMs`. */
export function rateAt(pattern: LoadPattern, rps: number, elapsedMs: number, durationMs: number): number {
  const t = durationMs > 0 ? Math.min(Math.max(elapsedMs / durationMs, 0), 1) : 0
  switch (pattern) {
    case 'steady':
    case 'abusive':
      return rps
    case 'diurnal':
      return rps * (0.6 - 0.4 * Math.cos(2 * Math.PI * t))
    case 'spike':
      return t >= SPIKE_START && t < SPIKE_END ? rps * SPIKE_FACTOR : rps
  }
}

/**
 * Picks the API key for one request. `abusive` gives the first 10 % of keys (at least one) 80 %
 * of the traffic; other patterns spread evenly. `u` is a uniform draw in [0, 1).
 */
export function pickKey(pattern: LoadPattern, keys: readonly string[], u: number): string | null {
  const n = keys.length
  if (n === 0) return null
  if (pattern !== 'abusive' || n === 1) return keys[Math.min(Math.floor(u * n), n - 1)]
  const abusers = Math.max(1, Math.floor(n * ABUSER_FRACTION))
  if (u < ABUSER_SHARE) return keys[Math.min(Math.floor((u / ABUSER_SHARE) * abusers), abusers - 1)]
  const rest = n - abusers
  const v = (u - ABUSER_SHARE) / (1 - ABUSER_SHARE)
  return keys[abusers + Math.min(Math.floor(v * rest), rest - 1)]
}

/** Keys `abusive` uses when none are given: `key-01` … `key-10`. */
export function defaultKeys(count = 10): string[] {
  return Array.from({ length: count }, (_, i) => `key-${String(i + 1).padStart(2, '0')}`)
}
