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
