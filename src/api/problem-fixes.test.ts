import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { scaleSchema } from '../config/scale-schema.js'
import { LiveJourneys, type JourneyRoute } from '../control/journeys.js'
import { errorCodes, VigilError } from '../errors.js'
import { NO_RETRY_POLICY } from '../journeys/synthetic.js'
import { ProcessActuator } from '../scale/actuators/process.js'
import { Autoscaler } from '../scale/autoscaler.js'
import { SqliteStore } from '../store/sqlite.js'
import { fixOf, problemOf } from './problem.js'
import { journeyRoutes } from './routes/journeys.js'
import { scalingRoutes } from './routes/scaling.js'
import { buildAdminApp } from './server.js'

const GENERIC = /see docs\/errors\.md/

/**
 * Codes no admin API call answers with, each with where it goes instead. Every other code in the
 * registry must have a fix of its own in the admin API's table.
 */
const NOT_FROM_THE_ADMIN_API: Record<string, string> = {
  VGL_ERR_CONFIG_INVALID: 'vigil start / check-config; a reload answers VGL_ERR_API_RELOAD',
  VGL_ERR_CONFIG_READ: 'vigil start / check-config; a reload answers VGL_ERR_API_RELOAD',
  VGL_ERR_CONFIG_YAML: 'vigil start / check-config; a reload answers VGL_ERR_API_RELOAD',
  VGL_ERR_CONFIG_ENV: 'vigil start / check-config; a reload answers VGL_ERR_API_RELOAD',
  VGL_ERR_CLI_USAGE: 'the command line',
  VGL_ERR_AUDIT_UNWRITABLE: 'the log: the change it follows was saved and answered as made',
  VGL_ERR_CSV_INPUT: 'vigil detect / forecast input files',
  VGL_ERR_CLI_OUTPUT: 'vigil detect / forecast / eval output files',
  VGL_ERR_API_LISTEN: 'startup: one line and exit 1',
  VGL_ERR_API_WEAK_TOKEN: 'startup: one line and exit 1',
  VGL_ERR_SIM_LATENCY_RANGE: 'vigil mock / load options',
  VGL_ERR_SIM_INCIDENT: "the mock service's own /_mock/incident, which sends its own fix",
  VGL_ERR_SIM_TARGET: 'vigil load options',
  VGL_ERR_SIM_PATTERN: 'vigil load options',
  VGL_ERR_SIM_LISTEN: 'vigil mock startup',
  VGL_ERR_STORE_OPEN: 'startup: the store is opened before the admin API listens',
  VGL_ERR_STORE_MIGRATION: 'startup: migrations run before the admin API listens',
  VGL_ERR_STORE_MISSING: 'vigil simulate alerts / policy: one line and exit 1',
  VGL_ERR_CONTROL_DECODE: 'a bus message is logged and dropped; no request involved',
  VGL_ERR_GATEWAY_NO_ROUTE: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_GATEWAY_NO_TARGET: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_GATEWAY_BODY_TOO_LARGE: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_GATEWAY_LIMITED: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_GATEWAY_LISTEN: 'startup: one line and exit 1',
  VGL_ERR_GATEWAY_BAD_REQUEST: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_UPSTREAM_TIMEOUT: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_UPSTREAM_CONNECT: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_UPSTREAM_RESET: "the gateway's own problem+json, on the gateway port",
  VGL_ERR_LIMITS_UNKNOWN_API_KEY: "the gateway's own 401, on the gateway port",
  VGL_ERR_TELEMETRY_DECODE: 'logged by the control plane; no request involved',
  VGL_ERR_TELEMETRY_DROPPED: 'logged once and counted; no request involved',
  VGL_ERR_TELEMETRY_SERIES_CAP: 'logged once and counted; no request involved',
  VGL_ERR_OTLP_MALFORMED: "the OTLP receiver's answer, on its own port",
  VGL_ERR_OTLP_TOO_LARGE: "the OTLP receiver's answer, on its own port",
  VGL_ERR_OTLP_MEDIA_TYPE: "the OTLP receiver's answer, on its own port",
  VGL_ERR_OTLP_UNAVAILABLE: "the OTLP receiver's answer, on its own port",
  VGL_ERR_OTLP_LISTEN: 'startup: one line and exit 1',
  VGL_ERR_BUS_CLOSED: 'a shutdown-order bug, logged; no request involved',
  VGL_ERR_BUS_CONNECT: 'startup',
  VGL_ERR_BUS_SETUP: 'startup',
  VGL_ERR_BUS_NO_STREAM: 'startup',
  VGL_ERR_BUS_PUBLISH: 'the recorder retries and logs; requests never fail for it',
  VGL_ERR_DETECT_INPUT: 'the detect library and vigil detect',
  VGL_ERR_DETECT_UNKNOWN: 'vigil detect --detector',
  VGL_ERR_DETECT_SNAPSHOT: 'the detect library',
  VGL_ERR_DETECT_OPTIONS: 'the detect library and vigil detect',
  VGL_ERR_FORECAST_INPUT: 'vigil forecast',
  VGL_ERR_FORECAST_TOO_SHORT: 'vigil forecast; the live forecasts answer without a model instead',
  VGL_ERR_FORECAST_IRREGULAR: 'vigil forecast',
  VGL_ERR_FORECAST_OPTION: 'vigil forecast',
  VGL_ERR_FORECAST_MODEL: 'vigil forecast --model',
  VGL_ERR_FORECAST_LSTM_UNAVAILABLE: 'vigil forecast --model lstm',
}

describe('admin API problem fixes', () => {
  it('has a fix of its own for every code an admin API call can answer with', () => {
    const lacking = errorCodes()
      .map((d) => d.code)
      .filter((code) => NOT_FROM_THE_ADMIN_API[code] === undefined && fixOf(code) === null)
    expect(lacking).toEqual([])
    for (const d of errorCodes())
      if (NOT_FROM_THE_ADMIN_API[d.code] === undefined)
        expect(problemOf(new VigilError(d.code, 'x', d.statusCode)).fix, d.code).not.toMatch(GENERIC)
  })

  it('lists as not from the admin API only codes that exist', () => {
    const known = new Set(errorCodes().map((d) => d.code))
    expect(Object.keys(NOT_FROM_THE_ADMIN_API).filter((c) => !known.has(c))).toEqual([])
  })

  it("prefers the error's own fix, made for the request, over the code's", () => {
    const err = new VigilError('VGL_ERR_SCALE_UNKNOWN_SERVICE', 'x', 404)
    err.fix = 'use orders'
    expect(problemOf(err).fix).toBe('use orders')
  })
})

const apps: FastifyInstance[] = []
const closers: (() => Promise<void> | void)[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
  for (const c of closers.splice(0)) await c()
})

const sources = {
  ready: () => true,
  routes: () => [],
  services: () => [],
  reload: async () => ({ ok: true as const, routes: 0 }),
}

async function admin(plugins: Parameters<typeof buildAdminApp>[0]['plugins']): Promise<FastifyInstance> {
  const app = await buildAdminApp({ token: 'tok', sources, env: {}, plugins })
  apps.push(app)
  return app
}

describe('scale errors through the API', () => {
  /** A real process actuator behind a real autoscaler: `command` is what a replica runs. */
  async function scaling(command: string[], startTimeoutMs = 30_000) {
    const actuator = new ProcessActuator({
      pool: { setTargets: async () => {} },
      services: { orders: { command, startTimeoutMs, healthIntervalMs: 50, stopGraceMs: 500 } },
    })
    closers.push(() => actuator.close())
    let n = 0
    const autoscaler = new Autoscaler({
      services: {
        orders: scaleSchema.parse({
          mode: 'enforce',
          min: 0,
          max: 3,
          capacityPerReplica: 100,
          leadTimeMs: 1_000,
        }),
      },
      actuatorFor: () => actuator,
      windowMs: 1_000,
      observe: async () => ({ atMs: Date.now(), ratePerSec: 0 }),
      forecast: async () => null,
      record: async () => ({ id: String(++n), result: { status: 'pending' } }),
      settle: async () => {},
      attempts: 2,
      backoffMs: 10,
    })
    return admin([scalingRoutes({ autoscaler, services: ['orders'] })])
  }
  const scale = (app: FastifyInstance, name: string) =>
    app.inject({
      method: 'POST',
      url: `/api/services/${name}/scale`,
      headers: { authorization: 'Bearer tok' },
      payload: { replicas: 1, reason: 'test' },
    })

  it('an unknown service: names the scaled ones and how to scale another', async () => {
    const app = await scaling([process.execPath, '-e', ''])
    for (const r of [await scale(app, 'users'), await app.inject('/api/services/users/scaling')]) {
      expect(r.statusCode).toBe(404)
      expect(r.json().code).toBe('VGL_ERR_SCALE_UNKNOWN_SERVICE')
      expect(r.json().fix).toMatch(/use a scaled service \(orders; GET \/api\/scaling lists them\)/)
      expect(r.json().fix).toMatch(/services\.users a scale: block/)
    }
  })

  it('a service in shadow mode with no actuator: says it has no actuator, not that it is not scaled', async () => {
    const actuator = new ProcessActuator({ pool: { setTargets: async () => {} }, services: {} })
    closers.push(() => actuator.close())
    const autoscaler = new Autoscaler({
      services: {
        orders: scaleSchema.parse({ mode: 'enforce', min: 0, max: 3, capacityPerReplica: 100 }),
        users: scaleSchema.parse({ mode: 'shadow', min: 1, max: 3, capacityPerReplica: 100 }),
      },
      actuatorFor: (name) => (name === 'orders' ? actuator : null),
      windowMs: 1_000,
      observe: async () => ({ atMs: Date.now(), ratePerSec: 0 }),
      forecast: async () => null,
      record: async () => ({ id: '1', result: { status: 'pending' } }),
      settle: async () => {},
    })
    const app = await admin([scalingRoutes({ autoscaler, services: ['orders', 'users'] })])
    const restart = await app.inject({
      method: 'POST',
      url: '/api/services/users/restart',
      headers: { authorization: 'Bearer tok' },
      payload: { reason: 'test' },
    })
    for (const r of [await scale(app, 'users'), restart]) {
      expect(r.statusCode).toBe(404)
      expect(r.json().code).toBe('VGL_ERR_SCALE_UNKNOWN_SERVICE')
      expect(r.json().message).toBe(
        'service "users" has no actuator to scale or restart it: services.users.scale (mode: shadow) names no ' +
          'actuator, so its decisions are only recorded (services with an actuator: orders)',
      )
      expect(r.json().fix).toMatch(
        /^give services\.users\.scale an actuator \(kind: process, docker or kubernetes\)/,
      )
      expect(r.json().fix).not.toMatch(/scale: block/)
    }
    expect((await app.inject('/api/services/users/scaling')).statusCode).toBe(200)
  })

  it('a command that cannot start: names the command to check and that it was retried', async () => {
    const app = await scaling(['/nonexistent/vigil-replica'])
    const r = await scale(app, 'orders')
    expect(r.statusCode).toBe(502)
    expect(r.json()).toMatchObject({ status: 'failed', code: 'VGL_ERR_SCALE_ACTUATOR' })
    expect(r.json().fix).toMatch(/services\.orders\.scale\.actuator\.command: "\/nonexistent\/vigil-replica"/)
    expect(r.json().fix).toMatch(/Vigil tried 2 times with backoff/)
  })

  it('a replica that never answers its health check: names the path and timeout, and the rollback', async () => {
    const app = await scaling([process.execPath, '-e', 'setInterval(() => {}, 1000)'], 300)
    const r = await scale(app, 'orders')
    expect(r.statusCode).toBe(502)
    expect(r.json()).toMatchObject({ status: 'failed', code: 'VGL_ERR_SCALE_UNHEALTHY' })
    expect(r.json().fix).toMatch(
      /answers GET \/health with 2xx \(services\.orders\.scale\.actuator\.healthPath\)/,
    )
    expect(r.json().fix).toMatch(/startTimeoutMs \(300 ms\)/)
    expect(r.json().fix).toMatch(/stopped and never added to the pool/)
    expect(r.json().fix).toMatch(/not retried at once/)
  })
})

describe('journeys errors through the API', () => {
  const route: JourneyRoute = { name: 'shop', service: 'shop', policy: NO_RETRY_POLICY }
  async function journeys() {
    const store = await SqliteStore.open({ path: ':memory:' })
    closers.push(() => store.close())
    const source = new LiveJourneys({
      store,
      windowMs: 10_000,
      gatewayEnv: 'edge',
      sampleRate: 0.1,
      spansRetentionMs: 2 * 86_400_000,
      routes: [route],
      traceWaitMs: 15_000,
    })
    return admin([journeyRoutes({ source })])
  }

  it('a route with no traced traffic yet: says to send traffic and how long to wait', async () => {
    const app = await journeys()
    const r = await app.inject('/api/journeys/shop')
    expect(r.statusCode).toBe(404)
    expect(r.json().code).toBe('VGL_ERR_JOURNEYS_NO_DATA')
    expect(r.json().fix).toMatch(/route shop has had no traced traffic yet/)
    expect(r.json().fix).toMatch(/ask again in 25 s/)
    const cause = await app.inject('/api/rootcause?route=shop')
    expect(cause.json().fix).toMatch(/route shop has had no traced traffic yet/)
  })

  it('a route that does not exist: names the routes there are', async () => {
    const app = await journeys()
    const r = await app.inject('/api/journeys/nope')
    expect(r.statusCode).toBe(404)
    expect(r.json().fix).toMatch(/nope is not an entry route.*the config's routes are shop/)
  })

  it('a trace not found: says which traces are kept, for how long, and the id format', async () => {
    const app = await journeys()
    const r = await app.inject(`/api/traces/${'ab'.repeat(16)}`)
    expect(r.statusCode).toBe(404)
    expect(r.json().code).toBe('VGL_ERR_JOURNEYS_TRACE_NOT_FOUND')
    expect(r.json().fix).toMatch(/for 10% of requests \(telemetry\.spans\.sampleRate\)/)
    expect(r.json().fix).toMatch(/for 2 d \(store\.retention\.spans\)/)
    expect(r.json().fix).toMatch(/traceparent/)
    const byRequest = await app.inject('/api/traces/by-request/req-1')
    expect(byRequest.statusCode).toBe(404)
    expect(byRequest.json().fix).toMatch(/X-Request-Id the gateway answered with/)
  })
})
