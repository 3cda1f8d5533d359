/** @module The vigil.yaml schema: strict (unknown keys are errors), every default in one place. */
import { METHODS } from 'node:http'
import { z } from 'zod'
import { limitsProblems, limitsSchema, routeLimitSchema } from './limits-schema.js'
import { busSchema, controlSchema, storeSchema, telemetrySchema } from './telemetry-schema.js'
import { detectSchema, forecastSchema } from './control-live-schema.js' // live detect/forecast
import { alertsCrossCheck, alertsSchema } from './alerts-schema.js' // alerts
import { scaleCrossCheck, scaleSchema } from './scale-schema.js' // scale
import { policiesSchema, policyProblems } from './policies-schema.js' // adaptive limits
import { journeysSchema } from './journeys-schema.js' // journeys
import { unknownName, type ConfigProblem } from './messages.js'

const url = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]*$/
/** A port number; numeric strings (from `${PORT}` substitution) are accepted. */
const port = z.preprocess(
  (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
  z
    .number({ error: 'expected a port number 0-65535 (0 picks a free port)' })
    .int()
    .min(0, 'expected a port number 0-65535 (0 picks a free port)')
    .max(65535, 'expected a port number 0-65535 (0 picks a free port)'),
)
const ms = (fallback: number) => z.number().int().min(0).default(fallback)
const positiveMs = (fallback: number) => z.number().int().positive().default(fallback)

export const targetSchema = z.union([
  url,
  z.strictObject({ url, weight: z.number().int().positive().default(1) }),
])

/** Envoy-style retry budget: retries in flight may be at most `ratio` of requests in flight (but always `minRetries`). */
export const retryBudgetSchema = z.strictObject({
  ratio: z.number().min(0).max(1).default(0.2),
  minRetries: z.number().int().min(0).default(3),
})

/** Outlier ejection per target: consecutive failures open the breaker; each repeat ejection lasts longer. */
export const breakerSchema = z.strictObject({
  enabled: z.boolean().default(true),
  consecutiveFailures: z.number().int().positive().default(5),
  baseEjectionMs: positiveMs(30_000),
  maxEjectionMs: positiveMs(300_000),
})

/** Active health checks: `GET path` every `intervalMs`; thresholds of consecutive results flip the verdict. */
export const healthCheckSchema = z.strictObject({
  path: z.string().startsWith('/', 'a health check path starts with "/"').default('/health'),
  intervalMs: positiveMs(5_000),
  timeoutMs: positiveMs(2_000),
  healthyThreshold: z.number().int().positive().default(2),
  unhealthyThreshold: z.number().int().positive().default(3),
})

export const serviceSchema = z.strictObject({
  targets: z.array(targetSchema).min(1, 'a service needs at least one target URL'),
  balancer: z.enum(['round-robin', 'least-outstanding']).default('round-robin'),
  /** keep-alive connections per target; requests beyond wait for one in order */
  connectionsPerTarget: z.number().int().positive().default(128),
  /** how long an idle upstream connection is kept open */
  keepAliveTimeoutMs: positiveMs(4_000),
  /** TCP connect timeout of the target pools (routes add their own `connectTimeoutMs`) */
  socketConnectTimeoutMs: positiveMs(5_000),
  retryBudget: retryBudgetSchema.prefault({}),
  breaker: breakerSchema.prefault({}),
  /** absent: no active checks (passive health from live traffic still applies) */
  healthCheck: healthCheckSchema.optional(),
  /** autoscaling of this service (docs/autoscaling.md); absent: never scaled */
  scale: scaleSchema.optional(), // scale
})

export const RETRY_ON = ['connect-error', 'timeout', '502', '503', '504'] as const

export const retrySchema = z.strictObject({
  /** total tries including the first; 1 disables retries */
  attempts: z.number().int().min(1).max(10).default(3),
  backoffBaseMs: ms(25),
  backoffMaxMs: ms(1_000),
  on: z.array(z.enum(RETRY_ON)).default([...RETRY_ON]),
})

export const routeSchema = z.strictObject({
  /** name used in metrics and series keys; defaults to the path */
  name: z.string().min(1).optional(),
  /** `/users/:id` segments are parameters; prefix routes also match everything below the path */
  path: z.string().startsWith('/', 'a route path starts with "/"'),
  match: z.enum(['prefix', 'exact']).default('prefix'),
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper case, e.g. GET')).optional(),
  service: z.string().min(1),
  /** until the request is written on a connected upstream socket (includes waiting for a pooled connection) */
  connectTimeoutMs: positiveMs(3_000),
  /** from the request being written until the response headers arrive, per attempt (totalTimeoutMs still applies) */
  firstByteTimeoutMs: positiveMs(15_000),
  /** overall deadline until the response starts, across every attempt and backoff */
  totalTimeoutMs: positiveMs(30_000),
  /** longest silence between two chunks of the response body */
  bodyIdleTimeoutMs: positiveMs(30_000),
  /** overrides gateway.bodyLimitBytes for this route */
  bodyLimitBytes: z.number().int().min(0).optional(),
  retry: retrySchema.prefault({}),
  limit: routeLimitSchema.optional(),
})

export const accessLogSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** fraction of successful requests logged; errors (5xx, timeouts, connect errors, aborts) are always logged */
  sampleRate: z.number().min(0).max(1).default(1),
  /** `stdout`, `stderr` or a file path (appended to) */
  destination: z.string().min(1).default('stdout'),
  /** `json`: pino-shaped lines; `ecs`: Elastic Common Schema JSON (trace.id, span.id) for Filebeat/Logstash */
  format: z.enum(['json', 'ecs']).default('json'),
})

export const gatewaySchema = z.strictObject({
  host: z.string().default('0.0.0.0'),
  port: port.default(8080),
  /** request bodies larger than this get 413 (0 = no limit) */
  bodyLimitBytes: z.number().int().min(0).default(1_073_741_824),
  /** request bodies up to this size are buffered so a failed attempt can be retried; larger ones stream */
  retryBufferBytes: z.number().int().min(0).default(65_536),
  /** a client must send all request headers within this time (slowloris) */
  headersTimeoutMs: positiveMs(10_000),
  /** a client must send the whole request within this time (0 = no limit, for large uploads) */
  requestTimeoutMs: ms(300_000),
  /** a socket with no activity for this long is closed */
  idleTimeoutMs: positiveMs(60_000),
  /** an idle keep-alive client connection is closed after this long */
  keepAliveTimeoutMs: positiveMs(5_000),
  /** on SIGTERM, in-flight requests get this long to finish */
  shutdownGraceMs: positiveMs(10_000),
  /** a request the gateway refuses itself (429, 401, 404, 413 ...) keeps its connection if its unread body is at most this large (drained); larger ones close it */
  drainBodyBytes: z.number().int().min(0).max(16_777_216).default(65_536),
  /** `%2F`/`%5C` in a request path: `keep` forwards them as data (refused only when they hide a dot segment), `reject` answers 400 */
  escapedSlashes: z.enum(['keep', 'reject']).default('keep'),
  accessLog: accessLogSchema.prefault({}),
})

export const configSchema = z.strictObject({
  /** the environment this gateway runs in; part of every series key */
  env: z.string().min(1).default('default'),
  gateway: gatewaySchema.prefault({}),
  admin: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: port.default(8081),
      /** bearer token for mutating calls; falls back to $VIGIL_ADMIN_TOKEN */
      token: z.string().optional(),
    })
    .default({ host: '127.0.0.1', port: 8081 }),
  /** service names are checked in crossCheck so the message can show the bad name */
  services: z.record(z.string(), serviceSchema),
  routes: z.array(routeSchema).min(1, 'add at least one route'),
  limits: limitsSchema,
  telemetry: telemetrySchema,
  bus: busSchema,
  store: storeSchema,
  control: controlSchema,
  detect: detectSchema, // live anomaly detection (src/control/anomalies.ts)
  forecast: forecastSchema, // live forecasting (src/control/forecasts.ts)
  alerts: alertsSchema, // alerting (src/alerts, src/control/alerting.ts)
  policies: policiesSchema, // adaptive limits (src/control/policies)
  journeys: journeysSchema, // traces, service graph, root cause, impact (src/control/journeys.ts)
})

export type Config = z.infer<typeof configSchema>
export type GatewayConfig = z.infer<typeof gatewaySchema>
export type ServiceConfig = z.infer<typeof serviceSchema>
export type RouteConfig = z.infer<typeof routeSchema>
export type RetryOn = (typeof RETRY_ON)[number]

/** The name a route is known by in metrics, logs and series keys. */
export function routeName(route: RouteConfig): string {
  return route.name ?? route.path
}

/**
 * Checks that span fields: names that refer to configured things (services, routes, classes,
 * tiers, sinks) name one, unique route names and paths, consistent timeouts. `declared` lists the services the file declares, for messages, when some of them had
 * problems of their own and are not in `cfg` (a route naming another is told of all of them).
 */
export function crossCheck(cfg: Config, declared?: readonly string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const known = Object.keys(cfg.services)
  const listed = declared ?? known
  for (const name of known) {
    if (!SERVICE_NAME.test(name)) {
      problems.push({
        path: `services.${name}`,
        message: `service names are lower-case letters, digits, - and _ (starting with a letter or digit), got "${name}"`,
      })
    }
  }
  const names = new Map<string, number>()
  const paths = new Map<string, number>()
  const classes = Object.keys(cfg.limits.classes)
  cfg.routes.forEach((route, i) => {
    if (!(route.service in cfg.services)) {
      problems.push({
        path: `routes[${i}].service`,
        message: unknownName(
          'service',
          route.service,
          listed,
          listed.length === 0 ? 'add one under services:' : undefined,
        ),
      })
    }
    const name = routeName(route)
    const sameName = names.get(name)
    if (sameName !== undefined) {
      problems.push({
        path: `routes[${i}].name`,
        message: `route name "${name}" is already used by routes[${sameName}]; give one of them a distinct name`,
      })
    } else names.set(name, i)
    const methods = route.methods === undefined ? ['*'] : route.methods
    route.methods?.forEach((m, j) => {
      if (!METHODS.includes(m)) {
        problems.push({
          path: `routes[${i}].methods[${j}]`,
          message: `unknown HTTP method "${m}"; use one of GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS`,
        })
      }
    })
    for (const m of methods) {
      const key = `${route.match} ${m} ${route.path.replace(/:[^/]+/g, ':')}`
      const other = paths.get(key) ?? paths.get(`${route.match} * ${route.path.replace(/:[^/]+/g, ':')}`)
      if (other !== undefined) {
        problems.push({
          path: `routes[${i}].path`,
          message: `"${route.path}" (${route.match}, ${m === '*' ? 'all methods' : m}) is already matched by routes[${other}]; remove one or narrow its methods`,
        })
        break
      }
    }
    for (const m of methods) paths.set(`${route.match} ${m} ${route.path.replace(/:[^/]+/g, ':')}`, i)
    // an unknown class is ranked as normal by the limiter: a misspelt "critical" would be shed
    const priority = route.limit?.priority
    if (priority !== undefined && !(priority in cfg.limits.classes)) {
      problems.push({
        path: `routes[${i}].limit.priority`,
        message: unknownName('priority class', priority, classes, 'more under limits.classes'),
      })
    }
    if (route.retry.backoffBaseMs > route.retry.backoffMaxMs) {
      problems.push({
        path: `routes[${i}].retry.backoffBaseMs`,
        message: `${route.retry.backoffBaseMs} is larger than backoffMaxMs ${route.retry.backoffMaxMs}; make it at most backoffMaxMs`,
      })
    }
  })
  problems.push(...limitsProblems(cfg.limits, listed))
  const routes = new Map(cfg.routes.map((r) => [routeName(r), r.service]))
  problems.push(...alertsCrossCheck(cfg.alerts, known, routes, cfg.telemetry.windowMs)) // alerts
  for (const [name, svc] of Object.entries(cfg.services)) {
    problems.push(...scaleCrossCheck(name, svc.scale, svc.healthCheck)) // scale
    if (svc.breaker.baseEjectionMs > svc.breaker.maxEjectionMs) {
      problems.push({
        path: `services.${name}.breaker.baseEjectionMs`,
        message: `${svc.breaker.baseEjectionMs} is larger than maxEjectionMs ${svc.breaker.maxEjectionMs}; make it at most maxEjectionMs`,
      })
    }
  }
  problems.push(...policyProblems(cfg)) // adaptive limits
  const j = cfg.journeys
  if (j.maxTraceWaitMs !== undefined && j.maxTraceWaitMs < j.traceWaitMs)
    problems.push({
      path: 'journeys.maxTraceWaitMs',
      message: `${j.maxTraceWaitMs} is smaller than traceWaitMs ${j.traceWaitMs}; make it at least traceWaitMs, or leave it out for 4 × traceWaitMs`,
    })
  return problems
}
