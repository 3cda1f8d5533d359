import { connect } from 'node:net'
import { Agent, request } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { startUpstream, type Upstream } from '../helpers/upstream.js'

const client = new Agent({ keepAliveTimeout: 1000 })
const cleanup: Array<{ close(): Promise<void> }> = []
const held: Array<() => void> = []
afterEach(async () => {
  for (const release of held.splice(0)) release()
  await Promise.all(cleanup.splice(0).map((c) => c.close()))
})
afterAll(() => client.close())

/** An upstream that never answers until the test ends (then it answers 200). */
async function hanging(): Promise<Upstream> {
  const u = await startUpstream((req, res) => {
    if (req.url?.startsWith('/fast')) {
      res.end('fast')
      return
    }
    held.push(() => res.end('late'))
  })
  cleanup.push(u)
  return u
}
async function gw(cfg: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(cfg)
  cleanup.unshift(g)
  return g
}
async function timed(url: string) {
  const t0 = Date.now()
  const res = await request(url, { dispatcher: client })
  const text = await res.body.text()
  return { status: res.statusCode, text, ms: Date.now() - t0 }
}

describe('gateway timeouts', () => {
  it('returns 504 promptly when the upstream sends no first byte', async () => {
    const u = await hanging()
    const g = await gw({
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', firstByteTimeoutMs: 300, retry: { attempts: 1 } }],
    })
    const r = await timed(`${g.url}/slow`)
    expect(r.status).toBe(504)
    expect(JSON.parse(r.text)).toMatchObject({
      code: 'VGL_ERR_UPSTREAM_TIMEOUT',
      status: 504,
      title: 'Gateway Timeout',
    })
    expect(JSON.parse(r.text).detail).toContain('first byte 300ms')
    expect(r.ms).toBeGreaterThanOrEqual(290)
    expect(r.ms).toBeLessThan(3000)
  })

  it('retries a GET after a first-byte timeout, and the total deadline bounds all attempts', async () => {
    const u = await hanging()
    const g = await gw({
      services: { s: { targets: [u.url], breaker: { enabled: false } } },
      routes: [
        {
          path: '/',
          service: 's',
          firstByteTimeoutMs: 200,
          totalTimeoutMs: 700,
          retry: { attempts: 10, backoffBaseMs: 1, backoffMaxMs: 5 },
        },
      ],
    })
    const r = await timed(`${g.url}/slow`)
    expect(r.status).toBe(504)
    expect(u.hits).toBeGreaterThanOrEqual(2)
    expect(u.hits).toBeLessThanOrEqual(4)
    expect(r.ms).toBeLessThan(3000)
    expect(JSON.parse(r.text).detail).toContain('total 700ms')
  })

  it('enforces the connect timeout while a request waits for a pooled connection', async () => {
    const u = await hanging()
    const g = await gw({
      services: { s: { targets: [u.url], connectionsPerTarget: 1, breaker: { enabled: false } } },
      routes: [
        { name: 'slow', path: '/slow', service: 's', firstByteTimeoutMs: 20_000, retry: { attempts: 1 } },
        { name: 'fast', path: '/fast', service: 's', connectTimeoutMs: 300, retry: { attempts: 1 } },
      ],
    })
    const blocker = timed(`${g.url}/slow`)
    await new Promise((r) => setTimeout(r, 100))
    const r = await timed(`${g.url}/fast`)
    expect(r.status).toBe(504)
    expect(JSON.parse(r.text).detail).toContain('connect 300ms')
    expect(r.ms).toBeLessThan(3000)
    for (const release of held.splice(0)) release()
    expect((await blocker).status).toBe(200)
  })

  it('closes a client connection that never finishes its headers', async () => {
    const u = await hanging()
    const g = await gw({
      gateway: { headersTimeoutMs: 500 },
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's' }],
    })
    const port = Number(new URL(g.url).port)
    const t0 = Date.now()
    const answer = await new Promise<string>((resolve, reject) => {
      const sock = connect(port, '127.0.0.1', () => sock.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: '))
      let data = ''
      sock.on('data', (d) => (data += d.toString()))
      sock.on('close', () => resolve(data))
      sock.on('error', reject)
      setTimeout(() => reject(new Error('the gateway kept a slow client open')), 10_000).unref()
    })
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    expect(Date.now() - t0).toBeLessThan(5000)
  })

  it('keeps the client connection past idleTimeoutMs while the upstream is still answering', async () => {
    const u = await startUpstream((_req, res) => {
      setTimeout(() => res.end('slow but fine'), 1200)
    })
    cleanup.push(u)
    const g = await gw({
      gateway: { idleTimeoutMs: 400 },
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', firstByteTimeoutMs: 3000, totalTimeoutMs: 5000 }],
    })
    const r = await timed(`${g.url}/x`)
    expect(r.status).toBe(200)
    expect(r.text).toBe('slow but fine')
  })

  it('answers 504, not a reset, when the route deadline outlasts idleTimeoutMs', async () => {
    const u = await hanging()
    const g = await gw({
      gateway: { idleTimeoutMs: 300 },
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', firstByteTimeoutMs: 900, retry: { attempts: 1 } }],
    })
    const r = await timed(`${g.url}/slow`)
    expect(r.status).toBe(504)
    expect(r.ms).toBeGreaterThanOrEqual(850)
  })

  it('still closes a connection whose client goes silent mid-request after idleTimeoutMs', async () => {
    const u = await startUpstream()
    cleanup.push(u)
    const g = await gw({
      gateway: { idleTimeoutMs: 300 },
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's' }],
    })
    const t0 = Date.now()
    const closedAfter = await new Promise<number>((resolve, reject) => {
      const sock = connect(Number(new URL(g.url).port), '127.0.0.1', () =>
        sock.write('POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 10\r\n\r\nabc'),
      )
      sock.on('data', () => {})
      sock.on('close', () => resolve(Date.now() - t0))
      sock.on('error', reject)
    })
    expect(closedAfter).toBeGreaterThanOrEqual(250)
    expect(closedAfter).toBeLessThan(3000)
    expect(u.hits).toBe(0)
  })

  it('still cuts a client that stops reading the response after a slow first byte', async () => {
    const u = await startUpstream((_req, res) => {
      setTimeout(() => {
        res.writeHead(200, { 'content-length': String(64 << 20) })
        const chunk = Buffer.alloc(1 << 20)
        const pump = (): void => {
          while (res.write(chunk)) {
            /* fill until backpressure */
          }
        }
        res.on('drain', pump)
        res.on('error', () => {})
        pump()
      }, 500)
    })
    cleanup.push(u)
    const g = await gw({
      gateway: { idleTimeoutMs: 300 },
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', bodyIdleTimeoutMs: 60_000 }],
    })
    const t0 = Date.now()
    const sock = connect(Number(new URL(g.url).port), '127.0.0.1', () =>
      sock.write('GET /big HTTP/1.1\r\nhost: a\r\n\r\n'),
    )
    sock.on('error', () => {})
    // Read the first bytes, then stop reading (a paused socket does not see the close itself).
    await new Promise((resolve) => sock.once('data', resolve))
    sock.pause()
    while (g.gw.inFlight() > 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20))
    const cutAfter = Date.now() - t0
    sock.destroy()
    expect(cutAfter).toBeGreaterThanOrEqual(700)
    expect(cutAfter).toBeLessThan(5000)
  })

  it('abandons the upstream request when the client goes away', async () => {
    let upstreamClosed = false
    const u = await startUpstream((req) => {
      req.socket.on('close', () => (upstreamClosed = true))
    })
    cleanup.push(u)
    const g = await gw({ services: { s: { targets: [u.url] } }, routes: [{ path: '/', service: 's' }] })
    const ac = new AbortController()
    const pending = request(`${g.url}/x`, { dispatcher: client, signal: ac.signal })
    const t0 = Date.now()
    while (u.hits === 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20))
    expect(g.gw.inFlight()).toBe(1)
    ac.abort()
    await expect(pending).rejects.toThrow()
    while ((g.gw.inFlight() > 0 || !upstreamClosed) && Date.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 20))
    }
    expect(g.gw.inFlight()).toBe(0)
    expect(upstreamClosed).toBe(true)
  })

  it('cuts the client connection when the upstream dies mid-body (nothing hangs)', async () => {
    const u = await startUpstream((req, res) => {
      res.writeHead(200, { 'content-length': '1000000' })
      res.write(Buffer.alloc(1000))
      setTimeout(() => req.socket.destroy(), 50)
    })
    cleanup.push(u)
    const g = await gw({ services: { s: { targets: [u.url] } }, routes: [{ path: '/', service: 's' }] })
    const res = await request(`${g.url}/x`, { dispatcher: client })
    expect(res.statusCode).toBe(200)
    await expect(res.body.text()).rejects.toThrow()
  })
})
