/**
 * @module The gateway: a node:http server whose request handler routes through the current
 * `RouteTable` and hands each request to an `Exchange`. Owns the route-table swap on reload,
 * the shared deadline sweeper, graceful shutdown, access log and metrics sources.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import type { Config } from '../config/schema.js'
import {
  VGL_ERR_GATEWAY_BAD_REQUEST,
  VGL_ERR_GATEWAY_LISTEN,
  VGL_ERR_GATEWAY_NO_ROUTE,
  VGL_ERR_GATEWAY_TARGETS,
} from '../errors.js'
import type { Admission } from '../limits/admission.js'
import { NOOP_RECORDER, type Recorder } from '../telemetry/recorder.js'
import { listenProblem } from '../listen-error.js'
import { AccessLog } from './access-log.js'
import { Exchange, type ExchangeHost } from './exchange.js'
import { randomId128 } from './ids.js'
import {
  methodIndex,
  registerGaugeSource,
  RouteMetrics,
  unregisterGaugeSource,
  type GaugeSource,
} from './metrics.js'
import { refusalCloses } from './drain.js'
import { normalizePath, pathNeedsNormalizing } from './path.js'
import { PendingList } from './pending-list.js'
import { writeProblem } from './problem.js'
import { RouteTable, TargetRegistry } from './route-table.js'
import type { TargetState } from './target.js'
import type { RouteView, ServiceView } from './views.js'

/** Deadline resolution: timeouts fire within this many ms of their due time. */
const SWEEP_INTERVAL_MS = 20
/** How often a retired route table checks whether its requests have drained. */
const RETIRE_POLL_MS = 100

export interface GatewayOptions {
  admission?: Admission
  recorder?: Recorder
  logger: Logger
}

export interface Gateway {
  /** Binds `gateway.host:gateway.port` (port 0 picks a free one). */
  listen(): Promise<{ port: number }>
  /** Swaps in a new route table built from `config`; in-flight requests finish on the old one. */
  swap(config: Config): void
  /**
   * Replaces one configured service's targets at run time (an autoscaler adding or removing
   * replicas) without a reload; `null` gives it back its configured targets. The override
   * survives reloads. Resolves once every request that started before the change has finished,
   * so a removed target has drained and may be stopped.
   */
  setTargets(service: string, targets: readonly string[] | null): Promise<void>
  routes(): RouteView[]
  services(): ServiceView[]
  /** requests being served right now */
  inFlight(): number
  /** requests answered on a route since start: a running total, as the telemetry rollups count them */
  served(): ServedCounts
  /** Stops accepting, lets in-flight requests finish for up to `graceMs`, then closes everything. */
  close(graceMs?: number): Promise<void>
}

/**
 * What a gateway answered on its routes since it started, counted as its rollups count (the
 * global series `*|*|*` is their sum): proxied and refused alike; requests no route matched
 * (404, 400) are not in it, as they are in no series.
 */
export interface ServedCounts {
  requests: number
  /** by status class: index 0 = 1xx ... 4 = 5xx */
  statusClass: [number, number, number, number, number]
  /** 429s and other rate-limiter refusals */
  limited: number
}

/** requests no route matched, counted under route="(no route)" */
let noRouteMetrics: RouteMetrics | null = null

const BREAKER_STATE = { closed: 0, 'half-open': 1, open: 2 } as const

class GatewayImpl implements Gateway, ExchangeHost, GaugeSource {
  readonly admission: Admission | null
  readonly pending = new PendingList<Exchange>()
  readonly proto = 'http'
  get drainBodyBytes(): number {
    return this.#config.gateway.drainBodyBytes
  }
  closing = false
  #config: Config
  #table: RouteTable
  readonly #registry: TargetRegistry
  /** run-time targets per service (setTargets), applied over every config */
  readonly #overrides = new Map<string, string[]>()
  /** route tables retired but not yet drained, resolved by #releaseTable */
  readonly #drained = new Map<RouteTable, { done: Promise<void>; resolve: () => void }>()
  readonly #recorder: Recorder
  readonly #logger: Logger
  #accessLog: AccessLog | null
  readonly #server: Server
  #sweeper: NodeJS.Timeout | null = null
  #inFlight = 0
  #served = 0
  readonly #servedByClass = new Float64Array(5)
  #limited = 0
  #idle: (() => void) | null = null
  #closed: Promise<void> | null = null
  readonly #sockets = new Set<Socket>()

  constructor(config: Config, opts: GatewayOptions) {
    this.#config = config
    this.admission = opts.admission ?? null
    this.#recorder = opts.recorder ?? NOOP_RECORDER
    this.#logger = opts.logger
    this.#registry = new TargetRegistry((t, healthy, status) =>
      logHealthChange(this.#logger, t, healthy, status),
    )
    this.#table = new RouteTable(config, this.#recorder, this.#registry)
    this.#accessLog = config.gateway.accessLog.enabled ? new AccessLog(config.gateway.accessLog) : null
    const g = config.gateway
    this.#server = createServer(
      {
        headersTimeout: g.headersTimeoutMs,
        requestTimeout: g.requestTimeoutMs,
        keepAliveTimeout: g.keepAliveTimeoutMs,
        connectionsCheckingInterval: Math.min(1000, g.headersTimeoutMs),
        noDelay: true,
      },
      this.#onRequest,
    )
    // With a 'timeout' listener node:http no longer destroys idle sockets itself: onSocketTimeout
    // spares a socket whose request waits on the upstream (route timeouts bound that wait).
    this.#server.timeout = g.idleTimeoutMs
    this.#server.on('timeout', onSocketTimeout)
    this.#server.on('connection', (s: Socket) => {
      this.#sockets.add(s)
      s.once('close', () => this.#sockets.delete(s))
    })
    this.#server.on('clientError', onClientError)
    registerGaugeSource(this)
  }

  // An arrow property so node:http can call it without `.bind` and without a per-request closure.
  readonly #onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now()
    let url = req.url ?? '/'
    let q = url.indexOf('?')
    let path = q < 0 ? url : url.slice(0, q)
    if (pathNeedsNormalizing(path)) {
      const normal = normalizePath(path, this.#config.gateway.escapedSlashes === 'reject')
      if (typeof normal !== 'string') {
        this.#unrouted(req, res, path, startedAt, normal.refused)
        return
      }
      if (normal !== path) {
        url = q < 0 ? normal : normal + url.slice(q)
        q = q < 0 ? -1 : normal.length
        path = normal
      }
    }
    const table = this.#table
    const plan = table.find(req.method ?? 'GET', path)
    if (plan === null) {
      this.#unrouted(req, res, path, startedAt, null)
      return
    }
    this.#inFlight++
    const ex = new Exchange(this, table, plan, req, res, url, q, startedAt, Date.now())
    ;(req.socket as ServingSocket)[kServing] = ex
    if (this.#sweeper === null) this.#startSweeper()
    ex.start()
  }

  /** Answers a request that is not routed: no route matches (404), or its path is refused (400, `refused` says why). */
  #unrouted(
    req: IncomingMessage,
    res: ServerResponse,
    path: string,
    startedAt: number,
    refused: string | null,
  ): void {
    const given = req.headers['x-request-id']
    const requestId =
      typeof given === 'string' && given.length > 0 && given.length <= 200 ? given : randomId128()
    const close = refusalCloses(
      req,
      Number(req.headers['content-length'] ?? 0),
      req.headers['transfer-encoding'] !== undefined,
      this.drainBodyBytes,
    )
    writeProblem(
      res,
      refused === null ? VGL_ERR_GATEWAY_NO_ROUTE : VGL_ERR_GATEWAY_BAD_REQUEST,
      refused === null ? 'Not Found' : 'Bad Request',
      refused === null ? `no route matches ${req.method} ${path}` : `refused ${refused}`,
      requestId,
      null,
      null,
      close || this.closing,
    )
    const status = refused === null ? 404 : 400
    noRouteMetrics ??= new RouteMetrics('(no route)', '(none)')
    noRouteMetrics.request(methodIndex(req.method ?? ''), status)
    this.#accessLog?.writeUnrouted(requestId, req.method ?? '', path, status, performance.now() - startedAt)
  }

  finished(ex: Exchange): void {
    this.#inFlight--
    this.#served++
    const st = ex.status
    if (st >= 100) this.#servedByClass[st >= 500 ? 4 : ((st / 100) | 0) - 1]++
    if (st === 429 || ex.outcome === 'limited') this.#limited++
    const socket = ex.req.socket as ServingSocket | null
    if (socket !== null && socket[kServing] === ex) socket[kServing] = undefined
    this.#accessLog?.write(ex)
    if (this.#inFlight === 0 && this.#idle !== null) this.#idle()
    const table = ex.table
    if (table.retired && table.inFlight === 0) this.#releaseTable(table)
  }

  #startSweeper(): void {
    const pending = this.pending
    this.#sweeper = setInterval(() => {
      if (pending.size === 0) return
      const now = Date.now()
      pending.forEach((ex) => {
        if (
          now >= ex.deadlineMs ||
          (ex.attempt !== null && now >= ex.attempt.deadlineMs) ||
          (ex.draining !== null && now >= ex.draining.deadlineMs) ||
          ex.done
        )
          ex.onTick(now)
      })
    }, SWEEP_INTERVAL_MS)
    this.#sweeper.unref()
  }

  listen(): Promise<{ port: number }> {
    const { host, port } = this.#config.gateway
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(VGL_ERR_GATEWAY_LISTEN(listenProblem({ block: 'gateway', host, port }, err)))
      this.#server.once('error', onError)
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError)
        resolve({ port: (this.#server.address() as AddressInfo).port })
      })
    })
  }

  swap(config: Config): void {
    void this.#install(config)
  }

  setTargets(service: string, targets: readonly string[] | null): Promise<void> {
    // a closing gateway routes nothing more: a new table would only open pools nobody closes
    if (this.closing) return Promise.resolve()
    if (this.#config.services[service] === undefined)
      throw VGL_ERR_GATEWAY_TARGETS(
        `unknown service "${service}" (known: ${Object.keys(this.#config.services).join(', ')})`,
      )
    if (targets === null) this.#overrides.delete(service)
    else {
      for (const t of targets) {
        let ok = false
        try {
          const u = new URL(t)
          ok = u.protocol === 'http:' || u.protocol === 'https:'
        } catch {
          ok = false
        }
        if (!ok) throw VGL_ERR_GATEWAY_TARGETS(`target "${t}" of service "${service}" is not an http(s) URL`)
      }
      this.#overrides.set(service, [...new Set(targets)])
    }
    return this.#install(this.#config)
  }

  /** The config with the run-time targets applied. */
  #effective(config: Config): Config {
    if (this.#overrides.size === 0) return config
    const services = { ...config.services }
    for (const [name, targets] of this.#overrides) {
      const svc = services[name]
      if (svc !== undefined) services[name] = { ...svc, targets }
    }
    return { ...config, services }
  }

  #install(config: Config): Promise<void> {
    const next = new RouteTable(this.#effective(config), this.#recorder, this.#registry)
    const old = this.#table
    let resolve = (): void => {}
    const done = new Promise<void>((r) => (resolve = r))
    this.#drained.set(old, { done, resolve })
    // a target removed now may still serve requests of any table retired before
    const drained = Promise.all([...this.#drained.values()].map((d) => d.done)).then(() => {})
    this.#table = next
    if (JSON.stringify(config.gateway.accessLog) !== JSON.stringify(this.#config.gateway.accessLog)) {
      void this.#accessLog?.close()
      this.#accessLog = config.gateway.accessLog.enabled ? new AccessLog(config.gateway.accessLog) : null
    }
    this.#config = config
    old.retired = true
    if (old.inFlight === 0) this.#releaseTable(old)
    else {
      // Long requests on the old table keep their pools; poll so a table whose last request
      // ended without passing through `finished` (never happens today) cannot leak.
      const timer = setInterval(() => {
        if (old.inFlight === 0) {
          clearInterval(timer)
          this.#releaseTable(old)
        }
      }, RETIRE_POLL_MS)
      timer.unref()
    }
    return drained
  }

  #releaseTable(table: RouteTable): void {
    if (!table.retired) return
    this.#drained.get(table)?.resolve()
    this.#drained.delete(table)
    if (table.targets.length === 0) return
    const targets = table.targets.splice(0)
    for (const t of targets) {
      const closing = this.#registry.release(t)
      closing?.catch((err: unknown) =>
        this.#logger.warn({ err, target: t.url }, 'closing an upstream pool failed'),
      )
    }
  }

  routes(): RouteView[] {
    return this.#table.plans.map((p) => p.view())
  }

  services(): ServiceView[] {
    const now = Date.now()
    return [...this.#table.services.values()].map((s) => s.view(now))
  }

  inFlight(): number {
    return this.#inFlight
  }

  served(): ServedCounts {
    const c = this.#servedByClass
    return { requests: this.#served, statusClass: [c[0], c[1], c[2], c[3], c[4]], limited: this.#limited }
  }

  *breakerStates(): Iterable<{ service: string; target: string; state: number }> {
    const now = Date.now()
    for (const t of this.#registry.all()) {
      yield { service: t.service, target: t.url, state: BREAKER_STATE[t.view(now).breaker] }
    }
  }

  close(graceMs = this.#config.gateway.shutdownGraceMs): Promise<void> {
    this.#closed ??= this.#close(graceMs)
    return this.#closed
  }

  async #close(graceMs: number): Promise<void> {
    this.closing = true
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()))
    this.#server.closeIdleConnections()
    if (this.#inFlight > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs)
        this.#idle = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    this.#idle = null
    const drained = this.#inFlight === 0
    this.#server.closeAllConnections()
    for (const s of this.#sockets) s.destroy()
    await serverClosed
    if (this.#sweeper !== null) clearInterval(this.#sweeper)
    this.#sweeper = null
    this.#table.retired = true
    this.#releaseTable(this.#table)
    for (const d of this.#drained.values()) d.resolve()
    await Promise.allSettled([...this.#registry.all()].map((t) => t.close(false)))
    unregisterGaugeSource(this)
    await this.#accessLog?.close()
    if (!drained)
      this.#logger.warn({ graceMs }, 'gateway closed with requests still in flight after the grace period')
  }
}

const kServing = Symbol('vigil.serving')
/**
 * One line when a target's health check takes it out or brings it back: without it, a target
 * that never came up shows only as 503s in the access log.
 */
function logHealthChange(logger: Logger, t: TargetState, healthy: boolean, status: number): void {
  const fields = { service: t.service, target: t.url, status }
  if (healthy) {
    logger.info(fields, `${t.service} target ${t.url} is healthy again: it gets traffic`)
    return
  }
  const answer = status === 0 ? 'got no answer (connection failed or timed out)' : `answered ${status}`
  logger.warn(
    fields,
    `${t.service} target ${t.url} is unhealthy: its health check ${answer}; it gets no traffic until the check passes again`,
  )
}

/** A client socket tagged with the latest exchange it carries. */
type ServingSocket = Socket & { [kServing]?: Exchange }

/**
 * The socket idle timeout (`gateway.idleTimeoutMs`, also node:http's keep-alive timeout) fired.
 * A socket whose request is complete and waiting for the upstream's answer is kept: the route's
 * timeouts end that wait. The next write re-arms the timer (node refreshes it on activity).
 */
function onSocketTimeout(socket: ServingSocket): void {
  const ex = socket[kServing]
  if (ex !== undefined && !ex.done && !ex.responseStarted && ex.req.complete) return
  socket.destroy()
}

const CLIENT_ERROR_TITLES: Record<number, string> = {
  400: 'Bad Request',
  408: 'Request Timeout',
  431: 'Request Header Fields Too Large',
}

/** A request node:http could not parse, or a client too slow with its headers: answer and close. */
function onClientError(err: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable || socket.destroyed) {
    socket.destroy()
    return
  }
  const status =
    err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400
  const detail =
    status === 408
      ? 'the request headers did not arrive within gateway.headersTimeoutMs'
      : status === 431
        ? 'the request headers are too large'
        : `malformed request (${err.code ?? err.message})`
  const body = JSON.stringify({
    type: `urn:vigil:error:${VGL_ERR_GATEWAY_BAD_REQUEST.code}`,
    title: CLIENT_ERROR_TITLES[status],
    status,
    detail,
    code: VGL_ERR_GATEWAY_BAD_REQUEST.code,
    requestId: randomId128(),
  })
  socket.end(
    `HTTP/1.1 ${status} ${CLIENT_ERROR_TITLES[status]}\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  )
}

/**
 * Creates a gateway for a validated config. Nothing listens until `listen()`.
 *
 * @example
 * const gw = createGateway(loadConfig('vigil.yaml'), { logger: pino() })
 * const { port } = await gw.listen()
 * // ... later
 * await gw.close(10_000)
 */
export function createGateway(config: Config, opts: GatewayOptions): Gateway {
  return new GatewayImpl(config, opts)
}
