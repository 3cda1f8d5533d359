import { describe, expect, it } from 'vitest'
import { RetryBudget } from './retry-budget.js'

describe('RetryBudget', () => {
  it('allows the minimum number of concurrent retries on a quiet service', () => {
    const b = new RetryBudget(0.2, 3)
    b.requests = 1
    expect([b.tryAcquire(), b.tryAcquire(), b.tryAcquire(), b.tryAcquire()]).toEqual([
      true,
      true,
      true,
      false,
    ])
    expect(b.refused).toBe(1)
  })

  it('caps retries in flight at ratio × requests in flight when that is above the minimum', () => {
    const b = new RetryBudget(0.2, 3)
    b.requests = 100
    let granted = 0
    for (let i = 0; i < 50; i++) if (b.tryAcquire()) granted++
    expect(granted).toBe(20)
  })

  it('gives a slot back on release', () => {
    const b = new RetryBudget(0, 1)
    expect(b.tryAcquire()).toBe(true)
    expect(b.tryAcquire()).toBe(false)
    b.release()
    expect(b.tryAcquire()).toBe(true)
  })
})
