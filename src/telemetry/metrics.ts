/**
 * @module Prometheus metrics of telemetry capture and OTLP ingest, registered once in the shared
 * registry (several recorders in one process, as in tests, share them).
 */
import { Counter, Gauge } from 'prom-client'
import { registry } from '../metrics.js'

export const publishedTotal = new Counter({
  name: 'vigil_telemetry_published_total',
  help: 'Telemetry records handed to the bus, by kind (rollups, spans)',
  labelNames: ['kind'] as const,
  registers: [registry],
})

export const droppedTotal = new Counter({
  name: 'vigil_telemetry_dropped_total',
  help: 'Telemetry records dropped, by kind and reason (queue_full, bus_error)',
  labelNames: ['kind', 'reason'] as const,
  registers: [registry],
})

export const seriesOverflowTotal = new Counter({
  name: 'vigil_telemetry_series_overflow_total',
  help: 'Series diverted to the _overflow series because telemetry.maxSeries was reached (once per series per window)',
  registers: [registry],
})

export const liveSeries = new Gauge({
  name: 'vigil_telemetry_live_series',
  help: 'Series with traffic in the last closed window',
  registers: [registry],
})

export const spansKeptTotal = new Counter({
  name: 'vigil_telemetry_spans_kept_total',
  help: 'Gateway spans kept by the tail sampler, by reason (error, abandoned, slow, sampled)',
  labelNames: ['reason'] as const,
  registers: [registry],
})

export const otlpSpansTotal = new Counter({
  name: 'vigil_otlp_spans_total',
  help: 'Spans received over OTLP/HTTP, by result (accepted, rejected)',
  labelNames: ['result'] as const,
  registers: [registry],
})

export const otlpRequestsTotal = new Counter({
  name: 'vigil_otlp_requests_total',
  help: 'OTLP/HTTP requests, by response status code',
  labelNames: ['status'] as const,
  registers: [registry],
})
