import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { busSubjects, MemoryBus } from '../bus/index.js'
import { validateConfig, type Config } from '../config/index.js'
import { SqliteStore, type StoredEvent } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { encodeRollup } from '../telemetry/codec.js'
import { startControlPlane, type RunningControlPlane } from './start.js'
import { StoreBacklog } from './store-backlog.js'
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

  /** requests stored, all routes, as a fresh store opened at the path reads them */
  const storedAtPath = async () => {
    const fresh = await SqliteStore.open({ path: store.path })
    try {
      const points = await fresh.queryPoints(
        { service: '*', route: '*', env: '*' },
        0,
        Date.now() + W,
        'window',
      )
      return points.reduce((a, p) => a + p.count, 0)
    } finally {
      await fresh.close()
    }
  }

  /** a running control plane with its first window (40 requests) stored */
  const startStored = async () => {
    await start()
    const t = Date.now() - 10 * W
    await publish(t, 1)
    await until('the first window', async () => (await stored()) === 40)
    return { watch: cp!.storeWatch, t }
  }

  it('writes the database file deleted underneath back at once, losing nothing written before or since', async () => {
    const { watch, t } = await startStored()
    await watch.checkFile()
    expect(notices).toEqual([])
    rmSync(store.path)
    await publish(t + W, 1) // into the deleted file
    await until('the write into the deleted file', async () => (await stored()) === 80)
    await watch.checkFile()
    const back = notices.filter((n) => n.includes('was deleted while Vigil had it open'))
    expect(back).toHaveLength(1)
    expect(back[0]).toContain(`the SQLite database ${store.path} was deleted`)
    expect(back[0]).toContain('nothing was lost')
    expect(errors).toEqual([])
    expect(watch.status()).toMatchObject({ ok: true, code: null, restored: { bytes: expect.any(Number) } })
    expect(conditions.at(-1)).toMatchObject({ ok: true, restored: { atMs: expect.any(Number) } })
    await publish(t + 2 * W, 1)
    await until('a write after', async () => (await stored()) === 120)
    await watch.checkFile() // the file written back is the store's own now: nothing to report
    expect(notices.filter((n) => n.includes('deleted'))).toHaveLength(1)
    expect(await storedAtPath()).toBe(120)
  })

  it('never overwrites a file put in its place: reports it once with what to do, restores once it is moved away', async () => {
    const { watch, t } = await startStored()
    writeFileSync(join(dir, 'other.db'), 'not vigil')
    renameSync(join(dir, 'other.db'), store.path)
    await watch.checkFile()
    await watch.checkFile()
    const gone = errors.filter((e) => e.code === 'VGL_ERR_STORE_FILE_GONE')
    expect(gone).toHaveLength(1)
    expect(gone[0]!.message).toContain(`${store.path} was replaced by another file`)
    const down = watch.status()
    expect(down).toMatchObject({ ok: false, code: 'VGL_ERR_STORE_FILE_GONE' })
    expect(down.fix).toMatch(/never overwrites it: restart Vigil to use that file .* or move it away/)
    expect(readFileSync(store.path, 'utf8')).toBe('not vigil')
    // writes still succeed (into the file Vigil opened): they must not clear the condition
    await publish(t + W, 1)
    await until('a write meanwhile', async () => (await stored()) === 80)
    expect(watch.status()).toMatchObject({ ok: false, code: 'VGL_ERR_STORE_FILE_GONE' })
    renameSync(store.path, join(dir, 'moved-away.db'))
    await watch.checkFile()
    expect(watch.status()).toMatchObject({ ok: true, code: null })
    expect(notices.filter((n) => n.includes('nothing was lost'))).toHaveLength(1)
    expect(await storedAtPath()).toBe(80)
  })

  it('keeps reporting while the folder is gone, with the fix, and restores once it is back', async () => {
    const { watch, t } = await startStored()
    rmSync(dir, { recursive: true })
    await watch.checkFile()
    await watch.checkFile()
    expect(errors.filter((e) => e.code === 'VGL_ERR_STORE_FILE_GONE')).toHaveLength(1)
    expect(watch.status()).toMatchObject({ ok: false, code: 'VGL_ERR_STORE_FILE_GONE' })
    expect(watch.status().fix).toContain(`its folder ${dir} is gone too: create it again (mkdir -p ${dir})`)
    expect(existsSync(dir)).toBe(false) // not created behind the operator's back
    await publish(t + W, 1)
    await until('a write meanwhile', async () => (await stored()) === 80)
    mkdirSync(dir)
    await watch.checkFile()
    expect(watch.status()).toMatchObject({ ok: true, code: null })
    expect(conditions.map((c) => c.ok)).toEqual([false, true])
    expect(await storedAtPath()).toBe(80)
  })

  it('writes the records held during a full disk once the next write succeeds', async () => {
    await start()
    const watch = cp!.storeWatch
    const backlog = new StoreBacklog()
    const held = new StoreWatch({ store, path: store.path, backlog, onDown: () => {}, onUp: () => {} })
    const write = backlog.sink('test events', (b: readonly StoredEvent[]) => held.store.appendEvents(b))
    const big = (i: number): StoredEvent => ({
      atMs: i,
      kind: 'test',
      actor: 'control',
      subject: String(i),
      payload: 'x'.repeat(5_000),
    })
    store.limitPages(0)
    for (let i = 0; i < 5; i++) expect(await write([big(i)])).toBe(false)
    expect(held.status()).toMatchObject({ ok: false, waiting: 5, droppedRecords: 0 })
    store.limitPages(null)
    // any write through the watch that succeeds: the store is back, what waits is written
    await held.store.appendEvents([])
    await until('the held records written', () => held.status().waiting === 0)
    const events = await store.queryEvents({ kind: 'test', limit: 100 })
    expect(events.map((e) => Number(e.subject)).reverse()).toEqual([0, 1, 2, 3, 4])
    expect(watch.status().ok).toBe(true)
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
      await watch.checkFile()
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
