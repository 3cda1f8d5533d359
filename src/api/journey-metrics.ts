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

/** A counter with one label whose values are read from each scrape's stats. */
function labelledCounter(
  name: string,
  help: string,
  label: string,
  read: (s: JourneyStats) => Record<string, number>,
): void {
  new Counter({
    name,
    help,
    labelNames: [label],
    registers: [registry],
    async collect() {
      const s = await stats()
      if (s === null) return
      this.reset()
      for (const [value, n] of Object.entries(read(s))) this.inc({ [label]: value }, n)
    },
  })
}

/** Serves the journeys' counters at /metrics from `source` (the latest call wins). */
export function exposeJourneyMetrics(source: JourneySource): void {
  current = source
  if (registered) return
  registered = true
  labelledCounter(
    'vigil_journeys_spans_total',
    'Spans through the journeys pipeline, by outcome: received, stored (kept traces), dropped (sampled out), late (arrived after their trace was decided)',
    'outcome',
    ({ spans: x }) => ({ received: x.received, stored: x.stored, dropped: x.dropped, late: x.late }),
  )
  labelledCounter(
    'vigil_journeys_traces_total',
    'Traces decided, by decision (kept, dropped); decided_early: before traceWaitMs (or, waiting for missing spans, before maxTraceWaitMs) because the buffer was full',
    'decision',
    ({ traces: x }) => ({ kept: x.kept, dropped: x.dropped, decided_early: x.decidedEarly }),
  )
  labelledCounter(
    'vigil_journeys_trace_completeness_total',
    'Traces not analysed whole at traceWaitMs, by outcome: waited (decided later, once their root or parents came), incomplete (decided at maxTraceWaitMs still missing one), not_awaited (decided without waiting for parents that a hop was learned never to send: GET /api/graph pipeline.parentsNeverSent names it), late_after_analysis (a span came after the trace was analysed: raise traceWaitMs when it grows)',
    'outcome',
    ({ traces: x }) => ({
      waited: x.waited,
      incomplete: x.incomplete,
      not_awaited: x.notAwaited,
      late_after_analysis: x.lateAfterAnalysis,
    }),
  )
  labelledCounter(
    'vigil_journeys_span_problems_total',
    'Broken span input repaired and counted: missing_parent, cycle, clock_skew, duplicate, unknown_env',
    'problem',
    ({ problems: p }) => ({
      missing_parent: p.missingParents,
      cycle: p.cycles,
      clock_skew: p.clockSkew,
      duplicate: p.duplicates,
      unknown_env: p.unknownEnv,
    }),
  )
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
  labelledCounter(
    'vigil_journeys_graph_rows_dropped_total',
    'Graph updates dropped: late (their window was forgotten), overflow (a window held its maximum of nodes and edges)',
    'reason',
    ({ graph: g }) => ({ late: g.rowsLate, overflow: g.rowsOverflow }),
  )
}
