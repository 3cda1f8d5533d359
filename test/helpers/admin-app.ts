import type { FastifyInstance } from 'fastify'
import { MemoryAuditLog } from '../../src/audit.js'
import { buildAdminApp, type AdminServerOptions } from '../../src/api/server.js'
import type { ReloadResult } from '../../src/api/sources.js'

/**
 * The admin API of a process with no gateway routes or services to show, a reload that succeeds
 * with `reload` (default: 2 routes, nothing changed) and the `plugins` under test, audited into a
 * memory log.
 */
export async function adminAppWith(
  token: string,
  plugins: (audit: MemoryAuditLog) => AdminServerOptions['plugins'],
  reload: () => Promise<ReloadResult> = async () => ({
    ok: true,
    routes: 2,
    changed: [],
    restartRequired: [],
  }),
): Promise<{ app: FastifyInstance; audit: MemoryAuditLog }> {
  const audit = new MemoryAuditLog()
  const app = await buildAdminApp({
    token,
    env: {},
    audit,
    sources: { ready: () => true, routes: () => [], services: () => [], reload },
    plugins: plugins(audit),
  })
  return { app, audit }
}
