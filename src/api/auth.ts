/**
 * @module Bearer-token auth for the admin API: every mutating call (POST, PUT, PATCH, DELETE)
 * needs `Authorization: Bearer <token>`; reads are open. The token comes from `admin.token` or
 * `$VIGIL_ADMIN_TOKEN`; without one, mutating calls are refused with a message saying how to set it,
 * and a guessable one is refused at start where other machines reach the admin API.
 * Plugins from other areas get the same check through `authHook` (registered on the root, so it
 * already covers them) or `createAuthorizer` (to call inside a handler).
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify'
import { VGL_ERR_API_NO_TOKEN, VGL_ERR_API_UNAUTHORIZED, VGL_ERR_API_WEAK_TOKEN } from '../errors.js'
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

/** Shorter than this, an admin token is taken to be guessable (`openssl rand -hex 32` gives 64). */
export const MIN_ADMIN_TOKEN_CHARS = 16

/** Tokens of examples and tutorials (letters and digits only, lower case): public, so no secret. */
const PLACEHOLDER_TOKENS = new Set([
  'admin',
  'admintoken',
  'changeit',
  'changethis',
  'default',
  'example',
  'mytoken',
  'password',
  'secret',
  'test',
  'token',
  'vigil',
  'yourtoken',
])

/** Why `token` is no secret (a placeholder, too short), or null when it may be one. */
export function weakTokenReason(token: string): string | null {
  const letters = token.toLowerCase().replace(/[^a-z0-9]/g, '')
  const placeholder =
    PLACEHOLDER_TOKENS.has(letters) ||
    /^(changeme|replaceme)/.test(letters) || // change-me, changeme, change-me-before-applying
    /^(.)\1*$/.test(letters) // xxxxxxxx…, 0000…
  if (placeholder) return `"${token}" is a placeholder`
  if (token.trim().length < MIN_ADMIN_TOKEN_CHARS)
    return `it has ${token.trim().length} characters, fewer than ${MIN_ADMIN_TOKEN_CHARS}`
  return null
}

/** True when only this machine can reach `host` (localhost, 127.0.0.0/8, ::1). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase()
  return h === 'localhost' || h === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(h)
}

const NEW_TOKEN = 'export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)"'

/**
 * The admin token to start the admin API with, judged for where it listens: a weak one (a
 * placeholder such as `change-me`, or a short one) on an address other machines
 * reach throws VGL_ERR_API_WEAK_TOKEN, since whoever reaches it could change limits, scale and
 * restart services; on loopback it is only warned of, as is having no token at all. Empty when
 * there is none (mutating calls are refused).
 * @example
 * const token = adminTokenFor({ configured: config.admin.token, host: config.admin.host, hostField: 'admin.host', onWarn })
 */
export function adminTokenFor(opts: {
  configured: string | null | undefined
  host: string
  /** where `host` is set (`admin.host`, `control.admin.host`), for the message */
  hostField: string
  env?: NodeJS.ProcessEnv
  onWarn: (message: string) => void
}): string {
  const token = resolveAdminToken(opts.configured, opts.env) ?? ''
  if (token === '') {
    opts.onWarn('no admin token (admin.token or VIGIL_ADMIN_TOKEN): mutating admin calls are refused')
    return token
  }
  const weak = weakTokenReason(token)
  if (weak === null) return token
  const field =
    opts.configured !== undefined && opts.configured !== null && opts.configured !== ''
      ? 'admin.token'
      : 'VIGIL_ADMIN_TOKEN'
  const write = field === 'admin.token' ? ' and write admin.token: ${VIGIL_ADMIN_TOKEN}' : ''
  if (!isLoopbackHost(opts.host))
    throw VGL_ERR_API_WEAK_TOKEN(
      `${field}: ${weak}, and the admin API listens on ${opts.host} (${opts.hostField}), where whoever reaches it could change limits, scale and restart services; ${NEW_TOKEN}${write}, or listen on 127.0.0.1 only`,
    )
  opts.onWarn(
    `${field}: ${weak}: anyone on this machine can change limits, scale and restart services through the admin API (refused on an address other machines reach); ${NEW_TOKEN}${write}`,
  )
  return token
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
