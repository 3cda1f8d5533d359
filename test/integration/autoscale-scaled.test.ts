/**
 * Autoscaling scaled out: `vigil control` (leading alone, PostgreSQL store) runs the autoscaler
 * with the process actuator; the replica it starts to reach `min` reaches a separate
 * `vigil gateway` only over NATS (the targets subject), and the gateway serves through it. The
 * leader's admin API scales and reports the service by hand; a standby refuses, naming the leader.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { NatsBus, defaultStreams } from '../../src/bus/nats.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { PostgresStore } from '../../src/store/index.js'
import { serviceAvailable } from '../helpers/services.js'
import { buildOnce, exitOf, poll, root, spawnVigil, type Spawned } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const READY_GW = /"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/
const READY_GW_ADMIN = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/
const READY_CONTROL = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/
const TOKEN = 'sc-admin-token'

describe.skipIf(!up)('autoscaling scaled out: targets over NATS', { timeout: 120_000 }, () => {
  const run = randomBytes(4).toString('hex')
  const dir = mkdtempSync(join(tmpdir(), 'vigil-scaled-'))
  const procs: Spawned[] = []
  let seed: MockService | null = null

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGTERM')
    await Promise.all(procs.map((p) => exitOf(p.child)))
    await seed?.close()
    rmSync(dir, { recursive: true, force: true })
    const store = await PostgresStore.open({ url: PG_URL, schema: `vigil_scaled_${run}` })
    await store.dropSchema()
    await store.close()
    const bus = await NatsBus.connect({
      servers: '127.0.0.1:4222',
      streams: defaultStreams(`VIGILTEST_SC_${run}`),
    })
    await bus.deleteStreams()
    await bus.close()
    const nc = await connect({ servers: '127.0.0.1:4222' })
    await (await new Kvm(nc).open(`VIGILTEST_SC_${run}_LEADER`)).destroy().catch(() => {})
    await nc.close()
  })

  it('the replica vigil control starts becomes the gateway’s target over the bus', async () => {
    buildOnce()
    seed = await startMockService({ name: 'seed' })
    const cmd = JSON.stringify([
      process.execPath,
      join(root, 'bin', 'vigil.js'),
      'mock',
      '--port',
      '$PORT',
      '--name',
      'replica',
    ])
    const config = (name: string) =>
      [
        'env: sc-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'services:',
        '  orders:',
        `    targets: [${seed!.url}]`,
        '    scale:',
        '      mode: enforce',
        '      min: 1',
        '      max: 2',
        '      capacityPerReplica: 1000',
        '      leadTimeMs: 1000',
        `      actuator: { kind: process, command: ${cmd}, healthIntervalMs: 100, stopGraceMs: 2000 }`,
        'routes:',
        '  - { name: orders, path: /orders, service: orders }',
        `telemetry: { windowMs: 1000, gatewayId: ${name}, otlp: { enabled: false } }`,
        `bus: { kind: nats, servers: "127.0.0.1:4222", subjectPrefix: "vigiltest.sc${run}", streamPrefix: VIGILTEST_SC_${run} }`,
        `store: { kind: postgres, url: "${PG_URL}", schema: vigil_scaled_${run} }`,
        'control: { graceMs: 300, admin: { host: 127.0.0.1, port: 0 }, leader: { ttlMs: 3000, renewEveryMs: 500 } }',
        'detect: { enabled: false }',
        'forecast: { enabled: false }',
        '',
      ].join('\n')
    const spawn = (cmd: 'gateway' | 'control', name: string) => {
      const file = join(dir, `${name}.yaml`)
      writeFileSync(file, config(name))
      const p = spawnVigil([cmd, '--config', file])
      procs.push(p)
      return p
    }
    const gw = spawn('gateway', 'gw-sc')
    const gatewayUrl = await gw.waitFor(READY_GW)
    const adminUrl = await gw.waitFor(READY_GW_ADMIN)
    const controlUrl = await spawn('control', 'control-sc').waitFor(READY_CONTROL)
    // traffic makes the series the autoscaler observes (it decides nothing without them)
    const services = await poll(
      async () => {
        await Promise.all([1, 2, 3].map(() => fetch(`${gatewayUrl}/orders`).then((r) => r.arrayBuffer())))
        const body = (await (await fetch(`${adminUrl}/api/services`)).json()) as {
          services: { name: string; targets: { url: string }[] }[]
        }
        return body.services
      },
      (s) => s.some((x) => x.name === 'orders' && x.targets.length === 1 && x.targets[0].url !== seed!.url),
      'the replica as the gateway’s only target',
      60_000,
    )
    const url = services.find((x) => x.name === 'orders')!.targets[0].url
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const res = await fetch(`${gatewayUrl}/orders`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { service: string }).service).toBe('replica')

    // ---- manual scale through the leader's admin API
    const post = (base: string, path: string, body: unknown) =>
      fetch(`${base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(body),
      })
    const over = await post(controlUrl, '/api/services/orders/scale', { replicas: 9, reason: 'too many' })
    expect(over.status).toBe(400)
    expect(((await over.json()) as { message: string }).message).toMatch(/replicas: .*1 to 2/)
    const unknown = await post(controlUrl, '/api/services/nope/scale', { replicas: 1, reason: 'x' })
    expect(unknown.status).toBe(404)
    const scaled = await post(controlUrl, '/api/services/orders/scale', { replicas: 2, reason: 'by hand' })
    expect(scaled.status).toBe(200)
    expect(await scaled.json()).toMatchObject({ status: 'ok', before: 1, after: 2 })
    await poll(
      async () => {
        const body = (await (await fetch(`${adminUrl}/api/services`)).json()) as {
          services: { name: string; targets: { url: string }[] }[]
        }
        return body.services.find((x) => x.name === 'orders')!.targets.map((t) => t.url)
      },
      (urls) => urls.length === 2 && !urls.includes(seed!.url),
      'both replicas as the gateway’s targets',
      30_000,
    )
    const scaling = (await (await fetch(`${controlUrl}/api/services/orders/scaling`)).json()) as {
      current: number
      replicas: unknown[]
    }
    expect(scaling.current).toBe(2)
    expect(scaling.replicas).toHaveLength(2)

    // ---- a standby control plane on the same lease refuses, naming the leader
    const standbyUrl = await spawn('control', 'control-sc-standby').waitFor(READY_CONTROL)
    const refused = await post(standbyUrl, '/api/services/orders/scale', { replicas: 1, reason: 'standby' })
    expect(refused.status).toBe(503)
    expect(((await refused.json()) as { message: string }).message).toContain(`(admin API at ${controlUrl})`)
    expect((await fetch(`${standbyUrl}/api/services/orders/scaling`)).status).toBe(503)
  })
})
