/**
 * Embedded Vigil on a disk that fills: the gateway keeps proxying, the control plane says so once
 * (log and GET /health), holds what it could not write, and writes it once space is back, with
 * no restart. The store sits on a small tmpfs of its own (mounting needs root: CI runs as root).
 * And with its database file deleted underneath, then its whole folder: the open database is
 * written back, and a restart finds everything.
 */
import { execFileSync } from 'node:child_process'
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startVigil, type Vigil } from '../../src/cli/runtime.js'
import { startMockService, type MockService } from '../../src/sim/index.js'
import { buildOnce, poll, send } from './control-support.js'

const KEY = encodeURIComponent('orders|orders|test-env')

/** Mounts a 16 MiB tmpfs at `dir`; false when this process may not mount. */
function mountSmallDisk(dir: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'pipe' })
    return true
  } catch (err) {
    if (process.env.CI === 'true') throw err
    return false
  }
}

/** Writes zeros until the disk refuses: a full disk. */
function fill(path: string): void {
  const fd = openSync(path, 'w')
  const chunk = Buffer.alloc(64 * 1024)
  try {
    for (;;) writeSync(fd, chunk)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
  } finally {
    closeSync(fd)
  }
}

interface Health {
  status: string
  store?: {
    ok: boolean
    code: string | null
    path: string
    fix: string | null
    failedWrites: number
    restored: { atMs: number; bytes: number } | null
  }
}

type Line = { level: number; msg: string; code?: string; what?: string }

const TOKEN = 'store-full-test-token-0123456789'

/** An embedded Vigil in front of `mock` storing into `dbPath`, logging into `lines`. */
async function startOn(root: string, dbPath: string, mock: MockService, lines: Line[]): Promise<Vigil> {
  const file = join(root, 'vigil.yaml')
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
      'telemetry: { windowMs: 1000, gatewayId: gw-full, otlp: { enabled: false } }',
      `store: { kind: sqlite, path: ${JSON.stringify(dbPath)} }`,
      `limits: { dataDir: ${JSON.stringify(join(root, 'data'))} }`,
      'control: { graceMs: 500 }',
      '',
    ].join('\n'),
  )
  const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(JSON.parse(s)) })
  return startVigil({
    configFile: file,
    mode: 'embedded',
    logger,
    env: { ...process.env, VIGIL_ADMIN_TOKEN: TOKEN },
  })
}

const healthOf = async (v: Vigil) => (await (await fetch(`${v.adminUrl}/health`)).json()) as Health
/** requests of the orders route stored, as the series API reads them */
const storedOf = async (v: Vigil) => {
  const b = (await (await fetch(`${v.adminUrl}/api/series/${KEY}/points?step=1s`)).json()) as {
    points?: { count: number }[]
  }
  return (b.points ?? []).reduce((a, p) => a + p.count, 0)
}

describe('embedded Vigil when the store disk fills', { timeout: 120_000 }, () => {
  let root: string
  let disk: string
  let mounted = false
  let mock: MockService
  let vigil: Vigil | null = null
  const lines: Line[] = []

  beforeAll(async () => {
    buildOnce()
    root = mkdtempSync(join(tmpdir(), 'vigil-store-full-'))
    disk = join(root, 'disk')
    mkdirSync(disk)
    mounted = mountSmallDisk(disk)
    mock = await startMockService({ name: 'orders' })
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
    if (mounted) execFileSync('umount', [disk])
    rmSync(root, { recursive: true, force: true })
  })

  it('keeps proxying, reports the full disk once, and writes what it held once space is back', async (ctx) => {
    if (!mounted) ctx.skip('mounting a small tmpfs needs root (CI runs as root)')
    vigil = await startOn(root, join(disk, 'vigil.db'), mock, lines)
    const v = vigil
    const health = () => healthOf(v)
    const stored = () => storedOf(v)
    expect((await send(`${v.gatewayUrl}/orders/x`, 30)).every((s) => s === 200)).toBe(true)
    await poll(stored, (n) => n === 30, 'the first 30 requests stored')
    expect(await health()).toMatchObject({ status: 'ok', store: { ok: true } })

    fill(join(disk, 'filler'))
    // the data plane never waits on the store
    for (let i = 0; i < 4; i++) {
      expect((await send(`${v.gatewayUrl}/orders/x`, 20)).every((s) => s === 200)).toBe(true)
      await new Promise((r) => setTimeout(r, 500))
    }
    const down = await poll(health, (h) => h.status === 'degraded', 'GET /health degraded')
    expect(down.store).toMatchObject({
      ok: false,
      code: 'VGL_ERR_STORE_UNWRITABLE',
      path: join(disk, 'vigil.db'),
    })
    expect(down.store!.fix).toContain('free space on the disk')
    await poll(health, (h) => (h.store?.failedWrites ?? 0) >= 3, 'several failed writes')
    const reported = lines.filter((l) => l.code === 'VGL_ERR_STORE_UNWRITABLE')
    expect(reported).toHaveLength(1) // once, not once per write
    expect(reported[0]!.level).toBe(50)
    expect(reported[0]!.msg).toContain(join(disk, 'vigil.db'))
    expect(lines.filter((l) => l.what === 'writeWindow' || l.what === 'writeSpans')).toEqual([])
    // an admin change the store must keep is refused, saying why and what to do, not acknowledged
    const silence = await fetch(`${v.adminUrl}/api/alerts/silences`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ matchers: 'service="orders"', duration: '1h', comment: 'deploy' }),
    })
    expect(silence.status).toBe(503)
    expect(await silence.json()).toMatchObject({
      code: 'VGL_ERR_STORE_UNWRITABLE',
      message: expect.stringContaining(join(disk, 'vigil.db')) as string,
      fix: expect.stringContaining('free space on the disk') as string,
    })

    rmSync(join(disk, 'filler')) // space is back: no restart
    await poll(health, (h) => h.status === 'ok', 'GET /health ok again', 60_000)
    await poll(stored, (n) => n === 110, 'every request stored, those of the outage too', 60_000)
    expect(lines.filter((l) => l.msg.includes('the store takes writes again'))).toHaveLength(1)
    expect(lines.filter((l) => l.code === 'VGL_ERR_STORE_UNWRITABLE')).toHaveLength(1)
  })
})

describe('embedded Vigil when its database file is deleted underneath', { timeout: 120_000 }, () => {
  let root: string
  let mock: MockService
  let vigil: Vigil | null = null
  const lines: Line[] = []

  beforeAll(async () => {
    buildOnce()
    root = mkdtempSync(join(tmpdir(), 'vigil-store-deleted-'))
    mock = await startMockService({ name: 'orders' })
  }, 300_000)
  afterAll(async () => {
    await vigil?.stop()
    await mock?.close()
    rmSync(root, { recursive: true, force: true })
  })

  it('writes the open database back, then again once its deleted folder is back; a restart finds every request', async () => {
    const folder = join(root, 'db')
    const dbPath = join(folder, 'vigil.db')
    vigil = await startOn(root, dbPath, mock, lines)
    let v = vigil
    const sendOk = async (n: number) =>
      expect((await send(`${v.gatewayUrl}/orders/x`, n)).every((s) => s === 200)).toBe(true)
    await sendOk(30)
    await poll(
      () => storedOf(v),
      (n) => n === 30,
      'the first 30 requests stored',
    )

    rmSync(dbPath) // the WAL beside it stays, as after `rm vigil.db`
    await sendOk(20)
    await poll(
      () => storedOf(v),
      (n) => n === 50,
      'requests stored into the deleted file',
    )
    const restored = await poll(
      () => healthOf(v),
      (h) => h.store?.restored != null,
      'the file written back (checked every 5 s)',
    )
    expect(restored).toMatchObject({ status: 'ok', store: { ok: true, code: null } })
    expect(existsSync(dbPath)).toBe(true)
    const back = lines.filter((l) => l.msg.includes(`${dbPath} was deleted while Vigil had it open`))
    expect(back).toHaveLength(1)
    expect(back[0]!.msg).toContain('nothing was lost')
    expect(lines.filter((l) => l.code === 'VGL_ERR_STORE_FILE_GONE')).toEqual([])
    const feed = () => v.activity.recent(200).filter((a) => a.kind.startsWith('store.'))
    expect(feed()).toEqual([
      expect.objectContaining({
        kind: 'store.restored',
        summary: expect.stringContaining('nothing was lost'),
      }),
    ])
    await sendOk(20)
    await poll(
      () => storedOf(v),
      (n) => n === 70,
      'requests stored into the file written back',
    )

    rmSync(folder, { recursive: true }) // nowhere to write it back to: reported until the folder is back
    const down = await poll(
      () => healthOf(v),
      (h) => h.status === 'degraded',
      'GET /health degraded',
    )
    expect(down.store).toMatchObject({ ok: false, code: 'VGL_ERR_STORE_FILE_GONE', path: dbPath })
    expect(down.store!.fix).toContain(`mkdir -p ${folder}`)
    await sendOk(20)
    await poll(
      () => storedOf(v),
      (n) => n === 90,
      'requests stored while the folder is gone',
    )
    mkdirSync(folder)
    await poll(
      () => healthOf(v),
      (h) => h.status === 'ok',
      'GET /health ok again',
    )
    expect(lines.filter((l) => l.code === 'VGL_ERR_STORE_FILE_GONE')).toHaveLength(1)
    expect(feed().map((a) => [a.kind, a.severity])).toEqual([
      ['store.restored', 'warning'],
      ['store.unwritable', 'critical'],
      ['store.restored', 'warning'],
    ])

    await vigil.stop()
    vigil = null
    vigil = await startOn(root, dbPath, mock, lines)
    v = vigil
    expect(await storedOf(v)).toBe(90)
    expect(await healthOf(v)).toMatchObject({ status: 'ok', store: { ok: true, restored: null } })
  })
})
