/**
 * `vigil start` killed with SIGKILL leaves its `process` replicas running; the next `vigil start`
 * on the same data directory adopts them: the same processes serve as the service's replicas and
 * the gateway's targets, none is started to reach `min`, the adoption is logged (pid and port) and
 * in the action log. Stopped with SIGTERM, it then stops them like its own. Scaled out, a leading
 * `vigil control` killed the same way leaves its replica to the standby on its host, which adopts
 * it once elected: the gateway keeps routing to the same process, and no request fails.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { traffic } from '../helpers/traffic.js'
import {
  READY,
  SCALING_CONTROL_SECTIONS,
  buildOnce,
  exitOf,
  killLeft,
  mockReplicaCommand,
  poll,
  scaledOut,
  spawnVigil,
  startSections,
  stop,
  type Spawned,
} from './control-support.js'

const scaledOutUp = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))

interface Scaling {
  current: number
  replicas: { id: string; url: string; ready: boolean }[]
}
interface Action {
  kind: string
  atMs: number
  before: number
  after: number
  reason: string
  result: { status: string }
}

const pidOf = (id: string) => Number(id.split('-').at(-2))
const answers = async (url: string) => {
  try {
    return (await fetch(`${url}/orders`)).ok
  } catch {
    return false
  }
}

describe('vigil start killed with replicas running', { timeout: 180_000 }, () => {
  let dir = ''
  let file = ''
  const procs: Spawned[] = []
  const pids = new Set<number>()
  beforeAll(() => {
    buildOnce()
    dir = mkdtempSync(join(tmpdir(), 'vigil-adopt-'))
    file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'env: adopt-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0 }',
        'services:',
        '  orders:',
        "    targets: ['http://127.0.0.1:9']",
        '    scale:',
        '      mode: enforce',
        '      min: 2',
        '      max: 3',
        `      actuator: { kind: process, command: ${JSON.stringify(mockReplicaCommand())}, healthIntervalMs: 100, stopGraceMs: 3000 }`,
        ...startSections(dir),
      ].join('\n'),
    )
  })
  afterAll(async () => {
    // SIGTERM: a vigil start still running stops the replicas it runs
    await stop(...procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null))
    // replicas a failed test left behind
    killLeft(pids)
    rmSync(dir, { recursive: true, force: true })
  })

  const start = async () => {
    const p = spawnVigil(['start', '--config', file])
    procs.push(p)
    return { p, admin: await p.waitFor(READY.gatewayAdmin) }
  }
  const scaling = async (admin: string) =>
    (await (await fetch(`${admin}/api/services/orders/scaling`)).json()) as Scaling

  it('the next vigil start adopts them: same processes, no new one, logged and recorded; SIGTERM stops them', async () => {
    const first = await start()
    const before = await poll(
      () => scaling(first.admin),
      (s) => s.current === 2 && s.replicas.length === 2,
      'two replicas',
      60_000,
    )
    for (const r of before.replicas) pids.add(pidOf(r.id))
    first.p.child.kill('SIGKILL')
    await exitOf(first.p.child)
    // nobody stopped them
    for (const r of before.replicas) expect(await answers(r.url)).toBe(true)

    const restartedAtMs = Date.now()
    const second = await start()
    const after = await poll(
      () => scaling(second.admin),
      (s) => s.replicas.length === 2,
      'two replicas again',
      60_000,
    )
    const ids = (s: Scaling) => s.replicas.map((r) => r.id).sort()
    expect(ids(after)).toEqual(ids(before))
    expect(after.current).toBe(2)
    // the gateway routes to them
    const services = (await (await fetch(`${second.admin}/api/services`)).json()) as {
      services: { name: string; targets: { url: string }[] }[]
    }
    expect(
      services.services
        .find((s) => s.name === 'orders')!
        .targets.map((t) => t.url)
        .sort(),
    ).toEqual(before.replicas.map((r) => r.url).sort())
    for (const r of before.replicas)
      expect(second.p.log()).toContain(
        `adopted replica pid ${pidOf(r.id)} on port ${new URL(r.url).port}, left running by a control plane that ended without stopping it`,
      )
    const actions = await poll(
      async () =>
        ((await (await fetch(`${second.admin}/api/actions?limit=50`)).json()) as { actions: Action[] })
          .actions,
      (a) => a.some((x) => x.kind === 'scale.adopt' && x.result.status === 'ok'),
      'the adoption in the action log',
    )
    const since = actions.filter((a) => a.atMs >= restartedAtMs)
    expect(since.map((a) => a.kind)).toEqual(['scale.adopt'])
    expect(since[0]).toMatchObject({ before: 0, after: 2 })

    await stop(second.p)
    for (const r of before.replicas) expect(await answers(r.url)).toBe(false)
    // no records left, and no replica's output file
    expect(readdirSync(join(dir, 'process-replicas'))).toEqual(['logs'])
    expect(readdirSync(join(dir, 'process-replicas', 'logs'))).toEqual([])
  })
})

describe.skipIf(!scaledOutUp)(
  'a leading vigil control killed with its replica running',
  { timeout: 180_000 },
  () => {
    const w = scaledOut({
      name: 'adopt',
      config: () => ({
        gateway: { accessLog: { enabled: false } },
        services: {
          orders: {
            targets: [w.mockUrl],
            scale: {
              mode: 'enforce',
              min: 1,
              max: 2,
              actuator: {
                kind: 'process',
                command: mockReplicaCommand(),
                healthIntervalMs: 100,
                stopGraceMs: 2000,
              },
            },
          },
        },
        ...SCALING_CONTROL_SECTIONS,
      }),
    })
    const procs: Spawned[] = []
    let pid = 0
    afterAll(async () => {
      await stop(...procs.filter((p) => p.child.exitCode === null && p.child.signalCode === null))
      try {
        if (pid !== 0) process.kill(pid, 'SIGKILL')
      } catch {
        // stopped, as it should be
      }
    })

    it('the standby on the same host adopts it once elected: same process, same target, no failed request', async () => {
      const gw = await w.startGateway('gw-adopt')
      procs.push(gw)
      const gatewayAdmin = await gw.waitFor(READY.gatewayAdmin)
      const targets = async () => {
        const body = (await (await fetch(`${gatewayAdmin}/api/services`)).json()) as {
          services: { name: string; targets: { url: string }[] }[]
        }
        return body.services.find((x) => x.name === 'orders')!.targets.map((t) => t.url)
      }
      const leader = w.spawn('control', 'control-a')
      procs.push(leader)
      const leaderUrl = await leader.waitFor(READY.control)
      const [url] = await poll(targets, (u) => u.length === 1 && u[0] !== w.mockUrl, 'the replica as target')
      const replica = ((await (await fetch(`${leaderUrl}/api/services/orders/scaling`)).json()) as Scaling)
        .replicas[0]
      pid = pidOf(replica.id)
      const standby = w.spawn('control', 'control-b')
      procs.push(standby)
      const standbyUrl = await standby.waitFor(READY.control)

      const load = traffic(gw.url, 20)
      try {
        await new Promise((r) => setTimeout(r, 500))
        leader.child.kill('SIGKILL')
        await exitOf(leader.child)
        const taken = await poll(
          async () => {
            const res = await fetch(`${standbyUrl}/api/services/orders/scaling`)
            return res.status === 200 ? ((await res.json()) as Scaling) : null
          },
          (s) => s !== null && s.replicas.length > 0,
          'the standby leading with a replica',
          60_000,
        )
        expect(taken!.replicas.map((r) => r.id)).toEqual([replica.id])
        expect(standby.log()).toContain(
          `adopted replica pid ${pid} on port ${new URL(url).port}, left running by a control plane that ended without stopping it`,
        )
        await new Promise((r) => setTimeout(r, 1000))
        expect(await targets()).toEqual([url])
      } finally {
        await load.stop()
      }
      expect(load.sent()).toBeGreaterThan(20)
      expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])
      // the new leader stops it as its own
      await stop(standby)
      expect(await answers(url)).toBe(false)
    })
  },
)
