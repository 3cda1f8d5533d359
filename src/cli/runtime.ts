/**
 * @module The composition root: loads the config, wires the seams (admission, recorder), starts
 * the gateway and the admin API, and turns SIGHUP into a reload and SIGTERM into a graceful stop.
 * Each area adds its few lines in its own section below.
 */
import { join } from 'node:path' // limits
import pino, { type Logger } from 'pino'
import type { FastifyPluginAsync } from 'fastify'
import type { AdminSources, ReloadResult } from '../api/sources.js'
import { loadConfig, type Config } from '../config/index.js'
import { isVigilError } from '../errors.js'
import { createGateway, type Gateway } from '../gateway/index.js'
import type { Admission } from '../limits/admission.js'
import { createAdmission } from '../limits/index.js' // limits
import { limitsRoutes } from '../api/routes/limits.js' // limits
import { JsonlAuditLog } from '../audit.js' // limits
import { enableProcessMetrics } from '../metrics.js'
import { NOOP_RECORDER, type Recorder } from '../telemetry/recorder.js'

export interface StartOptions {
  configFile: string
  /** embedded: gateway + control plane in one process; gateway: data plane only (scaled out) */
  mode: 'embedded' | 'gateway'
  env?: NodeJS.ProcessEnv
  logger?: Logger
  /** install SIGHUP (reload) and SIGTERM/SIGINT (graceful stop, then exit 0) handlers */
  handleSignals?: boolean
}

export interface Vigil {
  gatewayUrl: string
  /** null when the admin API could not start */
  adminUrl: string | null
  gateway: Gateway
  /** re-reads the config file and swaps the route table; the old one keeps serving on failure */
  reload(): Promise<ReloadResult>
  /** stops accepting, drains in-flight requests up to `gateway.shutdownGraceMs`, closes everything */
  stop(): Promise<void>
}

/** The admin server's factory as written by the admin API engineer (src/api/index.ts). */
interface AdminModule {
  createAdminServer(opts: {
    host: string
    port: number
    token: string
    sources: AdminSources
    plugins?: FastifyPluginAsync[]
    logger: Logger
  }): Promise<{ url: string; close(): Promise<void> }>
}
// A variable specifier keeps the type checker from requiring the module while it is being written.
const ADMIN_MODULE = '../api/index.js'

function urlOf(host: string, port: number): string {
  const h = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host
  return `http://${h}:${port}`
}

/** Starts Vigil from a config file. */
export async function startVigil(opts: StartOptions): Promise<Vigil> {
  const env = opts.env ?? process.env
  const logger = opts.logger ?? pino({ name: 'vigil' }, pino.destination({ dest: 2, sync: true }))
  const closers: Array<() => Promise<void>> = []

  // ---- config ----------------------------------------------------------------------------
  let config: Config = loadConfig(opts.configFile, env)
  enableProcessMetrics()

  // ---- limits: pass an Admission to the gateway (src/limits) ---------------------------------
  // The limiter when limits.enabled; its admin routes go to the admin API; stop() closes it.
  const limiter = config.limits.enabled
    ? await createAdmission(config, { logger, audit: new JsonlAuditLog(join(config.limits.dataDir, 'audit.jsonl')) })
    : null
  const admission: Admission | undefined = limiter ?? undefined

  // ---- telemetry: pass a Recorder to the gateway (src/telemetry) -----------------------------
  const recorder: Recorder = NOOP_RECORDER

  // ---- gateway ---------------------------------------------------------------------------
  const gateway = createGateway(config, { admission, recorder, logger })
  const { port } = await gateway.listen()
  const gatewayUrl = urlOf(config.gateway.host, port)
  logger.info({ url: gatewayUrl, routes: config.routes.length, mode: opts.mode }, 'gateway listening')

  let reloading: Promise<ReloadResult> | null = null
  const reload = (): Promise<ReloadResult> => {
    reloading ??= (async (): Promise<ReloadResult> => {
      try {
        const next = loadConfig(opts.configFile, env)
        if (next.gateway.port !== config.gateway.port || next.gateway.host !== config.gateway.host) {
          logger.warn('gateway.host/port changes need a restart; the rest of the new config applies')
        }
        gateway.swap(next)
        config = next
        logger.info({ routes: next.routes.length }, 'config reloaded')
        return { ok: true, routes: next.routes.length }
      } catch (err) {
        const message = isVigilError(err) ? err.message : String(err)
        logger.error(
          { file: opts.configFile, problems: message.split('\n') },
          'config reload rejected; the old config keeps serving',
        )
        return { ok: false, problems: message.split('\n') }
      } finally {
        reloading = null
      }
    })()
    return reloading
  }

  // ---- admin API ---------------------------------------------------------------------------
  const sources: AdminSources = {
    ready: () => true,
    routes: () => gateway.routes(),
    services: () => gateway.services(),
    reload,
  }
  let adminUrl: string | null = null
  try {
    const admin = (await import(ADMIN_MODULE)) as AdminModule
    const token = config.admin.token ?? env.VIGIL_ADMIN_TOKEN ?? ''
    if (token === '')
      logger.warn('no admin token (admin.token or VIGIL_ADMIN_TOKEN): mutating admin calls will be refused')
    const server = await admin.createAdminServer({
      host: config.admin.host,
      port: config.admin.port,
      token,
      sources,
      plugins: limiter !== null ? [limitsRoutes({ limiter, token })] : [], // limits admin routes
      logger,
    })
    adminUrl = server.url
    closers.push(() => server.close())
    logger.info({ url: adminUrl }, 'admin API listening')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      logger.warn('admin API module not built yet; running the gateway alone')
    } else {
      await gateway.close(0)
      throw err
    }
  }

  // ---- control plane (embedded mode): start the worker here (src/control) -------------------

  // ---- shutdown and signals ------------------------------------------------------------------
  let stopping: Promise<void> | null = null
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await gateway.close(config.gateway.shutdownGraceMs)
      for (const close of closers.reverse())
        await close().catch((err: unknown) => logger.warn({ err }, 'close failed'))
      await admission?.close()
      await recorder.close()
      logger.info('stopped')
      logger.flush()
    })()
    return stopping
  }

  if (opts.handleSignals === true) {
    process.on('SIGHUP', () => void reload())
    const onStop = (signal: string) => {
      logger.info({ signal, inFlight: gateway.inFlight() }, 'draining in-flight requests')
      stop().then(
        () => process.exit(0),
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed')
          process.exit(1)
        },
      )
    }
    process.once('SIGTERM', onStop)
    process.once('SIGINT', onStop)
  }

  return { gatewayUrl, adminUrl, gateway, reload, stop }
}
