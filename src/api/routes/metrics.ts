/** @module `GET /metrics`: every area's metrics from the shared registry, Prometheus text format. */
import type { FastifyPluginAsync } from 'fastify'
import { enableProcessMetrics, registry } from '../../metrics.js'

export const metricsRoutes: FastifyPluginAsync = async (app) => {
  enableProcessMetrics()
  app.get(
    '/metrics',
    {
      schema: {
        tags: ['observability'],
        summary: 'Prometheus metrics (text exposition format 0.0.4)',
        produces: ['text/plain'],
        response: { 200: { type: 'string', description: 'Prometheus text format' } },
      },
    },
    async (_req, reply) => {
      const text = await registry.metrics()
      return reply.type(registry.contentType).send(text)
    },
  )
}
