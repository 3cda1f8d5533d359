/**
 * A `vigil start`, `vigil gateway`, `vigil control` or `vigil demo` whose start fails part way (a
 * port in use, a store that will not open) prints one line naming what failed and exits 1
 * promptly: what it had opened before (the bus, the OTLP receiver, the gateway, NATS) is closed
 * rather than left to keep the process alive, and a port in use is one line naming the config
 * field and the fix, not a stack trace.
 */
import { mkdtempSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { jetstreamManager } from '@nats-io/jetstream'
import { connect } from '@nats-io/transport-node'
import { haveNatsServer, startNatsServer } from '../helpers/nats-server.js'
import { serviceAvailable } from '../helpers/services.js'
import { buildOnce, exitOf, spawnVigil } from './control-support.js'
import { freePort } from './limits-support.js'

const dir = mkdtempSync(join(tmpdir(), 'vigil-start-failure-'))
let busy: Server
let busyPort = 0

beforeAll(async () => {
  buildOnce()
  busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  busyPort = (busy.address() as { port: number }).port
})
afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())))

const inUse = (field: string, orElse = '') =>
  `${field} ${busyPort} is in use by another process: stop it, or set ${field} to a free port${orElse}`
const OTLP_OFF = ', or set telemetry.otlp.enabled: false to turn the receiver off'

/** The one line about a port in use is there, and no stack trace (pino's JSON lines are one each). */
function expectOneLine(log: string, line: string): void {
  expect(log.split('\n')).toContain(line)
  expect(log).not.toMatch(/^\s+at /m)
}

const sqlite = (name: string) => `store: { kind: sqlite, path: ${JSON.stringify(join(dir, name + '.db'))} }`

function config(name: string, lines: string[]): string {
  const file = join(dir, name)
  writeFileSync(
    file,
    [
      'services:',
      "  api: { targets: ['http://127.0.0.1:9'] }",
      'routes:',
      '  - { path: /, service: api }',
      `limits: { dataDir: ${JSON.stringify(join(dir, name + '-data'))} }`,
      ...lines,
    ].join('\n'),
  )
  return file
}

/**
 * Runs vigil until it exits (at most `withinMs`); the exit code and what it wrote to stderr. A
 * start that hangs never exits; one that fails takes ~5 s here, and over 12 s on a machine busy
 * with other test files, so the bound is generous.
 */
async function failedStart(args: string[], withinMs = 40_000): Promise<{ code: number | null; log: string }> {
  const p = spawnVigil(args, { VIGIL_ADMIN_TOKEN: 'start-failure-token' })
  const timer = setTimeout(() => p.child.kill('SIGKILL'), withinMs)
  await exitOf(p.child)
  clearTimeout(timer)
  return { code: p.child.signalCode === 'SIGKILL' ? null : p.child.exitCode, log: p.log() }
}

describe('a start that fails part way', { timeout: 90_000 }, () => {
  it('vigil start: an admin port in use is one line and exit 1, not a stack trace', async () => {
    const file = config('admin-busy.yaml', [
      'gateway: { port: 0 }',
      `admin: { port: ${busyPort} }`,
      'telemetry: { otlp: { port: 0 } }',
      sqlite('start'),
    ])
    const r = await failedStart(['start', '--config', file])
    expect(r.code, r.log).toBe(1)
    expectOneLine(r.log, inUse('admin.port'))
  })

  it('vigil start: a gateway port in use exits 1 instead of staying up with nothing to serve', async () => {
    const file = config('gateway-busy.yaml', [
      `gateway: { host: 127.0.0.1, port: ${busyPort} }`,
      'admin: { port: 0 }',
      'telemetry: { otlp: { port: 0 } }',
      sqlite('start'),
    ])
    const r = await failedStart(['start', '--config', file])
    expect(r.code, `still running after 15 s:\n${r.log}`).toBe(1)
    expectOneLine(r.log, inUse('gateway.port'))
  })

  it('vigil start: an OTLP port in use fails the start, naming the field and how to turn it off', async () => {
    const file = config('otlp-busy.yaml', [
      'gateway: { port: 0 }',
      'admin: { port: 0 }',
      // the default host, as two gateways on one host would have it
      `telemetry: { otlp: { port: ${busyPort} } }`,
      sqlite('otlp'),
    ])
    const r = await failedStart(['start', '--config', file])
    expect(r.code, `still running:\n${r.log}`).toBe(1)
    expectOneLine(r.log, inUse('telemetry.otlp.port', OTLP_OFF))
  })

  it('vigil start, gateway and control: a placeholder admin token where other machines reach the admin API is one line and exit 1, before anything listens', async () => {
    const weak =
      'admin.token: "change-me" is a placeholder, and the admin API listens on 0.0.0.0 (%s), where whoever reaches it could change limits, scale and restart services; export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)" and write admin.token: ${VIGIL_ADMIN_TOKEN}, or listen on 127.0.0.1 only'
    const file = config('weak-token.yaml', [
      // the gateway's port is taken: a start that got that far would say so instead
      `gateway: { host: 127.0.0.1, port: ${busyPort} }`,
      'admin: { host: 0.0.0.0, port: 0, token: change-me }',
      'control: { admin: { host: 0.0.0.0, port: 0 } }',
      'telemetry: { otlp: { port: 0 } }',
      sqlite('weak'),
    ])
    for (const [command, field] of [
      ['start', 'admin.host'],
      ['gateway', 'admin.host'],
      ['control', 'control.admin.host'],
    ] as const) {
      const r = await failedStart([command, '--config', file])
      expect(r.code, `${command}:\n${r.log}`).toBe(1)
      expectOneLine(r.log, weak.replace('%s', field))
      expect(r.log, command).not.toContain('listening')
    }
  })

  it('vigil demo: a gateway port in use in its config is one line and exit 1, mocks closed', async () => {
    const file = config('demo-busy.yaml', [
      `gateway: { host: 127.0.0.1, port: ${busyPort} }`,
      'admin: { port: 0 }',
      'telemetry: { otlp: { port: 0 } }',
      sqlite('demo'),
    ])
    const r = await failedStart(['demo', '--config', file, '--mock-port-base', '0'])
    expect(r.code, `still running:\n${r.log}`).toBe(1)
    expectOneLine(r.log, inUse('gateway.port'))
  })

  it('vigil demo: a port its flag asks for that is in use is one line and exit 1, not another port', async () => {
    for (const flag of ['--gateway-port', '--admin-port']) {
      const other = flag === '--gateway-port' ? '--admin-port' : '--gateway-port'
      const r = await failedStart(['demo', flag, String(busyPort), other, '0', '--mock-port-base', '0'])
      expect(r.code, `${flag}: still running:\n${r.log}`).toBe(1)
      expectOneLine(r.log, inUse(flag, ', or leave it out for a free one'))
    }
  })
})

const natsUp = await serviceAvailable('nats')

describe.skipIf(!natsUp)('a scaled-out start that fails part way', { timeout: 90_000 }, () => {
  const bus = [
    'bus: { kind: nats, servers: 127.0.0.1:4222, subjectPrefix: startfail, streamPrefix: STARTFAIL }',
  ]

  it('vigil control: a store that will not open exits 1 (NATS is closed again)', async () => {
    const file = config('control-store.yaml', [
      ...bus,
      'control: { admin: { port: 0 } }',
      // no user name: PostgreSQL refuses the connection at once
      'store: { kind: postgres, url: "postgres://127.0.0.1:5432/test" }',
    ])
    const r = await failedStart(['control', '--config', file])
    expect(r.code, `still running after 15 s:\n${r.log}`).toBe(1)
    expect(r.log).toContain('cannot open the postgres store')
  })

  it('vigil gateway: an admin port in use exits 1 with one line', async () => {
    const file = config('gateway-admin-busy.yaml', [
      ...bus,
      'gateway: { port: 0 }',
      `admin: { port: ${busyPort} }`,
      'telemetry: { otlp: { port: 0 } }',
    ])
    const r = await failedStart(['gateway', '--config', file])
    expect(r.code, r.log).toBe(1)
    expectOneLine(r.log, inUse('admin.port'))
  })

  it("vigil gateway: a second gateway on the first one's OTLP port exits 1 with one line", async () => {
    const file = config('gateway-otlp-busy.yaml', [
      ...bus,
      'gateway: { port: 0 }',
      'admin: { port: 0 }',
      `telemetry: { otlp: { port: ${busyPort} } }`,
    ])
    const r = await failedStart(['gateway', '--config', file])
    expect(r.code, `still running:\n${r.log}`).toBe(1)
    expectOneLine(r.log, inUse('telemetry.otlp.port', OTLP_OFF))
  })

  it('vigil control: its admin port in use names control.admin.port, exit 1', async () => {
    const file = config('control-admin-busy.yaml', [
      ...bus,
      `control: { admin: { port: ${busyPort} } }`,
      sqlite('control-admin'),
    ])
    const r = await failedStart(['control', '--config', file])
    expect(r.code, `still running:\n${r.log}`).toBe(1)
    expectOneLine(r.log, inUse('control.admin.port'))
  })
})

describe('a scaled-out start whose NATS is wrong', { timeout: 90_000 }, () => {
  const gateway = (name: string, bus: string) =>
    config(name, [bus, 'gateway: { port: 0 }', 'admin: { port: 0 }', 'telemetry: { otlp: { port: 0 } }'])

  it('vigil gateway: nothing on the NATS port is one line naming the address and bus.servers, exit 1', async () => {
    const port = await freePort() // closed again: nothing listens there
    const file = gateway('nats-port.yaml', `bus: { kind: nats, servers: 127.0.0.1:${port} }`)
    const r = await failedStart(['gateway', '--config', file])
    expect(r.code, r.log).toBe(1)
    expect(r.log.trim()).toBe(
      `cannot connect to NATS at 127.0.0.1:${port}: connection refused; check bus.servers (host:port of a running nats-server, comma-separated)`,
    )
  })

  it.skipIf(!haveNatsServer())(
    'vigil control: a NATS server without JetStream is named as such, with -js as the fix',
    async () => {
      const nats = await startNatsServer(await freePort(), { jetstream: false })
      try {
        const file = config('nats-no-js.yaml', [
          `bus: { kind: nats, servers: ${nats.url} }`,
          'control: { admin: { port: 0 } }',
          sqlite('no-js'),
        ])
        const r = await failedStart(['control', '--config', file])
        expect(r.code, r.log).toBe(1)
        expect(r.log).toContain(
          `NATS at ${nats.url} is reachable, but its JetStream is not usable: jetstream is not enabled; start nats-server with JetStream (nats-server -js`,
        )
      } finally {
        await nats.close()
      }
    },
  )

  it.skipIf(!natsUp)(
    'vigil gateway: subjects another stream captures name the stream and the prefixes to change',
    async () => {
      const tag = randomBytes(4).toString('hex')
      const nc = await connect({ servers: '127.0.0.1:4222' })
      const jsm = await jetstreamManager(nc)
      // another deployment's stream on the same subject prefix
      await jsm.streams.add({ name: `STARTFAIL_A_${tag}`, subjects: [`startfail${tag}.>`] })
      try {
        const file = gateway(
          'nats-overlap.yaml',
          `bus: { kind: nats, servers: 127.0.0.1:4222, subjectPrefix: startfail${tag}, streamPrefix: STARTFAIL_B_${tag} }`,
        )
        const r = await failedStart(['gateway', '--config', file])
        expect(r.code, r.log).toBe(1)
        expect(r.log).toContain(
          `NATS at 127.0.0.1:4222 is reachable, but JetStream stream STARTFAIL_B_${tag}_ROLLUPS could not be set up: subjects overlap with an existing stream; another stream already captures these subjects: give each deployment its own bus.subjectPrefix and bus.streamPrefix`,
        )
      } finally {
        await jsm.streams.delete(`STARTFAIL_A_${tag}`)
        await nc.close()
      }
    },
  )
})
