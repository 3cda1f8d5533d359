/** @module The `telemetry:`, `bus:` and `store:` sections of vigil.yaml (owned by src/telemetry, src/bus, src/store). */
import { z } from 'zod'

const port = z.coerce.number().int().min(0).max(65535)

export const telemetrySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    /** rollup window; windows are aligned to multiples of it since the epoch; sub-second only for demos and tests */
    windowMs: z.number().int().min(250).default(10_000),
    /** identity of this gateway in rollups (dedup key); generated per process when omitted */
    gatewayId: z
      .string()
      .regex(/^[A-Za-z0-9_.-]+$/, 'gatewayId uses letters, digits, ".", "_" and "-"')
      .optional(),
    /** live series per window; more go to one overflow series and count in a metric */
    maxSeries: z.number().int().min(1).default(10_000),
    /** closed series windows waiting to be published (~1-2 KB each); beyond it they are dropped and counted */
    maxQueueSize: z.number().int().min(1).default(20_000),
    spans: z
      .strictObject({
        /** share of successful, not-slow requests whose span is kept (errors and slow ones always are) */
        sampleRate: z.number().min(0).max(1).default(0.01),
        /** spans waiting to be published; beyond it spans are dropped and counted */
        maxQueueSize: z.number().int().min(1).default(4096),
        /** spans per bus message */
        maxBatchSize: z.number().int().min(1).default(512),
      })
      .prefault({}),
    otlp: z
      .strictObject({
        enabled: z.boolean().default(true),
        host: z.string().default('0.0.0.0'),
        port: port.default(4318),
        /** largest accepted request body, after gzip decoding */
        maxBodyBytes: z
          .number()
          .int()
          .min(1024)
          .default(4 * 1024 * 1024),
        /** worker threads that decode OTLP requests, off the gateway's event loop */
        decodeWorkers: z.number().int().min(1).max(16).default(1),
        /** requests waiting or being decoded per worker; past it the receiver answers 503 (the exporter retries) */
        decodeQueue: z.number().int().min(1).max(64).default(4),
      })
      .prefault({}),
  })
  .prefault({})

export const busSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('memory') }),
    z.strictObject({
      kind: z.literal('nats'),
      /** comma-separated host:port list */
      servers: z.string().default('127.0.0.1:4222'),
      /** subjects are PREFIX.rollups and PREFIX.spans; change it to run several Vigils on one NATS */
      subjectPrefix: z
        .string()
        .regex(
          /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/,
          'subject prefixes are dot-separated tokens without wildcards',
        )
        .default('vigil'),
      /** prefix of the JetStream stream names (PREFIX_ROLLUPS, PREFIX_SPANS) */
      streamPrefix: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/, 'stream names use letters, digits, "_" and "-"')
        .default('VIGIL'),
      /** how long JetStream keeps messages (ms) */
      maxAgeMs: z
        .number()
        .int()
        .min(1000)
        .default(24 * 3600_000),
      /** window in which a repeated Nats-Msg-Id is dropped as a duplicate (ms) */
      duplicateWindowMs: z
        .number()
        .int()
        .min(1000)
        .default(10 * 60_000),
    }),
  ])
  .default({ kind: 'memory' })

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const
/** a duration: milliseconds as a number, or a string like `90s`, `6h`, `14d` */
export const durationMs = z.union(
  [
    z.number().int().positive(),
    z
      .string()
      .regex(/^\d+(ms|s|m|h|d)$/, 'expected a duration like 90s, 6h or 14d')
      .transform((t) => {
        const m = /^(\d+)(ms|s|m|h|d)$/.exec(t) as RegExpExecArray
        return Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS]
      }),
  ],
  { error: 'expected a duration: milliseconds, or text like 90s, 5m, 6h or 14d' },
)

/** How long each store table keeps rows; unset entries use the store's defaults (docs/store.md). */
const retentionSchema = z
  .strictObject({
    raw: durationMs.optional(),
    window: durationMs.optional(),
    minute: durationMs.optional(),
    hour: durationMs.optional(),
    spans: durationMs.optional(),
    events: durationMs.optional(),
    forecasts: durationMs.optional(),
    /** the action log; silences and acknowledgements that ended this long ago */
    actions: durationMs.optional(),
    graph: durationMs.optional(),
  })
  .default({})

export const storeSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({
      kind: z.literal('sqlite'),
      path: z.string().default('./data/vigil.db'),
      retention: retentionSchema,
    }),
    z.strictObject({
      kind: z.literal('postgres'),
      url: z.string().default('postgres://postgres@127.0.0.1:5432/test'),
      /** schema holding Vigil's tables, created when missing */
      schema: z
        .string()
        .regex(/^[a-z_][a-z0-9_]*$/, 'lower-case letters, digits and _')
        .default('public'),
      maxConnections: z.number().int().min(1).max(100).default(4),
      retention: retentionSchema,
    }),
  ])
  .default({ kind: 'sqlite', path: './data/vigil.db', retention: {} })

export type TelemetryConfig = z.infer<typeof telemetrySchema>
export type BusConfig = z.infer<typeof busSchema>
export type StoreConfig = z.infer<typeof storeSchema>

/** `control.leader`: the lease that makes one `vigil control` the one that acts (src/control/lease.ts). */
const leaderSchema = z
  .strictObject({
    /** a leader that stops renewing loses the lease after this long; a follower takes over then */
    ttlMs: z.number().int().min(1_000).max(600_000).default(5_000),
    /** the leader renews, and followers try to take the lease, this often (at most ttlMs / 2) */
    renewEveryMs: z.number().int().min(100).default(1_000),
    /** NATS KV bucket of the lease; default `<bus.streamPrefix>_LEADER` */
    bucket: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'bucket names use letters, digits, "_" and "-"')
      .optional(),
  })
  .refine((l) => l.renewEveryMs * 2 <= l.ttlMs, {
    message: 'renewEveryMs must be at most half of ttlMs, or the lease expires between renewals',
    path: ['renewEveryMs'],
  })
  .prefault({})

/** The `control:` section: the control plane's loop (src/control). */
export const controlSchema = z
  .strictObject({
    /** how long after a window ends the control plane waits for late gateway rollups */
    graceMs: z.number().int().min(0).max(300_000).default(5_000),
    /** merged points kept in memory per series (360 × 10 s = 1 h) */
    historyPoints: z.number().int().min(1).max(100_000).default(360),
    /** durable consumer name on the bus; one per control plane deployment */
    durable: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, _ and -')
      .default('vigil-control'),
    /** unacked rollups held at once; must exceed series × gateways per window */
    maxInFlight: z.number().int().min(100).default(100_000),
    /** admin API of `vigil control` (scaled out); embedded mode uses admin: */
    admin: z
      .strictObject({
        host: z.string().default('127.0.0.1'),
        port: z.coerce.number().int().min(0).max(65535).default(8082),
      })
      .default({ host: '127.0.0.1', port: 8082 }),
    /** leader election among `vigil control` processes (a lease in a NATS KV bucket) */
    leader: leaderSchema,
    /**
     * the action log as JSON lines, one per action once final; default `actions.jsonl` beside the
     * SQLite file (or in ./data with PostgreSQL); false: no file (the store keeps every action)
     */
    actionsFile: z.union([z.string().min(1), z.literal(false)]).optional(),
  })
  .prefault({})

export type ControlConfig = z.infer<typeof controlSchema>
