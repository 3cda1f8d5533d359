/** @module `POST /api/config/reload`: re-read the config file and swap the route table atomically. */
import type { FastifyPluginAsync } from 'fastify'
import { VGL_ERR_API_RELOAD } from '../../errors.js'
import { problemSchema, sendProblem } from '../problem.js'
import type { AdminSources } from '../sources.js'

export const configRoutes: FastifyPluginAsync<{ sources: AdminSources }> = async (app, { sources }) => {
  app.post(
    '/api/config/reload',
    {
      schema: {
        tags: ['config'],
        summary: 'Reload the config file; an invalid file is rejected and the old config keeps serving',
        security: [{ bearerAuth: [] }],
        response: {
          200: { type: 'object', properties: { ok: { type: 'boolean' }, routes: { type: 'integer' } } },
          401: problemSchema,
          403: problemSchema,
          422: {
            ...problemSchema,
            properties: {
              ...problemSchema.properties,
              problems: { type: 'array', items: { type: 'string' } },
            },
          },
        },
      },
    },
    async (_req, reply) => {
      const result = await sources.reload()
      if (result.ok) return { ok: true, routes: result.routes }
      return sendProblem(reply, VGL_ERR_API_RELOAD(`${result.problems.length} problem(s)`), {
        problems: result.problems,
      })
    },
  )
}
