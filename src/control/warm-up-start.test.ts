/** @module The warm-up wired into a starting control plane (embedded SQLite): ready without live windows. */
import { afterEach, describe, expect, it } from 'vitest'
import { MemoryBus } from '../bus/index.js'
import { validateConfig, type Config } from '../config/index.js'
import { SqliteStore, type Store } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { WINDOWS_NEEDED } from './anomalies.js'
import { startControlPlane, type RunningControlPlane } from './start.js'

const W = 10_000
const orders = { service: 'orders', route: '/orders', env: 'test' }

function configOf(): Config {
  const r = validateConfig({
    env: 'test',
    services: { orders: { targets: ['http://127.0.0.1:9'] } },
    routes: [{ path: '/orders', service: 'orders' }],
    store: { kind: 'sqlite', path: ':memory:' },
    forecast: { enabled: false },
    alerts: { enabled: false },
    journeys: { enabled: false },
    control: { actionsFile: false },
  })
  if (r.config === null) throw new Error(JSON.stringify(r.problems))
  return r.config
}

/** the windows a dead leader stored, up to the one before now */
async function history(store: Store, series = orders): Promise<void> {
  // the warm-up reads the windows before the one it starts in: a window boundary crossed between
  // writing and starting would leave this history's oldest window out
  const left = W - (Date.now() % W)
  if (left < 4_000) await new Promise((r) => setTimeout(r, left + 50))
  const last = Math.floor(Date.now() / W) - 1
  let s = 1
  for (let i = last - WINDOWS_NEEDED + 1; i <= last; i++)
    await store.writeWindow([
      rollupOf(
        'gw1',
        series,
        i * W,
        Array.from({ length: 100 }, () => 40 * (0.9 + (s = (s * 16807) % 2147483647) / 2147483647 / 5)),
      ),
    ])
}

describe('a control plane that starts leading without detector state', { timeout: 30_000 }, () => {
  let cp: RunningControlPlane | null = null
  let store: SqliteStore | null = null
  afterEach(async () => {
    await cp?.stop()
    await store?.close()
    cp = store = null
  })

  it('learns the stored windows: every series is ready before any live window', async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    await history(store)
    const notices: string[] = []
    cp = await startControlPlane(configOf(), new MemoryBus(), {
      store,
      graceMs: 100,
      onNotice: (m) => notices.push(m),
    })
    const live = cp.anomalies!
    await expect.poll(() => notices.length, { timeout: 20_000 }).toBeGreaterThan(0)
    expect(notices[0]).toMatch(
      new RegExp(
        `^detection learned ${3 * WINDOWS_NEEDED} stored windows of 3 series in \\d+ ms: they judge from the first live window$`,
      ),
    )
    expect(await live.learning()).toMatchObject({ series: 3, learningSeries: 0, etaMs: null })
    expect(live.stats).toMatchObject({ windows: 0, replayed: 3 * WINDOWS_NEEDED, opened: 0 })
  })

  it('leaves out the routes and services its config no longer has', async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    await history(store)
    await history(store, { service: 'orders', route: '/old', env: 'test' })
    await history(store, { service: 'legacy', route: '/gone', env: 'test' })
    const notices: string[] = []
    cp = await startControlPlane(configOf(), new MemoryBus(), {
      store,
      graceMs: 100,
      onNotice: (m) => notices.push(m),
    })
    await expect.poll(() => notices.length, { timeout: 20_000 }).toBeGreaterThan(0)
    expect(notices[0]).toMatch(
      new RegExp(`^detection learned ${3 * WINDOWS_NEEDED} stored windows of 3 series`),
    )
    const live = cp.anomalies!
    for (const key of ['orders|/old|test', 'legacy|/gone|test', 'legacy|*|test'])
      expect(live.knows(key)).toBe(false)
    for (const key of ['orders|/orders|test', 'orders|*|test', '*|*|*']) expect(live.knows(key)).toBe(true)
  })

  it('starts cold, with one clear error, when the store cannot be read', async () => {
    store = await SqliteStore.open({ path: ':memory:' })
    // PostgreSQL gone between the lease and the warm-up's read
    store.listSeries = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432'))
    const errors: string[] = []
    cp = await startControlPlane(configOf(), new MemoryBus(), {
      store,
      graceMs: 100,
      onError: (err, what) => errors.push(`${what}: ${err.message}`),
    })
    await expect
      .poll(() => errors.filter((e) => e.startsWith('detection warm-up')), { timeout: 20_000 })
      .toEqual([
        'detection warm-up: the stored windows could not be read, every series learns from live windows: connect ECONNREFUSED 127.0.0.1:5432',
      ])
    expect(cp.anomalies!.stats.replayed).toBe(0)
  })
})
