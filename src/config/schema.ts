/** @module The vigil.yaml schema: strict (unknown keys are errors), every default in one place. */
import { z } from 'zod'
import { limitsSchema, routeLimitSchema } from './limits-schema.js'
import { busSchema, storeSchema, telemetrySchema } from './telemetry-schema.js'
import type { ConfigProblem } from './load.js'

const url = z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })

export const targetSchema = z.union([
  url,
  z.strictObject({ url, weight: z.number().int().positive().default(1) }),
])

export const serviceSchema = z.strictObject({
  targets: z.array(targetSchema).min(1, 'a service needs at least one target URL'),
  balancer: z.enum(['round-robin', 'least-outstanding']).default('round-robin'),
})

export const routeSchema = z.strictObject({
  /** name used in metrics and series keys; defaults to the path */
  name: z.string().min(1).optional(),
  path: z.string().startsWith('/', 'a route path starts with "/"'),
  match: z.enum(['prefix', 'exact']).default('prefix'),
  methods: z.array(z.string().regex(/^[A-Z]+$/, 'methods are upper case, e.g. GET')).optional(),
  service: z.string().min(1),
  limit: routeLimitSchema.optional(),
})

export const configSchema = z.strictObject({
  /** the environment this gateway runs in; part of every series key */
  env: z.string().min(1).default('default'),
  gateway: z
    .strictObject({
      host: z.string().default('0.0.0.0'),
      port: z.coerce.number().int().min(0).max(65535).default(8080),
    })
    .default({ host: '0.0.0.0', port: 8080 }),
  admin: z
    .strictObject({
      host: z.string().default('127.0.0.1'),
      port: z.coerce.number().int().min(0).max(65535).default(8081),
      /** bearer token for mutating calls; falls back to $VIGIL_ADMIN_TOKEN */
      token: z.string().optional(),
    })
    .default({ host: '127.0.0.1', port: 8081 }),
  services: z.record(
    z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, 'service names are lower-case letters, digits, - and _'),
    serviceSchema,
  ),
  routes: z.array(routeSchema).min(1, 'add at least one route'),
  limits: limitsSchema,
  telemetry: telemetrySchema,
  bus: busSchema,
  store: storeSchema,
})

export type Config = z.infer<typeof configSchema>
export type ServiceConfig = z.infer<typeof serviceSchema>
export type RouteConfig = z.infer<typeof routeSchema>

/** Checks that span fields: routes name known services, no duplicate route names. */
export function crossCheck(cfg: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = []
  const known = Object.keys(cfg.services)
  cfg.routes.forEach((route, i) => {
    if (!(route.service in cfg.services)) {
      problems.push({
        path: `routes[${i}].service`,
        message: `unknown service "${route.service}" (known: ${known.join(', ') || 'none; add one under services:'})`,
      })
    }
  })
  return problems
}
