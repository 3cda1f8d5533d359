/**
 * @module Anomalies API (Fastify plugin): `GET /api/anomalies?from&to&service&env&state=open|all`
 * lists the live detector's anomalies, newest first, each with its explanation (metric,
 * observed, expected, band, detector evidence, and for aggregate series the children that
 * contributed most). `state=open` (default) lists what is open now; `all` adds those opened in
 * [from, to) (default: the last 24 hours) and how they resolved. `learning` says how far the live
 * series' detectors are from judging (nothing opens on a series still learning).
 */
import type { FastifyPluginAsync } from 'fastify'
import type { AnomalySource } from '../../control/anomalies.js'
import { enumParam, rangeParams } from '../params.js'
import { sendProblem } from '../problem.js'

export interface AnomalyRoutesOptions {
  source: AnomalySource
  now?: () => number
}

interface Query {
  from?: string
  to?: string
  service?: string
  env?: string
  state?: string
}

/** The anomalies route, to pass in `createAdminServer({ plugins })`. */
export function anomalyRoutes(opts: AnomalyRoutesOptions): FastifyPluginAsync {
  const now = opts.now ?? Date.now
  return async function anomaliesPlugin(app) {
    app.get<{ Querystring: Query }>(
      '/api/anomalies',
      {
        schema: {
          tags: ['anomalies'],
          summary: 'Live anomalies with explanations',
          querystring: {
            type: 'object',
            properties: {
              from: { type: 'string' },
              to: { type: 'string' },
              service: { type: 'string' },
              env: { type: 'string' },
              state: { type: 'string' },
            },
          },
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          const state = enumParam('state', q.state, ['open', 'all'] as const) ?? 'open'
          const { from, to } = rangeParams(q, now(), 86_400_000)
          const anomalies = await opts.source.anomalies({
            fromMs: from,
            toMs: to,
            service: q.service === '' ? undefined : q.service,
            env: q.env === '' ? undefined : q.env,
            state,
          })
          const learning = await opts.source.learning?.()
          return { from, to, state, anomalies, ...(learning !== undefined ? { learning } : {}) }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
