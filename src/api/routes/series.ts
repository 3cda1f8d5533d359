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
import { parseDurationMs } from '../../parsing.js'
import { timeParam } from '../params.js'
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
  try {
    const ms = parseDurationMs(v, 'step')
    if (ms <= 0) throw new Error()
    return ms
  } catch {
    throw VGL_ERR_CONTROL_QUERY(`step: expected a duration like 10s, 1m or 1h, got "${v}"`)
  }
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
          const to = timeParam('to', req.query.to, now())
          const from = timeParam('from', req.query.from, to - 3_600_000)
          const step = stepParam(req.query.step, opts.windowMs)
          if (from >= to) throw VGL_ERR_CONTROL_QUERY(`from (${from}) must be before to (${to})`)
          if ((to - from) / step > MAX_POINTS)
            throw VGL_ERR_CONTROL_QUERY(
              `step: ${step} ms gives more than ${MAX_POINTS} points over this range; use a larger step`,
            )
          const points = await opts.source.points(req.params.key, from, to, step)
          return { key: req.params.key, from, to, step, points }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
