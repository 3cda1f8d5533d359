/**
 * Autoscaling end to end in embedded mode: the process actuator starts real `vigil mock`
 * replicas as load rises past one replica's capacity, the gateway sends them traffic once they
 * are healthy, scales back after the (shortened) stabilisation window while draining, and a
 * rolling restart replaces every replica, all with zero failed requests; in shadow mode the
 * same run starts nothing and logs its decisions. A service that learns its capacity, on replicas
 * that saturate at a known load (`vigil mock --concurrency 1`), finds it under a ramp and scales on it.
 */
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { ensureBuilt } from '../helpers/build.js'
import { traffic } from '../helpers/traffic.js'
import { mockReplicaCommand, poll, type CapacityView } from './control-support.js'

const root = join(import.meta.dirname, '../..')
const TOKEN = 'scale-test-token'

type Capacity = CapacityView

interface Scaling {
  mode: string
  current: number
  desired: number | null
  capacityPerReplica: number | null
  capacity: Capacity
  capacityRestored: { windows: number; savedMs: number } | null
  replicas: { id: string; url: string | null; ready: boolean }[]
  decisions: {
    desired: number
    driver: string
    reason: string
    evidence: { observed: number; capacity: Capacity }
  }[]
}

/** What the learning test changes: the replicas' mock flags, the capacity, the bounds, the window. */
interface Variant {
  mockArgs?: string[]
  capacity?: string
  max?: number
  scaleDownStabilizationMs?: number
}

function configText(seedUrl: string, dbPath: string, mode: 'enforce' | 'shadow', v: Variant = {}): string {
  const cmd = JSON.stringify(mockReplicaCommand(...(v.mockArgs ?? [])))
  return [
    'env: scale-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
    'services:',
    '  orders:',
    `    targets: [${seedUrl}]`,
    '    scale:',
    `      mode: ${mode}`,
    '      min: 1',
    `      max: ${v.max ?? 3}`,
    `      capacityPerReplica: ${v.capacity ?? '20'}`,
    '      targetUtilization: 0.8',
    '      leadTimeMs: 1000',
    `      scaleDownStabilizationMs: ${v.scaleDownStabilizationMs ?? 3000}`,
    `      actuator: { kind: process, command: ${cmd}, healthIntervalMs: 100, stopGraceMs: 3000 }`,
    'routes:',
    '  - { name: orders, path: /orders, service: orders }',
    'telemetry: { windowMs: 1000, gatewayId: gw-scale, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(dbPath)} }`,
    'control: { graceMs: 200 }',
    'detect: { enabled: false }',
    '',
  ].join('\n')
}

const scaling = async (v: Vigil): Promise<Scaling> =>
  (await fetch(`${v.adminUrl}/api/services/orders/scaling`)).json() as Promise<Scaling>

describe('autoscaling with the process actuator (embedded)', { timeout: 240_000 }, () => {
  let dir: string
  let seed: MockService
  let vigil: Vigil | null = null
  beforeAll(async () => {
    ensureBuilt()
    if (!existsSync(join(root, 'dist/control/worker.js'))) throw new Error('build missing')
    dir = mkdtempSync(join(tmpdir(), 'vigil-scale-'))
  }, 300_000)
  afterEach(async () => {
    await vigil?.stop()
    vigil = null
    await seed?.close()
  })

  const start = async (mode: 'enforce' | 'shadow', variant: Variant = {}, name: string = mode) => {
    seed = await startMockService({ name: 'seed' })
    const file = join(dir, `vigil-${name}.yaml`)
    writeFileSync(file, configText(seed.url, join(dir, `${name}.db`), mode, variant))
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    return vigil
  }

  it('starts replicas under load, pools them once healthy, scales back after the window, restarts one by one: no failed request', async () => {
    const v = await start('enforce')
    // min 1: the first replica replaces the seed target
    await poll(
      () => scaling(v),
      (s) => s.current === 1 && s.replicas.length === 1,
      'one replica',
      60_000,
    )
    const first = (await scaling(v)).replicas[0].url!
    await poll(
      async () => v.gateway.services()[0].targets.map((t) => t.url),
      (u) => u.length === 1 && u[0] === first,
      'pool = first replica',
    )

    const load = traffic(v.gatewayUrl, 45) // 45 req/s needs ⌈45/16⌉ = 3 replicas at 80% of 20 req/s
    try {
      const up = await poll(
        () => scaling(v),
        (s) => s.current >= 2,
        'scaled up',
        90_000,
      )
      expect(up.decisions.some((d) => d.driver === 'reactive' && d.desired >= 2)).toBe(true)
      // every pooled target is a replica that passed its health check, and they all get traffic
      const urls = (await scaling(v)).replicas.map((r) => r.url)
      await poll(
        async () => v.gateway.services()[0].targets,
        (ts) => ts.length >= 2 && ts.every((t) => urls.includes(t.url) && t.recentRequests > 0),
        'new replicas serve traffic',
      )
      // load falls: back to 1 after the 3 s stabilisation window, draining the removed replicas
      load.setRate(4)
      await poll(
        () => scaling(v),
        (s) => s.current === 1,
        'scaled back',
        90_000,
      )
      await poll(
        async () => v.gateway.services()[0].targets.length,
        (n) => n === 1,
        'pool back to one',
      )

      // a rolling restart under steady load
      const before = (await scaling(v)).replicas.map((r) => r.id)
      const res = await fetch(`${v.adminUrl}/api/services/orders/restart`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ reason: 'test: rolling restart' }),
      })
      expect(res.status).toBe(200)
      const after = (await scaling(v)).replicas.map((r) => r.id)
      expect(after).toHaveLength(before.length)
      for (const id of after) expect(before).not.toContain(id)
    } finally {
      await load.stop()
    }
    // traffic flowed throughout (the count depends on how fast the phases pass on a loaded machine)
    expect(load.sent()).toBeGreaterThan(30)
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])

    // the decisions are in the action log with their evidence
    type Logged = { kind: string; mode: string; result: { status: string }; evidence: unknown }
    // a decision taken while the restart finished may still be under way: wait for it to settle
    const actions = await poll(
      async () =>
        (await (await fetch(`${v.adminUrl}/api/actions?limit=100`)).json()) as { actions: Logged[] },
      (l) => l.actions.every((a) => a.result.status !== 'pending'),
      'every action settled',
    )
    const scaled = actions.actions.filter((a) => a.kind === 'scale.replicas')
    expect(scaled.length).toBeGreaterThanOrEqual(2)
    const notOk = scaled.filter((a) => a.mode !== 'enforce' || a.result.status !== 'ok')
    expect(notOk, JSON.stringify(notOk)).toEqual([])
    expect(actions.actions.some((a) => a.kind === 'scale.restart')).toBe(true)

    // manual scale is token-protected and bounded
    const noToken = await fetch(`${v.adminUrl}/api/services/orders/scale`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ replicas: 2, reason: 'x' }),
    })
    expect(noToken.status).toBe(401)
    const tooMany = await fetch(`${v.adminUrl}/api/services/orders/scale`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ replicas: 9, reason: 'x' }),
    })
    expect(tooMany.status).toBe(400)
    expect(((await tooMany.json()) as { code: string }).code).toBe('VGL_ERR_SCALE_REQUEST')
  })

  it('in shadow mode starts nothing and logs the decisions; once requests stop, back to min after the window', async () => {
    const v = await start('shadow')
    const load = traffic(v.gatewayUrl, 45)
    try {
      await poll(
        () => scaling(v),
        (s) => s.decisions.some((d) => d.desired >= 2),
        'a shadow decision',
        90_000,
      )
    } finally {
      await load.stop()
    }
    // no request at all: no roll-up either, yet each closed window is a zero-rate one, and the
    // count goes back to min once the 3 s stabilisation window passed
    const idle = await poll(
      () => scaling(v),
      (x) => x.current === 1 && x.decisions[0]?.evidence.observed === 0,
      'back to min without requests',
      60_000,
    )
    expect(idle.decisions.filter((d) => d.evidence.observed === 0).length).toBeGreaterThanOrEqual(2)
    const s = await scaling(v)
    expect(s.mode).toBe('shadow')
    expect(s.replicas).toEqual([])
    expect(v.gateway.services()[0].targets.map((t) => t.url)).toEqual([seed.url])
    expect(load.failures()).toEqual([])
    const actions = (await (await fetch(`${v.adminUrl}/api/actions?limit=100`)).json()) as {
      actions: { kind: string; mode: string; result: { status: string } }[]
    }
    const scaled = actions.actions.filter((a) => a.kind === 'scale.replicas')
    expect(scaled.length).toBeGreaterThanOrEqual(1)
    expect(scaled.every((a) => a.mode === 'shadow' && a.result.status === 'shadow')).toBe(true)
  })

  it('learns where a replica saturates from the latency it shows under a ramp, and scales on it', async () => {
    const learnVariant: Variant = {
      // one request at a time for 40 ms each: a replica saturates near 25 req/s and queues past it
      mockArgs: ['--latency-ms', '40', '--concurrency', '1'],
      // far too high: on it the autoscaler would keep one replica up to 80 req/s
      capacity: '{ learn: true, initial: 100, min: 5, max: 200, minWindows: 20 }',
      max: 4,
      scaleDownStabilizationMs: 600_000,
    }
    const v = await start('enforce', learnVariant, 'learn')
    await poll(
      () => scaling(v),
      (s) => s.current === 1 && s.replicas.some((r) => r.ready),
      'one replica',
      60_000,
    )
    // a ramp on the one replica up to just under its saturation, then past it
    const load = traffic(v.gatewayUrl, 4)
    try {
      for (const rps of [4, 8, 12, 16, 20]) {
        load.setRate(rps)
        await new Promise((r) => setTimeout(r, 8_000))
      }
      const learning = await scaling(v)
      expect(learning.current).toBe(1)
      expect(learning.capacity.learned).toBe(false)
      expect(learning.capacity.windows).toBeGreaterThanOrEqual(15)
      load.setRate(32)
      const up = await poll(
        () => scaling(v),
        (s) => s.current >= 2,
        'scaled up on the learned capacity',
        90_000,
      )
      const d = up.decisions.find((x) => x.desired >= 2)!
      process.stderr.write(`capacity learning: ${JSON.stringify(d.evidence.capacity)}\n`)
      expect(d.evidence.capacity).toMatchObject({ learned: true, source: 'knee', bounded: null })
      // the replica saturates at 1000 / ~41 ms ≈ 24 req/s; the knee is met from below. How far below
      // depends on the machine: a descheduled replica queues what arrives meanwhile, the more the
      // busier it is, so its latency turns earlier under load: knees of 11.9 and 13.3 were seen at a
      // load average of 10–15, where most runs still find 16–20. Well above the floor of 5.
      expect(d.evidence.capacity.perReplica).toBeGreaterThan(10)
      expect(d.evidence.capacity.perReplica).toBeLessThan(27)
      expect(up.capacityPerReplica).toBe(up.capacity.perReplica)
      expect(d.reason).toMatch(/capacity learned from \d+ windows/)
    } finally {
      await load.stop()
    }
    const actions = (await (await fetch(`${v.adminUrl}/api/actions?limit=100`)).json()) as {
      actions: { kind: string; evidence: { capacity?: { learned: boolean; perReplica: number } } }[]
    }
    const scaled = actions.actions.filter((a) => a.kind === 'scale.replicas' && a.evidence !== null)
    expect(scaled.some((a) => a.evidence.capacity?.learned === true)).toBe(true)

    // a restart on the same store goes on from what was learned, before any new window
    const learned = (await scaling(v)).capacity
    await v.stop()
    vigil = null
    await seed.close()
    const again = await start('enforce', learnVariant, 'learn')
    const restored = await scaling(again)
    expect(restored.capacity).toMatchObject({ learned: true, source: learned.source })
    expect(restored.capacity.windows).toBeGreaterThanOrEqual(learned.windows!)
    expect(restored.capacityRestored?.windows).toBe(restored.capacity.windows)
    expect(restored.capacityPerReplica).toBeGreaterThan(10)
    expect(restored.capacityPerReplica).toBeLessThan(27)
  })
})
