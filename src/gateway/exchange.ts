/**
 * @module One proxied request (`Exchange`) and its upstream tries (`Attempt`, the handler an
 * `UpstreamPool` reports to). Per request the gateway allocates the exchange, one attempt per try,
 * the upstream header array and the request options; listeners are shared module functions that
 * find their exchange through a symbol on the response, so no closure is created per request.
 *
 * Deadlines (connect, first byte, total) are checked by one shared sweeper tick rather than a
 * native timer per request.
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { finished, Transform, type TransformCallback } from 'node:stream'
import {
  VGL_ERR_GATEWAY_BODY_TOO_LARGE,
  VGL_ERR_GATEWAY_LIMITED,
  VGL_ERR_LIMITS_UNKNOWN_API_KEY,
  VGL_ERR_GATEWAY_NO_TARGET,
  VGL_ERR_UPSTREAM_CONNECT,
  VGL_ERR_UPSTREAM_RESET,
  VGL_ERR_UPSTREAM_TIMEOUT,
  type ErrorFactory,
} from '../errors.js'
import { lingerOnClose } from '../http-linger.js'
import type { Admission, AdmissionDecision } from '../limits/admission.js'
import { sentUpstream, type RequestEvent, type RequestOutcome } from '../telemetry/recorder.js'
import { backoffMs } from './backoff.js'
import { parseTraceParent, randomId128, randomId64 } from './ids.js'
import { methodIndex, type RefusalReason, type UpstreamErrorKind } from './metrics.js'
import type { PendingList, PendingLinks } from './pending-list.js'
import { refusalCloses } from './drain.js'
import { writeProblem } from './problem.js'
import { RoutePlan, type RouteTable } from './route-table.js'
import type { TargetState } from './target.js'
import type { UpstreamHandler, UpstreamRequest } from './upstream-pool.js'

/** What an exchange needs from the gateway that owns it. */
export interface ExchangeHost {
  readonly admission: Admission | null
  readonly pending: PendingList<Exchange>
  /** true while shutting down: responses close their connection */
  closing: boolean
  /** false when the server listens over TLS */
  readonly proto: string
  /** a refused request's body up to this size is drained to keep the connection (gateway.drainBodyBytes) */
  readonly drainBodyBytes: number
  finished(ex: Exchange): void
}

const kExchange = Symbol('vigil.exchange')
type Tagged = { [kExchange]?: Exchange }

// Hop-by-hop headers (RFC 9110 §7.6.1), plus on requests the ones the gateway sets itself. A
// switch on the length instead of a Set: a header name is a new string on every request, and a
// Set lookup would hash it each time.

/** Hop-by-hop in both directions (lower-cased name). */
function hopByHop(lower: string): boolean {
  switch (lower.length) {
    case 2:
      return lower === 'te'
    case 7:
      return lower === 'trailer' || lower === 'upgrade'
    case 10:
      return lower === 'connection' || lower === 'keep-alive'
    case 16:
      return lower === 'proxy-connection'
    default:
      return false
  }
}

/** Whether a client's request header (lower-cased name) is not forwarded as it is. */
function dropRequestHeader(lower: string): boolean {
  return (
    hopByHop(lower) ||
    lower === 'expect' ||
    lower === 'proxy-authorization' ||
    lower === 'x-forwarded-proto' ||
    lower === 'x-forwarded-host'
  )
}

/** Whether an upstream's response header (lower-cased name) is not forwarded to the client. */
function dropResponseHeader(lower: string): boolean {
  return hopByHop(lower) || lower === 'transfer-encoding' || lower === 'proxy-authenticate'
}

/**
 * Lengths of the response header names the gateway acts on (the hop-by-hop ones and
 * x-request-id): only these are lower-cased, the rest are copied as they come.
 */
const RESPONSE_NAME_LENGTHS = new Uint8Array(32)
for (const n of [2, 7, 10, 12, 16, 17, 18]) RESPONSE_NAME_LENGTHS[n] = 1

type FailureKind = 'connect' | 'timeout' | 'reset' | 'status'

/** One try against one target; stale tries (after a timeout moved on) are aborted as soon as they surface. */
export class Attempt implements UpstreamHandler {
  readonly ex: Exchange
  readonly target: TargetState
  /** true when it holds a retry-budget slot */
  readonly isRetry: boolean
  /** connect deadline until the request is on a socket, then the first-byte deadline */
  deadlineMs: number
  connected = false
  stale = false
  ended = false
  /** a retryable status: drain the body (keeps the connection) and retry when it ends */
  discarding = false
  /** bytes of a retryable status's body drained so far */
  discarded = 0
  abortFn: ((err?: Error) => void) | null = null
  resumeFn: (() => void) | null = null
  failure: FailureKind | null = null

  constructor(ex: Exchange, target: TargetState, isRetry: boolean, deadlineMs: number) {
    this.ex = ex
    this.target = target
    this.isRetry = isRetry
    this.deadlineMs = deadlineMs
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.stale) {
      abort(ABORTED)
      return
    }
    this.abortFn = abort
    this.connected = true
    this.deadlineMs = Date.now() + this.ex.plan.firstByteTimeoutMs
  }

  onHeaders(statusCode: number, headers: string[], resume: () => void): boolean {
    if (this.stale) {
      this.abortFn?.(ABORTED)
      return false
    }
    this.resumeFn = resume
    return this.ex.onResponseStart(this, statusCode, headers)
  }

  onData(chunk: Buffer): boolean {
    if (this.stale) {
      this.abortFn?.(ABORTED)
      return false
    }
    if (this.discarding) {
      this.discarded += chunk.length
      // Past this a new connection is cheaper than the drain: drop this one, the retry goes ahead.
      if (this.discarded > DRAIN_RETRIED_BYTES) this.abortFn?.(DRAIN_GIVEN_UP)
      return true
    }
    return this.ex.onResponseData(chunk)
  }

  onComplete(): void {
    this.#end()
    if (this.stale) return
    this.ex.onResponseEnd(this)
  }

  onError(err: Error): void {
    this.#end()
    if (this.stale) return
    this.ex.onAttemptError(this, err)
  }

  /** The pool sends it again by itself: not a failure of the target nor a retry of the route. */
  onReplay(): void {
    this.ex.plan.metrics.upstreamError('stale_connection')
  }

  #end(): void {
    if (this.ended) return
    this.ended = true
    this.target.inFlight--
    if (this.isRetry) this.ex.plan.service.budget.release()
  }
}

const ABORTED = Object.assign(new Error('request abandoned by the gateway'), { code: 'VGL_ABORTED' })
const DRAIN_GIVEN_UP = Object.assign(new Error('retried error body too long to drain'), {
  code: 'VGL_DRAIN_GIVEN_UP',
})
/** The body of a 502/503/504 that is retried is drained up to this size to keep its connection. */
const DRAIN_RETRIED_BYTES = 65_536

/** Counts streamed request body bytes and fails the stream past the limit (bodies without Content-Length). */
class BodyLimit extends Transform {
  readonly #limit: number
  bytes = 0
  constructor(limit: number) {
    super()
    this.#limit = limit
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.#limit) cb(VGL_ERR_GATEWAY_BODY_TOO_LARGE(this.#limit))
    else cb(null, chunk)
  }
}

function onResponseClose(this: ServerResponse & Tagged): void {
  const ex = this[kExchange]
  if (ex !== undefined && !ex.done) ex.onClientGone()
}

function onResponseDrain(this: ServerResponse & Tagged): void {
  this[kExchange]?.onDrain()
}

function onRetryTimer(ex: Exchange): void {
  ex.retryTimer = null
  if (!ex.done && !ex.responseStarted) ex.dispatch()
}

function ignore(): void {}

/**
 * The header names a `Connection` header nominates as hop-by-hop (RFC 9110 §7.6.1), or null when
 * it names none. `Content-Length` is never removed: the gateway forwards the body with the framing
 * it received.
 */
function listedHeaders(connection: string): Set<string> | null {
  // The usual values name no header: skip the split and the Set.
  if (connection.length <= 10) {
    const c = connection.toLowerCase()
    if (c === 'keep-alive' || c === 'close') return null
  }
  const names = new Set(
    connection
      .toLowerCase()
      .split(',')
      .map((t) => t.trim()),
  )
  names.delete('close')
  names.delete('keep-alive')
  names.delete('')
  names.delete('content-length')
  return names.size === 0 ? null : names
}

/** Removes, in place, the [name, value] pairs whose lower-cased name is in `names`. */
function dropNamed(headers: string[], names: Set<string>): void {
  let w = 0
  for (let r = 0; r < headers.length; r += 2) {
    if (names.has(headers[r].toLowerCase())) continue
    headers[w++] = headers[r]
    headers[w++] = headers[r + 1]
  }
  headers.length = w
}

/** A proxied request from arrival to the last byte; also the `RequestEvent` handed to the recorder. */
export class Exchange implements RequestEvent, PendingLinks<Exchange> {
  // RequestEvent fields (the recorder reads them straight from the exchange)
  status = 0
  outcome: RequestOutcome = 'ok'
  latencyMs = 0
  bytesIn = 0
  bytesOut = 0
  traceId: string
  spanId: string
  parentSpanId: string | null
  requestId: string
  method: string
  path: string
  target = ''
  attempts = 0
  startTimeMs: number

  readonly host: ExchangeHost
  readonly table: RouteTable
  readonly plan: RoutePlan
  readonly req: IncomingMessage
  readonly res: ServerResponse
  readonly startedAt: number
  /** overall deadline until the response starts (epoch ms) */
  readonly deadlineMs: number
  readonly methodIdx: number
  readonly #url: string
  #headers: string[] = []
  #body: Buffer | IncomingMessage | BodyLimit | null = null
  #chunks: Buffer[] | null = null
  #contentLength = -1
  #chunked = false
  #traceFlags = '01'
  #opts: UpstreamRequest | null = null
  #decision: AdmissionDecision | null = null
  attempt: Attempt | null = null
  /** a retried 502/503/504 whose body is being drained; the retry starts when it ends */
  draining: Attempt | null = null
  #lastTarget: TargetState | null = null
  retryTimer: NodeJS.Timeout | null = null
  responseStarted = false
  done = false
  #errorDetail = ''
  /** why the gateway answered by itself, set where it does */
  #refusal: RefusalReason | null = null
  // links of the host's PendingList (pending-list.ts)
  prevPending: Exchange | null = null
  nextPending: Exchange | null = null
  listed = false

  constructor(
    host: ExchangeHost,
    table: RouteTable,
    plan: RoutePlan,
    req: IncomingMessage,
    res: ServerResponse,
    url: string,
    pathEnd: number,
    startedAt: number,
    nowMs: number,
  ) {
    this.host = host
    this.table = table
    this.plan = plan
    this.req = req
    this.res = res
    this.#url = url
    this.method = req.method!
    this.methodIdx = methodIndex(this.method)
    this.path = pathEnd < 0 ? url : url.slice(0, pathEnd)
    this.startedAt = startedAt
    this.startTimeMs = nowMs
    this.deadlineMs = nowMs + plan.totalTimeoutMs
    this.requestId = ''
    this.traceId = ''
    this.spanId = randomId64()
    this.parentSpanId = null
    this.#buildHeaders()
    ;(res as Tagged)[kExchange] = this
    res.on('close', onResponseClose)
    table.inFlight++
    plan.service.budget.requests++
  }

  /** Copies the client's headers for the upstream in one pass, dropping hop-by-hop ones and noting the few the gateway acts on. */
  #buildHeaders(): void {
    const raw = this.req.rawHeaders
    const out = this.#headers
    let xff = ''
    let host = ''
    let traceparent: string | undefined
    let connectionTokens: string | null = null
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]
      const value = raw[i + 1]
      const lower = name.toLowerCase()
      switch (lower) {
        case 'host':
          host = value
          continue
        case 'content-length':
          // The upstream pool writes the length of the body it sends.
          this.#contentLength = Number(value)
          continue
        case 'transfer-encoding':
          this.#chunked = true
          continue
        case 'x-forwarded-for':
          xff = xff === '' ? value : `${xff}, ${value}`
          continue
        case 'x-request-id':
          if (value.length > 0 && value.length <= 200) this.requestId = value
          break
        case 'traceparent':
          traceparent = value
          continue
        case 'tracestate':
          break
        case 'connection':
          connectionTokens = value
          continue
        default:
          if (dropRequestHeader(lower)) continue
      }
      out.push(name, value)
    }
    // Headers the client nominated as hop-by-hop go before the gateway adds its own, so a client
    // cannot strip X-Forwarded-*, X-Request-Id or traceparent from what the upstream sees.
    const listed = connectionTokens === null ? null : listedHeaders(connectionTokens)
    if (listed !== null) {
      dropNamed(out, listed)
      if (listed.has('x-forwarded-for')) xff = ''
      if (listed.has('x-request-id')) this.requestId = ''
      if (listed.has('traceparent')) traceparent = undefined
    }
    const remote = this.req.socket.remoteAddress ?? ''
    out.push('x-forwarded-for', xff === '' ? remote : `${xff}, ${remote}`)
    out.push('x-forwarded-proto', this.host.proto)
    if (host !== '') out.push('x-forwarded-host', host)
    if (this.requestId === '') {
      this.requestId = randomId128()
      out.push('x-request-id', this.requestId)
    }
    const parent = parseTraceParent(traceparent)
    if (parent !== null) {
      this.traceId = parent.traceId
      this.parentSpanId = parent.parentSpanId
      this.#traceFlags = parent.flags
    } else {
      this.traceId = randomId128()
    }
    out.push('traceparent', `00-${this.traceId}-${this.spanId}-${this.#traceFlags}`)
  }

  /** Admission, then the body decision, then the first try. */
  start(): void {
    const admission = this.host.admission
    if (admission === null) {
      this.#proceed()
      return
    }
    const req = this.req
    let decision: AdmissionDecision | Promise<AdmissionDecision>
    try {
      decision = admission.admit(
        {
          routeId: this.plan.id,
          service: this.plan.service.name,
          priority: this.plan.priority,
          cost: this.plan.cost,
          headers: req.headers,
          remoteAddress: req.socket.remoteAddress ?? '',
        },
        this.startTimeMs,
      )
    } catch {
      // A broken limiter must not take the gateway down with it: fail open.
      this.#proceed()
      return
    }
    if (decision instanceof Promise) {
      decision.then(
        (d) => this.#admitted(d),
        () => this.#proceed(),
      )
    } else this.#admitted(decision)
  }

  #admitted(d: AdmissionDecision): void {
    if (this.done) return
    if (!d.allowed) {
      this.outcome = 'limited'
      const unknownKey = d.status === 401 // limits: an unknown API key under identity.unknownKey=reject
      this.#refusal = unknownKey ? 'unknown_api_key' : 'rate_limited'
      this.#sendProblem(
        unknownKey ? VGL_ERR_LIMITS_UNKNOWN_API_KEY : VGL_ERR_GATEWAY_LIMITED,
        unknownKey ? 'Unauthorized' : 'Too Many Requests',
        'request refused by the rate limiter',
        d.headers,
        d.problem ?? null,
        refusalCloses(this.req, this.#contentLength, this.#chunked, this.host.drainBodyBytes),
      )
      return
    }
    this.#decision = d
    this.#proceed()
  }

  #proceed(): void {
    if (this.done) return
    const plan = this.plan
    const limit = plan.bodyLimitBytes
    const cl = this.#contentLength
    if (cl > 0) {
      if (limit > 0 && cl > limit) {
        this.#refusal = 'body_too_large'
        this.#sendProblem(
          VGL_ERR_GATEWAY_BODY_TOO_LARGE,
          'Payload Too Large',
          `request body of ${cl} bytes exceeds the limit of ${limit} bytes`,
          null,
          null,
          refusalCloses(this.req, cl, false, this.host.drainBodyBytes),
        )
        return
      }
      this.bytesIn = cl
      if (cl <= plan.retryBufferBytes) {
        this.#bufferBody()
        return
      }
      this.#body = this.req
    } else if (this.#chunked) {
      if (limit > 0) {
        const counter = new BodyLimit(limit)
        // not pipeline(): its error past the limit would destroy req and with it the socket, under
        // a client still uploading, which then loses the 413 to a reset (see lingerOnClose)
        this.req.pipe(counter)
        // a client gone mid-upload still fails the upstream body, as pipeline() did
        finished(this.req, (err) => err && counter.destroy(err))
        this.#body = counter
      } else this.#body = this.req
    }
    this.dispatch()
  }

  /**
   * Whether targets the health checks call up were there and only their breakers kept the request
   * from them (open, or half-open with the probe taken), as opposed to no target up at all.
   */
  #breakersOnly(): boolean {
    for (const t of this.plan.service.balancer.targets) if (t.healthy) return true
    return false
  }

  /** Small bodies are read into memory first so that a failed try can be sent again. */
  #bufferBody(): void {
    this.#chunks = []
    const req = this.req
    req.on('data', (chunk: Buffer) => this.#chunks!.push(chunk))
    req.on('end', () => {
      this.#body = this.#chunks!.length === 1 ? this.#chunks![0] : Buffer.concat(this.#chunks!)
      this.#chunks = null
      if (!this.done) this.dispatch()
    })
    req.on('error', ignore)
  }

  /** Picks a target and sends one try; called again (after backoff) for retries. */
  dispatch(): void {
    const nowMs = Date.now()
    // The retry-budget slot taken in #mayRetry moves to the attempt, which gives it back when it ends.
    const isRetry = this.#holdsRetrySlot
    this.#holdsRetrySlot = false
    const target = this.plan.service.balancer.pick(nowMs, this.#lastTarget)
    if (target === null) {
      if (isRetry) this.plan.service.budget.release()
      if (this.#lastTarget !== null && this.#lastFailure !== 'status') {
        this.#failFinal(this.#lastFailure)
        return
      }
      this.outcome = 'no_target'
      this.#refusal = this.#breakersOnly() ? 'circuit_open' : 'no_target'
      this.#sendProblem(
        VGL_ERR_GATEWAY_NO_TARGET,
        'Service Unavailable',
        `no healthy target for service ${this.plan.service.name}`,
        null,
        null,
        this.#hasStreamBody(),
      )
      return
    }
    this.attempts++
    this.#lastTarget = target
    this.target = target.url
    target.inFlight++
    const attempt = new Attempt(this, target, isRetry, nowMs + this.plan.connectTimeoutMs)
    this.attempt = attempt
    let opts = this.#opts
    if (opts === null) {
      opts = {
        path: target.basePath + this.#url,
        method: this.method,
        headers: this.#headers,
        body: this.#body,
        bodyLength: this.#chunked ? -1 : this.#contentLength,
        // The first-byte and total deadlines are the sweeper's (onTick); this only backs them up.
        headersTimeoutMs: this.plan.totalTimeoutMs + 1000,
        bodyTimeoutMs: this.plan.bodyIdleTimeoutMs,
      }
      this.#opts = opts
    } else opts.path = target.basePath + this.#url
    this.host.pending.add(this)
    target.pool.dispatch(opts, attempt)
  }

  #hasStreamBody(): boolean {
    return this.#body !== null && !Buffer.isBuffer(this.#body)
  }

  onResponseStart(attempt: Attempt, status: number, headers: string[]): boolean {
    const plan = this.plan
    const nowMs = Date.now()
    const target = attempt.target
    this.attempt = null
    if (plan.retryStatus(status)) {
      target.breaker.onFailure(nowMs)
      target.count(nowMs, true)
      plan.metrics.upstreamError('status_5xx')
      this.#errorDetail = `status ${status}`
      this.#lastFailure = 'status'
      if (this.#mayRetry('status', true, nowMs)) {
        // Drain the error body so the connection stays pooled; the retry starts at its end. The
        // drain stays referenced so the deadline and a client abort end it too, and it may take
        // no longer than a first byte would (onTick).
        attempt.discarding = true
        attempt.deadlineMs = nowMs + plan.firstByteTimeoutMs
        this.draining = attempt
        return true
      }
    } else {
      target.breaker.onSuccess(nowMs)
      target.count(nowMs, false)
    }
    this.host.pending.delete(this)
    this.#lastAttempt = attempt
    this.responseStarted = true
    this.status = status
    const out: string[] = []
    let hasRequestId = false
    let connection: string | null = null
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]
      if (name.length < 32 && RESPONSE_NAME_LENGTHS[name.length] === 1) {
        const lower = name.toLowerCase()
        if (dropResponseHeader(lower)) {
          if (lower === 'connection') connection = headers[i + 1]
          continue
        }
        if (lower === 'x-request-id') hasRequestId = true
      }
      out.push(name, headers[i + 1])
    }
    const listed = connection === null ? null : listedHeaders(connection)
    if (listed !== null) {
      dropNamed(out, listed)
      if (listed.has('x-request-id')) hasRequestId = false
    }
    if (!hasRequestId) out.push('x-request-id', this.requestId)
    const d = this.#decision
    if (d !== null) for (let i = 0; i < d.headers.length; i++) out.push(d.headers[i][0], d.headers[i][1])
    if (this.host.closing) out.push('connection', 'close')
    const res = this.res
    if (res.destroyed) return false
    res.writeHead(status, out)
    return true
  }

  onResponseData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length
    const res = this.res
    const ok = res.write(chunk)
    if (!ok && !this.#drainListening) {
      this.#drainListening = true
      res.on('drain', onResponseDrain)
    }
    return ok
  }

  #drainListening = false
  #lastAttempt: Attempt | null = null

  onDrain(): void {
    const a = this.#lastAttempt
    if (a !== null && !a.ended && a.resumeFn !== null) a.resumeFn()
  }

  onResponseEnd(attempt: Attempt): void {
    if (this.done) return
    if (attempt.discarding) {
      if (this.draining === attempt) this.draining = null
      this.#schedule()
      return
    }
    this.res.end()
    this.#finish()
  }

  onAttemptError(attempt: Attempt, err: Error): void {
    if (this.done) return
    if (attempt.discarding) {
      // The retry was already decided when the error status arrived (or the drain was given up).
      if (this.draining === attempt) this.draining = null
      this.#schedule()
      return
    }
    const nowMs = Date.now()
    const code = (err as { code?: string }).code
    if (code === 'VGL_ERR_GATEWAY_BODY_TOO_LARGE') {
      this.#sendProblem(
        VGL_ERR_GATEWAY_BODY_TOO_LARGE,
        'Payload Too Large',
        `request body exceeds the limit of ${this.plan.bodyLimitBytes} bytes`,
        null,
        null,
        true,
      )
      return
    }
    if (this.#clientAbortedUpload()) {
      this.onClientGone()
      return
    }
    let kind: FailureKind
    let metric: UpstreamErrorKind
    if (
      code === 'VGL_UPSTREAM_HEADERS_TIMEOUT' ||
      code === 'VGL_UPSTREAM_BODY_TIMEOUT' ||
      code === 'VGL_UPSTREAM_CONNECT_TIMEOUT'
    ) {
      kind = 'timeout'
      metric = 'timeout'
    } else if (!attempt.connected) {
      kind = 'connect'
      metric = 'connect'
    } else {
      kind = 'reset'
      metric = 'reset'
    }
    // What a broken response did is worth more to whoever reads the 502 than its code.
    this.#errorDetail = code === 'VGL_UPSTREAM_PROTOCOL' ? err.message : (code ?? err.message)
    attempt.target.breaker.onFailure(nowMs)
    attempt.target.count(nowMs, true)
    this.plan.metrics.upstreamError(metric)
    if (this.responseStarted) {
      // Headers are out: the only honest signal left is to cut the client's connection.
      this.outcome = kind === 'timeout' ? 'timeout' : 'connect_error'
      this.res.destroy()
      this.#finish()
      return
    }
    this.attempt = null
    this.#afterFailure(attempt, kind, nowMs)
  }

  #clientAbortedUpload(): boolean {
    return this.#hasStreamBody() && !this.req.complete && this.res.socket?.destroyed === true
  }

  /** Called by the sweeper tick while the response has not started: enforces the deadlines. */
  onTick(nowMs: number): void {
    if (this.done || this.responseStarted) {
      this.host.pending.delete(this)
      return
    }
    if (nowMs >= this.deadlineMs) {
      this.#stopDrain()
      const a = this.attempt
      this.attempt = null
      if (a !== null) this.#abandon(a, nowMs)
      if (this.retryTimer !== null) clearTimeout(this.retryTimer)
      this.retryTimer = null
      this.#errorDetail = `total ${this.plan.totalTimeoutMs}ms`
      this.#failFinal('timeout')
      return
    }
    const d = this.draining
    if (d !== null && nowMs >= d.deadlineMs) {
      // A slow error body: drop its connection and go ahead with the retry.
      this.#stopDrain()
      this.#schedule()
      return
    }
    const a = this.attempt
    if (a !== null && nowMs >= a.deadlineMs) {
      this.attempt = null
      this.#errorDetail = a.connected
        ? `first byte ${this.plan.firstByteTimeoutMs}ms`
        : `connect ${this.plan.connectTimeoutMs}ms`
      this.#abandon(a, nowMs)
      this.#afterFailure(a, 'timeout', nowMs)
    }
  }

  /** Ends a drain in progress without scheduling anything (the caller decides). */
  #stopDrain(): void {
    const d = this.draining
    if (d === null) return
    this.draining = null
    d.stale = true
    if (d.abortFn !== null && !d.ended) d.abortFn(ABORTED)
  }

  #abandon(a: Attempt, nowMs: number): void {
    a.stale = true
    a.failure = 'timeout'
    a.target.breaker.onFailure(nowMs)
    a.target.count(nowMs, true)
    this.plan.metrics.upstreamError('timeout')
    if (a.abortFn !== null) a.abortFn(ABORTED)
  }

  #lastFailure: FailureKind = 'connect'

  #afterFailure(a: Attempt, kind: FailureKind, nowMs: number): void {
    this.#lastFailure = kind
    if (this.#mayRetry(kind, a.connected, nowMs)) {
      this.#schedule()
      return
    }
    this.#failFinal(kind)
  }

  #pendingDelay = 0
  /** a retry-budget slot is held for a retry that has not been dispatched yet (backoff) */
  #holdsRetrySlot = false

  /**
   * Whether this failure may be retried: attempts left, the failure kind enabled for the route,
   * an idempotent method or a request that never reached the upstream, a body that can be sent
   * again, time left before the deadline, and a slot in the service's retry budget. On yes the
   * backoff delay is stored for `#schedule` and a budget slot is held until the retry ends.
   */
  #mayRetry(kind: FailureKind, reached: boolean, nowMs: number): boolean {
    const plan = this.plan
    if (this.attempts >= plan.attempts) return false
    if ((kind === 'connect' || kind === 'reset') && !plan.retryOnConnect) return false
    if (kind === 'timeout' && !plan.retryOnTimeout) return false
    if (reached && !RoutePlan.idempotent(this.method)) return false
    if (this.#hasStreamBody()) return false
    const delay = backoffMs(this.attempts, plan.backoffBaseMs, plan.backoffMaxMs)
    if (nowMs + delay >= this.deadlineMs) return false
    if (!plan.service.budget.tryAcquire()) {
      plan.metrics.budgetExhausted.inc()
      return false
    }
    plan.metrics.retries.inc()
    this.#holdsRetrySlot = true
    this.#pendingDelay = delay
    return true
  }

  #schedule(): void {
    this.retryTimer = setTimeout(onRetryTimer, this.#pendingDelay, this)
  }

  #failFinal(kind: FailureKind): void {
    this.host.pending.delete(this)
    if (this.done) return
    const service = this.plan.service.name
    if (kind === 'timeout') {
      this.outcome = 'timeout'
      this.#sendProblem(
        VGL_ERR_UPSTREAM_TIMEOUT,
        'Gateway Timeout',
        `upstream ${service} timed out (${this.#errorDetail}) after ${this.attempts} attempt(s)`,
        null,
        null,
        this.#hasStreamBody(),
      )
      return
    }
    this.outcome = 'connect_error'
    const reset = kind === 'reset'
    this.#sendProblem(
      reset ? VGL_ERR_UPSTREAM_RESET : VGL_ERR_UPSTREAM_CONNECT,
      'Bad Gateway',
      `${reset ? 'upstream failed before answering' : 'cannot connect to upstream'} ${service} (${this.#errorDetail}) after ${this.attempts} attempt(s)`,
      null,
      null,
      this.#hasStreamBody(),
    )
  }

  /** The client closed the connection before the response finished. */
  onClientGone(): void {
    if (this.done) return
    this.#stopDrain()
    const a = this.attempt ?? this.#lastAttempt
    this.attempt = null
    if (a !== null && !a.ended) {
      a.stale = true
      a.target.breaker.onAbandon()
      if (a.abortFn !== null) a.abortFn(ABORTED)
    }
    if (this.retryTimer !== null) clearTimeout(this.retryTimer)
    this.retryTimer = null
    this.outcome = 'client_abort'
    if (this.status === 0) this.status = 499
    this.#finish()
  }

  #sendProblem(
    def: ErrorFactory,
    title: string,
    detail: string,
    headers: ReadonlyArray<readonly [string, string]> | null,
    fields: Readonly<Record<string, unknown>> | null,
    close: boolean,
  ): void {
    this.host.pending.delete(this)
    this.status = def.statusCode
    this.responseStarted = true
    const closes = close || this.host.closing
    // a 413 in the middle of an upload: closing under the client would lose the answer to a reset
    if (closes && !this.req.complete) lingerOnClose(this.req)
    writeProblem(this.res, def, title, detail, this.requestId, headers, fields, closes)
    this.#finish()
  }

  #finish(): void {
    if (this.done) return
    this.done = true
    this.host.pending.delete(this)
    this.latencyMs = performance.now() - this.startedAt
    const body = this.#body
    if (body instanceof BodyLimit) this.bytesIn = body.bytes
    this.table.inFlight--
    this.plan.service.budget.requests--
    if (this.#holdsRetrySlot) {
      // Deadline or client abort during backoff: the retry never ran.
      this.#holdsRetrySlot = false
      this.plan.service.budget.release()
    }
    const plan = this.plan
    plan.metrics.request(this.methodIdx, this.status)
    if (sentUpstream(this)) plan.metrics.duration.observe(this.latencyMs / 1000)
    // the sweeper enforces the route's deadlines once a try is out, so a request that ended
    // before one and that the gateway did not refuse is one whose client left
    else plan.metrics.refused(this.methodIdx, this.#refusal ?? 'client_gone', this.status)
    plan.series.record(this)
    const d = this.#decision
    if (d !== null) this.host.admission?.observe(d.clientId, plan.id, this.status, this.latencyMs)
    this.host.finished(this)
  }
}
