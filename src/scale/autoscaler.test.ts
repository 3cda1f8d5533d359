import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { startDockerDouble } from '../../test/doubles/docker-engine.js'
import { crashWithReplicas } from '../../test/helpers/crashed-actuator.js'
import { RecordingActuator } from '../../test/helpers/recording-actuator.js'
import { scaleSchema } from '../config/scale-schema.js'
import { VGL_ERR_CONTROL_NOT_LEADER } from '../errors.js'
import type { Actuator } from './actuator.js'
import { DockerActuator } from './actuators/docker.js'
import { ProcessActuator, type ProcessServiceOptions } from './actuators/process.js'
import { procStartOf } from './actuators/process-state.js'
import {
  Autoscaler,
  type CapacityStateStore,
  type Observation,
  type SavedCapacity,
  type ScaleActionInput,
} from './autoscaler.js'

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
  /** false: standing by, and the action log refuses as the fenced one does */
  leading?: () => boolean,
) {
  const actions: (ScaleActionInput & { status?: string; detail?: string; data?: unknown })[] = []
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
    ...(leading !== undefined ? { leading } : {}),
    record: async (input) => {
      if (leading?.() === false) throw VGL_ERR_CONTROL_NOT_LEADER('another control plane leads')
      // as the store: a record of an id it holds is kept as it is
      if (input.id === undefined || actions[Number(input.id) - 1] === undefined) actions.push({ ...input })
      return { id: input.id ?? String(actions.length), result: { status: 'pending' } }
    },
    settle: async (rec, result) => {
      Object.assign(actions[Number(rec.id) - 1], {
        status: result.status,
        detail: result.detail,
        data: result.data,
      })
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

describe.skipIf(procStartOf(process.pid) === null)('Autoscaler after a killed control plane', () => {
  it('adopts the replicas it left once it leads: counted, pooled, in the action log, no duplicate started', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-adopt-'))
    const left = await crashWithReplicas(SERVER, dir, 2)
    const pool: string[][] = []
    const actuator = new ProcessActuator({
      pool: recordingPool(pool),
      stateDir: dir,
      services: { orders: { command: [process.execPath, '-e', SERVER, '$PORT'], healthIntervalMs: 20 } },
    })
    let leads = false
    // a load 2 replicas serve at 80 % of 100 req/s: nothing to start or stop once both are adopted
    const h = harness(actuator, pool, { value: 120 }, { min: 1 }, () => leads)
    try {
      await h.scaler.start()
      // standing by: the previous leader's replicas are not taken
      expect(await actuator.current('orders')).toBe(0)
      expect(h.actions).toEqual([])
      leads = true
      await h.scaler.tick()
      expect(h.calls).toEqual([])
      expect((await h.scaler.scaling('orders')).decisions[0]).toMatchObject({ current: 2, desired: 2 })
      expect(pool).toEqual([expect.arrayContaining(left.map((r) => r.url))])
      const s = await h.scaler.scaling('orders')
      expect(s.current).toBe(2)
      expect(s.replicas.map((r) => r.id).sort()).toEqual(left.map((r) => r.id).sort())
      expect(h.actions).toHaveLength(1)
      expect(h.actions[0]).toMatchObject({
        kind: 'scale.adopt',
        mode: 'enforce',
        before: 0,
        after: 2,
        status: 'ok',
        evidence: { actuator: 'process', stopped: [] },
      })
      expect(h.actions[0].reason).toMatch(
        /^replicas left running by a control plane that ended without stopping them: adopted 2 \(orders-\d+-\d+, orders-\d+-\d+\)$/,
      )
    } finally {
      await h.scaler.stop()
      await actuator.close()
      rmSync(dir, { recursive: true, force: true })
    }
  }, 60_000)
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

  it('a decision retried against an actuator that keeps failing stays one record with its count; a different one is a new record', async () => {
    // counts its replicas, fails every scale while broken (a Docker API answering 500 to creates)
    const actuator = new RecordingActuator(0, { t: 0 })
    const double = { broken: true }
    const scaleTo = actuator.scaleTo
    actuator.scaleTo = async (service, n) => {
      if (double.broken) throw new Error('Docker API: HTTP 500 from POST /containers/create')
      return scaleTo(service, n)
    }
    const rate = { value: 50 }
    const h = harness(actuator, [], rate, { maxStepUp: 4 })
    const scales = () => h.actions.filter((a) => a.kind === 'scale.replicas')
    try {
      double.broken = true
      await h.scaler.start() // 0 → 1 (min), failing
      await h.scaler.tick()
      await h.scaler.tick()
      expect(scales()).toHaveLength(1)
      expect(scales()[0]).toMatchObject({
        before: 0,
        after: 1,
        status: 'failed',
        data: { failures: 3, calls: 9, lastError: expect.stringMatching(/500/) },
      })
      expect(scales()[0].detail).toMatch(/^failed 3 times since \d{4}-\d\d-\d\dT[\d:.]+Z \(last: .*500/)
      expect(h.actions.filter((a) => a.kind === 'scale.alert')).toHaveLength(1)

      // the load now needs 3: another decision, another scaling event
      rate.value = 200
      await h.scaler.tick()
      expect(scales()).toHaveLength(2)
      expect(scales()[1]).toMatchObject({ before: 0, after: 3, status: 'failed', data: { failures: 1 } })

      double.broken = false
      await h.scaler.tick()
      expect(scales()).toHaveLength(2)
      expect(scales()[1]).toMatchObject({ status: 'ok', data: { failures: 1 } })
      expect(scales()[1].detail).toMatch(/^ok after failing 1 time since .*500/)
      expect(h.actions.filter((a) => a.kind === 'scale.recovered')).toHaveLength(1)
    } finally {
      await h.scaler.stop()
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

describe('Autoscaler: a replica that exits on its own', () => {
  it('is replaced at a following window: the count is read from the actuator, not the one asked for', async () => {
    const pool: string[][] = []
    const actuator = serverReplicas(pool)
    // 150 req/s needs two replicas at 100 req/s each (80 % target utilisation)
    const h = harness(actuator, pool, { value: 150 })
    try {
      await h.scaler.start()
      const settled = async (want: (n: number) => boolean) => {
        for (let i = 0; i < 60; i++) {
          await h.scaler.tick()
          const s = await h.scaler.scaling('orders')
          if (want(s.replicas.length) && s.current === s.replicas.length) return s
          await new Promise((ok) => setTimeout(ok, 50))
        }
        return h.scaler.scaling('orders')
      }
      expect((await settled((n) => n === 2)).replicas).toHaveLength(2)
      const [r] = await actuator.replicas('orders')
      process.kill(Number(r.id.split('-')[1]), 'SIGKILL')
      for (let i = 0; i < 100 && (await actuator.current('orders')) > 1; i++)
        await new Promise((ok) => setTimeout(ok, 20))
      const s = await settled((n) => n === 2)
      expect(s.replicas).toHaveLength(2)
      expect(s.current).toBe(2)
      expect(h.actions.at(-1)).toMatchObject({ kind: 'scale.replicas', before: 1, after: 2, status: 'ok' })
    } finally {
      await h.scaler.stop()
      await actuator.close()
    }
  })
})

describe('Autoscaler: manual scale', () => {
  it('asked while a scale-up boots: recorded from the count that scale-up left, not the one before it', async () => {
    const actuator = new RecordingActuator(1, { t: 0 })
    const boot = booting(actuator)
    // 150 req/s needs two replicas at 100 req/s each
    const h = harness(actuator, [], { value: 150 }, { min: 1 })
    try {
      const tick = h.scaler.tick()
      for (let i = 0; i < 100 && actuator.calls.length === 0; i++)
        await new Promise((ok) => setTimeout(ok, 10))
      expect(actuator.calls.map((c) => c.replicas)).toEqual([2])
      const manual = h.scaler.scale('orders', 3, 'launch')
      await new Promise((ok) => setTimeout(ok, 50))
      boot.resolve()
      expect(await manual).toMatchObject({ status: 'ok', before: 2, after: 3 })
      await tick
      expect(h.actions.map((a) => [a.kind, a.before, a.after])).toEqual([
        ['scale.replicas', 1, 2],
        ['scale.manual', 2, 3],
      ])
    } finally {
      await h.scaler.stop()
    }
  })

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
      // the autoscaler's own timer ticks every window too: when its tick is deciding on orders,
      // this one skips the service (a decision in flight), so tick until a decision came
      for (let i = 0; i < 20; i++) {
        await h.scaler.tick()
        if ((await h.scaler.scaling('orders')).current === 1) break
        await new Promise((ok) => setTimeout(ok, 50))
      }
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

describe('Autoscaler learning its capacity (shadow, two configured targets)', () => {
  /** p95 40 ms up to 24 req/s per replica, doubling at 30 */
  const p95At = (perReplica: number) => 40 * (1 + Math.max(0, (perReplica - 24) / 6) ** 2)

  /** A shadow autoscaler learning on two configured targets, on a clock the test moves. */
  function learner(
    clock: { t: number; rate: number },
    o: {
      state?: CapacityStateStore
      learn?: Record<string, unknown>
      onError?: (m: string) => void
      actions?: ScaleActionInput[]
    } = {},
  ) {
    return new Autoscaler({
      services: {
        orders: scaleSchema.parse({
          min: 1,
          max: 20,
          capacityPerReplica: { learn: true, initial: 100, minWindows: 30, ...o.learn },
          leadTimeMs: 1_000,
          scaleDownStabilizationMs: 0,
        }),
      },
      actuatorFor: () => null,
      configuredTargets: () => 2,
      windowMs: 1_000,
      observe: async (): Promise<Observation> => ({
        atMs: clock.t - 2_000,
        ratePerSec: clock.rate,
        requests: clock.rate * 10,
        p95: p95At(clock.rate / 2),
        p99: null,
        errorRatio: 0,
        refusedRatio: 0,
      }),
      forecast: async () => null,
      record: async (input) => {
        o.actions?.push(input)
        return { id: String(o.actions?.length ?? 1), result: { status: 'shadow' } }
      },
      settle: async () => undefined,
      now: () => clock.t,
      capacityState: o.state,
      saveCapacityEveryMs: 10_000,
      onError: (err) => o.onError?.(err.message),
    })
  }

  it('sizes with the initial capacity, then with the knee once enough windows were seen, and says so', async () => {
    const clock = { t: 1_000_000, rate: 10 }
    const actions: ScaleActionInput[] = []
    const scaler = learner(clock, { actions })
    await scaler.start()
    try {
      const before = await scaler.scaling('orders')
      expect(before.capacityPerReplica).toBe(100)
      expect(before.capacity).toMatchObject({ source: 'initial', learned: false, windows: 0 })
      // a ramp from 10 to 80 req/s over two replicas: 5 to 40 per replica, the knee at 30
      for (let i = 0; i < 140; i++) {
        clock.rate = 10 + (70 * (i % 70)) / 69
        clock.t += 1_000
        await scaler.tick()
        if (i === 5)
          expect((await scaler.scaling('orders')).decisions[0].reason).toMatch(
            /capacity: initial 100 req\/s per replica until enough evidence \(\d windows of 30\)/,
          )
      }
      const s = await scaler.scaling('orders')
      expect(s.capacity?.learned).toBe(true)
      expect(s.capacity?.source).toBe('knee')
      expect(s.capacityPerReplica!).toBeGreaterThan(27)
      expect(s.capacityPerReplica!).toBeLessThan(33)
      // 80 req/s at ~30 per replica and 80 %: 4 replicas (the initial 100 asked for 1)
      clock.rate = 80
      clock.t += 1_000
      await scaler.tick()
      const d = (await scaler.scaling('orders')).decisions[0]
      expect(d.desired).toBeGreaterThanOrEqual(3)
      expect(d.desired).toBeLessThanOrEqual(4)
      expect(d.evidence.capacity).toMatchObject({ learned: true, source: 'knee' })
      expect(d.evidence.capacity!.windows).toBeGreaterThanOrEqual(30)
      expect(d.reason).toMatch(/capacity learned from \d+ windows: latency or errors rise past/)
      // the initial capacity never asked for more than one replica: every change came after learning
      const changes = actions.filter((a) => a.kind === 'scale.replicas')
      expect(changes.length).toBeGreaterThan(0)
      expect(changes.every((a) => /capacity learned from/.test(a.reason))).toBe(true)
    } finally {
      await scaler.stop()
    }
  })

  it('a restarted autoscaler goes on from the evidence it saved, not from initial', async () => {
    const saved = new Map<string, unknown>()
    const state: CapacityStateStore = {
      load: async () => [...saved].map(([service, data]) => ({ service, data })),
      save: async (service, data) => void saved.set(service, structuredClone(data)),
    }
    const clock = { t: 1_000_000, rate: 10 }
    const first = learner(clock, { state })
    await first.start()
    for (let i = 0; i < 140; i++) {
      clock.rate = 10 + (70 * (i % 70)) / 69
      clock.t += 1_000
      await first.tick()
    }
    // the newest estimate (the one in use is kept while within 5 % of it)
    const learned = (await first.scaling('orders')).capacity!.estimate!
    await first.stop() // saves what it holds
    expect(learned).toBeLessThan(40)
    const windows = (saved.get('orders') as SavedCapacity).windows.length
    expect(windows).toBeGreaterThanOrEqual(100)

    clock.t += 60_000
    const second = learner(clock, { state })
    await second.start()
    try {
      const s = await second.scaling('orders')
      expect(s.capacityPerReplica).toBeCloseTo(learned, 6)
      expect(s.capacity).toMatchObject({ learned: true, source: 'knee', windows })
      expect(s.capacityRestored).toMatchObject({ windows })
    } finally {
      await second.stop()
    }

    // a day later the evidence has aged out: initial again
    clock.t += 86_400_000
    const third = learner(clock, { state })
    await third.start()
    expect((await third.scaling('orders')).capacity).toMatchObject({ source: 'initial', windows: 0 })
    await third.stop()
  })

  it('discards evidence judged on another latency quantile or learned on other replicas, and says why', async () => {
    const clock = { t: 1_000_000, rate: 10 }
    const windows: SavedCapacity['windows'] = []
    for (let i = 0; i < 100; i++) windows.push([clock.t - 100_000 + i * 1_000, 5 + i / 3, 40, 0, 100])
    const entry = (over: Partial<SavedCapacity>) => ({
      service: 'orders',
      data: {
        version: 1,
        quantile: 'p95',
        replica: 'configured targets',
        savedMs: clock.t,
        windows,
        ...over,
      },
    })
    const errors: string[] = []
    for (const [over, why] of [
      [{ quantile: 'p99' }, /learned on p99, now judged on p95/],
      [{ replica: '["process",["other"],{}]' }, /another command, image or Deployment/],
      [{ windows: [[1, 2, 3]] }, /malformed/],
      [{ version: 7 }, /not capacity evidence/],
    ] as const) {
      errors.length = 0
      const state: CapacityStateStore = {
        load: async () => [entry(over as Partial<SavedCapacity>)],
        save: async () => {},
      }
      const scaler = learner(clock, { state, onError: (m) => errors.push(m) })
      await scaler.start()
      expect((await scaler.scaling('orders')).capacity?.windows).toBe(0)
      expect(errors.join('\n')).toMatch(why)
      await scaler.stop()
    }
    // the same evidence, matching: kept
    const scaler = learner(clock, { state: { load: async () => [entry({})], save: async () => {} } })
    await scaler.start()
    expect((await scaler.scaling('orders')).capacity?.windows).toBe(100)
    await scaler.stop()
  })

  it('a store that fails to load or save costs the evidence, not the autoscaler', async () => {
    const errors: string[] = []
    const clock = { t: 1_000_000, rate: 20 }
    const scaler = learner(clock, {
      state: {
        load: async () => Promise.reject(new Error('database is down')),
        save: async () => Promise.reject(new Error('fenced')),
      },
      onError: (m) => errors.push(m),
    })
    await scaler.start()
    for (let i = 0; i < 15; i++) {
      clock.t += 1_000
      await scaler.tick()
    }
    await scaler.stop()
    expect((await scaler.scaling('orders')).capacity?.windows).toBeGreaterThan(10)
    expect(errors).toContain('database is down')
    expect(errors.filter((m) => m === 'fenced').length).toBeGreaterThanOrEqual(2)
  })

  it('feeds no window in which the pool changed, and each window once', async () => {
    let t = 1_000_000
    let targets = 2
    const scaler = new Autoscaler({
      services: {
        orders: scaleSchema.parse({ min: 1, max: 5, capacityPerReplica: { learn: true, initial: 50 } }),
      },
      actuatorFor: () => null,
      configuredTargets: () => targets,
      windowMs: 1_000,
      // the same window (start t - 2 s rounded to a second) until the clock moves a whole window
      observe: async () => ({
        atMs: Math.floor((t - 2_000) / 1_000) * 1_000,
        ratePerSec: 20,
        requests: 200,
        p95: 30,
      }),
      forecast: async () => null,
      record: async () => ({ id: '1', result: { status: 'shadow' } }),
      settle: async () => undefined,
      now: () => t,
    })
    await scaler.start()
    try {
      await scaler.tick() // first look at the pool: the window before it is not evidence
      expect((await scaler.scaling('orders')).capacity?.windows).toBe(0)
      t += 2_000
      await scaler.tick()
      await scaler.tick() // the same window again
      expect((await scaler.scaling('orders')).capacity?.windows).toBe(1)
      targets = 3 // the pool changed: windows that started before this look are skipped
      t += 1_000
      await scaler.tick()
      expect((await scaler.scaling('orders')).capacity?.windows).toBe(1)
      t += 2_000
      await scaler.tick()
      expect((await scaler.scaling('orders')).capacity?.windows).toBe(2)
    } finally {
      await scaler.stop()
    }
  })
})

describe('Autoscaler: leadership', () => {
  it('standing by it starts nothing and raises nothing; once leading it brings the service to min without waiting for load', async () => {
    const pool: string[][] = []
    const actuator = serverReplicas(pool)
    const leader = { value: false }
    // no capacityPerReplica: no policy, so nothing but `min` starts a replica
    const h = harness(actuator, pool, { value: 0 }, { capacityPerReplica: undefined }, () => leader.value)
    try {
      await h.scaler.start()
      await h.scaler.tick()
      expect(await actuator.current('orders')).toBe(0)
      expect(h.failures).toEqual([])
      expect(h.actions).toEqual([])
      leader.value = true
      await h.scaler.tick()
      expect(await actuator.current('orders')).toBe(1)
      expect(pool.at(-1)).toHaveLength(1)
      expect(h.actions.map((a) => [a.kind, a.after, a.status, a.reason])).toEqual([
        ['scale.replicas', 1, 'ok', 'below min 1 (0 running)'],
      ])
      expect(h.failures).toEqual([])
    } finally {
      await h.scaler.stop()
      await actuator.close()
    }
  })
})

/** The `orders` scale block of {@link clocked}: enforced, 1..10 replicas of 100 req/s at 80 %. */
function clockedScale(over: Record<string, unknown>) {
  return scaleSchema.parse({
    mode: 'enforce',
    min: 1,
    max: 10,
    capacityPerReplica: 100,
    targetUtilization: 0.8,
    leadTimeMs: 60_000,
    scaleDownStabilizationMs: 600_000,
    ...over,
  })
}

/**
 * The autoscaler on a manual clock: tick k closes window k (the clock at its end), as the control
 * plane does. `points` are the service's merged windows as the control plane's ring holds them
 * (observe answers the newest); a window with none is idle once closed. With `history`, the
 * autoscaler reads its stored windows from `points` (or the store fails with that error); with
 * `errors`, what it logs is collected there instead of failing the test.
 */
function clocked(
  t0: number,
  /** replicas running when it starts */
  running: number,
  scale: Record<string, unknown>,
  o: {
    leading?: () => boolean
    history?: true | Error
    errors?: string[]
    /** the control plane's closedUpTo (default: the clock) */
    closed?: () => number
    /** the action log's manual scales (lastManual answers the newest since its argument) */
    manual?: { count: number; atMs: number; reason: string }[] | Error
    /** awaited by each read of the stored windows before it answers */
    reading?: () => Promise<void>
  } = {},
) {
  const W = 60_000
  const clock = { t: t0 }
  const actuator = new RecordingActuator(running, clock)
  const points = new Map<number, number>()
  const actions: ScaleActionInput[] = []
  const scaler = new Autoscaler({
    services: { orders: clockedScale(scale) },
    actuatorFor: () => actuator,
    windowMs: W,
    now: () => clock.t,
    observe: async () => {
      if (o.leading?.() === false || points.size === 0) return null
      const atMs = Math.max(...points.keys())
      return { atMs, ratePerSec: points.get(atMs)! }
    },
    closedUpTo: async () => (o.leading?.() === false ? -Infinity : (o.closed?.() ?? clock.t)),
    ...(o.history === undefined
      ? {}
      : {
          history: async (_service: string, fromMs: number, toMs: number) => {
            await o.reading?.()
            if (o.history instanceof Error) throw o.history
            return [...points.entries()]
              .filter(([atMs]) => atMs >= fromMs && atMs < toMs)
              .sort((a, b) => a[0] - b[0])
              .map(([atMs, ratePerSec]): Observation => ({ atMs, ratePerSec }))
          },
        }),
    forecast: async () => null,
    ...(o.manual === undefined
      ? {}
      : {
          lastManual: async (_service: string, sinceMs: number) => {
            if (o.manual instanceof Error) throw o.manual
            return (
              (o.manual ?? []).filter((m) => m.atMs >= sinceMs).sort((a, b) => b.atMs - a.atMs)[0] ?? null
            )
          },
        }),
    ...(o.leading !== undefined ? { leading: o.leading } : {}),
    record: async (input) => {
      if (o.leading?.() === false) throw VGL_ERR_CONTROL_NOT_LEADER('another control plane leads')
      actions.push(input)
      return { id: String(actions.length), result: { status: 'pending' } }
    },
    settle: async () => {},
    onError: (err, what) => {
      if (o.errors === undefined) throw err
      o.errors.push(`${what}: ${err.message}`)
    },
  })
  /** closes window k (the clock at its end) and ticks */
  const close = async (k: number) => {
    clock.t = t0 + (k + 1) * W
    await scaler.tick()
  }
  return { scaler, points, actions, W, close, clock, actuator }
}

describe('Autoscaler after a restart or a takeover', () => {
  const T0 = 1_780_000_000_000

  it('an idle service with replicas already running keeps them until a whole stabilisation window of demand was seen', async () => {
    // three replicas running (a Docker or Kubernetes actuator reports them; nothing adopted), no requests
    const { scaler, W, close, actuator } = clocked(T0, 3, {})
    await scaler.start()
    try {
      for (let k = 0; k < 9; k++) {
        await close(k)
      }
      expect(actuator.calls).toEqual([])
      const s = await scaler.scaling('orders')
      expect(s.current).toBe(3)
      expect(s.decisions).toHaveLength(9)
      expect(s.decisions.every((d) => d.desired === 3 && d.driver === 'stabilization')).toBe(true)
      expect(s.decisions[8].reason).toMatch(
        /^holding 3: 1 min of 10 min of demand seen since this control plane started leading \(a scale-down below the 3 running then waits for a whole stabilisation window\); without it: scale down 3 → 1/,
      )
      expect(s.decisions[0].reason).toMatch(/^holding 3: 9 min of 10 min/)
      expect(s.decisions[0].evidence.startup).toEqual({ seenMs: 540_000, neededMs: 600_000, count: 3 })
      // the tenth idle window completes the stabilisation window: down to min
      await close(9)
      expect(actuator.calls).toEqual([{ atMs: T0 + 10 * W, replicas: 1 }])
      expect((await scaler.scaling('orders')).decisions[0].evidence.startup).toBeUndefined()
    } finally {
      await scaler.stop()
    }
  })

  it('scales up at once while holding, and the hold never raises a count nor outlives min, max or an operator', async () => {
    const h = clocked(T0, 3, {})
    const { actuator } = h
    await h.scaler.start()
    try {
      // 500 req/s in the first window: 7 replicas at 80 req/s each, at once
      h.points.set(T0, 500)
      await h.close(0)
      expect(actuator.calls).toEqual([{ atMs: T0 + h.W, replicas: 7 }])
    } finally {
      await h.scaler.stop()
    }

    // idle, an operator takes it to 2: the hold (of the 3 running at start) does not bring it back
    // up, the operator's own hold applies
    const h1 = clocked(T0, 3, {})
    const { actuator: idle } = h1
    await h1.scaler.start()
    try {
      expect(await h1.scaler.scale('orders', 2, 'cost')).toMatchObject({ status: 'ok', after: 2 })
      await h1.close(0)
      expect(idle.count).toBe(2)
      expect((await h1.scaler.scaling('orders')).decisions[0].reason).toMatch(/^held at 2 by a manual scale/)
    } finally {
      await h1.scaler.stop()
    }

    // max lowered below what runs: down to max at once, no further while holding
    const h2 = clocked(T0, 5, { max: 4 })
    const { actuator: more } = h2
    await h2.scaler.start()
    try {
      await h2.close(0)
      expect(more.calls).toEqual([{ atMs: T0 + h2.W, replicas: 4 }])
      expect((await h2.scaler.scaling('orders')).decisions[0].reason).toMatch(/^holding 4: 1 min of 10 min/)
    } finally {
      await h2.scaler.stop()
    }
  })

  it('a standby that takes over counts the replicas again and holds them for a window of its own', async () => {
    let leads = false
    const h = clocked(T0, 2, {}, { leading: () => leads })
    const { clock, actuator } = h
    await h.scaler.start()
    try {
      // the leader runs its course for an hour while this one stands by; it ends on 4 replicas
      for (let k = 0; k < 60; k++) {
        await h.close(k)
      }
      actuator.count = 4
      expect((await h.scaler.scaling('orders')).decisions).toEqual([])
      // elected on an idle service
      leads = true
      for (let k = 60; k < 69; k++) {
        await h.close(k)
      }
      expect(actuator.calls).toEqual([])
      const s = await h.scaler.scaling('orders')
      expect(s.current).toBe(4)
      expect(s.decisions[0]).toMatchObject({ current: 4, desired: 4, driver: 'stabilization' })
      expect(s.decisions[0].reason).toMatch(
        /^holding 4: 9 min of 10 min of demand seen since this control plane/,
      )
      await h.close(69)
      expect(actuator.calls).toEqual([{ atMs: T0 + 70 * h.W, replicas: 1 }])

      // deposed, then elected again: a new term, a new hold
      leads = false
      clock.t += h.W
      await h.scaler.tick()
      actuator.count = 3
      leads = true
      clock.t += h.W
      await h.scaler.tick()
      expect(actuator.calls).toHaveLength(1)
      expect((await h.scaler.scaling('orders')).decisions[0].reason).toMatch(/^holding 3: 1 min of 10 min/)
    } finally {
      await h.scaler.stop()
    }
  })

  it("a replay begun in one term and ended after the lease was lost and won again leaves the new term's first decision to replay anew", async () => {
    let leads = true
    const reads: ReturnType<typeof deferred>[] = []
    const h = clocked(
      T0,
      4,
      {},
      {
        leading: () => leads,
        history: true,
        reading: () => {
          const read = deferred()
          reads.push(read)
          return read.promise
        },
      },
    )
    for (let k = 0; k < 5; k++) h.points.set(T0 + k * h.W, 50)
    await h.scaler.start()
    try {
      // the term's first decision reads the stored windows; the read is slow
      h.clock.t = T0 + 5 * h.W
      const first = h.scaler.tick()
      await vi.waitFor(() => expect(reads).toHaveLength(1))
      // meanwhile the lease is lost, then won again: a new term begins while the replay waits
      leads = false
      h.clock.t += 1_000
      await h.scaler.tick()
      leads = true
      h.clock.t += 1_000
      await h.scaler.tick()
      reads[0].resolve()
      await first
      // the old term's replay closed nothing: no decision was made on it
      let s = await h.scaler.scaling('orders')
      expect(s.decisions).toEqual([])
      expect(h.actuator.calls).toEqual([])
      // the new term's first decision replays the stored windows itself
      h.clock.t = T0 + 6 * h.W
      const second = h.scaler.tick()
      await vi.waitFor(() => expect(reads).toHaveLength(2))
      reads[1].resolve()
      await second
      s = await h.scaler.scaling('orders')
      expect(s.decisions).toHaveLength(1)
      expect(s.replayed).toMatchObject({ windows: 5 })
      expect(h.actuator.calls).toEqual([])
    } finally {
      for (const r of reads) r.resolve()
      await h.scaler.stop()
    }
  })

  it('a roll-up that lands after its window was decided on as idle holds the scale-down, counted once', async () => {
    const h = clocked(T0, 4, {})
    const { actuator } = h
    await h.scaler.start()
    try {
      // 300 req/s (4 replicas at 80 req/s) for 15 windows, then nobody calls
      for (let k = 0; k < 15; k++) {
        h.points.set(T0 + k * h.W, 300)
        await h.close(k)
      }
      for (let k = 15; k < 21; k++) await h.close(k)
      expect(actuator.calls).toEqual([])
      // window 18 was decided on as idle; a gateway's roll-up for it comes now: 300 req/s again
      h.points.set(T0 + 18 * h.W, 300)
      for (let k = 21; k < 28; k++) await h.close(k)
      // without it the last busy window (14) would have left the stabilisation window at window 24
      expect(actuator.calls).toEqual([])
      const d = (await h.scaler.scaling('orders')).decisions[0]
      expect(d).toMatchObject({ current: 4, desired: 4, driver: 'stabilization' })
      expect(d.evidence.windowNeed).toBe(4)
      // it stays the newest window the control plane holds, and is not counted again: the window
      // decided on at the end of window 18 leaves the stabilisation window ten windows later
      await h.close(28)
      expect(actuator.calls).toEqual([{ atMs: T0 + 29 * h.W, replicas: 1 }])
    } finally {
      await h.scaler.stop()
    }
  })
})

describe('Autoscaler replaying the stored windows when its term begins', () => {
  const T0 = 1_780_000_000_000
  const MIN = 60_000
  /** `rate` req/s stored for windows `from`..`to` (window indices relative to T0, inclusive) */
  const store = (points: Map<number, number>, from: number, to: number, rate: number) => {
    for (let k = from; k <= to; k++) points.set(T0 + k * MIN, rate)
  }
  const stab = { scaleDownStabilizationMs: 1_800_000 }

  it('a restart on a service whose stored windows show 30 min of low demand scales down at its first decision', async () => {
    const h = clocked(T0, 3, stab, { history: true })
    // 50 req/s (one replica at 80 req/s each) throughout the last half hour before the restart
    store(h.points, -30, -1, 50)
    await h.scaler.start()
    try {
      h.points.set(T0, 50)
      await h.close(0)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + MIN, replicas: 1 }])
      const s = await h.scaler.scaling('orders')
      expect(s.decisions).toHaveLength(1)
      expect(s.decisions[0].evidence.startup).toBeUndefined()
      expect(s.replayed).toEqual({
        windows: 30,
        idle: 0,
        fromMs: T0 - 30 * MIN,
        toMs: T0,
        seenFromMs: T0 - 30 * MIN,
        tookMs: expect.any(Number),
      })
    } finally {
      await h.scaler.stop()
    }

    // only 10 min stored (a service first called then): they count, the rest is waited for live
    const short = clocked(T0, 3, stab, { history: true })
    store(short.points, -10, -1, 50)
    await short.scaler.start()
    try {
      for (let k = 0; k < 19; k++) {
        short.points.set(T0 + k * MIN, 50)
        await short.close(k)
      }
      expect(short.actuator.calls).toEqual([])
      expect((await short.scaler.scaling('orders')).decisions[0].reason).toMatch(
        /^holding 3: 29 min of 30 min of demand seen \(10 min of it in the stored windows before\) since this control plane started leading/,
      )
      short.points.set(T0 + 19 * MIN, 50)
      await short.close(19)
      expect(short.actuator.calls).toEqual([{ atMs: T0 + 20 * MIN, replicas: 1 }])
    } finally {
      await short.scaler.stop()
    }
  })

  it("an operator's manual scale before the restart still holds its count until its stabilisation window ends", async () => {
    // 30 min of low demand stored, and an operator scaled to 3 ten minutes before the restart
    // (an older manual scale, 40 min before, is past its window and holds nothing)
    const manual = [
      { count: 3, atMs: T0 - 10 * MIN, reason: 'launch at 10:00' },
      { count: 5, atMs: T0 - 40 * MIN, reason: 'older' },
    ]
    const h = clocked(T0, 3, stab, { history: true, manual })
    store(h.points, -30, -1, 50)
    await h.scaler.start()
    try {
      for (let k = 0; k < 19; k++) {
        h.points.set(T0 + k * MIN, 50)
        await h.close(k)
      }
      expect(h.actuator.calls).toEqual([])
      expect((await h.scaler.scaling('orders')).decisions[0].reason).toMatch(
        /^held at 3 by a manual scale \("launch at 10:00"\) until /,
      )
      // the hold ends 30 min after the manual scale, at T0 + 20 min
      h.points.set(T0 + 19 * MIN, 50)
      await h.close(19)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + 20 * MIN, replicas: 1 }])
    } finally {
      await h.scaler.stop()
    }

    // the action log unreadable: logged once, no hold restored
    const errors: string[] = []
    const bad = clocked(T0, 3, stab, { history: true, manual: new Error('store down'), errors })
    store(bad.points, -30, -1, 50)
    await bad.scaler.start()
    try {
      bad.points.set(T0, 50)
      await bad.close(0)
      expect(bad.actuator.calls).toEqual([{ atMs: T0 + MIN, replicas: 1 }])
      expect(errors.filter((e) => /last manual scale not read/.test(e))).toHaveLength(1)
    } finally {
      await bad.scaler.stop()
    }
  })

  it('a burst stored 10 min before the restart holds its replicas until the burst is 30 min old, not 30 min from the restart', async () => {
    const h = clocked(T0, 4, stab, { history: true })
    store(h.points, -40, -1, 50)
    // 300 req/s: 4 replicas at 80 req/s each, in the window that started 10 min before the restart
    h.points.set(T0 - 10 * MIN, 300)
    await h.scaler.start()
    try {
      for (let k = 0; k < 20; k++) {
        h.points.set(T0 + k * MIN, 50)
        await h.close(k)
      }
      expect(h.actuator.calls).toEqual([])
      const d = (await h.scaler.scaling('orders')).decisions[0]
      expect(d).toMatchObject({ current: 4, desired: 4, driver: 'stabilization' })
      // the policy's own stabilisation window holds it (the burst's need), not the start-up hold
      expect(d.evidence.windowNeed).toBe(4)
      expect(d.evidence.startup).toBeUndefined()
      // the burst's window was decided on a window after it ended, as the live ones are: 30 min
      // after that, the first decision without it scales down
      h.points.set(T0 + 20 * MIN, 50)
      await h.close(20)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + 21 * MIN, replicas: 1 }])
    } finally {
      await h.scaler.stop()
    }
  })

  it('a store that fails to answer costs the replay, not the hold: logged once, the replicas held for a window of live demand', async () => {
    const errors: string[] = []
    const h = clocked(T0, 3, {}, { history: new Error('connection refused'), errors })
    store(h.points, -30, -1, 50)
    await h.scaler.start()
    try {
      for (let k = 0; k < 9; k++) {
        h.points.set(T0 + k * MIN, 50)
        await h.close(k)
      }
      expect(h.actuator.calls).toEqual([])
      expect(errors).toEqual([
        'autoscale orders: stored windows not read; scale-downs below the replicas running wait for a stabilisation window of live windows: connection refused',
      ])
      const s = await h.scaler.scaling('orders')
      expect(s.replayed).toBeNull()
      expect(s.decisions[0].reason).toMatch(/^holding 3: 9 min of 10 min/)
      h.points.set(T0 + 9 * MIN, 50)
      await h.close(9)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + 10 * MIN, replicas: 1 }])
      expect(errors).toHaveLength(1)
    } finally {
      await h.scaler.stop()
    }

    // a service the store holds no window of (new, never called): the hold, and nothing logged
    const fresh = clocked(T0, 3, {}, { history: true, errors })
    await fresh.scaler.start()
    try {
      fresh.points.set(T0, 50)
      await fresh.close(0)
      expect(fresh.actuator.calls).toEqual([])
      expect((await fresh.scaler.scaling('orders')).decisions[0].reason).toMatch(
        /^holding 3: 1 min of 10 min/,
      )
      expect(errors).toHaveLength(1)
    } finally {
      await fresh.scaler.stop()
    }
  })

  it('the replay only decides: nothing recorded, nothing started or stopped, no decision shown, current as the actuator reports', async () => {
    const h = clocked(T0, 2, stab, { history: true })
    // an hour ago 600 req/s (8 replicas) for 10 min, then 50 req/s: replayed, the policy would
    // have scaled to 8 and back
    store(h.points, -60, -51, 600)
    store(h.points, -50, -1, 50)
    await h.scaler.start()
    try {
      h.points.set(T0, 50)
      await h.close(0)
      expect(h.actions).toHaveLength(1)
      expect(h.actions[0]).toMatchObject({ kind: 'scale.replicas', before: 2, after: 1 })
      expect(h.actuator.calls).toEqual([{ atMs: T0 + MIN, replicas: 1 }])
      const s = await h.scaler.scaling('orders')
      expect(s.decisions).toHaveLength(1)
      expect(s.decisions[0]).toMatchObject({ atMs: T0 + MIN, current: 2, desired: 1 })
      expect(s.replayed).toMatchObject({ windows: 60, fromMs: T0 - 60 * MIN })
      expect(s.current).toBe(1)
    } finally {
      await h.scaler.stop()
    }
  })

  it('a window the store has none of is idle once the control plane closed it, and a gap (held back after a takeover) until then', async () => {
    // a burst 35 min ago, then nobody called: the store has no window of the last 20 minutes
    const idle = clocked(T0, 4, stab, { history: true })
    store(idle.points, -40, -21, 50)
    idle.points.set(T0 - 35 * MIN, 300)
    await idle.scaler.start()
    try {
      await idle.close(0)
      expect(idle.actuator.calls).toEqual([{ atMs: T0 + MIN, replicas: 1 }])
      expect((await idle.scaler.scaling('orders')).replayed).toMatchObject({ windows: 40, idle: 20 })
    } finally {
      await idle.scaler.stop()
    }

    // the same store while the windows since the burst are not closed yet (the control plane
    // waits for a dead leader's roll-ups): those windows are not evidence; the hold counts from
    // the first live window, as without a replay
    let closed = T0 - 20 * MIN
    const held = clocked(T0, 4, stab, { history: true, closed: () => closed })
    store(held.points, -40, -21, 50)
    held.points.set(T0 - 35 * MIN, 300)
    held.points.set(T0, 0)
    await held.scaler.start()
    try {
      await held.close(0)
      closed = Infinity
      expect(held.actuator.calls).toEqual([])
      const s = await held.scaler.scaling('orders')
      expect(s.replayed).toMatchObject({ windows: 20, idle: 0, seenFromMs: T0 })
      expect(s.decisions[0].reason).toMatch(/^holding 4: 1 min of 30 min/)
    } finally {
      await held.scaler.stop()
    }
  })
})

/** Each of `names` enforced: 1..20 replicas of 100 req/s at 80 %, a minute's lead time. */
const enforced = (names: readonly string[], scale: Record<string, unknown> = {}) =>
  Object.fromEntries(
    names.map((n) => [
      n,
      scaleSchema.parse({
        mode: 'enforce',
        min: 1,
        max: 20,
        capacityPerReplica: 100,
        targetUtilization: 0.8,
        leadTimeMs: 60_000,
        ...scale,
      }),
    ]),
  )

/** a promise settled from outside: an actuator call that ends when the test says */
function deferred() {
  let resolve = () => {}
  const promise = new Promise<void>((r) => (resolve = r))
  return { promise, resolve }
}

/**
 * Makes the actuator's scale calls end only once `boot.resolve()` is called: a new replica
 * waiting for its health check.
 */
function booting(a: RecordingActuator) {
  const boot = deferred()
  const scaleTo = a.scaleTo
  a.scaleTo = async (service, replicas) => {
    const r = await scaleTo(service, replicas)
    await boot.promise
    return r
  }
  return boot
}

/** the promise's value, or 'pending' if it has not settled within `ms` */
const within = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms))])

describe("Autoscaler: a term's replays and another service's scale-up", () => {
  const T0 = 1_780_000_000_000
  const W = 60_000

  /**
   * Twelve services on a manual clock, two replicas each, with 30 min of `stored` req/s stored
   * (each replays them at its term's first decision): what happens, in order, goes to `events`
   * (`history S`: S's replay begins; `forecast S`: S's decision after it; `scale S N`: the
   * actuator asked for N replicas of S). `rates` is each service's newest window (default `stored`);
   * a service in `o.quiet` sent none; `o.closed` is the control plane's closedUpTo (default the clock);
   * reading a service's newest window waits for `o.read` (default at once).
   */
  function fleet(
    scale: Record<string, unknown> = {},
    rates: Record<string, number> = {},
    stored = 50,
    o: {
      closed?: () => number
      quiet?: Set<string>
      read?: (n: string) => Promise<void>
      replay?: (n: string) => Promise<void>
    } = {},
  ) {
    const names = Array.from({ length: 12 }, (_, i) => `svc${i}`)
    const clock = { t: T0 }
    const events: string[] = []
    const actions: ScaleActionInput[] = []
    const actuators = new Map(
      names.map((n) => {
        const a = new RecordingActuator(2, clock)
        const scaleTo = a.scaleTo
        a.scaleTo = async (service, replicas) => {
          events.push(`scale ${service} ${replicas}`)
          return scaleTo(service, replicas)
        }
        return [n, a]
      }),
    )
    const scaler = new Autoscaler({
      services: enforced(names, { scaleDownStabilizationMs: 1_800_000, ...scale }),
      actuatorFor: (n) => actuators.get(n) ?? null,
      windowMs: W,
      now: () => clock.t,
      observe: async (n) => {
        await o.read?.(n)
        return o.quiet?.has(n) ? null : { atMs: clock.t - W, ratePerSec: rates[n] ?? stored }
      },
      closedUpTo: async () => o.closed?.() ?? clock.t,
      history: async (n, fromMs, toMs) => {
        events.push(`history ${n}`)
        await o.replay?.(n)
        const out: Observation[] = []
        for (let at = T0 - 30 * W; at < T0; at += W)
          if (at >= fromMs && at < toMs) out.push({ atMs: at, ratePerSec: stored })
        return out
      },
      forecast: async (n) => {
        events.push(`forecast ${n}`)
        return null
      },
      record: async (input) => {
        actions.push(input)
        return { id: String(actions.length), result: { status: 'pending' } }
      },
      settle: async () => {},
      onError: (err) => {
        throw err
      },
    })
    /** closes window k (the clock at its end) and ticks */
    const close = async (k: number) => {
      clock.t = T0 + (k + 1) * W
      await scaler.tick()
    }
    return { scaler, names, events, actions, actuators, close }
  }

  it('a service whose newest window is far over its replicas scales up before any service replays its stored windows', async () => {
    // the last service decided on gets 900 req/s: 12 replicas at 80 req/s each, 2 running
    const h = fleet({}, { svc11: 900 })
    await h.scaler.start()
    try {
      await h.close(0)
      const up = h.events.indexOf('scale svc11 12')
      expect(up).toBeGreaterThanOrEqual(0)
      expect(h.events.slice(0, up).filter((e) => e.startsWith('history'))).toEqual([])
      // recorded as the observed load's scale-up is, saying why it came before the replay
      const first = h.actions.find((a) => a.target === 'service:svc11')!
      expect(first).toMatchObject({
        kind: 'scale.replicas',
        policy: 'autoscale',
        mode: 'enforce',
        before: 2,
        after: 12,
      })
      expect(first.reason).toMatch(
        /^scale up 2 → 12: the observed load needs 12 \(observed 900 req\/s; .*\); at once, before the stored windows are replayed/,
      )
      // every service still replayed and decided on the window: the others scale down on the
      // 30 min of low demand replayed, the hot one keeps its 12 (no second call for the window)
      for (const n of h.names) {
        const s = await h.scaler.scaling(n)
        expect(s.replayed).toMatchObject({ windows: 30 })
        expect(s.current).toBe(n === 'svc11' ? 12 : 1)
      }
      expect(h.actuators.get('svc11')!.calls).toHaveLength(1)
      const hot = await h.scaler.scaling('svc11')
      expect(hot.decisions.map((d) => [d.current, d.desired])).toEqual([
        [12, 12],
        [2, 12],
      ])
      // a service whose load fits acts only after its own replay
      expect(h.events.indexOf('scale svc0 1')).toBeGreaterThan(h.events.indexOf('history svc0'))
      // the next tick replays nothing again
      const seen = h.events.length
      await h.close(1)
      expect(h.events.slice(seen).filter((e) => e.startsWith('history'))).toEqual([])
    } finally {
      await h.scaler.stop()
    }
  })

  it('the early scale-up and the decision after the replay add at most maxStepUp in the window together', async () => {
    const h = fleet({ maxStepUp: 4 }, { svc11: 900 })
    await h.scaler.start()
    try {
      await h.close(0)
      expect(h.actuators.get('svc11')!.calls.map((c) => c.replicas)).toEqual([6])
      expect(h.events.indexOf('scale svc11 6')).toBeLessThan(h.events.indexOf('history svc0'))
      expect((await h.scaler.scaling('svc11')).decisions[0]).toMatchObject({ current: 6, desired: 6 })
      // the next windows go on a step at a time
      await h.close(1)
      await h.close(2)
      const counts = [2, ...h.actuators.get('svc11')!.calls.map((c) => c.replicas)]
      expect(counts.at(-1)).toBeGreaterThanOrEqual(12)
      for (let i = 1; i < counts.length; i++) expect(counts[i] - counts[i - 1]).toBeLessThanOrEqual(4)
    } finally {
      await h.scaler.stop()
    }

    // 400 req/s stored (5 replicas at 80 req/s) while 2 run: the replayed policy asks for 4 more
    // than the 6 the early scale-up reached; the window already had its step
    const busy = fleet({ maxStepUp: 4 }, { svc11: 900 }, 400)
    await busy.scaler.start()
    try {
      await busy.close(0)
      expect(busy.actuators.get('svc11')!.calls.map((c) => c.replicas)).toEqual([6])
      const d = (await busy.scaler.scaling('svc11')).decisions[0]
      expect(d).toMatchObject({ current: 6, desired: 6, direction: 'hold', driver: 'step' })
      expect(d.reason).toMatch(
        /^hold 6: bounded by the step limit \(maxStepUp 4\), of which the scale-up before the replay took 2 → 6 in this window; without it: scale up 6 → (9|10)/,
      )
      await busy.close(1)
      expect(busy.actuators.get('svc11')!.calls.map((c) => c.replicas)).toEqual([6, 10])
    } finally {
      await h.scaler.stop()
    }
  })

  it('says which service replays its stored windows and which wait for it', async () => {
    let release = () => {}
    const held = new Promise<void>((r) => (release = r))
    const h = fleet({}, {}, 50, { replay: (n) => (n === 'svc0' ? held : Promise.resolve()) })
    await h.scaler.start()
    try {
      const ticking = h.close(0)
      const since = performance.now()
      const doing = async (n: string) => (await h.scaler.scaling(n)).inFlight?.doing
      while ((await doing('svc0')) !== 'replaying' && performance.now() - since < 3_000)
        await new Promise((r) => setTimeout(r, 5))
      expect(await h.scaler.scaling('svc0')).toMatchObject({
        inFlight: { sinceMs: T0 + W, doing: 'replaying', to: null },
      })
      // replays come one at a time: the others wait behind svc0's
      expect(await doing('svc1')).toBe('waiting to replay')
      release()
      await ticking
      expect((await h.scaler.scaling('svc1')).inFlight).toBeNull()
    } finally {
      release()
      await h.scaler.stop()
    }
  })

  it("a scale-up whose replicas boot holds up neither the other services' replays nor their decisions", async () => {
    const h = fleet({}, { svc11: 900 })
    const hot = h.actuators.get('svc11')!
    const boot = booting(hot)
    await h.scaler.start()
    try {
      const ticking = h.close(0)
      const others = h.names.filter((n) => n !== 'svc11')
      const decided = async () =>
        (await Promise.all(others.map((n) => h.scaler.scaling(n)))).every(
          (s) => s.current === 1 && s.replayed?.windows === 30,
        )
      const since = performance.now()
      while (!(await decided()) && performance.now() - since < 3_000)
        await new Promise((r) => setTimeout(r, 5))
      expect(await decided()).toBe(true)
      expect(await within(ticking, 50)).toBe('pending')
      // the early scale-up still came before any replay, and the booting service replays after it
      expect(h.events.indexOf('scale svc11 12')).toBeLessThan(h.events.indexOf('history svc0'))
      expect(h.events).not.toContain('history svc11')
      expect((await h.scaler.scaling('svc11')).inFlight).toMatchObject({
        sinceMs: T0 + W,
        skippedTicks: 0,
        doing: 'scaling',
        to: 12,
      })
      boot.resolve()
      await ticking
      expect((await h.scaler.scaling('svc11')).replayed).toMatchObject({ windows: 30 })
      expect(hot.calls.map((c) => c.replicas)).toEqual([12])
    } finally {
      boot.resolve()
      await h.scaler.stop()
    }
  })

  it('a read that hangs on one service holds the replays of the others for a second at most', async () => {
    const hung = deferred()
    const h = fleet({}, {}, 50, { read: (n) => (n === 'svc11' ? hung.promise : Promise.resolve()) })
    await h.scaler.start()
    try {
      const started = performance.now()
      const ticking = h.close(0)
      const others = h.names.filter((n) => n !== 'svc11')
      const decided = async () =>
        (await Promise.all(others.map((n) => h.scaler.scaling(n)))).every((s) => s.current === 1)
      while (!(await decided()) && performance.now() - started < 5_000)
        await new Promise((r) => setTimeout(r, 10))
      expect(await decided()).toBe(true)
      expect(performance.now() - started).toBeLessThan(2_500)
      expect(await within(ticking, 0)).toBe('pending')
      hung.resolve()
      await ticking
      expect((await h.scaler.scaling('svc11')).replayed).toMatchObject({ windows: 30 })
    } finally {
      hung.resolve()
      await h.scaler.stop()
    }
  })

  it('a service first decided on a tick later replays after the services past their replay decided', async () => {
    // after a takeover the windows are held back (none closed) and svc0 has sent no roll-up yet
    let closed = -Infinity
    const rates: Record<string, number> = {}
    const h = fleet({}, rates, 50, { closed: () => closed, quiet: new Set(['svc0']) })
    await h.scaler.start()
    try {
      await h.close(0)
      expect(h.events.filter((e) => e.startsWith('history'))).toEqual(
        h.names.slice(1).map((n) => `history ${n}`),
      )
      // the next window: closed, so svc0's is idle and it replays now; svc11 gets 900 req/s
      closed = T0 + 2 * W
      rates.svc11 = 900
      const seen = h.events.length
      await h.close(1)
      const tick = h.events.slice(seen)
      const up = tick.findIndex((e) => e.startsWith('scale svc11'))
      expect(up).toBeGreaterThanOrEqual(0)
      expect(tick.indexOf('history svc0')).toBeGreaterThan(up)
      expect((await h.scaler.scaling('svc0')).replayed).toMatchObject({ windows: 31 })
    } finally {
      await h.scaler.stop()
    }
  })
})

describe('Autoscaler: each service decides in its own lane', () => {
  const T0 = 1_780_000_000_000
  const W = 10_000

  /**
   * `orders` and `payments` on a manual clock, two replicas each, 100 req/s per replica at 80 %;
   * `rates` is each one's newest window, `actuators` each one's RecordingActuator (its scaleTo
   * may be wrapped by the test).
   */
  function pair(o: { attempts?: number; backoffMs?: number } = {}) {
    const clock = { t: T0 }
    const rates: Record<string, number> = { orders: 100, payments: 100 }
    const actuators = {
      orders: new RecordingActuator(2, clock),
      payments: new RecordingActuator(2, clock),
    }
    const errors: string[] = []
    const scaler = new Autoscaler({
      services: enforced(Object.keys(actuators)),
      actuatorFor: (n) => actuators[n as keyof typeof actuators] ?? null,
      windowMs: W,
      now: () => clock.t,
      observe: async (n) => ({ atMs: clock.t - W, ratePerSec: rates[n] }),
      forecast: async () => null,
      record: async () => ({ id: '1', result: { status: 'pending' } }),
      settle: async () => {},
      onError: (err) => errors.push(err.message),
      attempts: o.attempts ?? 3,
      backoffMs: o.backoffMs ?? 1_000,
    })
    return { scaler, clock, rates, actuators, errors }
  }

  it("a spike on one service is scaled at its next tick while another's replica boots; the booting one is not asked again; stop waits for it", async () => {
    const h = pair()
    const orders = h.actuators.orders
    const boot = booting(orders)
    await h.scaler.start()
    let stopped = false
    try {
      // orders: 500 req/s needs 7; its replicas boot
      h.clock.t += W
      h.rates.orders = 500
      const first = h.scaler.tick()
      expect(await within(first, 200)).toBe('pending')
      expect(orders.calls.map((c) => c.replicas)).toEqual([7])
      // the next window: payments jumps to 900 req/s (12 replicas), orders still booting
      h.clock.t += W
      h.rates.payments = 900
      const started = performance.now()
      expect(await within(h.scaler.tick(), 1_000)).toBeUndefined()
      expect(h.actuators.payments.calls).toEqual([{ atMs: T0 + 2 * W, replicas: 12 }])
      expect(performance.now() - started).toBeLessThan(500)
      expect((await h.scaler.scaling('payments')).current).toBe(12)
      // orders was skipped, not asked again, and says since when it acts
      expect(orders.calls).toHaveLength(1)
      expect((await h.scaler.scaling('orders')).inFlight).toEqual({
        sinceMs: T0 + W,
        skippedTicks: 1,
        doing: 'scaling',
        to: 7,
      })
      expect((await h.scaler.scaling('payments')).inFlight).toBeNull()
      // stop waits for the boot: no actuator call is left running after it
      const stopping = h.scaler.stop().then(() => (stopped = true))
      expect(await within(stopping, 200)).toBe('pending')
      boot.resolve()
      await stopping
      expect(await within(first, 0)).toBeUndefined()
      const s = await h.scaler.scaling('orders')
      expect(s).toMatchObject({ current: 7, inFlight: null, lastError: null })
      expect(h.errors).toEqual([])
    } finally {
      boot.resolve()
      if (!stopped) await h.scaler.stop()
    }
  })

  it("a manual scale asked during the lane's act waits for it, then keeps the service acting until it ends", async () => {
    const h = pair()
    const orders = h.actuators.orders
    // each scale call ends when the test resolves its own gate
    const gates: ReturnType<typeof deferred>[] = []
    const scaleTo = orders.scaleTo
    orders.scaleTo = async (service, replicas) => {
      const r = await scaleTo(service, replicas)
      const gate = deferred()
      gates.push(gate)
      await gate.promise
      return r
    }
    await h.scaler.start()
    try {
      // the lane scales orders to 7 for 500 req/s; an operator scales it to 3 meanwhile
      h.clock.t += W
      h.rates.orders = 500
      const lane = h.scaler.tick()
      await vi.waitFor(() => expect(gates).toHaveLength(1))
      const manual = h.scaler.scale('orders', 3, 'an operator acts meanwhile')
      // the actuator takes one call per service at a time: the manual one starts once the lane's ends
      await new Promise((ok) => setTimeout(ok, 50))
      expect(gates).toHaveLength(1)
      gates[0].resolve()
      await lane
      await vi.waitFor(() => expect(gates).toHaveLength(2))
      expect(orders.calls.map((c) => c.replicas)).toEqual([7, 3])
      // the manual call is in flight: this tick's decision does not act mid-call
      h.clock.t += W
      expect(await within(h.scaler.tick(), 200)).toBeUndefined()
      expect(orders.calls.map((c) => c.replicas)).toEqual([7, 3])
      expect((await h.scaler.scaling('orders')).decisions).toHaveLength(1)
      // once the manual call ends, the next window decides and acts again
      gates[1].resolve()
      expect(await manual).toMatchObject({ status: 'ok', before: 7, after: 3 })
      h.clock.t += W
      const next = h.scaler.tick()
      await vi.waitFor(() => expect(gates).toHaveLength(3))
      expect(orders.calls.map((c) => c.replicas)).toEqual([7, 3, 7])
      gates[2].resolve()
      await next
      expect(h.errors).toEqual([])
    } finally {
      for (const g of gates) g.resolve()
      await h.scaler.stop()
    }
  })

  it("a failing actuator retrying with backoff on one service does not delay another's scale-up", async () => {
    const h = pair({ attempts: 3, backoffMs: 500 })
    const orders = h.actuators.orders
    orders.scaleTo = async () => {
      throw new Error('Docker API 500')
    }
    await h.scaler.start()
    try {
      // both spike in the same window: orders fails and backs off 0.5 s, then 1 s
      h.clock.t += W
      h.rates.orders = 500
      h.rates.payments = 900
      const started = performance.now()
      const tick = h.scaler.tick()
      while (h.actuators.payments.calls.length === 0 && performance.now() - started < 3_000)
        await new Promise((r) => setTimeout(r, 5))
      expect(performance.now() - started).toBeLessThan(300)
      expect(h.actuators.payments.calls.map((c) => c.replicas)).toEqual([12])
      await tick
      expect((await h.scaler.scaling('orders')).lastError).toBe('Docker API 500')
      expect((await h.scaler.scaling('payments')).lastError).toBeNull()
    } finally {
      await h.scaler.stop()
    }
  })
})

describe('Autoscaler reconfigure (a config reload)', () => {
  const T0 = 1_780_000_000_000

  it('a new max below the replicas running scales down at the next window, recorded, with the demand already seen', async () => {
    const h = clocked(T0, 5, {}, { history: true })
    await h.scaler.start()
    try {
      for (let k = 0; k < 3; k++) {
        h.points.set(T0 + k * h.W, 350)
        await h.close(k)
      }
      expect(h.actuator.calls).toEqual([])
      const r = await h.scaler.reconfigure({ orders: clockedScale({ max: 3 }) }, () => h.actuator)
      expect(r).toEqual({ added: [], removed: [], changed: ['orders'] })
      h.points.set(T0 + 3 * h.W, 350)
      await h.close(3)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + 4 * h.W, replicas: 3 }])
      expect(h.actions.at(-1)).toMatchObject({ kind: 'scale.replicas', mode: 'enforce', before: 5, after: 3 })
      const s = await h.scaler.scaling('orders')
      expect(s).toMatchObject({ max: 3, current: 3 })
      // the new policy went on from the windows decided on before the reload
      expect(s.replayed).toMatchObject({ windows: 3, fromMs: T0 })
    } finally {
      await h.scaler.stop()
    }
  })

  it('shadow to enforce acts from the count the actuator reports; a removed block stops scaling, an added one starts', async () => {
    const h = clocked(T0, 1, { mode: 'shadow' }, { history: true })
    await h.scaler.start()
    try {
      h.points.set(T0, 250)
      await h.close(0)
      // shadow: recorded only, and the count it would have is what it decides from
      expect(h.actuator.calls).toEqual([])
      expect(h.actions.map((a) => [a.mode, a.before, a.after])).toEqual([['shadow', 1, 4]])
      await h.scaler.reconfigure({ orders: clockedScale({}) }, () => h.actuator)
      h.points.set(T0 + h.W, 250)
      await h.close(1)
      expect(h.actuator.calls).toEqual([{ atMs: T0 + 2 * h.W, replicas: 4 }])
      expect(h.actions.at(-1)).toMatchObject({ mode: 'enforce', before: 1, after: 4 })

      expect(await h.scaler.reconfigure({}, () => null)).toEqual({
        added: [],
        removed: ['orders'],
        changed: [],
      })
      h.points.set(T0 + 2 * h.W, 10)
      await h.close(2)
      expect(h.actuator.calls).toHaveLength(1)
      await expect(h.scaler.scaling('orders')).rejects.toMatchObject({
        code: 'VGL_ERR_SCALE_UNKNOWN_SERVICE',
      })

      await h.scaler.reconfigure({ orders: clockedScale({ max: 2 }) }, () => h.actuator)
      h.points.set(T0 + 3 * h.W, 150)
      await h.close(3)
      expect(h.actuator.calls.at(-1)).toEqual({ atMs: T0 + 4 * h.W, replicas: 2 })
    } finally {
      await h.scaler.stop()
    }
  })
})
