/**
 * Scaled out, the audit trail: admin changes made on a `vigil gateway`'s admin API travel over
 * NATS JetStream to `vigil control`, which stores them in PostgreSQL and serves them at
 * `GET /api/audit`; the gateway's `audit.jsonl` has the same events with the same ids. A change made
 * while no control plane runs waits in JetStream and is stored once it starts.
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
const ADMIN = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/
const CONTROL_READY = /"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil control ready"/
const TOKEN = 'audit-scaled-token'

interface Page {
  events: Array<{ id: string; kind: string; actor: string; subject: string; after: unknown }>
  nextCursor: string | null
}

describe.skipIf(!up)('scaled out: the audit trail in PostgreSQL via NATS', () => {
  const run = randomBytes(4).toString('hex')
  const schema = `vigil_audit_${run}`
  const streamPrefix = `VIGILTEST_AUDIT_${run}`
  let dir: string
  let mock: MockService
  const procs: Spawned[] = []

  const configFor = (id: string) =>
    [
      'env: test-env',
      'gateway: { host: 127.0.0.1, port: 0 }',
      'admin: { host: 127.0.0.1, port: 0 }',
      'services:',
      `  orders: { targets: [${mock.url}] }`,
      'routes:',
      '  - { name: orders, path: /orders, service: orders }',
      `limits: { enabled: true, dataDir: ${JSON.stringify(join(dir, id))} }`,
      `telemetry: { windowMs: 1000, gatewayId: ${id}, otlp: { enabled: false } }`,
      `bus: { kind: nats, servers: "127.0.0.1:4222", subjectPrefix: "vigiltest.${run}", streamPrefix: ${streamPrefix} }`,
      `store: { kind: postgres, url: "${PG_URL}", schema: ${schema} }`,
      'control: { graceMs: 1000, admin: { host: 127.0.0.1, port: 0 } }',
      'detect: { enabled: false }',
      'forecast: { enabled: false }',
      '',
    ].join('\n')

  const spawnWith = (cmd: string, id: string) => {
    const file = join(dir, `${id}.yaml`)
    writeFileSync(file, configFor(id))
    const p = spawnVigil([cmd, '--config', file], { VIGIL_ADMIN_TOKEN: TOKEN })
    procs.push(p)
    return p
  }

  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'orders' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-audit-'))
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
    'stores gateway admin changes once and serves them from vigil control',
    { timeout: 120_000 },
    async () => {
      const gw = spawnWith('gateway', 'gw-1')
      const gwAdmin = await gw.waitFor(ADMIN)
      const change = (method: string, path: string, body: object, actor: string) =>
        fetch(`${gwAdmin}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${TOKEN}`,
            'x-vigil-actor': actor,
            'content-type': 'application/json',
          },
          body: JSON.stringify(body),
        })
      // made before any control plane runs: waits in JetStream
      expect(
        (await change('PUT', '/api/limits/tiers/GOLD', { ratePerSec: 50, burst: 100 }, 'alice')).status,
      ).toBe(200)
      const control = spawnWith('control', 'control')
      const controlAdmin = await control.waitFor(CONTROL_READY)
      expect((await change('POST', '/api/limits/keys', { id: 'acme', tier: 'GOLD' }, 'bob')).status).toBe(201)
      expect((await change('PATCH', '/api/limits/keys/acme', { burst: 7 }, 'alice')).status).toBe(200)

      const audit = async (qs = '') => (await fetch(`${controlAdmin}/api/audit${qs}`)).json() as Promise<Page>
      const all = await poll(audit, (p) => p.events?.length === 3, 'three changes at /api/audit', 30_000)
      expect(all.events.map((e) => [e.kind, e.actor, e.subject])).toEqual([
        ['limits.key.update', 'alice', 'acme'],
        ['limits.key.create', 'bob', 'acme'],
        ['limits.tier.update', 'alice', 'GOLD'],
      ])
      expect((await audit('?actor=alice&kind=limits.key.*')).events.map((e) => e.kind)).toEqual([
        'limits.key.update',
      ])
      const lines = readFileSync(join(dir, 'gw-1', 'audit.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { id: string })
      expect(lines.map((l) => l.id).reverse()).toEqual(all.events.map((e) => e.id))
      gw.child.kill('SIGTERM')
      control.child.kill('SIGTERM')
      await Promise.all([exitOf(gw.child), exitOf(control.child)])
    },
  )
})
