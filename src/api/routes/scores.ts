/**
 * @module Scores API (Fastify plugin): `GET /api/series/:key/scores?from&to` gives what the live
 * detectors thought of each recent window of a series: the highest anomaly score, and per metric
 * (rate, errorRatio, p50, p95, p99) its score and the expected band it was judged against, as
 * columns oldest first. The control plane keeps the last `scoreHistory` windows per series (360 by
 * default: an hour of 10 s windows); older ones are not kept.
 */
import type { FastifyPluginAsync } from 'fastify'
import { formatSeriesKey, parseSeriesKey } from '../../control/series-key.js'
import type { ScoreSource } from '../../control/scores.js'
import { sendProblem } from '../problem.js'
import { rangeParams } from '../params.js'

export interface ScoreRoutesOptions {
  source: ScoreSource
  now?: () => number
}

export function scoreRoutes(opts: ScoreRoutesOptions): FastifyPluginAsync {
  const now = opts.now ?? Date.now
  return async function scoresPlugin(app) {
    app.get<{ Params: { key: string }; Querystring: { from?: string; to?: string } }>(
      '/api/series/:key/scores',
      {
        schema: {
          tags: ['series'],
          summary: 'Anomaly scores and expected bands of a series, per recent window',
          params: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
          querystring: { type: 'object', properties: { from: { type: 'string' }, to: { type: 'string' } } },
        },
      },
      async (req, reply) => {
        try {
          const key = formatSeriesKey(parseSeriesKey(req.params.key))
          const { from, to } = rangeParams(req.query, now(), 3_600_000)
          const h = await opts.source.scores({ key, fromMs: from, toMs: to })
          return h ?? { key, t: [], score: [], metrics: null }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
