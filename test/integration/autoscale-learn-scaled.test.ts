/**
 * Capacity learning scaled out: `vigil control` (leading alone, PostgreSQL store) learns where a
 * replica saturates from the rollups a separate `vigil gateway` publishes over NATS, scales on
 * it, and a restarted `vigil control` goes on from the evidence it saved in PostgreSQL.
 *
 * Replicas are `vigil mock` serving one request at a time for 40 ms each: one saturates near
 * 24 req/s and queues past it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { traffic } from '../helpers/traffic.js'
import {
  mockReplicaCommand,
  poll,
  scaledOut,
  stop,
  SCALING_CONTROL_SECTIONS,
  type CapacityView,
  type Spawned,
} from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))

type Capacity = CapacityView

interface Scaling {
  current: number
  capacityPerReplica: number | null
  capacity: Capacity
  capacityRestored: { windows: number; savedMs: number } | null
  replicas: { ready: boolean }[]
  decisions: { desired: number; reason: string; evidence: { capacity: Capacity } }[]
}

describe.skipIf(!up)(
  'capacity learning scaled out: rollups over NATS, evidence in PostgreSQL',
  { timeout: 240_000 },
  () => {
    const w = scaledOut({
      name: 'learn',
      config: () => ({
        gateway: { accessLog: { enabled: false } },
        services: {
          orders: {
            targets: [w.mockUrl],
            scale: {
              mode: 'enforce',
              min: 1,
              max: 4,
              // far too high: on it the autoscaler would keep one replica up to 80 req/s
              capacityPerReplica: { learn: true, initial: 100, min: 5, max: 200, minWindows: 20 },
              targetUtilization: 0.8,
              leadTimeMs: 1000,
              scaleDownStabilizationMs: 600_000,
              actuator: {
                kind: 'process',
                command: mockReplicaCommand('--latency-ms', '40', '--concurrency', '1'),
                healthIntervalMs: 100,
                stopGraceMs: 3000,
              },
            },
          },
        },
        ...SCALING_CONTROL_SECTIONS,
      }),
    })
    let gatewayUrl = ''
    let controlUrl = ''
    const procs: Spawned[] = []
    const scaling = async () =>
      (await (await fetch(`${controlUrl}/api/services/orders/scaling`)).json()) as Scaling

    beforeAll(async () => {
      const gw = await w.startGateway('gw-learn')
      procs.push(gw)
      gatewayUrl = gw.url
      const c = await w.startControl()
      procs.push(c)
      controlUrl = c.url
    }, 120_000)

    // SIGTERM: vigil control stops the replica processes it started
    afterAll(() => stop(...procs))

    it('learns the knee from a real gateway’s rollups, scales on it, and a restarted control plane restores it', async () => {
      await poll(scaling, (s) => s.current === 1 && s.replicas.some((r) => r.ready), 'one replica', 60_000)
      const load = traffic(gatewayUrl, 4)
      try {
        // a ramp on the one replica up to just under its saturation, then past it
        for (const rps of [4, 8, 12, 16, 20]) {
          load.setRate(rps)
          await new Promise((r) => setTimeout(r, 8_000))
        }
        expect((await scaling()).capacity.windows).toBeGreaterThanOrEqual(15)
        load.setRate(32)
        const up = await poll(scaling, (s) => s.current >= 2, 'scaled up on the learned capacity', 90_000)
        const d = up.decisions.find((x) => x.desired >= 2)!
        expect(d.evidence.capacity).toMatchObject({ learned: true, source: 'knee' })
        // the knee is met below the ~24 req/s a replica serves, the lower the busier the machine
        // (a descheduled replica queues what arrives meanwhile): 11.9 was seen at a load average of
        // 10–15 in the embedded run of the same test. Well above the floor of 5.
        expect(d.evidence.capacity.perReplica).toBeGreaterThan(10)
        expect(d.evidence.capacity.perReplica).toBeLessThan(27)
      } finally {
        await load.stop()
      }

      const learned = (await scaling()).capacity
      const control = procs.pop()!
      await stop(control) // saves the evidence on its way out
      const again = await w.startControl()
      procs.push(again)
      controlUrl = again.url
      const restored = await poll(
        scaling, // a standby answers 503 until it leads
        (s) => s.capacityRestored !== undefined && s.capacityRestored !== null,
        'evidence restored',
        30_000,
      )
      expect(restored.capacity).toMatchObject({ learned: true, source: learned.source })
      expect(restored.capacity.windows).toBeGreaterThanOrEqual(learned.windows!)
      expect(restored.capacityPerReplica).toBeGreaterThan(10)
      expect(restored.capacityPerReplica).toBeLessThan(27)
    })
  },
)
