/**
 * @module How an alert's root-cause candidates are introduced. A ranking always says where the
 * evidence of a symptom lies; it names the cause of a change only when the symptom rose against
 * the baseline. When nothing rose, the list is labelled so, not as the likely causes.
 */
import type { AlertRootCause } from '../lib/types.js'

export interface CandidatesHeading {
  /** the list's accessible name */
  label: string
  /** shown above the list when the candidates explain no change */
  note: string | null
}

export function candidatesHeading(
  rc: Partial<Pick<AlertRootCause, 'moved' | 'symptomReason'>>,
): CandidatesHeading {
  if (rc.moved !== false) return { label: 'Likely causes, most likely first', note: null }
  return {
    label: 'Where the evidence lies now, strongest first',
    note: `Nothing rose against the baseline${rc.symptomReason == null ? '' : ` (${rc.symptomReason.replace(/^nothing moved: /, '')})`}: these candidates explain no change.`,
  }
}
