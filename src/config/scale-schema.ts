/**
 * @module The `scale:` block of a service: bounds, sizing, policy timing, mode and actuator
 * settings, with cross-field checks that name the field (min above max, a lead time shorter
 * than a new replica needs to become healthy).
 */
import { z } from 'zod'

const positiveMs = (fallback: number) => z.number().int().positive().default(fallback)

export const processActuatorSchema = z.strictObject({
  kind: z.literal('process'),
  /** the program and its arguments; `$PORT` in an argument is replaced by the replica's port */
  command: z
    .array(z.string().min(1))
    .min(1, 'command: give the program and its arguments, e.g. [vigil, mock, --port, $PORT]'),
  env: z.record(z.string(), z.string()).default({}),
  host: z.string().default('127.0.0.1'),
  healthPath: z.string().startsWith('/', 'a health check path starts with "/"').default('/health'),
  /** how long a new replica has to answer its health check with 2xx */
  startTimeoutMs: positiveMs(30_000),
  healthIntervalMs: positiveMs(200),
  /** from SIGTERM to SIGKILL */
  stopGraceMs: positiveMs(10_000),
})

export const dockerActuatorSchema = z.strictObject({
  kind: z.literal('docker'),
  image: z.string().min(1, 'image: name the image, e.g. registry.example.com/orders:1.4'),
  network: z.string().min(1).optional(),
  containerPort: z.number().int().min(1).max(65535).default(8080),
  env: z.record(z.string(), z.string()).default({}),
  startTimeoutMs: positiveMs(60_000),
  stopTimeoutSec: z.number().int().min(0).default(10),
})

export const kubernetesActuatorSchema = z.strictObject({
  kind: z.literal('kubernetes'),
  namespace: z.string().min(1).default('default'),
  /** the Deployment's name; default: the service's name */
  deployment: z.string().min(1).optional(),
  rolloutTimeoutMs: positiveMs(300_000),
})

export const actuatorSchema = z.discriminatedUnion('kind', [
  processActuatorSchema,
  dockerActuatorSchema,
  kubernetesActuatorSchema,
])

/** `capacityPerReplica: { learn: true, … }`: learned from the service's latency–load curve. */
export const learnedCapacitySchema = z.strictObject({
  learn: z.literal(true),
  /** req/s per replica used until there is enough evidence (required; checked with a named error) */
  initial: z.number().positive('expected requests per second > 0').optional(),
  /** bounds of the learned value; default initial ÷ 4 and initial × 4 */
  min: z.number().positive('expected requests per second > 0').optional(),
  max: z.number().positive('expected requests per second > 0').optional(),
  /** the latency objective in ms; default latencyMultiple × the latency at low load */
  latencyTargetMs: z.number().positive('expected ms > 0').optional(),
  latencyMultiple: z.number().gt(1, 'expected a multiple > 1 of the low-load latency').default(2),
  latencyQuantile: z.enum(['p95', 'p99']).default('p95'),
  /** telemetry windows of evidence before the learned value replaces initial */
  minWindows: z.number().int().min(6, 'expected at least 6 windows').default(60),
})

export const scaleSchema = z.strictObject({
  /** shadow: decide and record, change nothing; enforce: act through the actuator */
  mode: z.enum(['shadow', 'enforce']).default('shadow'),
  min: z.number().int().min(0).default(1),
  max: z.number().int().min(1).default(10),
  /**
   * requests per second one replica serves at full utilisation, or `{ learn: true, initial, … }` to
   * learn it from the latency–load curve; absent: no policy (scaled by hand only)
   */
  capacityPerReplica: z
    .union(
      [
        z.number().positive('expected requests per second > 0 (what one replica serves at full utilisation)'),
        learnedCapacitySchema,
      ],
      {
        error:
          'expected requests per second > 0, or { learn: true, initial: N } to learn it from the latency–load curve',
      },
    )
    .optional(),
  targetUtilization: z.number().gt(0).max(1).default(0.8),
  /** from asking for a replica until it serves; at least the time a new replica needs to become healthy */
  leadTimeMs: positiveMs(120_000),
  scaleDownStabilizationMs: z.number().int().min(0).default(1_800_000),
  maxStepUp: z.number().int().positive().optional(),
  maxStepDown: z.number().int().positive().optional(),
  /** forecast upper band level in percent */
  level: z.number().gt(0).lt(100).default(90),
  /** extra replica-time the policy may spend beyond HPA-shaped sizing of the observed load, as a fraction */
  headroomBudget: z.number().min(0).default(0.18),
  actuator: actuatorSchema.optional(),
})

export type ScaleConfig = z.infer<typeof scaleSchema>
export type LearnedCapacityConfig = z.infer<typeof learnedCapacitySchema>
export type ActuatorConfig = z.infer<typeof actuatorSchema>

/** Cross-field checks of one service's scale block; paths are relative to the config root. */
export function scaleCrossCheck(
  service: string,
  scale: ScaleConfig | undefined,
  healthCheck: { intervalMs: number; timeoutMs: number; healthyThreshold: number } | undefined,
): { path: string; message: string }[] {
  if (scale === undefined) return []
  const at = `services.${service}.scale`
  const problems: { path: string; message: string }[] = []
  if (scale.min > scale.max)
    problems.push({
      path: `${at}.min`,
      message: `${scale.min} is above max ${scale.max}; lower min or raise max`,
    })
  const cap = scale.capacityPerReplica
  if (typeof cap === 'object') {
    const c = `${at}.capacityPerReplica`
    if (cap.initial === undefined)
      problems.push({
        path: `${c}.initial`,
        message:
          'learning needs a starting capacity (req/s one replica serves), used until there is enough evidence; e.g. initial: 50',
      })
    else {
      if (cap.min !== undefined && cap.min > cap.initial)
        problems.push({ path: `${c}.min`, message: `${cap.min} is above initial ${cap.initial}; lower min` })
      if (cap.max !== undefined && cap.max < cap.initial)
        problems.push({ path: `${c}.max`, message: `${cap.max} is below initial ${cap.initial}; raise max` })
    }
  }
  if (scale.mode === 'enforce' && scale.actuator === undefined)
    problems.push({
      path: `${at}.actuator`,
      message: 'mode enforce needs an actuator (kind: process, docker or kubernetes); or use mode: shadow',
    })
  // a replica asked for is useful only once healthy: the lead time must cover that
  if (healthCheck !== undefined) {
    const needMs = healthCheck.intervalMs * healthCheck.healthyThreshold
    if (scale.leadTimeMs < needMs)
      problems.push({
        path: `${at}.leadTimeMs`,
        message: `${scale.leadTimeMs} ms is shorter than a new replica needs to pass its health check (healthCheck.intervalMs ${healthCheck.intervalMs} × healthyThreshold ${healthCheck.healthyThreshold} = ${needMs} ms); raise leadTimeMs`,
      })
  }
  if (scale.actuator?.kind === 'process' && scale.leadTimeMs < scale.actuator.healthIntervalMs)
    problems.push({
      path: `${at}.leadTimeMs`,
      message: `${scale.leadTimeMs} ms is shorter than actuator.healthIntervalMs ${scale.actuator.healthIntervalMs}; raise leadTimeMs`,
    })
  return problems
}
