import { describe, expect, it } from 'vitest'
import type { JourneySource, JourneyStats } from '../control/journeys.js'
import { registry } from '../metrics.js'
import { exposeJourneyMetrics } from './journey-metrics.js'

const stats: JourneyStats = {
  spans: { received: 10, stored: 6, dropped: 4, late: 3, buffered: 2 },
  traces: {
    kept: 2,
    dropped: 1,
    decidedEarly: 0,
    analyzed: 3,
    waited: 4,
    incomplete: 5,
    lateAfterAnalysis: 6,
    notAwaited: 8,
  },
  parentsNeverSent: [],
  problems: { missingParents: 1, cycles: 0, clockSkew: 0, duplicates: 0, unknownEnv: 0 },
  graph: { nodes: 7, rowsLate: 0, rowsOverflow: 0, windowsWritten: 0, writeErrors: 0 },
  routes: { tracked: 1, untracked: 0 },
}

describe('journeys metrics', () => {
  it('serves the pipeline counters, with the traces analysed late or partly', async () => {
    exposeJourneyMetrics({ stats: async () => stats } as unknown as JourneySource)
    const text = await registry.metrics()
    expect(text).toContain('vigil_journeys_spans_total{outcome="late"} 3')
    expect(text).toContain('vigil_journeys_traces_total{decision="kept"} 2')
    expect(text).toContain('vigil_journeys_trace_completeness_total{outcome="waited"} 4')
    expect(text).toContain('vigil_journeys_trace_completeness_total{outcome="incomplete"} 5')
    expect(text).toContain('vigil_journeys_trace_completeness_total{outcome="late_after_analysis"} 6')
    expect(text).toContain('vigil_journeys_trace_completeness_total{outcome="not_awaited"} 8')
    expect(text).toContain('vigil_journeys_span_problems_total{problem="missing_parent"} 1')
    expect(text).toContain('vigil_journeys_buffered_spans 2')
  })
})
