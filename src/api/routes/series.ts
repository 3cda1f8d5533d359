/**
 * @module Series API (Fastify plugin): `GET /api/series` lists every known series (route level,
 * `{service, env}` roll-ups, global), and `GET /api/series/:key/points?from&to&step` returns
 * merged points with rates, error ratios and p50/p95/p99. `:key` is `service|route|env`
 * URL-encoded, e.g. `/api/series/orders%7C%2Fapi%2Forders%7Cprod/points`; `*` marks a rolled-up
 * part (`orders|*|prod`, `*|*|*`).
 */
import type { FastifyPluginAsync } from 'fastify'
import type { SeriesSource } from '../../control/control-plane.js'
import { VGL_ERR_CONTROL_QUERY } from '../../errors.js'
import { formatDurationMs, parseDurationMs } from '../../parsing.js'
import { badParam, rangeParams } from '../params.js'
import { sendProblem } from '../problem.js'

export interface SeriesRoutesOptions {
  source: SeriesSource
  /** default step when none is given; the telemetry window */
  windowMs: number
  now?: () => number
}

const MAX_POINTS = 20_000

function stepParam(v: string | undefined, fallback: number): number {
  if (v === undefined || v === '') return fallback
  let ms = NaN
  try {
    ms = parseDurationMs(v, 'step')
  } catch {
    // refused below with the parameter's own fix
  }
  if (!(ms > 0))
    throw badParam(
      VGL_ERR_CONTROL_QUERY,
      `step: expected a duration above 0 like 10s, 1m or 1h, got "${v}"`,
      `send step as a number with ms, s, m or h (a bare number is seconds), e.g. step=1m, or leave it out for the window length (${formatDurationMs(fallback)})`,
    )
  return ms
}

/** The series routes, to pass in `createAdminServer({ plugins })`. */
export function seriesRoutes(opts: SeriesRoutesOptions): FastifyPluginAsync {
  const now = opts.now ?? Date.now
  return async function seriesPlugin(app) {
    app.get(
      '/api/series',
      { schema: { tags: ['series'], summary: 'List known series' } },
      async (_req, reply) => {
        try {
          return { series: await opts.source.listSeries() }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Params: { key: string }; Querystring: { from?: string; to?: string; step?: string } }>(
      '/api/series/:key/points',
      {
        schema: {
          tags: ['series'],
          summary: 'Points of one series: rates, error ratios, p50/p95/p99',
          params: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
          querystring: {
            type: 'object',
            properties: { from: { type: 'string' }, to: { type: 'string' }, step: { type: 'string' } },
          },
        },
      },
      async (req, reply) => {
        try {
          const { from, to } = rangeParams(req.query, now(), 3_600_000)
          const step = stepParam(req.query.step, opts.windowMs)
          if ((to - from) / step > MAX_POINTS) {
            const least = Math.ceil((to - from) / MAX_POINTS / 1000) * 1000
            throw badParam(
              VGL_ERR_CONTROL_QUERY,
              `step: ${step} ms gives more than ${MAX_POINTS} points over this range (${formatDurationMs(to - from)})`,
              `send a step of at least ${formatDurationMs(least)} (step=${least / 1000}s), or a shorter range from..to`,
            )
          }
          const points = await opts.source.points(req.params.key, from, to, step)
          return { key: req.params.key, from, to, step, points }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
