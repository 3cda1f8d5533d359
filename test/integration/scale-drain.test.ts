/**
 * Scale-down under steady concurrent load: a real gateway with the process actuator as its
 * target pool, real `vigil mock` replicas, and clients on keep-alive connections sending GETs and
 * POSTs (a POST that reached a replica is never retried, so a reset there would show as a 502).
 * The replicas leaving are busy when the shorter list is published; the actuator stops them only
 * once the gateway says their requests finished, so no request fails.
 */
import { Agent, request } from 'undici'
import { afterEach, describe, expect, it } from 'vitest'
import { ProcessActuator } from '../../src/scale/actuators/process.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { startGateway, type TestGateway } from '../helpers/gateway.js'
import { mockReplicaCommand } from './control-support.js'

let gw: TestGateway | null = null
let actuator: ProcessActuator | null = null
let seed: MockService | null = null
afterEach(async () => {
  await actuator?.close()
  actuator = null
  await gw?.close()
  gw = null
  await seed?.close()
  seed = null
})

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('scale-down under load (gateway + process actuator)', { timeout: 120_000 }, () => {
  it('drains the leaving replicas before stopping them: no failed request over repeated 2 → 4 → 2', async () => {
    seed = await startMockService({ name: 'seed' })
    gw = await startGateway({
      services: {
        orders: { targets: [seed.url], healthCheck: { intervalMs: 1000, unhealthyThreshold: 2 } },
      },
      routes: [{ path: '/orders', service: 'orders' }],
    })
    const a = new ProcessActuator({
      pool: gw.gw,
      services: {
        orders: {
          command: mockReplicaCommand('--latency-ms', '5-150'),
          healthIntervalMs: 50,
          stopGraceMs: 3000,
        },
      },
    })
    actuator = a
    await a.scaleTo('orders', 2, 'test')
    const agent = new Agent({ connections: 16, keepAliveTimeout: 30_000 })
    const failures: string[] = []
    let ok = 0
    let running = true
    const client = async (n: number) => {
      for (let i = 0; running; i++) {
        const post = (n + i) % 2 === 0
        try {
          const res = await request(`${gw!.url}/orders/x`, {
            dispatcher: agent,
            method: post ? 'POST' : 'GET',
            ...(post ? { body: '{"item":"x"}', headers: { 'content-type': 'application/json' } } : {}),
          })
          const text = await res.body.text()
          if (res.statusCode < 300) ok++
          else failures.push(`${post ? 'POST' : 'GET'} ${res.statusCode} ${text.slice(0, 200)}`)
        } catch (err) {
          failures.push(`${post ? 'POST' : 'GET'} no answer: ${(err as Error).message}`)
        }
      }
    }
    const clients = Array.from({ length: 12 }, (_, n) => client(n))
    const busyAtChange: number[] = []
    try {
      for (let round = 0; round < 3; round++) {
        await a.scaleTo('orders', 4, 'test: up')
        await sleep(2_000)
        // the newest two leave while they serve
        const leaving = (await a.replicas('orders')).slice(2).map((r) => r.url)
        const views = gw.gw.services()[0].targets
        busyAtChange.push(views.filter((t) => leaving.includes(t.url)).reduce((n, t) => n + t.inFlight, 0))
        await a.scaleTo('orders', 2, 'test: down')
        await sleep(500)
      }
    } finally {
      running = false
      await Promise.all(clients)
      await agent.close()
    }
    // the scale-downs happened under load: the leaving replicas had requests in flight
    expect(
      busyAtChange.some((n) => n > 0),
      JSON.stringify(busyAtChange),
    ).toBe(true)
    expect(ok).toBeGreaterThan(500)
    expect(failures.slice(0, 5)).toEqual([])
    expect(gw.gw.services()[0].targets).toHaveLength(2)
  })
})
