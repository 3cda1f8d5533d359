/**
 * @module Action log API (Fastify plugin): `GET /api/actions?mode&policy&target&kind&from&to&limit&cursor`
 * pages through everything the control plane did (`mode=enforce`) and would have done
 * (`mode=shadow`): alerts sent, limit changes, scaling, each with reason, evidence, result and
 * the leader's fencing token. Newest first; `nextCursor` fetches the next page.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { ActionSource } from '../../control/actions.js'
import { enumParam, pageParams, pageQueryProperties, textParam, type PageQuery } from '../params.js'
import { problemSchema, sendProblem } from '../problem.js'

export interface ActionRoutesOptions {
  source: ActionSource
}

interface Query extends PageQuery {
  mode?: string
  policy?: string
  target?: string
  kind?: string
}

/** JSON schema of one action record (OpenAPI). */
export const actionSchema = {
  type: 'object',
  required: ['id', 'atMs', 'kind', 'policy', 'mode', 'target', 'reason', 'result', 'fencingToken'],
  properties: {
    id: { type: 'string' },
    atMs: { type: 'integer', description: 'when it was decided, ms since the epoch' },
    kind: { type: 'string', examples: ['alert.firing', 'alert.resolved', 'limits.multiplier'] },
    policy: { type: 'string', description: 'the alert rule or policy that decided' },
    mode: { type: 'string', enum: ['shadow', 'enforce'] },
    target: { type: 'string', examples: ['orders|*|prod', 'service:orders'] },
    before: { description: 'state before (any JSON)' },
    after: { description: 'state after (any JSON)' },
    reason: { type: 'string' },
    evidence: { description: 'observed, expected, band, rule or detector, links (any JSON)' },
    result: {
      type: 'object',
      required: ['status'],
      properties: {
        status: { type: 'string', enum: ['pending', 'ok', 'failed', 'shadow'] },
        detail: { type: 'string' },
        atMs: { type: 'integer' },
        data: {},
      },
    },
    fencingToken: { type: 'integer', description: "the leader's fencing token when it decided" },
  },
} as const

/** The action log route, to pass in `createAdminServer({ plugins })`. */
export function actionRoutes(opts: ActionRoutesOptions): FastifyPluginAsync {
  return async function actionsPlugin(app) {
    app.get<{ Querystring: Query }>(
      '/api/actions',
      {
        schema: {
          tags: ['actions'],
          summary: 'The action log: what the control plane did and would have done (shadow), newest first',
          querystring: {
            type: 'object',
            properties: {
              mode: { type: 'string', description: 'shadow or enforce; default both' },
              policy: { type: 'string' },
              target: { type: 'string' },
              kind: { type: 'string' },
              ...pageQueryProperties,
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['actions', 'nextCursor'],
              properties: {
                actions: { type: 'array', items: actionSchema },
                nextCursor: { type: ['string', 'null'] },
              },
            },
            400: problemSchema,
            503: problemSchema,
          },
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          return await opts.source.actions({
            ...pageParams(q),
            mode: enumParam('mode', q.mode, ['shadow', 'enforce'] as const),
            policy: textParam(q.policy),
            target: textParam(q.target),
            kind: textParam(q.kind),
          })
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
