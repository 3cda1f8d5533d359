/** @module The `limits:` section of vigil.yaml and the per-route limit fields (owned by src/limits). */
import { z } from 'zod'
import { unknownName, type ConfigProblem } from './messages.js'

export const fallbackPolicySchema = z.enum(['local', 'open', 'closed'])

/** Per-route fields read by the limiter: priority class, token cost, and the Redis fallback override. */
export const routeLimitSchema = z.strictObject({
  priority: z.string().min(1).default('normal'),
  cost: z.number().int().positive().default(1),
  /** what to do when Redis is unreachable or slow, for this route (default: limits.fallback.policy) */
  fallback: fallbackPolicySchema.optional(),
})

const positive = z.number({ error: 'expected a number > 0' }).positive('expected a number > 0')

export const tierSchema = z.strictObject({
  ratePerSec: positive,
  burst: positive,
  /** shedding order among tiers: a higher rank is refused later (STD 0, PRM 1) */
  rank: z.number().int().min(0).default(0),
})

export const keySchema = z.strictObject({
  /** stable name of the client in metrics, stats and admin calls */
  id: z.string().regex(/^[A-Za-z0-9._-]+$/, 'key ids are letters, digits, ".", "_" and "-"'),
  /** the secret the client sends (use ${ENV} substitution; never commit it) */
  key: z.string().min(8, 'an API key has at least 8 characters'),
  tier: z.string().min(1),
  /** per-key overrides of the tier's numbers */
  ratePerSec: positive.optional(),
  burst: positive.optional(),
})

export const serviceBudgetSchema = z.strictObject({
  ratePerSec: positive,
  burst: positive,
})

/** Tiers that exist in every config: `limits.tiers` may redefine them, never remove them. */
export const BUILTIN_TIERS: Readonly<Record<string, Readonly<TierConfig>>> = {
  STD: { ratePerSec: 10, burst: 20, rank: 0 },
  PRM: { ratePerSec: 100, burst: 200, rank: 1 },
}

const DEFAULT_CLASSES = { low: 0, normal: 1, high: 2, critical: 3 }

export const limitsSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** where bucket state lives: `memory` (one process) or `redis` (shared by every gateway) */
    store: z.enum(['memory', 'redis']).default('memory'),
    redis: z
      .strictObject({
        url: z
          .string()
          .regex(/^rediss?:\/\//, 'expected a redis:// or rediss:// URL')
          .default('redis://127.0.0.1:6379'),
        /** prefix of every key; the hash tag after it keeps one decision's keys in one cluster slot */
        keyPrefix: z.string().default('vigil:rl:'),
        /** a decision slower than this counts as Redis being unavailable (ms) */
        timeoutMs: z.number().int().positive().default(50),
      })
      .prefault({}),
    fallback: z
      .strictObject({
        policy: fallbackPolicySchema.default('local'),
        /** share of each limit a gateway enforces locally while Redis is away (e.g. 1 / gateways) */
        localShare: z.number().positive().max(1).default(0.25),
        /** after a timeout, wait this long before trying Redis again (ms) */
        retryMs: z.number().int().positive().default(1000),
        /**
         * Redis counts as back once it has answered this long without failing again (ms): a
         * relapse before then is the same outage, so a flapping Redis logs one line, not one per flap
         */
        settleMs: z.number().int().positive().default(5000),
      })
      .prefault({}),
    identity: z
      .strictObject({
        /** request header carrying the API key; `Authorization: Bearer` is read too when `bearer` */
        header: z.string().toLowerCase().default('x-api-key'),
        bearer: z.boolean().default(true),
        /** CIDRs of proxies whose X-Forwarded-For is believed */
        trustedProxies: z.array(z.string()).default([]),
        /** a key that is not known: `reject` (401) or `anonymous` (limited by IP) */
        unknownKey: z.enum(['reject', 'anonymous']).default('reject'),
        /** tier of clients without a key */
        anonymousTier: z.string().default('STD'),
      })
      .prefault({}),
    /** tiers by name; STD and PRM exist unless redefined here */
    tiers: z
      .record(z.string().regex(/^[A-Za-z0-9_-]+$/, 'tier names are letters, digits, _ and -'), tierSchema)
      .default({ ...BUILTIN_TIERS }),
    keys: z.array(keySchema).default([]),
    /** route priority classes and their rank (higher is shed later) */
    classes: z.record(z.string(), z.number().int().min(0)).default(DEFAULT_CLASSES),
    /** per-service capacity budgets; over budget, lower classes and tiers are refused first */
    services: z.record(z.string(), serviceBudgetSchema).default({}),
    /** multipliers per tier while defensive mode is on */
    defensive: z.record(z.string(), z.number().positive()).default({ STD: 0.3, PRM: 0.8 }),
    /** persisted admin changes (tiers, keys) in embedded mode: `<dataDir>/limits-state.json` */
    dataDir: z.string().default('./data'),
    stats: z
      .strictObject({
        /** heaviest clients kept per window (space-saving top-K) */
        topK: z.number().int().positive().max(10_000).default(100),
        windowMs: z.number().int().positive().default(60_000),
      })
      .prefault({}),
  })
  .prefault({})

export type LimitsConfig = z.infer<typeof limitsSchema>
export type RouteLimitConfig = z.infer<typeof routeLimitSchema>
export type TierConfig = z.infer<typeof tierSchema>
export type FallbackPolicy = z.infer<typeof fallbackPolicySchema>

/** The tier names a config knows: the built-in ones and those under `limits.tiers`. */
export function knownTiers(limits: { tiers: Record<string, unknown> }): string[] {
  return [...new Set([...Object.keys(BUILTIN_TIERS), ...Object.keys(limits.tiers)])]
}

/** The message for a tier name that is neither built in nor under `limits.tiers`. */
export function unknownTier(tier: string, tiers: readonly string[]): string {
  return unknownName('tier', tier, tiers, 'more under limits.tiers')
}

/**
 * The tiers the config's keys and keyless clients are put in must exist: the limiter refuses to
 * start without them, and `vigil check-config` and a reload must say so first, with the same words.
 * Given the config's `services`, each capacity budget must be keyed by one of them: a budget under
 * a misspelt name would never apply.
 */
export function limitsProblems(limits: LimitsConfig, services?: readonly string[]): ConfigProblem[] {
  const tiers = knownTiers(limits)
  const unknown = (path: string, tier: string): ConfigProblem => ({ path, message: unknownTier(tier, tiers) })
  const problems: ConfigProblem[] = []
  const anonymous = limits.identity.anonymousTier
  if (!tiers.includes(anonymous)) problems.push(unknown('limits.identity.anonymousTier', anonymous))
  limits.keys.forEach((k, i) => {
    if (!tiers.includes(k.tier)) problems.push(unknown(`limits.keys[${i}].tier`, k.tier))
  })
  if (services !== undefined)
    for (const name of Object.keys(limits.services))
      if (!services.includes(name))
        problems.push({
          path: `limits.services.${name}`,
          message: unknownName(
            'service',
            name,
            services,
            services.length === 0 ? 'add one under services:' : undefined,
          ),
        })
  return problems
}
