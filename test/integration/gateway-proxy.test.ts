import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http'
import { connect, createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { Agent, request } from 'undici'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { Admission, AdmissionDecision, AdmissionRequest } from '../../src/limits/admission.js'
import { createAdmission } from '../../src/limits/index.js'
import { registry } from '../../src/metrics.js'
import { decodeRollup } from '../../src/telemetry/codec.js'
import type { RequestEvent, SeriesKey } from '../../src/telemetry/recorder.js'
import { RollupRecorder } from '../../src/telemetry/rollup-recorder.js'
import { createLatencySketch, decodeSketch, mergeSketch } from '../../src/telemetry/sketch.js'
import type { Rollup } from '../../src/telemetry/types.js'
import { evaluateRule } from '../../src/alerts/rules.js'
import { alertsSchema } from '../../src/config/alerts-schema.js'
import { toMetricPoint } from '../../src/control/anomalies.js'
import { toSeriesPoint } from '../../src/control/points.js'
import { mergePoints, rollupAsPart } from '../../src/store/merge.js'
import { startGateway, testConfig, type TestGateway } from '../helpers/gateway.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'
import { uploadThenRead } from '../helpers/upload.js'

const client = new Agent({ keepAliveTimeout: 1000 })
let up: Upstream
let gws: TestGateway[] = []

beforeAll(async () => {
  up = await startUpstream()
})
afterEach(async () => {
  up.handler = echo
  up.reset()
  await Promise.all(gws.map((g) => g.close()))
  gws = []
})
afterAll(async () => {
  await up.close()
  await client.close()
})

async function gateway(extra: Record<string, unknown> = {}, opts = {}): Promise<TestGateway> {
  const g = await startGateway(
    {
      services: { api: { targets: [up.url] } },
      routes: [
        { name: 'users', path: '/users/:id', service: 'api' },
        { name: 'api', path: '/api', service: 'api' },
      ],
      ...extra,
    },
    opts,
  )
  gws.push(g)
  return g
}

async function get(
  url: string,
  headers: Record<string, string> = {},
  method = 'GET',
  body?: string | Readable,
) {
  const res = await request(url, { method: method as 'GET', headers, body, dispatcher: client })
  const text = await res.body.text()
  return { status: res.statusCode, headers: res.headers, text }
}

describe('gateway proxying', () => {
  it('proxies method, path, query and body, and returns the upstream answer', async () => {
    const g = await gateway()
    const r = await get(`${g.url}/api/things?x=1&y=2`, { 'content-type': 'text/plain' }, 'POST', 'hello')
    expect(r.status).toBe(200)
    expect(JSON.parse(r.text)).toEqual({ method: 'POST', url: '/api/things?x=1&y=2', bodyBytes: 5 })
    expect(up.seen[0].headers['content-type']).toBe('text/plain')
  })

  it('generates X-Request-Id when absent, sends it upstream and returns it; keeps a given one', async () => {
    const g = await gateway()
    const r = await get(`${g.url}/api`)
    const id = r.headers['x-request-id'] as string
    expect(id).toMatch(/^[0-9a-f]{32}$/)
    expect(up.seen[0].headers['x-request-id']).toBe(id)
    const r2 = await get(`${g.url}/api`, { 'x-request-id': 'my-id-1' })
    expect(r2.headers['x-request-id']).toBe('my-id-1')
    expect(up.seen[1].headers['x-request-id']).toBe('my-id-1')
  })

  it('sets X-Forwarded-For/-Proto/-Host, appending to an existing X-Forwarded-For', async () => {
    const g = await gateway()
    await get(`${g.url}/api`, { 'x-forwarded-for': '10.0.0.1', host: 'shop.example' })
    const h = up.seen[0].headers
    expect(h['x-forwarded-for']).toBe('10.0.0.1, 127.0.0.1')
    expect(h['x-forwarded-proto']).toBe('http')
    expect(h['x-forwarded-host']).toBe('shop.example')
    expect(h.host).toBe(`127.0.0.1:${up.port}`)
  })

  it('removes hop-by-hop headers in both directions, including those named in Connection', async () => {
    up.handler = (_req, res) => {
      res.setHeader('keep-alive', 'timeout=99')
      res.setHeader('proxy-authenticate', 'Basic')
      res.setHeader('x-kept', 'yes')
      res.setHeader('x-hop-back', '1')
      res.setHeader('connection', 'x-hop-back')
      res.end('ok')
    }
    const g = await gateway()
    // undici rewrites Connection itself, so this request goes out through node:http.
    const r = await new Promise<{ headers: IncomingHttpHeaders }>((resolve, reject) => {
      const req = httpRequest(`${g.url}/api`, {
        headers: { 'x-secret-hop': '1', connection: 'x-secret-hop', te: 'trailers', 'x-end': 'e2e' },
      })
      req.on('response', (res) => {
        res.resume()
        res.on('end', () => resolve({ headers: res.headers }))
      })
      req.on('error', reject)
      req.end()
    })
    const h = up.seen[0].headers
    expect(h['x-secret-hop']).toBeUndefined()
    expect(h.te).toBeUndefined()
    expect(h['x-end']).toBe('e2e')
    expect(r.headers['proxy-authenticate']).toBeUndefined()
    expect(r.headers['keep-alive']).not.toBe('timeout=99')
    expect(r.headers['x-kept']).toBe('yes')
    expect(r.headers['x-hop-back']).toBeUndefined()
  })

  it("keeps the gateway's own headers when the client's Connection header names them", async () => {
    const g = await gateway()
    // Raw bytes: HTTP clients rewrite Connection themselves.
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(Number(new URL(g.url).port), '127.0.0.1', () =>
        sock.write(
          'POST /api HTTP/1.1\r\nhost: shop.example\r\n' +
            'connection: close, x-forwarded-for, x-request-id, traceparent, x-forwarded-host, content-length\r\n' +
            'x-forwarded-for: 10.9.9.9\r\nx-request-id: client-chosen\r\n' +
            'traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01\r\n' +
            'x-other: kept\r\ncontent-length: 3\r\n\r\nabc',
        ),
      )
      let data = ''
      sock.on('data', (d) => (data += d.toString()))
      sock.on('close', () => resolve(data))
      sock.on('error', reject)
    })
    expect(answer).toMatch(/^HTTP\/1\.1 200 /)
    const h = up.seen[0].headers
    // The client's values are hop-by-hop and removed; the gateway's own are added afterwards.
    expect(h['x-forwarded-for']).toBe('127.0.0.1')
    expect(h['x-forwarded-proto']).toBe('http')
    expect(h['x-forwarded-host']).toBe('shop.example')
    expect(h['x-request-id']).toMatch(/^[0-9a-f]{32}$/)
    expect(h.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
    expect(h.traceparent).not.toContain('0af7651916cd43dd8448eb211c80319c')
    expect(h['x-other']).toBe('kept')
    expect(h['content-length']).toBe('3')
  })

  it('keeps X-Request-Id on the response when the upstream lists it in Connection', async () => {
    up.handler = (_req, res) => {
      res.setHeader('x-request-id', 'upstream-hop')
      res.setHeader('connection', 'x-request-id')
      res.end('ok')
    }
    const g = await gateway()
    const r = await get(`${g.url}/api`, { 'x-request-id': 'mine-1' })
    expect(r.headers['x-request-id']).toBe('mine-1')
  })

  it('continues a W3C trace: same trace id, the gateway span as the new parent', async () => {
    const g = await gateway()
    await get(`${g.url}/api`, { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' })
    const tp = up.seen[0].headers.traceparent as string
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(tp)!
    expect(m[1]).toBe('0af7651916cd43dd8448eb211c80319c')
    expect(m[2]).not.toBe('b7ad6b7169203331')
    await get(`${g.url}/api`)
    expect(up.seen[1].headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/)
  })

  it('routes and forwards the normalised path: dot segments (also %2e) resolved, ambiguous paths 400', async () => {
    const g = await gateway({
      services: { pub: { targets: [`${up.url}/pub`] }, adm: { targets: [`${up.url}/adm`] } },
      routes: [
        { name: 'public', path: '/public', service: 'pub' },
        { name: 'admin', path: '/admin', service: 'adm' },
      ],
    })
    const raw = (path: string) =>
      new Promise<string>((resolve, reject) => {
        // Raw bytes: fetch-style clients resolve dot segments themselves.
        const sock = connect(Number(new URL(g.url).port), '127.0.0.1', () =>
          sock.write(`GET ${path} HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n`),
        )
        let data = ''
        sock.on('data', (d) => (data += d.toString()))
        sock.on('close', () => resolve(data))
        sock.on('error', reject)
      })
    expect(await raw('/public/../admin/x?q=1')).toMatch(/^HTTP\/1\.1 200 /)
    expect(await raw('/public/%2e%2e/admin/x')).toMatch(/^HTTP\/1\.1 200 /)
    expect(await raw('/public/./y/../z')).toMatch(/^HTTP\/1\.1 200 /)
    expect(up.seen.map((r) => r.url)).toEqual(['/adm/admin/x?q=1', '/adm/admin/x', '/pub/public/z'])
    for (const bad of [
      '/public/..%2Fadmin/x',
      '/public\\..\\admin/x',
      '/public/..;/admin/x',
      '/public/100%',
    ]) {
      const answer = await raw(bad)
      expect(answer).toMatch(/^HTTP\/1\.1 400 /)
      expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
        code: 'VGL_ERR_GATEWAY_BAD_REQUEST',
        status: 400,
      })
    }
    expect(up.hits).toBe(3)
  })

  it('keeps an escaped slash as data, or refuses it with gateway.escapedSlashes: reject', async () => {
    const keep = await gateway()
    expect((await get(`${keep.url}/api/group%2Fname`)).status).toBe(200)
    expect(up.seen[0].url).toBe('/api/group%2Fname')
    const strict = await gateway({ gateway: { escapedSlashes: 'reject' } })
    const r = await get(`${strict.url}/api/group%2Fname`)
    expect(r.status).toBe(400)
    expect(JSON.parse(r.text).detail).toContain('gateway.escapedSlashes')
    expect(up.hits).toBe(1)
  })

  it('answers 404 problem+json when no route matches', async () => {
    const g = await gateway()
    const r = await get(`${g.url}/nowhere?q=1`, { 'x-request-id': 'r-404' })
    expect(r.status).toBe(404)
    expect(r.headers['content-type']).toBe('application/problem+json')
    expect(JSON.parse(r.text)).toMatchObject({
      type: 'urn:vigil:error:VGL_ERR_GATEWAY_NO_ROUTE',
      title: 'Not Found',
      status: 404,
      detail: 'no route matches GET /nowhere',
      requestId: 'r-404',
    })
    expect(up.hits).toBe(0)
    expect(await registry.metrics()).toMatch(
      /vigil_gateway_requests_total\{route="\(no route\)",service="\(none\)",method="GET",status_class="4xx"\} [1-9]/,
    )
  })

  it('answers a malformed request with 400 problem+json and closes the connection', async () => {
    const g = await gateway()
    const port = Number(new URL(g.url).port)
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => sock.write('NOT HTTP AT ALL\r\n\r\n'))
      let data = ''
      sock.on('data', (d) => (data += d.toString()))
      sock.on('close', () => resolve(data))
      sock.on('error', reject)
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/)
    expect(answer).toContain('content-type: application/problem+json')
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      status: 400,
      code: 'VGL_ERR_GATEWAY_BAD_REQUEST',
    })
  })

  it('answers 413 for a declared body over the limit without contacting the upstream', async () => {
    const g = await gateway({ gateway: { bodyLimitBytes: 1000 } })
    const r = await get(`${g.url}/api`, {}, 'POST', 'x'.repeat(1001))
    expect(r.status).toBe(413)
    expect(JSON.parse(r.text)).toMatchObject({ status: 413, code: 'VGL_ERR_GATEWAY_BODY_TOO_LARGE' })
    expect(up.hits).toBe(0)
  })

  it('answers 413 for a chunked body that grows over the limit', async () => {
    const g = await gateway({ gateway: { bodyLimitBytes: 100_000 } })
    const chunks = Array.from({ length: 50 }, () => Buffer.alloc(10_000, 1))
    const r = await get(`${g.url}/api`, {}, 'POST', Readable.from(chunks))
    expect(r.status).toBe(413)
  })

  it('answers a chunked upload that grows over the limit with a 413 the client reads after its upload', async () => {
    const g = await gateway({ gateway: { bodyLimitBytes: 1024 * 1024 } })
    const r = await uploadThenRead(Number(new URL(g.url).port), { path: '/api' })
    // before: the gateway closed under the upload and the client met EPIPE with nothing to read
    expect(r.error).toBeNull()
    expect(r.status).toBe(413)
    expect(r.answer).toContain('VGL_ERR_GATEWAY_BODY_TOO_LARGE')
  })

  it('answers 503 problem+json when every target is down', async () => {
    const g = await gateway({
      services: {
        api: { targets: ['http://127.0.0.1:9'], healthCheck: { intervalMs: 60_000, unhealthyThreshold: 1 } },
      },
    })
    await new Promise((r) => setTimeout(r, 300))
    const r = await get(`${g.url}/api`)
    expect(r.status).toBe(503)
    expect(JSON.parse(r.text)).toMatchObject({ code: 'VGL_ERR_GATEWAY_NO_TARGET', status: 503 })
  })

  it('answers 502 to a response that breaks HTTP/1.1 (smuggling shape) and never reuses its connection', async () => {
    // A raw upstream: the first response carries both Content-Length and Transfer-Encoding with a
    // second response hidden in its body; a lenient parser would serve that hidden one next.
    let connections = 0
    const requests: string[] = []
    const raw = createServer((socket) => {
      connections++
      socket.on('data', (b) => {
        const line = b.toString('latin1').split('\r\n')[0]
        requests.push(line)
        if (line.startsWith('GET /api/smuggle')) {
          socket.write(
            'HTTP/1.1 200 OK\r\ncontent-length: 5\r\ntransfer-encoding: chunked\r\n\r\n' +
              '0\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nhidden',
          )
        } else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
      })
    })
    await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r))
    const port = (raw.address() as AddressInfo).port
    try {
      const g = await gateway({
        services: { api: { targets: [`http://127.0.0.1:${port}`], breaker: { enabled: false } } },
        routes: [{ name: 'api', path: '/api', service: 'api', retry: { attempts: 1 } }],
      })
      const bad = await get(`${g.url}/api/smuggle`)
      expect(bad.status).toBe(502)
      expect(JSON.parse(bad.text)).toMatchObject({ code: 'VGL_ERR_UPSTREAM_RESET' })
      expect(JSON.parse(bad.text).detail).toMatch(/both content-length and transfer-encoding/)
      const next = await get(`${g.url}/api/next`)
      expect(next).toMatchObject({ status: 200, text: 'ok' })
      expect(requests).toEqual(['GET /api/smuggle HTTP/1.1', 'GET /api/next HTTP/1.1'])
      expect(connections).toBe(2)
    } finally {
      raw.close()
    }
  })

  it('routes parameterised paths and describes routes and services', async () => {
    const g = await gateway()
    expect((await get(`${g.url}/users/7`)).status).toBe(200)
    expect(g.gw.routes().map((r) => [r.name, r.match])).toEqual([
      ['users', 'param'],
      ['api', 'prefix'],
    ])
    const [svc] = g.gw.services()
    expect(svc).toMatchObject({ name: 'api', balancer: 'round-robin' })
    expect(svc.targets[0]).toMatchObject({ url: up.url, healthy: true, breaker: 'closed', inFlight: 0 })
    expect(svc.targets[0].recentRequests).toBe(1)
  })

  it('counts requests by route, service, method and status class in the shared registry', async () => {
    const g = await gateway()
    await get(`${g.url}/users/1`)
    const text = await registry.metrics()
    expect(text).toMatch(
      /vigil_gateway_requests_total\{route="users",service="api",method="GET",status_class="2xx"\} \d+/,
    )
    expect(text).toContain(
      'vigil_gateway_request_duration_seconds_bucket{le="0.001",route="users",service="api"}',
    )
    expect(text).toContain('vigil_gateway_in_flight_requests')
  })
})

describe('access log', () => {
  it('writes JSON lines asynchronously, samples successes and always logs errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-access-'))
    const file = join(dir, 'access.log')
    const g = await startGateway({
      gateway: { accessLog: { enabled: true, sampleRate: 0, destination: file } },
      services: {
        api: { targets: [up.url] },
        dead: { targets: ['http://127.0.0.1:9'], breaker: { enabled: false } },
      },
      routes: [
        { name: 'api', path: '/api', service: 'api' },
        { name: 'dead', path: '/dead', service: 'dead', retry: { attempts: 1 } },
      ],
    })
    expect((await get(`${g.url}/api`)).status).toBe(200)
    expect((await get(`${g.url}/dead`, { 'x-request-id': 'log-1' })).status).toBe(502)
    await g.close()
    const lines = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    rmSync(dir, { recursive: true, force: true })
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({
      type: 'access',
      requestId: 'log-1',
      route: 'dead',
      service: 'dead',
      method: 'GET',
      path: '/dead',
      target: 'http://127.0.0.1:9',
      status: 502,
      outcome: 'connect_error',
      attempts: 1,
    })
    expect(typeof lines[0].latencyMs).toBe('number')
    expect(lines[0].traceId).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe('gateway seams', () => {
  it('calls Admission: a refusal is a 429 problem with the limiter headers; observe follows admitted requests', async () => {
    const seen: AdmissionRequest[] = []
    const observed: Array<[string, string, number]> = []
    const admission: Admission = {
      admit(req): AdmissionDecision | Promise<AdmissionDecision> {
        seen.push(req)
        if (req.headers['x-key'] === 'bad') {
          return {
            allowed: false,
            clientId: 'bad',
            headers: [['retry-after', '3']],
            problem: { type: 'urn:vigil:limits', title: 'Too Many Requests', detail: 'slow down' },
          }
        }
        const d: AdmissionDecision = { allowed: true, clientId: 'good', headers: [['ratelimit', 'r=9']] }
        return req.headers['x-async'] === '1' ? Promise.resolve(d) : d
      },
      observe(clientId, routeId, status) {
        observed.push([clientId, routeId, status])
      },
      close: async () => {},
    }
    const g = await gateway(
      { routes: [{ name: 'api', path: '/api', service: 'api', limit: { priority: 'high', cost: 2 } }] },
      { admission },
    )
    const refused = await get(`${g.url}/api`, { 'x-key': 'bad' })
    expect(refused.status).toBe(429)
    expect(refused.headers['retry-after']).toBe('3')
    expect(refused.headers['content-type']).toBe('application/problem+json')
    expect(JSON.parse(refused.text)).toMatchObject({
      type: 'urn:vigil:limits',
      detail: 'slow down',
      status: 429,
    })
    expect(up.hits).toBe(0)
    const ok = await get(`${g.url}/api`, { 'x-async': '1' })
    expect(ok.status).toBe(200)
    expect(ok.headers.ratelimit).toBe('r=9')
    expect(seen[0]).toMatchObject({
      routeId: 'api',
      service: 'api',
      priority: 'high',
      cost: 2,
      remoteAddress: '127.0.0.1',
    })
    expect(observed).toEqual([['good', 'api', 200]])
  })

  describe('answers the gateway makes itself keep the connection while the body is cheap to drain', () => {
    const refuseAll: Admission = {
      admit: () => ({ allowed: false, clientId: 'c', headers: [['retry-after', '1']] }),
      observe() {},
      close: async () => {},
    }
    /** Sends raw requests on one connection; resolves with the answers' status lines and headers, and whether the server closed. */
    function onOneConnection(
      port: number,
      requests: string[],
    ): Promise<{ heads: string[]; closed: boolean }> {
      return new Promise((resolve, reject) => {
        const sock = connect(port, '127.0.0.1')
        let data = ''
        let closed = false
        let sent = 0
        const heads = () => [...data.matchAll(/HTTP\/1\.1 \d{3}[^]*?\r\n\r\n/g)].map((m) => m[0])
        const next = () => {
          if (sent < requests.length) sock.write(requests[sent++])
          else setTimeout(() => (sock.destroy(), resolve({ heads: heads(), closed })), 100)
        }
        sock.on('connect', next)
        sock.on('data', (d) => {
          data += d.toString()
          if (heads().length === sent) next()
        })
        sock.on('end', () => (closed = true))
        sock.on('close', () => resolve({ heads: heads(), closed: true }))
        sock.on('error', reject)
      })
    }
    const get = 'GET /api HTTP/1.1\r\nhost: a\r\n\r\n'
    const post = (body: string) =>
      `POST /api HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n${body}`
    const chunked = (body: string) =>
      `POST /api HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`

    it('429 without a body, with a small body, chunked or declared: the same connection serves the next', async () => {
      const g = await gateway({ gateway: { drainBodyBytes: 1000 } }, { admission: refuseAll })
      const port = Number(new URL(g.url).port)
      const r = await onOneConnection(port, [get, get, post('x'.repeat(500)), chunked('y'.repeat(500)), get])
      expect(r.heads).toHaveLength(5)
      for (const h of r.heads) {
        expect(h).toMatch(/^HTTP\/1\.1 429 /)
        expect(h.toLowerCase()).not.toContain('connection: close')
      }
      expect(up.hits).toBe(0)
    })

    it('429 with a declared body over drainBodyBytes closes the connection instead of reading it', async () => {
      const g = await gateway({ gateway: { drainBodyBytes: 100 } }, { admission: refuseAll })
      const r = await onOneConnection(Number(new URL(g.url).port), [
        'POST /api HTTP/1.1\r\nhost: a\r\ncontent-length: 100000\r\n\r\n',
      ])
      expect(r.heads[0]).toMatch(/^HTTP\/1\.1 429 /)
      expect(r.heads[0].toLowerCase()).toContain('connection: close')
      expect(r.closed).toBe(true)
    })

    it('a chunked body that grows past drainBodyBytes has its connection closed', async () => {
      const g = await gateway({ gateway: { drainBodyBytes: 100 } }, { admission: refuseAll })
      const r = await onOneConnection(Number(new URL(g.url).port), [
        'POST /api HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n',
        `${(5000).toString(16)}\r\n${'z'.repeat(5000)}\r\n`,
      ])
      expect(r.heads[0]).toMatch(/^HTTP\/1\.1 429 /)
      expect(r.closed).toBe(true)
    })

    it('a chunked upload past drainBodyBytes still lets a client that reads after its upload read the 429', async () => {
      const g = await gateway({ gateway: { drainBodyBytes: 64 * 1024 } }, { admission: refuseAll })
      const r = await uploadThenRead(Number(new URL(g.url).port), { path: '/api' })
      // before: the connection was destroyed under the upload and the client met EPIPE
      expect(r.error).toBeNull()
      expect(r.status).toBe(429)
    })

    it('404 and an up-front 413 keep the connection too', async () => {
      const g = await gateway({ gateway: { bodyLimitBytes: 10, drainBodyBytes: 1000 } })
      const r = await onOneConnection(Number(new URL(g.url).port), [
        'GET /nowhere HTTP/1.1\r\nhost: a\r\n\r\n',
        'POST /nowhere HTTP/1.1\r\nhost: a\r\ncontent-length: 3\r\n\r\nabc',
        post('x'.repeat(50)),
        get,
      ])
      expect(r.heads.map((h) => h.slice(9, 12))).toEqual(['404', '404', '413', '200'])
      for (const h of r.heads) expect(h.toLowerCase()).not.toContain('connection: close')
    })
  })

  it('calls the route series recorder once per finished request with outcome, status and ids', async () => {
    const keys: SeriesKey[] = []
    const events: RequestEvent[] = []
    const recorder = {
      series(key: SeriesKey) {
        keys.push(key)
        return { record: (ev: RequestEvent) => events.push({ ...ev }) }
      },
      close: async () => {},
    }
    const g = await gateway({ env: 'test' }, { recorder })
    expect(keys).toContainEqual({ service: 'api', route: 'api', env: 'test' })
    await get(`${g.url}/api/x`, { 'x-request-id': 'rec-1' }, 'POST', 'abc')
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({
      status: 200,
      outcome: 'ok',
      method: 'POST',
      path: '/api/x',
      requestId: 'rec-1',
      target: up.url,
      attempts: 1,
      bytesIn: 3,
    })
    expect(events[0].bytesOut).toBeGreaterThan(0)
    expect(events[0].latencyMs).toBeGreaterThan(0)
    expect(events[0].traceId).toMatch(/^[0-9a-f]{32}$/)
  })
})

describe("the gateway's own answers in the rollups", () => {
  it('a route whose only target is down: its 503s count for the clients, not as the service errors', async () => {
    const published: Uint8Array[] = []
    const recorder = new RollupRecorder({
      bus: { publish: async (subject, data) => void (subject === 'vigil.rollups' && published.push(data)) },
      windowMs: 3_600_000,
      spans: { sampleRate: 0 },
    })
    const g = await gateway(
      {
        services: {
          api: {
            targets: ['http://127.0.0.1:9'],
            healthCheck: { intervalMs: 60_000, unhealthyThreshold: 1 },
          },
        },
      },
      { recorder },
    )
    await new Promise((r) => setTimeout(r, 300))
    for (let i = 0; i < 30; i++) expect((await get(`${g.url}/api`)).status).toBe(503)
    await g.close()
    gws = gws.filter((x) => x !== g)
    await recorder.close()

    const rollups = published.map(decodeRollup)
    const sum = (f: (r: Rollup) => number) => rollups.reduce((n, r) => n + f(r), 0)
    expect([
      sum((r) => r.count),
      sum((r) => r.statusClass[4]),
      sum((r) => r.refused),
      sum((r) => r.refused5xx),
    ]).toEqual([30, 30, 30, 30])
    // the window as the control plane reads it
    const p = toSeriesPoint(mergePoints(rollups[0].series, 0, 3_600_000, rollups.map(rollupAsPart)))
    expect([p.errorRatio, p.upstreamErrorRatio]).toEqual([1, 0])
    // the detectors have no error ratio of the service to judge; the error-ratio rule no data; the
    // failure rule, which is for exactly this outage, fires
    const m = toMetricPoint(p)
    expect([m.errors, m.errorRatio]).toEqual([Number.NaN, Number.NaN])
    const { rules } = alertsSchema.parse({
      rules: [
        { name: 'errs', kind: 'error-ratio' },
        { name: 'down', kind: 'failure' },
      ],
    })
    const input = {
      series: { service: 'api', route: '*', env: 'test' },
      key: 'api|*|test',
      level: 'service' as const,
      point: p,
      expected: null,
      anomalies: [],
      forecast: null,
    }
    const ctx = { windowMs: 3_600_000, budgets: {} }
    expect((await evaluateRule(rules[0], input, ctx)).active).toBeNull()
    expect((await evaluateRule(rules[1], input, ctx)).active).toBe(true)
  })
})

describe("the gateway's own answers in Prometheus", () => {
  /** vigil_gateway_refused_total of one route, summed over methods: `reason status_class` -> count */
  async function refusedOf(route: string): Promise<Record<string, number>> {
    const metric = registry.getSingleMetric('vigil_gateway_refused_total')
    expect(metric, 'vigil_gateway_refused_total is registered').toBeDefined()
    const out: Record<string, number> = {}
    for (const v of (await metric!.get()).values) {
      if (v.labels.route !== route) continue
      const k = `${v.labels.reason} ${v.labels.status_class}`
      out[k] = (out[k] ?? 0) + v.value
    }
    return out
  }

  /** vigil_gateway_requests_total of one route, summed over methods and status classes */
  async function requestsOf(route: string): Promise<number> {
    const values = (await registry.getSingleMetric('vigil_gateway_requests_total')!.get()).values
    return values.filter((v) => v.labels.route === route).reduce((n, v) => n + v.value, 0)
  }

  /** A POST whose body stops after 2 of its 5 bytes: the gateway waits for the rest before any try. */
  function partialPost(port: number): ReturnType<typeof connect> {
    const sock = connect(port, '127.0.0.1', () =>
      sock.write('POST /api HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nab'),
    )
    sock.on('error', () => {})
    return sock
  }

  it('counts what the rollups count as refused, by reason, and nothing the upstream answered', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-refused-'))
    const partial = {
      limits: {
        enabled: true,
        dataDir: dir,
        tiers: { STD: { ratePerSec: 1000, burst: 1000 }, TINY: { ratePerSec: 0.001, burst: 2 } },
        keys: [{ id: 'tiny', key: 'tiny-secret-1', tier: 'TINY' }],
      },
      services: {
        api: { targets: [up.url] },
        // the only target down by its health check: no target (503)
        down: { targets: ['http://127.0.0.1:9'], healthCheck: { intervalMs: 60_000, unhealthyThreshold: 1 } },
        // the only target ejected by its breaker after one failed try (502, sent): circuit open (503)
        ejected: { targets: ['http://127.0.0.1:9'], breaker: { consecutiveFailures: 1 } },
      },
      routes: [
        { name: 'refusals-api', path: '/api', service: 'api', bodyLimitBytes: 10 },
        { name: 'refusals-down', path: '/down', service: 'down' },
        { name: 'refusals-ejected', path: '/ejected', service: 'ejected', retry: { attempts: 1 } },
      ],
    }
    const admission = await createAdmission(testConfig(partial))
    const published: Uint8Array[] = []
    const recorder = new RollupRecorder({
      bus: { publish: async (subject, data) => void (subject === 'vigil.rollups' && published.push(data)) },
      windowMs: 3_600_000,
      spans: { sampleRate: 0 },
    })
    const g = await gateway(partial, { admission, recorder })
    const port = Number(new URL(g.url).port)
    const statuses = new Map<string, number[]>()
    const send = async (
      path: string,
      headers: Record<string, string> = {},
      method = 'GET',
      body?: string,
    ) => {
      const r = await get(`${g.url}${path}`, headers, method, body)
      statuses.set(path, [...(statuses.get(path) ?? []), r.status])
      return r.status
    }
    const count = (path: string, status: number) =>
      (statuses.get(path) ?? []).filter((s) => s === status).length
    try {
      // the limiter's answers and a body over the route's limit
      for (let i = 0; i < 3; i++) await send('/api')
      for (let i = 0; i < 5; i++) await send('/api', { 'x-api-key': 'tiny-secret-1' })
      expect(count('/api', 429)).toBeGreaterThanOrEqual(2)
      expect(await send('/api', { 'x-api-key': 'not-a-known-key' })).toBe(401)
      expect(await send('/api', {}, 'POST', 'more than ten bytes')).toBe(413)
      // the client leaves while its body is on its way
      const gone = partialPost(port)
      await vi.waitFor(() => expect(g.gw.inFlight()).toBe(1), { timeout: 10_000, interval: 20 })
      gone.destroy()
      await vi.waitFor(() => expect(g.gw.inFlight()).toBe(0), { timeout: 10_000, interval: 20 })

      const target = (service: string) => g.gw.services().find((s) => s.name === service)!.targets[0]
      await vi.waitFor(() => expect(target('down').healthy).toBe(false), { timeout: 30_000, interval: 20 })
      for (let i = 0; i < 4; i++) expect(await send('/down')).toBe(503)

      expect(await send('/ejected')).toBe(502)
      expect(target('ejected').breaker).toBe('open')
      for (let i = 0; i < 3; i++) expect(await send('/ejected')).toBe(503)
    } finally {
      await g.close()
      gws = gws.filter((x) => x !== g)
      await recorder.close()
      await admission.close()
      rmSync(dir, { recursive: true, force: true })
    }

    expect(await refusedOf('refusals-api')).toEqual({
      'rate_limited 4xx': count('/api', 429),
      'unknown_api_key 4xx': 1,
      'body_too_large 4xx': 1,
      'client_gone 4xx': 1,
    })
    expect(await refusedOf('refusals-down')).toEqual({ 'no_target 5xx': 4 })
    expect(await refusedOf('refusals-ejected')).toEqual({ 'circuit_open 5xx': 3 })

    // the counter and the rollups agree route by route: refused, refused 5xx and requests sent
    const rollups = published.map(decodeRollup)
    const sent: Record<string, number> = {}
    for (const route of ['refusals-api', 'refusals-down', 'refusals-ejected']) {
      const mine = rollups.filter((r) => r.series.route === route)
      const sum = (f: (r: Rollup) => number) => mine.reduce((n, r) => n + f(r), 0)
      const prom = Object.entries(await refusedOf(route))
      const refused = prom.reduce((n, [, v]) => n + v, 0)
      const refused5xx = prom.filter(([k]) => k.endsWith(' 5xx')).reduce((n, [, v]) => n + v, 0)
      sent[route] = (await requestsOf(route)) - refused
      expect([refused, refused5xx, sent[route]], route).toEqual([
        sum((r) => r.refused),
        sum((r) => r.refused5xx),
        sum((r) => r.count - r.refused),
      ])
    }
    // sent upstream: the 3 anonymous and the 2 admitted tiny requests; the one failed try of /ejected
    expect(sent).toEqual({ 'refusals-api': 5, 'refusals-down': 0, 'refusals-ejected': 1 })
    expect(count('/api', 200)).toBe(5)
  })
})

describe('latency of requests the gateway refuses itself', () => {
  it('leaves 429s, 401s and 413s out of the latency sketch and the duration histogram, not out of the counts', async () => {
    const UPSTREAM_MS = 40
    up.handler = (req, res, hit) => setTimeout(() => echo(req, res, hit), UPSTREAM_MS)
    const admission: Admission = {
      admit(req) {
        const key = req.headers['x-key']
        if (key === 'over') return { allowed: false, status: 429, clientId: 'over', headers: [] }
        if (key === 'unknown') return { allowed: false, status: 401, clientId: 'unknown', headers: [] }
        return { allowed: true, clientId: 'ok', headers: [] }
      },
      observe() {},
      close: async () => {},
    }
    const published: Uint8Array[] = []
    const recorder = new RollupRecorder({
      bus: { publish: async (subject, data) => void (subject === 'vigil.rollups' && published.push(data)) },
      windowMs: 3_600_000,
      spans: { sampleRate: 0 },
    })
    const durationCount = async () => {
      const m = /vigil_gateway_request_duration_seconds_count\{route="throttled",service="api"\} (\d+)/.exec(
        await registry.metrics(),
      )
      return m === null ? 0 : Number(m[1])
    }
    const before = await durationCount()
    const g = await gateway(
      { routes: [{ name: 'throttled', path: '/api', service: 'api', bodyLimitBytes: 10 }] },
      { admission, recorder },
    )
    // a throttling episode: four refusals for every request served
    for (let i = 0; i < 8; i++) {
      expect((await get(`${g.url}/api`)).status).toBe(200)
      for (let j = 0; j < 4; j++) expect((await get(`${g.url}/api`, { 'x-key': 'over' })).status).toBe(429)
    }
    expect((await get(`${g.url}/api`, { 'x-key': 'unknown' })).status).toBe(401)
    expect((await get(`${g.url}/api`, {}, 'POST', 'more than ten bytes')).status).toBe(413)
    expect((await get(`${g.url}/nowhere`)).status).toBe(404) // in no series
    await g.close()
    gws = gws.filter((x) => x !== g)
    await recorder.close()

    // one rollup, or two when the test straddles a window boundary
    const rollups = published.map(decodeRollup)
    const sum = (f: (r: Rollup) => number) => rollups.reduce((n, r) => n + f(r), 0)
    expect([sum((r) => r.count), sum((r) => r.statusClass[1]), sum((r) => r.statusClass[3])]).toEqual([
      42, 8, 34,
    ])
    expect(sum((r) => r.limited)).toBe(33)
    const sketch = createLatencySketch()
    for (const r of rollups) mergeSketch(sketch, decodeSketch(r.latencySketch))
    expect(sketch.count).toBe(8)
    expect(sketch.getValueAtQuantile(0.5)).toBeGreaterThanOrEqual(UPSTREAM_MS * 0.99)
    expect(sketch.min).toBeGreaterThanOrEqual(UPSTREAM_MS * 0.99)
    expect((await durationCount()) - before).toBe(8)
    // what `vigil demo` shows as the gateway's traffic: the sum of its rollups, as `*|*|*` is
    expect(g.gw.served()).toEqual({
      requests: sum((r) => r.count),
      statusClass: [0, 1, 2, 3, 4].map((i) => sum((r) => r.statusClass[i])),
      limited: sum((r) => r.limited),
    })
    expect(await registry.metrics()).toMatch(
      /vigil_gateway_requests_total\{route="throttled",service="api",method="GET",status_class="4xx"\} 33/,
    )
  })
})
