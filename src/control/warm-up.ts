/**
 * @module Warms live detection from the store when a control plane starts leading: the stored
 * windows of each recent series without detector state (first start, a crash, a takeover), and
 * those a restored state file did not learn (stored after it was written: the process was down,
 * or another control plane led meanwhile), are learned through `LiveAnomalies.replay`, judged by
 * nobody, so the first live window is judged against everything the store holds.
 *
 * ```
 * store.listSeries ─▶ recent series without state, or with windows newer than their state learned
 * ─▶ queryPoints (window) ─▶ sort by window, route before service before global ─▶ replay in slices
 * of `sliceMs`, yielding to the live windows between
 * ```
 */
import type { Store } from '../store/index.js'
import type { SeriesKey } from '../telemetry/recorder.js'
import { WINDOWS_NEEDED, type LiveAnomalies } from './anomalies.js'
import { toSeriesPoint, type SeriesPoint } from './points.js'
import { formatSeriesKey, seriesLevel } from './series-key.js'

export interface WarmUpOptions {
  windowMs: number
  /** the windows ending at or before this are history (the process' start) */
  untilMs: number
  /** how many windows back to replay; default the warm-up a new series needs */
  windows?: number
  /** at most this many series, the most recently seen (the detector's `maxSeries`: more would evict) */
  maxSeries?: number
  /** replay time between two yields to the event loop, so live windows wait at most about this */
  sliceMs?: number
}

export interface WarmUpResult {
  series: number
  /** of `series`, those restored from a state file that learned the windows stored after it */
  continued: number
  windows: number
  /** the whole warm-up, of which `readMs` reading the store */
  ms: number
  readMs: number
}

const LEVEL_ORDER = { route: 0, service: 1, global: 2 } as const

/**
 * Replays the stored windows of the last `windows` windows before `untilMs` for every series the
 * store saw in that time that `live` has no state for, and for a series with restored state the
 * ones of that time after the newest window it learned (a window is never learned twice). Throws
 * when the store cannot be read: the caller logs it and detection starts cold.
 */
export async function warmUpFromStore(
  live: LiveAnomalies,
  store: Pick<Store, 'listSeries' | 'queryPoints'>,
  o: WarmUpOptions,
): Promise<WarmUpResult> {
  const started = performance.now()
  const windows = o.windows ?? WINDOWS_NEEDED
  // the last `windows` whole windows: the one the process started inside is not history
  const fromMs = (Math.floor(o.untilMs / o.windowMs) - windows) * o.windowMs
  const stored = (await store.listSeries()).filter((s) => s.lastSeenMs >= fromMs && live.serves(s.series))
  const cold = stored
    .filter((s) => !live.knows(formatSeriesKey(s.series)))
    .sort((a, b) => b.lastSeenMs - a.lastSeenMs)
    .slice(0, Math.max(0, (o.maxSeries ?? Infinity) - live.seriesCount))
    .map((s) => ({ series: s.series, fromMs }))
  // known series (a state file) whose store has windows after the newest one they learned; a
  // state file that did not record it (an older version) is left alone, as before
  const behind = stored.flatMap((s) => {
    const learned = live.learnedUntil(formatSeriesKey(s.series))
    return learned !== undefined && s.lastSeenMs >= learned
      ? [{ series: s.series, fromMs: Math.max(fromMs, learned) }]
      : []
  })
  const recent = [...cold, ...behind]
  const sliceMs = o.sliceMs ?? 20
  let slice = performance.now()
  // an embedded store answers without a macrotask in between: yield so timers and I/O run too
  const pause = async () => {
    if (performance.now() - slice < sliceMs) return
    await new Promise((r) => setImmediate(r))
    slice = performance.now()
  }
  const todo: { series: SeriesKey; rank: number; point: SeriesPoint }[] = []
  for (const s of recent) {
    await pause()
    const rank = LEVEL_ORDER[seriesLevel(s.series)]
    for (const p of await store.queryPoints(s.series, s.fromMs, o.untilMs, 'window'))
      // a window the process started inside is not history: the live hook skips it as partial
      if (p.startMs + p.durationMs <= o.untilMs)
        todo.push({ series: s.series, rank, point: toSeriesPoint(p) })
  }
  // oldest first; within a window the routes before their service and global roll-ups, as live
  todo.sort((a, b) => a.point.startMs - b.point.startMs || a.rank - b.rank)
  const readMs = performance.now() - started
  let replayed = 0
  for (const t of todo) {
    await pause()
    if (live.replay(t.series, t.point)) replayed++
  }
  return {
    series: recent.length,
    continued: behind.length,
    windows: replayed,
    ms: performance.now() - started,
    readMs,
  }
}
