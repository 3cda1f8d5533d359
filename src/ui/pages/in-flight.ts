import type { ServiceScaling } from '../lib/types.js'
import { fmtCount, fmtDuration } from '../lib/format.js'

/**
 * One line for a service whose decision is still in flight, e.g. "Scaling to 3 for 12s: booting
 * 1 replica; 2 windows skipped meanwhile", or null when none is. The autoscaler says which step
 * it is at; how an actuator call is going is read from what the service shows besides (a replica
 * not ready, the actuator's last error).
 */
export function inFlightText(
  s: Pick<ServiceScaling, 'inFlight' | 'replicas' | 'lastError'>,
  now: number,
): string | null {
  const f = s.inFlight
  if (f === null || f === undefined) return null
  const starting = s.replicas.filter((r) => !r.ready).length
  const actuator =
    s.lastError !== null
      ? 'retrying the actuator after an error'
      : starting > 0
        ? `booting ${fmtCount(starting, 'replica')}`
        : 'waiting for its actuator'
  const [what, doing] =
    f.doing === 'replaying'
      ? [
          'Replaying',
          'feeding its stored windows to the policy (its first decision since this control plane leads)',
        ]
      : f.doing === 'waiting to replay'
        ? ['Waiting', "its first decision waits for another service's replay"]
        : f.doing === 'deciding'
          ? ['Deciding', 'reading its newest window']
          : [f.to === null ? 'Acting' : `Scaling to ${f.to}`, actuator]
  const skipped =
    f.skippedTicks > 0
      ? `${fmtCount(f.skippedTicks, 'window')} skipped meanwhile (other services decide as usual)`
      : 'no window skipped yet'
  return `${what} for ${fmtDuration(Math.max(0, now - f.sinceMs))}: ${doing}; ${skipped}.`
}
