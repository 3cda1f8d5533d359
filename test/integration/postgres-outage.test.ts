/**
 * PostgreSQL going away under `vigil control`, black box. The control plane reaches PostgreSQL
 * through a TCP proxy the test cuts (the shared server keeps running for everyone else) while a
 * gateway sends 30 series a window over NATS. During the cut nothing is acked (the consumer's ack
 * floor stands still), the control plane holds no more than `control.maxInFlight` unacked rollups
 * and stays up; once PostgreSQL is reachable again every request is stored exactly once.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect, type NatsConnection } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { PostgresStore } from '../../src/store/index.js'
import { serviceAvailable } from '../helpers/services.js'
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js'
import { buildOnce, exitOf, poll, spawnVigil, type Spawned } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const PG = { host: '127.0.0.1', port: 5432 }
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const ROUTES = 30
const MAX_IN_FLIGHT = 100
const READY = /"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/
const CONTROL_READY = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe.skipIf(!up)('PostgreSQL cut off under vigil control', () => {
  const run = randomBytes(4).toString('hex')
  const schema = `vigil_pgout_${run}`
  const streamPrefix = `VIGILTEST_PGOUT_${run}`
  let dir: string
  let mock: MockService
  let proxy: TcpProxy
  let nc: NatsConnection
  const procs: Spawned[] = []

  const configFor = (id: string) =>
    [
      'env: test-env',
      'gateway: { host: 127.0.0.1, port: 0 }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'services:',
      `  orders: { targets: [${mock.url}] }`,
      'routes:',
      ...Array.from({ length: ROUTES }, (_, i) => `  - { name: r${i}, path: /r${i}, service: orders }`),
      `telemetry: { windowMs: 1000, gatewayId: ${id}, spans: { sampleRate: 0 }, otlp: { enabled: false } }`,
      `bus: { kind: nats, servers: "127.0.0.1:4222", subjectPrefix: "vigiltest.${run}", streamPrefix: ${streamPrefix} }`,
      `store: { kind: postgres, url: "postgres://postgres@127.0.0.1:${proxy.port}/test", schema: ${schema} }`,
      `control: { graceMs: 1000, maxInFlight: ${MAX_IN_FLIGHT}, admin: { host: 127.0.0.1, port: 0 } }`,
      'detect: { enabled: false }',
      'forecast: { enabled: false }',
      '',
    ].join('\n')

  const spawnWith = (cmd: string, id: string) => {
    const file = join(dir, `${id}.yaml`)
    writeFileSync(file, configFor(id))
    const p = spawnVigil([cmd, '--config', file])
    procs.push(p)
    return p
  }

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'orders' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-pgout-'))
    proxy = await startTcpProxy(PG)
    nc = await connect({ servers: '127.0.0.1:4222' })
  }, 120_000)
  afterAll(async () => {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await mock?.close()
    await proxy?.close()
    if (nc !== undefined) {
      const jsm = await jetstreamManager(nc)
      for (const s of ['ROLLUPS', 'SPANS', 'CLIENTS', 'AUDIT'])
        await jsm.streams.delete(`${streamPrefix}_${s}`).catch(() => false)
      await nc.close()
    }
    const store = await PostgresStore.open({ url: PG_URL, schema })
    await store.dropSchema()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it(
    'acks nothing while PostgreSQL is away, holds at most maxInFlight, and stores everything after',
    { timeout: 240_000 },
    async () => {
      const control = spawnWith('control', 'control')
      await control.waitFor(CONTROL_READY)
      const gw = spawnWith('gateway', 'gw-1')
      const url = await gw.waitFor(READY)
      const jsm = await jetstreamManager(nc)
      const consumer = () => jsm.consumers.info(`${streamPrefix}_ROLLUPS`, 'vigil-control-rollups')

      let sent = 0
      let failed = 0
      let stopped = false
      const load = (async () => {
        while (!stopped) {
          const batch = Array.from({ length: ROUTES }, (_, i) =>
            fetch(`${url}/r${i}`).then(
              async (r) => (await r.arrayBuffer(), r.status === 200 ? sent++ : failed++),
              () => failed++,
            ),
          )
          await Promise.all(batch)
          await sleep(250)
        }
      })()

      await sleep(3_000)
      await proxy.cut()
      await sleep(2_500) // windows closed before the cut are written and acked by now, or naked
      const atCut = await consumer()
      await sleep(6_000)
      const late = await consumer()
      // nothing acked while the store is away, and the control plane holds no more than its bound
      expect(late.ack_floor.stream_seq).toBe(atCut.ack_floor.stream_seq)
      expect(late.num_ack_pending).toBeLessThanOrEqual(MAX_IN_FLIGHT)
      // the gateway kept publishing: rollups wait in the stream beyond what is held
      expect(late.num_pending + late.num_ack_pending).toBeGreaterThan(MAX_IN_FLIGHT)
      expect(control.child.exitCode, control.log().slice(-3000)).toBeNull()

      await proxy.restore()
      await sleep(2_000)
      stopped = true
      await load
      expect(failed).toBe(0)
      gw.child.kill('SIGTERM')
      await exitOf(gw.child)

      const store = await PostgresStore.open({ url: PG_URL, schema })
      try {
        const counted = async () => {
          const all = await store.queryPoints(
            { service: 'orders', route: '*', env: 'test-env' },
            0,
            Date.now() + 60_000,
            'window',
          )
          return all.reduce((a, p) => a + p.count, 0)
        }
        // redelivered within the outage's length (at most 30 s) after the store is back
        await poll(counted, (n) => n >= sent, `${sent} requests stored`, 90_000).catch(() => undefined)
        await sleep(1_500)
        expect(await counted()).toBe(sent)
        const info = await poll(
          consumer,
          (c) => c.num_ack_pending === 0 && c.num_pending === 0,
          'all acked',
          30_000,
        )
        expect(info.ack_floor.stream_seq).toBe(info.delivered.stream_seq)
      } finally {
        await store.close()
        control.child.kill('SIGTERM')
        await exitOf(control.child)
      }
    },
  )
})
