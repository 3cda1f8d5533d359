/**
 * @module Scaling API (Fastify plugin): `GET /api/scaling` (every scaled service, as below),
 * `GET /api/services/:name/scaling` (current and desired
 * replicas, the replicas, the newest decisions with their evidence), `POST
 * /api/services/:name/scale {replicas, reason}` and `POST /api/services/:name/restart {reason}`
 * (rolling), both through the service's actuator and recorded in the action log. The POSTs need
 * the admin token (the root's auth hook).
 */
import type { FastifyPluginAsync } from 'fastify'
import { VGL_ERR_SCALE_REQUEST } from '../../errors.js'
import type { Autoscaler } from '../../scale/autoscaler.js'
import { sendProblem } from '../problem.js'

export interface ScalingRoutesOptions {
  autoscaler: Pick<Autoscaler, 'scale' | 'restart' | 'scaling'>
  /** the services with a scale block, listed by `GET /api/scaling` */
  services: readonly string[]
}

const params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const

export function scalingRoutes(opts: ScalingRoutesOptions): FastifyPluginAsync {
  return async function scalingPlugin(app) {
    app.get(
      '/api/scaling',
      {
        schema: {
          tags: ['scaling'],
          summary: 'Every service with a scale block: replicas, desired count and newest decisions',
        },
      },
      async (_req, reply) => {
        try {
          return { services: await Promise.all(opts.services.map((n) => opts.autoscaler.scaling(n))) }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.get<{ Params: { name: string } }>(
      '/api/services/:name/scaling',
      {
        schema: {
          tags: ['scaling'],
          summary: 'Replicas, desired count and the newest scaling decisions with evidence',
          params,
        },
      },
      async (req, reply) => {
        try {
          return await opts.autoscaler.scaling(req.params.name)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.post<{ Params: { name: string }; Body: unknown }>(
      '/api/services/:name/scale',
      {
        schema: {
          tags: ['scaling'],
          summary: 'Scale a service to a number of replicas (through its actuator; audited)',
          params,
        },
      },
      async (req, reply) => {
        try {
          const b = (req.body ?? {}) as { replicas?: unknown; reason?: unknown }
          if (typeof b.replicas !== 'number')
            throw VGL_ERR_SCALE_REQUEST(
              `replicas: expected a whole number, got ${JSON.stringify(b.replicas)}`,
            )
          if (typeof b.reason !== 'string')
            throw VGL_ERR_SCALE_REQUEST('reason: say why (a string; it goes to the action log)')
          const r = await opts.autoscaler.scale(req.params.name, b.replicas, b.reason)
          return reply.code(r.status === 'ok' ? 200 : 502).send(r)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
    app.post<{ Params: { name: string }; Body: unknown }>(
      '/api/services/:name/restart',
      {
        schema: {
          tags: ['scaling'],
          summary: 'Rolling restart: one replica at a time, each replacement healthy first (audited)',
          params,
        },
      },
      async (req, reply) => {
        try {
          const b = (req.body ?? {}) as { reason?: unknown }
          if (typeof b.reason !== 'string')
            throw VGL_ERR_SCALE_REQUEST('reason: say why (a string; it goes to the action log)')
          const r = await opts.autoscaler.restart(req.params.name, b.reason)
          return reply.code(r.status === 'ok' ? 200 : 502).send(r)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
