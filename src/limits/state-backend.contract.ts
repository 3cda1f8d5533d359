/**
 * @module The `StateBackend` contract: one suite every adapter passes (file, Redis), run by
 * state.test.ts. `open()` returns a new backend over the same stored document, as a second
 * gateway would have.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { LimitsState, StateBackend } from './state.js'

export interface StateBackendFixture {
  /** a new backend over this fixture's document; resolves once it hears changes */
  open(): Promise<StateBackend>
  cleanup(): Promise<void>
}

export const stateDoc = (version: number, rate: number): LimitsState => ({
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

async function until(cond: () => boolean, ms = 3_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

export function stateBackendContract(name: string, fixture: () => Promise<StateBackendFixture>): void {
  describe(`StateBackend contract: ${name}`, () => {
    const open: StateBackend[] = []
    let fx: StateBackendFixture | null = null
    const backend = async (): Promise<StateBackend> => {
      fx ??= await fixture()
      const b = await fx.open()
      open.push(b)
      return b
    }
    afterEach(async () => {
      for (const b of open.splice(0)) await b.close()
      await fx?.cleanup()
      fx = null
    })

    it('loads null before the first save, then the saved document as it was', async () => {
      const a = await backend()
      expect(await a.load()).toBeNull()
      expect(await a.save(stateDoc(1, 10), null)).toBe(true)
      expect(await (await backend()).load()).toEqual(stateDoc(1, 10))
    })

    it('saves only over the version the writer read, and a refused save changes nothing', async () => {
      const a = await backend()
      expect(await a.save(stateDoc(1, 10), null)).toBe(true)
      expect(await a.save(stateDoc(1, 11), null)).toBe(false) // a document exists now
      expect(await a.save(stateDoc(3, 30), 2)).toBe(false) // stale: the stored version is 1
      expect(await a.load()).toEqual(stateDoc(1, 10))
      expect(await a.save(stateDoc(2, 20), 1)).toBe(true)
      expect((await a.load())!.version).toBe(2)
    })

    it('lets exactly one of two writers that read the same version win', async () => {
      const a = await backend()
      const b = await backend()
      expect(await a.save(stateDoc(1, 10), null)).toBe(true)
      const results = await Promise.all([a.save(stateDoc(2, 20), 1), b.save(stateDoc(2, 30), 1)])
      expect([...results].sort()).toEqual([false, true])
      const stored = (await b.load())!
      expect(stored.tiers.STD!.ratePerSec).toBe(results[0] ? 20 : 30)
    })

    it('tells every instance, this one included, about a save; a refused save tells nobody', async () => {
      const a = await backend()
      const b = await backend()
      const heardA: number[] = []
      const heardB: number[] = []
      a.onChange((s) => heardA.push(s.tiers.STD!.ratePerSec))
      b.onChange((s) => heardB.push(s.tiers.STD!.ratePerSec))
      expect(await a.save(stateDoc(1, 10), null)).toBe(true)
      expect(await a.save(stateDoc(5, 50), 4)).toBe(false)
      expect(await b.save(stateDoc(2, 20), 1)).toBe(true)
      await until(() => heardA.includes(20) && heardB.includes(20))
      for (const heard of [heardA, heardB]) {
        expect(heard).toContain(10)
        expect(heard).toContain(20)
        expect(heard).not.toContain(50)
      }
    })
  })
}
