import type { ServiceScaling } from '../lib/types.js'
import { fmtCount, fmtDuration } from '../lib/format.js'

/**
 * One line for a service whose decision is still in flight, e.g. "Acting for 12s: booting 1
 * replica; 2 windows skipped meanwhile", or null when none is. What it is doing is read from what
 * the service shows besides (a replica not ready, the actuator's last error); the autoscaler itself
 * only says since when and how many windows it skipped.
 */
export function inFlightText(
  s: Pick<ServiceScaling, 'inFlight' | 'replicas' | 'lastError'>,
  now: number,
): string | null {
  const f = s.inFlight
  if (f === null || f === undefined) return null
  const starting = s.replicas.filter((r) => !r.ready).length
  const doing =
    s.lastError !== null
      ? 'retrying the actuator after an error'
      : starting > 0
        ? `booting ${fmtCount(starting, 'replica')}`
        : 'waiting for its actuator'
  const skipped =
    f.skippedTicks > 0
      ? `${fmtCount(f.skippedTicks, 'window')} skipped meanwhile (other services decide as usual)`
      : 'no window skipped yet'
  return `Acting for ${fmtDuration(Math.max(0, now - f.sinceMs))}: ${doing}; ${skipped}.`
}
