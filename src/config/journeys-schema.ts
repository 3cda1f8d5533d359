/** @module The `journeys:` section of vigil.yaml: traces, the service graph, root cause and the Monte Carlo impact engine (src/journeys, src/control/journeys.ts). */
import { z } from 'zod'

export const journeysSchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /**
     * how long the spans services send over OTLP wait for the gateway's sampling decision of
     * their trace (the gateway publishes its kept spans at least once per telemetry window)
     */
    traceWaitMs: z.number().int().min(0).max(300_000).default(15_000),
    /**
     * how long a trace that is not whole yet (its root, or a parent one of its spans names, has
     * not arrived) may wait, from its first span; default 4 × traceWaitMs
     */
    maxTraceWaitMs: z.number().int().min(0).max(1_200_000).optional(),
    /** spans waiting for a decision at once; beyond it the oldest traces are decided early */
    maxBufferedSpans: z.number().int().min(1_000).default(200_000),
    /** windows of service graph and per-route statistics kept in memory (360 × 10 s = 1 h) */
    windows: z.number().int().min(6).max(100_000).default(360),
    /** entry routes with statistics; traces of more routes still feed the graph */
    maxRoutes: z.number().int().min(1).default(200),
    /** journey models learn from the traces of this long before now */
    modelWindowMs: z.number().int().min(10_000).default(300_000),
    /** the journeys' SLO: share of requests that succeed within latencyMs */
    slo: z
      .strictObject({
        availability: z.number().gt(0).lt(1).default(0.999),
        latencyMs: z.number().positive().default(1_000),
      })
      .prefault({}),
    /** a minute with more than this share of failed requests counts as downtime */
    downtimeErrorRatio: z.number().gt(0).lt(1).default(0.05),
    /** journeys simulated per scenario (in 20 batches) */
    simulations: z.number().int().min(1_000).max(10_000_000).default(100_000),
    /** horizon of impact estimates (e.g. on alerts) */
    horizonMs: z.number().int().min(60_000).default(1_800_000),
    /** alerts on services that call each other and start this close together are one incident */
    correlationWindowMs: z.number().int().min(0).default(120_000),
  })
  .prefault({})

export type JourneysConfig = z.infer<typeof journeysSchema>
