/**
 * @module `POST /api/config/reload`: re-read the config file and swap the route table atomically.
 * The answer names the changed fields that wait for a restart; every accepted reload is an admin
 * change in the audit log (the changed fields, never their values: a file holds secrets).
 */
import type { FastifyPluginAsync } from 'fastify'
import type { AuditLog } from '../../audit.js'
import { VGL_ERR_API_BAD_REQUEST, VGL_ERR_API_NO_RELOAD, VGL_ERR_API_RELOAD } from '../../errors.js'
import { reasonProblem, recordAdminChange } from '../admin-audit.js'
import { problemSchema, sendProblem } from '../problem.js'
import type { AdminSources } from '../sources.js'

export interface ConfigRoutesOptions {
  sources: AdminSources
  /** where a reload is recorded as an admin change */
  audit?: AuditLog | undefined
}

/** One line for a person: what applied, and what waits for a restart. */
export function reloadMessage(routes: number, changed: number, restartRequired: readonly string[]): string {
  const what = changed === 0 ? 'nothing changed' : `${changed} field(s) changed`
  if (restartRequired.length === 0)
    return `config reloaded (${routes} routes; ${what}); every change applies now`
  return `config reloaded (${routes} routes; ${what}); ${restartRequired.join(', ')} ${restartRequired.length === 1 ? 'takes' : 'take'} effect only after a restart of Vigil, the rest applies now`
}

export const configRoutes: FastifyPluginAsync<ConfigRoutesOptions> = async (app, { sources, audit }) => {
  app.post<{ Body: unknown }>(
    '/api/config/reload',
    {
      schema: {
        tags: ['config'],
        summary: 'Reload the config file; an invalid file is rejected and the old config keeps serving',
        description:
          'Optional JSON body { reason }. The answer lists in restartRequired the changed fields that apply only after a restart (e.g. gateway.port).',
        security: [{ bearerAuth: [] }],
        response: {
          200: {
            type: 'object',
            properties: {
              ok: { type: 'boolean' },
              routes: { type: 'integer' },
              changed: { type: 'array', items: { type: 'string' } },
              restartRequired: { type: 'array', items: { type: 'string' } },
              message: { type: 'string' },
            },
          },
          400: problemSchema,
          401: problemSchema,
          403: problemSchema,
          501: problemSchema,
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
    async (req, reply) => {
      // nothing here reloads: a 422 would send the operator to fix a file that is fine
      if (sources.reload === undefined)
        return sendProblem(reply, VGL_ERR_API_NO_RELOAD(sources.name ?? 'this process'))
      const body = req.body ?? {}
      if (typeof body !== 'object' || Array.isArray(body))
        return sendProblem(
          reply,
          VGL_ERR_API_BAD_REQUEST('body: expected a JSON object { reason } or no body'),
        )
      const { reason, ...rest } = body as Record<string, unknown>
      const unknown = Object.keys(rest)[0]
      if (unknown !== undefined)
        return sendProblem(
          reply,
          VGL_ERR_API_BAD_REQUEST(
            `${JSON.stringify(unknown)} is not a field of this request (fields: reason)`,
          ),
        )
      const problem = reasonProblem(reason)
      if (problem !== null) return sendProblem(reply, VGL_ERR_API_BAD_REQUEST(`reason: ${problem}`))
      const result = await sources.reload()
      if (!result.ok)
        return sendProblem(reply, VGL_ERR_API_RELOAD(`${result.problems.length} problem(s)`), {
          problems: result.problems,
        })
      const changed = result.changed ?? []
      const restartRequired = result.restartRequired ?? []
      // recorded even when nothing changed: who reloaded when is what an operator looks for
      recordAdminChange(audit, req, {
        kind: 'config.reload',
        subject: 'config',
        before: null,
        after: { routes: result.routes, changed, restartRequired },
        reason: reason as string | undefined,
      })
      return {
        ok: true,
        routes: result.routes,
        changed,
        restartRequired,
        message: reloadMessage(result.routes, changed.length, restartRequired),
      }
    },
  )
}
