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
import { VGL_ERR_JOURNEYS_QUERY, VGL_ERR_JOURNEYS_WHATIF, isVigilError, withFix } from '../../errors.js'
import { WHAT_IF_FIELDS } from '../../journeys/index.js'
import { exposeJourneyMetrics } from '../journey-metrics.js'
import { badParam, enumParam, intParam, misorderedRange, timeParam } from '../params.js'
import { fixOf, sendProblem } from '../problem.js'

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

const WHATIF_KINDS = ['errorRatio', 'latency', 'down', 'replicaLoss'] as const
type WhatIfKind = (typeof WHATIF_KINDS)[number]
const KIND_WORDS: Record<WhatIfKind, string> = {
  errorRatio: 'a share of failed calls',
  latency: 'slower answers',
  down: 'every call failing',
  replicaLoss: 'replicas lost',
}

/**
 * What each scenario parameter of `GET /api/whatif` takes: the words for its refusal (`accepts`)
 * and its fix, the kinds it applies to (a parameter of another kind is refused, not ignored: a
 * what-if that silently left out `value` would answer another question), and its parser.
 */
const WHATIF_PARAMS: Record<
  string,
  { accepts: string; fix: string; kinds?: readonly WhatIfKind[]; parse?: (v: string) => number | null }
> = {
  kind: {
    accepts: `one of ${WHATIF_KINDS.join(', ')}`,
    fix: `send kind as one of ${WHATIF_KINDS.join(', ')} (e.g. kind=down); docs/journeys.md describes each`,
  },
  service: {
    accepts: "the name of a service the route's journeys call",
    fix: "send service as a service the route's journeys call (e.g. service=pricing); GET /api/journeys lists them per route",
  },
  env: {
    accepts: 'the environment of that service',
    fix: "send env as the service's environment as GET /api/journeys lists it (e.g. env=aws), or leave it out for every environment",
  },
  value: {
    accepts: 'an error ratio from 0 to 1',
    fix: 'send value as the error ratio to simulate, from 0 to 1 (e.g. value=0.2)',
    kinds: ['errorRatio'],
    parse: (v) => decimal(v, (n) => n <= 1),
  },
  factor: {
    accepts: 'a latency factor above 0, at most 1000',
    fix: 'send factor as how many times slower the service answers, above 0 and at most 1000 (e.g. factor=3)',
    kinds: ['latency'],
    parse: (v) => decimal(v, (n) => n > 0 && n <= 1000),
  },
  durationMs: {
    accepts: 'a number of milliseconds above 0',
    fix: 'send durationMs as how long the scenario lasts, in ms without a unit (e.g. durationMs=600000), or leave it out for the whole horizon',
    parse: (v) => decimal(v, (n) => n > 0),
  },
  replicas: {
    accepts: 'a whole number from 1',
    fix: "send replicas as the service's replica count, a whole number from 1 (e.g. replicas=4), or leave it out",
    kinds: ['replicaLoss'],
    parse: (v) => whole(v, 1),
  },
  lost: {
    accepts: 'a whole number from 1',
    fix: 'send lost as how many replicas are lost, a whole number from 1 and at most replicas (e.g. lost=1)',
    kinds: ['replicaLoss'],
    parse: (v) => whole(v, 1),
  },
  utilization: {
    accepts: 'a ratio from 0 to 1',
    fix: "send utilization as the service's load per replica before the loss, from 0 to 1 (e.g. utilization=0.6), or leave it out",
    kinds: ['replicaLoss'],
    parse: (v) => decimal(v, (n) => n <= 1),
  },
  journeys: {
    accepts: 'a whole number from 1000 to 2000000',
    fix: 'send journeys as how many journeys to simulate, a whole number from 1000 to 2000000 (e.g. journeys=20000), or leave it out',
    parse: (v) => {
      const n = whole(v, 1000)
      return n !== null && n <= 2_000_000 ? n : null
    },
  },
  seed: {
    accepts: 'a whole number',
    fix: 'send seed as a whole number (e.g. seed=1) for a repeatable answer, or leave it out',
    parse: (v) => (/^-?\d+$/.test(v) && Number.isSafeInteger(Number(v)) ? Number(v) : null),
  },
}

/** A plain decimal (no sign, exponent or hex: `1e3` is no one's way of writing a ratio) passing `ok`. */
function decimal(v: string, ok: (n: number) => boolean): number | null {
  return /^(\d+(\.\d*)?|\.\d+)$/.test(v) && ok(Number(v)) ? Number(v) : null
}

function whole(v: string, min: number): number | null {
  return /^\d+$/.test(v) && Number.isSafeInteger(Number(v)) && Number(v) >= min ? Number(v) : null
}

/**
 * `GET /api/whatif`'s query as the body of a `POST`: each parameter checked here, so a refusal
 * names the parameter, quotes what was sent and says what it takes, as the other query errors do.
 */
function whatIfQuery(q: Query): Record<string, unknown> {
  const refuse = (name: string, message: string): never => {
    throw badParam(VGL_ERR_JOURNEYS_WHATIF, `${name}: ${message}`, WHATIF_PARAMS[name].fix)
  }
  const got = (v: string | undefined) => (v === undefined || v === '' ? 'nothing' : `"${v}"`)
  const kind = text(q.kind)
  if (!WHATIF_KINDS.includes(kind as WhatIfKind))
    refuse('kind', `expected ${WHATIF_PARAMS.kind.accepts}, got ${got(q.kind)}`)
  const service = text(q.service)
  if (service === undefined) refuse('service', `expected ${WHATIF_PARAMS.service.accepts}, got nothing`)
  const scenario: Record<string, unknown> = { kind, service }
  if (text(q.env) !== undefined) scenario.env = q.env
  for (const [name, spec] of Object.entries(WHATIF_PARAMS)) {
    const v = text(q[name])
    if (spec.parse === undefined || name === 'journeys' || name === 'seed' || v === undefined) continue
    if (spec.kinds !== undefined && !spec.kinds.includes(kind as WhatIfKind)) {
      const takes = Object.keys(WHATIF_PARAMS).filter((n) => {
        const k = WHATIF_PARAMS[n].kinds
        return (
          n !== 'kind' &&
          n !== 'journeys' &&
          n !== 'seed' &&
          (k === undefined || k.includes(kind as WhatIfKind))
        )
      })
      throw badParam(
        VGL_ERR_JOURNEYS_WHATIF,
        `${name}: kind=${kind} takes no ${name}, got "${v}" (it takes ${takes.join(', ')})`,
        `remove ${name}=${v}, or send kind=${spec.kinds[0]} (${KIND_WORDS[spec.kinds[0]]}), which takes it`,
      )
    }
    const n = spec.parse(v)
    if (n === null) refuse(name, `expected ${spec.accepts}, got "${v}"`)
    scenario[name] = n
  }
  const needs = kind === 'errorRatio' ? 'value' : kind === 'latency' ? 'factor' : null
  if (needs !== null && scenario[needs] === undefined)
    refuse(needs, `expected ${WHATIF_PARAMS[needs].accepts} (kind=${kind} needs it), got nothing`)
  const body: Record<string, unknown> = { scenarios: [scenario] }
  if (text(q.route) !== undefined) body.route = q.route
  if (text(q.horizon) !== undefined) body.horizon = q.horizon
  if (text(q.window) !== undefined) body.window = q.window
  for (const name of ['journeys', 'seed'] as const) {
    const v = text(q[name])
    if (v === undefined) continue
    const n = WHATIF_PARAMS[name].parse!(v)
    if (n === null) refuse(name, `expected ${WHATIF_PARAMS[name].accepts}, got "${v}"`)
    body[name] = n
  }
  return body
}

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
          const own = (err as { fix?: unknown }).fix
          const e = VGL_ERR_JOURNEYS_WHATIF((err as Error).message)
          throw typeof own === 'string' ? withFix(e, own) : e
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
          const body = whatIfQuery(req.query)
          return await whatIfAnswer(body)
        } catch (err) {
          // a GET names query parameters, not the body's scenarios[0], and says what to send
          if (isVigilError(err) && err.code === VGL_ERR_JOURNEYS_WHATIF.code) {
            const message = err.message.replace(/^scenarios\[0\]\./, '')
            const param = WHATIF_PARAMS[message.slice(0, message.indexOf(':'))]
            return sendProblem(
              reply,
              withFix(VGL_ERR_JOURNEYS_WHATIF(message), err.fix ?? param?.fix ?? fixOf(err.code) ?? ''),
            )
          }
          return sendProblem(reply, err)
        }
      },
    )
  }
}
