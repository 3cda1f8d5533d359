/**
 * @module Audit trail API (Fastify plugin): `GET /api/audit?actor&kind&from&to&limit&cursor` pages
 * through every admin change (a tier edited, a key revoked, controls set), newest first, with who
 * made it, what it was before and after, and why. `kind` is exact or a prefix ending in `*`;
 * `nextCursor` fetches the next page. Served where the store is: the embedded admin API (asking
 * the control-plane worker) and `vigil control`.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { AuditSource } from '../../control/audit.js'
import { pageParams, pageQueryProperties, textParam, type PageQuery } from '../params.js'
import { problemSchema, sendProblem } from '../problem.js'

export interface AuditRoutesOptions {
  source: AuditSource
}

interface Query extends PageQuery {
  actor?: string
  kind?: string
}

/** JSON schema of one audit event (OpenAPI). */
export const auditEventSchema = {
  type: 'object',
  required: ['id', 'atMs', 'kind', 'actor', 'subject', 'reason'],
  properties: {
    id: { type: 'string' },
    atMs: { type: 'integer', description: 'when the change was made, ms since the epoch' },
    kind: { type: 'string', examples: ['limits.tier.update', 'limits.key.revoke', 'limits.controls.set'] },
    actor: { type: 'string', description: 'X-Vigil-Actor of the call, or the policy that acted' },
    subject: { type: 'string', description: 'what was changed: a tier name, a key id, `controls`' },
    before: { description: 'the resource before (any JSON; null when created)' },
    after: { description: 'the resource after (any JSON)' },
    reason: { type: 'string' },
  },
} as const

/** The audit trail route, to pass in `createAdminServer({ plugins })`. */
export function auditRoutes(opts: AuditRoutesOptions): FastifyPluginAsync {
  return async function auditPlugin(app) {
    app.get<{ Querystring: Query }>(
      '/api/audit',
      {
        schema: {
          tags: ['audit'],
          summary: 'The audit trail: every admin change, newest first',
          querystring: {
            type: 'object',
            properties: {
              actor: { type: 'string' },
              kind: { type: 'string', description: 'exact, or a prefix ending in * (limits.key.*)' },
              ...pageQueryProperties,
            },
          },
          response: {
            200: {
              type: 'object',
              required: ['events', 'nextCursor'],
              properties: {
                events: { type: 'array', items: auditEventSchema },
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
          return await opts.source.audit({
            ...pageParams(q),
            actor: textParam(q.actor),
            kind: textParam(q.kind),
          })
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
