/**
 * @module The admin server (Fastify): health, readiness, route table, services, config reload,
 * `/metrics`, and the OpenAPI document of all of it at `/docs` (JSON at `/docs/json`). Other areas
 * add their routes as plugins; they inherit the bearer-token check on mutating calls because the
 * hook is registered on the root before them.
 */
import { closeDraining } from '../http-close.js'
import { lingerOnClose } from '../http-linger.js'
import type { IncomingMessage } from 'node:http'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import FindMyWay, { type HTTPMethod } from 'find-my-way'
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyPluginAsync,
} from 'fastify'
import type { AuditLog } from '../audit.js'
import { VGL_ERR_API_BODY_TOO_LARGE, VGL_ERR_API_LISTEN } from '../errors.js'
import { listenProblem } from '../listen-error.js'
import { authHook, resolveAdminToken } from './auth.js'
import { adminErrorHandler, adminFrameworkError, adminNotFound, problemOf } from './problem.js'
import { unknownQueryProblem } from './validation-message.js'
import { configRoutes } from './routes/config.js'
import { gatewayRoutes } from './routes/gateway.js'
import { healthRoutes } from './routes/health.js'
import { metricsRoutes } from './routes/metrics.js'
import type { AdminSources } from './sources.js'
import { listenAddress, localUrl } from '../listen-address.js'

export interface AdminServerOptions {
  /** default 127.0.0.1: the admin API is for operators on the box, not the internet */
  host?: string
  /** default 8081; 0 picks a free port */
  port?: number
  /** where the config sets host and port, for the message when it cannot listen; default `admin` */
  configBlock?: string
  /** bearer token for mutating calls; empty/null/undefined falls back to $VIGIL_ADMIN_TOKEN, else none */
  token?: string | null
  sources: AdminSources
  /** extra routes from other areas (limits, telemetry, ...) */
  plugins?: readonly FastifyPluginAsync[]
  /** pino logger (the runtime's); false or absent: silent */
  logger?: FastifyBaseLogger | false
  /** environment for the token fallback; default process.env */
  env?: NodeJS.ProcessEnv
  /** the audit log admin changes made here go to (config reloads; plugins take it themselves) */
  audit?: AuditLog
}

export interface AdminServer {
  /** a URL this host calls the admin API by (loopback when bound to every interface) */
  url: string
  /** the address as bound, for the log: `http://0.0.0.0:8081 (all interfaces)` */
  listen: string
  close(): Promise<void>
}

/** the largest request body the admin API reads; none of its requests needs more */
const BODY_LIMIT_BYTES = 1024 * 1024

const METHODS: readonly HTTPMethod[] = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const QUIETER_THAN_WARN = new Set(['error', 'fatal', 'silent'])

/**
 * Fastify's only info lines are "Server listening at …" (one per interface on 0.0.0.0), since
 * request logging is off: they repeat the admin URL the caller logs once, at startup, where a
 * newcomer reads. Its warnings and errors still go through.
 */
function warningsUp(logger: FastifyBaseLogger): FastifyBaseLogger {
  return QUIETER_THAN_WARN.has(logger.level) ? logger : logger.child({}, { level: 'warn' })
}

/** Builds the admin app without listening (tests use `app.inject`). */
export async function buildAdminApp(opts: AdminServerOptions): Promise<FastifyInstance> {
  // Per-request log lines would drown the gateway's access log; errors are still logged.
  const base = {
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    frameworkErrors: adminFrameworkError,
  }
  const app = (
    opts.logger === undefined || opts.logger === false
      ? Fastify({ ...base, logger: false })
      : Fastify({ ...base, loggerInstance: warningsUp(opts.logger) })
  ) as FastifyInstance
  // Fastify reads text/plain bodies by default; the admin API reads JSON only, so such a body is
  // 415 like any other type rather than a string that fails the route's schema with a 400
  app.removeContentTypeParser('text/plain')
  const token = resolveAdminToken(opts.token, opts.env)

  // every route's path under each of its methods, so a wrong method is told which ones the path
  // takes (405) rather than that the route does not exist; Fastify's router only answers 404
  const routes = FindMyWay()
  app.addHook('onRoute', (route) => {
    try {
      routes.on([route.method].flat() as HTTPMethod[], route.url, () => {})
    } catch {
      // the same method and path twice (Fastify refuses that itself): already recorded
    }
  })
  const methodsOf = (path: string) => METHODS.filter((m) => routes.find(m, path) !== null)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Vigil admin API',
        version: '0.1.0',
        description:
          'Operate a running Vigil. Reads are open; every POST/PUT/PATCH/DELETE needs `Authorization: Bearer <admin token>` (admin.token or $VIGIL_ADMIN_TOKEN). Errors are application/problem+json with { code, message, fix }.',
      },
      components: { securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' } } },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  app.setErrorHandler(adminErrorHandler)
  app.setNotFoundHandler(adminNotFound(methodsOf))
  refuseLargeBodiesBeforeContinue(app)
  // An answer sent before the body was read (a 401 or 404 sent on the head, a 413 past 1 MiB of a
  // chunked upload, a 415) would otherwise leave node:http reading and dropping the rest of the
  // body for as long as the client sends it: an unauthenticated client could stream gigabytes
  // into this port. A declared rest within the body limit is cheaper to read than a reconnect;
  // anything else closes the connection, lingering so a client still uploading gets the answer.
  app.addHook('onSend', (req, reply, payload, done) => {
    if (!req.raw.complete && !restIsSmall(req.raw)) {
      reply.header('connection', 'close')
      lingerOnClose(req.raw)
    }
    done(null, payload)
  })
  app.addHook('onRequest', authHook(token))
  app.addHook('preValidation', async (req) => {
    const unknown = unknownQueryProblem(req)
    if (unknown !== null) throw unknown
  })

  await app.register(healthRoutes, { sources: opts.sources })
  await app.register(gatewayRoutes, { sources: opts.sources })
  await app.register(configRoutes, { sources: opts.sources, audit: opts.audit })
  await app.register(metricsRoutes)
  for (const plugin of opts.plugins ?? []) await app.register(plugin)
  await app.ready()
  return app
}

/**
 * Whether what is left of an unread body is declared, and no more than the admin API would read:
 * draining it keeps the connection for the next request. A chunked body's rest is unbounded.
 */
function restIsSmall(req: IncomingMessage): boolean {
  if (req.headers['transfer-encoding'] !== undefined) return false
  const declared = Number(req.headers['content-length'] ?? 0)
  return Number.isFinite(declared) && declared <= BODY_LIMIT_BYTES
}

/**
 * Answers `Expect: 100-continue` with 413 when the declared body is over the limit. Node would
 * send "100 Continue" by itself; the client then uploads a body Fastify refuses unread, closing
 * the connection mid-upload, and the client (curl asks first for bodies over 1 MiB) often reads a
 * reset instead of the 413. Refused before it is sent, the body never travels. Other requests
 * get their "100 Continue" only once they are about to be parsed: past the token check, so a
 * request refused with 401 or 403 is not invited to upload first.
 */
function refuseLargeBodiesBeforeContinue(app: FastifyInstance): void {
  const waiting = new WeakSet<IncomingMessage>()
  app.addHook('preParsing', (req, reply, payload, done) => {
    if (waiting.delete(req.raw)) reply.raw.writeContinue()
    done(null, payload)
  })
  app.server.on('checkContinue', (req, res) => {
    if (Number(req.headers['content-length']) > BODY_LIMIT_BYTES) {
      const path = (req.url ?? '/').split('?')[0]
      const body = problemOf(VGL_ERR_API_BODY_TOO_LARGE(req.method, path, BODY_LIMIT_BYTES))
      res.writeHead(body.status, {
        'content-type': 'application/problem+json; charset=utf-8',
        connection: 'close',
      })
      // a client that does not wait for 100 Continue may be uploading already
      lingerOnClose(req)
      res.end(JSON.stringify(body))
      return
    }
    waiting.add(req)
    app.server.emit('request', req, res)
  })
}

/**
 * Starts the admin server and resolves once it listens.
 * @example
 * const admin = await createAdminServer({ host: '127.0.0.1', port: 8081, token, sources, logger })
 * // GET  ${admin.url}/api/services
 * // POST ${admin.url}/api/config/reload  with  Authorization: Bearer <token>
 * await admin.close()
 */
export async function createAdminServer(opts: AdminServerOptions): Promise<AdminServer> {
  const app = await buildAdminApp(opts)
  const host = opts.host ?? '127.0.0.1'
  try {
    await app.listen({ host, port: opts.port ?? 8081 })
  } catch (err) {
    await app.close()
    const e = err as NodeJS.ErrnoException
    throw VGL_ERR_API_LISTEN(
      listenProblem({ block: opts.configBlock ?? 'admin', host, port: opts.port ?? 8081 }, e),
    )
  }
  const addr = app.server.address()
  const port = typeof addr === 'object' && addr !== null ? addr.port : (opts.port ?? 8081)
  let closing: Promise<void> | null = null
  return {
    url: localUrl(host, port),
    listen: listenAddress(host, port),
    close: () => (closing ??= closeDraining(app.server, () => app.close())),
  }
}
