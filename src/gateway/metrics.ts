/**
 * @module Gateway metrics in the shared prom-client registry. Request counts are plain numbers
 * per route, method and status class that the counter reads when scraped (its `collect` adds
 * what grew since the last scrape), so a request costs one array increment instead of
 * prom-client's label-set hash. Other children are resolved once per route plan.
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

export type UpstreamErrorKind = 'connect' | 'timeout' | 'status_5xx' | 'reset'

/** What the live gateways expose for the collect-time gauges. */
export interface GaugeSource {
  inFlight(): number
  breakerStates(): Iterable<{ service: string; target: string; state: number }>
}

const sources = new Set<GaugeSource>()

let m: {
  requests: Counter<'route' | 'service' | 'method' | 'status_class'>
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
      help: 'Failed upstream attempts by kind (connect, timeout, status_5xx, reset)',
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

const CELLS = METHODS.length * STATUS_CLASSES.length

/**
 * Request counts of one route and service, shared by every route plan with those names, so a
 * reload continues the counts instead of starting a second set that the counter would add up.
 */
class RequestCounts {
  readonly counts = new Float64Array(CELLS)
  readonly #reported = new Float64Array(CELLS)
  readonly #labels: ({ route: string; service: string; method: string; status_class: string } | undefined)[] =
    new Array<undefined>(CELLS).fill(undefined)

  constructor(
    readonly route: string,
    readonly service: string,
  ) {}

  /** Adds what was counted since the last scrape to the prom-client counter. */
  flush(counter: Counter<'route' | 'service' | 'method' | 'status_class'>): void {
    const counts = this.counts
    const reported = this.#reported
    for (let k = 0; k < CELLS; k++) {
      const delta = counts[k] - reported[k]
      if (delta === 0) continue
      reported[k] = counts[k]
      const labels = (this.#labels[k] ??= {
        route: this.route,
        service: this.service,
        method: METHODS[Math.floor(k / STATUS_CLASSES.length)],
        status_class: STATUS_CLASSES[k % STATUS_CLASSES.length],
      })
      counter.inc(labels, delta)
    }
  }
}

/** route + NUL + service → its counts; bounded by the route names ever configured, as label sets are */
const requestCounts = new Map<string, RequestCounts>()

/** The entry of `route` and `service` in one of these maps, made on first use. */
function seriesOf<T>(
  map: Map<string, T>,
  route: string,
  service: string,
  make: new (r: string, s: string) => T,
): T {
  const key = `${route}\u0000${service}`
  let c = map.get(key)
  if (c === undefined) map.set(key, (c = new make(route, service)))
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
  readonly duration: Observe
  readonly retries: Inc
  readonly budgetExhausted: Inc
  readonly #errors: Record<UpstreamErrorKind, Inc | undefined> = {
    connect: undefined,
    timeout: undefined,
    status_5xx: undefined,
    reset: undefined,
  }

  constructor(route: string, service: string) {
    const mm = metrics()
    this.#service = service
    this.#requests = seriesOf(requestCounts, route, service, RequestCounts).counts
    this.duration = seriesOf(durationCounts, route, service, DurationCounts)
    this.retries = mm.retries.labels({ route, service })
    this.budgetExhausted = mm.retryBudgetExhausted.labels({ service })
  }

  request(methodIdx: number, status: number): void {
    const cls = status < 200 ? 0 : status >= 500 ? 4 : ((status / 100) | 0) - 1
    this.#requests[methodIdx * STATUS_CLASSES.length + cls]++
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
