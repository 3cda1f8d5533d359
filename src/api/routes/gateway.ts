/** @module `GET /api/routes` and `GET /api/services`: the gateway's live route table and targets. */
import type { FastifyPluginAsync } from 'fastify'
import { VGL_ERR_API_NO_GATEWAY } from '../../errors.js'
import type { AdminSources } from '../sources.js'

const routeSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    path: { type: 'string' },
    match: { type: 'string', enum: ['prefix', 'exact', 'param'] },
    methods: { type: ['array', 'null'], items: { type: 'string' }, description: 'null: every method' },
    service: { type: 'string' },
    priority: { type: 'string' },
  },
} as const

const targetSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    url: { type: 'string' },
    healthy: { type: 'boolean', description: 'active health check verdict (true when checks are off)' },
    breaker: { type: 'string', enum: ['closed', 'open', 'half-open'] },
    ejectedUntilMs: { type: ['number', 'null'], description: 'epoch ms when an open breaker may probe' },
    inFlight: { type: 'integer' },
    recentErrorRate: { type: 'number', description: 'error ratio over the recent window, 0..1' },
    recentRequests: { type: 'integer' },
  },
} as const

const serviceSchema = {
  type: 'object',
  additionalProperties: true,
  properties: {
    name: { type: 'string' },
    balancer: { type: 'string' },
    targets: { type: 'array', items: targetSchema },
  },
} as const

export const gatewayRoutes: FastifyPluginAsync<{ sources: AdminSources }> = async (app, { sources }) => {
  app.get(
    '/api/routes',
    {
      schema: {
        tags: ['gateway'],
        summary: 'The route table in match order',
        response: { 200: { type: 'object', properties: { routes: { type: 'array', items: routeSchema } } } },
      },
    },
    async () => {
      if (sources.routes === undefined) throw VGL_ERR_API_NO_GATEWAY('/api/routes', 'route table')
      return { routes: sources.routes() }
    },
  )
  app.get(
    '/api/services',
    {
      schema: {
        tags: ['gateway'],
        summary: 'Services and their targets: health, breaker state, in-flight, recent error rate',
        response: {
          200: { type: 'object', properties: { services: { type: 'array', items: serviceSchema } } },
        },
      },
    },
    async () => {
      if (sources.services === undefined) throw VGL_ERR_API_NO_GATEWAY('/api/services', 'targets')
      return { services: sources.services() }
    },
  )
}
