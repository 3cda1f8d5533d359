/**
 * `vigil start` killed with its replicas scaled up for a burst that ended: the next `vigil start`
 * adopts them and replays the service's windows from the store before its first decision, so it
 * scales down at once (the stored windows show a whole stabilisation window of low demand)
 * instead of holding them for a stabilisation window of its own.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { traffic } from '../helpers/traffic.js'
import {
  READY,
  buildOnce,
  exitOf,
  killLeft,
  mockReplicaCommand,
  poll,
  spawnVigil,
  startSections,
  stop,
  type Spawned,
} from './control-support.js'

const TOKEN = 'replay-test-token-0123'
const STABILIZATION_MS = 15_000

interface Scaling {
  current: number
  replicas: { id: string; url: string; ready: boolean }[]
  replayed: { windows: number; fromMs: number; toMs: number; seenFromMs: number; tookMs: number } | null
  decisions: { atMs: number; current: number; desired: number; reason: string }[]
}

describe('vigil start restarted after a burst ended', { timeout: 180_000 }, () => {
  let dir = ''
  const procs: Spawned[] = []
  const pids = new Set<number>()
  /** the config with a scale-down stabilisation window of `stabilizationMs` */
  const config = (stabilizationMs: number) => {
    const file = join(dir, `vigil-${stabilizationMs}.yaml`)
    writeFileSync(
      file,
      [
        'env: replay-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'services:',
        '  orders:',
        "    targets: ['http://127.0.0.1:9']",
        '    scale:',
        '      mode: enforce',
        '      min: 1',
        '      max: 3',
        '      capacityPerReplica: 1000',
        `      scaleDownStabilizationMs: ${stabilizationMs}`,
        '      leadTimeMs: 1000',
        `      actuator: { kind: process, command: ${JSON.stringify(mockReplicaCommand())}, healthIntervalMs: 100, stopGraceMs: 3000 }`,
        ...startSections(dir),
      ].join('\n'),
    )
    return file
  }
  beforeAll(() => {
    buildOnce()
    dir = mkdtempSync(join(tmpdir(), 'vigil-replay-'))
  })
  afterAll(async () => {
    await stop(...procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null))
    // replicas a failed test left behind
    killLeft(pids)
    rmSync(dir, { recursive: true, force: true })
  })

  const start = async (file: string) => {
    const p = spawnVigil(['start', '--config', file])
    procs.push(p)
    const gateway = await p.waitFor(READY.gateway)
    return { p, gateway, admin: await p.waitFor(READY.gatewayAdmin) }
  }
  const scaling = async (admin: string) =>
    (await (await fetch(`${admin}/api/services/orders/scaling`)).json()) as Scaling

  it('the next start adopts the three replicas and scales down at its first decision, not a stabilisation window later', async () => {
    // the first one holds a manual count for a minute; the next one's window is 15 s
    const first = await start(config(60_000))
    // three replicas asked for by hand (a burst's), then more than a stabilisation window of light load
    const scaled = await fetch(`${first.admin}/api/services/orders/scale`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ replicas: 3, reason: 'a burst' }),
    })
    expect(scaled.status).toBe(200)
    for (const r of (await scaling(first.admin)).replicas) pids.add(Number(r.id.split('-').at(-2)))
    let load = traffic(first.gateway, 5)
    await new Promise((r) => setTimeout(r, STABILIZATION_MS + 3_000))
    await load.stop()
    expect((await scaling(first.admin)).current).toBe(3)
    first.p.child.kill('SIGKILL')
    await exitOf(first.p.child)

    const second = await start(config(STABILIZATION_MS))
    const readyAtMs = Date.now()
    load = traffic(second.gateway, 5)
    try {
      const after = await poll(
        () => scaling(second.admin),
        (s) => s.decisions.length > 0 && s.current === 1,
        'scaled down to 1',
        30_000,
      )
      const down = after.decisions.find((d) => d.current === 3 && d.desired === 1)
      expect(down, JSON.stringify(after.decisions.map((d) => d.reason))).toBeDefined()
      // the first decision or the one after it: well within the stabilisation window of its own
      expect(down!.atMs - readyAtMs).toBeLessThan(STABILIZATION_MS / 2)
      expect(after.replayed).not.toBeNull()
      expect(after.replayed!.windows).toBeGreaterThanOrEqual(STABILIZATION_MS / 1000)
      expect(after.replayed!.toMs - after.replayed!.seenFromMs).toBeGreaterThanOrEqual(STABILIZATION_MS)
      // what the replay cost this service's first decision, in milliseconds of wall clock
      expect(after.replayed!.tookMs).toBeGreaterThanOrEqual(0)
      expect(after.replayed!.tookMs).toBeLessThan(60_000)
    } finally {
      await load.stop()
      await stop(second.p)
    }
  })

  it("an operator's manual scale just before the kill still holds after the restart, until its window ends", async () => {
    const first = await start(config(STABILIZATION_MS))
    const manualAtMs = Date.now()
    const scaled = await fetch(`${first.admin}/api/services/orders/scale`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ replicas: 3, reason: 'launch' }),
    })
    expect(scaled.status).toBe(200)
    for (const r of (await scaling(first.admin)).replicas) pids.add(Number(r.id.split('-').at(-2)))
    first.p.child.kill('SIGKILL')
    await exitOf(first.p.child)

    // the stored windows show light load, which alone would scale down at the first decision
    const second = await start(config(STABILIZATION_MS))
    const load = traffic(second.gateway, 5)
    try {
      const after = await poll(
        () => scaling(second.admin),
        (s) => s.decisions.length > 0 && s.current === 1,
        'scaled down to 1',
        45_000,
      )
      const held = after.decisions.filter((d) => /^held at 3 by a manual scale \("launch"\)/.test(d.reason))
      expect(held.length, JSON.stringify(after.decisions.map((d) => d.reason))).toBeGreaterThan(0)
      const down = after.decisions.find((d) => d.current === 3 && d.desired === 1)
      expect(down).toBeDefined()
      // not before the operator's window (from the manual scale, not from the restart) ended
      expect(down!.atMs).toBeGreaterThanOrEqual(manualAtMs + STABILIZATION_MS)
    } finally {
      await load.stop()
      await stop(second.p)
    }
  })
})
