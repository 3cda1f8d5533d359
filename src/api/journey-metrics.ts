/**
 * @module Prometheus metrics of the journeys pipeline. The counters live where the spans are
 * handled (the control plane, a worker thread in embedded mode), so each scrape asks the journeys
 * source for them; the metrics are registered once per process and read the latest source.
 */
import { Counter, Gauge } from 'prom-client'
import type { JourneySource, JourneyStats } from '../control/journeys.js'
import { registry } from '../metrics.js'

let current: JourneySource | null = null
let registered = false

/** The stats of one scrape (fetched once, read by every metric of it). */
let pending: Promise<JourneyStats | null> | null = null
const stats = (): Promise<JourneyStats | null> => {
  if (current === null) return Promise.resolve(null)
  pending ??= current
    .stats()
    .catch(() => null)
    .finally(() => setTimeout(() => (pending = null), 50).unref())
  return pending
}

/** Serves the journeys' counters at /metrics from `source` (the latest call wins). */
export function exposeJourneyMetrics(source: JourneySource): void {
  current = source
  if (registered) return
  registered = true
  new Counter({
    name: 'vigil_journeys_spans_total',
    help: 'Spans through the journeys pipeline, by outcome: received, stored (kept traces), dropped (sampled out), late (arrived after their trace was decided)',
    labelNames: ['outcome'] as const,
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s === null) return
      this.reset()
      for (const k of ['received', 'stored', 'dropped', 'late'] as const) this.inc({ outcome: k }, s.spans[k])
    },
  })
  new Counter({
    name: 'vigil_journeys_traces_total',
    help: 'Traces decided, by decision (kept, dropped); decided_early: before traceWaitMs because the buffer was full',
    labelNames: ['decision'] as const,
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s === null) return
      this.reset()
      this.inc({ decision: 'kept' }, s.traces.kept)
      this.inc({ decision: 'dropped' }, s.traces.dropped)
      this.inc({ decision: 'decided_early' }, s.traces.decidedEarly)
    },
  })
  new Counter({
    name: 'vigil_journeys_span_problems_total',
    help: 'Broken span input repaired and counted: missing_parent, cycle, clock_skew, duplicate, unknown_env',
    labelNames: ['problem'] as const,
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s === null) return
      this.reset()
      const p = s.problems
      this.inc({ problem: 'missing_parent' }, p.missingParents)
      this.inc({ problem: 'cycle' }, p.cycles)
      this.inc({ problem: 'clock_skew' }, p.clockSkew)
      this.inc({ problem: 'duplicate' }, p.duplicates)
      this.inc({ problem: 'unknown_env' }, p.unknownEnv)
    },
  })
  new Gauge({
    name: 'vigil_journeys_buffered_spans',
    help: 'Spans waiting for their trace to be decided',
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s !== null) this.set(s.spans.buffered)
    },
  })
  new Gauge({
    name: 'vigil_journeys_graph_nodes',
    help: 'Services (service, env) seen in the service graph',
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s !== null) this.set(s.graph.nodes)
    },
  })
  new Counter({
    name: 'vigil_journeys_graph_rows_dropped_total',
    help: 'Graph updates dropped: late (their window was forgotten), overflow (a window held its maximum of nodes and edges)',
    labelNames: ['reason'] as const,
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s === null) return
      this.reset()
      this.inc({ reason: 'late' }, s.graph.rowsLate)
      this.inc({ reason: 'overflow' }, s.graph.rowsOverflow)
    },
  })
}
