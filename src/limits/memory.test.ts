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

  it('sweeps full buckets once it holds too many keys', () => {
    const store = new MemoryLimitStore({ sweepAtKeys: 10 })
    for (let i = 0; i < 10; i++) store.take([{ key: `k${i}`, intervalMs: 10, toleranceMs: 100 }], 1, 0)
    expect(store.size).toBe(10)
    // at t=1000 every earlier bucket is full again, so the sweep drops them all
    store.take([{ key: 'late', intervalMs: 10, toleranceMs: 100 }], 1, 1000)
    expect(store.size).toBe(1)
  })
})
