import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'

// The admin API as the runtime wires it: real gateway, real mock upstream, real config file.
describe('admin API on a running Vigil', () => {
  let dir: string
  let file: string
  let mock: MockService
  let vigil: Vigil
  let admin: string
  const token = 'integration-token'

  const config = (routes: string[]) =>
    [
      'gateway:',
      '  host: 127.0.0.1',
      '  port: 0',
      '  accessLog: { enabled: false }',
      'admin:',
      '  port: 0',
      `  token: ${token}`,
      // other test files run Vigil on this host too: the default OTLP port may be taken
      'telemetry: { otlp: { port: 0 } }',
      'services:',
      '  orders:',
      `    targets: [${mock.url}]`,
      // its own database: the embedded control plane must not share ./data with other test files
      `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
      'routes:',
      ...routes.flatMap((p) => [`  - path: ${p}`, '    service: orders']),
      '',
    ].join('\n')

  beforeAll(async () => {
    mock = await startMockService({ name: 'orders' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-admin-'))
    file = join(dir, 'vigil.yaml')
    writeFileSync(file, config(['/orders']))
    vigil = await startVigil({
      configFile: file,
      mode: 'embedded',
      logger: pino({ level: 'silent' }),
      env: {},
    })
    expect(vigil.adminUrl).not.toBeNull()
    admin = vigil.adminUrl!
  })

  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const reload = (auth?: string) =>
    fetch(`${admin}/api/config/reload`, {
      method: 'POST',
      headers: auth === undefined ? {} : { authorization: `Bearer ${auth}` },
    })

  it('lists the live routes and targets', async () => {
    const routes = (await (await fetch(`${admin}/api/routes`)).json()) as { routes: Array<{ path: string }> }
    expect(routes.routes.map((r) => r.path)).toEqual(['/orders'])
    const services = (await (await fetch(`${admin}/api/services`)).json()) as {
      services: Array<{ name: string; targets: Array<{ url: string; breaker: string }> }>
    }
    expect(services.services[0].name).toBe('orders')
    expect(services.services[0].targets[0]).toMatchObject({ url: mock.url, breaker: 'closed' })
    expect((await fetch(`${admin}/ready`)).status).toBe(200)
  })

  it('refuses a reload without the token and keeps the table', async () => {
    writeFileSync(file, config(['/orders', '/billing']))
    const r = await reload()
    expect(r.status).toBe(401)
    const routes = (await (await fetch(`${admin}/api/routes`)).json()) as { routes: unknown[] }
    expect(routes.routes).toHaveLength(1)
  })

  it('reloads with the token and serves the new route', async () => {
    writeFileSync(file, config(['/orders', '/billing']))
    const r = await reload(token)
    expect(r.status).toBe(200)
    const body = (await r.json()) as { changed: string[] }
    expect(body).toMatchObject({ ok: true, routes: 2, restartRequired: [] })
    expect(body.changed).toContain('routes[1]')
    const res = await fetch(`${vigil.gatewayUrl}/billing/1`)
    expect(res.status).toBe(200)
    expect(((await res.json()) as { service: string }).service).toBe('orders')
  })

  it('rejects an invalid file with every problem and keeps serving the old table', async () => {
    writeFileSync(file, config(['/orders']).replace('service: orders', 'service: ordrs'))
    const r = await reload(token)
    expect(r.status).toBe(422)
    const body = (await r.json()) as { code: string; problems: string[] }
    expect(body.code).toBe('VGL_ERR_API_RELOAD')
    expect(body.problems.join('\n')).toMatch(/routes\[0\]\.service: unknown service "ordrs"/)
    expect((await fetch(`${vigil.gatewayUrl}/billing/1`)).status).toBe(200)
  })

  it('serves the gateway metrics and the OpenAPI document', async () => {
    await fetch(`${vigil.gatewayUrl}/orders/1`)
    const text = await (await fetch(`${admin}/metrics`)).text()
    expect(text).toMatch(/^vigil_process_cpu_user_seconds_total /m)
    expect(text).toMatch(/^vigil_gateway_requests_total\{[^}]*route="\/orders"[^}]*\} \d+/m)
    const doc = (await (await fetch(`${admin}/docs/json`)).json()) as { paths: Record<string, unknown> }
    expect(Object.keys(doc.paths)).toContain('/api/services')
  })
})

describe('a placeholder admin token on loopback', () => {
  it('starts, with one warning line naming the field and the fix', async () => {
    const mock = await startMockService({ name: 'orders' })
    const dir = mkdtempSync(join(tmpdir(), 'vigil-admin-weak-'))
    const file = join(dir, 'vigil.yaml')
    writeFileSync(
      file,
      [
        'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
        'admin: { host: 127.0.0.1, port: 0, token: change-me }',
        'telemetry: { otlp: { port: 0 } }',
        `services: { orders: { targets: [${mock.url}] } }`,
        `store: { kind: sqlite, path: ${JSON.stringify(join(dir, 'vigil.db'))} }`,
        'routes: [ { path: /orders, service: orders } ]',
      ].join('\n'),
    )
    const lines: Array<{ level: number; msg: string }> = []
    const logger = pino({ level: 'warn' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
    const vigil = await startVigil({ configFile: file, mode: 'embedded', logger, env: {} })
    try {
      expect(lines.filter((l) => l.msg.includes('admin.token'))).toEqual([
        {
          ...lines.find((l) => l.msg.includes('admin.token')),
          level: 40,
          msg: 'admin.token: "change-me" is a placeholder: anyone on this machine can change limits, scale and restart services through the admin API (refused on an address other machines reach); export VIGIL_ADMIN_TOKEN="$(openssl rand -hex 32)" and write admin.token: ${VIGIL_ADMIN_TOKEN}',
        },
      ])
      // it is still the token
      const r = await fetch(`${vigil.adminUrl}/api/config/reload`, {
        method: 'POST',
        headers: { authorization: 'Bearer change-me' },
      })
      expect(r.status).toBe(200)
    } finally {
      await vigil.stop()
      await mock.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
