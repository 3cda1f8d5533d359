/**
 * @module A mock upstream service for the demo, tests and benchmarks: heavy-tailed latency,
 * failure modes (500s, slow responses, connection resets) and incidents injected for a duration
 * through `POST /_mock/incident` or `injectIncident()`.
 *
 * Every answer is JSON `{ service, method, path, latencyMs, requestId, bodyBytes }`: the name, the
 * latency applied, the `X-Request-Id` seen (null when absent) and the request body size, counted
 * as it streams (a 100 MB upload is never held in memory).
 *
 * Per-request overrides, for tests that need an exact behaviour rather than a distribution:
 * `?sleep=MS` (fixed latency), `?status=CODE` (answer with that status), `?bytes=N` (stream an
 * N-byte body instead of JSON), `?reset=1` (destroy the connection after reading the request).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { VGL_ERR_SIM_INCIDENT, VGL_ERR_SIM_LISTEN } from '../errors.js'
import { listenProblem } from '../listen-error.js'
import { fitLatency, parseLatencyRange, sampleLatency, seededRandom, type LatencyModel } from './latency.js'

export type IncidentKind = 'latency' | 'errors' | 'outage'

/** An incident to inject; it ends by itself after `durationMs`. */
export interface Incident {
  kind: IncidentKind
  durationMs: number
  /** latency: multiply sampled latencies by this (default 10) */
  factor?: number
  /** errors: fraction of requests answered 500 during the incident (default 0.5) */
  errorRate?: number
  /** outage: reset connections instead of answering 503 (default false) */
  reset?: boolean
}

export interface ActiveIncident extends Required<Incident> {
  untilMs: number
}

export interface MockServiceOptions {
  /** 0 (default) picks a free port */
  port?: number
  /** default 127.0.0.1 */
  host?: string
  /** default `mock` */
  name?: string
  /** `LO-HI` in ms (LO near p5, HI near p99), a number for a fixed latency; default 0 (none) */
  latencyMs?: string | number | { loMs: number; hiMs: number }
  /** fraction of requests answered 500 (default 0) */
  errorRate?: number
  /** fraction of requests that are slow: latency × 10 (default 0) */
  slowRate?: number
  /** fraction of requests whose connection is reset (default 0) */
  resetRate?: number
  /**
   * requests served at once (default unlimited); the rest wait in arrival order, so a replica
   * with a fixed latency L saturates at concurrency × 1000 / L req/s and its latency climbs past it
   */
  concurrency?: number
  /** PRNG seed for reproducible latencies and failures */
  seed?: number
  /** clock for incident expiry; default Date.now */
  now?: () => number
  /**
   * called as each request (not `/_mock/*`, not `/health`) arrives, before it is answered: the
   * demo topology starts an OpenTelemetry server span here and ends it when `res` finishes
   */
  instrument?: (req: IncomingMessage, res: ServerResponse) => void
}

/** Counters since start, served at `GET /_mock/stats`. */
export interface MockStats {
  requests: number
  errors: number
  resets: number
  slow: number
  inFlight: number
  bodyBytes: number
}

export interface MockService {
  readonly name: string
  readonly url: string
  readonly port: number
  readonly latency: LatencyModel
  stats(): MockStats
  /** starts an incident now (replacing any active one) and returns it with its end time */
  injectIncident(incident: Incident): ActiveIncident
  /** ends the active incident early */
  clearIncident(): void
  activeIncident(): ActiveIncident | null
  close(): Promise<void>
}

const CONTROL_PREFIX = '/_mock/'
const SLOW_FACTOR = 10
const CHUNK = Buffer.alloc(64 * 1024, 0x61)

/** Validates an incident from JSON (the control endpoint) or code; throws VGL_ERR_SIM_INCIDENT. */
export function parseIncident(raw: unknown): Incident {
  if (typeof raw !== 'object' || raw === null) throw VGL_ERR_SIM_INCIDENT('expected a JSON object')
  const r = raw as Record<string, unknown>
  if (r.kind !== 'latency' && r.kind !== 'errors' && r.kind !== 'outage')
    throw VGL_ERR_SIM_INCIDENT(`kind: expected latency, errors or outage, got ${JSON.stringify(r.kind)}`)
  if (typeof r.durationMs !== 'number' || !(r.durationMs > 0))
    throw VGL_ERR_SIM_INCIDENT(`durationMs: expected a number > 0, got ${JSON.stringify(r.durationMs)}`)
  const out: Incident = { kind: r.kind, durationMs: r.durationMs }
  if (r.factor !== undefined) {
    if (typeof r.factor !== 'number' || !(r.factor > 0))
      throw VGL_ERR_SIM_INCIDENT(`factor: expected a number > 0, got ${JSON.stringify(r.factor)}`)
    out.factor = r.factor
  }
  if (r.errorRate !== undefined) {
    if (typeof r.errorRate !== 'number' || !(r.errorRate >= 0 && r.errorRate <= 1))
      throw VGL_ERR_SIM_INCIDENT(`errorRate: expected a number in [0, 1], got ${JSON.stringify(r.errorRate)}`)
    out.errorRate = r.errorRate
  }
  if (r.reset !== undefined) {
    if (typeof r.reset !== 'boolean') throw VGL_ERR_SIM_INCIDENT(`reset: expected true or false`)
    out.reset = r.reset
  }
  return out
}

function toModel(latency: MockServiceOptions['latencyMs']): LatencyModel {
  if (latency === undefined) return fitLatency(0, 0)
  if (typeof latency === 'number') return fitLatency(latency, latency)
  if (typeof latency === 'string') {
    const r = parseLatencyRange(latency, 'latencyMs')
    return fitLatency(r.loMs, r.hiMs)
  }
  return fitLatency(latency.loMs, latency.hiMs)
}

function fraction(value: number | undefined, name: string): number {
  const v = value ?? 0
  if (!(v >= 0 && v <= 1)) throw VGL_ERR_SIM_INCIDENT(`${name}: expected a number in [0, 1], got ${v}`)
  return v
}

class MockServer implements MockService {
  readonly name: string
  readonly latency: LatencyModel
  url = ''
  port = 0
  readonly #server: Server
  readonly #random: () => number
  readonly #now: () => number
  readonly #errorRate: number
  readonly #slowRate: number
  readonly #resetRate: number
  readonly #instrument: MockServiceOptions['instrument']
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #concurrency: number
  #serving = 0
  /** requests waiting for a slot, oldest first */
  readonly #queue: (() => void)[] = []
  readonly #stats: MockStats = { requests: 0, errors: 0, resets: 0, slow: 0, inFlight: 0, bodyBytes: 0 }
  #incident: ActiveIncident | null = null
  #closed: Promise<void> | null = null

  constructor(opts: MockServiceOptions) {
    this.name = opts.name ?? 'mock'
    this.latency = toModel(opts.latencyMs)
    this.#random = opts.seed === undefined ? Math.random : seededRandom(opts.seed)
    this.#now = opts.now ?? Date.now
    this.#errorRate = fraction(opts.errorRate, 'errorRate')
    this.#slowRate = fraction(opts.slowRate, 'slowRate')
    this.#resetRate = fraction(opts.resetRate, 'resetRate')
    this.#instrument = opts.instrument
    const c = opts.concurrency ?? Infinity
    if (!(c >= 1) || (c !== Infinity && !Number.isInteger(c)))
      throw new RangeError(`concurrency: expected a whole number ≥ 1, got ${opts.concurrency}`)
    this.#concurrency = c
    this.#server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => this.#handle(req, res))
  }

  listen(port: number, host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) =>
        reject(
          VGL_ERR_SIM_LISTEN(
            this.name,
            `${host}:${port}`,
            listenProblem({ block: 'mock', host, port, names: { host: '--host', port: '--port' } }, err),
          ),
        )
      this.#server.once('error', onError)
      this.#server.listen(port, host, () => {
        this.#server.off('error', onError)
        const addr = this.#server.address() as AddressInfo
        this.port = addr.port
        const shownHost = host.includes(':') ? `[${host}]` : host
        this.url = `http://${shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost}:${addr.port}`
        resolve()
      })
    })
  }

  stats(): MockStats {
    return { ...this.#stats }
  }

  activeIncident(): ActiveIncident | null {
    if (this.#incident !== null && this.#now() >= this.#incident.untilMs) this.#incident = null
    return this.#incident
  }

  injectIncident(incident: Incident): ActiveIncident {
    const i = parseIncident(incident)
    this.#incident = {
      kind: i.kind,
      durationMs: i.durationMs,
      factor: i.factor ?? 10,
      errorRate: i.errorRate ?? 0.5,
      reset: i.reset ?? false,
      untilMs: this.#now() + i.durationMs,
    }
    return { ...this.#incident }
  }

  clearIncident(): void {
    this.#incident = null
  }

  close(): Promise<void> {
    this.#closed ??= new Promise<void>((resolve) => {
      for (const t of this.#timers) clearTimeout(t)
      this.#timers.clear()
      this.#queue.length = 0
      this.#server.close(() => resolve())
      this.#server.closeAllConnections()
    })
    return this.#closed
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/'
    if (url.startsWith(CONTROL_PREFIX)) return this.#control(req, res, url)
    const incident = this.activeIncident()
    if (url === '/health' || url.startsWith('/health?')) {
      const down = incident !== null && incident.kind === 'outage'
      return json(res, down ? 503 : 200, { status: down ? 'down' : 'ok', service: this.name })
    }
    this.#instrument?.(req, res)
    this.#stats.requests++
    this.#stats.inFlight++
    res.once('close', () => this.#stats.inFlight--)
    let bodyBytes = 0
    // Counted chunk by chunk and dropped: bodies of any size pass through in bounded memory.
    req.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length
    })
    req.once('end', () => {
      this.#stats.bodyBytes += bodyBytes
      this.#respond(req, res, url, bodyBytes, incident)
    })
    req.once('error', () => res.destroy())
  }

  #respond(
    req: IncomingMessage,
    res: ServerResponse,
    url: string,
    bodyBytes: number,
    incident: ActiveIncident | null,
  ): void {
    const q = url.indexOf('?')
    const params = q === -1 ? null : new URLSearchParams(url.slice(q + 1))
    const path = q === -1 ? url : url.slice(0, q)

    if (params?.get('reset') === '1' || (incident?.kind === 'outage' && incident.reset)) {
      return this.#reset(req)
    }
    if (incident?.kind === 'outage') {
      this.#stats.errors++
      return json(res, 503, { service: this.name, error: 'outage (injected incident)' })
    }
    if (this.#resetRate > 0 && this.#random() < this.#resetRate) return this.#reset(req)

    let latencyMs: number
    const sleep = params?.get('sleep')
    if (sleep !== null && sleep !== undefined) latencyMs = Math.max(0, Number(sleep) || 0)
    else {
      latencyMs = this.latency.sigma === 0 ? this.latency.hiMs : sampleLatency(this.latency, this.#random)
      if (this.#slowRate > 0 && this.#random() < this.#slowRate) {
        latencyMs *= SLOW_FACTOR
        this.#stats.slow++
      }
      if (incident?.kind === 'latency') latencyMs *= incident.factor
    }

    let status = 200
    const forced = params?.get('status')
    if (forced !== null && forced !== undefined) status = Number(forced) || 200
    else if (
      (this.#errorRate > 0 && this.#random() < this.#errorRate) ||
      (incident?.kind === 'errors' && this.#random() < incident.errorRate)
    )
      status = 500
    if (status >= 500) this.#stats.errors++

    const bytesParam = params?.get('bytes')
    const bytes = bytesParam === null || bytesParam === undefined ? -1 : Math.max(0, Number(bytesParam) || 0)
    const requestId = req.headers['x-request-id']
    const body = {
      service: this.name,
      method: req.method ?? 'GET',
      path,
      latencyMs: Math.round(latencyMs * 100) / 100,
      requestId: typeof requestId === 'string' ? requestId : null,
      bodyBytes,
      ...(status >= 500 ? { error: 'injected failure' } : {}),
    }
    const send = () => (bytes >= 0 ? streamBytes(res, status, bytes) : json(res, status, body))
    if (latencyMs <= 0 && this.#concurrency === Infinity) return send()
    const serve = () => {
      // a request whose client gave up while it waited is not worked on
      if (res.destroyed) return this.#next()
      this.#serving++
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        this.#serving--
        send()
        this.#next()
      }, latencyMs)
      this.#timers.add(timer)
    }
    if (this.#serving < this.#concurrency) serve()
    else this.#queue.push(serve)
  }

  #next(): void {
    if (this.#serving < this.#concurrency) this.#queue.shift()?.()
  }

  #reset(req: IncomingMessage): void {
    this.#stats.resets++
    req.socket.resetAndDestroy()
  }

  #control(req: IncomingMessage, res: ServerResponse, url: string): void {
    const path = url.split('?')[0]
    if (path === '/_mock/stats' && req.method === 'GET') {
      return json(res, 200, { service: this.name, ...this.stats(), incident: this.activeIncident() })
    }
    if (path === '/_mock/incident' && req.method === 'DELETE') {
      this.clearIncident()
      res.writeHead(204).end()
      return
    }
    if (path === '/_mock/incident' && req.method === 'GET') {
      return json(res, 200, { incident: this.activeIncident() })
    }
    if (path === '/_mock/incident' && req.method === 'POST') {
      let text = ''
      req.setEncoding('utf8')
      req.on('data', (c: string) => {
        // A control call is a few bytes of JSON; refuse anything large rather than buffer it.
        if (text.length + c.length > 64 * 1024) req.destroy()
        else text += c
      })
      req.once('end', () => {
        try {
          const active = this.injectIncident(parseIncident(JSON.parse(text || 'null')))
          json(res, 202, { incident: active })
        } catch (err) {
          const e = err as { code?: string; message: string }
          json(res, 400, {
            code: e.code ?? 'VGL_ERR_SIM_INCIDENT',
            message: e.message,
            fix: 'send {"kind":"latency"|"errors"|"outage","durationMs":30000}',
          })
        }
      })
      return
    }
    json(res, 404, { code: 'VGL_ERR_SIM_INCIDENT', message: `no control endpoint ${req.method} ${path}` })
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  })
  res.end(text)
}

function streamBytes(res: ServerResponse, status: number, bytes: number): void {
  res.writeHead(status, { 'content-type': 'application/octet-stream', 'content-length': bytes })
  let left = bytes
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length)
      left -= n
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump)
        return
      }
    }
    res.end()
  }
  pump()
}

/**
 * Starts a mock upstream and resolves once it listens.
 * @example
 * const orders = await startMockService({ name: 'orders', latencyMs: '20-200' })
 * await fetch(`${orders.url}/orders/1`) // → { service: 'orders', latencyMs: 41.3, ... }
 * orders.injectIncident({ kind: 'errors', durationMs: 10_000, errorRate: 0.8 })
 * await orders.close()
 */
export async function startMockService(opts: MockServiceOptions = {}): Promise<MockService> {
  const server = new MockServer(opts)
  await server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1')
  return server
}
