/** @module Admin API: the Fastify admin server, its bearer-token auth and problem+json errors. */
export { buildAdminApp, createAdminServer } from './server.js'
export type { AdminServer, AdminServerOptions } from './server.js'
export {
  adminTokenFor,
  authHook,
  createAuthorizer,
  isLoopbackHost,
  isMutating,
  resolveAdminToken,
  tokenMatches,
  weakTokenReason,
} from './auth.js'
export { adminErrorHandler, problemOf, problemSchema, sendProblem } from './problem.js'
export type { ApiProblem } from './problem.js'
export type { AdminSources, ReloadResult } from './sources.js'
