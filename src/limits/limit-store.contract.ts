/**
 * @module The one contract every `LimitStore` passes (undici's `cacheStoreTests`, Hono's
 * `runTest`): called from `memory.test.ts` and `redis.test.ts` (the latter against real Redis).
 * Time is passed in, so the suite is exact and does not depend on machine load.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { intervalMs, remainingTokens, type BucketSpec } from './gcra.js'
import type { LimitStore, TakeOutcome } from './limit-store.js'

export interface ContractSubject {
  store: LimitStore
  /** a key prefix unique to this run, so parallel runs on one Redis never share buckets */
  prefix: string
  cleanup(): Promise<void>
}

function bucket(key: string, ratePerSec: number, burst: number, reserve = 0): BucketSpec {
  const t = intervalMs(ratePerSec)
  return { key, intervalMs: t, toleranceMs: (burst - reserve) * t }
}

export function limitStoreContract(name: string, make: () => Promise<ContractSubject>): void {
  describe(`LimitStore contract: ${name}`, () => {
    let s: ContractSubject
    let n = 0
    const key = () => `${s.prefix}{t}:k${++n}`
    const take = (b: BucketSpec[], cost: number, now: number): Promise<TakeOutcome> =>
      Promise.resolve(s.store.take(b, cost, now))

    beforeAll(async () => {
      s = await make()
    })
    afterAll(async () => {
      await s.cleanup()
    })

    it('matches interface', () => {
      expect(typeof s.store.take).toBe('function')
      expect(typeof s.store.peek).toBe('function')
      expect(typeof s.store.reset).toBe('function')
      expect(typeof s.store.close).toBe('function')
      expect(['memory', 'redis']).toContain(s.store.kind)
    })

    it('admits a full burst at once, then refuses with the time to the next token', async () => {
      const b = [bucket(key(), 10, 5)]
      const now = 1_700_000_000_000
      for (let i = 0; i < 5; i++) expect((await take(b, 1, now)).allowed).toBe(true)
      const refused = await take(b, 1, now)
      expect(refused.allowed).toBe(false)
      expect(refused.refusedIndex).toBe(0)
      expect(refused.retryAfterMs).toBeCloseTo(100, 3)
      expect((await take(b, 1, now + 100)).allowed).toBe(true)
    })

    it('admits exactly burst + rate x time for a client hammering every 2 ms', async () => {
      const rate = 50
      const burst = 20
      const b = [bucket(key(), rate, burst)]
      const start = 1_700_000_100_000
      let admitted = 0
      for (let t = 0; t <= 2000; t += 2) if ((await take(b, 1, start + t)).allowed) admitted++
      // B + R*T = 20 + 50*2 = 120; a token arriving exactly at t=2000 may add one.
      expect(admitted).toBeGreaterThanOrEqual(120)
      expect(admitted).toBeLessThanOrEqual(121)
    })

    it('charges the cost of a request in tokens', async () => {
      const b = [bucket(key(), 1, 10)]
      const now = 1_700_000_200_000
      expect((await take(b, 4, now)).allowed).toBe(true)
      expect((await take(b, 4, now)).allowed).toBe(true)
      const r = await take(b, 4, now)
      expect(r.allowed).toBe(false)
      expect(r.retryAfterMs).toBeCloseTo(2000, 3)
      expect(remainingTokens(r.tatsMs[0]!, now, 1000, 10)).toBe(2)
    })

    it('never admits a cost larger than the burst and says so with an infinite retry', async () => {
      const r = await take([bucket(key(), 100, 3)], 4, 1_700_000_300_000)
      expect(r.allowed).toBe(false)
      expect(r.retryAfterMs).toBe(Infinity)
    })

    it('charges no bucket when any bucket of the decision refuses', async () => {
      const k1 = key()
      const k2 = key()
      const now = 1_700_000_400_000
      const client = bucket(k1, 10, 10)
      const budget = bucket(k2, 10, 1)
      expect((await take([client, budget], 1, now)).allowed).toBe(true)
      const r = await take([client, budget], 1, now)
      expect(r.allowed).toBe(false)
      expect(r.refusedIndex).toBe(1)
      // the client bucket holds one charge, not two
      expect(await s.store.peek(k1)).toBeCloseTo(now + 100, 3)
    })

    it('keeps a reserve that lower priorities cannot use', async () => {
      const k = key()
      const now = 1_700_000_500_000
      const low = bucket(k, 10, 4, 2)
      const high = bucket(k, 10, 4, 0)
      expect((await take([low], 1, now)).allowed).toBe(true)
      expect((await take([low], 1, now)).allowed).toBe(true)
      expect((await take([low], 1, now)).allowed).toBe(false)
      expect((await take([high], 1, now)).allowed).toBe(true)
      expect((await take([high], 1, now)).allowed).toBe(true)
      expect((await take([high], 1, now)).allowed).toBe(false)
    })

    it('reports 0 for an unknown key and forgets a key on reset', async () => {
      const k = key()
      expect(await s.store.peek(k)).toBe(0)
      await take([bucket(k, 1, 1)], 1, 1_700_000_600_000)
      expect(await s.store.peek(k)).toBeGreaterThan(0)
      await s.store.reset(k)
      expect(await s.store.peek(k)).toBe(0)
    })

    it('refills while idle but never above the burst', async () => {
      const b = [bucket(key(), 10, 3)]
      const now = 1_700_000_700_000
      for (let i = 0; i < 3; i++) await take(b, 1, now)
      const later = now + 60_000
      let admitted = 0
      for (let i = 0; i < 10; i++) if ((await take(b, 1, later)).allowed) admitted++
      expect(admitted).toBe(3)
    })
  })
}
