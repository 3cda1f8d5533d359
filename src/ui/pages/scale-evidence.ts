/**
 * @module Scaling in words for the Autoscaling page and the Services table: the evidence of an
 * action that is not a load-driven decision (a replica started because none ran below `min`,
 * replicas adopted at start) by its own fields, since the policy's name ("autoscale") is no
 * evidence; each event's columns; the replicas a service runs, or would run in shadow mode.
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

/**
 * The Services table's replicas: `3 (2 ready) ▲ 4`, the count now, how many are ready and where
 * the autoscaler is heading. In shadow mode with nothing started the count is only what the
 * policy would run (the service runs on its configured targets), so it says so instead of
 * "(0 ready)", which read as a service with no replica up.
 */
export function replicasText(
  s: { mode: string; current: number; ready: number; desired: number | null } | undefined,
): string {
  if (s === undefined) return '–'
  const heading =
    s.desired !== null && s.desired !== s.current ? ` ${s.desired > s.current ? '▲' : '▼'} ${s.desired}` : ''
  if (s.mode === 'shadow' && s.ready === 0) return `would run ${s.current}${heading} (shadow)`
  const ready = s.ready < s.current ? ` (${s.ready} ready)` : ''
  return `${s.current}${ready}${heading}${s.mode === 'shadow' ? ' shadow' : ''}`
}

/** The Autoscaling page's Replicas card, under the count: ready and desired, or what shadow mode means. */
export function replicasSub(s: {
  mode: string
  replicas: readonly { ready: boolean }[]
  desired: number | null
}): string {
  const desired = `desired ${s.desired ?? '–'}`
  if (s.mode === 'shadow' && s.replicas.length === 0)
    return `would run (shadow): none started, the configured targets serve · ${desired}`
  return `${s.replicas.filter((r) => r.ready).length} ready · ${desired}`
}
