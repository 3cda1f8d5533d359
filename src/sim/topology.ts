/**
 * @module The demo topology: an aggregator (`shop`, on-prem) that calls `auth` (on-prem) first,
 * then `inventory` (on-prem), `pricing` (AWS) and `reviews` (GCP) in parallel, and answers 502 when
 * any of them fails. Every service is instrumented with the official OpenTelemetry JS SDK (a
 * BasicTracerProvider per service, with its own resource: `service.name`,
 * `deployment.environment.name`, `cloud.provider`, `cloud.region`, `service.instance.id`) and
 * exports OTLP/HTTP protobuf to Vigil; W3C `traceparent` (and `X-Request-Id`) travel on every call,
 * so a request through the gateway is one trace across three environments.
 *
 * ```
 * client ─▶ vigil ─▶ shop (onprem) ─▶ auth (onprem)
 *                              └─(then, in parallel)─▶ inventory (onprem), pricing (aws), reviews (gcp)
 * ```
 * The downstream services are mock services (src/sim/mock-service.ts): heavy-tailed latency, and
 * incidents injected with `service(name).mock.injectIncident(...)`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  defaultTextMapGetter,
  defaultTextMapSetter,
  trace,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api'
import { ExportResultCode, W3CTraceContextPropagator, type ExportResult } from '@opentelemetry/core'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto'
import { resourceFromAttributes } from '@opentelemetry/resources'
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type ReadableSpan,
  type SpanExporter,
} from '@opentelemetry/sdk-trace-base'
import { Agent, request } from 'undici'
import { VGL_ERR_SIM_LISTEN } from '../errors.js'
import { startMockService, type MockService } from './mock-service.js'

/** One service of the topology. */
export interface TopologyServiceSpec {
  name: string
  env: string
  /** for the resource's cloud.provider / cloud.region; absent on-prem */
  cloud?: { provider: string; region: string }
  /** `LO-HI` ms (p5-p99) as for mock services */
  latencyMs: string
  errorRate: number
}

export const DEMO_SERVICES: readonly TopologyServiceSpec[] = [
  { name: 'auth', env: 'onprem', latencyMs: '2-15', errorRate: 0.002 },
  { name: 'inventory', env: 'onprem', latencyMs: '20-120', errorRate: 0.002 },
  {
    name: 'pricing',
    env: 'aws',
    cloud: { provider: 'aws', region: 'eu-west-1' },
    latencyMs: '8-60',
    errorRate: 0.002,
  },
  {
    name: 'reviews',
    env: 'gcp',
    cloud: { provider: 'gcp', region: 'europe-west4' },
    latencyMs: '6-50',
    errorRate: 0.002,
  },
]

/** The aggregator's name and env. */
export const DEMO_AGGREGATOR = { name: 'shop', env: 'onprem' } as const

export interface DemoTopologyOptions {
  /** Vigil's OTLP/HTTP receiver, e.g. `http://127.0.0.1:4318` (`/v1/traces` is appended) */
  otlpUrl: string
  host?: string
  /** first port (aggregator), services on the next ones; 0 (default) picks free ports */
  basePort?: number
  /** how often each service's BatchSpanProcessor exports; default 1000 ms */
  exportEveryMs?: number
  /** PRNG seed for the mocks' latencies and failures */
  seed?: number
  /** the downstream services (default DEMO_SERVICES) */
  services?: readonly TopologyServiceSpec[]
}

export interface TopologyService {
  readonly name: string
  readonly env: string
  readonly url: string
  readonly mock: MockService
}

export interface DemoTopology {
  /** the aggregator: put it behind the gateway (`GET /shop/...`) */
  readonly aggregator: { name: string; env: string; url: string; port: number }
  readonly services: readonly TopologyService[]
  service(name: string): TopologyService
  /** exports every span ended so far */
  flush(): Promise<void>
  /** stops the servers and flushes and shuts down the exporters */
  close(): Promise<void>
}

/** How long closing waits for the last span exports; later ones are dropped. */
const CLOSE_FLUSH_MS = 2_000
/** One export's patience, its own retries included (the exporter's default is 10 s). */
const EXPORT_TIMEOUT_MS = 2_000
/** Waits before sending a failed batch again: a loaded receiver answers 503 with `Retry-After: 5`. */
const RETRY_DELAYS_MS = [2_000, 5_000, 5_000]

/**
 * Sends a failed batch again a few times. The exporter's own retries would honour the receiver's
 * `Retry-After` only within its timeout, and with its default 10 s timeout a topology closing after
 * Vigil stopped waits that out for every queued batch; with a short timeout and the retries here,
 * `close` stops them at once and drops what is still queued.
 */
class RetryingExporter implements SpanExporter {
  #closed = false
  readonly #waiting = new Map<NodeJS.Timeout, () => void>()

  constructor(private readonly inner: SpanExporter) {}

  export(spans: ReadableSpan[], done: (result: ExportResult) => void): void {
    const attempt = (n: number): void => {
      if (this.#closed) return done({ code: ExportResultCode.FAILED })
      this.inner.export(spans, (r) => {
        if (r.code === ExportResultCode.SUCCESS || this.#closed || n >= RETRY_DELAYS_MS.length) return done(r)
        const timer = setTimeout(() => {
          this.#waiting.delete(timer)
          attempt(n + 1)
        }, RETRY_DELAYS_MS[n])
        this.#waiting.set(timer, () => done(r))
      })
    }
    attempt(0)
  }

  /** Stops retrying: batches waiting to be sent again, and every later one, fail at once. */
  close(): void {
    this.#closed = true
    for (const [timer, fail] of this.#waiting) {
      clearTimeout(timer)
      fail()
    }
    this.#waiting.clear()
  }

  async shutdown(): Promise<void> {
    await this.inner.shutdown()
  }

  async forceFlush(): Promise<void> {
    await this.inner.forceFlush?.()
  }
}

const propagator = new W3CTraceContextPropagator()

function provider(
  spec: { name: string; env: string; cloud?: { provider: string; region: string } },
  url: string,
  everyMs: number,
  instance: string,
  exporters: RetryingExporter[],
): BasicTracerProvider {
  const exporter = new RetryingExporter(
    new OTLPTraceExporter({ url: `${url.replace(/\/$/, '')}/v1/traces`, timeoutMillis: EXPORT_TIMEOUT_MS }),
  )
  exporters.push(exporter)
  const attrs: Record<string, string> = {
    'service.name': spec.name,
    'deployment.environment.name': spec.env,
    'service.instance.id': instance,
  }
  if (spec.cloud !== undefined) {
    attrs['cloud.provider'] = spec.cloud.provider
    attrs['cloud.region'] = spec.cloud.region
  }
  return new BasicTracerProvider({
    resource: resourceFromAttributes(attrs),
    spanProcessors: [
      new BatchSpanProcessor(exporter, {
        scheduledDelayMillis: everyMs,
        maxQueueSize: 20_000,
        maxExportBatchSize: 512,
      }),
    ],
  })
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name]
  return Array.isArray(v) ? v[0] : v
}

/** A server span for an incoming request, ended (with its status) when the response finishes. */
function serverSpan(tracer: Tracer, req: IncomingMessage, res: ServerResponse): { span: Span; ctx: Context } {
  const parent = propagator.extract(ROOT_CONTEXT, req.headers, defaultTextMapGetter)
  const path = (req.url ?? '/').split('?')[0]
  const requestId = headerOf(req, 'x-request-id')
  const span = tracer.startSpan(
    `${req.method ?? 'GET'} ${path}`,
    {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': req.method ?? 'GET',
        'url.path': path,
        ...(requestId !== undefined ? { 'http.request.header.x-request-id': [requestId] } : {}),
      },
    },
    parent,
  )
  let ended = false
  const end = (status: number | null) => {
    if (ended) return
    ended = true
    if (status !== null) span.setAttribute('http.response.status_code', status)
    if (status === null || status >= 500)
      span.setStatus({
        code: SpanStatusCode.ERROR,
        message: status === null ? 'connection reset' : `HTTP ${status}`,
      })
    span.end()
  }
  res.once('finish', () => end(res.statusCode))
  res.once('close', () => end(res.writableFinished ? res.statusCode : null))
  return { span, ctx: trace.setSpan(parent, span) }
}

/** Starts the topology; resolves once every service listens. */
export async function startDemoTopology(opts: DemoTopologyOptions): Promise<DemoTopology> {
  const host = opts.host ?? '127.0.0.1'
  const every = opts.exportEveryMs ?? 1_000
  const specs = opts.services ?? DEMO_SERVICES
  const base = opts.basePort ?? 0
  const providers: BasicTracerProvider[] = []
  const exporters: RetryingExporter[] = []
  const services: TopologyService[] = []
  const instanceOf = (name: string) => `${name}-${process.pid}-1`
  try {
    for (const [i, spec] of specs.entries()) {
      const p = provider(spec, opts.otlpUrl, every, instanceOf(spec.name), exporters)
      providers.push(p)
      const tracer = p.getTracer('vigil-demo-topology', '1.0.0')
      const mock = await startMockService({
        name: spec.name,
        host,
        port: base === 0 ? 0 : base + 1 + i,
        latencyMs: spec.latencyMs,
        errorRate: spec.errorRate,
        seed: opts.seed === undefined ? undefined : opts.seed + i,
        instrument: (req, res) => void serverSpan(tracer, req, res),
      })
      services.push({ name: spec.name, env: spec.env, url: mock.url, mock })
    }
  } catch (err) {
    await Promise.all(services.map((s) => s.mock.close()))
    await Promise.all(providers.map((p) => p.shutdown().catch(() => {})))
    throw err
  }

  // ---- the aggregator ----
  const aggProvider = provider(
    DEMO_AGGREGATOR,
    opts.otlpUrl,
    every,
    instanceOf(DEMO_AGGREGATOR.name),
    exporters,
  )
  providers.push(aggProvider)
  const tracer = aggProvider.getTracer('vigil-demo-topology', '1.0.0')
  const agent = new Agent({ connections: 256, keepAliveTimeout: 10_000 })
  const byName = new Map(services.map((s) => [s.name, s]))
  const sequence = services.filter((s) => s.name === 'auth')
  const parallel = services.filter((s) => s.name !== 'auth')

  const call = async (svc: TopologyService, ctx: Context, path: string, requestId: string | undefined) => {
    const span = tracer.startSpan(
      `GET ${svc.name}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          'peer.service': svc.name,
          'server.address': new URL(svc.url).hostname,
          'url.full': `${svc.url}${path}`,
        },
      },
      ctx,
    )
    const headers: Record<string, string> = {}
    propagator.inject(trace.setSpan(ctx, span), headers, defaultTextMapSetter)
    if (requestId !== undefined) headers['x-request-id'] = requestId
    try {
      const res = await request(`${svc.url}${path}`, {
        headers,
        dispatcher: agent,
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      })
      await res.body.dump()
      span.setAttribute('http.response.status_code', res.statusCode)
      if (res.statusCode >= 500)
        span.setStatus({ code: SpanStatusCode.ERROR, message: `HTTP ${res.statusCode}` })
      return res.statusCode < 500
    } catch (err) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message })
      return false
    } finally {
      span.end()
    }
  }

  const server: Server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
    const path = (req.url ?? '/').split('?')[0]
    if (path === '/health') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","service":"shop"}')
      return
    }
    const { ctx } = serverSpan(tracer, req, res)
    const requestId = headerOf(req, 'x-request-id')
    req.resume()
    void (async () => {
      let ok = true
      for (const s of sequence) ok = (await call(s, ctx, `/${s.name}${path}`, requestId)) && ok
      const results = await Promise.all(parallel.map((s) => call(s, ctx, `/${s.name}${path}`, requestId)))
      ok = ok && results.every(Boolean)
      const body = JSON.stringify({ service: 'shop', path, requestId: requestId ?? null, ok })
      res.writeHead(ok ? 200 : 502, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(body),
      })
      res.end(body)
    })()
  })
  server.keepAliveTimeout = 65_000
  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(VGL_ERR_SIM_LISTEN(DEMO_AGGREGATOR.name, `${host}:${base}`, err.code ?? err.message)),
    )
    server.listen(base, host, () => resolve((server.address() as AddressInfo).port))
  }).catch(async (err: unknown) => {
    await Promise.all(services.map((s) => s.mock.close()))
    await Promise.all(providers.map((p) => p.shutdown().catch(() => {})))
    await agent.close()
    throw err
  })

  let closing: Promise<void> | null = null
  return {
    aggregator: { name: DEMO_AGGREGATOR.name, env: DEMO_AGGREGATOR.env, url: `http://${host}:${port}`, port },
    services,
    service(name: string): TopologyService {
      const s = byName.get(name)
      if (s === undefined)
        throw new RangeError(`no service ${name} in the topology (${[...byName.keys()].join(', ')})`)
      return s
    },
    flush: async () => {
      await Promise.all(providers.map((p) => p.forceFlush()))
    },
    close: () =>
      (closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await Promise.all(services.map((s) => s.mock.close()))
        await agent.close()
        let timer: NodeJS.Timeout | undefined
        const shutdown = Promise.all(providers.map((p) => p.shutdown().catch(() => {})))
        await Promise.race([
          shutdown,
          new Promise<void>((resolve) => (timer = setTimeout(resolve, CLOSE_FLUSH_MS))),
        ])
        clearTimeout(timer)
        // what is still queued or waiting to be sent again is dropped: the receiver may be gone
        for (const e of exporters) e.close()
        await shutdown
      })()),
  }
}
