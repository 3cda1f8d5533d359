/**
 * @module The one Prometheus registry every area registers its metrics in, served at the admin
 * API's `/metrics`. Metrics are module-level singletons so several gateways in one process (tests)
 * share them instead of failing on duplicate registration.
 */
import { collectDefaultMetrics, Registry } from 'prom-client'

export const registry = new Registry()

let processMetrics = false
/** Starts Node process metrics (CPU, memory, event-loop lag); idempotent. */
export function enableProcessMetrics(): void {
  if (processMetrics) return
  processMetrics = true
  collectDefaultMetrics({ register: registry, prefix: 'vigil_' })
}
