/**
 * @module `Limiter`: the rate limiter behind the gateway's `Admission` seam, and the admin and
 * control surface over it. All shared logic lives here once — identity, tiers, per-key overrides,
 * runtime multipliers and defensive mode, priority shedding against a service budget, the Redis
 * fallback policy, headers and problem bodies, client statistics, metrics. Stores only store.
 *
 * Priority shedding: the service budget is one bucket per service shared by all its traffic. A
 * request of rank r (class rank × tiers + tier rank) may only take tokens while more than
 * `reserve(r) = burst · (N − 1 − r) / N` remain, so as the bucket drains the lowest ranks stop
 * first and the highest rank (critical Premium, reserve 0) is the last to be refused.
 */
import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit.js'
import { limitsProblems, type FallbackPolicy, type LimitsConfig } from '../config/limits-schema.js'
import {
  VGL_ERR_LIMITS_BAD_INPUT,
  VGL_ERR_LIMITS_CONFIG,
  VGL_ERR_LIMITS_KEY_EXISTS,
  VGL_ERR_LIMITS_REDIS_UNAVAILABLE,
  VGL_ERR_LIMITS_STATE_UNAVAILABLE,
  VGL_ERR_LIMITS_UNKNOWN_KEY,
  VGL_ERR_LIMITS_UNKNOWN_TIER,
  type VigilError,
} from '../errors.js'
import type { Admission, AdmissionDecision, AdmissionRequest } from './admission.js'
import {
  appliedControls,
  checkPatch,
  checkPatchNames,
  liveControls,
  patchControls,
  type AppliedControl,
  type ControlsPatch,
} from './controls.js'
import { checkCondition, etagOf, type WriteCondition } from './etag.js'
import { msUntilFull, remainingTokens, type BucketSpec } from './gcra.js'
import {
  limitItem,
  policyItem,
  PROBLEM_TYPES,
  retryAfterSec,
  type Header,
  type RefusingLimit,
} from './headers.js'
import { ClientIdentity } from './identity.js'
import type { LimitStore, TakeOutcome } from './limit-store.js'
import { MemoryLimitStore } from './memory.js'
import { withoutPassword } from './redis.js'
import {
  addFillSource,
  countDecision,
  defensiveActive,
  fallbackActive,
  fallbackDecisions,
  fallbackTransitions,
} from './metrics.js'
import {
  BUILTIN_TIERS,
  emptyControls,
  hashKey,
  mergeState,
  seedState,
  type Controls,
  type KeyState,
  type LimitsState,
  type StateBackend,
  type TierState,
} from './state.js'
import { ClientStats, type ClientStatsSnapshot } from './stats.js'

/** The slice of a pino logger the limiter uses. */
export interface LimiterLogger {
  info(obj: object, msg?: string): void
  warn(obj: object, msg?: string): void
}

export interface LimiterOptions {
  limits: LimitsConfig
  /** services that exist, for bucket inspection */
  services: readonly string[]
  /** per-route fallback overrides by route id */
  routeFallback?: ReadonlyMap<string, FallbackPolicy>
  /** prefix of every bucket key */
  keyPrefix: string
}

export interface LimiterDeps {
  store: LimitStore
  state: StateBackend
  audit?: AuditLog
  logger?: LimiterLogger
  /** epoch ms; `Date.now` unless a test passes a fake */
  clock?: () => number
  /** called by close() after the limiter's own resources (e.g. to close a shared Redis client) */
  onClose?: () => Promise<void>
}

/** Who made a change and why; both go to the audit log and into 429 explanations. */
export interface ChangeMeta {
  actor: string
  reason: string
}

export interface KeyView {
  id: string
  tier: string
  ratePerSec?: number
  burst?: number
  revoked: boolean
  /** when the admin API created it; null for a key from the config file */
  createdAt: string | null
}

export interface BucketView {
  service: string
  key: string
  tier: string
  ratePerSec: number
  burst: number
  remaining: number
  msUntilFull: number
}

export interface FallbackView {
  store: 'memory' | 'redis'
  active: boolean
  reason: string | null
  sinceMs: number | null
  policy: FallbackPolicy
  localShare: number
}

interface Budget {
  ratePerSec: number
  burst: number
  intervalMs: number
}

/** What one request is limited by, resolved before the store is asked. */
interface Plan {
  req: AdmissionRequest
  clientId: string
  tierName: string
  rate: number
  burst: number
  /** product of the runtime multipliers in force for this request */
  multiplier: number
  /** the defensive-mode factor (1 when off) */
  defensive: number
  /** a runtime control lowers this request's limit (defensive mode, a multiplier below 1) */
  tightened: boolean
  budget: Budget | null
  reserve: number
}

const KEY_CACHE_MAX = 10_000
/** compare-and-set attempts of one change before it gives up (only under heavy contention) */
const MAX_SAVE_ATTEMPTS = 20

export class Limiter implements Admission {
  readonly #cfg: LimitsConfig
  readonly #opts: LimiterOptions
  readonly #store: LimitStore
  readonly #local: MemoryLimitStore | null
  readonly #backend: StateBackend
  readonly #audit: AuditLog | null
  readonly #log: LimiterLogger | null
  readonly #clock: () => number
  readonly #identity: ClientIdentity
  readonly #stats: ClientStats
  readonly #seed: LimitsState
  readonly #budgets = new Map<string, Budget>()
  readonly #classRank = new Map<string, number>()
  readonly #classCount: number
  readonly #dropFill: () => void
  readonly #onClose: (() => Promise<void>) | undefined
  #state: LimitsState
  /** the controls in force (expired entries dropped), refreshed when the next one expires */
  #live: Controls = emptyControls()
  #nextExpiryMs = Infinity
  #tierCount = 2
  #byHash = new Map<string, KeyState>()
  /** raw key → key (or null for unknown), so the sha256 runs once per distinct key */
  #byRaw = new Map<string, KeyState | null>()
  /** no multiplier and no defensive mode in force: every request runs at its tier's own limit */
  #liveEmpty = true
  /**
   * Bucket keys by service, and of each client on it: built once, so the store's map hashes a
   * string whose hash V8 has kept rather than a new concatenation on every request.
   */
  readonly #bucketKeys = new Map<string, { prefix: string; budget: string; clients: Map<string, string> }>()
  #fb = { active: false, reason: null as string | null, sinceMs: 0, retryAtMs: 0 }
  /**
   * The outage the log has told of and not yet closed: it started at `sinceMs`, Redis last
   * answered again at `recoveredMs` (null while still away) and came back then failed `relapses`
   * times. Its one "back" line waits until Redis has answered for `fallback.settleMs`.
   */
  #outage: {
    sinceMs: number
    recoveredMs: number | null
    relapses: number
    /** logs the end settleMs after Redis came back, when no decision comes to do it */
    timer: NodeJS.Timeout | null
  } | null = null
  /** an admin call found Redis failing and logged why; cleared once Redis answers again */
  #adminRedisDown = false
  #closed = false

  constructor(opts: LimiterOptions, deps: LimiterDeps) {
    this.#cfg = opts.limits
    this.#opts = opts
    this.#store = deps.store
    this.#local = deps.store.kind === 'memory' ? null : new MemoryLimitStore()
    this.#backend = deps.state
    this.#audit = deps.audit ?? null
    this.#log = deps.logger ?? null
    this.#clock = deps.clock ?? Date.now
    this.#onClose = deps.onClose
    this.#identity = new ClientIdentity(this.#cfg.identity)
    this.#stats = new ClientStats(this.#cfg.stats.topK, this.#cfg.stats.windowMs)
    const classes = Object.entries(this.#cfg.classes)
    const maxRank = classes.reduce((m, [, r]) => Math.max(m, r), 0)
    for (const [name, rank] of classes) this.#classRank.set(name, rank)
    this.#classCount = maxRank + 1
    for (const [service, b] of Object.entries(this.#cfg.services)) {
      this.#budgets.set(service, {
        ratePerSec: b.ratePerSec,
        burst: b.burst,
        intervalMs: 1000 / b.ratePerSec,
      })
    }
    this.#seed = seedState(this.#cfg)
    this.#check()
    this.#state = this.#seed
    this.#apply(this.#seed, true)
    this.#backend.onChange((s) => this.#apply(mergeState(this.#seed, s), false))
    this.#backend.onResync?.((stored) => {
      this.#adminRedisBack()
      void this.#restore(stored)
    })
    this.#dropFill = addFillSource(() => this.#stats.current(this.#clock()).clients)
  }

  /** loads persisted admin changes; call once before serving */
  async start(): Promise<void> {
    try {
      const persisted = await this.#backend.load()
      if (persisted !== null) this.#apply(mergeState(this.#seed, persisted), false)
    } catch (err) {
      // Serve with the config's tiers and keys; the Redis backend re-reads the state on reconnect.
      this.#log?.warn(
        { err: String(err) },
        'limits: cannot load persisted tiers and keys; serving the config ones',
      )
    }
  }

  /**
   * The shared document came back missing or older than the one this process applies (Redis
   * restarted without persistence, was flushed, or failed over to a replica that lagged): write
   * this one back, or a gateway that starts next would serve the config's tiers and keys without
   * the admin changes every running one applies. Several writers settle on the newest version.
   */
  async #restore(stored: LimitsState | null): Promise<void> {
    for (let attempt = 1; attempt <= MAX_SAVE_ATTEMPTS; attempt++) {
      const mine = this.#state
      if (mine.version === 0 || (stored !== null && stored.version >= mine.version)) return
      try {
        if (await this.#backend.save(mine, stored?.version ?? null)) {
          this.#log?.warn(
            { version: mine.version, found: stored?.version ?? null },
            `limits: the shared tiers, keys and controls were ${stored === null ? 'missing' : `older (version ${stored.version})`} in ${this.#backend.kind}; wrote back the version ${mine.version} this process applies`,
          )
          return
        }
        stored = await this.#backend.load()
      } catch {
        return // gone again: the next reconnect resyncs
      }
    }
  }

  // ---- the Admission seam ---------------------------------------------------------------

  admit(req: AdmissionRequest, nowMs: number): AdmissionDecision | Promise<AdmissionDecision> {
    const st = this.#state
    const raw = this.#identity.apiKey(req.headers)
    let key: KeyState | null = null
    if (raw !== null) {
      key = this.#lookup(raw)
      if (key === null && this.#cfg.identity.unknownKey === 'reject') return this.#unknownKey(req)
    }
    const clientId = key !== null ? key.id : `ip:${this.#identity.clientIp(req.headers, req.remoteAddress)}`
    let tierName = key !== null ? key.tier : this.#cfg.identity.anonymousTier
    let tier = st.tiers[tierName]
    if (tier === undefined) {
      // A key whose tier was deleted is limited as an anonymous client rather than unlimited.
      tierName = this.#cfg.identity.anonymousTier
      tier = st.tiers[tierName] ?? BUILTIN_TIERS.STD!
    }
    if (nowMs >= this.#nextExpiryMs) this.#refreshLive(nowMs)
    let defensive = 1
    let multiplier = 1
    let tightened = false
    if (!this.#liveEmpty) {
      const c = this.#live
      const sc = c.services[req.service]
      if (c.defensive || sc?.defensive === true) defensive = this.#cfg.defensive[tierName] ?? 1
      const tierX = c.tiers[tierName] ?? 1
      const classX = c.classes[req.priority] ?? 1
      const clientX = c.clients[clientId] ?? 1
      multiplier = tierX * classX * clientX * defensive
      tightened = tierX < 1 || classX < 1 || clientX < 1 || defensive < 1
      if (sc !== undefined) {
        const svcTierX = sc.tiers[tierName] ?? 1
        const svcClassX = sc.classes[req.priority] ?? 1
        multiplier *= svcTierX * svcClassX
        tightened ||= svcTierX < 1 || svcClassX < 1
      }
    }
    const rate = (key?.ratePerSec ?? tier.ratePerSec) * multiplier
    let burst = (key?.burst ?? tier.burst) * multiplier
    if (burst < 1) burst = 1
    const interval = 1000 / rate
    const keys = this.#keysOf(req.service)
    let clientKey = keys.clients.get(clientId)
    if (clientKey === undefined) {
      clientKey = `${keys.prefix}c:${clientId}`
      // Bounded so a flood of client addresses cannot grow memory; clearing is cheap and rare.
      if (keys.clients.size >= KEY_CACHE_MAX) keys.clients.clear()
      keys.clients.set(clientId, clientKey)
    }
    const client: BucketSpec = { key: clientKey, intervalMs: interval, toleranceMs: burst * interval }
    const budget = this.#budgets.get(req.service) ?? null
    let reserve = 0
    let buckets: BucketSpec[]
    if (budget === null) buckets = [client]
    else {
      const classRank = this.#classRank.get(req.priority) ?? this.#classRank.get('normal') ?? 0
      const n = this.#classCount * this.#tierCount
      const rank = Math.min(n - 1, classRank * this.#tierCount + Math.min(tier.rank, this.#tierCount - 1))
      // Capped at burst − cost: with a budget burst below N · cost the lowest ranks' reserve would
      // leave them less than one request of room, refused even on an idle service.
      reserve = Math.min((budget.burst * (n - 1 - rank)) / n, Math.max(0, budget.burst - req.cost))
      buckets = [
        client,
        {
          key: keys.budget,
          intervalMs: budget.intervalMs,
          toleranceMs: (budget.burst - reserve) * budget.intervalMs,
        },
      ]
    }
    const plan: Plan = {
      req,
      clientId,
      tierName,
      rate,
      burst,
      multiplier,
      defensive,
      tightened,
      budget,
      reserve,
    }

    if (this.#local === null)
      return this.#decide(plan, this.#store.take(buckets, req.cost, nowMs) as TakeOutcome, nowMs, 1)
    const policy = req.fallback ?? this.#opts.routeFallback?.get(req.routeId) ?? this.#cfg.fallback.policy
    if (this.#fb.active && (!this.#primaryUp() || nowMs < this.#fb.retryAtMs)) {
      return this.#fallback(plan, buckets, nowMs, policy)
    }
    return (this.#store.take(buckets, req.cost, nowMs) as Promise<TakeOutcome>).then(
      (o) => {
        if (this.#fb.active) this.#leaveFallback(nowMs)
        else if (this.#outage !== null) this.#closeOutage(nowMs)
        return this.#decide(plan, o, nowMs, 1)
      },
      (err: unknown) => {
        this.#enterFallback(err, nowMs)
        return this.#fallback(plan, buckets, nowMs, policy)
      },
    )
  }

  observe(clientId: string, routeId: string, status: number, latencyMs: number): void {
    this.#stats.observe(clientId, routeId, status, latencyMs, this.#clock())
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    if (this.#outage?.timer != null) clearTimeout(this.#outage.timer)
    this.#dropFill()
    await this.#backend.close()
    await this.#store.close()
    await this.#local?.close()
    await this.#onClose?.()
  }

  // ---- decisions ------------------------------------------------------------------------

  #decide(p: Plan, o: TakeOutcome, nowMs: number, share: number): AdmissionDecision {
    const name = p.tierName
    const rate = p.rate * share
    const burst = Math.max(1, p.burst * share)
    const interval = 1000 / rate
    const tat = o.tatsMs[0]!
    const remaining = remainingTokens(tat, nowMs, interval, burst)
    const byBudget = !o.allowed && o.refusedIndex === 1 && p.budget !== null
    // the client's own doing only at its own limit: a refusal that Vigil's tightening caused
    // (defensive mode, a multiplier below 1, the local share without Redis, the service's
    // budget shared with every client) would read as abuse and keep the tightening on
    const own = !byBudget && !p.tightened && share >= 1
    this.#stats.count(p.clientId, name, remaining / burst, nowMs, !o.allowed, own)
    const policyHeader = policyItem(name, burst, rate)
    if (o.allowed) {
      countDecision(name, p.req.priority, 'allowed')
      return {
        allowed: true,
        clientId: p.clientId,
        headers: [
          ['RateLimit-Policy', policyHeader],
          ['RateLimit', limitItem(name, remaining, msUntilFull(tat, nowMs))],
        ],
      }
    }
    const limit: RefusingLimit = byBudget ? 'service-budget' : p.defensive < 1 ? 'defensive' : 'tier'
    countDecision(name, p.req.priority, `refused_${limit}`)
    const headers: Header[] = []
    const never = o.retryAfterMs === Infinity
    if (byBudget) {
      const b = p.budget!
      const svcName = `svc-${p.req.service}`
      headers.push(['RateLimit-Policy', `${policyHeader}, ${policyItem(svcName, b.burst, b.ratePerSec)}`])
      headers.push([
        'RateLimit',
        `${limitItem(name, remaining, msUntilFull(tat, nowMs))}, ${limitItem(svcName, 0, o.retryAfterMs)}`,
      ])
    } else {
      headers.push(['RateLimit-Policy', policyHeader])
      headers.push([
        'RateLimit',
        limitItem(name, remaining, never ? msUntilFull(tat, nowMs) : o.retryAfterMs),
      ])
    }
    if (!never) headers.push(['Retry-After', String(retryAfterSec(o.retryAfterMs))])
    return {
      allowed: false,
      clientId: p.clientId,
      status: 429,
      headers,
      problem: this.#problem(p, limit, o.retryAfterMs, rate, burst),
    }
  }

  #problem(
    p: Plan,
    limit: RefusingLimit,
    retryMs: number,
    rate: number,
    burst: number,
  ): Record<string, unknown> {
    const applied =
      limit === 'service-budget'
        ? []
        : appliedControls(
            this.#live,
            { service: p.req.service, tier: p.tierName, priority: p.req.priority, clientId: p.clientId },
            p.defensive,
          )
    const why = explain(applied)
    const fmt = (x: number) => String(Math.round(x * 1000) / 1000)
    const wait = retryMs === Infinity ? 'never' : `${retryAfterSec(retryMs)}s`
    let detail: string
    let reason: string
    if (limit === 'service-budget') {
      const b = p.budget!
      detail = `Service "${p.req.service}" is over its capacity budget; this request (priority "${p.req.priority}", tier ${p.tierName}) is shed before higher priorities. Retry in ${wait}.`
      reason = `service "${p.req.service}" has a budget of ${fmt(b.ratePerSec)} requests/s (burst ${fmt(b.burst)}); requests of priority "${p.req.priority}" from tier ${p.tierName} may not use the last ${fmt(p.reserve)} tokens, which are kept for higher priorities and tiers`
    } else if (retryMs === Infinity) {
      detail = `This request costs ${p.req.cost} tokens but client "${p.clientId}" (tier ${p.tierName}) may hold at most ${fmt(burst)}; it can never pass at the current limit.`
      reason = `tier ${p.tierName} allows ${fmt(rate)} requests/s with bursts of ${fmt(burst)}`
    } else if (limit === 'defensive') {
      detail = `Client "${p.clientId}" (tier ${p.tierName}) exceeded its limit, reduced because defensive mode is on. Retry in ${wait}.`
      const scope = this.#live.defensive ? '' : ` for service "${p.req.service}"`
      reason = `defensive mode is on${scope}${why}: tier ${p.tierName} runs at ×${fmt(p.defensive)} of its normal limit, now ${fmt(rate)} requests/s with bursts of ${fmt(burst)}`
    } else {
      detail = `Client "${p.clientId}" (tier ${p.tierName}) used its burst of ${fmt(burst)} requests; the bucket refills at ${fmt(rate)} per second. Retry in ${wait}.`
      reason =
        p.multiplier !== 1
          ? `tier ${p.tierName} limit scaled ×${fmt(p.multiplier)} by runtime controls${why}: ${fmt(rate)} requests/s, burst ${fmt(burst)}`
          : `tier ${p.tierName} allows ${fmt(rate)} requests/s with bursts of ${fmt(burst)}`
    }
    const body: Record<string, unknown> = {
      type: PROBLEM_TYPES[limit],
      title: 'Too Many Requests',
      status: 429,
      detail,
      limit,
      reason,
      client: p.clientId,
      tier: p.tierName,
      priority: p.req.priority,
      service: p.req.service,
    }
    if (retryMs !== Infinity) body.retryAfter = retryAfterSec(retryMs)
    if (applied.length > 0) body.controls = applied
    return body
  }

  #unknownKey(req: AdmissionRequest): AdmissionDecision {
    countDecision('unknown', req.priority, 'refused_unknown-key')
    return {
      allowed: false,
      clientId: 'unknown-key',
      status: 401,
      headers: [['WWW-Authenticate', 'Bearer realm="vigil"']],
      problem: {
        type: PROBLEM_TYPES['unknown-key'],
        title: 'Unknown API key',
        status: 401,
        detail: `The API key sent in "${this.#cfg.identity.header}"${this.#cfg.identity.bearer ? ' or Authorization: Bearer' : ''} is unknown or revoked.`,
        limit: 'unknown-key',
        reason:
          'limits.identity.unknownKey is "reject": unknown keys are refused rather than limited as anonymous',
      },
    }
  }

  // ---- fallback while Redis is unavailable ---------------------------------------------

  #primaryUp(): boolean {
    return (this.#store as { up?: boolean }).up !== false
  }

  #fallback(p: Plan, buckets: BucketSpec[], nowMs: number, policy: FallbackPolicy): AdmissionDecision {
    fallbackDecisions.labels(policy).inc()
    if (policy === 'open') {
      countDecision(p.tierName, p.req.priority, 'allowed_fallback_open')
      return { allowed: true, clientId: p.clientId, headers: [] }
    }
    if (policy === 'closed') {
      countDecision(p.tierName, p.req.priority, 'refused_store-unavailable')
      return {
        allowed: false,
        clientId: p.clientId,
        status: 429,
        headers: [['Retry-After', '1']],
        problem: {
          type: PROBLEM_TYPES['store-unavailable'],
          title: 'Too Many Requests',
          status: 429,
          detail: 'The shared rate-limit store is unavailable and this route fails closed. Retry in 1s.',
          limit: 'store-unavailable',
          reason: `route "${p.req.routeId}" uses fallback policy "closed" while Redis is unavailable (${this.#fb.reason ?? 'unknown'})`,
          client: p.clientId,
          retryAfter: 1,
        },
      }
    }
    // local: each gateway enforces its share of every limit on its own, so N gateways together
    // stay near the limit; scaling the interval by 1/share keeps the tolerance (in ms) unchanged.
    const share = this.#cfg.fallback.localShare
    const local: BucketSpec[] = buckets.map((b) => ({
      key: b.key,
      intervalMs: b.intervalMs / share,
      toleranceMs: b.toleranceMs,
    }))
    return this.#decide(p, this.#local!.take(local, p.req.cost, nowMs), nowMs, share)
  }

  /**
   * Starts in the fallback policy when Redis did not answer at start-up (the caller has logged
   * why), so `GET /api/limits/fallback` and `vigil_limits_fallback_active` say so from the first
   * moment, not only after the first request's decision fails.
   */
  startInFallback(reason: string): void {
    const nowMs = this.#clock()
    this.#fb.retryAtMs = nowMs
    if (this.#markFallback(reason, 'error', nowMs))
      this.#outage = { sinceMs: nowMs, recoveredMs: null, relapses: 0, timer: null }
  }

  #markFallback(reason: string, kind: 'timeout' | 'error', nowMs: number): boolean {
    if (this.#fb.active) return false
    this.#fb.active = true
    this.#fb.reason = reason
    this.#fb.sinceMs = nowMs
    fallbackActive.set(1)
    fallbackTransitions.labels('fallback', kind).inc()
    return true
  }

  #enterFallback(err: unknown, nowMs: number): void {
    const msg = err instanceof Error ? err.message : String(err)
    const timeout = /timed? ?out/i.test(msg)
    // A slow Redis is left alone for retryMs; a disconnected one is retried as soon as it reconnects.
    this.#fb.retryAtMs = timeout ? nowMs + this.#cfg.fallback.retryMs : nowMs
    const reason = timeout
      ? `slower than ${this.#cfg.redis.timeoutMs} ms`
      : `Redis at ${withoutPassword(this.#cfg.redis.url)} ${this.#redisFailure(err)}`
    if (!this.#markFallback(reason, timeout ? 'timeout' : 'error', nowMs)) return
    if (this.#outage !== null) {
      // back for less than settleMs: the same outage, already told
      this.#outage.recoveredMs = null
      this.#outage.relapses++
      if (this.#outage.timer !== null) clearTimeout(this.#outage.timer)
      this.#outage.timer = null
      return
    }
    this.#outage = { sinceMs: nowMs, recoveredMs: null, relapses: 0, timer: null }
    this.#log?.warn(
      {
        reason: this.#fb.reason,
        err: msg,
        policy: this.#cfg.fallback.policy,
        localShare: this.#cfg.fallback.localShare,
      },
      'limits: Redis unavailable, deciding by the fallback policy until it is back',
    )
  }

  #leaveFallback(nowMs: number): void {
    this.#fb.active = false
    this.#fb.reason = null
    fallbackActive.set(0)
    fallbackTransitions.labels('redis', 'recovered').inc()
    const o = this.#outage
    if (o === null) return
    o.recoveredMs = nowMs
    // the line's time tells when the outage ended, not when the next request came; when it fires
    // Redis has held for settleMs, since a relapse clears it
    o.timer ??= setTimeout(() => this.#closeOutage(Number.POSITIVE_INFINITY), this.#cfg.fallback.settleMs)
    o.timer.unref()
    this.#closeOutage(nowMs)
  }

  /** Logs the outage's end once Redis has answered for settleMs since it last came back. */
  #closeOutage(nowMs: number): void {
    const o = this.#outage
    if (o === null || o.recoveredMs === null || nowMs - o.recoveredMs < this.#cfg.fallback.settleMs) return
    if (o.timer !== null) clearTimeout(o.timer)
    this.#outage = null
    this.#log?.info(
      { fallbackForMs: o.recoveredMs - o.sinceMs, relapses: o.relapses },
      o.relapses === 0
        ? 'limits: Redis is back; shared limits resumed'
        : `limits: Redis is back; shared limits resumed (it answered and failed again ${o.relapses} time${o.relapses === 1 ? '' : 's'} during the outage)`,
    )
  }

  /**
   * The admin API's answer when the state or a bucket cannot be read or saved. For Redis it is
   * one stable message naming Redis and what to check: the client library's own words ("Stream
   * isn't writeable and enableOfflineQueue options is false") say nothing to an operator, so they
   * go to the log, once per outage rather than once per call.
   */
  #stateUnavailable(op: 'read' | 'save', kind: string, err: unknown, what = 'limits state'): VigilError {
    // a document that is not JSON came from Redis, not from its absence
    if (kind !== 'redis' || err instanceof SyntaxError)
      return VGL_ERR_LIMITS_STATE_UNAVAILABLE(op, kind, String(err))
    const msg = err instanceof Error ? err.message : String(err)
    const url = withoutPassword(this.#cfg.redis.url)
    if (!this.#adminRedisDown) {
      this.#adminRedisDown = true
      this.#log?.warn(
        { url, err: msg },
        `limits: Redis at ${url} fails admin calls (${msg}); tier, key and control changes answer 503 VGL_ERR_LIMITS_REDIS_UNAVAILABLE until it is back`,
      )
    }
    return VGL_ERR_LIMITS_REDIS_UNAVAILABLE(`${op} the ${what}`, url, this.#redisFailure(err))
  }

  /**
   * What went wrong with Redis, in an operator's words: the client library's ("Stream isn't
   * writeable and enableOfflineQueue options is false") name none of Redis, the address or a fix.
   */
  #redisFailure(err: unknown): string {
    const msg = err instanceof Error ? err.message : String(err)
    if (err instanceof Error && err.name === 'ReplyError') return `refused the command (${msg})`
    if (/timed? ?out/i.test(msg))
      return `did not answer within ${this.#cfg.redis.timeoutMs} ms (limits.redis.timeoutMs)`
    return 'is unreachable'
  }

  #adminRedisBack(): void {
    if (!this.#adminRedisDown) return
    this.#adminRedisDown = false
    this.#log?.info({ url: withoutPassword(this.#cfg.redis.url) }, 'limits: Redis answers admin calls again')
  }

  // ---- state --------------------------------------------------------------------------

  #lookup(raw: string): KeyState | null {
    const hit = this.#byRaw.get(raw)
    if (hit !== undefined) return hit
    const found = this.#byHash.get(hashKey(raw)) ?? null
    // Bounded so a flood of random keys cannot grow memory; clearing is cheap and rare.
    if (this.#byRaw.size >= KEY_CACHE_MAX) this.#byRaw.clear()
    this.#byRaw.set(raw, found)
    return found
  }

  #check(): void {
    const problems = limitsProblems(this.#cfg)
    if (problems.length > 0)
      throw VGL_ERR_LIMITS_CONFIG(problems.map((p) => `${p.path}: ${p.message}`).join('\n'))
  }

  #apply(s: LimitsState, force: boolean): void {
    if (!force && s.version < this.#state.version) return
    this.#state = s
    const byHash = new Map<string, KeyState>()
    for (const k of Object.values(s.keys)) if (!k.revoked) byHash.set(k.keyHash, k)
    this.#byHash = byHash
    this.#byRaw = new Map()
    let maxRank = 0
    for (const t of Object.values(s.tiers)) maxRank = Math.max(maxRank, t.rank)
    this.#tierCount = maxRank + 1
    this.#refreshLive(this.#clock())
  }

  #keysOf(service: string): { prefix: string; budget: string; clients: Map<string, string> } {
    let keys = this.#bucketKeys.get(service)
    if (keys === undefined) {
      const prefix = `${this.#opts.keyPrefix}{${service}}:`
      keys = { prefix, budget: `${prefix}svc`, clients: new Map() }
      this.#bucketKeys.set(service, keys)
    }
    return keys
  }

  #refreshLive(nowMs: number): void {
    const { live, nextExpiryMs } = liveControls(this.#state.controls, nowMs)
    this.#live = live
    this.#nextExpiryMs = nextExpiryMs
    this.#liveEmpty =
      !live.defensive &&
      Object.keys(live.tiers).length === 0 &&
      Object.keys(live.classes).length === 0 &&
      Object.keys(live.clients).length === 0 &&
      Object.keys(live.services).length === 0
    const on = live.defensive || Object.values(live.services).some((s) => s.defensive)
    defensiveActive.set(on ? 1 : 0)
  }

  /**
   * Read-modify-write of the state document as a compare-and-set loop: the change is applied to
   * the latest stored document and saved only if nobody saved in between (else it is re-applied
   * to what they saved), so concurrent changes on any gateways never lose one another. `guard`
   * makes the write conditional on the resource's version (If-Match / If-None-Match), checked
   * against the latest document on every attempt.
   */
  async #mutate<T>(
    kind: string,
    subject: string,
    meta: ChangeMeta,
    change: (s: LimitsState) => { before: unknown; after: T },
    guard?: { cond: WriteCondition | undefined; what: string; view: (s: LimitsState) => unknown },
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      let persisted: LimitsState | null
      try {
        persisted = await this.#backend.load()
      } catch (err) {
        throw this.#stateUnavailable('read', this.#backend.kind, err)
      }
      this.#adminRedisBack()
      const latest =
        persisted === null || persisted.version < this.#state.version
          ? this.#state
          : mergeState(this.#seed, persisted)
      if (guard !== undefined) checkCondition(guard.cond, guard.what, guard.view(latest))
      const next = structuredClone(latest)
      const { before, after } = change(next)
      next.version = Math.max(latest.version, this.#state.version, persisted?.version ?? 0) + 1
      let saved: boolean
      try {
        saved = await this.#backend.save(next, persisted?.version ?? null)
      } catch (err) {
        throw this.#stateUnavailable('save', this.#backend.kind, err)
      }
      if (!saved) {
        if (attempt >= MAX_SAVE_ATTEMPTS)
          throw VGL_ERR_LIMITS_STATE_UNAVAILABLE(
            'save',
            this.#backend.kind,
            `other writers changed it ${attempt} times in a row; retry`,
          )
        await new Promise((r) => setTimeout(r, Math.random() * 10 * attempt))
        continue
      }
      this.#apply(next, false)
      if (guard?.cond !== undefined) {
        const view = guard.view(next)
        if (view !== undefined) guard.cond.etag = etagOf(view)
      }
      this.#audit?.record({
        at: new Date(this.#clock()).toISOString(),
        kind,
        actor: meta.actor,
        subject,
        before,
        after,
        reason: meta.reason,
      })
      return after
    }
  }

  // ---- admin and control surface -----------------------------------------------------

  tiers(): Readonly<Record<string, TierState>> {
    return this.#state.tiers
  }

  /** One tier, undefined when there is none by that name (its ETag is `etagOf` of this). */
  tier(name: string): TierState | undefined {
    return tierIn(this.#state, name)
  }

  async setTier(
    name: string,
    tier: { ratePerSec: number; burst: number; rank?: number },
    meta: ChangeMeta,
    cond?: WriteCondition,
  ): Promise<TierState> {
    if (!/^[A-Za-z0-9_-]+$/.test(name))
      throw VGL_ERR_LIMITS_BAD_INPUT(`tier name "${name}": use letters, digits, _ and -`)
    positive('ratePerSec', tier.ratePerSec)
    positive('burst', tier.burst)
    const guard = { cond, what: `tier ${name}`, view: (s: LimitsState) => tierIn(s, name) }
    return this.#mutate(
      'limits.tier.update',
      name,
      meta,
      (s) => {
        const before = s.tiers[name] ?? null
        const after: TierState = {
          ratePerSec: tier.ratePerSec,
          burst: tier.burst,
          rank: tier.rank ?? before?.rank ?? 0,
        }
        s.tiers[name] = after
        return { before, after }
      },
      guard,
    )
  }

  keys(): KeyView[] {
    return Object.values(this.#state.keys).map(view)
  }

  /** One key (never its secret), undefined when there is none with that id. */
  key(id: string): KeyView | undefined {
    return keyIn(this.#state, id)
  }

  async createKey(
    input: { id?: string; tier: string; ratePerSec?: number; burst?: number },
    meta: ChangeMeta,
  ): Promise<KeyView & { key: string }> {
    const id = input.id ?? `key-${randomBytes(6).toString('hex')}`
    if (!/^[A-Za-z0-9._-]+$/.test(id))
      throw VGL_ERR_LIMITS_BAD_INPUT(`key id "${id}": use letters, digits, ".", "_" and "-"`)
    if (input.ratePerSec !== undefined) positive('ratePerSec', input.ratePerSec)
    if (input.burst !== undefined) positive('burst', input.burst)
    const secret = `vgl_${randomBytes(24).toString('base64url')}`
    const after = await this.#mutate('limits.key.create', id, meta, (s) => {
      if (s.keys[id] !== undefined) throw VGL_ERR_LIMITS_KEY_EXISTS(id)
      this.#needTier(s, input.tier)
      const k: KeyState = {
        id,
        keyHash: hashKey(secret),
        tier: input.tier,
        ...(input.ratePerSec !== undefined ? { ratePerSec: input.ratePerSec } : {}),
        ...(input.burst !== undefined ? { burst: input.burst } : {}),
        revoked: false,
        createdAt: new Date(this.#clock()).toISOString(),
      }
      s.keys[id] = k
      return { before: null, after: view(k) }
    })
    return { ...after, key: secret }
  }

  async updateKey(
    id: string,
    patch: { tier?: string; ratePerSec?: number | null; burst?: number | null },
    meta: ChangeMeta,
    cond?: WriteCondition,
  ): Promise<KeyView> {
    if (patch.ratePerSec != null) positive('ratePerSec', patch.ratePerSec)
    if (patch.burst != null) positive('burst', patch.burst)
    return this.#mutateKey('limits.key.update', id, meta, cond, (k, s) => {
      if (patch.tier !== undefined) {
        this.#needTier(s, patch.tier)
        k.tier = patch.tier
      }
      if (patch.ratePerSec === null) delete k.ratePerSec
      else if (patch.ratePerSec !== undefined) k.ratePerSec = patch.ratePerSec
      if (patch.burst === null) delete k.burst
      else if (patch.burst !== undefined) k.burst = patch.burst
    })
  }

  async revokeKey(id: string, meta: ChangeMeta, cond?: WriteCondition): Promise<KeyView> {
    return this.#mutateKey('limits.key.revoke', id, meta, cond, (k) => {
      k.revoked = true
    })
  }

  /** Changes one existing key in place, recording its view before and after. */
  #mutateKey(
    kind: 'limits.key.update' | 'limits.key.revoke',
    id: string,
    meta: ChangeMeta,
    cond: WriteCondition | undefined,
    change: (k: LimitsState['keys'][string], s: LimitsState) => void,
  ): Promise<KeyView> {
    const guard = { cond, what: `key ${id}`, view: (s: LimitsState) => keyIn(s, id) }
    return this.#mutate(
      kind,
      id,
      meta,
      (s) => {
        const k = s.keys[id]
        if (k === undefined) throw VGL_ERR_LIMITS_UNKNOWN_KEY(id)
        const before = view(k)
        change(k, s)
        return { before, after: view(k) }
      },
      guard,
    )
  }

  /** The controls in force now (entries past their expiry are left out). */
  controls(): Readonly<Controls> {
    return liveControls(this.#state.controls, this.#clock()).live
  }

  /**
   * Sets multipliers and defensive mode, globally or for one service (`patch.service`), for good or
   * until `patch.ttlMs` has passed; what the control plane drives. Applied on every gateway.
   * `knownNamesOnly` (an operator's call) refuses tiers, classes, clients and services that do not
   * exist here; the control plane names what it saw in traffic, which another process may know.
   */
  async setControls(
    patch: ControlsPatch,
    meta: ChangeMeta,
    cond?: WriteCondition,
    opts: { knownNamesOnly?: boolean } = {},
  ): Promise<Controls> {
    checkPatch(patch)
    const subject = patch.service !== undefined ? `controls:${patch.service}` : 'controls'
    return this.#mutate(
      'limits.controls.set',
      subject,
      meta,
      (s) => {
        const now = this.#clock()
        // expired entries leave the document at the next change
        const before = liveControls(s.controls, now).live
        if (opts.knownNamesOnly === true) {
          const known = {
            tiers: Object.keys(s.tiers),
            classes: Object.keys(this.#cfg.classes),
            services: this.#opts.services,
            keys: Object.keys(s.keys),
          }
          checkPatchNames(patch, known, before)
        }
        s.controls = structuredClone(before)
        patchControls(s.controls, patch, meta, now)
        return { before, after: structuredClone(s.controls) }
      },
      this.#controlsGuard(cond),
    )
  }

  /** Removes every multiplier and turns defensive mode off. */
  async clearControls(meta: ChangeMeta, cond?: WriteCondition): Promise<Controls> {
    return this.#mutate(
      'limits.controls.clear',
      'controls',
      meta,
      (s) => {
        const before = structuredClone(s.controls)
        s.controls = {
          ...emptyControls(),
          reason: meta.reason,
          actor: meta.actor,
          updatedAt: new Date(this.#clock()).toISOString(),
        }
        return { before, after: structuredClone(s.controls) }
      },
      this.#controlsGuard(cond),
    )
  }

  /** The controls are one resource: their version is that of what `controls()` returns. */
  #controlsGuard(cond: WriteCondition | undefined) {
    return {
      cond,
      what: 'the controls',
      view: (s: LimitsState) => liveControls(s.controls, this.#clock()).live,
    }
  }

  /** Current bucket state of a client (key id or `ip:ADDR`) on every service. */
  async buckets(clientId: string): Promise<BucketView[]> {
    const now = this.#clock()
    const key = this.#state.keys[clientId]
    const tierName = key?.tier ?? this.#cfg.identity.anonymousTier
    const tier = this.#state.tiers[tierName] ?? BUILTIN_TIERS.STD!
    const c = liveControls(this.#state.controls, now).live
    const out: BucketView[] = []
    for (const service of this.#opts.services) {
      const sc = c.services[service]
      const m =
        (c.tiers[tierName] ?? 1) *
        (c.clients[clientId] ?? 1) *
        (sc?.tiers[tierName] ?? 1) *
        (c.defensive || sc?.defensive === true ? (this.#cfg.defensive[tierName] ?? 1) : 1)
      const rate = (key?.ratePerSec ?? tier.ratePerSec) * m
      const burst = Math.max(1, (key?.burst ?? tier.burst) * m)
      const k = `${this.#opts.keyPrefix}{${service}}:c:${clientId}`
      let tat: number
      try {
        tat = await this.#store.peek(k)
      } catch (err) {
        throw this.#stateUnavailable(
          'read',
          this.#store.kind === 'redis' ? 'redis' : 'bucket',
          err,
          'buckets',
        )
      }
      this.#adminRedisBack()
      out.push({
        service,
        key: k,
        tier: tierName,
        ratePerSec: rate,
        burst,
        remaining: remainingTokens(tat, now, 1000 / rate, burst),
        msUntilFull: msUntilFull(tat, now),
      })
    }
    return out
  }

  /** Heaviest clients of the last complete window, and of the window being filled. */
  clientStats(): { last: ClientStatsSnapshot; current: ClientStatsSnapshot } {
    const now = this.#clock()
    return { last: this.#stats.snapshot(now), current: this.#stats.current(now) }
  }

  fallbackState(): FallbackView {
    return {
      store: this.#store.kind,
      active: this.#fb.active,
      reason: this.#fb.reason,
      sinceMs: this.#fb.active ? this.#fb.sinceMs : null,
      policy: this.#cfg.fallback.policy,
      localShare: this.#cfg.fallback.localShare,
    }
  }

  #needTier(s: LimitsState, tier: string): void {
    if (s.tiers[tier] === undefined)
      throw VGL_ERR_LIMITS_UNKNOWN_TIER('tier', tier, Object.keys(s.tiers).join(', '), tier)
  }
}

function positive(field: string, v: unknown): void {
  if (!(typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw VGL_ERR_LIMITS_BAD_INPUT(`${field}: expected a number > 0, got ${JSON.stringify(v)}`)
  }
}

function tierIn(s: LimitsState, name: string): TierState | undefined {
  return Object.hasOwn(s.tiers, name) ? s.tiers[name] : undefined
}

function keyIn(s: LimitsState, id: string): KeyView | undefined {
  const k = Object.hasOwn(s.keys, id) ? s.keys[id] : undefined
  return k === undefined ? undefined : view(k)
}

const CONFIG_KEY_EPOCH = new Date(0).toISOString()

function view(k: KeyState): KeyView {
  return {
    id: k.id,
    tier: k.tier,
    ...(k.ratePerSec !== undefined ? { ratePerSec: k.ratePerSec } : {}),
    ...(k.burst !== undefined ? { burst: k.burst } : {}),
    revoked: k.revoked,
    // config keys persisted before they had no time carry the epoch: they were never created then
    createdAt: k.createdAt === CONFIG_KEY_EPOCH ? null : k.createdAt,
  }
}

/** ` (set by …: …)` for the entries behind a limit, for 429 reasons. */
function explain(applied: readonly AppliedControl[]): string {
  const parts = applied
    .filter((a) => a.reason !== '' || a.actor !== '')
    .map((a) => `${a.actor || 'an operator'}: ${a.reason || a.path}`)
  const unique = [...new Set(parts)]
  return unique.length > 0 ? ` (set by ${unique.join('; ')})` : ''
}
