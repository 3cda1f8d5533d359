/**
 * @module Forecast API (Fastify plugin): `GET /api/series/:key/forecast?horizon=` returns the
 * newest forecast of a series' request rate, `horizon` windows ahead (default forecast.horizon),
 * with forecast, lower and upper per step and the step's time, the chosen model (or
 * combination) with its backtest scores beside the alternatives, and failure forecasts (P(error
 * ratio / p95 crosses its threshold within the horizon)). `:key` is `service|route|env`
 * URL-encoded, as in the series API. Too little history answers 200 with
 * `status: "insufficient_history"` and how many windows are needed.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { ForecastSource } from '../../control/forecasts.js'
import { VGL_ERR_CONTROL_QUERY } from '../../errors.js'
import { badParam } from '../params.js'
import { sendProblem } from '../problem.js'

export interface ForecastRoutesOptions {
  source: ForecastSource
}

/** The forecast route, to pass in `createAdminServer({ plugins })`. */
export function forecastRoutes(opts: ForecastRoutesOptions): FastifyPluginAsync {
  return async function forecastsPlugin(app) {
    app.get<{ Params: { key: string }; Querystring: { horizon?: string } }>(
      '/api/series/:key/forecast',
      {
        schema: {
          tags: ['series'],
          summary: 'Forecast of one series with intervals, chosen model and backtest scores',
          params: { type: 'object', properties: { key: { type: 'string' } }, required: ['key'] },
          querystring: { type: 'object', properties: { horizon: { type: 'string' } } },
        },
      },
      async (req, reply) => {
        try {
          const h = req.query.horizon
          let horizon: number | undefined
          if (h !== undefined && h !== '') {
            // the range (1 to forecast.maxHorizon) is the source's to check: it knows the config
            if (!/^\d+$/.test(h))
              throw badParam(
                VGL_ERR_CONTROL_QUERY,
                `horizon: expected a whole number of windows, got "${h}"`,
                'send horizon as a whole number of windows from 1 to forecast.maxHorizon (e.g. horizon=30), or leave it out for forecast.horizon',
              )
            horizon = Number(h)
          }
          return await opts.source.forecast(req.params.key, horizon)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
