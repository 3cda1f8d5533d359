/**
 * @module Where defensive mode is in force. It is switched on for everyone (from the Admin page or
 * the API) or for one service (the anomaly-pressure policy does so on the service whose traffic or
 * errors are anomalous); a page that only read the global switch said "off" while a service was
 * throttled by it.
 */
import type { LimitsLive } from './types.js'

type Controls = Pick<LimitsLive['controls'], 'defensive' | 'services' | 'entries' | 'reason'> &
  Partial<Pick<LimitsLive['controls'], 'actor' | 'updatedAt'>>

export interface Defensive {
  /** on for every service */
  global: boolean
  /** the services it is on for, when not on for all (sorted) */
  services: string[]
  /** why: the global switch's reason, or each scoped service's own entry's */
  reason: string
  /**
   * Who switched it on, when, and until when (ISO times), from its own entries: the document's
   * `reason` and `actor` are those of its last change, which may be about something else (a
   * client's limit set after defensive mode went on). Empty strings when off or unknown.
   */
  actor: string
  setAt: string
  expiresAt: string
}

/** Defensive mode as the controls document has it, global or per service. */
export function defensiveMode(c: Controls): Defensive {
  const services = Object.entries(c.services ?? {})
    .filter(([, sc]) => sc.defensive)
    .map(([name]) => name)
    .sort()
  if (c.defensive) {
    // documents written before per-entry metadata have no `defensive` entry: the last change's
    const e = c.entries?.defensive
    return {
      global: true,
      services: [],
      reason: e?.reason ?? c.reason,
      actor: e?.actor ?? c.actor ?? '',
      setAt: e?.setAt ?? c.updatedAt ?? '',
      expiresAt: e?.expiresAt ?? '',
    }
  }
  const entries = services.map((s) => c.entries?.[`services.${s}.defensive`]).filter((e) => e !== undefined)
  const reason = entries
    .map((e) => e.reason)
    .filter((r) => r !== '')
    .join('; ')
  return {
    global: false,
    services,
    reason,
    actor: [...new Set(entries.map((e) => e.actor))].join(', '),
    // ISO times of one clock compare as strings: the newest switch-on, the first to expire
    setAt:
      entries
        .map((e) => e.setAt)
        .sort()
        .at(-1) ?? '',
    expiresAt:
      entries
        .map((e) => e.expiresAt ?? '')
        .filter((x) => x !== '')
        .sort()[0] ?? '',
  }
}
