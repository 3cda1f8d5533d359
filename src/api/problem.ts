/**
 * @module Error bodies of the admin API: `application/problem+json` (RFC 9457) carrying Vigil's
 * `{ code, message, fix }`, plus `status` and `title`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import {
  isVigilError,
  VGL_ERR_API_BAD_BODY,
  VGL_ERR_API_BAD_REQUEST,
  VGL_ERR_API_BODY_TOO_LARGE,
  VGL_ERR_API_INTERNAL,
  VGL_ERR_API_METHOD_NOT_ALLOWED,
  VGL_ERR_API_NOT_FOUND,
  VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE,
  type VigilError,
} from '../errors.js'
import { validationProblem } from './validation-message.js'

export interface ApiProblem {
  code: string
  message: string
  fix: string
  status: number
  title: string
  [extra: string]: unknown
}

const FIX: Record<string, string> = {
  VGL_ERR_API_UNAUTHORIZED: 'send the admin token: -H "Authorization: Bearer $VIGIL_ADMIN_TOKEN"',
  VGL_ERR_API_NO_TOKEN:
    'set admin.token in vigil.yaml (e.g. token: ${VIGIL_ADMIN_TOKEN}) or export VIGIL_ADMIN_TOKEN, then restart Vigil',
  VGL_ERR_API_NOT_FOUND: 'see the admin routes at /docs (OpenAPI JSON at /docs/json)',
  VGL_ERR_API_METHOD_NOT_ALLOWED: 'use a method the message names; /docs lists every route with its method',
  VGL_ERR_API_BAD_REQUEST: 'fix the named field; the request schema is in /docs/json',
  VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE:
    "send the body as JSON with Content-Type: application/json (curl -H 'content-type: application/json' -d '{...}'), or send no body",
  VGL_ERR_API_BAD_BODY:
    'send a JSON object ({} when there is nothing to say), or no body and no Content-Type',
  VGL_ERR_API_BODY_TOO_LARGE: 'send a smaller body; no admin request needs more than 1 MiB',
  VGL_ERR_API_RELOAD: 'fix each listed problem (vigil check-config FILE shows them), then reload again',
  VGL_ERR_API_NO_GATEWAY:
    "ask a gateway's admin API instead (admin.host:admin.port of vigil gateway, 8081 by default), e.g. curl http://127.0.0.1:8081/api/routes",
  VGL_ERR_API_NO_RELOAD:
    "restart it (SIGTERM, then start it again) to apply a changed file; a gateway's own admin API reloads its routes (POST /api/config/reload there, or SIGHUP)",
  VGL_ERR_API_INTERNAL: 'check the admin log for this request id; report it if it repeats',
  // the message names the field and what it takes; these say where the rest is described
  VGL_ERR_CONTROL_QUERY:
    'fix the named query parameter as the message says; /docs lists each route with its parameters',
  VGL_ERR_JOURNEYS_QUERY:
    'fix the named query parameter as the message says; /docs lists each route with its parameters',
  VGL_ERR_JOURNEYS_WHATIF:
    'fix the named field as the message says; docs/journeys.md describes each scenario kind',
  VGL_ERR_ALERTS_BAD_INPUT: 'fix the named field as the message says; the request schema is in /docs/json',
  VGL_ERR_ALERTS_NOT_FOUND:
    'GET /api/alerts lists the alerts, GET /api/alerts/silences?all=true the silences',
  VGL_ERR_ALERTS_NOT_FIRING:
    'only a firing alert can be acknowledged; GET /api/alerts?state=firing lists them',
  VGL_ERR_SCALE_REQUEST: 'fix the named field as the message says; the request schema is in /docs/json',
  // below: the code's own fix, for when the place that raised it could not say more (most of the
  // scale and journeys errors carry one made for the request, with the service, route or trace)
  VGL_ERR_SCALE_UNKNOWN_SERVICE:
    'GET /api/scaling lists the scaled services; a service is scaled once its entry in vigil.yaml has a scale: block with an actuator (docs/autoscaling.md)',
  VGL_ERR_SCALE_ACTUATOR:
    "read the cause in the message and check the service's scale.actuator: the command (process), DOCKER_HOST and the image (docker), the kubeconfig and its permissions (kubernetes); failed scales are retried with backoff",
  VGL_ERR_SCALE_UNHEALTHY:
    "check the new replica's log and its health check (scale.actuator.healthPath), or raise scale.actuator.startTimeoutMs (rolloutTimeoutMs on Kubernetes); the replica was stopped and never added to the pool",
  VGL_ERR_GATEWAY_TARGETS:
    "the actuator reported replicas the gateway cannot route to: check the service's scale.actuator (its replicas must be http(s) URLs of a service in vigil.yaml)",
  VGL_ERR_JOURNEYS_NO_DATA:
    'GET /api/journeys lists the entry routes with traffic; widen the window (window=1h, or from/to around when traffic flowed) or send traffic through the route and ask again',
  VGL_ERR_JOURNEYS_TRACE_NOT_FOUND:
    'only failed, slow and sampled traces are kept (telemetry.spans.sampleRate), for store.retention.spans; GET /api/traces?service=NAME&window=1h lists the kept ones',
  VGL_ERR_CONTROL_SERIES_KEY:
    'take the key from GET /api/series: service|route|env, URL-encoded (| is %7C), with * for a rolled-up part',
  VGL_ERR_CONTROL_SERIES_NOT_FOUND:
    'GET /api/series lists the keys; a new series appears once the first telemetry window with its traffic has closed',
  VGL_ERR_CONTROL_UNAVAILABLE:
    'the control plane did not answer: look in the log for why it stopped, restart Vigil, and send the request again once GET /ready answers 200',
  VGL_ERR_CONTROL_DISABLED:
    'set enabled: true in the config section the message names (detect:, forecast:, journeys: or alerts:) and restart Vigil',
  VGL_ERR_CONTROL_NOT_LEADER:
    "send the request to the leader's admin API (the message names it; GET /api/control/leader too), or retry: a follower takes over within control.leader.ttlMs when the leader is gone",
  VGL_ERR_CONTROL_LEASE:
    'check NATS (bus.servers) and that JetStream is enabled; the control plane keeps trying, and the request can be sent again once it leads',
  VGL_ERR_STORE_WRITE:
    'the store refused the write: check the database (disk space and permissions of store.path; the PostgreSQL server of store.url), then send the request again',
  VGL_ERR_STORE_UNWRITABLE:
    'free space on the disk that holds store.path (or make it writable again), or point store.path at a larger disk and restart; Vigil keeps proxying and retries, send the request again once GET /health shows store.ok: true',
  VGL_ERR_STORE_FILE_GONE:
    'restart Vigil: it creates a new database at store.path (or put the original file back first); to reclaim space shorten store.retention instead of deleting the file',
  VGL_ERR_STORE_CLOSED: 'Vigil is stopping or restarting: send the request again once GET /ready answers 200',
  VGL_ERR_STORE_FENCED:
    'another control plane leads now and this one may not write: send the request to the leader (GET /api/control/leader names it)',
  VGL_ERR_LIMITS_UNKNOWN_TIER:
    'GET /api/limits/tiers lists the tiers; PUT /api/limits/tiers/NAME creates one',
  VGL_ERR_LIMITS_TIER_NOT_FOUND:
    'GET /api/limits/tiers lists the tiers; PUT /api/limits/tiers/NAME creates one',
  VGL_ERR_LIMITS_UNKNOWN_KEY: 'GET /api/limits/keys lists the key ids',
  VGL_ERR_LIMITS_KEY_EXISTS: 'choose another id, or change the key with PATCH /api/limits/keys/ID',
  VGL_ERR_LIMITS_BAD_INPUT:
    'fix the named field as the message says (a value in the range it gives, or one of the names it lists); the request schema is in /docs/json',
  VGL_ERR_LIMITS_STATE_UNAVAILABLE:
    'free space on the disk that holds limits.dataDir and make it writable (or, when other writers keep changing the state, wait a moment), then send the request again; nothing was changed, and decisions keep the last known state meanwhile',
  VGL_ERR_LIMITS_REDIS_UNAVAILABLE:
    'check that Redis runs at the address named and that limits.redis.url (host, port, password) points at it; the gateway log has the Redis client error. Then send the request again; rate-limit decisions follow limits.fallback meanwhile',
  VGL_ERR_LIMITS_PRECONDITION_FAILED:
    'GET the resource again, apply your change to what it returns, and send its ETag in If-Match',
  VGL_ERR_LIMITS_CONFIG: 'fix the named field in vigil.yaml (vigil check-config FILE checks it), then reload',
}

/** The fix the admin API sends for `code` when the error carries none of its own; null: none. */
export function fixOf(code: string): string | null {
  return FIX[code] ?? null
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
}

/**
 * The fix for a 401, spelled out for the call that was refused: a read of the dashboard's feed
 * must not be told to send `-X POST`.
 */
export function unauthorizedFix(method: string, path: string): string {
  const how = method === 'GET' ? '' : ` -X ${method}`
  return `send the admin token: curl -H "Authorization: Bearer $VIGIL_ADMIN_TOKEN"${how} <admin URL>${path}`
}

/**
 * Builds the problem body for a Vigil error; `fix` is the one the error carries (made for that
 * request), else the code's documented fix.
 */
export function problemOf(err: VigilError, extra: Record<string, unknown> = {}): ApiProblem {
  const status = err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500
  const own = (err as { fix?: unknown }).fix
  return {
    code: err.code,
    message: err.message,
    fix: typeof own === 'string' ? own : (FIX[err.code] ?? 'see docs/errors.md for this code'),
    status,
    title: TITLES[status] ?? 'Error',
    ...extra,
  }
}

/** Sends any error as problem+json: Vigil errors keep their code and status, others become 500. */
export function sendProblem(
  reply: FastifyReply,
  err: unknown,
  extra: Record<string, unknown> = {},
): FastifyReply {
  const e = isVigilError(err)
    ? (err as VigilError)
    : VGL_ERR_API_INTERNAL((err as Error)?.message ?? String(err))
  const body = problemOf(e, extra)
  return reply.code(body.status).type('application/problem+json').send(body)
}

/**
 * Fastify's own refusals of a request body (before any handler runs) as Vigil errors with their
 * real status: 415 for a body whose Content-Type is missing or not JSON, 413, and 400 for JSON that
 * does not parse. Null for any other error.
 */
export function bodyErrorOf(err: { code?: unknown }, req: FastifyRequest): VigilError | null {
  const path = req.url.split('?')[0]
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const type = req.headers['content-type']
      return VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE(
        req.method,
        path,
        type === undefined ? 'no Content-Type' : JSON.stringify(type.slice(0, 100)),
      )
    }
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return VGL_ERR_API_BODY_TOO_LARGE(req.method, path, req.routeOptions.bodyLimit ?? 0)
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return VGL_ERR_API_BAD_BODY(req.method, path, 'the body is empty but Content-Type says JSON')
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return VGL_ERR_API_BAD_BODY(req.method, path, 'the body is not valid JSON')
    default:
      return null
  }
}

/** The admin server's error handler: schema failures → 400, Vigil errors as they are, the rest → 500. */
export function adminErrorHandler(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (isVigilError(err)) return sendProblem(reply, err)
  const body = bodyErrorOf(err, req)
  if (body !== null) return sendProblem(reply, body)
  if (err.validation !== undefined) return sendProblem(reply, validationProblem(err, req))
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return sendProblem(reply, VGL_ERR_API_BAD_REQUEST(err.message))
  }
  req.log.error({ err }, 'admin API handler failed')
  return sendProblem(reply, VGL_ERR_API_INTERNAL(err.message))
}

/**
 * The not-found handler: 404 for a path no route has, 405 with `Allow` for a path that exists under
 * other methods (`methodsOf` answers them), so `DELETE /api/limits/tiers/STD` says what it takes
 * instead of claiming the route does not exist.
 */
export function adminNotFound(
  methodsOf: (path: string) => readonly string[] = () => [],
): (req: FastifyRequest, reply: FastifyReply) => FastifyReply {
  return function notFound(req, reply) {
    const path = req.url.split('?')[0]
    const allowed = methodsOf(path)
    // a route of this very method that found nothing (a missing asset) is a plain 404
    if (allowed.length === 0 || allowed.includes(req.method))
      return sendProblem(reply, VGL_ERR_API_NOT_FOUND(req.method, path))
    reply.header('allow', allowed.join(', '))
    return sendProblem(reply, VGL_ERR_API_METHOD_NOT_ALLOWED(req.method, path, allowed.join(', ')))
  }
}

/**
 * Fastify's refusals before routing (a path whose percent-encoding does not decode) as
 * problem+json, like every other admin error, instead of Fastify's own JSON shape.
 */
export function adminFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): void {
  const path = req.url.split('?')[0]
  const shown = JSON.stringify(path.length > 100 ? `${path.slice(0, 97)}...` : path)
  const e =
    err.code === 'FST_ERR_BAD_URL'
      ? Object.assign(
          VGL_ERR_API_BAD_REQUEST(`path: ${shown} is not a valid URL: a % must start an escape like %20`),
          { fix: 'percent-encode the path (a literal % is %25); encodeURIComponent does it for one segment' },
        )
      : VGL_ERR_API_BAD_REQUEST(err.message)
  sendProblem(reply, e)
}

/** JSON schema of a problem body, for route `response` schemas. */
export const problemSchema = {
  type: 'object',
  required: ['code', 'message', 'fix'],
  properties: {
    code: { type: 'string', examples: ['VGL_ERR_API_UNAUTHORIZED'] },
    message: { type: 'string' },
    fix: { type: 'string' },
    status: { type: 'integer' },
    title: { type: 'string' },
  },
  additionalProperties: true,
} as const
