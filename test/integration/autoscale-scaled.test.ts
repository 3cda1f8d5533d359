/**
 * Autoscaling scaled out: `vigil control` (leading alone, PostgreSQL store) runs the autoscaler
 * with the process actuator; the replicas it starts reach a separate `vigil gateway` only over
 * NATS (the targets subject), and the gateway serves through them. Through the leader's admin
 * API: bad scaling requests are refused naming the field, a manual scale sends traffic to the new
 * replica once (and only once) it is healthy, a rolling restart replaces every replica process
 * under steady load with no failed request, the service's scaling view shows both with their
 * reasons, and a manual scale-down stops the removed replica only once the gateway drained it.
 * A standby refuses, naming the leader. SIGHUP does not stop vigil control, and a leader stopped
 * with SIGTERM gives the gateway its configured targets back before it stops its replicas.
 *
 * Replicas are `test/fixtures/late-health-replica.mjs`: a mock named after its port that answers
 * its health check 503 for its first second and reports how many requests reached it before.
 */
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { serviceAvailable } from '../helpers/services.js'
import { traffic } from '../helpers/traffic.js'
import {
  READY,
  poll,
  root,
  scaledOut,
  stop,
  SCALING_CONTROL_SECTIONS,
  type Spawned,
} from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const TOKEN = 'sc-admin-token'
const UNHEALTHY_MS = 1000

interface Scaling {
  current: number
  desired: number | null
  replicas: { id: string; url: string | null; ready: boolean }[]
  decisions: { atMs: number; desired: number; reason: string; evidence: { observed: number } }[]
  actions: { kind: string; before: unknown; after: unknown; reason: string; result: { status: string } }[]
}

const portOf = (url: string) => Number(new URL(url).port)

describe.skipIf(!up)('autoscaling scaled out: targets over NATS', { timeout: 120_000 }, () => {
  const w = scaledOut({
    name: 'sc',
    config: () => ({
      gateway: { accessLog: { enabled: false } },
      admin: { host: '127.0.0.1', port: 0, token: TOKEN },
      services: {
        orders: {
          targets: [w.mockUrl],
          scale: {
            mode: 'enforce',
            min: 1,
            max: 2,
            capacityPerReplica: 1000,
            leadTimeMs: 2000,
            actuator: {
              kind: 'process',
              command: [
                process.execPath,
                join(root, 'test', 'fixtures', 'late-health-replica.mjs'),
                '$PORT',
                String(UNHEALTHY_MS),
              ],
              healthIntervalMs: 100,
              stopGraceMs: 2000,
            },
          },
        },
      },
      ...SCALING_CONTROL_SECTIONS,
    }),
  })
  let gatewayUrl = ''
  let adminUrl = ''
  let controlUrl = ''
  let control: Spawned
  const procs: Spawned[] = []

  const post = (base: string, path: string, body: unknown) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify(body),
    })
  const gatewayTargets = async () => {
    const body = (await (await fetch(`${adminUrl}/api/services`)).json()) as {
      services: { name: string; targets: { url: string }[] }[]
    }
    return body.services.find((x) => x.name === 'orders')!.targets.map((t) => t.url)
  }
  const scaling = async () =>
    (await (await fetch(`${controlUrl}/api/services/orders/scaling`)).json()) as Scaling
  /** what each replica wrote when it turned healthy: requests that reached it before */
  const beforeHealthy = () =>
    [
      ...control.log().matchAll(/"replica":"orders-\d+-(\d+)"[^\n]*"msg":"healthy after (\d+) requests"/g),
    ].map((m) => ({ port: Number(m[1]), requests: Number(m[2]) }))

  beforeAll(async () => {
    const gw = await w.startGateway('gw-sc')
    procs.push(gw)
    gatewayUrl = gw.url
    adminUrl = await gw.waitFor(READY.gatewayAdmin)
    const c = await w.startControl()
    procs.push(c)
    control = c
    controlUrl = c.url
  }, 120_000)

  // SIGTERM, not the setup's SIGKILL: vigil control stops the replica processes it started
  afterAll(() => stop(...procs))

  it('the replica vigil control starts once it leads becomes the gateway’s target over the bus', async () => {
    // min 1 is reached without any load, and acting only once elected raises no alert
    const urls = await poll(
      gatewayTargets,
      (u) => u.length === 1 && u[0] !== w.mockUrl,
      'the replica as the gateway’s only target',
      60_000,
    )
    expect(urls[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${gatewayUrl}/orders`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { service: string }).service).toBe(`replica-${portOf(urls[0])}`)
    expect(beforeHealthy()).toEqual([{ port: portOf(urls[0]), requests: 0 }])
    const actions = (await (await fetch(`${controlUrl}/api/actions?target=service:orders`)).json()) as {
      actions: { kind: string; after: unknown; result: { status: string } }[]
    }
    expect(actions.actions.map((a) => [a.kind, a.after, a.result.status])).toEqual([
      ['scale.replicas', 1, 'ok'],
    ])
    // the actions are logged at info; nothing failed, so no warning or error line of the autoscaler
    expect(control.log()).not.toMatch(/"level":(40|50)[^\n]*"msg":"autoscaler: /)
  })

  it('refuses bad scaling requests with a problem naming the field, and changes nothing', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['/scale', { replicas: 9, reason: 'too many' }, /replicas: .*1 to 2/],
      ['/scale', { replicas: 0, reason: 'too few' }, /replicas: .*1 to 2/],
      ['/scale', { replicas: -1, reason: 'negative' }, /replicas: .*whole number/],
      ['/scale', { replicas: 1.5, reason: 'fraction' }, /replicas: .*whole number/],
      ['/scale', { replicas: '2', reason: 'a string' }, /replicas: .*whole number.*"2"/],
      ['/scale', { reason: 'no count' }, /replicas: .*whole number/],
      ['/scale', { replicas: 2 }, /reason: /],
      ['/scale', { replicas: 2, reason: '   ' }, /reason: /],
      ['/scale', { replicas: 2, reason: 'x'.repeat(501) }, /reason: .*500/],
      ['/scale', { replicas: 2, reason: 'typo', replica: 2 }, /"replica".*replicas, reason/],
      ['/scale', [2, 'array'], /body: .*JSON object/],
      ['/restart', {}, /reason: /],
      ['/restart', { reason: 7 }, /reason: /],
      ['/restart', { reason: 'x'.repeat(501) }, /reason: .*500/],
      ['/restart', { reason: 'ok', replicas: 2 }, /"replicas".*reason/],
    ]
    for (const [path, body, message] of cases) {
      const res = await post(controlUrl, `/api/services/orders${path}`, body)
      const what = `${path} ${JSON.stringify(body).slice(0, 60)}`
      expect(res.status, what).toBe(400)
      expect(res.headers.get('content-type'), what).toMatch(/^application\/problem\+json/)
      const problem = (await res.json()) as { code: string; message: string; fix?: string }
      expect(problem.code, what).toBe('VGL_ERR_SCALE_REQUEST')
      expect(problem.message, what).toMatch(message)
    }
    const unknown = await post(controlUrl, '/api/services/nope/scale', { replicas: 1, reason: 'x' })
    expect(unknown.status).toBe(404)
    expect(((await unknown.json()) as { message: string }).message).toContain('orders')
    expect((await post(controlUrl, '/api/services/nope/restart', { reason: 'x' })).status).toBe(404)
    expect((await fetch(`${controlUrl}/api/services/nope/scaling`)).status).toBe(404)
    // nothing was recorded or changed
    const s = await scaling()
    expect(s.current).toBe(1)
    expect(s.actions.filter((a) => a.kind === 'scale.manual' || a.kind === 'scale.restart')).toEqual([])
  })

  it('a manual scale sends traffic to the new replica once it is healthy, never before', async () => {
    const [first] = await gatewayTargets()
    const load = traffic(gatewayUrl, 40, { path: '/orders/x?sleep=50', mixPost: true })
    try {
      await new Promise((r) => setTimeout(r, 500))
      const scaled = await post(controlUrl, '/api/services/orders/scale', { replicas: 2, reason: 'by hand' })
      expect(scaled.status).toBe(200)
      expect(await scaled.json()).toMatchObject({ status: 'ok', before: 1, after: 2 })
      const urls = await poll(
        gatewayTargets,
        (u) => u.length === 2 && u.includes(first),
        'both replicas as the gateway’s targets',
        30_000,
      )
      const added = urls.find((u) => u !== first)!
      // the new replica serves a share of the traffic
      await poll(
        async () => load.answers.filter((a) => a.servedBy === `replica-${portOf(added)}`).length,
        (n) => n >= 10,
        'answers from the new replica',
        15_000,
      )
    } finally {
      await load.stop()
    }
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])
    const reports = beforeHealthy()
    for (const port of (await gatewayTargets()).map(portOf))
      expect(reports.find((b) => b.port === port)).toEqual({ port, requests: 0 })
  })

  it('a rolling restart replaces every replica process under steady load: no failed request', async () => {
    const before = (await scaling()).replicas
    expect(before).toHaveLength(2)
    const oldPorts = before.map((r) => portOf(r.url!))
    // GETs and POSTs that take 200 ms: a POST that reached a replica is never retried, so one cut
    // off by a replica stopped too early would fail here
    const load = traffic(gatewayUrl, 40, { path: '/orders/x?sleep=200', mixPost: true })
    let doneAtMs = 0
    try {
      await new Promise((r) => setTimeout(r, 500))
      const res = await post(controlUrl, '/api/services/orders/restart', { reason: 'rolling restart test' })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ status: 'ok' })
      doneAtMs = Date.now()
      await new Promise((r) => setTimeout(r, 1500))
    } finally {
      await load.stop()
    }
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])

    // new processes on new ports, each healthy before any request reached it
    const after = (await scaling()).replicas
    expect(after).toHaveLength(2)
    const newPorts = after.map((r) => portOf(r.url!))
    for (const r of after) expect(before.map((b) => b.id)).not.toContain(r.id)
    for (const p of newPorts) expect(oldPorts).not.toContain(p)
    const reports = beforeHealthy()
    for (const port of newPorts) expect(reports.find((b) => b.port === port)).toEqual({ port, requests: 0 })
    // the old processes are gone, and the gateway routes to the new ones only
    for (const p of oldPorts) await expect(fetch(`http://127.0.0.1:${p}/health`)).rejects.toThrow()
    expect((await gatewayTargets()).map(portOf).sort()).toEqual([...newPorts].sort())
    const late = load.answers.filter((a) => a.atMs > doneAtMs)
    expect(late.length).toBeGreaterThan(20)
    for (const p of newPorts) expect(late.some((a) => a.servedBy === `replica-${p}`)).toBe(true)
    expect(late.filter((a) => oldPorts.some((p) => a.servedBy === `replica-${p}`))).toEqual([])

    // the action log has it, settled ok
    const actions = (await (await fetch(`${controlUrl}/api/actions?kind=scale.restart`)).json()) as {
      actions: { target: string; reason: string; mode: string; result: { status: string } }[]
    }
    expect(actions.actions).toHaveLength(1)
    expect(actions.actions[0]).toMatchObject({
      target: 'service:orders',
      mode: 'enforce',
      reason: 'restart: rolling restart test',
      result: { status: 'ok' },
    })
  })

  it('the scaling view shows current, desired, the policy’s decisions and the manual scale and restart', async () => {
    const s = await scaling()
    expect(s.current).toBe(2)
    expect(s.replicas.every((r) => r.ready)).toBe(true)
    expect(s.decisions.length).toBeGreaterThan(0)
    expect(s.desired).toBe(s.decisions[0].desired)
    expect(typeof s.decisions[0].reason).toBe('string')
    expect(s.decisions[0].evidence.observed).toBeGreaterThanOrEqual(0)
    expect(s.actions.map((a) => a.kind).slice(0, 2)).toEqual(['scale.restart', 'scale.manual'])
    expect(s.actions[0]).toMatchObject({ reason: 'restart: rolling restart test', result: { status: 'ok' } })
    expect(s.actions[1]).toMatchObject({
      before: 1,
      after: 2,
      reason: 'manual: by hand',
      result: { status: 'ok' },
    })
  })

  it('a manual scale-down stops the removed replica only after the gateway drained it: no failed request', async () => {
    const before = (await scaling()).replicas.map((r) => portOf(r.url!))
    expect(before).toHaveLength(2)
    const load = traffic(gatewayUrl, 40, { path: '/orders/x?sleep=200', mixPost: true })
    try {
      await new Promise((r) => setTimeout(r, 500))
      const res = await post(controlUrl, '/api/services/orders/scale', {
        replicas: 1,
        reason: 'scale-down test',
      })
      expect(res.status).toBe(200)
      expect(await res.json()).toMatchObject({ status: 'ok', before: 2, after: 1 })
    } finally {
      await load.stop()
    }
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])
    const [kept] = (await gatewayTargets()).map(portOf)
    expect((await gatewayTargets()).map(portOf)).toEqual([kept])
    const removed = before.filter((p) => p !== kept)
    expect(removed).toHaveLength(1)
    await expect(fetch(`http://127.0.0.1:${removed[0]}/health`)).rejects.toThrow()
  })

  /** Starts another gateway and resolves once it routes by the control plane's newest list. */
  const anotherGateway = async (id: string) => {
    const gw = await w.startGateway(id)
    const admin = await gw.waitFor(READY.gatewayAdmin)
    const replicas = (await scaling()).replicas.map((r) => r.url)
    await poll(
      async () =>
        (
          (await (await fetch(`${admin}/api/services`)).json()) as {
            services: { name: string; targets: { url: string }[] }[]
          }
        ).services
          .find((x) => x.name === 'orders')!
          .targets.map((t) => t.url),
      (urls) => JSON.stringify(urls) === JSON.stringify(replicas),
      `gateway ${id} on the control plane’s list`,
      20_000,
    )
    await new Promise((r) => setTimeout(r, 500)) // its confirmation reaches the control plane
    return gw
  }
  /**
   * A scale-up and a scale-down, each timed (a silent gateway would be waited for 35 s first),
   * under load through the surviving gateway, which must not fail a request meanwhile.
   */
  const scaleUpAndDown = async (limitMs: number) => {
    const load = traffic(gatewayUrl, 20, { path: '/orders/x?sleep=50', mixPost: true })
    try {
      for (const replicas of [2, 1]) {
        const t0 = Date.now()
        const res = await post(controlUrl, '/api/services/orders/scale', {
          replicas,
          reason: 'after a gateway went',
        })
        expect(res.status).toBe(200)
        expect(Date.now() - t0).toBeLessThan(limitMs)
      }
    } finally {
      await load.stop()
    }
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])
  }

  it('a gateway that stops gracefully is not waited for: the next scale-up and scale-down finish at once', async () => {
    await stop(await anotherGateway('gw-sc-2'))
    await scaleUpAndDown(10_000)
    expect(control.log()).not.toMatch(/gateway gw-sc-2 (did not confirm|is gone)/)
  })

  it('a gateway killed with SIGKILL is found gone by its probes, not waited for the drain timeout', async () => {
    const killed = await anotherGateway('gw-sc-3')
    killed.child.kill('SIGKILL')
    await new Promise((r) => killed.child.once('exit', r))
    // Found gone once the server has said nobody answers for it for absentForMs (10 s): a NATS
    // reconnect must not pass for a death. Still well short of the 35 s drain timeout.
    await scaleUpAndDown(20_000)
    expect(control.log()).toMatch(/gateway gw-sc-3 is gone \(nothing answered for it on the bus for \d+ ms\)/)
    expect(control.log()).not.toMatch(/gateway gw-sc-3 did not confirm/)
  })

  let standby: Spawned | null = null

  it('a standby control plane refuses, naming the leader', async () => {
    standby = w.spawn('control', 'control-sc-standby')
    procs.push(standby)
    const standbyUrl = await standby.waitFor(READY.control)
    const refused = await post(standbyUrl, '/api/services/orders/scale', { replicas: 1, reason: 'standby' })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { message: string }).message).toContain(`(admin API at ${controlUrl})`)
    expect((await post(standbyUrl, '/api/services/orders/restart', { reason: 'standby' })).status).toBe(503)
    expect((await fetch(`${standbyUrl}/api/services/orders/scaling`)).status).toBe(503)
    // standing by, its autoscaler neither acts nor reports a failure
    expect(standby.log()).not.toMatch(/"msg":"autoscaler: /)
  })

  it('SIGHUP leaves vigil control running and says it does not reload its config', async () => {
    control.child.kill('SIGHUP')
    await control.waitFor(/"msg":"(SIGHUP: vigil control does not reload its config;[^"]*)"/, 10_000)
    await new Promise((r) => setTimeout(r, 300))
    expect(control.child.exitCode).toBeNull()
    expect(control.child.signalCode).toBeNull()
    expect((await fetch(`${controlUrl}/api/services/orders/scaling`)).status).toBe(200)
  })

  it('a leader stopped gracefully hands the gateway its configured targets before it stops its replicas: no failed request', async () => {
    // a standby would take over and start replicas of its own: without one, the gateway is alone
    if (standby !== null) await stop(standby)
    const replicas = (await scaling()).replicas.map((r) => portOf(r.url!))
    expect(replicas.length).toBeGreaterThan(0)
    const load = traffic(gatewayUrl, 40, { path: '/orders/x?sleep=50', mixPost: true })
    let stoppedAtMs = 0
    try {
      await new Promise((r) => setTimeout(r, 500))
      await stop(control)
      stoppedAtMs = Date.now()
      await new Promise((r) => setTimeout(r, 1500)) // no control plane runs now
    } finally {
      await load.stop()
    }
    expect(load.failures(), JSON.stringify(load.failures().slice(0, 5))).toEqual([])
    expect(await gatewayTargets()).toEqual([w.mockUrl])
    for (const p of replicas) await expect(fetch(`http://127.0.0.1:${p}/health`)).rejects.toThrow()
    const late = load.answers.filter((a) => a.atMs > stoppedAtMs)
    expect(late.length).toBeGreaterThan(20)
    expect(late.every((a) => a.servedBy === 'orders')).toBe(true)
  })
})
