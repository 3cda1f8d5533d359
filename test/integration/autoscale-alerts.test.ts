/**
 * Actuator failures page (embedded): the process actuator's command does not exist, so bringing
 * `orders` to `min` fails after its retries; the failure reaches a real webhook receiver (a local
 * HTTP server) through the default `scale-actuator` rule, once, and resolves there once the
 * command exists and a manual scale works.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WebhookBody } from '../../src/alerts/payload.js'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { ensureBuilt } from '../helpers/build.js'
import { poll, startWebhookReceiver, type WebhookReceiver } from './control-support.js'

const root = join(import.meta.dirname, '../..')
const TOKEN = 'scale-alert-token'

describe('actuator failures through the alert sinks (embedded)', { timeout: 180_000 }, () => {
  let dir: string
  let seed: MockService
  let vigil: Vigil | null = null
  let receiver: WebhookReceiver<WebhookBody['alerts'][number]>
  /** the alerts received once one has `status` */
  const received = (status: string, timeoutMs: number) =>
    poll(
      async () => receiver.alerts(),
      (a) => a.some((x) => x.status === status),
      `a ${status} alert at the webhook`,
      timeoutMs,
    )

  beforeAll(async () => {
    ensureBuilt()
    dir = mkdtempSync(join(tmpdir(), 'vigil-scale-alerts-'))
    receiver = await startWebhookReceiver<WebhookBody['alerts'][number]>()
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await seed?.close()
    await receiver?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('a failing actuator pages through the webhook once and resolves when scaling works again', async () => {
    seed = await startMockService({ name: 'seed' })
    const script = join(dir, 'replica.sh') // not there yet: spawn fails with ENOENT
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'env: alert-env',
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        `admin: { host: 127.0.0.1, port: 0, token: ${TOKEN} }`,
        'services:',
        '  orders:',
        `    targets: [${seed.url}]`,
        '    scale:',
        '      mode: enforce',
        '      min: 1',
        '      max: 2',
        '      capacityPerReplica: 1000',
        `      actuator: { kind: process, command: [${JSON.stringify(script)}, "$PORT"], healthIntervalMs: 100 }`,
        'routes:',
        '  - { name: orders, path: /orders, service: orders }',
        'telemetry: { windowMs: 1000, otlp: { enabled: false } }',
        `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
        'control: { graceMs: 200 }',
        'detect: { enabled: false }',
        'forecast: { enabled: false }',
        `alerts: { sinks: [ { name: hook, kind: webhook, url: "${receiver.url}", backoffMs: 50 } ] }`,
        '',
      ].join('\n'),
    )
    vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
    const firing = await received('firing', 60_000)
    expect(firing).toHaveLength(1)
    expect(firing[0]).toMatchObject({
      rule: 'scale-actuator',
      kind: 'actuator',
      severity: 'critical',
      series: 'orders|*|alert-env',
      labels: { alertname: 'scale-actuator', service: 'orders', env: 'alert-env' },
    })
    expect(firing[0].summary).toMatch(/the actuator failed 3 times.*ENOENT|not found/i)
    expect(firing[0].evidence.details).toMatchObject({ actuator: 'process', tries: 3 })

    // a manual scale that fails again is the same streak: no second page
    const scale = () =>
      fetch(`${vigil!.adminUrl}/api/services/orders/scale`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ replicas: 1, reason: 'try again' }),
      })
    expect((await scale()).status).toBe(502)
    // the command exists now: the next scale works and the alert resolves at the receiver
    writeFileSync(
      script,
      `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} ${JSON.stringify(join(root, 'bin', 'vigil.js'))} mock --port "$1" --name orders\n`,
    )
    chmodSync(script, 0o755)
    expect((await scale()).status).toBe(200)
    const all = await received('resolved', 30_000)
    expect(all.map((a) => a.status)).toEqual(['firing', 'resolved'])
    expect(all[1].fingerprint).toBe(all[0].fingerprint)
    const stored = (await (
      await fetch(`${vigil.adminUrl}/api/alerts?state=all`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).json()) as { alerts: { rule: string; state: string }[] }
    expect(stored.alerts.filter((a) => a.rule === 'scale-actuator').map((a) => a.state)).toEqual(['resolved'])
  })
})
