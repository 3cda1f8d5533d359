import { describe, expect, it } from 'vitest'
import { startDockerDouble } from '../../test/doubles/docker-engine.js'
import { scaleSchema } from '../config/scale-schema.js'
import type { Actuator } from './actuator.js'
import { DockerActuator } from './actuators/docker.js'
import { ProcessActuator, type ProcessServiceOptions } from './actuators/process.js'
import { Autoscaler, type ScaleActionInput } from './autoscaler.js'

// A replica: an HTTP server on $PORT whose /health answers HEALTH (default 200).
const SERVER = `
const http = require('node:http')
const status = Number(process.env.HEALTH ?? 200)
const srv = http.createServer((req, res) => { res.statusCode = req.url === '/health' ? status : 200; res.end('ok') })
srv.listen(Number(process.argv[1]), '127.0.0.1')
process.on('SIGTERM', () => srv.close(() => process.exit(0)))
`

/** The autoscaler around a real actuator; the action log is a list, the pool records every target set. */
function harness(
  actuator: Actuator,
  pool: string[][],
  rate = { value: 50 },
  scale: Record<string, unknown> = {},
) {
  const actions: (ScaleActionInput & { status?: string; detail?: string })[] = []
  const failures: string[] = []
  const calls: number[] = []
  const counted: Actuator = new Proxy(actuator, {
    get(target, prop, receiver) {
      if (prop === 'scaleTo')
        return (...args: Parameters<Actuator['scaleTo']>) => {
          calls.push(Date.now())
          return target.scaleTo(...args)
        }
      const v = Reflect.get(target, prop, receiver) as unknown
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v
    },
  })
  const scaler = new Autoscaler({
    services: {
      orders: scaleSchema.parse({
        mode: 'enforce',
        min: 1,
        max: 4,
        capacityPerReplica: 100,
        leadTimeMs: 1_000,
        ...scale,
      }),
    },
    actuatorFor: () => counted,
    windowMs: 1_000,
    observe: async () => ({ atMs: Date.now(), ratePerSec: rate.value }),
    forecast: async () => null,
    record: async (input) => {
      actions.push({ ...input })
      return { id: String(actions.length), result: { status: 'pending' } }
    },
    settle: async (rec, result) => {
      Object.assign(actions[Number(rec.id) - 1], { status: result.status, detail: result.detail })
    },
    onFailure: (_service, err) => failures.push(err.message),
    attempts: 3,
    backoffMs: 40,
  })
  return { scaler, actions, failures, calls, pool }
}

const recordingPool = (pool: string[][]) => ({
  setTargets: async (_s: string, urls: readonly string[]) => void pool.push([...urls]),
})

/** Replicas of SERVER for `orders`, every target set recorded in `pool`. */
const serverReplicas = (pool: string[][], extra: Partial<ProcessServiceOptions> = {}) =>
  new ProcessActuator({
    pool: recordingPool(pool),
    services: {
      orders: {
        command: [process.execPath, '-e', SERVER, '$PORT'],
        healthIntervalMs: 20,
        stopGraceMs: 1_000,
        ...extra,
      },
    },
  })

describe('Autoscaler with a failing actuator', () => {
  it('command not found: retried with backoff, logged and alerted once, nothing pooled', async () => {
    const pool: string[][] = []
    const actuator = new ProcessActuator({
      pool: recordingPool(pool),
      services: { orders: { command: ['/nonexistent/vigil-replica'], healthIntervalMs: 20 } },
    })
    const h = harness(actuator, pool)
    try {
      await h.scaler.start() // below min 1: tries to start one
      expect(h.calls).toHaveLength(3)
      // the gaps double: 40 ms then 80 ms (at least)
      expect(h.calls[1] - h.calls[0]).toBeGreaterThanOrEqual(35)
      expect(h.calls[2] - h.calls[1]).toBeGreaterThanOrEqual(75)
      await h.scaler.tick()
      await h.scaler.tick()
      expect(h.failures).toHaveLength(1)
      expect(h.failures[0]).toMatch(/nonexistent\/vigil-replica/)
      const alerts = h.actions.filter((a) => a.kind === 'scale.alert')
      expect(alerts).toHaveLength(1)
      expect(alerts[0].reason).toMatch(/failed 3 times \(retried with backoff\).*vigil-replica/)
      expect(h.actions.filter((a) => a.kind === 'scale.replicas').every((a) => a.status === 'failed')).toBe(
        true,
      )
      // the gateway never got a target for a replica that does not exist
      expect(pool.every((urls) => urls.length === 0)).toBe(true)
      const s = await h.scaler.scaling('orders')
      expect(s.current).toBe(0)
      expect(s.lastError).toMatch(/vigil-replica/)
    } finally {
      await h.scaler.stop()
      await actuator.close()
    }
  })

  it('Docker API 500: alerted once, recovered once the API answers again, pooled only then', async () => {
    const double = await startDockerDouble({ healthyAfterMs: 20 })
    const pool: string[][] = []
    const actuator = new DockerActuator({
      pool: recordingPool(pool),
      pollMs: 10,
      docker: { protocol: 'http', host: double.host, port: double.port },
      services: { orders: { image: 'vigil/mock:1', network: 'vigil', stopTimeoutSec: 1 } },
    })
    const h = harness(actuator, pool)
    try {
      double.broken = true
      await h.scaler.start()
      await h.scaler.tick()
      expect(h.failures).toHaveLength(1)
      expect(h.failures[0]).toMatch(/500/)
      expect(h.actions.filter((a) => a.kind === 'scale.alert')).toHaveLength(1)
      expect(pool).toEqual([])
      expect(double.containers.size).toBe(0)

      double.broken = false
      await h.scaler.tick()
      expect(h.actions.filter((a) => a.kind === 'scale.recovered')).toHaveLength(1)
      expect(double.containers.size).toBe(1)
      const ip = [...double.containers.values()][0].ip
      expect(pool.at(-1)).toEqual([`http://${ip}:8080`])
    } finally {
      await h.scaler.stop()
      await double.close()
    }
  })

  it('a replica that never becomes healthy is rolled back, not retried at once, and alerted', async () => {
    const pool: string[][] = []
    const actuator = serverReplicas(pool, { env: { HEALTH: '503' }, startTimeoutMs: 400 })
    const h = harness(actuator, pool)
    try {
      await h.scaler.start()
      expect(h.calls).toHaveLength(1)
      const alerts = h.actions.filter((a) => a.kind === 'scale.alert')
      expect(alerts).toHaveLength(1)
      expect(alerts[0].reason).toMatch(/never became healthy and was rolled back/)
      expect(await actuator.current('orders')).toBe(0)
      expect(pool.every((urls) => urls.length === 0)).toBe(true)
    } finally {
      await h.scaler.stop()
      await actuator.close()
    }
  })

  it('a pooled replica that dies on its own leaves the pool at once', async () => {
    const pool: string[][] = []
    const actuator = new ProcessActuator({
      pool: recordingPool(pool),
      services: { orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 20 } },
    })
    try {
      await actuator.scaleTo('orders', 1, 'test')
      expect(pool.at(-1)).toHaveLength(1)
      const [r] = await actuator.replicas('orders')
      process.kill(Number(r.id.split('-')[1]), 'SIGKILL')
      for (let i = 0; i < 100 && pool.at(-1)!.length > 0; i++) await new Promise((ok) => setTimeout(ok, 20))
      expect(pool.at(-1)).toEqual([])
      expect(await actuator.current('orders')).toBe(0)
    } finally {
      await actuator.close()
    }
  })
})

describe('Autoscaler: manual scale', () => {
  it('holds a manual count against the scale-down of the next windows until the stabilisation window passed', async () => {
    const pool: string[][] = []
    const actuator = serverReplicas(pool)
    // 50 req/s needs one replica at 100 req/s each
    const h = harness(actuator, pool, { value: 50 }, { scaleDownStabilizationMs: 600 })
    try {
      await h.scaler.start()
      expect(await h.scaler.scale('orders', 3, 'before the launch')).toMatchObject({ status: 'ok', after: 3 })
      await h.scaler.tick()
      let s = await h.scaler.scaling('orders')
      expect(s.current).toBe(3)
      expect(s.desired).toBe(3)
      expect(s.decisions[0]).toMatchObject({ desired: 3, direction: 'hold', driver: 'stabilization' })
      expect(s.decisions[0].reason).toMatch(
        /^held at 3 by a manual scale \("before the launch"\) until .*; without it: /,
      )
      await new Promise((ok) => setTimeout(ok, 700))
      await h.scaler.tick()
      s = await h.scaler.scaling('orders')
      expect(s.current).toBe(1)
      expect(h.actions.map((a) => [a.kind, a.after, a.status])).toEqual([
        ['scale.replicas', 1, 'ok'],
        ['scale.manual', 3, 'ok'],
        ['scale.replicas', 1, 'ok'],
      ])
    } finally {
      await h.scaler.stop()
      await actuator.close()
    }
  })
})
