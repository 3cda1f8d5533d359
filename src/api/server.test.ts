import { Agent, request } from 'node:http'
import { connect, type AddressInfo, type Socket } from 'node:net'
import type { FastifyInstance, FastifyPluginAsync } from 'fastify'
import pino from 'pino'
import { Counter } from 'prom-client'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { uploadThenRead } from '../../test/helpers/upload.js'
import { LINGER_BYTES } from '../http-linger.js'
import { registry } from '../metrics.js'
import { createAuthorizer, tokenMatches } from './auth.js'
import { buildAdminApp, createAdminServer } from './server.js'
import type { AdminSources, ReloadResult } from './sources.js'

function fakeSources(over: Partial<AdminSources> = {}): AdminSources & { reloads: number } {
  const s = {
    reloads: 0,
    ready: () => true,
    routes: () => [
      {
        name: 'orders',
        path: '/orders',
        match: 'prefix' as const,
        methods: null,
        service: 'orders',
        priority: 'normal',
      },
    ],
    services: () => [
      {
        name: 'orders',
        balancer: 'round-robin',
        targets: [
          {
            url: 'http://127.0.0.1:9001',
            healthy: true,
            breaker: 'open' as const,
            ejectedUntilMs: 1_700_000_000_000,
            inFlight: 3,
            recentErrorRate: 0.25,
            recentRequests: 40,
          },
        ],
      },
    ],
    async reload(): Promise<ReloadResult> {
      s.reloads++
      return { ok: true, routes: 1 }
    },
    ...over,
  }
  return s
}

const apps: FastifyInstance[] = []
async function build(opts: Partial<Parameters<typeof buildAdminApp>[0]> = {}) {
  const app = await buildAdminApp({ token: 's3cret', sources: fakeSources(), env: {}, ...opts })
  apps.push(app)
  return app
}
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()))
})

describe('admin API', () => {
  it('answers liveness and readiness', async () => {
    const app = await build()
    const health = await app.inject('/health')
    expect(health.statusCode).toBe(200)
    expect(health.json()).toMatchObject({ status: 'ok' })
    expect((await app.inject('/ready')).json()).toEqual({ ready: true })
    const notReady = await build({ sources: fakeSources({ ready: () => false }) })
    const r = await notReady.inject('/ready')
    expect(r.statusCode).toBe(503)
    expect(r.json()).toEqual({ ready: false })
  })

  it('answers liveness 200 with status degraded and the store condition while the store cannot be written', async () => {
    const condition = {
      ok: false,
      kind: 'sqlite' as const,
      path: '/var/lib/vigil/vigil.db',
      code: 'VGL_ERR_STORE_UNWRITABLE',
      message:
        'sqlite store at /var/lib/vigil/vigil.db cannot be written: database or disk is full (SQLITE_FULL)',
      fix: 'free space on the disk that holds /var/lib/vigil',
      sinceMs: 1_700_000_000_000,
      failedWrites: 12,
      waiting: 40,
      droppedRecords: 0,
      restored: { atMs: 1_699_999_000_000, bytes: 4_096 },
    }
    const app = await build({ sources: fakeSources({ store: () => condition }) })
    const r = await app.inject('/health')
    expect(r.statusCode).toBe(200)
    expect(r.json()).toMatchObject({ status: 'degraded', store: condition })
    // a standby (no store written here) and a healthy store: plain ok
    const standby = await build({ sources: fakeSources({ store: () => undefined }) })
    expect((await standby.inject('/health')).json()).not.toHaveProperty('store')
    const healthy = await build({
      sources: fakeSources({ store: () => ({ ...condition, ok: true, code: null }) }),
    })
    expect((await healthy.inject('/health')).json()).toMatchObject({ status: 'ok', store: { ok: true } })
  })

  it('lists routes and services with health, breaker, in-flight and error rate', async () => {
    const app = await build()
    expect((await app.inject('/api/routes')).json().routes[0]).toEqual({
      name: 'orders',
      path: '/orders',
      match: 'prefix',
      methods: null,
      service: 'orders',
      priority: 'normal',
    })
    const target = (await app.inject('/api/services')).json().services[0].targets[0]
    expect(target).toEqual({
      url: 'http://127.0.0.1:9001',
      healthy: true,
      breaker: 'open',
      ejectedUntilMs: 1_700_000_000_000,
      inFlight: 3,
      recentErrorRate: 0.25,
      recentRequests: 40,
    })
  })

  it('refuses a reload without a bearer token with 401 problem+json and does not reload', async () => {
    const sources = fakeSources()
    const app = await build({ sources })
    const r = await app.inject({ method: 'POST', url: '/api/config/reload' })
    expect(r.statusCode).toBe(401)
    expect(r.headers['content-type']).toMatch(/application\/problem\+json/)
    expect(r.headers['www-authenticate']).toMatch(/Bearer/)
    expect(r.json()).toMatchObject({ code: 'VGL_ERR_API_UNAUTHORIZED', status: 401 })
    expect(r.json().fix).toMatch(/Authorization: Bearer/)
    const wrong = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer s3cre' },
    })
    expect(wrong.statusCode).toBe(401)
    expect(sources.reloads).toBe(0)
  })

  it('a process that reads its config once answers a reload with 501 saying to restart it, not a 422 about the file', async () => {
    const { reload: _, ...sources } = fakeSources()
    const app = await build({ sources: { ...sources, name: 'vigil control' } })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(r.statusCode).toBe(501)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_API_NO_RELOAD',
      message:
        'POST /api/config/reload: vigil control reads its config file once, at start, and does not reload it',
    })
    expect(r.json().fix).toMatch(/^restart it \(SIGTERM, then start it again\)/)
  })

  it('reloads with the right token', async () => {
    const sources = fakeSources()
    const app = await build({ sources })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(r.statusCode).toBe(200)
    expect(r.json()).toEqual({
      ok: true,
      routes: 1,
      changed: [],
      restartRequired: [],
      message: 'config reloaded (1 routes; nothing changed); every change applies now',
    })
    expect(sources.reloads).toBe(1)
  })

  it('says which changed fields of a reload wait for a restart', async () => {
    const app = await build({
      sources: fakeSources({
        reload: async () => ({
          ok: true,
          routes: 3,
          changed: ['gateway.port', 'routes[0].service'],
          restartRequired: ['gateway.port'],
        }),
      }),
    })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(r.json()).toEqual({
      ok: true,
      routes: 3,
      changed: ['gateway.port', 'routes[0].service'],
      restartRequired: ['gateway.port'],
      message:
        'config reloaded (3 routes; 2 field(s) changed); gateway.port takes effect only after a restart of Vigil, the rest applies now',
    })
  })

  it('answers a body it cannot read with 415, 400 or 413 and a fix about the body', async () => {
    const app = await build()
    const headers = { authorization: 'Bearer s3cret' }
    const noType = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers,
      payload: Buffer.from('{}'),
    })
    expect(noType.statusCode).toBe(415)
    expect(noType.json()).toMatchObject({
      code: 'VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE',
      title: 'Unsupported Media Type',
      message:
        'POST /api/config/reload: a body sent as no Content-Type cannot be read; the admin API reads JSON',
    })
    expect(noType.json().fix).toMatch(/Content-Type: application\/json/)
    const reload = (type: string, payload?: string) =>
      app.inject({
        method: 'POST',
        url: '/api/config/reload',
        headers: { ...headers, 'content-type': type },
        ...(payload !== undefined ? { payload } : {}),
      })
    const form = await reload('application/x-www-form-urlencoded', 'reason=x')
    expect(form.statusCode).toBe(415)
    expect(form.json().message).toMatch(/"application\/x-www-form-urlencoded"/)
    const text = await reload('text/plain', '{"reason":"x"}')
    expect(text.statusCode).toBe(415)
    expect(text.json()).toMatchObject({ code: 'VGL_ERR_API_UNSUPPORTED_MEDIA_TYPE' })
    expect(text.json().message).toMatch(/"text\/plain"/)
    const badJson = await reload('application/json', '{reason')
    expect(badJson.statusCode).toBe(400)
    expect(badJson.json()).toMatchObject({
      code: 'VGL_ERR_API_BAD_BODY',
      message: 'POST /api/config/reload: the body is not valid JSON',
    })
    const empty = await reload('application/json')
    expect(empty.statusCode).toBe(400)
    expect(empty.json().code).toBe('VGL_ERR_API_BAD_BODY')
    const big = await reload('application/json', JSON.stringify({ reason: 'x'.repeat(2 * 1024 * 1024) }))
    expect(big.statusCode).toBe(413)
    expect(big.json().code).toBe('VGL_ERR_API_BODY_TOO_LARGE')
  })

  it("spells the 401 fix for the refused call's own method and path", async () => {
    const reads: FastifyPluginAsync = async (a) => {
      const authorize = createAuthorizer('s3cret', { reads: true })
      a.get('/api/feed', async (req) => (authorize(req), 'ok'))
    }
    const app = await build({ plugins: [reads] })
    const get = await app.inject({ method: 'GET', url: '/api/feed?x=1' })
    expect(get.statusCode).toBe(401)
    expect(get.json().fix).toBe(
      'send the admin token: curl -H "Authorization: Bearer $VIGIL_ADMIN_TOKEN" <admin URL>/api/feed',
    )
    const del = await app.inject({ method: 'DELETE', url: '/api/alerts/silences/s1' })
    expect(del.json().fix).toBe(
      'send the admin token: curl -H "Authorization: Bearer $VIGIL_ADMIN_TOKEN" -X DELETE <admin URL>/api/alerts/silences/s1',
    )
  })

  it('reports a rejected reload as 422 with every problem', async () => {
    const app = await build({
      sources: fakeSources({
        reload: async () => ({
          ok: false,
          problems: ['vigil.yaml: routes[0].service: unknown service "ordrs"'],
        }),
      }),
    })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(r.statusCode).toBe(422)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_API_RELOAD',
      problems: ['vigil.yaml: routes[0].service: unknown service "ordrs"'],
    })
    expect(r.json().fix).toMatch(/check-config/)
  })

  it('refuses mutating calls when no token is configured and says how to set one', async () => {
    const app = await build({ token: '', env: {} })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer ' },
    })
    expect(r.statusCode).toBe(403)
    expect(r.json().code).toBe('VGL_ERR_API_NO_TOKEN')
    expect(r.json().fix).toMatch(/VIGIL_ADMIN_TOKEN/)
    expect(r.json().fix).toMatch(/admin\.token/)
  })

  it('falls back to VIGIL_ADMIN_TOKEN from the environment', async () => {
    const app = await build({ token: undefined, env: { VIGIL_ADMIN_TOKEN: 'from-env' } })
    const r = await app.inject({
      method: 'POST',
      url: '/api/config/reload',
      headers: { authorization: 'Bearer from-env' },
    })
    expect(r.statusCode).toBe(200)
  })

  it('guards plugin routes from other areas with the same auth', async () => {
    const plugin: FastifyPluginAsync = async (app) => {
      app.get('/api/extra', async () => ({ read: true }))
      app.delete('/api/extra', async () => ({ deleted: true }))
    }
    const app = await build({ plugins: [plugin] })
    expect((await app.inject('/api/extra')).json()).toEqual({ read: true })
    expect((await app.inject({ method: 'DELETE', url: '/api/extra' })).statusCode).toBe(401)
    const ok = await app.inject({
      method: 'DELETE',
      url: '/api/extra',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(ok.json()).toEqual({ deleted: true })
  })

  it('names a query parameter given twice, and a schema refusal by field, not by Ajv path', async () => {
    const plugin: FastifyPluginAsync = async (app) => {
      app.get(
        '/api/extra',
        { schema: { querystring: { type: 'object', properties: { limit: { type: 'string' } } } } },
        async () => ({ read: true }),
      )
      app.post(
        '/api/extra',
        {
          schema: {
            body: {
              type: 'object',
              required: ['replicas'],
              properties: { replicas: { type: 'integer' } },
            },
          },
        },
        async () => ({ ok: true }),
      )
    }
    const app = await build({ plugins: [plugin] })
    const twice = await app.inject('/api/extra?limit=5&limit=6')
    expect(twice.statusCode).toBe(400)
    expect(twice.json()).toMatchObject({
      code: 'VGL_ERR_API_BAD_REQUEST',
      message: 'limit: query parameter given 2 times (limit=5&limit=6); it takes one value',
      fix: 'send limit once, e.g. limit=5',
    })
    const post = (payload: unknown) =>
      app.inject({
        method: 'POST',
        url: '/api/extra',
        headers: { authorization: 'Bearer s3cret', 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      })
    expect((await post({})).json()).toMatchObject({ message: 'replicas: missing; add it' })
    expect((await post({ replicas: 'two' })).json()).toMatchObject({ message: 'replicas: must be integer' })
  })

  it('refuses a query parameter the route does not take, naming the one it probably meant', async () => {
    const plugin: FastifyPluginAsync = async (app) => {
      const querystring = {
        type: 'object',
        properties: { service: { type: 'string' }, limit: { type: 'string' } },
      }
      app.get('/api/extra', { schema: { querystring } }, async () => ({ read: true }))
      app.get('/api/free', async () => ({ read: true }))
    }
    const app = await build({ plugins: [plugin] })
    const typo = await app.inject('/api/extra?sevice=orders')
    expect(typo.statusCode).toBe(400)
    expect(typo.json()).toMatchObject({
      code: 'VGL_ERR_API_BAD_REQUEST',
      message:
        'sevice: not a query parameter of GET /api/extra; did you mean "service"? (it takes service, limit)',
      fix: 'send service= instead of sevice=',
    })
    expect((await app.inject('/api/extra?bogus=1')).json()).toMatchObject({
      message: 'bogus: not a query parameter of GET /api/extra (it takes service, limit)',
      fix: 'remove bogus=; it takes service, limit',
    })
    expect((await app.inject('/api/extra?service=orders&limit=5')).statusCode).toBe(200)
    // a route that declares no parameters is not checked
    expect((await app.inject('/api/free?anything=1')).statusCode).toBe(200)
  })

  it('answers unknown routes with 404 problem+json', async () => {
    const app = await build()
    const r = await app.inject('/api/nope')
    expect(r.statusCode).toBe(404)
    expect(r.json()).toMatchObject({ code: 'VGL_ERR_API_NOT_FOUND', message: 'no admin route GET /api/nope' })
  })

  it('answers a known path with a wrong method with 405, an Allow header and the methods it takes', async () => {
    const app = await build()
    const r = await app.inject({
      method: 'DELETE',
      url: '/api/routes',
      headers: { authorization: 'Bearer s3cret' },
    })
    expect(r.statusCode).toBe(405)
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(r.headers.allow).toBe('GET, HEAD')
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_API_METHOD_NOT_ALLOWED',
      title: 'Method Not Allowed',
      message: 'DELETE is not a method of /api/routes; it takes GET, HEAD',
    })
    const get = await app.inject('/api/config/reload')
    expect(get.statusCode).toBe(405)
    expect(get.headers.allow).toBe('POST')
  })

  it('answers a path whose percent-encoding does not decode with 400 problem+json naming the path', async () => {
    const app = await build()
    const r = await app.inject('/api/series/%ZZ/points')
    expect(r.statusCode).toBe(400)
    expect(r.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(r.json()).toMatchObject({
      code: 'VGL_ERR_API_BAD_REQUEST',
      message: 'path: "/api/series/%ZZ/points" is not a valid URL: a % must start an escape like %20',
    })
    expect(r.json().fix).toMatch(/%25/)
  })

  it('refuses a body over 1 MiB announced with Expect: 100-continue with 413 before it is sent', async () => {
    const server = await createAdminServer({ host: '127.0.0.1', port: 0, token: 't', sources: fakeSources() })
    try {
      const answer = await new Promise<{ status: number; body: string; continued: boolean }>(
        (resolve, reject) => {
          let continued = false
          const req = request(`${server.url}/api/config/reload`, {
            method: 'POST',
            headers: {
              authorization: 'Bearer t',
              'content-type': 'application/json',
              'content-length': String(5 * 1024 * 1024),
              expect: '100-continue',
            },
          })
          // before: the server sent 100 Continue and cut the upload off, so the client met a reset
          req.on('continue', () => {
            continued = true
            req.end(Buffer.alloc(5 * 1024 * 1024, 0x20))
          })
          req.on('response', (res) => {
            let body = ''
            res.setEncoding('utf8')
            res.on('data', (c: string) => (body += c))
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body, continued }))
          })
          req.on('error', reject)
          req.flushHeaders()
        },
      )
      expect(answer.continued).toBe(false)
      expect(answer.status).toBe(413)
      expect(JSON.parse(answer.body)).toMatchObject({ code: 'VGL_ERR_API_BODY_TOO_LARGE' })
      // a body within the limit still gets its 100 Continue and is read
      const small = await new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ reason: 'asked first' })
        const req = request(`${server.url}/api/config/reload`, {
          method: 'POST',
          headers: {
            authorization: 'Bearer t',
            'content-type': 'application/json',
            'content-length': String(Buffer.byteLength(body)),
            expect: '100-continue',
          },
        })
        req.on('continue', () => req.end(body))
        req.on('response', (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        })
        req.on('error', reject)
        req.flushHeaders()
      })
      expect(small).toBe(200)
    } finally {
      await server.close()
    }
  })

  it('answers Expect: 100-continue without the admin token with 401, never inviting the upload', async () => {
    const server = await createAdminServer({ host: '127.0.0.1', port: 0, token: 't', sources: fakeSources() })
    try {
      const ask = (headers: Record<string, string>) =>
        new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
          const body = JSON.stringify({ reason: 'asked first' })
          let continued = false
          const req = request(`${server.url}/api/config/reload`, {
            method: 'POST',
            headers: {
              ...headers,
              'content-type': 'application/json',
              'content-length': String(Buffer.byteLength(body)),
              expect: '100-continue',
            },
          })
          req.on('continue', () => {
            continued = true
            req.end(body)
          })
          req.on('response', (res) => {
            res.resume()
            res.on('end', () => resolve({ status: res.statusCode ?? 0, continued }))
          })
          req.on('error', reject)
          req.flushHeaders()
        })
      // before: node sent 100 Continue to anyone, and the client uploaded its body to be refused
      expect(await ask({})).toEqual({ status: 401, continued: false })
      expect(await ask({ authorization: 'Bearer wrong' })).toEqual({ status: 401, continued: false })
      expect(await ask({ authorization: 'Bearer t' })).toEqual({ status: 200, continued: true })
    } finally {
      await server.close()
    }
  })

  it.each([
    ['without', {}],
    ['with', { expect: '100-continue' }],
  ])(
    'answers a chunked upload over 1 MiB %s Expect: 100-continue with 413 problem+json the client reads after its upload',
    async (_, expectHeader) => {
      const server = await createAdminServer({
        host: '127.0.0.1',
        port: 0,
        token: 't',
        sources: fakeSources(),
      })
      try {
        for (let i = 0; i < 3; i++) {
          const r = await uploadThenRead(Number(new URL(server.url).port), {
            path: '/api/config/reload',
            headers: { authorization: 'Bearer t', 'content-type': 'application/json', ...expectHeader },
          })
          // before: the server closed under the upload and the client met EPIPE with nothing to read
          expect(r.error).toBeNull()
          expect(r.sent).toBe(3 * 1024 * 1024)
          expect(r.status).toBe(413)
          expect(r.answer.toLowerCase()).toContain('connection: close')
          const body = JSON.parse(r.answer.slice(r.answer.lastIndexOf('\r\n\r\n') + 4))
          expect(body).toMatchObject({ code: 'VGL_ERR_API_BODY_TOO_LARGE', status: 413 })
        }
      } finally {
        await server.close()
      }
    },
  )

  it.each([
    ['401 to an upload without a token', 's3cret', {}, 401],
    ['403 to an upload when no token is configured', null, { authorization: 'Bearer s3cret' }, 403],
  ])(
    'answers a %s and stops reading the chunked body within the linger bound',
    async (_, token, headers, status) => {
      const app = await build({ token })
      await app.listen({ host: '127.0.0.1', port: 0 })
      const sockets: Socket[] = []
      app.server.on('connection', (s: Socket) => sockets.push(s))
      const total = 50 * 1024 * 1024
      const r = await uploadThenRead((app.server.address() as AddressInfo).port, {
        path: '/api/config/reload',
        headers: { 'content-type': 'application/json', ...headers },
        totalBytes: total,
        readWhileUploading: true,
      })
      expect(r.status).toBe(status)
      expect(r.answer.toLowerCase()).toContain('connection: close')
      // before: the connection was kept and node:http read and dropped all 50 MiB
      expect(sockets).toHaveLength(1)
      expect(sockets[0].bytesRead).toBeLessThan(LINGER_BYTES + 4 * 1024 * 1024)
      expect(r.sent).toBeLessThan(total)
    },
    30_000,
  )

  it('keeps the connection after a 401 to a small declared body, read past for the next request', async () => {
    const app = await build()
    await app.listen({ host: '127.0.0.1', port: 0 })
    const s = connect({ port: (app.server.address() as AddressInfo).port, host: '127.0.0.1' })
    let got = ''
    s.on('data', (d: Buffer) => (got += d.toString('latin1')))
    const until = (re: RegExp) =>
      vi.waitFor(() => {
        if (!re.test(got)) throw new Error(`waiting for ${re} in ${JSON.stringify(got)}`)
      })
    const body = Buffer.alloc(64 * 1024, 0x20)
    s.write(
      `POST /api/config/reload HTTP/1.1\r\nhost: vigil\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n`,
    )
    s.write(body.subarray(0, 1024))
    // the 401 goes out on the head, with most of the body still to come
    await until(/VGL_ERR_API_UNAUTHORIZED/)
    expect(got).toMatch(/^HTTP\/1\.1 401 /)
    expect(got.toLowerCase()).not.toContain('connection: close')
    s.write(body.subarray(1024))
    s.write('GET /health HTTP/1.1\r\nhost: vigil\r\n\r\n')
    await until(/HTTP\/1\.1 200 [\s\S]*"status":"ok"/)
    expect(s.destroyed).toBe(false)
    s.destroy()
  })

  it('serves metrics from the shared registry in Prometheus text format', async () => {
    const c =
      (registry.getSingleMetric('vigil_api_test_total') as Counter | undefined) ??
      new Counter({ name: 'vigil_api_test_total', help: 'test counter', registers: [registry] })
    c.inc(3)
    const app = await build()
    const r = await app.inject('/metrics')
    expect(r.statusCode).toBe(200)
    expect(r.headers['content-type']).toMatch(/text\/plain/)
    expect(r.body).toMatch(/^vigil_api_test_total 3$/m)
    expect(r.body).toMatch(/vigil_process_cpu_user_seconds_total/)
  })

  it('publishes an OpenAPI document covering every route, with the bearer scheme', async () => {
    const app = await build()
    const doc = (await app.inject('/docs/json')).json()
    expect(doc.openapi).toMatch(/^3\./)
    for (const path of [
      '/health',
      '/ready',
      '/api/routes',
      '/api/services',
      '/api/config/reload',
      '/metrics',
    ])
      expect(Object.keys(doc.paths)).toContain(path)
    expect(doc.paths['/api/config/reload'].post.security).toEqual([{ bearerAuth: [] }])
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    const ui = await app.inject('/docs/')
    expect(ui.statusCode).toBe(200)
    expect(ui.body).toMatch(/swagger/i)
  })

  it('logs no "Server listening" line of its own (its caller logs the URL), but still logs errors', async () => {
    const lines: Array<{ level: number; msg: string }> = []
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    const boom: FastifyPluginAsync = async (app) => {
      app.get('/boom', async () => {
        throw new Error('boom')
      })
    }
    const server = await createAdminServer({
      host: '127.0.0.1',
      port: 0,
      token: 't',
      sources: fakeSources(),
      logger,
      plugins: [boom],
    })
    try {
      expect(lines.filter((l) => /listening/i.test(l.msg))).toEqual([])
      expect((await fetch(`${server.url}/boom`)).status).toBe(500)
      expect(lines.map((l) => [l.level, l.msg])).toEqual([[50, 'admin API handler failed']])
    } finally {
      await server.close()
    }
  })

  it('listens on a real port and closes', async () => {
    const server = await createAdminServer({ host: '127.0.0.1', port: 0, token: 't', sources: fakeSources() })
    try {
      expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      const r = await fetch(`${server.url}/health`)
      expect(r.status).toBe(200)
    } finally {
      await server.close()
    }
  })
  it('closes soon after answering a request in flight on a keep-alive connection', async () => {
    let release = () => {}
    const server = await createAdminServer({
      host: '127.0.0.1',
      port: 0,
      token: 't',
      sources: fakeSources({
        reload: () => new Promise((r) => (release = () => r({ ok: true, routes: 1 }))),
      }),
    })
    const agent = new Agent({ keepAlive: true })
    const answered = new Promise<number>((resolve, reject) => {
      const req = request(
        `${server.url}/api/config/reload`,
        { method: 'POST', agent, headers: { authorization: 'Bearer t' } },
        (res) => {
          res.resume()
          res.on('end', () => resolve(res.statusCode ?? 0))
        },
      )
      req.on('error', reject)
      req.end()
    })
    await new Promise((r) => setTimeout(r, 200))
    const t0 = Date.now()
    const closed = server.close().then(() => Date.now() - t0)
    await new Promise((r) => setTimeout(r, 200))
    release()
    expect(await answered).toBe(200)
    // before: the connection stayed open for Fastify's 72 s keep-alive timeout
    expect(await closed).toBeLessThan(2_000)
    agent.destroy()
  })
})

describe('tokenMatches', () => {
  it('accepts only the exact bearer token', () => {
    expect(tokenMatches('abc', 'Bearer abc')).toBe(true)
    expect(tokenMatches('abc', 'bearer abc')).toBe(true)
    expect(tokenMatches('abc', 'Bearer abcd')).toBe(false)
    expect(tokenMatches('abc', 'abc')).toBe(false)
    expect(tokenMatches('abc', undefined)).toBe(false)
    expect(tokenMatches('abc', 'Basic abc')).toBe(false)
  })
})
