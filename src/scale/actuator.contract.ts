/**
 * @module The contract every Actuator adapter passes (undici's cacheStoreTests, Hono's runTest):
 * call `actuatorContract(name, make)` from each adapter's test file.
 */
import { afterEach, describe, expect, it } from 'vitest'
import type { Actuator } from './actuator.js'

export interface ActuatorHarness {
  actuator: Actuator
  /** a service the actuator manages */
  service: string
  close(): Promise<void>
}

/** `make({ broken: true })` returns an actuator whose backend fails (command not found, API 500). */
export type MakeActuator = (opts: { broken?: boolean }) => Promise<ActuatorHarness>

async function rejection(p: () => Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p()
  } catch (err) {
    return err as { code?: string; message: string }
  }
  throw new Error('expected a rejection')
}

export function actuatorContract(name: string, make: MakeActuator, opts: { timeoutMs?: number } = {}): void {
  const timeout = opts.timeoutMs ?? 30_000
  describe(`Actuator contract: ${name}`, () => {
    let h: ActuatorHarness | null = null
    afterEach(async () => {
      await h?.close()
      h = null
    })

    it('matches the interface', async () => {
      h = await make({})
      const a = h.actuator
      expect(['process', 'docker', 'kubernetes']).toContain(a.kind)
      for (const m of ['services', 'current', 'replicas', 'scaleTo', 'restart', 'close'] as const)
        expect(typeof a[m]).toBe('function')
      expect(a.services()).toContain(h.service)
    })

    it(
      'scales up and down, and current() and replicas() follow',
      async () => {
        h = await make({})
        const { actuator: a, service } = h
        const up = await a.scaleTo(service, 3, 'contract: up')
        expect(up).toMatchObject({ service, after: 3 })
        expect(await a.current(service)).toBe(3)
        const reps = await a.replicas(service)
        expect(reps).toHaveLength(3)
        expect(reps.every((r) => r.ready)).toBe(true)
        expect(new Set(reps.map((r) => r.id)).size).toBe(3)
        const down = await a.scaleTo(service, 1, 'contract: down')
        expect(down).toMatchObject({ service, before: 3, after: 1 })
        expect(await a.current(service)).toBe(1)
        expect(await a.replicas(service)).toHaveLength(1)
        const same = await a.scaleTo(service, 1, 'contract: same')
        expect(same).toMatchObject({ before: 1, after: 1, started: [], stopped: [] })
      },
      timeout,
    )

    it(
      'restarts every replica one at a time and keeps the count',
      async () => {
        h = await make({})
        const { actuator: a, service } = h
        await a.scaleTo(service, 2, 'contract: setup')
        const before = (await a.replicas(service)).map((r) => r.id).sort()
        const r = await a.restart(service, 'contract: restart')
        expect(r.service).toBe(service)
        expect(r.replaced).toHaveLength(2)
        expect(r.replaced.map((x) => x.from).sort()).toEqual(before)
        const after = (await a.replicas(service)).map((x) => x.id)
        expect(after).toHaveLength(2)
        for (const id of after) expect(before).not.toContain(id)
      },
      timeout,
    )

    it(
      'rejects an unknown service and a bad replica count with codes',
      async () => {
        h = await make({})
        const { actuator: a, service } = h
        expect((await rejection(() => a.scaleTo('no-such-service', 1, 'x'))).code).toBe(
          'VGL_ERR_SCALE_UNKNOWN_SERVICE',
        )
        expect((await rejection(() => a.current('no-such-service'))).code).toBe(
          'VGL_ERR_SCALE_UNKNOWN_SERVICE',
        )
        expect((await rejection(() => a.scaleTo(service, -1, 'x'))).code).toBe('VGL_ERR_SCALE_REQUEST')
        expect((await rejection(() => a.scaleTo(service, 1.5, 'x'))).code).toBe('VGL_ERR_SCALE_REQUEST')
      },
      timeout,
    )

    it(
      'reports a failing backend as VGL_ERR_SCALE_ACTUATOR with its cause',
      async () => {
        h = await make({ broken: true })
        const err = await rejection(() => h!.actuator.scaleTo(h!.service, 1, 'contract: broken'))
        expect(err.code).toBe('VGL_ERR_SCALE_ACTUATOR')
        expect(err.message).toMatch(/the (process|docker|kubernetes) actuator failed: .+/)
      },
      timeout,
    )
  })
}
