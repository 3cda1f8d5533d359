import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.js'
import { redisClientOptions } from './redis.js'
import { RedisStateBackend, type LimitsState } from './state.js'

const up = await serviceAvailable('redis')

const doc = (version: number, rate: number): LimitsState => ({
  version,
  tiers: { STD: { ratePerSec: rate, burst: 2 * rate, rank: 0 } },
  keys: {},
  controls: {
    tiers: {},
    classes: {},
    clients: {},
    defensive: false,
    reason: '',
    actor: '',
    updatedAt: '',
    services: {},
    entries: {},
  },
})

describe.skipIf(!up)('RedisStateBackend on 127.0.0.1:6379', () => {
  const cleanup: Array<() => Promise<unknown> | void> = []
  afterEach(async () => {
    for (const c of cleanup.splice(0).reverse()) await c()
  })

  it('re-reads the document after a reconnect even when the main connection comes back last', async () => {
    const prefix = `vigil-test:${randomUUID()}:`
    const writer = new Redis('redis://127.0.0.1:6379')
    cleanup.push(
      () => writer.quit(),
      () => writer.del(`${prefix}state`),
    )
    const proxy: TcpProxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 })
    cleanup.push(() => proxy.close())
    // the main connection retries slowly, the subscriber (a duplicate) quickly: the subscriber's
    // re-read runs while the main connection still refuses commands
    const client = new Redis(`redis://127.0.0.1:${proxy.port}`, {
      ...redisClientOptions(1000),
      retryStrategy: () => 1500,
    })
    client.on('error', () => {}) // the cut resets it; the limiter logs this in production
    cleanup.push(() => client.disconnect())
    const backend = new RedisStateBackend(client, prefix)
    cleanup.push(() => backend.close())
    await backend.subscribed()
    const seen: number[] = []
    backend.onChange((s) => seen.push(s.version))

    await proxy.cut()
    await writer.set(`${prefix}state`, JSON.stringify(doc(5, 7))) // changed while cut off
    await proxy.restore()
    const deadline = Date.now() + 10_000
    while (!seen.includes(5) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(seen).toContain(5)
  })
})
