/**
 * @module The route table: built once per config into a find-my-way radix router whose stores
 * are precomputed `RoutePlan`s (service, balancer, timeouts, retry policy, limit fields, series
 * recorder, metric children). A reload builds a new table and swaps one reference; in-flight
 * requests keep the table they started on.
 */
import { METHODS as HTTP_METHODS } from 'node:http'
import FindMyWay from 'find-my-way'
import type { Config, RouteConfig, ServiceConfig } from '../config/schema.js'
import { routeName } from '../config/schema.js'
import type { Recorder, SeriesRecorder } from '../telemetry/recorder.js'
import { Balancer } from './balancer.js'
import { RouteMetrics } from './metrics.js'
import { RetryBudget } from './retry-budget.js'
import { TargetState, type HealthChangeListener } from './target.js'
import type { RouteView, ServiceView } from './views.js'

const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])

export class ServiceRuntime {
  readonly name: string
  readonly config: ServiceConfig
  readonly balancer: Balancer
  readonly budget: RetryBudget

  constructor(name: string, config: ServiceConfig, targets: TargetState[]) {
    this.name = name
    this.config = config
    this.balancer = new Balancer(config.balancer, targets)
    this.budget = new RetryBudget(config.retryBudget.ratio, config.retryBudget.minRetries)
  }

  view(nowMs: number): ServiceView {
    return {
      name: this.name,
      balancer: this.config.balancer,
      targets: this.balancer.targets.map((t) => t.view(nowMs)),
    }
  }
}

/** Everything a request on one route needs, resolved at build time. */
export class RoutePlan {
  readonly id: string
  readonly name: string
  readonly config: RouteConfig
  readonly service: ServiceRuntime
  readonly connectTimeoutMs: number
  readonly firstByteTimeoutMs: number
  readonly totalTimeoutMs: number
  readonly bodyIdleTimeoutMs: number
  readonly bodyLimitBytes: number
  readonly retryBufferBytes: number
  readonly attempts: number
  readonly backoffBaseMs: number
  readonly backoffMaxMs: number
  readonly retryOnConnect: boolean
  readonly retryOnTimeout: boolean
  readonly retryOn502: boolean
  readonly retryOn503: boolean
  readonly retryOn504: boolean
  readonly priority: string
  readonly cost: number
  readonly series: SeriesRecorder
  readonly metrics: RouteMetrics

  constructor(route: RouteConfig, service: ServiceRuntime, cfg: Config, recorder: Recorder) {
    this.name = routeName(route)
    this.id = this.name
    this.config = route
    this.service = service
    this.connectTimeoutMs = route.connectTimeoutMs
    this.firstByteTimeoutMs = route.firstByteTimeoutMs
    this.totalTimeoutMs = route.totalTimeoutMs
    this.bodyIdleTimeoutMs = route.bodyIdleTimeoutMs
    this.bodyLimitBytes = route.bodyLimitBytes ?? cfg.gateway.bodyLimitBytes
    this.retryBufferBytes = route.retry.attempts > 1 ? cfg.gateway.retryBufferBytes : 0
    this.attempts = route.retry.attempts
    this.backoffBaseMs = route.retry.backoffBaseMs
    this.backoffMaxMs = route.retry.backoffMaxMs
    const on = new Set(route.retry.on)
    this.retryOnConnect = on.has('connect-error')
    this.retryOnTimeout = on.has('timeout')
    this.retryOn502 = on.has('502')
    this.retryOn503 = on.has('503')
    this.retryOn504 = on.has('504')
    this.priority = route.limit?.priority ?? 'normal'
    this.cost = route.limit?.cost ?? 1
    this.series = recorder.series({ service: service.name, route: this.name, env: cfg.env })
    this.metrics = new RouteMetrics(this.name, service.name)
  }

  retryStatus(status: number): boolean {
    return (
      (status === 502 && this.retryOn502) ||
      (status === 503 && this.retryOn503) ||
      (status === 504 && this.retryOn504)
    )
  }

  static idempotent(method: string): boolean {
    return IDEMPOTENT.has(method)
  }

  view(): RouteView {
    const r = this.config
    return {
      name: this.name,
      path: r.path,
      match: r.path.includes(':') ? 'param' : r.match,
      methods: r.methods ?? null,
      service: this.service.name,
      priority: this.priority,
    }
  }
}

/** Pools and breakers live as long as some table uses them: keyed by service and target URL. */
export class TargetRegistry {
  readonly #targets = new Map<string, TargetState>()

  constructor(readonly onHealthChange: HealthChangeListener | null = null) {}

  acquire(service: string, url: string, weight: number, cfg: ServiceConfig): TargetState {
    const key = `${service}\n${url}`
    let t = this.#targets.get(key)
    if (t === undefined) {
      t = new TargetState(service, url, weight, cfg)
      t.onHealthChange = this.onHealthChange
      this.#targets.set(key, t)
    } else {
      t.weight = weight
      t.breaker.configure(cfg.breaker)
    }
    t.configureHealth(cfg)
    t.refs++
    return t
  }

  /** Drops one table's reference; targets nobody uses any more are closed after their requests drain. */
  release(t: TargetState): Promise<void> | null {
    t.refs--
    if (t.refs > 0) return null
    this.#targets.delete(`${t.service}\n${t.url}`)
    return t.close(true)
  }

  all(): IterableIterator<TargetState> {
    return this.#targets.values()
  }
}

export interface RouteMatch {
  plan: RoutePlan
}

export class RouteTable {
  readonly #router: FindMyWay.Instance<FindMyWay.HTTPVersion.V1>
  readonly plans: RoutePlan[] = []
  readonly services = new Map<string, ServiceRuntime>()
  readonly targets: TargetState[] = []
  /** requests started on this table and not yet finished */
  inFlight = 0
  retired = false

  constructor(cfg: Config, recorder: Recorder, registry: TargetRegistry) {
    this.#router = FindMyWay({ ignoreTrailingSlash: false, caseSensitive: true, maxParamLength: 500 })
    for (const [name, svc] of Object.entries(cfg.services)) {
      const targets = svc.targets.map((t) =>
        typeof t === 'string'
          ? registry.acquire(name, t, 1, svc)
          : registry.acquire(name, t.url, t.weight, svc),
      )
      this.targets.push(...targets)
      this.services.set(name, new ServiceRuntime(name, svc, targets))
    }
    for (const route of cfg.routes) {
      const plan = new RoutePlan(route, this.services.get(route.service)!, cfg, recorder)
      this.plans.push(plan)
      const methods = (route.methods ?? HTTP_METHODS.filter((m) => m !== 'CONNECT')) as FindMyWay.HTTPMethod[]
      const path = route.path
      const store: RouteMatch = { plan }
      if (route.match === 'exact') {
        this.#router.on(methods, path, noop, store)
      } else {
        const base = path.endsWith('/') ? path.slice(0, -1) : path
        if (base !== '') this.#router.on(methods, base, noop, store)
        this.#router.on(methods, `${base}/*`, noop, store)
      }
    }
  }

  /** The plan for a method and path (query string already removed), or null. */
  find(method: string, path: string): RoutePlan | null {
    const found = this.#router.find(method as FindMyWay.HTTPMethod, path)
    return found === null ? null : (found.store as RouteMatch).plan
  }
}

function noop(): void {}
