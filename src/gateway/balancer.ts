/**
 * @module Target selection for a service: smooth weighted round-robin, or least outstanding
 * requests by power of two random choices (Mitzenmacher, "The Power of Two Choices in Randomized
 * Load Balancing", 2001). Unavailable targets (unhealthy or breaker open) are skipped; a
 * half-open target gets exactly one probe.
 */
import type { TargetState } from './target.js'

export type BalancerKind = 'round-robin' | 'least-outstanding'

/** Smooth weighted round-robin order (nginx's algorithm) as a precomputed index sequence. */
export function weightedOrder(weights: readonly number[]): number[] {
  const total = weights.reduce((a, b) => a + b, 0)
  const len = Math.min(total, 1000)
  const current = weights.map(() => 0)
  const order: number[] = []
  for (let n = 0; n < len; n++) {
    let best = 0
    for (let i = 0; i < weights.length; i++) {
      current[i] += weights[i]
      if (current[i] > current[best]) best = i
    }
    current[best] -= total
    order.push(best)
  }
  return order
}

export class Balancer {
  readonly kind: BalancerKind
  readonly targets: readonly TargetState[]
  readonly #order: number[]
  #next = 0

  constructor(kind: BalancerKind, targets: readonly TargetState[]) {
    this.kind = kind
    this.targets = targets
    this.#order = weightedOrder(targets.map((t) => t.weight))
  }

  /**
   * Picks a target that may take a request now and claims it (a half-open breaker's probe slot),
   * preferring one other than `avoid` (the target a retry just failed on). Null: none available.
   */
  pick(nowMs: number, avoid: TargetState | null): TargetState | null {
    const targets = this.targets
    // a service scaled to zero replicas: 503, never a crash
    if (targets.length === 0) return null
    if (targets.length === 1) {
      const only = targets[0]
      return only.healthy && only.breaker.allow(nowMs) ? only : null
    }
    if (this.kind === 'least-outstanding') {
      const n = targets.length
      const i = (Math.random() * n) | 0
      let j = (Math.random() * (n - 1)) | 0
      if (j >= i) j++
      let a: TargetState | null = targets[i]
      let b: TargetState | null = targets[j]
      if (a === avoid || !a.available(nowMs)) a = null
      if (b === avoid || !b.available(nowMs)) b = null
      const best = a === null ? b : b === null ? a : a.inFlight / a.weight <= b.inFlight / b.weight ? a : b
      if (best !== null && best.breaker.allow(nowMs)) return best
      return this.#scan(nowMs, avoid)
    }
    const order = this.#order
    for (let k = 0; k < order.length; k++) {
      const t = targets[order[this.#next]]
      this.#next = this.#next + 1 === order.length ? 0 : this.#next + 1
      if (t !== avoid && t.healthy && t.breaker.allow(nowMs)) return t
    }
    return avoid !== null && avoid.healthy && avoid.breaker.allow(nowMs) ? avoid : null
  }

  #scan(nowMs: number, avoid: TargetState | null): TargetState | null {
    for (const t of this.targets) if (t !== avoid && t.healthy && t.breaker.allow(nowMs)) return t
    return avoid !== null && avoid.healthy && avoid.breaker.allow(nowMs) ? avoid : null
  }
}
