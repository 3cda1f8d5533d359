import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../../test/helpers/services.js'
import { startTcpProxy, type TcpProxy } from '../../test/helpers/tcp-proxy.js'
import { redisClientOptions } from './redis.js'
import { stateBackendContract } from './state-backend.contract.js'
import { FileStateBackend, RedisStateBackend, type LimitsState } from './state.js'

const up = await serviceAvailable('redis')

stateBackendContract('FileStateBackend', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-state-'))
  const path = join(dir, 'limits-state.json')
  return {
    open: async () => new FileStateBackend(path),
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  }
})

if (up)
  stateBackendContract('RedisStateBackend', async () => {
    const prefix = `vigil-test:${randomUUID()}:`
    const clients: Redis[] = []
    return {
      async open() {
        const client = new Redis('redis://127.0.0.1:6379')
        clients.push(client)
        const b = new RedisStateBackend(client, prefix)
        await b.subscribed()
        return b
      },
      async cleanup() {
        await clients[0]?.del(`${prefix}state`)
        await Promise.all(clients.map((c) => c.quit()))
      },
    }
  })

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

describe('FileStateBackend', () => {
  it('saves only over the version the writer read, one writer at a time', async () => {
    const path = join(mkdtempSync(join(tmpdir(), 'vigil-state-')), 'limits-state.json')
    const a = new FileStateBackend(path)
    const b = new FileStateBackend(path)
    expect(await a.save(doc(1, 10), null)).toBe(true)
    // both read version 1; the second to save finds version 2 and changes nothing
    const results = await Promise.all([a.save(doc(2, 20), 1), b.save(doc(2, 30), 1)])
    expect(results.sort()).toEqual([false, true])
    expect([20, 30]).toContain((await a.load())!.tiers.STD!.ratePerSec)
    expect(await a.save(doc(9, 90), 5)).toBe(false)
    expect((await b.load())!.version).toBe(2)
    // another process holding the lock file: the save waits for it
    writeFileSync(`${path}.lock`, '')
    const waiting = a.save(doc(3, 40), 2)
    await new Promise((r) => setTimeout(r, 100))
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(2)
    rmSync(`${path}.lock`)
    expect(await waiting).toBe(true)
    expect((await b.load())!.version).toBe(3)
    await a.close()
    await b.close()
  })
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

  it('saves only over the version the writer read, atomically with the publish', async () => {
    const prefix = `vigil-test:${randomUUID()}:`
    const client = new Redis('redis://127.0.0.1:6379')
    cleanup.push(
      () => client.quit(),
      () => client.del(`${prefix}state`),
    )
    const a = new RedisStateBackend(client, prefix)
    const b = new RedisStateBackend(client.duplicate(), prefix)
    cleanup.push(
      () => a.close(),
      () => b.close(),
    )
    await b.subscribed()
    const heard: number[] = []
    b.onChange((s) => heard.push(s.tiers.STD!.ratePerSec))
    expect(await a.save(doc(1, 10), null)).toBe(true)
    expect(await a.save(doc(1, 11), null)).toBe(false) // it exists now
    const results = await Promise.all([a.save(doc(2, 20), 1), b.save(doc(2, 30), 1)])
    expect(results.sort()).toEqual([false, true])
    const won = (await a.load())!.tiers.STD!.ratePerSec
    const deadline = Date.now() + 2_000
    while (!heard.includes(won) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
    // refused saves publish nothing (a re-read after connecting may repeat a document)
    expect(new Set(heard)).toEqual(new Set([10, won]))
  })
})
