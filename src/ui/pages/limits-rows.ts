/** The rate limits page's figures, apart from the page so they can be checked without a browser. */
import { fmtClientFeature, fmtMs } from '../lib/format.js'
import type { Anomaly, ClientWindowStats, DecisionTotal } from '../lib/types.js'

export interface Row {
  tier: string
  cls: string
  allowed: number
  refused: number
  /** decisions per second lately; null while the rate is unknown (fewer than two snapshots) */
  allowedRate: number | null
  refusedRate: number | null
  reasons: Map<string, number>
}

export const THROTTLED_RATE_TITLE =
  'Requests refused per second over the last ~10 s: 0 when none were, – while the rate is not known yet (the page needs two updates)'

/**
 * Decisions by tier and route class. `rate` gives decisions per second by
 * `tier\0class\0outcome`, or is null while unknown: once known, a pair that has never been
 * throttled reads 0/s like one that is not throttled now, not "unknown".
 */
export function byTierAndClass(
  decisions: readonly DecisionTotal[],
  rate: ((id: string) => number) | null,
): Row[] {
  const known = rate === null ? null : 0
  const rows = new Map<string, Row>()
  for (const d of decisions) {
    const k = `${d.tier}\u0000${d.class}`
    let r = rows.get(k)
    if (r === undefined) {
      r = {
        tier: d.tier,
        cls: d.class,
        allowed: 0,
        refused: 0,
        allowedRate: known,
        refusedRate: known,
        reasons: new Map(),
      }
      rows.set(k, r)
    }
    const perSec = rate?.(`${k}\u0000${d.outcome}`) ?? 0
    if (d.outcome.startsWith('allowed')) {
      r.allowed += d.total
      if (r.allowedRate !== null) r.allowedRate += perSec
    } else {
      r.refused += d.total
      if (r.refusedRate !== null) r.refusedRate += perSec
      const why = d.outcome.replace(/^refused_/, '')
      r.reasons.set(why, (r.reasons.get(why) ?? 0) + d.total)
    }
  }
  return [...rows.values()].sort((a, b) => a.tier.localeCompare(b.tier) || a.cls.localeCompare(b.cls))
}

/**
 * A client's mean latency, over the responses it was served: one whose every request was
 * throttled has none, and "0 ms" would read as a fast service. A response is counted in the window
 * it finishes in, so a client whose requests were admitted but were still running when the window
 * closed has none finished yet, which is not "none served" beside 0 throttled.
 */
export function servedLatency(
  c: Pick<ClientWindowStats, 'finished' | 'meanLatencyMs' | 'requests' | 'refused'>,
): string {
  if (c.finished > 0) return fmtMs(c.meanLatencyMs)
  return c.refused < c.requests ? 'none finished' : 'none served'
}

/**
 * The heaviest clients' 5xx/429 column: every such answer the client got, whoever caused it,
 * where the verdict counts only the client's own doing.
 */
export const ANSWERED_5XX_TITLE =
  'Share of its served requests answered 5xx or 429 by the service, whoever caused them (an outage fails every client alike). Requests the limiter refused are under Throttled.'

const OWN_DOING =
  "Counts what the client did itself: requests refused at its own limit (429), its 4xx answers, and 5xx beyond its peers' on the same routes; not refusals of defensive mode or a lowered limit, nor failures every client of a route saw."

/**
 * A flagged client's verdict in words, `abusive: refused at its own limit or failed 92.5% (typical
 * 11.6%)`, and every feature that stands out for its tooltip, with what the failure share counts:
 * the features' field names ("errorRatio") beside an Errors column of 0% read as a contradiction,
 * and so did "refused or failed 85%" beside it (that share counts the client's own refusals, the
 * column the service's answers).
 */
export function abusiveVerdict(a: Pick<Anomaly, 'children'>): { text: string; title: string } {
  const lines = a.children.map((ch) => fmtClientFeature(ch.key, ch.observed, ch.expected))
  if (a.children.some((ch) => ch.key === 'errorRatio')) lines.push(OWN_DOING)
  return { text: `abusive: ${lines[0] ?? 'outlier'}`, title: lines.join('\n') }
}

/**
 * Where the limiter's decisions are counted, when not in this process: a control plane (scaled
 * out) runs no limiter traffic, so its counters stay at zero beside an Overview that shows the
 * gateways' merged throttled share. Its heaviest clients are the gateways' windows, merged; until
 * the first one closed, `clients` says when they come. Null where this process decides (a
 * gateway, embedded).
 */
export function limiterElsewhere(mode: string): { decisions: string; clients: string } | null {
  if (mode !== 'control') return null
  return {
    decisions:
      "Not counted here: each gateway's limiter counts its decisions. Open a gateway's dashboard (the adminUrl each vigil gateway logs when ready) for them; the Overview's throttled share here is every gateway's merged.",
    clients:
      'No merged window yet: each gateway sends its heaviest clients when its window closes (limits.stats.windowMs, a minute by default), and the leading control plane merges them control.graceMs later.',
  }
}
