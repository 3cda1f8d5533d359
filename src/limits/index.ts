/**
 * @module Rate limiting: GCRA token buckets per client tier and route priority, in memory or shared
 * through Redis, with runtime multipliers for the control plane. `createAdmission` is the one
 * place a store is chosen.
 */
import { join } from 'node:path'
import { Redis } from 'ioredis'
import type { AuditLog } from '../audit.js'
import type { Config } from '../config/index.js'
import type { FallbackPolicy } from '../config/limits-schema.js'
import { Limiter, type LimiterLogger } from './limiter.js'
import type { LimitStore } from './limit-store.js'
import { MemoryLimitStore } from './memory.js'
import { redisClientOptions, RedisLimitStore, withoutPassword } from './redis.js'
import { FileStateBackend, RedisStateBackend, type StateBackend } from './state.js'

export type { Admission, AdmissionDecision, AdmissionRequest } from './admission.js'
export type { LimitStore, TakeOutcome } from './limit-store.js'
export type { BucketSpec } from './gcra.js'
export { gcraStep, intervalMs, remainingTokens, msUntilFull } from './gcra.js'
export { MemoryLimitStore } from './memory.js'
export { RedisLimitStore, TAKE_LUA } from './redis.js'
export { Limiter } from './limiter.js'
export type {
  BucketView,
  ChangeMeta,
  FallbackView,
  KeyView,
  LimiterDeps,
  LimiterLogger,
  LimiterOptions,
} from './limiter.js'
export type { ControlEntry, Controls, LimitsState, ServiceControls, TierState } from './state.js'
export { liveControls } from './controls.js'
export { etagOf, type WriteCondition } from './etag.js'
export type { AppliedControl, ControlsPatch } from './controls.js'
export type { ClientStatsSnapshot, ClientWindowStats } from './stats.js'
export {
  ClientWindowPublisher,
  clientWindowMessage,
  decodeClientWindow,
  encodeClientWindow,
  mergeClientStats,
  type ClientWindowMessage,
  type ClientWindowPublisherOptions,
  type MergedClientStats,
  type ClientWindowRow,
} from './client-windows.js'
export { ClientIdentity } from './identity.js'

export interface AdmissionDeps {
  logger?: LimiterLogger
  audit?: AuditLog
  clock?: () => number
}

/** Route id as the gateway computes it: the route's name, or its path when unnamed. */
export function routeIdOf(route: { name?: string | undefined; path: string }): string {
  return route.name ?? route.path
}

/**
 * Builds the limiter for a config and loads its persisted state. `limits.store` picks the store:
 * `memory` (state in `limits.dataDir`) or `redis` (buckets and state in Redis, changes published
 * to every gateway).
 *
 * @example
 * const limiter = await createAdmission(config, { logger })
 * const decision = limiter.admit({ routeId, service, priority, cost, headers, remoteAddress }, Date.now())
 */
export async function createAdmission(config: Config, deps: AdmissionDeps = {}): Promise<Limiter> {
  const limits = config.limits
  const routeFallback = new Map<string, FallbackPolicy>()
  for (const r of config.routes)
    if (r.limit?.fallback !== undefined) routeFallback.set(routeIdOf(r), r.limit.fallback)
  let store: LimitStore
  let state: StateBackend
  let onClose: (() => Promise<void>) | undefined
  let redisError = ''
  const kind = limits.store
  switch (kind) {
    case 'memory':
      store = new MemoryLimitStore()
      state = new FileStateBackend(join(limits.dataDir, 'limits-state.json'))
      break
    case 'redis': {
      const client = new Redis(limits.redis.url, redisClientOptions(limits.redis.timeoutMs))
      client.on('error', (err: Error) => (redisError = err.message))
      store = new RedisLimitStore({ client })
      state = new RedisStateBackend(client, limits.redis.keyPrefix)
      onClose = async () => {
        client.disconnect()
      }
      break
    }
    default: {
      const never: never = kind
      throw new Error(`unknown limits.store ${String(never)}`)
    }
  }
  const limiter = new Limiter(
    { limits, services: Object.keys(config.services), routeFallback, keyPrefix: limits.redis.keyPrefix },
    { store, state, ...deps, ...(onClose !== undefined ? { onClose } : {}) },
  )
  if (store instanceof RedisLimitStore) {
    // Start-up waits briefly for Redis; if it is down the limiter starts in fallback and recovers,
    // and the state backend reads the shared tiers and keys once Redis answers.
    const waitMs = Math.max(1000, limits.redis.timeoutMs * 10)
    const up = await store.ready(waitMs).then(
      () => true,
      () => false,
    )
    if (!up) {
      const url = withoutPassword(limits.redis.url)
      const why = redisError || `no answer within ${waitMs} ms`
      deps.logger?.warn(
        { url, err: why },
        `limits: Redis at ${url} is unreachable (${why}); deciding by the fallback policy (${limits.fallback.policy}) with the config's tiers and keys until it answers; check limits.redis.url`,
      )
      limiter.startInFallback(why)
      return limiter
    }
  }
  await limiter.start()
  return limiter
}
