/**
 * Recent history of the series a page shows: loaded once from `GET /api/series/:key/points`, then
 * extended by every window the live feed brings, so charts move without polling.
 */
import { useEffect, useState } from 'preact/hooks'
import type { LiveSeries } from '../../api/live-sections.js'
import type { SeriesPoint } from '../../control/points.js'
import { api, keyPath } from './api.js'
import { useApi } from './hooks.js'
import { liveStore } from './live.js'

/** One window of one series, as the charts read it. */
export interface HPoint {
  t: number
  n: number
  rate: number
  /** every 5xx / requests (what the clients saw) */
  err: number
  /** the upstream's 5xx / requests sent upstream (what the detectors judge) */
  uerr: number
  lim: number
  p50: number | null
  p95: number | null
  p99: number | null
}

interface Tracked {
  points: HPoint[]
  refs: number
  loading: Promise<void> | null
  listeners: Set<() => void>
  rangeMs: number
}

const MAX_POINTS = 2_000
const tracked = new Map<string, Tracked>()

function fromPoint(p: SeriesPoint): HPoint {
  return {
    t: p.startMs,
    n: p.count,
    rate: p.ratePerSec,
    err: p.errorRatio,
    uerr: p.upstreamErrorRatio,
    lim: p.limitedRatio,
    p50: p.p50,
    p95: p.p95,
    p99: p.p99,
  }
}

/** A window of the live feed as the charts read it. */
export function fromLive(s: LiveSeries): HPoint {
  return {
    t: s.t,
    n: s.n,
    rate: s.rate,
    err: s.err,
    uerr: s.uerr,
    lim: s.lim,
    p50: s.p50,
    p95: s.p95,
    p99: s.p99,
  }
}

function merge(tr: Tracked, p: HPoint): void {
  const pts = tr.points
  const last = pts[pts.length - 1]
  if (last === undefined || p.t > last.t) pts.push(p)
  else {
    // a correction of a window already shown, or an older one: replace in place
    const i = pts.findIndex((x) => x.t === p.t)
    if (i >= 0) pts[i] = p
    else return
  }
  const cutoff = Date.now() - tr.rangeMs
  while (pts.length > MAX_POINTS || (pts.length > 0 && pts[0].t < cutoff)) pts.shift()
}

let snapshots = 0
liveStore.onEvent((ev) => {
  // a later snapshot follows a gap (a restart, a long sleep): fill it from the store
  if (ev.snapshot && snapshots++ > 0)
    for (const [key, tr] of tracked)
      void load(key, tr).then(
        () => tr.listeners.forEach((f) => f()),
        () => {},
      )
  const items = ev.upsert.series as LiveSeries[] | undefined
  if (items === undefined) return
  for (const s of items) {
    const tr = tracked.get(s.key)
    if (tr === undefined) continue
    merge(tr, fromLive(s))
    for (const f of tr.listeners) f()
  }
})

async function load(key: string, tr: Tracked): Promise<void> {
  const to = Date.now()
  const res = await api<{ points: SeriesPoint[] }>(
    `/api/series/${keyPath(key)}/points?from=${to - tr.rangeMs}&to=${to}`,
  )
  const live = tr.points
  tr.points = res.points.map(fromPoint)
  for (const p of live) merge(tr, p)
}

/**
 * The history of one series over the last `rangeMs`, live. Returns the points (oldest first) and
 * a load error, if any; the component re-renders as windows arrive.
 */
export function useHistory(
  key: string | null,
  rangeMs = 3_600_000,
): { points: HPoint[]; error: Error | null } {
  const [, setTick] = useState(0)
  const [error, setError] = useState<Error | null>(null)
  useEffect(() => {
    if (key === null) return
    let tr = tracked.get(key)
    if (tr === undefined) {
      tr = { points: [], refs: 0, loading: null, listeners: new Set(), rangeMs }
      tracked.set(key, tr)
    }
    tr.rangeMs = Math.max(tr.rangeMs, rangeMs)
    tr.refs++
    const t = tr
    const bump = () => setTick((n) => n + 1)
    t.listeners.add(bump)
    if (t.loading === null)
      t.loading = load(key, t).then(
        () => {
          setError(null)
          for (const f of t.listeners) f()
        },
        (err: Error) => {
          t.loading = null
          setError(err)
        },
      )
    return () => {
      t.listeners.delete(bump)
      if (--t.refs === 0) tracked.delete(key)
    }
  }, [key, rangeMs])
  return { points: key === null ? [] : (tracked.get(key)?.points ?? []), error }
}

/**
 * Whether the control plane knows a series yet: it does once the series' first window is written,
 * and asking for its history or forecast before that is a 404. Known from the live feed, or, for a
 * series with stored history but no window since a restart, from `GET /api/series` (asked every
 * window until the series shows up, then never again).
 */
export function useSeriesKnown(key: string, live: LiveSeries | undefined, windowMs: number): boolean {
  const [seen, setSeen] = useState(false)
  const listed = useApi<{ series: Array<{ key: string }> }>(
    seen || live !== undefined ? null : '/api/series',
    Math.max(2_000, windowMs),
  )
  const known = seen || live !== undefined || (listed.data?.series.some((s) => s.key === key) ?? false)
  useEffect(() => {
    if (known) setSeen(true)
  }, [known])
  return known
}
