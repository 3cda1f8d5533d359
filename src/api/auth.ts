/**
 * @module Bearer-token auth for the admin API: every mutating call (POST, PUT, PATCH, DELETE)
 * needs `Authorization: Bearer <token>`; reads are open. The token comes from `admin.token` or
 * `$VIGIL_ADMIN_TOKEN`; without one, mutating calls are refused with a message saying how to set it.
 * Plugins from other areas get the same check through `authHook` (registered on the root, so it
 * already covers them) or `createAuthorizer` (to call inside a handler).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { VGL_ERR_API_NO_TOKEN, VGL_ERR_API_UNAUTHORIZED } from '../errors.js'
import { sendProblem, unauthorizedFix } from './problem.js'

const MUTATING = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

/** The effective token: the configured one, else `$VIGIL_ADMIN_TOKEN`, else null (none). */
export function resolveAdminToken(
  configured: string | null | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string | null {
  if (configured !== undefined && configured !== null && configured !== '') return configured
  const fromEnv = env.VIGIL_ADMIN_TOKEN
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : null
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest()
}

/**
 * Compares a presented `Authorization` header with the expected token in constant time: both are
 * hashed first, so the comparison never depends on where they differ or on their lengths.
 */
export function tokenMatches(expected: string, authorization: string | undefined): boolean {
  if (authorization === undefined) return false
  const m = /^Bearer\s+(.+)$/i.exec(authorization.trim())
  const presented = m === null ? '' : m[1]
  const ok = timingSafeEqual(digest(expected), digest(presented))
  return ok && m !== null
}

/** True when the method changes state and so needs the token. */
export function isMutating(method: string): boolean {
  return MUTATING.has(method)
}

/**
 * Returns a check to call in a handler: throws VGL_ERR_API_UNAUTHORIZED (401) or
 * VGL_ERR_API_NO_TOKEN (403) for a mutating request without the right token; with
 * `{ reads: true }`, for every request (the dashboard's session and live feed).
 */
export function createAuthorizer(
  token: string | null | undefined,
  opts: { reads?: boolean } = {},
): (req: FastifyRequest) => void {
  const expected = token === undefined || token === null || token === '' ? null : token
  const all = opts.reads === true
  return function authorize(req: FastifyRequest): void {
    if (!all && !isMutating(req.method)) return
    const path = req.url.split('?')[0]
    if (expected === null) throw VGL_ERR_API_NO_TOKEN(req.method, path)
    if (!tokenMatches(expected, req.headers.authorization))
      throw Object.assign(VGL_ERR_API_UNAUTHORIZED(req.method, path), {
        fix: unauthorizedFix(req.method, path),
      })
  }
}

/**
 * An `onRequest` hook enforcing the token on mutating calls, answering problem+json
 * `{ code, message, fix }` itself. Register it before the routes it should guard.
 * @example
 * app.addHook('onRequest', authHook(resolveAdminToken(config.admin.token)))
 */
export function authHook(token: string | null | undefined): onRequestHookHandler {
  const authorize = createAuthorizer(token)
  return function adminAuth(req: FastifyRequest, reply: FastifyReply, done: (err?: Error) => void): void {
    try {
      authorize(req)
    } catch (err) {
      if ((err as { code?: string }).code === VGL_ERR_API_UNAUTHORIZED.code)
        void reply.header('www-authenticate', 'Bearer realm="vigil-admin"')
      sendProblem(reply, err)
      return
    }
    done()
  }
}
