import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { busSubjects, MemoryBus } from '../bus/index.js'
import { validateConfig, type Config } from '../config/index.js'
import { SqliteStore } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { encodeRollup } from '../telemetry/codec.js'
import { startControlPlane, type RunningControlPlane } from './start.js'
import { isUnwritable, StoreWatch, type StoreCondition } from './store-watch.js'

const orders = { service: 'orders', route: '/orders', env: 'test' }
const W = 10_000

function configOf(dbPath: string): Config {
  const r = validateConfig({
    env: 'test',
    services: { orders: { targets: ['http://127.0.0.1:9'] } },
    routes: [{ path: '/orders', service: 'orders' }],
    store: { kind: 'sqlite', path: dbPath },
    detect: { enabled: false },
    forecast: { enabled: false },
    alerts: { enabled: false },
    journeys: { enabled: false },
    control: { actionsFile: false },
  })
  if (r.config === null) throw new Error(JSON.stringify(r.problems))
  return r.config
}

async function until(what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the control plane on a store that cannot be written', { timeout: 60_000 }, () => {
  let dir: string
  let store: SqliteStore
  let bus: MemoryBus
  let cp: RunningControlPlane | null
  const errors: { code: string | undefined; what: string; message: string }[] = []
  const notices: string[] = []
  const conditions: StoreCondition[] = []

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-store-watch-'))
    store = await SqliteStore.open({ path: join(dir, 'vigil.db') })
    bus = new MemoryBus()
    errors.length = 0
    notices.length = 0
    conditions.length = 0
    cp = null
  })
  afterEach(async () => {
    store.limitPages(null)
    await cp?.stop()
    await bus.close()
    await store.close()
    rmSync(dir, { recursive: true, force: true })
  })

  const start = async () =>
    (cp = await startControlPlane(configOf(store.path), bus, {
      store,
      graceMs: 100,
      onError: (err, what) =>
        errors.push({ code: (err as { code?: string }).code, what, message: err.message }),
      onNotice: (message) => notices.push(message),
      onStore: (c) => conditions.push(c),
    }))
  // n requests on each of 40 routes: enough new rows that a window needs new pages
  const publish = async (startMs: number, n: number) => {
    for (let r = 0; r < 40; r++)
      await bus.publish(
        busSubjects({ kind: 'memory' } as Config['bus']).rollups,
        encodeRollup(
          rollupOf(
            'gw-a',
            { ...orders, route: `/orders/${r}` },
            startMs,
            Array.from({ length: n }, () => 5),
          ),
        ),
      )
  }
  /** requests stored, all routes (the global series) */
  const stored = async () =>
    (await store.queryPoints({ service: '*', route: '*', env: '*' }, 0, Date.now() + W, 'window')).reduce(
      (a, p) => a + p.count,
      0,
    )

  it('reports a full disk once with its code, path and fix, retries, and says when writes resume', async () => {
    await start()
    const t = Date.now() - 10 * W
    await publish(t, 3)
    await until('the first window stored', async () => (await stored()) === 40 * 3)
    store.limitPages(0) // the disk is full from here on
    for (let i = 1; i <= 4; i++) await publish(t + i * W, 2)
    await until('three failed writes', () => cp!.storeWatch.status().failedWrites >= 3)

    const reported = errors.filter((e) => e.code === 'VGL_ERR_STORE_UNWRITABLE')
    expect(reported).toHaveLength(1) // once, however many writes failed
    expect(reported[0]!.what).toBe('store')
    expect(reported[0]!.message).toContain(store.path)
    expect(reported[0]!.message).toContain('SQLITE_FULL')
    expect(errors.filter((e) => e.what === 'writeWindow')).toEqual([])
    const down = cp!.storeWatch.status()
    expect(down).toMatchObject({
      ok: false,
      kind: 'sqlite',
      path: store.path,
      code: 'VGL_ERR_STORE_UNWRITABLE',
    })
    expect(down.fix).toMatch(/free space on the disk that holds .*store\.path/)
    expect(conditions.map((c) => c.ok)).toEqual([false])

    store.limitPages(null) // space is back: what was held is written, nothing restarts
    await until('every window stored', async () => (await stored()) === 40 * (3 + 4 * 2))
    await until('the store reported writable', () => conditions.length === 2)
    expect(conditions[1]).toMatchObject({ ok: true, code: null, failedWrites: 0 })
    expect(cp!.storeWatch.status().ok).toBe(true)
    expect(notices.filter((n) => n.startsWith('the store takes writes again'))).toHaveLength(1)
    expect(errors.filter((e) => e.code === 'VGL_ERR_STORE_UNWRITABLE')).toHaveLength(1)
  })

  it('reports the database file deleted underneath once, and it stays reported', async () => {
    await start()
    const watch = cp!.storeWatch
    watch.checkFile()
    expect(watch.status().ok).toBe(true)
    rmSync(store.path)
    watch.checkFile()
    watch.checkFile()
    const gone = errors.filter((e) => e.code === 'VGL_ERR_STORE_FILE_GONE')
    expect(gone).toHaveLength(1)
    expect(gone[0]!.message).toContain(`${store.path} was deleted`)
    // writes still succeed (into the unlinked file): they must not clear the condition
    await publish(Date.now() - 5 * W, 1)
    await until('the write into the deleted file', async () => (await stored()) === 40)
    expect(watch.status()).toMatchObject({ ok: false, code: 'VGL_ERR_STORE_FILE_GONE' })
    expect(watch.status().fix).toMatch(/restart Vigil/)
  })
})

describe('StoreWatch', () => {
  it('tells a replaced database file from the one it opened', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-store-watch-'))
    const store = await SqliteStore.open({ path: join(dir, 'a.db') })
    try {
      const downs: string[] = []
      const watch = new StoreWatch({
        store,
        path: store.path,
        onDown: (e) => downs.push(e.message),
        onUp: () => {},
      })
      writeFileSync(join(dir, 'other.db'), '')
      renameSync(join(dir, 'other.db'), store.path)
      watch.checkFile()
      expect(downs).toEqual([expect.stringContaining('was replaced by another file')])
    } finally {
      await store.close()
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('passes other errors through untouched and counts only disk and permission errors', () => {
    expect(isUnwritable(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(
      true,
    )
    expect(isUnwritable(Object.assign(new Error('x'), { code: 'SQLITE_READONLY_DBMOVED' }))).toBe(true)
    expect(isUnwritable(Object.assign(new Error('x'), { code: 'SQLITE_IOERR_WRITE' }))).toBe(true)
    expect(isUnwritable(Object.assign(new Error('x'), { code: 'ENOSPC' }))).toBe(true)
    expect(isUnwritable(Object.assign(new Error('x'), { code: '53100' }))).toBe(true) // PostgreSQL disk_full
    expect(isUnwritable(Object.assign(new Error('x'), { code: 'SQLITE_CONSTRAINT' }))).toBe(false)
    expect(isUnwritable(Object.assign(new Error('x'), { code: 'VGL_ERR_STORE_FENCED' }))).toBe(false)
    expect(isUnwritable(new Error('no code'))).toBe(false)
    expect(isUnwritable(null)).toBe(false)
  })
})
