/** @module The `limits:` section of vigil.yaml and the per-route limit fields (owned by src/limits). */
import { z } from 'zod'

/** Per-route fields read by the limiter: priority class and token cost. */
export const routeLimitSchema = z.strictObject({
  priority: z.string().min(1).default('normal'),
  cost: z.number().int().positive().default(1),
})

export const limitsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
  })
  .default({ enabled: false })

export type LimitsConfig = z.infer<typeof limitsSchema>
