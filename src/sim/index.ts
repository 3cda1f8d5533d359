/** @module Simulation: mock upstream services, incident injection and the load generator. */
export { startMockService, parseIncident } from './mock-service.js'
export type {
  ActiveIncident,
  Incident,
  IncidentKind,
  MockService,
  MockServiceOptions,
  MockStats,
} from './mock-service.js'
export { fitLatency, latencyQuantile, parseLatencyRange, sampleLatency, seededRandom } from './latency.js'
export type { LatencyModel } from './latency.js'
export { runLoad, formatSummary } from './load.js'
export type { LoadOptions, LoadProgress, LoadSummary } from './load.js'
export { LOAD_PATTERNS, parsePattern, pickKey, rateAt } from './patterns.js'
export type { LoadPattern } from './patterns.js'
export { DEMO_AGGREGATOR, DEMO_SERVICES, startDemoTopology } from './topology.js'
export type { DemoTopology, DemoTopologyOptions, TopologyService, TopologyServiceSpec } from './topology.js'
