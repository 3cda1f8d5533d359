/**
 * @module Scaling API (Fastify plugin): `GET /api/scaling` (every scaled service, as below),
 * `GET /api/services/:name/scaling` (current and desired
 * replicas, the replicas, the newest decisions with their evidence), `POST
 * /api/services/:name/scale {replicas, reason}` and `POST /api/services/:name/restart {reason}`
 * (rolling), both through the service's actuator, recorded in the action log and, as admin
 * changes, in the audit log. The POSTs need the admin token (the root's auth hook) and refuse,
 * naming the field, a body that is not an object, a field they do not know, a count that is not a
 * whole number within scale.min..max, and a reason that is missing, not a string or longer than a
 * sentence (required here, optional on the other admin routes). A scale or restart the actuator
 * failed answers 502 with its action, the error's `code` and a `fix` for this service's actuator.
 * Each service's view carries its newest scaling
 * actions from the action log (`actions`), manual scales and restarts included.
 */
import type { FastifyPluginAsync } from 'fastify'
import type { AuditLog } from '../../audit.js'
import type { ActionRecord, ActionSource } from '../../control/actions.js'
import { VGL_ERR_SCALE_REQUEST } from '../../errors.js'
import type { Autoscaler, ServiceScaling } from '../../scale/autoscaler.js'
import { reasonProblem, recordAdminChange } from '../admin-audit.js'
import { sendProblem } from '../problem.js'

export interface ScalingRoutesOptions {
  autoscaler: Pick<Autoscaler, 'scale' | 'restart' | 'scaling'>
  /** the services with a scale block, listed by `GET /api/scaling` */
  services: readonly string[]
  /** the action log: a service's newest scaling actions (automatic, manual, restarts) join its view */
  actions?: ActionSource
  /** where manual scales and restarts are recorded as admin changes (who, what, why) */
  audit?: AuditLog
}

/** What the scaling routes answer per service: the autoscaler's view and its newest actions. */
export type ScalingView = ServiceScaling & { actions: ActionRecord[] }

/** Newest scaling actions of a service shown with its view. */
const VIEW_ACTIONS = 10

const params = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const

/** The request's JSON object; a field it does not know is refused rather than ignored (a typo would scale nothing). */
function bodyOf(body: unknown, fields: readonly string[]): Record<string, unknown> {
  const b = body ?? {}
  if (typeof b !== 'object' || Array.isArray(b))
    throw VGL_ERR_SCALE_REQUEST(`body: expected a JSON object with ${fields.join(', ')}`)
  for (const k of Object.keys(b))
    if (!fields.includes(k))
      throw VGL_ERR_SCALE_REQUEST(
        `${JSON.stringify(k)} is not a field of this request (fields: ${fields.join(', ')})`,
      )
  return b as Record<string, unknown>
}

/**
 * The reason, trimmed. Required here, unlike on the other admin routes: a scale or a restart
 * changes what serves traffic, and whoever reads the action log during an incident needs the why.
 */
function reasonOf(b: Record<string, unknown>): string {
  const problem = reasonProblem(b.reason)
  if (problem !== null) throw VGL_ERR_SCALE_REQUEST(`reason: ${problem}`)
  if (typeof b.reason !== 'string' || b.reason.trim() === '')
    throw VGL_ERR_SCALE_REQUEST(
      'reason: say why (a non-empty string; it goes to the action log and the audit log)',
    )
  return b.reason.trim()
}

export function scalingRoutes(opts: ScalingRoutesOptions): FastifyPluginAsync {
  // the action log, not the autoscaler's memory: it outlives a leader change and holds manual
  // scales and restarts, which the policy's decisions do not
  const view = async (name: string): Promise<ScalingView> => {
    const s = await opts.autoscaler.scaling(name)
    if (opts.actions === undefined) return { ...s, actions: [] }
    const page = await opts.actions.actions({ target: `service:${name}`, limit: 5 * VIEW_ACTIONS })
    return { ...s, actions: page.actions.filter((a) => a.kind.startsWith('scale.')).slice(0, VIEW_ACTIONS) }
  }
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
          return { services: await Promise.all(opts.services.map(view)) }
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
          return await view(req.params.name)
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
          const b = bodyOf(req.body, ['replicas', 'reason'])
          if (typeof b.replicas !== 'number' || !Number.isInteger(b.replicas))
            throw VGL_ERR_SCALE_REQUEST(
              `replicas: expected a whole number, got ${JSON.stringify(b.replicas) ?? 'nothing'}`,
            )
          const reason = reasonOf(b)
          const r = await opts.autoscaler.scale(req.params.name, b.replicas, reason)
          // a failed attempt is recorded too: the operator asked for it and the actuator may have
          // done part of it
          recordAdminChange(opts.audit, req, {
            kind: 'scale.manual',
            subject: req.params.name,
            before: { replicas: r.before },
            after: {
              replicas: r.after,
              requested: b.replicas,
              status: r.status,
              action: r.id,
              ...(r.detail !== undefined ? { detail: r.detail } : {}),
            },
            reason,
          })
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
          const reason = reasonOf(bodyOf(req.body, ['reason']))
          const r = await opts.autoscaler.restart(req.params.name, reason)
          recordAdminChange(opts.audit, req, {
            kind: 'scale.restart',
            subject: req.params.name,
            before: null,
            after: {
              status: r.status,
              action: r.id,
              ...(r.detail !== undefined ? { detail: r.detail } : {}),
            },
            reason,
          })
          return reply.code(r.status === 'ok' ? 200 : 502).send(r)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
