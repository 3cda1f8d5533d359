import { readFileSync } from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import { PassThrough } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  UpstreamError,
  UpstreamPool,
  type UpstreamPoolOptions,
  type UpstreamRequest,
} from './upstream-pool.js'

type Err = Error & { code?: string }

/** What one dispatch went through, as the handler saw it. */
interface Result {
  status: number
  headers: string[]
  chunks: Buffer[]
  /** the body so far (latin1), set at the end */
  body: string
  error: Err | null
  /** 'connect' | 'replay' | 'headers' | 'data' | 'complete' | 'error', in order */
  events: string[]
  abort: ((err?: Error) => void) | null
  resume: (() => void) | null
}

interface Hooks {
  onConnect?: (r: Result) => void
  /** the return value of onHeaders (default true) */
  onHeaders?: (r: Result) => boolean
  /** the return value of onData (default true) */
  onData?: (chunk: Buffer, r: Result) => boolean
  onReplay?: (r: Result) => void
}

const GET: UpstreamRequest = {
  method: 'GET',
  path: '/',
  headers: [],
  body: null,
  bodyLength: 0,
  headersTimeoutMs: 0,
  bodyTimeoutMs: 0,
}

const cleanups: (() => unknown)[] = []
/** handler calls that came after the request's onComplete / onError, from any test */
const late: string[] = []

afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn()
  expect(late.splice(0), 'handler calls after onComplete / onError').toEqual([])
})

function pool(url: string, opts: Partial<UpstreamPoolOptions> = {}): UpstreamPool {
  const p = new UpstreamPool(url, {
    connections: 4,
    keepAliveTimeoutMs: 5_000,
    connectTimeoutMs: 1_000,
    ...opts,
  })
  cleanups.push(() => p.destroy())
  return p
}

/** Dispatches one request; `r` fills in as it goes, `done` resolves at onComplete / onError. */
function start(
  p: UpstreamPool,
  over: Partial<UpstreamRequest> = {},
  hooks: Hooks = {},
): { r: Result; done: Promise<Result> } {
  const req = { ...GET, ...over }
  const r: Result = {
    status: 0,
    headers: [],
    chunks: [],
    body: '',
    error: null,
    events: [],
    abort: null,
    resume: null,
  }
  let ended = false
  let settle!: (r: Result) => void
  const done = new Promise<Result>((ok) => (settle = ok))
  const after = (what: string): void => {
    if (ended) late.push(`${what} after the end of ${req.method} ${req.path}`)
  }
  p.dispatch(req, {
    onConnect(abort) {
      after('onConnect')
      r.events.push('connect')
      r.abort = abort
      hooks.onConnect?.(r)
    },
    onHeaders(status, headers, resume) {
      after('onHeaders')
      r.events.push('headers')
      r.status = status
      r.headers = headers
      r.resume = resume
      return hooks.onHeaders ? hooks.onHeaders(r) : true
    },
    onData(chunk) {
      after('onData')
      r.events.push('data')
      r.chunks.push(Buffer.from(chunk))
      return hooks.onData ? hooks.onData(chunk, r) : true
    },
    onComplete() {
      after('onComplete')
      ended = true
      r.events.push('complete')
      r.body = Buffer.concat(r.chunks).toString('latin1')
      settle(r)
    },
    onReplay() {
      after('onReplay')
      r.events.push('replay')
      hooks.onReplay?.(r)
    },
    onError(err) {
      after('onError')
      ended = true
      r.events.push('error')
      r.error = err
      r.body = Buffer.concat(r.chunks).toString('latin1')
      settle(r)
    },
  })
  return { r, done }
}

function send(p: UpstreamPool, over: Partial<UpstreamRequest> = {}, hooks: Hooks = {}): Promise<Result> {
  return start(p, over, hooks).done
}

/** Events with runs of 'data' folded into one (TCP decides how many pieces there are). */
function folded(events: string[]): string[] {
  return events.filter((e, i) => e !== 'data' || events[i - 1] !== 'data')
}

async function until(check: () => boolean, ms = 1_000): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not met in time')
    await sleep(2)
  }
}

/** One connection as the raw server sees it. */
interface ServerConn {
  socket: net.Socket
  /** 0 for the first connection the server accepted */
  index: number
  /** every byte received (latin1) */
  received: string
  /** request heads received on it */
  heads: string[]
  closedAt: number
  closed: Promise<void>
}

interface RawRequest {
  head: string
  body: string
  conn: ServerConn
  /** index of the request on its connection */
  k: number
}

interface RawServer {
  url: string
  port: number
  conns: ServerConn[]
  /** every request head (with the connection index), in order of arrival */
  heads: string[]
  open: number
  maxOpen: number
}

/** Sends one request on a fresh pool and returns how long its connection then stayed idle before it closed. */
async function idleBeforeClose(srv: RawServer, p: UpstreamPool): Promise<number> {
  expect((await send(p)).status).toBe(200)
  const t0 = Date.now()
  await srv.conns[0].closed
  return srv.conns[0].closedAt - t0
}

/** A TCP server that reads HTTP/1.1 requests (Content-Length bodies only) and answers with raw bytes. */
async function rawServer(respond: (req: RawRequest) => unknown): Promise<RawServer> {
  const sockets = new Set<net.Socket>()
  const srv: RawServer = { url: '', port: 0, conns: [], heads: [], open: 0, maxOpen: 0 }
  const server = net.createServer((socket) => {
    socket.setNoDelay(true)
    sockets.add(socket)
    srv.open++
    srv.maxOpen = Math.max(srv.maxOpen, srv.open)
    let closed!: () => void
    const conn: ServerConn = {
      socket,
      index: srv.conns.length,
      received: '',
      heads: [],
      closedAt: 0,
      closed: new Promise<void>((ok) => (closed = ok)),
    }
    srv.conns.push(conn)
    let buf = ''
    socket.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1')
      conn.received += text
      buf += text
      for (;;) {
        const end = buf.indexOf('\r\n\r\n')
        if (end < 0) return
        const head = buf.slice(0, end)
        const cl = /\r\ncontent-length: *(\d+)/i.exec(head)
        const length = cl === null ? 0 : Number(cl[1])
        if (buf.length < end + 4 + length) return
        const body = buf.slice(end + 4, end + 4 + length)
        buf = buf.slice(end + 4 + length)
        conn.heads.push(head)
        srv.heads.push(head)
        void respond({ head, body, conn, k: conn.heads.length - 1 })
      }
    })
    socket.on('error', () => {})
    socket.on('close', () => {
      sockets.delete(socket)
      srv.open--
      conn.closedAt = Date.now()
      closed()
    })
  })
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  srv.port = (server.address() as net.AddressInfo).port
  srv.url = `http://127.0.0.1:${srv.port}`
  cleanups.push(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((ok) => server.close(ok))
  })
  return srv
}

/** A 200 response with a Content-Length body. */
function ok(body = 'ok', extra = ''): string {
  return `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n${extra}\r\n${body}`
}

/** Writes each piece in its own TCP segment (a pause between them). */
async function pieces(socket: net.Socket, parts: string[], gapMs = 3): Promise<void> {
  for (const part of parts) {
    if (socket.destroyed) return
    socket.write(part, 'latin1')
    await sleep(gapMs)
  }
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((ok) => s.listen(0, '127.0.0.1', ok))
  const port = (s.address() as net.AddressInfo).port
  await new Promise((ok) => s.close(ok))
  return port
}

interface SeenRequest {
  method: string
  headers: http.IncomingHttpHeaders
  body: string
}

/** A node:http server that records each request and its body, then answers 200 "ok". */
async function httpServer(): Promise<{ url: string; seen: SeenRequest[] }> {
  const seen: SeenRequest[] = []
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = []
    req.on('data', (c: Buffer) => parts.push(c))
    req.on('end', () => {
      seen.push({ method: req.method!, headers: req.headers, body: Buffer.concat(parts).toString() })
      res.end('ok')
    })
    req.on('error', () => {})
  })
  server.on('clientError', (_err, socket) => socket.destroy())
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok))
  cleanups.push(async () => {
    server.closeAllConnections()
    await new Promise((ok) => server.close(ok))
  })
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen }
}

describe('UpstreamPool: requests and responses', () => {
  it('sends the request line, host and headers, and hands over status, headers (case kept) and body', async () => {
    const srv = await rawServer(({ conn }) => {
      conn.socket.write('HTTP/1.1 201 Created\r\nX-Custom-Name: Some Value\r\nContent-Length: 5\r\n\r\nhello')
    })
    const p = pool(srv.url)
    const r = await send(p, { path: '/a/b?c=1&d', headers: ['X-Request-Id', 'abc', 'accept', '*/*'] })
    expect(r.error).toBeNull()
    expect(r.status).toBe(201)
    expect(r.headers).toEqual(['X-Custom-Name', 'Some Value', 'Content-Length', '5'])
    for (const h of r.headers) expect(typeof h).toBe('string')
    expect(r.body).toBe('hello')
    expect(folded(r.events)).toEqual(['connect', 'headers', 'data', 'complete'])
    const lines = srv.heads[0].split('\r\n')
    expect(lines[0]).toBe('GET /a/b?c=1&d HTTP/1.1')
    expect(lines).toContain(`host: 127.0.0.1:${srv.port}`)
    expect(lines).toContain('X-Request-Id: abc')
    expect(lines).toContain('accept: */*')
    expect(srv.heads[0]).not.toMatch(/content-length|transfer-encoding/i)
  })

  it('sends content-length: 0 for a POST without a body, and none for a GET', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url)
    expect((await send(p, { method: 'POST', path: '/p' })).status).toBe(200)
    expect((await send(p, { method: 'GET', path: '/g' })).status).toBe(200)
    expect(srv.heads[0]).toMatch(/^POST \/p HTTP\/1\.1\r\n/)
    expect(srv.heads[0].split('\r\n')).toContain('content-length: 0')
    expect(srv.heads[1]).toMatch(/^GET \/g HTTP\/1\.1\r\n/)
    expect(srv.heads[1]).not.toMatch(/content-length/i)
  })

  it('keeps the connection alive: sequential requests share one socket', async () => {
    const srv = await rawServer(({ conn, k }) => conn.socket.write(ok(`r${k}`)))
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('r0')
    expect((await send(p)).body).toBe('r1')
    expect((await send(p)).body).toBe('r2')
    expect(srv.conns).toHaveLength(1)
    expect(p.connections).toBe(1)
  })

  it('does not reuse a connection after `Connection: close` (even when the upstream leaves it open)', async () => {
    const srv = await rawServer(({ conn, k }) =>
      conn.socket.write(k === 0 && conn.index === 0 ? ok('a', 'Connection: Close\r\n') : ok('b')),
    )
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('a')
    await srv.conns[0].closed
    expect((await send(p)).body).toBe('b')
    expect(srv.conns).toHaveLength(2)
    expect(srv.conns[1].heads).toHaveLength(1)
  })

  it('does not reuse a connection after an HTTP/1.0 response', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(
        conn.index === 0
          ? 'HTTP/1.0 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\none'
          : ok('two'),
      ),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.status).toBe(200)
    expect(r.body).toBe('one')
    await srv.conns[0].closed
    expect((await send(p)).body).toBe('two')
    expect(srv.conns).toHaveLength(2)
  })

  it('reads a body framed by the connection closing, and completes only at the close', async () => {
    const srv = await rawServer(async ({ conn }) => {
      await pieces(conn.socket, ['HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nfirst,', 'second,', 'third'], 10)
      await sleep(100)
      conn.socket.end()
    })
    const p = pool(srv.url)
    const { r, done } = start(p)
    await until(() => Buffer.concat(r.chunks).toString() === 'first,second,third')
    expect(r.events).not.toContain('complete')
    await done
    expect(r.error).toBeNull()
    expect(r.body).toBe('first,second,third')
    expect(folded(r.events)).toEqual(['connect', 'headers', 'data', 'complete'])
    await until(() => p.connections === 0)
    expect((await send(p)).body).toBe('first,second,third')
    expect(srv.conns).toHaveLength(2)
  })

  it('fails a close-framed body cut by a reset instead of completing it', async () => {
    const srv = await rawServer(async ({ conn }) => {
      await pieces(conn.socket, ['HTTP/1.1 200 OK\r\n\r\npartial'], 10)
      conn.socket.resetAndDestroy()
    })
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.body).toBe('partial')
    expect(r.error?.code).toBe('ECONNRESET')
  })

  it.each([
    ['HEAD', 'HEAD', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n'],
    ['204', 'GET', 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n'],
    ['304', 'GET', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n'],
    ['HEAD (chunked)', 'HEAD', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'],
  ])('reads no body for %s even with a length, and keeps the connection', async (_name, method, head) => {
    const srv = await rawServer(({ conn, k }) => conn.socket.write(k === 0 ? head : ok('next')))
    const p = pool(srv.url)
    const r = await send(p, { method })
    expect(r.error).toBeNull()
    expect(r.body).toBe('')
    expect(r.events).toEqual(['connect', 'headers', 'complete'])
    const n = await send(p)
    expect(n.body).toBe('next')
    expect(srv.conns).toHaveLength(1)
  })

  it('skips 100 Continue and 103 Early Hints before the final head', async () => {
    const srv = await rawServer(({ conn }) =>
      pieces(conn.socket, [
        'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 20',
        '0 OK\r\nContent-Length: 4\r\n\r\nbody',
      ]),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeNull()
    expect(r.status).toBe(200)
    expect(r.headers).toEqual(['Content-Length', '4'])
    expect(r.body).toBe('body')
    expect(folded(r.events)).toEqual(['connect', 'headers', 'data', 'complete'])
    expect((await send(p)).status).toBe(200)
    expect(srv.conns).toHaveLength(1)
  })

  it('refuses 101 Switching Protocols', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(
        'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n',
      ),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error?.code).toBe('VGL_UPSTREAM_PROTOCOL')
    expect(r.events).toEqual(['connect', 'error'])
    await srv.conns[0].closed
  })

  it('closes the connection when bytes follow a complete response', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(conn.index === 0 ? ok('ok') + 'HTTP/1.1 200 OK\r\n' : ok('fresh')),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeNull()
    expect(r.body).toBe('ok')
    await srv.conns[0].closed
    expect((await send(p)).body).toBe('fresh')
    expect(srv.conns).toHaveLength(2)
  })

  it('closes the connection when bytes follow a chunked response or a bodiless one', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(
        conn.index === 0
          ? 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX'
          : 'HTTP/1.1 204 No Content\r\n\r\nX',
      ),
    )
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('ok')
    await srv.conns[0].closed
    expect((await send(p)).status).toBe(204)
    await srv.conns[1].closed
  })

  it('closes an idle connection that receives bytes nobody asked for', async () => {
    const srv = await rawServer(async ({ conn }) => {
      conn.socket.write(ok())
      await sleep(20)
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n')
    })
    const p = pool(srv.url)
    expect((await send(p)).status).toBe(200)
    await srv.conns[0].closed
    expect(p.connections).toBe(0)
  })

  it('drops an idle connection the upstream closed, and opens a new one for the next request', async () => {
    const srv = await rawServer(async ({ conn }) => {
      conn.socket.write(ok(`c${conn.index}`))
      await sleep(10)
      conn.socket.end()
    })
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('c0')
    await until(() => p.connections === 0)
    const r = await send(p)
    expect(r.body).toBe('c1')
    expect(r.events.filter((e) => e === 'connect')).toHaveLength(1)
  })

  it('never writes a request to an idle connection the upstream closed, even before its close event', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok(`c${conn.index}`)))
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('c0')
    // A second socket whose data arrives in the same event-loop turn as the pooled connection's
    // FIN, just after it: the POST goes out when the pool has read that FIN but node has not yet
    // emitted 'close' (a POST written there would fail, and is never sent again).
    const trigger = net.createServer()
    await new Promise<void>((ok) => trigger.listen(0, '127.0.0.1', ok))
    const accepted = new Promise<net.Socket>((ok) => trigger.once('connection', ok))
    const side = net.connect((trigger.address() as net.AddressInfo).port, '127.0.0.1')
    const sideEnd = await accepted
    cleanups.push(async () => {
      side.destroy()
      sideEnd.destroy()
      await new Promise((ok) => trigger.close(ok))
    })
    await new Promise((ok) => side.once('connect', ok))
    // settled, so the kernel reports its data after the FIN sent before it
    await sleep(10)
    const posted = new Promise<Result>((ok) =>
      side.once('data', () => void send(p, { method: 'POST', body: Buffer.from('x') }).then(ok)),
    )
    srv.conns[0].socket.destroy()
    sideEnd.write('go')
    const r = await posted
    expect(r.error).toBeNull()
    expect(r.body).toBe('c1')
    expect(srv.conns[0].received).not.toContain('POST')
  })
})

describe('UpstreamPool: chunked responses', () => {
  const CHUNKED_HEAD = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'

  it('decodes chunks split at awkward points, with extensions, dropping trailers', async () => {
    const srv = await rawServer(({ conn, k }) =>
      k === 0
        ? pieces(conn.socket, [
            'HTTP/1.1 200 OK\r\nTransfer-',
            'Encoding: chunked\r\n\r\n5;name=val',
            'ue;x\r\nhel',
            'lo\r',
            '\n1',
            '0 ; ext="q"\r\n0123456789',
            'abcdef\r\nA\r\n',
            '0123456789\r',
            '\n0\r\nX-Trailer: t\r\nX-Other: u\r',
            '\n\r',
            '\n',
          ])
        : conn.socket.write(ok('again')),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeNull()
    expect(r.headers).toEqual(['Transfer-Encoding', 'chunked'])
    expect(r.body).toBe('hello0123456789abcdef0123456789')
    expect(r.events.at(-1)).toBe('complete')
    expect((await send(p)).body).toBe('again')
    expect(srv.conns).toHaveLength(1)
  })

  it('decodes a chunked response arriving one byte at a time', async () => {
    const response = `${CHUNKED_HEAD}3;a=b\r\nabc\r\n10\r\n${'x'.repeat(16)}\r\n0\r\nT: 1\r\n\r\n`
    const srv = await rawServer(({ conn, k }) =>
      k === 0 ? pieces(conn.socket, [...response], 1) : conn.socket.write(ok('again')),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeNull()
    expect(r.status).toBe(200)
    expect(r.body).toBe(`abc${'x'.repeat(16)}`)
    expect((await send(p)).body).toBe('again')
    expect(srv.conns).toHaveLength(1)
  })

  it('reads a Content-Length response arriving one byte at a time', async () => {
    const srv = await rawServer(({ conn, k }) =>
      k === 0 ? pieces(conn.socket, [...ok('0123456789', 'X-A: b\r\n')], 1) : conn.socket.write(ok('again')),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeNull()
    expect(r.headers).toEqual(['Content-Length', '10', 'X-A', 'b'])
    expect(r.body).toBe('0123456789')
    expect((await send(p)).body).toBe('again')
    expect(srv.conns).toHaveLength(1)
  })

  it('accepts a repeated, equal Content-Length', async () => {
    const srv = await rawServer(({ conn, k }) =>
      conn.socket.write(
        k === 0
          ? 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello'
          : 'HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc',
      ),
    )
    const p = pool(srv.url)
    expect((await send(p)).body).toBe('hello')
    expect((await send(p)).body).toBe('abc')
    expect(srv.conns).toHaveLength(1)
  })
})

describe('UpstreamPool: protocol errors', () => {
  const H = 'HTTP/1.1 200 OK\r\n'
  const BAD_HEADS: [string, string][] = [
    [
      'both Content-Length and Transfer-Encoding',
      `${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n`,
    ],
    [
      'Transfer-Encoding before Content-Length',
      `${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n`,
    ],
    ['two different Content-Lengths', `${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`],
    ['a Content-Length list of different values', `${H}Content-Length: 5, 6\r\n\r\nhello!`],
    ['a non-numeric Content-Length', `${H}Content-Length: abc\r\n\r\n`],
    ['a signed Content-Length', `${H}Content-Length: +5\r\n\r\nhello`],
    ['a hex Content-Length', `${H}Content-Length: 0x5\r\n\r\nhello`],
    ['Transfer-Encoding gzip alone', `${H}Transfer-Encoding: gzip\r\n\r\n`],
    ['Transfer-Encoding chunked, gzip', `${H}Transfer-Encoding: chunked, gzip\r\n\r\n`],
    [
      'Transfer-Encoding chunked twice',
      `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n`,
    ],
    ['obs-fold', `${H}X-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n`],
    ['obs-fold with a tab', `${H}X-A: a\r\n\tfolded: x\r\nContent-Length: 0\r\n\r\n`],
    ['whitespace before the colon', `${H}Content-Length : 0\r\n\r\n`],
    ['a header line without a colon', `${H}X-A\r\nContent-Length: 0\r\n\r\n`],
    ['an empty header name', `${H}: v\r\nContent-Length: 0\r\n\r\n`],
    ['NUL in a value', `${H}X-A: a\0b\r\nContent-Length: 0\r\n\r\n`],
    ['bare LF in a value', `${H}X-A: a\nb\r\nContent-Length: 0\r\n\r\n`],
    ['bare CR in a value', `${H}X-A: a\rb\r\nContent-Length: 0\r\n\r\n`],
    ['a control character in the reason', 'HTTP/1.1 200 O\x01K\r\nContent-Length: 0\r\n\r\n'],
    ['status line HTTP/2', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['status line HTTP/1.2', 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a lowercase protocol', 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a four-digit status', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a status out of range', 'HTTP/1.1 600 Nope\r\nContent-Length: 0\r\n\r\n'],
    ['a status with a letter', 'HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n'],
    ['not HTTP at all', 'SSH-2.0-OpenSSH_9.6\r\n\r\n'],
    ['a head over 16 KiB', `${H}X-Big: ${'a'.repeat(17_000)}\r\nContent-Length: 0\r\n\r\n`],
    ['an unterminated head over 16 KiB', `${H}X-Big: ${'a'.repeat(17_000)}`],
  ]

  it.each(BAD_HEADS)('refuses %s and closes the connection', async (_name, response) => {
    const srv = await rawServer(({ conn }) => conn.socket.write(response, 'latin1'))
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.error).toBeInstanceOf(UpstreamError)
    expect(r.error?.code).toBe('VGL_UPSTREAM_PROTOCOL')
    expect(r.events).toEqual(['connect', 'error'])
    // closed by the pool (the server never closes)
    await srv.conns[0].closed
    await until(() => p.connections === 0)
  })

  const BAD_CHUNKS: [string, string][] = [
    ['a non-hex chunk size', 'zz\r\n'],
    ['a negative chunk size', '-1\r\nx\r\n0\r\n\r\n'],
    ['a chunk size with 14 digits', '00000000000005\r\nhello\r\n0\r\n\r\n'],
    ['a chunk size over 2^52', 'fffffffffffffffff\r\n'],
    ['an empty chunk size line', '\r\nhello\r\n0\r\n\r\n'],
    ['whitespace after the chunk size', '5 \r\nhello\r\n0\r\n\r\n'],
    ['a chunk size line ended by a bare LF', '5\nhello\r\n0\r\n\r\n'],
    ['a chunk size line over 4 KiB', `5;${'e'.repeat(5_000)}\r\nhello\r\n0\r\n\r\n`],
    ['chunk data not followed by CRLF', '5\r\nhelloX\r\n0\r\n\r\n'],
    ['chunk data followed by a bare LF', '5\r\nhello\n0\r\n\r\n'],
    ['chunk data followed by CR and no LF', '5\r\nhello\rX0\r\n\r\n'],
    ['a control character in a trailer', '0\r\nX-T: a\0b\r\n\r\n'],
  ]

  it.each(BAD_CHUNKS)('refuses %s and closes the connection', async (_name, body) => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, 'latin1'),
    )
    const p = pool(srv.url)
    const r = await send(p)
    expect(r.status).toBe(200)
    expect(r.error?.code).toBe('VGL_UPSTREAM_PROTOCOL')
    expect(r.events[0]).toBe('connect')
    expect(r.events[1]).toBe('headers')
    expect(r.events.at(-1)).toBe('error')
    await srv.conns[0].closed
  })

  it('honours a smaller maxHeaderBytes', async () => {
    const response = ok('x', `X-Pad: ${'p'.repeat(300)}\r\n`)
    const srv = await rawServer(({ conn }) => conn.socket.write(response))
    const small = pool(srv.url, { maxHeaderBytes: 256 })
    const r = await send(small)
    expect(r.error?.code).toBe('VGL_UPSTREAM_PROTOCOL')
    await srv.conns[0].closed
    const big = pool(srv.url)
    expect((await send(big)).body).toBe('x')
  })

  it('refuses a response head split over reads once it passes maxHeaderBytes', async () => {
    const srv = await rawServer(({ conn }) =>
      pieces(conn.socket, [
        'HTTP/1.1 200 OK\r\n',
        `X-A: ${'a'.repeat(100)}\r\n`,
        `X-B: ${'b'.repeat(100)}\r\n`,
      ]),
    )
    const p = pool(srv.url, { maxHeaderBytes: 150 })
    const r = await send(p)
    expect(r.error?.code).toBe('VGL_UPSTREAM_PROTOCOL')
    await srv.conns[0].closed
  })
})

describe('UpstreamPool: request bodies', () => {
  it('sends a Buffer body with its content-length', async () => {
    const srv = await httpServer()
    const p = pool(srv.url)
    const r = await send(p, {
      method: 'POST',
      body: Buffer.from('héllo'),
      headers: ['content-type', 'text/plain'],
    })
    expect(r.body).toBe('ok')
    expect(srv.seen[0].headers['content-length']).toBe(String(Buffer.byteLength('héllo')))
    expect(srv.seen[0].headers['transfer-encoding']).toBeUndefined()
    expect(srv.seen[0].body).toBe('héllo')
  })

  it('streams a body of unknown length chunked', async () => {
    const srv = await httpServer()
    const p = pool(srv.url)
    const body = new PassThrough()
    const { done } = start(p, { method: 'POST', body, bodyLength: -1 })
    body.write('abc')
    await sleep(10)
    body.write(Buffer.alloc(0))
    body.write('defgh')
    await sleep(10)
    body.end('ij')
    const r = await done
    expect(r.error).toBeNull()
    expect(r.body).toBe('ok')
    expect(srv.seen[0].headers['transfer-encoding']).toBe('chunked')
    expect(srv.seen[0].headers['content-length']).toBeUndefined()
    expect(srv.seen[0].body).toBe('abcdefghij')
    // the connection carries the next request
    expect((await send(p)).body).toBe('ok')
    expect(p.connections).toBe(1)
  })

  it('streams a body of known length with its content-length', async () => {
    const srv = await httpServer()
    const p = pool(srv.url)
    const body = new PassThrough()
    const { done } = start(p, { method: 'PUT', body, bodyLength: 7 })
    body.write('abc')
    await sleep(10)
    body.end('defg')
    const r = await done
    expect(r.error).toBeNull()
    expect(srv.seen[0].method).toBe('PUT')
    expect(srv.seen[0].headers['content-length']).toBe('7')
    expect(srv.seen[0].headers['transfer-encoding']).toBeUndefined()
    expect(srv.seen[0].body).toBe('abcdefg')
  })

  it.each([
    {
      what: 'a streamed body longer than its bodyLength',
      bodyLength: 3,
      feed: async (body: PassThrough) => (body.write('ab'), await sleep(10), body.write('cd')),
    },
    {
      what: 'a streamed body shorter than its bodyLength',
      bodyLength: 10,
      feed: (body: PassThrough) => body.end('abc'),
    },
    {
      what: 'a body stream that closes before its end',
      bodyLength: -1,
      feed: async (body: PassThrough) => (body.write('abc'), await sleep(10), body.destroy()),
    },
  ])('fails $what with VGL_UPSTREAM_REQUEST_BODY and drops the connection', async ({ bodyLength, feed }) => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const body = new PassThrough()
    const { done } = start(p, { method: 'POST', body, bodyLength })
    await feed(body)
    const r = await done
    expect(r.error?.code).toBe('VGL_UPSTREAM_REQUEST_BODY')
    await srv.conns[0].closed
  })

  it('fails with the error the body stream emitted', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const body = new PassThrough()
    const { done } = start(p, { method: 'POST', body, bodyLength: -1 })
    body.write('abc')
    await sleep(10)
    const err = Object.assign(new Error('client went away'), { code: 'X_TEST' })
    body.destroy(err)
    const r = await done
    expect(r.error).toBe(err)
    expect(r.events).toEqual(['connect', 'error'])
    await srv.conns[0].closed
    expect(srv.conns[0].received).toMatch(/\r\n\r\n3\r\nabc\r\n$/)
  })

  it('completes on an early response before the body is sent, and drops the connection', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const body = new PassThrough()
    const { done } = start(p, { method: 'POST', body, bodyLength: 100 })
    body.write('abc')
    await until(() => srv.conns.length === 1 && srv.conns[0].received.endsWith('abc'))
    srv.conns[0].socket.write('HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n')
    const r = await done
    expect(r.status).toBe(413)
    expect(r.error).toBeNull()
    await srv.conns[0].closed
    // the stream is no longer read from
    expect(body.listenerCount('data')).toBe(0)
  })
})

describe('UpstreamPool: back-pressure', () => {
  it('stops reading while onData has paused it, and goes on at resume', async () => {
    const size = 1024 * 1024
    const srv = await rawServer(({ conn }) => {
      conn.socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${size}\r\n\r\n`)
      for (let i = 0; i < size / 65_536; i++) conn.socket.write(Buffer.alloc(65_536, 97 + (i % 26)))
    })
    const p = pool(srv.url)
    let paused = true
    const { r, done } = start(p, {}, { onData: () => !paused })
    await until(() => r.chunks.length === 1)
    await sleep(100)
    expect(r.chunks).toHaveLength(1)
    paused = false
    r.resume!()
    const res = await done
    expect(res.error).toBeNull()
    expect(res.body.length).toBe(size)
  })

  it('delivers no more chunks of a chunked body while paused, even from the same read', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(
        `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${'3\r\nabc\r\n'.repeat(5)}0\r\n\r\n`,
      ),
    )
    const p = pool(srv.url)
    const { r, done } = start(p, {}, { onData: () => false })
    for (let i = 1; i <= 5; i++) {
      await until(() => r.chunks.length === i)
      await sleep(20)
      expect(r.chunks).toHaveLength(i)
      expect(r.events).not.toContain('complete')
      r.resume!()
    }
    const res = await done
    expect(res.body).toBe('abc'.repeat(5))
    // the terminator was parsed at the last resume: the connection goes on
    expect((await send(p)).body).toBe('abc'.repeat(5))
    expect(srv.conns).toHaveLength(1)
  })

  it('delivers no body while onHeaders has paused, even bytes read with the head', async () => {
    const srv = await rawServer(({ conn, k }) => conn.socket.write(ok(`body${k}`)))
    const p = pool(srv.url)
    const { r, done } = start(p, {}, { onHeaders: () => false })
    await until(() => r.events.includes('headers'))
    await sleep(30)
    expect(r.events).toEqual(['connect', 'headers'])
    r.resume!()
    expect((await done).body).toBe('body0')
    // the connection goes on to the next request
    expect((await send(p)).body).toBe('body1')
    expect(srv.conns).toHaveLength(1)
  })
})

describe('UpstreamPool: timeouts', () => {
  it('fails with the connect error when the port is closed, without onConnect', async () => {
    const p = pool(`http://127.0.0.1:${await closedPort()}`)
    const r = await send(p)
    expect(r.error?.code).toBe('ECONNREFUSED')
    expect(r.events).toEqual(['error'])
    expect(p.connections).toBe(0)
  })

  it('fails every queued request when connecting fails, none left hanging', async () => {
    const p = pool(`http://127.0.0.1:${await closedPort()}`, { connections: 2 })
    const calls = Array.from({ length: 5 }, (_, i) => start(p, { path: `/${i}` }))
    expect(p.queued).toBe(5)
    const results = await Promise.all(calls.map((c) => c.done))
    for (const r of results) {
      expect(r.error?.code).toBe('ECONNREFUSED')
      expect(r.events).toEqual(['error'])
    }
    expect(p.queued).toBe(0)
    await until(() => p.connections === 0)
  })

  it('fails with VGL_UPSTREAM_HEADERS_TIMEOUT when no head comes in time', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const t0 = Date.now()
    const r = await send(p, { headersTimeoutMs: 100 })
    const took = Date.now() - t0
    expect(r.error?.code).toBe('VGL_UPSTREAM_HEADERS_TIMEOUT')
    expect(took).toBeGreaterThanOrEqual(95)
    expect(took).toBeLessThan(2_000) // fired at all: a starved process reads timers late
    await srv.conns[0].closed
  })

  it('fails with VGL_UPSTREAM_HEADERS_TIMEOUT when the head stalls half-way', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write('HTTP/1.1 200 OK\r\nContent-Le'))
    const p = pool(srv.url)
    const r = await send(p, { headersTimeoutMs: 100 })
    expect(r.error?.code).toBe('VGL_UPSTREAM_HEADERS_TIMEOUT')
    expect(r.events).toEqual(['connect', 'error'])
  })

  it('fails with VGL_UPSTREAM_BODY_TIMEOUT when the body stalls', async () => {
    const srv = await rawServer(({ conn }) =>
      pieces(conn.socket, ['HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc', 'de'], 50),
    )
    const p = pool(srv.url)
    const t0 = Date.now()
    const r = await send(p, { bodyTimeoutMs: 120 })
    const took = Date.now() - t0
    expect(r.error?.code).toBe('VGL_UPSTREAM_BODY_TIMEOUT')
    expect(r.body).toBe('abcde')
    // counted from the last bytes (at ~50 ms), not from the head; the upper bound only says it
    // fired at all (a starved process reads timers late)
    expect(took).toBeGreaterThanOrEqual(165)
    expect(took).toBeLessThan(2_000)
    await srv.conns[0].closed
  })

  it('does not count the body timeout while the handler has paused', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nabc'),
    )
    const p = pool(srv.url)
    const { r, done } = start(p, { bodyTimeoutMs: 80 }, { onData: (_c, res) => res.chunks.length > 1 })
    await until(() => r.chunks.length === 1)
    // the rest waits in the paused socket
    srv.conns[0].socket.write('def')
    await sleep(250)
    expect(r.events).toEqual(['connect', 'headers', 'data'])
    r.resume!()
    const res = await done
    expect(res.error).toBeNull()
    expect(res.body).toBe('abcdef')
  })

  it('does not count the body timeout while onHeaders has paused', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n'),
    )
    const p = pool(srv.url)
    const { r, done } = start(p, { bodyTimeoutMs: 80 }, { onHeaders: () => false })
    await until(() => r.events.includes('headers'))
    srv.conns[0].socket.write('abcdef')
    await sleep(250)
    expect(r.events).toEqual(['connect', 'headers'])
    r.resume!()
    const res = await done
    expect(res.error).toBeNull()
    expect(res.body).toBe('abcdef')
  })

  it('closes an idle connection after keepAliveTimeoutMs', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url, { keepAliveTimeoutMs: 150 })
    const idle = await idleBeforeClose(srv, p)
    expect(idle).toBeGreaterThanOrEqual(140)
    expect(idle).toBeLessThan(400)
    await until(() => p.connections === 0)
  })

  it('keeps an idle connection a second less than the upstream Keep-Alive timeout', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write(ok('x', 'Keep-Alive: timeout=2, max=100\r\n')),
    )
    const p = pool(srv.url, { keepAliveTimeoutMs: 10_000 })
    const idle = await idleBeforeClose(srv, p)
    expect(idle).toBeGreaterThanOrEqual(900)
    expect(idle).toBeLessThanOrEqual(1_600)
  })

  it('does not reuse a connection the upstream keeps for only a second', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok('x', 'Keep-Alive: timeout=1\r\n')))
    const p = pool(srv.url, { keepAliveTimeoutMs: 10_000 })
    expect((await send(p)).status).toBe(200)
    await srv.conns[0].closed
  })
})

describe('UpstreamPool: replay on a reused connection', () => {
  /** Answers the first request of the first connection; drops later requests there without an answer. */
  function dropSecond(opts: { alsoFresh?: boolean } = {}) {
    return ({ conn, k }: RawRequest): void => {
      if (conn.index === 0 && k === 0) conn.socket.write(ok('first'))
      else if (conn.index === 0 || opts.alsoFresh) conn.socket.destroy()
      else conn.socket.write(ok(`replayed on ${conn.index}`))
    }
  }

  it('sends a GET again on a new connection when the reused one closes under it', async () => {
    const srv = await rawServer(dropSecond())
    const p = pool(srv.url)
    expect((await send(p, { path: '/1' })).body).toBe('first')
    const r = await send(p, { path: '/2' })
    expect(r.error).toBeNull()
    expect(r.body).toBe('replayed on 1')
    expect(folded(r.events)).toEqual(['connect', 'replay', 'connect', 'headers', 'data', 'complete'])
    expect(srv.heads.map((h) => h.split('\r\n')[0])).toEqual([
      'GET /1 HTTP/1.1',
      'GET /2 HTTP/1.1',
      'GET /2 HTTP/1.1',
    ])
    expect(srv.conns).toHaveLength(2)
  })

  for (const [what, code, stop] of [
    ['given up on', 'VGL_UPSTREAM_ABORTED', (r: Result) => r.abort!()],
    ['cut by destroy()', 'VGL_UPSTREAM_POOL_CLOSED', (_r: Result, p: UpstreamPool) => void p.destroy()],
  ] as const) {
    it(`a replay ${what} while it waits for its connection fails and is never sent`, async () => {
      const srv = await rawServer(dropSecond())
      const p = pool(srv.url)
      await send(p)
      const r = await send(p, { path: '/2' }, { onReplay: (res) => stop(res, p) })
      expect(r.error?.code).toBe(code)
      expect(r.events).toEqual(['connect', 'replay', 'error'])
      await sleep(30)
      expect(srv.conns).toHaveLength(1)
      expect(p.queued).toBe(0)
    })
  }

  it('sends a PUT with a Buffer body again, body included', async () => {
    const srv = await rawServer(dropSecond())
    const p = pool(srv.url)
    await send(p)
    const r = await send(p, { method: 'PUT', body: Buffer.from('data') })
    expect(r.body).toBe('replayed on 1')
    expect(srv.conns[1].received).toMatch(/^PUT \/ HTTP\/1\.1\r\n[^]*content-length: 4\r\n\r\ndata$/)
  })

  it('does not send a POST again', async () => {
    const srv = await rawServer(dropSecond())
    const p = pool(srv.url)
    await send(p)
    const r = await send(p, { method: 'POST', body: Buffer.from('x') })
    expect(['VGL_UPSTREAM_CLOSED', 'ECONNRESET']).toContain(r.error?.code)
    await sleep(30)
    expect(srv.conns).toHaveLength(1)
    expect(srv.heads).toHaveLength(2)
  })

  it('does not send a streamed body again', async () => {
    const srv = await rawServer(dropSecond())
    const p = pool(srv.url)
    await send(p)
    const body = new PassThrough()
    body.end('abc')
    const r = await send(p, { method: 'PUT', body, bodyLength: 3 })
    expect(r.error).not.toBeNull()
    await sleep(30)
    expect(srv.conns).toHaveLength(1)
  })

  it('sends it again only once: a second failure fails the request', async () => {
    const srv = await rawServer(dropSecond({ alsoFresh: true }))
    const p = pool(srv.url)
    await send(p)
    const r = await send(p, { path: '/2' })
    expect(['VGL_UPSTREAM_CLOSED', 'ECONNRESET']).toContain(r.error?.code)
    await sleep(30)
    expect(srv.conns).toHaveLength(2)
    expect(srv.heads).toHaveLength(3)
  })

  it('sends it again on a fresh connection, not on another pooled one that frees up first', async () => {
    // Two pooled connections each carry a second request. The upstream resets one; the other
    // answers a loop turn later, after the pool has read the reset but before the fresh connection
    // for the replay is up. That pooled connection must not take the replay: here (as with an
    // upstream that closes every connection after one answer) it is just as stale.
    const second: RawRequest[] = []
    const srv = await rawServer((req) => {
      const { conn, k } = req
      if (conn.index >= 2) conn.socket.write(ok(`fresh ${conn.index}`))
      else if (k === 0) conn.socket.write(ok(`c${conn.index}`))
      else if (k > 1) conn.socket.resetAndDestroy()
      else if (second.push(req) === 2) {
        second[0].conn.socket.resetAndDestroy()
        const late = second[1].conn.socket
        setImmediate(() => setImmediate(() => late.write(ok('late'))))
      }
    })
    const p = pool(srv.url)
    await Promise.all([send(p), send(p)])
    expect(srv.conns).toHaveLength(2)
    const rs = await Promise.all([send(p, { path: '/a' }), send(p, { path: '/b' })])
    expect(rs.map((r) => r.error)).toEqual([null, null])
    expect(rs.map((r) => r.body).sort()).toEqual(['fresh 2', 'late'])
    expect(srv.conns.map((c) => c.heads.length)).toEqual([2, 2, 1])
  })

  it('does not send a request again when a fresh connection closes under it', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.destroy())
    const p = pool(srv.url)
    const r = await send(p)
    expect(['VGL_UPSTREAM_CLOSED', 'ECONNRESET']).toContain(r.error?.code)
    expect(r.events).toEqual(['connect', 'error'])
    await sleep(30)
    expect(srv.conns).toHaveLength(1)
  })

  it('does not send again a request the upstream had begun to answer', async () => {
    const srv = await rawServer(({ conn, k }) => {
      if (k === 0) conn.socket.write(ok('first'))
      else {
        conn.socket.write('HTTP/1.1 200 OK\r\nContent-Le')
        setTimeout(() => conn.socket.destroy(), 10)
      }
    })
    const p = pool(srv.url)
    await send(p)
    const r = await send(p)
    expect(['VGL_UPSTREAM_CLOSED', 'ECONNRESET']).toContain(r.error?.code)
    await sleep(30)
    expect(srv.conns).toHaveLength(1)
  })
})

describe('UpstreamPool: connection limit and queue', () => {
  it('opens at most `connections` sockets and hands them out in order', async () => {
    const srv = await rawServer(async ({ conn, head }) => {
      await sleep(40)
      conn.socket.write(ok(head.split(' ')[1]))
    })
    const p = pool(srv.url, { connections: 2 })
    const order: number[] = []
    const waiting: number[] = []
    const calls = Array.from({ length: 5 }, (_, i) =>
      start(
        p,
        { path: `/${i}` },
        {
          onConnect: () => {
            order.push(i)
            waiting.push(p.queued)
          },
        },
      ),
    )
    expect(p.queued).toBe(5)
    const results = await Promise.all(calls.map((c) => c.done))
    expect(results.map((r) => r.body)).toEqual(['/0', '/1', '/2', '/3', '/4'])
    expect(order).toEqual([0, 1, 2, 3, 4])
    expect(waiting).toEqual([4, 3, 2, 1, 0])
    expect(srv.conns).toHaveLength(2)
    expect(srv.maxOpen).toBe(2)
    expect(p.queued).toBe(0)
  })
})

describe('UpstreamPool: abort', () => {
  it('abort from onConnect writes nothing and keeps the connection', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url)
    const r = await send(p, { path: '/dropped' }, { onConnect: (res) => res.abort!() })
    expect(r.error?.code).toBe('VGL_UPSTREAM_ABORTED')
    expect(r.events).toEqual(['connect', 'error'])
    await sleep(20)
    expect(srv.conns).toHaveLength(1)
    expect(srv.conns[0].received).toBe('')
    expect((await send(p, { path: '/next' })).status).toBe(200)
    expect(srv.conns).toHaveLength(1)
    expect(srv.heads).toHaveLength(1)
    expect(srv.heads[0]).toMatch(/^GET \/next /)
  })

  it('abort after the request was written fails it with the given error and closes the socket', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const { r, done } = start(p, { path: '/slow' })
    await until(() => srv.heads.length === 1)
    const err = new Error('gave up')
    r.abort!(err)
    const res = await done
    expect(res.error).toBe(err)
    expect(res.events).toEqual(['connect', 'error'])
    await srv.conns[0].closed
    await until(() => p.connections === 0)
  })

  it('abort during the response body fails it and closes the socket', async () => {
    const srv = await rawServer(({ conn }) =>
      conn.socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc'),
    )
    const p = pool(srv.url)
    const r = await send(p, {}, { onData: (_c, res) => (res.abort!(), false) })
    expect(r.error?.code).toBe('VGL_UPSTREAM_ABORTED')
    expect(r.events).toEqual(['connect', 'headers', 'data', 'error'])
    await srv.conns[0].closed
  })

  it('a queued request given up on is never sent; the connection serves the next one', async () => {
    const srv = await rawServer(async ({ conn, head }) => {
      if (head.startsWith('GET /slow')) await sleep(60)
      conn.socket.write(ok())
    })
    const p = pool(srv.url, { connections: 1 })
    const first = start(p, { path: '/slow' })
    let stale = false
    const queued = start(p, { path: '/stale' }, { onConnect: (res) => (stale ? res.abort!() : undefined) })
    await until(() => first.r.events.includes('connect'))
    expect(p.queued).toBe(1)
    stale = true
    const q = await queued.done
    expect(q.error?.code).toBe('VGL_UPSTREAM_ABORTED')
    expect(p.queued).toBe(0)
    expect((await first.done).status).toBe(200)
    expect((await send(p, { path: '/after' })).status).toBe(200)
    expect(srv.heads.map((h) => h.split(' ')[1])).toEqual(['/slow', '/after'])
    expect(srv.conns).toHaveLength(1)
  })

  it('abort after the end changes nothing', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url)
    const r = await send(p)
    r.abort!(new Error('late'))
    expect(r.events).toEqual(['connect', 'headers', 'data', 'complete'])
    expect((await send(p)).status).toBe(200)
    expect(srv.conns).toHaveLength(1)
  })
})

describe('UpstreamPool: close and destroy', () => {
  it('close() lets requests under way and waiting finish, then closes every connection', async () => {
    const srv = await rawServer(async ({ conn, k }) => {
      await sleep(50)
      conn.socket.write(ok(`r${k}`))
    })
    const p = pool(srv.url, { connections: 1 })
    const a = start(p)
    const b = start(p)
    await until(() => srv.heads.length === 1)
    let closed = false
    const closing = p.close().then(() => (closed = true))
    await sleep(10)
    expect(closed).toBe(false)
    expect((await a.done).body).toBe('r0')
    expect((await b.done).body).toBe('r1')
    await closing
    expect(p.connections).toBe(0)
    await srv.conns[0].closed
  })

  it('close() closes idle connections at once', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url)
    await send(p)
    await p.close()
    expect(p.connections).toBe(0)
    await srv.conns[0].closed
  })

  it('dispatch after close() fails asynchronously with VGL_UPSTREAM_POOL_CLOSED', async () => {
    const srv = await rawServer(({ conn }) => conn.socket.write(ok()))
    const p = pool(srv.url)
    await p.close()
    const { r, done } = start(p)
    expect(r.events).toEqual([])
    const res = await done
    expect(res.error?.code).toBe('VGL_UPSTREAM_POOL_CLOSED')
    expect(res.events).toEqual(['error'])
    expect(srv.conns).toHaveLength(0)
  })

  it('destroy() fails requests under way and waiting with VGL_UPSTREAM_POOL_CLOSED', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url, { connections: 1 })
    const a = start(p)
    const b = start(p)
    await until(() => srv.heads.length === 1)
    await p.destroy()
    const [ra, rb] = await Promise.all([a.done, b.done])
    expect(ra.error?.code).toBe('VGL_UPSTREAM_POOL_CLOSED')
    expect(rb.error?.code).toBe('VGL_UPSTREAM_POOL_CLOSED')
    expect(ra.events).toEqual(['connect', 'error'])
    expect(rb.events).toEqual(['error'])
    expect(p.connections).toBe(0)
    expect(p.queued).toBe(0)
    await srv.conns[0].closed
    const c = await send(p)
    expect(c.error?.code).toBe('VGL_UPSTREAM_POOL_CLOSED')
  })

  it('destroy() while connecting fails the waiting request once', async () => {
    const srv = await rawServer(() => {})
    const p = pool(srv.url)
    const { done } = start(p)
    await p.destroy()
    const r = await done
    expect(r.error?.code).toBe('VGL_UPSTREAM_POOL_CLOSED')
    expect(r.events).toEqual(['error'])
  })
})

describe('UpstreamPool: https origins', () => {
  const fixtures = new URL('../../test/fixtures/tls/', import.meta.url)
  const cert = readFileSync(new URL('localhost-cert.pem', fixtures))
  const key = readFileSync(new URL('localhost-key.pem', fixtures))

  async function tlsServer(): Promise<{ url: string; connections: () => number }> {
    let connections = 0
    const srv = https.createServer({ cert, key }, (req, res) => res.end(`tls ${req.url}`))
    srv.on('secureConnection', () => connections++)
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))
    cleanups.push(() => new Promise<void>((r) => (srv.closeAllConnections(), srv.close(() => r()))))
    return {
      url: `https://127.0.0.1:${(srv.address() as net.AddressInfo).port}`,
      connections: () => connections,
    }
  }

  it('speaks HTTP/1.1 over TLS to an upstream whose certificate it trusts, and keeps the connection', async () => {
    const srv = await tlsServer()
    const p = pool(srv.url, { ca: cert })
    expect(await send(p, { path: '/a' })).toMatchObject({ status: 200, body: 'tls /a', error: null })
    expect(await send(p, { path: '/b' })).toMatchObject({ status: 200, body: 'tls /b', error: null })
    expect(srv.connections()).toBe(1)
  })

  it('refuses an upstream whose certificate it does not trust, before writing the request', async () => {
    const srv = await tlsServer()
    const r = await send(pool(srv.url))
    expect(r.error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT')
    expect(r.events).toEqual(['error'])
  })
})
