/**
 * @module `GET /api/control/leader`: which control plane leads (the one that acts and sends
 * alerts), and whether this process is it. Followers answer too, naming the leader and its admin
 * API, so a client can find it.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { Leadership } from '../../control/leadership.js'

export interface LeaderRoutesOptions {
  /** this process in the lease */
  holder: string
  leadership: Leadership
}

const leaderInfoSchema = {
  type: ['object', 'null'],
  properties: {
    holder: { type: 'string' },
    adminUrl: { type: ['string', 'null'] },
    sinceMs: { type: 'integer' },
    fencingToken: { type: ['integer', 'null'] },
  },
} as const

export function leaderRoutes(opts: LeaderRoutesOptions): FastifyPluginAsync {
  return async function leaderPlugin(app) {
    app.get(
      '/api/control/leader',
      {
        schema: {
          tags: ['actions'],
          summary: 'Which control plane leads (acts, sends alerts) and whether this one does',
          response: {
            200: {
              type: 'object',
              required: ['self', 'leading', 'leader'],
              properties: {
                self: { type: 'string' },
                leading: { type: 'boolean' },
                leader: leaderInfoSchema,
              },
            },
          },
        },
      },
      async () => ({
        self: opts.holder,
        leading: opts.leadership.leading,
        leader: opts.leadership.leader(),
      }),
    )
  }
}
