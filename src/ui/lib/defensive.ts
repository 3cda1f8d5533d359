/**
 * @module Where defensive mode is in force. It is switched on for everyone (from the Admin page or
 * the API) or for one service (the anomaly-pressure policy does so on the service whose traffic or
 * errors are anomalous); a page that only read the global switch said "off" while a service was
 * throttled by it.
 */
import type { LimitsLive } from './types.js'

type Controls = Pick<LimitsLive['controls'], 'defensive' | 'services' | 'entries' | 'reason'>

export interface Defensive {
  /** on for every service */
  global: boolean
  /** the services it is on for, when not on for all (sorted) */
  services: string[]
  /** why: the global switch's reason, or each scoped service's own entry's */
  reason: string
}

/** Defensive mode as the controls document has it, global or per service. */
export function defensiveMode(c: Controls): Defensive {
  const services = Object.entries(c.services ?? {})
    .filter(([, sc]) => sc.defensive)
    .map(([name]) => name)
    .sort()
  if (c.defensive) return { global: true, services: [], reason: c.reason }
  const reason = services
    .map((s) => c.entries?.[`services.${s}.defensive`]?.reason)
    .filter((r): r is string => r !== undefined && r !== '')
    .join('; ')
  return { global: false, services, reason }
}
