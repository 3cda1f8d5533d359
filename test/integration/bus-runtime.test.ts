/**
 * The runtime's telemetry wiring end to end over real NATS JetStream: requests through a running
 * Vigil become one rollup per series per window on `<prefix>.rollups`, kept gateway spans and
 * OTLP-ingested spans arrive on `<prefix>.spans`, and stop() flushes the current window.
 */
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NatsBus, defaultStreams } from '../../src/bus/nats.js'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { decodeRollup, decodeSpans } from '../../src/telemetry/codec.js'
import { decodeSketch } from '../../src/telemetry/sketch.js'
import type { Rollup, SpanRecord } from '../../src/telemetry/types.js'
import { serviceAvailable } from '../helpers/services.js'

const up = await serviceAvailable('nats')

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 30_000) {
  const until = Date.now() + timeoutMs
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe.skipIf(!up)('telemetry in a running Vigil over NATS JetStream', () => {
  const run = randomBytes(4).toString('hex')
  const subjectPrefix = `vigiltest.${run}`
  const streamPrefix = `VIGILTEST_RT_${run}`
  const subjects = { rollups: `${subjectPrefix}.rollups`, spans: `${subjectPrefix}.spans` }
  let dir: string
  let mock: MockService
  let vigil: Vigil | null = null
  let consumer: NatsBus
  let otlpPort: number
  const rollups: Rollup[] = []
  const spans: SpanRecord[] = []

  beforeAll(async () => {
    mock = await startMockService({ name: 'orders' })
    otlpPort = await freePort()
    dir = mkdtempSync(join(tmpdir(), 'vigil-telemetry-'))
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'env: test-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0 }',
        'services:',
        `  orders: { targets: [${mock.url}] }`,
        'routes:',
        '  - { name: orders, path: /orders, service: orders }',
        'telemetry:',
        '  windowMs: 1000',
        '  gatewayId: gw-test',
        '  spans: { sampleRate: 1 }',
        `  otlp: { host: 127.0.0.1, port: ${otlpPort} }`,
        `bus: { kind: nats, servers: "127.0.0.1:4222", subjectPrefix: "${subjectPrefix}", streamPrefix: ${streamPrefix} }`,
        '',
      ].join('\n'),
    )
    vigil = await startVigil({
      configFile: file,
      mode: 'gateway',
      logger: pino({ level: 'silent' }),
      env: {},
    })
    consumer = await NatsBus.connect({
      servers: '127.0.0.1:4222',
      streams: defaultStreams(streamPrefix, subjects),
    })
    await consumer.subscribe(subjects.rollups, (m) => (rollups.push(decodeRollup(m.data)), m.ack()), {
      durable: 'store',
    })
    await consumer.subscribe(subjects.spans, (m) => (spans.push(...decodeSpans(m.data)), m.ack()), {
      durable: 'store',
    })
  })

  afterAll(async () => {
    await vigil?.stop()
    await consumer?.deleteStreams()
    await consumer?.close()
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('turns requests into per-window rollups and kept spans, and ingests OTLP spans into the same bus', async () => {
    const n = 25
    for (let i = 0; i < n; i++) {
      const r = await fetch(`${vigil!.gatewayUrl}/orders/${i}`, { headers: { 'x-request-id': `rid-${i}` } })
      await r.arrayBuffer()
    }
    const otlp = await fetch(`http://127.0.0.1:${otlpPort}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: {
              attributes: [
                { key: 'service.name', value: { stringValue: 'payments' } },
                { key: 'deployment.environment.name', value: { stringValue: 'other-env' } },
              ],
            },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
                    spanId: '00f067aa0ba902b7',
                    name: 'charge',
                    startTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n),
                    endTimeUnixNano: String(BigInt(Date.now() + 5) * 1_000_000n),
                  },
                ],
              },
            ],
          },
        ],
      }),
    })
    expect(otlp.status).toBe(200)
    await waitFor(() => rollups.reduce((s, r) => s + r.count, 0) >= n, `${n} requests in rollups`)
    const total = rollups.filter((r) => r.series.service === 'orders').reduce((s, r) => s + r.count, 0)
    expect(total).toBe(n)
    for (const r of rollups) {
      expect(r).toMatchObject({
        gatewayId: 'gw-test',
        windowMs: 1000,
        series: { service: 'orders', env: 'test-env' },
      })
      expect(r.windowStartMs % 1000).toBe(0)
      expect(decodeSketch(r.latencySketch).count).toBe(r.count)
    }
    // one rollup per series per window
    const ids = rollups.map((r) => `${r.series.route}/${r.windowStartMs}`)
    expect(new Set(ids).size).toBe(ids.length)
    await waitFor(() => spans.filter((s) => s.source === 'gateway').length >= n, 'gateway spans')
    const gw = spans.filter((s) => s.source === 'gateway')
    expect(new Set(gw.map((s) => s.requestId))).toEqual(
      new Set(Array.from({ length: n }, (_, i) => `rid-${i}`)),
    )
    await waitFor(() => spans.some((s) => s.source === 'otlp'), 'the OTLP span')
    expect(spans.find((s) => s.source === 'otlp')).toMatchObject({
      service: 'payments',
      env: 'other-env',
      name: 'charge',
    })
  })

  it('flushes the current window on stop', async () => {
    const before = rollups.reduce((s, r) => s + r.count, 0)
    await (await fetch(`${vigil!.gatewayUrl}/orders/last`)).arrayBuffer()
    await vigil!.stop()
    vigil = null
    await waitFor(
      () => rollups.reduce((s, r) => s + r.count, 0) === before + 1,
      'the last request after stop',
    )
  })
})

describe('vigil gateway on the memory bus', () => {
  it('warns once at startup that no control plane receives its telemetry, naming the fix', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-gw-memory-'))
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0 }',
        'services:',
        '  api: { targets: [http://127.0.0.1:9] }',
        'routes:',
        '  - { path: /, service: api }',
        'telemetry: { otlp: { enabled: false } }',
        `limits: { dataDir: ${JSON.stringify(dir)} }`,
        '',
      ].join('\n'),
    )
    const lines: Array<{ level: number; msg: string }> = []
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) })
    const gw = await startVigil({ configFile: file, mode: 'gateway', logger, env: {} })
    try {
      const warnings = lines.filter((l) => l.level === 40 && /bus\.kind is memory/.test(l.msg))
      expect(warnings.map(({ level, msg }) => ({ level, msg }))).toEqual([
        {
          level: 40,
          msg: "bus.kind is memory: no control plane receives this gateway's telemetry (no detection, forecasts or alerts); use bus.kind: nats with `vigil control`, or `vigil start` for one process",
        },
      ])
    } finally {
      await gw.stop()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
