/**
 * @module Journeys API (Fastify plugin): traces (waterfall by trace id or `X-Request-Id`, search),
 * the service graph, entry routes with their critical paths and learned models, root-cause
 * ranking and the Monte Carlo what-if engine. JSON shapes: docs/journeys.md.
 *
 * | route | answers |
 * |---|---|
 * | `GET /api/traces/:traceId` | the trace's waterfall |
 * | `GET /api/traces/by-request/:requestId` | the waterfall of the trace a request belongs to |
 * | `GET /api/traces?service&env&route&status&minDurationMs&maxDurationMs&window\|from&to&limit` | traces, newest first |
 * | `GET /api/graph?window\|from&to` | nodes and edges with rate, error ratio, p50/p95/p99 |
 * | `GET /api/journeys?window` | entry routes with traffic and critical-path shares |
 * | `GET /api/journeys/:route?window` | one route: critical path and the learned model |
 * | `GET /api/rootcause?route&window&baseline&symptom` | ranked candidate services and edges |
 * | `GET /api/whatif?route&horizon&window&kind&service&env&value&factor&durationMs&replicas&lost&utilization` | one scenario's impact |
 * | `POST /api/whatif` `{ route?, horizon?, window?, scenarios: [...], journeys?, seed? }` | impact of scenarios together |
 */
import type { FastifyPluginAsync } from 'fastify'
import { formatDurationMs, parseDurationMs } from '../../parsing.js'
import type { JourneySource } from '../../control/journeys.js'
import { VGL_ERR_JOURNEYS_QUERY, VGL_ERR_JOURNEYS_WHATIF, isVigilError } from '../../errors.js'
import { WHAT_IF_FIELDS } from '../../journeys/index.js'
import { exposeJourneyMetrics } from '../journey-metrics.js'
import { badParam, enumParam, intParam, misorderedRange, timeParam } from '../params.js'
import { sendProblem } from '../problem.js'

export interface JourneyRoutesOptions {
  source: JourneySource
  now?: () => number
}

type Query = Record<string, string | undefined>

function duration(name: string, v: string | undefined, fallback: number, min: number, max: number): number {
  if (v === undefined || v === '') return fallback
  let ms = NaN
  try {
    ms = /^\d+$/.test(v) ? Number(v) : parseDurationMs(v, name)
  } catch {
    // refused below, with the range
  }
  if (!(ms >= min && ms <= max))
    throw badParam(
      VGL_ERR_JOURNEYS_QUERY,
      Number.isNaN(ms)
        ? `${name}: expected a duration like 30s, 5m or 1h (or ms), got "${v}"`
        : `${name}: expected a duration from ${formatDurationMs(min)} to ${formatDurationMs(max)}, got "${v}"`,
      `send ${name} as a number with s, m or h (a bare number is ms) from ${formatDurationMs(min)} to ${formatDurationMs(max)}, e.g. ${name}=1h`,
    )
  return ms
}

const time = (name: string, v: string | undefined, fallback: number) =>
  timeParam(name, v, fallback, VGL_ERR_JOURNEYS_QUERY)

function num(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n))
    throw badParam(
      VGL_ERR_JOURNEYS_QUERY,
      `${name}: expected a number of milliseconds, got "${v}"`,
      `send ${name} as a number of milliseconds without a unit (e.g. ${name}=500), or leave it out`,
    )
  return n
}

const text = (v: string | undefined) => (v === undefined || v === '' ? undefined : v)

const DAY = 86_400_000

/** [from, to) from `from`/`to`, else the last `window` (default `dflt`). */
function range(q: Query, now: number, dflt: number): { fromMs: number; toMs: number } {
  const toMs = time('to', q.to, now)
  const fromMs =
    q.from !== undefined && q.from !== ''
      ? time('from', q.from, 0)
      : toMs - duration('window', q.window, dflt, 1000, 30 * DAY)
  if (fromMs >= toMs)
    throw misorderedRange(
      fromMs,
      toMs,
      'leave from out and send window (e.g. window=1h) instead',
      VGL_ERR_JOURNEYS_QUERY,
    )
  return { fromMs, toMs }
}

const querySchema = (...names: string[]) => ({
  type: 'object',
  properties: Object.fromEntries(names.map((n) => [n, { type: 'string' }])),
})

/** The journeys routes, to pass in `createAdminServer({ plugins })`. */
export function journeyRoutes(opts: JourneyRoutesOptions): FastifyPluginAsync {
  const now = opts.now ?? Date.now
  const src = opts.source
  exposeJourneyMetrics(src)
  return async function journeysPlugin(app) {
    const tags = ['journeys']
    app.get<{ Params: { traceId: string } }>(
      '/api/traces/:traceId',
      { schema: { tags, summary: 'A trace as a waterfall, with its critical path' } },
      async (req, reply) => {
        try {
          if (!/^[0-9a-fA-F]{32}$/.test(req.params.traceId))
            throw badParam(
              VGL_ERR_JOURNEYS_QUERY,
              `traceId: expected 32 hex digits, got "${req.params.traceId}"`,
              'send a trace id of 32 hex digits, as GET /api/traces lists them',
            )
          return await src.trace(req.params.traceId)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Params: { requestId: string } }>(
      '/api/traces/by-request/:requestId',
      { schema: { tags, summary: 'The trace of the request with this X-Request-Id' } },
      async (req, reply) => {
        try {
          return await src.traceByRequestId(req.params.requestId)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Querystring: Query }>(
      '/api/traces',
      {
        schema: {
          tags,
          summary:
            'Search traces: a span matching service, env, route, status and duration range; newest first',
          querystring: querySchema(
            'service',
            'env',
            'route',
            'status',
            'minDurationMs',
            'maxDurationMs',
            'window',
            'from',
            'to',
            'limit',
          ),
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          const { fromMs, toMs } = range(q, now(), 3_600_000)
          const status = enumParam('status', q.status, ['error', 'ok'] as const, VGL_ERR_JOURNEYS_QUERY)
          const limit = intParam('limit', q.limit, 20, 1, 200, VGL_ERR_JOURNEYS_QUERY)
          const minDurationMs = num('minDurationMs', q.minDurationMs)
          const maxDurationMs = num('maxDurationMs', q.maxDurationMs)
          if (minDurationMs !== undefined && maxDurationMs !== undefined && minDurationMs > maxDurationMs)
            throw badParam(
              VGL_ERR_JOURNEYS_QUERY,
              `minDurationMs (${minDurationMs}) must not exceed maxDurationMs (${maxDurationMs})`,
              'send a minDurationMs at most maxDurationMs, or leave one of them out',
            )
          const traces = await src.searchTraces({
            fromMs,
            toMs,
            service: text(q.service),
            env: text(q.env),
            route: text(q.route),
            status: status as 'error' | 'ok' | undefined,
            minDurationMs,
            maxDurationMs,
            limit,
          })
          return { from: fromMs, to: toMs, traces }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Querystring: Query }>(
      '/api/graph',
      {
        schema: {
          tags,
          summary: 'The service graph: nodes {service, env}, edges with rate, error ratio and latency',
          querystring: querySchema('window', 'from', 'to'),
        },
      },
      async (req, reply) => {
        try {
          const { fromMs, toMs } = range(req.query, now(), 300_000)
          // a range ending now ends where every window is complete, so nodes and edges agree
          const completeOnly = req.query.to === undefined || req.query.to === ''
          const [graph, stats] = await Promise.all([
            src.graph(fromMs, toMs, { completeOnly }),
            src.stats().catch(() => null),
          ])
          return { ...graph, pipeline: stats }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Querystring: Query }>(
      '/api/journeys',
      {
        schema: {
          tags,
          summary: 'Entry routes with traffic and who sits on their critical path',
          querystring: querySchema('window', 'from', 'to'),
        },
      },
      async (req, reply) => {
        try {
          const { fromMs, toMs } = range(req.query, now(), 300_000)
          return { from: fromMs, to: toMs, journeys: await src.journeys(fromMs, toMs) }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Params: { route: string }; Querystring: Query }>(
      '/api/journeys/:route',
      {
        schema: {
          tags,
          summary: 'One entry route: critical path and the learned journey model',
          querystring: querySchema('window', 'from', 'to'),
        },
      },
      async (req, reply) => {
        try {
          const { fromMs, toMs } = range(req.query, now(), 300_000)
          return await src.journey(req.params.route, fromMs, toMs)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Querystring: Query }>(
      '/api/rootcause',
      {
        schema: {
          tags,
          summary: "Ranked root-cause candidates for a route's errors or slowness in a window",
          querystring: querySchema('route', 'window', 'from', 'to', 'baseline', 'symptom'),
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          const route = text(q.route)
          if (route === undefined)
            throw badParam(
              VGL_ERR_JOURNEYS_QUERY,
              'route: required (an entry route, see GET /api/journeys)',
              'send route as the name of an entry route (e.g. route=checkout); GET /api/journeys lists them',
            )
          const { fromMs, toMs } = range(q, now(), 60_000)
          const symptom =
            enumParam('symptom', q.symptom, ['auto', 'errors', 'latency'] as const, VGL_ERR_JOURNEYS_QUERY) ??
            'auto'
          const baselineMs =
            q.baseline === undefined ? undefined : duration('baseline', q.baseline, 0, 1000, 7 * DAY)
          return await src.rootCause({ route, fromMs, toMs, baselineMs, symptom })
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    const whatIfAnswer = async (body: unknown) => {
      if (body === null || typeof body !== 'object' || Array.isArray(body))
        throw VGL_ERR_JOURNEYS_WHATIF(
          'body: expected { "scenarios": [ ... ] } (and optionally route, horizon, window, journeys, seed)',
        )
      const b = body as Record<string, unknown>
      const FIELDS = ['route', 'horizon', 'window', 'scenarios', 'journeys', 'seed']
      for (const k of Object.keys(b))
        if (!FIELDS.includes(k))
          throw VGL_ERR_JOURNEYS_WHATIF(`${k}: unknown field; expected one of ${FIELDS.join(', ')}`)
      if (b.route !== undefined && (typeof b.route !== 'string' || b.route === ''))
        throw VGL_ERR_JOURNEYS_WHATIF('route: expected a route name')
      const durationField = (k: 'horizon' | 'window', min: number): number | undefined => {
        const v = b[k]
        if (v === undefined) return undefined
        if (typeof v !== 'number' && typeof v !== 'string')
          throw VGL_ERR_JOURNEYS_WHATIF(
            `${k}: expected a duration like 30m (or ms), got ${JSON.stringify(v)}`,
          )
        try {
          return duration(k, String(v), 0, min, 7 * DAY)
        } catch (err) {
          throw VGL_ERR_JOURNEYS_WHATIF((err as Error).message)
        }
      }
      const horizonMs = durationField('horizon', 60_000)
      const modelWindowMs = durationField('window', 10_000)
      if (
        b.journeys !== undefined &&
        (typeof b.journeys !== 'number' ||
          !Number.isInteger(b.journeys) ||
          b.journeys < 1000 ||
          b.journeys > 2_000_000)
      )
        throw VGL_ERR_JOURNEYS_WHATIF(
          `journeys: expected a whole number from 1000 to 2000000, got ${JSON.stringify(b.journeys)}`,
        )
      if (b.seed !== undefined && (typeof b.seed !== 'number' || !Number.isInteger(b.seed)))
        throw VGL_ERR_JOURNEYS_WHATIF(`seed: expected a whole number, got ${JSON.stringify(b.seed)}`)
      return src.whatIf({
        route: b.route as string | undefined,
        horizonMs,
        modelWindowMs,
        scenarios: b.scenarios as never,
        journeys: b.journeys as number | undefined,
        seed: b.seed as number | undefined,
      })
    }
    app.post<{ Body: unknown }>(
      '/api/whatif',
      {
        schema: {
          tags,
          summary: 'Monte Carlo impact of scenarios on the journeys (needs the admin token)',
          security: [{ bearerAuth: [] }],
        },
      },
      async (req, reply) => {
        try {
          return await whatIfAnswer(req.body)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Querystring: Query }>(
      '/api/whatif',
      {
        schema: {
          tags,
          summary: 'Monte Carlo impact of one scenario, from query parameters',
          querystring: querySchema('route', 'horizon', 'window', ...WHAT_IF_FIELDS, 'journeys', 'seed'),
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          const scenario: Record<string, unknown> = {}
          for (const k of ['kind', 'service', 'env'] as const)
            if (text(q[k]) !== undefined) scenario[k] = q[k]
          for (const k of ['value', 'factor', 'durationMs', 'replicas', 'lost', 'utilization'] as const) {
            const v = text(q[k])
            if (v !== undefined) scenario[k] = Number.isFinite(Number(v)) ? Number(v) : v
          }
          const body: Record<string, unknown> = { scenarios: [scenario] }
          if (text(q.route) !== undefined) body.route = q.route
          if (text(q.horizon) !== undefined) body.horizon = q.horizon
          if (text(q.window) !== undefined) body.window = q.window
          // a number that does not parse is passed on as written, so the refusal quotes it
          for (const k of ['journeys', 'seed'] as const) {
            const v = text(q[k])
            if (v !== undefined) body[k] = Number.isFinite(Number(v)) ? Number(v) : v
          }
          return await whatIfAnswer(body)
        } catch (err) {
          // a GET names query parameters, not the body's scenarios[0]
          if (isVigilError(err) && err.code === VGL_ERR_JOURNEYS_WHATIF.code)
            return sendProblem(reply, VGL_ERR_JOURNEYS_WHATIF(err.message.replace(/^scenarios\[0\]\./, '')))
          return sendProblem(reply, err)
        }
      },
    )
  }
}
