/**
 * @module Alerts API (Fastify plugin): list and get alerts with their evidence, acknowledge a
 * firing alert, and create, list and delete silences. Mutating calls need the admin token (the
 * root auth hook) and are recorded in the audit log; the actor is `by` / `createdBy` in the body,
 * else `X-Vigil-Actor`, else `admin`, and the reason is the `comment` (a deletion's `reason`).
 */
import type { FastifyPluginAsync } from 'fastify'
import { z } from 'zod'
import type { SilenceLabels } from '../../alerts/index.js'
import type { AuditLog } from '../../audit.js'
import type { AlertSource, SilenceInput } from '../../control/alerting.js'
import { VGL_ERR_ALERTS_BAD_INPUT } from '../../errors.js'
import { actorOf, reasonProblem, recordAdminChange } from '../admin-audit.js'
import { parseBody } from '../body.js'
import { boolParam, enumParam, textParam } from '../params.js'
import { problemSchema, sendProblem } from '../problem.js'

export interface AlertRoutesOptions {
  source: AlertSource
  now?: () => number
  /** where silences and acknowledgements are recorded as admin changes */
  audit?: AuditLog
  /**
   * The values this process's current config fixes per label (`silenceLabels(config)`), read at
   * each call: a silence's exact matcher on one must name a configured value
   */
  labels?: () => SilenceLabels
}

const obj = { type: 'object', additionalProperties: true } as const

/** JSON schema of an alert (OpenAPI); nested records keep every field. */
export const alertSchema = {
  type: 'object',
  required: ['fingerprint', 'rule', 'kind', 'state', 'key', 'labels', 'evidence'],
  properties: {
    fingerprint: { type: 'string' },
    rule: { type: 'string' },
    kind: {
      type: 'string',
      enum: ['latency', 'error-ratio', 'failure', 'forecast', 'anomaly', 'rate-limit', 'actuator'],
    },
    mode: { type: 'string', enum: ['shadow', 'enforce'] },
    severity: { type: 'string', enum: ['info', 'warning', 'critical'] },
    key: { type: 'string', description: 'series key service|route|env' },
    series: obj,
    level: { type: 'string' },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    state: { type: 'string', enum: ['pending', 'firing', 'resolved'] },
    activeAtMs: { type: 'integer' },
    firingAtMs: { type: ['integer', 'null'] },
    resolvedAtMs: { type: ['integer', 'null'] },
    resolvedBy: { type: ['string', 'null'] },
    lastEvalMs: { type: 'integer' },
    lastTrafficMs: {
      type: 'integer',
      description:
        'end of the newest window with enough requests for the rule to judge (staleness counts from it)',
    },
    trueWindows: { type: 'integer' },
    falseWindows: { type: 'integer' },
    evidence: { ...obj, description: 'observed, expected, band, threshold, summary, rule, links, details' },
    latest: obj,
    notified: obj,
    suppressed: { type: ['string', 'null'], enum: ['silenced', 'incident', null] },
    silencedBy: { type: ['string', 'null'] },
    ack: { type: ['object', 'null'], additionalProperties: true },
    incident: { type: ['string', 'null'] },
    escalated: {
      type: 'boolean',
      description: "a member of an incident that pages for itself: more severe than the incident's head",
    },
    context: { ...obj, description: 'root cause, impact and other context added by enrichers' },
  },
} as const

const silenceSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    matchers: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          name: { type: 'string' },
          value: { type: 'string' },
          isRegex: { type: 'boolean' },
          isEqual: { type: 'boolean' },
        },
      },
    },
    startsAtMs: { type: 'integer' },
    endsAtMs: { type: 'integer' },
    createdBy: { type: 'string' },
    comment: { type: 'string' },
    createdAtMs: { type: 'integer' },
  },
} as const

const time = z.union([z.number().int().nonnegative(), z.string().min(1)])
const DURATION = /^(\d+)(s|m|h|d)$/
const UNIT = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const

const silenceBody = z.strictObject({
  matchers: z.union([z.string(), z.array(z.record(z.string(), z.unknown()))], {
    error: (issue) =>
      issue.input === undefined
        ? undefined
        : 'expected matchers as text (service="orders", env=~"prod|staging") or a list of { name, value, isRegex, isEqual }',
  }),
  startsAt: time.optional(),
  endsAt: time.optional(),
  duration: z.string().regex(DURATION, 'expected a duration like 30m, 2h or 1d').optional(),
  createdBy: z.string().max(200).optional(),
  comment: z.string().max(2_000).default(''),
})
const deleteBody = z
  .strictObject({
    reason: z.unknown().superRefine((v, ctx) => {
      const problem = reasonProblem(v)
      if (problem !== null) ctx.addIssue({ code: 'custom', message: problem })
    }),
  })
  .optional()
const ackBody = z
  .strictObject({ by: z.string().max(200).optional(), comment: z.string().max(2_000).default('') })
  .default({ comment: '' })

const parse = <T>(schema: z.ZodType<T>, body: unknown): T => parseBody(schema, body, VGL_ERR_ALERTS_BAD_INPUT)

/**
 * {@link parse} for a silence or an acknowledgement, whose reason is their `comment`: every other
 * mutating call takes `reason`, so one sent here is told where it goes rather than only that the
 * key is unknown.
 */
function parseCommented<T>(schema: z.ZodType<T>, body: unknown): T {
  if (typeof body === 'object' && body !== null && 'reason' in body && !('comment' in body))
    throw VGL_ERR_ALERTS_BAD_INPUT(
      'reason: silences and acknowledgements take their reason as "comment"; send { "comment": "..." }',
    )
  return parse(schema, body)
}

function toMs(name: string, v: number | string): number {
  if (typeof v === 'number') return v
  if (/^\d+$/.test(v)) return Number(v)
  const t = Date.parse(v)
  if (Number.isNaN(t))
    throw VGL_ERR_ALERTS_BAD_INPUT(`${name}: expected ms since the epoch or an ISO 8601 time, got "${v}"`)
  return t
}

/** The alerts routes, to pass in `createAdminServer({ plugins })`. */
export function alertRoutes(opts: AlertRoutesOptions): FastifyPluginAsync {
  const src = opts.source
  const now = opts.now ?? Date.now
  return async function alertsPlugin(app) {
    app.get<{ Querystring: { state?: string; service?: string; env?: string; rule?: string } }>(
      '/api/alerts',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Alerts with their evidence: firing first, then pending, then resolved',
          querystring: {
            type: 'object',
            properties: {
              state: {
                type: 'string',
                description: 'active (default: pending and firing), pending, firing, resolved, all',
              },
              service: { type: 'string' },
              env: { type: 'string' },
              rule: { type: 'string' },
            },
          },
          response: {
            200: { type: 'object', properties: { alerts: { type: 'array', items: alertSchema } } },
            400: problemSchema,
          },
        },
      },
      async (req, reply) => {
        try {
          const q = req.query
          const state = enumParam('state', q.state, [
            'active',
            'pending',
            'firing',
            'resolved',
            'all',
          ] as const)
          const alerts = await src.listAlerts({
            state: state ?? 'active',
            service: textParam(q.service),
            env: textParam(q.env),
            rule: textParam(q.rule),
          })
          return { alerts }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )

    app.get(
      '/api/alerts/silences',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Silences: active and future ones (all=true: also those that ended)',
          querystring: { type: 'object', properties: { all: { type: 'string' } } },
          response: {
            200: { type: 'object', properties: { silences: { type: 'array', items: silenceSchema } } },
          },
        },
      },
      async (req, reply) => {
        try {
          const all = boolParam('all', (req.query as { all?: string }).all, false, VGL_ERR_ALERTS_BAD_INPUT)
          return { silences: await src.listSilences(all) }
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )

    app.post(
      '/api/alerts/silences',
      {
        schema: {
          tags: ['alerts'],
          summary:
            'Silence alerts whose labels match every matcher, from startsAt (default now) to endsAt (or for duration)',
          security: [{ bearerAuth: [] }],
          body: {
            type: 'object',
            description:
              'matchers: "service=orders, env=~\\"prod|staging\\"" or [{ name, value, isRegex, isEqual }]; endsAt or duration (e.g. 2h); createdBy; comment',
          },
          response: { 201: silenceSchema, 400: problemSchema, 401: problemSchema },
        },
      },
      async (req, reply) => {
        try {
          const b = parseCommented(silenceBody, req.body)
          const startsAtMs = b.startsAt !== undefined ? toMs('startsAt', b.startsAt) : now()
          let endsAtMs: number
          if (b.endsAt !== undefined) endsAtMs = toMs('endsAt', b.endsAt)
          else if (b.duration !== undefined) {
            const m = DURATION.exec(b.duration) as RegExpExecArray
            endsAtMs = startsAtMs + Number(m[1]) * UNIT[m[2] as keyof typeof UNIT]
          } else throw VGL_ERR_ALERTS_BAD_INPUT('endsAt: give endsAt or duration (e.g. "duration": "2h")')
          const silence = await src.createSilence({
            matchers: b.matchers as SilenceInput['matchers'], // items are checked by the source
            startsAtMs,
            endsAtMs,
            createdBy: actorOf(req, b.createdBy),
            comment: b.comment,
            ...(opts.labels !== undefined ? { labels: opts.labels() } : {}),
          })
          recordAdminChange(
            opts.audit,
            req,
            {
              kind: 'alerts.silence.create',
              subject: silence.id,
              before: null,
              after: silence,
              reason: b.comment,
            },
            { actor: silence.createdBy, now },
          )
          return reply.code(201).send(silence)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )

    app.delete<{ Params: { id: string } }>(
      '/api/alerts/silences/:id',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Delete (end) a silence; optional body { reason }',
          security: [{ bearerAuth: [] }],
          response: { 204: { type: 'null' }, 400: problemSchema, 404: problemSchema },
        },
      },
      async (req, reply) => {
        try {
          const b = parse(deleteBody, req.body)
          const before = (await src.listSilences(true)).find((x) => x.id === req.params.id) ?? null
          await src.deleteSilence(req.params.id)
          recordAdminChange(
            opts.audit,
            req,
            {
              kind: 'alerts.silence.delete',
              subject: req.params.id,
              before,
              after: null,
              reason: b?.reason as string | undefined,
            },
            { now },
          )
          return reply.code(204).send()
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )

    app.get<{ Params: { fingerprint: string } }>(
      '/api/alerts/:fingerprint',
      {
        schema: {
          tags: ['alerts'],
          summary: 'One alert with its evidence, notifications, silence and acknowledgement',
          response: { 200: alertSchema, 404: problemSchema },
        },
      },
      async (req, reply) => {
        try {
          return await src.getAlert(req.params.fingerprint)
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )

    app.post<{ Params: { fingerprint: string } }>(
      '/api/alerts/:fingerprint/ack',
      {
        schema: {
          tags: ['alerts'],
          summary: 'Acknowledge a firing alert: it is not sent again until it resolves',
          // no body schema: Fastify would refuse a call with no body, and every field is optional
          description: 'Optional JSON body { by?, comment? }; no body (and no Content-Type) is fine.',
          security: [{ bearerAuth: [] }],
          response: { 200: alertSchema, 400: problemSchema, 404: problemSchema, 409: problemSchema },
        },
      },
      async (req, reply) => {
        try {
          const b = parseCommented(ackBody, req.body)
          const by = actorOf(req, b.by)
          const alert = await src.ackAlert(req.params.fingerprint, by, b.comment)
          recordAdminChange(
            opts.audit,
            req,
            {
              kind: 'alerts.ack',
              subject: req.params.fingerprint,
              before: null,
              after: alert.ack ?? null,
              reason: b.comment,
            },
            { actor: by, now },
          )
          return alert
        } catch (err) {
          return sendProblem(reply, err)
        }
      },
    )
  }
}
