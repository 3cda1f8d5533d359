/**
 * @module `RedisLimitStore`: bucket state shared by every gateway through Redis. One decision is
 * one EVALSHA of `TAKE_LUA` (one round trip, atomic across the decision's keys), recovering from
 * NOSCRIPT (a restarted or flushed Redis) by sending the script body once with EVAL.
 *
 * The client is built so a Redis outage can never stall the gateway: no offline queue (a command
 * while disconnected fails at once), a per-command timeout, one retry at most, and reconnects in
 * the background. Callers (the limiter) turn failures into their fallback policy.
 */
import { createHash } from 'node:crypto'
import { Redis, type RedisOptions } from 'ioredis'
import type { BucketSpec } from './gcra.js'
import type { LimitStore, TakeOutcome } from './limit-store.js'

/**
 * KEYS: bucket keys (one hash slot). ARGV: nowMs, cost, then intervalMs, toleranceMs per key.
 * Mirrors `gcraStep` in gcra.ts; TATs are kept as ms with µs precision (`%.3f`) because Lua's
 * `tostring` keeps only 14 significant digits. A key expires 1 s after its bucket is full again:
 * the TTL runs on Redis's clock, the TAT on the callers', and the slack keeps a slow caller (or a
 * skewed clock) from seeing a half-drained bucket vanish. Returns [refusedIndex (1-based, 0 = admitted),
 * retryAfterMs (-1 = never), tat per key].
 */
export const TAKE_LUA = `
local now = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local n = #KEYS
local tats = {}
local nexts = {}
local refused = 0
local retry = 0
for i = 1, n do
  local interval = tonumber(ARGV[1 + 2 * i])
  local tol = tonumber(ARGV[2 + 2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i])) or 0
  tats[i] = tat
  if tat < now then tat = now end
  local nx = tat + cost * interval
  nexts[i] = nx
  local over = nx - now - tol
  if over > 1e-9 then
    if refused == 0 then refused = i end
    if cost * interval > tol + 1e-9 or retry < 0 then retry = -1 elseif over > retry then retry = over end
  end
end
local out = { tostring(refused), string.format('%.3f', retry) }
if refused == 0 then
  for i = 1, n do
    redis.call('SET', KEYS[i], string.format('%.3f', nexts[i]), 'PX', math.ceil(nexts[i] - now) + 1000)
    out[2 + i] = string.format('%.3f', nexts[i])
  end
else
  for i = 1, n do out[2 + i] = string.format('%.3f', tats[i]) end
end
return out
`

const TAKE_SHA = createHash('sha1').update(TAKE_LUA).digest('hex')

export interface RedisLimitStoreOptions {
  /** `redis://host:port/db`; ignored when `client` is given */
  url?: string
  /** an existing connection to share (not closed by `close()`) */
  client?: Redis
  /** bound on one decision's round trip; slower counts as a failure (ms) */
  commandTimeoutMs?: number
}

/** A Redis URL fit for a log line or an API answer: its password replaced by `***`. */
export function withoutPassword(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@')
  }
}

/** ioredis options that keep a dead or slow Redis from stalling callers. */
export function redisClientOptions(commandTimeoutMs: number): RedisOptions {
  return {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: commandTimeoutMs,
    connectTimeout: 1000,
    // Reconnect forever with a short capped backoff, so the return to Redis is quick and automatic.
    retryStrategy: (times: number) => Math.min(50 * times, 500),
    lazyConnect: false,
  }
}

export class RedisLimitStore implements LimitStore {
  readonly kind = 'redis' as const
  readonly client: Redis
  readonly #owned: boolean

  constructor(opts: RedisLimitStoreOptions) {
    if (opts.client !== undefined) {
      this.client = opts.client
      this.#owned = false
    } else {
      this.client = new Redis(
        opts.url ?? 'redis://127.0.0.1:6379',
        redisClientOptions(opts.commandTimeoutMs ?? 50),
      )
      this.#owned = true
    }
    // Errors are reported through failed commands; an unhandled 'error' event would crash the process.
    this.client.on('error', () => {})
  }

  /** true while the connection is usable */
  get up(): boolean {
    return this.client.status === 'ready'
  }

  /** resolves once connected (for tests and start-up); rejects after `timeoutMs` */
  ready(timeoutMs = 5000): Promise<void> {
    if (this.up) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.client.off('ready', onReady)
        reject(new Error(`Redis not ready after ${timeoutMs} ms`))
      }, timeoutMs)
      const onReady = () => {
        clearTimeout(timer)
        resolve()
      }
      this.client.once('ready', onReady)
    })
  }

  async take(buckets: readonly BucketSpec[], cost: number, nowMs: number): Promise<TakeOutcome> {
    const n = buckets.length
    const args: (string | number)[] = new Array<string | number>(n + 2 + 2 * n)
    for (let i = 0; i < n; i++) args[i] = buckets[i]!.key
    args[n] = nowMs
    args[n + 1] = cost
    for (let i = 0; i < n; i++) {
      args[n + 2 + 2 * i] = buckets[i]!.intervalMs
      args[n + 3 + 2 * i] = buckets[i]!.toleranceMs
    }
    let reply: unknown
    try {
      reply = await this.client.evalsha(TAKE_SHA, n, ...args)
    } catch (err) {
      if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err
      reply = await this.client.eval(TAKE_LUA, n, ...args)
    }
    const r = reply as string[]
    const refused = Number(r[0]) - 1
    const retry = Number(r[1])
    const tats = new Array<number>(n)
    for (let i = 0; i < n; i++) tats[i] = Number(r[2 + i])
    return {
      allowed: refused < 0,
      refusedIndex: refused,
      retryAfterMs: retry < 0 ? Infinity : retry,
      tatsMs: tats,
    }
  }

  async peek(key: string): Promise<number> {
    const v = await this.client.get(key)
    return v === null ? 0 : Number(v)
  }

  async reset(key: string): Promise<void> {
    await this.client.del(key)
  }

  async close(): Promise<void> {
    if (this.#owned) this.client.disconnect()
  }
}
