/**
 * Embedded mode end to end: the control plane runs in a worker_thread fed by the MemoryBus,
 * writes merged windows to SQLite, and the main thread's admin API answers the series API by
 * asking the worker. SIGKILL of the process loses at most the window being collected.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { SqliteStore } from '../../src/store/index.js'
import { buildOnce, exitOf, poll, send, spawnVigil } from './control-support.js'

const KEY = 'orders|orders|test-env'
const enc = encodeURIComponent

function configText(mockUrl: string, dbPath: string): string {
  return [
    'env: test-env',
    'gateway: { host: 127.0.0.1, port: 0, accessLog: { enabled: false } }',
    'admin: { host: 127.0.0.1, port: 0 }',
    'services:',
    `  orders: { targets: [${mockUrl}] }`,
    'routes:',
    '  - { name: orders, path: /orders, service: orders }',
    'telemetry: { windowMs: 1000, gatewayId: gw-embedded, otlp: { enabled: false } }',
    `store: { kind: sqlite, path: ${JSON.stringify(dbPath)} }`,
    'control: { graceMs: 500 }',
    '',
  ].join('\n')
}

/** Embedded Vigil whose admin API takes `token` for mutating calls. */
const startWithToken = (configFile: string, token: string) =>
  startVigil({
    configFile,
    mode: 'embedded',
    env: { ...process.env, VIGIL_ADMIN_TOKEN: token },
    logger: pino({ level: 'silent' }),
  })

interface PointsBody {
  points: { count: number; p99: number | null; errorRatio: number }[]
}
const total = (b: PointsBody) => b.points.reduce((a, p) => a + p.count, 0)

describe('embedded control plane (worker thread, MemoryBus, SQLite)', { timeout: 180_000 }, () => {
  let dir: string
  let mock: MockService
  beforeAll(async () => {
    buildOnce()
    mock = await startMockService({ name: 'orders' })
    dir = mkdtempSync(join(tmpdir(), 'vigil-control-embedded-'))
  }, 300_000)
  afterAll(async () => {
    await mock?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('stores every request and serves /api/series from the worker', async () => {
    const file = join(dir, 'a.yaml')
    const db = join(dir, 'a.db')
    writeFileSync(file, configText(mock.url, db))
    let vigil: Vigil | null = null
    try {
      vigil = await startVigil({ configFile: file, mode: 'embedded', logger: pino({ level: 'silent' }) })
      const statuses = await send(`${vigil.gatewayUrl}/orders/x`, 60)
      expect(statuses.every((s) => s === 200)).toBe(true)
      const body = await poll(
        async () =>
          (
            await fetch(`${vigil!.adminUrl}/api/series/${enc(KEY)}/points?step=1s`)
          ).json() as Promise<PointsBody>,
        (b) => b.points !== undefined && total(b) === 60,
        '60 requests in the series API',
      )
      expect(body.points.every((p) => p.p99 !== null && p.errorRatio === 0)).toBe(true)
      const list = (await (await fetch(`${vigil.adminUrl}/api/series`)).json()) as {
        series: { key: string }[]
      }
      expect(list.series.map((s) => s.key)).toEqual(
        expect.arrayContaining([KEY, 'orders|*|test-env', '*|*|*']),
      )
      const global = (await (
        await fetch(`${vigil.adminUrl}/api/series/${enc('*|*|*')}/points?step=1m`)
      ).json()) as PointsBody
      expect(total(global)).toBe(60)
      const bad = await fetch(`${vigil.adminUrl}/api/series/${enc('nope|x|y')}/points`)
      expect(bad.status).toBe(404)
      expect(((await bad.json()) as { code: string }).code).toBe('VGL_ERR_CONTROL_SERIES_NOT_FOUND')
      const badStep = await fetch(`${vigil.adminUrl}/api/series/${enc(KEY)}/points?step=fast`)
      expect(badStep.status).toBe(400)
    } finally {
      await vigil?.stop()
    }
  })

  it('loses at most the window being collected when SIGKILLed', async () => {
    const file = join(dir, 'b.yaml')
    const db = join(dir, 'b.db')
    writeFileSync(file, configText(mock.url, db))
    const p = spawnVigil(['start', '--config', file])
    try {
      const gatewayUrl = await p.waitFor(/"gatewayUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/)
      const adminUrl = await p.waitFor(/"adminUrl":"(http:\/\/[^"]+)"[^\n]*"msg":"vigil ready"/)
      await send(`${gatewayUrl}/orders/a`, 40)
      await poll(
        async () =>
          (await fetch(`${adminUrl}/api/series/${enc(KEY)}/points?step=1s`)).json() as Promise<PointsBody>,
        (b) => b.points !== undefined && total(b) === 40,
        'the first 40 requests stored',
      )
      // these land in the window being collected (1 s windows): at most they are lost
      await send(`${gatewayUrl}/orders/b`, 10)
      p.child.kill('SIGKILL')
      await exitOf(p.child)
    } finally {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL')
    }
    const store = await SqliteStore.open({ path: db })
    try {
      const pts = await store.queryPoints(
        { service: 'orders', route: 'orders', env: 'test-env' },
        0,
        Date.now() + 60_000,
        'window',
      )
      const stored = pts.reduce((a, x) => a + x.count, 0)
      expect(stored).toBeGreaterThanOrEqual(40)
      expect(stored).toBeLessThanOrEqual(50)
    } finally {
      await store.close()
    }
  })

  it('refuses a silence on a service the config does not have, through the worker', async () => {
    const file = join(dir, 'd.yaml')
    writeFileSync(file, configText(mock.url, join(dir, 'd.db')))
    let vigil: Vigil | null = null
    const token = 'silence-test-token'
    try {
      vigil = await startWithToken(file, token)
      const silence = (matchers: string) =>
        fetch(`${vigil!.adminUrl}/api/alerts/silences`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ matchers, duration: '1h', comment: 'deploy' }),
        })
      const typo = await silence('service="ordrs"')
      expect(typo.status).toBe(400)
      expect(await typo.json()).toMatchObject({
        code: 'VGL_ERR_ALERTS_BAD_INPUT',
        message:
          'matchers[0]: service="ordrs" matches no alert: no service "ordrs" is configured (known: orders, *; for one not configured yet, use a regex: service=~"ordrs"); did you mean "orders"?',
      })
      expect((await silence('service="orders", route="orders"')).status).toBe(201)
      // a service a reload adds gets traffic and alerts at once: it can be silenced at once too
      writeFileSync(
        file,
        configText(mock.url, join(dir, 'd.db')).replace(
          'routes:\n',
          `  search: { targets: [${mock.url}] }\nroutes:\n  - { name: find, path: /search, service: search }\n`,
        ),
      )
      const reload = await fetch(`${vigil.adminUrl}/api/config/reload`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      })
      expect(reload.status).toBe(200)
      expect((await silence('service="search", route="find"')).status).toBe(201)
    } finally {
      await vigil?.stop()
    }
  })

  it('stores admin changes in SQLite with the rest, serves them at /api/audit and keeps audit.jsonl', async () => {
    const file = join(dir, 'c.yaml')
    const db = join(dir, 'c.db')
    const dataDir = join(dir, 'c-data')
    writeFileSync(
      file,
      `${configText(mock.url, db)}limits: { enabled: true, dataDir: ${JSON.stringify(dataDir)} }\n`,
    )
    let vigil: Vigil | null = null
    const token = 'audit-test-token'
    try {
      vigil = await startWithToken(file, token)
      const put = await fetch(`${vigil.adminUrl}/api/limits/tiers/GOLD`, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${token}`,
          'x-vigil-actor': 'alice',
          'content-type': 'application/json',
        },
        body: JSON.stringify({ ratePerSec: 50, burst: 100, reason: 'new plan' }),
      })
      expect(put.status).toBe(200)
      type Page = { events: Array<Record<string, unknown>>; nextCursor: string | null }
      const page = await poll(
        async () =>
          (
            await fetch(`${vigil!.adminUrl}/api/audit?actor=alice&kind=limits.tier.*`)
          ).json() as Promise<Page>,
        (p) => p.events?.length === 1,
        'the tier change at /api/audit',
      )
      expect(page.events[0]).toMatchObject({
        kind: 'limits.tier.update',
        actor: 'alice',
        subject: 'GOLD',
        before: null,
        after: { ratePerSec: 50, burst: 100 },
        reason: 'new plan',
      })
      const line = JSON.parse(readFileSync(join(dataDir, 'audit.jsonl'), 'utf8').trim()) as { id: string }
      expect(line.id).toBe(page.events[0]!.id)
    } finally {
      await vigil?.stop()
    }
    const store = await SqliteStore.open({ path: db })
    try {
      expect((await store.queryAudit()).map((e) => e.subject)).toEqual(['GOLD'])
    } finally {
      await store.close()
    }
  })
})
