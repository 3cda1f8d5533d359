/**
 * Scaled out, black box: three `vigil gateway` processes and one `vigil control` on NATS JetStream
 * and a fresh PostgreSQL schema, 1 s windows, 3,000 requests sent around the window boundaries. Every request served is stored exactly once: per gateway, the stored count equals
 * the gateway's access-log lines, and the stored total equals the served total. A rollup published
 * twice under one id (a window boundary timer firing a millisecond early) would lose the requests
 * of the second one to the bus's duplicate detection.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { PostgresStore } from '../../src/store/index.js'
import { serviceAvailable } from '../helpers/services.js'
import { buildOnce, exitOf, poll, spawnVigil, type Spawned } from './control-support.js'

const up = (await serviceAvailable('nats')) && (await serviceAvailable('postgres'))
const PG_URL = process.env.VIGIL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const SERIES = { service: 'orders', route: 'orders', env: 'test-env' }
const READY = /"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/
const CONTROL_READY = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/**
 * Sends `perBoundary` GETs around each of the next `boundaries` whole seconds, spread over
 * `spreadMs` centred on the boundary: that is where a window rotated early loses requests.
 */
async function aroundBoundaries(
  url: string,
  boundaries: number,
  perBoundary: number,
  spreadMs: number,
): Promise<number[]> {
  const first = Math.ceil(Date.now() / 1000) * 1000 + 1000
  const one = async () => {
    const res = await fetch(url)
    await res.arrayBuffer()
    return res.status
  }
  const all: Promise<number>[] = []
  for (let b = 0; b < boundaries; b++) {
    const at = first + b * 1000 - spreadMs / 2
    for (let i = 0; i < perBoundary; i++) {
      const due = at + (i * spreadMs) / perBoundary
      all.push(sleep(Math.max(0, due - Date.now())).then(one))
    }
  }
  return Promise.all(all)
}

describe.skipIf(!up)('scaled out: every request served is stored once across window boundaries', () => {
  const run = randomBytes(4).toString('hex')
  const schema = `vigil_windows_${run}`
  const streamPrefix = `VIGILTEST_WIN_${run}`
  let dir: string
  let mock: MockService
  const procs: Spawned[] = []

  const configFor = (gatewayId: string) =>
    [
      'env: test-env',
      'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: true, destination: ' +
        JSON.stringify(join(dir, `${gatewayId}.access.jsonl`)) +
        ' } }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'services:',
      `  orders: { targets: [${mock.url}] }`,
      'routes:',
      '  - { name: orders, path: /orders, service: orders }',
      `telemetry: { windowMs: 1000, gatewayId: ${gatewayId}, otlp: { enabled: false } }`,
      `bus: { kind: nats, servers: "127.0.0.1:4222", subjectPrefix: "vigiltest.${run}", streamPrefix: ${streamPrefix} }`,
      `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }`,
      'control: { graceMs: 1000, admin: { host: 127.0.0.1, port: 0 } }',
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
    dir = mkdtempSync(join(tmpdir(), 'vigil-windows-'))
  }, 120_000)
  afterAll(async () => {
    for (const p of procs)
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    await mock?.close()
    const nc = await connect({ servers: '127.0.0.1:4222' })
    const jsm = await jetstreamManager(nc)
    for (const s of ['ROLLUPS', 'SPANS', 'CLIENTS', 'AUDIT'])
      await jsm.streams.delete(`${streamPrefix}_${s}`).catch(() => false)
    await nc.close()
    const store = await PostgresStore.open({ url: PG_URL, schema })
    await store.dropSchema()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it(
    'stores the served total, with traffic dense at 20 boundaries per gateway',
    { timeout: 180_000 },
    async () => {
      const control = spawnWith('control', 'control')
      await control.waitFor(CONTROL_READY)
      const ids = ['gw-1', 'gw-2', 'gw-3']
      const gateways = await Promise.all(
        ids.map(async (id) => {
          const p = spawnWith('gateway', id)
          return { id, p, url: await p.waitFor(READY) }
        }),
      )
      const statuses = await Promise.all(
        gateways.map((g) => aroundBoundaries(`${g.url}/orders/x`, 20, 50, 10)),
      )
      const served = statuses.flat()
      expect(served.filter((s) => s !== 200)).toEqual([])
      for (const g of gateways) g.p.child.kill('SIGTERM') // flushes each gateway's last window
      await Promise.all(gateways.map((g) => exitOf(g.p.child)))

      const logged = new Map(
        ids.map((id) => [
          id,
          readFileSync(join(dir, `${id}.access.jsonl`), 'utf8')
            .trim()
            .split('\n').length,
        ]),
      )
      expect([...logged.values()].reduce((a, b) => a + b, 0)).toBe(served.length)

      const store = await PostgresStore.open({ url: PG_URL, schema })
      try {
        const stored = async () => {
          const raw = await store.queryRaw(SERIES, 0, Date.now() + 60_000)
          const by = new Map<string, number>()
          for (const r of raw) by.set(r.gatewayId, (by.get(r.gatewayId) ?? 0) + r.count)
          return Object.fromEntries(by)
        }
        await poll(
          stored,
          (by) => Object.values(by).reduce((a, b) => a + b, 0) >= served.length,
          `${served.length} requests stored`,
          30_000,
        ).catch(() => undefined) // the exact comparison below says what is missing
        await sleep(1_500) // a late duplicate or correction must not add
        expect(await stored()).toEqual(Object.fromEntries(logged))
        const points = await store.queryPoints(SERIES, 0, Date.now() + 60_000, 'window')
        expect(points.reduce((a, p) => a + p.count, 0)).toBe(served.length)
      } finally {
        await store.close()
        control.child.kill('SIGTERM')
        await exitOf(control.child)
      }
    },
  )
})
