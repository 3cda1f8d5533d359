/**
 * @module Request journeys, a pure library (no I/O): trace assembly and critical paths, the live
 * service graph, per-route journey statistics, root-cause ranking, journey models learned from
 * traces, the Monte Carlo impact engine with what-if scenarios, and alert correlation by topology.
 */
export {
  GATEWAY_SERVICE,
  SPAN_KIND_CLIENT,
  SPAN_KIND_SERVER,
  answeredByGateway,
  isErrorSpan,
  keepProbability,
  nodeId,
  parseNodeId,
  spanService,
} from './span.js'
export type { JourneySpan } from './span.js'
export { buildTree, criticalPath, emptyProblems, errorOrigins, readTrace, waterfall } from './trace.js'
export type {
  CriticalSegment,
  TraceProblems,
  TraceReading,
  TraceTree,
  Waterfall,
  WaterfallSpan,
} from './trace.js'
export { ServiceGraph, graphView, newSketch, sketchQuantile, SKETCH_ACCURACY } from './graph.js'
export type {
  GraphCounters,
  GraphEdgeView,
  GraphNodeView,
  GraphRow,
  GraphView,
  ServiceGraphOptions,
} from './graph.js'
export {
  analyzeTrace,
  criticalShares,
  mergeRouteWindow,
  mergeRouteWindows,
  newRouteWindow,
  MAX_FANOUT,
} from './journey-stats.js'
export type {
  AnalyzeOptions,
  CriticalShare,
  RouteWindowStats,
  SiteStats,
  TraceSummary,
} from './journey-stats.js'
export { EntryRoutes } from './entry-routes.js'
export { TraceCompleteness, traceIsWhole } from './completeness.js'
export type { KnownPhantoms } from './completeness.js'
export { PhantomParents, phantomKey } from './phantom-parents.js'
export type { PhantomHop, PhantomParentsOptions } from './phantom-parents.js'
export { learnModel, quantileTable, QUANTILE_POINTS } from './model.js'
export type { GatewayPolicy, JourneyModel, ModelSite, RetryOn } from './model.js'
export { JourneySimulator, simulationBuffers } from './simulate.js'
export type { SimulationResult, SiteOverride } from './simulate.js'
export {
  WHAT_IF_FIELDS,
  breakerOpenShare,
  checkWhatIfs,
  normalCdf,
  parseWhatIfs,
  simulateImpact,
} from './impact.js'
export type { ImpactOptions, ImpactResult, Interval, Outcome, WhatIf } from './impact.js'
export { rankRootCause } from './rootcause.js'
export type { Candidate, RootCause, RootCauseInput, ServiceAnomaly, Symptom } from './rootcause.js'
export { correlateAlerts } from './correlate.js'
export type { CorrelatableAlert, Incident, ServiceEdge } from './correlate.js'
export { createRng } from './rng.js'
export type { Rng } from './rng.js'
