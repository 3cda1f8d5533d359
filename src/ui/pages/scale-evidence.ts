/**
 * @module The evidence of a scaling action that is not a load-driven decision (a replica started
 * because none ran below `min`, replicas adopted at start): its own fields in words. The table
 * showed the policy's name there ("autoscale"), which is no evidence.
 */

/** `min 1 · running 0`: the evidence's numbers, words and lists (nested records left out); null when none. */
export function plainEvidence(evidence: unknown): string | null {
  if (evidence === null || typeof evidence !== 'object' || Array.isArray(evidence)) return null
  const parts: string[] = []
  for (const [k, v] of Object.entries(evidence)) {
    if (typeof v === 'number' && Number.isFinite(v)) parts.push(`${k} ${v}`)
    else if (typeof v === 'string' && v !== '') parts.push(`${k} ${v}`)
    else if (typeof v === 'boolean') parts.push(`${k} ${v ? 'yes' : 'no'}`)
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string' || typeof x === 'number'))
      parts.push(`${k} ${v.length === 0 ? 'none' : v.join(', ')}`)
  }
  return parts.length > 0 ? parts.join(' · ') : null
}

/** What the Scaling events table says of one action in its What, Replicas and Result columns. */
export interface ScaleEventWords {
  what: string
  /** `▲ `, `▼ ` or '' (no change), read before `move` */
  arrow: string
  /** `3 → 4`, or `–` for an action that moves no count */
  move: string
  result: string
  /** the actuator failing: shown as a problem whatever the record's own status */
  alarm: boolean
}

/**
 * A scaling alert is recorded and settled `ok` with before = after = the count: as a scale it
 * read "autoscale ▼ 3 → 3 ok", an actuator failure shown as a successful scale-down.
 */
export function scaleEventWords(a: {
  kind: string
  policy: string
  before: unknown
  after: unknown
  result: { status: string }
}): ScaleEventWords {
  if (a.kind === 'scale.alert')
    return { what: 'actuator failing', arrow: '', move: '–', result: 'failing', alarm: true }
  if (a.kind === 'scale.recovered')
    return { what: 'actuator works again', arrow: '', move: '–', result: a.result.status, alarm: false }
  const what = a.kind === 'scale.restart' ? 'restart' : a.kind === 'scale.manual' ? 'manual scale' : a.policy
  if (a.kind === 'scale.restart') return { what, arrow: '', move: '–', result: a.result.status, alarm: false }
  const [b, n] = [a.before, a.after]
  const arrow = typeof b === 'number' && typeof n === 'number' && n !== b ? (n > b ? '▲ ' : '▼ ') : ''
  return { what, arrow, move: `${String(b)} → ${String(n)}`, result: a.result.status, alarm: false }
}

/**
 * The newest action that asked for a count (autoscale, manual, restart): the "Last change" card.
 * A scaling alert or recovery changes nothing; shown there, an actuator failure read "1 → 1 · ok".
 */
export function lastChange<A extends { kind: string }>(actions: readonly A[]): A | undefined {
  return actions.find((a) => a.kind !== 'scale.alert' && a.kind !== 'scale.recovered')
}
