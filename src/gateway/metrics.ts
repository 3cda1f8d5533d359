/**
 * @module Gateway metrics in the shared prom-client registry. Request counts (and the requests
 * the gateway answered itself) are plain numbers per route, method and status class that the
 * counter reads when scraped (its `collect` adds what grew since the last scrape), so a request
 * costs one array increment instead of prom-client's label-set hash. Other children are resolved
 * once per route plan.
 */
import { Counter, Gauge, Histogram } from 'prom-client'
import { registry } from '../metrics.js'

/** Methods with their own cached children; anything else is counted as OTHER. */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'OTHER'] as const
const METHOD_INDEX: Record<string, number> = {
  GET: 0,
  HEAD: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  PATCH: 5,
  OPTIONS: 6,
}
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

export function methodIndex(method: string): number {
  return METHOD_INDEX[method] ?? 7
}

/**
 * `stale_connection`: a pooled connection the upstream had closed, found when a request went out
 * on it; the pool sends the request again on a fresh connection (not a retry of the route's policy).
 */
export type UpstreamErrorKind = 'connect' | 'timeout' | 'status_5xx' | 'reset' | 'stale_connection'

/**
 * Why the gateway answered a request without sending it upstream (the `reason` label of
 * `vigil_gateway_refused_total`): the rate limiter refused it (429) or its API key is unknown
 * (401); its body is over the route's limit (413); the service has no target that is up by its
 * health checks, or none at all (503), or every such target's breaker is open (503); the client
 * left before a first try (499, e.g. while its body was still being read). A closed set, so the
 * counter's series stay bounded by the routes.
 */
export const REFUSAL_REASONS = [
  'rate_limited',
  'unknown_api_key',
  'body_too_large',
  'no_target',
  'circuit_open',
  'client_gone',
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]
const REFUSAL_INDEX = Object.fromEntries(REFUSAL_REASONS.map((r, i) => [r, i])) as Record<
  RefusalReason,
  number
>

/** What the live gateways expose for the collect-time gauges. */
export interface GaugeSource {
  inFlight(): number
  breakerStates(): Iterable<{ service: string; target: string; state: number }>
}

const sources = new Set<GaugeSource>()

let m: {
  requests: Counter<'route' | 'service' | 'method' | 'status_class'>
  refused: Counter<'route' | 'service' | 'method' | 'reason' | 'status_class'>
  duration: Histogram<'route' | 'service'>
  upstreamErrors: Counter<'service' | 'kind'>
  retries: Counter<'route' | 'service'>
  retryBudgetExhausted: Counter<'service'>
} | null = null

function metrics(): NonNullable<typeof m> {
  if (m !== null) return m
  // Gauges are computed when scraped, from whichever gateways are alive in this process.
  new Gauge({
    name: 'vigil_gateway_in_flight_requests',
    help: 'Requests being served by the gateway',
    registers: [registry],
    collect() {
      let n = 0
      for (const s of sources) n += s.inFlight()
      this.set(n)
    },
  })
  new Gauge({
    name: 'vigil_gateway_breaker_state',
    help: 'Circuit breaker state per target: 0 closed, 1 half-open, 2 open',
    labelNames: ['service', 'target'],
    registers: [registry],
    collect() {
      this.reset()
      for (const s of sources)
        for (const b of s.breakerStates()) this.set({ service: b.service, target: b.target }, b.state)
    },
  })
  m = {
    requests: new Counter({
      name: 'vigil_gateway_requests_total',
      help: 'Requests answered by the gateway',
      labelNames: ['route', 'service', 'method', 'status_class'],
      registers: [registry],
      collect() {
        for (const c of requestCounts.values()) c.flush(this)
      },
    }),
    refused: new Counter({
      name: 'vigil_gateway_refused_total',
      help: 'Requests the gateway answered itself without sending them upstream (also in vigil_gateway_requests_total), by reason',
      labelNames: ['route', 'service', 'method', 'reason', 'status_class'],
      registers: [registry],
      collect() {
        for (const c of refusedCounts.values()) c.flush(this)
      },
    }),
    duration: new Histogram({
      name: 'vigil_gateway_request_duration_seconds',
      help: 'Time from request received to response finished, including retries, of requests sent to an upstream (not of those the gateway refused itself)',
      labelNames: ['route', 'service'],
      buckets: [...DURATION_BUCKETS],
      registers: [registry],
      collect() {
        for (const d of durationCounts.values()) d.flush(this)
      },
    }),
    upstreamErrors: new Counter({
      name: 'vigil_gateway_upstream_errors_total',
      help: 'Failed upstream attempts by kind (connect, timeout, status_5xx, reset, stale_connection)',
      labelNames: ['service', 'kind'],
      registers: [registry],
    }),
    retries: new Counter({
      name: 'vigil_gateway_retries_total',
      help: 'Retried upstream attempts',
      labelNames: ['route', 'service'],
      registers: [registry],
    }),
    retryBudgetExhausted: new Counter({
      name: 'vigil_gateway_retry_budget_exhausted_total',
      help: 'Retries refused because the retry budget was spent',
      labelNames: ['service'],
      registers: [registry],
    }),
  }
  return m
}

export function registerGaugeSource(s: GaugeSource): void {
  metrics()
  sources.add(s)
}

export function unregisterGaugeSource(s: GaugeSource): void {
  sources.delete(s)
}

type Inc = { inc(n?: number): void }

/** A label whose values index one axis of a `CellCounts` grid. */
interface Axis {
  readonly name: string
  readonly values: readonly string[]
}

const METHOD_AXIS: Axis = { name: 'method', values: METHODS }
const STATUS_AXIS: Axis = { name: 'status_class', values: STATUS_CLASSES }
const REQUEST_AXES = [METHOD_AXIS, STATUS_AXIS] as const
const REFUSED_AXES = [METHOD_AXIS, { name: 'reason', values: REFUSAL_REASONS }, STATUS_AXIS] as const

/** The status class's index in STATUS_CLASSES (0 = 1xx ... 4 = 5xx). */
function statusClassIndex(status: number): number {
  return status < 200 ? 0 : status >= 500 ? 4 : ((status / 100) | 0) - 1
}

/**
 * Counts of one route and service in a grid of label values (the last axis varies fastest),
 * shared by every route plan with those names, so a reload continues the counts instead of
 * starting a second set that the counter would add up.
 */
class CellCounts {
  readonly counts: Float64Array
  readonly #reported: Float64Array
  readonly #labels: (Record<string, string> | undefined)[]

  constructor(
    readonly route: string,
    readonly service: string,
    readonly axes: readonly Axis[],
  ) {
    const cells = axes.reduce((n, a) => n * a.values.length, 1)
    this.counts = new Float64Array(cells)
    this.#reported = new Float64Array(cells)
    this.#labels = new Array<undefined>(cells).fill(undefined)
  }

  /** Adds what was counted since the last scrape to the prom-client counter. */
  flush(counter: Counter<string>): void {
    const counts = this.counts
    const reported = this.#reported
    for (let k = 0; k < counts.length; k++) {
      const delta = counts[k] - reported[k]
      if (delta === 0) continue
      reported[k] = counts[k]
      counter.inc((this.#labels[k] ??= this.#labelsOf(k)), delta)
    }
  }

  #labelsOf(cell: number): Record<string, string> {
    // labels in the counter's order (the exposition prints them as the object holds them)
    const labels: Record<string, string> = { route: this.route, service: this.service }
    let stride = this.counts.length
    for (const { name, values } of this.axes) {
      stride /= values.length
      labels[name] = values[Math.floor(cell / stride) % values.length]
    }
    return labels
  }
}

/** route + NUL + service → its counts; bounded by the route names ever configured, as label sets are */
const requestCounts = new Map<string, CellCounts>()
/** route + NUL + service → its refusals, like `requestCounts` */
const refusedCounts = new Map<string, CellCounts>()

/** The entry of `route` and `service` in one of these maps, made on first use. */
function seriesOf<T>(
  map: Map<string, T>,
  route: string,
  service: string,
  make: (r: string, s: string) => T,
): T {
  const key = `${route}\u0000${service}`
  let c = map.get(key)
  if (c === undefined) map.set(key, (c = make(route, service)))
  return c
}
type Observe = { observe(v: number): void }

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const

/** One series of a prom-client histogram as it stores it (what its `get` exports). */
interface HistogramSeries {
  labels: { route: string; service: string }
  bucketValues: Record<number, number>
  sum: number
  count: number
}

/**
 * Request durations of one route and service, counted per bucket in plain numbers and handed to
 * the histogram when scraped: prom-client's `observe` hashes the label set and validates it on
 * every call, about half a microsecond per request. Shared by every plan with those names, as
 * the request counts are.
 */
class DurationCounts implements Observe {
  /** requests per bucket (not cumulative); the last cell is above the largest bound */
  readonly #counts = new Float64Array(DURATION_BUCKETS.length + 1)
  #sum = 0
  readonly #reported = new Float64Array(DURATION_BUCKETS.length + 1)
  #reportedSum = 0
  readonly #labels: { route: string; service: string }

  constructor(route: string, service: string) {
    this.#labels = { route, service }
  }

  observe(seconds: number): void {
    // prom-client's rule: a value equal to a bound is in that bound's bucket
    let i = 0
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++
    this.#counts[i]!++
    this.#sum += seconds
  }

  /**
   * Adds what was observed since the last scrape to the histogram's series, created when absent
   * (as prom-client's own `observe` does, so a registry reset starts the series again from zero).
   */
  flush(h: Histogram<'route' | 'service'>): void {
    const counts = this.#counts
    const reported = this.#reported
    let added = 0
    for (let i = 0; i < counts.length; i++) added += counts[i]! - reported[i]!
    if (added === 0) return
    // prom-client keeps series in `hashMap` under its label-set key (`name:value,` in label order)
    const series = (h as unknown as { hashMap: Record<string, HistogramSeries> }).hashMap
    const key = `route:${this.#labels.route},service:${this.#labels.service},`
    let s = series[key]
    if (s === undefined) {
      const bucketValues: Record<number, number> = {}
      for (const b of DURATION_BUCKETS) bucketValues[b] = 0
      series[key] = s = { labels: { ...this.#labels }, bucketValues, sum: 0, count: 0 }
    }
    for (let i = 0; i < counts.length; i++) {
      const delta = counts[i]! - reported[i]!
      if (delta === 0) continue
      reported[i] = counts[i]!
      // above the largest bound counts only in +Inf, which prom-client exports as `count`
      if (i < DURATION_BUCKETS.length) s.bucketValues[DURATION_BUCKETS[i]!]! += delta
      s.count += delta
    }
    s.sum += this.#sum - this.#reportedSum
    this.#reportedSum = this.#sum
  }
}

/** route + NUL + service → its durations, like `requestCounts` */
const durationCounts = new Map<string, DurationCounts>()

/** Metric children of one route plan. */
export class RouteMetrics {
  readonly #service: string
  /** [method × status class] counts, read by the counter when scraped */
  readonly #requests: Float64Array
  /** [method × refusal reason × status class] counts, read by the counter when scraped */
  readonly #refused: Float64Array
  readonly duration: Observe
  readonly retries: Inc
  readonly budgetExhausted: Inc
  readonly #errors: Record<UpstreamErrorKind, Inc | undefined> = {
    connect: undefined,
    timeout: undefined,
    status_5xx: undefined,
    reset: undefined,
    stale_connection: undefined,
  }

  constructor(route: string, service: string) {
    const mm = metrics()
    this.#service = service
    const cells = (map: Map<string, CellCounts>, axes: readonly Axis[]) =>
      seriesOf(map, route, service, (r, s) => new CellCounts(r, s, axes)).counts
    this.#requests = cells(requestCounts, REQUEST_AXES)
    this.#refused = cells(refusedCounts, REFUSED_AXES)
    this.duration = seriesOf(durationCounts, route, service, (r, s) => new DurationCounts(r, s))
    this.retries = mm.retries.labels({ route, service })
    this.budgetExhausted = mm.retryBudgetExhausted.labels({ service })
  }

  request(methodIdx: number, status: number): void {
    this.#requests[methodIdx * STATUS_CLASSES.length + statusClassIndex(status)]++
  }

  /** A request the gateway answered itself (also counted by `request`), as the rollups' `refused` counts it. */
  refused(methodIdx: number, reason: RefusalReason, status: number): void {
    const cell = (methodIdx * REFUSAL_REASONS.length + REFUSAL_INDEX[reason]) * STATUS_CLASSES.length
    this.#refused[cell + statusClassIndex(status)]++
  }

  upstreamError(kind: UpstreamErrorKind): void {
    let child = this.#errors[kind]
    if (child === undefined) {
      child = metrics().upstreamErrors.labels({ service: this.#service, kind })
      this.#errors[kind] = child
    }
    child.inc()
  }
}
