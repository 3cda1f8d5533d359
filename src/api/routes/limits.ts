/**
 * @module Admin API for the rate limiter, as a Fastify plugin under `/api/limits`: tiers, API keys,
 * runtime controls (multipliers, defensive mode), bucket state, heaviest clients and fallback
 * state. Mutating calls need the admin bearer token and are recorded in the audit log by the
 * limiter; the actor is `X-Vigil-Actor` (default `admin`) and the reason is `reason` in the body.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { z } from 'zod'
import {
  isVigilError,
  VGL_ERR_LIMITS_BAD_INPUT,
  VGL_ERR_LIMITS_UNKNOWN_KEY,
  VGL_ERR_LIMITS_TIER_NOT_FOUND,
} from '../../errors.js'
import { etagOf, type ChangeMeta, type Limiter, type WriteCondition } from '../../limits/index.js'
import { actorOf, reasonProblem } from '../admin-audit.js'
import { createAuthorizer } from '../auth.js'
import { parseBody } from '../body.js'
import { bodyErrorOf, sendProblem } from '../problem.js'

export interface LimitsRoutesOptions {
  limiter: Limiter
  /** admin bearer token for mutating calls; empty refuses every mutating call */
  token: string
  /** check for mutating calls; default `createAuthorizer(token)` from src/api/auth.ts */
  authorize?: (req: FastifyRequest) => void
}

const FIX: Record<string, string> = {
  VGL_ERR_LIMITS_UNKNOWN_TIER: 'GET /api/limits/tiers lists the tiers',
  VGL_ERR_LIMITS_TIER_NOT_FOUND:
    'GET /api/limits/tiers lists the tiers; PUT /api/limits/tiers/NAME creates one',
  VGL_ERR_LIMITS_UNKNOWN_KEY: 'GET /api/limits/keys lists the key ids',
  VGL_ERR_LIMITS_KEY_EXISTS: 'choose another id or PATCH the key',
  VGL_ERR_LIMITS_BAD_INPUT: 'fix the named field',
  VGL_ERR_LIMITS_STATE_UNAVAILABLE: 'bring Redis back (or fix the data dir), then retry',
  VGL_ERR_LIMITS_PRECONDITION_FAILED:
    'GET the resource again, apply your change to what it returns, and send its ETag in If-Match',
}

// the rule and message every mutating admin route shares (src/api/admin-audit.ts)
const reason = z
  .unknown()
  .superRefine((v, ctx) => {
    const problem = reasonProblem(v)
    if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
  })
  .transform((v) => (typeof v === 'string' ? v.trim() : undefined))
  .optional()
const multipliers = z.record(z.string(), z.number().positive().nullable()).optional()
const schemas = {
  tier: z.strictObject({
    ratePerSec: z.number().positive(),
    burst: z.number().positive(),
    rank: z.number().int().min(0).optional(),
    reason,
  }),
  createKey: z.strictObject({
    id: z.string().optional(),
    tier: z.string().min(1),
    ratePerSec: z.number().positive().optional(),
    burst: z.number().positive().optional(),
    reason,
  }),
  updateKey: z.strictObject({
    tier: z.string().min(1).optional(),
    ratePerSec: z.number().positive().nullable().optional(),
    burst: z.number().positive().nullable().optional(),
    reason,
  }),
  controls: z.strictObject({
    tiers: multipliers,
    classes: multipliers,
    clients: multipliers,
    defensive: z.boolean().optional(),
    /** scope tiers, classes and defensive to one service */
    service: z.string().min(1).optional(),
    /** the entries set stop applying after this long */
    ttlMs: z.number().int().positive().optional(),
    reason,
  }),
  reasonOnly: z.strictObject({ reason }).optional(),
}

const parse = <T>(schema: z.ZodType<T>, body: unknown): T => parseBody(schema, body, VGL_ERR_LIMITS_BAD_INPUT)

function meta(req: FastifyRequest, body: { reason?: string | undefined } | undefined): ChangeMeta {
  return { actor: actorOf(req), reason: body?.reason ?? '' }
}

/** The request's If-Match / If-None-Match, for a conditional write; empty without them. */
function condition(req: FastifyRequest): WriteCondition {
  const { 'if-match': ifMatch, 'if-none-match': ifNoneMatch } = req.headers
  return {
    ...(typeof ifMatch === 'string' ? { ifMatch } : {}),
    ...(typeof ifNoneMatch === 'string' ? { ifNoneMatch } : {}),
  }
}

/** Sends a resource with its ETag (the version a conditional write names in If-Match). */
function withEtag<T>(reply: FastifyReply, resource: T, etag = etagOf(resource)): T {
  void reply.header('etag', etag)
  return resource
}

/**
 * @example
 * await admin.register(limitsRoutes({ limiter, token }))
 * // curl -X PUT -H "Authorization: Bearer $T" -d '{"ratePerSec":5,"burst":10}' :8081/api/limits/tiers/STD
 */
export function limitsRoutes(opts: LimitsRoutesOptions): FastifyPluginAsync {
  const { limiter } = opts
  const authorize = opts.authorize ?? createAuthorizer(opts.token)
  return async function limitsPlugin(app) {
    // Same problem+json shape as the rest of the admin API, with the limits codes' fixes.
    app.setErrorHandler((err: unknown, req: FastifyRequest, reply: FastifyReply) => {
      if (isVigilError(err))
        return sendProblem(reply, err, FIX[err.code] !== undefined ? { fix: FIX[err.code] } : {})
      const body = bodyErrorOf(err as { code?: unknown }, req)
      if (body !== null) return sendProblem(reply, body)
      const e = err as { statusCode?: number; message?: string }
      if (typeof e.statusCode === 'number' && e.statusCode < 500) {
        return sendProblem(reply, VGL_ERR_LIMITS_BAD_INPUT(e.message ?? 'bad request'), {
          fix: FIX.VGL_ERR_LIMITS_BAD_INPUT,
        })
      }
      return sendProblem(reply, err)
    })
    app.addHook('preHandler', async (req) => {
      if (req.method !== 'GET' && req.method !== 'HEAD') authorize(req)
    })

    app.get('/api/limits/tiers', async () => limiter.tiers())
    app.get<{ Params: { name: string } }>('/api/limits/tiers/:name', async (req, reply) => {
      const tier = limiter.tier(req.params.name)
      // the resource itself is absent: 404, as for a key; a tier named inside a body stays a 400
      if (tier === undefined)
        throw VGL_ERR_LIMITS_TIER_NOT_FOUND(
          req.params.name,
          Object.keys(limiter.tiers()).join(', '),
          req.params.name,
        )
      return withEtag(reply, tier)
    })
    app.put<{ Params: { name: string } }>('/api/limits/tiers/:name', async (req, reply) => {
      const body = parse(schemas.tier, req.body)
      const { reason: _r, ...tier } = body
      const cond = condition(req)
      const after = await limiter.setTier(req.params.name, tier, meta(req, body), cond)
      return withEtag(reply, after, cond.etag)
    })

    app.get('/api/limits/keys', async () => limiter.keys())
    app.get<{ Params: { id: string } }>('/api/limits/keys/:id', async (req, reply) => {
      const key = limiter.key(req.params.id)
      if (key === undefined) throw VGL_ERR_LIMITS_UNKNOWN_KEY(req.params.id)
      return withEtag(reply, key)
    })
    app.post('/api/limits/keys', async (req, reply) => {
      const body = parse(schemas.createKey, req.body)
      const { reason: _r, ...input } = body
      const created = await limiter.createKey(stripUndefined(input), meta(req, body))
      const { key: _secret, ...resource } = created
      return reply.code(201).header('etag', etagOf(resource)).send(created)
    })
    app.patch<{ Params: { id: string } }>('/api/limits/keys/:id', async (req, reply) => {
      const body = parse(schemas.updateKey, req.body)
      const { reason: _r, ...patch } = body
      const cond = condition(req)
      const after = await limiter.updateKey(req.params.id, stripUndefined(patch), meta(req, body), cond)
      return withEtag(reply, after, cond.etag)
    })
    app.delete<{ Params: { id: string } }>('/api/limits/keys/:id', async (req, reply) => {
      const body = parse(schemas.reasonOnly, req.body)
      const cond = condition(req)
      const after = await limiter.revokeKey(req.params.id, meta(req, body), cond)
      return withEtag(reply, after, cond.etag)
    })

    app.get<{ Params: { clientId: string } }>('/api/limits/buckets/:clientId', async (req) =>
      limiter.buckets(req.params.clientId),
    )

    app.get('/api/limits/controls', async (_req, reply) => withEtag(reply, limiter.controls()))
    app.put('/api/limits/controls', async (req, reply) => {
      const body = parse(schemas.controls, req.body)
      const { reason: _r, ...patch } = body
      const cond = condition(req)
      const after = await limiter.setControls(stripUndefined(patch), meta(req, body), cond, {
        knownNamesOnly: true,
      })
      return withEtag(reply, after, cond.etag)
    })
    app.delete('/api/limits/controls', async (req, reply) => {
      const body = parse(schemas.reasonOnly, req.body)
      const cond = condition(req)
      const after = await limiter.clearControls(meta(req, body), cond)
      return withEtag(reply, after, cond.etag)
    })

    app.get('/api/limits/clients', async () => limiter.clientStats())
    app.get('/api/limits/fallback', async () => limiter.fallbackState())
  }
}

// exactOptionalPropertyTypes-friendly: drop keys whose value is undefined.
function stripUndefined<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>
  }
}
