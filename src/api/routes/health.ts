/** @module `GET /health` (liveness: the process answers; whether the store takes writes) and `GET /ready` (the gateway serves). */
import type { FastifyPluginAsync } from 'fastify'
import type { AdminSources } from '../sources.js'

export const healthRoutes: FastifyPluginAsync<{ sources: AdminSources }> = async (app, { sources }) => {
  const startedAt = Date.now()
  app.get(
    '/health',
    {
      schema: {
        tags: ['health'],
        summary:
          'Liveness: 200 while the process runs; `status: degraded` and `store` say when the store cannot be written',
        response: {
          200: {
            type: 'object',
            properties: {
              status: { type: 'string', enum: ['ok', 'degraded'] },
              uptimeS: { type: 'number' },
              store: {
                type: 'object',
                properties: {
                  ok: { type: 'boolean' },
                  kind: { type: 'string' },
                  path: { type: 'string' },
                  code: { type: ['string', 'null'] },
                  message: { type: ['string', 'null'] },
                  fix: { type: ['string', 'null'] },
                  sinceMs: { type: ['number', 'null'] },
                  failedWrites: { type: 'number' },
                  waiting: { type: 'number' },
                  droppedRecords: { type: 'number' },
                  restored: {
                    type: ['object', 'null'],
                    properties: { atMs: { type: 'number' }, bytes: { type: 'number' } },
                  },
                },
              },
            },
          },
        },
      },
    },
    // still 200 when the store fails: the gateway proxies without it, and a restart frees no disk
    async () => {
      const store = sources.store?.()
      return {
        status: store === undefined || store.ok ? ('ok' as const) : ('degraded' as const),
        uptimeS: Math.round((Date.now() - startedAt) / 1000),
        ...(store !== undefined ? { store } : {}),
      }
    },
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
