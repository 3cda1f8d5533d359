/** @module Tests of the detection warm-up from stored windows: a fresh detector judges the next window. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SqliteStore, type Store } from '../store/index.js'
import { rollupOf } from '../store/store.contract.js'
import { LiveAnomalies, WINDOWS_NEEDED, type AnomalyRecord } from './anomalies.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { toSeriesPoint, type SeriesPoint } from './points.js'
import { warmUpFromStore } from './warm-up.js'

const W = 10_000
const T0 = Date.UTC(2026, 0, 1, 12, 0, 0)
const orders = { service: 'orders', route: '/api/orders', env: 'prod' }
/** the process starts right after the stored history */
const START = T0 + WINDOWS_NEEDED * W + 3_000

function rng(seed: number): () => number {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32
}

/** 200 requests around 40 ms, or 400 ms in an incident window */
function latencies(r: () => number, incident: boolean): number[] {
  return Array.from({ length: 200 }, () => (incident ? 400 : 40) * (0.9 + r() * 0.2))
}

async function writeHistory(store: Store, incidentAt: number[] = [], from = 0): Promise<void> {
  const r = rng(7)
  for (let i = from; i < WINDOWS_NEEDED; i++)
    await store.writeWindow([rollupOf('gw1', orders, T0 + i * W, latencies(r, incidentAt.includes(i)))])
}

/** the first live window after the start, through the hook as the control plane hands it over */
async function liveWindow(store: Store, live: LiveAnomalies, incident: boolean): Promise<void> {
  const i = WINDOWS_NEEDED + 1
  // the route, then its service and global roll-ups
  for (const p of await store.writeWindow([rollupOf('gw1', orders, T0 + i * W, latencies(rng(9), incident))]))
    live.hook(p.series, toSeriesPoint(p), { correction: false })
}

function opened(live: LiveAnomalies): AnomalyRecord[] {
  const out: AnomalyRecord[] = []
  live.on('anomaly', (r: AnomalyRecord, t: string) => t === 'opened' && out.push(r))
  return out
}

describe('warmUpFromStore', () => {
  let store: Store
  beforeEach(async () => {
    store = await SqliteStore.open({ path: ':memory:' })
  })
  afterEach(async () => {
    await store.close()
  })

  it('learns the stored windows, so the series is ready and the next incident opens an anomaly', async () => {
    await writeHistory(store)
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START, store })
    const seen = opened(live)
    const r = await warmUpFromStore(live, store, { windowMs: W, untilMs: START, sliceMs: 1 })
    // the route and its service and global roll-ups
    expect(r).toMatchObject({ series: 3, windows: 3 * WINDOWS_NEEDED })
    expect(await live.learning()).toMatchObject({ series: 3, learningSeries: 0, etaMs: null })
    expect(live.stats).toMatchObject({ windows: 0, replayed: 3 * WINDOWS_NEEDED, opened: 0 })
    await liveWindow(store, live, true)
    expect(seen.map((a) => [a.key, a.metric])).toContainEqual(['orders|/api/orders|prod', 'p50'])
  })

  it('without the warm-up the same live incident opens nothing: the series is still learning', async () => {
    await writeHistory(store)
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START })
    const seen = opened(live)
    await liveWindow(store, live, true)
    expect((await live.learning()).learningSeries).toBe(3)
    expect(seen).toEqual([])
  })

  it('opens, resolves and stores nothing for an incident in the replayed history', async () => {
    // a bank judges after WINDOWS_NEEDED windows: the incident comes after those
    await writeHistory(store, [80, 81, 82, 83, 84, 85], -WINDOWS_NEEDED)
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START, store })
    const seen: string[] = []
    live.on('anomaly', (_r: AnomalyRecord, t: string) => seen.push(t))
    await warmUpFromStore(live, store, { windowMs: W, untilMs: START, windows: 2 * WINDOWS_NEEDED })
    await live.flush()
    expect(seen).toEqual([])
    expect(live.openAnomalies()).toEqual([])
    expect(await store.queryEvents({})).toEqual([])
    // the next quiet window is judged normally: nothing opens
    await liveWindow(store, live, false)
    expect(seen).toEqual([])
    // judged live, the same history opens an anomaly
    const judged = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
    const opens = opened(judged)
    for (const p of await store.queryPoints(orders, T0 - WINDOWS_NEEDED * W, START, 'window'))
      judged.hook(orders, toSeriesPoint(p), { correction: false })
    expect(opens.length).toBeGreaterThan(0)
  })

  it('leaves a series with restored state alone, and never replays history after a live window', async () => {
    await writeHistory(store)
    const restored = new LiveAnomalies({ stepMs: W, startedAtMs: START })
    await liveWindow(store, restored, false)
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START })
    expect(live.restore(restored.snapshot())).toBe(3)
    expect(await warmUpFromStore(live, store, { windowMs: W, untilMs: START })).toMatchObject({
      series: 0,
      windows: 0,
    })
    const fresh = new LiveAnomalies({ stepMs: W, startedAtMs: START })
    await liveWindow(store, fresh, false)
    // the store now holds the live window too: history before it is older than what was learned
    expect(
      await warmUpFromStore(
        fresh,
        { listSeries: () => store.listSeries(), queryPoints: store.queryPoints.bind(store) },
        {
          windowMs: W,
          untilMs: T0 + (WINDOWS_NEEDED + 2) * W,
        },
      ),
    ).toMatchObject({ windows: 0 })
  })

  describe('after a state file', () => {
    /** windows stored in all; the state file learned the first SAVED, the rest came after it */
    const STORED = WINDOWS_NEEDED + 30
    const SAVED = STORED - 50
    const LATER = T0 + STORED * W + 3_000
    /** the stored windows, each as its points (the route, then its roll-ups) */
    type Stored = { series: SeriesKey; point: SeriesPoint }[]
    async function storeWindows(): Promise<Stored[]> {
      const r = rng(11)
      const out: Stored[] = []
      for (let i = 0; i < STORED; i++)
        out.push(
          (await store.writeWindow([rollupOf('gw1', orders, T0 + i * W, latencies(r, false))])).map((p) => ({
            series: p.series,
            point: toSeriesPoint(p),
          })),
        )
      return out
    }
    function feed(live: LiveAnomalies, windows: Stored[]): void {
      for (const w of windows) for (const p of w) live.hook(p.series, p.point, { correction: false })
    }
    async function restoredAfter(windows: Stored[], drop?: 'learnedUntil'): Promise<LiveAnomalies> {
      const before = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
      feed(before, windows.slice(0, SAVED))
      const snap = before.snapshot()
      if (drop !== undefined) delete snap[drop]
      const live = new LiveAnomalies({ stepMs: W, startedAtMs: LATER, store })
      expect(live.restore(snap)).toBe(3)
      return live
    }

    it('learns the windows stored after it, each once: it ends as a detector that never stopped', async () => {
      const windows = await storeWindows()
      const live = await restoredAfter(windows)
      const r = await warmUpFromStore(live, store, { windowMs: W, untilMs: LATER, sliceMs: 1 })
      expect(r).toMatchObject({ series: 3, continued: 3, windows: 3 * (STORED - SAVED) })
      const never = new LiveAnomalies({ stepMs: W, startedAtMs: 0 })
      feed(never, windows)
      expect(live.snapshot()).toEqual(never.snapshot())
      // learning again from the start changes nothing: every stored window is learned already
      expect(await warmUpFromStore(live, store, { windowMs: W, untilMs: LATER })).toMatchObject({
        windows: 0,
      })
      expect(live.snapshot()).toEqual(never.snapshot())
    })

    it('judges the first live window after the start: an incident in it opens', async () => {
      const live = await restoredAfter(await storeWindows())
      const seen = opened(live)
      await warmUpFromStore(live, store, { windowMs: W, untilMs: LATER })
      const first = await store.writeWindow([
        rollupOf('gw1', orders, T0 + (STORED + 1) * W, latencies(rng(9), true)),
      ])
      for (const p of first) live.hook(p.series, toSeriesPoint(p), { correction: false })
      expect(live.stats).toMatchObject({ windows: 3, late: 0, partial: 0 })
      expect(seen.map((a) => [a.key, a.metric])).toContainEqual(['orders|/api/orders|prod', 'p50'])
    })

    it('of an older version (no newest window learned recorded) is left alone, as before', async () => {
      const live = await restoredAfter(await storeWindows(), 'learnedUntil')
      expect(await warmUpFromStore(live, store, { windowMs: W, untilMs: LATER })).toMatchObject({
        series: 0,
        windows: 0,
      })
    })
  })

  it('warms at most maxSeries series, the most recently seen', async () => {
    await writeHistory(store)
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START, maxSeries: 2 })
    const r = await warmUpFromStore(live, store, { windowMs: W, untilMs: START, maxSeries: 2 })
    expect(r).toMatchObject({ series: 2, windows: 2 * WINDOWS_NEEDED })
    expect(live.stats.evicted).toBe(0)
  })

  it('fails with the store unreachable, leaving detection cold and working', async () => {
    const live = new LiveAnomalies({ stepMs: W, startedAtMs: START })
    const down = {
      listSeries: () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5432')),
      queryPoints: () => Promise.reject(new Error('unreachable')),
    }
    await expect(warmUpFromStore(live, down, { windowMs: W, untilMs: START })).rejects.toThrow(/ECONNREFUSED/)
    await liveWindow(store, live, false)
    expect(live.stats).toMatchObject({ windows: 3, replayed: 0 })
  })
})
