import { Agent, request } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

const client = new Agent({ keepAliveTimeout: 1000, connections: 100 })
const cleanup: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((c) => c.close()))
})
afterAll(() => client.close())

async function up(handler = echo): Promise<Upstream> {
  const u = await startUpstream(handler)
  cleanup.push(u)
  return u
}
async function gw(cfg: Record<string, unknown>): Promise<TestGateway> {
  const g = await startGateway(cfg)
  cleanup.unshift(g)
  return g
}
/** Waits (up to 10 s) until `cond` holds; fails the test otherwise. */
async function until(cond: () => boolean): Promise<void> {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > 10_000) throw new Error('condition not met within 10 s')
    await new Promise((r) => setTimeout(r, 20))
  }
}
async function call(url: string, method = 'GET', body?: string) {
  const res = await request(url, { method: method as 'GET', body, dispatcher: client })
  const text = await res.body.text()
  return { status: res.statusCode, text }
}

describe('gateway retries', () => {
  it('a GET succeeds through a burst of 503s by retrying', async () => {
    const u = await up((req, res, hit) => {
      if (hit <= 2) {
        res.statusCode = 503
        res.end('busy')
      } else echo(req, res, hit)
    })
    const g = await gw({
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', retry: { attempts: 3, backoffBaseMs: 5, backoffMaxMs: 20 } }],
    })
    const r = await call(`${g.url}/x`)
    expect(r.status).toBe(200)
    expect(u.hits).toBe(3)
  })

  describe('a retried 503 whose body is still arriving', () => {
    /** First hit: 503 with a body that trickles and never ends; later hits: 200. Records when the 503's request closes. */
    async function trickling() {
      const state = { closedAt: 0, timers: [] as NodeJS.Timeout[] }
      const u = await up((req, res, hit) => {
        if (hit > 1) return echo(req, res, hit)
        res.writeHead(503, { 'content-type': 'text/plain' })
        const t = setInterval(() => res.write('still failing\n'), 20)
        state.timers.push(t)
        res.on('close', () => {
          clearInterval(t)
          state.closedAt = Date.now()
        })
      })
      return { u, state }
    }
    const route = (extra: Record<string, unknown>) => ({
      path: '/',
      service: 's',
      retry: { attempts: 2, backoffBaseMs: 1, backoffMaxMs: 5 },
      ...extra,
    })

    it('is drained no longer than firstByteTimeoutMs, then the retry goes ahead', async () => {
      const { u, state } = await trickling()
      const g = await gw({
        services: { s: { targets: [u.url], breaker: { enabled: false } } },
        routes: [route({ firstByteTimeoutMs: 300, totalTimeoutMs: 10_000 })],
      })
      const t0 = Date.now()
      const r = await call(`${g.url}/x`)
      expect(r.status).toBe(200)
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(u.hits).toBe(2)
      await until(() => state.closedAt > 0)
    })

    it('is cancelled by the total deadline', async () => {
      const { u, state } = await trickling()
      const g = await gw({
        services: { s: { targets: [u.url], breaker: { enabled: false } } },
        routes: [route({ firstByteTimeoutMs: 20_000, totalTimeoutMs: 500 })],
      })
      const r = await call(`${g.url}/x`)
      expect(r.status).toBe(504)
      // The drained request is cut with the deadline, not left running on the upstream.
      await until(() => state.closedAt > 0)
      expect(u.hits).toBe(1)
    })

    it('is cancelled when the client goes away', async () => {
      const { u, state } = await trickling()
      const g = await gw({
        services: { s: { targets: [u.url], breaker: { enabled: false } } },
        routes: [route({ firstByteTimeoutMs: 20_000, totalTimeoutMs: 20_000 })],
      })
      const ac = new AbortController()
      const pending = request(`${g.url}/x`, { dispatcher: client, signal: ac.signal })
      await until(() => u.hits === 1)
      await new Promise((r) => setTimeout(r, 100))
      ac.abort()
      await expect(pending).rejects.toThrow()
      await until(() => state.closedAt > 0 && g.gw.inFlight() === 0)
      expect(u.hits).toBe(1)
    })

    it('drops a long error body after 64 KiB instead of reading it all', async () => {
      let sent = 0
      const u = await up((req, res, hit) => {
        if (hit > 1) return echo(req, res, hit)
        res.writeHead(503, { 'content-length': String(64 << 20) })
        const chunk = Buffer.alloc(16_384)
        const pump = (): void => {
          while (sent < 64 << 20) {
            sent += chunk.length
            if (!res.write(chunk)) return
          }
        }
        res.on('drain', pump)
        res.on('error', () => {})
        pump()
      })
      const g = await gw({
        services: { s: { targets: [u.url], breaker: { enabled: false } } },
        routes: [route({ firstByteTimeoutMs: 20_000, totalTimeoutMs: 20_000 })],
      })
      const r = await call(`${g.url}/x`)
      expect(r.status).toBe(200)
      expect(sent).toBeLessThan(16 << 20)
    })
  })

  it('passes the last 503 on when the attempts run out', async () => {
    const u = await up((_req, res) => {
      res.statusCode = 503
      res.end('still busy')
    })
    const g = await gw({
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1, backoffMaxMs: 5 } }],
    })
    const r = await call(`${g.url}/x`)
    expect(r.status).toBe(503)
    expect(r.text).toBe('still busy')
    expect(u.hits).toBe(2)
  })

  it('does not retry a POST that reached the upstream (503 or connection reset)', async () => {
    const u = await up((req, res) => {
      if (req.url === '/reset') req.socket.destroy()
      else {
        res.statusCode = 503
        res.end()
      }
    })
    const g = await gw({
      services: { s: { targets: [u.url] } },
      routes: [{ path: '/', service: 's', retry: { attempts: 3, backoffBaseMs: 1 } }],
    })
    expect((await call(`${g.url}/x`, 'POST', 'order')).status).toBe(503)
    expect(u.hits).toBe(1)
    const reset = await call(`${g.url}/reset`, 'POST', 'order')
    expect(reset.status).toBe(502)
    expect(JSON.parse(reset.text)).toMatchObject({ code: 'VGL_ERR_UPSTREAM_RESET' })
    expect(u.hits).toBe(2)
  })

  it('retries a POST on another target when the first never received it (connection refused)', async () => {
    const live = await up()
    const dead = await up()
    await dead.stop()
    const g = await gw({
      services: { s: { targets: [dead.url, live.url], breaker: { enabled: false } } },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1 } }],
    })
    for (let i = 0; i < 6; i++) {
      const r = await call(`${g.url}/orders`, 'POST', 'payload-123')
      expect(r.status).toBe(200)
      expect(JSON.parse(r.text)).toMatchObject({ method: 'POST', bodyBytes: 11 })
    }
    expect(live.hits).toBe(6)
  })

  it('answers 502 problem+json when no target can be reached', async () => {
    const dead = await up()
    await dead.stop()
    const g = await gw({
      services: { s: { targets: [dead.url] } },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1 } }],
    })
    const r = await call(`${g.url}/x`)
    expect(r.status).toBe(502)
    expect(JSON.parse(r.text)).toMatchObject({
      code: 'VGL_ERR_UPSTREAM_CONNECT',
      status: 502,
      title: 'Bad Gateway',
    })
  })

  it('the retry budget caps retries during an outage', async () => {
    // Every answer is a slow 503, so the 30 first attempts fail at about the same time; a budget
    // of 2 concurrent retries lets only a handful through instead of 60 more upstream calls.
    const outage = (_req: unknown, res: { statusCode: number; end(): void }) => {
      setTimeout(() => {
        res.statusCode = 503
        res.end()
      }, 400)
    }
    const run = async (budget: { ratio: number; minRetries: number }) => {
      const u = await up(outage as never)
      const g = await gw({
        services: { s: { targets: [u.url], breaker: { enabled: false }, retryBudget: budget } },
        routes: [{ path: '/', service: 's', retry: { attempts: 3, backoffBaseMs: 1, backoffMaxMs: 2 } }],
      })
      const results = await Promise.all(Array.from({ length: 30 }, () => call(`${g.url}/x`)))
      expect(results.every((r) => r.status === 503)).toBe(true)
      return u.hits
    }
    const capped = await run({ ratio: 0, minRetries: 2 })
    const uncapped = await run({ ratio: 1, minRetries: 100 })
    expect(uncapped).toBe(90)
    expect(capped).toBeLessThanOrEqual(50)
    expect(capped).toBeGreaterThanOrEqual(30)
  })

  it('moves a retry to another target', async () => {
    const bad = await up((_req, res) => {
      res.statusCode = 502
      res.end()
    })
    const good = await up()
    const g = await gw({
      // a budget as large as the burst: this test is about the choice of target, and the default
      // budget (3 retries or 20 % of in-flight) would refuse some of ten simultaneous retries
      services: {
        s: { targets: [bad.url, good.url], breaker: { enabled: false }, retryBudget: { minRetries: 10 } },
      },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1 } }],
    })
    const rs = await Promise.all(Array.from({ length: 10 }, () => call(`${g.url}/x`)))
    expect(rs.map((r) => r.status)).toEqual(Array(10).fill(200))
    expect(good.hits).toBe(10)
  })
})
