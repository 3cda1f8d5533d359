/**
 * The note under the service map naming the spans whose parents never arrive (GET /api/graph
 * `pipeline.parentsNeverSent`): the journeys learned that their caller sends no spans, so those
 * traces are analysed without it and the map lacks that caller.
 */
import { fmtAgo, fmtCount } from '../lib/format.js'
import type { PhantomHop } from '../lib/types.js'

/** One plain sentence per learned hop, most traces first; none when nothing was learned. */
export function parentsNeverSentNotes(
  hops: readonly PhantomHop[] | null | undefined,
  nowMs: number,
): string[] {
  return (hops ?? []).map((h) => {
    const who = `${h.service}${h.env === '' ? '' : ` (${h.env})`} "${h.name}"`
    const stands = h.rootsTrace ? '; its span stands for the trace’s root' : ''
    return (
      `${who} is called by something that sends no spans (an uninstrumented caller or a sampler in front of it), ` +
      `learned ${fmtAgo(h.sinceMs, nowMs)}: ${fmtCount(h.traces, 'trace')} analysed without waiting for it${stands}`
    )
  })
}
