/**
 * @module Synthetic traces of a declared topology, for tests and benchmarks: a gateway span, the
 * entry service's server span, and for every call a client span in the caller and a server span
 * in the callee, with log-normal own times, own failures that travel up, stages run one after the
 * other and calls of one stage in parallel.
 */
import type { GatewayPolicy } from './model.js'
import type { JourneySpan } from './span.js'
import { normal, type Rng } from './rng.js'

export interface SyntheticService {
  service: string
  env: string
  /** median own time, ms, and the log-normal's sigma */
  medianMs: number
  sigma?: number
  /** chance the service fails by itself */
  errorRatio?: number
  /** stages of calls: stages one after another, calls of one stage in parallel */
  stages?: SyntheticCall[][]
}

export interface SyntheticCall {
  to: SyntheticService
  /** calls made to it (default 1) */
  count?: number
  /** several calls in parallel (default: one after another) */
  parallel?: boolean
  /** network time added by the client span on each side, ms (default 0.5) */
  networkMs?: number
}

export interface SyntheticOptions {
  route: string
  gatewayEnv: string
  /** gateway time before and after the upstream call, ms (default 0.4) */
  gatewayMs?: number
  /** keep the gateway span (the gateway's sampler kept the trace); default true */
  withGatewaySpan?: boolean | ((failed: boolean) => boolean)
  startMs?: number
}

let counter = 0
const hex = (n: number, width: number) => n.toString(16).padStart(width, '0').slice(-width)
const spanId = (rng: Rng) => hex(Math.floor(rng.next() * 2 ** 32), 8) + hex(++counter, 8)
const traceId = (rng: Rng) => spanId(rng) + spanId(rng)

/** Own time of a service (ms). */
function ownTime(s: SyntheticService, rng: Rng): number {
  return s.medianMs * Math.exp((s.sigma ?? 0.3) * normal(rng))
}

/** One trace; returns its spans and whether it failed end to end. */
export function syntheticTrace(
  entry: SyntheticService,
  opts: SyntheticOptions,
  rng: Rng,
): { spans: JourneySpan[]; failed: boolean; latencyMs: number; traceId: string } {
  const spans: JourneySpan[] = []
  const tid = traceId(rng)
  const t0 = opts.startMs ?? 1_700_000_000_000
  const gwMs = opts.gatewayMs ?? 0.4
  const gwId = spanId(rng)
  // one literal shape for every span (spreading a base object made generation the slow part)
  const mk = (
    id: string,
    parentId: string | null,
    s: { service: string; env: string },
    name: string,
    kind: number,
    startTimeMs: number,
    durationMs: number,
    failed: boolean,
    httpStatus: number,
    attributes: JourneySpan['attributes'],
  ): JourneySpan => ({
    traceId: tid,
    spanId: id,
    parentSpanId: parentId,
    service: s.service,
    env: s.env,
    route: '',
    name,
    kind,
    startTimeMs,
    durationMs,
    statusCode: failed ? 2 : 0,
    httpStatus,
    requestId: null,
    source: 'otlp',
    attributes,
  })
  // returns [end time, failed]
  const serve = (s: SyntheticService, parentId: string, start: number): [number, boolean] => {
    const id = spanId(rng)
    const own = ownTime(s, rng)
    let t = start + own / 2
    let childFailed = false
    for (const stage of s.stages ?? []) {
      let stageEnd = t
      for (const call of stage) {
        let ct = t
        const count = call.count ?? 1
        for (let k = 0; k < count; k++) {
          const net = call.networkMs ?? 0.5
          const clientId = spanId(rng)
          const [end, failed] = serve(call.to, clientId, ct + net)
          const clientEnd = end + net
          spans.push(
            mk(clientId, id, s, `GET ${call.to.service}`, 3, ct, clientEnd - ct, failed, failed ? 500 : 200, {
              'peer.service': call.to.service,
            }),
          )
          if (failed) childFailed = true
          stageEnd = Math.max(stageEnd, clientEnd)
          if (call.parallel !== true) ct = clientEnd
        }
      }
      t = stageEnd
    }
    const end = t + own / 2
    const failed = rng.next() < (s.errorRatio ?? 0) || childFailed
    spans.push(
      mk(
        id,
        parentId,
        s,
        `GET /${s.service}`,
        2,
        start,
        end - start,
        failed,
        failed ? (s.stages === undefined ? 500 : 502) : 200,
        {},
      ),
    )
    return [end, failed]
  }
  const [end, failed] = serve(entry, gwId, t0 + gwMs / 2)
  const keep = opts.withGatewaySpan ?? true
  if (typeof keep === 'function' ? keep(failed) : keep)
    spans.push({
      ...mk(
        gwId,
        null,
        { service: entry.service, env: opts.gatewayEnv },
        `GET ${opts.route}`,
        2,
        t0,
        end + gwMs / 2 - t0,
        failed,
        failed ? 502 : 200,
        {
          'vigil.attempts': 1,
          'vigil.sample_reason': failed ? 'error' : 'sampled',
        },
      ),
      source: 'gateway',
      route: opts.route,
      requestId: tid.slice(0, 16),
    })
  return { spans, failed, latencyMs: end + gwMs / 2 - t0, traceId: tid }
}

/**
 * The gateway's span of a request it answered by itself, never sent upstream (`vigil.attempts` 0):
 * a 429 from the limiter, or a 503 with no healthy target. The trace is that one span.
 */
export function refusedGatewaySpan(
  opts: { route: string; service: string; gatewayEnv: string; startMs: number; status: 429 | 503 },
  n: number,
): JourneySpan {
  const failed = opts.status === 503
  return {
    traceId: hex(n, 16).padStart(32, 'f'),
    spanId: hex(n, 16),
    parentSpanId: null,
    service: opts.service,
    env: opts.gatewayEnv,
    route: opts.route,
    name: `GET ${opts.route}`,
    kind: 2,
    startTimeMs: opts.startMs,
    durationMs: 0.2,
    statusCode: failed ? 2 : 0,
    httpStatus: opts.status,
    requestId: null,
    source: 'gateway',
    attributes: {
      'vigil.outcome': failed ? 'no_target' : 'limited',
      'vigil.attempts': 0,
      'vigil.sample_reason': failed ? 'error' : 'sampled',
    },
  }
}

/**
 * The five-service journey the tests and the benchmark use: gateway → shop (onprem) → auth
 * (onprem), then inventory (onprem), pricing (aws) and reviews (gcp) in parallel.
 */
export function fiveServiceTopology(
  faults: Partial<Record<string, { errorRatio?: number; factor?: number }>> = {},
) {
  const f = (name: string) => faults[name] ?? {}
  const svc = (service: string, env: string, medianMs: number, errorRatio = 0.002): SyntheticService => ({
    service,
    env,
    medianMs: medianMs * (f(service).factor ?? 1),
    sigma: 0.35,
    errorRatio: f(service).errorRatio ?? errorRatio,
  })
  const auth = svc('auth', 'onprem', 4)
  const inventory = svc('inventory', 'onprem', 12)
  const pricing = svc('pricing', 'aws', 20)
  const reviews = svc('reviews', 'gcp', 15)
  const shop: SyntheticService = {
    ...svc('shop', 'onprem', 3),
    stages: [[{ to: auth }], [{ to: inventory, parallel: true }, { to: pricing }, { to: reviews }]],
  }
  return { shop, auth, inventory, pricing, reviews }
}

/** The gateway's policy with no retries, no breaker and one target (a plain pass-through). */
export const NO_RETRY_POLICY: GatewayPolicy = {
  attempts: 1,
  backoffBaseMs: 25,
  backoffMaxMs: 1000,
  retryOn: ['connect-error', 'timeout', '502', '503', '504'],
  firstByteTimeoutMs: 15_000,
  totalTimeoutMs: 30_000,
  breaker: { enabled: false, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 },
  healthCheckIntervalMs: null,
  targets: 1,
  idempotentShare: 1,
}
