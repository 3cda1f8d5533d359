/**
 * @module The limiter's Prometheus metrics, on the shared registry. Module-level singletons: several
 * limiters in one process (tests) share them. Label children are cached so a decision costs one
 * Map lookup and an increment, not a label-object allocation.
 */
import { Counter, Gauge } from 'prom-client'
import { registry } from '../metrics.js'

interface Pending {
  child: { inc(n: number): void }
  n: number
}
/** tier → class → outcome → what has not been handed to prom-client yet */
const pending = new Map<string, Map<string, Map<string, Pending>>>()

// Decisions are counted in plain numbers and handed to prom-client when scraped: an increment on
// the hot path is then one Map lookup and an add.
const decisions: Counter<'tier' | 'class' | 'outcome'> = new Counter({
  name: 'vigil_limits_decisions_total',
  help: 'Limiter decisions by tier, route priority class and outcome',
  labelNames: ['tier', 'class', 'outcome'] as const,
  registers: [registry],
  collect() {
    for (const byClass of pending.values())
      for (const byOutcome of byClass.values())
        for (const p of byOutcome.values()) {
          if (p.n > 0) p.child.inc(p.n)
          p.n = 0
        }
  },
})

export const fallbackActive = new Gauge({
  name: 'vigil_limits_fallback_active',
  help: '1 while the limiter decides without Redis (fallback policy in force), else 0',
  registers: [registry],
})

export const fallbackTransitions = new Counter({
  name: 'vigil_limits_fallback_transitions_total',
  help: 'Switches between Redis and the fallback policy, by direction and reason',
  labelNames: ['to', 'reason'] as const,
  registers: [registry],
})

export const fallbackDecisions = new Counter({
  name: 'vigil_limits_fallback_decisions_total',
  help: 'Decisions made by the fallback policy while Redis was unavailable',
  labelNames: ['policy'] as const,
  registers: [registry],
})

export const defensiveActive = new Gauge({
  name: 'vigil_limits_defensive_active',
  help: '1 while defensive mode is on',
  registers: [registry],
})

/** Each live limiter registers a source of its heaviest clients' bucket fill. */
const fillSources = new Set<() => ReadonlyArray<{ clientId: string; tier: string; bucketFill: number }>>()
const TOP_FILL = 10

new Gauge({
  name: 'vigil_limits_top_client_bucket_fill',
  help: `Bucket fill (tokens left / burst) of the ${TOP_FILL} heaviest clients of the current window`,
  labelNames: ['client', 'tier'] as const,
  registers: [registry],
  collect() {
    this.reset()
    for (const source of fillSources) {
      for (const c of source().slice(0, TOP_FILL))
        this.set({ client: c.clientId, tier: c.tier }, c.bucketFill)
    }
  },
})

export function addFillSource(
  source: () => ReadonlyArray<{ clientId: string; tier: string; bucketFill: number }>,
): () => void {
  fillSources.add(source)
  return () => fillSources.delete(source)
}

export function countDecision(tier: string, cls: string, outcome: string): void {
  // Nested by label, not one joined key: the labels are the same few interned strings on every
  // request, whose hashes V8 keeps, while a joined key is a new string to hash each time.
  let byClass = pending.get(tier)
  if (byClass === undefined) pending.set(tier, (byClass = new Map()))
  let byOutcome = byClass.get(cls)
  if (byOutcome === undefined) byClass.set(cls, (byOutcome = new Map()))
  const p = byOutcome.get(outcome)
  if (p !== undefined) p.n++
  else byOutcome.set(outcome, { child: decisions.labels(tier, cls, outcome), n: 1 })
}
