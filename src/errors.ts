/** @module One registry of every Vigil error code (VGL_ERR_*), documented row by row in docs/errors.md. */
import { format } from 'node:util'

export interface ErrorDefinition {
  readonly code: string
  /** printf-style template (`%s`, `%d`) filled from `create(...args)` */
  readonly template: string
  /** HTTP status when the error reaches a client; 500 for internal errors */
  readonly statusCode: number
}

/**
 * An error with a stable code. Match on `err.code`, never `instanceof`: error classes do not
 * survive `postMessage` to the control-plane worker.
 */
export class VigilError extends Error {
  readonly code: string
  readonly statusCode: number
  /**
   * What to do about this very error, when the place that raised it knows more than the code's
   * documented fix (the service, the route, the actuator): the admin API's problem `fix`.
   */
  fix?: string
  constructor(code: string, message: string, statusCode: number, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VigilError'
    this.code = code
    this.statusCode = statusCode
  }
}

const registry = new Map<string, ErrorDefinition>()

export interface ErrorFactory extends ErrorDefinition {
  (...args: unknown[]): VigilError
}

/** Defines a code once; a second definition of the same code is a programming error. */
export function defineError(code: string, template: string, statusCode = 500): ErrorFactory {
  if (!/^VGL_ERR_[A-Z0-9_]+$/.test(code))
    throw new Error(`error code ${code} must match VGL_ERR_<AREA>_<WHAT>`)
  if (registry.has(code)) throw new Error(`error code ${code} defined twice`)
  const def: ErrorDefinition = { code, template, statusCode }
  registry.set(code, def)
  const factory = ((...args: unknown[]) =>
    new VigilError(code, format(template, ...args), statusCode)) as ErrorFactory
  Object.defineProperties(factory, {
    code: { value: code },
    template: { value: template },
    statusCode: { value: statusCode },
  })
  return factory
}

/** `err` with the fix for this very request; see {@link VigilError.fix}. */
export function withFix(err: VigilError, fix: string): VigilError {
  err.fix = fix
  return err
}

/** Every defined code, for docs and tests. */
export function errorCodes(): readonly ErrorDefinition[] {
  return [...registry.values()]
}

export function isVigilError(err: unknown): err is VigilError {
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { code?: unknown }).code === 'string' &&
    (err as { code: string }).code.startsWith('VGL_ERR_')
  )
}

// ---- config ----------------------------------------------------------------------------
export const VGL_ERR_CONFIG_INVALID = defineError('VGL_ERR_CONFIG_INVALID', '%s', 400)
export const VGL_ERR_CONFIG_READ = defineError('VGL_ERR_CONFIG_READ', 'cannot read config file %s: %s', 400)
export const VGL_ERR_CONFIG_YAML = defineError('VGL_ERR_CONFIG_YAML', '%s: not valid YAML: %s', 400)
export const VGL_ERR_CONFIG_ENV = defineError('VGL_ERR_CONFIG_ENV', '%s', 400)

// ---- cli -------------------------------------------------------------------------------
export const VGL_ERR_CLI_USAGE = defineError('VGL_ERR_CLI_USAGE', '%s', 2)
export const VGL_ERR_CSV_INPUT = defineError('VGL_ERR_CSV_INPUT', '%s', 400)
export const VGL_ERR_CLI_OUTPUT = defineError('VGL_ERR_CLI_OUTPUT', '%s', 400)

// ---- api (admin server) ----------------------------------------------------------------
export const VGL_ERR_API_UNAUTHORIZED = defineError(
  'VGL_ERR_API_UNAUTHORIZED',
  'missing or wrong bearer token for %s %s',
  401,
)
export const VGL_ERR_API_NO_TOKEN = defineError(
  'VGL_ERR_API_NO_TOKEN',
  'no admin token is configured, so %s %s is refused',
  403,
)
export const VGL_ERR_API_NOT_FOUND = defineError('VGL_ERR_API_NOT_FOUND', 'no admin route %s %s', 404)
export const VGL_ERR_API_METHOD_NOT_ALLOWED = defineError(
  'VGL_ERR_API_METHOD_NOT_ALLOWED',
  '%s is not a method of %s; it takes %s',
  405,
)
export const VGL_ERR_API_BAD_REQUEST = defineError('VGL_ERR_API_BAD_REQUEST', '%s', 400)
export const VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE = defineError(
  'VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE',
  '%s %s: a body sent as %s cannot be read; the admin API reads JSON',
  415,
)
export const VGL_ERR_API_BAD_BODY = defineError('VGL_ERR_API_BAD_BODY', '%s %s: %s', 400)
export const VGL_ERR_API_BODY_TOO_LARGE = defineError(
  'VGL_ERR_API_BODY_TOO_LARGE',
  '%s %s: the body is larger than the admin API accepts (%d bytes)',
  413,
)
export const VGL_ERR_API_RELOAD = defineError('VGL_ERR_API_RELOAD', 'config reload rejected: %s', 422)
export const VGL_ERR_API_NO_GATEWAY = defineError(
  'VGL_ERR_API_NO_GATEWAY',
  'GET %s: vigil control runs no gateway, so it has no %s; every vigil gateway serves them on its own admin API',
  404,
)
export const VGL_ERR_API_NO_RELOAD = defineError(
  'VGL_ERR_API_NO_RELOAD',
  'POST /api/config/reload: %s reads its config file once, at start, and does not reload it',
  501,
)
export const VGL_ERR_API_INTERNAL = defineError('VGL_ERR_API_INTERNAL', 'admin API failure: %s', 500)
/** the message is the whole line of src/listen-error.ts, naming the field and the fix */
export const VGL_ERR_API_LISTEN = defineError('VGL_ERR_API_LISTEN', '%s', 500)
export const VGL_ERR_API_WEAK_TOKEN = defineError('VGL_ERR_API_WEAK_TOKEN', '%s', 500)

// ---- sim (mock upstreams, load generator, demo) ------------------------------------------
export const VGL_ERR_SIM_LATENCY_RANGE = defineError(
  'VGL_ERR_SIM_LATENCY_RANGE',
  '%s: expected a latency range like 50-500 (ms, low <= high) or one number, got "%s"',
  400,
)
export const VGL_ERR_SIM_INCIDENT = defineError('VGL_ERR_SIM_INCIDENT', 'bad incident: %s', 400)
export const VGL_ERR_SIM_TARGET = defineError(
  'VGL_ERR_SIM_TARGET',
  '%s: expected an http:// URL such as http://127.0.0.1:8080/orders, got "%s"',
  400,
)
export const VGL_ERR_SIM_PATTERN = defineError(
  'VGL_ERR_SIM_PATTERN',
  '%s: expected one of steady, diurnal, spike, abusive, got "%s"',
  400,
)
export const VGL_ERR_SIM_LISTEN = defineError(
  'VGL_ERR_SIM_LISTEN',
  'mock service %s cannot listen on %s: %s',
  500,
)

// ---- store -----------------------------------------------------------------------------
export const VGL_ERR_STORE_OPEN = defineError('VGL_ERR_STORE_OPEN', 'cannot open the %s store (%s): %s', 500)
export const VGL_ERR_STORE_MISSING = defineError('VGL_ERR_STORE_MISSING', 'no store at %s: %s', 500)
export const VGL_ERR_STORE_MIGRATION = defineError(
  'VGL_ERR_STORE_MIGRATION',
  '%s store: migration %s failed: %s',
  500,
)
export const VGL_ERR_STORE_WRITE = defineError('VGL_ERR_STORE_WRITE', '%s store: %s failed: %s', 500)
export const VGL_ERR_STORE_UNWRITABLE = defineError(
  'VGL_ERR_STORE_UNWRITABLE',
  '%s store at %s cannot be written: %s',
  503,
)
export const VGL_ERR_STORE_FILE_GONE = defineError(
  'VGL_ERR_STORE_FILE_GONE',
  'the SQLite database %s was %s while Vigil had it open: what the control plane writes now is lost when the process stops',
  503,
)
export const VGL_ERR_STORE_CLOSED = defineError('VGL_ERR_STORE_CLOSED', '%s store: used after close()', 500)
export const VGL_ERR_STORE_FENCED = defineError(
  'VGL_ERR_STORE_FENCED',
  '%s store: refused a write with fencing token %d; the current fence is %d (another control plane leads now)',
  409,
)

// ---- control ---------------------------------------------------------------------------
export const VGL_ERR_CONTROL_SERIES_KEY = defineError(
  'VGL_ERR_CONTROL_SERIES_KEY',
  'series key "%s": %s',
  400,
)
export const VGL_ERR_CONTROL_QUERY = defineError('VGL_ERR_CONTROL_QUERY', '%s', 400)
export const VGL_ERR_CONTROL_SERIES_NOT_FOUND = defineError(
  'VGL_ERR_CONTROL_SERIES_NOT_FOUND',
  'no series "%s" (GET /api/series lists the known keys)',
  404,
)
export const VGL_ERR_CONTROL_UNAVAILABLE = defineError(
  'VGL_ERR_CONTROL_UNAVAILABLE',
  'the control plane is not answering: %s',
  503,
)
export const VGL_ERR_CONTROL_DECODE = defineError(
  'VGL_ERR_CONTROL_DECODE',
  'cannot decode a %s message from the bus: %s',
  500,
)
// live detect/forecast (src/control/anomalies.ts, forecasts.ts)
export const VGL_ERR_CONTROL_DISABLED = defineError(
  'VGL_ERR_CONTROL_DISABLED',
  '%s is turned off in the config (%s.enabled: false)',
  404,
)
// leadership and the action log (src/control/leadership.ts, lease.ts, actions.ts)
export const VGL_ERR_CONTROL_NOT_LEADER = defineError(
  'VGL_ERR_CONTROL_NOT_LEADER',
  'this control plane does not lead: %s',
  503,
)
export const VGL_ERR_CONTROL_LEASE = defineError(
  'VGL_ERR_CONTROL_LEASE',
  'leader lease in NATS KV bucket %s: %s',
  503,
)

// ---- gateway ---------------------------------------------------------------------------
// Each area adds its codes in its own section below, and a row in docs/errors.md.
export const VGL_ERR_GATEWAY_NO_ROUTE = defineError('VGL_ERR_GATEWAY_NO_ROUTE', 'no route matches %s %s', 404)
export const VGL_ERR_GATEWAY_NO_TARGET = defineError(
  'VGL_ERR_GATEWAY_NO_TARGET',
  'no healthy target for service %s',
  503,
)
export const VGL_ERR_GATEWAY_BODY_TOO_LARGE = defineError(
  'VGL_ERR_GATEWAY_BODY_TOO_LARGE',
  'request body exceeds %d bytes',
  413,
)
export const VGL_ERR_GATEWAY_LIMITED = defineError(
  'VGL_ERR_GATEWAY_LIMITED',
  'request refused by the rate limiter',
  429,
)
/** the message is the whole line of src/listen-error.ts, naming the field and the fix */
export const VGL_ERR_GATEWAY_LISTEN = defineError('VGL_ERR_GATEWAY_LISTEN', '%s', 500)
export const VGL_ERR_GATEWAY_BAD_REQUEST = defineError('VGL_ERR_GATEWAY_BAD_REQUEST', '%s', 400)
export const VGL_ERR_GATEWAY_TARGETS = defineError('VGL_ERR_GATEWAY_TARGETS', 'setTargets: %s', 400)
export const VGL_ERR_UPSTREAM_TIMEOUT = defineError(
  'VGL_ERR_UPSTREAM_TIMEOUT',
  'upstream %s timed out (%s)',
  504,
)
export const VGL_ERR_UPSTREAM_CONNECT = defineError(
  'VGL_ERR_UPSTREAM_CONNECT',
  'cannot connect to upstream %s: %s',
  502,
)
export const VGL_ERR_UPSTREAM_RESET = defineError(
  'VGL_ERR_UPSTREAM_RESET',
  'upstream %s failed before answering: %s',
  502,
)

// ---- telemetry, OTLP ingest, bus -------------------------------------------------------
export const VGL_ERR_AUDIT_UNWRITABLE = defineError(
  'VGL_ERR_AUDIT_UNWRITABLE',
  'cannot append to the audit log %s: %s',
  503,
)
export const VGL_ERR_TELEMETRY_DECODE = defineError('VGL_ERR_TELEMETRY_DECODE', 'cannot decode %s: %s', 400)
export const VGL_ERR_TELEMETRY_DROPPED = defineError(
  'VGL_ERR_TELEMETRY_DROPPED',
  'telemetry dropped %d %s: %s (counted in %s; further drops are counted silently)',
  500,
)
export const VGL_ERR_TELEMETRY_SERIES_CAP = defineError(
  'VGL_ERR_TELEMETRY_SERIES_CAP',
  'more than telemetry.maxSeries=%d live series in one window; the rest are recorded under the overflow series (counted in %s)',
  500,
)
export const VGL_ERR_OTLP_MALFORMED = defineError('VGL_ERR_OTLP_MALFORMED', 'malformed OTLP request: %s', 400)
export const VGL_ERR_OTLP_TOO_LARGE = defineError(
  'VGL_ERR_OTLP_TOO_LARGE',
  'OTLP request body is larger than telemetry.otlp.maxBodyBytes=%d',
  413,
)
export const VGL_ERR_OTLP_MEDIA_TYPE = defineError(
  'VGL_ERR_OTLP_MEDIA_TYPE',
  'unsupported Content-Type %s: send application/x-protobuf or application/json',
  415,
)
export const VGL_ERR_OTLP_UNAVAILABLE = defineError(
  'VGL_ERR_OTLP_UNAVAILABLE',
  'OTLP spans cannot be taken now (%s); retry later',
  503,
)
/** the message is the whole line of src/listen-error.ts, naming the field and the fix */
export const VGL_ERR_OTLP_LISTEN = defineError('VGL_ERR_OTLP_LISTEN', '%s', 500)
export const VGL_ERR_BUS_CLOSED = defineError('VGL_ERR_BUS_CLOSED', 'the bus is closed: cannot %s', 500)
export const VGL_ERR_BUS_CONNECT = defineError(
  'VGL_ERR_BUS_CONNECT',
  'cannot connect to NATS at %s: %s; check bus.servers (host:port of a running nats-server, comma-separated)',
  500,
)
export const VGL_ERR_BUS_SETUP = defineError(
  'VGL_ERR_BUS_SETUP',
  'NATS at %s is reachable, but %s: %s; %s',
  500,
)
export const VGL_ERR_BUS_NO_STREAM = defineError(
  'VGL_ERR_BUS_NO_STREAM',
  'no JetStream stream captures subject %s (streams: %s)',
  500,
)
export const VGL_ERR_BUS_PUBLISH = defineError('VGL_ERR_BUS_PUBLISH', 'publish to %s failed: %s', 500)

// ---- limits (rate limiter) -------------------------------------------------------------
export const VGL_ERR_LIMITS_CONFIG = defineError('VGL_ERR_LIMITS_CONFIG', '%s', 400)
export const VGL_ERR_LIMITS_UNKNOWN_TIER = defineError(
  'VGL_ERR_LIMITS_UNKNOWN_TIER',
  '%s: unknown tier "%s" (known: %s); create it first with PUT /api/limits/tiers/%s',
  400,
)
export const VGL_ERR_LIMITS_TIER_NOT_FOUND = defineError(
  'VGL_ERR_LIMITS_TIER_NOT_FOUND',
  'no tier "%s" (known: %s); GET /api/limits/tiers lists them, PUT /api/limits/tiers/%s creates it',
  404,
)
export const VGL_ERR_LIMITS_UNKNOWN_KEY = defineError(
  'VGL_ERR_LIMITS_UNKNOWN_KEY',
  'no API key with id "%s" (GET /api/limits/keys lists them)',
  404,
)
export const VGL_ERR_LIMITS_KEY_EXISTS = defineError(
  'VGL_ERR_LIMITS_KEY_EXISTS',
  'an API key with id "%s" already exists; pick another id or PATCH the existing key',
  409,
)
export const VGL_ERR_LIMITS_UNKNOWN_API_KEY = defineError(
  'VGL_ERR_LIMITS_UNKNOWN_API_KEY',
  'unknown or revoked API key',
  401,
)
export const VGL_ERR_LIMITS_BAD_INPUT = defineError('VGL_ERR_LIMITS_BAD_INPUT', '%s', 400)
export const VGL_ERR_LIMITS_STATE_UNAVAILABLE = defineError(
  'VGL_ERR_LIMITS_STATE_UNAVAILABLE',
  'cannot %s the limits state (%s): %s',
  503,
)
export const VGL_ERR_LIMITS_REDIS_UNAVAILABLE = defineError(
  'VGL_ERR_LIMITS_REDIS_UNAVAILABLE',
  'cannot %s: Redis at %s %s; check that Redis runs there and that limits.redis.url points at it, then send the request again',
  503,
)
export const VGL_ERR_LIMITS_PRECONDITION_FAILED = defineError(
  'VGL_ERR_LIMITS_PRECONDITION_FAILED',
  '%s was not changed: %s; GET it again, apply your change to what it returns and send its ETag in If-Match',
  412,
)

// ---- detect ----------------------------------------------------------------------------
export const VGL_ERR_DETECT_INPUT = defineError('VGL_ERR_DETECT_INPUT', '%s', 400)
export const VGL_ERR_DETECT_UNKNOWN = defineError('VGL_ERR_DETECT_UNKNOWN', '%s', 400)
export const VGL_ERR_DETECT_SNAPSHOT = defineError('VGL_ERR_DETECT_SNAPSHOT', '%s', 400)
export const VGL_ERR_DETECT_OPTIONS = defineError('VGL_ERR_DETECT_OPTIONS', '%s', 400)

// ---- forecast --------------------------------------------------------------------------
export const VGL_ERR_FORECAST_INPUT = defineError('VGL_ERR_FORECAST_INPUT', '%s', 400)
export const VGL_ERR_FORECAST_TOO_SHORT = defineError(
  'VGL_ERR_FORECAST_TOO_SHORT',
  'series has %d usable point(s); forecasting needs at least %d: give it a longer history',
  400,
)
export const VGL_ERR_FORECAST_IRREGULAR = defineError('VGL_ERR_FORECAST_IRREGULAR', '%s', 400)
export const VGL_ERR_FORECAST_OPTION = defineError('VGL_ERR_FORECAST_OPTION', '%s', 400)
export const VGL_ERR_FORECAST_MODEL = defineError('VGL_ERR_FORECAST_MODEL', 'model %s failed: %s', 500)
export const VGL_ERR_FORECAST_LSTM_UNAVAILABLE = defineError(
  'VGL_ERR_FORECAST_LSTM_UNAVAILABLE',
  'model lstm needs TensorFlow.js, an optional dependency that is not installed (%s): run ' +
    '`npm install --include=optional` (or `npm install @tensorflow/tfjs@4.22.0 ' +
    '@tensorflow/tfjs-backend-wasm@4.22.0`), or choose another --model',
  501,
)

// ---- journeys --------------------------------------------------------------------------
export const VGL_ERR_JOURNEYS_QUERY = defineError('VGL_ERR_JOURNEYS_QUERY', '%s', 400)
export const VGL_ERR_JOURNEYS_WHATIF = defineError('VGL_ERR_JOURNEYS_WHATIF', '%s', 400)
export const VGL_ERR_JOURNEYS_TRACE_NOT_FOUND = defineError(
  'VGL_ERR_JOURNEYS_TRACE_NOT_FOUND',
  'no stored trace %s',
  404,
)
export const VGL_ERR_JOURNEYS_NO_DATA = defineError('VGL_ERR_JOURNEYS_NO_DATA', '%s', 404)

// ---- alerts (src/alerts, src/control/alerting.ts) ----------------------------------------
export const VGL_ERR_ALERTS_NOT_FOUND = defineError('VGL_ERR_ALERTS_NOT_FOUND', 'no %s "%s"', 404)
export const VGL_ERR_ALERTS_BAD_INPUT = defineError('VGL_ERR_ALERTS_BAD_INPUT', '%s', 400)
export const VGL_ERR_ALERTS_NOT_FIRING = defineError(
  'VGL_ERR_ALERTS_NOT_FIRING',
  'alert %s is %s, not firing: only a firing alert can be acknowledged',
  409,
)

// ---- scale: actuators and the autoscaler (src/scale) ----
export const VGL_ERR_SCALE_UNKNOWN_SERVICE = defineError(
  'VGL_ERR_SCALE_UNKNOWN_SERVICE',
  'service "%s" is not scaled by the %s actuator (scaled: %s)',
  404,
)
export const VGL_ERR_SCALE_REQUEST = defineError('VGL_ERR_SCALE_REQUEST', '%s', 400)
export const VGL_ERR_SCALE_ACTUATOR = defineError('VGL_ERR_SCALE_ACTUATOR', 'the %s actuator failed: %s', 502)
export const VGL_ERR_SCALE_UNHEALTHY = defineError(
  'VGL_ERR_SCALE_UNHEALTHY',
  'a new replica of %s did not become healthy within %d ms (%s); it was stopped and never added to the pool',
  504,
)
