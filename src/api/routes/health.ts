/** @module `GET /health` (liveness: the process answers) and `GET /ready` (the gateway serves). */
import type { FastifyPluginAsync } from 'fastify'
import type { AdminSources } from '../sources.js'

export const healthRoutes: FastifyPluginAsync<{ sources: AdminSources }> = async (app, { sources }) => {
  const startedAt = Date.now()
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary: 'Liveness: 200 while the process runs',
        response: {
          200: {
            type: 'object',
            properties: { status: { type: 'string', enum: ['ok'] }, uptimeS: { type: 'number' } },
          },
        },
      },
    },
    async () => ({ status: 'ok' as const, uptimeS: Math.round((Date.now() - startedAt) / 1000) }),
  )
  app.get(
    '/ready',
    {
      schema: {
        tags: ['health'],
        summary:
          'Readiness: 200 once the gateway listens (and, embedded, the control plane answers), else 503',
        response: {
          200: { type: 'object', properties: { ready: { type: 'boolean' } } },
          503: { type: 'object', properties: { ready: { type: 'boolean' } } },
        },
      },
    },
    async (_req, reply) => {
      const ready = sources.ready()
      return reply.code(ready ? 200 : 503).send({ ready })
    },
  )
}
