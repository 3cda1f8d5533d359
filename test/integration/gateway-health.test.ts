import pino from 'pino'
import { Agent, request } from 'undici'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { echo, startUpstream, type Upstream } from '../helpers/upstream.js'

const client = new Agent({ keepAliveTimeout: 1000 })
const cleanup: Array<{ close(): Promise<void> }> = []
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((c) => c.close()))
})
afterAll(() => client.close())

async function up(): Promise<Upstream> {
  const u = await startUpstream()
  cleanup.push(u)
  return u
}
async function gw(cfg: Record<string, unknown>, logger?: pino.Logger): Promise<TestGateway> {
  const g = await startGateway(cfg, { logger })
  cleanup.unshift(g)
  return g
}
async function call(url: string) {
  const res = await request(url, { dispatcher: client })
  await res.body.dump()
  return res.statusCode
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for: ${what}`)
    await sleep(50)
  }
}

describe('circuit breaker and health', () => {
  it('ejects a dead target after consecutive failures, sends it nothing, and readmits it after a probe', async () => {
    const a = await up()
    const b = await up()
    const g = await gw({
      services: {
        s: {
          targets: [a.url, b.url],
          breaker: { consecutiveFailures: 2, baseEjectionMs: 3000, maxEjectionMs: 10_000 },
        },
      },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1 } }],
    })
    await a.stop()
    // Connection refused on a: retried on b, so clients see no error while a is ejected.
    for (let i = 0; i < 6; i++) expect(await call(`${g.url}/x`)).toBe(200)
    const view = g.gw.services()[0].targets.find((t) => t.url === a.url)!
    expect(view.breaker).toBe('open')
    expect(view.ejectedUntilMs).toBeGreaterThan(Date.now())

    await a.restart()
    a.reset()
    // Still ejected: no traffic although it is back (only requests well inside the ejection count).
    while (Date.now() < view.ejectedUntilMs! - 500) {
      expect(await call(`${g.url}/x`)).toBe(200)
      expect(a.hits).toBe(0)
    }

    await until('a is readmitted', async () => {
      await call(`${g.url}/x`)
      return a.hits > 0
    })
    expect(g.gw.services()[0].targets.find((t) => t.url === a.url)!.breaker).toBe('closed')
    a.reset()
    for (let i = 0; i < 10; i++) await call(`${g.url}/x`)
    expect(a.hits).toBeGreaterThanOrEqual(4)
  })

  it('a failed probe ejects the target again for longer', async () => {
    const a = await up()
    const b = await up()
    const g = await gw({
      services: {
        s: {
          targets: [a.url, b.url],
          breaker: { consecutiveFailures: 1, baseEjectionMs: 300, maxEjectionMs: 10_000 },
        },
      },
      routes: [{ path: '/', service: 's', retry: { attempts: 2, backoffBaseMs: 1 } }],
    })
    await a.stop()
    const target = () => g.gw.services()[0].targets.find((t) => t.url === a.url)!
    await until('a ejected', async () => {
      await call(`${g.url}/x`)
      return target().breaker === 'open'
    })
    const first = target().ejectedUntilMs! - Date.now()
    await until('a ejected a second time', async () => {
      await call(`${g.url}/x`)
      const t = target()
      return t.breaker === 'open' && t.ejectedUntilMs! - Date.now() > first + 100
    })
  })

  it('active health checks take a failing target out and put it back when it recovers', async () => {
    let healthy = true
    const a = await up()
    a.handler = (req, res, hit) => {
      if (req.url === '/health') {
        res.statusCode = healthy ? 200 : 503
        res.end()
      } else echo(req, res, hit)
    }
    const b = await up()
    const logs: Array<{ level: number; msg: string; target?: string; status?: number }> = []
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) })
    const g = await gw(
      {
        services: {
          s: {
            targets: [a.url, b.url],
            healthCheck: {
              path: '/health',
              intervalMs: 100,
              timeoutMs: 500,
              healthyThreshold: 2,
              unhealthyThreshold: 2,
            },
          },
        },
        routes: [{ path: '/', service: 's' }],
      },
      logger,
    )
    const view = () => g.gw.services()[0].targets.find((t) => t.url === a.url)!
    healthy = false
    await until('a unhealthy', () => !view().healthy)
    // one line says why its traffic stopped, naming the target and what the check got
    expect(logs.map((l) => [l.level, l.target, l.status, l.msg])).toEqual([
      [
        40,
        a.url,
        503,
        `s target ${a.url} is unhealthy: its health check answered 503; it gets no traffic until the check passes again`,
      ],
    ])
    const before = a.seen.filter((s) => s.url !== '/health').length
    for (let i = 0; i < 10; i++) expect(await call(`${g.url}/x`)).toBe(200)
    expect(a.seen.filter((s) => s.url !== '/health').length).toBe(before)

    healthy = true
    await until('a healthy again', () => view().healthy)
    expect(logs.slice(1).map((l) => [l.level, l.msg])).toEqual([
      [30, `s target ${a.url} is healthy again: it gets traffic`],
    ])
    for (let i = 0; i < 10; i++) await call(`${g.url}/x`)
    expect(a.seen.filter((s) => s.url === '/x').length).toBeGreaterThan(before)
  })
})
