/** @module The gateway data plane's public surface. */
export { createGateway } from './server.js'
export type { Gateway, GatewayOptions, ServedCounts } from './server.js'
export type { RouteView, ServiceView, TargetView } from './views.js'
export { backoffMs } from './backoff.js'
export { CircuitBreaker } from './breaker.js'
export type { BreakerState, BreakerOptions } from './breaker.js'
export { RetryBudget } from './retry-budget.js'
