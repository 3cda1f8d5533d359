import { createServer } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { parseConfigText } from '../config/index.js'
import { createAdmission } from './index.js'
import type { Limiter } from './limiter.js'
import { registry } from '../metrics.js'

/** A port nothing listens on: bound once for its number, then released. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise<void>((resolve) => server.close(() => resolve()))
  return port
}

async function fallbackGauge(): Promise<number | undefined> {
  const metric = await registry.getSingleMetric('vigil_limits_fallback_active')?.get()
  return metric?.values[0]?.value
}

describe('a limiter started while Redis is unreachable', () => {
  let limiter: Limiter | undefined
  afterEach(async () => {
    await limiter?.close()
  })

  it('is in the fallback policy from the start, and its first decision logs nothing more', async () => {
    const port = await closedPort()
    const limits = `limits: { enabled: true, store: redis, redis: { url: "redis://127.0.0.1:${port}", timeoutMs: 50 } }`
    const config = parseConfigText(
      `services: { api: { targets: [http://127.0.0.1:9] } }\nroutes: [{ path: /, service: api }]\n${limits}\n`,
      'vigil.yaml',
      {},
    )
    const warnings: string[] = []
    limiter = await createAdmission(config, {
      logger: { info: () => {}, warn: (_obj, msg = '') => warnings.push(msg) },
    })
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toContain(`Redis at redis://127.0.0.1:${port} is unreachable`)

    // before any request: what the start-up line said is what the API and the metric say
    const state = limiter.fallbackState()
    expect(state).toMatchObject({ store: 'redis', active: true, policy: 'local' })
    expect(state.reason).toContain('ECONNREFUSED')
    expect(state.sinceMs).not.toBeNull()
    expect(await fallbackGauge()).toBe(1)

    const decision = await limiter.admit(
      { routeId: '/', service: 'api', priority: 'normal', cost: 1, headers: {}, remoteAddress: '127.0.0.1' },
      Date.now(),
    )
    expect(decision.allowed).toBe(true)
    // the client library's words ("enableOfflineQueue") never reach the log for a decision
    expect(warnings).toHaveLength(1)
    expect(limiter.fallbackState().active).toBe(true)
  })
})
