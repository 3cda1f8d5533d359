import { describe, expect, it } from 'vitest'
import { intervalMs } from './gcra.js'
import { limitStoreContract } from './limit-store.contract.js'
import { MemoryLimitStore } from './memory.js'

limitStoreContract('MemoryLimitStore', async () => ({
  store: new MemoryLimitStore(),
  prefix: 'mem:',
  cleanup: async () => {},
}))

describe('MemoryLimitStore', () => {
  it('answers synchronously', () => {
    const store = new MemoryLimitStore()
    const r = store.take([{ key: 'k', intervalMs: intervalMs(1), toleranceMs: 1000 }], 1, 0)
    expect(r).not.toBeInstanceOf(Promise)
    expect(r.allowed).toBe(true)
  })

  it('sweeps full buckets once it holds too many keys, a bounded few per take', () => {
    const store = new MemoryLimitStore({ sweepAtKeys: 10 })
    const spec = (key: string) => [{ key, intervalMs: 10, toleranceMs: 100 }]
    for (let i = 0; i < 1000; i++) store.take(spec(`k${i}`), 1, 0)
    expect(store.size).toBe(1000)
    // At t=1000 every earlier bucket is full again; one take removes only a few of them.
    store.take(spec('late0'), 1, 1000)
    expect(store.size).toBeGreaterThan(1000 - 10)
    // Within one pass over the map (a take inspects 8 entries) every expired entry is gone,
    // although each take also adds a key.
    for (let i = 1; i <= 200; i++) store.take(spec(`late${i}`), 1, 1000)
    expect(store.size).toBe(201)
  })

  it('keeps live buckets through any number of sweeps', () => {
    const store = new MemoryLimitStore({ sweepAtKeys: 10 })
    const spec = (key: string) => [{ key, intervalMs: 1000, toleranceMs: 1_000_000 }]
    for (let i = 0; i < 100; i++) store.take(spec(`live${i}`), 1, 0)
    for (let i = 0; i < 500; i++) store.take(spec(`live${i % 100}`), 1, 10)
    expect(store.size).toBe(100)
    expect(store.peek('live7')).toBe(6000)
  })
})
