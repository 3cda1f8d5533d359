/**
 * @module The span shape the journeys library reads: the fields of a stored span (the gateway's
 * own, or one received over OTLP), declared here so the library stays pure (it imports nothing
 * from telemetry/ or store/; their `SpanRecord` is structurally the same).
 */

export interface JourneySpan {
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | null
  readonly service: string
  readonly env: string
  /** the gateway route for the gateway's spans, '' for the spans of other services */
  readonly route: string
  readonly name: string
  /** OTLP SpanKind: 0 unspecified, 1 internal, 2 server, 3 client, 4 producer, 5 consumer */
  readonly kind: number
  readonly startTimeMs: number
  readonly durationMs: number
  /** OTLP status: 0 unset, 1 ok, 2 error */
  readonly statusCode: number
  readonly httpStatus: number | null
  readonly requestId: string | null
  readonly source: 'gateway' | 'otlp'
  readonly attributes: Readonly<Record<string, string | number | boolean>>
}

/** The service name of the gateway's node in the service graph (its env is the gateway's). */
export const GATEWAY_SERVICE = 'vigil'

export const SPAN_KIND_SERVER = 2
export const SPAN_KIND_CLIENT = 3

/**
 * The graph node a span belongs to: the gateway's spans are the gateway's own work (their
 * `service` field names the upstream they called), every other span is its service's.
 */
export function spanService(s: Pick<JourneySpan, 'source' | 'service'>): string {
  return s.source === 'gateway' ? GATEWAY_SERVICE : s.service
}

/** A span failed: error status, or a 5xx answer. */
export function isErrorSpan(s: Pick<JourneySpan, 'statusCode' | 'httpStatus'>): boolean {
  return s.statusCode === 2 || (s.httpStatus !== null && s.httpStatus >= 500)
}

/** The gateway's span of a request whose client closed the connection before the answer (499). */
export function isAbandoned(gwSpan: Pick<JourneySpan, 'attributes' | 'httpStatus'>): boolean {
  return gwSpan.attributes['vigil.outcome'] === 'client_abort' || gwSpan.httpStatus === 499
}

/**
 * The gateway's span of a request it answered by itself without sending it upstream: a 429 or 401
 * from the limiter, a 413, a 503 with no healthy target or every breaker open (`vigil.attempts`
 * is 0: no try was made). Such a span says nothing about the service behind the route. A span
 * without the attribute (sent by an older gateway) is taken as sent.
 */
export function answeredByGateway(gwSpan: Pick<JourneySpan, 'source' | 'attributes'>): boolean {
  if (gwSpan.source !== 'gateway') return false
  const attempts = gwSpan.attributes['vigil.attempts']
  return attempts === 0 || attempts === '0'
}

/**
 * How likely the gateway's sampler was to keep this span of the gateway's: its
 * `vigil.sample_probability`, else (a span from an older gateway) `sampleRate` for a drawn one
 * (`vigil.sample_reason: sampled`) and 1 for the kinds always kept. An OTLP span, and a
 * probability outside (0, 1], count as 1: such a span is not known to stand for others.
 */
export function keepProbability(
  s: Pick<JourneySpan, 'source' | 'attributes'>,
  sampleRate: number | undefined,
): number {
  if (s.source !== 'gateway') return 1
  const said = s.attributes['vigil.sample_probability']
  const p =
    said !== undefined
      ? Number(said)
      : s.attributes['vigil.sample_reason'] === 'sampled'
        ? (sampleRate ?? 1)
        : 1
  return Number.isFinite(p) && p > 0 && p <= 1 ? p : 1
}

/**
 * A span of an abandoned journey that failed by itself. When the client leaves, the gateway
 * closes its upstream connection and every service still working on the request ends its span as
 * an error without an HTTP status (nobody was answered); counted, the graph and the trace view
 * would blame those services for the client's departure. A 5xx is an answer given before that, so it stays an
 * error; an error without an HTTP status cannot be told apart from the abort, so it is not one.
 */
export function failedBeforeAbandoned(s: Pick<JourneySpan, 'httpStatus'>): boolean {
  return s.httpStatus !== null && s.httpStatus >= 500
}

/**
 * The failure test of a journey: {@link failedBeforeAbandoned} in one the client abandoned,
 * {@link isErrorSpan} in any other.
 */
export function failedIn(abandoned: boolean): (s: Pick<JourneySpan, 'statusCode' | 'httpStatus'>) => boolean {
  return abandoned ? failedBeforeAbandoned : isErrorSpan
}

const esc = (part: string) => (/[|%]/.test(part) ? part.replace(/%/g, '%25').replace(/\|/g, '%7C') : part)
const unesc = (part: string) => part.replace(/%7C/gi, '|').replace(/%25/g, '%')

/**
 * `service|env`: the id of a node of the service graph (and of a service in every answer); a `|`
 * or `%` inside a part is written `%7C` / `%25`, as in series keys.
 * @example nodeId('orders', 'aws') // 'orders|aws'
 */
export function nodeId(service: string, env: string): string {
  return `${esc(service)}|${esc(env)}`
}

/** The other half of {@link nodeId}; an id without `|` is a service with an empty env. */
export function parseNodeId(id: string): { service: string; env: string } {
  const i = id.indexOf('|')
  return i < 0
    ? { service: unesc(id), env: '' }
    : { service: unesc(id.slice(0, i)), env: unesc(id.slice(i + 1)) }
}
