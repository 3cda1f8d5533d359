/** @module The `telemetry:`, `bus:` and `store:` sections of vigil.yaml (owned by src/telemetry, src/bus, src/store). */
import { z } from 'zod'

export const telemetrySchema = z
  .strictObject({
    enabled: z.boolean().default(true),
    windowMs: z.number().int().min(1000).default(10_000),
  })
  .default({ enabled: true, windowMs: 10_000 })

export const busSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('memory') }),
    z.strictObject({ kind: z.literal('nats'), servers: z.string().default('127.0.0.1:4222') }),
  ])
  .default({ kind: 'memory' })

export const storeSchema = z
  .discriminatedUnion('kind', [
    z.strictObject({ kind: z.literal('sqlite'), path: z.string().default('./data/vigil.db') }),
    z.strictObject({
      kind: z.literal('postgres'),
      url: z.string().default('postgres://127.0.0.1:5432/test'),
    }),
  ])
  .default({ kind: 'sqlite', path: './data/vigil.db' })

export type TelemetryConfig = z.infer<typeof telemetrySchema>
export type BusConfig = z.infer<typeof busSchema>
export type StoreConfig = z.infer<typeof storeSchema>
