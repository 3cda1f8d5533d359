/**
 * @module Error bodies of the admin API: `application/problem+json` (RFC 9457) carrying Vigil's
 * `{ code, message, fix }`, plus `status` and `title`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  isVigilError,
  VGL_ERR_API_BAD_REQUEST,
  VGL_ERR_API_INTERNAL,
  VGL_ERR_API_NOT_FOUND,
  type VigilError,
} from '../errors.js'

export interface ApiProblem {
  code: string
  message: string
  fix: string
  status: number
  title: string
  [extra: string]: unknown
}

const FIX: Record<string, string> = {
  VGL_ERR_API_UNAUTHORIZED:
    'send the admin token: curl -H "Authorization: Bearer $VIGIL_ADMIN_TOKEN" -X POST ...',
  VGL_ERR_API_NO_TOKEN:
    'set admin.token in vigil.yaml (e.g. token: ${VIGIL_ADMIN_TOKEN}) or export VIGIL_ADMIN_TOKEN, then restart Vigil',
  VGL_ERR_API_NOT_FOUND: 'see the admin routes at /docs (OpenAPI JSON at /docs/json)',
  VGL_ERR_API_BAD_REQUEST: 'fix the named field; the request schema is in /docs/json',
  VGL_ERR_API_RELOAD: 'fix each listed problem (vigil check-config FILE shows them), then reload again',
  VGL_ERR_API_INTERNAL: 'check the admin log for this request id; report it if it repeats',
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/** Builds the problem body for a Vigil error; `fix` defaults to the code's documented fix. */
export function problemOf(err: VigilError, extra: Record<string, unknown> = {}): ApiProblem {
  const status = err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  return {
    code: err.code,
    message: err.message,
    fix: FIX[err.code] ?? 'see docs/errors.md for this code',
    status,
    title: TITLES[status] ?? 'Error',
    ...extra,
  }
}

/** Sends any error as problem+json: Vigil errors keep their code and status, others become 500. */
export function sendProblem(
  reply: FastifyReply,
  err: unknown,
  extra: Record<string, unknown> = {},
): FastifyReply {
  const e = isVigilError(err)
    ? (err as VigilError)
    : VGL_ERR_API_INTERNAL((err as Error)?.message ?? String(err))
  const body = problemOf(e, extra)
  return reply.code(body.status).type('application/problem+json').send(body)
}

/** The admin server's error handler: schema failures → 400, Vigil errors as they are, the rest → 500. */
export function adminErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isVigilError(err)) return sendProblem(reply, err)
  if (
    err.validation !== undefined ||
    (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500)
  ) {
    return sendProblem(reply, VGL_ERR_API_BAD_REQUEST(err.message))
  }
  req.log.error({ err }, 'admin API handler failed')
  return sendProblem(reply, VGL_ERR_API_INTERNAL(err.message))
}

/** 404 for unknown admin routes. */
export function adminNotFound(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  return sendProblem(reply, VGL_ERR_API_NOT_FOUND(req.method, req.url.split('?')[0]))
}

/** JSON schema of a problem body, for route `response` schemas. */
export const problemSchema = {
  type: 'object',
  required: ['code', 'message', 'fix'],
  properties: {
    code: { type: 'string', examples: ['VGL_ERR_API_UNAUTHORIZED'] },
    message: { type: 'string' },
    fix: { type: 'string' },
    status: { type: 'integer' },
    title: { type: 'string' },
  },
  additionalProperties: true,
} as const
