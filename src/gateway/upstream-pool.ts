/**
 * @module The gateway's HTTP/1.1 client to one upstream origin: a pool of keep-alive connections
 * on `node:net` / `node:tls`, one request at a time on each, with a strict response parser.
 *
 * Why not undici: a proxied request spends about half its CPU in Node's HTTP layers (measured in
 * bench/RESULTS.md), and undici's share of that goes to work a proxy does not need: header buffers
 * decoded one by one, a request object validated and copied per dispatch, a timer armed per
 * request. Here a response head is decoded with one native call, headers are handed over as
 * strings, request heads are one string write, and every deadline (connect, first byte, body idle,
 * keep-alive idle) is checked by one shared sweeper instead of per-request timers.
 *
 * The parser refuses what a proxy must not pass on (RFC 9112): both `Content-Length` and
 * `Transfer-Encoding`, conflicting lengths, a transfer coding that does not end in `chunked`,
 * obsolete line folding, whitespace before a header's colon, control characters in values, bare
 * CR or LF, oversized heads and malformed chunk sizes. Any of these fails the request with
 * `VGL_UPSTREAM_PROTOCOL` and closes the connection, so a response can never be read as two.
 */
import { isIP } from 'node:net'
import net from 'node:net'
import type { Readable } from 'node:stream'
import tls from 'node:tls'

/** What the pool tells about one request; every request ends in exactly one of onComplete / onError. */
export interface UpstreamHandler {
  /** The request is on a connected socket and being written; `abort` drops it (onError follows). */
  onConnect(abort: (err?: Error) => void): void
  /** A final (non-1xx) response head; returning false pauses the body until `resume` is called. */
  onHeaders(status: number, headers: string[], resume: () => void): boolean
  /** A piece of the response body; returning false pauses the body until `resume` is called. */
  onData(chunk: Buffer): boolean
  onComplete(): void
  onError(err: Error): void
  /**
   * The reused connection the request went out on closed before any byte of an answer (the
   * upstream's idle timeout won the race): the request goes once more on a fresh connection, and
   * onConnect follows again.
   */
  onReplay?(): void
}

export interface UpstreamRequest {
  method: string
  /** path and query, as sent on the request line */
  path: string
  /**
   * Flat [name, value, …] with valid names and values (as node:http hands them over). The pool
   * writes `host`, `connection`, `content-length` and `transfer-encoding` itself: leave them out.
   */
  headers: readonly string[]
  /** null: no body; a Buffer may be sent again on a fresh connection, a stream may not */
  body: Buffer | Readable | null
  /** length of a streamed body, or -1 to send it chunked (ignored for a Buffer or no body) */
  bodyLength: number
  /** ms from the request written to its response head; 0 for no limit */
  headersTimeoutMs: number
  /** ms of silence allowed between pieces of the response body (not counted while paused); 0 for no limit */
  bodyTimeoutMs: number
}

export interface UpstreamPoolOptions {
  /** most connections open at once; requests beyond wait in order */
  connections: number
  /** an idle connection is closed after this (or sooner when the upstream's Keep-Alive says so) */
  keepAliveTimeoutMs: number
  connectTimeoutMs: number
  /** largest response head accepted (default 16 KiB, Node's own limit) */
  maxHeaderBytes?: number
  /** for https origins: the CA certificates to trust instead of Node's bundled ones */
  ca?: string | Buffer
}

export type UpstreamErrorCode =
  | 'VGL_UPSTREAM_CONNECT_TIMEOUT'
  | 'VGL_UPSTREAM_HEADERS_TIMEOUT'
  | 'VGL_UPSTREAM_BODY_TIMEOUT'
  | 'VGL_UPSTREAM_CLOSED'
  | 'VGL_UPSTREAM_PROTOCOL'
  | 'VGL_UPSTREAM_REQUEST_BODY'
  | 'VGL_UPSTREAM_ABORTED'
  | 'VGL_UPSTREAM_POOL_CLOSED'

export class UpstreamError extends Error {
  readonly code: UpstreamErrorCode
  constructor(code: UpstreamErrorCode, message: string) {
    super(message)
    this.name = 'UpstreamError'
    this.code = code
  }
}

const CONNECTING = 0
const IDLE = 1
/** request written (or being written), response head not complete */
const WAITING = 2
const BODY = 3
const GONE = 4

/** response body framing */
const NONE = 0
const LENGTH = 1
const CHUNKED = 2
/** no length given: the body ends when the upstream closes */
const UNTIL_CLOSE = 3

/** chunked decoder states */
const C_SIZE = 0
const C_DATA = 1
const C_DATA_CR = 2
const C_DATA_LF = 3
const C_TRAILER = 4

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/
const CHUNK_SIZE = /^[0-9A-Fa-f]{1,13}$/
/** a chunk-size line (with extensions) or a trailer line longer than this is refused */
const MAX_LINE = 4096
/** methods a request can be sent again for after a reused connection closed before answering */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])
/** shared sweeper period: the resolution of every deadline the pool enforces */
const SWEEP_MS = 25

function protocolError(message: string): UpstreamError {
  return new UpstreamError('VGL_UPSTREAM_PROTOCOL', `upstream broke HTTP/1.1: ${message}`)
}

/** One request from dispatch to its end. */
class Job {
  readonly req: UpstreamRequest
  readonly handler: UpstreamHandler
  conn: Conn | null = null
  done = false
  /** response bytes have arrived for it (a failure after that is never replayed) */
  answered = false
  /** sent again once already after a reused connection closed under it */
  replayed = false
  /** the whole request body is on the socket */
  bodySent = false
  /** detaches the listeners a streamed body holds */
  detachBody: (() => void) | null = null

  constructor(req: UpstreamRequest, handler: UpstreamHandler) {
    this.req = req
    this.handler = handler
  }
}

/** One upstream connection and the parse state of its current response. */
class Conn {
  readonly pool: UpstreamPool
  readonly socket: net.Socket
  state = CONNECTING
  job: Job | null = null
  /** deadline of the current state (connect, first byte or idle), ms since epoch; 0 = none */
  deadline = 0
  /** last bytes read, for the body idle timeout */
  lastRead = 0
  paused = false
  /** bytes read before the handler paused, parsed at resume */
  pending: Buffer | null = null
  /** it has carried a whole exchange and gone back to the pool */
  reused = false
  /** how long it may sit idle (the pool's setting, or less when the upstream said so) */
  idleMs: number
  error: Error | null = null
  eof = false
  // response parse state
  head: Buffer | null = null
  /** the parsed head's headers, until handed to the handler */
  headers: string[] | null = null
  framing = NONE
  keepAlive = true
  /** bytes that followed the response: the connection cannot be trusted again */
  extra = false
  remaining = 0
  chunkState = C_SIZE
  line = ''
  trailerBytes = 0

  constructor(pool: UpstreamPool, socket: net.Socket, idleMs: number) {
    this.pool = pool
    this.socket = socket
    this.idleMs = idleMs
  }
}

/** Every open connection of every pool, for the shared sweeper. */
const live = new Set<Conn>()
let sweeper: NodeJS.Timeout | null = null

function sweep(): void {
  if (live.size === 0) {
    clearInterval(sweeper!)
    sweeper = null
    return
  }
  const now = Date.now()
  for (const c of live) c.pool.check(c, now)
}

function track(c: Conn): void {
  live.add(c)
  if (sweeper === null) {
    sweeper = setInterval(sweep, SWEEP_MS)
    sweeper.unref()
  }
}

export class UpstreamPool {
  readonly origin: string
  readonly #host: string
  readonly #port: number
  readonly #tls: boolean
  readonly #hostHeader: string
  readonly #max: number
  readonly #idleMs: number
  readonly #connectMs: number
  readonly #maxHead: number
  readonly #ca: string | Buffer | undefined
  readonly #conns = new Set<Conn>()
  /** idle connections, most recently used last (taken first, so the rest can time out) */
  readonly #idle: Conn[] = []
  readonly #queue: Job[] = []
  /**
   * Requests to send again after a stale reused connection closed under them. Only a fresh
   * connection takes them: another pooled one may be just as stale (an upstream closing every
   * connection after one response makes them all so).
   */
  readonly #replays: Job[] = []
  #connecting = 0
  #closed = false
  #destroyed = false
  #closeWaiters: (() => void)[] = []

  constructor(origin: string, opts: UpstreamPoolOptions) {
    const u = new URL(origin)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') {
      throw new TypeError(`upstream origin must be http:// or https://, got ${origin}`)
    }
    this.origin = u.origin
    this.#tls = u.protocol === 'https:'
    this.#host = u.hostname.startsWith('[') ? u.hostname.slice(1, -1) : u.hostname
    this.#port = u.port === '' ? (this.#tls ? 443 : 80) : Number(u.port)
    this.#hostHeader = u.host
    this.#max = opts.connections
    this.#idleMs = opts.keepAliveTimeoutMs
    this.#connectMs = opts.connectTimeoutMs
    this.#maxHead = opts.maxHeaderBytes ?? 16_384
    this.#ca = opts.ca
  }

  /** Open connections (connecting, idle or busy). */
  get connections(): number {
    return this.#conns.size
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.#queue.length + this.#replays.length
  }

  /** Sends one request; the handler hears how it goes (errors never throw from here). */
  dispatch(req: UpstreamRequest, handler: UpstreamHandler): void {
    const job = new Job(req, handler)
    if (this.#closed) {
      job.done = true
      process.nextTick(() =>
        handler.onError(
          new UpstreamError('VGL_UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} is closed`),
        ),
      )
      return
    }
    const idle = this.#idle.pop()
    if (idle !== undefined) this.#start(idle, job)
    else {
      this.#queue.push(job)
      this.#grow()
    }
  }

  /** Stops taking requests, lets the ones under way finish, then closes every connection. */
  close(): Promise<void> {
    this.#closed = true
    for (const c of this.#idle) c.socket.destroy()
    this.#idle.length = 0
    return this.#whenEmpty()
  }

  /** Stops at once: every request under way or waiting fails with VGL_UPSTREAM_POOL_CLOSED. */
  destroy(): Promise<void> {
    this.#closed = true
    this.#destroyed = true
    const err = new UpstreamError('VGL_UPSTREAM_POOL_CLOSED', `the pool for ${this.origin} was destroyed`)
    for (const job of this.#replays.splice(0)) this.#fail(job, err)
    for (const job of this.#queue.splice(0)) this.#fail(job, err)
    for (const c of this.#conns) {
      const job = c.job
      c.job = null
      if (job !== null) this.#fail(job, err)
      c.socket.destroy()
    }
    this.#idle.length = 0
    return this.#whenEmpty()
  }

  #whenEmpty(): Promise<void> {
    if (this.#conns.size === 0 && this.queued === 0) return Promise.resolve()
    return new Promise((resolve) => this.#closeWaiters.push(resolve))
  }

  #settleClose(): void {
    if (!this.#closed || this.#conns.size > 0 || this.queued > 0) return
    for (const w of this.#closeWaiters.splice(0)) w()
  }

  /** Opens connections while requests wait and the limit allows. */
  #grow(): void {
    while (this.queued > this.#connecting && this.#conns.size < this.#max) this.#connect()
  }

  #connect(): void {
    const socket = this.#tls
      ? tls.connect({
          host: this.#host,
          port: this.#port,
          servername: isIP(this.#host) === 0 ? this.#host : undefined,
          ca: this.#ca,
        })
      : net.connect({ host: this.#host, port: this.#port })
    const c = new Conn(this, socket, this.#idleMs)
    c.deadline = Date.now() + this.#connectMs
    this.#conns.add(c)
    this.#connecting++
    track(c)
    socket.setNoDelay(true)
    socket.setKeepAlive(true, 60_000)
    socket.once(this.#tls ? 'secureConnect' : 'connect', () => this.#connected(c))
    socket.on('data', (chunk: Buffer) => this.#read(c, chunk))
    socket.on('end', () => {
      c.eof = true
      // Idle, it leaves the idle list now rather than at its 'close' a loop turn later: a request
      // handed it in between would be written to a socket the upstream has closed.
      this.#closeIdle(c)
    })
    socket.on('error', (err: Error) => {
      if (c.error === null) c.error = err
      this.#closeIdle(c)
    })
    socket.on('close', () => this.#closedConn(c))
  }

  #connected(c: Conn): void {
    this.#connecting--
    const replay = this.#replays.shift()
    if (replay !== undefined) this.#start(c, replay)
    else this.#release(c)
  }

  /** Takes a connection out of the idle list and closes it (no-op unless it is idle). */
  #closeIdle(c: Conn): void {
    if (c.state !== IDLE) return
    const i = this.#idle.indexOf(c)
    if (i >= 0) this.#idle.splice(i, 1)
    c.state = GONE
    c.socket.destroy()
  }

  /** A connection free for the next request: the oldest waiting one, else the idle list. */
  #release(c: Conn): void {
    if (c.paused) {
      c.paused = false
      c.socket.resume()
    }
    const next = this.#queue.shift()
    if (next !== undefined) {
      this.#start(c, next)
      return
    }
    if (this.#closed) {
      c.state = GONE
      c.socket.destroy()
      return
    }
    c.state = IDLE
    c.deadline = Date.now() + c.idleMs
    this.#idle.push(c)
  }

  #start(c: Conn, job: Job): void {
    // onConnect may drop the request at once (the gateway gave up on it while it waited): then
    // nothing was written and the connection is as good as before.
    job.handler.onConnect((err?: Error) => this.#abort(job, err))
    if (job.done) {
      this.#release(c)
      return
    }
    c.state = WAITING
    c.job = job
    job.conn = c
    c.head = null
    c.pending = null
    c.framing = NONE
    c.keepAlive = true
    c.extra = false
    c.chunkState = C_SIZE
    c.line = ''
    c.trailerBytes = 0
    const req = job.req
    c.deadline = req.headersTimeoutMs > 0 ? Date.now() + req.headersTimeoutMs : 0
    const h = req.headers
    let head = `${req.method} ${req.path} HTTP/1.1\r\nhost: ${this.#hostHeader}\r\nconnection: keep-alive\r\n`
    for (let i = 0; i < h.length; i += 2) head += `${h[i]}: ${h[i + 1]}\r\n`
    const body = req.body
    const socket = c.socket
    if (body === null) {
      const m = req.method
      head += m === 'POST' || m === 'PUT' || m === 'PATCH' ? 'content-length: 0\r\n\r\n' : '\r\n'
      job.bodySent = true
      socket.write(head, 'latin1')
    } else if (Buffer.isBuffer(body)) {
      head += `content-length: ${body.length}\r\n\r\n`
      job.bodySent = true
      socket.cork()
      socket.write(head, 'latin1')
      socket.write(body)
      socket.uncork()
    } else {
      const chunked = req.bodyLength < 0
      head += chunked ? 'transfer-encoding: chunked\r\n\r\n' : `content-length: ${req.bodyLength}\r\n\r\n`
      socket.write(head, 'latin1')
      this.#streamBody(c, job, body, chunked)
    }
  }

  /** Copies a streamed request body to the socket with back-pressure both ways. */
  #streamBody(c: Conn, job: Job, body: Readable, chunked: boolean): void {
    const socket = c.socket
    let sent = 0
    let ended = false
    const onDrain = (): void => {
      body.resume()
    }
    const onData = (chunk: Buffer): void => {
      if (chunk.length === 0) return
      sent += chunk.length
      if (!chunked && sent > job.req.bodyLength) {
        fail(new UpstreamError('VGL_UPSTREAM_REQUEST_BODY', 'request body longer than its content-length'))
        return
      }
      let ok: boolean
      if (chunked) {
        socket.cork()
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1')
        socket.write(chunk)
        ok = socket.write('\r\n', 'latin1')
        socket.uncork()
      } else ok = socket.write(chunk)
      if (!ok) {
        body.pause()
        socket.once('drain', onDrain)
      }
    }
    const onEnd = (): void => {
      ended = true
      detach()
      if (!chunked && sent !== job.req.bodyLength) {
        fail(new UpstreamError('VGL_UPSTREAM_REQUEST_BODY', 'request body shorter than its content-length'))
        return
      }
      if (chunked) socket.write('0\r\n\r\n', 'latin1')
      job.bodySent = true
    }
    const onError = (err: Error): void => {
      fail(err)
    }
    const onClose = (): void => {
      if (!ended)
        fail(new UpstreamError('VGL_UPSTREAM_REQUEST_BODY', 'request body ended before it was complete'))
    }
    const detach = (): void => {
      body.off('data', onData)
      body.off('end', onEnd)
      body.off('error', onError)
      body.off('close', onClose)
      socket.off('drain', onDrain)
      job.detachBody = null
    }
    const fail = (err: Error): void => {
      detach()
      if (job.done) return
      // The upstream holds a partial request: the connection is spent.
      this.#drop(c)
      this.#fail(job, err)
    }
    job.detachBody = detach
    body.on('data', onData)
    body.on('end', onEnd)
    body.on('error', onError)
    body.on('close', onClose)
    if (body.isPaused()) body.resume()
  }

  #abort(job: Job, err?: Error): void {
    if (job.done) return
    const c = job.conn
    if (c === null) {
      const queue = job.replayed ? this.#replays : this.#queue
      const i = queue.indexOf(job)
      if (i >= 0) queue.splice(i, 1)
      this.#settleClose()
    } else if (c.job === job) {
      // Written: the upstream may still answer it, so the connection cannot carry another.
      this.#drop(c)
    }
    this.#fail(job, err ?? new UpstreamError('VGL_UPSTREAM_ABORTED', 'request aborted'))
  }

  /** Closes a connection whose current request is over one way or another. */
  #drop(c: Conn): void {
    c.job = null
    c.state = GONE
    c.socket.destroy()
  }

  #fail(job: Job, err: Error): void {
    if (job.done) return
    job.done = true
    job.detachBody?.()
    job.handler.onError(err)
  }

  /** Called by the sweeper for each of this pool's connections. */
  check(c: Conn, now: number): void {
    switch (c.state) {
      case CONNECTING:
        if (now >= c.deadline) {
          c.error = new UpstreamError(
            'VGL_UPSTREAM_CONNECT_TIMEOUT',
            `connecting to ${this.origin} took longer than ${this.#connectMs} ms`,
          )
          c.socket.destroy()
        }
        return
      case IDLE:
        if (now >= c.deadline) this.#closeIdle(c)
        return
      case WAITING:
        if (c.deadline > 0 && now >= c.deadline) {
          const job = c.job!
          this.#drop(c)
          this.#fail(
            job,
            new UpstreamError(
              'VGL_UPSTREAM_HEADERS_TIMEOUT',
              `no response head from ${this.origin} within ${job.req.headersTimeoutMs} ms`,
            ),
          )
        }
        return
      case BODY: {
        const job = c.job!
        const ms = job.req.bodyTimeoutMs
        if (ms > 0 && !c.paused && now - c.lastRead >= ms) {
          this.#drop(c)
          this.#fail(
            job,
            new UpstreamError(
              'VGL_UPSTREAM_BODY_TIMEOUT',
              `response body from ${this.origin} idle for ${ms} ms`,
            ),
          )
        }
        return
      }
      default:
        return
    }
  }

  #closedConn(c: Conn): void {
    const wasConnecting = c.state === CONNECTING
    const state = c.state
    c.state = GONE
    live.delete(c)
    this.#conns.delete(c)
    const i = this.#idle.indexOf(c)
    if (i >= 0) this.#idle.splice(i, 1)
    if (wasConnecting) {
      this.#connecting--
      // One failed connect answers for one waiting request; the next one gets its own try. A
      // replay is the one it was opened for, when there is one.
      const job = this.#replays.shift() ?? this.#queue.shift()
      if (job !== undefined) {
        this.#fail(
          job,
          c.error ??
            new UpstreamError('VGL_UPSTREAM_CLOSED', `${this.origin} closed the connection while connecting`),
        )
      }
      if (!this.#destroyed) this.#grow()
      this.#settleClose()
      return
    }
    const job = c.job
    c.job = null
    if (job !== null && !job.done) {
      if (state === BODY && c.framing === UNTIL_CLOSE && c.eof && c.error === null) {
        this.#complete(job)
      } else if (
        state === WAITING &&
        c.reused &&
        !job.answered &&
        !job.replayed &&
        !this.#destroyed &&
        (job.req.body === null || Buffer.isBuffer(job.req.body)) &&
        IDEMPOTENT.has(job.req.method)
      ) {
        // A reused connection the upstream closed as the request went out (its idle timeout won
        // the race): most likely unread, and idempotent if not, so it goes once more.
        job.replayed = true
        job.conn = null
        this.#replays.push(job)
        job.handler.onReplay?.()
      } else {
        const detail = state === WAITING ? 'before its response head' : 'before the end of its response body'
        this.#fail(
          job,
          c.error ??
            new UpstreamError('VGL_UPSTREAM_CLOSED', `${this.origin} closed the connection ${detail}`),
        )
      }
    }
    // Also while closing gracefully: requests that were waiting still get their turn.
    if (!this.#destroyed) this.#grow()
    this.#settleClose()
  }

  #read(c: Conn, chunk: Buffer): void {
    const job = c.job
    if (job === null || c.state === GONE) {
      // Bytes nobody asked for (on an idle connection): nothing it says later can be trusted.
      this.#closeIdle(c)
      c.socket.destroy()
      return
    }
    job.answered = true
    c.lastRead = Date.now()
    if (c.state === WAITING) this.#readHead(c, job, chunk)
    else this.#readBody(c, job, chunk, 0)
  }

  #readHead(c: Conn, job: Job, chunk: Buffer): void {
    const buf = c.head === null ? chunk : Buffer.concat([c.head, chunk])
    const end = buf.indexOf(CRLFCRLF)
    if (end < 0) {
      if (buf.length > this.#maxHead) this.#protocol(c, job, `response head over ${this.#maxHead} bytes`)
      else c.head = buf
      return
    }
    c.head = null
    if (end > this.#maxHead) {
      this.#protocol(c, job, `response head over ${this.#maxHead} bytes`)
      return
    }
    const text = buf.toString('latin1', 0, end)
    const status = this.#parseHead(c, job, text)
    if (status < 0) return
    const restAt = end + 4
    if (status < 200) {
      // 100 Continue, 102, 103: informational, the final head follows.
      if (restAt < buf.length) this.#readHead(c, job, buf.subarray(restAt))
      return
    }
    if (job.done) return
    c.state = BODY
    const go = job.handler.onHeaders(status, c.headers!, () => this.#resume(c, job))
    c.headers = null
    if (job.done) return
    if (!go) this.#pause(c)
    if (c.framing === NONE) {
      if (restAt < buf.length) c.extra = true
      this.#complete(job)
      return
    }
    if (c.framing === LENGTH && c.remaining === 0) {
      if (restAt < buf.length) c.extra = true
      this.#complete(job)
      return
    }
    if (restAt < buf.length) {
      // Paused: the body bytes read with the head wait for resume.
      if (c.paused) c.pending = buf.subarray(restAt)
      else this.#readBody(c, job, buf, restAt)
    }
  }

  /**
   * Parses a response head (without its final CRLFCRLF) into the status and `c.headers`, and sets
   * the body framing; -1 after failing the request on a malformed head.
   */
  #parseHead(c: Conn, job: Job, text: string): number {
    let eol = text.indexOf('\r\n')
    if (eol < 0) eol = text.length
    // "HTTP/1.x NNN[ reason]"
    if (
      eol < 12 ||
      !text.startsWith('HTTP/1.') ||
      (text.charCodeAt(7) !== 49 && text.charCodeAt(7) !== 48) ||
      text.charCodeAt(8) !== 32 ||
      (eol > 12 && text.charCodeAt(12) !== 32)
    ) {
      this.#protocol(c, job, 'malformed status line')
      return -1
    }
    const d0 = text.charCodeAt(9) - 48
    const d1 = text.charCodeAt(10) - 48
    const d2 = text.charCodeAt(11) - 48
    if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) {
      this.#protocol(c, job, 'malformed status code')
      return -1
    }
    const status = d0 * 100 + d1 * 10 + d2
    if (status === 101) {
      this.#protocol(c, job, 'protocol upgrade (101) is not supported')
      return -1
    }
    const reason = eol > 13 ? text.slice(13, eol) : ''
    if (BAD_VALUE.test(reason)) {
      this.#protocol(c, job, 'control character in the status line')
      return -1
    }
    const headers: string[] = []
    let contentLength = -1
    let te: string | null = null
    let connection: string | null = null
    let keepAlive: string | null = null
    let pos = eol + 2
    while (pos < text.length) {
      let next = text.indexOf('\r\n', pos)
      if (next < 0) next = text.length
      const colon = text.indexOf(':', pos)
      if (colon < 0 || colon >= next || colon === pos) {
        this.#protocol(c, job, 'header line without a name and colon')
        return -1
      }
      const name = text.slice(pos, colon)
      if (!TOKEN.test(name)) {
        this.#protocol(c, job, `invalid header name ${JSON.stringify(name)}`)
        return -1
      }
      let vs = colon + 1
      let ve = next
      while (vs < ve && (text.charCodeAt(vs) === 32 || text.charCodeAt(vs) === 9)) vs++
      while (ve > vs && (text.charCodeAt(ve - 1) === 32 || text.charCodeAt(ve - 1) === 9)) ve--
      const value = text.slice(vs, ve)
      if (BAD_VALUE.test(value)) {
        this.#protocol(c, job, `control character in header ${name}`)
        return -1
      }
      headers.push(name, value)
      pos = next + 2
      switch (name.length) {
        case 14:
          if (name.toLowerCase() === 'content-length') {
            const n = parseLength(value)
            if (n < 0 || (contentLength >= 0 && n !== contentLength)) {
              this.#protocol(c, job, `invalid or conflicting content-length ${JSON.stringify(value)}`)
              return -1
            }
            contentLength = n
          }
          break
        case 17:
          if (name.toLowerCase() === 'transfer-encoding') te = te === null ? value : `${te}, ${value}`
          break
        case 10: {
          const lower = name.toLowerCase()
          if (lower === 'connection') connection = connection === null ? value : `${connection}, ${value}`
          else if (lower === 'keep-alive') keepAlive = value
          break
        }
        default:
          break
      }
    }
    if (status < 200) return status
    c.headers = headers
    const http10 = text.charCodeAt(7) === 48
    c.keepAlive = !http10 && (connection === null || !hasToken(connection, 'close'))
    if (keepAlive !== null) {
      const m = /timeout\s*=\s*(\d+)/i.exec(keepAlive)
      if (m !== null) {
        // The upstream closes at its timeout: stop using the connection a second before.
        const ms = Number(m[1]) * 1000 - 1000
        if (ms <= 0) c.keepAlive = false
        else if (ms < c.idleMs) c.idleMs = ms
      }
    }
    if (te !== null) {
      if (contentLength >= 0) {
        this.#protocol(c, job, 'both content-length and transfer-encoding')
        return -1
      }
      const codings = te.toLowerCase().split(',')
      const last = codings[codings.length - 1].trim()
      if (last !== 'chunked' || codings.slice(0, -1).some((x) => x.trim() === 'chunked')) {
        this.#protocol(c, job, `transfer-encoding ${JSON.stringify(te)} does not end in chunked`)
        return -1
      }
    }
    if (job.req.method === 'HEAD' || status === 204 || status === 304) c.framing = NONE
    else if (te !== null) c.framing = CHUNKED
    else if (contentLength >= 0) {
      c.framing = LENGTH
      c.remaining = contentLength
    } else {
      c.framing = UNTIL_CLOSE
      c.keepAlive = false
    }
    return status
  }

  #readBody(c: Conn, job: Job, buf: Buffer, from: number): void {
    const handler = job.handler
    switch (c.framing) {
      case LENGTH: {
        const avail = buf.length - from
        const n = avail < c.remaining ? avail : c.remaining
        c.remaining -= n
        const go = handler.onData(from === 0 && n === buf.length ? buf : buf.subarray(from, from + n))
        if (job.done) return
        if (!go) this.#pause(c)
        if (c.remaining === 0) {
          if (from + n < buf.length) c.extra = true
          this.#complete(job)
        }
        return
      }
      case UNTIL_CLOSE: {
        const go = handler.onData(from === 0 ? buf : buf.subarray(from))
        if (!job.done && !go) this.#pause(c)
        return
      }
      case CHUNKED:
        this.#readChunked(c, job, buf, from)
        return
      default:
        c.extra = true
    }
  }

  #readChunked(c: Conn, job: Job, buf: Buffer, from: number): void {
    let off = from
    const len = buf.length
    while (off < len) {
      if (c.paused) {
        // The handler paused: what is left of this read waits for resume.
        c.pending = buf.subarray(off)
        return
      }
      switch (c.chunkState) {
        case C_SIZE: {
          const carry = c.line.length
          const line = this.#line(c, job, buf, off, MAX_LINE, 'chunk size line')
          if (line === null) return
          off += line.length - carry + 1
          if (!line.endsWith('\r')) {
            this.#protocol(c, job, 'chunk size line not ended by CRLF')
            return
          }
          let sizeEnd = line.indexOf(';')
          if (sizeEnd < 0) sizeEnd = line.length - 1
          let hex = line.slice(0, sizeEnd)
          // Whitespace before chunk extensions (BWS) is allowed; anywhere else it is not.
          if (sizeEnd < line.length - 1) hex = hex.replace(/[ \t]+$/, '')
          if (!CHUNK_SIZE.test(hex) || BAD_VALUE.test(line.slice(sizeEnd, -1))) {
            this.#protocol(c, job, `invalid chunk size ${JSON.stringify(line.slice(0, -1))}`)
            return
          }
          const size = parseInt(hex, 16)
          if (size === 0) {
            c.chunkState = C_TRAILER
            c.trailerBytes = 0
          } else {
            c.remaining = size
            c.chunkState = C_DATA
          }
          break
        }
        case C_DATA: {
          const avail = len - off
          const n = avail < c.remaining ? avail : c.remaining
          c.remaining -= n
          const go = job.handler.onData(buf.subarray(off, off + n))
          if (job.done) return
          if (!go) this.#pause(c)
          off += n
          if (c.remaining === 0) c.chunkState = C_DATA_CR
          break
        }
        case C_DATA_CR:
        case C_DATA_LF: {
          const cr = c.chunkState === C_DATA_CR
          if (buf[off] !== (cr ? 13 : 10)) {
            this.#protocol(c, job, 'chunk data not followed by CRLF')
            return
          }
          off++
          c.chunkState = cr ? C_DATA_LF : C_SIZE
          break
        }
        default: {
          // Trailer fields are read past and dropped; an empty line ends the message.
          const carry = c.line.length
          const line = this.#line(c, job, buf, off, this.#maxHead - c.trailerBytes, 'trailers')
          if (line === null) return
          off += line.length - carry + 1
          c.trailerBytes += line.length + 1
          if (!line.endsWith('\r') || BAD_VALUE.test(line.slice(0, -1))) {
            this.#protocol(c, job, 'malformed trailer line')
            return
          }
          if (line.length === 1) {
            if (off < len) c.extra = true
            this.#complete(job)
            return
          }
        }
      }
    }
  }

  /**
   * The next line of a chunked body up to its LF, joined to what earlier reads left; null when this
   * read ends first (the piece waits in `c.line`) or the line outgrows `max` (the request failed).
   */
  #line(c: Conn, job: Job, buf: Buffer, off: number, max: number, what: string): string | null {
    const nl = buf.indexOf(10, off)
    const piece = buf.toString('latin1', off, nl < 0 ? buf.length : nl)
    if (c.line.length + piece.length > max) {
      this.#protocol(c, job, `${what} too long`)
      return null
    }
    if (nl < 0) {
      c.line += piece
      return null
    }
    const line = c.line + piece
    c.line = ''
    return line
  }

  #pause(c: Conn): void {
    if (c.paused) return
    c.paused = true
    c.socket.pause()
  }

  #resume(c: Conn, job: Job): void {
    if (c.job !== job || !c.paused) return
    c.paused = false
    c.lastRead = Date.now()
    const pending = c.pending
    if (pending !== null) {
      c.pending = null
      this.#readBody(c, job, pending, 0)
      // paused again: what is left stays pending and the socket paused
      if (c.paused) return
    }
    c.socket.resume()
  }

  #protocol(c: Conn, job: Job, message: string): void {
    this.#drop(c)
    this.#fail(job, protocolError(message))
  }

  /** The response is whole: the connection goes back to the pool when it can carry another. */
  #complete(job: Job): void {
    job.done = true
    const c = job.conn!
    if (c.job === job) {
      c.job = null
      if (c.keepAlive && !c.extra && job.bodySent && !c.eof && !c.socket.destroyed && !this.#destroyed) {
        c.reused = true
        this.#release(c)
      } else {
        if (!job.bodySent) job.detachBody?.()
        c.state = GONE
        c.socket.destroy()
      }
    }
    job.handler.onComplete()
  }
}

/** Content-Length as a number (a list of equal values allowed), or -1 when invalid. */
function parseLength(value: string): number {
  if (/^\d{1,15}$/.test(value)) return Number(value)
  const parts = value.split(',').map((p) => p.trim())
  if (parts.length < 2 || !parts.every((p) => /^\d{1,15}$/.test(p))) return -1
  const n = Number(parts[0])
  return parts.every((p) => Number(p) === n) ? n : -1
}

function hasToken(list: string, token: string): boolean {
  if (list.length === token.length) return list.toLowerCase() === token
  return list
    .toLowerCase()
    .split(',')
    .some((t) => t.trim() === token)
}
